// The network core's VRRP socket: raw IP protocol 112 on one interface and
// family, for every VRRP instance that advertises there. The kernel side
// (TTL / hop limit 255, TOS 0xc0, the group joined on this interface only,
// no multicast loop, SO_BINDTODEVICE, the ancillary data) is set once in the
// native addon; this wrapper hands each received advert up with what the
// decoder's receive-path checks need, {payload, src, dst, ttl, ifindex},
// and never throws from the receive path. Decoding is per instance (its
// version, checksum mode and password): src/vrrp/packet.ts decode().

import native, { type VrrpHandle } from 'tandem-native';
import type { Family } from './addr.js';
import { RateLimitedLog } from '../util/ratelimit.js';
import { UserError } from '../util/errors.js';
import { IPPROTO_VRRP, splitIpv4, VRRP_GROUP4, VRRP_GROUP6, type ChecksumMode } from '../vrrp/packet.js';

/** Same shape as core.ts's NetLog (not imported: core.ts imports this module). */
export type VrrpLog = (level: 'info' | 'warn' | 'debug', msg: string) => void;

export interface VrrpReceived {
  family: Family;
  /** The VRRP message (no IP header). */
  payload: Buffer;
  src: string;
  dst: string;
  /** IPv4 TTL from the header, or IPv6 hop limit from IPV6_HOPLIMIT (-1 if the kernel gave none). */
  ttl: number;
  ifindex: number;
  /** How long before the callback the kernel received it (its SO_TIMESTAMPNS stamp), 0..MAX_AGE_MS. */
  ageMs: number;
}

/**
 * The receive stamp moves a Master_Down deadline earlier by at most this:
 * it removes the event loop's delay in reading an advert, but a stall that
 * queued several must not make the deadline of one read before the newest
 * (still queued) already past.
 */
export const MAX_AGE_MS = 1;

export interface VrrpSocketOptions {
  family: Family;
  ifname: string;
  /** The multicast group to join on ifname: default 224.0.0.18 / ff02::12; null joins none (unicast only). */
  group?: string | null;
  /**
   * 'rfc' (default): for IPv6 the kernel fills and verifies the RFC 5798
   * checksum (IPV6_CHECKSUM); 'no-pseudo-header': it must not, the codec
   * does both. IPv4 checksums are always the codec's. With the kernel
   * checking, an IPv6 advert with a wrong checksum never reaches decode():
   * it shows only in the socket's drops (/proc/net/raw6).
   */
  checksumMode?: ChecksumMode;
  onPacket: (p: VrrpReceived) => void;
  /** Receive errors and malformed IP headers, at most one line per kind every 10 s. */
  log?: VrrpLog;
  now?: () => number;
  /** Called once, after close(). */
  onClose?: () => void;
}

export interface VrrpSocketCounters {
  received: number;
  /** Not a whole IPv4 datagram of protocol 112 (the kernel's business, so rare). */
  malformed: number;
  recvErrors: number;
  sent: number;
  sendErrors: number;
}

const LOG_INTERVAL_MS = 10_000;

export class VrrpSocket {
  readonly counters: VrrpSocketCounters = { received: 0, malformed: 0, recvErrors: 0, sent: 0, sendErrors: 0 };
  readonly group: string | undefined;
  readonly kernelChecksum: boolean;
  private handle: VrrpHandle | undefined;
  private readonly rl: RateLimitedLog | undefined;

  private constructor(readonly family: Family, readonly ifname: string, group: string | undefined, kernelChecksum: boolean, private readonly o: VrrpSocketOptions) {
    this.group = group;
    this.kernelChecksum = kernelChecksum;
    const log = o.log;
    this.rl = log ? new RateLimitedLog((level, msg) => log(level === 'error' ? 'warn' : level, msg), o.now ?? (() => performance.now()), { intervalMs: LOG_INTERVAL_MS, maxKeys: 8 }) : undefined;
  }

  /** The interface's index, as the kernel numbers it. */
  ifindex = 0;

  /**
   * Opens the socket; a UserError names the interface, the family and the
   * errno text (EPERM without CAP_NET_RAW, ENODEV for a missing interface).
   */
  static open(o: VrrpSocketOptions): VrrpSocket {
    const group = o.group === null ? undefined : (o.group ?? (o.family === 4 ? VRRP_GROUP4 : VRRP_GROUP6));
    const kernelChecksum = o.family === 6 && (o.checksumMode ?? 'rfc') === 'rfc';
    const s = new VrrpSocket(o.family, o.ifname, group, kernelChecksum, o);
    try {
      const [h, ifindex] = native.vrrpOpen({ family: o.family, ifname: o.ifname, ...(group ? { group } : {}), kernelChecksum },
        (packet, srcOrError, dst, ttl, ifindex, ageMs) => s.received(packet, srcOrError, dst, ttl, ifindex, ageMs));
      s.handle = h;
      s.ifindex = ifindex;
    } catch (e) {
      s.rl?.close();
      throw new UserError(`VRRP socket on ${o.ifname} (IPv${o.family}${group ? `, group ${group}` : ''}): ${e instanceof Error ? e.message : String(e)}`);
    }
    return s;
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /**
   * Sends one VRRP message (from the codec) to `dst`, the group or a
   * unicast peer, from `src` (unicast_src_ip, the primary address, the
   * link-local address; absent: the kernel's choice). Returns the error
   * text instead of throwing: a failed advert is the caller's to count.
   */
  send(message: Buffer, dst: string, src?: string): string | undefined {
    if (!this.handle) return 'VRRP socket is closed';
    try {
      native.vrrpSend(this.handle, message, dst, src ?? '');
      this.counters.sent++;
      return undefined;
    } catch (e) {
      this.counters.sendErrors++;
      return `VRRP advert to ${dst} on ${this.ifname}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = undefined;
    native.vrrpClose(h);
    this.rl?.flush(true);
    this.rl?.close();
    this.o.onClose?.();
  }

  private received(packet: Buffer | null, srcOrError: string, dst: string, ttl: number, ifindex: number, ageMs = 0): void {
    if (!this.handle) return;
    if (packet === null) {
      this.counters.recvErrors++;
      this.rl?.warn('recv-error', () => `VRRP socket on ${this.ifname} (IPv${this.family}): ${srcOrError}`);
      return;
    }
    const age = ageMs > 0 ? Math.min(ageMs, MAX_AGE_MS) : 0;
    let r: VrrpReceived;
    if (this.family === 4) {
      const ip = splitIpv4(packet);
      if (!ip.ok || ip.ip.protocol !== IPPROTO_VRRP) {
        this.counters.malformed++;
        this.rl?.warn('malformed', () => `VRRP socket on ${this.ifname}: packet from ${srcOrError} dropped: ${ip.ok ? `protocol ${ip.ip.protocol}` : ip.detail}`);
        return;
      }
      r = { family: 4, payload: ip.ip.payload, src: ip.ip.src, dst: ip.ip.dst, ttl: ip.ip.ttl, ifindex, ageMs: age };
    } else {
      r = { family: 6, payload: packet, src: srcOrError, dst, ttl, ifindex, ageMs: age };
    }
    this.counters.received++;
    this.o.onPacket(r);
  }
}
