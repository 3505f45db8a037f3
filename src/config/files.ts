// The one module of src/config that touches the file system or the host
// (.dependency-cruiser.cjs enforces it): reading a configuration file, the
// ownership and mode checks below, finding executables, writing a new key
// file, and the facts `check-config --host` compares with. The parsers take
// text and ask this module the questions they need answered.
//
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

import { randomBytes } from 'node:crypto';
import {
  accessSync, closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, statSync,
  unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

import { errnoText } from './common.js';
import { KA_LIMITS, type KaReader } from './keepalived-lexer.js';
import type { ConfigIssue } from './types.js';
import { UserError } from '../util/errors.js';

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
 * Why users other than root (and tandem's own user) could set the contents
 * of `path`: it, or a directory above it, is theirs or writable by them; or
 * it is missing from a directory where anyone may create it (the sticky bit
 * of /tmp protects only entries that exist).
 */
export function settableByOthers(path: string): string | undefined {
  const abs = resolve(path);
  let missing = false;
  try {
    statSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot check ${abs}: ${errText(e)}`;
    missing = true;
  }
  if (!missing) return trustedFileProblem(abs, 'config');
  const dirs = pathDirsProblem(abs);
  if (dirs) return dirs;
  const dir = dirname(abs);
  try {
    const st = statSync(dir);
    if ((st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0)) {
      return `${abs} does not exist, and directory ${dir} (mode ${octal(st.mode)}) lets other users create it`;
    }
  } catch (e) {
    return `cannot check directory ${dir}: ${errText(e)}`;
  }
  return undefined;
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

/**
 * Reads a configuration or key file, which must be a regular file: a FIFO
 * would block the read forever (hence O_NONBLOCK on the open, which does
 * nothing to a regular file) and a device like /dev/zero never ends.
 * Throws like readFileSync; errnoText() turns either into a message.
 */
export function readRegularFile(file: string): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export type ExecutableLookup =
  | { path: string }
  | { problems: Array<{ path: string; why: 'not-file' | 'not-executable' }> };

/** The first of `paths` that is an executable regular file; otherwise why each one that exists is not. */
export function findExecutable(paths: readonly string[]): ExecutableLookup {
  const problems: Array<{ path: string; why: 'not-file' | 'not-executable' }> = [];
  for (const path of paths) {
    try {
      if (!statSync(path).isFile()) {
        problems.push({ path, why: 'not-file' });
        continue;
      }
    } catch {
      continue;   // absent: try the next place
    }
    try {
      accessSync(path, constants.X_OK);
      return { path };
    } catch {
      problems.push({ path, why: 'not-executable' });
    }
  }
  return { problems };
}

const ipmitoolAgents = new Map<string, boolean>();

/**
 * Does this fence agent run ipmitool with the password on -P? fence_ipmilan
 * and its copies (fence_idrac, fence_ilo3/4/5, fence_imm, fence_ipmilanplus)
 * are the agents with an ipmitool_path option.
 */
export function agentRunsIpmitool(path: string): boolean {
  let key: string;
  try {
    const st = statSync(path);
    key = `${path}:${st.mtimeMs}:${st.size}`;
  } catch {
    return false;
  }
  let v = ipmitoolAgents.get(key);
  if (v === undefined) {
    try {
      v = /ipmitool[_-]path/.test(readFileSync(path, 'utf8').slice(0, 256 * 1024));
    } catch {
      v = false;
    }
    ipmitoolAgents.set(key, v);
  }
  return v;
}

export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The keys are shared secrets: anyone who can read them can forge
 * heartbeats, and anyone who can write them can lock a node out. Returns an
 * issue (line 0) when group or others have read or write permission, when
 * the file or a directory above it is not root's or is writable by others,
 * or when the file cannot be examined.
 */
export function checkAuthKeysMode(file: string): ConfigIssue | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    return { file, line: 0, message: `cannot check permissions: ${errnoText(e)}` };
  }
  if (!st.isFile()) return undefined;   // reading it says so
  const mode = st.mode & 0o7777;
  if ((mode & 0o066) === 0) {
    // Root's (or, for an arbiter run by another user, that user's), in
    // directories nobody else can write: a key file someone else can
    // replace is theirs.
    const owned = ownedRegularFile(file);
    return 'problem' in owned ? { file, line: 0, message: withoutPath(owned.problem, file) } : undefined;
  }
  const shown = mode.toString(8).padStart(4, '0');
  return {
    file,
    line: 0,
    message: `authkeys must not be accessible by group or others (mode ${shown}); run chmod 600 ${file}`,
  };
}

/**
 * Writes a secret to `file`, readable by its owner only from the first byte:
 * created with O_EXCL and mode 0600 (a umask can only take bits away), so
 * there is no moment when another user can open it, and a symlink or an
 * existing file in its place is never followed or reused. An existing file
 * is refused unless `force`; then the new file is written beside it the same
 * way and renamed over it, so the old key stays whole until the new one is
 * complete. UserError naming the file on any failure.
 */
export function writeSecretFile(file: string, text: string, opts: { force?: boolean } = {}): void {
  const exists = (() => {
    try { statSync(file); return true; } catch { return false; }
  })();
  if (exists && !opts.force) {
    throw new UserError(`${file} exists; not overwriting a key (the other node may use it). Remove it first, or add --force to replace it`);
  }
  const target = exists ? join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`) : file;
  let fd: number;
  try {
    fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`${file} exists; not overwriting a key. Remove it first, or add --force to replace it`);
    throw new UserError(`${file}: cannot create: ${errnoText(e)}`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(target); } catch { /* gone already */ }
    throw new UserError(`${file}: cannot write: ${errnoText(e)}`);
  }
  closeSync(fd);
  if (target !== file) {
    try {
      renameSync(target, file);
    } catch (e) {
      try { unlinkSync(target); } catch { /* gone already */ }
      throw new UserError(`${file}: cannot replace: ${errnoText(e)}`);
    }
  }
}

export interface HostFacts {
  /** Interface name -> its IPv4 addresses with netmasks. */
  interfaces: Map<string, Array<{ address: string; netmask: string }>>;
  /** stat of a device path: 'char', 'other', or an errno text. */
  device: (path: string) => 'char' | 'other' | string;
}

export function localHostFacts(): HostFacts {
  const interfaces = new Map<string, Array<{ address: string; netmask: string }>>();
  for (const [name, list] of Object.entries(networkInterfaces())) {
    interfaces.set(name, (list ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ address: a.address, netmask: a.netmask })));
  }
  return {
    interfaces,
    device: (path) => {
      try {
        return statSync(path).isCharacterDevice() ? 'char' : 'other';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
      }
    },
  };
}

// ---- keepalived.conf -----------------------------------------------------------

/** glob(3)-style match of one path component: `*`, `?` and `[...]`; a leading '.' only by a literal '.'. */
function componentMatcher(pattern: string): (name: string) => boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  const rx = new RegExp(`${re}$`);
  return (name) => (name.startsWith('.') && !pattern.startsWith('.') ? false : rx.test(name));
}

/** Paths matching a glob pattern (absolute, or relative to the working directory), sorted; at most 1024. */
export function globPaths(pattern: string): string[] {
  const absolute = pattern.startsWith('/');
  const parts = pattern.split('/').filter((p) => p !== '');
  let current = [absolute ? '/' : '.'];
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    const next: string[] = [];
    for (const dir of current) {
      if (!/[*?[]/.test(part)) {
        next.push(dir === '.' && !absolute ? part : join(dir, part));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      const match = componentMatcher(part);
      for (const n of names.sort()) if (match(n)) next.push(dir === '.' && !absolute ? n : join(dir, n));
    }
    current = next.slice(0, 1024);
  }
  return current.filter((p) => {
    try { return statSync(p).isFile(); } catch { return false; }
  }).sort();
}

/** Reads keepalived.conf and what it includes (src/config/keepalived-lexer.ts). */
export const keepalivedReader: KaReader = {
  read(path) {
    try {
      const st = statSync(path);
      if (st.isFile() && st.size > KA_LIMITS.fileBytes) return { error: `larger than ${KA_LIMITS.fileBytes} bytes` };
      return { text: readRegularFile(path).toString('utf8') };
    } catch (e) {
      return { error: errnoText(e) };
    }
  },
  glob: globPaths,
  real(path) {
    try { return realpathSync(path); } catch { return resolve(path); }
  },
};

/** A user of this host (from /etc/passwd, or a numeric uid), as script_user and `user` name it. */
export function lookupUser(name: string, group?: string): { uid: number; gid: number } | { problem: string } {
  const table = (file: string): string[][] => {
    try {
      return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  const pw = table('/etc/passwd').find((f) => f[0] === name || (/^[0-9]+$/.test(name) && f[2] === name));
  if (!pw) return { problem: `user '${name}' does not exist on this host` };
  let gid = Number(pw[3]);
  if (group !== undefined) {
    const gr = table('/etc/group').find((f) => f[0] === group || (/^[0-9]+$/.test(group) && f[2] === group));
    if (!gr) return { problem: `group '${group}' does not exist on this host` };
    gid = Number(gr[2]);
  }
  return { uid: Number(pw[2]), gid };
}

/**
 * Names of the network interfaces of this process's network namespace, with
 * or without an address, or undefined. /proc/net/dev follows the namespace;
 * /sys/class/net shows the one sysfs was mounted in.
 */
export function hostInterfaces(): ReadonlySet<string> | undefined {
  try {
    const lines = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2);
    return new Set(lines.map((l) => l.split(':')[0]!.trim()).filter((n) => n !== ''));
  } catch {
    return undefined;
  }
}
