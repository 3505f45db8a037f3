// VrrpRuntime (src/vrrp/runtime.ts): instances and sync groups under one
// Driver on a manual clock, effects on a recording host whose transitions
// complete only when the test says. The ordering contract: an instance's
// transitions never overlap and run in state order; a sync group's own
// notify runs after its members' transitions; adverts are not held back.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { DEFAULT_GARP, type InstanceConfig } from '../../src/vrrp/instance.js';
import { initVrrpSet, VRRP_SET_MACHINE, VrrpRuntime, type VrrpHost } from '../../src/vrrp/runtime.js';


const inst = (name: string, vrid: number, priority: number): InstanceConfig => ({
  name, vrid, priority, version: 3, advertIntervalMs: 100, nopreempt: false, preemptDelayMs: 0,
  initialState: 'BACKUP', primaryAddress: `10.9.${vrid}.2`, garp: DEFAULT_GARP, guarded: false,
});

class Host implements VrrpHost {
  readonly clock = new ManualClock();
  readonly calls: string[] = [];
  /** Transitions started and not yet done, in start order. */
  readonly open: Array<{ what: string; done: () => void }> = [];
  sendAdvert(instance: string, priority: number): void { this.calls.push(`advert ${instance} ${priority}`); }
  transition(instance: string, t: string, _from: string, _p: number, _r: string, done: () => void): void {
    this.calls.push(`begin ${instance} ${t}`);
    this.open.push({ what: `${instance} ${t}`, done: () => { this.calls.push(`end ${instance} ${t}`); done(); } });
  }
  announce(instance: string): void { this.calls.push(`announce ${instance}`); }
  guardWant(unit: string, want: boolean): void { this.calls.push(`want ${unit} ${want}`); }
  groupState(group: string, state: string, _from: string, _r: string, done: () => void): void {
    this.calls.push(`group ${group} ${state}`);
    done();
  }
  log(): void { /* not asserted */ }
  finishAll(): void { while (this.open.length) this.open.shift()!.done(); }
}

describe('VrrpRuntime', () => {
  it('a lone instance: BACKUP at start, MASTER when Master_Down_Interval runs out; a transition waits for the one before it', () => {
    const h = new Host();
    const rt = new VrrpRuntime({ instances: [inst('VI_1', 1, 100)], syncGroups: [] }, h);
    rt.start();
    expect(h.calls).toEqual(['begin VI_1 become-backup']);
    // Master_Down_Interval at priority 100, 100 ms: 300 + 60.9375 ms. The BACKUP transition is still running.
    h.clock.advance(361);
    expect(h.calls).toContain('advert VI_1 100');
    expect(h.calls.filter((c) => c.startsWith('begin'))).toEqual(['begin VI_1 become-backup']);
    h.finishAll();
    expect(h.calls.filter((c) => c.startsWith('begin') || c.startsWith('end'))).toEqual([
      'begin VI_1 become-backup', 'end VI_1 become-backup', 'begin VI_1 become-master', 'end VI_1 become-master',
    ]);
    expect(rt.view().instances[0]).toMatchObject({ name: 'VI_1', state: 'MASTER' });
    // The first announcement waits for the VIPs to be on (it used to race the add).
    const ann = h.calls.indexOf('announce VI_1');
    expect(ann).toBeGreaterThan(h.calls.indexOf('end VI_1 become-master'));
  });

  it('a sync group: the group\'s notify runs after every member\'s transition has ended', () => {
    const h = new Host();
    const rt = new VrrpRuntime({ instances: [inst('VI_1', 1, 100), inst('VI_2', 2, 100)], syncGroups: [{ name: 'G', members: ['VI_1', 'VI_2'] }] }, h);
    rt.start();
    h.finishAll();
    h.calls.length = 0;
    h.clock.advance(361);
    expect(h.calls.filter((c) => c.startsWith('begin'))).toEqual(['begin VI_1 become-master', 'begin VI_2 become-master']);
    expect(h.calls.some((c) => c.startsWith('group'))).toBe(false);
    h.open.shift()!.done();
    expect(h.calls.some((c) => c.startsWith('group'))).toBe(false);
    h.open.shift()!.done();
    expect(h.calls.at(-1)).toBe('group G MASTER');
  });

  it('shutdown: the master says priority 0 first, and resolves once the stop transitions have run', async () => {
    const h = new Host();
    const rt = new VrrpRuntime({ instances: [inst('VI_1', 1, 100)], syncGroups: [] }, h);
    rt.start();
    h.clock.advance(361);
    h.finishAll();
    h.calls.length = 0;
    let resolved = false;
    const stopped = rt.shutdown().then(() => { resolved = true; });
    await Promise.resolve();
    expect(h.calls).toEqual(['advert VI_1 0', 'begin VI_1 stopped']);
    expect(resolved).toBe(false);
    h.finishAll();
    await stopped;
    expect(resolved).toBe(true);
  });

  it('the guard: a unit asks for its lease when it wants MASTER, and gives it up only after its VIPs are off', () => {
    const h = new Host();
    const rt = new VrrpRuntime({ instances: [{ ...inst('VI_1', 1, 100), guarded: true }, inst('VI_9', 9, 100)], syncGroups: [] }, h);
    rt.start();
    h.finishAll();
    h.calls.length = 0;
    h.clock.advance(361);
    // Held by the guard: a claim and the request, no transition; the unguarded one goes MASTER.
    expect(h.calls.filter((c) => c.includes('VI_1'))).toEqual(['advert VI_1 100', 'want VI_1 true']);
    expect(h.calls).not.toContain('want VI_9 true');
    rt.guard('VI_1', true, 'lease held');
    expect(h.calls.filter((c) => c.startsWith('begin VI_1'))).toEqual(['begin VI_1 become-master']);
    h.finishAll();
    h.calls.length = 0;
    // A higher master: VIPs off first, then the lease goes.
    rt.submit({ to: 'VI_1', event: { kind: 'advert-received', priority: 200, src: '10.9.1.9', advertIntervalMs: 100 } });
    expect(h.calls.filter((c) => c.includes('VI_1'))).toEqual(['advert VI_1 100', 'begin VI_1 become-backup']);
    h.finishAll();
    expect(h.calls.at(-1)).toBe('want VI_1 false');
  });

  it('the guard: a release queued behind a slow transition is dropped when the unit wants MASTER again meanwhile', () => {
    const h = new Host();
    const rt = new VrrpRuntime({ instances: [{ ...inst('VI_1', 1, 100), guarded: true }], syncGroups: [] }, h);
    rt.start();
    h.finishAll();
    h.clock.advance(361);
    rt.guard('VI_1', true, 'lease held');
    h.finishAll();
    h.calls.length = 0;
    rt.submit({ to: 'VI_1', event: { kind: 'advert-received', priority: 200, src: '10.9.1.9', advertIntervalMs: 100 } });
    // The master goes quiet before the BACKUP transition ends: held again, it wants the lease back.
    h.clock.advance(361 + 400);
    expect(h.calls).toEqual(['advert VI_1 100', 'begin VI_1 become-backup', 'advert VI_1 100', 'want VI_1 true']);
    h.finishAll();
    expect(h.calls).not.toContain('want VI_1 false');
  });

  it('a backup\'s Master_Down deadline is precise (the clock wakes ahead for a takeover); a master\'s adverts and a guard\'s hold are not', () => {
    const M = VRRP_SET_MACHINE;
    const s = initVrrpSet({ instances: [inst('VI_1', 1, 100)], syncGroups: [] }, 0);
    M.step(s, { event: { kind: 'start' } }, 0);
    const down = M.deadline(s);
    expect(down).toBeCloseTo(360.9375, 3);
    expect(M.precise!(s, down)).toBe(true);
    M.step(s, M.tick, down);
    expect(M.precise!(s, M.deadline(s))).toBe(false);
    const g = initVrrpSet({ instances: [{ ...inst('VI_1', 1, 100), guarded: true }], syncGroups: [] }, 0);
    M.step(g, { event: { kind: 'start' } }, 0);
    M.step(g, M.tick, M.deadline(g));
    expect(M.precise!(g, M.deadline(g))).toBe(false);
  });
});
