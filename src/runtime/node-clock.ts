// The daemon's and the arbiter's Clock: performance.now and setTimeout.

import { performance } from 'node:perf_hooks';
import type { Clock, Timer } from './driver.js';

class NodeTimer implements Timer {
  private handle?: NodeJS.Timeout;

  constructor(private readonly now: () => number) {}

  set(at: number, fire: () => void): void {
    this.clear();
    // setTimeout may fire up to ~1 ms early against the monotonic clock; the
    // machine re-checks its deadline and the driver comes back.
    this.handle = setTimeout(() => {
      this.handle = undefined;
      fire();
    }, Math.max(1, Math.ceil(at - this.now())));
  }

  clear(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

export function nodeClock(now: () => number = () => performance.now()): Clock {
  return { now, timer: () => new NodeTimer(now) };
}
