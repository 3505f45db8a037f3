// A reload as an event of the pure resources machine: unchanged groups are
// never touched, removed ones are released and forgotten, changed ones are
// released with their old resources and then started with the new ones,
// added ones are taken by the usual rules. And the difference itself
// (config/diff.ts): what is applied, and what needs a restart.

import { describe, expect, it } from 'vitest';
import {
  heldGroups, initResources, resourcesStep,
  type GroupSpec, type ResourcesAction, type ResourcesConfig, type ResourcesState,
} from '../../src/resources/machine.js';
import { diffConfig } from '../../src/config/diff.js';
import type { Config, ResourceGroup } from '../../src/config/types.js';

const spec = (name: string, resourceCount: number, preferredNode = 'alpha'): GroupSpec => ({ name, preferredNode, resourceCount });
const cfg = (groups: GroupSpec[]): ResourcesConfig => ({ self: 'alpha', autoFailback: 'off', stopRetries: 1, stopRetryDelayMs: 100, groups });

/** Runs every op to completion; returns "group:op index" in order, and every other action kind seen. */
function settle(s: ResourcesState, acts: ResourcesAction[]): { ops: string[]; other: ResourcesAction[] } {
  const ops: string[] = [];
  const other: ResourcesAction[] = [];
  const queue = [...acts];
  while (queue.length) {
    const a = queue.shift()!;
    if (a.kind !== 'op') { other.push(a); continue; }
    ops.push(`${a.group}:${a.op}${a.index}`);
    queue.push(...resourcesStep(s, { kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: true }, 0));
  }
  return { ops, other };
}

function running(groups: GroupSpec[]): ResourcesState {
  const s = initResources(cfg(groups), new Set(), 0);
  settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: { status: 'active', hold: [], yielding: [], failed: [] } }, 0));
  for (const g of groups) expect(s.groups[g.name]!.phase).toBe('running');
  return s;
}

describe('reload in the resources machine', () => {
  it('leaves unchanged groups alone, releases a removed one and forgets it, starts an added one', () => {
    const s = running([spec('keep', 2), spec('gone', 2)]);
    const keepBefore = s.groups.keep;
    const { ops, other } = settle(s, resourcesStep(s, { kind: 'reconfigure', autoFailback: 'off', replace: [], groups: [spec('keep', 2), spec('new', 1)] }, 1));
    // Groups walk independently; within each, the usual order.
    expect(ops.filter((o) => o.startsWith('gone:'))).toEqual(['gone:stop1', 'gone:stop0']);
    expect(ops.filter((o) => o.startsWith('new:'))).toEqual(['new:start0']);
    expect(ops.some((o) => o.startsWith('keep:'))).toBe(false);
    expect(s.groups.keep).toBe(keepBefore);
    expect(s.groups.keep!.phase).toBe('running');
    expect(s.groups.gone).toBeUndefined();
    expect(s.cfg.groups.map((g) => g.name)).toEqual(['keep', 'new']);
    expect(heldGroups(s)).toEqual(['keep', 'new']);
    expect(other).toContainEqual({ kind: 'persist-hold', group: 'gone', held: false });
    expect(other).toContainEqual({ kind: 'group-retired', group: 'gone', replaced: false });
  });

  it('a changed group is stopped with its old resources, then started with its new ones', () => {
    const s = running([spec('keep', 1), spec('chg', 3)]);
    const acts = resourcesStep(s, { kind: 'reconfigure', autoFailback: 'off', replace: ['chg'], groups: [spec('keep', 1), spec('chg', 2)] }, 1);
    const { ops, other } = settle(s, acts);
    expect(ops).toEqual(['chg:stop2', 'chg:stop1', 'chg:stop0', 'chg:start0', 'chg:start1']);
    // The daemon switches agents between the last stop and the first start.
    const retiredAt = other.findIndex((a) => a.kind === 'group-retired');
    expect(other[retiredAt]).toEqual({ kind: 'group-retired', group: 'chg', replaced: true });
    expect(s.groups.chg!.phase).toBe('running');
    expect(s.cfg.groups.find((g) => g.name === 'chg')!.resourceCount).toBe(2);
    expect(s.groups.keep!.phase).toBe('running');
  });

  it('a removed group that is not held is forgotten at once; a preferred-node change touches nothing', () => {
    const s = initResources(cfg([spec('a', 1), spec('b', 1)]), new Set(), 0);
    resourcesStep(s, { kind: 'peer', liveness: 'up', report: { status: 'active', hold: ['a', 'b'], yielding: [], failed: [] } }, 0);
    const acts = resourcesStep(s, { kind: 'reconfigure', autoFailback: 'on', replace: [], groups: [spec('a', 1, 'beta')] }, 1);
    expect(acts.filter((a) => a.kind === 'op')).toEqual([]);
    expect(acts).toContainEqual({ kind: 'group-retired', group: 'b', replaced: false });
    expect(s.groups.b).toBeUndefined();
    expect(s.cfg.groups).toEqual([spec('a', 1, 'beta')]);
    expect(s.cfg.autoFailback).toBe('on');
  });
});

const group = (name: string, resources: string[], preferredNode = 'alpha'): ResourceGroup =>
  ({ name, preferredNode, line: 1, resources: resources.map((r) => ({ spec: r, agent: r.split('::')[0]!, args: r.split('::').slice(1) })) });

function config(over: Partial<Config['hacf']>, groups: ResourceGroup[], key = 'k1'): Config {
  return {
    dir: '/etc/ha.d',
    hacf: {
      file: '/etc/ha.d/ha.cf', cluster: 'c', nodes: ['alpha', 'beta'], media: [{ kind: 'bcast', iface: 'eth0', port: 694, line: 3 }],
      udpport: 694, keepaliveMs: 100, deadtimeMs: 300, warntimeMs: 200, initdeadMs: 1000, autoFailback: 'off', debug: 0, realtime: false, rtprio: 50, ...over,
    },
    authkeys: { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from(key) }]]) },
    groups,
  };
}

describe('configuration difference for a reload', () => {
  it('sorts groups into added, removed, changed, preferred-only and unchanged', () => {
    const old = config({}, [group('A', ['A', 'x']), group('B', ['B']), group('C', ['C', 'y']), group('D', ['D'])]);
    const next = config({}, [group('A', ['A', 'x']), group('C', ['C', 'z']), group('D', ['D'], 'beta'), group('E', ['E'])]);
    const d = diffConfig(old, next);
    expect(d.unchanged).toEqual(['A']);
    expect(d.removed.map((g) => g.name)).toEqual(['B']);
    expect(d.changed.map((g) => g.name)).toEqual(['C']);
    expect(d.preferred.map((g) => g.name)).toEqual(['D']);
    expect(d.added.map((g) => g.name)).toEqual(['E']);
    expect(d.restart).toEqual([]);
  });

  it('reports what needs a restart, applies auto_failback, debug and keys, and ignores moved lines', () => {
    const old = config({}, []);
    const next = config({ udpport: 695, keepaliveMs: 200, autoFailback: 'on', debug: 2, media: [{ kind: 'bcast', iface: 'eth0', port: 694, line: 9 }] }, [], 'k2');
    const d = diffConfig(old, next);
    expect(d.restart).toHaveLength(2);
    expect(d.restart[0]).toMatch(/^\/etc\/ha.d\/ha.cf: udpport changed \(694 -> 695\): needs a restart/);
    expect(d.restart[1]).toMatch(/keepalive changed \(100 -> 200\)/);
    expect(d.autoFailback).toEqual({ from: 'off', to: 'on' });
    expect(d.debug).toEqual({ from: 0, to: 2 });
    expect(d.authkeys).toBe(true);
  });
});
