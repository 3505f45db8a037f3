// Gratuitous ARP after a VIP moves, so switches and neighbours learn the new
// MAC without waiting for their ARP cache to expire. Node cannot send raw
// Ethernet frames; the tandem-native addon does the AF_PACKET sendto.

import native from 'tandem-native';
import { UserError } from '../util/errors.js';
import { ipv4ToBuffer, parseIPv4 } from './ipv4.js';

export const ETH_P_ARP = 0x0806;
export const ETH_P_IP = 0x0800;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const GARP_FRAME_LEN = 42; // 14 Ethernet + 28 ARP; the NIC pads to 60

const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);

/**
 * One gratuitous ARP frame: sender and target protocol address are both the
 * VIP, which is what makes receivers update (never create) their entry.
 * The request carries an all-zero target MAC (an RFC 5227 announcement, as the
 * kernel's own arp_notify does); the reply is addressed to everybody.
 */
export function buildGarpFrame(mac: Uint8Array, ip: string, op: typeof ARPOP_REQUEST | typeof ARPOP_REPLY): Buffer {
  if (mac.length !== 6) throw new RangeError(`MAC address must be 6 bytes, got ${mac.length}`);
  const addr = parseIPv4(ip);
  if (addr === undefined) throw new RangeError(`"${ip}" is not an IPv4 address`);
  const vip = ipv4ToBuffer(addr);
  const f = Buffer.alloc(GARP_FRAME_LEN);
  BROADCAST.copy(f, 0);                 // Ethernet destination
  Buffer.from(mac).copy(f, 6);          // Ethernet source
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(ARPHRD_ETHER, 14);    // htype
  f.writeUInt16BE(ETH_P_IP, 16);        // ptype
  f.writeUInt8(6, 18);                  // hlen
  f.writeUInt8(4, 19);                  // plen
  f.writeUInt16BE(op, 20);
  Buffer.from(mac).copy(f, 22);         // sender MAC
  vip.copy(f, 28);                      // sender IP
  (op === ARPOP_REQUEST ? ZERO_MAC : BROADCAST).copy(f, 32); // target MAC
  vip.copy(f, 38);                      // target IP
  return f;
}

export interface GarpOptions {
  count: number;            // rounds; each round is a request + reply pair
  intervalMs: number;       // between the starts of consecutive rounds
  /** Where failures of later rounds go (they are not thrown). */
  log?: (level: 'warn' | 'debug', msg: string) => void;
}

/**
 * Sends the first round now and resolves once it is out (rejecting if it
 * cannot be sent); the remaining count-1 rounds follow in the background
 * until done or until `signal` aborts, e.g. because the VIP was removed
 * again and announcing it would now be wrong.
 */
export async function sendGratuitousArp(ifname: string, ip: string, opts: GarpOptions, signal?: AbortSignal): Promise<void> {
  const { count, intervalMs } = opts;
  if (!Number.isInteger(count) || count < 0) throw new UserError(`arp_count must be a whole number >= 0, got ${count}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new UserError(`arp_interval must be >= 0 ms, got ${intervalMs}`);
  if (count === 0 || signal?.aborted) return;

  let fd: number;
  let ifindex: number;
  let frames: Buffer[];
  try {
    const mac = native.hwAddress(ifname);
    frames = [buildGarpFrame(mac, ip, ARPOP_REQUEST), buildGarpFrame(mac, ip, ARPOP_REPLY)];
    [fd, ifindex] = native.openPacket(ifname);
  } catch (e) {
    throw new UserError(`cannot send gratuitous ARP for ${ip} on ${ifname}: ${errText(e)}`);
  }

  let open = true;
  const release = (): void => {
    if (!open) return;
    open = false;
    signal?.removeEventListener('abort', onAbort);
    try { native.close(fd); } catch { /* nothing useful to do */ }
  };
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (timer) clearTimeout(timer);
    release();
  };

  const round = (): void => {
    for (const frame of frames) native.sendFrame(fd, ifindex, frame);
  };

  try {
    round();
  } catch (e) {
    release();
    throw new UserError(`cannot send gratuitous ARP for ${ip} on ${ifname}: ${errText(e)}`);
  }
  if (count === 1) {
    release();
    return;
  }

  signal?.addEventListener('abort', onAbort, { once: true });
  // Deadline-based scheduling: chained setTimeout(interval) drifts by the
  // timer lateness each round.
  const t0 = Date.now();
  let sent = 1;
  const next = (): void => {
    timer = setTimeout(() => {
      if (!open) return;
      try {
        round();
      } catch (e) {
        // A link flap can make one round fail; later rounds may still help.
        opts.log?.('warn', `gratuitous ARP round ${sent + 1}/${count} for ${ip} on ${ifname} failed: ${errText(e)}`);
      }
      sent++;
      if (sent < count) next();
      else release();
    }, Math.max(0, t0 + sent * intervalMs - Date.now()));
    // Pending announcements must not keep a shutting-down daemon alive.
    timer.unref();
  };
  next();
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
