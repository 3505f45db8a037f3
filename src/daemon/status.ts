// `tandem status --json`: a stable, documented shape (docs/status.md; the
// per-path fields in docs/paths.md). Bump STATUS_VERSION on any incompatible
// change; added fields are compatible.

import type { Scheduling } from './realtime.js';
import type { Config } from '../config/types.js';
import { waitingOnFencing, type EngineState } from '../node/engine.js';
import type { FenceRecord } from '../fencing/history.js';
import type { FencingState } from '../fencing/policy.js';
import { handingOver, heldGroups, isTakeover, peerHandsOver, type GroupState } from '../resources/machine.js';
import type { JournalEntry } from '../state/store.js';
import type { PathReport } from './paths.js';
import type { TargetStats } from '../ping/tracker.js';
import type { EngineQuorum } from '../node/engine.js';
import { groupLabel } from '../config/haresources.js';
import type { AuthDiagView } from './authdiag.js';

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
  engine: EngineState;
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
  /** Datagrams tandem's arbiter client dropped: not an authentic answer to one of its requests. */
  arbiterDrops?: { auth: number; malformed: number; unmatched: number };
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

export function buildStatusReport(i: StatusInput) {
  const { engine: e, now } = i;
  const peer = e.m.peer;
  const myHold = heldGroups(e.r);
  const peerHold = peer.liveness === 'up' ? peer.report?.hold ?? [] : [];
  const localState = peer.liveness === 'unknown' ? 'init' : e.r.stopping ? 'stopping' : 'active';
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
      scheduling: i.scheduling ? { policy: i.scheduling.policy, refused: i.scheduling.refused ?? null } : null,
    },
    nodes: [
      { name: i.node, self: true, state: localState, generation: i.generation, lastHeardMsAgo: 0, holds: myHold },
      {
        name: i.peer, self: false,
        state: peer.liveness,                       // unknown | up | dead
        reportedStatus: peer.report?.status ?? null, // what the peer said of itself
        generation: peer.generation ?? null,
        lastHeardMsAgo: ago(now, peer.lastHeard),
        holds: peerHold,
      },
    ],
    paths: Object.entries(e.m.paths).map(([name, p]): PathEntry => ({
      name, peer: i.peer, state: p.up ? 'up' : 'down',
      lastHeardMsAgo: ago(now, p.lastHeard), accepted: p.accepted, stale: p.stale,
      ...(i.pathStats?.[name] ?? {}),
    })),
    groups: i.config.groups.map((g) => {
      const gs = e.r.groups[g.name]!;
      const mine = myHold.includes(g.name);
      const theirs = peerHold.includes(g.name);
      return {
        name: g.name,
        label: groupLabel(g.name),
        preferredNode: g.preferredNode,
        resources: g.resources.map((r) => r.spec),
        holder: mine && theirs ? 'both' : mine ? i.node : theirs ? i.peer : null,
        local: { phase: gs.phase, sinceMsAgo: ago(now, gs.since), lastError: gs.lastError ?? null },
        // An operator's standby/takeover in force (docs/operations.md): until the opposite command or a restart/death of either node.
        handover: handingOver(e.r, g.name) ? `to ${i.peer}` : peerHandsOver(e.r, g.name) ? `from ${i.peer}` : null,
        ...whyHeld(gs, mine, theirs, i.node, i.peer, now),
      };
    }),
    counters: {
      sent: i.sent, received: i.received,
      dropped: { ...i.drops, replay: e.m.drops.replay, foreign: e.m.drops.foreign, jump: e.m.drops.jump, unconfirmed: e.m.drops.unconfirmed },
    },
    auth: i.auth ? {
      sendIndex: i.auth.sendIndex, fingerprint: i.auth.fingerprint, insecureAllowed: i.auth.insecureAllowed,
      mismatch: i.auth.diagnosis.suspected
        ? { packets: i.auth.diagnosis.packets, sources: i.auth.diagnosis.sources, windowMs: i.auth.diagnosis.windowMs, message: i.auth.diagnosis.message }
        : null,
    } : null,
    recentEvents: i.journal,
    fencing: e.f ? fencingReport(e, e.f, now, i.fenceHistory ?? []) : null,
    quorum: e.q ? quorumReport(e, e.q, i, now) : null,
  };
}

/**
 * Who holds the group since when, and the last transition seen here with the
 * reason the machine gave for it (GroupState.cause): status only picks the
 * verb, the reason is the decision's own.
 */
function whyHeld(gs: GroupState, mine: boolean, theirs: boolean, node: string, peer: string, now: number) {
  const c = gs.cause;
  const peerSince = theirs ? gs.peerSince : undefined;
  const holderSince = mine && c ? c.at : theirs ? peerSince : c?.at;
  let change: string | null = null;
  let by: string | null = c ? node : null;
  let at = c?.at;
  if (c) {
    const starting = c.phase === 'starting' || c.phase === 'running' || c.phase === 'recovering';
    if (starting) change = isTakeover(c.code) ? 'moved-here' : 'started';
    else if (c.phase === 'failed' || c.phase === 'stop-failed') change = c.phase;
    else if (theirs && !mine) {
      // Released here and the peer now holds it: it moved, for the reason this node let go.
      change = 'moved-to-peer';
      at = peerSince ?? c.at;
    } else change = c.phase === 'stopping' && mine ? 'stopping' : 'stopped';
  } else if (theirs && !mine) {
    change = 'held-by-peer';   // the peer started it; its reason is in the peer's status and journal
    by = peer;
    at = peerSince;
  }
  return {
    holderSinceMsAgo: mine || theirs ? ago(now, holderSince) : null,
    /** The last transition: change is started | moved-here | moved-to-peer | held-by-peer | stopping | stopped | failed | stop-failed. */
    transition: change === null ? null : {
      change, node: by, msAgo: ago(now, at), phase: c?.phase ?? null,
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
function quorumVerdict(e: EngineState, q: EngineQuorum): { quorum: boolean; why: string } {
  const d = q.decision;
  const peer = q.state.cfg.peer;
  if (!d || e.m.peer.liveness === 'unknown') return { quorum: false, why: `${peer} not heard yet (start-up)` };
  if (d.mutual) return { quorum: true, why: `hearing ${peer} both ways` };
  const oneWay = e.m.peer.liveness === 'up' ? `${peer} reports it does not hear this node` : `${peer} not heard`;
  if (q.state.cfg.arbiter !== 'none') {
    const held = Object.entries(q.leases).filter(([, l]) => l.status === 'held').map(([g]) => g);
    if (held.length) return { quorum: true, why: `${oneWay}; lease held for ${held.join(', ')}` };
    return { quorum: false, why: `${oneWay} and no lease from the ${q.state.cfg.arbiter === 'etcd' ? 'etcd' : 'arbiter'}` };
  }
  if (q.reach && q.reach.total > 0 && q.reach.up === 0) return { quorum: false, why: `${oneWay} and none of ${q.reach.total} ping targets answers` };
  return { quorum: true, why: `${oneWay}; no arbiter: Heartbeat rules` };
}

function quorumReport(e: EngineState, q: EngineQuorum, i: StatusInput, now: number) {
  const d = q.decision;
  const cfg = q.state.cfg;
  const v = quorumVerdict(e, q);
  const r1 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    quorum: v.quorum,
    why: v.why,
    summary: d?.summary ?? null,
    mutual: d?.mutual ?? false,
    connectivity: d?.connectivity ?? 'unknown',              // unknown | equal | better | worse (than the peer)
    reach: q.reach ?? null,                                  // { up, total } ping targets reachable here
    peerReach: e.m.peer.report?.reach ?? null,               // as the peer last reported it (tg_ping)
    peerHearsMe: e.m.peer.report?.hearsMe ?? null,           // tg_hears
    ipfail: cfg.ipfail,
    arbiter: cfg.arbiter === 'none' ? null : {
      kind: cfg.arbiter, target: i.arbiter ?? null, takeoverDelayMs: cfg.takeoverDelayMs, graceMs: q.graceMs,
      dropped: i.arbiterDrops ? { ...i.arbiterDrops } : null,   // null for etcd
    },
    ping: (i.ping ?? []).map((t) => ({
      name: t.name, status: t.status, sinceMsAgo: ago(now, t.since),
      addrs: t.addrs.map((a) => ({
        addr: a.addr, status: a.status, sent: a.sent, received: a.received, lost: a.lost,
        lossPct: r1(a.lossPct), rttMs: { last: r1(a.rttMs.last), min: r1(a.rttMs.min), avg: r1(a.rttMs.avg), max: r1(a.rttMs.max) },
      })),
    })),
    groups: cfg.groups.map((g) => {
      const gd = d?.groups[g];
      const l = q.leases[g];
      return {
        name: g,
        label: groupLabel(g),
        hold: gd?.hold ?? 'normal', take: gd?.take ?? 'normal', code: gd?.code ?? 'startup', reason: gd?.reason ?? '',
        lease: cfg.arbiter === 'none' ? null : {
          status: l?.status ?? 'idle',                         // idle | requesting | held | denied
          reason: l?.reason ?? 'not wanted',
          holder: l?.holder ?? null,
          heldForMs: l?.status === 'held' && l.since !== undefined ? Math.max(0, Math.round(now - l.since)) : null,
          validForMs: l?.status === 'held' && l.until !== undefined ? Math.max(0, Math.round(l.until - now)) : null,
        },
      };
    }),
  };
}

/** Why the takeover of the dead peer's groups is held back, in the operator's words. */
function waitReason(f: FencingState, now: number): string {
  const inMs = (t: number | undefined) => (t === undefined ? '' : ` in ${Math.max(0, Math.round(t - now))} ms`);
  switch (f.phase) {
    case 'blocked': return `fence_wait_for_all: ${f.cfg.peer} has not been heard since this node started; confirm it is off or unblock start-up`;
    case 'delayed': return `fence_delay: fencing ${f.cfg.peer}${inMs(f.fenceAt)} (${f.reason})`;
    case 'fencing': return `fencing ${f.cfg.peer} through ${f.cfg.devices[f.inflight?.device ?? f.device] ?? 'a device'}`;
    case 'backoff': return `fencing ${f.cfg.peer} failed ${f.rounds} round(s); next round${inMs(f.fenceAt)}`;
    default: return f.reason || f.phase;
  }
}

function fencingReport(e: EngineState, f: FencingState, now: number, history: FenceRecord[]) {
  const waiting = waitingOnFencing(e);
  const wallNow = Date.now();
  return {
    peer: f.cfg.peer,
    phase: f.phase,                  // idle | blocked | delayed | fencing | backoff | fenced | released
    waiting,                          // the peer is dead, and its groups are not taken over until it is fenced
    waitingReason: waiting ? waitReason(f, now) : null,
    failedRounds: f.rounds,
    fenceDelayMs: f.cfg.fenceDelayMs,
    devices: f.cfg.devices.map((label, idx) => {
      const c = f.checks[idx];
      return {
        device: label,
        lastCheck: c?.lastCheckedAt === undefined ? null : {
          at: new Date(wallNow - (now - c.lastCheckedAt)).toISOString(),
          msAgo: Math.max(0, Math.round(now - c.lastCheckedAt)),
          ok: c.ok ?? false,
          error: c.lastError ?? null,
        },
      };
    }),
    history: history.slice(-10),
  };
}

export type StatusReport = ReturnType<typeof buildStatusReport>;
