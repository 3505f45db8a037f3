// The engine's fencing gate, pure: a peer membership calls dead is kept
// 'unknown' for the resources machine until the policy allows the takeover.

import { describe, expect, it } from 'vitest';
import { engineDeadline, engineStep, initEngine, waitingOnFencing, type EngineAction, type EngineState } from '../../src/node/engine.js';
import type { FencingPolicyConfig } from '../../src/fencing/policy.js';

const GROUP = 'IPaddr2::10.0.0.100/24/eth0';
const fcfg = (over: Partial<FencingPolicyConfig> = {}): FencingPolicyConfig => ({
  self: 'beta', peer: 'alpha', devices: ['ipmi alpha via 10.0.0.11:623 (ha.cf:9)'], fenceDelayMs: 4000, failurePolicy: 'wait',
  checkIntervalMs: 0, retryMs: 500, retryMaxMs: 1000, waitForAll: true, tieBreakWinner: false, ...over,
});

function beta(f?: FencingPolicyConfig): EngineState {
  return initEngine(
    { self: 'beta', peer: 'alpha', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
    { self: 'beta', autoFailback: 'off', stopRetries: 3, stopRetryDelayMs: 100, groups: [{ name: GROUP, preferredNode: 'alpha', resourceCount: 1 }] },
    0, { held: new Set() }, f,
  );
}

/** alpha heard holding the group at t, then silence: beta declares it dead at t + 300. */
function alphaActiveThenSilent(e: EngineState): EngineAction[] {
  engineStep(e, { kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq: 1, report: { status: 'active', hold: [GROUP], yielding: [], failed: [] } }, 10);
  return engineStep(e, { kind: 'tick' }, 400);
}

const starts = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'op' && a.op === 'start');

describe('engine with fencing', () => {
  it('without fencing, a dead peer\'s group is started at once (unchanged behaviour)', () => {
    const e = beta();
    expect(starts(alphaActiveThenSilent(e))).toHaveLength(1);
    expect(e.f).toBeUndefined();
  });

  it('holds the takeover through fence_delay and the fence, starts only after fence-done ok', () => {
    const e = beta(fcfg());
    const acts = alphaActiveThenSilent(e);
    expect(e.m.peer.liveness).toBe('dead');
    expect(starts(acts)).toEqual([]);
    expect(waitingOnFencing(e)).toBe(true);
    expect(e.r.peer.liveness).toBe('unknown');
    // beta held fewer groups: it waits fence_delay, and the engine wakes up for it.
    expect(engineDeadline(e)).toBeLessThanOrEqual(4400);
    expect(engineStep(e, { kind: 'tick' }, 4399).some((a) => a.kind === 'fence')).toBe(false);
    const fire = engineStep(e, { kind: 'tick' }, 4400);
    const fence = fire.find((a) => a.kind === 'fence');
    expect(fence).toMatchObject({ kind: 'fence', target: 'alpha', device: 0 });
    expect(starts(fire)).toEqual([]);
    const failed = engineStep(e, { kind: 'fence-done', id: (fence as { id: number }).id, ok: false, error: 'no answer' }, 6400);
    expect(failed.some((a) => a.kind === 'fence-alert')).toBe(true);
    expect(failed.some((a) => a.kind === 'record')).toBe(true);
    expect(starts(failed)).toEqual([]);
    const again = engineStep(e, { kind: 'tick' }, 6900).find((a) => a.kind === 'fence') as { id: number };
    const ok = engineStep(e, { kind: 'fence-done', id: again.id, ok: true }, 7000);
    expect(ok.some((a) => a.kind === 'may-take-over')).toBe(true);
    expect(starts(ok)).toHaveLength(1);
    expect(waitingOnFencing(e)).toBe(false);
  });

  it('the peer heard again during fence_delay: nothing fenced, nothing started', () => {
    const e = beta(fcfg());
    alphaActiveThenSilent(e);
    const back = engineStep(e, { kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq: 2, report: { status: 'active', hold: [GROUP], yielding: [], failed: [] } }, 1000);
    expect(starts(back)).toEqual([]);
    expect(e.f!.phase).toBe('idle');
    expect(engineStep(e, { kind: 'tick' }, 4400).some((a) => a.kind === 'fence')).toBe(false);
  });

  it('a peer that left gracefully needs no fence', () => {
    const e = beta(fcfg());
    engineStep(e, { kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq: 1, report: { status: 'active', hold: [GROUP], yielding: [], failed: [] } }, 10);
    const acts = engineStep(e, { kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq: 2, report: { status: 'dead', hold: [], yielding: [], failed: [] } }, 20);
    expect(acts.some((a) => a.kind === 'fence')).toBe(false);
    expect(starts(acts)).toHaveLength(1);
  });

  it('fence_wait_for_all: a node that never heard its peer neither fences nor starts', () => {
    const e = beta(fcfg());
    const acts = engineStep(e, { kind: 'tick' }, 1000);   // initdead passes in silence
    expect(e.m.peer.liveness).toBe('dead');
    expect(acts.some((a) => a.kind === 'fence')).toBe(false);
    expect(acts.some((a) => a.kind === 'fence-alert')).toBe(true);
    expect(starts(acts)).toEqual([]);
    // The operator confirms the peer is off: the takeover goes ahead.
    const op = engineStep(e, { kind: 'operator', op: 'confirm-off' }, 2000);
    expect(starts(op)).toHaveLength(1);
  });
});
