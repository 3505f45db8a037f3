// VRRP advertisements on the wire: VRRPv2 (RFC 3768, IPv4 only) and VRRPv3
// (RFC 5798, IPv4 and IPv6), byte for byte as keepalived 2.2.7 sends and
// checks them (its captured bytes are vectors in test/unit/vrrp-packet.test.ts).
// Pure: no I/O. decode() never throws on what a packet says; it answers
// with the advert or one precise reason, which the receive path counts and
// logs (rate-limited) and the instance machine never sees.
//
//   v2: |0x21|vrid|prio|count|auth type|adver int (s)|checksum| count x IPv4 | 8 auth bytes |
//   v3: |0x31|vrid|prio|count|rsvd(4) max adver int (cs, 12)|checksum| count x IPv4 or IPv6 |
//
// Checksums (RFC 1071 ones' complement):
//   v2     over the VRRP message alone (the 8 auth bytes included, always present);
//   v3     'rfc': over an IPv4 {src, dst, 0, 112, len16} or IPv6 {src, dst, len32, 0,0,0, 112}
//          pseudo-header and the message: what RFC 5798 says and keepalived 2.2.7 sends and
//          requires (the destination is the real one: each unicast peer's copy differs);
//          'no-pseudo-header': over the message alone, as Cisco, FRR by default and RFC 9568 do
//          (keepalived's `v3_checksum_as_v2`, 2.2.8 and later). Chosen per instance: a
//          receiver in one mode rejects the other (reason 'checksum-mode', which names it).
//          The interop problem is IPv4's; IPv6 requires the pseudo-header (RFC 8200 §8.1),
//          so the codec honours the mode for IPv6 only because it is asked to.
// Not here, but the instance's: keepalived also drops a v2 advert whose interval
// differs from its own, and any advert whose address list differs from its own.

import { timingSafeEqual } from 'node:crypto';
import type { InterfaceInfo } from '../net/netlink.js';
import { ipFromBytes, isLinkLocal6, parseIp, type Family, type IpAddress } from '../net/addr.js';

export const IPPROTO_VRRP = 112;
/** Sent on every advert and required on every one received (RFC 5798 §5.1.1.3, §7.1). */
export const VRRP_TTL = 255;
export const VRRP_GROUP4 = '224.0.0.18';
export const VRRP_GROUP6 = 'ff02::12';
export const ADVERTISEMENT = 1;
/** v2 auth_type values (RFC 2338; RFC 3768 keeps the field, keepalived still uses 1). */
export const AUTH_NONE = 0;
export const AUTH_PASS = 1;
export const AUTH_AH = 2;
export const AUTH_DATA_LEN = 8;
export const HEADER_LEN = 8;
/** v3's 12-bit Max Advert Interval, in centiseconds: 40.95 s. */
export const MAX_INTERVAL_CS = 4095;

export type VrrpVersion = 2 | 3;
export type ChecksumMode = 'rfc' | 'no-pseudo-header';
export type VrrpAuth = { type: 'none' } | { type: 'pass'; password: string };

export interface Advert {
  version: VrrpVersion;
  vrid: number;              // 1..255
  priority: number;          // 0 (master stopping) .. 255 (address owner)
  /** v2: Adver Int x 100 (whole seconds only); v3: Max Advert Interval, 1..4095 cs. */
  intervalCs: number;
  /** Canonical text, in packet order; one family, the packet's. */
  addresses: string[];
}

export interface EncodeOptions {
  family: Family;
  /** The source and destination the IP layer will carry: v3's pseudo-header covers them. */
  src: string;
  dst: string;
  checksumMode?: ChecksumMode;   // default 'rfc'
  auth?: VrrpAuth;               // v2 only; default none
}

export interface DecodeContext {
  family: Family;
  /** From the IP header (IPv4) or recvmsg and its ancillary data (IPv6). */
  src: string;
  dst: string;
  /** IPv4 TTL or IPv6 hop limit as received. */
  ttl: number;
  checksumMode?: ChecksumMode;   // default 'rfc'
  /** v2: what this instance requires; default none. Ignored for v3 (no auth field). */
  auth?: VrrpAuth;
  /** The instance's version: an advert of the other one is refused (keepalived does too). */
  version?: VrrpVersion;
  /**
   * Default true (RFC 5798 §7.1). false only for a unicast instance that must
   * hear keepalived over IPv6: keepalived 2.2.7 sends its IPv6 unicast adverts
   * with the default hop limit (64, observed in test/netns/vrrp-wire.test.ts)
   * and skips the check itself for unicast.
   */
  checkTtl?: boolean;
}

export type DropReason =
  | 'bad-context'      // the receive path gave an address it cannot parse (a bug, not the packet)
  | 'ttl'              // TTL / hop limit not 255: sent from off the link
  | 'too-short'
  | 'bad-version'
  | 'version-mismatch'
  | 'bad-type'
  | 'v2-over-ipv6'
  | 'length'           // does not match the address count
  | 'checksum'
  | 'checksum-mode'    // matches the other checksum form: the peers disagree on the mode
  | 'interval-zero'
  | 'auth-type'
  | 'auth-mismatch';

export type DecodeResult =
  | { ok: true; advert: Advert; authType: number }
  | { ok: false; reason: DropReason; detail: string };

/** The 8 auth bytes of `auth_type PASS`: keepalived keeps the first 8 bytes of auth_pass, zero-padded ("ab" -> 61 62 00 x6). */
export function passAuthData(password: string): Buffer {
  const out = Buffer.alloc(AUTH_DATA_LEN);
  Buffer.from(password, 'utf8').copy(out, 0, 0, AUTH_DATA_LEN);
  return out;
}

/** RFC 1071 sum of the buffers (each starts on an even offset of the whole), folded and complemented. */
export function checksum(parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
    if (p.length % 2 === 1) sum += p[p.length - 1]! << 8;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The IPv4 or IPv6 pseudo-header v3 puts in front of the message for its checksum. */
export function pseudoHeader(src: IpAddress, dst: IpAddress, length: number): Buffer {
  if (src.family === 4) {
    const p = Buffer.alloc(12);
    src.bytes.copy(p, 0);
    dst.bytes.copy(p, 4);
    p[9] = IPPROTO_VRRP;
    p.writeUInt16BE(length, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  src.bytes.copy(p, 0);
  dst.bytes.copy(p, 16);
  p.writeUInt32BE(length, 32);
  p[39] = IPPROTO_VRRP;
  return p;
}

/** The checksum `message` (its checksum field ignored) should carry. */
export function vrrpChecksum(message: Buffer, version: VrrpVersion, mode: ChecksumMode, src: IpAddress, dst: IpAddress): number {
  const zeroed = Buffer.from(message);
  zeroed.writeUInt16BE(0, 6);
  if (version === 2 || mode === 'no-pseudo-header') return checksum([zeroed]);
  return checksum([pseudoHeader(src, dst, message.length), zeroed]);
}

/**
 * The VRRP message for `a` (no IP header). Throws RangeError on an advert
 * tandem should never build (its fields come from a checked config): a
 * programming error, not input.
 */
export function encode(a: Advert, o: EncodeOptions): Buffer {
  const src = parseIp(o.src);
  const dst = parseIp(o.dst);
  if (!src || !dst || src.family !== o.family || dst.family !== o.family) {
    throw new RangeError(`VRRP encode: source ${o.src} and destination ${o.dst} must be IPv${o.family} addresses`);
  }
  if (a.version !== 2 && a.version !== 3) throw new RangeError(`VRRP encode: version ${String(a.version)}`);
  if (a.version === 2 && o.family === 6) throw new RangeError('VRRP encode: VRRPv2 is IPv4 only (RFC 3768)');
  if (!isByte(a.vrid) || a.vrid === 0) throw new RangeError(`VRRP encode: vrid ${a.vrid} (1..255)`);
  if (!isByte(a.priority)) throw new RangeError(`VRRP encode: priority ${a.priority} (0..255)`);
  if (a.addresses.length > 255) throw new RangeError(`VRRP encode: ${a.addresses.length} addresses (at most 255)`);
  const alen = o.family === 4 ? 4 : 16;
  const addrs = a.addresses.map((t) => {
    const ip = parseIp(t);
    if (!ip || ip.family !== o.family) throw new RangeError(`VRRP encode: ${t} is not an IPv${o.family} address`);
    return ip.bytes;
  });
  const authLen = a.version === 2 ? AUTH_DATA_LEN : 0;
  const b = Buffer.alloc(HEADER_LEN + addrs.length * alen + authLen);
  b[0] = (a.version << 4) | ADVERTISEMENT;
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = addrs.length;
  if (a.version === 2) {
    const s = a.intervalCs / 100;
    if (!Number.isInteger(s) || s < 1 || s > 255) throw new RangeError(`VRRP encode: v2 interval ${a.intervalCs} cs (whole seconds 1..255)`);
    const auth = o.auth ?? { type: 'none' };
    b[4] = auth.type === 'pass' ? AUTH_PASS : AUTH_NONE;
    b[5] = s;
    if (auth.type === 'pass') passAuthData(auth.password).copy(b, HEADER_LEN + addrs.length * alen);
  } else {
    if (!Number.isInteger(a.intervalCs) || a.intervalCs < 1 || a.intervalCs > MAX_INTERVAL_CS) {
      throw new RangeError(`VRRP encode: v3 interval ${a.intervalCs} cs (1..${MAX_INTERVAL_CS})`);
    }
    if (o.auth && o.auth.type !== 'none') throw new RangeError('VRRP encode: VRRPv3 has no authentication');
    b.writeUInt16BE(a.intervalCs, 4);   // the 4 reserved bits stay 0
  }
  addrs.forEach((x, i) => x.copy(b, HEADER_LEN + i * alen));
  b.writeUInt16BE(vrrpChecksum(b, a.version, o.checksumMode ?? 'rfc', src, dst), 6);
  return b;
}

const drop = (reason: DropReason, detail: string): DecodeResult => ({ ok: false, reason, detail });
const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
const MODE_TEXT: Record<ChecksumMode, string> = {
  rfc: 'the RFC 5798 form with the pseudo-header',
  'no-pseudo-header': 'the form without the pseudo-header (v3_checksum_as_v2)',
};

/** A VRRP message (the IP payload) received with `ctx`: the advert, or why it is dropped. Never throws. */
export function decode(buf: Uint8Array, ctx: DecodeContext): DecodeResult {
  const src = parseIp(ctx.src);
  const dst = parseIp(ctx.dst);
  if (!src || !dst || src.family !== ctx.family || dst.family !== ctx.family) {
    return drop('bad-context', `source ${ctx.src} / destination ${ctx.dst} are not IPv${ctx.family} addresses`);
  }
  // Cheapest first; a router would have lowered it, so the sender is not on this link.
  if (ctx.checkTtl !== false && ctx.ttl !== VRRP_TTL) return drop('ttl', `${ctx.family === 4 ? 'TTL' : 'hop limit'} ${ctx.ttl}, must be ${VRRP_TTL}`);
  if (buf.length < HEADER_LEN) return drop('too-short', `${buf.length} bytes, a VRRP header is ${HEADER_LEN}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = b[0]! >> 4;
  const type = b[0]! & 0x0f;
  if (version !== 2 && version !== 3) return drop('bad-version', `version ${version}`);
  if (type !== ADVERTISEMENT) return drop('bad-type', `type ${type}, only 1 (advertisement) exists`);
  if (version === 2 && ctx.family === 6) return drop('v2-over-ipv6', 'VRRPv2 over IPv6 (RFC 3768 is IPv4 only)');
  if (ctx.version !== undefined && version !== ctx.version) return drop('version-mismatch', `VRRPv${version} advert, this instance runs VRRPv${ctx.version}`);
  const count = b[3]!;
  const alen = ctx.family === 4 ? 4 : 16;
  const authLen = version === 2 ? AUTH_DATA_LEN : 0;
  const want = HEADER_LEN + count * alen + authLen;
  if (b.length !== want) {
    return drop('length', `${b.length} bytes, ${count} IPv${ctx.family} address${count === 1 ? '' : 'es'} make${count === 1 ? 's' : ''} ${want}`);
  }
  const mode = ctx.checksumMode ?? 'rfc';
  const got = b.readUInt16BE(6);
  const expected = vrrpChecksum(b, version, mode, src, dst);
  if (got !== expected) {
    if (version === 3) {
      const other: ChecksumMode = mode === 'rfc' ? 'no-pseudo-header' : 'rfc';
      if (got === vrrpChecksum(b, version, other, src, dst)) {
        return drop('checksum-mode', `checksum ${hex4(got)} is ${MODE_TEXT[other]}; this instance expects ${MODE_TEXT[mode]}`);
      }
    }
    return drop('checksum', `checksum ${hex4(got)}, expected ${hex4(expected)}`);
  }
  const intervalCs = version === 2 ? b[5]! * 100 : b.readUInt16BE(4) & 0x0fff;
  if (intervalCs === 0) return drop('interval-zero', 'advertisement interval 0');
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_LEN + i * alen;
    addresses.push(parseIpBytes(b.subarray(at, at + alen)));
  }
  const authType = version === 2 ? b[4]! : AUTH_NONE;
  if (version === 2) {
    const need = ctx.auth ?? { type: 'none' };
    const needType = need.type === 'pass' ? AUTH_PASS : AUTH_NONE;
    if (authType !== needType) return drop('auth-type', `auth_type ${authName(authType)}, this instance uses ${authName(needType)}`);
    if (need.type === 'pass') {
      const data = b.subarray(b.length - AUTH_DATA_LEN);
      // Constant time: the comparison must not tell a guesser how many bytes were right.
      if (!timingSafeEqual(data, passAuthData(need.password))) return drop('auth-mismatch', 'auth_pass differs');
    }
  }
  return { ok: true, authType, advert: { version, vrid: b[1]!, priority: b[2]!, intervalCs, addresses } };
}

function authName(t: number): string {
  return t === AUTH_NONE ? 'none (0)' : t === AUTH_PASS ? 'PASS (1)' : t === AUTH_AH ? 'AH (2)' : `${t}`;
}

function parseIpBytes(b: Buffer): string {
  return ipFromBytes(b)!.text;   // 4 or 16 bytes by construction
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}

// ---- the IPv4 header a raw socket hands over --------------------------------

export interface Ipv4Datagram {
  src: string;
  dst: string;
  ttl: number;
  protocol: number;
  payload: Buffer;
}

/** Splits a received IPv4 datagram (header included, as raw IPv4 sockets deliver it); never throws. */
export function splitIpv4(buf: Uint8Array): { ok: true; ip: Ipv4Datagram } | { ok: false; reason: 'ip-header'; detail: string } {
  const bad = (detail: string) => ({ ok: false as const, reason: 'ip-header' as const, detail });
  if (buf.length < 20) return bad(`${buf.length} bytes, shorter than an IPv4 header`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b[0]! >> 4 !== 4) return bad(`IP version ${b[0]! >> 4}`);
  const ihl = (b[0]! & 0x0f) * 4;
  const total = b.readUInt16BE(2);
  if (ihl < 20 || total < ihl || total > b.length) return bad(`header length ${ihl}, total length ${total}, ${b.length} bytes received`);
  // The kernel reassembles before a raw socket sees anything; a fragment here is malformed.
  if ((b.readUInt16BE(6) & 0x3fff) !== 0) return bad('a fragment');
  return {
    ok: true,
    ip: {
      src: `${b[12]}.${b[13]}.${b[14]}.${b[15]}`,
      dst: `${b[16]}.${b[17]}.${b[18]}.${b[19]}`,
      ttl: b[8]!,
      protocol: b[9]!,
      payload: b.subarray(ihl, total),
    },
  };
}

// ---- addresses ----------------------------------------------------------------

/**
 * The address adverts go out from, as keepalived picks it: IPv4, the
 * interface's primary address (the first the kernel lists that is not a
 * secondary, and not one of `exclude`, the instance's own VIPs); IPv6, its
 * link-local address (RFC 5798 §5.1.2.1), not while still tentative.
 * undefined: the interface has none yet (the instance cannot advertise).
 */
export function primaryAddress(nic: InterfaceInfo, family: Family, exclude: readonly string[] = []): string | undefined {
  const skip = new Set(exclude.map((x) => parseIp(x)?.text ?? x));
  for (const a of nic.addresses) {
    if (a.family !== family || skip.has(a.address)) continue;
    if (family === 4 && !a.secondary) return a.address;
    if (family === 6 && !a.tentative && isLinkLocal6(parseIp(a.address)!.bytes)) return a.address;
  }
  return undefined;
}

/**
 * Orders two primary addresses of one family as unsigned numbers: the
 * equal-priority tie-break (RFC 5798 §6.4.3: the higher address wins).
 * Negative when a < b. Unparseable text sorts first.
 */
export function compareAddresses(a: string, b: string): number {
  const x = parseIp(a)?.bytes;
  const y = parseIp(b)?.bytes;
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
  return Buffer.compare(x, y);
}
