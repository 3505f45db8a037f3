// The one runner for every child process tandem starts on a user's behalf:
// resource agents (OCF, LSB, resource.d), fence devices, notify programs and
// keepalived track/notify scripts. One contract for all of them:
// - its own process group (setsid), so a kill reaches what it spawned;
// - a hard timeout: SIGTERM to the group, SIGKILL after a grace, and the
//   promise settles shortly after even if the process is stuck in the kernel;
// - bounded captured output (the last OUTPUT_KEEP bytes of each stream);
// - a scrubbed environment (SCRIPT_ENV plus what the call adds), never the
//   daemon's own;
// - optionally another user (keepalived's script_user);
// - refusal of a program that users other than root could change (the file
//   or a directory above it writable by them): it would run as root.
// It never rejects: every failure is described in the result.

import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { statSync } from 'node:fs';
import { trustedFileProblem } from '../config/files.js';

/** Children get a fixed environment, not the daemon's: a predictable PATH, and
 *  the C locale so status texts are the English ones we parse. */
export const SCRIPT_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
  LC_ALL: 'C',
  HOME: '/',
  SHELL: '/bin/sh',
});

export const OUTPUT_KEEP = 16 * 1024;
/** After the program exits, how long to keep reading output its children may still hold open. */
const OUTPUT_GRACE_MS = 100;
/** After SIGKILL, settle even if no exit was seen (a process stuck in the kernel). */
const SETTLE_AFTER_KILL_MS = 500;
/** Default wait between SIGTERM and SIGKILL at a timeout. */
export const DEFAULT_KILL_GRACE_MS = 2000;

export interface RunSpec {
  /** An absolute path, or a bare name looked up on the environment's PATH. */
  path: string;
  args: readonly string[];
  /** Hard limit: the whole process group is killed when it is reached. */
  timeoutMs: number;
  /** Added to SCRIPT_ENV (and may override it). */
  env?: Readonly<Record<string, string>>;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null, so nothing can prompt. */
  input?: string;
  /** Run as this user instead of root (script_user). */
  as?: { uid: number; gid: number };
  signal?: AbortSignal;
  /** SIGTERM first, SIGKILL this long after (default DEFAULT_KILL_GRACE_MS); 0: SIGKILL at once. */
  killGraceMs?: number;
  /**
   * Kill the group when the program exits (default false): a fence tool must
   * leave nothing behind, while an init script's daemon must survive it.
   */
  killGroupOnExit?: boolean;
  /** Skip the writable-by-others check (default false): only for programs the caller vetted itself. */
  trusted?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started at all (or was refused: then `refused` too). */
  spawnError?: string;
  /** Why the program was not run: users other than root could change it. */
  refused?: string;
  ms: number;
}

/** Where a bare program name resolves on PATH; the name itself when nothing matches (spawn then reports ENOENT). */
export function resolveProgram(name: string, pathVar: string): string {
  if (isAbsolute(name) || name.includes('/')) return name;
  for (const dir of pathVar.split(':')) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return name;
}

/** Why `path` must not run (writable by users other than root, or not executable), or undefined. */
export function programProblem(path: string): string | undefined {
  return trustedFileProblem(path, 'script');
}

/** Runs one program under the contract above. Never rejects. */
export function runChild(spec: RunSpec): Promise<RunResult> {
  const started = performance.now();
  const env = { ...SCRIPT_ENV, ...(spec.env ?? {}) };
  const path = resolveProgram(spec.path, env.PATH ?? SCRIPT_ENV.PATH!);
  return new Promise((resolve) => {
    const out = { stdout: '', stderr: '' };
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    let child: ReturnType<typeof spawn> | undefined;

    const finish = (r: Pick<RunResult, 'code' | 'signal'> & { spawnError?: string; refused?: string }): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      spec.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout: out.stdout, stderr: out.stderr, timedOut, aborted, ms: performance.now() - started });
    };
    function onAbort(): void {
      aborted = true;
      hardStop(0);
    }
    if (spec.signal?.aborted) {
      aborted = true;
      finish({ code: null, signal: null, spawnError: 'aborted before start' });
      return;
    }
    if (!spec.trusted && isAbsolute(path)) {
      const problem = programProblem(path);
      if (problem) {
        finish({ code: null, signal: null, spawnError: `refused: ${problem}`, refused: problem });
        return;
      }
    }
    try {
      // detached = setsid(): the program leads its own process group.
      child = spawn(path, [...spec.args], {
        stdio: [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true, cwd: '/', env,
        ...(spec.as ? { uid: spec.as.uid, gid: spec.as.gid } : {}),
      });
    } catch (e) {
      finish({ code: null, signal: null, spawnError: (e as Error).message });
      return;
    }
    const c = child;
    const killGroup = (sig: NodeJS.Signals): void => {
      if (c.pid === undefined) return;
      try { process.kill(-c.pid, sig); } catch { /* group already gone */ }
    };
    let killing = false;
    function hardStop(graceMs: number): void {
      if (killing) return;
      killing = true;
      const kill = (): void => {
        killGroup('SIGKILL');
        timers.push(setTimeout(() => finish({ code: null, signal: 'SIGKILL' }), SETTLE_AFTER_KILL_MS));
      };
      if (graceMs > 0) {
        killGroup('SIGTERM');
        timers.push(setTimeout(kill, graceMs));
      } else kill();
    }
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => { timedOut = true; hardStop(spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS); }, Math.max(0, spec.timeoutMs)));

    const keep = (which: 'stdout' | 'stderr') => (chunk: Buffer): void => {
      out[which] = (out[which] + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
    };
    const onOut = keep('stdout');
    const onErr = keep('stderr');
    c.stdout!.on('data', onOut);
    c.stderr!.on('data', onErr);
    if (spec.input !== undefined) {
      c.stdin!.on('error', () => undefined);   // a program that exits without reading stdin
      c.stdin!.end(spec.input);
    }
    c.once('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, spawnError: spawnErrorText(e) }));
    c.once('exit', (code, signal) => {
      // Leftovers of a program that hung (or of a fence tool) must not survive it.
      if (timedOut || aborted || spec.killGroupOnExit) killGroup('SIGKILL');
      const done = (): void => {
        for (const [s, fn] of [[c.stdout!, onOut], [c.stderr!, onErr]] as const) {
          // Services a script started in the background inherit its pipes:
          // keep draining them (so they never block or get SIGPIPE), but stop
          // collecting, and do not let them keep the event loop alive.
          s.off('data', fn);
          s.resume();
          (s as unknown as { unref?: () => void }).unref?.();
        }
        finish({ code, signal });
      };
      c.once('close', done);
      timers.push(setTimeout(done, OUTPUT_GRACE_MS));
    });
  });
}

export function spawnErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'it, or the interpreter named on its #! line, does not exist';
    case 'EACCES': return 'permission denied (is it executable, and its filesystem not mounted noexec?)';
    case 'ENOEXEC': return 'not an executable format (missing #! line?)';
    default: return e.message;
  }
}

/** How the run ended, in words: "exit code 3", "signal SIGKILL", "timed out after 20 s". */
export function describeEnd(r: RunResult, timeoutMs: number): string {
  if (r.refused) return `refused: ${r.refused}`;
  if (r.spawnError) return `cannot run: ${r.spawnError}`;
  if (r.timedOut) return `timed out after ${fmtMs(timeoutMs)}; its processes were killed`;
  if (r.aborted) return 'aborted';
  return r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
}

/** The last few lines of what the program said, for an error message. */
export function outputTail(r: Pick<RunResult, 'stdout' | 'stderr'>): string {
  const src = r.stderr.trim() !== '' ? r.stderr : r.stdout;
  const lines = src.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return '(no output)';
  const t = lines.slice(-5).join(' / ');
  return t.length > 400 ? `...${t.slice(-400)}` : t;
}

export function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
