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
  /**
   * This node's own generation (new on every start). A tandem peer names the
   * generation of ours it hears (tg_hears_hg), so after our restart a message
   * naming this one cannot be a capture from before it.
   */
  generation?: number;
}

/** What this node remembers about its peer from before its own restart (state/store.ts). */
export interface KnownPeer {
  generation: number;
  /** The peer's highest seq of `generation` this node had accepted, as last persisted (a lower bound). */
  seq?: number;
  /** The generation the peer had before `generation`, and its last accepted seq. */
  previous?: { generation: number; lastSeq: number };
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
  /** Filled in by the engine, not sent: groups this node hands over in a message the peer had not accepted when it wrote this report. */
  unheardHands?: string[];
  failed: string[];
  /** Groups the peer hands to this node (tg_standby); absent = the peer does not say (Heartbeat, older tandem). */
  standby?: string[];
  /** Groups the peer could not stop (tg_stopfail): it cannot prove them down; absent = none. */
  stopFailed?: string[];
  deadtimeMs?: number;
  /** The peer's reachable ping targets (tg_ping), when it reports them. */
  reach?: { up: number; total: number };
  /** Whether the peer hears this node (tg_hears), when it reports it. */
  hearsMe?: boolean;
  /** Groups the peer leaves to this node by ipfail (tg_ipfail_yield); absent = none. */
  ipfailYields?: string[];
  /** The peer is a Heartbeat node (its status has no tg_hold): what it holds comes from its t=resource messages. */
  heartbeat?: true;
  /**
   * Filled in by the engine for a Heartbeat peer, not sent: the peer's
   * holdings are not known yet (no t=resource from this incarnation), so no
   * group may start here on its report.
   */
  holdUnknown?: boolean;
}

export interface PeerState {
  liveness: PeerLiveness;
  lastHeard?: number;
  generation?: number;      // highest generation seen (persisted across our restarts)
  lastSeq?: number;
  /**
   * The generation we left when we accepted `generation`, with its last seq,
   * and our own last sent seq at that moment (absent when the switch happened
   * before our restart). A message of it written after the switch proves the
   * newer one was not the peer's (a forgery under an insecure key, or a second
   * daemon): we go back to it. A late message from before the peer's real
   * restart proves nothing, so "after" must be shown (see mayRevert).
   */
  previous?: { generation: number; lastSeq: number; switchedAtSeq?: number };
  /** A generation the peer's real messages contradicted: never accepted again. */
  refused?: number;
  /** A generation past the bound, and how many of its messages came in seq order so far. */
  jump?: { generation: number; lastSeq: number; count: number };
  /** The newest control message (ask_resources) accepted from the peer: its generation and seq (acceptPeerMessage). */
  ask?: { generation: number; seq: number };
  /**
   * Set while this node has restarted and has not yet heard the peer's known
   * generation in a message that must be new: one naming our current
   * generation (tandem), or with a seq above the persisted watermark (a peer
   * that does not send tg_hears_hg, e.g. Heartbeat). Anything else of that
   * generation may be a capture replayed at us, and does not count.
   */
  resume?: { generation: number; watermark?: number };
  report?: PeerReport;
  warned: boolean;          // "late heartbeat" already logged for this gap
}

export interface DropCounters {
  replay: number;           // older generation, or a seq at or below the last accepted
  foreign: number;          // src is neither node of this pair
  jump: number;             // a generation too far ahead of the last accepted one and of our clock
  unconfirmed: number;      // after our restart: the peer's known generation, not shown to be new
}

/**
 * How far a new peer generation may be ahead of both the last accepted one
 * and this node's wall clock, in seconds. Heartbeat adds 1 per start and
 * tandem uses at least the wall-clock seconds, so a restart after months of
 * downtime, or with clocks days apart, stays inside; a forged 2^53-1 does
 * not. Not days: with wall-clock generations a bound of two days locked out a
 * peer whose clock ran more than two days ahead, and both nodes held the
 * groups (simulator seed 310008193); past the bound a generation is still
 * taken once it keeps coming (jumpConfirmed).
 */
export const GENERATION_MAX_AHEAD_S = 366 * 86_400;

/** Messages of one generation past the bound, in seq order, after which it is taken (see jumpConfirmed). */
export const JUMP_CONFIRMATIONS = 5;

/**
 * Whether a generation past the bound keeps coming: JUMP_CONFIRMATIONS of its
 * messages in seq order, or two when they name our current generation (the
 * peer hears this run of ours: a capture from before it cannot say that).
 */
function jumpConfirmed(p: PeerState, ev: Extract<MembershipEvent, { kind: 'heard' }>, vouched: boolean): boolean {
  const j = p.jump;
  if (j && j.generation === ev.generation && ev.seq > j.lastSeq) {
    j.lastSeq = ev.seq;
    j.count += 1;
  } else if (!j || j.generation !== ev.generation) {
    p.jump = { generation: ev.generation, lastSeq: ev.seq, count: 1 };
  }
  return (p.jump?.count ?? 0) >= (vouched ? 2 : JUMP_CONFIRMATIONS);
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
  | {
      kind: 'heard'; path: string; src: string; generation: number; seq: number; report: PeerReport;
      /** This node's wall clock in seconds (an input, for the generation bound). */
      wallS?: number;
    }
  | { kind: 'announce' };   // our own state changed: send now instead of at the next keepalive

export type MembershipAction =
  | { kind: 'send'; seq: number }
  | { kind: 'peer-up'; generation: number; restarted: boolean }
  | { kind: 'peer-dead'; reason: 'silent' | 'initdead' | 'left' }
  | { kind: 'peer-report' }                      // peer's hold/failed sets may have changed
  | { kind: 'late-heartbeat'; silentMs: number }
  | { kind: 'path-up'; path: string }
  | { kind: 'path-down'; path: string }
  | { kind: 'persist-peer-generation'; generation: number; previous?: { generation: number; lastSeq: number } }
  | { kind: 'generation-reverted'; from: number; to: number }
  | { kind: 'dropped'; reason: keyof DropCounters; detail: string };

// A fresh packet on a second path may lag the first by a few messages; older
// than this and it is a replay, which must not keep a dead path "alive".
const PATH_FRESH_WINDOW = 8;

// Hysteresis for path state: one stray packet on a flapping link does not
// report the path up; it comes up after this many fresh packets in a row and
// goes down after deadtime of silence.
export const PATH_UP_AFTER = 2;

export function initMembership(cfg: MembershipConfig, now: number, known?: number | KnownPeer): MembershipState {
  const paths: Record<string, PathState> = {};
  for (const p of cfg.paths) paths[p] = { up: false, accepted: 0, stale: 0, streak: 0 };
  const peer: PeerState = { liveness: 'unknown', warned: false };
  const k = typeof known === 'number' ? { generation: known } : known;
  if (k !== undefined) {
    peer.generation = k.generation;
    peer.resume = { generation: k.generation, ...(k.seq !== undefined ? { watermark: k.seq } : {}) };
    if (k.previous && k.previous.generation < k.generation) peer.previous = { ...k.previous };
  }
  return { cfg, startedAt: now, seq: 0, nextSendAt: now, peer, paths, drops: { replay: 0, foreign: 0, jump: 0, unconfirmed: 0 } };
}

/**
 * Was this message of the generation we left written after we left it? Only a
 * tandem peer can show it: it names our current generation, and has accepted
 * a seq of ours sent after the switch (tg_hears_seq), or the switch happened
 * before our restart, which the message postdates. A peer that does not say
 * (Heartbeat) never takes us back: only the bound protects it.
 */
function mayRevert(s: MembershipState, prev: NonNullable<PeerState['previous']>, ev: Extract<MembershipEvent, { kind: 'heard' }>): boolean {
  const r = ev.report;
  if (s.cfg.generation === undefined || r.hearsGeneration !== s.cfg.generation) return false;
  if (prev.switchedAtSeq === undefined) return true;
  return r.hearsSeq !== undefined && r.hearsSeq > prev.switchedAtSeq;
}

/**
 * After our restart, may this message of an already-known generation count?
 * Only if it shows it was written after we started: it names our current
 * generation, or (a peer that does not say, e.g. Heartbeat) its seq is above
 * what we had accepted before the restart as far as it was persisted.
 */
function confirmedAfterRestart(s: MembershipState, ev: Extract<MembershipEvent, { kind: 'heard' }>): boolean {
  const r = s.peer.resume;
  if (!r) return true;
  const hears = ev.report.hearsGeneration;
  if (hears !== undefined && s.cfg.generation !== undefined) return hears === s.cfg.generation;
  return r.watermark === undefined || ev.seq > r.watermark;
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
  // Restarted only against a generation known before (this run or the state
  // dir); the first contact of a fresh pair is not a restart.
  const restarted = p.generation !== undefined && ev.generation > p.generation;
  if (p.generation !== undefined && ev.generation < p.generation) {
    const prev = p.previous;
    if (!prev || ev.generation !== prev.generation || ev.seq <= prev.lastSeq || !mayRevert(s, prev, ev)) {
      s.drops.replay += 1;
      out.push({ kind: 'dropped', reason: 'replay', detail: `generation ${ev.generation} < ${p.generation}` });
      return;
    }
    // The generation we left is still sending new messages, so the one we
    // moved to was never the peer's restart: go back.
    out.push({ kind: 'generation-reverted', from: p.generation, to: prev.generation });
    p.refused = p.generation;
    p.generation = prev.generation;
    p.lastSeq = prev.lastSeq;
    p.previous = undefined;
    p.resume = undefined;
    for (const ps of Object.values(s.paths)) ps.lastSeq = undefined;
    out.push({ kind: 'persist-peer-generation', generation: p.generation });
  } else if (p.generation === undefined || ev.generation > p.generation) {
    if (ev.generation === p.refused) {
      s.drops.replay += 1;
      out.push({ kind: 'dropped', reason: 'replay', detail: `generation ${ev.generation} was contradicted by the peer's own messages` });
      return;
    }
    const base = Math.max(p.generation ?? -Infinity, ev.wallS ?? -Infinity);
    // Past the bound, a generation counts only once it keeps coming (within
    // deadtime when the peer hears us): one forged datagram is dropped, but a peer whose clock is days ahead (its
    // generation follows the wall clock) is not locked out for good, which
    // would leave both nodes holding the groups (simulator seeds 300002332,
    // 300004786).
    if (Number.isFinite(base) && ev.generation > base + GENERATION_MAX_AHEAD_S && !jumpConfirmed(p, ev, s.cfg.generation !== undefined && ev.report.hearsGeneration === s.cfg.generation)) {
      s.drops.jump += 1;
      out.push({
        kind: 'dropped', reason: 'jump',
        detail: `generation ${ev.generation} is more than ${GENERATION_MAX_AHEAD_S} s ahead of ${p.generation !== undefined ? `the last accepted ${p.generation} and ` : ''}this node's clock (${Math.floor(ev.wallS ?? NaN)}): forged, or clocks far apart? (taken once it keeps coming)`,
      });
      return;
    }
    p.jump = undefined;
    if (p.generation !== undefined && p.lastSeq !== undefined) p.previous = { generation: p.generation, lastSeq: p.lastSeq, switchedAtSeq: s.seq };
    p.generation = ev.generation;
    p.lastSeq = undefined;
    p.resume = undefined;
    for (const ps of Object.values(s.paths)) ps.lastSeq = undefined;
    out.push({
      kind: 'persist-peer-generation', generation: ev.generation,
      ...(p.previous ? { previous: { generation: p.previous.generation, lastSeq: p.previous.lastSeq } } : {}),
    });
  } else if (p.resume) {
    if (!confirmedAfterRestart(s, ev)) return unconfirmed(s, ev, out);
    p.resume = undefined;
  }
  const path = s.paths[ev.path];
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
    out.push({ kind: 'peer-up', generation: ev.generation, restarted });
  }
  out.push({ kind: 'peer-report' });
}

function unconfirmed(s: MembershipState, ev: Extract<MembershipEvent, { kind: 'heard' }>, out: MembershipAction[]): void {
  s.drops.unconfirmed += 1;
  const path = s.paths[ev.path];
  if (path) path.stale += 1;
  const hears = ev.report.hearsGeneration;
  out.push({
    kind: 'dropped', reason: 'unconfirmed',
    detail: hears !== undefined
      ? `generation ${ev.generation} seq ${ev.seq} names our generation ${hears ?? 'none'}, not ${s.cfg.generation}: written before this node started (a replay, or the peer has not heard us yet)`
      : `generation ${ev.generation} seq ${ev.seq} is not above seq ${s.peer.resume?.watermark} accepted before this node restarted (a replay?)`,
  });
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

/**
 * A control message from the peer (ask_resources) shares its heartbeats'
 * generation and seq space. It is taken only from the peer we hear now, in
 * its current generation, with a seq above every control message of it
 * accepted so far and at most ASK_WINDOW below its newest heartbeat (it may
 * overtake or trail the heartbeat sent with it on another path). It does
 * not move the heartbeats' watermark: a heartbeat it overtook is no replay
 * (simulator seed 900001803: repeated takeover requests that overtook every
 * heartbeat made the peer drop them all and declare this node dead).
 * Returns why it is refused, or undefined when accepted ('duplicate': the
 * same message over another path).
 */
export const ASK_WINDOW = PATH_FRESH_WINDOW;
export function acceptPeerMessage(s: MembershipState, src: string, generation: number, seq: number): string | undefined {
  const p = s.peer;
  if (src !== s.cfg.peer) return `from unknown node '${src}'`;
  if (p.liveness !== 'up' || p.generation === undefined) return `from ${src}, which this node does not hear now`;
  if (generation !== p.generation) return `generation ${generation} is not ${src}'s current ${p.generation}`;
  const last = p.ask?.generation === generation ? p.ask.seq : undefined;
  if (last !== undefined && seq === last) return 'duplicate';
  if ((last !== undefined && seq < last) || (p.lastSeq !== undefined && seq + ASK_WINDOW <= p.lastSeq)) {
    s.drops.replay += 1;
    return `seq ${seq} is not newer than the control messages and heartbeats already accepted`;
  }
  p.ask = { generation, seq };
  return undefined;
}
