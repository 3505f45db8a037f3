// VRRP schedules in the simulator (src/sim/vrrp.ts, docs/simulation.md
// "VRRP schedules"): the daemon's VrrpRuntime on 2-3 simulated hosts keeps
// every invariant over a fixed range of seeds, the schedules cover what they
// claim to, and each planted defect is caught by the invariant meant for it.

import { describe, expect, it } from 'vitest';
import { makeVrrpScenario, runVrrpSeed, vrrpBounds, type VrrpBug, type VrrpScenario, type VrrpViolation } from '../../src/sim/vrrp.js';
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

  // Found by the first run with the guard as a lease per unit (seed 620000108):
  // three hosts of equal priority, nopreempt on the two with the higher
  // addresses; their timers ran out together and their claims silenced each
  // other every round, nobody ever MASTER. Pinned on a schedule of that shape
  // without faults; fails (one-master) without the fix in src/vrrp/instance.ts.
  it('the guard: equal claimers with nopreempt settle on one MASTER (a claimer ranks as a master, whatever its preemption settings)', () => {
    const calm = (sc: VrrpScenario): VrrpScenario => ({
      ...sc,
      params: {
        ...sc.params, nodes: 3,
        addresses: [{ v4: '10.9.0.1', v6: 'fe80::1' }, { v4: '10.9.0.2', v6: 'fe80::2' }, { v4: '10.9.0.3', v6: 'fe80::3' }],
        vrs: [{ name: 'VI_1', vrid: 51, version: 3, family: 4, unicast: false, intervalMs: 500, auth: { type: 'none' }, vips: ['192.0.2.1'] }],
        members: [false, true, true].map((nopreempt) => [{ priority: 100, nopreempt, preemptDelayMs: 0, initialState: 'BACKUP' as const }]),
        groups: [], horizonMs: 20_000,
        guard: { gapMs: 0, holdMinMs: 500, holdMaxMs: 2000, noticeMaxMs: 200 },
      },
      faults: [],
    });
    let grants = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = runVrrpSeed(seed, { scenario: calm });
      expect(r.violation, `seed ${seed}: ${r.violation?.kind}: ${r.violation?.message}\n${r.trace.join('\n')}`).toBeUndefined();
      grants += r.stats.guardHandovers;
    }
    expect(grants).toBeGreaterThan(20);
  });

  // Found by the 100,000-seed run from 640,000,001 (issue 14, the guard as a
  // lease per unit):
  //  - 640002218: a guarded sync group held the lease and went MASTER on one
  //    ready member while another member heard a claimer that outranked it;
  //    that member stepped down, the group followed, and the ready member
  //    took it up again, for ever, keeping the lease from the claimer
  //    (instance.ts followsBetterMaster: such a group neither joins nor
  //    wants the lease).
  //  - 640023386: the checker owed a takeover after a priority 0 that a
  //    host resumed by 'heal all' sent while its link was still down (the
  //    network counts as whole only once every link is up again).
  it.each([640002218, 640023386])('seed %i (found in a fresh range) keeps every invariant', (seed) => {
    const r = runVrrpSeed(seed);
    expect(r.violation, `seed ${seed}: ${r.violation?.kind}: ${r.violation?.message}\n${r.trace.slice(-40).join('\n')}`).toBeUndefined();
  });

  // Found by the 100,000-seed run (seed 600055282 of the build before the
  // fix): a backup whose transitions take up to 2 s (VIPs and notify script)
  // flapped with a 100 ms advert interval under loss, and the runtime queued
  // every transition: it held its VIPs for seconds after the machine had
  // settled in BACKUP. Pinned on a hand-built schedule of that shape: 90 %
  // loss from the master for 20 s. Fails (vip-holders) in 9 of these 20
  // seeds without the fix in src/vrrp/runtime.ts.
  it('flapping behind slow transitions: the VIPs follow the settled machine within the bound (runtime keeps only the newest waiting transition)', () => {
    const flaky = (sc: VrrpScenario): VrrpScenario => {
      const { guard: _none, ...rest } = sc.params;
      return {
        ...sc,
        params: {
          ...rest, nodes: 2, addresses: [{ v4: '10.9.0.1', v6: 'fe80::1' }, { v4: '10.9.0.2', v6: 'fe80::2' }],
          vrs: [{ name: 'VI_1', vrid: 51, version: 3, family: 4, unicast: false, intervalMs: 100, auth: { type: 'none' }, vips: ['192.0.2.1'] }],
          members: [[{ priority: 200, nopreempt: false, preemptDelayMs: 0, initialState: 'BACKUP' }], [{ priority: 100, nopreempt: false, preemptDelayMs: 0, initialState: 'BACKUP' }]],
          groups: [], opMaxMs: 2000, horizonMs: 30_000,
        },
        faults: [{ at: 3000, durMs: 20_000, f: { k: 'loss', nodes: [0], p: 0.9 } }],
      };
    };
    let masters = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = runVrrpSeed(seed, { scenario: flaky });
      expect(r.violation, `seed ${seed}: ${r.violation?.kind}: ${r.violation?.message}`).toBeUndefined();
      masters += r.stats.masters;
    }
    expect(masters).toBeGreaterThan(100);   // it did flap
  });
});
