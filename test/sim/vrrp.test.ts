// VRRP schedules in the simulator (src/sim/vrrp.ts, docs/simulation.md
// "VRRP schedules"): the daemon's VrrpRuntime on 2-3 simulated hosts keeps
// every invariant over a fixed range of seeds, the schedules cover what they
// claim to, and each planted defect is caught by the invariant meant for it.

import { describe, expect, it } from 'vitest';
import { makeVrrpScenario, runVrrpSeed, vrrpBounds, type VrrpBug, type VrrpViolation } from '../../src/sim/vrrp.js';
import { masterDownIntervalMs } from '../../src/vrrp/instance.js';

const FROM = 700_000_001;
const SEEDS = 500;

describe('simulator: VRRP schedules', () => {
  it(`seeds ${FROM}..${FROM + SEEDS - 1} keep every invariant, and the checks really ran`, () => {
    let settled = 0; let p0 = 0; let masters = 0; let guardHandovers = 0; let adverts = 0;
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      const r = runVrrpSeed(seed);
      expect(r.violation, `seed ${seed}: ${r.violation?.kind}: ${r.violation?.message}\n${r.trace.join('\n')}`).toBeUndefined();
      settled += r.stats.settledSteps;
      p0 += r.stats.priority0Checks - r.stats.priority0Reordered;
      masters += r.stats.masters;
      guardHandovers += r.stats.guardHandovers;
      adverts += r.stats.adverts;
    }
    expect(settled).toBeGreaterThan(50_000);
    expect(p0).toBeGreaterThan(60);
    expect(masters).toBeGreaterThan(SEEDS * 3);
    expect(guardHandovers).toBeGreaterThan(300);
    expect(adverts).toBeGreaterThan(50_000);
  });

  it('the schedules cover v2 and v3, IPv4 and IPv6, multicast and unicast, sync groups, preemption settings, ties, the guard and every fault', () => {
    const seen = new Set<string>();
    for (let seed = FROM; seed < FROM + 300; seed++) {
      const sc = makeVrrpScenario(seed);
      const p = sc.params;
      seen.add(`nodes:${p.nodes}`);
      seen.add(`vrs:${p.vrs.length}`);
      for (const vr of p.vrs) {
        seen.add(`v${vr.version}/ipv${vr.family}/${vr.unicast ? 'unicast' : 'multicast'}`);
        if (vr.auth.type === 'pass') seen.add('auth');
      }
      if (p.groups.length) seen.add(`group:${p.groups[0]!.length}`);
      if (p.guard) seen.add('guard');
      for (const m of p.members.flat()) {
        if (m.nopreempt) seen.add('nopreempt');
        if (m.preemptDelayMs > 0) seen.add('preempt_delay');
        if (m.priority === 255) seen.add('owner');
      }
      for (let r = 0; r < p.vrs.length; r++) {
        const prios = p.members.map((m) => m[r]!.priority);
        if (new Set(prios).size < prios.length) seen.add('tie');
      }
      if (p.members.flat().some((m) => m.intervalMs !== undefined)) seen.add('v3 intervals differ');
      for (const f of sc.faults) seen.add(`fault:${f.f.k}`);
      // The bound is derived from the timers: never below one Master_Down_Interval of any instance.
      const b = vrrpBounds(p);
      for (let r = 0; r < p.vrs.length; r++) {
        for (const m of p.members) expect(b.settle).toBeGreaterThan(masterDownIntervalMs(p.vrs[r]!.version, m[r]!.priority, p.vrs[r]!.intervalMs));
      }
    }
    for (const k of [
      'nodes:2', 'nodes:3', 'vrs:1', 'vrs:2', 'vrs:3', 'v2/ipv4/multicast', 'v2/ipv4/unicast', 'v3/ipv4/multicast', 'v3/ipv4/unicast',
      'v3/ipv6/multicast', 'v3/ipv6/unicast', 'auth', 'group:2', 'group:3', 'guard', 'nopreempt', 'preempt_delay', 'owner', 'tie', 'v3 intervals differ',
      'fault:cut', 'fault:loss', 'fault:slow', 'fault:dup', 'fault:link', 'fault:kill', 'fault:power', 'fault:pause', 'fault:stop',
    ]) expect(seen, k).toContain(k);
  });

  // Each planted defect, over 200 seeds: caught, and by its own invariant.
  const planted: Array<[VrrpBug, VrrpViolation['kind'], string]> = [
    ['no-tie-break', 'one-master', 'a MASTER ignores an advert of its own priority: the lower address never yields'],
    ['ignore-priority-0', 'priority-0', "a BACKUP drops the leaving master's priority-0 advert and waits out Master_Down_Interval"],
    ['keep-vips', 'vip-holders', 'VIPs stay up when an instance leaves MASTER'],
    ['ignore-guard', 'guard', "the guard's refusal never reaches the instances"],
  ];
  for (const [bug, kind, what] of planted) {
    it(`planted bug ${bug} (${what}) is caught as ${kind}`, () => {
      let caught = 0;
      for (let seed = 1; seed <= 200; seed++) {
        const r = runVrrpSeed(seed, { bug });
        if (!r.violation) continue;
        expect(r.violation.kind, `seed ${seed}: ${r.violation.message}`).toBe(kind);
        caught += 1;
      }
      expect(caught).toBeGreaterThanOrEqual(5);
    });
  }
});
