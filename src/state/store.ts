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
}

const JOURNAL_KEEP = 10_000;

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

  async setPeerGeneration(peer: string, generation: number): Promise<void> {
    await this.write([{ type: 'put', key: `peer/${peer}/generation`, value: String(generation) }], true);
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

  async journal(kind: string, detail: string, at = new Date()): Promise<void> {
    this.journalSeq += 1;
    const entry: JournalEntry = { at: at.toISOString(), kind, detail };
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
