// The arbiter's pure machine: who gets a group, when, replay handling, and
// the invariant that no group is ever granted to two nodes with overlapping
// lease intervals, across crashes at any point and restarts from disk.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  arbiterStep, initArbiter, grantsView, type ArbiterAction, type ArbiterState, type GrantRecord, type NonceRecord, type StoreOp,
} from '../../arbiter/machine.js';
import type { ArbiterReply, ArbiterRequest } from '../../src/quorum/protocol.js';

class Client {
  seq = 0;
  constructor(readonly node: string, public gen = 1, readonly cluster = 'c1') {}
  req(over: Partial<ArbiterRequest> = {}): ArbiterRequest {
    this.seq += 1;
    return {
      t: 'req', op: 'acquire', cluster: this.cluster, node: this.node, group: 'g', gen: this.gen, seq: this.seq,
      ttlMs: 3000, graceMs: 1000, holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1, ...over,
    };
  }
}

function replyOf(acts: ArbiterAction[]): ArbiterReply {
  const r = acts.find((a): a is Extract<ArbiterAction, { kind: 'reply' }> => a.kind === 'reply');
  if (!r) throw new Error(`no reply in ${JSON.stringify(acts)}`);
  return r.reply;
}

const ask = (s: ArbiterState, req: ArbiterRequest, now: number) => replyOf(arbiterStep(s, { kind: 'request', from: `${req.node}:1`, req }, now));

describe('arbiter machine', () => {
  it('grants a free group at once to the node that runs it, and denies the other until it expires', () => {
    // (a candidacy lapses when a node has not asked for a whole TTL; beta keeps asking here)
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha');
    const b = new Client('beta');
    expect(ask(s, a.req({ holds: true }), 0)).toMatchObject({ outcome: 'granted', ttlMs: 3000, node: 'alpha', seq: 1 });
    const d = ask(s, b.req(), 100);
    expect(d).toMatchObject({ outcome: 'denied', holder: 'alpha', retryInMs: 750, reason: 'held by alpha' });
    // Renewals keep it with alpha.
    expect(ask(s, a.req({ holds: true }), 1000)).toMatchObject({ outcome: 'granted' });
    expect(ask(s, b.req(), 2500)).toMatchObject({ outcome: 'denied', holder: 'alpha' });
    // alpha goes silent; beta has kept asking since 100 (grace 1000 long over): it gets it once alpha's lease ran out.
    expect(ask(s, b.req(), 3999)).toMatchObject({ outcome: 'denied', retryInMs: 1 });
    expect(ask(s, b.req(), 4000)).toMatchObject({ outcome: 'granted' });
    expect(grantsView(s, 4000)).toEqual([{ cluster: 'c1', group: 'g', node: 'beta', ttlMs: 3000, remainingMs: 3000 }]);
  });

  it('a node that does not run the group waits out its grace, so a holder without a lease has time to stop', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const b = new Client('beta');
    // Told to come back within a quarter TTL (750 ms), so it stays a live candidate.
    expect(ask(s, b.req({ graceMs: 1500 }), 0)).toMatchObject({ outcome: 'denied', retryInMs: 750 });
    expect(ask(s, b.req({ graceMs: 1500 }), 750)).toMatchObject({ outcome: 'denied', retryInMs: 750 });
    expect(ask(s, b.req({ graceMs: 1500 }), 1499)).toMatchObject({ outcome: 'denied', retryInMs: 1 });
    expect(ask(s, b.req({ graceMs: 1500 }), 1500)).toMatchObject({ outcome: 'granted' });
  });

  it('prefers the node that runs the group, then outside connectivity, then more ping targets, then the lower name', () => {
    // Both ask during the grace window; the runner wins at once.
    let s = initArbiter({ grants: [], nonces: [] }, 0);
    let a = new Client('alpha');
    let b = new Client('beta');
    expect(ask(s, a.req(), 0)).toMatchObject({ outcome: 'denied' });
    expect(ask(s, b.req({ holds: true }), 10)).toMatchObject({ outcome: 'granted' });

    // Neither runs it: more reachable ping targets wins, after the grace.
    s = initArbiter({ grants: [], nonces: [] }, 0);
    a = new Client('alpha');
    b = new Client('beta');
    ask(s, a.req({ reach: 1, reachTotal: 3 }), 0);
    expect(ask(s, b.req({ reach: 3, reachTotal: 3 }), 0)).toMatchObject({ outcome: 'denied', reason: 'waiting 1000 ms for a former holder to stop' });
    expect(ask(s, a.req({ reach: 1, reachTotal: 3 }), 1200)).toMatchObject({ outcome: 'denied', reason: expect.stringContaining('beta is preferred (it reaches 3 ping targets') });
    expect(ask(s, b.req({ reach: 3, reachTotal: 3 }), 1300)).toMatchObject({ outcome: 'granted' });

    // A candidate that stopped asking for half a TTL no longer counts.
    s = initArbiter({ grants: [], nonces: [] }, 0);
    a = new Client('alpha');
    b = new Client('beta');
    ask(s, a.req({ reach: 1, reachTotal: 3 }), 0);
    ask(s, b.req({ reach: 3, reachTotal: 3 }), 0);
    expect(ask(s, a.req({ reach: 1, reachTotal: 3 }), 1501)).toMatchObject({ outcome: 'granted' });

    // The runner that reaches no ping target loses to one that reaches some.
    s = initArbiter({ grants: [], nonces: [] }, 0);
    a = new Client('alpha');
    b = new Client('beta');
    expect(ask(s, a.req({ holds: true, reach: 0, reachTotal: 2 }), 0)).toMatchObject({ outcome: 'denied' });   // no outside connectivity: no instant grant
    ask(s, b.req({ reach: 1, reachTotal: 2 }), 10);
    expect(ask(s, a.req({ holds: true, reach: 0, reachTotal: 2 }), 1100)).toMatchObject({ outcome: 'denied', reason: expect.stringContaining('it reaches a ping target') });
    expect(ask(s, b.req({ reach: 1, reachTotal: 2 }), 1100)).toMatchObject({ outcome: 'granted' });

    // All equal: the lower name.
    s = initArbiter({ grants: [], nonces: [] }, 0);
    a = new Client('alpha');
    b = new Client('beta');
    ask(s, b.req(), 0);
    ask(s, a.req(), 0);
    expect(ask(s, b.req(), 1000)).toMatchObject({ outcome: 'denied', reason: expect.stringContaining('tie broken by node name') });
    expect(ask(s, a.req(), 1000)).toMatchObject({ outcome: 'granted' });
  });

  it('does not renew a holder that lost every ping target while a node that cannot hear it reaches some', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha');
    const b = new Client('beta');
    ask(s, a.req({ holds: true, reach: 2, reachTotal: 2 }), 0);
    expect(ask(s, a.req({ holds: true, reach: 0, reachTotal: 2 }), 500)).toMatchObject({ outcome: 'granted' });   // nobody better asks
    ask(s, b.req({ reach: 2, reachTotal: 2 }), 600);
    expect(ask(s, a.req({ holds: true, reach: 0, reachTotal: 2 }), 1000)).toMatchObject({ outcome: 'denied', holder: 'alpha' });
    // The grant itself still runs its course: beta only after it ends.
    expect(ask(s, b.req({ reach: 2, reachTotal: 2 }), 3000)).toMatchObject({ outcome: 'denied', holder: 'alpha' });
    expect(ask(s, b.req({ reach: 2, reachTotal: 2 }), 3500)).toMatchObject({ outcome: 'granted' });
  });

  it('hands a group on at once when its holder releases it on shutdown', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha');
    const b = new Client('beta');
    ask(s, a.req({ holds: true }), 0);
    expect(ask(s, a.req({ op: 'release', leaving: true }), 100)).toMatchObject({ outcome: 'released' });
    expect(ask(s, b.req(), 110)).toMatchObject({ outcome: 'granted' });
    // A plain release (no shutdown) leaves the grace in place.
    const s2 = initArbiter({ grants: [], nonces: [] }, 0);
    const a2 = new Client('alpha');
    const b2 = new Client('beta');
    ask(s2, a2.req({ holds: true }), 0);
    ask(s2, a2.req({ op: 'release' }), 100);
    expect(ask(s2, b2.req(), 110)).toMatchObject({ outcome: 'denied' });
    // After a restart (new generation) of alpha, its shutdown no longer counts.
    a.gen = 2;
    a.seq = 0;
    ask(s, a.req(), 200);
    expect(ask(s, b.req({ op: 'release' }), 210)).toMatchObject({ outcome: 'released' });
    expect(ask(s, b.req(), 220)).toMatchObject({ outcome: 'denied' });
  });

  it('ignores replays and stale sequence numbers, persisting the counter before any reply', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha', 7);
    const r = a.req({ holds: true });
    const acts = arbiterStep(s, { kind: 'request', from: 'x:1', req: r }, 0);
    expect(acts.map((x) => x.kind)).toEqual(['log', 'persist', 'reply']);
    const persist = acts[1] as Extract<ArbiterAction, { kind: 'persist' }>;
    expect(persist.ops).toContainEqual({ type: 'put-nonce', rec: { cluster: 'c1', node: 'alpha', group: 'g', gen: 7, seq: 1 } });
    expect(persist.ops).toContainEqual({ type: 'put-grant', rec: { cluster: 'c1', group: 'g', node: 'alpha', ttlMs: 3000 } });
    expect(arbiterStep(s, { kind: 'request', from: 'x:1', req: r }, 10).filter((x) => x.kind === 'reply')).toEqual([]);
    expect(arbiterStep(s, { kind: 'request', from: 'x:1', req: { ...r, gen: 6, seq: 100 } }, 10).filter((x) => x.kind === 'reply')).toEqual([]);
    expect(s.counters.replays).toBe(2);
    // Counters are per node and per cluster.
    expect(ask(s, new Client('alpha', 1, 'c2').req(), 20)).toMatchObject({ cluster: 'c2' });
  });

  // Simulator seeds 70010875 and 91031149: a node's renewals for several
  // groups go out together; the network delivered a later-numbered one for
  // another group first, the per-node counter dropped the overtaken renewal
  // (and, in lockstep, its retry), and the holder gave the lease up while
  // the arbiter was reachable.
  it('checks request numbers per group: a request overtaken by one for another group still counts', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha');
    const g1 = a.req({ group: 'g1', holds: true });
    const g2 = a.req({ group: 'g2', holds: true });
    expect(ask(s, g2, 0)).toMatchObject({ group: 'g2', outcome: 'granted' });
    expect(ask(s, g1, 1)).toMatchObject({ group: 'g1', outcome: 'granted', seq: g1.seq });
    // Within a group the order still holds: a replay, or an acquire overtaken by its own release, gets nothing.
    const rel = a.req({ group: 'g1', op: 'release' });
    const late = a.req({ group: 'g1' });
    expect(ask(s, late, 2)).toMatchObject({ outcome: 'granted' });
    expect(arbiterStep(s, { kind: 'request', from: 'x:1', req: rel }, 3).filter((x) => x.kind === 'reply')).toEqual([]);
    expect(arbiterStep(s, { kind: 'request', from: 'x:1', req: g2 }, 4).filter((x) => x.kind === 'reply')).toEqual([]);
    // An older generation gets nothing, for any group, even one it never asked for.
    expect(arbiterStep(s, { kind: 'request', from: 'x:1', req: { ...a.req({ group: 'g3' }), gen: 0 } }, 5).filter((x) => x.kind === 'reply')).toEqual([]);
    expect(s.counters.replays).toBe(3);
  });

  it('per-group request counters survive a restart; a counter written before they were per group is a floor for every group', () => {
    const s = initArbiter({ grants: [], nonces: [
      { cluster: 'c1', node: 'alpha', gen: 3, seq: 50 },
      { cluster: 'c1', node: 'alpha', group: 'g1', gen: 3, seq: 60 },
    ] }, 0);
    const quiet = (req: ArbiterRequest) => arbiterStep(s, { kind: 'request', from: 'x:1', req }, 0).filter((x) => x.kind === 'reply');
    const base = new Client('alpha', 3).req();
    expect(quiet({ ...base, group: 'g2', seq: 50 })).toEqual([]);
    expect(quiet({ ...base, group: 'g1', seq: 55 })).toEqual([]);
    expect(quiet({ ...base, group: 'g1', seq: 60 })).toEqual([]);
    expect(quiet({ ...base, group: 'g2', seq: 51 })).toHaveLength(1);
    expect(quiet({ ...base, group: 'g1', seq: 61 })).toHaveLength(1);
    expect(quiet({ ...base, group: 'g3', gen: 2, seq: 1000 })).toEqual([]);
  });

  it('after a restart every grant on disk stays exclusive for a full TTL from the restart', () => {
    const s = initArbiter({ grants: [{ cluster: 'c1', group: 'g', node: 'alpha', ttlMs: 5000 }], nonces: [] }, 1_000_000);
    const b = new Client('beta');
    expect(ask(s, b.req(), 1_000_000)).toMatchObject({ outcome: 'denied', holder: 'alpha', retryInMs: 750 });
    expect(ask(s, b.req(), 1_004_999)).toMatchObject({ outcome: 'denied', holder: 'alpha', retryInMs: 1 });
    expect(ask(s, b.req(), 1_005_000)).toMatchObject({ outcome: 'granted' });
  });

  it('a renewal with a shorter TTL never shortens what was already promised, and the disk keeps the longest', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    const a = new Client('alpha');
    ask(s, a.req({ holds: true, ttlMs: 5000 }), 0);
    const acts = arbiterStep(s, { kind: 'request', from: 'x:1', req: a.req({ holds: true, ttlMs: 1000 }) }, 100);
    expect(replyOf(acts)).toMatchObject({ outcome: 'granted', ttlMs: 1000 });
    expect(acts.filter((x) => x.kind === 'persist').flatMap((x) => (x as { ops: StoreOp[] }).ops).filter((o) => o.type === 'put-grant')).toEqual([]);
    expect(ask(s, new Client('beta').req(), 4999)).toMatchObject({ outcome: 'denied', holder: 'alpha', retryInMs: 1 });
  });

  it('expires grants on a tick and records the deletion', () => {
    const s = initArbiter({ grants: [], nonces: [] }, 0);
    ask(s, new Client('alpha').req({ holds: true }), 0);
    expect(arbiterStep(s, { kind: 'tick' }, 2999)).toEqual([]);
    const acts = arbiterStep(s, { kind: 'tick' }, 3000);
    expect(acts).toContainEqual({ kind: 'persist', ops: [{ type: 'del-grant', cluster: 'c1', group: 'g' }] });
    expect(grantsView(s, 3000)).toEqual([]);
  });

  it('property: never two nodes with overlapping lease intervals on one group, across crashes and restarts', () => {
    const nodes = ['alpha', 'beta', 'gamma'];
    const groups = ['g1', 'g2'];
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({
        t: fc.constant('req' as const),
        node: fc.integer({ min: 0, max: 2 }), group: fc.integer({ min: 0, max: 1 }),
        release: fc.integer({ min: 0, max: 7 }).map((n) => n === 0), leaving: fc.boolean(),
        holds: fc.boolean(), peerHeard: fc.boolean(), reach: fc.integer({ min: 0, max: 2 }),
        // Few distinct values, so boundaries (expiry == next request) are hit often.
        ttlMs: fc.constantFrom(100, 150, 200, 1000, 3000), graceMs: fc.constantFrom(0, 0, 50, 100, 1000),
        crashAt: fc.option(fc.integer({ min: 0, max: 5 }), { freq: 8 }),
      }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.oneof(fc.constantFrom(0, 50, 100, 150, 200), fc.integer({ min: 0, max: 4000 })) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), crashAt: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('client-restart' as const), node: fc.integer({ min: 0, max: 2 }) }) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), (ops) => {
      const disk = { grants: new Map<string, GrantRecord>(), nonces: new Map<string, NonceRecord>() };
      const load = () => ({ grants: [...disk.grants.values()], nonces: [...disk.nonces.values()] });
      const applyOps = (o: StoreOp[]) => {
        for (const x of o) {
          if (x.type === 'put-grant') disk.grants.set(`${x.rec.cluster}/${x.rec.group}`, x.rec);
          else if (x.type === 'del-grant') disk.grants.delete(`${x.cluster}/${x.group}`);
          else disk.nonces.set(JSON.stringify([x.rec.cluster, x.rec.node, x.rec.group]), x.rec);
        }
      };
      let now = 0;
      let s = initArbiter(load(), now, { minTtlMs: 100, maxTtlMs: 10_000, maxGraceMs: 10_000 });
      const clients = nodes.map((n) => new Client(n));
      // Ground truth: until when each node may, as far as it was told, run each group.
      const validUntil = new Map<string, number>();
      const vk = (g: string, n: string) => `${g}/${n}`;

      // The adapter's contract: actions in order, a crash drops everything from crashAt on.
      const run = (acts: ArbiterAction[], crashAt: number | null): ArbiterReply[] => {
        const delivered: ArbiterReply[] = [];
        for (let i = 0; i < acts.length; i++) {
          if (crashAt !== null && i >= crashAt) {
            s = initArbiter(load(), now, s.limits);
            return delivered;
          }
          const a = acts[i]!;
          if (a.kind === 'persist') applyOps(a.ops);
          if (a.kind === 'reply') delivered.push(a.reply);
        }
        if (crashAt !== null) s = initArbiter(load(), now, s.limits);
        return delivered;
      };

      for (const o of ops) {
        if (o.t === 'advance') { now += o.ms; continue; }
        if (o.t === 'tick') { run(arbiterStep(s, { kind: 'tick' }, now), o.crashAt); continue; }
        if (o.t === 'client-restart') {
          const c = clients[o.node]!;
          c.gen += 1;
          c.seq = 0;
          continue;
        }
        const c = clients[o.node]!;
        const group = groups[o.group]!;
        const req = c.req({
          group, op: o.release ? 'release' : 'acquire', ...(o.release && o.leaving ? { leaving: true } : {}),
          holds: o.holds, peerHeard: o.peerHeard, reach: o.reach, reachTotal: 2, ttlMs: o.ttlMs, graceMs: o.graceMs,
        });
        if (o.release) {
          // A client releases only after it stopped the group.
          const k = vk(group, c.node);
          validUntil.set(k, Math.min(validUntil.get(k) ?? -Infinity, now));
        }
        const acts = arbiterStep(s, { kind: 'request', from: `${c.node}:1`, req }, now);
        // A reply never precedes the persist that backs it.
        const firstReply = acts.findIndex((a) => a.kind === 'reply');
        const lastPersist = acts.map((a) => a.kind).lastIndexOf('persist');
        if (firstReply >= 0 && lastPersist > firstReply) return false;
        for (const r of run(acts, o.crashAt)) {
          if (r.outcome !== 'granted') continue;
          for (const other of nodes) {
            if (other === r.node) continue;
            if ((validUntil.get(vk(r.group, other)) ?? -Infinity) > now) return false;
          }
          const k = vk(r.group, r.node);
          validUntil.set(k, Math.max(validUntil.get(k) ?? -Infinity, now + r.ttlMs!));
        }
      }
      return true;
    }), { numRuns: 10000 });
  });
});
