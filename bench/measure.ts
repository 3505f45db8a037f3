// Figures the benchmarks share: a quantile of sorted samples, and the CPU
// this process has used.

import { readdirSync, readFileSync } from 'node:fs';

/** The q-quantile (nearest rank) of ascending `sorted`; NaN when empty. */
export function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/** ns this process has run, all threads (the scheduler's account, not sampled ticks). */
export function runNs(): number {
  let ns = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try { ns += Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return ns;
}
