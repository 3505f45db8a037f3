// Durable node state in LevelDB. LevelDB appends every write to its log
// before returning, so a kill -9 loses nothing already written; writes that
// must also survive power loss (generation, what we hold) are fsynced.
// Every write goes through LevelWriter (level.ts): one at a time, and a
// failed one (a full disk) makes the next reopen the database first.

import { randomBytes } from 'node:crypto';
import type { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';
import { LevelWriter, levelRead, openLevel, resetHint, type LevelOp } from './level.js';

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
  code?: string;            // kind 'group': the reason as a stable code (resources/machine.ts ReasonCode)
  path?: string;            // kinds 'path-up' / 'path-down'
  peer?: string;            // the node the entry is about (peer-up, peer-dead, fence)
}

export type JournalFields = Omit<JournalEntry, 'at' | 'kind' | 'detail'>;

const JOURNAL_KEEP = 10_000;

/** "A:B" of two safe integers, as the peer keys store them; anything else is ignored. */
function parsePair(v: string | undefined): [number, number] | undefined {
  const m = v === undefined ? null : /^(\d+):(\d+)$/.exec(v);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return Number.isSafeInteger(a) && Number.isSafeInteger(b) ? [a, b] : undefined;
}

export class StateStore {
  private journalSeq = 0;
  private readonly writer: LevelWriter;
  private readonly subs: Array<{ open(): Promise<void> }> = [];

  private constructor(
    private readonly db: ClassicLevel<string, string>, readonly dir: string,
    /** The directory held no database: nothing is remembered from before. */
    readonly fresh: boolean,
    /** Found at open, worth a warning; nothing was lost. */
    readonly notes: string[],
  ) {
    this.writer = new LevelWriter(db, dir, 'tandem', async () => { for (const sub of this.subs) await sub.open(); });
  }

  static async open(dir: string): Promise<StateStore> {
    const { db, fresh, notes } = await openLevel(dir, 'tandem');
    const store = new StateStore(db, dir, fresh, notes);
    const last = await levelRead(dir, 'tandem', () => db.keys({ gte: 'journal/', lt: 'journal0', reverse: true, limit: 1 }).all());
    if (last[0]) store.journalSeq = parseInt(last[0].slice('journal/'.length), 10) || 0;
    return store;
  }

  private read<T>(fn: () => Promise<T>): Promise<T> {
    return levelRead(this.dir, 'tandem', fn);
  }

  private write(ops: LevelOp[], sync: boolean): Promise<void> {
    return this.writer.write(ops, sync);
  }

  private async readGeneration(): Promise<number | undefined> {
    const prev = await this.read(() => this.db.get('generation'));
    if (prev === undefined) return undefined;
    const n = Number(prev);
    if (!Number.isSafeInteger(n) || n < 0) throw new UserError(`tandem state dir ${this.dir}: the stored generation '${prev.slice(0, 40)}' is not a number; ${resetHint(this.dir, 'tandem')}`);
    return n;
  }

  /**
   * Bumps, persists (fsync) and returns the generation: the wall clock in
   * seconds, or one more than the last one if that is higher (several starts
   * within a second). Not only +1, as Heartbeat does: should the stored one
   * ever be lost, the clock still moves the generation past every one used.
   */
  async bumpGeneration(wallSeconds: number): Promise<number> {
    const prev = await this.readGeneration();
    const next = Math.max(Math.floor(wallSeconds), prev === undefined ? 0 : prev + 1, 1);
    await this.write([{ type: 'put', key: 'generation', value: String(next) }], true);
    return next;
  }

  /**
   * A generation past `atLeast` (one the peer has seen of ours), persisted
   * before it is used: the peer takes messages of an older or equal one for
   * replays.
   */
  async raiseGeneration(atLeast: number, wallSeconds: number): Promise<number> {
    const prev = await this.readGeneration();
    const next = Math.max(Math.floor(wallSeconds), prev === undefined ? 0 : prev + 1, atLeast + 1);
    await this.write([{ type: 'put', key: 'generation', value: String(next) }], true);
    return next;
  }

  async nodeUuid(): Promise<Buffer> {
    const v = await this.read(() => this.db.get('uuid'));
    if (v && /^[0-9a-f]{32}$/.test(v)) return Buffer.from(v, 'hex');
    const uuid = randomBytes(16);
    uuid[6] = (uuid[6]! & 0x0f) | 0x40;   // RFC 4122 version 4
    uuid[8] = (uuid[8]! & 0x3f) | 0x80;
    await this.write([{ type: 'put', key: 'uuid', value: uuid.toString('hex') }], true);
    return uuid;
  }

  async peerGeneration(peer: string): Promise<number | undefined> {
    const v = await this.read(() => this.db.get(`peer/${peer}/generation`));
    const n = v === undefined ? NaN : Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  /** Records the peer's new generation and the one it replaced (undefined: none to go back to). */
  async setPeerGeneration(peer: string, generation: number, previous?: { generation: number; lastSeq: number }): Promise<void> {
    await this.write([
      { type: 'put', key: `peer/${peer}/generation`, value: String(generation) },
      previous
        ? { type: 'put', key: `peer/${peer}/previous`, value: `${previous.generation}:${previous.lastSeq}` }
        : { type: 'del', key: `peer/${peer}/previous` },
    ], true);
  }

  /** The generation the peer had before its current one, with the last seq accepted of it. */
  async peerPrevious(peer: string): Promise<{ generation: number; lastSeq: number } | undefined> {
    const p = parsePair(await this.read(() => this.db.get(`peer/${peer}/previous`)));
    return p && { generation: p[0], lastSeq: p[1] };
  }

  /**
   * The peer's highest accepted seq, a replay watermark for after our restart.
   * Written off the heartbeat path (periodically, and at shutdown with sync).
   */
  async setPeerSeq(peer: string, generation: number, seq: number, sync = false): Promise<void> {
    await this.write([{ type: 'put', key: `peer/${peer}/seq`, value: `${generation}:${seq}` }], sync);
  }

  /** The watermark, if it belongs to `generation`. */
  async peerSeq(peer: string, generation: number): Promise<number | undefined> {
    const p = parsePair(await this.read(() => this.db.get(`peer/${peer}/seq`)));
    return p && p[0] === generation ? p[1] : undefined;
  }

  async heldGroups(): Promise<Set<string>> {
    return this.read(async () => {
      const held = new Set<string>();
      for await (const [k, v] of this.db.iterator({ gte: 'hold/', lt: 'hold0' })) {
        if (v === '1') held.add(k.slice('hold/'.length));
      }
      return held;
    });
  }

  async setHeld(group: string, held: boolean, role: string): Promise<void> {
    await this.write([
      held ? { type: 'put', key: `hold/${group}`, value: '1' } : { type: 'del', key: `hold/${group}` },
      { type: 'put', key: 'role', value: role },
    ], true);
  }

  async role(): Promise<string | undefined> {
    return this.read(() => this.db.get('role'));
  }

  async journal(kind: string, detail: string, at = new Date(), fields: JournalFields = {}): Promise<void> {
    this.journalSeq += 1;
    const entry: JournalEntry = { at: at.toISOString(), kind, detail, ...fields };
    const ops: LevelOp[] = [
      { type: 'put', key: `journal/${String(this.journalSeq).padStart(12, '0')}`, value: JSON.stringify(entry) },
    ];
    if (this.journalSeq > JOURNAL_KEEP) {
      ops.push({ type: 'del', key: `journal/${String(this.journalSeq - JOURNAL_KEEP).padStart(12, '0')}` });
    }
    await this.write(ops, false);
  }

  /** The newest journal entries; none while the database is closed after a failed write. */
  async recentJournal(limit: number): Promise<JournalEntry[]> {
    try {
      const vals = await this.db.values({ gte: 'journal/', lt: 'journal0', reverse: true, limit }).all();
      return vals.map((v) => JSON.parse(v) as JournalEntry).reverse();
    } catch {
      return [];
    }
  }

  /** The whole kept journal (at most JOURNAL_KEEP entries) in the order written, from `sinceMs` (wall clock) on. */
  async journalSince(sinceMs = -Infinity): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    return this.read(async () => {
      for await (const v of this.db.values({ gte: 'journal/', lt: 'journal0' })) {
        let e: JournalEntry;
        try { e = JSON.parse(v) as JournalEntry; } catch { continue; }
        if (typeof e?.at === 'string' && Date.parse(e.at) >= sinceMs) out.push(e);
      }
      return out;
    });
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
    await this.read(async () => {
      for await (const [k, v] of this.db.iterator({ ...(after ? { gt: `journal/${after}` } : { gte: 'journal/' }), lt: 'journal0' })) {
        if (entries.length >= limit) { more = true; break; }
        last = k.slice('journal/'.length);
        let e: JournalEntry;
        try { e = JSON.parse(v) as JournalEntry; } catch { continue; }
        if (typeof e?.at === 'string' && Date.parse(e.at) >= sinceMs) entries.push(e);
      }
    });
    return more && last !== undefined ? { entries, next: last } : { entries };
  }

  /**
   * A separate key space in the same database (e.g. the fencing history),
   * opened and closed with it. Its batches take the same single-file road as
   * the store's own writes, so a failed one also reopens the database.
   */
  sublevel(name: string) {
    const sub = this.db.sublevel<string, string>(name, { valueEncoding: 'utf8' });
    const prefix = sub.prefix;
    const batch = (ops: LevelOp[], _opts?: unknown): Promise<void> =>
      this.write(ops.map((op) => ({ ...op, key: prefix + op.key })), true);
    this.subs.push(sub);
    return Object.assign(sub, { batch }) as typeof sub;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
