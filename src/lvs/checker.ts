// The health checkers' verdicts as one pure machine: when each check runs
// next, and what its results mean. keepalived's rules: a check runs every
// delay_loop; a failed attempt is retried after delay_before_retry, `retry`
// times; the server is down after retry + 1 failed attempts in a row (fall)
// and up again at its first success (rise 1). The first check of each waits
// a share of `warmup` (the host draws the share, so the machine stays pure).
// misc_dynamic results carry a weight. Checks that are suspended
// (ha_suspend: this node does not hold the service's address) are not run.
//
// (state, event, now) -> effects, run by src/runtime/driver.ts; the running
// of the checks themselves is the host's (src/lvs/checker-worker.ts, off the
// thread that sends heartbeats). 10,000 checks: the next due check comes
// from a heap, not a scan.

import type { Machine } from '../runtime/driver.js';

export interface CheckTiming {
  delayLoopMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  warmupMs: number;
  /** Starts down until its first success. */
  alpha: boolean;
}

export interface CheckResult {
  ok: boolean;
  /** What was seen: "connected", "HTTP 200", "connection refused", "exit 1". */
  reason: string;
  /** misc_dynamic: the weight the script asked for. */
  weight?: number;
}

export interface CheckState {
  id: number;
  t: CheckTiming;
  up: boolean;
  /** Failed attempts in a row. */
  failures: number;
  running: boolean;
  suspended: boolean;
  dueAt: number;
  /** Bumped whenever dueAt changes: older heap entries are stale. */
  gen: number;
  last?: CheckResult & { at: number };
  /** Results so far, and when the verdict last changed. */
  runs: number;
  since: number;
  weight?: number;
}

export interface CheckerState {
  checks: Map<number, CheckState>;
  /** [dueAt, id, gen], a binary min-heap on dueAt. */
  heap: Array<[number, number, number]>;
}

export type CheckerEvent =
  | { kind: 'tick' }
  /** `jitter` in [0, 1): the share of warmup the first run waits. */
  | { kind: 'add'; id: number; timing: CheckTiming; jitter: number }
  | { kind: 'remove'; id: number }
  | { kind: 'result'; id: number; result: CheckResult }
  | { kind: 'suspend'; ids: number[]; on: boolean };

export type CheckerEffect =
  | { kind: 'run'; id: number }
  | { kind: 'verdict'; id: number; up: boolean; result: CheckResult }
  | { kind: 'weight'; id: number; weight: number };

export function newCheckerState(): CheckerState {
  return { checks: new Map(), heap: [] };
}

function push(h: CheckerState['heap'], e: [number, number, number]): void {
  h.push(e);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]![0] <= h[i]![0]) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function pop(h: CheckerState['heap']): void {
  const last = h.pop()!;
  if (h.length === 0) return;
  h[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && h[l]![0] < h[m]![0]) m = l;
    if (r < h.length && h[r]![0] < h[m]![0]) m = r;
    if (m === i) return;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
}

function schedule(s: CheckerState, c: CheckState, at: number): void {
  c.dueAt = at;
  c.gen += 1;
  push(s.heap, [at, c.id, c.gen]);
}

/** Drops heap entries of removed, rescheduled, running or suspended checks from the top. */
function clean(s: CheckerState): void {
  while (s.heap.length) {
    const [at, id, gen] = s.heap[0]!;
    const c = s.checks.get(id);
    if (c && c.gen === gen && c.dueAt === at && !c.running && !c.suspended) return;
    pop(s.heap);
  }
}

export function checkerStep(s: CheckerState, e: CheckerEvent, now: number): CheckerEffect[] {
  const out: CheckerEffect[] = [];
  switch (e.kind) {
    case 'add': {
      const c: CheckState = {
        id: e.id, t: e.timing, up: !e.timing.alpha, failures: 0, running: false, suspended: false, dueAt: 0, gen: 0, runs: 0, since: now,
      };
      s.checks.set(e.id, c);
      schedule(s, c, now + Math.floor(e.timing.warmupMs * Math.min(Math.max(e.jitter, 0), 0.999999)));
      break;
    }
    case 'remove':
      s.checks.delete(e.id);
      break;
    case 'suspend':
      for (const id of e.ids) {
        const c = s.checks.get(id);
        if (!c || c.suspended === e.on) continue;
        c.suspended = e.on;
        // Resumed checks run at once: what they said before the pause is old.
        if (!e.on && !c.running) { c.failures = 0; schedule(s, c, now); }
      }
      break;
    case 'result': {
      const c = s.checks.get(e.id);
      if (!c || !c.running) break;
      c.running = false;
      c.runs += 1;
      c.last = { ...e.result, at: now };
      if (e.result.ok) {
        c.failures = 0;
        if (!c.up) { c.up = true; c.since = now; out.push({ kind: 'verdict', id: c.id, up: true, result: e.result }); }
        if (e.result.weight !== undefined && e.result.weight !== c.weight) {
          c.weight = e.result.weight;
          out.push({ kind: 'weight', id: c.id, weight: e.result.weight });
        }
        if (!c.suspended) schedule(s, c, now + c.t.delayLoopMs);
        break;
      }
      c.failures += 1;
      if (c.failures <= c.t.retry) {
        if (!c.suspended) schedule(s, c, now + c.t.delayBeforeRetryMs);
        break;
      }
      c.failures = 0;
      if (c.up) { c.up = false; c.since = now; out.push({ kind: 'verdict', id: c.id, up: false, result: e.result }); }
      if (!c.suspended) schedule(s, c, now + c.t.delayLoopMs);
      break;
    }
    case 'tick':
      break;
  }
  // Every check due now starts (a result, an add or a tick may have made some due).
  for (clean(s); s.heap.length && s.heap[0]![0] <= now; clean(s)) {
    const [, id] = s.heap[0]!;
    pop(s.heap);
    const c = s.checks.get(id)!;
    c.running = true;
    out.push({ kind: 'run', id });
  }
  return out;
}

export function checkerDeadline(s: CheckerState): number {
  clean(s);
  return s.heap.length ? s.heap[0]![0] : Infinity;
}

export const CHECKER_MACHINE: Machine<CheckerState, CheckerEvent, CheckerEffect> = {
  step: checkerStep,
  deadline: checkerDeadline,
  tick: { kind: 'tick' },
};
