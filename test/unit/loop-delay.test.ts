// status timing.eventLoopDelay: Node's histogram holds whole sampling
// intervals (resolution included); the delay is only what exceeds them.

import { describe, expect, it } from 'vitest';
import { LOOP_DELAY_RESOLUTION_MS, loopDelaySummary } from '../../src/util/histogram.js';

const ns = (ms: number) => ms * 1e6;

describe('event-loop delay in status', () => {
  it('subtracts the sampling interval: on time is 0, 120 ms late is 120', () => {
    const intervals: Record<number, number> = { 50: ns(LOOP_DELAY_RESOLUTION_MS + 0.2), 99: ns(LOOP_DELAY_RESOLUTION_MS + 3.5) };
    const h = { percentile: (p: number) => intervals[p]!, max: ns(LOOP_DELAY_RESOLUTION_MS + 120) };
    expect(loopDelaySummary(h)).toEqual({ p50Ms: 0.2, p99Ms: 3.5, maxMs: 120 });
  });

  it('an interval a hair short of the resolution is 0, not negative; before the first sample, 0', () => {
    expect(loopDelaySummary({ percentile: () => ns(LOOP_DELAY_RESOLUTION_MS - 0.4), max: ns(LOOP_DELAY_RESOLUTION_MS) })).toEqual({ p50Ms: 0, p99Ms: 0, maxMs: 0 });
    expect(loopDelaySummary({ percentile: () => NaN, max: NaN })).toEqual({ p50Ms: 0, p99Ms: 0, maxMs: 0 });
  });
});
