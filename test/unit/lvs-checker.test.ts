// The checkers' verdict machine (src/lvs/checker.ts): keepalived's retry
// rules on injected time, warmup, misc_dynamic weights, ha_suspend, and a
// heap that finds the next due check among 10,000.

import { describe, expect, it } from 'vitest';
import { checkerDeadline, checkerStep, newCheckerState, type CheckerEffect, type CheckTiming } from '../../src/lvs/checker.js';

const T: CheckTiming = { delayLoopMs: 1000, retry: 2, delayBeforeRetryMs: 300, warmupMs: 0, alpha: false };
const runs = (fx: CheckerEffect[]) => fx.filter((f) => f.kind === 'run').map((f) => f.id);
const verdicts = (fx: CheckerEffect[]) => fx.filter((f) => f.kind === 'verdict').map((f) => f.kind === 'verdict' && `${f.id} ${f.up ? 'up' : 'down'}`);
const bad = { ok: false, reason: 'connection refused' };
const good = { ok: true, reason: 'connected' };

describe('checker verdicts', () => {
  it('down after retry + 1 failed attempts in a row, retried after delay_before_retry; up at the first success', () => {
    const s = newCheckerState();
    expect(runs(checkerStep(s, { kind: 'add', id: 1, timing: T, jitter: 0 }, 0))).toEqual([1]);
    expect(checkerStep(s, { kind: 'result', id: 1, result: good }, 5)).toEqual([]);
    expect(checkerDeadline(s)).toBe(1005);
    expect(runs(checkerStep(s, { kind: 'tick' }, 1005))).toEqual([1]);
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: bad }, 1006))).toEqual([]);
    expect(checkerDeadline(s)).toBe(1306);
    checkerStep(s, { kind: 'tick' }, 1306);
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: bad }, 1307))).toEqual([]);
    checkerStep(s, { kind: 'tick' }, 1607);
    // Third failure with retry 2: down, and back to delay_loop.
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: bad }, 1608))).toEqual(['1 down']);
    expect(checkerDeadline(s)).toBe(2608);
    checkerStep(s, { kind: 'tick' }, 2608);
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: bad }, 2609))).toEqual([]);
    checkerStep(s, { kind: 'tick' }, 2909);
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: good }, 2910))).toEqual(['1 up']);
    expect(s.checks.get(1)).toMatchObject({ up: true, failures: 0, runs: 6, last: { ok: true, reason: 'connected', at: 2910 } });
  });

  it('a success between failures starts the count again', () => {
    const s = newCheckerState();
    checkerStep(s, { kind: 'add', id: 1, timing: { ...T, retry: 1 }, jitter: 0 }, 0);
    checkerStep(s, { kind: 'result', id: 1, result: bad }, 1);
    checkerStep(s, { kind: 'tick' }, 301);
    checkerStep(s, { kind: 'result', id: 1, result: good }, 302);
    checkerStep(s, { kind: 'tick' }, 1302);
    expect(verdicts(checkerStep(s, { kind: 'result', id: 1, result: bad }, 1303))).toEqual([]);
    expect(s.checks.get(1)!.up).toBe(true);
  });

  it('alpha starts down; warmup delays the first run by its drawn share; misc_dynamic weights are reported on change', () => {
    const s = newCheckerState();
    expect(runs(checkerStep(s, { kind: 'add', id: 7, timing: { ...T, alpha: true, warmupMs: 4000 }, jitter: 0.5 }, 0))).toEqual([]);
    expect(checkerDeadline(s)).toBe(2000);
    expect(runs(checkerStep(s, { kind: 'tick' }, 2000))).toEqual([7]);
    expect(checkerStep(s, { kind: 'result', id: 7, result: { ok: true, reason: 'exit 7', weight: 5 } }, 2001))
      .toEqual([{ kind: 'verdict', id: 7, up: true, result: { ok: true, reason: 'exit 7', weight: 5 } }, { kind: 'weight', id: 7, weight: 5 }]);
    checkerStep(s, { kind: 'tick' }, 3001);
    expect(checkerStep(s, { kind: 'result', id: 7, result: { ok: true, reason: 'exit 7', weight: 5 } }, 3002)).toEqual([]);
  });

  it('suspended checks do not run; resumed ones run at once', () => {
    const s = newCheckerState();
    checkerStep(s, { kind: 'add', id: 1, timing: T, jitter: 0 }, 0);
    checkerStep(s, { kind: 'result', id: 1, result: good }, 1);
    checkerStep(s, { kind: 'suspend', ids: [1], on: true }, 2);
    expect(checkerDeadline(s)).toBe(Infinity);
    expect(runs(checkerStep(s, { kind: 'tick' }, 5000))).toEqual([]);
    expect(runs(checkerStep(s, { kind: 'suspend', ids: [1], on: false }, 6000))).toEqual([1]);
  });

  it('10,000 checks: each runs once per delay_loop, in due order, and the next deadline is the earliest', () => {
    const s = newCheckerState();
    let ran = 0;
    for (let id = 0; id < 10_000; id++) {
      for (const f of checkerStep(s, { kind: 'add', id, timing: { ...T, warmupMs: 1000 }, jitter: ((id * 7919) % 10_000) / 10_000 }, 0)) {
        if (f.kind === 'run') { ran += 1; checkerStep(s, { kind: 'result', id: f.id, result: good }, 0); }
      }
    }
    let t = 0;
    while (t < 1000) {
      t = checkerDeadline(s);
      if (t >= 1000) break;
      for (const f of checkerStep(s, { kind: 'tick' }, t)) if (f.kind === 'run') { ran += 1; checkerStep(s, { kind: 'result', id: f.id, result: good }, t); }
    }
    expect(ran).toBe(10_000);
    expect(checkerDeadline(s)).toBeGreaterThanOrEqual(1000);
  });
});
