// Telling the link where a VIP went: gratuitous ARP (IPv4) or unsolicited
// neighbour advertisements (IPv6), repeated `count` rounds `intervalMs`
// apart like IPaddr2's arp_count / arp_interval. Frames come from frames.ts,
// the socket from raw.ts.

import { UserError } from '../util/errors.js';
import { parseIp } from './addr.js';
import { ARPOP_REPLY, ARPOP_REQUEST, buildGarpFrame, buildUnsolicitedNa } from './frames.js';
import { hwAddress, PacketSocket, type PacketSockets } from './raw.js';

export interface AnnounceOptions {
  count: number;            // rounds; IPv4: a request + reply pair each, IPv6: one advertisement each
  intervalMs: number;       // between the starts of consecutive rounds
  /** Where failures of later rounds go (they are not thrown). */
  log?: (level: 'warn' | 'debug', msg: string) => void;
  /** Sockets kept open by the network core; without, one is opened and closed per call (its close stalls: raw.ts). */
  sockets?: PacketSockets;
  /** The interface's MAC as the caller knows it (aa:bb:..); without, it is read from the kernel. */
  mac?: string;
}

/** The frames of one announcement round for `ip` from `mac`. */
export function announcementFrames(mac: Uint8Array, ip: string): Buffer[] {
  const a = parseIp(ip);
  if (!a) throw new RangeError(`"${ip}" is not an IP address`);
  return a.family === 4
    ? [buildGarpFrame(mac, a.text, ARPOP_REQUEST), buildGarpFrame(mac, a.text, ARPOP_REPLY)]
    : [buildUnsolicitedNa(mac, a.text)];
}

/**
 * Sends the first round now and resolves once it is out (rejecting if it
 * cannot be sent); the remaining count-1 rounds follow in the background
 * until done or until `signal` aborts, e.g. because the VIP was removed
 * again and announcing it would now be wrong.
 */
export async function announce(ifname: string, ip: string, opts: AnnounceOptions, signal?: AbortSignal): Promise<void> {
  const { count, intervalMs } = opts;
  if (!Number.isInteger(count) || count < 0) throw new UserError(`arp_count must be a whole number >= 0, got ${count}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new UserError(`arp_interval must be >= 0 ms, got ${intervalMs}`);
  if (count === 0 || signal?.aborted) return;
  const kind = ip.includes(':') ? 'unsolicited neighbour advertisement' : 'gratuitous ARP';

  let sock: PacketSocket | undefined;
  let frames: Buffer[];
  const pool = opts.sockets;
  try {
    frames = announcementFrames(opts.mac !== undefined ? macBytes(opts.mac) : hwAddress(ifname), ip);
    if (!pool) sock = PacketSocket.open(ifname);
  } catch (e) {
    throw new UserError(`cannot send ${kind} for ${ip} on ${ifname}: ${errText(e)}`);
  }

  let open = true;
  const release = (): void => {
    if (!open) return;
    open = false;
    signal?.removeEventListener('abort', onAbort);
    sock?.close();
  };
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (timer) clearTimeout(timer);
    release();
  };
  const round = (): void => {
    if (pool) pool.send(ifname, frames);
    else for (const frame of frames) sock!.send(frame);
  };

  try {
    round();
  } catch (e) {
    release();
    throw new UserError(`cannot send ${kind} for ${ip} on ${ifname}: ${errText(e)}`);
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
        opts.log?.('warn', `${kind} round ${sent + 1}/${count} for ${ip} on ${ifname} failed: ${errText(e)}`);
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

function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || !parts.every((x) => /^[0-9a-f]{2}$/i.test(x))) throw new RangeError(`"${mac}" is not an Ethernet address`);
  return Buffer.from(parts.map((x) => parseInt(x, 16)));
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
