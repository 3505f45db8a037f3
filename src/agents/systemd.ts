// systemd units as resources (`systemd:UNIT`), through systemd's D-Bus API
// (org.freedesktop.systemd1): StartUnit/StopUnit queue a job, which is
// waited for until it leaves the bus, then the unit's ActiveState says how
// it ended; a monitor reads ActiveState. The calls go through `busctl`, the
// D-Bus client systemd ships, run by the one runner (its own process group,
// a hard timeout), so no D-Bus library is needed in the daemon.
//
// Where systemd does not run (no /run/systemd/system: a container, a
// non-systemd init), every operation fails with that reason.

import { existsSync } from 'node:fs';
import type { Resource } from '../config/types.js';
import { UserError } from '../util/errors.js';
import { describeEnd, outputTail, runChild } from './runner.js';
import type { AgentContext, MonitorOutcome, ResourceAgent, ResourceStatus } from './types.js';

const DEST = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const JOB_POLL_MS = 100;

/** Why systemd units cannot be used on this host, or undefined. sd_booted(3)'s test. */
export function systemdProblem(runDir = '/run/systemd/system'): string | undefined {
  return existsSync(runDir) ? undefined : `systemd is not running on this host (no ${runDir}): systemd:UNIT resources need it as init`;
}

/** A busctl answer such as `o "/org/freedesktop/systemd1/job/42"` or `s "active"`: the quoted value. */
export function busctlValue(out: string): string | undefined {
  const m = /^[a-z]+\s+"((?:[^"\\]|\\.)*)"\s*$/.exec(out.trim());
  return m ? m[1] : undefined;
}

/** ActiveState as a monitor verdict (systemd's unit states: active, reloading, inactive, failed, activating, deactivating). */
export function activeStateOutcome(state: string): MonitorOutcome {
  if (state === 'active' || state === 'reloading') return { result: 'running', detail: `ActiveState=${state}` };
  if (state === 'inactive' || state === 'failed' || state === 'deactivating') return { result: 'not-running', detail: `ActiveState=${state}` };
  if (state === 'activating') return { result: 'failed', detail: 'ActiveState=activating: still starting' };
  return { result: 'failed', detail: `ActiveState=${state || '(none)'}` };
}

export class SystemdAgent implements ResourceAgent {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly resource: Resource, private readonly ctx: AgentContext, readonly unit: string) {}

  start(): Promise<void> {
    return this.serial(() => this.job('StartUnit', this.resource.ops?.start?.timeoutMs ?? this.ctx.scriptTimeoutMs, ['active']));
  }

  stop(): Promise<void> {
    return this.serial(() => this.job('StopUnit', this.resource.ops?.stop?.timeoutMs ?? this.ctx.scriptTimeoutMs, ['inactive', 'failed']));
  }

  status(): Promise<ResourceStatus> {
    return this.monitor(this.ctx.scriptTimeoutMs).then((m) => {
      if (m.result === 'running') return 'running';
      if (m.result === 'not-running') return 'stopped';
      throw this.err(`monitor: ${m.detail}`);
    });
  }

  monitor(timeoutMs: number): Promise<MonitorOutcome> {
    return this.serial(async () => {
      const problem = systemdProblem();
      if (problem) return { result: 'failed', detail: problem };
      const deadline = performance.now() + timeoutMs;
      try {
        return activeStateOutcome(await this.activeState(deadline));
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        return { result: /timed out/.test(msg) ? 'timeout' : 'failed', detail: msg };
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Queues the job, waits until it leaves the bus, then checks the unit ended in one of `want`. */
  private async job(method: 'StartUnit' | 'StopUnit', timeoutMs: number, want: string[]): Promise<void> {
    const problem = systemdProblem();
    if (problem) throw this.err(problem);
    const deadline = performance.now() + timeoutMs;
    const job = busctlValue(await this.busctl(['call', DEST, MANAGER_PATH, MANAGER, method, 'ss', this.unit, 'replace'], deadline));
    if (!job) throw this.err(`${method} ${this.unit}: no job path in systemd's answer`);
    // The job object exists until the job finishes (JobRemoved); polling it keeps busctl calls short.
    while (performance.now() < deadline) {
      const r = await runChild({ path: 'busctl', args: ['--system', 'get-property', DEST, job, 'org.freedesktop.systemd1.Job', 'State'], timeoutMs: Math.max(1, deadline - performance.now()) });
      if (r.code !== 0) break;   // gone: the job is done
      await new Promise((res) => setTimeout(res, JOB_POLL_MS));
    }
    const state = await this.activeState(deadline);
    if (!want.includes(state)) throw this.err(`${method} ${this.unit}: the unit is ${state} after its job (journalctl -u ${this.unit} says why)`);
  }

  private async activeState(deadline: number): Promise<string> {
    const path = busctlValue(await this.busctl(['call', DEST, MANAGER_PATH, MANAGER, 'LoadUnit', 's', this.unit], deadline));
    if (!path) throw this.err(`LoadUnit ${this.unit}: no unit path in systemd's answer`);
    const state = busctlValue(await this.busctl(['get-property', DEST, path, 'org.freedesktop.systemd1.Unit', 'ActiveState'], deadline));
    return state ?? '';
  }

  private async busctl(args: string[], deadline: number): Promise<string> {
    const timeoutMs = Math.max(1, deadline - performance.now());
    const r = await runChild({ path: 'busctl', args: ['--system', ...args], timeoutMs });
    if (r.code !== 0) throw this.err(`busctl ${args.slice(0, 5).join(' ')}: ${describeEnd(r, timeoutMs)}: ${outputTail(r)}`);
    return r.stdout;
  }

  private err(msg: string): UserError {
    return new UserError(`resource "${this.resource.spec}": ${msg}`);
  }
}
