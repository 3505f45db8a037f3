// The kernel's IPVS over generic netlink (pure): the messages of the `IPVS`
// genl family (include/uapi/linux/ip_vs.h), both directions, and the plan
// that makes the kernel's services equal what is wanted. The socket is
// ipvs-genl.ts; ipvsadm is never run.
//
// Reconciliation: the services the kernel has (read back with a dump) are
// matched to the wanted ones by their identity (protocol, address, port, or
// fwmark). A wanted one that is there is adopted and corrected (scheduler,
// persistence, destinations and weights); a missing one is added; one that
// is there but no longer wanted is removed only if this daemon programmed
// it (or a crashed one did: `owned`), so an administrator's own services
// stay. A restart therefore never duplicates a service.

import { ipFromBytes, parseIp } from './addr.js';
import { attrBytes, encodeMessage, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, parseAttrs, type Attr } from './rtnetlink.js';
import type { LvsDest, LvsKernelService } from './lvs-nft.js';

export const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const NLA_F_NESTED = 0x8000;

export const IPVS_GENL_NAME = 'IPVS';
const IPVS_GENL_VERSION = 1;
export const IPVS_CMD = { NEW_SERVICE: 1, SET_SERVICE: 2, DEL_SERVICE: 3, GET_SERVICE: 4, NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7, GET_DEST: 8, GET_INFO: 15, FLUSH: 17 } as const;
const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;
const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9, STATS: 10 } as const;
const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, PERSIST_CONNS: 9, STATS: 10, ADDR_FAMILY: 11 } as const;
const STATS_CONNS = 1;
const SVC_F_PERSISTENT = 0x1;
const PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
const FWD = { nat: 0, tun: 2, dr: 3 } as const;
const AF = { 4: 2, 6: 10 } as const;

/** A service as IPVS knows it: one address (or fwmark) of a wanted service. */
export interface IpvsService {
  family: 4 | 6;
  protocol: 'tcp' | 'udp' | 'sctp' | 'none';
  addr?: string;
  port?: number;
  fwmark?: number;
  sched: string;
  persistent: boolean;
  timeoutS: number;
  /** Prefix length of the persistence netmask. */
  prefixLen: number;
  /** Connections the kernel counted (read back only). */
  conns?: number;
}

export interface IpvsDest {
  addr: string;
  port: number;
  fwd: 'nat' | 'dr' | 'tun' | 'local' | 'bypass';
  weight: number;
  conns?: number;
  activeConns?: number;
  inactConns?: number;
}

export const ipvsKey = (s: Pick<IpvsService, 'protocol' | 'addr' | 'port' | 'fwmark' | 'family'>): string =>
  s.fwmark !== undefined ? `FWM ${s.fwmark} IPv${s.family}` : `${s.protocol.toUpperCase()} ${s.family === 6 ? `[${s.addr}]` : s.addr}:${s.port}`;

const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v, 0); return b; };
const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v, 0); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0, 0); return b; };
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
const nest = (type: number, attrs: Attr[]): Attr => [type | NLA_F_NESTED, attrBytes(attrs)];

function addr16(ip: string): Buffer {
  const p = parseIp(ip);
  if (!p) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  const b = Buffer.alloc(16);
  p.bytes.copy(b);
  return b;
}

function genl(family: number, cmd: number, flags: number, seq: number, attrs: Attr[], version = IPVS_GENL_VERSION): Buffer {
  return encodeMessage(family, NLM_F_REQUEST | flags, seq, Buffer.from([cmd, version, 0, 0]), attrs);
}

/** CTRL_CMD_GETFAMILY for `name`. */
export function encodeGetFamily(name: string, seq: number): Buffer {
  return genl(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK, seq, [[CTRL_ATTR_FAMILY_NAME, cstr(name)]], 1);
}

/** The family id in a GETFAMILY answer's body (genl header and attributes). */
export function decodeFamilyId(body: Buffer): number | undefined {
  return parseAttrs(body, 4).get(CTRL_ATTR_FAMILY_ID)?.readUInt16LE(0);
}

/** The service's identity attributes; with `full`, what NEW/SET_SERVICE need too (the kernel refuses them without). */
function serviceAttrs(s: IpvsService, full: boolean): Attr {
  const attrs: Attr[] = [[SVC.AF, u16(AF[s.family])]];
  if (s.fwmark !== undefined) attrs.push([SVC.FWMARK, u32(s.fwmark)]);
  else attrs.push([SVC.PROTOCOL, u16(PROTO[s.protocol as keyof typeof PROTO])], [SVC.ADDR, addr16(s.addr!)], [SVC.PORT, be16(s.port!)]);
  if (full) {
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(s.persistent ? SVC_F_PERSISTENT : 0, 0);
    flags.writeUInt32LE(0xffffffff, 4);
    // IPv4: the mask itself, in network order; IPv6: the prefix length.
    const mask = s.family === 4 ? Buffer.from([24, 16, 8, 0].map((sh) => (((s.prefixLen === 0 ? 0 : (0xffffffff << (32 - s.prefixLen)) >>> 0) >>> sh) & 255))) : u32(s.prefixLen);
    attrs.push([SVC.SCHED_NAME, cstr(s.sched)], [SVC.FLAGS, flags], [SVC.TIMEOUT, u32(s.timeoutS)], [SVC.NETMASK, mask]);
  }
  return nest(CMD_ATTR_SERVICE, attrs);
}

function destAttrs(family: 4 | 6, d: IpvsDest): Attr {
  const fwd = d.fwd === 'local' ? 1 : d.fwd === 'bypass' ? 4 : FWD[d.fwd];
  return nest(CMD_ATTR_DEST, [
    [DEST.ADDR, addr16(d.addr)], [DEST.PORT, be16(d.port)], [DEST.FWD_METHOD, u32(fwd)], [DEST.WEIGHT, u32(d.weight)],
    [DEST.U_THRESH, u32(0)], [DEST.L_THRESH, u32(0)], [DEST.ADDR_FAMILY, u16(AF[family])],
  ]);
}

export type IpvsOp =
  | { cmd: 'NEW_SERVICE' | 'SET_SERVICE' | 'DEL_SERVICE'; service: IpvsService }
  | { cmd: 'NEW_DEST' | 'SET_DEST' | 'DEL_DEST'; service: IpvsService; dest: IpvsDest };

export function encodeOp(family: number, op: IpvsOp, seq: number): Buffer {
  const full = op.cmd === 'NEW_SERVICE' || op.cmd === 'SET_SERVICE';
  const attrs: Attr[] = [serviceAttrs(op.service, full)];
  if ('dest' in op) attrs.push(destAttrs(op.service.family, op.dest));
  return genl(family, IPVS_CMD[op.cmd], NLM_F_ACK, seq, attrs);
}

export function encodeDumpServices(family: number, seq: number): Buffer {
  return genl(family, IPVS_CMD.GET_SERVICE, NLM_F_DUMP, seq, []);
}

export function encodeDumpDests(family: number, s: IpvsService, seq: number): Buffer {
  return genl(family, IPVS_CMD.GET_DEST, NLM_F_DUMP, seq, [serviceAttrs(s, false)]);
}

function ipOf(b: Buffer | undefined, family: 4 | 6): string {
  return (b && ipFromBytes(b.subarray(0, family === 4 ? 4 : 16))?.text) ?? '';
}

/** One GET_SERVICE dump message's body (genl header first). */
export function decodeService(body: Buffer): IpvsService | undefined {
  const a = parseAttrs(parseAttrs(body, 4).get(CMD_ATTR_SERVICE) ?? Buffer.alloc(0), 0);
  const af = a.get(SVC.AF)?.readUInt16LE(0);
  const family = af === AF[6] ? 6 : 4;
  if (af === undefined) return undefined;
  const flags = a.get(SVC.FLAGS)?.readUInt32LE(0) ?? 0;
  const nm = a.get(SVC.NETMASK);
  const prefixLen = !nm ? (family === 4 ? 32 : 128) : family === 4 ? 32 - Math.log2(((~nm.readUInt32BE(0)) >>> 0) + 1) : nm.readUInt32LE(0);
  const proto = a.get(SVC.PROTOCOL)?.readUInt16LE(0);
  const out: IpvsService = {
    family, protocol: proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : 'none',
    sched: (a.get(SVC.SCHED_NAME) ?? Buffer.alloc(0)).toString('utf8').replace(/\0.*$/s, ''),
    persistent: (flags & SVC_F_PERSISTENT) !== 0, timeoutS: a.get(SVC.TIMEOUT)?.readUInt32LE(0) ?? 0, prefixLen: Number.isInteger(prefixLen) ? prefixLen : 32,
  };
  const fwmark = a.get(SVC.FWMARK)?.readUInt32LE(0);
  if (fwmark) out.fwmark = fwmark;
  else { out.addr = ipOf(a.get(SVC.ADDR), family); out.port = a.get(SVC.PORT)?.readUInt16BE(0) ?? 0; }
  const stats = a.get(SVC.STATS);
  if (stats) out.conns = parseAttrs(stats, 0).get(STATS_CONNS)?.readUInt32LE(0) ?? 0;
  return out;
}

export function decodeDest(body: Buffer, family: 4 | 6): IpvsDest | undefined {
  const a = parseAttrs(parseAttrs(body, 4).get(CMD_ATTR_DEST) ?? Buffer.alloc(0), 0);
  if (!a.has(DEST.ADDR)) return undefined;
  const dfam = a.get(DEST.ADDR_FAMILY)?.readUInt16LE(0);
  const fwd = (a.get(DEST.FWD_METHOD)?.readUInt32LE(0) ?? 0) & 7;
  const out: IpvsDest = {
    addr: ipOf(a.get(DEST.ADDR), dfam === AF[6] ? 6 : dfam === AF[4] ? 4 : family), port: a.get(DEST.PORT)?.readUInt16BE(0) ?? 0,
    fwd: fwd === 0 ? 'nat' : fwd === 2 ? 'tun' : fwd === 3 ? 'dr' : fwd === 1 ? 'local' : 'bypass', weight: a.get(DEST.WEIGHT)?.readUInt32LE(0) ?? 0,
    activeConns: a.get(DEST.ACTIVE_CONNS)?.readUInt32LE(0) ?? 0, inactConns: a.get(DEST.INACT_CONNS)?.readUInt32LE(0) ?? 0,
  };
  const stats = a.get(DEST.STATS);
  if (stats) out.conns = parseAttrs(stats, 0).get(STATS_CONNS)?.readUInt32LE(0) ?? 0;
  return out;
}

/** The IPVS services one wanted service becomes (one per address or fwmark) with its destinations in the kernel. */
export function ipvsWanted(s: LvsKernelService): Array<{ service: IpvsService; dests: IpvsDest[]; ids: string[] }> {
  const sched = s.sched;
  const inKernel = s.dests.filter((d) => d.active);
  // The sorry server stands in for the real servers while it has a weight (quorum lost): then it is the only one.
  const sorry = inKernel.find((d) => d.id === 'sorry' && d.weight > 0);
  const chosen: LvsDest[] = sorry ? [sorry] : inKernel;
  return s.match.map((m) => {
    const service: IpvsService = {
      family: s.family, protocol: m.kind === 'fwmark' ? 'none' : s.protocol, sched,
      persistent: s.persistence !== undefined, timeoutS: s.persistence?.timeoutS ?? 0, prefixLen: s.persistence?.prefixLen ?? (s.family === 4 ? 32 : 128),
      ...(m.kind === 'fwmark' ? { fwmark: m.mark } : { addr: parseIp(m.ip)!.text, port: m.port }),
    };
    const port = (d: LvsDest) => (d.port === 0 && m.kind === 'addr' ? m.port : d.port);
    return { service, dests: chosen.map((d) => ({ addr: parseIp(d.ip)!.text, port: port(d), fwd: d.fwd, weight: d.weight })), ids: chosen.map((d) => d.id) };
  });
}

const destKey = (d: Pick<IpvsDest, 'addr' | 'port'>): string => `${d.addr}|${d.port}`;

/**
 * The requests that make the kernel's services (`current`, read back) hold
 * `wanted`. `owned`: keys of services this daemon (or an earlier one of
 * this configuration) programmed; one of them that is no longer wanted is
 * removed, any other unknown service is left alone.
 */
export function ipvsPlan(
  wanted: Array<{ service: IpvsService; dests: IpvsDest[] }>,
  current: Array<{ service: IpvsService; dests: IpvsDest[] }>,
  owned: ReadonlySet<string>,
): IpvsOp[] {
  const ops: IpvsOp[] = [];
  const have = new Map(current.map((c) => [ipvsKey(c.service), c]));
  const want = new Set(wanted.map((w) => ipvsKey(w.service)));
  for (const c of current) if (!want.has(ipvsKey(c.service)) && owned.has(ipvsKey(c.service))) ops.push({ cmd: 'DEL_SERVICE', service: c.service });
  for (const w of wanted) {
    const c = have.get(ipvsKey(w.service));
    if (!c) {
      ops.push({ cmd: 'NEW_SERVICE', service: w.service });
      for (const d of w.dests) ops.push({ cmd: 'NEW_DEST', service: w.service, dest: d });
      continue;
    }
    const s = c.service;
    if (s.sched !== w.service.sched || s.persistent !== w.service.persistent || (w.service.persistent && (s.timeoutS !== w.service.timeoutS || s.prefixLen !== w.service.prefixLen))) {
      ops.push({ cmd: 'SET_SERVICE', service: w.service });
    }
    const cd = new Map(c.dests.map((d) => [destKey(d), d]));
    const wd = new Set(w.dests.map(destKey));
    // New ones first, removals last: the service is never left without a destination in between.
    for (const d of w.dests) {
      const x = cd.get(destKey(d));
      if (!x) ops.push({ cmd: 'NEW_DEST', service: w.service, dest: d });
      else if (x.weight !== d.weight || x.fwd !== d.fwd) ops.push({ cmd: 'SET_DEST', service: w.service, dest: d });
    }
    for (const d of c.dests) if (!wd.has(destKey(d))) ops.push({ cmd: 'DEL_DEST', service: w.service, dest: d });
  }
  return ops;
}
