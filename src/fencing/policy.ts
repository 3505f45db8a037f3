// When to fence the peer and when its groups may be taken over, as a pure
// state machine: (state, event, now) -> actions, time as an input.
//
// Safety rules:
//  - With fencing configured, a silent peer's groups are taken over only
//    after a device confirmed it off (or an operator said it is off, or the
//    operator chose fence_failure_policy takeover). A peer that left
//    gracefully (it released everything and said so) needs no fence.
//  - Fence race: when every heartbeat path is cut, both nodes see the other
//    die. The node holding fewer groups (ties: the node listed second in
//    ha.cf) waits fence_delay before it shoots, so the active node shoots
//    first and wins; fence_delay is never shorter than a device timeout.
//  - No fence loops (corosync's wait_for_all): a node that has not heard its
//    peer since it started fences nothing and takes nothing over, until it
//    hears the peer once or an operator unblocks it. A node fenced because
//    the links were cut therefore cannot come back and shoot the survivor.
//  - A failed round (every device for the peer tried once) is retried with
//    exponential back-off between fence_retry's two bounds, forever, with an
//    alert each time: Heartbeat's rule, without its fixed 5 s hammering.
//  - Every device is status-checked every fence_check_interval, so a broken
//    BMC is reported before the day it is needed.

import { deviceLabel } from '../config/common.js';
import type { FenceFailurePolicy, FencingConfig, StonithDevice } from '../config/types.js';

export interface FencingPolicyConfig {
  self: string;
  peer: string;
  /** Labels of the devices this node uses against the peer, in the order they are tried. */
  devices: string[];
  fenceDelayMs: number;
  failurePolicy: FenceFailurePolicy;
  checkIntervalMs: number;   // 0 = never
  retryMs: number;
  retryMaxMs: number;
  waitForAll: boolean;
  /** This node wins ties of the fence race (it is the first node in ha.cf). */
  tieBreakWinner: boolean;
}

export type FencePhase =
  | 'idle'        // the peer is alive (or has not died since we started)
  | 'blocked'     // peer silent, never heard since start: wait_for_all holds us back
  | 'delayed'     // fence race: waiting fence_delay before shooting
  | 'fencing'     // a fence is in flight
  | 'backoff'     // a round failed; next round at fenceAt
  | 'fenced'      // confirmed off (or confirmed by the operator): takeover allowed
  | 'released';   // no fence needed: the peer left gracefully, or no device is configured

export type TakeOverReason = 'fenced' | 'operator' | 'peer-left' | 'no-fencing' | 'failure-policy';

export interface InFlight {
  id: number;
  device: number;
  startedAt: number;
  /** The peer came back or the operator settled it: the result is only recorded. */
  stale: boolean;
}

export interface DeviceHealth {
  nextCheckAt: number;
  checking: boolean;
  ok?: boolean;
  lastError?: string;
  lastCheckedAt?: number;
}

export interface FencingState {
  readonly cfg: FencingPolicyConfig;
  phase: FencePhase;
  /** Heard the peer at least once since this process started. */
  seenPeer: boolean;
  /** An operator lifted wait_for_all for this run. */
  startupUnblocked: boolean;
  reason: string;
  fenceAt?: number;
  /** Failed rounds in this episode. */
  rounds: number;
  /** Device index the current round is on. */
  device: number;
  /** Errors of the current round, for the alert. */
  roundErrors: string[];
  backoffMs?: number;
  inflight?: InFlight;
  nextId: number;
  /** may-take-over was sent in this episode. */
  tookOver: boolean;
  deadSince?: number;
  checks: DeviceHealth[];
  /** The held counts this episode's fence race was decided on (self: own count; peer: from its last report). */
  decidedOn?: { selfHeld: number; peerHeld: number };
}

export type FencingEvent =
  | { kind: 'tick' }
  /** The peer is heard (again). */
  | { kind: 'peer-up' }
  /**
   * Membership declared the peer dead. selfHeld/peerHeld: how many groups
   * each side held at that moment (peer: from its last report; undefined
   * when it never reported).
   */
  | { kind: 'peer-dead'; reason: 'silent' | 'initdead' | 'left'; selfHeld: number; peerHeld?: number }
  | { kind: 'fence-done'; id: number; ok: boolean; error?: string }
  | { kind: 'check-done'; device: number; ok: boolean; error?: string }
  | { kind: 'operator'; op: 'confirm-off' | 'unblock-startup' | 'retry-now' }
  /**
   * The peer, still heard, reports groups it could not stop: it cannot prove
   * them down, so it is fenced now (no race delay: it asked), and its groups
   * are taken over once it is confirmed off and declared dead.
   */
  | { kind: 'peer-stop-failed'; groups: string[] };

export interface FenceRecordDraft {
  target: string;
  device: string;
  action: 'off';
  reason: string;
  result: 'ok' | 'failed' | 'operator' | 'stale';
  durationMs: number;
  attempt: number;
  error?: string;
}

export type FencingAction =
  /** Run fence(devices[device], 'off') and feed back fence-done with this id. */
  | { kind: 'fence'; id: number; device: number; target: string }
  /** Run checkDevice(devices[device]) and feed back check-done. */
  | { kind: 'check'; device: number }
  /** The peer's groups may now be started here. At most once per episode. */
  | { kind: 'may-take-over'; target: string; reason: TakeOverReason }
  /** Something an operator must act on: log it at error level and run the notify hook. */
  | { kind: 'alert'; message: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string }
  /** Append to the fencing history (the adapter adds the wall-clock time). */
  | { kind: 'record'; entry: FenceRecordDraft };

/**
 * The policy config for `self`, and the devices it uses against its peer
 * (indexes in the actions refer to this list): lines for `*` or `self` that
 * target the peer, in ha.cf order.
 */
export function fencingPolicyConfig(fc: FencingConfig, self: string, nodes: string[]): { cfg: FencingPolicyConfig; devices: StonithDevice[] } {
  const peer = nodes.find((n) => n !== self);
  if (peer === undefined) throw new Error(`no peer for ${self} among ${nodes.join(', ')}`);
  const devices = fc.devices.filter((d) => d.target === peer && (d.from === '*' || d.from === self));
  return {
    cfg: {
      self, peer,
      devices: devices.map(deviceLabel),
      fenceDelayMs: fc.fenceDelayMs,
      failurePolicy: fc.failurePolicy,
      checkIntervalMs: fc.checkIntervalMs,
      retryMs: fc.retryMs,
      retryMaxMs: fc.retryMaxMs,
      waitForAll: fc.waitForAll,
      tieBreakWinner: nodes[0] === self,
    },
    devices,
  };
}

export function initFencing(cfg: FencingPolicyConfig, now: number): FencingState {
  return {
    cfg, phase: 'idle', seenPeer: false, startupUnblocked: false, reason: '', rounds: 0, device: 0,
    roundErrors: [], nextId: 1, tookOver: false,
    // First checks right away: Heartbeat also checks its device at start-up.
    checks: cfg.devices.map(() => ({ nextCheckAt: now, checking: false })),
  };
}

/** May the peer's groups be started here? The engine keeps the peer "not yet dead" for resources until this is true. */
export function mayTakeOver(s: FencingState): boolean {
  return s.tookOver;
}

/** Earliest instant the machine needs a tick; Infinity when none. */
export function fencingDeadline(s: FencingState): number {
  // What waits for a fence in flight is woken by its fence-done, not by time;
  // a deadline in the past for it would make the daemon spin.
  let t = Infinity;
  if ((s.phase === 'delayed' || s.phase === 'backoff') && s.fenceAt !== undefined && !s.inflight) t = Math.min(t, s.fenceAt);
  if (s.cfg.checkIntervalMs > 0) {
    s.checks.forEach((c, i) => {
      if (!c.checking && s.inflight?.device !== i) t = Math.min(t, c.nextCheckAt);
    });
  }
  return t;
}

export function fencingStep(s: FencingState, ev: FencingEvent, now: number): FencingAction[] {
  const out: FencingAction[] = [];
  switch (ev.kind) {
    case 'tick':
      break;
    case 'peer-up':
      onPeerUp(s, out);
      break;
    case 'peer-dead':
      onPeerDead(s, ev, now, out);
      break;
    case 'fence-done':
      onFenceDone(s, ev, now, out);
      break;
    case 'check-done':
      onCheckDone(s, ev, now, out);
      break;
    case 'operator':
      onOperator(s, ev.op, now, out);
      break;
    case 'peer-stop-failed':
      if (s.phase !== 'idle' || s.cfg.devices.length === 0) break;
      reset(s);
      s.reason = `${s.cfg.peer} could not stop ${ev.groups.join(', ')}`;
      s.deadSince = now;
      s.phase = 'delayed';
      s.fenceAt = now;
      out.push({ kind: 'log', level: 'warn', message: `${s.reason}: fencing it now, before its groups start here` });
      break;
  }
  advance(s, now, out);
  return out;
}

function onPeerUp(s: FencingState, out: FencingAction[]): void {
  s.seenPeer = true;
  const p = s.phase;
  if (p === 'idle') return;
  if (s.inflight) s.inflight.stale = true;
  if (p === 'delayed' || p === 'backoff' || p === 'fencing' || p === 'blocked') {
    out.push({ kind: 'log', level: 'info', message: `${s.cfg.peer} is heard again: fencing it is called off` +
      (p === 'fencing' ? ' (the fence already running is let finish; its result is only recorded)' : '') });
  } else if (p === 'fenced') {
    out.push({ kind: 'log', level: 'info', message: `${s.cfg.peer} is back after being fenced` });
  }
  reset(s);
}

function reset(s: FencingState): void {
  s.phase = 'idle';
  s.decidedOn = undefined;
  s.reason = '';
  s.fenceAt = undefined;
  s.rounds = 0;
  s.device = 0;
  s.roundErrors = [];
  s.backoffMs = undefined;
  s.tookOver = false;
  s.deadSince = undefined;
}

function onPeerDead(s: FencingState, ev: Extract<FencingEvent, { kind: 'peer-dead' }>, now: number, out: FencingAction[]): void {
  if (s.phase !== 'idle') return;   // this episode is already being handled
  const { peer } = s.cfg;
  s.deadSince = now;
  if (ev.reason === 'left') {
    // It stopped its groups and said so before going: nothing to fence.
    s.phase = 'released';
    takeOver(s, 'peer-left', out);
    return;
  }
  if (s.cfg.devices.length === 0) {
    s.phase = 'released';
    out.push({ kind: 'log', level: 'warn', message: `no STONITH device can fence ${peer}: taking over without fencing; shared data is not protected` });
    takeOver(s, 'no-fencing', out);
    return;
  }
  s.reason = ev.reason === 'initdead' ? `${peer} not heard within initdead` : `${peer} declared dead (silent for deadtime)`;
  if (s.cfg.waitForAll && !s.seenPeer && !s.startupUnblocked) {
    s.phase = 'blocked';
    out.push({ kind: 'alert', message: `${peer} has not been heard since this node started: not fencing it and not taking anything over ` +
      `(fence_wait_for_all). If ${peer} is really down, confirm it is off or unblock start-up with the tandem CLI.` });
    return;
  }
  scheduleFirstRound(s, ev.selfHeld, ev.peerHeld ?? 0, now, out);
}

function scheduleFirstRound(s: FencingState, selfHeld: number, peerHeld: number, now: number, out: FencingAction[]): void {
  s.decidedOn = { selfHeld, peerHeld };
  const wins = selfHeld > peerHeld || (selfHeld === peerHeld && s.cfg.tieBreakWinner);
  const delay = wins ? 0 : s.cfg.fenceDelayMs;
  s.phase = 'delayed';
  s.fenceAt = now + delay;
  s.rounds = 0;
  s.device = 0;
  s.roundErrors = [];
  out.push({
    kind: 'log', level: 'warn',
    message: delay === 0
      ? `${s.reason}: fencing it now (this node holds ${selfHeld} group(s), ${s.cfg.peer} held ${peerHeld})`
      : `${s.reason}: fencing it in ${delay} ms (fence_delay: ${s.cfg.peer} held ${peerHeld} group(s), this node ${selfHeld}; if it is alive it shoots first)`,
  });
}

function onFenceDone(s: FencingState, ev: Extract<FencingEvent, { kind: 'fence-done' }>, now: number, out: FencingAction[]): void {
  const f = s.inflight;
  if (!f || f.id !== ev.id) return;
  s.inflight = undefined;
  const label = s.cfg.devices[f.device] ?? `device ${f.device}`;
  const entry: FenceRecordDraft = {
    target: s.cfg.peer, device: label, action: 'off', reason: s.reason || 'peer declared dead',
    result: f.stale ? 'stale' : ev.ok ? 'ok' : 'failed', durationMs: Math.max(0, Math.round(now - f.startedAt)),   // now is performance.now(): fractional
    attempt: s.rounds + 1, ...(ev.error ? { error: ev.error } : {}),
  };
  out.push({ kind: 'record', entry });
  // A check of this device was held back while it fenced.
  const c = s.checks[f.device];
  if (c) c.nextCheckAt = Math.min(c.nextCheckAt, now);
  if (f.stale) {
    out.push({ kind: 'log', level: 'info', message: `fence of ${s.cfg.peer} through ${label} finished after it was called off: ${ev.ok ? 'it is off' : `failed: ${ev.error ?? 'unknown error'}`}` });
    return;
  }
  if (s.phase !== 'fencing') return;
  if (ev.ok) {
    s.phase = 'fenced';
    s.fenceAt = undefined;
    out.push({ kind: 'log', level: 'warn', message: `${s.cfg.peer} is confirmed off through ${label}` +
      (s.rounds > 0 ? ` after ${s.rounds} failed round(s)` : '') });
    if (s.tookOver) {
      out.push({ kind: 'log', level: 'info', message: `fencing confirmed after the unfenced takeover (fence_failure_policy takeover)` });
    } else {
      takeOver(s, 'fenced', out);
    }
    return;
  }
  s.roundErrors.push(`${label}: ${ev.error ?? 'failed'}`);
  if (s.device + 1 < s.cfg.devices.length) {
    s.device += 1;
    out.push({ kind: 'log', level: 'warn', message: `fencing ${s.cfg.peer} through ${label} failed (${ev.error ?? 'unknown error'}); trying ${s.cfg.devices[s.device]}` });
    startAttempt(s, now, out);
    return;
  }
  s.rounds += 1;
  s.device = 0;
  s.backoffMs = backoff(s.cfg, s.rounds);
  s.phase = 'backoff';
  s.fenceAt = now + s.backoffMs;
  out.push({
    kind: 'alert',
    message: `fencing ${s.cfg.peer} failed (round ${s.rounds}): ${s.roundErrors.join('; ')}. Retrying in ${s.backoffMs} ms. ` +
      (s.tookOver
        ? `Its groups were taken over WITHOUT fencing (fence_failure_policy takeover).`
        : s.cfg.failurePolicy === 'takeover'
          ? `Taking its groups over WITHOUT fencing (fence_failure_policy takeover): if ${s.cfg.peer} is alive, both nodes run them.`
          : `Its groups stay down until it is confirmed off; if it is, say so with the tandem CLI.`),
  });
  s.roundErrors = [];
  if (s.cfg.failurePolicy === 'takeover' && !s.tookOver) takeOver(s, 'failure-policy', out);
}

/** Delay before round n+1 after n failed rounds: retryMs doubling, capped at retryMaxMs. */
export function backoff(cfg: Pick<FencingPolicyConfig, 'retryMs' | 'retryMaxMs'>, failedRounds: number): number {
  const exp = Math.min(Math.max(failedRounds - 1, 0), 30);
  return Math.min(cfg.retryMaxMs, cfg.retryMs * 2 ** exp);
}

function onCheckDone(s: FencingState, ev: Extract<FencingEvent, { kind: 'check-done' }>, now: number, out: FencingAction[]): void {
  const c = s.checks[ev.device];
  if (!c || !c.checking) return;
  c.checking = false;
  c.lastCheckedAt = now;
  c.nextCheckAt = now + s.cfg.checkIntervalMs;
  const label = s.cfg.devices[ev.device] ?? `device ${ev.device}`;
  const was = c.ok;
  c.ok = ev.ok;
  if (ev.ok) {
    c.lastError = undefined;
    if (was === false) out.push({ kind: 'log', level: 'info', message: `STONITH device ${label} is working again` });
    return;
  }
  c.lastError = ev.error;
  if (was !== false) {
    out.push({ kind: 'alert', message: `STONITH device ${label} is not operational: ${ev.error ?? 'check failed'}; ` +
      `${s.cfg.peer} could not be fenced through it if it failed now` });
  }
}

function onOperator(s: FencingState, op: Extract<FencingEvent, { kind: 'operator' }>['op'], now: number, out: FencingAction[]): void {
  const { peer } = s.cfg;
  switch (op) {
    case 'confirm-off':
      if (s.phase === 'idle') {
        out.push({ kind: 'log', level: 'warn', message: `operator confirmation that ${peer} is off ignored: ${peer} is not considered dead` });
        return;
      }
      if (s.phase === 'fenced' || s.phase === 'released') return;
      if (s.inflight) s.inflight.stale = true;
      s.phase = 'fenced';
      s.fenceAt = undefined;
      out.push({ kind: 'record', entry: { target: peer, device: 'operator', action: 'off', reason: s.reason || 'operator', result: 'operator', durationMs: 0, attempt: s.rounds + 1 } });
      out.push({ kind: 'log', level: 'warn', message: `operator confirmed that ${peer} is off` });
      if (!s.tookOver) takeOver(s, 'operator', out);
      return;
    case 'unblock-startup':
      s.startupUnblocked = true;
      if (s.phase === 'blocked') {
        out.push({ kind: 'log', level: 'warn', message: `operator lifted fence_wait_for_all: fencing ${peer} now` });
        s.phase = 'delayed';
        s.fenceAt = now;
      }
      return;
    case 'retry-now':
      if (s.phase === 'backoff') s.fenceAt = now;
      return;
  }
}

function takeOver(s: FencingState, reason: TakeOverReason, out: FencingAction[]): void {
  if (s.tookOver) return;
  s.tookOver = true;
  out.push({ kind: 'may-take-over', target: s.cfg.peer, reason });
}

function startAttempt(s: FencingState, now: number, out: FencingAction[]): void {
  const id = s.nextId++;
  s.phase = 'fencing';
  s.fenceAt = undefined;
  s.inflight = { id, device: s.device, startedAt: now, stale: false };
  out.push({ kind: 'fence', id, device: s.device, target: s.cfg.peer });
}

function advance(s: FencingState, now: number, out: FencingAction[]): void {
  // A called-off fence that is still running blocks the next one: one
  // action on the peer's power at a time.
  if ((s.phase === 'delayed' || s.phase === 'backoff') && s.fenceAt !== undefined && now >= s.fenceAt && !s.inflight) {
    s.device = 0;
    startAttempt(s, now, out);
  }
  if (s.cfg.checkIntervalMs <= 0) return;
  s.checks.forEach((c, i) => {
    if (c.checking || now < c.nextCheckAt) return;
    // Not while that device is fencing: the BMC would get both at once.
    if (s.inflight?.device === i) return;
    c.checking = true;
    out.push({ kind: 'check', device: i });
  });
}
