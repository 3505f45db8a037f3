// `tandem status --json`: a stable, documented shape (docs/status.md; the
// per-path fields in docs/paths.md). Bump STATUS_VERSION on any incompatible
// change; added fields are compatible.

import type { LatencySummary } from '../util/histogram.js';
import type { Scheduling } from './realtime.js';
import type { Config } from '../config/types.js';
import { readEngine, type EngineHandle, type EngineView, type FencingView, type GroupView, type QuorumView } from '../node/view.js';
import type { FenceRecord } from '../fencing/history.js';
import type { JournalEntry } from '../state/store.js';
import type { PathReport } from './paths.js';
import type { TargetStats } from '../ping/tracker.js';
import { groupLabel } from '../config/haresources.js';
import type { AuthDiagView } from './authdiag.js';
import type { VrrpView } from '../vrrp/runtime.js';

export const STATUS_VERSION = 1;

export interface DropCounts {
  auth: number;       // failed authentication (wrong key, forged, unknown key index)
  malformed: number;  // not Heartbeat framing, truncated, bad fields
  ignored: number;    // authentic but of a message type tandem does not act on
  own: number;        // our own broadcasts/multicasts coming back
  spoofed: number;    // authentic, claiming to come from this node, but not from our addresses
  filtered: number;   // from a sender that is not the peer, over its budget: not decoded (transport/gate.ts)
}

export interface StatusInput {
  /** Read only through its view (node/view.ts). */
  engine: EngineHandle;
  config: Config;
  node: string;
  peer: string;
  generation: number;
  now: number;
  startedWall: number;
  drops: DropCounts;
  sent: number;
  received: number;
  journal: JournalEntry[];
  /** Per-path rate, loss, latency and device detail from the PathMonitor, by path name. */
  pathStats?: Record<string, PathReport>;
  /** The newest fencing history records, oldest first (when fencing is configured). */
  fenceHistory?: FenceRecord[];
  /** Per ping target figures from the pinger (when ping nodes are configured). */
  ping?: TargetStats[];
  /** Where the arbiter is, for display (when one is configured). */
  arbiter?: string;
  /** The send key's fingerprint and the "authkeys differ?" diagnosis (daemon/authdiag.ts). */
  auth?: { sendIndex: number; fingerprint: string; insecureAllowed: boolean; diagnosis: AuthDiagView };
  /** The heartbeat thread's scheduling as applied at start. */
  scheduling?: Scheduling;
  /** How late the timer that sends and judges heartbeats ran after its deadline, since start. */
  sendLateness?: LatencySummary;
  /** Node's event-loop delay (perf_hooks.monitorEventLoopDelay), since start. */
  eventLoopDelay?: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Datagrams tandem's arbiter client dropped: not an authentic answer to one of its requests. */
  arbiterDrops?: { auth: number; malformed: number; unmatched: number };
  vrrp?: { file: string } & VrrpView;
}

/** One heartbeat path as reported: the membership view plus, when known, the PathMonitor's figures. */
export type PathEntry = {
  name: string;
  peer: string;
  state: 'up' | 'down';
  lastHeardMsAgo: number | null;
  accepted: number;
  stale: number;
} & Partial<PathReport>;

const ago = (now: number, t: number | undefined) => (t === undefined ? null : Math.max(0, Math.round(now - t)));
/** An age from a view (unrounded ms) as status shows it: whole ms, never negative. */
const ms = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.max(0, Math.round(v)));

export function buildStatusReport(i: StatusInput) {
  const { now } = i;
  const v = readEngine(i.engine, now);
  const peer = v.membership.peer;
  const myHold = [...v.resources.held];
  const peerHold = [...v.peerHolds];
  const localState = v.localState;
  return {
    version: STATUS_VERSION,
    node: i.node,
    cluster: i.config.hacf.cluster,
    generation: i.generation,
    startedAt: new Date(i.startedWall).toISOString(),
    timing: {
      keepaliveMs: i.config.hacf.keepaliveMs, warntimeMs: i.config.hacf.warntimeMs,
      deadtimeMs: i.config.hacf.deadtimeMs, initdeadMs: i.config.hacf.initdeadMs,
      autoFailback: i.config.hacf.autoFailback,
      // Heartbeat's realtime/rtprio as applied (daemon/realtime.ts); refused: why `realtime on` did not take.
      scheduling: i.scheduling ? {
        policy: i.scheduling.policy, refused: i.scheduling.refused ?? null,
        memoryLock: i.scheduling.memoryLock ? { ...i.scheduling.memoryLock, refused: i.scheduling.memoryLock.refused ?? null } : null,
      } : null,
      sendLateness: i.sendLateness ?? null,
      eventLoopDelay: i.eventLoopDelay ?? null,
    },
    nodes: [
      { name: i.node, self: true, state: localState, generation: i.generation, lastHeardMsAgo: 0, holds: myHold },
      {
        name: i.peer, self: false,
        state: peer.liveness,                       // unknown | up | dead
        reportedStatus: peer.report?.status ?? null, // what the peer said of itself
        generation: peer.generation ?? null,
        lastHeardMsAgo: ms(peer.lastHeardMsAgo),
        holds: peerHold,
      },
    ],
    paths: v.membership.paths.map((p): PathEntry => ({
      name: p.name, peer: i.peer, state: p.up ? 'up' : 'down',
      lastHeardMsAgo: ms(p.lastHeardMsAgo), accepted: p.accepted, stale: p.stale,
      ...(i.pathStats?.[p.name] ?? {}),
    })),
    groups: i.config.groups.map((g) => {
      const gs = v.resources.groups[g.name]!;
      const mine = myHold.includes(g.name);
      const theirs = peerHold.includes(g.name);
      return {
        name: g.name,
        label: groupLabel(g.name),
        preferredNode: g.preferredNode,
        resources: g.resources.map((r) => r.spec),
        holder: mine && theirs ? 'both' : mine ? i.node : theirs ? i.peer : null,
        local: { phase: gs.phase, sinceMsAgo: ms(gs.sinceMsAgo), lastError: gs.lastError },
        // Monitored resources here: the newest check, failures counted (of migration-threshold), the next check.
        monitors: gs.monitors.map((m) => ({
          resource: g.resources[m.index]?.spec ?? `#${m.index + 1}`,
          intervalMs: m.intervalMs, timeoutMs: m.timeoutMs,
          last: m.last ? { result: m.last.result, detail: m.last.detail, msAgo: ms(m.last.msAgo) } : null,
          failCount: m.failCount, migrationThreshold: m.migrationThreshold,
          nextCheckInMs: m.nextCheckInMs === null ? null : ms(m.nextCheckInMs),
          checking: m.checking,
        })),
        // An operator's standby/takeover in force (docs/operations.md): until the opposite command or a restart/death of either node.
        handover: gs.handover === 'to-peer' ? `to ${i.peer}` : gs.handover === 'from-peer' ? `from ${i.peer}` : null,
        ...whyHeld(gs, mine, theirs, i.node, i.peer),
      };
    }),
    counters: {
      sent: i.sent, received: i.received,
      dropped: { ...i.drops, replay: v.membership.drops.replay, foreign: v.membership.drops.foreign, jump: v.membership.drops.jump, unconfirmed: v.membership.drops.unconfirmed },
    },
    auth: i.auth ? {
      sendIndex: i.auth.sendIndex, fingerprint: i.auth.fingerprint, insecureAllowed: i.auth.insecureAllowed,
      mismatch: i.auth.diagnosis.suspected
        ? { packets: i.auth.diagnosis.packets, sources: i.auth.diagnosis.sources, windowMs: i.auth.diagnosis.windowMs, message: i.auth.diagnosis.message }
        : null,
    } : null,
    recentEvents: i.journal,
    fencing: v.fencing ? fencingReport(v, v.fencing, i.fenceHistory ?? []) : null,
    quorum: v.quorum ? quorumReport(v, v.quorum, i, now) : null,
    /** `run -c DIR -f FILE`: the keepalived.conf's VRRP instances and sync groups; null without -f. */
    vrrp: i.vrrp ?? null,
  };
}

/**
 * Who holds the group since when, and the last transition seen here with the
 * reason the machine gave for it (GroupState.cause): status only picks the
 * verb, the reason is the decision's own.
 */
function whyHeld(gs: GroupView, mine: boolean, theirs: boolean, node: string, peer: string) {
  const c = gs.cause;
  const peerSince = theirs ? gs.peerSinceMsAgo ?? undefined : undefined;
  const holderSince = mine && c ? c.msAgo : theirs ? peerSince : c?.msAgo;
  let change: string | null = null;
  let by: string | null = c ? node : null;
  let at = c?.msAgo;
  if (c) {
    const starting = c.phase === 'starting' || c.phase === 'running' || c.phase === 'recovering';
    if (starting) change = c.takeover ? 'moved-here' : 'started';
    else if (c.phase === 'failed' || c.phase === 'stop-failed') change = c.phase;
    else if (theirs && !mine) {
      // Released here and the peer now holds it: it moved, for the reason this node let go.
      change = 'moved-to-peer';
      at = peerSince ?? c.msAgo;
    } else change = c.phase === 'stopping' && mine ? 'stopping' : 'stopped';
  } else if (theirs && !mine) {
    change = 'held-by-peer';   // the peer started it; its reason is in the peer's status and journal
    by = peer;
    at = peerSince;
  }
  return {
    holderSinceMsAgo: mine || theirs ? ms(holderSince) : null,
    /** The last transition: change is started | moved-here | moved-to-peer | held-by-peer | stopping | stopped | failed | stop-failed. */
    transition: change === null ? null : {
      change, node: by, msAgo: ms(at), phase: c?.phase ?? null,
      code: change === 'held-by-peer' ? null : c?.code ?? null,
      reason: change === 'held-by-peer' ? null : c?.reason ?? null,
    },
  };
}

/**
 * Does this node have quorum, and why. Yes while it hears its peer both ways;
 * otherwise, with an arbiter, while it holds at least one lease; without one,
 * unless none of its ping targets answers.
 */
function quorumVerdict(v: EngineView, q: QuorumView): { quorum: boolean; why: string } {
  const peer = q.peer;
  const liveness = v.membership.peer.liveness;
  if (!q.decided || liveness === 'unknown') return { quorum: false, why: `${peer} not heard yet (start-up)` };
  if (q.mutual) return { quorum: true, why: `hearing ${peer} both ways` };
  const oneWay = liveness === 'up' ? `${peer} reports it does not hear this node` : `${peer} not heard`;
  if (q.arbiter !== 'none') {
    const held = q.leasesHeld;
    if (held.length) return { quorum: true, why: `${oneWay}; lease held for ${held.join(', ')}` };
    return { quorum: false, why: `${oneWay} and no lease from the ${q.arbiter === 'etcd' ? 'etcd' : 'arbiter'}` };
  }
  if (q.reach && q.reach.total > 0 && q.reach.up === 0) return { quorum: false, why: `${oneWay} and none of ${q.reach.total} ping targets answers` };
  return { quorum: true, why: `${oneWay}; no arbiter: Heartbeat rules` };
}

function quorumReport(v: EngineView, q: QuorumView, i: StatusInput, now: number) {
  const verdict = quorumVerdict(v, q);
  const report = v.membership.peer.report;
  const r1 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    quorum: verdict.quorum,
    why: verdict.why,
    summary: q.summary,
    mutual: q.mutual,
    connectivity: q.connectivity,                            // unknown | equal | better | worse (than the peer)
    reach: q.reach ? { ...q.reach } : null,                  // { up, total } ping targets reachable here
    peerReach: report?.reach ? { ...report.reach } : null,   // as the peer last reported it (tg_ping)
    peerHearsMe: report?.hearsMe ?? null,                    // tg_hears
    ipfail: { ...q.ipfail },
    arbiter: q.arbiter === 'none' ? null : {
      kind: q.arbiter, target: i.arbiter ?? null, takeoverDelayMs: q.takeoverDelayMs, graceMs: q.graceMs,
      dropped: i.arbiterDrops ? { ...i.arbiterDrops } : null,   // null for etcd
    },
    ping: (i.ping ?? []).map((t) => ({
      name: t.name, status: t.status, sinceMsAgo: ago(now, t.since),
      addrs: t.addrs.map((a) => ({
        addr: a.addr, status: a.status, sent: a.sent, received: a.received, lost: a.lost,
        lossPct: r1(a.lossPct), rttMs: { last: r1(a.rttMs.last), min: r1(a.rttMs.min), avg: r1(a.rttMs.avg), max: r1(a.rttMs.max) },
      })),
    })),
    groups: q.groups.map((g) => ({
      name: g.name,
      label: groupLabel(g.name),
      hold: g.hold, take: g.take, code: g.code, reason: g.reason,
      lease: g.lease === null ? null : {
        status: g.lease.status,                              // idle | requesting | held | denied
        reason: g.lease.reason,
        holder: g.lease.holder,
        heldForMs: ms(g.lease.heldForMs),
        validForMs: ms(g.lease.validForMs),
      },
    })),
  };
}

/** Why the takeover of the dead peer's groups is held back, in the operator's words. */
function waitReason(f: FencingView): string {
  const inMs = (t: number | null) => (t === null ? '' : ` in ${ms(t)} ms`);
  switch (f.phase) {
    case 'blocked': return `fence_wait_for_all: ${f.peer} has not been heard since this node started; confirm it is off or unblock start-up`;
    case 'delayed': return `fence_delay: fencing ${f.peer}${inMs(f.nextFenceInMs)} (${f.reason})`;
    case 'fencing': return `fencing ${f.peer} through ${f.device ?? 'a device'}`;
    case 'backoff': return `fencing ${f.peer} failed ${f.failedRounds} round(s); next round${inMs(f.nextFenceInMs)}`;
    default: return f.reason || f.phase;
  }
}

function fencingReport(v: EngineView, f: FencingView, history: FenceRecord[]) {
  const waiting = v.waitingOnFencing;
  const wallNow = Date.now();
  return {
    peer: f.peer,
    phase: f.phase,                  // idle | blocked | delayed | fencing | backoff | fenced | released
    waiting,                          // the peer is dead, and its groups are not taken over until it is fenced
    waitingReason: waiting ? waitReason(f) : null,
    failedRounds: f.failedRounds,
    fenceDelayMs: f.fenceDelayMs,
    devices: f.devices.map((d) => {
      const c = d.lastCheck;
      return {
        device: d.device,
        lastCheck: c === null ? null : {
          at: new Date(wallNow - c.msAgo).toISOString(),
          msAgo: ms(c.msAgo)!,
          ok: c.ok,
          error: c.error,
        },
      };
    }),
    history: history.slice(-10),
  };
}

export type StatusReport = ReturnType<typeof buildStatusReport>;
