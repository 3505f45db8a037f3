// The daemon's and the arbiter's Clock: performance.now and setTimeout.

import { performance } from 'node:perf_hooks';
import type { Clock, Timer } from './driver.js';

class NodeTimer implements Timer {
  private handle?: NodeJS.Timeout;
  /** When the armed setTimeout fires. */
  private armedAt = Infinity;
  /** The deadline asked for: armedAt, or later. */
  private want = Infinity;
  private fire?: () => void;

  constructor(private readonly now: () => number) {}

  set(at: number, fire: () => void): void {
    this.fire = fire;
    this.want = at;
    // Most steps (every heartbeat heard) move the deadline later or leave it:
    // the armed timeout stays and comes back for the rest, rather than a
    // clearTimeout and a new setTimeout per datagram.
    if (this.handle && this.armedAt <= at) return;
    this.arm(at);
  }

  clear(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
    this.armedAt = this.want = Infinity;
  }

  private arm(at: number): void {
    if (this.handle) clearTimeout(this.handle);
    this.armedAt = at;
    // setTimeout may fire up to ~1 ms early against the monotonic clock; the
    // machine re-checks its deadline and the driver comes back.
    this.handle = setTimeout(() => {
      this.handle = undefined;
      if (this.want > this.armedAt) {
        this.arm(this.want);
        return;
      }
      this.armedAt = this.want = Infinity;
      this.fire?.();
    }, Math.max(1, Math.ceil(at - this.now())));
  }
}

export function nodeClock(now: () => number = () => performance.now()): Clock {
  return { now, timer: () => new NodeTimer(now) };
}
