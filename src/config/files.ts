// Files tandem trusts: its configuration, its secrets and the programs it
// runs as root. Whoever can change one of them, or the directories on its
// path, can run code as root, forge heartbeats or read a password. The rule
// follows keepalived's `enable_script_security`: the file and every
// directory from / down to it (both the path as given and the path with
// symlinks resolved) are owned by root and not writable by others, nor by
// their group unless it is root's group; a directory with the sticky bit
// (/tmp) may be writable by all, since nobody can replace another user's
// entry in it.
//
// When tandem runs as a user other than root (the arbiter needs no root,
// nor do tests), that user may own the files and directories as well.

import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** What a file is used for, which decides how strict its mode must be. */
export type TrustedRole =
  | 'config'      // read: not writable by others
  | 'secret'      // read: readable by its owner only
  | 'script';     // run as root: not writable by others, executable

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/** Owners accepted besides root: the user tandem runs as, when that is not root. */
export function defaultOwners(): number[] {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return uid === 0 ? [0] : [0, uid];
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'ENOENT') return 'no such file';
  if (err && err.code === 'EACCES') return 'permission denied';
  if (err && err.code === 'ENOTDIR') return 'a component of the path is not a directory';
  if (err && err.code === 'ELOOP') return 'too many symbolic links';
  return err instanceof Error ? err.message : String(e);
}

/** Write permission that lets someone other than the owner (or root's group) change it. */
function looseWrite(st: Stats): boolean {
  const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o002) !== 0 && !sticky) return true;
  return (st.mode & 0o020) !== 0 && st.gid !== 0 && !sticky;
}

/** Every directory from / down to the one holding `abs`. */
function ancestors(abs: string): string[] {
  const out: string[] = [];
  for (let d = dirname(abs); ; d = dirname(d)) {
    out.push(d);
    if (d === dirname(d)) break;
  }
  return out.reverse();
}

/**
 * Why no directory on the way to `path` may be trusted, or undefined. Checks
 * the path as written and, when it goes through symlinks, the real one.
 */
export function pathDirsProblem(path: string, file: string = path, owners: number[] = defaultOwners()): string | undefined {
  const abs = resolve(path);
  let dirs = ancestors(abs);
  try {
    const real = realpathSync(abs);
    if (real !== abs) dirs = [...new Set([...dirs, ...ancestors(real)])];
  } catch {
    // a missing file is reported by the caller's own stat
  }
  const ok = [0, ...owners];
  for (const d of dirs) {
    let st: Stats;
    try {
      // The directory itself, or where its symlink points: both must hold.
      st = statSync(d);
      const l = lstatSync(d);
      if (l.isSymbolicLink() && !ok.includes(l.uid)) {
        return `symlink ${d} is owned by uid ${l.uid}, who can point ${file} elsewhere; run chown -h root: ${d}`;
      }
    } catch (e) {
      return `cannot check directory ${d} (on the path to ${file}): ${errText(e)}`;
    }
    if (!ok.includes(st.uid)) {
      return `directory ${d} is owned by uid ${st.uid}, who can replace ${file}; run chown root: ${d}`;
    }
    if (looseWrite(st)) {
      return `directory ${d} is writable by ${(st.mode & 0o002) ? 'others' : 'its group'} (mode ${octal(st.mode)}), who can replace ${file}; ` +
        `run chmod go-w ${d}`;
    }
  }
  return undefined;
}

/** The stat of a regular file owned by root (or an accepted owner) on a trusted path, or why it is not one. */
export function ownedRegularFile(path: string, owners?: number[]): { st: Stats } | { problem: string } {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    return { problem: `cannot use ${path}: ${errText(e)}` };
  }
  if (!st.isFile()) return { problem: `${path} is not a regular file` };
  const allowed = owners ?? defaultOwners();
  if (!allowed.includes(st.uid)) return { problem: `${path} must be owned by root (owner uid is ${st.uid}); run chown root: ${path}` };
  const dirs = pathDirsProblem(path, path, owners ?? defaultOwners());
  if (dirs) return { problem: dirs };
  return { st };
}

/**
 * Why `path` may not be trusted for `role`, or undefined. Messages name the
 * file and the command that fixes it.
 */
export function trustedFileProblem(path: string, role: TrustedRole, owners?: number[]): string | undefined {
  const f = ownedRegularFile(path, owners);
  if ('problem' in f) return f.problem;
  const { st } = f;
  const mode = st.mode & 0o7777;
  switch (role) {
    case 'secret':
      if ((mode & 0o077) !== 0) return `${path} must be readable by root only (mode ${octal(mode)}); run chmod 600 ${path}`;
      if (st.size === 0) return `${path} is empty`;
      return undefined;
    case 'config':
      if (looseWrite(st)) return `${path} must not be writable by group or others (mode ${octal(mode)}): it decides what runs as root; run chmod go-w ${path}`;
      return undefined;
    case 'script':
      if (looseWrite(st) || (mode & 0o022) !== 0) {
        return `${path} must not be writable by group or others (mode ${octal(mode)}): it runs as root; run chmod go-w ${path}`;
      }
      if ((mode & 0o111) === 0) return `${path} is not executable; run chmod 755 ${path}`;
      return undefined;
  }
}

/** A problem reported against `file` itself (FILE: message) need not repeat its path first. */
export function withoutPath(problem: string, file: string): string {
  return problem.startsWith(`${file} `) ? problem.slice(file.length + 1) : problem;
}
