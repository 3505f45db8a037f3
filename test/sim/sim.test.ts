import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { engineStep, initEngine, type EngineAction, type EngineEvent } from '../../src/node/engine.js';
import { initResources, resourcesStep, type GroupPhase, type ResourcesAction, type ResourcesConfig } from '../../src/resources/machine.js';
import { Checker, type CheckedNode, type Conditions, type Proc } from '../../src/sim/checker.js';
import { Rng } from '../../src/sim/rng.js';
import { boundsFor, makeScenario } from '../../src/sim/scenario.js';
import { formatViolation, runSeed, type SimResult } from '../../src/sim/sim.js';
import { yieldCpu } from '../helpers/nice.js';

yieldCpu();

// A seed named for a bug it found replays the schedule it was found with:
// those were drawn before monitored resources were simulated (their own
// random stream; makeScenario's monitors option).
const asFound = { monitors: false } as const;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('simulator: seeded schedules against the real engine', () => {
  it('1,200 schedules keep every invariant, and every invariant is exercised', () => {
    const failures: string[] = [];
    let steps = 0;
    const seen = { dual: 0, settled: 0, solo: 0, starts: 0 };
    const fence = { scenarios: 0, fences: 0, takeovers: 0, races: 0, racesActiveLost: 0, blockedSolo: 0, fencedSolo: 0 };
    const mon = { scenarios: 0, kills: 0, monitorRestarts: 0, monitorMoves: 0, monitorTimeouts: 0, killRepairs: 0 };
    // 1,200 fixed seeds (2,000 until the CI run neared its 20 minutes): fresh
    // ranges are worth more than more fixed ones, and test/sim/random.test.ts
    // runs 1,500 new seeds in every CI run.
    for (let seed = 1; seed <= 1200; seed++) {
      const r = runSeed(seed);
      if (makeScenario(seed).params.fencing) {
        fence.scenarios += 1;
        if (r.stats.fences > 0) fence.fences += 1;
        if (r.stats.takeovers > 0) fence.takeovers += 1;
        if (r.stats.soloChecks > 0) fence.fencedSolo += 1;
        if (r.stats.blockedSolo > 0) fence.blockedSolo += 1;
        fence.races += r.stats.races;
        fence.racesActiveLost += r.stats.racesActiveLost;
      }
      if (makeScenario(seed).params.groups.some((g) => g.monitors)) {
        mon.scenarios += 1;
        for (const k of ['kills', 'monitorRestarts', 'monitorMoves', 'monitorTimeouts', 'killRepairs'] as const) mon[k] += r.stats[k];
      }
      steps += r.steps;
      if (r.violation) failures.push(formatViolation(r));
      if (r.stats.dualSteps > 0) seen.dual += 1;
      if (r.stats.settledChecks > 0) seen.settled += 1;
      if (r.stats.soloChecks > 0) seen.solo += 1;
      if (r.stats.startChecks > 0) seen.starts += 1;
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    // A checker that never gets to look proves nothing: the schedules must
    // produce split brain, settled pairs, lone survivors and starts on
    // long-healthy connections in a fair share of runs.
    expect(steps).toBeGreaterThan(1_000_000);
    // Quorum schedules (about 40 %) keep most dual holds from happening at all.
    expect(seen.dual).toBeGreaterThan(150);
    expect(seen.settled).toBeGreaterThan(1150);
    expect(seen.solo).toBeGreaterThan(60);
    expect(seen.starts).toBeGreaterThan(50);
    // Fencing: about half the schedules, and in those: fences, takeovers
    // after a confirmed off, symmetric races, lone survivors that fenced
    // their peer, and some held back by wait_for_all.
    // Monitored resources: about 40 % of the schedules (449 of these), with
    // services killed (592), restarts in place (525), moves at
    // migration-threshold (333), hung checks killed at their timeout (163),
    // and deaths in a settled pair repaired within killMs (47).
    expect(mon.scenarios).toBeGreaterThan(380);
    expect(mon.kills).toBeGreaterThan(400);
    expect(mon.monitorRestarts).toBeGreaterThan(350);
    expect(mon.monitorMoves).toBeGreaterThan(200);
    expect(mon.monitorTimeouts).toBeGreaterThan(100);
    expect(mon.killRepairs).toBeGreaterThan(25);
    expect(fence.scenarios).toBeGreaterThan(480);
    expect(fence.scenarios).toBeLessThan(720);
    expect(fence.fences).toBeGreaterThan(250);
    expect(fence.takeovers).toBeGreaterThan(120);
    expect(fence.races).toBeGreaterThan(60);
    expect(fence.fencedSolo).toBeGreaterThan(2);
    expect(fence.blockedSolo).toBeGreaterThan(2);
    // The active node loses a race only when its own switch failed or fence_delay was tight.
    expect(fence.racesActiveLost).toBeLessThan(fence.races / 5);
  }, 300_000);   // about 20 s on an idle 2-core machine; 160 s seen under load

  it('replays a seed exactly: same trace hash and steps; another seed differs', () => {
    const a = runSeed(42, { hash: true });
    const b = runSeed(42, { hash: true });
    expect(a.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(b.hash).toBe(a.hash);
    expect(b.steps).toBe(a.steps);
    expect(runSeed(43, { hash: true }).hash).not.toBe(a.hash);
    expect(makeScenario(42)).toEqual(makeScenario(42));
  });

  it('the CLI replays a seed with identical output', () => {
    const cli = join(root, 'dist/src/sim/cli.js');
    const run = () => execFileSync(process.execPath, [cli, '--seed', '7'], { encoding: 'utf8' })
      .split('\n').filter((l) => !l.startsWith('wall time:')).join('\n');
    const first = run();
    expect(first).toMatch(/^seed 7: \d+ steps, \d+ ms simulated, trace hash [0-9a-f]{16}$/m);
    expect(first).toMatch(/^violations: {4}0$/m);
    expect(run()).toBe(first);
  });

  it('uses no ambient randomness or wall time', () => {
    const dir = join(root, 'src/sim');
    for (const f of readdirSync(dir)) {
      const src = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      // The CLI may time itself; nothing that decides a run may look at a clock.
      const banned = f === 'cli.ts' ? /Math\.random|Date\.now|new Date\(/ : /Math\.random|Date\.now|new Date\(|performance\.now/;
      expect(src, f).not.toMatch(banned);
    }
  });

  it('the PRNG is deterministic per (seed, stream) and roughly uniform', () => {
    const a = new Rng(5, 1);
    const b = new Rng(5, 1);
    const c = new Rng(5, 2);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(c.next()).not.toBe(xs[0]);
    const buckets = new Array<number>(10).fill(0);
    const r = new Rng(9);
    for (let i = 0; i < 100_000; i++) buckets[r.int(0, 9)]! += 1;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});

describe('simulator: the checker catches planted bugs', () => {
  const run = (seeds: number, hooks: Parameters<typeof runSeed>[1]): SimResult[] =>
    Array.from({ length: seeds }, (_, i) => runSeed(i + 1, hooks));

  it('a beta that ignores what alpha holds starts groups alpha runs: dual start, dual claim', () => {
    // The broken resources rule: beta believes alpha holds nothing and failed everything.
    const lie = (node: string, ev: EngineEvent): EngineEvent => {
      if (node !== 'beta' || ev.kind !== 'heard') return ev;
      return { ...ev, report: { ...ev.report, hold: [], yielding: [], failed: ['g1', 'g2', 'g3'] } };
    };
    const results = run(100, { hooks: { event: lie } });
    const kinds = new Set(results.flatMap((r) => (r.violation ? [r.violation.kind] : [])));
    expect(results.filter((r) => r.violation).length).toBeGreaterThan(20);
    expect(kinds.has('dual-start') || kinds.has('dual-claim')).toBe(true);
    // With fencing configured, the same overlap is a split brain at once.
    for (const k of kinds) expect(['dual-start', 'dual-claim', 'dual-hold', 'split-brain']).toContain(k);
  });

  it('starting a resource before its hold is durable is a durability violation', () => {
    // The broken adapter order: every op runs before the persist-hold of the same step.
    const opFirst = (_node: string, acts: EngineAction[]): EngineAction[] =>
      [...acts.filter((a) => a.kind === 'op'), ...acts.filter((a) => a.kind !== 'op')];
    const results = run(30, { hooks: { actions: opFirst } });
    const bad = results.filter((r) => r.violation);
    expect(bad.length).toBeGreaterThan(25);
    for (const r of bad) expect(r.violation!.kind).toBe('durability');
    expect(formatViolation(bad[0]!)).toMatch(/^VIOLATION seed \d+ at \d+ ms: durability: .*\n {2}last \d+ events:\n/);
  });

  it('a violation report replays to the same text', () => {
    const opFirst = (_node: string, acts: EngineAction[]): EngineAction[] =>
      [...acts.filter((a) => a.kind === 'op'), ...acts.filter((a) => a.kind !== 'op')];
    const a = runSeed(3, { hooks: { actions: opFirst } });
    const b = runSeed(3, { hooks: { actions: opFirst } });
    expect(a.violation).toBeDefined();
    expect(formatViolation(b)).toBe(formatViolation(a));
  });
});

describe('simulator: the checker catches planted fencing bugs', () => {
  const fencedSeeds = (n: number): number[] => {
    const out: number[] = [];
    for (let seed = 1; out.length < n; seed++) if (makeScenario(seed).params.fencing) out.push(seed);
    return out;
  };
  const kindsOf = (rs: SimResult[]) => new Set(rs.flatMap((r) => (r.violation ? [r.violation.kind] : [])));

  it('a beta that takes over without waiting for may-take-over (no fencing on its side): unfenced takeover', () => {
    const rs = fencedSeeds(80).map((seed) => runSeed(seed, { hooks: { fencing: (n, c) => (n === 'beta' ? undefined : c) } }));
    expect(rs.filter((r) => r.violation).length).toBeGreaterThan(15);
    for (const k of kindsOf(rs)) expect(['unfenced-takeover', 'split-brain']).toContain(k);
    expect(kindsOf(rs).has('unfenced-takeover')).toBe(true);
  });

  it('a device result the engine is lied to about (failed reported as ok): unfenced takeover', () => {
    const lie = (_n: string, ev: EngineEvent): EngineEvent => (ev.kind === 'fence-done' && !ev.ok ? { kind: 'fence-done', id: ev.id, ok: true } : ev);
    // 200 seeds: a failed fence is rare, and schedules shift with every rule change (120 caught 6, then 5; 200 catch 9).
    const rs = fencedSeeds(200).map((seed) => runSeed(seed, { hooks: { event: lie } }));
    expect(rs.filter((r) => r.violation).length).toBeGreaterThan(5);
    for (const k of kindsOf(rs)) expect(['unfenced-takeover', 'split-brain']).toContain(k);
  });

  it('without wait_for_all, a restarted node that cannot hear its peer fences it: fence loop', () => {
    const rs = fencedSeeds(80).map((seed) => runSeed(seed, { hooks: { fencing: (_n, c) => ({ ...c, waitForAll: false }) } }));
    expect(rs.filter((r) => r.violation).length).toBeGreaterThan(5);
    expect([...kindsOf(rs)]).toEqual(['fence-loop']);
  });

  it('without fence_delay, the standby may shoot the active node in a symmetric cut: fence race', () => {
    const rs = fencedSeeds(160).map((seed) => runSeed(seed, { hooks: { fencing: (_n, c) => ({ ...c, fenceDelayMs: 0 }) } }));
    expect(rs.filter((r) => r.violation).length).toBeGreaterThan(2);
    expect([...kindsOf(rs)]).toEqual(['fence-race']);
  });
});

describe('simulator: invariants on hand-built worlds', () => {
  class FakeNode implements CheckedNode {
    proc: Proc = 'up';
    paused = false;
    shuttingDown = false;
    world = new Map<string, boolean[]>([['g1', [false, false]]]);
    durableHeld = new Set<string>();
    lastStartFailed = new Map<string, boolean>();
    phases = new Map<string, GroupPhase>();
    constructor(readonly name: string) {}
    phase(g: string): GroupPhase | undefined {
      return this.phases.get(g);
    }
    hold(up: boolean[], phase: GroupPhase): void {
      this.world.set('g1', up);
      this.durableHeld.add('g1');
      this.phases.set('g1', phase);
    }
  }
  const healthy: Conditions = { perfectPath: true, netQuiet: true, opQuiet: true };
  const setup = (seed = 1) => {
    const a = new FakeNode('alpha');
    const b = new FakeNode('beta');
    const bounds = boundsFor(makeScenario(seed).params);
    return { a, b, bounds, c: new Checker([a, b], ['g1'], bounds) };
  };

  it('dual holding is allowed within the bound after reconnecting, and flagged after it', () => {
    const { a, b, bounds, c } = setup();
    a.hold([true, true], 'running');
    b.hold([true, false], 'stopping');
    c.update(1000, healthy);
    c.check(1000 + bounds.dualMs);
    expect(c.violation).toBeUndefined();
    c.check(1001 + bounds.dualMs);
    expect(c.violation?.kind).toBe('dual-hold');
  });

  it('dual holding while the pair cannot hear itself is allowed; a stop-failed group is exempt', () => {
    const { a, b, bounds, c } = setup();
    a.hold([true, true], 'running');
    b.hold([true, true], 'running');
    c.update(0, { ...healthy, perfectPath: false });
    c.check(10 * bounds.settleMs);
    expect(c.violation).toBeUndefined();
    b.phases.set('g1', 'stop-failed');
    c.update(10 * bounds.settleMs, healthy);
    c.check(20 * bounds.settleMs);
    expect(c.violation).toBeUndefined();
  });

  it('both engines claiming a group long after reconnecting is flagged', () => {
    const { a, b, bounds, c } = setup();
    a.phases.set('g1', 'running');
    b.phases.set('g1', 'starting');
    c.update(0, healthy);
    c.check(bounds.claimBothMs);
    expect(c.violation).toBeUndefined();
    c.check(bounds.claimBothMs + 1);
    expect(c.violation?.kind).toBe('dual-claim');
  });

  it('a resource up without a durable hold is flagged at once, even on a dead host', () => {
    const { a, c } = setup();
    a.proc = 'down';
    a.world.set('g1', [false, true]);
    c.update(0, healthy);
    c.check(0);
    expect(c.violation?.kind).toBe('durability');
  });

  it('liveness: after the settle bound exactly one host holds each group, unless its start failed on both', () => {
    const { a, b, bounds, c } = setup();
    c.update(0, healthy);
    c.check(bounds.settleMs);
    expect(c.violation).toBeUndefined();
    a.lastStartFailed.set('g1', true);
    b.lastStartFailed.set('g1', true);
    c.check(bounds.settleMs + 1);
    expect(c.violation).toBeUndefined();
    b.lastStartFailed.set('g1', false);
    c.check(bounds.settleMs + 2);
    expect(c.violation?.kind).toBe('liveness');
  });

  // Seed 10 has monitored resources. A service that dies is a fault of its
  // own: in a pair settled long ago, liveness waits killMs for the monitor
  // to notice and restart it or move the group (the 7 failures of the first
  // run with monitors: kills long after the heal, flagged at once).
  it('a monitored service that dies in a settled pair, or on a lone survivor, has killMs to be repaired', () => {
    const { a, b, bounds, c } = setup(10);
    expect(bounds.killMs).toBeGreaterThan(0);
    expect(boundsFor(makeScenario(10, { monitors: false }).params).killMs).toBe(0);
    a.hold([true, true], 'running');
    c.update(0, healthy);
    const t0 = bounds.settleMs + 1;
    c.check(t0);
    a.world.set('g1', [true, false]);
    c.onKill(t0);
    c.check(t0 + bounds.killMs);
    expect(c.violation).toBeUndefined();
    a.world.set('g1', [true, true]);
    c.check(t0 + bounds.killMs);
    expect(c.stats.killRepairs).toBe(1);
    a.world.set('g1', [true, false]);
    c.onKill(t0 + bounds.killMs);
    c.check(t0 + 2 * bounds.killMs + 1);
    expect(c.violation?.kind).toBe('liveness');

    const solo = setup(10);
    solo.b.proc = 'down';
    solo.a.hold([true, false], 'running');
    solo.c.update(0, healthy);
    solo.c.onKill(solo.bounds.soloMs);
    solo.c.check(solo.bounds.soloMs + solo.bounds.killMs);
    expect(solo.c.violation).toBeUndefined();
    solo.c.check(solo.bounds.soloMs + solo.bounds.killMs + 1);
    expect(solo.c.violation?.kind).toBe('solo-liveness');
  });

  it('solo liveness: a lone survivor must hold everything after its bound', () => {
    const { a, b, bounds, c } = setup();
    b.proc = 'down';
    c.update(0, healthy);
    a.hold([true, false], 'starting');
    c.check(bounds.soloMs);
    expect(c.violation).toBeUndefined();
    c.check(bounds.soloMs + 1);
    expect(c.violation?.kind).toBe('solo-liveness');
  });

  it('starting a group the peer holds on a long-healthy connection is flagged', () => {
    const { b, bounds, c } = setup();
    b.hold([true, true], 'running');
    c.update(0, healthy);
    c.onStarting(bounds.claimMs, 0, 'g1', 'stopped');
    expect(c.violation).toBeUndefined();
    c.onStarting(bounds.claimMs + 1, 0, 'g1', 'stopped');
    expect(c.violation?.kind).toBe('dual-start');
  });

  it('generations must rise across restarts and (generation, seq) across sends', () => {
    const { c } = setup();
    c.onBoot(0, 0, 10);
    c.onBoot(1, 0, 11);
    c.onSend(2, 0, 11, 1);
    c.onSend(3, 0, 11, 2);
    expect(c.violation).toBeUndefined();
    c.onSend(4, 0, 11, 2);
    expect(c.violation?.kind).toBe('sequence');
    const d = setup().c;
    d.onBoot(0, 1, 10);
    d.onBoot(1, 1, 10);
    expect(d.violation?.kind).toBe('generation');
  });

  it('with fencing, a group up on both hosts is a split brain at once, even while the pair cannot hear itself', () => {
    const { a, b, c } = setup();
    c.fencing = true;
    a.hold([true, true], 'running');
    b.hold([true, false], 'starting');
    c.update(0, { ...healthy, perfectPath: false });
    c.check(0);
    expect(c.violation?.kind).toBe('split-brain');
  });

  it('with fencing, a handover overlap decided while the peer was heard is bounded; strict mode flags it', () => {
    const mk = (strict: boolean) => {
      const { a, b, bounds, c } = setup();
      c.fencing = true;
      c.strictSplitBrain = strict;
      a.hold([true, false], 'stopping');
      b.hold([true, false], 'starting');
      (b as FakeNode & { claimedWithPeerUp?: (g: string) => boolean }).claimedWithPeerUp = () => true;
      c.update(0, healthy);
      return { bounds, c };
    };
    const { bounds, c } = mk(false);
    c.check(0);
    // The pair stops hearing itself (the yielding side froze): the handover bound still applies.
    c.update(1, { ...healthy, perfectPath: false });
    c.check(bounds.dualMs + bounds.claimMs + bounds.fenceMs);
    expect(c.violation).toBeUndefined();
    c.check(bounds.dualMs + bounds.claimMs + bounds.fenceMs + 1);
    expect(c.violation?.kind).toBe('split-brain');
    const strict = mk(true).c;
    strict.check(0);
    expect(strict.violation?.kind).toBe('split-brain');
  });

  it('fencing events: takeover without a confirmed off, a fence by a node that never heard its peer, the active node shot', () => {
    const { c } = setup();
    c.onTakeover(0, 1, 'g1', true);
    c.onFence(0, 0, true);
    c.onRace(0, 1, false, true, '');
    c.onRace(0, 1, true, false, '');   // the active node's own switch was faulty: allowed
    expect(c.violation).toBeUndefined();
    c.onTakeover(1, 1, 'g1', false);
    expect(c.violation?.kind).toBe('unfenced-takeover');
    const d = setup().c;
    d.onFence(0, 1, false);
    expect(d.violation?.kind).toBe('fence-loop');
    const e = setup().c;
    e.onRace(0, 1, true, true, '');
    expect(e.violation?.kind).toBe('fence-race');
    const f = setup().c;
    f.tightFenceDelay = true;
    f.onRace(0, 1, true, true, '');
    expect(f.violation).toBeUndefined();
  });

  it('a survivor held back by wait_for_all is exempt from solo liveness; with fencing its bound includes B_fence', () => {
    const { a, b, c } = setup();
    b.proc = 'down';
    (a as FakeNode & { fenceBlocked: boolean }).fenceBlocked = true;
    c.update(0, healthy);
    c.check(10 * c.bounds.soloMs);
    expect(c.violation).toBeUndefined();
    expect(c.stats.blockedSolo).toBeGreaterThan(0);
    const { fencing: _none, ...p } = makeScenario(1).params;
    const f = { deviceMs: [10, 100] as const, timeoutMs: 400, fenceDelayMs: 2000, tightDelay: false, retryMs: 500, retryMaxMs: 4000, checkIntervalMs: 0, offMs: [1, 2] as const };
    const withF = boundsFor({ ...p, fencing: f });
    expect(withF.fenceMs).toBe(2000 + 400 + 4000 + 100);
    expect(withF.soloMs).toBe(boundsFor(p).soloMs + withF.fenceMs);
  });
});

describe('simulator: regressions (bugs the simulator found)', () => {
  const cfg = (self: string): ResourcesConfig => ({
    self, autoFailback: 'off', stopRetries: 0, stopRetryDelayMs: 1000,
    groups: [{ name: 'g1', preferredNode: 'alpha', resourceCount: 4 }],
  });
  const ops = (acts: ResourcesAction[]) => acts.flatMap((a) => (a.kind === 'op' ? [`${a.op}${a.index}`] : []));

  // Seeds 94 and 331: a node restarted holding a group (recovering), resumed
  // it, and unwound only the resources this run had started; leftovers from
  // before the crash stayed up while the store was told "not held".
  it('seed 94: leftovers are stopped when a resumed group is given up', () => {
    const r = runSeed(94, asFound);
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  it('seed 331: leftovers are stopped when a resumed group fails to start', () => {
    const r = runSeed(331, asFound);
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  // Seed 55 (seen in its trace, not by an invariant): the daemon ticks twice
  // after 'released' so that st=dead is repeated, but the engine only sent on
  // the keepalive schedule, so those ticks sent nothing.
  it('seed 55: both shutdown ticks after a graceful release repeat st=dead', () => {
    const lines: string[] = [];
    runSeed(55, { ...asFound, verbose: (l) => lines.push(l) });
    const at = lines.findIndex((l) => /^\s*\d+ beta .*; released$/.test(l));
    expect(at).toBeGreaterThan(0);
    const after = lines.slice(at + 1).filter((l) => /^\s*\d+ beta {2}tick/.test(l)).slice(0, 2);
    expect(after).toHaveLength(2);
    for (const l of after) expect(l).toMatch(/send seq \d+ dead$/);
  });

  it('after releasing, every tick sends st=dead, not only the keepalive ones', () => {
    const e = initEngine(
      { self: 'alpha', peer: 'beta', paths: ['p'], keepaliveMs: 1000, warntimeMs: 2000, deadtimeMs: 3000, initdeadMs: 6000 },
      cfg('alpha'), 0, { held: new Set() },
    );
    engineStep(e, { kind: 'heard', path: 'p', src: 'beta', generation: 1, seq: 1, report: { status: 'active', hold: ['g1'], yielding: [], failed: [] } }, 0);
    expect(engineStep(e, { kind: 'shutdown' }, 10)).toContainEqual({ kind: 'released' });
    for (const t of [30, 50]) {
      const sends = engineStep(e, { kind: 'tick' }, t).flatMap((a) => (a.kind === 'send' ? [a.status.status] : []));
      expect(sends).toEqual(['dead']);
    }
  });

  it('a resumed group whose first start fails unwinds every resource, not just the first', () => {
    const s = initResources(cfg('alpha'), new Set(['g1']), 0);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 0))).toEqual(['start0']);
    const log = ops(resourcesStep(s, { kind: 'op-done', group: 'g1', op: 'start', index: 0, ok: false }, 1));
    for (const i of [3, 2, 1]) {
      log.push(...ops(resourcesStep(s, { kind: 'op-done', group: 'g1', op: 'stop', index: i, ok: true }, 2)));
    }
    expect(log).toEqual(['stop3', 'stop2', 'stop1', 'stop0']);
  });

  // Seeds 66880 (+16 like it) and 50123: split brain with fencing, from a
  // report the peer wrote before it heard this incarnation (a quick graceful
  // restart; a fencer paused across the peer's reboot). Fixed by starting an
  // unheld group only on a report that says it hears our generation.
  it('seeds 66880 and 50123: no takeover on a report written before the peer heard this incarnation', () => {
    for (const seed of [66880, 50123]) {
      const r = runSeed(seed, asFound);
      expect(r.violation, formatViolation(r)).toBeUndefined();
    }
  });

  // Seed 5402: heartbeats of the peer's old generation, delayed 5 s on a slow
  // path past its real restart, made the first version of the "generation
  // contradicted" rule go back to the old generation and refuse the real one:
  // a dual start. Going back now needs a message written after the switch.
  it('seed 5402: late heartbeats of the generation before a restart do not undo the restart', () => {
    const r = runSeed(5402, asFound);
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  // Seeds 300002332 and 300004786 (and six more of 300,000,001-300,020,000,
  // and 310008193, where the peer fell silent for want of confirming us),
  // found once wall-clock generations met the generation bound: a node whose
  // clock had jumped days ahead was dropped as a jump for good, and the peer
  // took its groups. A generation past the bound is now taken once it keeps
  // coming in order.
  it.each([300002332, 300003720, 300004786, 300006173, 300006950, 300012374, 300018094, 300018827, 310008193])(
    'seed %i: a peer generation past the bound that keeps coming is taken, not dropped for good', (seed) => {
      const r = runSeed(seed, asFound);
      expect(r.violation, formatViolation(r)).toBeUndefined();
    });

  // Found with fencing configured (strict split-brain): a node resumed a
  // group it held before a restart (recovering -> starting) while the peer,
  // which also held it, was still stopping its copy (seed 73), or still had
  // its own leftovers up (1607, 1954): both hosts ran it for a moment while
  // the pair heard itself. Seed 327 was fixed by the hears-this-incarnation
  // rule; these by the preferred node waiting, when neither side claims the
  // group, until the peer's report drops it (the strict violations of seeds
  // 1..2000 before that fix). Seed 84496 resumed on a report the peer sent,
  // over a slow path, before it took the group over: a remembered group is
  // resumed only on a report that names this generation.
  it('seed 73 and the other strict split-brain seeds: no resume while the peer may still run the group', () => {
    // 19016: a node resumed from a freeze took groups from its backlog of the
    // peer's reports while the peer started them again on a report from before
    // it read the drop: a dropped group is restarted only on a report that
    // acknowledges the drop (tg_hears_seq).
    for (const seed of [73, 313, 454, 686, 742, 1028, 1504, 1607, 1678, 1738, 1954, 84496, 19016]) {
      const strict = runSeed(seed, { ...asFound, strictSplitBrain: true });
      expect(strict.violation, formatViolation(strict)).toBeUndefined();
    }
    // The handover tolerance is gone by default (strict), and the relaxed checker still runs.
    expect(runSeed(19016, { ...asFound, strictSplitBrain: false }).violation).toBeUndefined();
    const r = runSeed(73, asFound);
    expect(makeScenario(73).params.fencing).toBeDefined();
    expect(r.violation, formatViolation(r)).toBeUndefined();
  });

  // Seed 42 (reported against src/config): fence_delay equal to the device
  // timeout, the least the configuration accepts, does not make the active
  // node win a symmetric cut: the nodes declare each other dead up to a
  // keepalive + one hop apart, so the standby's delay can run out first.
  it('seed 42: fence_delay = timeout loses the race for the active node; timeout + hear + hop wins it', () => {
    const tight = runSeed(42, {
      scenario: (x) => ({ ...x, params: { ...x.params, fencing: { ...x.params.fencing!, fenceDelayMs: x.params.fencing!.timeoutMs, tightDelay: false } } }),
    });
    expect(tight.violation?.kind).toBe('fence-race');
    const r = runSeed(42);
    expect(makeScenario(42).params.fencing).toBeDefined();
    expect(r.violation, formatViolation(r)).toBeUndefined();
    expect(r.stats.races).toBeGreaterThan(0);
  });

  it('a resumed group given up half way stops from the last resource', () => {
    const s = initResources(cfg('beta'), new Set(['g1']), 0);
    resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 0);
    resourcesStep(s, { kind: 'op-done', group: 'g1', op: 'start', index: 0, ok: true }, 1);
    // alpha comes back claiming the group: beta (not preferred) gives it up once start1 is done.
    resourcesStep(s, { kind: 'peer', liveness: 'up', report: { status: 'active', hold: ['g1'], yielding: [], failed: [] } }, 2);
    const acts = resourcesStep(s, { kind: 'op-done', group: 'g1', op: 'start', index: 1, ok: true }, 3);
    expect(ops(acts)).toEqual(['stop3']);
  });
});
