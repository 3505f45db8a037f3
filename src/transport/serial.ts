// Heartbeat medium over a serial line (a 3-wire null-modem cable to the peer),
// through serialport. Framing lives in serial-frame.ts; this file is the I/O:
// opening, the bounded write queue, and reopening a device that went away.
//
// Unlike Heartbeat, tandem never forwards what it reads on a serial port to
// another port (Heartbeat did, for rings of more than two nodes, with a ttl
// against forwarding storms); a pair has nothing to relay.

import { statSync } from 'node:fs';
import { SerialPort } from 'serialport';
import type { SerialMedium } from '../config/types.js';
import { UserError } from '../util/errors.js';
import { encodeFrame, FrameDecoder, MAX_PAYLOAD, newCounters, type FrameCounters } from './serial-frame.js';
import type { OnDatagram, Path } from './udp.js';

export type LogFn = (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => void;

export interface SerialOptions {
  log?: LogFn;
  /** ha.cf path, so start-up errors name FILE:LINE. */
  file?: string;
  /** Reopen back-off: first retry after reopenMinMs, doubling up to reopenMaxMs. */
  reopenMinMs?: number;
  reopenMaxMs?: number;
  /**
   * How much line time the write queue may hold. Older heartbeats are dropped
   * first: at 19200 baud a queue of seconds would only deliver stale news.
   */
  queueMs?: number;
  /** Used only to warn when the line is too slow for the heartbeat rate. */
  keepaliveMs?: number;
}

export type SerialState = 'open' | 'waiting' | 'closed';

export interface SerialStats {
  device: string;
  baud: number;
  state: SerialState;           // open, waiting for the device to (re)appear, or closed by us
  opens: number;                // successful opens, the first one included
  lastError: string | null;
  downSinceMsAgo: number | null;
  tx: {
    frames: number;             // frames fully handed to the line
    bytes: number;
    queueDrops: number;         // older frames dropped because the line was behind
    offline: number;            // frames not sent because the device was away
    tooLarge: number;
  };
  rx: FrameCounters;
  deliverErrors: number;
}

export interface SerialPath extends Path {
  readonly kind: 'serial';
  readonly device: string;
  stats(now?: number): SerialStats;
}

export function serialPathName(m: SerialMedium): string {
  return `serial ${m.device}`;
}

/** Time a frame of `bytes` takes on the wire: 8N1 is 10 bit times per byte. */
export function wireMs(bytes: number, baud: number): number {
  return (bytes * 10 * 1000) / baud;
}

// A status message with sha256 keys and one resource group, plus the echo field.
const TYPICAL_HEARTBEAT = 480;

/** serialport reports errors as text only; turn the ones an operator can fix into plain words. */
function explain(device: string, message: string): string {
  if (/cannot lock port/i.test(message)) return `${device} is in use by another process (a getty, or a second tandem?)`;
  if (/inappropriate ioctl/i.test(message)) return `${device} is not a serial port (the terminal ioctls fail on it)`;
  if (/permission denied/i.test(message)) return `${device}: permission denied`;
  if (/no such file/i.test(message)) return `${device} does not exist`;
  return `${device}: ${message.replace(/^Error:?\s*/, '')}`;
}

class SerialLink implements SerialPath {
  readonly kind = 'serial' as const;
  readonly name: string;
  readonly device: string;
  private readonly baud: number;
  private port: SerialPort | undefined;
  private state: SerialState = 'waiting';
  private readonly decoder: FrameDecoder;
  private readonly rx: FrameCounters = newCounters();
  private readonly tx = { frames: 0, bytes: 0, queueDrops: 0, offline: 0, tooLarge: 0 };
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private readonly budget: number;
  private opens = 0;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private lastError: string | null = null;
  private downSince: number | undefined = performance.now();
  private deliverErrors = 0;
  private tooLargeLogged = false;
  private readonly log: LogFn;
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(private readonly m: SerialMedium, private readonly onDatagram: OnDatagram, opts: SerialOptions) {
    this.name = serialPathName(m);
    this.device = m.device;
    this.baud = m.baud;
    this.log = opts.log ?? (() => undefined);
    this.minMs = opts.reopenMinMs ?? 200;
    this.maxMs = opts.reopenMaxMs ?? 2000;
    this.decoder = new FrameDecoder({ counters: this.rx });
    const queueMs = opts.queueMs ?? 500;
    // The newest frame is always kept (see send), so a message longer than
    // the budget still goes out; only older ones make way.
    this.budget = Math.ceil((m.baud / 10) * (queueMs / 1000));
  }

  /** First open. Waits for a missing device; refuses one that cannot work. */
  async start(file: string | undefined, keepaliveMs: number | undefined): Promise<void> {
    const where = file ? `${file}:${this.m.line}: ` : '';
    let missing = false;
    try {
      const st = statSync(this.device);
      if (!st.isCharacterDevice()) throw new UserError(`${where}serial ${this.device} is not a character device (a tty such as /dev/ttyS0 is needed)`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new UserError(`${where}serial ${explain(this.device, (e as Error).message)}`);
      missing = true;
    }
    if (missing) {
      // A USB adapter may still be enumerating at boot; the other paths carry on meanwhile.
      this.lastError = `${this.device} does not exist`;
      this.log('warn', `${this.name}: device does not exist yet; waiting for it`);
      this.schedule();
    } else {
      try {
        await this.open();
      } catch (e) {
        const msg = (e as Error).message;
        if (!/no such file/i.test(msg)) {
          // Not a tty, locked by someone else, no permission: waiting would not fix it.
          throw new UserError(`${where}serial ${explain(this.device, msg)}`);
        }
        this.lastError = explain(this.device, msg);
        this.log('warn', `${this.name}: device vanished while opening; waiting for it`);
        this.schedule();
      }
    }
    if (keepaliveMs !== undefined && wireMs(TYPICAL_HEARTBEAT, this.baud) > keepaliveMs) {
      this.log('warn', `${this.name}: a heartbeat takes about ${Math.round(wireMs(TYPICAL_HEARTBEAT, this.baud))} ms on the line at ${this.baud} baud, ` +
        `longer than keepalive ${keepaliveMs} ms; the line cannot carry every heartbeat and the oldest will be dropped`);
    }
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({
        path: this.device, baudRate: this.baud, dataBits: 8, parity: 'none', stopBits: 1,
        // A 3-wire null modem has no RTS/CTS, and XON/XOFF would eat 0x11/0x13 bytes of binary frames.
        rtscts: false, xon: false, xoff: false, xany: false,
        hupcl: false, lock: true, autoOpen: false,
      });
      // Always listen: a close with a write in flight emits a 'canceled' error.
      port.on('error', (e: Error) => { this.lastError = e.message; });
      port.open((err) => {
        if (err) {
          reject(err);
          return;
        }
        if (this.state === 'closed') {
          port.close(() => undefined);
          reject(new Error('closed while opening'));
          return;
        }
        this.port = port;
        this.state = 'open';
        this.opens += 1;
        this.attempt = 0;
        this.downSince = undefined;
        this.decoder.reset();
        port.on('close', (e: Error | null) => { if (this.port === port) this.lost(e?.message ?? 'closed'); });
        // Input queued while nobody had the device open is stale heartbeats:
        // drop it before reading starts (the stream reads only once a 'data'
        // listener is attached).
        port.flush(() => {
          if (this.port === port) port.on('data', (chunk: Buffer) => this.onData(chunk));
          resolve();
        });
      });
    });
  }

  private onData(chunk: Buffer): void {
    for (const payload of this.decoder.push(chunk)) {
      try {
        this.onDatagram(payload, this.name, this.device);
      } catch (e) {
        // A bug above us must not take the line down with it.
        this.deliverErrors += 1;
        if (this.deliverErrors === 1) this.log('error', `${this.name}: receive handler failed: ${(e as Error).message}`);
      }
    }
  }

  private lost(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'waiting';
    this.port = undefined;
    this.writing = false;
    this.dropQueue();
    this.lastError = reason;
    this.downSince = performance.now();
    this.log('warn', `${this.name}: device lost (${reason}); reopening with back-off`);
    this.schedule();
  }

  private schedule(): void {
    if (this.state === 'closed') return;
    const delay = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 16));
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.attempt += 1;
      const attempts = this.attempt;
      const downFor = this.downSince === undefined ? 0 : performance.now() - this.downSince;
      this.open().then(
        () => this.log('info', `${this.name}: device open again after ${attempts} attempt(s), ${(downFor / 1000).toFixed(1)} s without it`),
        (e: Error) => {
          // Only the transitions are logged; the reason stays visible in status.
          this.lastError = explain(this.device, e.message);
          this.schedule();
        },
      );
    }, delay);
  }

  private dropQueue(): void {
    this.queue = [];
    this.queuedBytes = 0;
  }

  send(payload: Buffer): void {
    if (this.state === 'closed') return;
    if (payload.length > MAX_PAYLOAD) {
      this.tx.tooLarge += 1;
      if (!this.tooLargeLogged) {
        this.tooLargeLogged = true;
        this.log('error', `${this.name}: message of ${payload.length} bytes exceeds the serial frame limit of ${MAX_PAYLOAD}; not sent`);
      }
      return;
    }
    if (this.state !== 'open') {
      // Nothing is queued for a device that is away: by the time it is back
      // these heartbeats would be stale.
      this.tx.offline += 1;
      return;
    }
    const frame = encodeFrame(payload);
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    while (this.queuedBytes > this.budget && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.length;
      this.tx.queueDrops += 1;
    }
    this.pump();
  }

  // One frame in flight at a time, and the next only once the previous has
  // left the UART (drain = tcdrain): otherwise the kernel's transmit buffer
  // becomes an unbounded queue of old heartbeats at low baud rates.
  private pump(): void {
    const port = this.port;
    if (this.writing || !port || this.queue.length === 0) return;
    const frame = this.queue.shift()!;
    this.queuedBytes -= frame.length;
    this.writing = true;
    port.write(frame, (err) => {
      if (this.port !== port) return;
      if (err) {
        this.writing = false;
        return;   // the port's 'close' follows and starts the reopen
      }
      port.drain((err2) => {
        if (this.port !== port) return;
        this.writing = false;
        if (!err2) {
          this.tx.frames += 1;
          this.tx.bytes += frame.length;
        }
        this.pump();
      });
    });
  }

  stats(now: number = performance.now()): SerialStats {
    return {
      device: this.device,
      baud: this.baud,
      state: this.state,
      opens: this.opens,
      lastError: this.lastError,
      downSinceMsAgo: this.downSince === undefined ? null : Math.max(0, Math.round(now - this.downSince)),
      tx: { ...this.tx },
      rx: { ...this.rx, rejected: { ...this.rx.rejected } },
      deliverErrors: this.deliverErrors,
    };
  }

  async close(): Promise<void> {
    this.state = 'closed';
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.dropQueue();
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }
}

/**
 * Opens a serial heartbeat path. A device that does not exist yet is waited
 * for (the path stays down meanwhile); one that exists but cannot work (not a
 * tty, locked by another process, no permission) is a UserError naming the
 * ha.cf line. Once open, losing the device is never fatal: it is reopened
 * with back-off, and each transition is logged once.
 */
export async function openSerialPath(m: SerialMedium, onDatagram: OnDatagram, opts: SerialOptions = {}): Promise<SerialPath> {
  const link = new SerialLink(m, onDatagram, opts);
  await link.start(opts.file, opts.keepaliveMs);
  return link;
}
