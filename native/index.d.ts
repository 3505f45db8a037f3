/** Send-only AF_PACKET socket on `ifname`: returns [fd, ifindex]. */
export function openPacket(ifname: string): [number, number];
/** Send one Ethernet frame (destination MAC and ethertype are read from it). */
export function sendFrame(fd: number, ifindex: number, frame: Buffer): number;
export function close(fd: number): void;
/** The interface's Ethernet address (6 bytes). */
export function hwAddress(ifname: string): Buffer;
/** SO_BINDTODEVICE on an existing socket fd. */
export function bindToDevice(fd: number, ifname: string): void;
/** Receive buffer of a socket (SO_RCVBUFFORCE, else SO_RCVBUF); returns what the kernel granted (it doubles the request for bookkeeping). */
export function setRecvBuffer(fd: number, bytes: number): number;
/** One datagram to systemd's notification socket; an address starting with '@' is abstract. Never blocks. */
export function sdNotify(address: string, message: string): void;
/** An open raw IPv4 socket (opaque). */
export type RawHandle = { readonly __raw: unique symbol };
/**
 * Raw IPv4 socket for one IP protocol (1 ICMP, 112 VRRP...). onPacket gets
 * each IP datagram (header included) and its source address, or null and an
 * error text. For ICMP the kernel passes echo replies only.
 */
export function rawOpen(protocol: number, onPacket: (packet: Buffer | null, sourceOrError: string) => void): RawHandle;
/** Send one message (without IP header) to an IPv4 address; throws with errno text. */
export function rawSend(h: RawHandle, message: Buffer, address: string): number;
/** Stop receiving and close; idempotent. */
export function rawClose(h: RawHandle): void;
/** An open VRRP socket (opaque). */
export type VrrpHandle = { readonly __vrrp: unique symbol };
export interface VrrpOpenOptions {
  family: 4 | 6;
  ifname: string;
  /** Multicast group joined on ifname (224.0.0.18, ff02::12 or a configured one); omit for unicast only. */
  group?: string;
  /** IPv6 only: IPV6_CHECKSUM at offset 6, the kernel fills and checks the RFC 5798 checksum. */
  kernelChecksum?: boolean;
}
/**
 * Raw socket for IP protocol 112 on one interface and family: TTL/hop limit
 * 255, TOS 0xc0, no multicast loop, SO_BINDTODEVICE, the group joined.
 * Returns [handle, ifindex]. onPacket gets (packet, src, dst, ttl, ifindex):
 * IPv4 packets include their IP header (dst and ttl then come from it, ttl
 * is -1); IPv6 ones do not (hop limit and dst from ancillary data). ageMs:
 * how long ago the kernel received it (SO_TIMESTAMPNS; -1 without a stamp). On a
 * receive error: (null, error text). Throws with errno text (EPERM, ENODEV...).
 */
export function vrrpOpen(opts: VrrpOpenOptions, onPacket: (packet: Buffer | null, srcOrError: string, dst: string, ttl: number, ifindex: number, ageMs: number) => void): [VrrpHandle, number];
/** Sends one VRRP message to dst from src ('' or absent: the kernel picks); throws with errno text. */
export function vrrpSend(h: VrrpHandle, message: Buffer, dst: string, src?: string): number;
/** Stop receiving and close; idempotent. */
export function vrrpClose(h: VrrpHandle): void;
/** SCHED_FIFO at `priority` for the calling (main) thread, reset in children; throws with errno text. */
export function setRealtime(priority: number): void;
/** The calling thread's scheduling policy and priority, e.g. ['fifo', 50] or ['other', 0]. */
export function schedPolicy(): [string, number];
/**
 * Locks (mlock2 MLOCK_ONFAULT) every mapping of the program files the process
 * executes from, except writable ones, and the main thread's stack; never
 * anonymous memory. bytes is the mappings' size, not what is resident.
 * Throws with errno text, the size and RLIMIT_MEMLOCK; nothing stays locked then.
 */
export function lockCode(): { regions: number; bytes: number };
/** A one-shot CLOCK_MONOTONIC timerfd polled by Node's loop (opaque). */
export type TimerHandle = { readonly __timer: unique symbol };
/** A disarmed timer; onFire runs when it expires (error: the poll or read failed, it counts as fired). Throws with errno text. */
export function timerOpen(onFire: (error?: string) => void): TimerHandle;
/** Arms it delayMs (fractional) from now, replacing any earlier setting; <= 0 fires on the next loop turn. Armed keeps the process alive. */
export function timerSet(h: TimerHandle, delayMs: number): void;
/** Disarms it; a disarmed timer does not keep the process alive. */
export function timerClear(h: TimerHandle): void;
/** Disarms and closes the fd; idempotent. */
export function timerClose(h: TimerHandle): void;
/** An open netlink request socket (opaque). */
export type NetlinkHandle = { readonly __netlink: unique symbol };
/** A netlink socket of `protocol` (0: NETLINK_ROUTE) bound to a port the kernel picks; onReadable runs while nlWait(h, true) and an answer is queued. Throws with errno text and code. */
export function nlOpen(protocol: number, onReadable: () => void): NetlinkHandle;
/** The messages in one sendmsg to the kernel (1..1024); throws with errno text and code. */
export function nlSend(h: NetlinkHandle, messages: Buffer[]): void;
/** One queued datagram, or null when none is; throws with errno text and code (ENOBUFS: answers were lost). */
export function nlRecv(h: NetlinkHandle): Buffer | null;
/** Starts (keeping the process alive) or stops calling onReadable. */
export function nlWait(h: NetlinkHandle, on: boolean): void;
/** Closes the socket; idempotent. */
export function nlClose(h: NetlinkHandle): void;
/**
 * Makes the socket an event socket: joins the multicast groups, sets the
 * receive buffer (forced where allowed) and stops its poll from keeping the
 * process alive. Returns the receive buffer the kernel granted.
 */
export function nlListen(h: NetlinkHandle, groups: number[], rcvbufBytes: number): number;
/** A do-nothing handler on every real-time signal still at its default (which would end the process); returns how many. */
export function catchRealtimeSignals(): number;
