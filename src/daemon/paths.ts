// Per-path observation beside the engine: receive rate, loss, latency, and
// the ha.cf `notify` hook. It wraps each Path as the daemon opens it, so the
// membership machine stays the only judge of up/down (read here, never
// decided here) and nothing in this file can move a resource.
//
// Latency. Clocks of two hosts are not comparable, so one-way delay cannot be
// measured directly. Instead every status message a node sends on a path
// carries `tg_echo = <peer generation> <newest peer seq heard on this path>
// <microseconds held since>` (hex). When the peer's echo of our seq N comes
// back on the same path, RTT = now - sentAt(N) - hold, and the one-way figure
// shown is RTT/2. This is exact for the round trip and assumes a symmetric
// path for the halving; both directions of a serial line run the same rate.
// Heartbeat ignores unknown fields, so the echo costs nothing in mixed pairs.

import { runChild } from '../agents/runner.js';
import { accessSync, constants, statSync } from 'node:fs';
import type { AuthKeys } from '../config/types.js';
import { decode, field, hex, str } from '../heartbeat/codec.js';
import type { Field } from '../heartbeat/types.js';
import { readEngine, type EngineHandle } from '../node/view.js';
import type { OutgoingDatagram } from '../node/wire.js';
import type { SerialPath, SerialStats } from '../transport/serial.js';
import type { OnDatagram, Path } from '../transport/udp.js';
import { UserError } from '../util/errors.js';
import type { LogFn } from '../transport/serial.js';

export const ECHO_FIELD = 'tg_echo';
export const RATE_WINDOW_MS = 10_000;
export const LOSS_WINDOW_MS = 60_000;
export const NOTIFY_TIMEOUT_MS = 10_000;
const LATENCY_SAMPLES = 128;
const SENT_HISTORY = 1024;
const NOTIFY_QUEUE = 32;
const ERROR_LOG_EVERY_MS = 10_000;

export type PathKind = 'ucast' | 'bcast' | 'mcast' | 'serial';

export interface PathReport {
  kind: PathKind;
  packetsPerSec: number;
  sent: number;
  loss: {
    received: number;        // distinct fresh peer seqs heard on this path since start
    lost: number;            // seq gaps on this path since start
    percent: number | null;  // over the last windowS, against every seq the peer is known to have sent
    windowS: number;
  };
  latency: {
    method: 'rtt/2';
    oneWayMs: number | null; // median of the last `samples` estimates
    p90Ms: number | null;
    maxMs: number | null;
    rttMs: number | null;    // newest round trip
    samples: number;
  };
  serial?: SerialStats;
}

interface Rec {
  kind: PathKind;
  serial?: SerialPath;
  lastSeq?: number;
  lastFreshAt?: number;
  received: number;
  lost: number;
  sent: number;
  arrivals: number[];
  firstArrival?: number;
  /** The first seq this path carried in the peer's current generation: a path that opened late lost nothing before it. */
  firstSeq?: number;
  seen: Map<number, number>;   // seq -> arrival, inside the loss window
  latency: number[];
  rtt?: number;
  up: boolean;
}

export interface PathMonitorOptions {
  peer: string;
  authkeys: AuthKeys;
  deadtimeMs: number;
  /** The peer's send interval: silence counts as loss of the messages it should have sent. */
  keepaliveMs?: number;
  now: () => number;
  /** The engine, once initialised; path up/down is read from its view. */
  engine: () => EngineHandle | undefined;
  log: LogFn;
  notify?: { command: string; line: number; file: string };
  notifyTimeoutMs?: number;
  env?: Record<string, string>;
  /** Poll the engine's view for path transitions this often (ms), for a caller that does not report them through transition(). */
  pollTransitionsMs?: number;
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** A heartbeat path as the daemon sends on it: whole messages, which the monitor stamps per path. */
export interface MonitoredPath {
  readonly name: string;
  send(msg: OutgoingDatagram): void;
  close(): Promise<void>;
}

export class PathMonitor {
  private readonly recs = new Map<string, Rec>();
  private peerGeneration: number | undefined;
  private readonly firstSeen = new Map<number, number>();   // peer seq -> first arrival on any path
  private firstContactAt: number | undefined;               // first status message from the peer, any path
  private lastNewSeqAt: number | undefined;                  // the newest seq's first arrival, any path
  private ownGeneration: number | undefined;
  private readonly sentAt = new Map<number, number>();      // own seq -> send time
  private lastOut: OutgoingDatagram | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly notifier: Notifier | undefined;
  private open = 0;
  private readonly errs = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly o: PathMonitorOptions) {
    if (o.notify) {
      const { command, line, file } = o.notify;
      try {
        accessSync(command, constants.X_OK);
        if (!statSync(command).isFile()) throw new Error('not a file');
      } catch {
        throw new UserError(`${file}:${line}: notify ${command} is not an executable file`);
      }
      this.notifier = new Notifier(command, o.notifyTimeoutMs ?? NOTIFY_TIMEOUT_MS, o.log, o.env ?? {});
    }
    // The daemon reports the engine's path-up/path-down effects (transition());
    // a caller without a driven engine (a test) has the view polled instead.
    if (o.pollTransitionsMs) {
      this.timer = setInterval(() => this.checkTransitions(), o.pollTransitionsMs);
      this.timer.unref();
    }
  }

  /** The engine judged a path up or down: run the hook (the engine already logged and journaled it). */
  transition(name: string, up: boolean): void {
    const rec = this.recs.get(name);
    if (!rec || rec.up === up) return;
    rec.up = up;
    this.notifier?.push(up ? 'path-up' : 'path-down', name);
  }

  /**
   * Runs the notify program for a non-path event (e.g. `fence-alert MESSAGE`),
   * through the same queue as path transitions, so events stay in order.
   */
  notify(event: string, arg: string): void {
    this.notifier?.push(event, arg);
  }

  /** A reload changed the authkeys: the receive hook for tests decodes with the new ones (messages carry their own). */
  setAuthKeys(keys: AuthKeys): void {
    (this.o as { authkeys: AuthKeys }).authkeys = keys;
  }

  /** Wraps an opened path: outgoing status messages get this path's echo. */
  wrap(path: Path, kind: PathKind): MonitoredPath {
    const rec: Rec = { kind, received: 0, lost: 0, sent: 0, arrivals: [], seen: new Map(), latency: [], up: false };
    if (kind === 'serial') rec.serial = path as SerialPath;
    this.recs.set(path.name, rec);
    this.open += 1;
    return {
      name: path.name,
      send: (msg: OutgoingDatagram) => {
        rec.sent += 1;
        path.send(this.stamp(msg, rec));
      },
      close: async () => {
        await path.close();
        this.open -= 1;
        if (this.open === 0 && this.timer) clearInterval(this.timer);
      },
    };
  }

  /**
   * Error hook for the UDP paths. A firewall or a missing route fails every
   * send, ten times a second at a short keepalive; one line per path per
   * ERROR_LOG_EVERY_MS says the same with a count.
   */
  pathError(path: string, e: Error): void {
    const now = this.o.now();
    const r = this.errs.get(path) ?? { at: -Infinity, suppressed: 0 };
    this.errs.set(path, r);
    if (now - r.at < ERROR_LOG_EVERY_MS) {
      r.suppressed += 1;
      return;
    }
    this.o.log('warn', `${path}: ${e.message}${r.suppressed ? ` (${r.suppressed} more since the last report)` : ''}`);
    r.at = now;
    r.suppressed = 0;
  }

  /**
   * Receive hook for a caller that does not decode itself (tests): decode,
   * observe, then hand on. The daemon decodes once and calls observe() and
   * transition() itself.
   */
  receiver(deliver: OnDatagram): OnDatagram {
    return (buf, path, from) => {
      // Paths open one after another before the engine exists; a packet in
      // that window has nobody to go to yet.
      if (!this.o.engine()) return;
      let fields: Field[] | undefined;
      try {
        fields = decode(buf, this.o.authkeys);
      } catch {
        fields = undefined;   // the caller counts it
      }
      if (fields) this.observe(fields, path);
      deliver(buf, path, from);
      this.checkTransitions();
    };
  }

  /** Rate, loss and echo bookkeeping for one authenticated datagram received on `path`. */
  observe(fields: readonly Field[], path: string): void {
    const rec = this.recs.get(path);
    if (!rec) return;
    if (str(fields, 't') !== 'status' || str(fields, 'src') !== this.o.peer) return;
    const seq = hex(fields, 'seq');
    const gen = hex(fields, 'hg');
    if (seq === undefined || gen === undefined) return;
    if (this.peerGeneration !== undefined && gen < this.peerGeneration) return;
    const now = this.o.now();
    if (this.peerGeneration === undefined || gen > this.peerGeneration) {
      // The peer restarted: its seqs start over, so gaps across it mean nothing.
      this.peerGeneration = gen;
      this.firstSeen.clear();
      for (const r of this.recs.values()) {
        delete r.lastSeq;
        delete r.lastFreshAt;
        delete r.firstSeq;
        r.seen.clear();
      }
    }
    rec.arrivals.push(now);
    rec.firstArrival ??= now;
    if (!this.firstSeen.has(seq)) {
      this.firstSeen.set(seq, now);
      this.lastNewSeqAt = now;
    }
    this.firstContactAt ??= now;
    if (rec.lastSeq !== undefined && seq <= rec.lastSeq) return;   // duplicate or replay: no news
    if (rec.lastSeq !== undefined) rec.lost += seq - rec.lastSeq - 1;
    rec.lastSeq = seq;
    rec.firstSeq ??= seq;
    rec.lastFreshAt = now;
    rec.received += 1;
    rec.seen.set(seq, now);
    this.takeEcho(fields, rec, now);
  }

  private takeEcho(fields: readonly Field[], rec: Rec, now: number): void {
    const echo = str(fields, ECHO_FIELD);
    if (echo === undefined || this.ownGeneration === undefined) return;
    const m = /^([0-9a-f]{1,16}) ([0-9a-f]{1,16}) ([0-9a-f]{1,16})$/.exec(echo);
    if (!m) return;
    const [gen, seq, holdUs] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)];
    if (gen !== this.ownGeneration) return;
    const sent = this.sentAt.get(seq);
    if (sent === undefined) return;
    const rtt = now - sent - holdUs / 1000;
    // Rounding of the hold to whole microseconds can make a loopback-fast
    // round trip a hair negative; anything clearly negative is not ours.
    if (rtt < -0.01) return;
    rec.rtt = Math.max(0, rtt);
    rec.latency.push(rec.rtt / 2);
    if (rec.latency.length > LATENCY_SAMPLES) rec.latency.shift();
  }

  /** What this path sends for `msg`: with its echo when it has one to give, else the message as it is. */
  private stamp(msg: OutgoingDatagram, rec: Rec): Buffer {
    const st = msg.status;
    if (!st) return msg.bytes;
    if (this.lastOut !== msg) {
      // Once per message, however many paths send it.
      this.lastOut = msg;
      if (st.generation !== this.ownGeneration) this.sentAt.clear();
      this.ownGeneration = st.generation;
      this.sentAt.set(st.seq, this.o.now());
      if (this.sentAt.size > SENT_HISTORY) this.sentAt.delete(this.sentAt.keys().next().value!);
    }
    if (rec.lastSeq === undefined || rec.lastFreshAt === undefined || this.peerGeneration === undefined) return msg.bytes;
    const holdUs = Math.round((this.o.now() - rec.lastFreshAt) * 1000);
    if (holdUs > LOSS_WINDOW_MS * 1000) return msg.bytes;   // too old to say anything about the path now
    return msg.with(field(ECHO_FIELD, `${this.peerGeneration.toString(16)} ${rec.lastSeq.toString(16)} ${holdUs.toString(16)}`));
  }

  /** Runs the notify hook for path transitions the engine's view shows since the last look. */
  checkTransitions(): void {
    const engine = this.o.engine();
    if (!engine) return;
    const paths = readEngine(engine, this.o.now()).membership.paths;
    for (const name of this.recs.keys()) this.transition(name, paths.find((p) => p.name === name)?.up ?? false);
  }

  snapshot(): Record<string, PathReport> {
    const now = this.o.now();
    // A seq first seen very recently may still be on its way over a slower
    // path; count it as missing only after this grace.
    const grace = Math.min(1000, this.o.deadtimeMs);
    while (this.firstSeen.size > 0) {
      const [seq, at] = this.firstSeen.entries().next().value!;
      if (now - at <= LOSS_WINDOW_MS) break;
      this.firstSeen.delete(seq);
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const [seq, at] of this.firstSeen) {
      lo = Math.min(lo, seq);
      if (now - at >= grace) hi = Math.max(hi, seq);
    }
    // When no path hears the peer, the seqs it should have sent meanwhile are
    // in nobody's map: count them from its keepalive, or a path silent for
    // 11 s would show 0% loss.
    const k = this.o.keepaliveMs;
    const sinceNew = this.lastNewSeqAt === undefined ? 0 : Math.min(now - this.lastNewSeqAt, LOSS_WINDOW_MS) - grace;
    const silent = k && k > 0 && sinceNew > 0 ? Math.floor(sinceNew / k) : 0;
    // The window is 60 s only once the peer has been heard for that long.
    const windowS = this.firstContactAt === undefined ? 0 : Math.round(Math.min(LOSS_WINDOW_MS, now - this.firstContactAt) / 1000);
    const out: Record<string, PathReport> = {};
    for (const [name, r] of this.recs) {
      while (r.arrivals.length > 0 && now - r.arrivals[0]! > RATE_WINDOW_MS) r.arrivals.shift();
      for (const [seq, at] of r.seen) {
        if (now - at <= LOSS_WINDOW_MS) break;
        r.seen.delete(seq);
      }
      // From the path's first datagram on, not from the first seq any path
      // carried: at start-up one socket or the serial line opens a beat later
      // than another. A path that never carried anything counts from `lo`.
      const from = Math.max(lo, r.firstSeq ?? lo);
      let got = 0;
      for (const seq of r.seen.keys()) if (seq >= from && seq <= hi) got += 1;
      const pathExpected = hi >= from ? hi - from + 1 + silent : silent;
      const span = r.firstArrival === undefined ? 0 : Math.min(RATE_WINDOW_MS, now - r.firstArrival);
      const sorted = [...r.latency].sort((a, b) => a - b);
      const rep: PathReport = {
        kind: r.kind,
        packetsPerSec: span > 0 ? round((r.arrivals.length * 1000) / span, 1) : 0,
        sent: r.sent,
        loss: {
          received: r.received, lost: r.lost,
          percent: pathExpected > 0 ? round(100 * (1 - Math.min(got, pathExpected) / pathExpected), 1) : null,
          windowS,
        },
        latency: {
          method: 'rtt/2',
          oneWayMs: sorted.length ? round(quantile(sorted, 0.5), 3) : null,
          p90Ms: sorted.length ? round(quantile(sorted, 0.9), 3) : null,
          maxMs: sorted.length ? round(sorted[sorted.length - 1]!, 3) : null,
          rttMs: r.rtt === undefined ? null : round(r.rtt, 3),
          samples: sorted.length,
        },
      };
      if (r.serial) rep.serial = r.serial.stats();
      out[name] = rep;
    }
    return out;
  }
}

/**
 * Runs the notify program once per transition, one at a time and in order,
 * so the script never sees "up" overtake "down". A program that hangs is
 * killed (with its process group) after the timeout; a flood of transitions
 * keeps only the newest NOTIFY_QUEUE.
 */
class Notifier {
  private queue: Array<[string, string]> = [];
  private running = false;
  private dropped = 0;

  constructor(private readonly command: string, private readonly timeoutMs: number, private readonly log: LogFn,
    private readonly env: Record<string, string>) {}

  push(event: string, path: string): void {
    if (this.queue.length >= NOTIFY_QUEUE) {
      this.queue.shift();
      this.dropped += 1;
    }
    this.queue.push([event, path]);
    this.next();
  }

  private next(): void {
    if (this.running) return;
    const item = this.queue.shift();
    if (!item) return;
    if (this.dropped > 0) {
      this.log('warn', `notify: ${this.dropped} older path transition(s) not reported, the program was too slow`);
      this.dropped = 0;
    }
    this.running = true;
    const [event, path] = item;
    // The one runner: its own process group, killed at the timeout, a scrubbed environment.
    void runChild({
      path: this.command, args: [event, path], timeoutMs: this.timeoutMs, killGraceMs: 0,
      env: { ...this.env, TANDEM_EVENT: event, ...(event.startsWith('path-') ? { TANDEM_PATH: path } : { TANDEM_MESSAGE: path }) },
    }).then((r) => {
      const first = r.stderr.trim().split('\n')[0] ?? '';
      const why = r.spawnError !== undefined ? `cannot run: ${r.spawnError}`
        : r.timedOut ? `killed after ${this.timeoutMs} ms`
          : r.code !== 0 ? `exited with ${r.code ?? r.signal}${first ? `: ${first}` : ''}` : undefined;
      if (why) this.log('warn', `notify ${this.command} ${event} '${path}': ${why}`);
      else this.log('debug', `notify ${this.command} ${event} '${path}': ok`);
      this.running = false;
      this.next();
    });
  }
}
