// The raw-socket binding: everything in tandem that sends or receives
// below UDP goes through here (or vrrp-socket.ts) to the tandem-native addon.
//   - AF_PACKET, send only: gratuitous ARP and unsolicited neighbour
//     advertisements, whole Ethernet frames built in frames.ts
//   - raw IPv4 sockets for one protocol: ICMP echo (ping nodes)
//   - VRRP (protocol 112, IPv4 and IPv6): vrrp-socket.ts, its own native calls
// netlink.ts has the other kernel socket, NETLINK_ROUTE.

import native, { type RawHandle } from 'tandem-native';

export type { RawHandle };

/** The interface's Ethernet address (6 bytes); throws with errno text. */
export function hwAddress(ifname: string): Buffer {
  return native.hwAddress(ifname);
}

/** A send-only AF_PACKET socket on one interface; it receives nothing, so it never needs draining. */
export class PacketSocket {
  private open = true;

  private constructor(private readonly fd: number, readonly ifindex: number) {}

  /** Throws with errno text (EPERM without CAP_NET_RAW, ENODEV, EMFILE...). */
  static open(ifname: string): PacketSocket {
    const [fd, ifindex] = native.openPacket(ifname);
    return new PacketSocket(fd, ifindex);
  }

  /** One full Ethernet frame; its destination MAC and ethertype address it. */
  send(frame: Buffer): void {
    if (!this.open) throw new Error('packet socket is closed');
    native.sendFrame(this.fd, this.ifindex, frame);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    try { native.close(this.fd); } catch { /* nothing useful to do */ }
  }
}

/**
 * Send-only packet sockets kept open, one per interface. Closing an
 * AF_PACKET socket waits for an RCU grace period in the kernel
 * (packet_release -> synchronize_net): 7-30 ms measured here, with the
 * event loop blocked, on the takeover path. So they are opened once and
 * closed only when the network core closes, or when the interface they
 * were bound to is gone (a send fails with ENXIO/ENODEV: reopened once).
 */
export class PacketSockets {
  private readonly byName = new Map<string, PacketSocket>();
  private closed = false;

  constructor(private readonly max = 64) {}

  /** Sends `frames` on `ifname`, reopening once if the interface was recreated. */
  send(ifname: string, frames: readonly Buffer[]): void {
    if (this.closed) throw new Error('the network core is closed');
    try {
      this.sendOn(this.get(ifname), frames);
    } catch (e) {
      if (!/ENXIO|ENODEV/.test(e instanceof Error ? e.message : String(e))) throw e;
      this.drop(ifname);
      this.sendOn(this.get(ifname), frames);
    }
  }

  closeAll(): void {
    this.closed = true;
    for (const s of this.byName.values()) s.close();
    this.byName.clear();
  }

  private sendOn(s: PacketSocket, frames: readonly Buffer[]): void {
    for (const f of frames) s.send(f);
  }

  private get(ifname: string): PacketSocket {
    let s = this.byName.get(ifname);
    if (s) return s;
    if (this.byName.size >= this.max) {
      // Bounded: the oldest goes (a close stall, but only past `max` interfaces).
      const [first] = this.byName.keys();
      if (first !== undefined) this.drop(first);
    }
    s = PacketSocket.open(ifname);
    this.byName.set(ifname, s);
    return s;
  }

  private drop(ifname: string): void {
    this.byName.get(ifname)?.close();
    this.byName.delete(ifname);
  }
}

export const IPPROTO_ICMP = 1;
export const IPPROTO_VRRP = 112;

/** Raw IPv4 socket for one IP protocol; onPacket gets each datagram with its IP header, or null and an error text. */
export function rawOpen(protocol: number, onPacket: (packet: Buffer | null, sourceOrError: string) => void): RawHandle {
  return native.rawOpen(protocol, onPacket);
}

export function rawSend(h: RawHandle, message: Buffer, address: string): number {
  return native.rawSend(h, message, address);
}

/** Handles already closed: the native struct is freed after a close, so a second close must not reach it. */
const closedRaw = new WeakSet<object>();

export function rawClose(h: RawHandle): void {
  if (closedRaw.has(h as object)) return;
  closedRaw.add(h as object);
  native.rawClose(h);
}
