// planIpvs: desired services and real servers against what the kernel lists.

import { describe, expect, it } from 'vitest';
import type { IpvsDest, IpvsDestState, IpvsService, IpvsServiceState } from '../../src/net/ipvs-codec.js';
import { IpvsPlanError, planIpvs, type IpvsDesiredService, type IpvsKernelService } from '../../src/net/ipvs-reconcile.js';

const web: IpvsService = { family: 4, protocol: 'tcp', address: '10.180.0.1', port: 80, scheduler: 'wrr' };
const mark: IpvsService = { family: 4, fwmark: 7, scheduler: 'sh', persistence: 60 };
const rs1: IpvsDest = { address: '10.180.1.11', port: 8080, forward: 'masq', weight: 2 };
const rs2: IpvsDest = { address: '10.180.1.12', port: 8080, forward: 'masq', weight: 1 };
const rs3: IpvsDest = { address: '10.180.1.13', port: 8080, forward: 'masq', weight: 1 };

/** What the kernel lists for a service programmed from `s` (its defaults and bookkeeping filled in). */
function held(s: IpvsService, dests: IpvsDest[]): IpvsKernelService {
  const flags = 0x2 | (s.persistence !== undefined ? 1 : 0) | (s.onePacket ? 4 : 0) | ((s.schedFlags ?? 0) << 3);
  const service = { ...s, netmask: s.netmask ?? (s.family === 4 ? 32 : 128), timeout: s.persistence ?? 0, flags } as IpvsServiceState;
  return {
    service,
    dests: dests.map((d): IpvsDestState => ({
      family: 4, upperThreshold: 0, lowerThreshold: 0, ...d, activeConns: 3, inactiveConns: 1, persistConns: 0,
    })).reverse(),   // the kernel lists newest first
  };
}

describe('planIpvs', () => {
  it('an empty kernel: each service, then its real servers, in the given order', () => {
    const desired: IpvsDesiredService[] = [{ service: web, dests: [rs1, rs2] }, { service: mark, dests: [rs3] }];
    expect(planIpvs(desired, []).map((c) => `${c.op} ${'dest' in c ? c.dest.address : ''}`.trim())).toEqual([
      'add-service', 'add-dest 10.180.1.11', 'add-dest 10.180.1.12', 'add-service', 'add-dest 10.180.1.13',
    ]);
  });

  it('what matches is adopted: no change at all (a restart keeps every connection)', () => {
    const desired = [{ service: web, dests: [rs1, rs2] }, { service: mark, dests: [rs3] }];
    expect(planIpvs(desired, [held(web, [rs1, rs2]), held(mark, [rs3])])).toEqual([]);
    // The same address written another way is the same service.
    const v6: IpvsService = { family: 6, protocol: 'tcp', address: 'fd18:0::1', port: 443, scheduler: 'rr' };
    expect(planIpvs([{ service: v6, dests: [] }], [held({ ...v6, address: 'fd18::1' }, [])])).toEqual([]);
  });

  it('what differs is edited in place, never added twice', () => {
    const changes = planIpvs(
      [{ service: { ...web, scheduler: 'rr', persistence: 300, netmask: 24 }, dests: [{ ...rs1, weight: 5 }, { ...rs2, forward: 'route' }] }],
      [held(web, [rs1, rs2])],
    );
    expect(changes).toEqual([
      { op: 'edit-service', service: { ...web, scheduler: 'rr', persistence: 300, netmask: 24 } },
      { op: 'edit-dest', service: { family: 4, protocol: 'tcp', address: '10.180.0.1', port: 80 }, dest: { ...rs1, weight: 5 } },
      { op: 'edit-dest', service: { family: 4, protocol: 'tcp', address: '10.180.0.1', port: 80 }, dest: { ...rs2, forward: 'route' } },
    ]);
    expect(changes.some((c) => c.op === 'add-service' || c.op === 'add-dest')).toBe(false);
    // Thresholds and persistence off count too.
    expect(planIpvs([{ service: web, dests: [{ ...rs1, upperThreshold: 10 }] }], [held({ ...web, persistence: 30 }, [rs1])]).map((c) => c.op))
      .toEqual(['edit-service', 'edit-dest']);
  });

  it('leftover real servers of an owned service go, after the additions', () => {
    const changes = planIpvs([{ service: web, dests: [rs1, rs3] }], [held(web, [rs1, rs2])]);
    expect(changes.map((c) => [c.op, 'dest' in c ? c.dest.address : ''])).toEqual([
      ['add-dest', '10.180.1.13'], ['del-dest', '10.180.1.12'],
    ]);
  });

  it('services nobody asked for are left alone unless this daemon owned them', () => {
    const other: IpvsService = { family: 4, protocol: 'udp', address: '10.180.0.9', port: 53, scheduler: 'rr' };
    const kernel = [held(web, [rs1]), held(other, [rs2]), held(mark, [rs3])];
    expect(planIpvs([{ service: web, dests: [rs1] }], kernel)).toEqual([]);
    expect(planIpvs([{ service: web, dests: [rs1] }], kernel, { alsoOwned: [mark, web] })).toEqual([
      { op: 'del-service', service: { family: 4, fwmark: 7 } },
    ]);
  });

  it('a desired set naming a service or a real server twice is refused, naming it', () => {
    expect(() => planIpvs([{ service: web, dests: [] }, { service: { ...web, scheduler: 'rr' }, dests: [] }], []))
      .toThrow(new IpvsPlanError('virtual service TCP 10.180.0.1:80 is given twice'));
    expect(() => planIpvs([{ service: web, dests: [rs1, { ...rs1, weight: 9 }] }], []))
      .toThrow('real server 10.180.1.11:8080 is given twice in TCP 10.180.0.1:80');
  });

  it('applying the plan to the listing gives a listing that plans nothing (simulated kernel)', () => {
    // A small model of the kernel's table, to check plan and listing agree for many shapes.
    const shapes: IpvsDesiredService[][] = [
      [],
      [{ service: web, dests: [rs1] }],
      [{ service: { ...web, scheduler: 'wlc' }, dests: [rs2, rs3] }, { service: mark, dests: [] }],
      [{ service: mark, dests: [{ ...rs1, weight: 0 }] }],
    ];
    let kernel: IpvsKernelService[] = [];
    for (const want of shapes) {
      const owned = kernel.map((k) => k.service);
      const plan = planIpvs(want, kernel, { alsoOwned: owned });
      kernel = simulate(kernel, plan);
      expect(planIpvs(want, kernel, { alsoOwned: owned })).toEqual([]);
      expect(kernel.length).toBe(want.length);
    }
  });
});

function simulate(kernel: IpvsKernelService[], plan: ReturnType<typeof planIpvs>): IpvsKernelService[] {
  const id = (s: { fwmark?: number; address?: string; port?: number; protocol?: string }) => s.fwmark !== undefined ? `f${s.fwmark}` : `${s.protocol}${s.address}${s.port}`;
  let out = kernel.map((k) => ({ service: k.service, dests: [...k.dests] }));
  for (const c of plan) {
    const i = out.findIndex((k) => id(k.service) === id(c.service));
    if (c.op === 'add-service') { expect(i).toBe(-1); out.push(held(c.service, [])); }
    else if (c.op === 'edit-service') out[i] = { ...held(c.service, []), dests: out[i]!.dests };
    else if (c.op === 'del-service') out = out.filter((_, j) => j !== i);
    else if (c.op === 'add-dest' || c.op === 'edit-dest' || c.op === 'del-dest') {
      const ds = out[i]!.dests;
      const j = ds.findIndex((d) => d.address === c.dest.address && d.port === c.dest.port);
      if (c.op === 'add-dest') { expect(j).toBe(-1); ds.unshift(held(web, [c.dest]).dests[0]!); }
      else if (c.op === 'edit-dest') ds[j] = held(web, [c.dest]).dests[0]!;
      else ds.splice(j, 1);
    }
  }
  return out;
}
