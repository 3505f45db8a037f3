import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyedRateLimiter, OVERFLOW_KEY, RateLimitedLog } from '../../src/util/ratelimit.js';

describe('KeyedRateLimiter', () => {
  it('lets one line per key per interval through and counts the rest', () => {
    const l = new KeyedRateLimiter(1000);
    expect(l.admit('auth', 'a1', 0)).toEqual({ emit: true, suppressed: 0 });
    for (let t = 1; t < 1000; t += 1) expect(l.admit('auth', `a${t}`, t)).toEqual({ emit: false });
    expect(l.admit('auth', 'next', 1000)).toEqual({ emit: true, suppressed: 999 });
    expect(l.admit('auth', 'again', 1001)).toEqual({ emit: false });
  });

  it('a flood of one kind never hides a line of another kind', () => {
    const l = new KeyedRateLimiter(1000);
    const seen: string[] = [];
    for (let t = 0; t < 5000; t += 1) {
      if (l.admit('drop:malformed', `junk ${t}`, t).emit) seen.push('malformed');
      if (t === 2500 && l.admit('drop:spoofed', 'spoofed', t).emit) seen.push('spoofed');
      if (t === 2600 && l.admit('arbiter:auth', 'arbiter answer forged', t).emit) seen.push('arbiter');
    }
    expect(seen.filter((s) => s === 'malformed')).toHaveLength(5);
    expect(seen).toContain('spoofed');
    expect(seen).toContain('arbiter');
  });

  it('reports what a flood that stopped held back once its interval is over', () => {
    const l = new KeyedRateLimiter<string>(1000);
    l.admit('replay', 'r0', 0);
    for (let t = 1; t <= 300; t += 1) l.admit('replay', `r${t}`, t);
    l.admit('quiet', 'q', 10);
    expect(l.nextDue()).toBe(1000);
    expect(l.due(999)).toEqual([]);
    expect(l.due(1000)).toEqual([{ key: 'replay', count: 300, last: 'r300', overMs: 1000 }]);
    // Reported once: nothing more is due, and the summary counts as the key's line.
    expect(l.due(5000)).toEqual([]);
    expect(l.nextDue()).toBeUndefined();
    expect(l.admit('replay', 'r', 1500)).toEqual({ emit: false });
  });

  it('keeps the number of keys bounded: past maxKeys new kinds share one key', () => {
    const l = new KeyedRateLimiter(1000, 8);
    let emitted = 0;
    for (let i = 0; i < 10_000; i += 1) if (l.admit(`k${i}`, 'x', 0).emit) emitted += 1;
    expect(l.size).toBeLessThanOrEqual(9);
    // 8 distinct keys and one line for everything after them.
    expect(emitted).toBe(9);
    expect(l.due(1000)).toEqual([{ key: OVERFLOW_KEY, count: 10_000 - 9, last: 'x', overMs: 1000 }]);
    // Idle keys are forgotten when room is needed.
    expect(l.admit('fresh', 'y', 5000)).toEqual({ emit: true, suppressed: 0 });
  });
});

describe('RateLimitedLog', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('writes the suppressed count with the next line, or in a summary when the flood stops', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = new RateLimitedLog((level, m) => lines.push(`${level} ${m}`), () => Date.now());
    for (let i = 0; i < 1000; i += 1) log.log('debug', 'replay', `ignored request 1.${i}`);
    log.warn('drop:auth', 'bad HMAC');
    expect(lines).toEqual(['debug ignored request 1.0', 'warn bad HMAC']);
    vi.advanceTimersByTime(1000);
    expect(lines).toEqual([
      'debug ignored request 1.0', 'warn bad HMAC',
      'debug 999 similar suppressed in the last 1.0 s; the newest: ignored request 1.999',
    ]);
    vi.advanceTimersByTime(5000);
    expect(lines).toHaveLength(3);
    log.warn('drop:auth', 'bad HMAC again');
    expect(lines[3]).toBe('warn bad HMAC again');
    log.close();
  });
});
