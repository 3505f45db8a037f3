// Where `tandem journal` and `tandem timeline` read a node's journal from:
//  - a running daemon, through its control socket (--run-dir): the daemon
//    holds the LevelDB lock, so nothing else may open its state dir;
//  - a stopped node's state dir, or a copy of one (--state-dir);
//  - a file written by `tandem journal --json` on that node (--journal).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../control/socket.js';
import { StateStore, type JournalEntry } from '../state/store.js';
import { UserError } from '../util/errors.js';
import type { NodeJournal } from './model.js';

export const EXPORT_FORMAT = 'tandem-journal/1';

/** What `tandem journal --json` prints, and what --journal reads. */
export interface JournalExport {
  format: string;
  node: string;
  exportedAt: string;
  live: boolean;
  source: string;
  entries: JournalEntry[];
}

/** --since: an ISO 8601 time, or a duration before now such as 90s, 15m, 2h, 1d. */
export function parseSince(text: string, now: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (m) return now - Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(t)) return t;
  throw new UserError(`--since '${text}': expected an ISO time (2026-12-03T07:15:00Z) or a duration before now (90s, 15m, 2h, 1d)`);
}

/** The journal of a running daemon, page by page over its control socket (the journal holds at most 10,000 entries). */
export async function fromRunDir(runDir: string, sinceMs: number): Promise<JournalExport> {
  const entries: JournalEntry[] = [];
  let first: { node: string; exportedAt: string } | undefined;
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const r = await request(runDir, { cmd: 'journal', ...(Number.isFinite(sinceMs) ? { sinceMs } : {}), ...(after ? { after } : {}) }, 15_000) as
      { node?: unknown; exportedAt?: unknown; entries?: unknown; next?: unknown };
    if (typeof r?.node !== 'string' || typeof r.exportedAt !== 'string' || !Array.isArray(r.entries)) {
      throw new UserError(`the daemon in ${runDir} does not answer the journal request (a tandem without 'journal'?)`);
    }
    first ??= { node: r.node, exportedAt: r.exportedAt };
    entries.push(...(r.entries as JournalEntry[]));
    if (typeof r.next !== 'string') break;
    after = r.next;
  }
  // Known up to the first page's time: entries written while paging are included, and drawn as they are.
  return { format: EXPORT_FORMAT, node: first!.node, exportedAt: first!.exportedAt, live: true, source: `daemon in ${runDir}`, entries };
}

export async function fromStateDir(dir: string, sinceMs: number, nodeHint?: string): Promise<JournalExport> {
  // Never create an empty state dir by looking at a wrong path.
  if (!existsSync(join(dir, 'CURRENT'))) throw new UserError(`--state-dir ${dir}: no tandem state there (no LevelDB CURRENT file)`);
  let store: StateStore;
  try {
    store = await StateStore.open(dir);
  } catch (e) {
    const msg = (e as Error).message;
    throw new UserError(/in use/.test(msg) ? `${msg}; read a running node's journal with --run-dir (or from a copy of the dir)` : msg);
  }
  try {
    const entries = await store.journalSince(sinceMs);
    const all = entries.length ? entries : await store.journalSince();
    const node = nodeHint ?? [...all].reverse().find((e) => typeof e.node === 'string')?.node ?? dir;
    const lastAt = all.at(-1)?.at ?? new Date(0).toISOString();
    return { format: EXPORT_FORMAT, node, exportedAt: lastAt, live: false, source: `state dir ${dir}`, entries };
  } finally {
    await store.close();
  }
}

export function fromFile(file: string, sinceMs: number): JournalExport {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new UserError(`--journal ${file}: ${(e as Error).message}`); }
  let j: Partial<JournalExport>;
  try { j = JSON.parse(text) as Partial<JournalExport>; } catch (e) { throw new UserError(`--journal ${file}: not JSON (${(e as Error).message}); write it with 'tandem journal --json'`); }
  if (j?.format !== EXPORT_FORMAT) throw new UserError(`--journal ${file}: not a tandem journal export (format '${String(j?.format)}', expected '${EXPORT_FORMAT}')`);
  if (typeof j.node !== 'string' || typeof j.exportedAt !== 'string' || !Number.isFinite(Date.parse(j.exportedAt)) || !Array.isArray(j.entries)) {
    throw new UserError(`--journal ${file}: field node, exportedAt or entries is missing or of the wrong type`);
  }
  j.entries.forEach((e, i) => {
    if (typeof e?.at !== 'string' || !Number.isFinite(Date.parse(e.at)) || typeof e.kind !== 'string' || typeof e.detail !== 'string') {
      throw new UserError(`--journal ${file}: entries[${i}] needs 'at' (ISO time), 'kind' and 'detail'`);
    }
  });
  return { ...(j as JournalExport), live: j.live === true, source: `${file} (${j.source ?? 'export'})`, entries: j.entries.filter((e) => Date.parse(e.at) >= sinceMs) };
}

export function toNodeJournal(x: JournalExport): NodeJournal {
  const exported = Date.parse(x.exportedAt);
  const lastAt = x.entries.length ? Date.parse(x.entries.at(-1)!.at) : exported;
  return { node: x.node, entries: x.entries, knownUntil: x.live ? exported : Math.max(lastAt, Number.isFinite(exported) ? exported : lastAt), live: x.live, source: x.source };
}
