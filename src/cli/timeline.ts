// `tandem journal` and `tandem timeline`: a node's event journal as text or
// JSON, and the journals of one or both nodes drawn as an SVG timeline.

import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { buildTimeline } from '../timeline/model.js';
import { renderSvg } from '../timeline/svg.js';
import { fromFile, fromRunDir, fromStateDir, parseSince, toNodeJournal, type JournalExport } from '../timeline/sources.js';
import { UserError } from '../util/errors.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface SourceOpts { runDir?: string[]; stateDir?: string[]; journal?: string[]; since?: string }

async function readSources(o: SourceOpts, defaultRunDir: string): Promise<JournalExport[]> {
  const since = o.since !== undefined ? parseSince(o.since, Date.now()) : -Infinity;
  const runDirs = o.runDir ?? [];
  if (!runDirs.length && !o.stateDir?.length && !o.journal?.length) runDirs.push(defaultRunDir);
  const out: JournalExport[] = [];
  for (const d of runDirs) out.push(await fromRunDir(d, since));
  for (const d of o.stateDir ?? []) out.push(await fromStateDir(d, since));
  for (const f of o.journal ?? []) out.push(fromFile(f, since));
  const seen = new Map<string, string>();
  for (const x of out) {
    const before = seen.get(x.node);
    if (before) throw new UserError(`two sources for node ${x.node}: ${before} and ${x.source}; give one per node`);
    seen.set(x.node, x.source);
  }
  return out;
}

function sourceOptions(cmd: Command, defaultRunDir: string): Command {
  return cmd
    .option('--run-dir <dir>', `ask the running daemon of this run directory (repeatable; default ${defaultRunDir} when no source is given)`, collect)
    .option('--state-dir <dir>', 'read a stopped node\'s state directory, or a copy of one (repeatable)', collect)
    .option('--journal <file>', 'read a file written by `tandem journal --json` (repeatable)', collect)
    .option('--since <time>', 'only from this time on: ISO 8601, or a duration before now (90s, 15m, 2h, 1d)');
}

export function registerTimelineCommands(program: Command, defaultRunDir: string): void {
  sourceOptions(program.command('journal'), defaultRunDir)
    .description('print a node\'s event journal (transitions with their reasons), oldest first')
    .option('--json', 'write the export that `tandem timeline --journal` reads')
    .action(async (o: SourceOpts & { json?: boolean }) => {
      const xs = await readSources(o, defaultRunDir);
      if (o.json) {
        if (xs.length !== 1) throw new UserError('--json exports one node\'s journal: give one source');
        process.stdout.write(JSON.stringify(xs[0], null, 1) + '\n');
        return;
      }
      for (const x of xs) {
        if (xs.length > 1) process.stdout.write(`# ${x.node} (${x.source})\n`);
        for (const e of x.entries) process.stdout.write(`${e.at} ${e.node ?? x.node} ${e.kind.padEnd(10)} ${e.detail}\n`);
      }
    });

  sourceOptions(program.command('timeline'), defaultRunDir)
    .description('draw who held what when, paths, deaths, fences and lease changes from one or both nodes\' journals')
    .requiredOption('--svg <file>', 'write the picture here (SVG; open it in a browser)')
    .action(async (o: SourceOpts & { svg: string }) => {
      const since = o.since !== undefined ? parseSince(o.since, Date.now()) : undefined;
      // Whole journals: a group held since before --since has its opening entry before it; the model cuts at it.
      const xs = await readSources({ ...o, since: undefined }, defaultRunDir);
      const t = buildTimeline(xs.map(toNodeJournal), since !== undefined ? { sinceMs: since } : {});
      const svg = renderSvg(t, { title: `tandem timeline of ${xs.map((x) => x.node).join(' and ')}` });
      const tmp = `${o.svg}.tmp-${process.pid}`;
      try {
        writeFileSync(tmp, svg);
        renameSync(tmp, o.svg);
      } catch (e) {
        throw new UserError(`--svg ${o.svg}: ${(e as Error).message}`);
      }
      const holds = t.segments.filter((s) => s.kind === 'hold').length;
      process.stdout.write(`${o.svg}: ${t.lanes.length} lanes, ${holds} hold intervals, ${t.markers.length} markers, ${new Date(t.t0).toISOString()} to ${new Date(t.t1).toISOString()}\n`);
    });
}
