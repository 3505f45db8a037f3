// Opening a LevelDB directory with operator-readable errors. The LOCK file
// makes one process the owner of a state dir; a second one is told so.

import { mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';

/** `what` names the owner in messages, e.g. "tandem" or "arbiter". */
export async function openLevel(dir: string, what: string): Promise<ClassicLevel<string, string>> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UserError(`${what} state dir ${dir}: ${(e as Error).message}`);
  }
  const db = new ClassicLevel<string, string>(dir, { valueEncoding: 'utf8' });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new UserError(`${what} state dir ${dir} is in use by another ${what} process (one ${what} per state dir)`);
    }
    throw new UserError(`${what} state dir ${dir}: cannot open: ${cause?.message ?? (e as Error).message}`);
  }
  return db;
}
