// Admission of received datagrams, before anything is decoded. A flood of
// junk at the heartbeat port must not cost more than a few comparisons per
// datagram, or the kernel drops the peer's real heartbeats with the junk and
// a live peer looks dead (docs/paths.md, "Under a flood").
//
// Cheapest check first:
//   1. shape: a length and the framing's first and last bytes (codec.plausible);
//   2. source: the peer's configured ucast address, an address the peer was
//      heard from (an authenticated, fresh heartbeat: confirm()), or one of
//      ours (our own broadcasts come back) pass at once;
//   3. any other source is still decoded, but only within a small budget per
//      source address, so a peer whose address changed, or a bcast peer not
//      heard yet, gets through while a flood from elsewhere does not.
// Only what passes is decoded and authenticated, once.
//
// Time comes in as `now`; no clock, no sockets.

import { plausible } from '../heartbeat/codec.js';

export type Verdict = 'pass' | 'shape' | 'source';

export interface GateOptions {
  /** ucast: the peer's configured address, always admitted. */
  peer?: string;
  /** This host's addresses: our own broadcasts and multicasts come back to us. */
  own: ReadonlySet<string>;
  /** Serial frames have no source address; only the shape check applies. */
  serial?: boolean;
}

/** Datagrams per second (and burst) decoded from one address that is not known. */
export const UNKNOWN_SOURCE_RATE = 10;
/** Addresses with a budget of their own; beyond this, new addresses share one budget. */
export const MAX_SOURCES = 256;
/** Addresses the peer was heard from, kept besides the configured one (most recent first). */
export const MAX_LEARNT = 4;
/** At most one summary line per path this often while datagrams are being dropped. */
export const REPORT_EVERY_MS = 10_000;

interface Bucket { tokens: number; at: number }

export class RxGate {
  private readonly learnt: string[] = [];
  private readonly sources = new Map<string, Bucket>();
  private readonly shared: Bucket = { tokens: UNKNOWN_SOURCE_RATE, at: 0 };
  private prunedAt = 0;
  /** Since start. */
  readonly dropped = { shape: 0, source: 0 };
  private window = { shape: 0, source: 0, from: '', since: Number.NaN };

  constructor(private readonly o: GateOptions) {}

  check(buf: Buffer, from: string, now: number): Verdict {
    if (!plausible(buf)) return this.drop('shape', from, now);
    if (this.o.serial || from === this.o.peer || this.learnt.includes(from) || this.o.own.has(from)) return 'pass';
    return this.take(from, now) ? 'pass' : this.drop('source', from, now);
  }

  /** The peer was heard from `from`: an authenticated, fresh heartbeat came from there. */
  confirm(from: string): void {
    if (this.o.serial || from === this.o.peer) return;
    const i = this.learnt.indexOf(from);
    if (i === 0) return;
    if (i > 0) this.learnt.splice(i, 1);
    this.learnt.unshift(from);
    if (this.learnt.length > MAX_LEARNT) this.learnt.pop();
  }

  /** Addresses admitted without a budget, besides ours. */
  known(): string[] {
    return [...(this.o.peer ? [this.o.peer] : []), ...this.learnt];
  }

  /**
   * A summary of what was dropped since the last one, at most every
   * REPORT_EVERY_MS; undefined when nothing is due.
   */
  report(now: number): string | undefined {
    const w = this.window;
    if (Number.isNaN(w.since) || now - w.since < REPORT_EVERY_MS) return undefined;
    const parts = [];
    if (w.shape) parts.push(`${w.shape} not Heartbeat framing`);
    if (w.source) parts.push(`${w.source} over the budget for unknown senders`);
    const msg = `${w.shape + w.source} datagrams dropped before decoding in the last ${Math.round((now - w.since) / 1000)} s ` +
      `(${parts.join(', ')}; the last from ${w.from})`;
    this.window = { shape: 0, source: 0, from: '', since: Number.NaN };
    return msg;
  }

  private drop(why: 'shape' | 'source', from: string, now: number): Verdict {
    this.dropped[why] += 1;
    const w = this.window;
    w[why] += 1;
    w.from = from;
    if (Number.isNaN(w.since)) w.since = now;
    return why;
  }

  private take(from: string, now: number): boolean {
    let b = this.sources.get(from);
    if (!b) {
      if (this.sources.size >= MAX_SOURCES && now - this.prunedAt >= 1000) {
        this.prunedAt = now;
        for (const [addr, x] of this.sources) if (now - x.at > REPORT_EVERY_MS) this.sources.delete(addr);
      }
      if (this.sources.size < MAX_SOURCES) {
        b = { tokens: UNKNOWN_SOURCE_RATE, at: now };
        this.sources.set(from, b);
      } else {
        b = this.shared;
      }
    }
    b.tokens = Math.min(UNKNOWN_SOURCE_RATE, b.tokens + ((now - b.at) * UNKNOWN_SOURCE_RATE) / 1000);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
