// Preparing --run-dir and --state-dir before anything is opened in them.
// Every failure names the option, the path and the real cause (a file where
// a directory should be, a read-only file system, permissions, a full disk)
// instead of whatever a later open happens to report.

import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../util/errors.js';

/** The first existing path on the way to `dir` that is not a directory, if any. */
function fileInTheWay(dir: string): string | undefined {
  for (let p = dir; ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p;
    } catch { /* does not exist yet: look further up */ }
    if (dirname(p) === p) return undefined;
  }
}

/**
 * Node's recursive mkdir reports ENOENT for what is really EROFS or EACCES
 * on the first missing component; a plain mkdir of that component tells.
 */
function realMkdirError(e: unknown, dir: string, mode: number): unknown {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return e;
  let missing = dir;
  while (dirname(missing) !== missing) {
    try {
      statSync(dirname(missing));
      break;
    } catch {
      missing = dirname(missing);
    }
  }
  try {
    mkdirSync(missing, { mode });
  } catch (e2) {
    return e2;
  }
  return e;
}

function cause(e: unknown, dir: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EEXIST':
    case 'ENOTDIR': {
      const f = fileInTheWay(dir);
      if (f === dir) return 'exists and is not a directory';
      return f ? `${f} is a file, not a directory` : 'a part of the path is not a directory';
    }
    case 'EROFS': return 'the file system is read-only';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'disk quota exceeded';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENAMETOOLONG': return 'the path is too long';
    default: return (e as Error).message;
  }
}

/**
 * Creates `dir` (and its parents) with `mode` if missing, then checks that
 * it is a directory this process can create files in. Throws a UserError
 * "OPTION DIR: cause".
 */
export function prepareDir(option: string, dir: string, mode: number): void {
  const fail = (why: string) => new UserError(`${option} ${dir}: ${why}`);
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (e) {
    throw fail(cause(realMkdirError(e, dir, mode), dir));
  }
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw fail(cause(e, dir));
  }
  if (!st.isDirectory()) throw fail('exists and is not a directory');
  try {
    // access() reports EROFS for a read-only mount even to root.
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw fail(`cannot create files in it: ${cause(e, dir)}`);
  }
}
