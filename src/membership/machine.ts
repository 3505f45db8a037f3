// Membership of a two-node pair as a pure state machine: time comes in as
// `now` (monotonic ms), effects go out as actions. No sockets, no timers.
//
// Liveness is judged per path and per node. A path is up while it has
// delivered a fresh packet within deadtime; the peer is alive while ANY path
// is. Deadlines are exact (no polling), so detection lands within
// [deadtime - keepalive, deadtime] after the peer's last packet.

export type PeerLiveness = 'unknown' | 'up' | 'dead';

export interface MembershipConfig {
  self: string;
  peer: string;
  paths: string[];          // one name per heartbeat medium, e.g. "ucast eth0 10.0.0.2"
  keepaliveMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
}

export interface PathState {
  up: boolean;
  lastHeard?: number;
  lastSeq?: number;         // highest seq this path delivered in the current generation
  accepted: number;
  stale: number;            // authentic but old: replays and late duplicates
  streak: number;           // fresh packets in a row, each within deadtime of the one before
}

/** What the peer told us in its newest accepted status message. */
export interface PeerReport {
  status: string;           // init | up | active | dead (dead = leaving gracefully)
  hold: string[];
  yielding: string[];       // held but not claimed: recovering after a crash, or being stopped
  /** Generation of us the peer hears (tg_hears_hg): null = hears none; absent = the peer does not say (Heartbeat). */
  hearsGeneration?: number | null;
  /** Our highest seq (of the generation in hearsGeneration) the peer has accepted (tg_hears_seq), when it says. */
  hearsSeq?: number;
  /**
   * Filled in by the engine, not sent: groups this node dropped from its
   * hold set in a message the peer had not yet accepted when it wrote this
   * report. The report cannot show what the peer does about those drops.
   */
  unheardDrops?: string[];
  failed: string[];
  deadtimeMs?: number;
  /** The peer's reachable ping targets (tg_ping), when it reports them. */
  reach?: { up: number; total: number };
  /** Whether the peer hears this node (tg_hears), when it reports it. */
  hearsMe?: boolean;
}

export interface PeerState {
  liveness: PeerLiveness;
  lastHeard?: number;
  generation?: number;      // highest generation seen (persisted across our restarts)
  lastSeq?: number;
  report?: PeerReport;
  warned: boolean;          // "late heartbeat" already logged for this gap
}

export interface DropCounters {
  replay: number;           // older generation, or a seq at or below the last accepted
  foreign: number;          // src is neither node of this pair
}

export interface MembershipState {
  readonly cfg: MembershipConfig;
  startedAt: number;
  seq: number;              // last seq we sent
  nextSendAt: number;
  peer: PeerState;
  paths: Record<string, PathState>;
  drops: DropCounters;
}

export type MembershipEvent =
  | { kind: 'tick' }
  | { kind: 'heard'; path: string; src: string; generation: number; seq: number; report: PeerReport }
  | { kind: 'announce' };   // our own state changed: send now instead of at the next keepalive

export type MembershipAction =
  | { kind: 'send'; seq: number }
  | { kind: 'peer-up'; generation: number; restarted: boolean }
  | { kind: 'peer-dead'; reason: 'silent' | 'initdead' | 'left' }
  | { kind: 'peer-report' }                      // peer's hold/failed sets may have changed
  | { kind: 'late-heartbeat'; silentMs: number }
  | { kind: 'path-up'; path: string }
  | { kind: 'path-down'; path: string }
  | { kind: 'persist-peer-generation'; generation: number }
  | { kind: 'dropped'; reason: keyof DropCounters; detail: string };

// A fresh packet on a second path may lag the first by a few messages; older
// than this and it is a replay, which must not keep a dead path "alive".
const PATH_FRESH_WINDOW = 8;

// Hysteresis for path state: one stray packet on a flapping link does not
// report the path up; it comes up after this many fresh packets in a row and
// goes down after deadtime of silence.
export const PATH_UP_AFTER = 2;

export function initMembership(cfg: MembershipConfig, now: number, knownPeerGeneration?: number): MembershipState {
  const paths: Record<string, PathState> = {};
  for (const p of cfg.paths) paths[p] = { up: false, accepted: 0, stale: 0, streak: 0 };
  const peer: PeerState = { liveness: 'unknown', warned: false };
  if (knownPeerGeneration !== undefined) peer.generation = knownPeerGeneration;
  return { cfg, startedAt: now, seq: 0, nextSendAt: now, peer, paths, drops: { replay: 0, foreign: 0 } };
}

export function membershipStep(s: MembershipState, ev: MembershipEvent, now: number): MembershipAction[] {
  const out: MembershipAction[] = [];
  if (ev.kind === 'heard') onHeard(s, ev, now, out);
  if (ev.kind === 'announce') s.nextSendAt = now;
  if (now >= s.nextSendAt) {
    s.seq += 1;
    out.push({ kind: 'send', seq: s.seq });
    // Anchor the next send to the schedule, not to `now`, so a late timer
    // does not push every later heartbeat back; after a long stall, resync.
    const next = s.nextSendAt + s.cfg.keepaliveMs;
    s.nextSendAt = next > now ? next : now + s.cfg.keepaliveMs;
  }
  checkTimeouts(s, now, out);
  return out;
}

/** The earliest instant at which membershipStep({kind:'tick'}) has something to do. */
export function membershipDeadline(s: MembershipState): number {
  return Math.min(s.nextSendAt, membershipJudgementDeadline(s));
}

/**
 * The earliest instant at which a tick judges liveness: declares the peer
 * dead (deadtime, initdead), a path down, or a heartbeat late. An adapter
 * reads whatever its sockets hold before delivering a tick at or after it.
 */
export function membershipJudgementDeadline(s: MembershipState): number {
  let t = Infinity;
  const p = s.peer;
  if (p.liveness === 'unknown') t = Math.min(t, s.startedAt + s.cfg.initdeadMs);
  if (p.liveness === 'up' && p.lastHeard !== undefined) {
    t = Math.min(t, p.lastHeard + s.cfg.deadtimeMs + 1);
    if (!p.warned) t = Math.min(t, p.lastHeard + s.cfg.warntimeMs + 1);
  }
  for (const ps of Object.values(s.paths)) {
    if (ps.up && ps.lastHeard !== undefined) t = Math.min(t, ps.lastHeard + s.cfg.deadtimeMs + 1);
  }
  return t;
}

function onHeard(s: MembershipState, ev: Extract<MembershipEvent, { kind: 'heard' }>, now: number, out: MembershipAction[]): void {
  const p = s.peer;
  if (ev.src !== s.cfg.peer) {
    s.drops.foreign += 1;
    out.push({ kind: 'dropped', reason: 'foreign', detail: `message from unknown node '${ev.src}'` });
    return;
  }
  if (p.generation !== undefined && ev.generation < p.generation) {
    s.drops.replay += 1;
    out.push({ kind: 'dropped', reason: 'replay', detail: `generation ${ev.generation} < ${p.generation}` });
    return;
  }
  const newGeneration = p.generation === undefined || ev.generation > p.generation;
  const path = s.paths[ev.path];
  if (newGeneration) {
    p.generation = ev.generation;
    p.lastSeq = undefined;
    for (const ps of Object.values(s.paths)) ps.lastSeq = undefined;
    out.push({ kind: 'persist-peer-generation', generation: ev.generation });
  }
  const fresh = p.lastSeq === undefined || ev.seq > p.lastSeq;
  if (path) {
    const freshForPath = (path.lastSeq === undefined || ev.seq > path.lastSeq) &&
      (p.lastSeq === undefined || ev.seq + PATH_FRESH_WINDOW > p.lastSeq);
    if (freshForPath) {
      const inStreak = path.lastHeard !== undefined && now - path.lastHeard <= s.cfg.deadtimeMs;
      path.streak = inStreak ? path.streak + 1 : 1;
      path.lastSeq = ev.seq;
      path.lastHeard = now;
      path.accepted += 1;
      if (!path.up && path.streak >= PATH_UP_AFTER) {
        path.up = true;
        out.push({ kind: 'path-up', path: ev.path });
      }
    } else {
      path.stale += 1;
    }
  }
  if (!fresh) {
    // Same message over a second path is normal; anything older is counted.
    if (ev.seq !== p.lastSeq) {
      s.drops.replay += 1;
      out.push({ kind: 'dropped', reason: 'replay', detail: `seq ${ev.seq} <= ${p.lastSeq}` });
    }
    return;
  }
  p.lastSeq = ev.seq;
  p.lastHeard = now;
  p.warned = false;
  p.report = ev.report;
  if (ev.report.status === 'dead' && ev.report.hold.length === 0) {
    // The peer is leaving on purpose and has released everything: no need
    // to wait out deadtime. While it still holds something it is alive.
    if (p.liveness !== 'dead') {
      p.liveness = 'dead';
      out.push({ kind: 'peer-dead', reason: 'left' });
    }
    out.push({ kind: 'peer-report' });
    return;
  }
  if (p.liveness !== 'up') {
    p.liveness = 'up';
    out.push({ kind: 'peer-up', generation: ev.generation, restarted: newGeneration });
  }
  out.push({ kind: 'peer-report' });
}

function checkTimeouts(s: MembershipState, now: number, out: MembershipAction[]): void {
  const { cfg, peer: p } = s;
  for (const [name, ps] of Object.entries(s.paths)) {
    if (ps.up && ps.lastHeard !== undefined && now - ps.lastHeard > cfg.deadtimeMs) {
      ps.up = false;
      ps.streak = 0;
      out.push({ kind: 'path-down', path: name });
    }
  }
  if (p.liveness === 'unknown' && now - s.startedAt >= cfg.initdeadMs) {
    p.liveness = 'dead';
    out.push({ kind: 'peer-dead', reason: 'initdead' });
    return;
  }
  if (p.liveness === 'up' && p.lastHeard !== undefined) {
    const silent = now - p.lastHeard;
    if (silent > cfg.deadtimeMs) {
      p.liveness = 'dead';
      out.push({ kind: 'peer-dead', reason: 'silent' });
    } else if (silent > cfg.warntimeMs && !p.warned) {
      p.warned = true;
      out.push({ kind: 'late-heartbeat', silentMs: silent });
    }
  }
}
