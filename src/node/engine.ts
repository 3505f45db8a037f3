// One node's whole decision logic: membership and resource groups composed
// into a single pure step function. The daemon and the simulator drive the
// same code; only the adapters around it differ.

import {
  initMembership, membershipDeadline, membershipStep,
  type MembershipAction, type MembershipConfig, type MembershipEvent, type MembershipState, type PeerReport,
} from '../membership/machine.js';
import {
  allReleased, failedGroups, groupsOf, heldGroups, initResources, stopFailedGroups, yieldingGroups, resourcesDeadline, resourcesStep,
  type ResourcesAction, type ResourcesConfig, type ResourcesEvent, type ResourcesState,
} from '../resources/machine.js';
import { acceptPeerMessage, ASK_WINDOW } from '../membership/machine.js';
import {
  fencingDeadline, fencingStep, initFencing, mayTakeOver,
  type FencingAction, type FencingEvent, type FencingPolicyConfig, type FencingState,
} from '../fencing/policy.js';
import {
  applyDecision, decideQuorum, initQuorum, leaseWanted,
  type GroupDecision, type QuorumConfig, type QuorumDecision, type QuorumInput, type QuorumState,
} from '../quorum/decide.js';
import type { LeaseView } from '../quorum/lease.js';
import type { RequestContext } from '../quorum/backend.js';
import { quorumFields } from '../quorum/report.js';
import type { Reach } from '../ping/tracker.js';
import type { HbMessage, HbOutgoing, HbRscHold } from '../heartbeat/messages.js';
import { formatDuration } from '../util/duration.js';
import { membershipView, type MembershipView } from '../membership/view.js';
import { resourcesView, type ResourcesView } from '../resources/view.js';
import { fencingView, type FencingView } from '../fencing/view.js';
import { quorumView, type QuorumView } from '../quorum/view.js';

/**
 * The engine as adapters and readers outside src/node hold it: an opaque
 * handle with nothing to read. They read it through node/view.ts (a frozen
 * EngineView) and change it only by stepping it.
 */
export interface EngineHandle { readonly __engine?: never }

export interface EngineState extends EngineHandle {
  m: MembershipState;
  r: ResourcesState;
  releasedAnnounced: boolean;
  /** The fencing policy, when ha.cf configures STONITH devices; absent = Heartbeat's behaviour without STONITH. */
  f?: FencingState;
  /** Quorum (ping nodes, ipfail, arbiter leases), when ha.cf configures it; absent = no quorum rules at all. */
  q?: EngineQuorum;
  /** The hold set of our last status message, and the seq of the message that dropped each group from it. */
  lastSentHold?: string[];
  droppedAt: Record<string, number>;
  /** The unheard drops last handed to the resources machine (to hand it a change at once). */
  unheardKey: string;
  /**
   * The seq of our first message in the current unbroken run that told the
   * peer we hear it (tg_hears=1); undefined while we say we do not. A peer
   * report that has read this seq or a later one (tg_hears_seq) was written
   * by a peer that counts the pair as mutual.
   */
  hearsRunFrom?: number;
  /** The tg_ping value we send, and the seq of our first message that carried it. */
  reachSent?: string;
  reachSentFrom?: number;
  /** The standby list of our last status message (a group leaving it is a drop, like one leaving the hold set). */
  lastSentStandby?: string[];
  /** Groups taken back from that list since it was sent: drops the peer cannot have read yet. */
  unsentDrops?: string[];
  /**
   * The seq of our first message that handed each group in our standby list
   * to the peer (the `me` ask, or the status that first listed it). A peer
   * report that has not read it cannot say whether the peer still hands the
   * group back to us or has taken it on our word.
   */
  handedAt?: Record<string, number>;
  /**
   * Heartbeat's hand-over messages still to send: `done` once the groups we
   * hand over are all released; a takeover request (`other`), repeated with
   * our next heartbeats until the peer's report lists the groups as handed
   * over (a lost datagram must not lose the request).
   */
  handover?: {
    done?: { rscHold: RscHold; groups: string[] };
    ask?: { rscHold: RscHold; groups: string[]; tries: number };
  };
  /** Why the peer counts as dead, in plain words, for the transitions it causes (set on peer-dead). */
  peerWhy?: string;
  /** What this node knows of a Heartbeat peer's resources (mixed pair; absent for a tandem peer). */
  hb?: HbPeer;
  /** Our shutdone went to a Heartbeat peer: no more statuses from this incarnation. */
  hbShutdone?: boolean;
  /** An operator's standby asked of a Heartbeat peer, not answered yet (asked again until it is). */
  hbStandby?: HbStandby;
}

/**
 * Heartbeat ignores a standby request while it counts its peer as between
 * transitions ("Other side is in flux", hb_resource.c ask_for_resources),
 * e.g. until our first stable t=resource after it (re)started, and tells
 * the requester nothing. So the request waits for both sides to be stable
 * and is repeated until Heartbeat answers `other`; a repeat it already
 * accepted it ignores ("Standby in progress").
 */
export interface HbStandby {
  which: RscHold;
  groups: string[];
  /** When `me` was last sent; undefined: not yet (waiting for both sides to be stable). */
  sentAt?: number;
  /** Given up after this (the operator's wait is over by then). */
  until: number;
  /** Asked more than once (logged once). */
  repeated?: boolean;
}

/**
 * A Heartbeat peer, as its own resource messages describe it (nice_failback,
 * hb_resource.c): it reports what it holds as none/local/foreign/all of the
 * groups, and whether it is between transitions (isstable=0). It clears a
 * group's bit when it starts releasing it, not when the release is done, so
 * an unstable report still counts every group of its last stable one as
 * held, until it says it is stable again or that the release is done.
 */
export interface HbPeer {
  /** The peer generation this is about: a restarted peer starts over. */
  generation: number;
  /** Its newest t=resource (as it sees its holdings); undefined: none from this incarnation yet. */
  rscHold?: HbRscHold;
  stable: boolean;
  /** Groups of its last stable report, less what its `done` said it released. */
  stableGroups: string[];
  /** Highest seq of its messages this node acknowledged (NS_ackmsg, every ACK_EVERY). */
  acked: number;
  /** When this node last sent t=starting (resent every STARTING_EVERY_MS until a resource report comes). */
  startingAt?: number;
  /** The resource report last sent, as `hold/stable`. */
  sentKey?: string;
  /** Groups the peer's hb_standby handed here: once they run, tell it `done` (its standby waits for it). */
  owedDone?: { rscHold: RscHold; groups: string[] };
  /** It sent shutdone: it released everything and is leaving (a tandem peer says st=dead). */
  left?: boolean;
  /** The holdings last logged from its stable reports. */
  loggedHold?: string;
  /** Seqs of its control messages taken, in order or late (hbLate), within HB_REORDER_WINDOW of the newest. */
  taken: number[];
}

/** A Heartbeat peer acknowledges every 10th message (ACK_MSG_DIV); so does this node for it. */
const HB_ACK_EVERY = 10;
/** t=starting is repeated this often until the Heartbeat peer reports what it holds (it ignores it before its comm is up). */
const HB_STARTING_EVERY_MS = 1000;
/** An NS_rexmit for more than this many messages is answered for the first ones only. */
export const HB_REXMIT_MAX = 50;
/** How far below its newest control message a Heartbeat peer's overtaken one is still taken (hbLate). */
const HB_REORDER_WINDOW = 16;
/** An unanswered standby request to a Heartbeat peer is repeated this often ... */
export const HB_STANDBY_RETRY_MS = 1000;
/** ... for this long (tandem standby waits 60 s for the outcome). */
const HB_STANDBY_RETRY_FOR_MS = 60_000;

/** Heartbeat's rsc_hold values: groups preferred on the releasing node (local), on the other (foreign), or all. */
export type RscHold = 'all' | 'local' | 'foreign';
/** Heartbeat's ask_resources info values: me = the sender goes standby; other = the receiver should; done = released. */
export type AskInfo = 'me' | 'other' | 'done';
/** Takeover requests are repeated with this many heartbeats at most. */
export const TAKEOVER_ASK_TRIES = 5;

/** What the engine needs to run quorum: the pure decision's config plus the lease grace. */
export interface EngineQuorumConfig extends QuorumConfig {
  /** deadtime + lease safety: sent with each lease request (docs/quorum.md, "grace"). */
  graceMs: number;
}

export interface EngineQuorum {
  state: QuorumState;
  graceMs: number;
  /** This node's reachable ping targets (from the pinger); undefined without ping targets or before the first figure. */
  reach?: Reach;
  /** The lease views per group (from the lease driver). */
  leases: Record<string, LeaseView>;
  decision?: QuorumDecision;
  /** The last lease request per group told to the daemon, to tell it only changes. */
  lastLease: Record<string, string>;
}

/**
 * A lease to want or not, and what to tell the arbiter with the request:
 * the daemon passes both to LeaseDriver.update.
 */
export interface EngineLeaseAction { kind: 'lease'; group: string; want: boolean; ctx: RequestContext }
/** Quorum rules changed for some groups: worth a journal line each. */
export interface EngineQuorumChangedAction { kind: 'quorum-changed'; changed: GroupDecision[]; summary: string }

export type NodeStatus = 'init' | 'active' | 'dead';

export interface OutgoingStatus {
  seq: number;
  status: NodeStatus;
  hold: string[];
  yielding: string[];
  failed: string[];
  /** Groups this node hands to its peer (tg_standby). */
  standby: string[];
  /** Groups whose stop kept failing here (tg_stopfail): with fencing, the peer fences this node before it starts them. */
  stopFailed?: string[];
  /** tandem's extra status fields (tg_ping, tg_hears), only with quorum configured. */
  extra?: Array<[string, string]>;
  /** The peer generation we hear now, or null. */
  hears: number | null;
  /** The highest seq of the peer's generation we have accepted, while we hear it. */
  hearsSeq?: number;
}

export type EngineEvent =
  | Exclude<MembershipEvent, { kind: 'announce' }>
  | Extract<ResourcesEvent, { kind: 'op-done' | 'hold-failed' }>
  /** This node moved to a new generation (persisted first), after generation-seen. */
  | { kind: 'generation'; generation: number }
  | Extract<ResourcesEvent, { kind: 'op-done' }>
  | Extract<ResourcesEvent, { kind: 'reconfigure' }>   // a reload's new group set (the daemon computes the difference)
  | { kind: 'shutdown' }
  | Extract<FencingEvent, { kind: 'fence-done' | 'check-done' | 'operator' }>
  /** The operator's `tandem standby` / `tandem takeover` (groups from planHandover). */
  | { kind: 'standby' | 'takeover'; which: RscHold; groups: string[] }
  /** An authenticated t=ask_resources from the wire (its rsc_hold/info not yet checked). */
  | { kind: 'ask-heard'; src: string; generation: number; seq: number; rscHold: string; info: string }
  /** An authenticated Heartbeat message (starting, resource, reqnodes, NS_rexmit, …) from a Heartbeat peer. */
  | { kind: 'hb-heard'; src: string; generation: number; seq?: number; msg: HbMessage }
  | Extract<ResourcesEvent, { kind: 'cleanup' }>
  | Extract<ResourcesEvent, { kind: 'monitor-done' }>;

/**
 * The fencing policy's actions, passed through to the daemon. Its alert and
 * log are renamed: resources already has an `alert` (about a group).
 */
export type EngineFencingAction =
  | Extract<FencingAction, { kind: 'fence' | 'check' | 'record' | 'may-take-over' }>
  | { kind: 'fence-alert'; message: string }
  | { kind: 'fence-log'; level: 'info' | 'warn'; message: string };

export type EngineAction =
  | { kind: 'send'; status: OutgoingStatus }
  | Exclude<MembershipAction, { kind: 'send' }>
  | ResourcesAction
  | EngineFencingAction
  | EngineLeaseAction
  | EngineQuorumChangedAction
  /**
   * The peer says it has accepted a message of ours from this generation
   * with a higher seq than we have sent, or from a later generation: ours
   * was used before (a lost state record). The peer drops everything we send
   * as a replay until we move past it: persist a higher one, then 'generation'.
   */
  | { kind: 'generation-seen'; generation: number; seq?: number; ours: number; ourSeq: number }
  | { kind: 'released' }   // shutdown finished: every group is stopped and the peer was told
  /** Send Heartbeat's t=ask_resources with this seq (taken from our heartbeat seq space). */
  | { kind: 'ask'; seq: number; rscHold: RscHold; info: AskInfo }
  /** A hand-over happened or was refused: worth a journal line. */
  | { kind: 'handover-log'; level: 'info' | 'warn'; message: string }
  /** An authentic ask_resources with values tandem does not know: a per-packet line, to be rate-limited. */
  | { kind: 'ask-ignored'; detail: string }
  /** Send a Heartbeat message to a Heartbeat peer; seq from our heartbeat seq space, none for NS_ types. */
  | { kind: 'hb-send'; msg: HbOutgoing; seq?: number }
  /** Resend our messages first..last (a Heartbeat peer's NS_rexmit); the runtime keeps the history. */
  | { kind: 'hb-rexmit'; dest: string; first: number; last: number };

export function initEngine(
  mcfg: MembershipConfig, rcfg: ResourcesConfig, now: number,
  persisted: {
    peerGeneration?: number;
    /** The peer's seq watermark for peerGeneration and the generation before it (state/store.ts). */
    peerSeq?: number;
    peerPrevious?: { generation: number; lastSeq: number };
    held: ReadonlySet<string>;
  },
  fcfg?: FencingPolicyConfig,
  qcfg?: EngineQuorumConfig,
): EngineState {
  return {
    m: initMembership(
      { ...mcfg, generation: mcfg.generation ?? rcfg.generation }, now,
      persisted.peerGeneration === undefined ? undefined : {
        generation: persisted.peerGeneration,
        ...(persisted.peerSeq !== undefined ? { seq: persisted.peerSeq } : {}),
        ...(persisted.peerPrevious ? { previous: persisted.peerPrevious } : {}),
      },
    ),
    r: initResources({ ...rcfg, peer: rcfg.peer ?? mcfg.peer }, persisted.held, now),
    releasedAnnounced: false,
    droppedAt: {},
    unheardKey: '',
    ...(fcfg ? { f: initFencing(fcfg, now) } : {}),
    ...(qcfg ? { q: { state: initQuorum(qcfg, now), graceMs: qcfg.graceMs, leases: {}, lastLease: {} } } : {}),
  };
}

/**
 * New quorum inputs from the adapters (pinger, lease driver). Pure: it only
 * records them; run an engineStep (a tick) right after so they take effect.
 */
export function engineQuorumInput(s: EngineState, i: { reach?: Reach; leases?: Record<string, LeaseView> }): void {
  if (!s.q) return;
  if (i.reach) s.q.reach = { ...i.reach };
  if (i.leases) s.q.leases = { ...s.q.leases, ...i.leases };
}

/** The QuorumInput from what membership, the resources machine and the adapters know now. */
function quorumInput(s: EngineState, q: EngineQuorum): QuorumInput {
  const report = s.m.peer.report;
  const held = new Set(heldGroups(s.r));
  const groups: QuorumInput['groups'] = {};
  for (const g of q.state.cfg.groups) {
    const lease = q.leases[g];
    groups[g] = {
      iHold: held.has(g),
      peerHolds: report?.hold.includes(g) ?? false,
      peerFailed: report?.failed.includes(g) ?? false,
      peerYields: report?.ipfailYields?.includes(g) ?? false,
      ...(lease ? { lease } : {}),
    };
  }
  const confirms = confirmsMutual(s);
  const readReach = peerRead(s, s.reachSentFrom);
  return {
    peer: {
      liveness: s.m.peer.liveness,
      ...(report?.hearsMe !== undefined ? { hearsMe: report.hearsMe } : {}),
      ...(confirms !== undefined ? { confirmsMutual: confirms } : {}),
      ...(q.reach && readReach !== undefined ? { readOurReach: readReach } : {}),
      ...(report?.reach ? { reach: report.reach } : {}),
    },
    ...(q.reach ? { reach: q.reach } : {}),
    groups,
  };
}

/**
 * Whether the peer's newest report was written after it read a message of
 * ours saying we hear it: its own mutual view (it hears us, and our newest
 * report it holds says we hear it). undefined when the report does not say
 * which of our messages it had read.
 */
function confirmsMutual(s: EngineState): boolean | undefined {
  return peerRead(s, s.hearsRunFrom);
}

/** Whether the peer's newest report was written after it had read our message `seq` (undefined: it does not say). */
function peerRead(s: EngineState, seq: number | undefined): boolean | undefined {
  const r = s.m.peer.report;
  if (!r || r.hearsSeq === undefined) return undefined;
  if (r.hearsGeneration !== s.r.cfg.generation || seq === undefined) return false;
  return r.hearsSeq >= seq;
}

/** Runs the quorum decision and hands it to the resources machine; its journal lines go to `out`. */
function decide(s: EngineState, q: EngineQuorum, now: number, out: EngineAction[]): void {
  const d = decideQuorum(q.state, quorumInput(s, q), now);
  q.decision = d;
  s.r.quorum = d.groups;
  if (d.changed.length) out.push({ kind: 'quorum-changed', changed: d.changed, summary: d.summary });
}

/** Per group: want its lease or not, and the request context (only what changed since last time). */
function leaseActions(s: EngineState, q: EngineQuorum, out: EngineAction[]): void {
  // Shutting down: leases stay as they are until every group is stopped;
  // then the daemon gives them all up saying it leaves (releaseAll), which
  // lets the arbiter hand them to the peer without waiting out its grace.
  if (s.r.stopping) return;
  const cfg = q.state.cfg;
  const report = s.m.peer.report;
  const peerHeard = s.m.peer.liveness === 'up';
  const mutual = q.decision?.mutual ?? false;
  const held = new Set(heldGroups(s.r));
  for (const g of cfg.groups) {
    const iHold = held.has(g);
    const gs = s.r.groups[g];
    const want = leaseWanted({
      arbiter: cfg.arbiter, shuttingDown: false, iHold, mutual,
      eligible: gs !== undefined && gs.phase !== 'failed',
    });
    const ctx: RequestContext = {
      holds: iHold, peerHeard, peerHolds: peerHeard && (report?.hold.includes(g) ?? false),
      reach: q.reach?.up ?? 0, reachTotal: q.reach?.total ?? 0, graceMs: q.graceMs,
    };
    const key = JSON.stringify([want, ctx]);
    if (q.lastLease[g] === key) continue;
    q.lastLease[g] = key;
    out.push({ kind: 'lease', group: g, want, ctx });
  }
}

/**
 * The peer's liveness as the resources machine may see it. THE GATE: with
 * fencing, a peer membership calls dead stays 'unknown' (nothing starts or
 * stops, running groups keep running) until the policy allows the takeover,
 * i.e. the peer is confirmed off, left gracefully, or the operator said so.
 */
export function gatedLiveness(s: EngineState): EngineState['m']['peer']['liveness'] {
  const l = s.m.peer.liveness;
  if (l === 'dead' && s.f && !mayTakeOver(s.f)) return 'unknown';
  return l;
}

/** Is this node waiting for fencing before it may take over its dead peer's groups? */
export function waitingOnFencing(s: EngineState): boolean {
  return s.m.peer.liveness === 'dead' && s.f !== undefined && !mayTakeOver(s.f);
}

/** What the engine knows, for an operator: plain frozen data, built fresh; nothing in it reaches back into the state. */
export interface EngineView {
  readonly membership: MembershipView;
  readonly resources: ResourcesView;
  /** null without STONITH devices. */
  readonly fencing: FencingView | null;
  /** null without quorum rules. */
  readonly quorum: QuorumView | null;
  /** This node as its status messages would say: init until the peer is judged, stopping once shutdown began. */
  readonly localState: 'init' | 'active' | 'stopping';
  /** The groups the peer's newest report holds, while the peer is heard (empty otherwise). */
  readonly peerHolds: readonly string[];
  /** The peer is dead and its groups wait for fencing before they may start here. */
  readonly waitingOnFencing: boolean;
}

/** The composed view of every machine at `now` (pure: `now` only turns instants into ages). */
export function engineView(s: EngineState, now: number): EngineView {
  const membership = membershipView(s.m, now);
  const peer = membership.peer;
  return Object.freeze({
    membership,
    resources: resourcesView(s.r, now),
    fencing: s.f ? fencingView(s.f, now) : null,
    quorum: s.q ? quorumView(s.q, now) : null,
    localState: peer.liveness === 'unknown' ? 'init' : s.r.stopping ? 'stopping' : 'active',
    // A Heartbeat peer's holdings come from its t=resource messages (hbReport), not its status.
    peerHolds: peer.liveness === 'up' && peer.report
      ? (peer.report.heartbeat && s.m.peer.report ? Object.freeze(hbReport(s, s.m.peer.report).hold) : peer.report.hold)
      : Object.freeze([]),
    waitingOnFencing: waitingOnFencing(s),
  });
}

export function engineStep(s: EngineState, ev: EngineEvent, now: number): EngineAction[] {
  const out: EngineAction[] = [];
  let rEvents: ResourcesEvent[] = [];
  let mEvent: MembershipEvent | undefined;
  switch (ev.kind) {
    case 'tick':
    case 'heard':
      mEvent = ev;
      rEvents.push({ kind: 'tick' });
      break;
    case 'op-done':
    case 'hold-failed':
    case 'reconfigure':
      rEvents.push(ev);
      mEvent = { kind: 'tick' };
      break;
    case 'shutdown':
      rEvents.push({ kind: 'shutdown' });
      mEvent = { kind: 'tick' };
      break;
    case 'generation':
      // Reports written before the peer heard the new generation are older words from now on.
      if (s.r.cfg.generation === undefined || ev.generation > s.r.cfg.generation) s.r.cfg.generation = ev.generation;
      rEvents.push({ kind: 'tick' });
      mEvent = { kind: 'tick' };
      break;
    case 'fence-done':
    case 'check-done':
    case 'operator':
      mEvent = { kind: 'tick' };
      break;
    case 'cleanup':
    case 'monitor-done':
      rEvents.push(ev);
      mEvent = { kind: 'tick' };
      break;
    case 'standby':
    case 'takeover':
      rEvents.push(...operatorHandover(s, ev, now, out));
      mEvent = { kind: 'tick' };
      break;
    case 'ask-heard':
      rEvents.push(...askHeard(s, ev, out));
      mEvent = { kind: 'tick' };
      break;
    case 'hb-heard':
      rEvents.push(...hbHeard(s, ev, out));
      mEvent = { kind: 'tick' };
      break;
  }
  // Membership first: resource decisions must see the newest peer report.
  const silentFor = s.m.peer.lastHeard !== undefined ? now - s.m.peer.lastHeard : undefined;
  const mActs = membershipStep(s.m, mEvent, now);
  let peerChanged = false;
  for (const a of mActs) {
    if (a.kind === 'peer-up' || a.kind === 'peer-dead' || a.kind === 'peer-report') peerChanged = true;
    // The peer restarted (or died): what the two had handed each other ends with it.
    if (a.kind === 'persist-peer-generation' || a.kind === 'peer-dead') {
      const had = (s.r.standby?.length ?? 0) + (s.r.fromPeer?.length ?? 0) > 0 || s.handover?.done || s.handover?.ask;
      if (had) {
        out.push({ kind: 'handover-log', level: 'warn', message: `${s.m.cfg.peer} ${a.kind === 'peer-dead' ? 'is gone' : 'restarted'}: the standby/takeover between the two nodes ends; the usual rules place the groups again` });
        rEvents.push({ kind: 'handover-reset' });
        s.handedAt = undefined;
        s.handover = undefined;
      }
    }
    if (a.kind === 'peer-up') s.peerWhy = undefined;
    if (a.kind === 'peer-dead') s.peerWhy = deadWhy(s, a.reason, silentFor);
  }
  hbPeerLifecycle(s, now, out);
  const fActs: FencingAction[] = [];
  if (s.f) {
    const f = s.f;
    for (const a of mActs) {
      if (a.kind === 'peer-up') fActs.push(...fencingStep(f, { kind: 'peer-up' }, now));
      if (a.kind === 'peer-dead') {
        const peerHeld = s.m.peer.report?.hold.length;
        fActs.push(...fencingStep(f, {
          kind: 'peer-dead', reason: a.reason, selfHeld: heldGroups(s.r).length, ...(peerHeld !== undefined ? { peerHeld } : {}),
        }, now));
      }
    }
    // The peer could not stop a group: it cannot prove it down, so it is fenced before the group starts here.
    const stopFailed = s.m.peer.liveness === 'up' ? s.m.peer.report?.stopFailed : undefined;
    if (stopFailed?.length && mActs.some((a) => a.kind === 'peer-report')) fActs.push(...fencingStep(f, { kind: 'peer-stop-failed', groups: stopFailed }, now));
    if (ev.kind === 'fence-done' || ev.kind === 'check-done' || ev.kind === 'operator') fActs.push(...fencingStep(f, ev, now));
    fActs.push(...fencingStep(f, { kind: 'tick' }, now));
    for (const a of fActs) if (a.kind === 'may-take-over' && s.peerWhy) s.peerWhy += `; ${TAKE_OVER_WORDS[a.reason]}`;
  }
  // Without fencing the gate is the identity, so this is exactly the old
  // condition; with it, a takeover allowed later (fence-done) also reaches
  // the resources machine.
  const liveness = gatedLiveness(s);
  const report = reportWithDrops(s);
  const unheardKey = `${report?.unheardDrops?.join(',') ?? ''}/${report?.unheardHands?.join(',') ?? ''}/${hbKey(s)}`;
  const why = liveness === 'unknown' && s.m.peer.liveness === 'dead' ? `${s.peerWhy ?? `${s.m.cfg.peer} declared dead`}; waiting for fencing` : s.peerWhy;
  if (peerChanged || liveness !== s.r.peer.liveness || unheardKey !== s.unheardKey || why !== s.r.peer.why) {
    s.unheardKey = unheardKey;
    rEvents = [{ kind: 'peer', liveness, ...(report ? { report } : {}), ...(why && liveness !== 'up' ? { why } : {}) }, ...rEvents];
  }
  const qActs: EngineAction[] = [];
  if (s.q) {
    // Membership is already up to date; the decision uses its view of the peer.
    decide(s, s.q, now, qActs);
  }
  const rActs: ResourcesAction[] = [];
  for (const e of rEvents) rActs.push(...resourcesStep(s.r, e, now));

  hbAfterResources(s, out);
  hbStandbyAsk(s, now, out);
  let announce = rActs.some((a) => a.kind === 'announce') || mActs.some((a) => a.kind === 'peer-dead' || a.kind === 'peer-up');
  const released = s.r.stopping && allReleased(s.r);
  if (released && !s.releasedAnnounced) announce = true;
  // Once released, every tick repeats st=dead: the daemon ticks twice more
  // before it closes, so one lost datagram does not cost the peer a deadtime.
  if (released && ev.kind === 'tick') announce = true;
  const sends = mActs.filter((a): a is Extract<MembershipAction, { kind: 'send' }> => a.kind === 'send');
  if (announce && sends.length === 0) {
    for (const a of membershipStep(s.m, { kind: 'announce' }, now)) {
      if (a.kind === 'send') sends.push(a);
      else mActs.push(a);
    }
  }
  for (const a of mActs) if (a.kind !== 'send') out.push(a);
  if (ev.kind === 'heard' && mActs.some((a) => a.kind === 'peer-report')) {
    const seen = generationSeen(s);
    if (seen) out.push(seen);
  }
  for (const a of fActs) {
    if (a.kind === 'alert') out.push({ kind: 'fence-alert', message: a.message });
    else if (a.kind === 'log') out.push({ kind: 'fence-log', level: a.level, message: a.message });
    else out.push(a);
  }
  out.push(...qActs);
  out.push(...rActs.filter((a) => a.kind !== 'announce'));
  if (s.q) {
    // Held groups may have changed just now: decide again so the leases follow at once.
    const again: EngineAction[] = [];
    decide(s, s.q, now, again);
    out.push(...again);
    leaseActions(s, s.q, out);
  }
  for (const a of sends) {
    // After our shutdone a Heartbeat peer must hear nothing more of this incarnation (see outgoing).
    if (s.hbShutdone) break;
    const status = outgoing(s, a.seq, released);
    for (const g of s.lastSentHold ?? []) if (!status.hold.includes(g)) s.droppedAt[g] = a.seq;
    // No longer handing a group over is a drop too: the peer may be taking it on our older word.
    for (const g of s.lastSentStandby ?? []) if (!status.standby.includes(g)) s.droppedAt[g] = a.seq;
    noteHanded(s, status.standby, a.seq);
    s.lastSentHold = status.hold;
    s.lastSentStandby = status.standby;
    s.unsentDrops = undefined;
    out.push({ kind: 'send', status });
    handoverMessages(s, out);
  }
  if (released && !s.releasedAnnounced) {
    s.releasedAnnounced = true;
    // A Heartbeat peer takes a leaving peer's groups on its shutdone (it does not read st=dead as a release).
    if (s.m.peer.liveness === 'up' && s.m.peer.report?.heartbeat) {
      hbSeqSend(s, { type: 'shutdone' }, out);
      s.hbShutdone = true;
    }
    out.push({ kind: 'released' });
  }
  return out;
}

const TAKE_OVER_WORDS: Record<string, string> = {
  fenced: 'fenced off', operator: 'an operator confirmed it off', 'peer-left': 'it left gracefully',
  'no-fencing': 'no fencing device applies', 'failure-policy': 'fencing failed; taking over by policy',
};

/** Why membership declared the peer dead, in plain words (the reason its groups move here). */
function deadWhy(s: EngineState, reason: 'silent' | 'initdead' | 'left', silentFor: number | undefined): string {
  const peer = s.m.cfg.peer;
  if (reason === 'left') return `${peer} left the cluster (graceful shutdown)`;
  if (reason === 'initdead') return `${peer} not heard within initdead (${formatDuration(s.m.cfg.initdeadMs)}) of start`;
  return `${peer} declared dead (silent on every path for ${formatDuration(silentFor ?? s.m.cfg.deadtimeMs)})`;
}

export function engineDeadline(s: EngineState): number {
  return Math.min(membershipDeadline(s.m), resourcesDeadline(s.r), s.f ? fencingDeadline(s.f) : Infinity, s.q ? quorumDeadline(s.q) : Infinity);
}

/** A hysteresis timer of the decision, or a lease's local deadline (the decision re-checks it). */
function quorumDeadline(q: EngineQuorum): number {
  let t = q.decision?.nextAt ?? Infinity;
  for (const l of Object.values(q.leases)) if (l.status === 'held' && l.until !== undefined) t = Math.min(t, l.until);
  return t;
}


/**
 * The peer's newest report, with the groups we dropped in a message it had
 * not accepted when it wrote the report (it says which: tg_hears_seq). Such
 * a report cannot show whether the peer takes the group on our drop, so the
 * resources machine does not start it on that report (simulator seed 19016:
 * a node resumed from a freeze took groups from its backlog of our reports
 * while we started them again on its report from before it read our drop).
 */
function reportWithDrops(s: EngineState): PeerReport | undefined {
  const raw = s.m.peer.report;
  if (!raw) return raw;
  const r = raw.heartbeat ? hbReport(s, raw) : raw;
  const readsUs = r.hearsSeq !== undefined && r.hearsGeneration === s.r.cfg.generation;
  const acked = readsUs ? r.hearsSeq! : -Infinity;
  const hands = r.standby !== undefined ? unheardHands(s, acked) : [];
  if (!readsUs) return hands.length ? { ...r, unheardHands: hands } : r;
  const unheard = [...new Set([...Object.keys(s.droppedAt).filter((g) => s.droppedAt[g]! > acked), ...(s.unsentDrops ?? [])])].sort();
  return unheard.length || hands.length ? { ...r, ...(unheard.length ? { unheardDrops: unheard } : {}), ...(hands.length ? { unheardHands: hands } : {}) } : r;
}

/**
 * Groups we hand over in a message the peer had not read when it wrote its
 * report (simulator seed 450121183: a node's standby crossed the peer's
 * older report, which still handed the groups back from before the peer
 * read it; both counted the hand-over as crossed and both started them).
 */
function unheardHands(s: EngineState, acked: number): string[] {
  return (s.r.standby ?? []).filter((g) => !((s.handedAt?.[g] ?? Infinity) <= acked)).sort();
}

function forgetHanded(s: EngineState, groups: string[]): void {
  for (const g of groups) delete s.handedAt?.[g];
}

/** Keep handedAt to the groups of our standby list, stamping those it lists for the first time. */
function noteHanded(s: EngineState, standby: string[], seq: number): void {
  const was = s.handedAt ?? {};
  const now: Record<string, number> = {};
  for (const g of standby) now[g] = was[g] ?? seq;
  s.handedAt = standby.length ? now : undefined;
}

/** Has the peer, in its newest report, accepted more of our generation than we have sent? */
function generationSeen(s: EngineState): Extract<EngineAction, { kind: 'generation-seen' }> | undefined {
  const r = s.m.peer.report;
  const ours = s.r.cfg.generation;
  if (!r || ours === undefined || typeof r.hearsGeneration !== 'number') return undefined;
  const later = r.hearsGeneration > ours;
  const reused = r.hearsGeneration === ours && r.hearsSeq !== undefined && r.hearsSeq > s.m.seq;
  if (!later && !reused) return undefined;
  return { kind: 'generation-seen', generation: r.hearsGeneration, ...(r.hearsSeq !== undefined ? { seq: r.hearsSeq } : {}), ours, ourSeq: s.m.seq };
}

function outgoing(s: EngineState, seq: number, released: boolean): OutgoingStatus {
  let status: NodeStatus = s.m.peer.liveness === 'unknown' ? 'init' : 'active';
  // 'dead' from the start of a shutdown, not only at its end: the peer takes
  // each group as soon as we report it released, so one group whose stop
  // keeps failing does not hold the others hostage.
  // Not to a Heartbeat peer: it marks a node that says st=dead dead, and
  // takes any later message of that incarnation for a node "returning after
  // partition", and restarts itself. It takes our groups on shutdone instead.
  if ((released || s.r.stopping) && !s.m.peer.report?.heartbeat) status = 'dead';
  const hears = s.m.peer.liveness === 'up' ? s.m.peer.generation ?? null : null;
  const hearsSeq = hears !== null ? s.m.peer.lastSeq : undefined;
  const stopFailed = stopFailedGroups(s.r);
  const base = {
    seq, status, hold: heldGroups(s.r), yielding: yieldingGroups(s.r), failed: failedGroups(s.r), standby: [...(s.r.standby ?? [])], hears,
    ...(hearsSeq !== undefined ? { hearsSeq } : {}), ...(stopFailed.length ? { stopFailed } : {}),
  };
  if (!s.q) return base;
  const hearsPeer = s.m.peer.liveness === 'up';
  if (!hearsPeer) s.hearsRunFrom = undefined;
  else s.hearsRunFrom ??= seq;
  const ipfailYields = s.q.state.cfg.groups.filter((g) => s.q!.state.last[g]?.code === 'ipfail-handover');
  const extra = quorumFields({ ...(s.q.reach ? { reach: s.q.reach } : {}), hearsPeer, ...(ipfailYields.length ? { ipfailYields } : {}) });
  const reach = extra.find(([k]) => k === 'tg_ping')?.[1];
  if (reach !== s.reachSent) {
    s.reachSent = reach;
    s.reachSentFrom = reach === undefined ? undefined : seq;
  }
  return { ...base, extra };
}


/** What the operator's standby/takeover would do now; refusal = nothing happens, and why. */
export interface HandoverPlan {
  groups: string[];
  refusal?: string;
  /** Per group notes for the operator (excluded groups and why). */
  notes: string[];
}

/**
 * Pure planning for `tandem standby|takeover [local|foreign|all]`: which
 * groups it names (local = preferred on this node, as Heartbeat's
 * hb_standby/hb_takeover read it), and whether anything can happen at all.
 */
export function planHandover(s: EngineState, cmd: 'standby' | 'takeover', which: RscHold): HandoverPlan {
  const self = s.r.cfg.self;
  const peer = s.m.cfg.peer;
  const live = gatedLiveness(s);
  if (s.r.stopping) return { groups: [], notes: [], refusal: 'this node is shutting down' };
  if (cmd === 'takeover' && live === 'up' && s.m.peer.report?.heartbeat) {
    // Heartbeat acts on a takeover request (info=other) only as the answer to
    // its own standby (hb_resource.c ignores it otherwise; 3.0.6's own
    // hb_takeover does nothing either).
    return { groups: [], notes: [], refusal: `${peer} runs Heartbeat, which ignores takeover requests: run hb_standby on ${peer} instead` };
  }
  if (live !== 'up') {
    const state = live === 'dead' ? 'dead' : s.m.peer.liveness === 'dead' ? 'dead and not yet fenced' : 'not heard yet';
    return {
      groups: [], notes: [],
      refusal: cmd === 'standby'
        ? `${peer} is ${state}: nobody could take the groups; they stay here`
        : `${peer} is ${state}: there is nobody to hand the groups over (this node takes a dead peer's groups by itself)`,
    };
  }
  const named = groupsOf(s.r, which, self);
  if (!named.length) {
    const why = which === 'all' ? 'there are no groups' : which === 'local' ? `no group is preferred on ${self}` : `no group is preferred on ${peer}`;
    return { groups: [], notes: [], refusal: `nothing matched '${which}': ${why}` };
  }
  const report = s.m.peer.report;
  const notes: string[] = [];
  const groups: string[] = [];
  for (const g of named) {
    const here = s.r.groups[g]!;
    if (cmd === 'standby' && report?.failed.includes(g)) { notes.push(`group ${g}: failed to start on ${peer}; not handed over (tandem cleanup ${g} on ${peer} first)`); continue; }
    if (cmd === 'takeover' && here.phase === 'failed') { notes.push(`group ${g}: failed to start here; not taken (tandem cleanup ${g} first)`); continue; }
    if (here.phase === 'stop-failed') { notes.push(`group ${g}: stop-failed here; not moved (tandem cleanup ${g} first)`); continue; }
    groups.push(g);
  }
  if (!groups.length) return { groups, notes, refusal: `none of the groups of '${which}' can move: ${notes.join('; ')}` };
  return { groups, notes };
}

const SWAP: Record<RscHold, RscHold> = { all: 'all', local: 'foreign', foreign: 'local' };

/** The operator's standby/takeover: the resources machine's events, and the message for the peer. */
function operatorHandover(s: EngineState, ev: Extract<EngineEvent, { kind: 'standby' | 'takeover' }>, now: number, out: EngineAction[]): ResourcesEvent[] {
  s.handover ??= {};
  const peer = s.m.cfg.peer;
  if (ev.kind === 'standby' && s.m.peer.report?.heartbeat) {
    // A Heartbeat peer takes them only after it answered `other` and read
    // our `done` (hb_resource.c): nothing is stopped here before its answer
    // (askHeard 'other' hands them over then), so a peer in flux that
    // ignores the request leaves them running here, not nowhere.
    s.hbStandby = { which: ev.which, groups: ev.groups, until: now + HB_STANDBY_RETRY_FOR_MS };
    out.push({ kind: 'handover-log', level: 'info', message: `standby [${ev.which}]: asking ${peer} (Heartbeat) to take ${ev.groups.join(', ')}` });
    hbStandbyAsk(s, now, out);
    return [];
  }
  if (ev.kind === 'standby') {
    // rsc_hold names groups as the releasing node sees them: here, this node.
    s.handover.done = { rscHold: ev.which, groups: ev.groups };
    if (s.handover.ask) s.handover.ask.groups = s.handover.ask.groups.filter((g) => !ev.groups.includes(g));
    const ask = askAction(s, ev.which, 'me');
    s.handedAt ??= {};
    for (const g of ev.groups) s.handedAt[g] = ask.seq;
    out.push(ask);
    out.push({ kind: 'handover-log', level: 'info', message: `standby [${ev.which}]: handing ${ev.groups.join(', ')} to ${peer}` });
    return [{ kind: 'hand-over', groups: ev.groups }];
  }
  // The peer releases: rsc_hold as the peer sees it.
  const rscHold = SWAP[ev.which];
  forgetHanded(s, ev.groups);
  s.handover.ask = { rscHold, groups: ev.groups, tries: 1 };
  if (s.handover.done) s.handover.done.groups = s.handover.done.groups.filter((g) => !ev.groups.includes(g));
  out.push(askAction(s, rscHold, 'other'));
  out.push({ kind: 'handover-log', level: 'info', message: `takeover [${ev.which}]: asking ${peer} to hand over ${ev.groups.join(', ')}` });
  // Groups our last status handed to the peer: it may be taking them on that
  // word until it reads one without them, so they count as unheard drops from
  // now, not from the next send (simulator seed 430071943: an isolated node's
  // takeover started a group its peer was starting on the old hand-over).
  const withdrawn = ev.groups.filter((g) => s.lastSentStandby?.includes(g));
  if (withdrawn.length) s.unsentDrops = [...new Set([...(s.unsentDrops ?? []), ...withdrawn])];
  return [{ kind: 'take-back', groups: ev.groups }];
}

function askAction(s: EngineState, rscHold: RscHold, info: AskInfo): Extract<EngineAction, { kind: 'ask' }> {
  s.m.seq += 1;
  return { kind: 'ask', seq: s.m.seq, rscHold, info };
}

/**
 * A t=ask_resources from the peer (Heartbeat's hb_standby protocol):
 * `me` = the peer goes standby for rsc_hold (as the peer sees it): stop
 * handing those to it, and answer `other` as Heartbeat does (a Heartbeat
 * peer releases only on that answer). `other` = we should release rsc_hold
 * (as we see it): the peer's takeover, or its answer to our standby.
 * `done` = a release finished (informational, except from a peer that does
 * not send tg_standby: then the groups it released are ours to take).
 */
function askHeard(s: EngineState, ev: Extract<EngineEvent, { kind: 'ask-heard' }>, out: EngineAction[]): ResourcesEvent[] {
  const why = hbLate(s, ev.generation, ev.seq) ? undefined : acceptPeerMessage(s.m, ev.src, ev.generation, ev.seq);
  if (why === 'duplicate') return [];
  if (why !== undefined) {
    out.push({ kind: 'dropped', reason: 'replay', detail: `ask_resources ${why}` });
    return [];
  }
  hbTaken(s, ev.seq);
  const peer = s.m.cfg.peer;
  const self = s.r.cfg.self;
  if (ev.rscHold !== 'all' && ev.rscHold !== 'local' && ev.rscHold !== 'foreign') {
    out.push({ kind: 'ask-ignored', detail: `ask_resources from ${ev.src} with rsc_hold=${JSON.stringify(ev.rscHold.slice(0, 20))} (not all, local or foreign): ignored` });
    return [];
  }
  const rscHold: RscHold = ev.rscHold;
  if (s.r.stopping) {
    out.push({ kind: 'handover-log', level: 'warn', message: `hb_standby/hb_takeover message (info=${ev.info.slice(0, 10)}) from ${peer} ignored: this node is shutting down` });
    return [];
  }
  // A hand-over request older than a heartbeat of the peer's already accepted is stale: the peer wrote that
  // heartbeat later, from what it knew later (tandem: its tg_standby list), and acting on the older request can undo
  // a newer one (simulator seed 483037315: beta's standby, delayed 4.8 s on a lossy path, reached alpha after alpha's
  // own later standby had handed the groups to beta, and alpha took them back while beta ran them). Not `done`: a
  // Heartbeat peer's release is known only from it, and taking released groups late is never unsafe.
  const lastHeard = s.m.peer.lastSeq;
  if ((ev.info === 'me' || ev.info === 'other') && lastHeard !== undefined && ev.seq < lastHeard) {
    out.push({ kind: 'handover-log', level: 'info', message: `hb_standby/hb_takeover message (info=${ev.info}, seq ${ev.seq}) from ${peer} ignored: older than its heartbeat seq ${lastHeard}, already heard` });
    return [];
  }
  switch (ev.info) {
    case 'me': {
      const groups = groupsOf(s.r, rscHold, peer);
      out.push({ kind: 'handover-log', level: 'info', message: `hb_standby [${rscHold}] from ${peer}: it hands ${groups.join(', ') || 'no group'} to this node` });
      out.push(askAction(s, rscHold, 'other'));
      if (s.handover?.done) s.handover.done.groups = s.handover.done.groups.filter((g) => !groups.includes(g));
      forgetHanded(s, groups);
      return [{ kind: 'take-back', groups }];
    }
    case 'other': {
      if (s.m.peer.report?.heartbeat) s.hbStandby = undefined;   // answered
      const groups = groupsOf(s.r, rscHold, self);
      const fresh = groups.filter((g) => !(s.r.standby ?? []).includes(g));
      if (!fresh.length) return [];   // the answer to our own standby
      out.push({ kind: 'handover-log', level: 'info', message: `hb_takeover [${SWAP[rscHold]}] from ${peer}: handing ${fresh.join(', ')} to it` });
      s.handover ??= {};
      const prev = s.handover.done?.groups ?? [];
      s.handover.done = { rscHold, groups: [...new Set([...prev, ...fresh])] };
      if (s.handover.ask) s.handover.ask.groups = s.handover.ask.groups.filter((g) => !fresh.includes(g));
      return [{ kind: 'hand-over', groups: fresh }];
    }
    case 'done': {
      if (s.m.peer.report?.standby !== undefined || (s.r.standby?.length ?? 0) > 0) {
        out.push({ kind: 'handover-log', level: 'info', message: `${peer} reports its part of the hand-over [${rscHold}] done` });
        return [];
      }
      const groups = groupsOf(s.r, rscHold, peer);
      out.push({ kind: 'handover-log', level: 'info', message: `${peer} released ${groups.join(', ') || 'no group'} for this node (hb_standby done)` });
      if (s.m.peer.report?.heartbeat) {
        // Its release is done: what its last stable report held of these is not held any more.
        const hb = hbFor(s);
        hb.stableGroups = hb.stableGroups.filter((g) => !groups.includes(g));
        // Its standby waits for our `done` once we run them (hb_resource.c, state OTHER -> DONE).
        hb.owedDone = { rscHold, groups };
      }
      return [{ kind: 'take-back', groups, released: true }];
    }
    default:
      out.push({ kind: 'ask-ignored', detail: `ask_resources from ${ev.src} with info=${JSON.stringify(ev.info.slice(0, 20))} (not me, other or done): ignored` });
      return [];
  }
}

/** After a status send: `done` once our hand-over is released; a takeover request again while unanswered. */
function handoverMessages(s: EngineState, out: EngineAction[]): void {
  const h = s.handover;
  if (!h) return;
  if (h.done) {
    const held = new Set(heldGroups(s.r));
    if (!h.done.groups.some((g) => held.has(g))) {
      const { rscHold, groups } = h.done;
      h.done = undefined;
      // Emptied by the peer's own standby or our takeover: that hand-over was called off, not done.
      if (groups.length) out.push(askAction(s, rscHold, 'done'));
    }
  }
  if (h.ask) {
    const listed = s.m.peer.report?.standby;
    const answered = listed === undefined || h.ask.groups.every((g) => listed.includes(g));
    if (answered || h.ask.tries >= TAKEOVER_ASK_TRIES || s.m.peer.liveness !== 'up') h.ask = undefined;
    else {
      h.ask.tries += 1;
      out.push(askAction(s, h.ask.rscHold, 'other'));
    }
  }
  if (!h.done && !h.ask) s.handover = undefined;
}


// ---------------------------------------------------------------------------
// A Heartbeat peer (issue 17, docs/migrating.md "A mixed pair"). Heartbeat
// does not send tg_hold: what it holds comes from its t=resource messages,
// in its coarse terms (its own preferred groups = local, ours = foreign).
// Until this incarnation has heard one, nothing starts here on its word.

/** The groups of a Heartbeat rsc_hold value, as `holder` reports them. */
function hbGroups(s: EngineState, rscHold: HbRscHold, holder: string): string[] {
  if (rscHold === 'none') return [];
  return groupsOf(s.r, rscHold, holder);
}

/** The Heartbeat peer's report as the resources machine reads it: hold from its resource messages. */
function hbReport(s: EngineState, raw: PeerReport): PeerReport {
  const hb = s.hb;
  const peer = s.m.cfg.peer;
  if (!hb || hb.generation !== s.m.peer.generation || hb.rscHold === undefined) return { ...raw, hold: [], yielding: [], holdUnknown: true };
  const now = hbGroups(s, hb.rscHold, peer);
  const hold = hb.stable ? now : [...new Set([...now, ...hb.stableGroups])].sort();
  // Being released: held, not claimed (the resources machine lets the claimant keep a group both hold).
  const yielding = hb.stable ? [] : hold.filter((g) => !now.includes(g));
  return { ...raw, hold, yielding, ...(hb.left ? { status: 'dead' } : {}) };
}

function hbKey(s: EngineState): string {
  const hb = s.hb;
  if (!hb) return '';
  return `${hb.generation}:${hb.rscHold ?? '?'}:${hb.stable ? 1 : 0}:${hb.stableGroups.join(',')}:${hb.left ? 'left' : ''}`;
}

/** Our holdings in Heartbeat's terms: local = groups preferred here, foreign = the peer's. */
function ourRscHold(s: EngineState): HbRscHold {
  const self = s.r.cfg.self;
  const held = new Set(heldGroups(s.r));
  const local = s.r.cfg.groups.some((g) => g.preferredNode === self && held.has(g.name));
  const foreign = s.r.cfg.groups.some((g) => g.preferredNode !== self && held.has(g.name));
  return local && foreign ? 'all' : local ? 'local' : foreign ? 'foreign' : 'none';
}

/** No start or stop under way here, and the peer's holdings known: what Heartbeat calls stable. */
function ourStable(s: EngineState): boolean {
  if (s.hb?.rscHold === undefined) return false;
  return Object.values(s.r.groups).every((g) => !g.busy && (g.phase === 'running' || g.phase === 'stopped' || g.phase === 'failed'));
}

function hbSeqSend(s: EngineState, msg: HbOutgoing, out: EngineAction[]): void {
  s.m.seq += 1;
  out.push({ kind: 'hb-send', msg, seq: s.m.seq });
}

/** A Heartbeat peer's message: join chatter answered, its resource report recorded. */
function hbHeard(s: EngineState, ev: Extract<EngineEvent, { kind: 'hb-heard' }>, out: EngineAction[]): ResourcesEvent[] {
  const peer = s.m.cfg.peer;
  const p = s.m.peer;
  if (ev.seq === undefined) {
    // NS_ messages carry no seq: only the current incarnation's are answered, and only resends (harmless, bounded).
    if (ev.msg.type !== 'rexmit' || ev.src !== peer || p.liveness !== 'up' || ev.generation !== p.generation) return [];
    const first = Math.max(1, ev.msg.first);
    const last = Math.min(ev.msg.last, first + HB_REXMIT_MAX - 1, s.m.seq);
    if (last >= first) out.push({ kind: 'hb-rexmit', dest: peer, first, last });
    return [];
  }
  const late = hbLate(s, ev.generation, ev.seq);
  const why = late ? undefined : acceptPeerMessage(s.m, ev.src, ev.generation, ev.seq);
  if (why === 'duplicate') return [];
  if (why !== undefined) {
    out.push({ kind: 'dropped', reason: 'replay', detail: `${ev.msg.type} ${why}` });
    return [];
  }
  hbTaken(s, ev.seq);
  // A resource report overtaken by a newer one is out of date.
  if (late && ev.msg.type === 'resource') return [];
  const hb = hbFor(s);
  switch (ev.msg.type) {
    case 'reqnodes':
      hbSeqSend(s, { type: 'repnodes', dest: peer, nodes: [...new Set([s.r.cfg.self, peer])].sort() }, out);
      return [];
    case 'starting':
      // It (re)starts its resource management: tell it what we hold, stable or not, at once.
      hbSeqSend(s, { type: 'resource', rscHold: ourRscHold(s), stable: ourStable(s) }, out);
      hb.sentKey = undefined;   // and again once our state is known/settled
      return [];
    case 'resource': {
      const m = ev.msg;
      hb.rscHold = m.full || hb.rscHold === undefined || m.rscHold === 'none' ? m.rscHold : unionHold(hb.rscHold, m.rscHold);
      hb.stable = m.stable;
      if (m.stable) hb.stableGroups = hbGroups(s, hb.rscHold, peer);
      else hb.stableGroups = [...new Set([...hb.stableGroups, ...hbGroups(s, hb.rscHold, peer)])].sort();
      // One line per change of what it says it holds, once it is stable (the migration's checks read it).
      const said = hb.stableGroups.join(', ');
      if (m.stable && said !== hb.loggedHold) {
        hb.loggedHold = said;
        out.push({ kind: 'handover-log', level: 'info', message: `${peer} (Heartbeat) reports what it holds: ${said || 'no group'}` });
      }
      return [];
    }
    case 'shutdone':
      hb.rscHold = 'none';
      hb.stable = true;
      hb.stableGroups = [];
      hb.left = true;
      s.hbStandby = undefined;
      out.push({ kind: 'handover-log', level: 'info', message: `${peer} (Heartbeat) shut down and released every group` });
      // Like a tandem peer's st=dead: what the two had handed each other ends,
      // and its groups are ours to take now (Heartbeat takes ours on our shutdone).
      if ((s.r.standby?.length ?? 0) + (s.r.fromPeer?.length ?? 0) > 0 || s.handover) {
        s.handedAt = undefined;
        s.handover = undefined;
        return [{ kind: 'handover-reset' }];
      }
      return [];
    case 'stonith':
      out.push({ kind: 'handover-log', level: 'info', message: `${peer} reports fencing of ${ev.msg.node.slice(0, 40)}: ${ev.msg.result.slice(0, 20)}` });
      return [];
    default:
      return [];
  }
}

function unionHold(a: HbRscHold, b: HbRscHold): HbRscHold {
  const l = a === 'local' || a === 'all' || b === 'local' || b === 'all';
  const f = a === 'foreign' || a === 'all' || b === 'foreign' || b === 'all';
  return l && f ? 'all' : l ? 'local' : f ? 'foreign' : 'none';
}

/**
 * A Heartbeat peer's control message that a newer one overtook: Heartbeat
 * does not keep them in seq order on the wire (the `done` of an hb_standby
 * acquisition arrives after the resource report Heartbeat sent on reading
 * it), and its own receivers take a late message once. So does this node:
 * from the peer's current incarnation, at most HB_REORDER_WINDOW below the
 * newest control message, within ASK_WINDOW of its heartbeats, and each seq
 * once (hbTaken).
 */
function hbLate(s: EngineState, generation: number, seq: number): boolean {
  const p = s.m.peer;
  if (!p.report?.heartbeat || p.liveness !== 'up' || generation !== p.generation) return false;
  const newest = p.ask?.generation === generation ? p.ask.seq : undefined;
  if (newest === undefined || seq >= newest || seq <= newest - HB_REORDER_WINDOW) return false;
  if (p.lastSeq !== undefined && seq + ASK_WINDOW <= p.lastSeq) return false;
  return !hbFor(s).taken.includes(seq);
}

/** A Heartbeat peer's control message was taken: hbLate will not take its seq again. */
function hbTaken(s: EngineState, seq: number): void {
  if (!s.m.peer.report?.heartbeat) return;
  const hb = hbFor(s);
  const newest = Math.max(seq, s.m.peer.ask?.seq ?? seq);
  hb.taken = [...hb.taken, seq].filter((q) => q > newest - HB_REORDER_WINDOW);
}

/** The HbPeer of the peer's current generation (a restarted peer starts over). */
function hbFor(s: EngineState): HbPeer {
  const g = s.m.peer.generation ?? 0;
  if (!s.hb || s.hb.generation !== g) s.hb = { generation: g, stable: false, stableGroups: [], acked: 0, taken: [] };
  return s.hb;
}

/**
 * An operator's standby toward a Heartbeat peer: `me` once both sides
 * count as stable for it (its last report stable, ours sent stable), again
 * every HB_STANDBY_RETRY_MS until it answers; dropped when the peer is
 * gone, when none of the groups runs here any more, or after
 * HB_STANDBY_RETRY_FOR_MS.
 */
function hbStandbyAsk(s: EngineState, now: number, out: EngineAction[]): void {
  const sb = s.hbStandby;
  if (!sb) return;
  const p = s.m.peer;
  const held = new Set(heldGroups(s.r));
  if (p.liveness !== 'up' || !p.report?.heartbeat || now > sb.until || !sb.groups.some((g) => held.has(g))) {
    s.hbStandby = undefined;
    return;
  }
  const hb = s.hb;
  const settled = hb !== undefined && hb.generation === p.generation && hb.rscHold !== undefined && hb.stable && hb.sentKey?.endsWith('/1') === true;
  if (!settled) return;
  if (sb.sentAt !== undefined && now - sb.sentAt < HB_STANDBY_RETRY_MS) return;
  if (sb.sentAt !== undefined && !sb.repeated) {
    sb.repeated = true;   // one line, not one per repeat
    out.push({ kind: 'handover-log', level: 'info', message: `standby [${sb.which}]: ${s.m.cfg.peer} (Heartbeat) has not answered; asking again every ${HB_STANDBY_RETRY_MS} ms` });
  }
  sb.sentAt = now;
  out.push(askAction(s, sb.which, 'me'));
}

/** After membership: a Heartbeat peer that is up gets t=starting until it reports, and acks of its messages. */
function hbPeerLifecycle(s: EngineState, now: number, out: EngineAction[]): void {
  const p = s.m.peer;
  if (p.liveness !== 'up' || !p.report?.heartbeat) return;
  const hb = hbFor(s);
  if (hb.rscHold === undefined && (hb.startingAt === undefined || now - hb.startingAt >= HB_STARTING_EVERY_MS)) {
    hb.startingAt = now;
    hbSeqSend(s, { type: 'starting' }, out);
  }
  const top = Math.max(p.lastSeq ?? 0, p.ask && p.ask.generation === p.generation ? p.ask.seq : 0);
  if (Math.floor(top / HB_ACK_EVERY) > Math.floor(hb.acked / HB_ACK_EVERY)) {
    hb.acked = top;
    out.push({ kind: 'hb-send', msg: { type: 'ackmsg', dest: s.m.cfg.peer, ackseq: top } });
  }
}

/** After the resources step: our resource report when it changed; `done` for a finished hb_standby acquisition. */
function hbAfterResources(s: EngineState, out: EngineAction[]): void {
  const hb = s.hb;
  if (!hb || s.m.peer.liveness !== 'up' || !s.m.peer.report?.heartbeat || hb.generation !== s.m.peer.generation) return;
  if (hb.owedDone) {
    const settled = hb.owedDone.groups.every((g) => {
      const st = s.r.groups[g];
      return !st || (!st.busy && (st.phase === 'running' || st.phase === 'failed'));
    });
    if (settled) {
      out.push(askAction(s, hb.owedDone.rscHold, 'done'));
      hb.owedDone = undefined;
    }
  }
  if (hb.rscHold === undefined) return;
  const rscHold = ourRscHold(s);
  const stable = ourStable(s) && !hb.owedDone;
  const key = `${rscHold}/${stable ? 1 : 0}`;
  if (key === hb.sentKey) return;
  hb.sentKey = key;
  hbSeqSend(s, { type: 'resource', rscHold, stable }, out);
}
