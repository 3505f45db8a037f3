// rtnetlink I/O: addresses (IPv4 and IPv6), links and routes, and the
// kernel's link/address events. 20x faster than spawning `ip`, and no
// parsing of its text. Messages are encoded and decoded in rtnetlink.ts.
//
// Requests go over tandem-native's netlink socket (nlOpen/nlSend/nlRecv):
// the kernel answers a route-netlink request inside the sendmsg, so the
// answer is read in the same call, with no event-loop turn between a
// takeover's request and its next step. Every request carries its own
// sequence number and is matched by it, acknowledged requests are batched
// (several messages in one sendmsg, each with NLM_F_ACK), and dumps run one
// at a time because the kernel refuses a second dump on a socket (EBUSY)
// while one is in progress.
//
// Events come over a socket of the same kind that joins the kernel's
// multicast groups (nlListen) and is read whenever it is readable.

import native, { type NetlinkHandle } from 'tandem-native';
import { UserError } from '../util/errors.js';
import { ipFromBytes, parseIp, type Family } from './addr.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC, IFA_F_NODAD, IFA_F_SECONDARY, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN,
  RTM_DELADDR, RTM_DELLINK, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK,
  RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_LINK,
  decodeAddr, decodeError, decodeLink, decodeRoute, encodeAddr, encodeDump, encodeLinkUp, encodeRoute, errnoName, splitMessages,
  type AddrInfo, type LinkInfo, type NlMessage, type RouteInfo, type RouteRequest,
} from './rtnetlink.js';

const NETLINK_ROUTE = 0;
const REQUEST_TIMEOUT_MS = 5000;
const DUMP_RETRIES = 3;
// Events arrive in bursts (a flapping link, a reload adding many VIPs).
const EVENT_RCVBUF = 1 << 20;
const EVENT_DATAGRAMS_PER_TURN = 64;

export interface IfAddress {
  family: Family;
  address: string;          // the local address, canonical text
  prefixLen: number;
  broadcast?: string;
  label?: string;
  secondary: boolean;       // the kernel's "not the first address of its subnet" (IPv4)
  tentative?: boolean;      // IPv6 duplicate address detection still running (not usable yet)
}

export interface AddressEntry extends IfAddress {
  ifname: string;
  index: number;
}

export interface InterfaceInfo {
  name: string;
  index: number;
  up: boolean;              // administratively up (IFF_UP)
  running: boolean;         // operational: up with carrier (IFF_RUNNING)
  carrier: boolean;         // IFF_LOWER_UP
  loopback: boolean;
  noarp: boolean;
  mac?: string;
  addresses: IfAddress[];   // both families, kernel order (primary first)
}

/** A failed netlink request; `code` is the errno name (EEXIST, ...) when the kernel gave one. */
export class NetlinkError extends UserError {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

type Messages = Partial<Record<string, string>>;

/** One address change for a batch. */
export interface AddressChange {
  /** 'link-up' brings `ifname` up (IPaddr2 does before adding); `ip` is then ignored. */
  op: 'add' | 'del' | 'link-up';
  ifname: string;
  ip: string;
  prefixLen?: number;       // required for add and for IPv6; IPv4 delete without it matches any prefix
  broadcast?: string;
  label?: string;
}

export type BatchResult = { ok: true } | { ok: false; error: NetlinkError };

/** What watch() delivers. */
export type NetEvent =
  | { kind: 'link'; index: number; name: string; up: boolean; running: boolean; carrier: boolean; loopback: boolean; noarp: boolean; mac?: string; removed: boolean }
  | ({ kind: 'address'; op: 'add' | 'del'; index: number } & IfAddress)
  /** The kernel dropped events (socket buffer full): re-read the state you track. */
  | { kind: 'overrun' };

interface Pending {
  dump: boolean;
  parts: NlMessage[];
  resolve: (parts: NlMessage[]) => void;
  reject: (err: Error) => void;
}

/**
 * Where requests go and answers come from. The kernel answers a request
 * inside the send, so `recv` after `send` normally has the answer at once;
 * `wait(true)` asks for `onReadable` when it had not.
 */
export interface NlTransport {
  send(messages: Buffer[]): void;
  /** One datagram, or null when none is queued. */
  recv(): Buffer | null;
  wait(on: boolean): void;
  close(): void;
}

/** The tandem-native netlink socket. */
export function nativeTransport(protocol: number, onReadable: () => void): NlTransport {
  const h = native.nlOpen(protocol, onReadable);
  return {
    send: (m) => native.nlSend(h, m),
    recv: () => native.nlRecv(h),
    wait: (on) => native.nlWait(h, on),
    close: () => native.nlClose(h),
  };
}

/** The request socket: sequence numbers, batching, dumps, timeouts. */
export class RtnlSocket {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private dumpChain: Promise<unknown> = Promise.resolve();
  private closedErr?: Error;
  private waiting = false;
  /** sendmsg calls and the messages they carried (a batch is one call). */
  readonly counters = { sendmsg: 0, messages: 0 };
  private readonly t: NlTransport;

  constructor(open: (onReadable: () => void) => NlTransport) {
    this.t = open(() => this.drain());
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /**
   * Sends the messages in one sendmsg; resolves per message with its replies
   * (ack: none). The answers are read before this returns when the kernel
   * has them, as it normally does: no event-loop turn between a takeover's
   * request and its next step.
   */
  send(msgs: Array<{ seq: number; bytes: Buffer; dump: boolean }>): Array<Promise<NlMessage[]>> {
    if (this.closedErr) return msgs.map(() => Promise.reject(this.closedErr));
    const promises = msgs.map((m) => new Promise<NlMessage[]>((resolve, reject) => {
      this.pending.set(m.seq, { dump: m.dump, parts: [], resolve, reject });
    }));
    this.counters.sendmsg += 1;
    this.counters.messages += msgs.length;
    try {
      this.t.send(msgs.map((m) => m.bytes));
    } catch (e) {
      for (const m of msgs) this.fail(m.seq, new NetlinkError(errText(e), (e as NodeJS.ErrnoException).code));
      return promises;
    }
    this.drain();
    if (msgs.some((m) => this.pending.has(m.seq))) {
      const timer = setTimeout(() => {
        for (const m of msgs) this.fail(m.seq, new NetlinkError(`no answer from the kernel within ${REQUEST_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT'));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      void Promise.allSettled(promises).then(() => clearTimeout(timer));
    }
    return promises;
  }

  /** One dump at a time; retried when the kernel says the set changed while it was dumped. */
  dump(build: (seq: number) => Buffer): Promise<NlMessage[]> {
    const run = async (): Promise<NlMessage[]> => {
      for (let i = 0; ; i++) {
        const seq = this.nextSeq();
        const parts = await this.send([{ seq, bytes: build(seq), dump: true }])[0]!;
        if (i < DUMP_RETRIES && parts.some((p) => (p.flags & NLM_F_DUMP_INTR) !== 0)) continue;
        return parts;
      }
    };
    const p = this.dumpChain.then(run, run);
    this.dumpChain = p.catch(() => {});
    return p;
  }

  close(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    for (const seq of [...this.pending.keys()]) this.fail(seq, err);
    try { this.t.close(); } catch { /* already closed underneath us */ }
  }

  get closed(): boolean {
    return this.closedErr !== undefined;
  }

  /** Reads what is queued while requests wait; polls for the rest (bounded: the kernel answers each request once). */
  private drain(): void {
    while (this.pending.size > 0 && !this.closedErr) {
      let buf: Buffer | null;
      try {
        buf = this.t.recv();
      } catch (e) {
        // ENOBUFS: answers were dropped; none of the waiting requests can be matched any more.
        const err = new NetlinkError(`recvmsg: ${errText(e)}`, (e as NodeJS.ErrnoException).code);
        for (const seq of [...this.pending.keys()]) this.fail(seq, err);
        break;
      }
      if (buf === null) break;
      this.onDatagram(buf);
    }
    const wait = this.pending.size > 0 && !this.closedErr;
    if (wait !== this.waiting) {
      this.waiting = wait;
      try { this.t.wait(wait); } catch { /* the request's timeout reports it */ }
    }
  }

  private fail(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    p.reject(err);
  }

  private onDatagram(buf: Buffer): void {
    for (const m of splitMessages(buf)) {
      const p = this.pending.get(m.seq);
      if (!p) continue;   // a late answer to a request that timed out
      if (m.type === NLMSG_ERROR) {
        const errno = decodeError(m.body);
        this.pending.delete(m.seq);
        if (errno === 0) p.resolve(p.parts);
        else p.reject(new NetlinkError(errnoName(errno), errnoName(errno)));
      } else if (m.type === NLMSG_DONE) {
        this.pending.delete(m.seq);
        if (p.parts.length === 0 && (m.flags & NLM_F_DUMP_INTR) !== 0) p.parts.push(m);
        p.resolve(p.parts);
      } else if (m.type === NLMSG_OVERRUN) {
        this.pending.delete(m.seq);
        p.reject(new NetlinkError('the kernel overran the netlink socket', 'ENOBUFS'));
      } else if (p.dump) {
        p.parts.push(m);
      }
    }
  }
}

export class Netlink {
  private constructor(private readonly rt: RtnlSocket) {}

  /** Opens the socket in the caller's network namespace. Close it with close(). */
  static open(): Netlink {
    try {
      return new Netlink(new RtnlSocket((onReadable) => nativeTransport(NETLINK_ROUTE, onReadable)));
    } catch (e) {
      throw new NetlinkError(`cannot open a netlink socket: ${errText(e)}`);
    }
  }

  get closed(): boolean {
    return this.rt.closed;
  }

  /** sendmsg calls so far and the messages they carried. */
  counters(): { sendmsg: number; messages: number } {
    return { ...this.rt.counters };
  }

  /** Closes the socket; requests still in flight reject. Safe to call twice. */
  close(): void {
    this.rt.close(new NetlinkError('netlink handle was closed while a request was in progress'));
  }

  async addAddress(ifname: string, ip: string, prefixLen: number, broadcast?: string, label?: string): Promise<void> {
    const change: AddressChange = { op: 'add', ifname, ip, prefixLen };
    if (broadcast !== undefined) change.broadcast = broadcast;
    if (label !== undefined) change.label = label;
    const [r] = await this.changeAddresses([change], true);
    if (!r!.ok) throw r!.error;
  }

  /** Removes `ip` from `ifname`; with prefixLen only an entry with that prefix (IPv6 always needs it). */
  async delAddress(ifname: string, ip: string, prefixLen?: number): Promise<void> {
    const change: AddressChange = { op: 'del', ifname, ip };
    if (prefixLen !== undefined) change.prefixLen = prefixLen;
    const [r] = await this.changeAddresses([change], true);
    if (!r!.ok) throw r!.error;
  }

  /**
   * Several address changes in ONE sendmsg, each acknowledged and matched by
   * its sequence number; one result per change, in order. IPv6 addresses are
   * added with IFA_F_NODAD: a VIP must answer at once, not after DAD's second.
   * With `throwFirst`, argument problems throw instead of being results.
   */
  async changeAddresses(changes: AddressChange[], throwFirst = false, known?: ReadonlyArray<{ name: string; index: number }>): Promise<BatchResult[]> {
    // `known`: the caller's listing from a moment ago, saving a dump on a
    // takeover's path; an interface gone since fails with ENODEV from the kernel.
    const links = known ?? await this.links();
    const msgs: Array<{ seq: number; bytes: Buffer; dump: boolean }> = [];
    const results: Array<BatchResult | Promise<BatchResult>> = [];
    // The words for a failure are built only on a failure: a takeover's add does not wait for them.
    const sentChanges: AddressChange[] = [];
    for (const c of changes) {
      let bytes: Buffer;
      try {
        const index = indexOf(links, c.ifname);
        bytes = c.op === 'link-up' ? encodeLinkUp(index, true, 0) : this.encodeChange({ ...c, op: c.op }, index, 0);
      } catch (e) {
        if (throwFirst) throw e;
        results.push({ ok: false, error: e instanceof NetlinkError ? e : new NetlinkError(errText(e)) });
        continue;
      }
      const seq = this.rt.nextSeq();
      bytes.writeUInt32LE(seq, 8);
      msgs.push({ seq, bytes, dump: false });
      sentChanges.push(c);
      results.push(undefined as unknown as BatchResult);
    }
    const sent = this.rt.send(msgs);
    let k = 0;
    for (let i = 0; i < results.length; i++) {
      if (results[i] !== undefined) continue;
      const c = sentChanges[k]!;
      results[i] = sent[k++]!.then(
        () => ({ ok: true as const }),
        (e: unknown) => {
          const t = changeText(c);
          return { ok: false as const, error: mapError(t.what, t.messages, e) };
        },
      );
    }
    return Promise.all(results);
  }

  /** Addresses of both families, of one interface or of all. */
  async listAddresses(ifname?: string): Promise<AddressEntry[]> {
    return this.addressesOf(await this.links(), ifname);
  }

  private async addressesOf(links: LinkInfo[], ifname?: string): Promise<AddressEntry[]> {
    const only = ifname === undefined ? undefined : indexOf(links, ifname);
    const parts = await this.dumpOf('listing addresses', (seq) => encodeDump(RTM_GETADDR, AF_UNSPEC, seq));
    const out: AddressEntry[] = [];
    for (const m of parts) {
      if (m.type !== RTM_NEWADDR) continue;
      const a = decodeAddr(m.body);
      if (!a || (only !== undefined && a.index !== only)) continue;
      out.push({ ifname: links.find((l) => l.index === a.index)?.name ?? `#${a.index}`, index: a.index, ...ifAddress(a) });
    }
    return out;
  }

  async interfaceIndex(name: string): Promise<number> {
    return indexOf(await this.links(), name);
  }

  async interfaces(): Promise<InterfaceInfo[]> {
    const links = await this.links();
    const addrs = await this.addressesOf(links);
    return links.map((l) => {
      const i: InterfaceInfo = {
        name: l.name, index: l.index, up: l.up, running: l.running, carrier: l.carrier, loopback: l.loopback, noarp: l.noarp,
        addresses: addrs.filter((a) => a.index === l.index).map(({ ifname: _n, index: _i, ...a }) => a),
      };
      if (l.mac !== undefined) i.mac = l.mac;
      return i;
    });
  }

  /** `ip link set <ifname> up`, as IPaddr2 does before adding a VIP. */
  async setLinkUp(ifname: string, up = true): Promise<void> {
    const index = await this.interfaceIndex(ifname);
    const seq = this.rt.nextSeq();
    try {
      await this.rt.send([{ seq, bytes: encodeLinkUp(index, up, seq), dump: false }])[0];
    } catch (e) {
      throw mapError(`bringing ${ifname} ${up ? 'up' : 'down'}`, {
        ENODEV: `network interface ${ifname} disappeared while bringing it ${up ? 'up' : 'down'}`,
      }, e);
    }
  }

  async links(): Promise<LinkInfo[]> {
    const parts = await this.dumpOf('listing network interfaces', (seq) => encodeDump(RTM_GETLINK, AF_UNSPEC, seq));
    const out: LinkInfo[] = [];
    for (const m of parts) {
      if (m.type !== RTM_NEWLINK) continue;
      const l = decodeLink(m.body);
      if (l) out.push(l);
    }
    return out;
  }

  async listRoutes(family?: Family): Promise<RouteInfo[]> {
    const fam = family === undefined ? AF_UNSPEC : family === 4 ? AF_INET : AF_INET6;
    const parts = await this.dumpOf('listing routes', (seq) => encodeDump(RTM_GETROUTE, fam, seq));
    return parts.map((m) => decodeRoute(m.body)).filter((r): r is RouteInfo => r !== undefined);
  }

  /**
   * Adds or removes a route: `dst` network text and prefix (0: default); via
   * a gateway and/or out of an interface; `src` (RTA_PREFSRC), scope, type,
   * metric, table (any u32). Blackhole, unreachable and prohibit routes take
   * no gateway or interface (the kernel refuses them).
   */
  async route(op: 'add' | 'del', r: RouteArgs): Promise<void> {
    const dst = parseIp(r.dst);
    if (!dst) throw new NetlinkError(`"${r.dst}" is not an IP address`);
    const fam = dst.family;
    const addrOf = (what: string, v: string | undefined): Buffer | undefined => {
      if (v === undefined) return undefined;
      const a = parseIp(v);
      if (!a || a.family !== fam) throw new NetlinkError(`${what} "${v}" is not an IPv${fam} address`);
      return a.bytes;
    };
    const gw = addrOf('gateway', r.gateway);
    const prefsrc = addrOf('source', r.src);
    if (!Number.isInteger(r.dstLen) || r.dstLen < 0 || r.dstLen > (fam === 4 ? 32 : 128)) throw new NetlinkError(`prefix length ${r.dstLen} is out of range`);
    const shown = r.dstLen === 0 ? 'default' : `${dst.text}/${r.dstLen}`;
    if (hostBits(dst.bytes, r.dstLen)) throw new NetlinkError(`${dst.text}/${r.dstLen} has host bits set (the network is ${networkText(dst.bytes, r.dstLen)}/${r.dstLen})`);
    const type = r.type ?? 'unicast';
    if (type !== 'unicast' && (gw || r.ifname !== undefined)) throw new NetlinkError(`a ${type} route (${shown}) takes no gateway and no device`);
    for (const [k, v, max] of [['metric', r.metric, 0xffffffff], ['table', r.table, 0xffffffff], ['scope', r.scope, 255]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) throw new NetlinkError(`route ${shown}: ${k} ${v} is out of range (0 to ${max})`);
    }
    const req: RouteRequest = { dst: dst.bytes, dstLen: r.dstLen, type: ROUTE_TYPES[type] };
    if (gw) req.gateway = gw;
    if (prefsrc) req.prefsrc = prefsrc;
    if (r.ifname !== undefined) req.oif = await this.interfaceIndex(r.ifname);
    if (r.metric !== undefined) req.metric = r.metric;
    if (r.table !== undefined) req.table = r.table;
    if (r.scope !== undefined) req.scope = r.scope;
    if (r.protocol !== undefined) req.protocol = r.protocol;
    const seq = this.rt.nextSeq();
    const what = `${op === 'add' ? 'adding' : 'removing'} the route to ${shown}`;
    try {
      await this.rt.send([{ seq, bytes: encodeRoute(op, req, seq), dump: false }])[0];
    } catch (e) {
      throw mapError(what, {
        EEXIST: `the route to ${shown} already exists`,
        ESRCH: `there is no route to ${shown}`,
        ...(r.gateway !== undefined ? { ENETUNREACH: `${what} failed: gateway ${r.gateway} is not on a network this host is connected to` } : {}),
        EINVAL: `${what} failed: the kernel rejected it as invalid (a source address this host does not have, or a scope that does not fit)`,
      }, e);
    }
  }

  private async dumpOf(what: string, build: (seq: number) => Buffer): Promise<NlMessage[]> {
    if (this.rt.closed) throw new NetlinkError(`cannot do ${what}: the netlink handle is closed`);
    try {
      return await this.rt.dump(build);
    } catch (e) {
      throw mapError(what, {}, e);
    }
  }

  private encodeChange(c: AddressChange & { op: 'add' | 'del' }, index: number, seq: number): Buffer {
    const ip = parseIp(c.ip);
    if (!ip) throw new NetlinkError(`"${c.ip}" is not an IP address`);
    const max = ip.family === 4 ? 32 : 128;
    if (c.prefixLen !== undefined && (!Number.isInteger(c.prefixLen) || c.prefixLen < 0 || c.prefixLen > max)) {
      throw new NetlinkError(`prefix length ${c.prefixLen} is not in 0..${max}`);
    }
    if ((c.op === 'add' || ip.family === 6) && c.prefixLen === undefined) throw new NetlinkError(`${ip.text}: a prefix length is needed`);
    if (ip.family === 6 && (c.broadcast !== undefined || c.label !== undefined)) {
      throw new NetlinkError(`${ip.text}: IPv6 addresses have no broadcast address or label`);
    }
    if (c.label !== undefined && (c.label.length > 15 || !c.label.startsWith(c.ifname))) {
      throw new NetlinkError(`address label "${c.label}" must start with "${c.ifname}" and be at most 15 characters`);
    }
    const req = { index, address: ip.bytes, prefixLen: c.prefixLen ?? -1 } as Parameters<typeof encodeAddr>[1];
    if (c.broadcast !== undefined) {
      const b = parseIp(c.broadcast);
      if (!b || b.family !== 4) throw new NetlinkError(`broadcast "${c.broadcast}" is not an IPv4 address`);
      req.broadcast = b.bytes;
    }
    if (c.label !== undefined) req.label = c.label;
    if (c.op === 'add' && ip.family === 6) req.flags = IFA_F_NODAD;
    return encodeAddr(c.op, req, seq);
  }
}

/** What route() takes; RouteInfo is what listRoutes() gives back. */
export interface RouteArgs {
  dst: string;
  dstLen: number;
  gateway?: string;
  src?: string;
  ifname?: string;
  metric?: number;
  table?: number;
  scope?: number;
  type?: RouteType;
  protocol?: number;
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';
export const ROUTE_TYPES: Record<RouteType, number> = { unicast: RTN_UNICAST, blackhole: RTN_BLACKHOLE, unreachable: RTN_UNREACHABLE, prohibit: RTN_PROHIBIT };

function hostBits(b: Buffer, len: number): boolean {
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    if ((b[i]! & (0xff >> keep)) !== 0) return true;
  }
  return false;
}

function networkText(b: Buffer, len: number): string {
  const n = Buffer.from(b);
  for (let i = 0; i < n.length; i++) n[i] = n[i]! & ~(0xff >> Math.max(0, Math.min(8, len - i * 8))) & 0xff;
  return ipFromBytes(n)?.text ?? '?';
}

function changeText(c: AddressChange): { what: string; messages: Messages } {
  if (c.op === 'link-up') {
    return { what: `bringing ${c.ifname} up`, messages: { ENODEV: `network interface ${c.ifname} disappeared while bringing it up` } };
  }
  const ip = parseIp(c.ip)?.text ?? c.ip;
  if (c.op === 'add') {
    return {
      what: `adding ${ip}/${c.prefixLen} to ${c.ifname}`,
      messages: {
        EEXIST: `${ip}/${c.prefixLen} is already configured on ${c.ifname}`,
        ENODEV: `network interface ${c.ifname} disappeared while adding ${ip}`,
      },
    };
  }
  return {
    what: `removing ${ip} from ${c.ifname}`,
    messages: {
      EADDRNOTAVAIL: `${ip}${c.prefixLen === undefined ? '' : `/${c.prefixLen}`} is not configured on ${c.ifname}`,
      ENODEV: `network interface ${c.ifname} disappeared while removing ${ip}`,
    },
  };
}

function ifAddress(a: AddrInfo): IfAddress {
  const out: IfAddress = { family: a.family, address: a.address, prefixLen: a.prefixLen, secondary: (a.flags & IFA_F_SECONDARY) !== 0 };
  if (a.broadcast !== undefined) out.broadcast = a.broadcast;
  if (a.label !== undefined) out.label = a.label;
  if (a.family === 6 && (a.flags & 0x40) !== 0) out.tentative = true;
  return out;
}

/**
 * Link and address changes as the kernel announces them (RTNLGRP_LINK,
 * RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR) on a socket of its own, so a
 * burst of events never delays or overruns request replies. It does not
 * keep the process alive. VRRP's FAULT state and track_interface stand on it.
 */
export class NetWatcher {
  private closed = false;

  private constructor(private readonly h: NetlinkHandle, private readonly onEvent: (e: NetEvent) => void) {}

  static open(onEvent: (e: NetEvent) => void): NetWatcher {
    let w: NetWatcher | undefined;
    let h: NetlinkHandle | undefined;
    try {
      h = native.nlOpen(NETLINK_ROUTE, () => w?.drain());
      native.nlListen(h, [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR], EVENT_RCVBUF);
      w = new NetWatcher(h, onEvent);
      native.nlWait(h, true);
    } catch (e) {
      if (h) native.nlClose(h);
      throw new NetlinkError(`cannot watch network interfaces: ${errText(e)}`);
    }
    return w;
  }

  /**
   * What is queued, up to a bound per loop turn (the poll calls again while
   * more is queued): a burst of events does not hold up the heartbeats.
   */
  private drain(): void {
    for (let i = 0; i < EVENT_DATAGRAMS_PER_TURN && !this.closed; i++) {
      let buf: Buffer | null;
      try {
        buf = native.nlRecv(this.h);
      } catch (e) {
        // ENOBUFS: the kernel dropped events; whoever tracks state must re-read it.
        if ((e as NodeJS.ErrnoException).code === 'ENOBUFS') { this.onEvent({ kind: 'overrun' }); continue; }
        throw e;
      }
      if (!buf) return;
      for (const m of splitMessages(buf)) {
        const e = decodeEvent(m);
        if (e) this.onEvent(e);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.nlClose(this.h);
  }
}

/** A multicast rtnetlink message as an event; undefined for anything else. */
export function decodeEvent(m: NlMessage): NetEvent | undefined {
  if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
    const l = decodeLink(m.body);
    if (!l) return undefined;
    const e: NetEvent = { kind: 'link', index: l.index, name: l.name, up: l.up, running: l.running, carrier: l.carrier, loopback: l.loopback, noarp: l.noarp, removed: m.type === RTM_DELLINK };
    if (l.mac !== undefined) e.mac = l.mac;
    return e;
  }
  if (m.type === RTM_NEWADDR || m.type === RTM_DELADDR) {
    const a = decodeAddr(m.body);
    if (!a) return undefined;
    return { kind: 'address', op: m.type === RTM_NEWADDR ? 'add' : 'del', index: a.index, ...ifAddress(a) };
  }
  return undefined;
}

const GENERIC: Messages = {
  EPERM: 'operation not permitted (needs root or CAP_NET_ADMIN)',
  EACCES: 'operation not permitted (needs root or CAP_NET_ADMIN)',
  ENODEV: 'no such network interface',
  EADDRNOTAVAIL: 'address not configured',
  EEXIST: 'address already configured',
  EINVAL: 'the kernel rejected the request as invalid',
  ENOBUFS: 'the kernel is out of buffer space, try again',
};

function mapError(what: string, messages: Messages, e: unknown): NetlinkError {
  const code = e instanceof NetlinkError ? e.code : undefined;
  if (code !== undefined) {
    const specific = messages[code];
    if (specific !== undefined) return new NetlinkError(specific, code);
    if (code === 'ETIMEDOUT') return new NetlinkError(`${what} failed: ${e instanceof Error ? e.message : ''}`, code);
    return new NetlinkError(`${what} failed: ${GENERIC[code] ?? code} (${code})`, code);
  }
  if (e instanceof NetlinkError && /closed/.test(e.message)) return e;
  return new NetlinkError(`${what} failed: ${errText(e)}`);
}

function indexOf(links: ReadonlyArray<{ name: string; index: number }>, name: string): number {
  const l = links.find((x) => x.name === name);
  if (!l) {
    throw new NetlinkError(
      `no network interface named "${name}" (present: ${links.map((x) => x.name).join(', ') || 'none'})`,
      'ENODEV',
    );
  }
  return l.index;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
