// Heartbeat resource.d scripts and LSB init scripts, run as
// `script arg1 arg2 ... start|stop|status` like Heartbeat's ResourceManager.

import { spawn } from 'node:child_process';
import { accessSync, constants as fsc, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '../config/types.js';
import { UserError } from '../util/errors.js';
import type { AgentContext, ResourceAgent, ResourceStatus } from './types.js';

/** Scripts get a fixed environment, not the daemon's: a predictable PATH, and
 *  the C locale so status texts are the English ones we parse. */
export const SCRIPT_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
  LC_ALL: 'C',
  HOME: '/',
  SHELL: '/bin/sh',
});

/** After the script exits, how long to keep reading output its children may still hold open. */
const OUTPUT_GRACE_MS = 100;
/** After SIGTERM on timeout, how long before SIGKILL. */
const KILL_GRACE_MS = 2000;
const OUTPUT_KEEP = 16 * 1024;

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const AGENT_NAME = /^[A-Za-z0-9_.+@-]+$/;

/**
 * Where Heartbeat would find the script: `<configDir>/resource.d/<agent>`,
 * then `<initDir>/<agent>`; the first that is a regular file and executable.
 */
export function findScript(agent: string, ctx: Pick<AgentContext, 'configDir' | 'initDir'>): string {
  if (!AGENT_NAME.test(agent) || agent === '.' || agent === '..') {
    throw new UserError(`resource agent name "${agent}" is not a plain file name`);
  }
  const candidates = [join(ctx.configDir, 'resource.d', agent), join(ctx.initDir, agent)];
  const notes: string[] = [];
  for (const path of candidates) {
    let isFile: boolean;
    try {
      isFile = statSync(path).isFile();
    } catch {
      continue; // absent (or a dangling link): try the next place
    }
    if (!isFile) {
      notes.push(`${path} is not a regular file`);
      continue;
    }
    try {
      accessSync(path, fsc.X_OK);
      return path;
    } catch {
      notes.push(`${path} exists but is not executable (chmod +x it)`);
    }
  }
  return notFound(agent, candidates, notes);
}

function notFound(agent: string, candidates: string[], notes: string[]): never {
  const detail = notes.length > 0 ? `; ${notes.join('; ')}` : '';
  throw new UserError(
    `unknown resource agent "${agent}": not built in, and no executable script at ${candidates.join(' or ')}${detail}`,
  );
}

/**
 * Runs a script without a shell and resolves when the script itself exits.
 * Services it starts in the background inherit its stdout/stderr; waiting
 * for those pipes to close would wait for the service to stop, so output is
 * only collected for a short grace period after the exit.
 */
export function runScript(path: string, args: string[], timeoutMs: number, as?: { uid: number; gid: number }): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      // detached = setsid(): the script leads its own process group, so a
      // timeout can kill it together with everything it spawned. `as`: the
      // user a keepalived.conf script runs as (script_user), not root.
      child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: '/', env: { ...SCRIPT_ENV }, ...(as ? { uid: as.uid, gid: as.gid } : {}) });
    } catch (e) {
      reject(new UserError(`cannot run ${path}: ${errText(e)}`));
      return;
    }
    const out = { stdout: '', stderr: '' };
    const keep = (which: 'stdout' | 'stderr') => (chunk: Buffer): void => {
      out[which] = (out[which] + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
    };
    const onOut = keep('stdout');
    const onErr = keep('stderr');
    child.stdout.on('data', onOut);
    child.stderr.on('data', onErr);

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, sig); } catch { /* group already gone */ }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);

    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      reject(new UserError(`cannot run ${path}: ${spawnErrorText(e)}`));
    });

    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Leftovers of a script that hung must not survive it.
      if (timedOut) killGroup('SIGKILL');
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        for (const [s, fn] of [[child.stdout, onOut], [child.stderr, onErr]] as const) {
          // Keep draining whatever a background service still writes (so it
          // never blocks or gets SIGPIPE), but stop collecting, and do not
          // let those pipes keep the daemon's event loop alive.
          s.off('data', fn);
          s.resume();
          (s as unknown as { unref?: () => void }).unref?.();
        }
        resolve({ code, signal, stdout: out.stdout, stderr: out.stderr, timedOut });
      };
      child.once('close', finish);
      setTimeout(finish, OUTPUT_GRACE_MS).unref();
    });
  });
}

export type ScriptOp = 'start' | 'stop' | 'status';

export class ScriptAgent implements ResourceAgent {
  // One operation at a time per resource: init scripts are not written to
  // have `start` and `stop` of the same service overlap.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly resource: Resource, private readonly ctx: AgentContext) {
    findScript(resource.agent, ctx); // unknown agents are configuration errors, reported at load
  }

  start(): Promise<void> {
    return this.serial(() => this.checked('start'));
  }

  stop(): Promise<void> {
    return this.serial(() => this.checked('stop'));
  }

  status(): Promise<ResourceStatus> {
    return this.serial(async () => {
      const { path, r } = await this.run('status');
      const verdict = interpretStatus(r);
      if (verdict !== undefined) return verdict;
      throw this.err(`${this.cmd(path, 'status')} ended with ${describeExit(r)} and gave no running/stopped verdict: ${tail(r)}`);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  private async checked(op: 'start' | 'stop'): Promise<void> {
    const { path, r } = await this.run(op);
    if (r.code !== 0) throw this.err(`${this.cmd(path, op)} failed with ${describeExit(r)}: ${tail(r)}`);
  }

  private async run(op: ScriptOp): Promise<{ path: string; r: ScriptResult }> {
    let path: string;
    try {
      // Looked up per call, as Heartbeat does: a script installed or
      // replaced after the daemon started is the one that runs.
      path = findScript(this.resource.agent, this.ctx);
    } catch (e) {
      throw this.err(errText(e));
    }
    const args = [...this.resource.args, op];
    this.ctx.log('debug', `running ${this.cmd(path, op)}`);
    let r: ScriptResult;
    try {
      r = await runScript(path, args, this.ctx.scriptTimeoutMs);
    } catch (e) {
      throw this.err(errText(e));
    }
    if (r.timedOut) {
      throw this.err(`${this.cmd(path, op)} timed out after ${fmtMs(this.ctx.scriptTimeoutMs)}; its processes were killed`);
    }
    return { path, r };
  }

  private cmd(path: string, op: ScriptOp): string {
    return [path, ...this.resource.args, op].join(' ');
  }

  private err(msg: string): UserError {
    return new UserError(`resource "${this.resource.spec}": ${msg}`);
  }
}

/**
 * Heartbeat scripts answer in text ("running", "OK", "stopped", "not
 * running") and often always exit 0; LSB scripts answer with exit codes (0
 * running, 3 stopped). A stopped verdict from either wins, because reporting
 * a dead service as running would stop Heartbeat from starting it.
 * Undefined means neither form gave an answer.
 */
export function interpretStatus(r: Pick<ScriptResult, 'code' | 'stdout' | 'stderr'>): ResourceStatus | undefined {
  const text = `${r.stdout}\n${r.stderr}`;
  if (r.code === 3) return 'stopped';
  if (/not\s+running/i.test(text)) return 'stopped';
  if (/\bstopped\b/i.test(text) && !/\brunning\b|\bOK\b/.test(text)) return 'stopped';
  if (r.code === 0) return 'running';
  return undefined;
}

function describeExit(r: ScriptResult): string {
  return r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
}

/** The last few lines of what the script said, for the error message. */
function tail(r: ScriptResult): string {
  const src = r.stderr.trim() !== '' ? r.stderr : r.stdout;
  const lines = src.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return '(no output)';
  const t = lines.slice(-5).join(' / ');
  return t.length > 400 ? `...${t.slice(-400)}` : t;
}

function spawnErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'it, or the interpreter named on its #! line, does not exist';
    case 'EACCES': return 'permission denied (is it executable, and its filesystem not mounted noexec?)';
    case 'ENOEXEC': return 'not an executable format (missing #! line?)';
    default: return e.message;
  }
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
