// Tracking for VRRP instances as keepalived 2.2 does it (vrrp_track.c,
// vrrp_scheduler.c), as pure machines; the service (service.ts) runs the
// scripts, reads the files and hears the links, and hands the results here.
//
//  - vrrp_script: run at start, then every `interval` (from the planned start
//    of the previous run); killed after `timeout` (0: the interval), which is
//    a failure. Exit status 0 is success, anything else (a signal too) a
//    failure. Counting: without init_fail the first result decides at once;
//    after that `fall` consecutive failures take a good script down and
//    `rise` consecutive successes bring a bad one up. With init_fail it
//    starts bad and needs `rise` successes. A run never overlaps the
//    previous one of the same script: a tick that finds it still running is
//    skipped (keepalived logs "skipping run" and runs it anyway).
//  - A tracked object's contribution to an instance (trackValue): weight 0
//    means FAULT while failed (`reverse`: while good); a positive weight is
//    added while good, a negative one while failed (`reverse` negates it).
//    track_file: the file's integer × weight (× −1 with reverse), at most 253,
//    −254 or less is FAULT; with weight 0 a non-zero value is FAULT.
//  - An instance's total (InstanceTracks): the sum of its weights as one
//    `priority-changed` (the total, not a delta), and each failed weight-0
//    object as its own `fault` source (`track_script NAME`, ...).

import type { InstanceEvent } from './instance.js';

// ---- vrrp_script runs ----------------------------------------------------------

export interface ScriptTrackConfig {
  name: string;
  intervalMs: number;
  /** 0: the interval (keepalived's default). */
  timeoutMs: number;
  rise: number;
  fall: number;
  initFail: boolean;
}

export interface ScriptTrack {
  readonly cfg: ScriptTrackConfig;
  /** keepalived's counter: 0..rise-1 is bad, rise..rise+fall-1 good. */
  result: number;
  /** No result yet (and no init_fail): the first one decides. */
  init: boolean;
  running: boolean;
  nextAt: number;
  /** Last exit status, for "now returning N" lines. */
  lastCode: number | null | undefined;
  skipped: number;
}

export interface ScriptSetState {
  scripts: Map<string, ScriptTrack>;
}

export type ScriptEvent =
  | { kind: 'tick' }
  | { kind: 'exited'; script: string; code: number | null; signal: string | null; timedOut: boolean };

export type ScriptEffect =
  | { kind: 'run'; script: string; timeoutMs: number }
  /** The script's state as tracking sees it: good, or not; only on a change (and the first result). */
  | { kind: 'status'; script: string; ok: boolean; reason: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string };

export function scriptConfigProblems(c: ScriptTrackConfig): string[] {
  const p: string[] = [];
  const pos = (v: number) => Number.isInteger(v) && v >= 1;
  if (!(Number.isInteger(c.intervalMs) && c.intervalMs >= 1)) p.push(`intervalMs: ${c.intervalMs} must be a whole number >= 1`);
  if (!(Number.isInteger(c.timeoutMs) && c.timeoutMs >= 0)) p.push(`timeoutMs: ${c.timeoutMs} must be a whole number >= 0`);
  if (!pos(c.rise)) p.push(`rise: ${c.rise} must be a whole number >= 1`);
  if (!pos(c.fall)) p.push(`fall: ${c.fall} must be a whole number >= 1`);
  return p;
}

export function initScripts(cfgs: ScriptTrackConfig[], now: number): ScriptSetState {
  const scripts = new Map<string, ScriptTrack>();
  for (const cfg of cfgs) {
    const p = scriptConfigProblems(cfg);
    if (p.length) throw new RangeError(`vrrp_script ${cfg.name}: ${p.join('; ')}`);
    scripts.set(cfg.name, {
      cfg, result: cfg.initFail ? 0 : cfg.rise - 1, init: !cfg.initFail, running: false, nextAt: now, lastCode: undefined, skipped: 0,
    });
  }
  return { scripts };
}

/** Good (true), bad (false), or not known yet (undefined: no init_fail and no result so far). */
export function scriptOk(t: ScriptTrack): boolean | undefined {
  if (t.init) return undefined;
  return t.result >= t.cfg.rise;
}

export const scriptTimeoutMs = (c: ScriptTrackConfig) => (c.timeoutMs > 0 ? c.timeoutMs : c.intervalMs);

export function scriptStep(s: ScriptSetState, ev: ScriptEvent, now: number): ScriptEffect[] {
  const out: ScriptEffect[] = [];
  if (ev.kind === 'tick') {
    for (const t of s.scripts.values()) {
      if (now < t.nextAt) continue;
      // The next run keeps the phase; after a long stall (a stopped process) it starts from now.
      t.nextAt += t.cfg.intervalMs;
      if (t.nextAt <= now) t.nextAt = now + t.cfg.intervalMs;
      if (t.running) {
        t.skipped += 1;
        out.push({ kind: 'log', level: 'warn', message: `vrrp_script ${t.cfg.name}: still running after ${t.cfg.intervalMs / 1000} s, this run skipped` });
        continue;
      }
      t.running = true;
      out.push({ kind: 'run', script: t.cfg.name, timeoutMs: scriptTimeoutMs(t.cfg) });
    }
    return out;
  }
  const t = s.scripts.get(ev.script);
  if (!t || !t.running) return out;
  t.running = false;
  const success = ev.code === 0 && !ev.timedOut;
  const why = ev.timedOut ? `timed out after ${scriptTimeoutMs(t.cfg) / 1000} s`
    : ev.code !== null ? `exit status ${ev.code}` : ev.signal ? `killed by ${ev.signal}` : 'could not be run';
  if (ev.code !== t.lastCode && ev.code !== null) out.push({ kind: 'log', level: 'info', message: `vrrp_script ${t.cfg.name}: now returning ${ev.code}` });
  t.lastCode = ev.code;
  const { rise, fall } = t.cfg;
  const wasInit = t.init;
  t.init = false;
  if (success) {
    if (t.result < rise - 1) t.result += 1;
    else if (t.result !== rise + fall - 1) {
      // Without init_fail the counter starts at rise-1: one success is enough.
      const up = t.result < rise;
      t.result = rise + fall - 1;
      if (up) out.push({ kind: 'status', script: t.cfg.name, ok: true, reason: 'succeeded' });
    }
  } else if (t.result > rise) {
    t.result -= 1;
  } else {
    const down = t.result === rise || wasInit;
    t.result = 0;
    if (down) out.push({ kind: 'status', script: t.cfg.name, ok: false, reason: why });
  }
  return out;
}

export function scriptDeadline(s: ScriptSetState): number {
  let at = Infinity;
  for (const t of s.scripts.values()) at = Math.min(at, t.nextAt);
  return at;
}

export const SCRIPT_SET_MACHINE = {
  step: scriptStep,
  deadline: scriptDeadline,
  tick: { kind: 'tick' } as ScriptEvent,
};

// ---- what a tracked object does to an instance -----------------------------------

/** A tracked object's effect on one instance: FAULT, or a weight (0 = none). */
export type TrackValue = { fault: true; reason: string } | { fault: false; weight: number };

/** A script or interface (good = script OK, interface up), with keepalived's weight rules. */
export function trackValue(good: boolean, weight: number, reverse: boolean, what: string): TrackValue {
  const m = reverse ? -1 : 1;
  if (weight === 0) return good === !reverse ? { fault: false, weight: 0 } : { fault: true, reason: what };
  if (weight > 0) return { fault: false, weight: good ? weight * m : 0 };
  return { fault: false, weight: good ? 0 : weight * m };
}

/** track_file: the value × weight, as keepalived (weight 0: non-zero is FAULT; ≤ −254 is FAULT). */
export function fileTrackValue(value: number, weight: number, reverse: boolean): TrackValue {
  const m = reverse ? -1 : 1;
  if (weight === 0) return (value !== 0) === (m === 1) ? { fault: true, reason: `value ${value}` } : { fault: false, weight: 0 };
  const v = Math.max(-254, Math.min(253, value * weight * m));
  return v === -254 ? { fault: true, reason: `value ${value} × weight ${weight * m} <= -254` } : { fault: false, weight: v };
}

/**
 * A track file's number as keepalived reads it: strtol(base 0) of the first
 * 127 bytes (leading blanks, a sign, 0x hex or 0 octal), 0 when there is no
 * number or no file, clamped to −254..254.
 */
export function parseTrackFile(text: string | undefined): number {
  if (text === undefined) return 0;
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text.slice(0, 127));
  if (!m) return 0;
  const digits = m[2]!;
  const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : parseInt(digits, 10);
  const n = m[1] === '-' ? -v : v;
  return Math.max(-254, Math.min(254, Number.isFinite(n) ? n : m[1] === '-' ? -254 : 254));
}

// ---- an instance's total -------------------------------------------------------------

export interface InstanceTracks {
  /** Per source (`track_script NAME`, `track_interface IF`, `track_file NAME`, with `sync group G:` for a group's). */
  values: Map<string, TrackValue>;
  /** The total last reported. */
  weight: number;
}

export const initInstanceTracks = (): InstanceTracks => ({ values: new Map(), weight: 0 });

/** Records one object's value; returns the instance events it makes (a fault change, the new total). */
export function setTrack(it: InstanceTracks, source: string, v: TrackValue): InstanceEvent[] {
  const out: InstanceEvent[] = [];
  const prev = it.values.get(source);
  it.values.set(source, v);
  if (v.fault && !(prev?.fault && prev.reason === v.reason)) out.push({ kind: 'fault', source, reason: v.reason });
  if (!v.fault && prev?.fault) out.push({ kind: 'fault-cleared', source, reason: 'recovered' });
  let total = 0;
  for (const x of it.values.values()) if (!x.fault) total += x.weight;
  if (total !== it.weight) {
    it.weight = total;
    out.push({ kind: 'priority-changed', weight: total, reason: `${source}: ${v.fault ? 'fault' : `weight ${v.weight}`}` });
  }
  return out;
}
