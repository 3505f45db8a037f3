// A Clock for unit tests: time moves only when the test says.

import type { Clock, Timer } from '../../src/runtime/driver.js';

/** A Clock whose time moves only when the test says: timers fire in deadline order. */
export class ManualClock implements Clock {
  t = 0;
  private readonly armed = new Set<{ at: number; fire: () => void }>();

  now(): number {
    return this.t;
  }

  timer(): Timer {
    let mine: { at: number; fire: () => void } | undefined;
    return {
      set: (at, fire) => {
        if (mine) this.armed.delete(mine);
        this.armed.add(mine = { at, fire });
      },
      clear: () => {
        if (mine) this.armed.delete(mine);
        mine = undefined;
      },
    };
  }

  get pending(): number {
    return this.armed.size;
  }

  /** The earliest armed deadline (Infinity: none). */
  get next(): number {
    let t = Infinity;
    for (const a of this.armed) t = Math.min(t, a.at);
    return t;
  }

  advance(to: number): void {
    for (;;) {
      let due: { at: number; fire: () => void } | undefined;
      for (const a of this.armed) if (a.at <= to && (!due || a.at < due.at)) due = a;
      if (!due) break;
      this.armed.delete(due);
      this.t = due.at;
      due.fire();
    }
    this.t = to;
  }
}
