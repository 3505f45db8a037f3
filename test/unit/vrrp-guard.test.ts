// The VRRP split-brain guard off the wire: the verdict (src/vrrp/guard.ts)
// and the link (src/daemon/vrrp-guard.ts) between a real VrrpRuntime and a
// real LeaseDriver on one manual clock; the backend records requests and the
// test answers them as an arbiter would.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { VrrpGuardLink } from '../../src/daemon/vrrp-guard.js';
import type { BackendRequest, LeaseBackend } from '../../src/quorum/backend.js';
import { LeaseDriver } from '../../src/quorum/driver.js';
import { groupLeaseConfigs } from '../../src/quorum/lease.js';
import { guardVerdict } from '../../src/vrrp/guard.js';
import { DEFAULT_GARP, type InstanceConfig } from '../../src/vrrp/instance.js';
import { VrrpRuntime, type VrrpHost } from '../../src/vrrp/runtime.js';

describe('guardVerdict', () => {
  const fencing = { peer: 'beta', peerUp: false, mayTakeOver: false, phase: 'delayed', reason: 'fence_delay 2 s' };
  it('the lease rules both taking and holding', () => {
    const lost = { held: false, status: 'denied', reason: 'held by beta' };
    expect(guardVerdict({ unit: 'VI_1', master: false, lease: lost })).toEqual({ allowed: false, reason: 'no lease for vrrp:VI_1 (denied: held by beta)' });
    expect(guardVerdict({ unit: 'VI_1', master: true, lease: lost }).allowed).toBe(false);
    expect(guardVerdict({ unit: 'VI_1', master: false, lease: { held: true, status: 'held', reason: 'granted' } })).toEqual({ allowed: true, reason: 'lease vrrp:VI_1 held' });
  });

  it('ping nodes and fencing only gate becoming MASTER: a master is not pushed out by a dead peer or a silent gateway', () => {
    expect(guardVerdict({ unit: 'G', master: false, ping: { up: 0, total: 2 } })).toEqual({ allowed: false, reason: 'reaches none of its 2 ping target(s)' });
    expect(guardVerdict({ unit: 'G', master: true, ping: { up: 0, total: 2 } }).allowed).toBe(true);
    expect(guardVerdict({ unit: 'G', master: false, fencing })).toEqual({ allowed: false, reason: 'beta is not heard and not confirmed off (fencing delayed: fence_delay 2 s)' });
    expect(guardVerdict({ unit: 'G', master: true, fencing }).allowed).toBe(true);
    expect(guardVerdict({ unit: 'G', master: false, fencing: { ...fencing, peerUp: true, phase: 'idle' } })).toEqual({ allowed: true, reason: 'beta is heard' });
    expect(guardVerdict({ unit: 'G', master: false, fencing: { ...fencing, mayTakeOver: true, phase: 'fenced', reason: 'confirmed off' } }).allowed).toBe(true);
  });

  it('all that is configured applies together', () => {
    const v = guardVerdict({ unit: 'G', master: false, lease: { held: true, status: 'held', reason: '' }, ping: { up: 1, total: 2 }, fencing: { ...fencing, peerUp: true } });
    expect(v).toEqual({ allowed: true, reason: 'lease vrrp:G held; 1/2 ping target(s) reached; beta is heard' });
    expect(guardVerdict({ unit: 'G', master: false, lease: { held: true, status: 'held', reason: '' }, ping: { up: 0, total: 2 } }).allowed).toBe(false);
  });
});

class Backend implements LeaseBackend {
  readonly kind = 'arbiter' as const;
  readonly target = 'test';
  readonly requests: Array<BackendRequest & { at: number }> = [];
  readonly releases: string[] = [];
  constructor(private readonly clock: ManualClock) {}
  request(r: BackendRequest): void { this.requests.push({ ...r, at: this.clock.now() }); }
  release(group: string): void { this.releases.push(group); }
  close(): Promise<void> { return Promise.resolve(); }
}

function setup() {
  const clock = new ManualClock();
  const calls: string[] = [];
  const open: Array<() => void> = [];
  const host: VrrpHost = {
    clock,
    sendAdvert: (i, p) => calls.push(`advert ${i} ${p}`),
    transition: (i, t, _f, _p, _r, done) => { calls.push(`begin ${i} ${t}`); open.push(() => { calls.push(`end ${i} ${t}`); done(); }); },
    announce: () => undefined,
    groupState: (_g, _s, _f, _r, done) => done(),
    log: () => undefined,
    guardWant: (u, w, r) => link.want(u, w, r),
  };
  const cfg: InstanceConfig = {
    name: 'VI_1', vrid: 1, priority: 100, version: 3, advertIntervalMs: 100, nopreempt: false, preemptDelayMs: 0,
    initialState: 'BACKUP', primaryAddress: '10.9.1.2', garp: DEFAULT_GARP, guarded: true,
  };
  const rt = new VrrpRuntime({ instances: [cfg], syncGroups: [] }, host);
  const backend = new Backend(clock);
  const leases = new LeaseDriver({ leases: groupLeaseConfigs(['vrrp:VI_1'], 300, 3000, 300), clock, onEvent: () => queueMicrotask(() => link.reevaluate()) });
  leases.attach(backend);
  const link: VrrpGuardLink = new VrrpGuardLink({
    units: ['VI_1'], peer: 'beta', arbiter: true, ping: false, fencing: false, graceMs: 300,
    runtime: () => rt, leases: () => leases, reach: () => ({ up: 0, total: 0 }), engine: () => ({ peerUp: true, fencing: undefined }),
    log: () => undefined,
  });
  const finish = () => { while (open.length) open.shift()!(); };
  return { clock, calls, rt, backend, leases, link, finish };
}

describe('VrrpGuardLink', () => {
  it('a held BACKUP asks for vrrp:UNIT; the grant makes it MASTER; a lost lease steps it down; the VIPs go before the release', async () => {
    const t = setup();
    t.rt.start();
    t.link.reevaluate();
    t.finish();
    expect(t.rt.view().instances[0]!.guard).toEqual({ allowed: false, reason: 'no lease for vrrp:VI_1 (idle: not wanted)' });
    t.clock.advance(400);   // Master_Down_Interval at priority 100, 100 ms: 360.9 ms
    expect(t.backend.requests.map((r) => [r.group, r.holds])).toEqual([['vrrp:VI_1', false]]);
    expect(t.rt.view().instances[0]).toMatchObject({ state: 'BACKUP', claiming: true });
    t.leases.onReply({ group: 'vrrp:VI_1', attempt: 1, outcome: 'granted', ttlMs: 3000 });
    await Promise.resolve();
    expect(t.rt.view().instances[0]!.state).toBe('MASTER');
    t.finish();
    // Renewals now say it holds the unit.
    t.clock.advance(1500);
    expect(t.backend.requests.at(-1)).toMatchObject({ group: 'vrrp:VI_1', holds: true });
    // No answer to any renewal: the lease is lost at its local deadline, the master steps down.
    t.clock.advance(3500);
    await Promise.resolve();
    expect(t.rt.view().instances[0]!.state).toBe('BACKUP');
    expect(t.calls).toContain('advert VI_1 0');
  });

  it('a MASTER that hears a higher claim gives the lease up only once its VIPs are off', async () => {
    const t = setup();
    t.rt.start();
    t.finish();
    t.clock.advance(400);
    t.leases.onReply({ group: 'vrrp:VI_1', attempt: 1, outcome: 'granted', ttlMs: 3000 });
    await Promise.resolve();
    t.finish();
    t.rt.submit({ to: 'VI_1', event: { kind: 'advert-received', priority: 200, src: '10.9.1.9', advertIntervalMs: 100 } });
    expect(t.calls.at(-1)).toBe('begin VI_1 become-backup');
    expect(t.backend.releases).toEqual([]);
    t.finish();
    expect(t.backend.releases).toEqual(['vrrp:VI_1']);
  });
});
