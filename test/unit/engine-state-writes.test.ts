// What the engine does when the state store fails or has forgotten: a start
// whose hold write failed does not happen (and is not reported), and is tried
// again; a peer that has seen this node's generation used before makes the
// node move past it instead of being ignored as a replay.

import { describe, expect, it } from 'vitest';
import { engineStep, initEngine, type EngineAction, type EngineState } from '../../src/node/engine.js';
import { heldGroups, initResources, resourcesStep } from '../../src/resources/machine.js';

const G = 'g1';
const GEN = 1000;

function beta(): EngineState {
  return initEngine(
    { self: 'beta', peer: 'alpha', paths: ['p0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
    { self: 'beta', autoFailback: 'off', stopRetries: 1, stopRetryDelayMs: 1000, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 2 }], generation: GEN },
    0, { held: new Set() },
  );
}

let seq = 0;
const heard = (e: EngineState, at: number, o: { hearsGeneration?: number; hearsSeq?: number; hold?: string[] } = {}) => engineStep(e, {
  kind: 'heard', path: 'p0', src: 'alpha', generation: 5, seq: ++seq,
  report: {
    status: 'active', hold: o.hold ?? [G], yielding: [], failed: [], hearsGeneration: o.hearsGeneration ?? GEN,
    ...(o.hearsSeq !== undefined ? { hearsSeq: o.hearsSeq } : {}),
  },
}, at);
const ops = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'op' ? [`${a.op}${a.index}`] : []));
const holds = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'persist-hold' ? [a.held] : []));
const lastSentHold = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'send' ? [a.status.hold] : [])).at(-1);
const alerts = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'alert' ? [a.message] : []));

describe('engine: a hold that cannot be written', () => {
  it('stops the takeover, stops reporting the group, and tries again until the write works', () => {
    seq = 0;
    const e = beta();
    heard(e, 10);
    // alpha goes silent: beta takes over, writing the hold first.
    const takeover = engineStep(e, { kind: 'tick' }, 400);
    expect(holds(takeover)).toEqual([true]);
    expect(ops(takeover)).toEqual(['start0']);
    // The disk is full: the start queued behind the write is dropped by the adapter.
    const failed = engineStep(e, { kind: 'hold-failed', group: G, held: true, error: 'state dir /s: write failed: IO error: No space left on device' }, 405);
    expect(e.r.groups[G]!.phase).toBe('stopped');
    expect(heldGroups(e.r)).toEqual([]);
    expect(lastSentHold(failed)).toEqual([]);   // the peer is told at once that we do not hold it
    expect(alerts(failed).join()).toMatch(/not started: the hold could not be recorded durably \(state dir \/s: write failed: .*No space left on device\)/);
    expect(ops(failed)).toEqual([]);
    // Nothing before the retry delay; then the write is tried again, not the start.
    expect(holds(engineStep(e, { kind: 'tick' }, 1000))).toEqual([]);
    const retry = engineStep(e, { kind: 'tick' }, 1405);
    expect(holds(retry)).toEqual([true]);
    // A second failure in a row does not alert again.
    expect(alerts(engineStep(e, { kind: 'hold-failed', group: G, held: true, error: 'full' }, 1410))).toEqual([]);
    // Space again: the write works (the adapter runs the start), and the group comes up.
    expect(ops(engineStep(e, { kind: 'tick' }, 2410))).toEqual(['start0']);
    expect(ops(engineStep(e, { kind: 'op-done', group: G, op: 'start', index: 0, ok: true }, 2420))).toEqual(['start1']);
    engineStep(e, { kind: 'op-done', group: G, op: 'start', index: 1, ok: true }, 2430);
    expect(e.r.groups[G]!.phase).toBe('running');
    expect(e.r.groups[G]!.holdFailures).toBe(0);
  });

  it('a release that cannot be written is only an alert: the store still says held, the safe side', () => {
    const r = initResources({ self: 'beta', autoFailback: 'off', stopRetries: 1, stopRetryDelayMs: 1000, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 1 }] }, new Set(), 0);
    const acts = resourcesStep(r, { kind: 'hold-failed', group: G, held: false, error: 'full' }, 0);
    expect(acts.map((a) => a.kind)).toEqual(['alert']);
    expect(r.groups[G]!.phase).toBe('stopped');
  });
});

describe('engine: a generation the peer has seen before', () => {
  it('asks for a new generation when the peer has accepted a higher seq of ours, and stops once it has one', () => {
    seq = 0;
    const e = beta();
    // The peer accepted seq 5000 of generation 1000 from an earlier run that used it too.
    const acts = heard(e, 10, { hearsSeq: 5000 });
    expect(acts.filter((a) => a.kind === 'generation-seen')).toEqual([{ kind: 'generation-seen', generation: GEN, seq: 5000, ours: GEN, ourSeq: e.m.seq }]);
    engineStep(e, { kind: 'generation', generation: GEN + 1 }, 20);
    expect(e.r.cfg.generation).toBe(GEN + 1);
    expect(heard(e, 30, { hearsSeq: 5000 }).some((a) => a.kind === 'generation-seen')).toBe(false);
  });

  it('asks for one when the peer has seen a later generation of ours', () => {
    seq = 0;
    const e = beta();
    expect(heard(e, 10, { hearsGeneration: GEN + 7, hearsSeq: 1 }).some((a) => a.kind === 'generation-seen')).toBe(true);
  });

  it('says nothing in the normal case', () => {
    seq = 0;
    const e = beta();
    engineStep(e, { kind: 'tick' }, 0);
    expect(heard(e, 10, { hearsSeq: e.m.seq }).some((a) => a.kind === 'generation-seen')).toBe(false);
    expect(heard(e, 20, { hearsGeneration: GEN - 1, hearsSeq: 99999 }).some((a) => a.kind === 'generation-seen')).toBe(false);
  });
});
