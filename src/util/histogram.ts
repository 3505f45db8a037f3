// A fixed-size latency histogram for the heartbeat path: recording is a few
// arithmetic operations and two array writes, no allocation, so it can run
// on every heartbeat and every timer. Quantiles come from log-spaced buckets
// (8 per doubling: a bucket's upper bound is within 9 % of any value in it);
// the maximum is exact. Optional coarse bounds keep Prometheus-style
// cumulative counts beside them.

const FIRST_MS = 0.01;
const PER_DOUBLING = 8;
const BUCKETS = PER_DOUBLING * 21;   // 0.01 ms .. ~21 s; beyond goes in the last

export interface LatencySummary {
  samples: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS + 1);
  private readonly coarse: Float64Array;
  private readonly coarseCounts: Uint32Array;
  readonly coarseBoundsMs: readonly number[];
  count = 0;
  sumMs = 0;
  maxMs = 0;

  /** `coarseBoundsMs`: ascending upper bounds to keep cumulative counts for (Prometheus buckets). */
  constructor(coarseBoundsMs: readonly number[] = []) {
    this.coarseBoundsMs = [...coarseBoundsMs];
    this.coarse = Float64Array.from(coarseBoundsMs);
    this.coarseCounts = new Uint32Array(coarseBoundsMs.length);
  }

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = v <= FIRST_MS ? 0 : Math.min(BUCKETS, Math.ceil(Math.log2(v / FIRST_MS) * PER_DOUBLING));
    this.counts[i]! += 1;
    this.count += 1;
    this.sumMs += v;
    if (v > this.maxMs) this.maxMs = v;
    for (let j = this.coarse.length - 1; j >= 0 && v <= this.coarse[j]!; j--) this.coarseCounts[j]! += 1;
  }

  /** The upper bound of the bucket holding the q-quantile (never above the maximum). */
  quantileMs(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === BUCKETS ? this.maxMs : Math.min(this.maxMs, FIRST_MS * 2 ** (i / PER_DOUBLING));
    }
    return this.maxMs;
  }

  /** Cumulative count at each coarse bound, in the order given. */
  cumulative(): number[] {
    return Array.from(this.coarseCounts);
  }

  summary(): LatencySummary {
    const r = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return { samples: this.count, p50Ms: r(this.quantileMs(0.5)), p99Ms: r(this.quantileMs(0.99)), maxMs: this.count ? r(this.maxMs) : null };
  }
}

/** The sampling interval of the daemon's event-loop delay monitor (perf_hooks.monitorEventLoopDelay). */
export const LOOP_DELAY_RESOLUTION_MS = 50;

/**
 * The event-loop delay in ms from Node's histogram. It records each interval
 * of its sampling timer whole (ns), the resolution included: the delay is
 * what exceeds it. Empty (NaN) until it has sampled once: 0.
 */
export function loopDelaySummary(h: { percentile(p: number): number; readonly max: number }): { p50Ms: number; p99Ms: number; maxMs: number } {
  const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1000 - LOOP_DELAY_RESOLUTION_MS * 1000) / 1000) : 0);
  return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
}
