// Resource groups of a two-node pair as a pure state machine. It decides
// which groups this node should hold from what membership knows, and walks
// each group through its resources one operation at a time: start left to
// right, stop right to left. The adapter runs the operations and feeds the
// results back as events.
//
// Safety rule while the nodes hear each other: a node starts a group only
// when the peer's newest report does not list it, and only the designated
// node starts an unheld group, so both sides never start the same group.
// That holds for resuming a group remembered from before a restart too:
// while the peer's report still lists it (claimed, recovering or being
// stopped), the preferred node waits and the other one stops its copy; and
// a start on the peer's word that it does not hold the group needs a report
// the peer wrote after hearing this incarnation.

import type { AutoFailback } from '../config/types.js';
import type { PeerLiveness, PeerReport } from '../membership/machine.js';
import { applyDecision, type GroupDecision } from '../quorum/decide.js';

export interface GroupSpec {
  name: string;
  preferredNode: string;
  resourceCount: number;
  /** Per resource index: how it is monitored while the group runs here (undefined: not monitored). */
  monitors?: Array<MonitorSpec | undefined>;
}

/** A resource's monitor: `op monitor interval= timeout=` and `meta migration-threshold= failure-timeout=`. */
export interface MonitorSpec {
  intervalMs: number;
  timeoutMs: number;
  /** The failure (within failureTimeoutMs) that moves the group instead of restarting the resource in place. */
  migrationThreshold: number;
  /** Failures older than this no longer count; 0 = never forgotten. */
  failureTimeoutMs: number;
}

/** A monitor call's verdict (agents/types.ts MonitorResult). */
export type MonitorVerdict = 'running' | 'not-running' | 'failed' | 'timeout';

/** Per monitored resource of a group. */
export interface ResourceMonitor {
  /** When the next check is due (only while the group runs here and none is in flight). */
  nextAt?: number;
  busy: boolean;
  /** Results of calls issued under an older token (before a stop or restart) are ignored. */
  token: number;
  last?: { at: number; result: MonitorVerdict; detail: string };
  /** When each counted failure happened (the oldest first). */
  failures: number[];
}

export interface ResourcesConfig {
  self: string;
  /** The peer's name, for the reasons given with transitions (default 'the peer'). */
  peer?: string;
  autoFailback: AutoFailback;
  groups: GroupSpec[];
  stopRetries: number;      // failed stops are retried this many times before giving up
  stopRetryDelayMs: number;
  generation?: number;      // this incarnation's generation, to tell reports written before the peer heard it
  /** ha.cf configures fencing: a stop that keeps failing is ended by the peer fencing this node (the alert says which). */
  fencing?: boolean;
}

export type GroupPhase =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'stopping'
  | 'failed'        // a start failed and the group was stopped again; not retried while the peer can take it
  | 'stop-failed'   // a stop kept failing: it may still run here, so it stays held
  | 'recovering'    // held before our last crash: state unknown until the peer is heard
  | 'restarting';   // a monitor failed: the failed resource and those after it are stopped and started again here

export interface GroupState {
  phase: GroupPhase;
  next: number;             // resource index of the next operation
  busy: boolean;            // an operation is in flight
  stopAttempts: number;
  retryAt?: number;
  failAfterStop: boolean;   // this stop unwinds a failed start
  leftovers: boolean;       // resources past `next` may still be up from before a restart: unwinding must stop them all
  /** The phase a start left (stopped or failed): where a start whose hold could not be recorded returns. */
  startedFrom?: 'stopped' | 'failed';
  holdFailures: number;     // hold writes failed in a row: the start is retried, the first failure alerts
  lastError?: string;
  since: number;
  /**
   * A reload removed the group ('remove') or changed its resources
   * ('replace'): it is released with the resources it was started with, then
   * forgotten or swapped for its new definition (ResourcesState.pending).
   */
  retire?: 'remove' | 'replace';
  /**
   * Why the group is where it is: the decision that began its current walk
   * (start or stop) or its outcome (failed, stop-failed), with when. Kept
   * through the walk's completion, so "running" still says why it started.
   */
  cause?: GroupCause;
  /** Since when the peer's reports list the group as held (while the peer is heard). */
  peerSince?: number;
  /** Monitored resources by index (GroupSpec.monitors). */
  mon?: Record<number, ResourceMonitor>;
  /** Restarting: the failed resource's index, and which half of the walk runs (stop down to it, then start from it). */
  restartFrom?: number;
  restartDir?: 'stop' | 'start';
}

/** A transition's reason in plain words, and a stable code for it (metrics, JSON). */
export interface GroupCause {
  at: number;
  phase: GroupPhase;
  code: ReasonCode;
  reason: string;
}

/**
 * Why a group was started or stopped here. `quorum-*` codes are the quorum
 * decision's (quorum/decide.ts DecisionCode) when quorum changed the answer.
 */
export type ReasonCode =
  | 'peer-dead'       // the peer was declared dead (or left); its groups run here
  | 'peer-leaving'    // the peer is shutting down and let go of it
  | 'peer-failed'     // it failed to start on the peer
  | 'handover'        // an operator's standby/takeover hands it to one node
  | 'cleanup'         // an operator cleared its failure
  | 'preferred'       // this node is its preferred node and the peer agreed
  | 'peer-holds'      // the peer holds it (or is preferred and back: auto_failback)
  | 'failback'        // auto_failback: released to its preferred node
  | 'both-hold'       // both held it: one yields
  | 'held'            // already held here (resumed after a restart)
  | 'shutdown'        // this node is shutting down
  | 'reload'          // a reload removed or changed it
  | 'start-failed'    // a start failed: unwound, and the group is failed here
  | 'stop-failed'     // a stop kept failing
  | 'hold-failed'     // its hold could not be recorded durably
  | 'done'            // a walk finished (running, stopped)
  | 'monitor-failed'  // a monitor failed: the resource is restarted in place
  | 'migration-threshold' // monitor failures reached migration-threshold: the group moves to the peer
  | `quorum-${string}`;

/**
 * Codes of a start here that takes the group over from the peer: a failover,
 * not its usual placement (status says "moved to", metrics count failovers).
 */
export function isTakeover(code: ReasonCode): boolean {
  return code === 'peer-dead' || code === 'peer-leaving' || code === 'peer-failed'
    || code === 'quorum-grant-held' || code === 'quorum-ipfail-better';
}

export interface ResourcesState {
  /** Replaced (never edited in place) by a reload. */
  cfg: ResourcesConfig;
  /** New definitions of groups being released for a reload ('replace'), applied once they are stopped. */
  pending?: Record<string, GroupSpec>;
  groups: Record<string, GroupState>;
  /** why: the peer's liveness in plain words, from the engine (e.g. why it was declared dead). */
  peer: { liveness: PeerLiveness; report?: PeerReport; why?: string };
  stopping: boolean;        // the daemon is shutting down: release everything
  /**
   * The quorum rules per group (quorum/decide.ts), set by the engine before
   * each step when quorum is configured; absent = the resource rules alone.
   */
  quorum?: Record<string, GroupDecision>;
  /**
   * Groups this node hands to its peer (`tandem standby` here, or the
   * peer's `tandem takeover`): not wanted here while the peer is up, and
   * reported as tg_standby so the peer may take them. Cleared for a group
   * by the opposite request, and for all when the peer dies or restarts
   * (docs/operations.md, "Standby and takeover"). Not persisted.
   */
  standby?: string[];
  /**
   * Groups a peer that does not send tg_standby (Heartbeat) said it has
   * released for us (`ask_resources info=done`). Same lifetime as standby.
   */
  fromPeer?: string[];
}

export type ResourcesEvent =
  | { kind: 'peer'; liveness: PeerLiveness; report?: PeerReport; why?: string }
  | { kind: 'op-done'; group: string; op: 'start' | 'stop'; index: number; ok: boolean; error?: string }
  /**
   * The durable write of a persist-hold failed (a full or broken state disk).
   * For held=true the adapter has NOT run the start issued with it: nothing
   * of the group was started, and without a durable hold nothing may be.
   */
  | { kind: 'hold-failed'; group: string; held: boolean; error: string }
  | { kind: 'shutdown' }
  | { kind: 'tick' }
  /**
   * A reload: the new group set. Groups not in it are released and
   * forgotten; those named in `replace` (their resources changed) are
   * released and then started again by the usual rules; the rest keep
   * their state, untouched.
   */
  | { kind: 'reconfigure'; groups: GroupSpec[]; autoFailback: AutoFailback; replace: string[] }
  /** Hand these groups to the peer: this node's standby, or the peer's takeover request. */
  | { kind: 'hand-over'; groups: string[] }
  /**
   * Stop handing these groups to the peer: this node's takeover, or the
   * peer's own standby of them. `released`: the peer (one that does not send
   * tg_standby) says it has released them for us.
   */
  | { kind: 'take-back'; groups: string[]; released?: boolean }
  /** The peer died or restarted: every hand-over between the two ends. */
  | { kind: 'handover-reset' }
  /**
   * An operator clears a failed group. A stop-failed group comes with what
   * its resources' status operations said: any one running, or all stopped.
   */
  | { kind: 'cleanup'; group: string; probe?: 'running' | 'stopped' }
  /** A monitor call issued with `token` came back. */
  | { kind: 'monitor-done'; group: string; index: number; token: number; result: MonitorVerdict; detail: string };

export type ResourcesAction =
  | { kind: 'op'; group: string; op: 'start' | 'stop'; index: number }
  | { kind: 'persist-hold'; group: string; held: boolean }   // must be durable before the next op runs; else hold-failed comes back
  | { kind: 'announce' }                                       // our hold set changed
  /** reason: plain words, from the decision that caused it; code: the same as a stable code. */
  | { kind: 'group-phase'; group: string; phase: GroupPhase; reason: string; code: ReasonCode }
  | { kind: 'alert'; group: string; message: string }
  /** A reload's release is done: forget the group's resources (removed) or switch to its new ones (replaced). */
  | { kind: 'group-retired'; group: string; replaced: boolean }
  /** Check a resource now; the result comes back as monitor-done with the same token. */
  | { kind: 'monitor'; group: string; index: number; token: number; timeoutMs: number }
  /** A monitor failed and was counted (count within failure-timeout, of threshold). */
  | { kind: 'monitor-failed'; group: string; index: number; result: MonitorVerdict; detail: string; count: number; threshold: number; action: 'restart' | 'move' };

const HELD: ReadonlySet<GroupPhase> = new Set(['starting', 'running', 'stopping', 'stop-failed', 'recovering', 'restarting']);
const YIELDING: ReadonlySet<GroupPhase> = new Set(['recovering', 'stopping']);

export function initResources(cfg: ResourcesConfig, persistedHeld: ReadonlySet<string>, now: number): ResourcesState {
  const groups: Record<string, GroupState> = {};
  for (const g of cfg.groups) {
    groups[g.name] = {
      phase: persistedHeld.has(g.name) ? 'recovering' : 'stopped',
      next: 0, busy: false, stopAttempts: 0, failAfterStop: false, since: now,
      leftovers: persistedHeld.has(g.name), holdFailures: 0,
    };
  }
  return { cfg, groups, peer: { liveness: 'unknown' }, stopping: false };
}

export function heldGroups(s: ResourcesState): string[] {
  return s.cfg.groups.filter((g) => HELD.has(s.groups[g.name]!.phase)).map((g) => g.name);
}
/**
 * Held but not claimed: remembered from before a crash, or being released.
 * When both nodes hold a group, the side that does not claim it yields.
 */
export function yieldingGroups(s: ResourcesState): string[] {
  return s.cfg.groups.filter((g) => YIELDING.has(s.groups[g.name]!.phase)).map((g) => g.name);
}
/** Groups whose stop kept failing here: they may still run, and only a fence can prove them down. */
export function stopFailedGroups(s: ResourcesState): string[] {
  return s.cfg.groups.filter((g) => s.groups[g.name]!.phase === 'stop-failed').map((g) => g.name);
}
export function failedGroups(s: ResourcesState): string[] {
  return s.cfg.groups.filter((g) => s.groups[g.name]!.phase === 'failed').map((g) => g.name);
}
/** True once every group is stopped (or failed) and nothing is in flight. */
export function allReleased(s: ResourcesState): boolean {
  return Object.values(s.groups).every((g) => !g.busy && !HELD.has(g.phase));
}

export function resourcesStep(s: ResourcesState, ev: ResourcesEvent, now: number): ResourcesAction[] {
  const out: ResourcesAction[] = [];
  const before = heldGroups(s).join(' ') + '|' + failedGroups(s).join(' ');
  switch (ev.kind) {
    case 'peer': {
      const wasDead = s.peer.liveness === 'dead';
      s.peer = { liveness: ev.liveness, ...(ev.report ? { report: ev.report } : {}), ...(ev.why ? { why: ev.why } : {}) };
      for (const [name, g] of Object.entries(s.groups)) {
        const listed = ev.liveness === 'up' && (ev.report?.hold.includes(name) ?? false);
        if (!listed) delete g.peerSince;
        else g.peerSince ??= now;
      }
      // A peer that just died can no longer take our failed groups: try again.
      // Nor can it take what we handed to it, nor keep what it handed to us.
      if (ev.liveness === 'dead' && !wasDead) {
        for (const g of Object.values(s.groups)) if (g.phase === 'failed') g.phase = 'stopped';
        s.standby = [];
        s.fromPeer = [];
      }
      break;
    }
    case 'op-done':
      onOpDone(s, ev, now, out);
      break;
    case 'hold-failed':
      onHoldFailed(s, ev, now, out);
      break;
    case 'shutdown':
      s.stopping = true;
      break;
    case 'reconfigure':
      reconfigure(s, ev, now);
      break;
    case 'hand-over':
      s.standby = union(s.standby, ev.groups);
      s.fromPeer = minus(s.fromPeer, ev.groups);
      break;
    case 'take-back':
      s.standby = minus(s.standby, ev.groups);
      if (ev.released) s.fromPeer = union(s.fromPeer, ev.groups);
      break;
    case 'handover-reset':
      s.standby = [];
      s.fromPeer = [];
      break;
    case 'cleanup':
      cleanup(s, ev, now, out);
      break;
    case 'monitor-done':
      onMonitorDone(s, ev, now, out);
      break;
    case 'tick':
      break;
  }
  for (const spec of s.cfg.groups) drive(s, spec, now, out);
  retire(s, now, out);
  const after = heldGroups(s).join(' ') + '|' + failedGroups(s).join(' ');
  if (before !== after) out.push({ kind: 'announce' });
  return out;
}

export function resourcesDeadline(s: ResourcesState): number {
  let t = Infinity;
  for (const g of Object.values(s.groups)) {
    if (g.retryAt !== undefined && !g.busy) t = Math.min(t, g.retryAt);
    if (g.phase === 'running' && !g.busy && g.mon) for (const m of Object.values(g.mon)) if (!m.busy && m.nextAt !== undefined) t = Math.min(t, m.nextAt);
  }
  return t;
}

/** Monitor failures recorded for the group's resources (expired ones included until the next failure prunes them). */
export function failCount(g: GroupState): number {
  let n = 0;
  for (const m of Object.values(g.mon ?? {})) n += m.failures.length;
  return n;
}

/** Failures of a resource that still count at `now` (failure-timeout). */
export function liveFailures(m: ResourceMonitor, spec: MonitorSpec | undefined, now: number): number {
  if (!spec || spec.failureTimeoutMs <= 0) return m.failures.length;
  return m.failures.filter((t) => now - t < spec.failureTimeoutMs).length;
}

/** Issues the checks that are due for a running group, and schedules the first ones. */
function driveMonitors(g: GroupState, spec: GroupSpec, now: number, out: ResourcesAction[]): void {
  if (g.phase !== 'running' || g.busy || !spec.monitors) return;
  g.mon ??= {};
  spec.monitors.forEach((ms, index) => {
    if (!ms || ms.intervalMs <= 0) return;
    const m = (g.mon![index] ??= { busy: false, token: 0, failures: [] });
    if (m.busy) return;
    m.nextAt ??= now + ms.intervalMs;
    if (now < m.nextAt) return;
    m.busy = true;
    m.nextAt = undefined;
    out.push({ kind: 'monitor', group: spec.name, index, token: m.token, timeoutMs: ms.timeoutMs });
  });
}

/** The group left running: checks in flight no longer count, none is scheduled. */
function stopMonitors(g: GroupState): void {
  for (const m of Object.values(g.mon ?? {})) {
    m.token += 1;
    m.busy = false;
    m.nextAt = undefined;
  }
}

/**
 * A check came back. Running: the next one is scheduled. Anything else is a
 * failure, counted within failure-timeout: below migration-threshold the
 * resource is restarted in place (it and the resources after it stopped
 * right to left, then started again); at the threshold the whole group is
 * stopped and marked failed here, so the peer's rules start it there.
 */
function onMonitorDone(s: ResourcesState, ev: Extract<ResourcesEvent, { kind: 'monitor-done' }>, now: number, out: ResourcesAction[]): void {
  const g = s.groups[ev.group];
  const spec = s.cfg.groups.find((x) => x.name === ev.group);
  const m = g?.mon?.[ev.index];
  const ms = spec?.monitors?.[ev.index];
  if (!g || !spec || !m || !ms || m.token !== ev.token || !m.busy) return;
  m.busy = false;
  m.last = { at: now, result: ev.result, detail: ev.detail };
  if (g.phase !== 'running') return;
  if (ev.result === 'running') {
    m.nextAt = now + ms.intervalMs;
    return;
  }
  m.failures.push(now);
  if (ms.failureTimeoutMs > 0) m.failures = m.failures.filter((t) => now - t < ms.failureTimeoutMs);
  // Bounded: only the threshold's worth of failures can matter.
  if (m.failures.length > ms.migrationThreshold) m.failures = m.failures.slice(-ms.migrationThreshold);
  const count = m.failures.length;
  const move = count >= ms.migrationThreshold;
  const what = `resource ${ev.index + 1} monitor: ${ev.result === 'timeout' ? 'timed out' : ev.result === 'not-running' ? 'not running' : 'error'} (${ev.detail})`;
  out.push({ kind: 'monitor-failed', group: ev.group, index: ev.index, result: ev.result, detail: ev.detail, count, threshold: ms.migrationThreshold, action: move ? 'move' : 'restart' });
  const n = spec.resourceCount;
  if (move) {
    g.lastError = `${what}; failure ${count} of migration-threshold ${ms.migrationThreshold}`;
    setPhase(g, 'stopping', now, out, ev.group, { code: 'migration-threshold', reason: `${g.lastError}: the group moves to ${s.cfg.peer ?? 'the peer'}` });
    g.failAfterStop = true;
    g.next = n - 1;
    issue(g, ev.group, 'stop', out);
    return;
  }
  g.restartFrom = ev.index;
  g.restartDir = 'stop';
  g.next = n - 1;
  setPhase(g, 'restarting', now, out, ev.group, { code: 'monitor-failed', reason: `${what}; failure ${count} of ${ms.migrationThreshold}: restarting it in place` });
  issue(g, ev.group, 'stop', out);
}

/** Whether this node should hold a group (undefined = not yet decidable), and why, in plain words. */
export interface Want {
  want: boolean | undefined;
  code: ReasonCode;
  reason: string;
}

const w = (want: boolean | undefined, code: ReasonCode, reason: string): Want => ({ want, code, reason });

/** Should this node hold the group, given what it knows now? undefined = not yet decidable. */
export function wantsGroup(s: ResourcesState, spec: GroupSpec): boolean | undefined {
  return decideWant(s, spec).want;
}

/** wantsGroup with its reason: the reason travels with the transition it causes (group-phase). */
export function decideWant(s: ResourcesState, spec: GroupSpec): Want {
  if (s.stopping) return w(false, 'shutdown', 'this node is shutting down');
  const me = s.groups[spec.name]!;
  const { liveness, report } = s.peer;
  const peer = s.cfg.peer ?? 'the peer';
  if (liveness === 'unknown') return w(undefined, 'peer-dead', s.peer.why ?? `${peer} not heard yet`);
  if (liveness === 'dead') {
    return me.phase !== 'failed'
      ? w(true, 'peer-dead', s.peer.why ?? `${peer} is dead`)
      : w(false, 'start-failed', `it failed to start here${me.lastError ? ` (${me.lastError})` : ''}`);
  }
  // A Heartbeat peer says what it holds only in its t=resource messages:
  // until one from its current incarnation is in, nothing starts or stops
  // here on its word (a group it took over while we were away may run there).
  if (report?.holdUnknown) return w(undefined, 'peer-holds', `waiting for ${peer} (Heartbeat) to report what it holds`);
  const preferred = spec.preferredNode === s.cfg.self;
  const peerHolds = report?.hold.includes(spec.name) ?? false;
  const peerYields = report?.yielding.includes(spec.name) ?? false;
  const peerFailed = report?.failed.includes(spec.name) ?? false;
  const iHold = HELD.has(me.phase);
  const failback = s.cfg.autoFailback !== 'off';
  // An operator's hand-over overrides preference and failback, never the
  // start rules below. When both sides hand the group over (two requests
  // crossed), neither counts and the usual rules decide.
  const iHand = handingOver(s, spec.name);
  const handed = peerHandsOver(s, spec.name);
  // A peer that failed the group cannot take it: the usual rules give it back.
  const peerFailedIt = report?.failed.includes(spec.name) ?? false;
  if (iHand && !handed && !peerFailedIt) return w(false, 'handover', `handed to ${peer} (standby/takeover)`);
  // Crossed only if the peer still hands it back after reading our hand-over:
  // an older report may be from before it took the group on our word.
  if (iHand && handed && report?.unheardHands?.includes(spec.name)) {
    return w(undefined, 'handover', `both nodes hand it over; waiting for ${peer} to read this node's hand-over`);
  }

  if (peerHolds && iHold) {
    // Both may run it: after a crash, a partition, or while one side
    // releases it. The side that does not claim it (it only remembers holding
    // it, or is already stopping it) yields; otherwise the preferred node keeps it.
    const iYield = YIELDING.has(me.phase);
    if (iYield !== peerYields) {
      return iYield
        ? w(false, 'both-hold', `both nodes held it; this node ${me.phase === 'recovering' ? 'only remembered it from before a restart' : 'was releasing it'}, ${peer} keeps it`)
        : w(true, 'both-hold', `both nodes held it; ${peer} yields it`);
    }
    // Neither claims it (each recovering or stopping): the preferred node
    // gets it, but only once the peer's report drops it. The peer's copy may
    // still be up (leftovers from before its crash, or a stop walk under
    // way), and its report cannot say which: resuming now would run the
    // group on both hosts until that walk ends. The peer does not wait in
    // turn: it is not preferred, so it stops its copy, and no one waits on
    // the other.
    if (peerYields) {
      return preferred
        ? w(undefined, 'both-hold', `both nodes held it; waiting for ${peer} to release its copy`)
        : w(false, 'both-hold', `both nodes held it, neither claimed it: ${spec.preferredNode} is its preferred node`);
    }
    return preferred
      ? w(true, 'both-hold', 'both nodes held it: this node is its preferred node and keeps it')
      : w(false, 'both-hold', `both nodes held it: ${spec.preferredNode} is its preferred node and keeps it`);
  }
  if (peerHolds) {
    // with failback, the peer releases first; we start once its report drops the group
    return w(false, 'peer-holds', `${peer} holds it`);
  }
  const olderWord = reportPredatesUs(s);
  const waitWord = `waiting for a report ${peer} wrote after hearing this node`;
  if (iHold) {
    if (failback && !preferred && !peerFailed && report?.status !== 'dead' && !(handed && !iHand)) {
      return w(false, 'failback', `auto_failback: ${spec.preferredNode}, its preferred node, is up`);
    }
    // Resuming a group remembered from before the restart is such a start.
    if (me.phase === 'recovering' && olderWord) return w(undefined, 'held', waitWord);
    return w(true, 'held', me.phase === 'recovering' ? `held here before the restart; ${peer} does not hold it` : `${peer} does not hold it`);
  }
  if (me.phase === 'failed') return w(false, 'start-failed', `it failed to start here${me.lastError ? ` (${me.lastError})` : ''}`);
  if (report?.status === 'dead') return w(true, 'peer-leaving', `${peer} is shutting down and let go of it`);   // the peer is leaving and has let go of it
  const wait = startWait(s, spec, 'preferred');
  if (wait) return wait;
  if (preferred) return w(true, 'preferred', `preferred node, ${peer} agreed`);
  if (handed && !iHand) return w(true, 'handover', `${peer} hands it to this node (standby/takeover)`);
  return peerFailed
    ? w(true, 'peer-failed', `it failed to start on ${peer}`)
    : w(false, 'peer-holds', `${spec.preferredNode} is its preferred node`);
}

/**
 * Starting a group on the peer's word that it does not hold needs a word
 * the peer wrote after hearing this incarnation: an older report may
 * predate a takeover the peer made while it thought we were gone (e.g. we
 * stopped and restarted quickly, or were fenced and rebooted while a slow
 * path still delivers its old reports), and both would start the group.
 */
function reportPredatesUs(s: ResourcesState): boolean {
  const heard = s.peer.report?.hearsGeneration;
  return heard !== undefined && s.cfg.generation !== undefined && heard !== s.cfg.generation;
}

/**
 * Why this node may not start an unheld group on the peer's newest report
 * yet, whatever else wants it here (the resource rules, or quorum's ipfail):
 * we dropped it in a message the peer had not read when it wrote the report
 * (it may be taking it now), or the report predates this incarnation.
 */
function startWait(s: ResourcesState, spec: GroupSpec, olderCode: ReasonCode): Want | undefined {
  const peer = s.cfg.peer ?? 'the peer';
  if (s.peer.report?.unheardDrops?.includes(spec.name)) return w(undefined, 'peer-holds', `waiting for ${peer} to read that this node released it`);
  if (reportPredatesUs(s)) return w(undefined, olderCode, `waiting for a report ${peer} wrote after hearing this node`);
  return undefined;
}

/** This node hands the group to its peer (standby here, or takeover there). */
export function handingOver(s: ResourcesState, group: string): boolean {
  return s.standby?.includes(group) ?? false;
}

/**
 * The peer hands the group to this node: its report lists it in tg_standby,
 * or, from a peer that does not send tg_standby (Heartbeat), it said it has
 * released it for us.
 */
export function peerHandsOver(s: ResourcesState, group: string): boolean {
  if (s.peer.liveness !== 'up') return false;
  const listed = s.peer.report?.standby;
  if (listed !== undefined) return listed.includes(group);
  return s.fromPeer?.includes(group) ?? false;
}

/** The groups of `which` seen from `releaser` (local: preferred on that node; foreign: on the other). */
export function groupsOf(s: ResourcesState, which: 'all' | 'local' | 'foreign', releaser: string): string[] {
  return s.cfg.groups
    .filter((g) => !s.groups[g.name]!.retire)
    .filter((g) => which === 'all' || (which === 'local') === (g.preferredNode === releaser))
    .map((g) => g.name);
}

/**
 * What `tandem cleanup GROUP` may do now: refused (unknown group, or not
 * failed), clear at once (failed), or first ask the resources' status
 * operations (stop-failed: its resources may still run here).
 */
export function cleanupCheck(s: ResourcesState, group: string): { error: string } | { probe: boolean } {
  const g = s.groups[group];
  if (!g) {
    const known = s.cfg.groups.map((x) => x.name);
    return { error: `no group ${JSON.stringify(group)}; known groups: ${known.length ? known.join(', ') : 'none'}` };
  }
  if (g.busy && g.phase !== 'stop-failed') return { error: `group ${group} is ${g.phase} (an operation is running); nothing to clean up` };
  if (g.phase === 'failed') return { probe: false };
  if (g.phase === 'stop-failed') return { probe: true };
  if (failCount(g) > 0) return { probe: false };   // only its fail counts are cleared
  return { error: `group ${group} is ${g.phase}, not failed, and no resource has a failure counted; nothing to clean up` };
}

/**
 * Like Pacemaker's crm_resource --cleanup: forget the failure and let the
 * rules place the group again. A failed group (its start failed and was
 * unwound) becomes stopped. A stop-failed one goes by what its status
 * operations found: all stopped -> stopped and released; anything running
 * -> recovering with leftovers, exactly like a group held before a restart:
 * it is started again (idempotent) if this node should hold it, or stopped
 * right to left, every resource, if not.
 */
function cleanup(s: ResourcesState, ev: Extract<ResourcesEvent, { kind: 'cleanup' }>, now: number, out: ResourcesAction[]): void {
  const g = s.groups[ev.group];
  if (!g) return;
  const reason = 'cleaned up by the operator';
  // Like crm_resource --cleanup: the fail counts go with the failure.
  for (const m of Object.values(g.mon ?? {})) m.failures = [];
  if (g.phase === 'failed' && !g.busy) {
    g.lastError = undefined;
    g.failAfterStop = false;
    g.retryAt = undefined;
    setPhase(g, 'stopped', now, out, ev.group, { code: 'cleanup', reason });
    return;
  }
  if (g.phase !== 'stop-failed' || ev.probe === undefined) return;
  g.busy = false;
  g.stopAttempts = 0;
  g.retryAt = undefined;
  g.lastError = undefined;
  g.failAfterStop = false;
  if (ev.probe === 'stopped') {
    g.leftovers = false;
    g.next = 0;
    setPhase(g, 'stopped', now, out, ev.group, { code: 'cleanup', reason: `${reason}: every resource reports stopped` });
    out.push({ kind: 'persist-hold', group: ev.group, held: false });
    return;
  }
  g.leftovers = true;
  g.next = 0;
  setPhase(g, 'recovering', now, out, ev.group, { code: 'cleanup', reason: `${reason}: a resource still reports running` });
}

function union(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])].sort();
}
function minus(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return (a ?? []).filter((x) => !b.includes(x));
}

/** wantsGroup adjusted by the group's quorum decision (applyDecision in quorum/decide.ts). */
export function wantsWithQuorum(s: ResourcesState, spec: GroupSpec, d: GroupDecision | undefined): boolean | undefined {
  return decideWithQuorum(s, spec, d).want;
}

/** decideWant adjusted by quorum; when quorum changes the answer, quorum's reason is the reason. */
export function decideWithQuorum(s: ResourcesState, spec: GroupSpec, d: GroupDecision | undefined): Want {
  const normal = decideWant(s, spec);
  if (s.stopping || !d) return normal;   // a shutdown releases everything, whatever quorum says
  const me = s.groups[spec.name]!;
  const peerHeard = s.peer.liveness === 'up';
  const want = applyDecision(normal.want, d, {
    iHold: HELD.has(me.phase), peerHeard,
    peerHolds: peerHeard && (s.peer.report?.hold.includes(spec.name) ?? false),
    failedHere: me.phase === 'failed', recovering: me.phase === 'recovering',
  });
  if (want === normal.want) return normal;
  // Quorum may let this node take a group the resource rules would leave to
  // the peer (ipfail: this node reaches more), but not past the start rules:
  // an operator's hand-over comes first in those rules, and a drop the peer
  // has not read yet means it may be starting the group right now
  // (simulator seed 55836: standby handed g1 over, ipfail took it back
  // while the peer started it).
  if (want === true && !HELD.has(me.phase) && peerHeard) {
    const wait = startWait(s, spec, 'peer-holds');
    if (wait) return wait;
  }
  return w(want, `quorum-${d.code}`, `quorum: ${d.reason}`);
}

function reconfigure(s: ResourcesState, ev: Extract<ResourcesEvent, { kind: 'reconfigure' }>, now: number): void {
  const next = new Map(ev.groups.map((g) => [g.name, g]));
  const replace = new Set(ev.replace);
  const groups: GroupSpec[] = [];
  s.pending ??= {};
  for (const spec of s.cfg.groups) {
    const g = s.groups[spec.name]!;
    const n = next.get(spec.name);
    if (!n) {
      g.retire = 'remove';
      delete s.pending[spec.name];
      groups.push(spec);   // kept until released: its stop walk needs its resource count
    } else if (replace.has(spec.name) || g.retire) {
      // Changed now, or removed by an earlier reload and back before its
      // release finished: either way released first, then the new one.
      g.retire = 'replace';
      s.pending[spec.name] = n;
      groups.push(spec);
    } else {
      groups.push(n);   // unchanged, or only its preferred node differs: its state stays as it is
    }
  }
  for (const n of ev.groups) {
    if (s.groups[n.name]) continue;
    s.groups[n.name] = { phase: 'stopped', next: 0, busy: false, stopAttempts: 0, failAfterStop: false, since: now, leftovers: false, holdFailures: 0 };
    groups.push(n);
  }
  s.cfg = { ...s.cfg, groups, autoFailback: ev.autoFailback };
}

/** Finishes a reload for every retiring group whose release is done. */
function retire(s: ResourcesState, now: number, out: ResourcesAction[]): void {
  for (const spec of [...s.cfg.groups]) {
    const g = s.groups[spec.name]!;
    if (!g.retire || g.busy || (g.phase !== 'stopped' && g.phase !== 'failed')) continue;
    const replaced = g.retire === 'replace';
    const n = s.pending?.[spec.name];
    if (s.pending) delete s.pending[spec.name];
    if (replaced && n) {
      // A new definition gets a fresh start: an earlier failure was the old one's.
      s.groups[spec.name] = { phase: 'stopped', next: 0, busy: false, stopAttempts: 0, failAfterStop: false, since: now, leftovers: false, holdFailures: 0 };
      s.cfg = { ...s.cfg, groups: s.cfg.groups.map((x) => (x.name === spec.name ? n : x)) };
      out.push({ kind: 'group-retired', group: spec.name, replaced: true });
      drive(s, n, now, out);
    } else {
      delete s.groups[spec.name];
      s.cfg = { ...s.cfg, groups: s.cfg.groups.filter((x) => x.name !== spec.name) };
      // A hand-over of a group that is gone must not apply to a later one of the same name.
      if (s.standby) s.standby = minus(s.standby, [spec.name]);
      if (s.fromPeer) s.fromPeer = minus(s.fromPeer, [spec.name]);
      out.push({ kind: 'group-retired', group: spec.name, replaced: false });
    }
  }
}

function drive(s: ResourcesState, spec: GroupSpec, now: number, out: ResourcesAction[]): void {
  const g = s.groups[spec.name]!;
  if (g.busy) return;
  if (g.retryAt !== undefined && now < g.retryAt) return;
  g.retryAt = undefined;
  // A reload takes it away: release it whatever else holds.
  const why: Want = g.retire
    ? w(false, 'reload', g.retire === 'remove' ? 'removed from haresources by a reload' : 'its resources changed in a reload: released, then started again by the usual rules')
    : s.quorum ? decideWithQuorum(s, spec, s.quorum[spec.name]) : decideWant(s, spec);
  const want = why.want;
  if (want === undefined) return;
  const n = spec.resourceCount;
  switch (g.phase) {
    case 'stopped':
    case 'failed':
      if (want) {
        g.startedFrom = g.phase;
        setPhase(g, 'starting', now, out, spec.name, why);
        g.next = 0;
        out.push({ kind: 'persist-hold', group: spec.name, held: true });
        issue(g, spec.name, 'start', out);
      }
      return;
    case 'recovering':
      // Starting is idempotent per resource, so re-running the whole start
      // sequence confirms what survived the crash and repairs the rest.
      if (want) {
        setPhase(g, 'starting', now, out, spec.name, { code: why.code, reason: `resuming after restart: ${why.reason}` });
        g.next = 0;
        issue(g, spec.name, 'start', out);
      } else {
        setPhase(g, 'stopping', now, out, spec.name, { code: why.code, reason: `clearing what the last run left: ${why.reason}` });
        g.next = n - 1;
        issue(g, spec.name, 'stop', out);
      }
      return;
    case 'starting':
      if (!want) {
        setPhase(g, 'stopping', now, out, spec.name, why);
        g.next = g.leftovers ? n - 1 : g.next - 1;
        if (g.next < 0) return finishStop(g, spec.name, now, out);
        issue(g, spec.name, 'stop', out);
        return;
      }
      if (g.next >= n) {
        setPhase(g, 'running', now, out, spec.name, done(g, 'all resources started'));
        g.leftovers = false;
        driveMonitors(g, spec, now, out);
        return;
      }
      issue(g, spec.name, 'start', out);
      return;
    case 'running':
      if (!want) {
        setPhase(g, 'stopping', now, out, spec.name, why);
        g.next = n - 1;
        issue(g, spec.name, 'stop', out);
        return;
      }
      driveMonitors(g, spec, now, out);
      return;
    case 'restarting': {
      const from = g.restartFrom ?? 0;
      if (!want) {
        // Released mid-restart: everything still up is stopped, right to left.
        const top = g.restartDir === 'stop' ? g.next : g.next - 1;
        g.restartFrom = undefined;
        g.restartDir = undefined;
        setPhase(g, 'stopping', now, out, spec.name, why);
        g.next = top;
        if (g.next < 0) return finishStop(g, spec.name, now, out);
        issue(g, spec.name, 'stop', out);
        return;
      }
      if (g.restartDir === 'stop') {
        if (g.next >= from) {
          issue(g, spec.name, 'stop', out);
          return;
        }
        g.restartDir = 'start';
        g.next = from;
      }
      if (g.next >= n) {
        g.restartFrom = undefined;
        g.restartDir = undefined;
        setPhase(g, 'running', now, out, spec.name, { code: 'monitor-failed', reason: `resource ${from + 1} restarted in place after a monitor failure` });
        driveMonitors(g, spec, now, out);
        return;
      }
      issue(g, spec.name, 'start', out);
      return;
    }
    case 'stopping':
      if (g.next < 0) return finishStop(g, spec.name, now, out);
      issue(g, spec.name, 'stop', out);
      return;
    case 'stop-failed':
      return;   // needs an operator: running it here and there at once is worse than not at all
  }
}

/**
 * Durable intent before action, or no action: a start whose hold could not
 * be written goes back to where it came from (so it is no longer reported
 * held) and is tried again after stopRetryDelayMs.
 */
function onHoldFailed(s: ResourcesState, ev: Extract<ResourcesEvent, { kind: 'hold-failed' }>, now: number, out: ResourcesAction[]): void {
  const g = s.groups[ev.group];
  if (!g) return;
  if (!ev.held) {
    // The safe direction: the store still says held, so a restart clears the group as possibly running here.
    out.push({ kind: 'alert', group: ev.group, message: `its release could not be recorded (${ev.error}); after a restart this node treats it as possibly running here` });
    return;
  }
  // Only the start issued with the write is waiting; anything else is not about this write.
  if (g.phase !== 'starting' || !g.busy || g.next !== 0) return;
  g.busy = false;
  g.holdFailures += 1;
  g.lastError = ev.error;
  setPhase(g, g.startedFrom ?? 'stopped', now, out, ev.group, { code: 'hold-failed', reason: `not started: the hold could not be recorded (${ev.error})` });
  g.retryAt = now + s.cfg.stopRetryDelayMs;
  if (g.holdFailures === 1) {
    out.push({ kind: 'alert', group: ev.group, message: `not started: the hold could not be recorded durably (${ev.error}); trying again every ${s.cfg.stopRetryDelayMs} ms` });
  }
}

function onOpDone(s: ResourcesState, ev: Extract<ResourcesEvent, { kind: 'op-done' }>, now: number, out: ResourcesAction[]): void {
  const g = s.groups[ev.group];
  if (!g || !g.busy) return;
  g.busy = false;
  // The op ran, so the hold written before it is durable.
  if (ev.op === 'start' && ev.index === 0) g.holdFailures = 0;
  if (ev.op === 'start') {
    if (ev.ok) {
      g.next = ev.index + 1;
      return;
    }
    g.lastError = ev.error ?? 'start failed';
    g.restartFrom = undefined;
    g.restartDir = undefined;
    out.push({ kind: 'alert', group: ev.group, message: `resource ${ev.index + 1} failed to start: ${g.lastError}` });
    // Unwind, including the resource that failed: it may be half up.
    setPhase(g, 'stopping', now, out, ev.group, { code: 'start-failed', reason: `resource ${ev.index + 1} failed to start: ${g.lastError}` });
    g.failAfterStop = true;
    const count = s.cfg.groups.find((x) => x.name === ev.group)?.resourceCount ?? ev.index + 1;
    g.next = g.leftovers ? count - 1 : ev.index;
    return;
  }
  if (ev.ok) {
    g.stopAttempts = 0;
    g.next = ev.index - 1;
    return;
  }
  g.stopAttempts += 1;
  g.lastError = ev.error ?? 'stop failed';
  if (g.stopAttempts > s.cfg.stopRetries) {
    setPhase(g, 'stop-failed', now, out, ev.group, { code: 'stop-failed', reason: `resource ${ev.index + 1} could not be stopped: ${g.lastError}` });
    out.push({
      kind: 'alert', group: ev.group,
      message: `resource ${ev.index + 1} could not be stopped after ${g.stopAttempts} attempts: ${g.lastError}; ` + (s.cfg.fencing
        ? `this node cannot prove it down: ${s.cfg.peer ?? 'the peer'} fences this node before it starts the group`
        : `this node cannot prove it down and no fencing is configured (ha.cf stonith_host), so ${s.cfg.peer ?? 'the peer'} may not start it either: the group is BLOCKED until an operator stops it by hand and runs tandem cleanup`),
    });
    return;
  }
  g.retryAt = now + s.cfg.stopRetryDelayMs;
}

function finishStop(g: GroupState, name: string, now: number, out: ResourcesAction[]): void {
  const failed = g.failAfterStop;
  g.failAfterStop = false;
  g.leftovers = false;
  g.next = 0;
  setPhase(g, failed ? 'failed' : 'stopped', now, out, name, done(g, failed ? 'stopped after a failed start' : 'all resources stopped'));
  out.push({ kind: 'persist-hold', group: name, held: false });
}

function issue(g: GroupState, group: string, op: 'start' | 'stop', out: ResourcesAction[]): void {
  g.busy = true;
  out.push({ kind: 'op', group, op, index: g.next });
}

/** A walk's end: the reason says what finished; the cause (and its code) stays the decision that began it. */
interface Done { code: ReasonCode; reason: string; done: true }
function done(g: GroupState, reason: string): Done {
  return { code: g.cause?.code ?? 'done', reason, done: true };
}

/**
 * The transition and its cause go out together (group-phase): the daemon
 * journals and counts them, status shows g.cause. A walk's end keeps the
 * cause that began it.
 */
function setPhase(g: GroupState, phase: GroupPhase, now: number, out: ResourcesAction[], group: string, why: { code: ReasonCode; reason: string; done?: true }): void {
  if (g.phase === phase) return;
  if (g.phase === 'running') stopMonitors(g);
  if (phase !== 'restarting') {
    g.restartFrom = undefined;
    g.restartDir = undefined;
  }
  g.phase = phase;
  g.since = now;
  if (!why.done || !g.cause) g.cause = { at: now, phase, code: why.code, reason: why.reason };
  out.push({ kind: 'group-phase', group, phase, reason: why.reason, code: why.code });
}
