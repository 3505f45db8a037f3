import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../src/util/histogram.js';

describe('LatencyHistogram', () => {
  it('quantiles within a bucket (9 %) of the exact ones; exact maximum; coarse cumulative counts', () => {
    const h = new LatencyHistogram([1, 10, 100]);
    const xs: number[] = [];
    for (let i = 1; i <= 1000; i++) xs.push(i / 10);   // 0.1 .. 100 ms
    for (const x of xs) h.record(x);
    h.record(250);
    const exact = (q: number) => [...xs, 250].sort((a, b) => a - b)[Math.ceil(q * 1001) - 1]!;
    for (const q of [0.5, 0.9, 0.99]) {
      const got = h.quantileMs(q)!;
      expect(got).toBeGreaterThanOrEqual(exact(q));
      expect(got).toBeLessThanOrEqual(exact(q) * 1.0906);
    }
    expect(h.summary()).toMatchObject({ samples: 1001, maxMs: 250 });
    expect(h.cumulative()).toEqual([10, 100, 1000]);
  });

  it('empty: nulls; zero and negative count as 0; beyond the last bucket is still counted', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ samples: 0, p50Ms: null, p99Ms: null, maxMs: null });
    h.record(-3);
    h.record(0);
    h.record(1e9);
    expect(h.summary()).toEqual({ samples: 3, p50Ms: 0.01, p99Ms: 1e9, maxMs: 1e9 });
  });
});
