// The IPVS genl codec and reconciliation plan (src/net/ipvs.ts). The
// kernel's side runs in test/qemu/ipvs.test.ts.

import { describe, expect, it } from 'vitest';
import { decodeDest, decodeFamilyId, decodeService, encodeGetFamily, encodeOp, ipvsKey, ipvsPlan, ipvsWanted, type IpvsDest, type IpvsService } from '../../src/net/ipvs.js';
import type { LvsKernelService } from '../../src/net/lvs-nft.js';

const svc: IpvsService = { family: 4, protocol: 'tcp', addr: '10.0.0.1', port: 80, sched: 'wrr', persistent: false, timeoutS: 0, prefixLen: 32 };
const d = (addr: string, weight: number): IpvsDest => ({ addr, port: 80, fwd: 'nat', weight });

describe('IPVS generic netlink messages', () => {
  it("NEW_SERVICE carries what ipvsadm's does (AF, protocol, address, port, scheduler, flags, timeout, netmask) and decodes back", () => {
    const b = encodeOp(32, { cmd: 'NEW_SERVICE', service: { ...svc, persistent: true, timeoutS: 30, prefixLen: 24 } }, 7);
    expect(b.readUInt16LE(4)).toBe(32);                 // the family id as the message type
    expect(b.readUInt32LE(8)).toBe(7);
    expect([...b.subarray(16, 20)]).toEqual([1, 1, 0, 0]); // cmd NEW_SERVICE, version 1
    // A dump answer has the same shape: decoding the request's body gives the service back.
    expect(decodeService(b.subarray(16))).toEqual({ ...svc, persistent: true, timeoutS: 30, prefixLen: 24 });
    const fw = encodeOp(32, { cmd: 'NEW_SERVICE', service: { family: 4, protocol: 'none', fwmark: 1, sched: 'sh', persistent: false, timeoutS: 0, prefixLen: 32 } }, 8);
    expect(decodeService(fw.subarray(16))).toMatchObject({ fwmark: 1, sched: 'sh', protocol: 'none' });
    const nd = encodeOp(32, { cmd: 'NEW_DEST', service: svc, dest: { addr: '10.0.0.2', port: 8080, fwd: 'dr', weight: 3 } }, 9);
    expect(decodeDest(nd.subarray(16), 4)).toMatchObject({ addr: '10.0.0.2', port: 8080, fwd: 'dr', weight: 3 });
  });

  it('GETFAMILY asks nlctrl for IPVS; the family id is read from the answer', () => {
    const b = encodeGetFamily('IPVS', 1);
    expect(b.readUInt16LE(4)).toBe(0x10);
    expect(b.subarray(20).toString('latin1')).toContain('IPVS\0');
    const answer = Buffer.from([3, 2, 0, 0, 6, 0, 1, 0, 32, 0, 0, 0]);
    expect(decodeFamilyId(answer)).toBe(32);
  });
});

describe('IPVS reconciliation', () => {
  it('a wanted service that is missing is added with its destinations', () => {
    expect(ipvsPlan([{ service: svc, dests: [d('10.0.0.2', 2)] }], [], new Set()).map((o) => o.cmd)).toEqual(['NEW_SERVICE', 'NEW_DEST']);
  });

  it('one already there (a restart) is adopted: weights corrected, strays removed after additions, never added twice', () => {
    const plan = ipvsPlan(
      [{ service: svc, dests: [d('10.0.0.2', 2), d('10.0.0.3', 1), d('10.0.0.4', 1)] }],
      [{ service: svc, dests: [d('10.0.0.2', 2), d('10.0.0.3', 9), d('10.0.0.99', 1)] }],
      new Set([ipvsKey(svc)]),
    );
    expect(plan.map((o) => `${o.cmd}${'dest' in o ? ` ${o.dest.addr} ${o.dest.weight}` : ''}`)).toEqual(['SET_DEST 10.0.0.3 1', 'NEW_DEST 10.0.0.4 1', 'DEL_DEST 10.0.0.99 1']);
  });

  it("a service no longer wanted goes if this daemon programmed it; anyone else's stays", () => {
    const mine = { ...svc, addr: '10.0.0.5' };
    const theirs = { ...svc, addr: '10.0.0.200' };
    const plan = ipvsPlan([], [{ service: mine, dests: [] }, { service: theirs, dests: [] }], new Set([ipvsKey(mine)]));
    expect(plan).toEqual([{ cmd: 'DEL_SERVICE', service: mine }]);
  });

  it('a changed scheduler or persistence is a SET_SERVICE', () => {
    expect(ipvsPlan([{ service: { ...svc, sched: 'rr' }, dests: [] }], [{ service: svc, dests: [] }], new Set()).map((o) => o.cmd)).toEqual(['SET_SERVICE']);
  });

  it('the wanted state: one IPVS service per address of a group; the sorry server alone while it has a weight; inactive servers out', () => {
    const k: LvsKernelService = {
      id: 's0', name: 'group G', family: 4, protocol: 'tcp', sched: 'wrr',
      match: [{ kind: 'addr', ip: '10.0.0.1', port: 80 }, { kind: 'addr', ip: '10.0.0.2', port: 80 }],
      dests: [{ id: 'd0', ip: '10.0.1.1', port: 80, weight: 2, active: true, fwd: 'nat' }, { id: 'd1', ip: '10.0.1.2', port: 80, weight: 0, active: false, fwd: 'nat' },
        { id: 'sorry', ip: '10.0.1.9', port: 80, weight: 0, active: true, fwd: 'nat' }],
    };
    const w = ipvsWanted(k);
    expect(w.map((x) => [ipvsKey(x.service), x.ids])).toEqual([['TCP 10.0.0.1:80', ['d0', 'sorry']], ['TCP 10.0.0.2:80', ['d0', 'sorry']]]);
    k.dests[2]!.weight = 1;
    expect(ipvsWanted(k)[0]!.ids).toEqual(['sorry']);
  });
});
