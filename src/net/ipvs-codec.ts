// IPVS over generic netlink as bytes: the nlctrl family lookup and the
// kernel's `IPVS` family (linux/genetlink.h, linux/ip_vs.h). Pure: encoding
// and decoding only, tested byte for byte against what Debian's ipvsadm
// sends and the kernel answers (test/fixtures/ipvs-genl.json, captured by
// scripts/ipvs-golden.ts); ipvs.ts does the I/O.
//
// Requests are laid out as ipvsadm lays them out, attribute for attribute:
// the kernel requires SCHED_NAME, FLAGS, TIMEOUT and NETMASK on NEW/SET
// SERVICE and FWD_METHOD, WEIGHT, U_THRESH and L_THRESH on NEW/SET DEST
// (EINVAL otherwise), and byte equality with the reference tool is the
// strongest test there is.

import { canonicalIp, ipFromBytes, parseIp, type Family } from './addr.js';
import { AF_INET, AF_INET6, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, attrBytes, encodeMessage, parseAttrs, type Attr } from './rtnetlink.js';

export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const CTRL_ATTR_VERSION = 3;
const CTRL_ATTR_MAXATTR = 5;

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

export const IPVS_CMD = {
  NEW_SERVICE: 1, SET_SERVICE: 2, DEL_SERVICE: 3, GET_SERVICE: 4,
  NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7, GET_DEST: 8,
  GET_INFO: 15, FLUSH: 17,
} as const;
export type IpvsCommand = keyof typeof IPVS_CMD;

const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;

const SVC_AF = 1;
const SVC_PROTOCOL = 2;
const SVC_ADDR = 3;
const SVC_PORT = 4;
const SVC_FWMARK = 5;
const SVC_SCHED_NAME = 6;
const SVC_FLAGS = 7;
const SVC_TIMEOUT = 8;
const SVC_NETMASK = 9;
const SVC_STATS = 10;
const SVC_PE_NAME = 11;
const SVC_STATS64 = 12;

const DEST_ADDR = 1;
const DEST_PORT = 2;
const DEST_FWD_METHOD = 3;
const DEST_WEIGHT = 4;
const DEST_U_THRESH = 5;
const DEST_L_THRESH = 6;
const DEST_ACTIVE_CONNS = 7;
const DEST_INACT_CONNS = 8;
const DEST_PERSIST_CONNS = 9;
const DEST_STATS = 10;
const DEST_ADDR_FAMILY = 11;
const DEST_STATS64 = 12;
const DEST_TUN_TYPE = 13;
const DEST_TUN_PORT = 14;
const DEST_TUN_FLAGS = 15;

const INFO_VERSION = 1;
const INFO_CONN_TAB_SIZE = 2;

const NLA_F_NESTED = 0x8000;

/** Service flags (IP_VS_SVC_F_*). HASHED is the kernel's own bookkeeping, never asked for. */
export const SVC_F_PERSISTENT = 0x1;
export const SVC_F_HASHED = 0x2;
export const SVC_F_ONEPACKET = 0x4;
/** SCHED1..3: scheduler-specific (sh and mh: 1 = fallback, 2 = port). */
export const SVC_F_SCHED_MASK = 0x38;

const PROTOCOLS = { tcp: 6, udp: 17, sctp: 132 } as const;
export type IpvsProtocol = keyof typeof PROTOCOLS;

/** IP_VS_CONN_F_* forwarding methods: NAT, direct routing, IP-in-IP. */
const FORWARD = { masq: 0, local: 1, tunnel: 2, route: 3, bypass: 4 } as const;
/** What a configuration asks for (keepalived's lb_kind NAT, DR, TUN). */
export type IpvsForward = 'masq' | 'route' | 'tunnel';
/** What the kernel may list: also its own local-node and bypass entries. */
export type IpvsKernelForward = keyof typeof FORWARD;

/**
 * What identifies a virtual service: protocol, address and port, or a
 * firewall mark. A fwmark service has no protocol, address or port.
 */
export type IpvsServiceKey =
  | { family: Family; protocol: IpvsProtocol; address: string; port: number; fwmark?: undefined }
  | { family: Family; fwmark: number; protocol?: undefined; address?: undefined; port?: undefined };

/** How a service schedules, apart from its key. */
export interface IpvsServiceOptions {
  scheduler: string;
  /** Persistence timeout in seconds; absent: not persistent. */
  persistence?: number;
  /** Persistence granularity as a prefix length (default 32 / 128: one client address). */
  netmask?: number;
  /** One-packet scheduling (UDP): every datagram scheduled on its own. */
  onePacket?: boolean;
  /** Scheduler flags flag-1..flag-3 as bits 0..2 (sh/mh: 1 fallback, 2 port). */
  schedFlags?: number;
}

export type IpvsService = IpvsServiceKey & IpvsServiceOptions;

export interface IpvsDest {
  /** The real server; its family may differ from the service's only for tunnel forwarding. */
  address: string;
  port: number;
  forward: IpvsForward;
  weight: number;
  /** Connection limits; 0 = none. */
  upperThreshold?: number;
  lowerThreshold?: number;
}

export interface IpvsStats {
  conns: number; inPackets: number; outPackets: number; inBytes: number; outBytes: number;
  cps: number; inPps: number; outPps: number; inBps: number; outBps: number;
}

/** A service as the kernel lists it. */
export type IpvsServiceState = IpvsServiceKey & IpvsServiceOptions & {
  netmask: number;
  timeout: number;      // what the kernel holds, persistent or not
  flags: number;        // raw IP_VS_SVC_F_*
  peName?: string;
  stats?: IpvsStats;
};

export interface IpvsDestState extends Omit<Required<IpvsDest>, 'forward'> {
  forward: IpvsKernelForward;
  family: Family;
  activeConns: number;
  inactiveConns: number;
  persistConns: number;
  stats?: IpvsStats;
}

export interface IpvsInfo {
  version: string;      // "1.2.1"
  connTabSize: number;
}

export class IpvsCodecError extends Error {}

// ---- encoding --------------------------------------------------------------

const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v, 0); return b; };
const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v, 0); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0, 0); return b; };
const u8 = (v: number): Buffer => Buffer.from([v]);
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
const nested = (type: number, list: Attr[]): Attr => [type | NLA_F_NESTED, attrBytes(list)];
const afOf = (f: Family): number => (f === 4 ? AF_INET : AF_INET6);

/** A 16-byte IPVS address (union nf_inet_addr: IPv4 in the first 4 bytes). */
function addr16(text: string, family: Family, what: string): Buffer {
  const ip = parseIp(text);
  if (!ip || ip.family !== family) throw new IpvsCodecError(`${what} "${text}" is not an IPv${family} address`);
  const b = Buffer.alloc(16);
  ip.bytes.copy(b);
  return b;
}

function checkRange(what: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new IpvsCodecError(`${what} ${v} is out of range (${min} to ${max})`);
}

function genl(familyId: number, cmd: number, version: number, flags: number, seq: number, list: Attr[]): Buffer {
  return encodeMessage(familyId, flags, seq, Buffer.from([cmd, version, 0, 0]), list);
}

/** CTRL_CMD_GETFAMILY for a family name (what resolves `IPVS` to its id). */
export function encodeGetFamily(name: string, seq: number): Buffer {
  return genl(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK, seq, [[CTRL_ATTR_FAMILY_NAME, cstr(name)]]);
}

export function serviceKeyText(k: IpvsServiceKey): string {
  if (k.fwmark !== undefined) return `fwmark ${k.fwmark} (IPv${k.family})`;
  const a = canonicalIp(k.address) ?? k.address;
  return `${k.protocol.toUpperCase()} ${k.family === 6 ? `[${a}]` : a}:${k.port}`;
}

export function destText(d: { address: string; port: number }): string {
  const a = canonicalIp(d.address) ?? d.address;
  return `${a.includes(':') ? `[${a}]` : a}:${d.port}`;
}

function serviceKeyAttrs(k: IpvsServiceKey): Attr[] {
  if (k.family !== 4 && k.family !== 6) throw new IpvsCodecError(`address family ${String(k.family)} is not 4 or 6`);
  const out: Attr[] = [[SVC_AF, u16(afOf(k.family))]];
  if (k.fwmark !== undefined) {
    checkRange('fwmark', k.fwmark, 1, 0xffffffff);
    out.push([SVC_FWMARK, u32(k.fwmark)]);
    return out;
  }
  const proto = PROTOCOLS[k.protocol];
  if (proto === undefined) throw new IpvsCodecError(`protocol "${k.protocol}" is not tcp, udp or sctp`);
  checkRange('port', k.port, 0, 65535);
  out.push([SVC_PROTOCOL, u16(proto)], [SVC_ADDR, addr16(k.address, k.family, 'virtual address')], [SVC_PORT, be16(k.port)]);
  return out;
}

/** NETMASK: IPv4 a mask in network order; IPv6 the prefix length as a host-order u32 (as the kernel reads it). */
function netmaskBytes(family: Family, prefix: number): Buffer {
  if (family === 6) return u32(prefix);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0, 0);
  return b;
}

function serviceFlags(s: IpvsService): number {
  return (s.persistence !== undefined ? SVC_F_PERSISTENT : 0) | (s.onePacket ? SVC_F_ONEPACKET : 0) | (((s.schedFlags ?? 0) & 7) << 3);
}

/** The whole service, as NEW/SET_SERVICE need it. */
function serviceAttrs(s: IpvsService): Attr[] {
  if (!/^[a-z0-9_-]{1,15}$/i.test(s.scheduler)) throw new IpvsCodecError(`scheduler "${s.scheduler}" is not a scheduler name`);
  checkRange('persistence timeout', s.persistence, 1, 0xffffffff);
  checkRange('persistence netmask', s.netmask, 0, s.family === 4 ? 32 : 128);
  checkRange('scheduler flags', s.schedFlags, 0, 7);
  return [
    ...serviceKeyAttrs(s),
    [SVC_SCHED_NAME, cstr(s.scheduler)],
    [SVC_FLAGS, Buffer.concat([u32(serviceFlags(s)), u32(0xffffffff)])],
    [SVC_TIMEOUT, u32(s.persistence ?? 0)],
    [SVC_NETMASK, netmaskBytes(s.family, s.netmask ?? (s.family === 4 ? 32 : 128))],
  ];
}

/**
 * The service as ipvsadm sends it beside a destination: the key, an empty
 * scheduler, no flags. The kernel reads only the key there.
 */
function serviceRefAttrs(k: IpvsServiceKey): Attr[] {
  return [
    ...serviceKeyAttrs(k),
    [SVC_SCHED_NAME, cstr('')],
    [SVC_FLAGS, Buffer.concat([u32(0), u32(0xffffffff)])],
    [SVC_TIMEOUT, u32(0)],
    [SVC_NETMASK, u32(0xffffffff)],
  ];
}

function destAttrs(svc: IpvsServiceKey, d: IpvsDest): Attr[] {
  const ip = parseIp(d.address);
  if (!ip) throw new IpvsCodecError(`real server "${d.address}" is not an IP address`);
  const fwd = FORWARD[d.forward];
  if (fwd === undefined || (d.forward as string) === 'local' || (d.forward as string) === 'bypass') throw new IpvsCodecError(`forwarding method "${d.forward}" is not masq, route or tunnel`);
  if (ip.family !== svc.family && d.forward !== 'tunnel') throw new IpvsCodecError(`real server ${d.address} is IPv${ip.family} but the service is IPv${svc.family} (only tunnel forwarding mixes families)`);
  checkRange(`real server ${d.address} port`, d.port, 0, 65535);
  checkRange(`real server ${d.address} weight`, d.weight, 0, 0x7fffffff);
  checkRange(`real server ${d.address} upper threshold`, d.upperThreshold, 0, 0xffffffff);
  checkRange(`real server ${d.address} lower threshold`, d.lowerThreshold, 0, 0xffffffff);
  return [
    [DEST_ADDR_FAMILY, u16(afOf(ip.family))],
    [DEST_ADDR, addr16(d.address, ip.family, 'real server')],
    [DEST_PORT, be16(d.port)],
    [DEST_FWD_METHOD, u32(fwd)],
    [DEST_WEIGHT, u32(d.weight)],
    [DEST_TUN_TYPE, u8(0)],
    [DEST_TUN_PORT, be16(0)],
    [DEST_TUN_FLAGS, u16(0)],
    [DEST_U_THRESH, u32(d.upperThreshold ?? 0)],
    [DEST_L_THRESH, u32(d.lowerThreshold ?? 0)],
  ];
}

const ACKED = NLM_F_REQUEST | NLM_F_ACK;
const DUMP = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;

export function encodeNewService(familyId: number, s: IpvsService, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.NEW_SERVICE, IPVS_GENL_VERSION, ACKED, seq, [nested(CMD_ATTR_SERVICE, serviceAttrs(s))]);
}

export function encodeSetService(familyId: number, s: IpvsService, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.SET_SERVICE, IPVS_GENL_VERSION, ACKED, seq, [nested(CMD_ATTR_SERVICE, serviceAttrs(s))]);
}

export function encodeDelService(familyId: number, k: IpvsServiceKey, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.DEL_SERVICE, IPVS_GENL_VERSION, ACKED, seq, [nested(CMD_ATTR_SERVICE, serviceRefAttrs(k))]);
}

export function encodeDest(familyId: number, op: 'new' | 'set' | 'del', svc: IpvsServiceKey, d: IpvsDest, seq: number): Buffer {
  const cmd = op === 'new' ? IPVS_CMD.NEW_DEST : op === 'set' ? IPVS_CMD.SET_DEST : IPVS_CMD.DEL_DEST;
  return genl(familyId, cmd, IPVS_GENL_VERSION, ACKED, seq, [nested(CMD_ATTR_SERVICE, serviceRefAttrs(svc)), nested(CMD_ATTR_DEST, destAttrs(svc, d))]);
}

export function encodeGetServices(familyId: number, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.GET_SERVICE, IPVS_GENL_VERSION, DUMP, seq, []);
}

export function encodeGetDests(familyId: number, svc: IpvsServiceKey, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.GET_DEST, IPVS_GENL_VERSION, DUMP, seq, [nested(CMD_ATTR_SERVICE, serviceKeyAttrs(svc))]);
}

export function encodeGetInfo(familyId: number, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.GET_INFO, IPVS_GENL_VERSION, ACKED, seq, []);
}

export function encodeFlush(familyId: number, seq: number): Buffer {
  return genl(familyId, IPVS_CMD.FLUSH, IPVS_GENL_VERSION, ACKED, seq, []);
}

// ---- decoding --------------------------------------------------------------

const GENL_HDRLEN = 4;

/** The genl command of a message body (genlmsghdr.cmd). */
export function genlCommand(body: Buffer): number | undefined {
  return body.length >= GENL_HDRLEN ? body[0] : undefined;
}

export interface GenlFamily { id: number; version: number; maxAttr: number }

/** nlctrl's answer to GETFAMILY. */
export function decodeFamily(body: Buffer): GenlFamily | undefined {
  if (body.length < GENL_HDRLEN) return undefined;
  const a = parseAttrs(body, GENL_HDRLEN);
  const id = a.get(CTRL_ATTR_FAMILY_ID);
  if (!id || id.length < 2) return undefined;
  return { id: id.readUInt16LE(0), version: a.get(CTRL_ATTR_VERSION)?.readUInt32LE(0) ?? 0, maxAttr: a.get(CTRL_ATTR_MAXATTR)?.readUInt32LE(0) ?? 0 };
}

const rd32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
const rd16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16LE(0) : undefined);
const rdbe16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);
const rdstr = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

function familyFromAf(af: number | undefined): Family | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

function addrText(b: Buffer | undefined, family: Family): string | undefined {
  if (!b || b.length < (family === 4 ? 4 : 16)) return undefined;
  return ipFromBytes(b.subarray(0, family === 4 ? 4 : 16))?.text;
}

/** STATS64 (u64 each) when present, else STATS (u32 counters and rates, u64 byte counts). */
function decodeStats(s64: Buffer | undefined, s32: Buffer | undefined): IpvsStats | undefined {
  const src = s64 ?? s32;
  if (!src) return undefined;
  const a = parseAttrs(src, 0);
  const wide = s64 !== undefined;
  const get = (t: number, u64: boolean): number => {
    const b = a.get(t);
    if (!b) return 0;
    return (wide || u64) && b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.length >= 4 ? b.readUInt32LE(0) : 0;
  };
  return {
    conns: get(1, false), inPackets: get(2, false), outPackets: get(3, false), inBytes: get(4, true), outBytes: get(5, true),
    cps: get(6, false), inPps: get(7, false), outPps: get(8, false), inBps: get(9, false), outBps: get(10, false),
  };
}

function netmaskPrefix(family: Family, b: Buffer | undefined): number {
  if (!b || b.length < 4) return family === 4 ? 32 : 128;
  if (family === 6) return b.readUInt32LE(0);
  let m = b.readUInt32BE(0);
  let n = 0;
  while (m & 0x80000000) { n++; m = (m << 1) >>> 0; }
  return n;
}

const PROTOCOL_NAMES = new Map<number, IpvsProtocol>(Object.entries(PROTOCOLS).map(([k, v]) => [v, k as IpvsProtocol]));
const FORWARD_NAMES = new Map<number, IpvsKernelForward>(Object.entries(FORWARD).map(([k, v]) => [v, k as IpvsKernelForward]));

/** One service of a GET_SERVICE answer; undefined for a message that is not one (a protocol this code does not name). */
export function decodeService(body: Buffer): IpvsServiceState | undefined {
  if (body.length < GENL_HDRLEN) return undefined;
  const outer = parseAttrs(body, GENL_HDRLEN).get(CMD_ATTR_SERVICE);
  if (!outer) return undefined;
  const a = parseAttrs(outer, 0);
  const family = familyFromAf(rd16(a.get(SVC_AF)));
  if (!family) return undefined;
  const flagsB = a.get(SVC_FLAGS);
  const flags = flagsB && flagsB.length >= 4 ? flagsB.readUInt32LE(0) : 0;
  const timeout = rd32(a.get(SVC_TIMEOUT)) ?? 0;
  const base = {
    scheduler: rdstr(a.get(SVC_SCHED_NAME)) ?? '',
    netmask: netmaskPrefix(family, a.get(SVC_NETMASK)),
    timeout, flags,
  };
  const fwmark = rd32(a.get(SVC_FWMARK));
  let s: IpvsServiceState;
  if (fwmark !== undefined && fwmark !== 0) {
    s = { family, fwmark, ...base };
  } else {
    const protocol = PROTOCOL_NAMES.get(rd16(a.get(SVC_PROTOCOL)) ?? -1);
    const address = addrText(a.get(SVC_ADDR), family);
    const port = rdbe16(a.get(SVC_PORT));
    if (!protocol || address === undefined || port === undefined) return undefined;
    s = { family, protocol, address, port, ...base };
  }
  if (flags & SVC_F_PERSISTENT) s.persistence = timeout;
  if (flags & SVC_F_ONEPACKET) s.onePacket = true;
  if (flags & SVC_F_SCHED_MASK) s.schedFlags = (flags & SVC_F_SCHED_MASK) >> 3;
  const pe = rdstr(a.get(SVC_PE_NAME));
  if (pe) s.peName = pe;
  const stats = decodeStats(a.get(SVC_STATS64), a.get(SVC_STATS));
  if (stats) s.stats = stats;
  return s;
}

/** One destination of a GET_DEST answer; `serviceFamily` for kernels that do not send ADDR_FAMILY. */
export function decodeDest(body: Buffer, serviceFamily: Family): IpvsDestState | undefined {
  if (body.length < GENL_HDRLEN) return undefined;
  const outer = parseAttrs(body, GENL_HDRLEN).get(CMD_ATTR_DEST);
  if (!outer) return undefined;
  const a = parseAttrs(outer, 0);
  const family = familyFromAf(rd16(a.get(DEST_ADDR_FAMILY))) ?? serviceFamily;
  const address = addrText(a.get(DEST_ADDR), family);
  const port = rdbe16(a.get(DEST_PORT));
  const forward = FORWARD_NAMES.get((rd32(a.get(DEST_FWD_METHOD)) ?? -1) & 7);
  if (address === undefined || port === undefined || !forward) return undefined;
  const d: IpvsDestState = {
    family, address, port, forward,
    weight: rd32(a.get(DEST_WEIGHT)) ?? 0,
    upperThreshold: rd32(a.get(DEST_U_THRESH)) ?? 0,
    lowerThreshold: rd32(a.get(DEST_L_THRESH)) ?? 0,
    activeConns: rd32(a.get(DEST_ACTIVE_CONNS)) ?? 0,
    inactiveConns: rd32(a.get(DEST_INACT_CONNS)) ?? 0,
    persistConns: rd32(a.get(DEST_PERSIST_CONNS)) ?? 0,
  };
  const stats = decodeStats(a.get(DEST_STATS64), a.get(DEST_STATS));
  if (stats) d.stats = stats;
  return d;
}

/** GET_INFO's answer. */
export function decodeInfo(body: Buffer): IpvsInfo | undefined {
  if (body.length < GENL_HDRLEN) return undefined;
  const a = parseAttrs(body, GENL_HDRLEN);
  const v = rd32(a.get(INFO_VERSION));
  if (v === undefined) return undefined;
  return { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, connTabSize: rd32(a.get(INFO_CONN_TAB_SIZE)) ?? 0 };
}

/** The key of a service or service state, without anything else. */
export function serviceKeyOf(s: IpvsServiceKey): IpvsServiceKey {
  if (s.fwmark !== undefined) return { family: s.family, fwmark: s.fwmark };
  return { family: s.family, protocol: s.protocol, address: canonicalIp(s.address) ?? s.address, port: s.port };
}

/** A string equal for equal keys (canonical addresses). */
export function serviceKeyId(s: IpvsServiceKey): string {
  return s.fwmark !== undefined ? `fwm/${s.family}/${s.fwmark}` : `${s.protocol}/${canonicalIp(s.address) ?? s.address}/${s.port}`;
}

export function destId(d: { address: string; port: number }): string {
  return `${canonicalIp(d.address) ?? d.address}/${d.port}`;
}
