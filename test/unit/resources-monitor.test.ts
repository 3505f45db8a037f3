// The resources machine's monitoring (pure, time injected): checks on their
// interval while a group runs, failures counted within failure-timeout,
// restart in place below migration-threshold, the whole group moved at it.
import { describe, expect, it } from 'vitest';
import {
  cleanupCheck, failedGroups, heldGroups, initResources, resourcesDeadline, resourcesStep, stopFailedGroups,
  type MonitorSpec, type ResourcesAction, type ResourcesConfig, type ResourcesState,
} from '../../src/resources/machine.js';
import type { PeerReport } from '../../src/membership/machine.js';

const MON: MonitorSpec = { intervalMs: 1000, timeoutMs: 500, migrationThreshold: 3, failureTimeoutMs: 0 };
const cfg = (mon: Partial<MonitorSpec> = {}): ResourcesConfig => ({
  self: 'alpha', peer: 'beta', autoFailback: 'off', stopRetries: 0, stopRetryDelayMs: 100,
  groups: [{ name: 'g', preferredNode: 'alpha', resourceCount: 3, monitors: [undefined, { ...MON, ...mon }, undefined] }],
});
const rep = (extra: Partial<PeerReport> = {}): PeerReport => ({ status: 'active', hold: [], yielding: [], failed: [], ...extra });

/** Runs ops to completion (all succeed unless `fail` says otherwise); returns them and the monitors asked for. */
function settle(s: ResourcesState, acts: ResourcesAction[], now: number, fail = (_op: string, _i: number) => false): { ops: string[]; monitors: ResourcesAction[]; all: ResourcesAction[] } {
  const ops: string[] = [];
  const monitors: ResourcesAction[] = [];
  const all: ResourcesAction[] = [];
  const queue = [...acts];
  while (queue.length) {
    const a = queue.shift()!;
    all.push(a);
    if (a.kind === 'monitor') monitors.push(a);
    if (a.kind !== 'op') continue;
    ops.push(`${a.op}${a.index}`);
    queue.push(...resourcesStep(s, { kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: !fail(a.op, a.index) }, now));
  }
  return { ops, monitors, all };
}

function running(mon: Partial<MonitorSpec> = {}): ResourcesState {
  const s = initResources(cfg(mon), new Set(), 0);
  settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0), 0);
  expect(s.groups.g!.phase).toBe('running');
  return s;
}

/** The monitor due at `now`, answered with `result`. */
function check(s: ResourcesState, now: number, result: 'running' | 'not-running' | 'timeout') {
  expect(resourcesDeadline(s)).toBe(now);
  const { monitors } = settle(s, resourcesStep(s, { kind: 'tick' }, now), now);
  expect(monitors).toEqual([{ kind: 'monitor', group: 'g', index: 1, token: expect.any(Number), timeoutMs: 500 }]);
  const m = monitors[0] as Extract<ResourcesAction, { kind: 'monitor' }>;
  return settle(s, resourcesStep(s, { kind: 'monitor-done', group: 'g', index: 1, token: m.token, result, detail: result }, now + 10), now + 10);
}

describe('monitoring', () => {
  it('checks only the monitored resource, one interval after the group runs, and again after each success', () => {
    const s = running();
    check(s, 1000, 'running');
    check(s, 2010, 'running');
    expect(s.groups.g!.mon![1]!.last).toEqual({ at: 2020, result: 'running', detail: 'running' });
  });

  it('a failure restarts the failed resource in place: those after it stopped first, started again after it', () => {
    const s = running();
    const r = check(s, 1000, 'not-running');
    expect(r.ops).toEqual(['stop2', 'stop1', 'start1', 'start2']);
    expect(r.all).toContainEqual(expect.objectContaining({ kind: 'monitor-failed', count: 1, threshold: 3, action: 'restart' }));
    expect(r.all).toContainEqual(expect.objectContaining({ kind: 'group-phase', phase: 'restarting', code: 'monitor-failed' }));
    expect(r.all.some((a) => a.kind === 'persist-hold')).toBe(false);   // held throughout
    expect(s.groups.g!.phase).toBe('running');
    expect(heldGroups(s)).toEqual(['g']);
    expect(resourcesDeadline(s)).toBe(2010);   // monitoring again
  });

  it('the migration-threshold-th failure stops the whole group and marks it failed here, so the peer takes it', () => {
    const s = running();
    check(s, 1000, 'not-running');
    check(s, 2010, 'timeout');
    const r = check(s, 3020, 'not-running');
    expect(r.ops).toEqual(['stop2', 'stop1', 'stop0']);
    expect(r.all).toContainEqual(expect.objectContaining({ kind: 'monitor-failed', count: 3, action: 'move' }));
    expect(s.groups.g!.phase).toBe('failed');
    expect(failedGroups(s)).toEqual(['g']);
    // Reported failed: the peer (not preferred) starts it on that word.
  });

  it('failures older than failure-timeout no longer count', () => {
    const s = running({ failureTimeoutMs: 1500, migrationThreshold: 2 });
    check(s, 1000, 'not-running');
    check(s, 2010, 'running');
    const r = check(s, 3020, 'not-running');   // the first failure (at 1010) expired at 2510
    expect(r.all).toContainEqual(expect.objectContaining({ kind: 'monitor-failed', count: 1, action: 'restart' }));
    expect(s.groups.g!.phase).toBe('running');
  });

  it('a result from before a restart or stop is ignored', () => {
    const s = running();
    const { monitors } = settle(s, resourcesStep(s, { kind: 'tick' }, 1000), 1000);
    const token = (monitors[0] as Extract<ResourcesAction, { kind: 'monitor' }>).token;
    settle(s, resourcesStep(s, { kind: 'shutdown' }, 1001), 1001);
    expect(s.groups.g!.phase).toBe('stopped');
    expect(resourcesStep(s, { kind: 'monitor-done', group: 'g', index: 1, token, result: 'not-running', detail: 'x' }, 1002)).toEqual([]);
  });

  it('a restart whose start fails unwinds the group and fails it here', () => {
    const s = running();
    const r = check(s, 1000, 'not-running');
    void r;
    expect(s.groups.g!.phase).toBe('running');
    const s2 = running();
    const { monitors } = settle(s2, resourcesStep(s2, { kind: 'tick' }, 1000), 1000);
    const token = (monitors[0] as Extract<ResourcesAction, { kind: 'monitor' }>).token;
    const r2 = settle(s2, resourcesStep(s2, { kind: 'monitor-done', group: 'g', index: 1, token, result: 'failed', detail: 'x' }, 1010), 1010, (op, i) => op === 'start' && i === 1);
    expect(r2.ops).toEqual(['stop2', 'stop1', 'start1', 'stop1', 'stop0']);
    expect(s2.groups.g!.phase).toBe('failed');
  });

  it('tandem cleanup clears the fail counts of a running group', () => {
    const s = running();
    check(s, 1000, 'not-running');
    expect(cleanupCheck(s, 'g')).toEqual({ probe: false });
    resourcesStep(s, { kind: 'cleanup', group: 'g' }, 1500);
    expect(s.groups.g!.mon![1]!.failures).toEqual([]);
    expect(s.groups.g!.phase).toBe('running');
    expect(cleanupCheck(s, 'g')).toEqual({ error: 'group g is running, not failed, and no resource has a failure counted; nothing to clean up' });
  });

  it('released while restarting: what is still up is stopped', () => {
    const s = running();
    const { monitors } = settle(s, resourcesStep(s, { kind: 'tick' }, 1000), 1000);
    const token = (monitors[0] as Extract<ResourcesAction, { kind: 'monitor' }>).token;
    const acts = resourcesStep(s, { kind: 'monitor-done', group: 'g', index: 1, token, result: 'not-running', detail: 'x' }, 1010);
    // stop2 in flight; then the daemon shuts down
    expect(acts.filter((a) => a.kind === 'op')).toEqual([{ kind: 'op', group: 'g', op: 'stop', index: 2 }]);
    resourcesStep(s, { kind: 'shutdown' }, 1011);
    const r = settle(s, resourcesStep(s, { kind: 'op-done', group: 'g', op: 'stop', index: 2, ok: true }, 1012), 1012);
    expect(r.ops).toEqual(['stop1', 'stop0']);
    expect(s.groups.g!.phase).toBe('stopped');
  });

  // Issue 16: a failed stop means the node cannot prove the resource down.
  // With fencing the peer fences it first (tg_stopfail); without, nobody may
  // start the group, and the alert says so and what the operator must do.
  it.each([[true, /beta fences this node before it starts the group/], [false, /no fencing is configured .*BLOCKED until an operator stops it by hand and runs tandem cleanup/]] as const)(
    'a restart whose stop keeps failing (fencing %s): stop-failed, reported, and the alert says what happens next', (fencing, alert) => {
      const s = initResources({ ...cfg(), fencing }, new Set(), 0);
      settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0), 0);
      const { monitors } = settle(s, resourcesStep(s, { kind: 'tick' }, 1000), 1000);
      const token = (monitors[0] as Extract<ResourcesAction, { kind: 'monitor' }>).token;
      const r = settle(s, resourcesStep(s, { kind: 'monitor-done', group: 'g', index: 1, token, result: 'not-running', detail: 'x' }, 1010), 1010, (op) => op === 'stop');
      expect(r.ops).toEqual(['stop2']);
      expect(s.groups.g!.phase).toBe('stop-failed');
      expect(stopFailedGroups(s)).toEqual(['g']);
      expect(heldGroups(s)).toEqual(['g']);
      const alerts = r.all.flatMap((a) => (a.kind === 'alert' ? [a.message] : []));
      expect(alerts.some((m) => alert.test(m)), alerts.join('\n')).toBe(true);
    });
});
