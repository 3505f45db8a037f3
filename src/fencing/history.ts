// Fencing history: who fenced whom, when, why, how it ended and how long it
// took, kept in LevelDB so it survives restarts (an operator asks "was beta
// really shot at 03:12?" after the fact). Self-contained: it works on its own
// database directory, or on a sublevel of the state store's database.

import { mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';

export interface FenceRecord {
  /** Wall-clock ISO time the operation started. */
  at: string;
  /** The node that fenced. */
  by: string;
  target: string;
  /** Device label (never a secret), or "operator". */
  device: string;
  action: 'off' | 'on' | 'reboot' | 'status';
  reason: string;
  /** ok: confirmed; failed; operator: an operator confirmed it off; stale: finished after it was called off. */
  result: 'ok' | 'failed' | 'operator' | 'stale';
  durationMs: number;
  attempt?: number;
  error?: string;
}

type Range = { gte?: string; lt?: string; reverse?: boolean; limit?: number };

/**
 * What the history needs from a LevelDB handle with string keys and values:
 * a ClassicLevel<string, string>, or a sublevel of one (`db.sublevel('fence')`).
 */
export interface HistoryDb {
  batch(ops: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }>, options?: { sync?: boolean }): Promise<void>;
  keys(options: Range): { all(): Promise<string[]> };
  values(options: Range): AsyncIterable<string>;
  close(): Promise<void>;
}

export const HISTORY_KEEP = 1000;
const PREFIX = 'f/';
const END = 'f0';   // '0' sorts right after '/'

export class FenceHistory {
  private seq = 0;

  private constructor(private readonly db: HistoryDb, private readonly owned: boolean, private readonly keep: number) {}

  /** Opens (creating it) a database of its own at `dir`. */
  static async open(dir: string, keep = HISTORY_KEEP): Promise<FenceHistory> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new UserError(`fence history dir ${dir}: ${(e as Error).message}`);
    }
    const db = new ClassicLevel<string, string>(dir, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new UserError(`fence history dir ${dir} is in use by another process`);
      throw new UserError(`fence history dir ${dir}: cannot open: ${cause?.message ?? (e as Error).message}`);
    }
    return FenceHistory.init(db, true, keep);
  }

  /** Uses an open database or sublevel (e.g. `db.sublevel('fence')`); close() leaves it open. */
  static async on(db: HistoryDb, keep = HISTORY_KEEP): Promise<FenceHistory> {
    return FenceHistory.init(db, false, keep);
  }

  private static async init(db: HistoryDb, owned: boolean, keep: number): Promise<FenceHistory> {
    const h = new FenceHistory(db, owned, keep);
    const last = await db.keys({ gte: PREFIX, lt: END, reverse: true, limit: 1 }).all();
    if (last[0]) h.seq = parseInt(last[0].slice(PREFIX.length), 10) || 0;
    return h;
  }

  /** Appends one record, durably (fsync): a fence is the event an audit asks about. */
  async append(rec: FenceRecord): Promise<void> {
    this.seq += 1;
    const ops: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }> = [
      { type: 'put', key: key(this.seq), value: JSON.stringify(rec) },
    ];
    if (this.seq > this.keep) ops.push({ type: 'del', key: key(this.seq - this.keep) });
    await this.db.batch(ops, { sync: true });
  }

  /** The newest `limit` records, oldest first; optionally only those about `target`. */
  async recent(limit = 50, target?: string): Promise<FenceRecord[]> {
    const out: FenceRecord[] = [];
    for await (const v of this.db.values({ gte: PREFIX, lt: END, reverse: true })) {
      const rec = parse(v);
      if (!rec || (target !== undefined && rec.target !== target)) continue;
      out.push(rec);
      if (out.length >= limit) break;
    }
    return out.reverse();
  }

  /** The newest record with result ok or operator for `target`, if any. */
  async lastConfirmed(target: string): Promise<FenceRecord | undefined> {
    for await (const v of this.db.values({ gte: PREFIX, lt: END, reverse: true })) {
      const rec = parse(v);
      if (rec && rec.target === target && (rec.result === 'ok' || rec.result === 'operator')) return rec;
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}

function key(seq: number): string {
  return `${PREFIX}${String(seq).padStart(12, '0')}`;
}

/** A damaged record is skipped, not fatal: the history is for reading, not for decisions. */
function parse(v: string): FenceRecord | undefined {
  try {
    const r = JSON.parse(v) as Partial<FenceRecord>;
    if (typeof r.at !== 'string' || typeof r.target !== 'string' || typeof r.result !== 'string') return undefined;
    return r as FenceRecord;
  } catch {
    return undefined;
  }
}
