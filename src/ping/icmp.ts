// ICMP echo for ping nodes over a raw socket (root or CAP_NET_RAW: Node has
// no ICMP sockets and unprivileged ICMP is off on Debian). The decisions live
// in tracker.ts, run by pinger.ts's PingerCore on real timers; this file
// builds and parses packets and owns the socket.
//
// A raw ICMP socket receives every ICMP packet that reaches the host's
// network namespace: replies to other pingers, errors, our own requests on
// loopback. A reply counts only if it is an echo reply carrying our
// identifier and our random token, from the address that sequence number
// was sent to (the tracker checks the last two).

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { IPPROTO_ICMP, rawClose, rawOpen, rawSend, type RawHandle } from '../net/raw.js';
import { nodeClock } from '../runtime/node-clock.js';
import { UserError } from '../util/errors.js';
import { PingerCore, pingerConfig, type PingChange, type PingerSpec } from './pinger.js';
import type { PingTargetSpec, Reach, TargetStats, TrackerConfig } from './tracker.js';

export type { PingChange };

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const TOKEN_LEN = 8;
const RECV_ERROR_LOG_MS = 10_000;

/** An ICMP echo request: type, code, checksum, identifier, sequence, payload. */
export function encodeEchoRequest(id: number, seq: number, token: Buffer): Buffer {
  const b = Buffer.alloc(8 + token.length);
  b.writeUInt8(ICMP_ECHO_REQUEST, 0);
  b.writeUInt8(0, 1);
  b.writeUInt16BE(id & 0xffff, 4);
  b.writeUInt16BE(seq & 0xffff, 6);
  token.copy(b, 8);
  b.writeUInt16BE(icmpChecksum(b), 2);
  return b;
}

/** RFC 1071 ones' complement sum over the ICMP message (checksum field zero). */
export function icmpChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface EchoReply {
  id: number;
  seq: number;
  token: Buffer;
}

/**
 * An IPv4 datagram as a raw socket delivers it (IP header included), parsed
 * as an echo reply; undefined for anything else or anything damaged.
 */
export function parseEchoReply(packet: Buffer): EchoReply | undefined {
  if (packet.length < 20) return undefined;
  const version = packet[0]! >> 4;
  const ihl = (packet[0]! & 0x0f) * 4;
  if (version !== 4 || ihl < 20 || packet.length < ihl + 8) return undefined;
  const icmp = packet.subarray(ihl);
  if (icmp[0] !== ICMP_ECHO_REPLY || icmp[1] !== 0) return undefined;
  if (icmpChecksum(icmp) !== 0) return undefined;   // a correct message sums to zero
  return { id: icmp.readUInt16BE(4), seq: icmp.readUInt16BE(6), token: Buffer.from(icmp.subarray(8)) };
}

export interface PingerOptions extends PingerSpec {
  onChange?: (c: PingChange) => void;
  onError?: (message: string) => void;
  now?: () => number;
}

export class IcmpPinger {
  private readonly core: PingerCore;
  private readonly socket: RawHandle;
  private readonly id: number;
  private readonly token: Buffer;
  private readonly now: () => number;
  private closed = false;
  /** Packets that reached the socket but were not echo replies for us. */
  foreign = 0;
  recvErrors = 0;
  private recvErrorLoggedAt = -Infinity;
  private recvErrorsUnlogged = 0;

  private constructor(private readonly opts: PingerOptions, cfg: TrackerConfig) {
    const clock = nodeClock(opts.now);
    this.now = clock.now;
    this.id = randomBytes(2).readUInt16BE(0);
    this.token = randomBytes(TOKEN_LEN);
    // The native socket lets the kernel drop every ICMP type but echo reply.
    try {
      this.socket = rawOpen(IPPROTO_ICMP, (buf, source) => {
        if (buf) this.onMessage(buf, source);
        else this.onRecvError(source);
      });
    } catch (e) {
      const msg = (e as Error).message;
      throw new UserError(`ping: cannot open a raw ICMP socket (${msg}); ping nodes need root or CAP_NET_RAW`);
    }
    this.core = new PingerCore({
      cfg, clock,
      send: (addr, seq) => this.send(addr, seq),
      ...(opts.onChange ? { onChange: opts.onChange } : {}),
    });
  }

  /** Opens the socket and starts probing at once. Throws UserError on bad options or missing privileges. */
  static open(opts: PingerOptions): IcmpPinger {
    const { cfg, problems } = pingerConfig(opts);
    for (const t of opts.targets) {
      for (const a of t.addrs) if (isIP(a) !== 4) problems.push(`targets: ${t.name}: '${a}' is not an IPv4 address`);
    }
    if (problems.length) throw new UserError(`ping: ${problems.join('; ')}`);
    const p = new IcmpPinger(opts, cfg);
    p.core.start();
    return p;
  }

  reach(): Reach {
    return this.core.reach();
  }

  stats(): TargetStats[] {
    return this.core.stats();
  }

  /** Replies that matched no probe of ours to that address (other pingers, duplicates, late ones). */
  get ignored(): number {
    return this.core.state.ignored;
  }

  get sendErrors(): number {
    return this.core.sendErrors;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.close();
    rawClose(this.socket);
  }

  /**
   * A receive error: say so instead of silently reporting every ping node
   * down, but at most once per RECV_ERROR_LOG_MS (the socket stays open, so
   * a persistent error would otherwise log on every wakeup).
   */
  private onRecvError(text: string): void {
    this.recvErrors += 1;
    const now = this.now();
    if (now - this.recvErrorLoggedAt < RECV_ERROR_LOG_MS) {
      this.recvErrorsUnlogged += 1;
      return;
    }
    const more = this.recvErrorsUnlogged ? ` (${this.recvErrorsUnlogged} more since the last report)` : '';
    this.recvErrorLoggedAt = now;
    this.recvErrorsUnlogged = 0;
    this.opts.onError?.(`ping: raw socket error: ${text}${more}`);
  }

  private onMessage(buf: Buffer, source: string): void {
    if (this.closed) return;
    const r = parseEchoReply(buf);
    if (!r || r.id !== this.id || !r.token.equals(this.token)) {
      this.foreign += 1;
      return;
    }
    this.core.reply(source, r.seq);
  }

  private send(addr: string, seq: number): void | Error {
    try {
      rawSend(this.socket, encodeEchoRequest(this.id, seq, this.token), addr);
    } catch (e) {
      // EHOSTUNREACH/ENETUNREACH: the core counts this probe as lost now.
      return e instanceof Error ? e : new Error(String(e));
    }
  }
}

/** `ping IP` and `ping_group NAME IP...` lines as tracker targets. */
export function pingTargets(ping: string[], groups: Array<{ name: string; addrs: string[] }>): PingTargetSpec[] {
  return [...ping.map((ip) => ({ name: ip, addrs: [ip] })), ...groups.map((g) => ({ name: g.name, addrs: [...g.addrs] }))];
}
