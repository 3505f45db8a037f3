// The quorum decision: nothing changes while the nodes hear each other
// (except ipfail, with its delay and dwell), and without the peer a node
// holds or takes a group only with a lease, or, with no arbiter, takes
// nothing over when it reaches no ping target.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyDecision, decideQuorum, initQuorum, leaseWanted, quorumConfigProblems,
  type GroupInput, type QuorumConfig, type QuorumInput,
} from '../../src/quorum/decide.js';

const base: QuorumConfig = {
  self: 'alpha', peer: 'beta', groups: ['vip'], pingConfigured: true, arbiter: 'arbiter',
  takeoverDelayMs: 0, ipfail: { enabled: true, delayMs: 5000, dwellMs: 60_000 },
};

function input(o: { peer?: 'unknown' | 'up' | 'dead'; hearsMe?: boolean; mine?: number; theirs?: number; g?: Partial<GroupInput> }): QuorumInput {
  return {
    peer: {
      liveness: o.peer ?? 'up', ...(o.hearsMe !== undefined ? { hearsMe: o.hearsMe } : {}),
      ...(o.theirs !== undefined ? { reach: { up: o.theirs, total: 2 } } : {}),
    },
    ...(o.mine !== undefined ? { reach: { up: o.mine, total: 2 } } : {}),
    groups: { vip: { iHold: false, peerHolds: false, ...o.g } },
  };
}

describe('quorum decision', () => {
  it('with an arbiter, a peer that has not read that we hear it: start nothing, resume nothing, keep what runs under a valid lease (seeds 91012102, 330341212)', () => {
    const s = initQuorum(base, 0);
    const un = (g: Partial<GroupInput>) => decideQuorum(s, { ...input({ mine: 2, theirs: 2, g }), peer: { liveness: 'up', hearsMe: true, confirmsMutual: false } }, 0).groups.vip!;
    const free = un({});
    expect(free).toMatchObject({ take: 'forbid', code: 'mutual-unconfirmed' });
    expect(applyDecision(true, free, { iHold: false, peerHeard: true, peerHolds: false })).toBe(false);
    const held = un({ iHold: true, lease: { status: 'held', until: 1, since: -5000, reason: 'held' } });
    expect(held.hold).toBe('no-resume');
    expect(applyDecision(true, held, { iHold: true, peerHeard: true, peerHolds: false, recovering: true })).toBeUndefined();
    expect(applyDecision(false, held, { iHold: true, peerHeard: true, peerHolds: true, recovering: true })).toBe(false);
    expect(applyDecision(true, held, { iHold: true, peerHeard: true, peerHolds: false })).toBe(true);
    // Running, but the lease lapsed (seed 330341212): the peer may be granted it, so stop.
    for (const lease of [
      { status: 'requesting', reason: 'renewal unanswered' },
      { status: 'held', until: 0, since: -5000, reason: 'held' },
    ] as const) {
      expect(un({ iHold: true, lease })).toMatchObject({ hold: 'release', take: 'forbid', code: 'mutual-unconfirmed' });
    }
    expect(un({ iHold: true, lease: { status: 'held', until: 1, since: -5000, reason: 'held' } }).hold).toBe('no-resume');
    // Confirmed, or not said (a peer without tg_hears_seq), or no arbiter: the mutual rule as before.
    expect(decideQuorum(s, { ...input({ mine: 2, theirs: 2 }), peer: { liveness: 'up', hearsMe: true, confirmsMutual: true } }, 0).groups.vip!.code).toBe('mutual');
    expect(decideQuorum(initQuorum({ ...base, arbiter: 'none' }, 0), { ...input({ mine: 2, theirs: 2 }), peer: { liveness: 'up', confirmsMutual: false } }, 0).groups.vip!.code).toBe('mutual');
  });

  it('changes nothing while the nodes hear each other, even with the arbiter unreachable (no lease)', () => {
    const s = initQuorum(base, 0);
    const d = decideQuorum(s, input({ mine: 2, theirs: 2, g: { iHold: true, lease: { status: 'requesting', reason: 'no answer' } } }), 0);
    expect(d.mutual).toBe(true);
    expect(d.groups.vip).toMatchObject({ hold: 'normal', take: 'normal', code: 'mutual' });
    expect(d.nextAt).toBe(Infinity);
  });

  it('startup: the peer not known yet adds nothing (the resource rules wait for it or initdead)', () => {
    const d = decideQuorum(initQuorum(base, 0), input({ peer: 'unknown', mine: 0 }), 0);
    expect(d.groups.vip).toMatchObject({ hold: 'normal', take: 'normal', code: 'startup' });
  });

  it('ipfail: the worse-connected node hands over only after the delay, and the better one then takes over', () => {
    const s = initQuorum(base, 0);
    const held = { iHold: true, peerHolds: false };
    let d = decideQuorum(s, input({ mine: 2, theirs: 2, g: held }), 0);
    d = decideQuorum(s, input({ mine: 1, theirs: 2, g: held }), 1000);
    expect(d.connectivity).toBe('worse');
    expect(d.groups.vip).toMatchObject({ hold: 'normal', code: 'ipfail-pending' });
    expect(d.nextAt).toBe(6000);
    d = decideQuorum(s, input({ mine: 1, theirs: 2, g: held }), 5999);
    expect(d.groups.vip!.code).toBe('ipfail-pending');
    d = decideQuorum(s, input({ mine: 1, theirs: 2, g: held }), 6000);
    expect(d.groups.vip).toMatchObject({ hold: 'release', take: 'forbid', code: 'ipfail-handover' });
    expect(d.groups.vip!.reason).toBe('ipfail: beta reaches more ping targets (1/2 here, 2/2 on beta): handing over');
    expect(d.changed.map((c) => c.code)).toEqual(['ipfail-handover']);

    // The same moment seen from beta.
    const b = initQuorum({ ...base, self: 'beta', peer: 'alpha' }, 0);
    decideQuorum(b, input({ mine: 2, theirs: 1, g: { iHold: false, peerHolds: true } }), 1000);
    // alpha, on its own view of the counts, may still be inside its delay (and start the group): beta waits for its word.
    const waiting = decideQuorum(b, input({ mine: 2, theirs: 1, g: { iHold: false, peerHolds: true } }), 6000);
    expect(waiting.groups.vip).toMatchObject({ take: 'forbid', code: 'ipfail-pending' });
    expect(waiting.groups.vip!.reason).toBe('ipfail: this node reaches more ping targets (2/2 here, 1/2 on alpha); taking the group once alpha reports leaving it here');
    const db = decideQuorum(b, input({ mine: 2, theirs: 1, g: { iHold: false, peerHolds: true, peerYields: true } }), 6000);
    expect(db.groups.vip).toMatchObject({ hold: 'keep', take: 'allow', code: 'ipfail-better' });
    // ...but it starts the group only once alpha's report no longer lists it.
    expect(applyDecision(false, db.groups.vip, { iHold: false, peerHeard: true, peerHolds: true })).toBe(false);
    expect(applyDecision(false, db.groups.vip, { iHold: false, peerHeard: true, peerHolds: false })).toBe(true);
  });

  it('ipfail: a flapping gateway resets the delay, and a group that just moved stays for the dwell time', () => {
    const s = initQuorum(base, 0);
    // Flaps every 3 s: never 5 s in a row, so nothing moves.
    for (let t = 0; t < 30_000; t += 3000) {
      const mine = (t / 3000) % 2 === 0 ? 1 : 2;
      const d = decideQuorum(s, input({ mine, theirs: 2, g: { iHold: true } }), t);
      expect(d.groups.vip!.hold).not.toBe('release');
    }
    // A group that came here at 40 s (failover) is not handed back before 100 s.
    const q = initQuorum({ ...base, ipfail: { enabled: true, delayMs: 1000, dwellMs: 60_000 } }, 0);
    decideQuorum(q, input({ mine: 2, theirs: 2, g: { iHold: false, peerHolds: true } }), 0);
    decideQuorum(q, input({ mine: 2, theirs: 2, g: { iHold: true, peerHolds: false } }), 40_000);
    decideQuorum(q, input({ mine: 1, theirs: 2, g: { iHold: true } }), 41_000);
    const d = decideQuorum(q, input({ mine: 1, theirs: 2, g: { iHold: true } }), 42_000);
    expect(d.groups.vip).toMatchObject({ hold: 'keep', take: 'forbid', code: 'ipfail-dwell' });
    expect(d.nextAt).toBe(100_000);
    expect(decideQuorum(q, input({ mine: 1, theirs: 2, g: { iHold: true } }), 100_000).groups.vip!.hold).toBe('release');
  });

  it('ipfail does not push a group to the node where it failed, nor restart a group that failed here', () => {
    const s = initQuorum({ ...base, ipfail: { enabled: true, delayMs: 0, dwellMs: 0 } }, 0);
    const d = decideQuorum(s, input({ mine: 1, theirs: 2, g: { iHold: true, peerFailed: true } }), 0);
    expect(d.groups.vip).toMatchObject({ hold: 'normal', take: 'normal' });
    const b = initQuorum({ ...base, ipfail: { enabled: true, delayMs: 0, dwellMs: 0 } }, 0);
    const db = decideQuorum(b, input({ mine: 2, theirs: 1, g: { iHold: false, peerYields: true } }), 0);
    expect(db.groups.vip!.take).toBe('allow');
    expect(applyDecision(false, db.groups.vip, { iHold: false, peerHeard: true, peerHolds: false, failedHere: true })).toBe(false);
  });

  it('ipfail: the better-connected holder keeps its group against auto_failback', () => {
    const s = initQuorum({ ...base, ipfail: { enabled: true, delayMs: 0, dwellMs: 0 } }, 0);
    const d = decideQuorum(s, input({ mine: 2, theirs: 0, g: { iHold: true } }), 0);
    expect(d.groups.vip!.hold).toBe('keep');
    // The resource rules would release it (failback to the preferred peer): quorum says keep.
    expect(applyDecision(false, d.groups.vip, { iHold: true, peerHeard: true, peerHolds: false })).toBe(true);
  });

  it('without the peer and with an arbiter: hold or take only with the lease', () => {
    const s = initQuorum(base, 0);
    const until = 5000;
    let d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { iHold: true, lease: { status: 'held', since: 0, until, reason: 'granted' } } }), 100);
    expect(d.groups.vip).toMatchObject({ hold: 'keep', take: 'allow', code: 'grant-held' });
    // A stale view that still says 'held' past its deadline does not count.
    d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { iHold: true, lease: { status: 'held', since: 0, until, reason: 'granted' } } }), until);
    expect(d.groups.vip).toMatchObject({ hold: 'release', code: 'no-grant' });
    expect(d.groups.vip!.reason).toMatch(/its local deadline has passed/);
    d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { iHold: true, lease: { status: 'requesting', reason: 'no renewal acknowledged before the local deadline' } } }), 5000);
    expect(d.groups.vip).toMatchObject({ hold: 'release', take: 'forbid', code: 'no-grant' });
    expect(applyDecision(true, d.groups.vip, { iHold: true, peerHeard: false, peerHolds: false })).toBe(false);
    d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { lease: { status: 'denied', holder: 'beta', reason: 'held by beta' } } }), 5000);
    expect(d.groups.vip!.reason).toBe('beta not heard and no lease from the arbiter (refused, held by beta: held by beta): holding nothing');
    // An isolated node (no peer, no ping target, no arbiter) takes nothing and releases.
    d = decideQuorum(s, input({ peer: 'dead', mine: 0, g: { iHold: true, lease: { status: 'requesting', reason: 'asking' } } }), 6000);
    expect(d.groups.vip!.hold).toBe('release');
    expect(d.groups.vip!.reason).toMatch(/no ping target answers either/);
  });

  it('an asymmetric link counts as not hearing each other', () => {
    const d = decideQuorum(initQuorum(base, 0), input({ peer: 'up', hearsMe: false, mine: 2, g: { iHold: true } }), 0);
    expect(d.mutual).toBe(false);
    expect(d.groups.vip).toMatchObject({ hold: 'release', code: 'no-grant' });
    expect(d.groups.vip!.reason).toMatch(/^beta reports it does not hear this node/);
  });

  it('etcd: a fresh lease lets the node take over only after the takeover delay', () => {
    const s = initQuorum({ ...base, arbiter: 'etcd', takeoverDelayMs: 800 }, 0);
    let d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { lease: { status: 'held', since: 1000, until: 3000, reason: 'granted' } } }), 1200);
    expect(d.groups.vip).toMatchObject({ take: 'forbid', code: 'grant-young' });
    expect(d.nextAt).toBe(1800);
    d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { lease: { status: 'held', since: 1000, until: 3000, reason: 'granted' } } }), 1800);
    expect(d.groups.vip).toMatchObject({ take: 'allow', code: 'grant-held' });
    // A holder keeps its group with a lease at once.
    d = decideQuorum(s, input({ peer: 'dead', mine: 1, g: { iHold: true, lease: { status: 'held', since: 1790, until: 3000, reason: 'granted' } } }), 1800);
    expect(d.groups.vip!.hold).toBe('keep');
  });

  // Simulator seeds 70344, 80075, 88666: the arbiter may grant at once on an
  // older candidacy, while the peer ran the group without a lease because it
  // still took this node for a mutual partner (for up to deadtime after it
  // last heard us say so). The node counts deadtime + safety itself.
  it('with an arbiter, a fresh takeover waits aloneGraceMs after the peer stopped being mutual, whenever the grant came', () => {
    const s = initQuorum({ ...base, aloneGraceMs: 4000 }, 0);
    const lease = { status: 'held' as const, since: 0, until: 60_000, reason: 'granted' };
    expect(decideQuorum(s, input({ peer: 'up', mine: 2, theirs: 2, g: { lease } }), 1000).groups.vip!.code).toBe('mutual');
    const d = decideQuorum(s, input({ peer: 'dead', mine: 2, g: { lease } }), 2000);
    expect(d.groups.vip).toMatchObject({ hold: 'keep', take: 'forbid', code: 'grant-young' });
    expect(d.nextAt).toBe(6000);
    expect(decideQuorum(s, input({ peer: 'dead', mine: 2, g: { lease } }), 5999).groups.vip!.take).toBe('forbid');
    expect(decideQuorum(s, input({ peer: 'dead', mine: 2, g: { lease } }), 6000).groups.vip).toMatchObject({ take: 'allow', code: 'grant-held' });
    // The holder keeps its group throughout; hearing the peer again starts the count over.
    expect(decideQuorum(s, input({ peer: 'dead', mine: 2, g: { lease, iHold: true } }), 6001).groups.vip!.hold).toBe('keep');
    decideQuorum(s, input({ peer: 'up', mine: 2, theirs: 2, g: { lease } }), 7000);
    expect(decideQuorum(s, input({ peer: 'up', hearsMe: false, mine: 2, theirs: 2, g: { lease } }), 8000).groups.vip!.take).toBe('forbid');
    expect(decideQuorum(s, input({ peer: 'dead', mine: 2, g: { lease } }), 12_000).groups.vip!.take).toBe('allow');
  });

  // Simulator seed 22629 (+ 23021, 34807, 43754): the node that reached fewer
  // ping targets gets them back and restarts a group it just handed over,
  // while the peer takes it on the old counts: both start it.
  it('ipfail: after reaching fewer targets, a node starts nothing for ipfailSettleMs once the counts are equal again', () => {
    const s = initQuorum({ ...base, ipfailSettleMs: 3000 }, 0);
    decideQuorum(s, input({ mine: 2, theirs: 2 }), 0);
    decideQuorum(s, input({ mine: 1, theirs: 2, g: { iHold: true } }), 1000);
    expect(decideQuorum(s, input({ mine: 1, theirs: 2, g: { iHold: true } }), 6000).groups.vip!.code).toBe('ipfail-handover');
    const d = decideQuorum(s, input({ mine: 2, theirs: 2 }), 7000);
    expect(d.groups.vip).toMatchObject({ take: 'forbid', code: 'ipfail-pending' });
    expect(d.nextAt).toBe(10_000);
    expect(decideQuorum(s, input({ mine: 2, theirs: 2, g: { iHold: true } }), 8000).groups.vip).toMatchObject({ hold: 'normal', code: 'mutual' });
    expect(decideQuorum(s, input({ mine: 2, theirs: 2 }), 10_000).groups.vip).toMatchObject({ take: 'normal', code: 'mutual' });
    // The better node's way back to equal needs no wait.
    const b = initQuorum({ ...base, ipfailSettleMs: 3000 }, 0);
    decideQuorum(b, input({ mine: 2, theirs: 1 }), 0);
    expect(decideQuorum(b, input({ mine: 2, theirs: 2 }), 100).groups.vip!.code).toBe('mutual');
  });

  // Simulator seed 200045201 (fresh range, issue 10 item 17 run): beta,
  // worse, handed g1 over; its count went to equal and 3 ms later to better,
  // and the settle wait, kept only while the comparison stayed 'equal', was
  // gone: beta started g1 while alpha, on beta's older report, took it too.
  it('ipfail: the settle wait survives a further change of the comparison, and lasts until the peer has read the new count', () => {
    const s = initQuorum({ ...base, ipfailSettleMs: 3000 }, 0);
    const at = (mine: number, theirs: number, now: number, readOurReach?: boolean) =>
      decideQuorum(s, { ...input({ mine, theirs }), peer: { liveness: 'up', reach: { up: theirs, total: 2 }, ...(readOurReach !== undefined ? { readOurReach } : {}) } }, now).groups.vip!;
    at(2, 2, 0);
    at(1, 2, 1000);
    expect(at(1, 2, 6000).code).toBe('ipfail-handover');
    expect(at(2, 2, 7000, false)).toMatchObject({ take: 'forbid', code: 'ipfail-pending' });
    expect(at(2, 1, 7003, false)).toMatchObject({ take: 'forbid', code: 'ipfail-pending' });
    // Past the time, but the peer has not read our new count yet: still nothing.
    expect(at(2, 1, 10_500, false)).toMatchObject({ take: 'forbid', code: 'ipfail-pending' });
    expect(at(2, 1, 10_600, true).take).not.toBe('forbid');
  });

  // Simulator seed 2476739868 (found by test/sim/random.test.ts): alpha,
  // recovering g2 and holding its lease, heard the restarted beta, which was
  // recovering g2 too with its leftovers up. The resource rules said alpha
  // (not preferred) should not keep it; 'keep' turned that into a resume,
  // a start beside beta's leftovers.
  it('keep does not resume a group held from before a restart while the peer still lists it', () => {
    const keep = { group: 'vip', hold: 'keep' as const, take: 'allow' as const, code: 'grant-held' as const, reason: '' };
    expect(applyDecision(false, keep, { iHold: true, peerHeard: true, peerHolds: true, recovering: true })).toBeUndefined();
    expect(applyDecision(false, keep, { iHold: true, peerHeard: true, peerHolds: false, recovering: true })).toBe(true);
    expect(applyDecision(false, keep, { iHold: true, peerHeard: false, peerHolds: false, recovering: true })).toBe(true);
    expect(applyDecision(false, keep, { iHold: true, peerHeard: true, peerHolds: true })).toBe(true);
  });

  it('ipfail\'s keep does not override the both-hold rule: when both run it and the peer is to keep it, this node yields', () => {
    // Seed 440188746: after a partition alpha counted 'better' while beta was still 'pending'; both kept g1 for seconds.
    const better = { group: 'vip', hold: 'keep' as const, take: 'allow' as const, code: 'ipfail-better' as const, reason: '' };
    expect(applyDecision(false, better, { iHold: true, peerHeard: true, peerHolds: true })).toBe(false);
    const dwell = { ...better, take: 'forbid' as const, code: 'ipfail-dwell' as const };
    expect(applyDecision(false, dwell, { iHold: true, peerHeard: true, peerHolds: true })).toBe(false);
    // Failback is still overridden (the peer does not hold it), and the rule's own yes stands.
    expect(applyDecision(false, better, { iHold: true, peerHeard: true, peerHolds: false })).toBe(true);
    expect(applyDecision(true, better, { iHold: true, peerHeard: true, peerHolds: true })).toBe(true);
  });

  it('without an arbiter: Heartbeat rules, except that a node reaching no ping target takes nothing over', () => {
    const s = initQuorum({ ...base, arbiter: 'none' }, 0);
    let d = decideQuorum(s, input({ peer: 'dead', mine: 1 }), 0);
    expect(d.groups.vip).toMatchObject({ hold: 'normal', take: 'normal', code: 'heartbeat-rules' });
    d = decideQuorum(s, input({ peer: 'dead', mine: 0, g: { iHold: false } }), 0);
    expect(d.groups.vip).toMatchObject({ hold: 'normal', take: 'forbid', code: 'isolated' });
    expect(applyDecision(true, d.groups.vip, { iHold: false, peerHeard: false, peerHolds: false })).toBe(false);
    const n = initQuorum({ ...base, arbiter: 'none', pingConfigured: false, ipfail: { enabled: false, delayMs: 0, dwellMs: 0 } }, 0);
    expect(decideQuorum(n, { peer: { liveness: 'dead' }, groups: {} }, 0).groups.vip!.code).toBe('heartbeat-rules');
  });

  it('leaseWanted: the holder always, the others only while the peer is not heard', () => {
    const w = (o: Partial<Parameters<typeof leaseWanted>[0]>) => leaseWanted({ arbiter: 'arbiter', shuttingDown: false, iHold: false, mutual: true, eligible: true, ...o });
    expect(w({ iHold: true })).toBe(true);
    expect(w({})).toBe(false);
    expect(w({ mutual: false })).toBe(true);
    expect(w({ mutual: false, eligible: false })).toBe(false);
    expect(w({ iHold: true, shuttingDown: true })).toBe(false);
    expect(w({ iHold: true, arbiter: 'none' })).toBe(false);
  });

  it('config problems name the field', () => {
    expect(quorumConfigProblems(base)).toEqual([]);
    expect(quorumConfigProblems({ ...base, pingConfigured: false })).toEqual(['ipfail: needs at least one ping or ping_group target']);
    expect(quorumConfigProblems({ ...base, takeoverDelayMs: -1 })[0]).toMatch(/^takeoverDelayMs:/);
  });

  it('property: without the peer and with an arbiter, a node never holds or takes a group without a valid lease', () => {
    const lease = fc.oneof(
      fc.constant(undefined),
      fc.record({ status: fc.constantFrom('idle', 'requesting', 'denied', 'held') as fc.Arbitrary<'idle' | 'requesting' | 'denied' | 'held'>, since: fc.integer({ min: 0, max: 10_000 }), reason: fc.constant('x') }),
    );
    fc.assert(fc.property(
      fc.array(fc.record({
        dt: fc.integer({ min: 0, max: 5000 }), peer: fc.constantFrom('unknown', 'up', 'dead') as fc.Arbitrary<'unknown' | 'up' | 'dead'>,
        hearsMe: fc.option(fc.boolean(), { nil: undefined }), mine: fc.integer({ min: 0, max: 2 }), theirs: fc.integer({ min: 0, max: 2 }),
        iHold: fc.boolean(), peerHolds: fc.boolean(), lease, normal: fc.option(fc.boolean(), { nil: undefined }),
        arbiter: fc.constantFrom('arbiter', 'etcd') as fc.Arbitrary<'arbiter' | 'etcd'>,
      }), { minLength: 1, maxLength: 40 }),
      (steps) => {
        const s = initQuorum({ ...base, takeoverDelayMs: 0 }, 0);
        let now = 0;
        for (const st of steps) {
          now += st.dt;
          const g: GroupInput = { iHold: st.iHold, peerHolds: st.peerHolds, ...(st.lease ? { lease: st.lease } : {}) };
          const i: QuorumInput = {
            peer: { liveness: st.peer, ...(st.hearsMe !== undefined ? { hearsMe: st.hearsMe } : {}), reach: { up: st.theirs, total: 2 } },
            reach: { up: st.mine, total: 2 }, groups: { vip: g },
          };
          const d = decideQuorum(s, i, now);
          const want = applyDecision(st.normal, d.groups.vip, { iHold: st.iHold, peerHeard: st.peer === 'up', peerHolds: st.peerHolds });
          const mutual = st.peer === 'up' && st.hearsMe !== false;
          if (st.peer !== 'unknown' && !mutual && want === true && st.lease?.status !== 'held') return false;
        }
        return true;
      },
    ), { numRuns: 2000 });
  });
});
