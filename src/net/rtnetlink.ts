// rtnetlink messages as bytes: what the kernel's NETLINK_ROUTE socket reads
// and writes for addresses, links and routes (linux/netlink.h,
// linux/rtnetlink.h, linux/if_addr.h, linux/if_link.h). Pure: encoding and
// decoding only, so every byte is unit-tested; netlink.ts does the I/O.
//
// Netlink headers are in host byte order; tandem runs on little-endian
// Linux hosts (x86-64, arm64), and the check below refuses anything else
// rather than sending garbage to the kernel.

import { ipFromBytes, type Family } from './addr.js';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('tandem net core: netlink encoding assumes a little-endian host');
}

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_OPERSTATE = 16;
export const IFLA_CARRIER = 33;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_LOWER_UP = 0x10000;

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RTPROT_STATIC = 4;
/** What keepalived marks its virtual_routes with (`proto keepalived` in `ip route`). */
export const RTPROT_KEEPALIVED = 18;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNICAST = 1;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;

// Multicast groups (RTNLGRP_*) for link, address and route events.
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_IFADDR = 9;
export const RTNLGRP_IPV6_ROUTE = 11;

const NLMSG_HDRLEN = 16;
const IFADDRMSG_LEN = 8;
const IFINFOMSG_LEN = 16;
const RTMSG_LEN = 12;

const align4 = (n: number): number => (n + 3) & ~3;

export type Attr = [type: number, value: Buffer];

export function familyOf(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

/** Netlink attributes laid end to end, each padded to 4 bytes (nested ones are an attribute of these bytes). */
export function attrBytes(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, value] of attrs) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + value.length, 0);
    h.writeUInt16LE(type, 2);
    parts.push(h, value, Buffer.alloc(align4(value.length) - value.length));
  }
  return Buffer.concat(parts);
}

/** One netlink message: header, fixed part (padded to 4), attributes. */
export function encodeMessage(type: number, flags: number, seq: number, fixed: Buffer, attrs: Attr[] = []): Buffer {
  const body = Buffer.concat([fixed, Buffer.alloc(align4(fixed.length) - fixed.length), attrBytes(attrs)]);
  const h = Buffer.alloc(NLMSG_HDRLEN);
  h.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq >>> 0, 8);
  h.writeUInt32LE(0, 12);   // port id: the kernel fills in ours
  return Buffer.concat([h, body]);
}

const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0, 0); return b; };
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);

function ifaddrmsg(family: number, prefixLen: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

function ifinfomsg(family: number, index: number, flags: number, change: number): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

export interface AddrRequest {
  index: number;
  address: Buffer;          // 4 or 16 bytes
  prefixLen: number;
  broadcast?: Buffer;       // IPv4 only
  label?: string;           // IPv4 only
  /** IFA_F_* flags; IFA_F_NODAD makes an IPv6 address usable without duplicate address detection. */
  flags?: number;
}

/**
 * RTM_NEWADDR (create, fail if present) or RTM_DELADDR, acknowledged. A delete
 * without prefixLen (-1) matches any entry with this local address (IPv4).
 */
export function encodeAddr(op: 'add' | 'del', a: AddrRequest, seq: number): Buffer {
  const family = a.address.length === 4 ? AF_INET : AF_INET6;
  const flags = a.flags ?? 0;
  const attrs: Attr[] = [[IFA_LOCAL, a.address]];
  // IFA_ADDRESS makes the kernel match the prefix length on delete too.
  if (a.prefixLen >= 0) attrs.push([IFA_ADDRESS, a.address]);
  if (a.broadcast) attrs.push([IFA_BROADCAST, a.broadcast]);
  if (a.label !== undefined) attrs.push([IFA_LABEL, cstr(a.label)]);
  // The u8 header field holds only the low 8 flag bits; IFA_FLAGS has all 32.
  if (op === 'add' && flags !== 0) attrs.push([IFA_FLAGS, u32(flags)]);
  const nl = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : 0);
  return encodeMessage(op === 'add' ? RTM_NEWADDR : RTM_DELADDR, nl, seq,
    ifaddrmsg(family, Math.max(0, a.prefixLen), flags, RT_SCOPE_UNIVERSE, a.index), attrs);
}

/** RTM_NEWLINK changing only IFF_UP (`ip link set DEV up|down`), acknowledged. */
export function encodeLinkUp(index: number, up: boolean, seq: number): Buffer {
  return encodeMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(AF_UNSPEC, index, up ? IFF_UP : 0, IFF_UP));
}

export interface RouteRequest {
  dst: Buffer;              // 4 or 16 bytes (network address); all zero with dstLen 0 (default)
  dstLen: number;
  gateway?: Buffer;
  oif?: number;
  metric?: number;
  table?: number;           // default main; above 255 only in RTA_TABLE
  /** RTA_PREFSRC: the source address the host picks for this route (`src`). */
  prefsrc?: Buffer;
  /** RT_SCOPE_*; add: universe with a gateway or for a non-unicast type, else link (as `ip route add`). */
  scope?: number;
  /** RTN_*; default unicast. Blackhole, unreachable and prohibit take no gateway or device. */
  type?: number;
  /** RTPROT_* of an add (default static); on a delete, when given, only a route of that protocol matches. */
  protocol?: number;
}

/**
 * RTM_NEWROUTE (create, fail if present) or RTM_DELROUTE, acknowledged. A
 * delete carries every attribute of the route so that the kernel removes only
 * that route, not another one to the same prefix (IPv4 matches type, scope,
 * prefsrc, protocol, gateway and device when given; IPv6 gateway, device,
 * metric and protocol).
 */
export function encodeRoute(op: 'add' | 'del', r: RouteRequest, seq: number): Buffer {
  const family = r.dst.length === 4 ? AF_INET : AF_INET6;
  const table = r.table ?? RT_TABLE_MAIN;
  const type = r.type ?? RTN_UNICAST;
  const m = Buffer.alloc(RTMSG_LEN);
  m.writeUInt8(family, 0);
  m.writeUInt8(r.dstLen, 1);
  m.writeUInt8(table < 256 ? table : RT_TABLE_UNSPEC, 4);
  if (op === 'add') {
    m.writeUInt8(r.protocol ?? RTPROT_STATIC, 5);
    m.writeUInt8(r.scope ?? (r.gateway || type !== RTN_UNICAST ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK), 6);
  } else {
    // As `ip route del`: scope NOWHERE and protocol 0 match any; the type must match.
    m.writeUInt8(r.protocol ?? 0, 5);
    m.writeUInt8(r.scope ?? RT_SCOPE_NOWHERE, 6);
  }
  m.writeUInt8(type, 7);
  // A default route has no RTA_DST (as `ip route add default`).
  const attrs: Attr[] = r.dstLen > 0 ? [[RTA_DST, r.dst]] : [];
  attrs.push([RTA_TABLE, u32(table)]);
  if (r.gateway) attrs.push([RTA_GATEWAY, r.gateway]);
  if (r.oif !== undefined) attrs.push([RTA_OIF, u32(r.oif)]);
  if (r.metric !== undefined) attrs.push([RTA_PRIORITY, u32(r.metric)]);
  if (r.prefsrc) attrs.push([RTA_PREFSRC, r.prefsrc]);
  const nl = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : 0);
  return encodeMessage(op === 'add' ? RTM_NEWROUTE : RTM_DELROUTE, nl, seq, m, attrs);
}

/** A dump request (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) for one family or all. */
export function encodeDump(type: typeof RTM_GETLINK | typeof RTM_GETADDR | typeof RTM_GETROUTE, family: number, seq: number): Buffer {
  const fixed = type === RTM_GETLINK ? ifinfomsg(family, 0, 0, 0)
    : type === RTM_GETADDR ? ifaddrmsg(family, 0, 0, 0, 0)
      : Buffer.from([family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  return encodeMessage(type, NLM_F_REQUEST | NLM_F_DUMP, seq, fixed);
}

// ---- decoding --------------------------------------------------------------

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  body: Buffer;
}

/** Splits one datagram into messages; a truncated tail is dropped, never read past. */
export function splitMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      body: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

export function parseAttrs(buf: Buffer, start: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff;   // without NLA_F_NESTED / NET_BYTEORDER
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/** errno of an NLMSG_ERROR body: 0 is an acknowledgement. */
export function decodeError(body: Buffer): number {
  return body.length >= 4 ? 0 - body.readInt32LE(0) : 0;
}

const cstrOf = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

export interface AddrInfo {
  family: Family;
  index: number;
  prefixLen: number;
  flags: number;            // IFA_F_*, from IFA_FLAGS when present
  scope: number;
  address: string;          // the local address (canonical text)
  broadcast?: string;
  label?: string;
}

export function decodeAddr(body: Buffer): AddrInfo | undefined {
  if (body.length < IFADDRMSG_LEN) return undefined;
  const fam = body.readUInt8(0);
  if (fam !== AF_INET && fam !== AF_INET6) return undefined;
  const attrs = parseAttrs(body, IFADDRMSG_LEN);
  const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  const ip = raw ? ipFromBytes(raw) : undefined;
  if (!ip) return undefined;
  const f = attrs.get(IFA_FLAGS);
  const out: AddrInfo = {
    family: ip.family,
    index: body.readUInt32LE(4),
    prefixLen: body.readUInt8(1),
    flags: f && f.length >= 4 ? f.readUInt32LE(0) : body.readUInt8(2),
    scope: body.readUInt8(3),
    address: ip.text,
  };
  const b = attrs.get(IFA_BROADCAST);
  if (b && b.length === 4) out.broadcast = ipFromBytes(b)!.text;
  const label = cstrOf(attrs.get(IFA_LABEL));
  if (label !== undefined) out.label = label;
  return out;
}

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;            // IFF_*
  up: boolean;              // administratively up
  running: boolean;         // IFF_RUNNING: up and with carrier (operational)
  carrier: boolean;         // IFF_LOWER_UP
  loopback: boolean;
  noarp: boolean;
  mac?: string;
}

export function decodeLink(body: Buffer): LinkInfo | undefined {
  if (body.length < IFINFOMSG_LEN) return undefined;
  const index = body.readInt32LE(4);
  const flags = body.readUInt32LE(8);
  const attrs = parseAttrs(body, IFINFOMSG_LEN);
  const out: LinkInfo = {
    index,
    name: cstrOf(attrs.get(IFLA_IFNAME)) ?? `#${index}`,
    flags,
    up: (flags & IFF_UP) !== 0,
    running: (flags & IFF_RUNNING) !== 0,
    carrier: (flags & IFF_LOWER_UP) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    noarp: (flags & IFF_NOARP) !== 0,
  };
  const mac = attrs.get(IFLA_ADDRESS);
  if (mac && mac.length === 6) out.mac = [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return out;
}

export interface RouteInfo {
  family: Family;
  dst: string;              // network address text; "default" for /0
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  gateway?: string;
  oif?: number;
  metric?: number;
  prefsrc?: string;
}

export function decodeRoute(body: Buffer): RouteInfo | undefined {
  if (body.length < RTMSG_LEN) return undefined;
  const fam = body.readUInt8(0);
  if (fam !== AF_INET && fam !== AF_INET6) return undefined;
  const attrs = parseAttrs(body, RTMSG_LEN);
  const dstLen = body.readUInt8(1);
  const dst = attrs.get(RTA_DST);
  const t = attrs.get(RTA_TABLE);
  const out: RouteInfo = {
    family: fam === AF_INET ? 4 : 6,
    dst: dst ? (ipFromBytes(dst)?.text ?? '?') : 'default',
    dstLen,
    table: t && t.length >= 4 ? t.readUInt32LE(0) : body.readUInt8(4),
    protocol: body.readUInt8(5),
    scope: body.readUInt8(6),
    type: body.readUInt8(7),
  };
  const gw = attrs.get(RTA_GATEWAY);
  if (gw) { const g = ipFromBytes(gw); if (g) out.gateway = g.text; }
  const oif = attrs.get(RTA_OIF);
  if (oif && oif.length >= 4) out.oif = oif.readUInt32LE(0);
  const prio = attrs.get(RTA_PRIORITY);
  if (prio && prio.length >= 4) out.metric = prio.readUInt32LE(0);
  const src = attrs.get(RTA_PREFSRC);
  if (src) { const a = ipFromBytes(src); if (a) out.prefsrc = a.text; }
  return out;
}

// Linux errno numbers the rtnetlink calls can return, by name (asm-generic/errno*.h).
const ERRNO: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 9: 'EBADF',
  11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL',
  28: 'ENOSPC', 34: 'ERANGE', 90: 'EMSGSIZE', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 100: 'ENETDOWN', 101: 'ENETUNREACH', 105: 'ENOBUFS', 110: 'ETIMEDOUT',
};

export function errnoName(errno: number): string {
  return ERRNO[errno] ?? `errno ${errno}`;
}
