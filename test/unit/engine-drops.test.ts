// A group this node dropped is not started again on a peer report written
// before the peer read the drop (tg_hears_seq): the peer may be taking it
// over on that very message. Found by the simulator, seed 19016 (a node
// resumed from a freeze took groups from its backlog of our reports while we
// started them again on its report from before it read our drop).

import { describe, expect, it } from 'vitest';
import { engineQuorumInput, engineStep, initEngine, type EngineAction, type EngineState } from '../../src/node/engine.js';
import { buildStatus, parseStatus } from '../../src/heartbeat/messages.js';

const G = 'g1';
const GEN = 7;

function alpha(): EngineState {
  return initEngine(
    { self: 'alpha', peer: 'beta', paths: ['p0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
    { self: 'alpha', autoFailback: 'on', stopRetries: 1, stopRetryDelayMs: 100, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 1 }], generation: GEN },
    0, { held: new Set() }, undefined,
    {
      self: 'alpha', peer: 'beta', groups: [G], pingConfigured: true, arbiter: 'none', takeoverDelayMs: 0,
      ipfail: { enabled: true, delayMs: 500, dwellMs: 0 }, ipfailSettleMs: 0, graceMs: 0,
    },
  );
}

let seq = 0;
const heard = (e: EngineState, at: number, o: { hold?: string[]; hearsSeq?: number; up?: number }) => engineStep(e, {
  kind: 'heard', path: 'p0', src: 'beta', generation: 5, seq: ++seq,
  report: {
    status: 'active', hold: o.hold ?? [], yielding: [], failed: [], hearsGeneration: GEN,
    ...(o.hearsSeq !== undefined ? { hearsSeq: o.hearsSeq } : {}), reach: { up: o.up ?? 1, total: 1 }, hearsMe: true,
  },
}, at);
const ops = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'op' ? [`${a.op}${a.index}`] : []));
const sends = (acts: EngineAction[]) => acts.flatMap((a) => (a.kind === 'send' ? [a.status] : []));

describe('engine: drops the peer has not read yet', () => {
  it('waits for a report that acknowledges the drop before starting the group again', () => {
    seq = 0;
    const e = alpha();
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    // Heard, preferred: alpha starts g1.
    expect(ops(heard(e, 10, { hearsSeq: 1 }))).toEqual(['start0']);
    const started = engineStep(e, { kind: 'op-done', group: G, op: 'start', index: 0, ok: true }, 20);
    expect(sends(started).at(-1)?.hold ?? [G]).toContain(G);
    // alpha loses its ping target: ipfail hands g1 over after the delay.
    engineQuorumInput(e, { reach: { up: 0, total: 1 } });
    heard(e, 30, { hearsSeq: 2 });
    expect(ops(heard(e, 600, { hearsSeq: 3 }))).toEqual(['stop0']);
    const stopped = engineStep(e, { kind: 'op-done', group: G, op: 'stop', index: 0, ok: true }, 610);
    const drop = sends(stopped).find((st) => !st.hold.includes(G));
    expect(drop).toBeDefined();
    // The target answers again: equal counts, alpha preferred. beta's next report
    // predates the drop: no start on it, though it lists nothing.
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    expect(ops(heard(e, 620, { hearsSeq: drop!.seq - 1 }))).toEqual([]);
    expect(ops(engineStep(e, { kind: 'tick' }, 630))).toEqual([]);
    // beta read the drop and took g1: still no start.
    expect(ops(heard(e, 640, { hearsSeq: drop!.seq, hold: [G] }))).toEqual([]);
    // beta gives it back (failback): now alpha starts it.
    expect(ops(heard(e, 700, { hearsSeq: drop!.seq + 1, hold: [] }))).toEqual(['start0']);
  });

  it('a hand-over taken back is a drop from that moment: no start before the peer has read the takeover (seed 430071943)', () => {
    seq = 0;
    const e = alpha();
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    expect(ops(heard(e, 10, { hearsSeq: 1 }))).toEqual(['start0']);
    engineStep(e, { kind: 'op-done', group: G, op: 'start', index: 0, ok: true }, 20);
    // The operator hands g1 to beta; alpha stops it and says so.
    expect(ops(engineStep(e, { kind: 'standby', which: 'local', groups: [G] }, 30))).toEqual(['stop0']);
    const stopped = engineStep(e, { kind: 'op-done', group: G, op: 'stop', index: 0, ok: true }, 40);
    const handed = sends(stopped).find((st) => st.standby.includes(G) && !st.hold.includes(G));
    expect(handed).toBeDefined();
    // beta has read that and has not started g1 yet (its own rules hold it back).
    heard(e, 50, { hearsSeq: handed!.seq });
    // The operator takes it back while beta may be starting it on the hand-over.
    const taken = engineStep(e, { kind: 'takeover', which: 'local', groups: [G] }, 60);
    expect(ops(taken)).toEqual([]);
    const back = [...sends(taken), ...sends(engineStep(e, { kind: 'tick' }, 150))].find((st) => !st.standby.includes(G));
    expect(back).toBeDefined();
    expect(ops(heard(e, 120, { hearsSeq: back!.seq - 1 }))).toEqual([]);
    // beta has read the takeover and lists no g1: alpha starts it.
    expect(ops(heard(e, 130, { hearsSeq: back!.seq }))).toEqual(['start0']);
  });

  it('a peer that does not send tg_hears_seq (Heartbeat, older tandem) is not waited for', () => {
    seq = 0;
    const e = alpha();
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    expect(ops(heard(e, 10, {}))).toEqual(['start0']);
    engineStep(e, { kind: 'op-done', group: G, op: 'start', index: 0, ok: true }, 20);
    engineQuorumInput(e, { reach: { up: 0, total: 1 } });
    heard(e, 30, {});
    expect(ops(heard(e, 600, {}))).toEqual(['stop0']);
    engineStep(e, { kind: 'op-done', group: G, op: 'stop', index: 0, ok: true }, 610);
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    expect(ops(heard(e, 620, {}))).toEqual(['start0']);
  });

  it('tg_hears_seq goes out while the peer is heard and round-trips through the codec', () => {
    seq = 0;
    const e = alpha();
    const st = sends(heard(e, 10, {})).at(-1)!;
    expect(st.hears).toBe(5);
    expect(st.hearsSeq).toBe(1);
    const fields = buildStatus({
      status: 'active', deadtimeMs: 300, hold: [G], yielding: [], failed: [], hears: 5, hearsSeq: 0x1f,
      src: 'alpha', srcUuid: Buffer.alloc(16, 1), seq: 3, generation: GEN, wallSeconds: 1,
    });
    expect(fields.some((f) => f.name === 'tg_hears_seq' && f.value.toString() === '1f')).toBe(true);
    expect(parseStatus(fields).hearsSeq).toBe(0x1f);
    const bad = fields.map((f) => (f.name === 'tg_hears_seq' ? { ...f, value: Buffer.from('zz') } : f));
    expect(() => parseStatus(bad)).toThrow(/tg_hears_seq/);
  });
});
