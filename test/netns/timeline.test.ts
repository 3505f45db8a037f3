// tandem timeline end to end: a real pair fails over in namespaces, each
// node's real journal is read (from the running daemon and from an export),
// the SVG is rendered by a real browser engine (Debian's chromium through
// playwright-core), and what the browser lays out is checked against the
// journal entries it was drawn from.
// Traffic stays inside the namespaces this file creates (prefix tdtl, 10.223.x).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Pair } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { withChromium } from '../helpers/browser.js';
import type { JournalExport } from '../../src/timeline/sources.js';

const TANDEM = join(__dirname, '../../bin/tandem');
const tandem = (args: string[]) => sh(process.execPath, [TANDEM, ...args], { timeoutMs: 30_000 });

interface Drawn {
  cls: string; kind: string; node: string; lane: string; state: string | null;
  start: string | null; end: string | null; at: string | null; entry: number; closed: string | null;
  box: { x: number; y: number; width: number; height: number };
}

/** Every interval and marker as the browser laid it out. */
async function renderInChromium(svgFile: string): Promise<{ drawn: Drawn[]; t0: string; t1: string; plot: { x: number; width: number } }> {
  return withChromium(async (ctx) => {
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(svgFile).href);
    return page.evaluate(() => {
      const svg = document.querySelector('svg')!;
      const drawn = [...document.querySelectorAll('rect.seg, g.marker')].map((el) => {
        const r = el.getBoundingClientRect();
        return {
          cls: el.getAttribute('class')!, kind: el.getAttribute('data-kind')!, node: el.getAttribute('data-node')!,
          lane: el.getAttribute('data-lane')!, state: el.getAttribute('data-state'), start: el.getAttribute('data-start'),
          end: el.getAttribute('data-end'), at: el.getAttribute('data-at'), entry: Number(el.getAttribute('data-entry')),
          closed: el.getAttribute('data-closed'), box: { x: r.x, y: r.y, width: r.width, height: r.height },
        };
      });
      const bg = svg.getBoundingClientRect();
      return { drawn, t0: svg.getAttribute('data-t0')!, t1: svg.getAttribute('data-t1')!, plot: { x: bg.x, width: bg.width } };
    });
  });
}

// Chromium lays out in units of 1/64 px: boxes that touch in the SVG can
// come back up to that far apart (690.29998 against 690.30999 + 0 seen).
const LAYOUT_SLACK = 1 / 32;

describe.sequential('tandem timeline of a real failover', () => {
  const work = join(tmpdir(), 'tandem-timeline');
  const p = new Pair({ prefix: 'tdtl', net: '10.223.1', workDir: work, autoFailback: 'off' });
  const out = (f: string) => join(p.dir('alpha'), '..', f);

  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    await p.waitForStatus('alpha', 'group running on alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running');
    // Power loss of the active node: beta declares it dead and takes the group.
    await p.powerOff('alpha');
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    await p.waitForStatus('beta', 'group running on beta', (s) => s.groups[0]?.local.phase === 'running');
    // alpha comes back, remembers it held the group, and clears it (beta keeps it: auto_failback off).
    await p.powerOn('alpha');
    await p.waitForStatus('alpha', 'alpha recovered', (s) => s.groups[0]?.holder === 'beta' && s.groups[0]?.local.phase === 'stopped');
    await sleep(300);
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('journals the failover with structured fields, readable from a running daemon', async () => {
    const beta = JSON.parse(await tandem(['journal', '--json', '--run-dir', p.runDir('beta')])) as JournalExport;
    expect(beta).toMatchObject({ format: 'tandem-journal/1', node: 'beta', live: true });
    const kinds = beta.entries.map((e) => `${e.kind}${e.phase ? `:${e.phase}` : ''}`);
    expect(kinds).toContain('peer-dead');
    expect(kinds).toContain('group:running');
    expect(beta.entries.every((e) => e.node === 'beta')).toBe(true);
    expect(beta.entries.find((e) => e.kind === 'group')).toMatchObject({ group: expect.any(String), reason: expect.any(String) });
    const alpha = JSON.parse(await tandem(['journal', '--json', '--run-dir', p.runDir('alpha')])) as JournalExport;
    // Two incarnations; the second starts out recovering what the first held.
    expect(alpha.entries.filter((e) => e.kind === 'start')).toHaveLength(2);
    expect(alpha.entries.some((e) => e.kind === 'group' && e.phase === 'recovering')).toBe(true);
  });

  it('draws an SVG that headless Chromium lays out as the journal says', async () => {
    const betaFile = out('beta-journal.json');
    writeFileSync(betaFile, await tandem(['journal', '--json', '--run-dir', p.runDir('beta')]));
    const svgFile = out('timeline.svg');
    const said = await tandem(['timeline', '--run-dir', p.runDir('alpha'), '--journal', betaFile, '--svg', svgFile]);
    expect(said).toMatch(/hold intervals/);
    // The journals the picture was drawn from: alpha's as of now (a second read) and beta's export.
    const journals: Record<string, JournalExport> = {
      alpha: JSON.parse(await tandem(['journal', '--json', '--run-dir', p.runDir('alpha')])) as JournalExport,
      beta: JSON.parse(readFileSync(betaFile, 'utf8')) as JournalExport,
    };
    const { drawn, t0, t1 } = await renderInChromium(svgFile);
    const entryOf = (d: Drawn) => journals[d.node]!.entries[d.entry]!;

    // Every element the browser drew has a real box.
    expect(drawn.length).toBeGreaterThan(8);
    for (const d of drawn) {
      expect(d.box.width, `${d.lane} ${d.kind}`).toBeGreaterThan(0);
      expect(d.box.height, `${d.lane} ${d.kind}`).toBeGreaterThan(0);
    }

    // One hold interval per journal entry that put the group into a held phase, starting at that entry.
    const HELD = ['starting', 'running', 'stopping', 'stop-failed', 'recovering'];
    for (const node of ['alpha', 'beta'] as const) {
      const held = journals[node]!.entries.map((e, i) => ({ e, i })).filter(({ e }) => e.kind === 'group' && HELD.includes(e.phase!));
      const rects = drawn.filter((d) => d.kind === 'hold' && d.node === node);
      expect(rects.map((r) => r.entry), node).toEqual(held.map((h) => h.i));
      for (const r of rects) {
        const e = entryOf(r);
        expect(r.start).toBe(e.at);
        expect(r.state).toBe(e.phase);
        expect(r.lane).toBe(`${node}/hold/${e.group}`);
      }
    }
    // Every death, start and path change in the journals is drawn at its time.
    for (const node of ['alpha', 'beta'] as const) {
      const deaths = journals[node]!.entries.filter((e) => e.kind === 'peer-dead').map((e) => e.at);
      expect(drawn.filter((d) => d.kind === 'death' && d.node === node).map((d) => d.at), node).toEqual(deaths);
      const starts = journals[node]!.entries.filter((e) => e.kind === 'start').map((e) => e.at);
      expect(drawn.filter((d) => d.kind === 'start' && d.node === node).map((d) => d.at), node).toEqual(starts);
      const paths = journals[node]!.entries.filter((e) => e.kind.startsWith('path-')).map((e) => e.at);
      expect(drawn.filter((d) => d.kind === 'path' && d.node === node).map((d) => d.start), node).toEqual(paths);
    }
    expect(drawn.filter((d) => d.kind === 'death' && d.node === 'beta')).toHaveLength(1);

    // Horizontal position is time: within the picture, x grows with time, in proportion.
    const span = Date.parse(t1) - Date.parse(t0);
    const timed = drawn.filter((d) => d.kind !== 'unknown').map((d) => ({
      t: Date.parse((d.start ?? d.at)!), x: d.cls === 'seg' ? d.box.x : d.box.x + d.box.width / 2,
    })).sort((a, b) => a.t - b.t || a.x - b.x);
    for (let i = 1; i < timed.length; i++) expect(timed[i]!.x).toBeGreaterThanOrEqual(timed[i - 1]!.x - LAYOUT_SLACK);
    const xs = timed.map((v) => v.x);
    const pxPerMs = (Math.max(...xs) - Math.min(...xs)) / (timed.at(-1)!.t - timed[0]!.t);
    expect(pxPerMs).toBeGreaterThan(0);
    for (const v of timed) expect(Math.abs(v.x - (xs[0]! + (v.t - timed[0]!.t) * pxPerMs))).toBeLessThan(1.5);
    expect(span).toBeGreaterThan(0);

    // The story of the failover, as laid out: alpha ran the group; beta declared it dead, then started it;
    // alpha's hold after its power loss is drawn as unknown (it left no record), up to its restart.
    const alphaRun = drawn.find((d) => d.node === 'alpha' && d.kind === 'hold' && d.state === 'running')!;
    const betaDeath = drawn.find((d) => d.node === 'beta' && d.kind === 'death')!;
    const betaRun = drawn.find((d) => d.node === 'beta' && d.kind === 'hold' && d.state === 'running')!;
    const alphaUnknown = drawn.find((d) => d.node === 'alpha' && d.kind === 'unknown' && d.lane === alphaRun.lane)!;
    const alphaRecovering = drawn.find((d) => d.node === 'alpha' && d.kind === 'hold' && d.state === 'recovering')!;
    expect(alphaRun.box.x).toBeLessThan(betaDeath.box.x);
    expect(betaDeath.box.x + betaDeath.box.width / 2).toBeLessThanOrEqual(betaRun.box.x + LAYOUT_SLACK);
    expect(alphaUnknown.closed).toBe('true');
    expect(alphaUnknown.start).toBe(alphaRun.end);
    expect(alphaUnknown.end).toBe(journals.alpha!.entries.filter((e) => e.kind === 'start')[1]!.at);
    expect(alphaRecovering.box.x).toBeGreaterThanOrEqual(alphaUnknown.box.x + alphaUnknown.box.width - LAYOUT_SLACK);
    expect(alphaRecovering.closed).toBe('true');   // it ended: alpha stopped it, beta holds the group
    // beta's running interval is still open: it ends at the export time, drawn as not closed.
    expect(betaRun.closed).toBe('false');
    // Lanes of one node and group sit apart from the other node's: different rows.
    expect(alphaRun.box.y).not.toBe(betaRun.box.y);
  });

  it('reads stopped nodes\' state dirs after a graceful stop, and --since cuts the picture', async () => {
    expect(await p.stopTandem('beta')).toBe(0);
    expect(await p.stopTandem('alpha')).toBe(0);
    const svgFile = out('timeline-stopped.svg');
    await tandem(['timeline', '--state-dir', p.stateDir('alpha'), '--state-dir', p.stateDir('beta'), '--svg', svgFile]);
    const { drawn } = await renderInChromium(svgFile);
    // A graceful stop closes every interval of both nodes, and draws a stop marker each. The only intervals
    // without a recorded end are alpha's at its power loss, each followed by an unknown stretch up to its restart.
    expect(drawn.filter((d) => d.kind === 'stop').map((d) => d.node).sort()).toEqual(['alpha', 'beta']);
    const open = drawn.filter((d) => d.cls === 'seg' && d.kind !== 'unknown' && d.kind !== 'daemon' && d.closed !== 'true');
    expect(open.length).toBeGreaterThan(0);
    for (const o of open) {
      expect(o.node).toBe('alpha');
      expect(drawn.find((d) => d.kind === 'unknown' && d.lane === o.lane && d.start === o.end && d.closed === 'true'), o.lane).toBeDefined();
    }

    const beta = JSON.parse(await tandem(['journal', '--json', '--state-dir', p.stateDir('beta')])) as JournalExport;
    const death = beta.entries.find((e) => e.kind === 'peer-dead')!;
    const running = beta.entries.find((e) => e.kind === 'group' && e.phase === 'running')!;
    // Cut 1 ms after beta started running the group: the bar is still drawn, from the cut on.
    const cutAt = new Date(Date.parse(running.at) + 1).toISOString();
    const cut = out('timeline-since.svg');
    await tandem(['timeline', '--state-dir', p.stateDir('beta'), '--since', cutAt, '--svg', cut]);
    const since = await renderInChromium(cut);
    expect(since.t0).toBe(cutAt);
    expect(since.drawn.filter((d) => d.kind === 'start' || d.kind === 'death')).toEqual([]);   // both came before the cut
    const bar = since.drawn.find((d) => d.kind === 'hold' && d.state === 'running')!;
    expect(bar.start).toBe(cutAt);
    expect(bar.closed).toBe('true');
    expect(Date.parse(death.at)).toBeLessThan(Date.parse(cutAt));
    // `tandem journal --since` lists only what follows.
    const listed = await tandem(['journal', '--state-dir', p.stateDir('beta'), '--since', cutAt]);
    expect(listed).not.toMatch(/peer-dead/);
    expect(listed).toMatch(/ stop +stopped \(graceful shutdown\)/);
  });

  it('names the option and the cause for a bad source', async () => {
    const err = (args: string[]) => sh(process.execPath, [TANDEM, ...args]).then(() => '', (e: Error) => e.message);
    expect(await err(['timeline', '--state-dir', join(work, 'nowhere'), '--svg', out('x.svg')])).toMatch(/--state-dir .*nowhere: no tandem state there/);
    const bad = out('bad.json');
    writeFileSync(bad, '{"format":"tandem-journal/1","node":"x","exportedAt":"2026-01-01T00:00:00Z","entries":[{"kind":"start"}]}');
    expect(await err(['timeline', '--journal', bad, '--svg', out('x.svg')])).toMatch(/--journal .*bad\.json: entries\[0\] needs 'at'/);
    expect(await err(['timeline', '--journal', bad, '--since', 'yesterday', '--svg', out('x.svg')])).toMatch(/--since 'yesterday'/);
  });
});
