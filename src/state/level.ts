// Opening a LevelDB directory with operator-readable errors: the one opener
// of the daemon's state dir, the arbiter's and `tandem fence`'s. The LOCK
// file makes one process the owner of a state dir; a second one is told so.
// Before LevelDB sees the directory, integrity.ts checks it (LevelDB would
// silently drop damaged records); after opening, every record is read once,
// so damage in a table file stops the start here with the path, not later.

import { mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';
import { checkLevelDir } from './integrity.js';

export interface OpenedLevel {
  db: ClassicLevel<string, string>;
  /** The directory held no database: this one is new (and remembers nothing). */
  fresh: boolean;
  /** Worth a warning at start; nothing was lost. */
  notes: string[];
}

/** LevelDB's own words for what went wrong (classic-level wraps them in `cause`). */
export function levelCause(e: unknown): string {
  const err = e as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  return err.cause?.message ?? err.message ?? String(e);
}

/** How to get going again; shared by every refusal (docs/state.md). */
export function resetHint(dir: string, what: string): string {
  return `to start afresh: stop what this ${what} manages, move the directory aside ` +
    `(mv ${dir} ${dir}.damaged) and start again; see docs/state.md`;
}

/** `what` names the owner in messages, e.g. "tandem" or "arbiter". */
export async function openLevel(dir: string, what: string): Promise<OpenedLevel> {
  let check;
  try {
    check = checkLevelDir(dir);
  } catch (e) {
    throw new UserError(`${what} state dir ${dir}: cannot read: ${(e as Error).message}`);
  }
  if (check.problems.length) {
    throw new UserError(`${what} state dir ${dir}: ${check.problems.join('; ')}; refusing to open it, as its records would be lost silently; nothing was changed; ${resetHint(dir, what)}`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UserError(`${what} state dir ${dir}: ${(e as Error).message}`);
  }
  // A directory that already holds a database must not be replaced by an empty one.
  const db = new ClassicLevel<string, string>(dir, { valueEncoding: 'utf8', createIfMissing: check.fresh });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new UserError(`${what} state dir ${dir} is in use by another ${what} process (one ${what} per state dir)`);
    }
    throw new UserError(`${what} state dir ${dir}: cannot open: ${levelCause(e)}${cause?.code === 'LEVEL_CORRUPTION' ? `; ${resetHint(dir, what)}` : ''}`);
  }
  try {
    await readAll(db);
  } catch (e) {
    await db.close().catch(() => undefined);
    throw new UserError(`${what} state dir ${dir}: unreadable: ${levelCause(e)}; ${resetHint(dir, what)}`);
  }
  return { db, fresh: check.fresh, notes: check.notes };
}

/** Every key and value once: LevelDB reads tables lazily, so damage shows here rather than at the first lookup. */
async function readAll(db: ClassicLevel<string, string>): Promise<void> {
  for await (const _ of db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' })) { /* reading is the check */ }
}

/** Runs a read; a LevelDB error becomes an operator error naming the dir and the cause. */
export async function levelRead<T>(dir: string, what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${what} state dir ${dir}: cannot read: ${levelCause(e)}`);
  }
}

export type LevelOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * Writes one at a time. A failed write (a full disk) may leave part of its
 * record in LevelDB's log, and LevelDB would append the next records after
 * it, where the next open cannot find them. So after a failure the next
 * write first reopens the database, which starts a new log; until that
 * works, every write fails and says why. Errors name the dir and the cause.
 */
export class LevelWriter {
  /** Why the last write failed; the next write reopens the database first. */
  private failed?: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: ClassicLevel<string, string>, readonly dir: string, private readonly what: string,
    /** Runs after a reopen: sublevels stay closed when their database is closed and opened again. */
    private readonly afterReopen: () => Promise<void> = async () => undefined,
  ) {}

  write(ops: LevelOp[], sync: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.failed !== undefined) await this.reopen();
      try {
        await this.db.batch(ops, { sync });
      } catch (e) {
        this.failed = levelCause(e);
        throw new UserError(`${this.what} state dir ${this.dir}: write failed: ${this.failed}`);
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async reopen(): Promise<void> {
    const why = `after a failed write (${this.failed})`;
    await this.db.close().catch(() => undefined);
    let problems: string[];
    try {
      problems = checkLevelDir(this.dir).problems;
    } catch (e) {
      throw new UserError(`${this.what} state dir ${this.dir}: cannot read it ${why}: ${(e as Error).message}`);
    }
    if (problems.length) throw new UserError(`${this.what} state dir ${this.dir}: damaged ${why}: ${problems.join('; ')}; ${resetHint(this.dir, this.what)}`);
    try {
      await this.db.open({ createIfMissing: false });
      await this.afterReopen();
    } catch (e) {
      throw new UserError(`${this.what} state dir ${this.dir}: cannot reopen it ${why}: ${levelCause(e)}`);
    }
    this.failed = undefined;
  }
}
