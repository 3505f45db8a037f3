import { describe, expect, it } from 'vitest';
import { makeScenario, type Fault, type NetSpec, type Scenario, type ScheduledFault } from '../../src/sim/scenario.js';
import { formatViolation, runSeed, type SimOptions } from '../../src/sim/sim.js';
import { yieldCpu } from '../helpers/nice.js';

yieldCpu();

// A seed named for a bug it found replays the schedule it was found with:
// those were drawn before monitored resources were simulated (their own
// random stream; makeScenario's monitors option).
const asFound = { monitors: false } as const;

// Quorum in the simulator: the arbiter (tandem's machine, or the etcd
// model) as a third host, each node's lease machines and ping tracker, with
// faults of the arbiter, its links and the ping targets (src/sim/quorum.ts).

const arbiterSeeds = (n: number, opts: { fencing?: boolean } = {}): number[] => {
  const out: number[] = [];
  for (let s = 1; out.length < n && s < 100_000; s++) {
    const sc = makeScenario(s);
    const q = sc.params.quorum;
    if (!q || q.arbiter === 'none' || q.tightSafety) continue;
    if (opts.fencing !== undefined && (sc.params.fencing !== undefined) !== opts.fencing) continue;
    out.push(s);
  }
  return out;
};

/**
 * Replaces a schedule's faults with the one an arbiter exists for: after
 * the pair has settled, the node that runs g1 loses its peer and the
 * arbiter at once, for four TTLs.
 */
function isolateHolder(x: Scenario): Scenario {
  const q = x.params.quorum!;
  const H = x.params.horizonMs;
  const at = Math.floor(H / 2);
  const len = Math.min(4 * q.ttlMs, H - at - 1);
  const holder = x.params.groups[0]!.preferredNode === 'alpha' ? 0 : 1;
  const paths = x.params.paths.map((_, i) => i);
  const cut: NetSpec = { kind: 'cut', paths, dirs: [0, 1], p: 1, extraMs: 0 };
  const arbCut: NetSpec = { kind: 'cut', paths: [holder], dirs: [0, 1], p: 1, extraMs: 0 };
  const faults: ScheduledFault[] = x.faults.filter((f) => (f.f.k === 'boot' && f.at < 3 * x.params.keepaliveMs) || f.f.k === 'heal-all');
  const add = (t: number, f: Fault) => faults.push({ at: t, f });
  add(at, { k: 'net', id: 900, on: true, spec: cut, label: 'partition' });
  add(at + len, { k: 'net', id: 900, on: false, spec: cut, label: 'partition' });
  add(at, { k: 'arb-net', id: 901, on: true, spec: arbCut, label: 'holder cut from the arbiter' });
  add(at + len, { k: 'arb-net', id: 901, on: false, spec: arbCut, label: 'holder cut from the arbiter' });
  faults.sort((a, b) => a.at - b.at);
  return { ...x, faults };
}

describe('simulator: quorum (arbiter, etcd, ping targets)', () => {
  it('the quorum schedules of seeds 1..2,000 keep every invariant and exercise leases, arbiter faults and ipfail', () => {
    const failures: string[] = [];
    const seen = { scenarios: 0, arbiter: 0, etcd: 0, ping: 0, handovers: 0, noGrant: 0, ipfail: 0, leaseSteps: 0, arbDual: 0, arbFaults: 0, solo: 0, settled: 0 };
    for (let seed = 1; seed <= 2000; seed++) {
      const sc = makeScenario(seed);
      const q = sc.params.quorum;
      if (!q) continue;
      const r = runSeed(seed);
      if (r.violation) failures.push(formatViolation(r));
      seen.scenarios += 1;
      if (q.arbiter === 'arbiter') seen.arbiter += 1;
      if (q.arbiter === 'etcd') seen.etcd += 1;
      if (q.pingTargets > 0) seen.ping += 1;
      seen.handovers += r.stats.leaseHandovers;
      seen.noGrant += r.stats.noGrantReleases;
      seen.ipfail += r.stats.ipfailHandovers;
      seen.leaseSteps += r.stats.leaseSteps;
      seen.arbDual += r.stats.arbDualSteps;
      if (sc.faults.some((f) => f.f.k === 'arb-crash')) seen.arbFaults += 1;
      if (q.arbiter !== 'none' && r.stats.soloChecks > 0) seen.solo += 1;
      if (r.stats.settledChecks > 0) seen.settled += 1;
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    expect(seen.scenarios).toBeGreaterThan(600);
    expect(seen.arbiter).toBeGreaterThan(300);
    expect(seen.etcd).toBeGreaterThan(150);
    expect(seen.ping).toBeGreaterThan(200);
    // Leases pass from node to node, holders give groups up for want of a
    // lease, ipfail moves groups, the arbiter restarts under load.
    expect(seen.handovers).toBeGreaterThan(300);
    expect(seen.noGrant).toBeGreaterThan(300);
    expect(seen.ipfail).toBeGreaterThan(5);
    expect(seen.leaseSteps).toBeGreaterThan(1_000_000);
    expect(seen.arbFaults).toBeGreaterThan(100);
    // Lone survivors that had to win the lease, and settled pairs, are checked.
    expect(seen.solo).toBeGreaterThan(60);
    expect(seen.settled).toBeGreaterThan(seen.scenarios - 10);
  }, 180_000);

  it('an isolated holder stops before the other node starts, with the tandem arbiter and with etcd', () => {
    let checked = 0;
    const kinds = new Set<string>();
    for (const seed of arbiterSeeds(40, { fencing: false })) {
      const r = runSeed(seed, { scenario: isolateHolder });
      expect(r.violation, formatViolation(r)).toBeUndefined();
      if (r.stats.leaseHandovers > 0) {
        checked += 1;
        kinds.add(makeScenario(seed).params.quorum!.arbiter);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect([...kinds].sort()).toEqual(['arbiter', 'etcd']);
  }, 60_000);

  // Found by the 100,000-seed run once quorum was simulated, fixed in
  // src/quorum/decide.ts: a takeover under a lease granted on an older
  // candidacy while the peer still ran the group as a mutual partner
  // (70344, 80075, 88666: aloneGraceMs); ipfail counts flipping back while
  // the peer takes a released group on the old counts (22629, 23021, 34807,
  // 43754: ipfailSettleMs); the settle bound then covers that wait (86319).
  // 2973 (solo liveness in the same run) was not analysed: it passes since
  // these fixes, and stays here so that a return is seen.
  it.each([70344, 80075, 88666, 22629, 23021, 34807, 43754, 86319, 2973])('seed %i keeps every invariant', (seed) => {
    const r = runSeed(seed, asFound);
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  // Found outside every range a test ran (issue 10, item 17; seeds
  // 70,000,001..70,020,000 and 91,000,001..91,040,000). 91012102: split
  // brain with an arbiter: alpha took the pair for mutual on beta's word
  // that it heard alpha and started g1 without a lease, while beta, which
  // had not yet read that alpha heard it, held g1's lease and started g1 on
  // its older view (fixed in decide.ts and engine.ts: start nothing until
  // the peer's report shows it read that we hear it). 70010875, 91031149:
  // solo liveness: renewals for several groups reordered on the way to the
  // arbiter, whose per-node request counter dropped the overtaken ones, so
  // a lease was given up with the arbiter reachable (fixed in
  // arbiter/machine.ts: request numbers checked per group). 200045201 (the
  // 1,000,000-schedule run after those fixes): ipfail with fencing and etcd;
  // the node that had reached fewer targets started a group 3 ms after its
  // settle wait began, its count having gone on from equal to better, while
  // the peer took the group on its older report (decide.ts: the settle
  // wait survives further changes and lasts until the peer has read the
  // new count). 2476739868 (test/sim/random.test.ts, its first run):
  // a node resumed a group under its lease beside the restarted peer's
  // leftovers ('keep' turned the resource rules' "not here" into a resume).
  // 330341212 (330,000,001..330,430,000): alpha's lease lapsed while it
  // heard beta only over a slow path and beta had not read that; alpha kept
  // g1 until it declared beta dead, and beta, granted the lapsed lease,
  // started g1 before alpha had stopped (decide.ts: with the pair not yet
  // confirmed mutual, a running group needs a valid lease).
  // 400262359, 400269973 (400,000,001..): the checker's fence-race rule
  // judged the held counts at landing, not those the nodes decided on: beta
  // started g1 after the cut began (alpha never saw it hold g1), declared
  // alpha dead holding 1, and had stopped g1 for want of a lease by the time
  // the fences landed; both sides fenced at once on counts that disagreed,
  // which the rule does not cover (sim.ts onFenceLands: the counts from the
  // fencing policy's decision).
  // 420034641 (the 1,000,000-schedule run from 420,000,001): ipfail with
  // etcd and fencing; alpha (preferred) started g1 on a report beta sent
  // before its counts were known there, while beta, its delay passed on its
  // own view, took g1 as 'ipfail-better' on alpha's older report that held
  // nothing; a slow path and a partition kept either from hearing the
  // other's hold (decide.ts + quorum/report.ts: the better node takes a
  // group only once the peer says it leaves it, tg_ipfail_yield).
  // 430071943 (the 1,000,000-schedule run from 430,000,001): alpha had
  // handed g2 to beta (beta's takeover), then, cut off from beta and the
  // arbiter but not yet calling it dead, took it back by operator takeover
  // and started it at once; beta started it on alpha's older hand-over
  // (engine.ts: a hand-over taken back counts as an unheard drop from that
  // moment, not from the next send).
  // 440188746 (the 1,000,000-schedule run from 440,000,001): ipfail without
  // an arbiter; after a partition beta (preferred for g1, in standby before)
  // declared alpha dead and started g1 just as it heard alpha again; alpha
  // kept g1 as 'ipfail-better' while beta, still 'ipfail-pending' on its
  // own clock, kept it as its preferred node: both ran g1 past the bound
  // (decide.ts applyDecision: ipfail's keep yields to the both-hold rule).
  it.each([91012102, 70010875, 91031149, 200045201, 2476739868, 330341212, 400262359, 400269973, 420034641, 430071943, 440188746])('seed %i (found in a fresh range) keeps every invariant', (seed) => {
    const r = runSeed(seed, asFound);
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  it('a replayed quorum seed gives the same trace', () => {
    const [seed] = arbiterSeeds(1);
    const a = runSeed(seed!, { hash: true });
    const b = runSeed(seed!, { hash: true });
    expect(a.hash).toBe(b.hash);
    expect(a.steps).toBe(b.steps);
  });

  // The checker has teeth: planted bugs are caught.
  const caught = (seeds: number[], opts: (seed: number) => SimOptions) => {
    const kinds: Record<string, number> = {};
    for (const seed of seeds) {
      const r = runSeed(seed, opts(seed));
      if (r.violation) kinds[r.violation.kind] = (kinds[r.violation.kind] ?? 0) + 1;
    }
    return kinds;
  };

  it('planted: beta without quorum rules (takes over on Heartbeat rules) is a split brain', () => {
    const kinds = caught(arbiterSeeds(60, { fencing: false }), () => ({ scenario: isolateHolder, hooks: { quorum: (n, c) => (n === 'beta' ? undefined : c) } }));
    expect(kinds['split-brain'] ?? 0).toBeGreaterThan(5);
  }, 60_000);

  it('planted: arbiter_safety of 1 ms, shorter than the stop walk, is a split brain', () => {
    const kinds = caught(arbiterSeeds(80, { fencing: false }), () => ({
      scenario: (x) => isolateHolder({ ...x, params: { ...x.params, quorum: { ...x.params.quorum!, safetyMs: 1 } } }),
    }));
    expect(kinds['split-brain'] ?? 0).toBeGreaterThan(2);
  }, 60_000);

  it('planted: clocks that drift beyond the 1 % margin (nodes 20 % slow, arbiter 20 % fast) break lease safety', () => {
    const kinds = caught(arbiterSeeds(80), () => ({
      scenario: (x) => isolateHolder({ ...x, params: { ...x.params, quorum: { ...x.params.quorum!, rates: [0.8, 0.8, 1.2] } } }),
    }));
    expect((kinds['lease-arbiter'] ?? 0) + (kinds['lease-overlap'] ?? 0)).toBeGreaterThan(5);
  }, 60_000);

  it('planted: an arbiter that forgets its grants when it restarts breaks lease safety', () => {
    const seeds = arbiterSeeds(400).filter((s) => makeScenario(s).faults.some((f) => f.f.k === 'arb-crash'));
    const kinds = caught(seeds.slice(0, 150), () => ({ hooks: { arbiterLoad: () => [] } }));
    expect((kinds['lease-arbiter'] ?? 0) + (kinds['lease-overlap'] ?? 0)).toBeGreaterThan(2);
  }, 120_000);
});
