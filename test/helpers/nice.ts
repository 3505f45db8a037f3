import { getPriority, setPriority } from 'node:os';
import { afterAll, beforeAll } from 'vitest';

/**
 * For CPU-bound suites (the simulator): run at a lower priority while they
 * run, so the netns tests that vitest runs beside them on the other worker
 * (their daemons, and the test code that polls and measures them) get the
 * CPU when they need it. Those tests judge timing (deadtime, watchdog
 * cadence), and a full CI run on 2 cores stalled event loops for hundreds
 * of ms. Not the lowest priority: the daemons run SCHED_FIFO anyway
 * (`realtime on`), and at nice 19 a busy machine starved the simulator
 * suites for half an hour. Linux niceness is per thread: this is the
 * worker's main thread, where the suite runs; it is restored afterwards
 * because vitest may reuse the worker for a netns file, whose daemons would
 * inherit it.
 */
export function yieldCpu(): void {
  let before = 0;
  beforeAll(() => {
    before = getPriority();
    setPriority(10);
  });
  afterAll(() => {
    try { setPriority(before); } catch { /* raising priority needs root; not root, the rest of this worker only runs slower */ }
  });
}
