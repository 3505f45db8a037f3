// Durable node state in LevelDB. LevelDB appends every write to its log
// before returning, so a kill -9 loses nothing already written; writes that
// must also survive power loss (generation, what we hold) are fsynced.

import { randomBytes } from 'node:crypto';
import type { ClassicLevel } from 'classic-level';
import { openLevel } from './level.js';

export interface JournalEntry {
  at: string;               // wall-clock ISO time
  kind: string;
  detail: string;
  // Structured fields (tandem timeline reads these; entries written before
  // they existed lack them).
  node?: string;            // the node that wrote the entry
  group?: string;
  phase?: string;           // kind 'group': the group's new phase
  reason?: string;
  path?: string;            // kinds 'path-up' / 'path-down'
  peer?: string;            // the node the entry is about (peer-up, peer-dead, fence)
}

export type JournalFields = Omit<JournalEntry, 'at' | 'kind' | 'detail'>;

const JOURNAL_KEEP = 10_000;

export class StateStore {
  private journalSeq = 0;

  private constructor(private readonly db: ClassicLevel<string, string>, readonly dir: string) {}

  static async open(dir: string): Promise<StateStore> {
    const db = await openLevel(dir, 'tandem');
    const store = new StateStore(db, dir);
    const last = await db.keys({ gte: 'journal/', lt: 'journal0', reverse: true, limit: 1 }).all();
    if (last[0]) store.journalSeq = parseInt(last[0].slice('journal/'.length), 10) || 0;
    return store;
  }

  /** Bumps and returns the generation. A fresh state dir starts from wall-clock seconds, as Heartbeat does, so a wiped dir still moves forward. */
  async bumpGeneration(wallSeconds: number): Promise<number> {
    const prev = await this.db.get('generation');
    const prevNum = prev === undefined ? NaN : Number(prev);
    const next = Number.isSafeInteger(prevNum) ? Math.max(prevNum + 1, 1) : Math.floor(wallSeconds);
    await this.db.put('generation', String(next), { sync: true });
    return next;
  }

  async nodeUuid(): Promise<Buffer> {
    const v = await this.db.get('uuid');
    if (v && /^[0-9a-f]{32}$/.test(v)) return Buffer.from(v, 'hex');
    const uuid = randomBytes(16);
    uuid[6] = (uuid[6]! & 0x0f) | 0x40;   // RFC 4122 version 4
    uuid[8] = (uuid[8]! & 0x3f) | 0x80;
    await this.db.put('uuid', uuid.toString('hex'), { sync: true });
    return uuid;
  }

  async peerGeneration(peer: string): Promise<number | undefined> {
    const v = await this.db.get(`peer/${peer}/generation`);
    const n = v === undefined ? NaN : Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  async setPeerGeneration(peer: string, generation: number): Promise<void> {
    await this.db.put(`peer/${peer}/generation`, String(generation), { sync: true });
  }

  async heldGroups(): Promise<Set<string>> {
    const held = new Set<string>();
    for await (const [k, v] of this.db.iterator({ gte: 'hold/', lt: 'hold0' })) {
      if (v === '1') held.add(k.slice('hold/'.length));
    }
    return held;
  }

  async setHeld(group: string, held: boolean, role: string): Promise<void> {
    await this.db.batch([
      held ? { type: 'put', key: `hold/${group}`, value: '1' } : { type: 'del', key: `hold/${group}` },
      { type: 'put', key: 'role', value: role },
    ], { sync: true });
  }

  async role(): Promise<string | undefined> {
    return this.db.get('role');
  }

  async journal(kind: string, detail: string, at = new Date(), fields: JournalFields = {}): Promise<void> {
    this.journalSeq += 1;
    const entry: JournalEntry = { at: at.toISOString(), kind, detail, ...fields };
    const ops: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }> = [
      { type: 'put', key: `journal/${String(this.journalSeq).padStart(12, '0')}`, value: JSON.stringify(entry) },
    ];
    if (this.journalSeq > JOURNAL_KEEP) {
      ops.push({ type: 'del', key: `journal/${String(this.journalSeq - JOURNAL_KEEP).padStart(12, '0')}` });
    }
    await this.db.batch(ops);
  }

  async recentJournal(limit: number): Promise<JournalEntry[]> {
    const vals = await this.db.values({ gte: 'journal/', lt: 'journal0', reverse: true, limit }).all();
    return vals.map((v) => JSON.parse(v) as JournalEntry).reverse();
  }

  /** The whole kept journal (at most JOURNAL_KEEP entries) in the order written, from `sinceMs` (wall clock) on. */
  async journalSince(sinceMs = -Infinity): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for await (const v of this.db.values({ gte: 'journal/', lt: 'journal0' })) {
      let e: JournalEntry;
      try { e = JSON.parse(v) as JournalEntry; } catch { continue; }
      if (typeof e?.at === 'string' && Date.parse(e.at) >= sinceMs) out.push(e);
    }
    return out;
  }

  /**
   * One page of the journal in the order written, after the entry `after`
   * (a cursor from the previous page; none = from the start), with entries
   * before `sinceMs` (wall clock) skipped. `next` is the cursor of the next
   * page, absent on the last one.
   */
  async journalPage(after: string | undefined, limit: number, sinceMs = -Infinity): Promise<{ entries: JournalEntry[]; next?: string }> {
    const entries: JournalEntry[] = [];
    let last: string | undefined;
    let more = false;
    for await (const [k, v] of this.db.iterator({ ...(after ? { gt: `journal/${after}` } : { gte: 'journal/' }), lt: 'journal0' })) {
      if (entries.length >= limit) { more = true; break; }
      last = k.slice('journal/'.length);
      let e: JournalEntry;
      try { e = JSON.parse(v) as JournalEntry; } catch { continue; }
      if (typeof e?.at === 'string' && Date.parse(e.at) >= sinceMs) entries.push(e);
    }
    return more && last !== undefined ? { entries, next: last } : { entries };
  }

  /** A separate key space in the same database (e.g. the fencing history), opened and closed with it. */
  sublevel(name: string) {
    return this.db.sublevel<string, string>(name, { valueEncoding: 'utf8' });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
