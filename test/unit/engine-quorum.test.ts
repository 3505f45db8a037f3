// The engine with quorum, pure: the decision gates the resources machine,
// the lease is asked for and released through actions, a lost lease stops
// the group in the same step, and the heartbeat carries tg_ping/tg_hears.

import { describe, expect, it } from 'vitest';
import { engineDeadline, engineQuorumInput, engineStep, initEngine, type EngineAction, type EngineQuorumConfig, type EngineState } from '../../src/node/engine.js';

const GROUP = 'IPaddr2::10.0.0.100/24/eth0';
const qcfg = (over: Partial<EngineQuorumConfig> = {}): EngineQuorumConfig => ({
  self: 'beta', peer: 'alpha', groups: [GROUP], pingConfigured: false, arbiter: 'arbiter', takeoverDelayMs: 0,
  ipfail: { enabled: false, delayMs: 5000, dwellMs: 60_000 }, graceMs: 500, ...over,
});

function beta(q?: EngineQuorumConfig): EngineState {
  return initEngine(
    { self: 'beta', peer: 'alpha', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
    { self: 'beta', autoFailback: 'off', stopRetries: 3, stopRetryDelayMs: 100, groups: [{ name: GROUP, preferredNode: 'alpha', resourceCount: 1 }] },
    0, { held: new Set() }, undefined, q,
  );
}

const heardAlpha = (e: EngineState, seq: number, at: number, hold: string[] = [GROUP]) => engineStep(e, {
  kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq,
  report: { status: 'active', hold, yielding: [], failed: [], reach: { up: 1, total: 1 }, hearsMe: true },
}, at);
const starts = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'op' && a.op === 'start');
const stops = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'op' && a.op === 'stop');
const leaseActs = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'lease') as Array<Extract<EngineAction, { kind: 'lease' }>>;

describe('engine with quorum', () => {
  it('without quorum: no lease actions, no extra heartbeat fields (unchanged behaviour)', () => {
    const e = beta();
    const acts = [...heardAlpha(e, 1, 10), ...engineStep(e, { kind: 'tick' }, 400)];
    expect(starts(acts)).toHaveLength(1);
    expect(leaseActs(acts)).toEqual([]);
    expect(acts.some((a) => a.kind === 'quorum-changed')).toBe(false);
    expect(e.q).toBeUndefined();
    expect(acts.filter((a) => a.kind === 'send').every((a) => a.kind === 'send' && a.status.extra === undefined)).toBe(true);
  });

  it('a dead peer\'s group is taken only with the lease; the lease is asked for at once', () => {
    const e = beta(qcfg());
    heardAlpha(e, 1, 10);
    const dead = engineStep(e, { kind: 'tick' }, 400);
    expect(e.m.peer.liveness).toBe('dead');
    expect(starts(dead)).toEqual([]);
    expect(leaseActs(dead)).toEqual([expect.objectContaining({ group: GROUP, want: true, ctx: expect.objectContaining({ holds: false, peerHeard: false, graceMs: 500 }) })]);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('no-grant');
    engineQuorumInput(e, { leases: { [GROUP]: { status: 'held', since: 450, until: 2200, reason: 'granted' } } });
    const granted = engineStep(e, { kind: 'tick' }, 450);
    expect(starts(granted)).toHaveLength(1);
    // The lease's local deadline wakes the engine even if the driver's event were late.
    expect(engineDeadline(e)).toBeLessThanOrEqual(2200);
  });

  it('a lost lease stops the group in the same step', () => {
    const e = beta(qcfg());
    heardAlpha(e, 1, 10);
    engineStep(e, { kind: 'tick' }, 400);
    engineQuorumInput(e, { leases: { [GROUP]: { status: 'held', since: 450, until: 2200, reason: 'granted' } } });
    engineStep(e, { kind: 'tick' }, 450);
    engineStep(e, { kind: 'op-done', group: GROUP, op: 'start', index: 0, ok: true }, 460);
    expect(e.r.groups[GROUP]?.phase).toBe('running');
    engineQuorumInput(e, { leases: { [GROUP]: { status: 'requesting', reason: 'no renewal acknowledged before the local deadline' } } });
    const lost = engineStep(e, { kind: 'tick' }, 2200);
    expect(stops(lost)).toHaveLength(1);
    expect(lost.some((a) => a.kind === 'quorum-changed')).toBe(true);
  });

  // Simulator seed 91012102: beta held the lease and did not count the pair
  // as mutual (alpha's last report said it did not hear beta). Alpha, on
  // first hearing beta say it heard alpha, started the group without a
  // lease; beta then declared alpha dead on its older view and started the
  // group under its lease: split brain. Alpha must wait until beta's
  // report shows (tg_hears_seq) it has read one of alpha's "I hear you".
  it('starts nothing while the peer has not yet read that this node hears it (it may use a lease meanwhile)', () => {
    const e = initEngine(
      { self: 'alpha', peer: 'beta', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
      { self: 'alpha', autoFailback: 'on', stopRetries: 3, stopRetryDelayMs: 100, generation: 7, groups: [{ name: GROUP, preferredNode: 'alpha', resourceCount: 1 }] },
      0, { held: new Set() }, undefined, qcfg({ self: 'alpha', peer: 'beta' }),
    );
    engineStep(e, { kind: 'tick' }, 0);
    engineStep(e, { kind: 'tick' }, 1000);
    expect(e.m.peer.liveness).toBe('dead');
    const before = e.m.seq;   // every message so far said tg_hears=0
    const heardBeta = (seq: number, at: number, hearsSeq: number) => engineStep(e, {
      kind: 'heard', path: 'bcast eth0', src: 'beta', generation: 9, seq,
      report: { status: 'active', hold: [], yielding: [], failed: [], hearsMe: true, hearsGeneration: 7, hearsSeq },
    }, at);
    // Beta says it hears alpha, but the newest alpha message it had read said alpha did not hear beta.
    const first = heardBeta(1, 1100, before);
    expect(e.q?.decision?.mutual).toBe(true);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('mutual-unconfirmed');
    expect(starts(first)).toEqual([]);
    const told = first.find((a) => a.kind === 'send');
    expect(told).toMatchObject({ status: { extra: [['tg_hears', '1']] } });
    const toldSeq = (told as Extract<EngineAction, { kind: 'send' }>).status.seq;
    expect(starts(heardBeta(2, 1150, toldSeq - 1))).toEqual([]);
    // Beta has read alpha's "I hear you": it counts the pair as mutual and uses no lease now.
    const confirmed = heardBeta(3, 1200, toldSeq);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('mutual');
    expect(starts(confirmed)).toHaveLength(1);
  });

  it('while the nodes hear each other, quorum changes nothing and the heartbeat says so', () => {
    const e = beta(qcfg({ pingConfigured: true }));
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    const acts = heardAlpha(e, 1, 10);
    expect(starts(acts)).toEqual([]);
    expect(e.q?.decision?.mutual).toBe(true);
    const send = engineStep(e, { kind: 'tick' }, 100).find((a) => a.kind === 'send');
    expect(send).toMatchObject({ status: { extra: [['tg_ping', '1/1'], ['tg_hears', '1']] } });
    // Not holding and hearing the peer: no lease wanted.
    expect(e.q?.lastLease[GROUP]).toContain('false');
  });

  it('ipfail: the node that reaches more takes the group once the difference has lasted the delay', () => {
    const e = beta(qcfg({ arbiter: 'none', pingConfigured: true, ipfail: { enabled: true, delayMs: 2000, dwellMs: 60_000 } }));
    engineQuorumInput(e, { reach: { up: 1, total: 1 } });
    const lose = (seq: number, at: number, hold: string[], ipfailYields?: string[]) => engineStep(e, {
      kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq,
      report: { status: 'active', hold, yielding: [], failed: [], reach: { up: 0, total: 1 }, hearsMe: true, ...(ipfailYields ? { ipfailYields } : {}) },
    }, at);
    lose(1, 10, [GROUP]);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('ipfail-pending');
    expect(engineDeadline(e)).toBeLessThanOrEqual(2010);
    // The delay has passed here, but alpha has not said it leaves the group.
    expect(starts(lose(2, 2010, []))).toEqual([]);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('ipfail-pending');
    lose(3, 2050, [GROUP], [GROUP]);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('ipfail-better');
    // alpha still lists it: beta waits for its report to drop the group.
    expect(starts(lose(4, 2100, [GROUP], [GROUP]))).toEqual([]);
    expect(starts(lose(5, 2200, [], [GROUP]))).toHaveLength(1);
  });

  it('ipfail: the node that reaches fewer says in its heartbeats which groups it leaves to its peer, once the delay has passed', () => {
    const e = beta(qcfg({ arbiter: 'none', pingConfigured: true, ipfail: { enabled: true, delayMs: 2000, dwellMs: 60_000 } }));
    engineQuorumInput(e, { reach: { up: 0, total: 1 } });
    const yields = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'send').map((a) => a.kind === 'send' ? a.status.extra?.find(([k]) => k === 'tg_ipfail_yield')?.[1] : undefined);
    expect(yields([...heardAlpha(e, 1, 10, []), ...engineStep(e, { kind: 'tick' }, 100)])).not.toContain(GROUP);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('ipfail-pending');
    heardAlpha(e, 2, 2010, []);
    expect(e.q?.decision?.groups[GROUP]?.code).toBe('ipfail-handover');
    expect(yields(engineStep(e, { kind: 'tick' }, 2110))).toEqual([GROUP]);
  });

  it('shutting down keeps the lease of a held group until released (the daemon then releases all, leaving)', () => {
    const e = beta(qcfg());
    heardAlpha(e, 1, 10);
    engineStep(e, { kind: 'tick' }, 400);
    engineQuorumInput(e, { leases: { [GROUP]: { status: 'held', since: 450, until: 2200, reason: 'granted' } } });
    engineStep(e, { kind: 'tick' }, 450);
    engineStep(e, { kind: 'op-done', group: GROUP, op: 'start', index: 0, ok: true }, 460);
    const down = engineStep(e, { kind: 'shutdown' }, 500);
    expect(stops(down)).toHaveLength(1);
    expect(leaseActs(down)).toEqual([]);
    const done = engineStep(e, { kind: 'op-done', group: GROUP, op: 'stop', index: 0, ok: true }, 520);
    expect(leaseActs(done)).toEqual([]);
    expect(done.some((a) => a.kind === 'released')).toBe(true);
  });
});
