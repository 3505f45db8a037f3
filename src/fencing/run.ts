// Runs one fencing tool (ipmitool, a fence agent, an external plugin) under a
// hard deadline. agents/script.ts's runner does not fit: fencing needs stdin
// (fence agents read their parameters there), a per-call environment
// (external plugins read theirs there), an abort signal, and a bound that
// holds even when the tool ignores SIGTERM, so here the whole process group
// gets SIGKILL at the deadline and the promise settles shortly after, exited
// or not.

import { spawn } from 'node:child_process';

export interface RunOptions {
  env: Record<string, string>;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null, so nothing can prompt. */
  input?: string;
  /** Absolute performance.now() instant at which the process group is killed. */
  deadline: number;
  signal?: AbortSignal;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started at all. */
  spawnError?: string;
  ms: number;
}

const OUTPUT_KEEP = 16 * 1024;
/** After the exit, how long to wait for output still in the pipes. */
const OUTPUT_GRACE_MS = 100;
/** After SIGKILL, settle even if no exit was seen (a process stuck in the kernel). */
const SETTLE_AFTER_KILL_MS = 500;

/** Never rejects: every failure is described in the result. */
export function runBounded(path: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const out = { stdout: '', stderr: '' };
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let child: ReturnType<typeof spawn>;
    const timers: NodeJS.Timeout[] = [];

    const finish = (r: Pick<RunResult, 'code' | 'signal'> & { spawnError?: string }): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout: out.stdout, stderr: out.stderr, timedOut, aborted, ms: performance.now() - started });
    };

    if (opts.signal?.aborted) {
      aborted = true;
      finish({ code: null, signal: null, spawnError: 'aborted before start' });
      return;
    }
    try {
      // detached: the tool leads its own process group, so a kill reaches
      // the ipmitool a fence agent or plugin started as well.
      child = spawn(path, args, {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true, cwd: '/', env: opts.env,
      });
    } catch (e) {
      finish({ code: null, signal: null, spawnError: (e as Error).message });
      return;
    }

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    };
    const hardStop = (): void => {
      killGroup();
      timers.push(setTimeout(() => finish({ code: null, signal: 'SIGKILL' }), SETTLE_AFTER_KILL_MS));
    };
    function onAbort(): void {
      aborted = true;
      hardStop();
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => { timedOut = true; hardStop(); }, Math.max(0, opts.deadline - performance.now())));

    const keep = (which: 'stdout' | 'stderr') => (chunk: Buffer): void => {
      out[which] = (out[which] + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
    };
    child.stdout!.on('data', keep('stdout'));
    child.stderr!.on('data', keep('stderr'));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);   // a tool that exits without reading stdin
      child.stdin!.end(opts.input);
    }

    child.once('error', (e: NodeJS.ErrnoException) => {
      finish({ code: null, signal: null, spawnError: spawnErrorText(e) });
    });
    child.once('exit', (code, signal) => {
      // Nothing a fence started may outlive it: a stray ipmitool could still
      // switch the power after the fence has been reported.
      killGroup();
      const done = (): void => finish({ code, signal });
      child.once('close', done);
      timers.push(setTimeout(done, OUTPUT_GRACE_MS));
    });
  });
}

function spawnErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'it, or the interpreter on its #! line, does not exist';
    case 'EACCES': return 'permission denied (not executable, or on a noexec mount)';
    case 'ENOEXEC': return 'not an executable format (missing #! line?)';
    default: return e.message;
  }
}
