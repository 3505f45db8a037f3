// The VRRP codec against vectors laid out by hand from RFC 3768 §5.1 and
// RFC 5798 §5.1/§5.2 (checksums summed by hand in the comments), against
// payloads keepalived 2.2.7 put on the wire (bytes written out here, so the
// test needs nothing outside the repository), and every reason decode gives.

import { describe, expect, it } from 'vitest';
import {
  compareAddresses, decode, encode, passAuthData, primaryAddress, splitIpv4, vrrpChecksum,
  type Advert, type DecodeContext,
} from '../../src/vrrp/packet.js';
import { parseIp } from '../../src/net/addr.js';
import type { InterfaceInfo } from '../../src/net/netlink.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ctx4 = (over: Partial<DecodeContext> = {}): DecodeContext => ({ family: 4, src: '10.78.0.1', dst: '224.0.0.18', ttl: 255, ...over });
const ctx6 = (over: Partial<DecodeContext> = {}): DecodeContext => ({ family: 6, src: 'fe80::c8b8:a1ff:fecf:e817', dst: 'ff02::12', ttl: 255, ...over });

// RFC 3768 §5.1: version 2 | type 1, VRID 51, priority 150, count 1, auth 0,
// adver int 1 s, checksum, 10.78.0.100, 8 zero auth bytes.
// Checksum: 0x2133 + 0x9601 + 0x0001 + 0x0a4e + 0x0064 = 0xc1e7, ~ = 0x3e18.
const V2_NOAUTH = hex('21 33 96 01  00 01 3e 18  0a 4e 00 64  00 00 00 00 00 00 00 00');
// RFC 5798 §5.1: version 3 | type 1, VRID 51, priority 150, count 1,
// rsvd 0 | max adver int 10 cs, checksum, 10.78.0.100.
// Message words: 0x3133 + 0x9601 + 0x000a + 0x0a4e + 0x0064 = 0xd1f0.
// IPv4 pseudo-header 10.78.0.1 > 224.0.0.18, 0, 112, length 12:
//   0x0a4e + 0x0001 + 0xe000 + 0x0012 + 0x0070 + 0x000c = 0xeadd.
// With it: 0xeadd + 0xd1f0 = 0x1bccd -> 0xbcce, ~ = 0x4331 ('rfc').
// Without it: ~0xd1f0 = 0x2e0f ('no-pseudo-header').
const V3_RFC = hex('31 33 96 01  00 0a 43 31  0a 4e 00 64');
const V3_NOPH = hex('31 33 96 01  00 0a 2e 0f  0a 4e 00 64');

describe('VRRP codec: vectors', () => {
  it('VRRPv2 without authentication, built by hand from RFC 3768 (also what keepalived sent)', () => {
    const a: Advert = { version: 2, vrid: 51, priority: 150, intervalCs: 100, addresses: ['10.78.0.100'] };
    expect(encode(a, { family: 4, src: '10.78.0.1', dst: '224.0.0.18' }).toString('hex')).toBe(V2_NOAUTH.toString('hex'));
    expect(decode(V2_NOAUTH, ctx4())).toEqual({ ok: true, authType: 0, advert: a });
  });

  it('VRRPv2 has no pseudo-header: the same bytes to another group or a unicast peer', () => {
    const a: Advert = { version: 2, vrid: 51, priority: 150, intervalCs: 100, addresses: ['10.78.0.100'] };
    expect(encode(a, { family: 4, src: '10.78.0.1', dst: '224.0.0.78' })).toEqual(V2_NOAUTH);
    expect(decode(V2_NOAUTH, ctx4({ dst: '10.78.0.2' })).ok).toBe(true);
    // the mode only concerns v3
    expect(decode(V2_NOAUTH, ctx4({ checksumMode: 'no-pseudo-header' })).ok).toBe(true);
  });

  it('VRRPv2 auth_type PASS: 8 bytes after the addresses, zero-padded as keepalived pads "ab"', () => {
    expect(passAuthData('ab').toString('hex')).toBe('6162000000000000');
    expect(passAuthData('secret12345').toString()).toBe('secret12');   // keepalived keeps 8 characters
    // keepalived 2.2.7: PASS "secret12", and PASS "ab" with 3 VIPs, prio 200, advert_int 2.
    const secret = hex('213396010101cf990a4e00647365637265743132');
    const ab3 = hex('2133c8030102944b0a4e00640a4e00650a4e00666162000000000000');
    const a1: Advert = { version: 2, vrid: 51, priority: 150, intervalCs: 100, addresses: ['10.78.0.100'] };
    const a3: Advert = { version: 2, vrid: 51, priority: 200, intervalCs: 200, addresses: ['10.78.0.100', '10.78.0.101', '10.78.0.102'] };
    expect(encode(a1, { family: 4, src: '10.78.0.1', dst: '224.0.0.18', auth: { type: 'pass', password: 'secret12' } })).toEqual(secret);
    expect(encode(a3, { family: 4, src: '10.78.0.1', dst: '224.0.0.18', auth: { type: 'pass', password: 'ab' } })).toEqual(ab3);
    expect(decode(secret, ctx4({ auth: { type: 'pass', password: 'secret12' } }))).toEqual({ ok: true, authType: 1, advert: a1 });
    expect(decode(ab3, ctx4({ auth: { type: 'pass', password: 'ab' } }))).toEqual({ ok: true, authType: 1, advert: a3 });
  });

  it('VRRPv3 over IPv4: interval in centiseconds, checksum with the pseudo-header by default', () => {
    const a: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 10, addresses: ['10.78.0.100'] };
    expect(encode(a, { family: 4, src: '10.78.0.1', dst: '224.0.0.18' })).toEqual(V3_RFC);
    expect(encode(a, { family: 4, src: '10.78.0.1', dst: '224.0.0.18', checksumMode: 'no-pseudo-header' })).toEqual(V3_NOPH);
    expect(decode(V3_RFC, ctx4())).toEqual({ ok: true, authType: 0, advert: a });
    expect(decode(V3_NOPH, ctx4({ checksumMode: 'no-pseudo-header' }))).toEqual({ ok: true, authType: 0, advert: a });
  });

  it('VRRPv3 unicast: the pseudo-header carries the peer, so each copy has its own checksum (keepalived 2.2.7 bytes)', () => {
    const uni = hex('313396010064189a0a4e0064');
    const a: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: ['10.78.0.100'] };
    expect(encode(a, { family: 4, src: '10.78.0.1', dst: '10.78.0.2' })).toEqual(uni);
    expect(decode(uni, ctx4({ dst: '10.78.0.2' })).ok).toBe(true);
    expect(decode(uni, ctx4({ dst: '10.78.0.3' }))).toMatchObject({ ok: false, reason: 'checksum' });
  });

  it('VRRPv3 over IPv6 with the IPv6 pseudo-header (keepalived 2.2.7: link-local source, two addresses)', () => {
    const v6 = hex('313396020064ea25fe800000000000000000000000780100fd000078000000000000000000000100');
    const a: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: ['fe80::78:100', 'fd00:78::100'] };
    expect(encode(a, { family: 6, src: 'fe80::c8b8:a1ff:fecf:e817', dst: 'ff02::12' })).toEqual(v6);
    expect(decode(v6, ctx6())).toEqual({ ok: true, authType: 0, advert: a });
    // priority 0 on shutdown: only the priority byte and the checksum move
    const stop = hex('3133000200648026fe800000000000000000000000780100fd000078000000000000000000000100');
    expect(decode(stop, ctx6())).toMatchObject({ ok: true, advert: { priority: 0 } });
  });

  it('the 12-bit interval: 4095 cs (40.95 s) round-trips, the 4 reserved bits are ignored on receive', () => {
    const a: Advert = { version: 3, vrid: 255, priority: 255, intervalCs: 4095, addresses: ['10.0.0.1', '10.0.0.2'] };
    const b = encode(a, { family: 4, src: '10.0.0.9', dst: '224.0.0.18' });
    expect(b.readUInt16BE(4)).toBe(0x0fff);
    expect(decode(b, ctx4({ src: '10.0.0.9' }))).toEqual({ ok: true, authType: 0, advert: a });
    const r = Buffer.from(b);
    r[4] = r[4]! | 0xf0;
    r.writeUInt16BE(vrrpChecksum(r, 3, 'rfc', parseIp('10.0.0.9')!, parseIp('224.0.0.18')!), 6);
    expect(decode(r, ctx4({ src: '10.0.0.9' }))).toMatchObject({ ok: true, advert: { intervalCs: 4095 } });
  });

  it('round trips: every version, family, mode and auth, 0..255 addresses', () => {
    const cases: Array<[Advert, 4 | 6, string, string]> = [];
    for (const n of [0, 1, 7, 255]) {
      const v4 = Array.from({ length: n }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
      const v6 = Array.from({ length: n }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
      cases.push([{ version: 2, vrid: 1, priority: 0, intervalCs: 25500, addresses: v4 }, 4, '10.0.0.1', '224.0.0.18']);
      cases.push([{ version: 3, vrid: 200, priority: 254, intervalCs: 1, addresses: v4 }, 4, '10.0.0.1', '10.0.0.2']);
      cases.push([{ version: 3, vrid: 9, priority: 100, intervalCs: 333, addresses: v6 }, 6, 'fe80::1', 'ff02::12']);
    }
    for (const [a, family, src, dst] of cases) {
      for (const checksumMode of ['rfc', 'no-pseudo-header'] as const) {
        const auth = a.version === 2 ? { type: 'pass' as const, password: 'pw' } : undefined;
        const b = encode(a, { family, src, dst, checksumMode, ...(auth ? { auth } : {}) });
        expect(decode(b, { family, src, dst, ttl: 255, checksumMode, version: a.version, ...(auth ? { auth } : {}) })).toEqual({ ok: true, authType: auth ? 1 : 0, advert: a });
      }
    }
  });

  it('encode refuses what tandem must never send', () => {
    const a: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: ['10.78.0.100'] };
    const o = { family: 4 as const, src: '10.78.0.1', dst: '224.0.0.18' };
    expect(() => encode({ ...a, version: 2 }, { ...o, family: 6, src: 'fe80::1', dst: 'ff02::12' })).toThrow(/IPv4 only/);
    expect(() => encode({ ...a, version: 2, intervalCs: 150 }, o)).toThrow(/whole seconds/);
    expect(() => encode({ ...a, intervalCs: 4096 }, o)).toThrow(/1\.\.4095/);
    expect(() => encode({ ...a, intervalCs: 0 }, o)).toThrow(/1\.\.4095/);
    expect(() => encode({ ...a, vrid: 0 }, o)).toThrow(/vrid/);
    expect(() => encode({ ...a, priority: 256 }, o)).toThrow(/priority/);
    expect(() => encode({ ...a, addresses: ['fd00::1'] }, o)).toThrow(/not an IPv4/);
    expect(() => encode(a, { ...o, auth: { type: 'pass', password: 'x' } })).toThrow(/no authentication/);
    expect(() => encode(a, { ...o, src: 'fe80::1' })).toThrow(/IPv4/);
  });
});

describe('VRRP codec: every reason a received advert is dropped', () => {
  const reason = (b: Uint8Array, c: DecodeContext) => {
    const r = decode(b, c);
    return r.ok ? 'accepted' : `${r.reason}: ${r.detail}`;
  };

  it('TTL or hop limit other than 255', () => {
    expect(reason(V2_NOAUTH, ctx4({ ttl: 254 }))).toBe('ttl: TTL 254, must be 255');
    expect(reason(V3_RFC, ctx4({ ttl: 1 }))).toBe('ttl: TTL 1, must be 255');
    const v6 = hex('313396020064ea25fe800000000000000000000000780100fd000078000000000000000000000100');
    expect(reason(v6, ctx6({ ttl: 64 }))).toBe('ttl: hop limit 64, must be 255');
    // only a unicast instance hearing keepalived's IPv6 unicast adverts (hop limit 64) turns it off
    expect(reason(v6, ctx6({ ttl: 64, checkTtl: false }))).toBe('accepted');
  });

  it('short, wrong version, wrong type', () => {
    expect(reason(Buffer.alloc(0), ctx4())).toBe('too-short: 0 bytes, a VRRP header is 8');
    expect(reason(V2_NOAUTH.subarray(0, 7), ctx4())).toMatch(/^too-short/);
    const v = Buffer.from(V2_NOAUTH); v[0] = 0x11;
    expect(reason(v, ctx4())).toBe('bad-version: version 1');
    v[0] = 0x41;
    expect(reason(v, ctx4())).toBe('bad-version: version 4');
    const t = Buffer.from(V2_NOAUTH); t[0] = 0x22;
    expect(reason(t, ctx4())).toBe('bad-type: type 2, only 1 (advertisement) exists');
  });

  it('VRRPv2 over IPv6, and a version the instance does not run', () => {
    const a: Advert = { version: 3, vrid: 1, priority: 1, intervalCs: 100, addresses: [] };
    const b = encode(a, { family: 6, src: 'fe80::1', dst: 'ff02::12' });
    b[0] = 0x21;
    expect(reason(b, ctx6({ src: 'fe80::1' }))).toBe('v2-over-ipv6: VRRPv2 over IPv6 (RFC 3768 is IPv4 only)');
    expect(reason(V2_NOAUTH, ctx4({ version: 3 }))).toBe('version-mismatch: VRRPv2 advert, this instance runs VRRPv3');
    expect(reason(V3_RFC, ctx4({ version: 2 }))).toBe('version-mismatch: VRRPv3 advert, this instance runs VRRPv2');
  });

  it('length that does not match the address count', () => {
    expect(reason(Buffer.concat([V2_NOAUTH, Buffer.alloc(1)]), ctx4())).toBe('length: 21 bytes, 1 IPv4 address makes 20');
    expect(reason(V2_NOAUTH.subarray(0, 16), ctx4())).toBe('length: 16 bytes, 1 IPv4 address makes 20');
    const c = Buffer.from(V3_RFC); c[3] = 2;
    expect(reason(c, ctx4())).toBe('length: 12 bytes, 2 IPv4 addresses make 16');
    // a v3 IPv4 advert read as IPv6: 4-byte addresses are not 16-byte ones
    expect(reason(V3_RFC, ctx6())).toBe('length: 12 bytes, 1 IPv6 address makes 24');
  });

  it('a damaged checksum, and the other checksum mode named as such', () => {
    const d = Buffer.from(V2_NOAUTH); d[2] = 151;
    expect(reason(d, ctx4())).toBe('checksum: checksum 0x3e18, expected 0x3d18');
    expect(reason(V3_NOPH, ctx4())).toBe('checksum-mode: checksum 0x2e0f is the form without the pseudo-header (v3_checksum_as_v2); this instance expects the RFC 5798 form with the pseudo-header');
    expect(reason(V3_RFC, ctx4({ checksumMode: 'no-pseudo-header' }))).toBe('checksum-mode: checksum 0x4331 is the RFC 5798 form with the pseudo-header; this instance expects the form without the pseudo-header (v3_checksum_as_v2)');
    const e = Buffer.from(V3_RFC); e[6] = 0;
    expect(reason(e, ctx4())).toBe('checksum: checksum 0x0031, expected 0x4331');
    // the pseudo-header binds the source too
    expect(reason(V3_RFC, ctx4({ src: '10.78.0.9' }))).toMatch(/^checksum: /);
  });

  it('an advertisement interval of 0 (v2 and v3), checked after the checksum', () => {
    const z2 = Buffer.from(V2_NOAUTH); z2[5] = 0;
    z2.writeUInt16BE(vrrpChecksum(z2, 2, 'rfc', parseIp('10.78.0.1')!, parseIp('224.0.0.18')!), 6);
    expect(reason(z2, ctx4())).toBe('interval-zero: advertisement interval 0');
    const z3 = Buffer.from(V3_RFC); z3.writeUInt16BE(0xf000, 4);   // reserved bits set, interval 0
    z3.writeUInt16BE(vrrpChecksum(z3, 3, 'rfc', parseIp('10.78.0.1')!, parseIp('224.0.0.18')!), 6);
    expect(reason(z3, ctx4())).toBe('interval-zero: advertisement interval 0');
  });

  it('authentication: type mismatch either way, wrong password, AH on protocol 112', () => {
    const secret = hex('213396010101cf990a4e00647365637265743132');
    expect(reason(secret, ctx4())).toBe('auth-type: auth_type PASS (1), this instance uses none (0)');
    expect(reason(V2_NOAUTH, ctx4({ auth: { type: 'pass', password: 'secret12' } }))).toBe('auth-type: auth_type none (0), this instance uses PASS (1)');
    expect(reason(secret, ctx4({ auth: { type: 'pass', password: 'secret13' } }))).toBe('auth-mismatch: auth_pass differs');
    expect(reason(secret, ctx4({ auth: { type: 'pass', password: 'secret1' } }))).toBe('auth-mismatch: auth_pass differs');
    // only the first 8 characters count, as in keepalived
    expect(reason(secret, ctx4({ auth: { type: 'pass', password: 'secret12-and-more' } }))).toBe('accepted');
    const ah = Buffer.from(V2_NOAUTH); ah[4] = 2;
    ah.writeUInt16BE(vrrpChecksum(ah, 2, 'rfc', parseIp('10.78.0.1')!, parseIp('224.0.0.18')!), 6);
    expect(reason(ah, ctx4())).toBe('auth-type: auth_type AH (2), this instance uses none (0)');
    // v3 has no auth field: an instance's auth setting does not apply
    expect(reason(V3_RFC, ctx4({ auth: { type: 'pass', password: 'x' } }))).toBe('accepted');
  });

  it('a context the receive path got wrong is reported, not thrown', () => {
    expect(reason(V2_NOAUTH, ctx4({ src: 'nonsense' }))).toBe('bad-context: source nonsense / destination 224.0.0.18 are not IPv4 addresses');
    expect(reason(V2_NOAUTH, ctx4({ dst: 'ff02::12' }))).toMatch(/^bad-context/);
  });

  it('never throws: every truncation and every single-byte change of a valid advert', () => {
    const v6 = hex('313396020064ea25fe800000000000000000000000780100fd000078000000000000000000000100');
    for (const [b, c] of [[V2_NOAUTH, ctx4()], [V3_RFC, ctx4()], [v6, ctx6()]] as const) {
      for (let n = 0; n <= b.length; n++) expect(() => decode(b.subarray(0, n), c)).not.toThrow();
      for (let i = 0; i < b.length; i++) {
        for (const x of [0x00, 0x01, 0x80, 0xff]) {
          const m = Buffer.from(b); m[i] = m[i]! ^ x;
          const r = decode(m, c);
          // the checksum catches every single-byte change that is not a no-op
          if (x !== 0) expect(r.ok).toBe(false);
        }
      }
    }
  });
});

describe('IPv4 header from the raw socket', () => {
  // keepalived 2.2.7's first v2 advert: 45 c0 0028 0001 0000 ff 70 d043 0a4e0001 e0000012, then the 20-byte message
  const datagram = hex('45c0002800010000ff70d0430a4e0001e0000012').toString('hex') + V2_NOAUTH.toString('hex');

  it('takes source, destination, TTL and protocol from the header', () => {
    const r = splitIpv4(hex(datagram));
    expect(r).toMatchObject({ ok: true, ip: { src: '10.78.0.1', dst: '224.0.0.18', ttl: 255, protocol: 112 } });
    if (r.ok) expect(r.ip.payload).toEqual(V2_NOAUTH);
  });

  it('header options are skipped; padding past the total length is cut', () => {
    const withOpt = Buffer.concat([hex('46c0002c00010000ff700000 0a4e0001 e0000012 01010100'), V2_NOAUTH, Buffer.alloc(3)]);
    const r = splitIpv4(withOpt);
    expect(r.ok && r.ip.payload).toEqual(V2_NOAUTH);
  });

  it('refuses what is not a whole IPv4 datagram', () => {
    const d = hex(datagram);
    expect(splitIpv4(d.subarray(0, 19))).toMatchObject({ ok: false, reason: 'ip-header' });
    const v6 = Buffer.from(d); v6[0] = 0x65;
    expect(splitIpv4(v6)).toMatchObject({ ok: false, detail: 'IP version 6' });
    const long = Buffer.from(d); long.writeUInt16BE(41, 2);
    expect(splitIpv4(long)).toMatchObject({ ok: false, detail: 'header length 20, total length 41, 40 bytes received' });
    const frag = Buffer.from(d); frag.writeUInt16BE(0x2000, 6);
    expect(splitIpv4(frag)).toMatchObject({ ok: false, detail: 'a fragment' });
    const ihl = Buffer.from(d); ihl[0] = 0x44;
    expect(splitIpv4(ihl)).toMatchObject({ ok: false, reason: 'ip-header' });
  });
});

describe('addresses', () => {
  const nic = (addresses: InterfaceInfo['addresses']): InterfaceInfo => ({ name: 'eth0', index: 2, up: true, running: true, carrier: true, loopback: false, noarp: false, addresses });

  it('the primary IPv4 address, never a secondary or one of the VIPs', () => {
    const n = nic([
      { family: 6, address: 'fd00::1', prefixLen: 64, secondary: false },
      { family: 4, address: '10.0.0.100', prefixLen: 24, secondary: false },
      { family: 4, address: '10.0.0.1', prefixLen: 24, secondary: true },
      { family: 4, address: '10.1.0.1', prefixLen: 24, secondary: false },
    ]);
    expect(primaryAddress(n, 4)).toBe('10.0.0.100');
    expect(primaryAddress(n, 4, ['10.0.0.100'])).toBe('10.1.0.1');
    expect(primaryAddress(nic([]), 4)).toBeUndefined();
  });

  it('IPv6 adverts come from the link-local address, once it is no longer tentative', () => {
    const n = nic([
      { family: 6, address: 'fd00::1', prefixLen: 64, secondary: false },
      { family: 6, address: 'fe80::1', prefixLen: 64, secondary: false, tentative: true },
      { family: 6, address: 'fe80::2', prefixLen: 64, secondary: false },
    ]);
    expect(primaryAddress(n, 6)).toBe('fe80::2');
    expect(primaryAddress(nic([{ family: 6, address: 'fd00::1', prefixLen: 64, secondary: false }]), 6)).toBeUndefined();
  });

  it('the equal-priority tie-break compares addresses as unsigned numbers', () => {
    expect(compareAddresses('10.78.0.2', '10.78.0.1')).toBeGreaterThan(0);
    expect(compareAddresses('9.255.255.255', '10.0.0.0')).toBeLessThan(0);
    expect(compareAddresses('200.0.0.1', '10.0.0.1')).toBeGreaterThan(0);   // not a signed compare
    expect(compareAddresses('fe80::2', 'fe80::10')).toBeLessThan(0);
    expect(compareAddresses('10.0.0.1', '10.0.0.1')).toBe(0);
  });
});
