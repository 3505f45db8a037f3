// status timing.eventLoopDelay: Node's histogram holds whole sampling
// intervals (resolution included); the delay is only what exceeds them.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { loopDelaySummary } from '../../src/daemon/daemon.js';

describe('event-loop delay in status', () => {
  it('subtracts the 50 ms sampling interval: an idle loop shows about 0, a 120 ms block about 120', async () => {
    const h = monitorEventLoopDelay({ resolution: 50 });
    h.enable();
    await new Promise((r) => setTimeout(r, 300));
    const idle = loopDelaySummary(h);
    expect(idle.p50Ms).toBeLessThan(20);
    const end = performance.now() + 120;
    while (performance.now() < end) { /* block the loop */ }
    await new Promise((r) => setTimeout(r, 120));
    h.disable();
    const after = loopDelaySummary(h);
    expect(after.maxMs).toBeGreaterThanOrEqual(60);
    expect(after.maxMs).toBeLessThan(400);
    expect(loopDelaySummary({ percentile: () => NaN, max: NaN } as never)).toEqual({ p50Ms: 0, p99Ms: 0, maxMs: 0 });
  });
});
