// VrrpRuntime's ordering of transitions (src/vrrp/runtime.ts): one at a time
// per instance, and, behind a slow one, only the newest state waits (the
// simulator found a BACKUP holding its VIPs for seconds behind a backlog of
// flaps: docs/simulation.md, Findings).

import { describe, expect, it } from 'vitest';
import type { Clock, Timer } from '../../src/runtime/driver.js';
import { DEFAULT_GARP, type InstanceConfig, type Transition, type VrrpStateName } from '../../src/vrrp/instance.js';
import { VrrpRuntime, type VrrpHost } from '../../src/vrrp/runtime.js';

class ManualClock implements Clock {
  t = 0;
  timers: Array<{ at: number; fire: (() => void) | undefined }> = [];
  now(): number { return this.t; }
  timer(): Timer {
    const slot: { at: number; fire: (() => void) | undefined } = { at: Infinity, fire: undefined };
    this.timers.push(slot);
    return { set: (at, fire) => { slot.at = at; slot.fire = fire; }, clear: () => { slot.fire = undefined; } };
  }
  /** Moves to `t` and fires every timer due by then. */
  advance(t: number): void {
    this.t = t;
    for (const s of this.timers) {
      if (s.fire && s.at <= t) { const f = s.fire; s.fire = undefined; f(); }
    }
  }
}

function cfg(name: string): InstanceConfig {
  return {
    name, vrid: 7, priority: 100, version: 3, advertIntervalMs: 100, nopreempt: false, preemptDelayMs: 0,
    initialState: 'BACKUP', primaryAddress: '10.0.0.1', garp: DEFAULT_GARP, guarded: false,
  };
}

interface Call { kind: 'transition' | 'group'; name: string; t: string; from: VrrpStateName; done: () => void }

function host(clock: ManualClock, calls: Call[]): VrrpHost {
  return {
    clock,
    sendAdvert: () => {},
    transition: (name: string, t: Transition, from: VrrpStateName, _p: number, _r: string, done: () => void) => { calls.push({ kind: 'transition', name, t, from, done }); },
    announce: () => {},
    groupState: (group, state, from, _r, done) => { calls.push({ kind: 'group', name: group, t: state, from, done }); },
    log: () => {},
  };
}

const higher = { kind: 'advert-received' as const, priority: 200, src: '10.0.0.2', advertIntervalMs: 100 };

describe('VrrpRuntime: transitions behind a slow one', () => {
  it('flaps while a transition runs leave only the newest waiting: the host carries out the current state next', () => {
    const clock = new ManualClock();
    const calls: Call[] = [];
    const rt = new VrrpRuntime({ instances: [cfg('VI_1')], syncGroups: [] }, host(clock, calls));
    rt.start();
    expect(calls.map((c) => c.t)).toEqual(['become-backup']);   // running, not done: a slow notify script
    // Four flaps while it runs: MASTER (no advert), BACKUP (a higher advert), MASTER, BACKUP.
    clock.advance(1000);
    rt.submit({ to: 'VI_1', event: higher });
    clock.advance(2000);
    rt.submit({ to: 'VI_1', event: higher });
    expect(rt.view().instances[0]!.state).toBe('BACKUP');
    expect(calls).toHaveLength(1);
    calls[0]!.done();
    // Not become-master, become-backup, become-master, become-backup: the state now, once.
    expect(calls.map((c) => c.t)).toEqual(['become-backup', 'become-backup']);
    expect(calls[1]!.from).toBe('BACKUP');   // the first waiting transition's `from`: where the host was heading
    calls[1]!.done();
    expect(calls).toHaveLength(2);
  });

  it('a transition made after the one running completes is carried out after it, as before', () => {
    const clock = new ManualClock();
    const calls: Call[] = [];
    const rt = new VrrpRuntime({ instances: [cfg('VI_1')], syncGroups: [] }, host(clock, calls));
    rt.start();
    calls[0]!.done();
    clock.advance(1000);
    expect(calls.map((c) => c.t)).toEqual(['become-backup', 'become-master']);
    calls[1]!.done();
    rt.submit({ to: 'VI_1', event: higher });
    expect(calls.map((c) => c.t)).toEqual(['become-backup', 'become-master', 'become-backup']);
  });

  it("a sync group's notify still follows its members' transitions, and a later flap queues behind it", () => {
    const clock = new ManualClock();
    const calls: Call[] = [];
    const rt = new VrrpRuntime({ instances: [cfg('A'), { ...cfg('B'), vrid: 8 }], syncGroups: [{ name: 'G', members: ['A', 'B'] }] }, host(clock, calls));
    rt.start();
    expect(calls.map((c) => `${c.name}:${c.t}`)).toEqual(['A:become-backup', 'B:become-backup']);
    clock.advance(1000);   // both MASTER while their BACKUP transitions still run
    expect(rt.view().groups[0]!.state).toBe('MASTER');
    rt.submit({ to: 'A', event: higher });   // and back to BACKUP, the group with them
    expect(rt.view().groups[0]!.state).toBe('BACKUP');
    // Complete every transition and notify as it comes (each done() may start the next).
    const finished = new Set<Call>();
    for (let more = true; more;) {
      more = false;
      for (const c of calls.slice()) if (!finished.has(c)) { finished.add(c); c.done(); more = true; }
    }
    const seq = () => calls.map((c) => `${c.name}:${c.t}`);
    // The group's MASTER notify waited for the members' become-master, its BACKUP for their become-backup.
    const s = seq();
    expect(s.indexOf('G:MASTER')).toBeGreaterThan(Math.max(s.indexOf('A:become-master'), s.indexOf('B:become-master')));
    expect(s.lastIndexOf('G:BACKUP')).toBeGreaterThan(Math.max(s.lastIndexOf('A:become-backup'), s.lastIndexOf('B:become-backup')));
    expect(s.lastIndexOf('A:become-backup')).toBeGreaterThan(s.indexOf('A:become-master'));
  });
});
