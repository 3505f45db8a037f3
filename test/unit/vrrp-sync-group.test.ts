// vrrp_sync_group (src/vrrp/sync-group.ts): members change state together,
// in order, with the group's own notify after the members'. Exact times as
// in vrrp-instance.test.ts (priority 100, 1 s: Master_Down_Interval 3609.375 ms).

import { describe, expect, it } from 'vitest';
import { DEFAULT_GARP, type InstanceConfig, type InstanceEvent } from '../../src/vrrp/instance.js';
import {
  initSyncGroup, syncFaultSource, syncGroupDeadline, syncGroupProblems, syncGroupStep, syncGroupView,
  type SyncGroupEffect, type SyncGroupEvent, type SyncGroupState,
} from '../../src/vrrp/sync-group.js';

const member = (name: string, over: Partial<InstanceConfig> = {}): InstanceConfig => ({
  name, vrid: name === 'VI_1' ? 51 : 52, priority: 100, version: 3, advertIntervalMs: 1000, nopreempt: false, preemptDelayMs: 0,
  initialState: 'BACKUP', primaryAddress: name === 'VI_1' ? '10.78.0.2' : '10.79.0.2', garp: DEFAULT_GARP, guarded: false, ...over,
});

const MDI = 3609.375;

function brief(fx: SyncGroupEffect[]): string[] {
  return fx.filter((e) => e.kind !== 'log' && !(e.kind === 'member' && e.effect.kind === 'log')).map((e) => {
    if (e.kind === 'group-state') return `GROUP ${e.state}`;
    if (e.kind !== 'member') return '';
    const x = e.effect;
    if (x.kind === 'send-advert') return `${e.member} advert ${x.priority}`;
    if (x.kind === 'announce') return `${e.member} announce ${x.round}`;
    if (x.kind === 'log') return '';
    return `${e.member} ${x.kind}`;
  });
}

const to = (name: string, event: InstanceEvent): SyncGroupEvent => ({ to: name, event });
const all = (event: InstanceEvent): SyncGroupEvent => ({ event });
const tick = all({ kind: 'tick' });
const advert = (priority: number, src = '10.78.0.1'): InstanceEvent => ({ kind: 'advert-received', priority, src, advertIntervalMs: 1000 });

function group(over1: Partial<InstanceConfig> = {}, over2: Partial<InstanceConfig> = {}): SyncGroupState {
  const g = initSyncGroup({ name: 'G', members: [member('VI_1', over1), member('VI_2', over2)] }, 0);
  syncGroupStep(g, all({ kind: 'start' }), 0);
  return g;
}

function masterGroup(): SyncGroupState {
  const g = group();
  syncGroupStep(g, tick, MDI);
  expect(g.state).toBe('MASTER');
  return g;
}

describe('vrrp_sync_group', () => {
  it('starts BACKUP: each member\'s notify, then the group\'s', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1'), member('VI_2')] }, 0);
    const fx = syncGroupStep(g, all({ kind: 'start' }), 0);
    expect(brief(fx)).toEqual(['VI_1 become-backup', 'VI_2 become-backup', 'GROUP BACKUP']);
    expect(syncGroupDeadline(g)).toBe(MDI);
  });

  it('goes MASTER only when every member wants it; the first ready member waits in BACKUP', () => {
    // VI_1 at 150 runs out at 3414.0625, VI_2 at 100 at 3609.375.
    const g = group({ priority: 150 });
    expect(syncGroupDeadline(g)).toBe(3414.0625);
    const early = syncGroupStep(g, tick, 3414.0625);
    expect(brief(early)).toEqual([]);
    expect(early.some((e) => e.kind === 'member' && e.effect.kind === 'log' && /stays BACKUP: sync group G: not every member is ready/.test(e.effect.message))).toBe(true);
    expect(syncGroupDeadline(g)).toBe(MDI);
    const fx = syncGroupStep(g, tick, MDI);
    expect(brief(fx)).toEqual([
      'VI_1 become-master', 'VI_1 advert 150', 'VI_1 announce master',
      'VI_2 become-master', 'VI_2 advert 100', 'VI_2 announce master',
      'GROUP MASTER',
    ]);
    expect(fx.at(-1)).toMatchObject({ kind: 'group-state', from: 'BACKUP', reason: 'every member is ready' });
    const v = syncGroupView(g, MDI + 5);
    expect(v).toMatchObject({ name: 'G', state: 'MASTER', forMs: 5 });
    expect(v.members.map((m) => `${m.name} ${m.state} ${m.sync.allowed}`)).toEqual(['VI_1 MASTER true', 'VI_2 MASTER true']);
  });

  it('a member that still hears its master keeps the whole group BACKUP', () => {
    const g = group();
    for (let t = 500; t < 20_000; t += 1000) syncGroupStep(g, to('VI_2', advert(150, '10.79.0.1')), t);
    syncGroupStep(g, tick, 20_000);
    expect(g.state).toBe('BACKUP');
    expect(g.members.map((m) => m.state)).toEqual(['BACKUP', 'BACKUP']);
    // The master of VI_2 leaves (priority 0): Skew_Time later the group is MASTER.
    syncGroupStep(g, to('VI_2', advert(0, '10.79.0.1')), 20_000);
    expect(syncGroupDeadline(g)).toBe(20_000 + 609.375);
    expect(brief(syncGroupStep(g, tick, 20_000 + 609.375)).at(-1)).toBe('GROUP MASTER');
  });

  it('one member going BACKUP takes the others to BACKUP, each with a priority-0 advert first', () => {
    const g = masterGroup();
    const fx = syncGroupStep(g, to('VI_1', advert(200)), 5000);
    expect(brief(fx)).toEqual(['VI_1 advert 100', 'VI_1 become-backup', 'VI_2 advert 0', 'VI_2 become-backup', 'GROUP BACKUP']);
    expect(fx.at(-1)).toMatchObject({ reason: 'VI_1: advert from 10.78.0.1 with higher priority (200 > 100)' });
    expect(g.members.every((m) => !m.sync.allowed)).toBe(true);
  });

  it('one member\'s FAULT takes the group to FAULT; it leaves FAULT only when no member has a fault of its own', () => {
    const g = masterGroup();
    const fx = syncGroupStep(g, to('VI_2', { kind: 'fault', source: 'link eth1', reason: 'carrier down' }), 5000);
    expect(brief(fx)).toEqual(['VI_2 advert 0', 'VI_2 become-fault', 'VI_1 advert 0', 'VI_1 become-fault', 'GROUP FAULT']);
    expect(fx.at(-1)).toMatchObject({ reason: 'VI_2 is in FAULT (link eth1: carrier down)' });
    expect(g.members[0]!.faults.get(syncFaultSource('G'))).toBe('VI_2 is in FAULT (link eth1: carrier down)');
    // A second member fault, then the first clears: still FAULT, nobody moves.
    expect(brief(syncGroupStep(g, to('VI_1', { kind: 'fault', source: 'track_script chk', reason: 'exit 1' }), 5100))).toEqual([]);
    expect(brief(syncGroupStep(g, to('VI_2', { kind: 'fault-cleared', source: 'link eth1' }), 5200))).toEqual([]);
    expect(g.members.map((m) => m.state)).toEqual(['FAULT', 'FAULT']);
    const back = syncGroupStep(g, to('VI_1', { kind: 'fault-cleared', source: 'track_script chk' }), 6000);
    expect(brief(back)).toEqual(['VI_1 become-backup', 'VI_2 become-backup', 'GROUP BACKUP']);
    expect(back.at(-1)).toMatchObject({ from: 'FAULT', reason: 'no member is in FAULT' });
    expect(syncGroupDeadline(g)).toBe(6000 + MDI);
    expect(brief(syncGroupStep(g, tick, 6000 + MDI)).at(-1)).toBe('GROUP MASTER');
  });

  it('leaving FAULT is a fresh start for every member: an owner does not go MASTER alone', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1', { priority: 255 }), member('VI_2')] }, 0);
    syncGroupStep(g, all({ kind: 'start' }), 0);
    syncGroupStep(g, tick, MDI);
    expect(g.state).toBe('MASTER');
    syncGroupStep(g, to('VI_2', { kind: 'fault', source: 'link eth1', reason: 'down' }), 5000);
    const back = syncGroupStep(g, to('VI_2', { kind: 'fault-cleared', source: 'link eth1' }), 6000);
    expect(brief(back)).toEqual(['VI_1 become-backup', 'VI_2 become-backup', 'GROUP BACKUP']);
    // VI_1 (the owner) is ready at once and waits for VI_2's timer.
    expect(syncGroupDeadline(g)).toBe(6000 + MDI);
    expect(brief(syncGroupStep(g, tick, 6000 + MDI)).at(-1)).toBe('GROUP MASTER');
  });

  it('a group track (no member named) faults every member', () => {
    const g = group();
    const fx = syncGroupStep(g, all({ kind: 'fault', source: 'track_interface eth2', reason: 'down' }), 100);
    expect(brief(fx)).toEqual(['VI_1 become-fault', 'VI_2 become-fault', 'GROUP FAULT']);
  });

  it('the guard: a group MASTER whose guard is withdrawn steps down together; held until it is given back', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1', { guarded: true }), member('VI_2', { guarded: true })] }, 0);
    syncGroupStep(g, all({ kind: 'start' }), 0);
    // Held by the guard, both members claim (adverts, no VIPs) every interval.
    expect(brief(syncGroupStep(g, tick, MDI))).toEqual(['VI_1 advert 100', 'VI_2 advert 100']);
    expect(g.state).toBe('BACKUP');
    expect(syncGroupDeadline(g)).toBe(MDI + 1000);
    expect(brief(syncGroupStep(g, all({ kind: 'may-be-master', allowed: true, reason: 'lease' }), 4000)).at(-1)).toBe('GROUP MASTER');
    // Only one member's guard (a per-instance guard) is enough to take the group down.
    const fx = syncGroupStep(g, to('VI_2', { kind: 'may-be-master', allowed: false, reason: 'lease lost' }), 6000);
    expect(brief(fx)).toEqual(['VI_2 advert 0', 'VI_2 become-backup', 'VI_1 advert 0', 'VI_1 become-backup', 'GROUP BACKUP']);
    expect(g.members.map((m) => m.state)).toEqual(['BACKUP', 'BACKUP']);
  });

  it('the guard: once it allows the group, one member ready is enough; the others follow at once, timers or not', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1', { guarded: true }), member('VI_2', { guarded: true })] }, 0);
    syncGroupStep(g, all({ kind: 'start' }), 0);
    // VI_2 still hears a master; VI_1's timer runs out: it claims, the group waits.
    syncGroupStep(g, to('VI_2', { kind: 'advert-received', priority: 100, src: '10.9.9.9', advertIntervalMs: 1000 }), 3000);
    expect(brief(syncGroupStep(g, tick, MDI))).toEqual(['VI_1 advert 100']);
    expect(g.members.map((m) => m.held)).toEqual([true, false]);
    // The lease is the group's: no other node may be MASTER of it now.
    const fx = brief(syncGroupStep(g, all({ kind: 'may-be-master', allowed: true, reason: 'lease' }), 4000));
    expect(fx.filter((x) => x.includes('become'))).toEqual(['VI_1 become-master', 'VI_2 become-master']);
    expect(fx.at(-1)).toBe('GROUP MASTER');
  });

  it('the guard: a member that hears a master outranking it keeps the group from going MASTER on the others (seed 640002218)', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1', { guarded: true }), member('VI_2', { guarded: true })] }, 0);
    syncGroupStep(g, all({ kind: 'start' }), 0);
    syncGroupStep(g, all({ kind: 'may-be-master', allowed: true, reason: 'lease' }), 0);
    // VI_2 follows a master at the same priority from a higher address (it outranks VI_2); VI_1's timer runs out.
    syncGroupStep(g, to('VI_2', { kind: 'advert-received', priority: 100, src: '10.255.255.254', advertIntervalMs: 1000 }), 3000);
    const fx = brief(syncGroupStep(g, tick, MDI));
    expect(fx.filter((x) => x.includes('become'))).toEqual([]);
    expect(g.members.map((m) => m.state)).toEqual(['BACKUP', 'BACKUP']);
  });

  it('address owners go MASTER together at start', () => {
    const g = initSyncGroup({ name: 'G', members: [member('VI_1', { priority: 255 }), member('VI_2', { priority: 255 })] }, 0);
    const fx = syncGroupStep(g, all({ kind: 'start' }), 0);
    expect(brief(fx).filter((x) => !x.includes('advert') && !x.includes('announce'))).toEqual([
      'VI_1 become-backup', 'VI_2 become-backup', 'VI_1 become-master', 'VI_2 become-master', 'GROUP MASTER',
    ]);
  });

  it('shutdown: every member stops (MASTERs with priority 0), then the group', () => {
    const g = masterGroup();
    expect(brief(syncGroupStep(g, all({ kind: 'shutdown' }), 9000))).toEqual(['VI_1 advert 0', 'VI_1 stopped', 'VI_2 advert 0', 'VI_2 stopped', 'GROUP STOPPED']);
    expect(syncGroupStep(g, tick, 9001)).toEqual([]);
    expect(syncGroupDeadline(g)).toBe(Infinity);
  });

  it('configuration problems and unknown members are reported, not thrown at run time', () => {
    expect(syncGroupProblems({ name: 'G', members: [member('VI_1')] })).toEqual(['members: sync group G has 1 member(s); it needs at least 2']);
    expect(syncGroupProblems({ name: 'G', members: [member('VI_1'), member('VI_1')] })).toEqual(['members: VI_1 is listed twice in sync group G']);
    expect(() => initSyncGroup({ name: 'G', members: [member('VI_1')] }, 0)).toThrow(RangeError);
    const g = group();
    expect(syncGroupStep(g, to('VI_9', advert(100)), 10)).toEqual([{ kind: 'log', level: 'warn', message: 'sync group G: event for unknown member VI_9 ignored' }]);
  });
});
