// The IPVS generic netlink codec against bytes Debian's ipvsadm sent and the
// 6.1 kernel answered (test/fixtures/ipvs-genl.json, captured on nlmon in the
// qemu guest by scripts/ipvs-golden.ts).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  IpvsCodecError, decodeDest, decodeFamily, decodeInfo, decodeService, encodeDelService, encodeDest, encodeFlush,
  encodeGetDests, encodeGetFamily, encodeGetInfo, encodeGetServices, encodeNewService, encodeSetService, genlCommand,
  serviceKeyId, type IpvsDest, type IpvsService, type IpvsServiceKey,
} from '../../src/net/ipvs-codec.js';
import { decodeError, errnoName, splitMessages } from '../../src/net/rtnetlink.js';

interface Captured { dir: 'to-kernel' | 'from-kernel'; hex: string }
interface Fixture {
  kernel: string;
  getFamily: Captured[];
  getInfo: Captured[];
  cases: Array<{ name: string; args: string[]; status: number; stdout: string; stderr: string; messages: Captured[] }>;
}

const fixture = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/ipvs-genl.json'), 'utf8')) as Fixture;
const bytes = (m: Captured): Buffer => Buffer.from(m.hex, 'hex');
const caseOf = (name: string) => {
  const c = fixture.cases.find((x) => x.name === name);
  if (!c) throw new Error(`no case ${name} in the fixture`);
  return c;
};
/** ipvsadm's request with its port id cleared: the kernel fills in the sender's, and tandem leaves it 0. */
const request = (msgs: Captured[], i = 0): Buffer => {
  const b = bytes(msgs.filter((m) => m.dir === 'to-kernel')[i]!);
  b.writeUInt32LE(0, 12);
  return b;
};
const seqOf = (b: Buffer): number => b.readUInt32LE(8);
const answers = (msgs: Captured[]) => msgs.filter((m) => m.dir === 'from-kernel').flatMap((m) => splitMessages(bytes(m)));

const family = decodeFamily(splitMessages(bytes(fixture.getFamily[1]!))[0]!.body)!;
const FAM = family.id;

const tcp80: IpvsServiceKey = { family: 4, protocol: 'tcp', address: '10.180.0.1', port: 80 };

/** Our encoding of the case's request must be ipvsadm's, byte for byte. */
function sameAsIpvsadm(name: string, encode: (seq: number) => Buffer): void {
  const want = request(caseOf(name).messages);
  expect(encode(seqOf(want)).toString('hex'), name).toBe(want.toString('hex'));
}

describe('IPVS genl codec: requests, byte for byte as ipvsadm sends them', () => {
  it('resolves the family name IPVS through nlctrl', () => {
    const want = request(fixture.getFamily);
    expect(encodeGetFamily('IPVS', seqOf(want)).toString('hex')).toBe(want.toString('hex'));
    expect(family.id).toBeGreaterThanOrEqual(16);
    expect(family.version).toBe(1);
    expect(family.maxAttr).toBeGreaterThan(0);
  });

  it('NEW_SERVICE: TCP VIP:port with a scheduler', () => {
    sameAsIpvsadm('new-service-tcp-wrr', (seq) => encodeNewService(FAM, { ...tcp80, scheduler: 'wrr' }, seq));
  });

  it('NEW_SERVICE: UDP, persistent 300 s with a /24 granularity', () => {
    sameAsIpvsadm('new-service-udp-persistent', (seq) => encodeNewService(FAM, {
      family: 4, protocol: 'udp', address: '10.180.0.3', port: 53, scheduler: 'rr', persistence: 300, netmask: 24,
    }, seq));
  });

  it('NEW_SERVICE: fwmark, persistent 60 s', () => {
    sameAsIpvsadm('new-service-fwmark', (seq) => encodeNewService(FAM, { family: 4, fwmark: 7, scheduler: 'sh', persistence: 60 }, seq));
  });

  it('SET_SERVICE: a new scheduler', () => {
    sameAsIpvsadm('set-service-scheduler', (seq) => encodeSetService(FAM, { ...tcp80, scheduler: 'rr' }, seq));
  });

  it('NEW_DEST: masq, route with thresholds, tunnel; on a fwmark service', () => {
    const cases: Array<[string, IpvsServiceKey, IpvsDest]> = [
      ['new-dest-masq', tcp80, { address: '10.180.1.11', port: 8080, forward: 'masq', weight: 2 }],
      ['new-dest-route-thresholds', tcp80, { address: '10.180.1.12', port: 80, forward: 'route', weight: 1, upperThreshold: 100, lowerThreshold: 10 }],
      ['new-dest-tunnel', tcp80, { address: '10.180.1.13', port: 80, forward: 'tunnel', weight: 0 }],
      ['new-dest-fwmark', { family: 4, fwmark: 7 }, { address: '10.180.1.14', port: 0, forward: 'route', weight: 3 }],
    ];
    for (const [name, svc, d] of cases) sameAsIpvsadm(name, (seq) => encodeDest(FAM, 'new', svc, d, seq));
  });

  it('SET_DEST and DEL_DEST', () => {
    sameAsIpvsadm('set-dest-weight', (seq) => encodeDest(FAM, 'set', tcp80, { address: '10.180.1.11', port: 8080, forward: 'masq', weight: 5 }, seq));
    // ipvsadm -d sends what it parsed: route, weight 1 (its defaults); the kernel reads only the address and port.
    sameAsIpvsadm('del-dest', (seq) => encodeDest(FAM, 'del', tcp80, { address: '10.180.1.13', port: 80, forward: 'route', weight: 1 }, seq));
  });

  it('DEL_SERVICE and FLUSH', () => {
    const want = request(caseOf('del-service').messages);
    const ours = encodeDelService(FAM, { family: 4, protocol: 'udp', address: '10.180.0.3', port: 53 }, seqOf(want));
    // ipvsadm fills in its default scheduler name; tandem sends the key only, as for destinations.
    expect(ours.length).toBe(want.length);
    expect(splitMessages(ours)[0]!.body.subarray(0, 4)).toEqual(splitMessages(want)[0]!.body.subarray(0, 4));
    expect(decodeServiceRequest(ours)).toEqual(decodeServiceRequest(want));
    sameAsIpvsadm('flush', (seq) => encodeFlush(FAM, seq));
  });

  it('dumps and GET_INFO', () => {
    const list = caseOf('list').messages;
    const reqs = list.filter((m) => m.dir === 'to-kernel');
    expect(reqs).toHaveLength(5);
    const info = request(list, 0);
    expect(encodeGetInfo(FAM, seqOf(info)).toString('hex')).toBe(info.toString('hex'));
    const svcs = request(list, 1);
    expect(encodeGetServices(FAM, seqOf(svcs)).toString('hex')).toBe(svcs.toString('hex'));
    const keys: IpvsServiceKey[] = [tcp80, { family: 4, protocol: 'udp', address: '10.180.0.3', port: 53 }, { family: 4, fwmark: 7 }];
    keys.forEach((k, i) => {
      const want = request(list, i + 2);
      expect(encodeGetDests(FAM, k, seqOf(want)).toString('hex'), serviceKeyId(k)).toBe(want.toString('hex'));
    });
  });

  it('refuses what the kernel would refuse or misread, naming the field', () => {
    const bad: Array<[IpvsService, RegExp]> = [
      [{ ...tcp80, address: '10.180.0.300', scheduler: 'rr' }, /virtual address "10.180.0.300" is not an IPv4 address/],
      [{ ...tcp80, port: 70000, scheduler: 'rr' }, /port 70000 is out of range/],
      [{ ...tcp80, scheduler: 'w r r' }, /scheduler "w r r"/],
      [{ ...tcp80, scheduler: 'rr', persistence: 0 }, /persistence timeout 0/],
      [{ ...tcp80, scheduler: 'rr', netmask: 33 }, /persistence netmask 33/],
      [{ family: 4, fwmark: 0, scheduler: 'rr' }, /fwmark 0/],
    ];
    for (const [s, re] of bad) expect(() => encodeNewService(FAM, s, 1)).toThrow(re);
    expect(() => encodeDest(FAM, 'new', tcp80, { address: 'fd00::1', port: 80, forward: 'masq', weight: 1 }, 1)).toThrow(/IPv6 but the service is IPv4/);
    expect(() => encodeDest(FAM, 'new', tcp80, { address: '10.180.1.1', port: 80, forward: 'masq', weight: -1 }, 1)).toThrow(IpvsCodecError);
    // IPv6 in a tunnel to an IPv4 service is what the kernel allows.
    expect(() => encodeDest(FAM, 'new', tcp80, { address: 'fd00::1', port: 80, forward: 'tunnel', weight: 1 }, 1)).not.toThrow();
  });
});

/** The service attributes of a request as a service state (the decoder reads requests too: same layout). */
function decodeServiceRequest(b: Buffer) {
  const s = decodeService(splitMessages(b)[0]!.body)!;
  return { key: serviceKeyId(s), flags: s.flags, netmask: s.netmask };
}

describe('IPVS genl codec: the kernel\'s answers', () => {
  it('GET_INFO: version and connection table size', () => {
    const m = answers(fixture.getInfo)[0]!;
    expect(genlCommand(m.body)).toBe(14);   // IPVS_CMD_SET_INFO: the kernel answers GET with SET
    expect(decodeInfo(m.body)).toEqual({ version: '1.2.1', connTabSize: 4096 });
  });

  it('GET_SERVICE dump: the three services as ipvsadm -Ln printed them', () => {
    const list = caseOf('list');
    expect(list.stdout).toContain('UDP  10.180.0.3:53 rr persistent 300 mask 255.255.255.0');
    const parts = answers(list.messages);
    const svcs = parts.filter((m) => m.type === FAM && genlCommand(m.body) === 1).map((m) => decodeService(m.body)!);
    expect(svcs.map(({ stats: _s, ...s }) => s)).toEqual([
      { family: 4, protocol: 'tcp', address: '10.180.0.1', port: 80, scheduler: 'rr', netmask: 32, timeout: 0, flags: 2 },
      { family: 4, protocol: 'udp', address: '10.180.0.3', port: 53, scheduler: 'rr', netmask: 24, timeout: 300, flags: 3, persistence: 300 },
      { family: 4, fwmark: 7, scheduler: 'sh', netmask: 32, timeout: 60, flags: 3, persistence: 60 },
    ]);
    for (const s of svcs) expect(s.stats).toEqual({ conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });
  });

  it('GET_DEST dump: forwarding method, weight, thresholds, connection counts', () => {
    const parts = answers(caseOf('list').messages).filter((m) => genlCommand(m.body) === 5 && m.type === FAM);
    const dests = parts.map((m) => decodeDest(m.body, 4)!).map(({ stats: _s, ...d }) => d);
    const counts = { activeConns: 0, inactiveConns: 0, persistConns: 0, family: 4 };
    // The kernel lists a service's destinations newest first.
    expect(dests).toEqual([
      { address: '10.180.1.13', port: 80, forward: 'tunnel', weight: 0, upperThreshold: 0, lowerThreshold: 0, ...counts },
      { address: '10.180.1.12', port: 80, forward: 'route', weight: 1, upperThreshold: 100, lowerThreshold: 10, ...counts },
      { address: '10.180.1.11', port: 8080, forward: 'masq', weight: 5, upperThreshold: 0, lowerThreshold: 0, ...counts },
      { address: '10.180.1.14', port: 0, forward: 'route', weight: 3, upperThreshold: 0, lowerThreshold: 0, ...counts },
    ]);
  });

  it('errors: EEXIST for a duplicate service, ENOENT for an unknown scheduler', () => {
    for (const [name, code] of [['new-service-duplicate', 'EEXIST'], ['new-service-unknown-scheduler', 'ENOENT']] as const) {
      const err = answers(caseOf(name).messages).find((m) => m.type === 2)!;
      expect(errnoName(decodeError(err.body)), name).toBe(code);
    }
    for (const name of ['new-service-tcp-wrr', 'new-dest-masq', 'flush']) {
      const ack = answers(caseOf(name).messages).find((m) => m.type === 2)!;
      expect(decodeError(ack.body), name).toBe(0);
    }
  });

  it('an encoded service decodes to itself (IPv6, one-packet, scheduler flags)', () => {
    const s: IpvsService = { family: 6, protocol: 'udp', address: 'fd18::1', port: 53, scheduler: 'sh', persistence: 30, netmask: 64, onePacket: true, schedFlags: 3 };
    const back = decodeService(splitMessages(encodeNewService(FAM, s, 1))[0]!.body)!;
    expect(back).toMatchObject({ ...s, netmask: 64, timeout: 30, flags: 0x1 | 0x4 | (3 << 3) });
    const d: IpvsDest = { address: 'fd18::2', port: 5353, forward: 'masq', weight: 7, upperThreshold: 5, lowerThreshold: 1 };
    expect(decodeDest(splitMessages(encodeDest(FAM, 'new', s, d, 1))[0]!.body, 6)).toMatchObject({ ...d, family: 6 });
  });

  it('garbage decodes to undefined, never throws', () => {
    for (const b of [Buffer.alloc(0), Buffer.from([1, 1, 0, 0]), Buffer.from('0101000008000100ffff', 'hex'), Buffer.alloc(64, 0xff)]) {
      expect(decodeService(b)).toBeUndefined();
      expect(decodeDest(b, 4)).toBeUndefined();
      expect(decodeInfo(b)).toBeUndefined();
      expect(decodeFamily(b)).toBeUndefined();
    }
  });
});
