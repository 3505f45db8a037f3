// The VRRP instance machine (src/vrrp/instance.ts): every transition and
// timer with exact times. Priority 100 with a 1 s interval gives Skew_Time
// 156/256 s = 609.375 ms and Master_Down_Interval 3609.375 ms, exact in
// binary floating point, so times compare with toBe.

import { describe, expect, it } from 'vitest';
import { Driver, type Clock, type Timer } from '../../src/runtime/driver.js';
import {
  DEFAULT_GARP, INSTANCE_MACHINE, initInstance, instanceConfigProblems, instanceDeadline, instanceStep, masterDownIntervalMs,
  instanceView, PACKET_LOG_INTERVAL_MS, readyForMaster, skewTimeMs,
  type InstanceConfig, type InstanceEffect, type InstanceEvent, type InstanceState,
} from '../../src/vrrp/instance.js';

const base: InstanceConfig = {
  name: 'VI_1', vrid: 51, priority: 100, version: 3, advertIntervalMs: 1000, nopreempt: false, preemptDelayMs: 0,
  initialState: 'BACKUP', primaryAddress: '10.78.0.2', garp: DEFAULT_GARP, guarded: false,
};
const cfg = (over: Partial<InstanceConfig> = {}): InstanceConfig => ({ ...base, ...over });

const MDI = 3609.375;      // prio 100, 1 s
const SKEW = 609.375;

/** Effects without log lines, as short strings. */
function brief(effects: InstanceEffect[]): string[] {
  return effects.filter((e) => e.kind !== 'log').map((e) => {
    switch (e.kind) {
      case 'send-advert': return `advert ${e.priority}`;
      case 'announce': return `announce ${e.round} x${e.repeat}`;
      default: return `${e.kind} from ${e.from}`;
    }
  });
}
const logs = (effects: InstanceEffect[]) => effects.filter((e) => e.kind === 'log').map((e) => (e as { message: string }).message);

const advert = (priority: number, src = '10.78.0.1', advertIntervalMs = 1000): InstanceEvent => ({ kind: 'advert-received', priority, src, advertIntervalMs });
const tick: InstanceEvent = { kind: 'tick' };

function started(over: Partial<InstanceConfig> = {}, at = 0): InstanceState {
  const s = initInstance(cfg(over), at);
  instanceStep(s, { kind: 'start' }, at);
  return s;
}

/** Ticks at each deadline up to `until`; returns [time, effect] pairs. */
function runUntil(s: InstanceState, until: number): Array<[number, string]> {
  const seen: Array<[number, string]> = [];
  for (let i = 0; i < 10_000; i++) {
    const d = instanceDeadline(s);
    if (!(d <= until)) break;
    for (const e of brief(instanceStep(s, tick, d))) seen.push([d, e]);
  }
  return seen;
}

function master(over: Partial<InstanceConfig> = {}): InstanceState {
  const s = started(over);
  instanceStep(s, tick, instanceDeadline(s));
  expect(s.state).toBe('MASTER');
  return s;
}

describe('VRRP timers (RFC 5798 §6.1, RFC 3768)', () => {
  it('Skew_Time and Master_Down_Interval match keepalived (vrrp.h) at the measured settings', () => {
    expect(skewTimeMs(2, 100, 1000)).toBe(609.375);            // keepalived.md: 609 ms
    expect(masterDownIntervalMs(2, 100, 1000)).toBe(3609.375);  // 3.609 s
    expect(skewTimeMs(2, 100, 3000)).toBe(609.375);            // v2 skew ignores the interval
    expect(skewTimeMs(3, 100, 100)).toBe(60.9375);              // 61 ms
    expect(masterDownIntervalMs(3, 100, 100)).toBe(360.9375);   // 360.9 ms
    expect(masterDownIntervalMs(3, 100, 50)).toBe(180.46875);   // 180.5 ms
    expect(masterDownIntervalMs(3, 100, 10)).toBe(36.09375);    // 36.1 ms
    expect(skewTimeMs(3, 255, 1000)).toBe(3.90625);
  });
});

describe('the arrival stamp of an advert', () => {
  it('Master_Down (and Skew_Time after priority 0) counts from when the advert arrived, not when it was read', () => {
    const s = started();
    instanceStep(s, { ...advert(150), at: 999.25 } as InstanceEvent, 1000);
    expect(instanceDeadline(s)).toBe(999.25 + MDI);
    instanceStep(s, { ...advert(0), at: 1999.5 } as InstanceEvent, 2000);
    expect(instanceDeadline(s)).toBe(1999.5 + SKEW);
    // A stamp from the future (a confused clock) counts as now.
    instanceStep(s, { ...advert(150), at: 3001 } as InstanceEvent, 3000);
    expect(instanceDeadline(s)).toBe(3000 + MDI);
  });
});

describe('start', () => {
  it('BACKUP at start (notify backup, as keepalived), MASTER after Master_Down_Interval of silence', () => {
    const s = initInstance(cfg(), 0);
    expect(s.state).toBe('INIT');
    expect(instanceDeadline(s)).toBe(Infinity);
    expect(brief(instanceStep(s, { kind: 'start' }, 0))).toEqual(['become-backup from INIT']);
    expect(instanceDeadline(s)).toBe(MDI);
    expect(brief(instanceStep(s, tick, MDI - 0.001))).toEqual([]);
    expect(brief(instanceStep(s, tick, MDI))).toEqual(['become-master from BACKUP', 'advert 100', 'announce master x5']);
    expect(s.state).toBe('MASTER');
  });

  it('the address owner (255) is MASTER at once, with state MASTER or with preemption on', () => {
    for (const over of [{ initialState: 'MASTER' as const }, { initialState: 'BACKUP' as const }, { initialState: 'MASTER' as const, nopreempt: true }]) {
      const s = initInstance(cfg({ priority: 255, ...over }), 0);
      expect(brief(instanceStep(s, { kind: 'start' }, 0))).toEqual(['become-master from INIT', 'advert 255', 'announce master x5']);
    }
  });

  it('state BACKUP + nopreempt keeps even the owner waiting; state MASTER below 255 is only a hint', () => {
    const owner = initInstance(cfg({ priority: 255, nopreempt: true }), 0);
    expect(brief(instanceStep(owner, { kind: 'start' }, 0))).toEqual(['become-backup from INIT']);
    expect(instanceDeadline(owner)).toBe(3000 + skewTimeMs(3, 255, 1000));
    const hint = initInstance(cfg({ initialState: 'MASTER', priority: 150 }), 0);
    expect(brief(instanceStep(hint, { kind: 'start' }, 0))).toEqual(['become-backup from INIT']);
    expect(instanceDeadline(hint)).toBe(3000 + 414.0625);
  });

  it('a fault present at start gives FAULT; a second start is ignored', () => {
    const s = initInstance(cfg(), 0);
    instanceStep(s, { kind: 'fault', source: 'link eth0', reason: 'carrier down' }, 0);
    const fx = instanceStep(s, { kind: 'start' }, 5);
    expect(brief(fx)).toEqual(['become-fault from INIT']);
    expect(fx[0]).toMatchObject({ reason: 'link eth0: carrier down' });
    expect(brief(instanceStep(s, { kind: 'start' }, 6))).toEqual([]);
  });
});

describe('BACKUP', () => {
  it('an advert of higher or equal priority restarts Master_Down_Timer', () => {
    const s = started();
    instanceStep(s, advert(150), 1000);
    expect(instanceDeadline(s)).toBe(1000 + MDI);
    instanceStep(s, advert(100), 2000);
    expect(instanceDeadline(s)).toBe(2000 + MDI);
    expect(s.master).toEqual({ address: '10.78.0.1', priority: 100, at: 2000 });
    expect(instanceStep(s, tick, 2000 + MDI)[0]).toMatchObject({ kind: 'become-master', reason: "no advert after 10.78.0.1's for 3609.375 ms" });
  });

  it('v3 takes the master\'s interval for its timers (Master_Adver_Interval)', () => {
    const s = started();
    instanceStep(s, advert(150, '10.78.0.1', 100), 1000);
    expect(s.masterAdverIntervalMs).toBe(100);
    expect(instanceDeadline(s)).toBe(1000 + 360.9375);
    // Back to its own interval when it becomes MASTER, and when it starts over.
    expect(brief(instanceStep(s, tick, 1360.9375))).toContain('become-master from BACKUP');
    expect(instanceDeadline(s)).toBe(1360.9375 + 1000);
  });

  it('v2 drops an advert whose interval differs from ours, and says so at most once per 10 s', () => {
    const s = started({ version: 2 });
    const a = instanceStep(s, advert(150, '10.78.0.1', 2000), 1000);
    expect(instanceDeadline(s)).toBe(MDI);          // not restarted
    expect(s.stats.dropped.intervalMismatch).toBe(1);
    expect(logs(a)).toEqual(['VI_1: advert from 10.78.0.1 says interval 2000 ms, ours is 1000 ms: dropped']);
    expect(logs(instanceStep(s, advert(150, '10.78.0.1', 2000), 2000))).toEqual([]);
    expect(logs(instanceStep(s, advert(150, '10.78.0.1', 2000), 1000 + PACKET_LOG_INTERVAL_MS))[0]).toMatch(/\(1 similar suppressed\)$/);
    expect(s.stats.dropped.intervalMismatch).toBe(3);
    // The same interval is taken.
    instanceStep(s, advert(150), 12_000);
    expect(instanceDeadline(s)).toBe(12_000 + MDI);
  });

  it('priority 0 (the master is leaving) sets the timer to Skew_Time', () => {
    const s = started();
    instanceStep(s, advert(150), 1000);
    instanceStep(s, advert(0), 1500);
    expect(instanceDeadline(s)).toBe(1500 + SKEW);
    const fx = instanceStep(s, tick, 1500 + SKEW);
    expect(brief(fx)).toEqual(['become-master from BACKUP', 'advert 100', 'announce master x5']);
    expect(fx.find((e) => e.kind === 'become-master')).toMatchObject({ reason: 'master 10.78.0.1 left (priority 0), and none took over within Skew_Time (609.375 ms)' });
  });

  it('preemption: a lower-priority advert is discarded, so the timer runs out from the last accepted one', () => {
    const s = started({ priority: 150 });
    const MDI150 = 3000 + 414.0625;
    instanceStep(s, advert(200), 500);
    const fx = instanceStep(s, advert(100), 1500);   // the master's priority fell (a track_script)
    expect(logs(fx)).toEqual(['VI_1: lower priority (100) advert from 10.78.0.1 discarded: taking over (priority 150)']);
    instanceStep(s, advert(100), 2500);
    expect(instanceDeadline(s)).toBe(500 + MDI150);
    expect(s.stats.preempting).toBe(2);
    expect(runUntil(s, 500 + MDI150)).toEqual([[500 + MDI150, 'become-master from BACKUP'], [500 + MDI150, 'advert 150'], [500 + MDI150, 'announce master x5']]);
  });

  it('nopreempt: a lower-priority master is left alone', () => {
    const s = started({ priority: 150, nopreempt: true });
    instanceStep(s, advert(100), 1500);
    expect(instanceDeadline(s)).toBe(1500 + 3414.0625);
    expect(s.stats.preempting).toBe(0);
  });

  it('preempt_delay: lower adverts count as a master until the delay has passed since start (or since the first one)', () => {
    const s = started({ priority: 150, preemptDelayMs: 2000 });
    const MDI150 = 3414.0625;
    instanceStep(s, advert(100), 100);
    instanceStep(s, advert(100), 1100);
    expect(instanceDeadline(s)).toBe(1100 + MDI150);
    instanceStep(s, advert(100), 2100);          // delay over (start + 2000): discarded
    expect(instanceDeadline(s)).toBe(1100 + MDI150);
    expect(runUntil(s, 1100 + MDI150).map(([, e]) => e)).toContain('become-master from BACKUP');

    // A higher advert resets it; the next lower one starts a new delay from there.
    const t = started({ priority: 150, preemptDelayMs: 2000 });
    instanceStep(t, advert(200), 3000);
    expect(t.preemptAt).toBeUndefined();
    instanceStep(t, advert(100), 4000);
    expect(t.preemptAt).toBe(6000);
    instanceStep(t, advert(100), 5999);
    expect(instanceDeadline(t)).toBe(5999 + MDI150);
    instanceStep(t, advert(100), 6000);
    expect(instanceDeadline(t)).toBe(5999 + MDI150);
  });
});

describe('MASTER', () => {
  it('sends adverts on an anchored schedule: a late tick does not push the next one back', () => {
    const s = master();
    expect(instanceDeadline(s)).toBe(MDI + 1000);
    expect(brief(instanceStep(s, tick, MDI + 1000 + 40))).toEqual(['advert 100']);
    expect(instanceDeadline(s)).toBe(MDI + 2000);
    // After a stall longer than an interval, from now.
    expect(brief(instanceStep(s, tick, MDI + 4500))).toEqual(['advert 100']);
    expect(s.adverAt).toBe(MDI + 5500);
    expect(instanceDeadline(s)).toBe(MDI + 5000);   // the second announcement round comes first
  });

  it('announces again garp_master_delay after becoming MASTER, and every garp_master_refresh', () => {
    const s = master({ garp: { masterDelayMs: 5000, masterRepeat: 5, masterRefreshMs: 2500, masterRefreshRepeat: 1 } });
    const seen = runUntil(s, MDI + 5000).filter(([, e]) => e.startsWith('announce'));
    expect(seen).toEqual([[MDI + 2500, 'announce refresh x1'], [MDI + 5000, 'announce master-delay x5'], [MDI + 5000, 'announce refresh x1']]);
    // None of that once it has left MASTER.
    instanceStep(s, advert(200), MDI + 5100);
    expect(runUntil(s, MDI + 7600).filter(([, e]) => e.startsWith('announce'))).toEqual([]);
  });

  it('a higher-priority advert: one advert of ours (the winner learns of the conflict), then BACKUP', () => {
    const s = master();
    const fx = instanceStep(s, advert(150, '10.78.0.1', 100), 5000);
    expect(brief(fx)).toEqual(['advert 100', 'become-backup from MASTER']);
    expect(fx[1]).toMatchObject({ reason: 'advert from 10.78.0.1 with higher priority (150 > 100)' });
    expect(instanceDeadline(s)).toBe(5000 + 360.9375);    // v3: the winner's interval
  });

  it('equal priority: the higher primary address wins (unsigned, network order)', () => {
    const lose = master();                                   // 10.78.0.2
    expect(brief(instanceStep(lose, advert(100, '10.78.0.10'), 5000))).toEqual(['advert 100', 'become-backup from MASTER']);
    const win = master();
    const fx = instanceStep(win, advert(100, '10.78.0.1'), 5000);
    expect(brief(fx)).toEqual(['advert 100', 'announce conflict x5']);
    expect(win.state).toBe('MASTER');
    // 10.78.0.2 vs 9.255.255.255: bytes, not text.
    expect(brief(instanceStep(master(), advert(100, '9.255.255.255'), 5000))).toEqual(['advert 100', 'announce conflict x5']);
    // Two owners: warned about, and the tie-break decides.
    const owner = started({ priority: 255 });
    const fx2 = instanceStep(owner, advert(255, '10.78.0.9'), 100);
    expect(brief(fx2)).toEqual(['advert 255', 'become-backup from MASTER']);
    expect(logs(fx2)).toEqual(['VI_1: 10.78.0.9 also claims to own the addresses (priority 255): two owners of VRID 51, check the configuration']);
    const v6 = master({ primaryAddress: 'fe80::2' });
    expect(brief(instanceStep(v6, advert(100, 'fe80::10'), 5000))).toEqual(['advert 100', 'become-backup from MASTER']);
  });

  it('another master it outranks (a healed partition): answers at once and re-announces, bounded', () => {
    const s = master();
    const t0 = MDI + 300;
    const fx = instanceStep(s, advert(50), t0);
    expect(brief(fx)).toEqual(['advert 100', 'announce conflict x5']);
    expect(logs(fx)).toEqual(['VI_1: another master 10.78.0.1 (priority 50) heard while MASTER (priority 100): re-asserting']);
    expect(instanceDeadline(s)).toBe(t0 + 1000);             // the schedule restarts from the answer
    // A flood of them: at most one answer per interval, one re-announcement per Master_Down_Interval.
    expect(brief(instanceStep(s, advert(50), t0 + 500))).toEqual([]);
    expect(brief(instanceStep(s, advert(50), t0 + 1000))).toEqual(['advert 100']);
    expect(brief(instanceStep(s, advert(50), t0 + MDI))).toEqual(['advert 100', 'announce conflict x5']);
    expect(s.stats.conflicts).toBe(4);
  });

  it('vrrp_strict (keepalived strict mode): yields without an advert, discards a lower master without answering or re-announcing', () => {
    const lose = master({ strict: true });
    const fx = instanceStep(lose, advert(150), 5000);
    expect(brief(fx)).toEqual(['become-backup from MASTER']);
    const win = master({ strict: true });
    const t0 = MDI + 300;
    const fx2 = instanceStep(win, advert(50), t0);
    expect(brief(fx2)).toEqual([]);
    expect(logs(fx2)).toEqual(['VI_1: another master 10.78.0.1 (priority 50) heard while MASTER (priority 100): discarded (vrrp_strict)']);
    expect(win.state).toBe('MASTER');
    // Its own schedule is untouched: the next advert makes the other yield.
    expect(instanceDeadline(win)).toBe(MDI + 1000);
    expect(win.stats.conflicts).toBe(1);
  });

  it('priority 0 from another: answers with an advert at once', () => {
    const s = master();
    expect(brief(instanceStep(s, advert(0), MDI + 300))).toEqual(['advert 100']);
    expect(instanceDeadline(s)).toBe(MDI + 1300);
  });
});

describe('FAULT', () => {
  it('BACKUP -> FAULT; MASTER -> FAULT with a priority-0 advert first; adverts ignored; back when every source clears', () => {
    const s = master();
    const fx = instanceStep(s, { kind: 'fault', source: 'track_script chk', reason: 'exit 1' }, 5000);
    expect(brief(fx)).toEqual(['advert 0', 'become-fault from MASTER']);
    expect(instanceDeadline(s)).toBe(Infinity);
    instanceStep(s, { kind: 'fault', source: 'link eth0', reason: 'carrier down' }, 5100);
    expect(brief(instanceStep(s, advert(150), 5200))).toEqual([]);
    expect(s.stats.dropped.notRunning).toBe(1);
    expect(brief(instanceStep(s, { kind: 'fault-cleared', source: 'link eth0' }, 6000))).toEqual([]);
    expect(s.state).toBe('FAULT');
    const back = instanceStep(s, { kind: 'fault-cleared', source: 'track_script chk', reason: 'exit 0' }, 7000);
    expect(brief(back)).toEqual(['become-backup from FAULT']);
    expect(back[0]).toMatchObject({ reason: 'track_script chk recovered: exit 0' });
    expect(instanceDeadline(s)).toBe(7000 + MDI);

    const b = started();
    expect(brief(instanceStep(b, { kind: 'fault', source: 'link eth0', reason: 'down' }, 10))).toEqual(['become-fault from BACKUP']);
    expect(brief(instanceStep(b, { kind: 'fault-cleared', source: 'unknown' }, 11))).toEqual([]);
  });

  it('the owner leaves FAULT straight to MASTER', () => {
    const s = started({ priority: 255 });
    instanceStep(s, { kind: 'fault', source: 'link eth0', reason: 'down' }, 100);
    expect(brief(instanceStep(s, { kind: 'fault-cleared', source: 'link eth0' }, 200))).toEqual(['become-master from FAULT', 'advert 255', 'announce master x5']);
  });
});

describe('tracking weights', () => {
  it('effective priority = base + weights, in 1..254; the owner stays 255; adverts and Skew_Time use it', () => {
    const s = master();
    instanceStep(s, { kind: 'priority-changed', weight: -60, reason: 'chk failed' }, MDI + 10);
    expect(s.priority).toBe(40);
    expect(brief(instanceStep(s, tick, MDI + 1000))).toEqual(['advert 40']);
    instanceStep(s, { kind: 'priority-changed', weight: -500, reason: 'x' }, MDI + 1100);
    expect(s.priority).toBe(1);
    instanceStep(s, { kind: 'priority-changed', weight: 500, reason: 'x' }, MDI + 1200);
    expect(s.priority).toBe(254);
    const owner = started({ priority: 255 });
    instanceStep(owner, { kind: 'priority-changed', weight: -100, reason: 'x' }, 1);
    expect(owner.priority).toBe(255);

    const b = started();
    instanceStep(b, { kind: 'priority-changed', weight: 50, reason: 'chk ok' }, 0);
    instanceStep(b, advert(200), 1000);
    expect(instanceDeadline(b)).toBe(1000 + 3000 + (256 - 150) * 1000 / 256);
  });
});

describe('the split-brain guard (may-be-master)', () => {
  it('while not allowed the timer runs out but the instance stays BACKUP, logging why once, and claims; MASTER once allowed', () => {
    const s = started({ guarded: true });
    const fx = instanceStep(s, tick, MDI);
    // A claim: an advert at its priority, without the VIPs (no transition).
    expect(brief(fx)).toEqual(['advert 100']);
    expect(logs(fx)).toEqual(['VI_1: would become MASTER (no advert for 3609.375 ms) but stays BACKUP: guard: the guard has not answered yet']);
    expect(s.state).toBe('BACKUP');
    expect(instanceView(s, MDI)).toMatchObject({ held: true, claiming: true });
    expect(readyForMaster(s, MDI)).toBe(false);   // the guard, not a sync group, holds it
    // Claims every advert interval, as a master would advertise.
    expect(runUntil(s, MDI + 2000)).toEqual([[MDI + 1000, 'advert 100'], [MDI + 2000, 'advert 100']]);
    expect(s.stats.claims).toBe(3);
    const ok = instanceStep(s, { kind: 'may-be-master', allowed: true, reason: 'arbiter lease held' }, 9000);
    expect(brief(ok)).toEqual(['become-master from BACKUP', 'advert 100', 'announce master x5']);
  });

  it('a claimer ranks as a master does: only a higher priority, or the same from a higher address, silences it', () => {
    const claimer = (over: Partial<InstanceConfig> = {}) => {
      const s = started({ guarded: true, primaryAddress: '10.78.0.5', ...over });
      instanceStep(s, tick, MDI);
      expect(instanceView(s, MDI).claiming).toBe(true);
      return s;
    };
    const lowerAddr = claimer();
    instanceStep(lowerAddr, advert(100, '10.78.0.1'), 4000);
    expect(lowerAddr.held).toBe(true);   // same priority, lower address: it outranks the sender
    expect(brief(instanceStep(lowerAddr, tick, MDI + 1000))).toEqual(['advert 100']);
    const lowerPrio = claimer();
    instanceStep(lowerPrio, advert(90, '10.78.0.9'), 4000);
    expect(lowerPrio.held).toBe(true);
    const higherAddr = claimer();
    instanceStep(higherAddr, advert(100, '10.78.0.9'), 4000);
    expect(higherAddr.held).toBe(false);
    expect(instanceDeadline(higherAddr)).toBe(4000 + MDI);
    const higherPrio = claimer();
    instanceStep(higherPrio, advert(101, '10.78.0.1'), 4000);
    expect(higherPrio.held).toBe(false);
  });

  // Found by the simulator (seed 620000108): three hosts of equal priority, two
  // of them nopreempt, timed out together; each claim silenced a nopreempt
  // claimer as if it were a master to spare, the others were outranked by the
  // higher addresses, and the round repeated every Master_Down_Interval with
  // nobody ever MASTER. Without the guard the timer would have made it MASTER,
  // where nopreempt and preempt_delay no longer apply; a claimer is that master.
  it('nopreempt and preempt_delay do not silence a claimer: it claimed as a master would be MASTER', () => {
    const claimer = (over: Partial<InstanceConfig>) => {
      const s = started({ guarded: true, primaryAddress: '10.78.0.5', ...over });
      instanceStep(s, tick, MDI);
      expect(instanceView(s, MDI).claiming).toBe(true);
      return s;
    };
    for (const over of [{ nopreempt: true }, { preemptDelayMs: 3000 }]) {
      const tie = claimer(over);
      instanceStep(tie, advert(100, '10.78.0.1'), 4000);   // another claimer: same priority, lower address
      expect(tie.held, JSON.stringify(over)).toBe(true);
      expect(brief(instanceStep(tie, tick, MDI + 1000))).toEqual(['advert 100']);
      const lower = claimer(over);
      instanceStep(lower, advert(50, '10.78.0.1'), 4000);
      expect(lower.held, JSON.stringify(over)).toBe(true);
      // A higher one still silences it.
      const higher = claimer(over);
      instanceStep(higher, advert(101, '10.78.0.1'), 4000);
      expect(higher.held, JSON.stringify(over)).toBe(false);
    }
    // A nopreempt BACKUP that hears a lower master still never claims against it.
    const calm = started({ guarded: true, nopreempt: true });
    instanceStep(calm, advert(50, '10.78.0.1'), 1000);
    expect(instanceDeadline(calm)).toBe(1000 + MDI);
  });

  it('a MASTER that hears a claim it does not outrank steps down: preemption under the guard', () => {
    const s = started({ guarded: true });
    instanceStep(s, { kind: 'may-be-master', allowed: true, reason: 'lease' }, 0);
    instanceStep(s, tick, MDI);
    expect(s.state).toBe('MASTER');
    expect(brief(instanceStep(s, advert(200, '10.78.0.1'), 5000))).toEqual(['advert 100', 'become-backup from MASTER']);
  });

  it('a claim held only by the sync gate is not sent: a member waiting for its group does not push the peer out', () => {
    const s = initInstance(cfg(), 0, { syncGroup: 'G' });
    instanceStep(s, { kind: 'start' }, 0);
    expect(brief(instanceStep(s, tick, MDI))).toEqual([]);
    expect(instanceView(s, MDI)).toMatchObject({ held: true, claiming: false });
    expect(instanceDeadline(s)).toBe(Infinity);
  });

  it('an advert while held restarts the timer: a master was heard after all', () => {
    const s = started({ guarded: true });
    instanceStep(s, tick, MDI);
    instanceStep(s, advert(150), 4000);
    expect(s.held).toBe(false);
    expect(brief(instanceStep(s, { kind: 'may-be-master', allowed: true, reason: 'lease' }, 4001))).toEqual([]);
    expect(instanceDeadline(s)).toBe(4000 + MDI);
  });

  it('a MASTER that loses it steps down at once: priority-0 advert first, then BACKUP', () => {
    const s = started({ guarded: true });
    instanceStep(s, { kind: 'may-be-master', allowed: true, reason: 'lease' }, 0);
    instanceStep(s, tick, MDI);
    const fx = instanceStep(s, { kind: 'may-be-master', allowed: false, reason: 'arbiter lease lost' }, 8000);
    expect(brief(fx)).toEqual(['advert 0', 'become-backup from MASTER']);
    expect(fx.find((e) => e.kind === 'become-backup')).toMatchObject({ reason: 'guard: arbiter lease lost' });
    // It stays BACKUP while forbidden, whatever it hears; it only claims.
    expect(brief(instanceStep(s, advert(0), 8100))).toEqual([]);
    expect(brief(instanceStep(s, tick, 8100 + SKEW))).toEqual(['advert 100']);
    expect(s.state).toBe('BACKUP');
  });

  it('the owner under a guard waits for it too', () => {
    const s = initInstance(cfg({ priority: 255, guarded: true }), 0);
    expect(brief(instanceStep(s, { kind: 'start' }, 0))).toEqual(['become-backup from INIT', 'advert 255']);
    expect(instanceDeadline(s)).toBe(1000);   // its next claim
    expect(brief(instanceStep(s, { kind: 'may-be-master', allowed: true, reason: 'lease' }, 50))).toEqual(['become-master from BACKUP', 'advert 255', 'announce master x5']);
  });
});

describe('shutdown', () => {
  it('MASTER: priority-0 advert, then stopped; BACKUP: stopped; nothing afterwards', () => {
    const s = master();
    expect(brief(instanceStep(s, { kind: 'shutdown' }, 9000))).toEqual(['advert 0', 'stopped from MASTER']);
    expect(instanceDeadline(s)).toBe(Infinity);
    expect(instanceStep(s, advert(200), 9001)).toEqual([]);
    expect(instanceStep(s, { kind: 'start' }, 9002)).toEqual([]);
    const b = started();
    expect(brief(instanceStep(b, { kind: 'shutdown' }, 10))).toEqual(['stopped from BACKUP']);
  });
});

describe('bad input', () => {
  it('an advert with an unusable source, our own address or a wrong priority is counted and ignored, never thrown', () => {
    const s = started();
    for (const src of ['', 'x', 'fe80::1', '10.78.0.2']) instanceStep(s, advert(200, src), 100);
    instanceStep(s, advert(300), 100);
    instanceStep(s, advert(1.5), 100);
    expect(s.stats.dropped).toMatchObject({ badSource: 3, ownAddress: 1, badPriority: 2 });
    expect(instanceDeadline(s)).toBe(MDI);
  });

  it('the config\'s numbers are checked, naming the field', () => {
    expect(instanceConfigProblems(cfg())).toEqual([]);
    expect(instanceConfigProblems(cfg({ vrid: 0, priority: 256, advertIntervalMs: 15, preemptDelayMs: -1, primaryAddress: 'eth0' }))).toEqual([
      'vrid: 0 must be a whole number 1..255',
      'priority: 256 must be a whole number 1..255',
      'advertIntervalMs: 15 must be 10..40950 ms in steps of 10 ms for VRRPv3',
      'preemptDelayMs: -1 must be 0..1000000',
      'primaryAddress: eth0 is not an IP address',
    ]);
    expect(instanceConfigProblems(cfg({ version: 2, advertIntervalMs: 500 }))).toEqual(['advertIntervalMs: 500 must be 1000..255000 ms in steps of 1000 ms for VRRPv2']);
    expect(instanceConfigProblems(cfg({ advertIntervalMs: 40_960 }))).toHaveLength(1);
    expect(() => initInstance(cfg({ vrid: 300 }), 0)).toThrow('vrrp_instance VI_1: vrid: 300 must be a whole number 1..255');
  });
});

describe('the view', () => {
  it('is plain data, copied and frozen: a reader cannot edit the machine through it', () => {
    const s = started({ guarded: true });
    instanceStep(s, advert(150), 1000);
    instanceStep(s, { kind: 'priority-changed', weight: -10, reason: 'chk' }, 1200);
    const v = instanceView(s, 1500);
    expect(v).toMatchObject({
      name: 'VI_1', vrid: 51, state: 'BACKUP', forMs: 1500, priority: 90, basePriority: 100,
      master: { address: '10.78.0.1', priority: 150, agoMs: 500 }, masterDownInMs: 1000 + MDI - 1500, held: false,
      guard: { allowed: false, reason: 'the guard has not answered yet' },
    });
    expect(Object.isFrozen(v) && Object.isFrozen(v.master) && Object.isFrozen(v.stats.dropped)).toBe(true);
    expect(() => { (v.stats as { advertsReceived: number }).advertsReceived = 99; }).toThrow();
    expect(s.stats.advertsReceived).toBe(1);
  });
});

describe('under the runtime Driver', () => {
  it('the Driver arms its deadlines: silence -> MASTER -> adverts each interval', () => {
    let t = 0;
    let armed: { at: number; fire: () => void } | undefined;
    const clock: Clock = {
      now: () => t,
      timer: (): Timer => ({ set: (at, fire) => { armed = { at, fire }; }, clear: () => { armed = undefined; } }),
    };
    const seen: string[] = [];
    const d = new Driver(INSTANCE_MACHINE, initInstance(cfg(), 0), clock, (e) => { if (e.kind !== 'log') seen.push(`${t} ${brief([e])[0]}`); });
    d.submit({ kind: 'start' });
    for (let i = 0; i < 3 && armed; i++) {
      const a = armed;
      t = a.at;
      a.fire();
    }
    expect(seen).toEqual(['0 become-backup from INIT', `${MDI} become-master from BACKUP`, `${MDI} advert 100`, `${MDI} announce master x5`, `${MDI + 1000} advert 100`, `${MDI + 2000} advert 100`]);
  });
});
