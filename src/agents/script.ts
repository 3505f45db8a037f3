// Heartbeat resource.d scripts and LSB init scripts, run as
// `script arg1 arg2 ... start|stop|status` like Heartbeat's ResourceManager.

import { accessSync, constants as fsc, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '../config/types.js';
import { UserError } from '../util/errors.js';
import { describeEnd, outputTail, runChild, SCRIPT_ENV, type RunResult } from './runner.js';
import type { AgentContext, MonitorOutcome, ResourceAgent, ResourceStatus } from './types.js';

export { SCRIPT_ENV } from './runner.js';

export type ScriptResult = RunResult;

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

export type ScriptOp = 'start' | 'stop' | 'status';

export class ScriptAgent implements ResourceAgent {
  // One operation at a time per resource: init scripts are not written to
  // have `start` and `stop` of the same service overlap.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly resource: Resource, private readonly ctx: AgentContext) {
    findScript(resource.agent, ctx); // unknown agents are configuration errors, reported at load
  }

  start(): Promise<void> {
    return this.serial(() => this.checked('start', this.resource.ops?.start?.timeoutMs ?? this.ctx.scriptTimeoutMs));
  }

  stop(): Promise<void> {
    return this.serial(() => this.checked('stop', this.resource.ops?.stop?.timeoutMs ?? this.ctx.scriptTimeoutMs));
  }

  status(): Promise<ResourceStatus> {
    return this.serial(async () => {
      const { path, r } = await this.run('status', this.ctx.scriptTimeoutMs);
      const verdict = interpretStatus(r);
      if (verdict !== undefined) return verdict;
      throw this.err(`${this.cmd(path, 'status')} ended with ${describeEnd(r, this.ctx.scriptTimeoutMs)} and gave no running/stopped verdict: ${outputTail(r)}`);
    });
  }

  /** `status` as a monitor: LSB's exit codes, or a Heartbeat script's words. */
  monitor(timeoutMs: number): Promise<MonitorOutcome> {
    return this.serial(async () => {
      let path: string;
      try {
        path = findScript(this.resource.agent, this.ctx);
      } catch (e) {
        return { result: 'failed', detail: errText(e) };
      }
      const r = await runChild({ path, args: [...this.resource.args, 'status'], timeoutMs });
      return lsbMonitorOutcome(r, timeoutMs);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  private async checked(op: 'start' | 'stop', timeoutMs: number): Promise<void> {
    const { path, r } = await this.run(op, timeoutMs);
    if (r.code !== 0) throw this.err(`${this.cmd(path, op)} failed with ${describeEnd(r, timeoutMs)}: ${outputTail(r)}`);
  }

  private async run(op: ScriptOp, timeoutMs: number): Promise<{ path: string; r: ScriptResult }> {
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
    const r = await runChild({ path, args, timeoutMs });
    if (r.spawnError !== undefined) throw this.err(`cannot run ${path}: ${r.spawnError}`);
    if (r.timedOut) throw this.err(`${this.cmd(path, op)} ${describeEnd(r, timeoutMs)}`);
    return { path, r };
  }

  private cmd(path: string, op: ScriptOp): string {
    return [path, ...this.resource.args, op].join(' ');
  }

  private err(msg: string): UserError {
    return new UserError(`resource "${this.resource.spec}": ${msg}`);
  }
}

/** LSB's `status` exit codes (LSB 3.1, "Init Script Actions"). */
export const LSB_STATUS: Readonly<Record<number, string>> = Object.freeze({
  0: 'program is running or service is OK',
  1: 'program is dead and /var/run pid file exists',
  2: 'program is dead and /var/lock lock file exists',
  3: 'program is not running',
  4: 'program or service status is unknown',
});

/**
 * A `status` run as a monitor result. LSB codes 1-3 say the service is
 * down (a failure of a running resource); 4 and anything else is an error.
 * A Heartbeat script that always exits 0 is read by its words (interpretStatus).
 */
export function lsbMonitorOutcome(r: RunResult, timeoutMs: number): MonitorOutcome {
  if (r.timedOut) return { result: 'timeout', detail: describeEnd(r, timeoutMs) };
  if (r.spawnError !== undefined) return { result: 'failed', detail: describeEnd(r, timeoutMs) };
  const code = r.code ?? -1;
  if (code >= 1 && code <= 3) return { result: 'not-running', rc: code, detail: `status exit ${code}: ${LSB_STATUS[code]}` };
  const verdict = interpretStatus(r);
  if (verdict === 'stopped') return { result: 'not-running', rc: code, detail: `status said: ${outputTail(r)}` };
  if (verdict === 'running') return { result: 'running', rc: code, detail: 'running' };
  const meaning = LSB_STATUS[code];
  return { result: 'failed', ...(r.code !== null ? { rc: code } : {}), detail: `status ended with ${describeEnd(r, timeoutMs)}${meaning ? ` (${meaning})` : ''}: ${outputTail(r)}` };
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

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
