// Rate limiting for log lines that outside traffic can trigger (one per
// packet, per request, per failed send). Limited per key, the kind of
// message, so a flood of one kind never hides a line of another kind: each
// key may log one line per interval, and what it held back is counted and
// reported, on its next line or in a summary once its interval is over.
//
// KeyedRateLimiter is pure (time is an argument); RateLimitedLog adds the
// clock and the timer that writes the summaries.

export interface Suppressed<T = string> {
  key: string;
  /** Lines of this key held back since its last line. */
  count: number;
  /** The newest of them, so the summary can show what was suppressed. */
  last: T;
  /** Since the key's last line, in ms. */
  overMs: number;
}

interface Slot<T> {
  at: number;          // when its last line was let through
  count: number;
  last: T | undefined;
}

/** The key lines go under once `maxKeys` distinct keys are in use. */
export const OVERFLOW_KEY = '(other)';

export class KeyedRateLimiter<T = string> {
  private readonly slots = new Map<string, Slot<T>>();

  constructor(readonly intervalMs = 1000, readonly maxKeys = 64) {}

  /**
   * May a line of kind `key` be logged at `now`? If so, `suppressed` is how
   * many lines of this key were held back before it (report them with it).
   */
  admit(key: string, message: T, now: number): { emit: true; suppressed: number } | { emit: false } {
    let slot = this.slots.get(key);
    if (!slot) {
      if (this.slots.size >= this.maxKeys) this.evict(now);
      // Keys can come from what a packet says: their number is bounded, and
      // past the bound new kinds share one key rather than growing memory.
      if (this.slots.size >= this.maxKeys && key !== OVERFLOW_KEY) return this.admit(OVERFLOW_KEY, message, now);
      slot = { at: -Infinity, count: 0, last: undefined };
      this.slots.set(key, slot);
    }
    if (now - slot.at < this.intervalMs) {
      slot.count += 1;
      slot.last = message;
      return { emit: false };
    }
    const suppressed = slot.count;
    slot.at = now;
    slot.count = 0;
    slot.last = undefined;
    return { emit: true, suppressed };
  }

  /**
   * Keys whose interval is over with lines still held back: their counts,
   * now reported (each such key starts a new interval, as if it had logged).
   */
  due(now: number, all = false): Array<Suppressed<T>> {
    const out: Array<Suppressed<T>> = [];
    for (const [key, s] of this.slots) {
      if (s.count > 0 && (all || now - s.at >= this.intervalMs)) {
        out.push({ key, count: s.count, last: s.last as T, overMs: now - s.at });
        s.at = now;
        s.count = 0;
        s.last = undefined;
      }
    }
    return out;
  }

  /** When due() next has something to report; undefined when nothing is held back. */
  nextDue(): number | undefined {
    let t: number | undefined;
    for (const s of this.slots.values()) {
      if (s.count > 0 && (t === undefined || s.at + this.intervalMs < t)) t = s.at + this.intervalMs;
    }
    return t;
  }

  /** Distinct keys tracked (bounded by maxKeys + the overflow key). */
  get size(): number {
    return this.slots.size;
  }

  /** Forgets keys that are idle: interval over and nothing held back. */
  private evict(now: number): void {
    for (const [key, s] of this.slots) {
      if (key !== OVERFLOW_KEY && s.count === 0 && now - s.at >= this.intervalMs) this.slots.delete(key);
    }
  }
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type LazyText = string | (() => string);
const text = (m: LazyText): string => (typeof m === 'string' ? m : m());

/** A line let through, with the count held back before it: `msg (N similar suppressed)`. */
export function withSuppressed(msg: string, n: number): string {
  return n === 0 ? msg : `${msg} (${n} similar suppressed)`;
}

/** The summary once a key's interval is over with lines held back. */
export function suppressedSummary(s: Suppressed<string>): string {
  return `${s.count} similar suppressed in the last ${(s.overMs / 1000).toFixed(1)} s; the newest: ${s.last}`;
}

/**
 * A log function behind a KeyedRateLimiter. Suppressed lines are reported
 * with the key's next line, or at the latest when its interval ends (a timer
 * that does not keep the process alive), so a flood that stops still shows
 * its full count.
 */
export class RateLimitedLog {
  private readonly limiter: KeyedRateLimiter<{ level: LogLevel; msg: LazyText }>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly out: (level: LogLevel, msg: string) => void,
    private readonly now: () => number,
    opts: { intervalMs?: number; maxKeys?: number } = {},
  ) {
    this.limiter = new KeyedRateLimiter(opts.intervalMs ?? 1000, opts.maxKeys ?? 64);
  }

  /** A message may be a function: under a flood it is built only for the lines that are written. */
  log(level: LogLevel, key: string, msg: LazyText): void {
    const r = this.limiter.admit(key, { level, msg }, this.now());
    if (r.emit) {
      this.out(level, withSuppressed(text(msg), r.suppressed));
      return;
    }
    this.arm();
  }

  warn(key: string, msg: LazyText): void {
    this.log('warn', key, msg);
  }

  /** Writes the summaries that are due now; `all`: every count held back (before exiting). */
  flush(all = false): void {
    for (const s of this.limiter.due(this.now(), all)) {
      this.out(s.last.level, suppressedSummary({ ...s, last: text(s.last.msg) }));
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    const at = this.limiter.nextDue();
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
      this.arm();
    }, Math.max(1, Math.ceil(at - this.now())));
    this.timer.unref();
  }
}
