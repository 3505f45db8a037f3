// Operator commands in the simulator (tandem standby / takeover / cleanup,
// docs/operations.md): random schedules with them keep every invariant, and
// a hand-over that skips the releasing node's stop is caught.

import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../src/node/engine.js';
import { makeScenario } from '../../src/sim/scenario.js';
import { runSeed } from '../../src/sim/sim.js';

// A seed named for a bug it found replays the schedule it was found with:
// those were drawn before monitored resources were simulated (their own
// random stream; makeScenario's monitors option).
const asFound = { monitors: false } as const;

/** Seeds (from 900,000,000) whose schedule has operator commands. */
function operatorSeeds(count: number): number[] {
  const out: number[] = [];
  for (let s = 900_000_000; out.length < count; s++) {
    if (makeScenario(s).faults.some((f) => f.f.k === 'operator')) out.push(s);
  }
  return out;
}

describe('simulator: operator commands', () => {
  it('schedules with standby/takeover/cleanup keep every invariant, and the commands do move groups', () => {
    let moved = 0;
    for (const seed of operatorSeeds(300)) {
      let did = false;
      const r = runSeed(seed, { verbose: (l) => { if (/-> (standby|takeover) g/.test(l)) did = true; } });
      expect(r.violation, `seed ${seed}: ${r.violation?.message}`).toBeUndefined();
      if (did) moved += 1;
    }
    expect(moved).toBeGreaterThan(100);
  });

  it('seed 55836: ipfail does not take back a group handed over by standby while the peer may be starting it', () => {
    const r = runSeed(55836, asFound);
    expect(r.violation, r.violation?.message).toBeUndefined();
  });

  it('seed 770284871: a group an operator cleans up out of stop-failed is given its walk-down time (checker)', () => {
    const r = runSeed(770284871, asFound);
    expect(r.violation, r.violation?.message).toBeUndefined();
  });

  // A standby right after a takeover: each node counted the two hand-overs as
  // crossed, one on the other's report from before it read the standby, and
  // both started the groups on a healthy link.
  it.each([450121183, 450197239, 450401265, 450465822])('seed %i: a hand-over counts as crossed only on a report written after reading it', (seed) => {
    const r = runSeed(seed, asFound);
    expect(r.violation, r.violation?.message).toBeUndefined();
  });

  // Standby on both nodes a second apart over a lossy path: beta's request reached alpha 4.8 s late, after alpha's own
  // standby had handed the groups to beta, and alpha took them back while beta ran them (found in 483,030,001..483,040,000).
  it('seed 483037315: a hand-over request older than a heartbeat already heard from the peer is not acted on', () => {
    const r = runSeed(483037315, asFound);
    expect(r.violation, r.violation?.message).toBeUndefined();
  });

  it('planted: a beta that takes a handed-over group without waiting for alpha to stop it is caught', () => {
    // The broken rule: beta reads alpha's hand-over as if alpha no longer held the groups.
    const eager = (node: string, ev: EngineEvent): EngineEvent => {
      if (node !== 'beta' || ev.kind !== 'heard' || !ev.report.standby?.length) return ev;
      return { ...ev, report: { ...ev.report, hold: ev.report.hold.filter((g) => !ev.report.standby!.includes(g)) } };
    };
    const kinds = new Set<string>();
    for (const seed of operatorSeeds(300)) {
      const v = runSeed(seed, { hooks: { event: eager } }).violation;
      if (v) kinds.add(v.kind);
    }
    expect([...kinds].some((k) => ['dual-start', 'dual-claim', 'dual-hold', 'split-brain'].includes(k)), [...kinds].join(',')).toBe(true);
  });
});
