// The real Clock's timer: a deadline moved later keeps the armed timeout
// (no clear/set per heartbeat) yet still fires only at the latest deadline.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeClock } from '../../src/runtime/node-clock.js';

afterEach(() => { vi.useRealTimers(); });

describe('nodeClock timer', () => {
  it('fires once, at the latest deadline set, however often it was moved later', () => {
    vi.useFakeTimers({ now: 0 });
    const clock = nodeClock(() => Date.now(), 'setTimeout');
    const t = clock.timer();
    const fired: number[] = [];
    const spy = vi.spyOn(globalThis, 'setTimeout');
    t.set(10, () => fired.push(Date.now()));
    for (let at = 11; at <= 30; at++) t.set(at, () => fired.push(Date.now()));
    expect(spy).toHaveBeenCalledTimes(1);   // moved later 20 times: one timeout
    vi.advanceTimersByTime(29);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([30]);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([30]);
  });

  it('a deadline moved earlier fires early; clear() stops it', () => {
    vi.useFakeTimers({ now: 0 });
    const clock = nodeClock(() => Date.now(), 'setTimeout');
    const t = clock.timer();
    const fired: string[] = [];
    t.set(50, () => fired.push('late'));
    t.set(20, () => fired.push(`early ${Date.now()}`));
    vi.advanceTimersByTime(60);
    expect(fired).toEqual(['early 20']);
    t.set(100, () => fired.push('cleared'));
    t.clear();
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['early 20']);
  });
});
