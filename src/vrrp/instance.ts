// One VRRP instance (a vrrp_instance block of keepalived.conf) as a pure
// state machine: `(state, event, now) -> effects`, time injected, no sockets,
// timers or clock. The codec hands it adverts already checked (length, TTL,
// checksum, VIP list, authentication); the host carries out its effects in
// order (adverts out, VIPs on and off, announcements, notify scripts).
//
// Rules (RFC 5798 §6, RFC 3768, and keepalived 2.2 where they leave room;
// docs/vrrp.md):
//  - start: BACKUP with Master_Down_Timer = Master_Down_Interval; the address
//    owner (priority 255, unless `nopreempt` with `state BACKUP`) MASTER at once.
//  - BACKUP: the timer runs out -> MASTER. An advert with priority 0 sets it to
//    Skew_Time. An advert of equal or higher priority (or any, with
//    `nopreempt`, or a lower one within `preempt_delay`) restarts it; v3 takes
//    the master's interval. A lower one is discarded, so the timer runs out:
//    that is preemption.
//  - MASTER: an advert of higher priority, or equal priority from a higher
//    primary address, -> BACKUP. A lower one means another master exists
//    (a healed partition): answer with an advert at once and re-announce the
//    VIPs (keepalived does neither by default).
//  - FAULT while any fault source is set; leaving it is a fresh start.
//  - MASTER only while the gate allows it (`may-be-master`, the split-brain
//    guard, and the sync group's gate): a MASTER that loses it steps down at
//    once, priority-0 advert first.
//  - A BACKUP held only by the guard (its timer ran out, the lease is not
//    ours yet) *claims*: it sends adverts at its priority but holds no VIP.
//    A master it outranks steps down and gives the lease up, which is how
//    preemption works under the guard; a claimer that hears a master it
//    does not outrank stops claiming (docs/vrrp.md, "Split-brain guard").

import { parseIp } from '../net/addr.js';
import { KeyedRateLimiter, withSuppressed } from '../util/ratelimit.js';

export type VrrpStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOPPED';

/** Gratuitous ARP / unsolicited NA schedule while MASTER (keepalived's garp_master_*). */
export interface GarpConfig {
  /** Second round this long after becoming MASTER; 0 = none (keepalived: 5 s). */
  masterDelayMs: number;
  /** Announcements per VIP in each of those rounds (keepalived: 5). */
  masterRepeat: number;
  /** A round every this long while MASTER; 0 = off (keepalived's default). */
  masterRefreshMs: number;
  /** Announcements per VIP in a refresh round (keepalived: 1). */
  masterRefreshRepeat: number;
}

export const DEFAULT_GARP: GarpConfig = { masterDelayMs: 5000, masterRepeat: 5, masterRefreshMs: 0, masterRefreshRepeat: 1 };

/**
 * What the machine needs of one vrrp_instance; the keepalived.conf model maps
 * onto it (defaults such as "priority 255 with `state MASTER`, else 100" are
 * the parser's).
 */
export interface InstanceConfig {
  name: string;
  vrid: number;                 // 1..255
  priority: number;             // base priority, 1..255; 255 = address owner
  version: 2 | 3;
  /** v2: whole seconds 1..255 s; v3: 10 ms steps, 10..40950 ms. */
  advertIntervalMs: number;
  nopreempt: boolean;
  preemptDelayMs: number;       // 0..1000 s, in ms
  /** keepalived's `state`: a hint only; it matters for the address owner (see ownerAtOnce). */
  initialState: 'MASTER' | 'BACKUP';
  /** The address adverts leave from: breaks ties between equal priorities. */
  primaryAddress: string;
  garp: GarpConfig;
  /** The split-brain guard is configured: MASTER only once `may-be-master` allows it. */
  guarded: boolean;
  /**
   * vrrp_strict: RFC behaviour as keepalived 2.2's strict mode (its
   * lower_prio_no_advert on, higher_prio_send_advert off, no lower-priority
   * GARP repeats): a MASTER neither speaks before yielding nor answers or
   * re-announces against a master it outranks ("Healing" in docs/vrrp.md).
   */
  strict?: boolean;
}

export interface Gate {
  allowed: boolean;
  reason: string;
}

export interface InstanceStats {
  advertsSent: number;
  advertsReceived: number;
  /** Adverts the machine did not act on, by reason. */
  dropped: { intervalMismatch: number; badSource: number; ownAddress: number; badPriority: number; notRunning: number };
  /** Lower-priority adverts a BACKUP discarded to preempt. */
  preempting: number;
  /** Times this node, as MASTER, heard another master it outranks. */
  conflicts: number;
  becameMaster: number;
  /** Adverts sent while held by the guard (claims). */
  claims: number;
}

export interface InstanceState {
  readonly cfg: InstanceConfig;
  /** The primary address as bytes, for the tie-break. */
  readonly primary: Uint8Array;
  state: VrrpStateName;
  since: number;
  /** Sum of the tracking weights (track_script, track_interface, track_file). */
  weight: number;
  /** Effective priority: base + weight in 1..254; the owner stays 255. */
  priority: number;
  /** Active fault sources (link, carrier, track_interface, track_script, sync group) and why. */
  faults: Map<string, string>;
  /** The split-brain guard (may-be-master). */
  guard: Gate;
  /** The sync group's gate: open unless the instance is a member of a group. */
  sync: Gate;
  /** Master_Adver_Interval: ours, or (v3, BACKUP) the master's. */
  masterAdverIntervalMs: number;
  /** BACKUP: when Master_Down_Timer runs out, and what it will mean then. */
  downAt: number;
  downWhy: string;
  /** BACKUP: the timer ran out but a gate is closed; MASTER as soon as it opens. */
  held: boolean;
  /** BACKUP held by the guard: the next claim advert (adverAt is MASTER's). */
  claimAt: number;
  /** BACKUP: lower-priority adverts are accepted until then (preempt_delay); undefined = not started. */
  preemptAt: number | undefined;
  /** BACKUP: the master we last accepted an advert from. */
  master: { address: string; priority: number; at: number } | undefined;
  /** MASTER: next advert, second announcement round, next refresh round. */
  adverAt: number;
  garpDelayAt: number;
  garpRefreshAt: number;
  /** MASTER: when a conflict may next be answered with an advert / with a re-announcement. */
  conflictAdvertAt: number;
  conflictAnnounceAt: number;
  stats: InstanceStats;
  /** Per-packet log lines go through here. */
  readonly logs: KeyedRateLimiter;
}

export type InstanceEvent =
  | { kind: 'start' }
  | { kind: 'tick' }
  /**
   * A decoded advert for this VRID, accepted by the codec. `src` is the IP
   * source address; `advertIntervalMs` is the advert's field in ms (v2:
   * seconds × 1000, v3: centiseconds × 10).
   */
  /** `at`: when it arrived (the kernel's stamp, on the machine's clock), a little before `now`; default now. */
  | { kind: 'advert-received'; priority: number; src: string; advertIntervalMs: number; at?: number }
  | { kind: 'fault'; source: string; reason: string }
  | { kind: 'fault-cleared'; source: string; reason?: string }
  /** The tracking weights' new total (not a delta). */
  | { kind: 'priority-changed'; weight: number; reason: string }
  /** The split-brain guard's answer (quorum lease, fencing; decided outside). */
  | { kind: 'may-be-master'; allowed: boolean; reason: string }
  /**
   * The sync group's gate (sync-group.ts). `join`: the group goes MASTER
   * under its guard, so a BACKUP member follows at once, timer or not.
   */
  | { kind: 'sync-gate'; allowed: boolean; reason: string; join?: boolean }
  | { kind: 'shutdown' };

/** The transition effects, in the order the host must run them (notify scripts, VIPs). */
export type Transition = 'become-master' | 'become-backup' | 'become-fault' | 'stopped';

export type InstanceEffect =
  | { kind: 'send-advert'; priority: number; advertIntervalMs: number }
  | { kind: Transition; from: VrrpStateName; priority: number; reason: string }
  /** Gratuitous ARP / unsolicited NA for every VIP, `repeat` times. */
  | { kind: 'announce'; round: 'master' | 'master-delay' | 'refresh' | 'conflict'; repeat: number }
  | { kind: 'log'; level: 'info' | 'warn'; message: string };

/** Per-packet log lines: one per key per this interval, with the count held back. */
export const PACKET_LOG_INTERVAL_MS = 10_000;

const V2_INTERVALS = { min: 1000, max: 255_000, step: 1000 };
const V3_INTERVALS = { min: 10, max: 40_950, step: 10 };

/** Problems with the numbers, naming the field; empty when usable. */
export function instanceConfigProblems(cfg: InstanceConfig): string[] {
  const p: string[] = [];
  const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!int(cfg.vrid, 1, 255)) p.push(`vrid: ${cfg.vrid} must be a whole number 1..255`);
  if (!int(cfg.priority, 1, 255)) p.push(`priority: ${cfg.priority} must be a whole number 1..255`);
  if (cfg.version !== 2 && cfg.version !== 3) p.push(`version: ${String(cfg.version)} must be 2 or 3`);
  else {
    const r = cfg.version === 2 ? V2_INTERVALS : V3_INTERVALS;
    if (!(Number.isInteger(cfg.advertIntervalMs / r.step) && cfg.advertIntervalMs >= r.min && cfg.advertIntervalMs <= r.max)) {
      p.push(`advertIntervalMs: ${cfg.advertIntervalMs} must be ${r.min}..${r.max} ms in steps of ${r.step} ms for VRRPv${cfg.version}`);
    }
  }
  if (!(cfg.preemptDelayMs >= 0 && cfg.preemptDelayMs <= 1_000_000)) p.push(`preemptDelayMs: ${cfg.preemptDelayMs} must be 0..1000000`);
  if (!parseIp(cfg.primaryAddress)) p.push(`primaryAddress: ${cfg.primaryAddress} is not an IP address`);
  const g = cfg.garp;
  if (!(g.masterDelayMs >= 0 && Number.isFinite(g.masterDelayMs))) p.push(`garp.masterDelayMs: ${g.masterDelayMs} must be >= 0`);
  if (!(g.masterRefreshMs >= 0 && Number.isFinite(g.masterRefreshMs))) p.push(`garp.masterRefreshMs: ${g.masterRefreshMs} must be >= 0`);
  if (!int(g.masterRepeat, 1, 255)) p.push(`garp.masterRepeat: ${g.masterRepeat} must be a whole number 1..255`);
  if (!int(g.masterRefreshRepeat, 1, 255)) p.push(`garp.masterRefreshRepeat: ${g.masterRefreshRepeat} must be a whole number 1..255`);
  return p;
}

export function initInstance(cfg: InstanceConfig, now: number, opts: { syncGroup?: string } = {}): InstanceState {
  const problems = instanceConfigProblems(cfg);
  if (problems.length) throw new RangeError(`vrrp_instance ${cfg.name}: ${problems.join('; ')}`);
  return {
    cfg,
    primary: parseIp(cfg.primaryAddress)!.bytes,
    state: 'INIT',
    since: now,
    weight: 0,
    priority: cfg.priority,
    faults: new Map(),
    guard: cfg.guarded ? { allowed: false, reason: 'the guard has not answered yet' } : { allowed: true, reason: 'no guard configured' },
    sync: opts.syncGroup !== undefined
      ? { allowed: false, reason: `sync group ${opts.syncGroup}: not every member is ready` }
      : { allowed: true, reason: 'not in a sync group' },
    masterAdverIntervalMs: cfg.advertIntervalMs,
    downAt: Infinity,
    downWhy: '',
    held: false,
    claimAt: Infinity,
    preemptAt: undefined,
    master: undefined,
    adverAt: Infinity,
    garpDelayAt: Infinity,
    garpRefreshAt: Infinity,
    conflictAdvertAt: -Infinity,
    conflictAnnounceAt: -Infinity,
    stats: {
      advertsSent: 0, advertsReceived: 0, preempting: 0, conflicts: 0, becameMaster: 0, claims: 0,
      dropped: { intervalMismatch: 0, badSource: 0, ownAddress: 0, badPriority: 0, notRunning: 0 },
    },
    logs: new KeyedRateLimiter(PACKET_LOG_INTERVAL_MS, 16),
  };
}

// ---- timers ----------------------------------------------------------------

/** Skew_Time in ms: v3 (256 − prio) × Master_Adver_Interval / 256; v2 (256 − prio) / 256 s. */
export function skewTimeMs(version: 2 | 3, priority: number, masterAdverIntervalMs: number): number {
  return version === 3 ? ((256 - priority) * masterAdverIntervalMs) / 256 : ((256 - priority) * 1000) / 256;
}

/** Master_Down_Interval in ms: 3 × Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(version: 2 | 3, priority: number, masterAdverIntervalMs: number): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(version, priority, masterAdverIntervalMs);
}

const skew = (s: InstanceState) => skewTimeMs(s.cfg.version, s.priority, s.masterAdverIntervalMs);
const downInterval = (s: InstanceState) => masterDownIntervalMs(s.cfg.version, s.priority, s.masterAdverIntervalMs);

/** Whether both gates (guard, sync group) allow MASTER, and if not, why. */
export function gateOf(s: InstanceState): Gate {
  if (!s.guard.allowed) return { allowed: false, reason: `guard: ${s.guard.reason}` };
  if (!s.sync.allowed) return s.sync;
  return { allowed: true, reason: '' };
}

/**
 * BACKUP whose timer ran out and whom only the guard keeps from MASTER: it
 * sends adverts without holding the VIPs. Not for the sync gate alone: a
 * member waiting for the rest of its group must not push the peer's master
 * out before the group can follow.
 */
export function claiming(s: InstanceState): boolean {
  return s.state === 'BACKUP' && s.held && !s.guard.allowed;
}

/**
 * BACKUP whose timer runs on the adverts of a master (or claimer) that
 * outranks it as a MASTER would judge: a higher priority, or the same from a
 * higher address. A guarded sync group with such a member neither goes
 * MASTER on its other members nor wants the lease (sync-group.ts,
 * runtime.ts): it would take the group up and down against that node for
 * ever (simulator seed 640002218).
 */
export function followsBetterMaster(s: InstanceState, now: number): boolean {
  if (s.state !== 'BACKUP' || s.held || !s.master || now >= s.downAt) return false;
  if (s.master.priority !== s.priority) return s.master.priority > s.priority;
  const a = parseIp(s.master.address);
  return !!a && compareAddr(a.bytes, s.primary) > 0;
}

/**
 * BACKUP whose Master_Down_Timer has run out and whose guard allows MASTER:
 * only the sync group's gate keeps it BACKUP (the group's "wants MASTER").
 */
export function readyForMaster(s: InstanceState, now: number): boolean {
  return s.state === 'BACKUP' && (s.held || now >= s.downAt) && s.guard.allowed;
}

/** The earliest instant at which instanceStep(tick) has something to do. */
export function instanceDeadline(s: InstanceState): number {
  if (s.state === 'BACKUP') return s.held ? (claiming(s) ? s.claimAt : Infinity) : s.downAt;
  if (s.state === 'MASTER') return Math.min(s.adverAt, s.garpDelayAt, s.garpRefreshAt);
  return Infinity;
}

/** The address owner goes MASTER at once (keepalived: priority 255 and `state MASTER` or preemption on). */
function ownerAtOnce(cfg: InstanceConfig): boolean {
  return cfg.priority === 255 && (cfg.initialState === 'MASTER' || !cfg.nopreempt);
}

function effectivePriority(cfg: InstanceConfig, weight: number): number {
  if (cfg.priority === 255) return 255;   // tracking never moves the owner (as keepalived)
  return Math.min(254, Math.max(1, cfg.priority + weight));
}

/** Unsigned compare of two addresses of one family, network order. */
function compareAddr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

const ms = (v: number) => `${Math.round(v * 1000) / 1000} ms`;

// ---- the step ----------------------------------------------------------------

export function instanceStep(s: InstanceState, ev: InstanceEvent, now: number): InstanceEffect[] {
  const out: InstanceEffect[] = [];
  if (s.state === 'STOPPED') return out;
  switch (ev.kind) {
    case 'start':
      if (s.state !== 'INIT') break;
      if (s.faults.size > 0) transition(s, 'become-fault', now, faultReason(s), out);
      else enterRunning(s, now, 'start', out);
      break;
    case 'advert-received':
      onAdvert(s, ev, now, out);
      break;
    case 'fault': {
      const had = s.faults.size > 0;
      s.faults.set(ev.source, ev.reason);
      if (!had && (s.state === 'BACKUP' || s.state === 'MASTER')) {
        // A master leaving tells the backups (they take over after Skew_Time);
        // with the link down the send fails harmlessly.
        if (s.state === 'MASTER') sendAdvert(s, 0, out);
        transition(s, 'become-fault', now, `${ev.source}: ${ev.reason}`, out);
      }
      break;
    }
    case 'fault-cleared':
      if (!s.faults.delete(ev.source)) break;
      if (s.state === 'FAULT' && s.faults.size === 0) enterRunning(s, now, `${ev.source} recovered${ev.reason ? `: ${ev.reason}` : ''}`, out);
      break;
    case 'priority-changed': {
      s.weight = ev.weight;
      const p = effectivePriority(s.cfg, ev.weight);
      if (p !== s.priority) {
        out.push({ kind: 'log', level: 'info', message: `${s.cfg.name}: effective priority ${s.priority} -> ${p} (${ev.reason})` });
        s.priority = p;
      }
      break;
    }
    case 'may-be-master':
    case 'sync-gate': {
      const gate = ev.kind === 'may-be-master' ? s.guard : s.sync;
      if (gate.allowed === ev.allowed && gate.reason === ev.reason) break;
      const changed = gate.allowed !== ev.allowed;
      gate.allowed = ev.allowed;
      gate.reason = ev.reason;
      if (changed && ev.kind === 'may-be-master') {
        // A warning only when it takes a MASTER down; a BACKUP told no is the guard's everyday answer.
        out.push({ kind: 'log', level: !ev.allowed && s.state === 'MASTER' ? 'warn' : 'info', message: `${s.cfg.name}: guard ${ev.allowed ? 'allows' : 'forbids'} MASTER: ${ev.reason}` });
      }
      if (!ev.allowed && s.state === 'MASTER') {
        sendAdvert(s, 0, out);
        becomeBackup(s, now, ev.kind === 'may-be-master' ? `guard: ${ev.reason}` : ev.reason, out);
      }
      if (ev.kind === 'sync-gate' && ev.join && ev.allowed && s.state === 'BACKUP' && s.guard.allowed) becomeMaster(s, now, ev.reason, out);
      break;
    }
    case 'shutdown':
      if (s.state === 'MASTER') sendAdvert(s, 0, out);
      transition(s, 'stopped', now, 'shutdown', out);
      break;
    case 'tick':
      break;
  }
  settle(s, now, out);
  return out;
}

/** The timers' work, done on every step (a late tick does it too). */
function settle(s: InstanceState, now: number, out: InstanceEffect[]): void {
  if (s.state === 'BACKUP' && (s.held || now >= s.downAt)) {
    const gate = gateOf(s);
    if (gate.allowed) becomeMaster(s, now, s.held ? `${s.downWhy}, and MASTER is allowed now (${s.guard.reason}; ${s.sync.reason})` : s.downWhy, out);
    else if (!s.held) {
      s.held = true;
      s.claimAt = now;
      // Every guarded takeover passes here (it asks for the lease now), and every sync group member that is ready first: not a warning.
      out.push({ kind: 'log', level: 'info', message: `${s.cfg.name}: would become MASTER (${s.downWhy}) but stays BACKUP: ${gate.reason}` });
    }
  }
  if (claiming(s) && now >= s.claimAt) {
    s.claimAt = next(s.claimAt, s.cfg.advertIntervalMs, now);
    s.stats.claims += 1;
    sendAdvert(s, s.priority, out);
  }
  if (s.state !== 'MASTER') return;
  if (now >= s.garpDelayAt) {
    s.garpDelayAt = Infinity;
    out.push({ kind: 'announce', round: 'master-delay', repeat: s.cfg.garp.masterRepeat });
  }
  if (now >= s.garpRefreshAt) {
    s.garpRefreshAt = next(s.garpRefreshAt, s.cfg.garp.masterRefreshMs, now);
    out.push({ kind: 'announce', round: 'refresh', repeat: s.cfg.garp.masterRefreshRepeat });
  }
  if (now >= s.adverAt) {
    s.adverAt = next(s.adverAt, s.cfg.advertIntervalMs, now);
    sendAdvert(s, s.priority, out);
  }
}

/** Anchored to the schedule, so late timers do not stretch every later interval; after a stall, from now. */
function next(at: number, every: number, now: number): number {
  const n = at + every;
  return n > now ? n : now + every;
}

function onAdvert(s: InstanceState, ev: Extract<InstanceEvent, { kind: 'advert-received' }>, now: number, out: InstanceEffect[]): void {
  s.stats.advertsReceived += 1;
  if (s.state !== 'BACKUP' && s.state !== 'MASTER') {
    s.stats.dropped.notRunning += 1;
    return;
  }
  const src = parseIp(ev.src);
  if (!src || src.bytes.length !== s.primary.length) {
    s.stats.dropped.badSource += 1;
    limited(s, 'bad-source', now, out, 'warn', `${s.cfg.name}: advert with source ${JSON.stringify(ev.src)} ignored: not an address of this instance's family`);
    return;
  }
  const cmp = compareAddr(src.bytes, s.primary);
  if (cmp === 0) {
    s.stats.dropped.ownAddress += 1;
    limited(s, 'own-address', now, out, 'warn', `${s.cfg.name}: advert from our own address ${src.text} ignored (a looped-back copy, or another node using it)`);
    return;
  }
  if (!(Number.isInteger(ev.priority) && ev.priority >= 0 && ev.priority <= 255)) {
    s.stats.dropped.badPriority += 1;
    return;
  }
  if (s.cfg.version === 2 && ev.advertIntervalMs !== s.cfg.advertIntervalMs) {
    // RFC 3768 and keepalived: a v2 advert with another interval is dropped.
    s.stats.dropped.intervalMismatch += 1;
    limited(s, 'interval', now, out, 'warn', `${s.cfg.name}: advert from ${src.text} says interval ${ms(ev.advertIntervalMs)}, ours is ${ms(s.cfg.advertIntervalMs)}: dropped`);
    return;
  }
  const p = ev.priority;
  if (p === 255 && s.cfg.priority === 255) {
    // keepalived drops both to 254 ("CONFIGURATION ERROR"); the RFC tie-break settles it here.
    limited(s, 'two-owners', now, out, 'warn', `${s.cfg.name}: ${src.text} also claims to own the addresses (priority 255): two owners of VRID ${s.cfg.vrid}, check the configuration`);
  }
  if (s.state === 'BACKUP') {
    // Master_Down counts from the advert's arrival, not from when the event loop read it.
    const heard = ev.at !== undefined && ev.at <= now ? ev.at : now;
    if (p === 0) {
      s.master = undefined;
      s.downAt = heard + skew(s);
      s.downWhy = `master ${src.text} left (priority 0), and none took over within Skew_Time (${ms(skew(s))})`;
      s.held = false;
      limited(s, 'priority-0', now, out, 'info', `${s.cfg.name}: master ${src.text} is leaving (priority 0): MASTER in ${ms(skew(s))} unless another takes over`);
      return;
    }
    const delay = s.cfg.preemptDelayMs;
    const inDelay = delay > 0 && (s.preemptAt === undefined || now < s.preemptAt);
    // A claimer ranks as a master does: an equal priority from a lower
    // address does not silence it, or two claimers would silence each other.
    // Nor do nopreempt and preempt_delay: they spare a master a BACKUP hears,
    // and a claimer is where a master would be without the guard (its timer
    // ran out); honouring them let equal claimers that all had one of them
    // silence each other round after round, with nobody ever MASTER (the
    // simulator: docs/simulation.md, seed 620000108).
    const claim = claiming(s);
    const outranked = p > s.priority || (p === s.priority && !(claim && cmp < 0));
    if (outranked || (!claim && (s.cfg.nopreempt || inDelay))) {
      if (s.cfg.version === 3 && validV3Interval(ev.advertIntervalMs)) s.masterAdverIntervalMs = ev.advertIntervalMs;
      s.downAt = heard + downInterval(s);
      s.downWhy = `no advert after ${src.text}'s for ${ms(downInterval(s))}`;
      s.held = false;
      s.master = { address: src.text, priority: p, at: heard };
      if (delay > 0) {
        if (p >= s.priority) s.preemptAt = undefined;
        else if (s.preemptAt === undefined) s.preemptAt = now + delay;
      }
      return;
    }
    // Lower priority, preemption on: discard, so the down timer runs out.
    s.stats.preempting += 1;
    s.master = { address: src.text, priority: p, at: now };
    limited(s, 'preempting', now, out, 'info', `${s.cfg.name}: lower priority (${p}) advert from ${src.text} discarded: taking over (priority ${s.priority})`);
    return;
  }
  // MASTER
  if (p === 0) {
    sendAdvert(s, s.priority, out);
    s.adverAt = now + s.cfg.advertIntervalMs;
    return;
  }
  if (p > s.priority || (p === s.priority && cmp > 0)) {
    // Tell the winner there was a second master before yielding
    // (keepalived's higher_prio_send_advert): it re-announces the VIPs.
    if (!s.cfg.strict) sendAdvert(s, s.priority, out);
    if (s.cfg.version === 3 && validV3Interval(ev.advertIntervalMs)) s.masterAdverIntervalMs = ev.advertIntervalMs;
    const why = p > s.priority ? `higher priority (${p} > ${s.priority})` : `same priority ${p} and higher address`;
    becomeBackup(s, now, `advert from ${src.text} with ${why}`, out);
    s.master = { address: src.text, priority: p, at: now };
    return;
  }
  // Another master that we outrank: a partition healed, or it just started.
  // Answer at once so it yields now, and move the clients back to us: their
  // ARP caches may point at the loser (keepalived issue #166).
  s.stats.conflicts += 1;
  if (s.cfg.strict) {
    // RFC 5798 6.4.3: discarded; our next advert makes it yield.
    limited(s, 'conflict', now, out, 'warn', `${s.cfg.name}: another master ${src.text} (priority ${p}) heard while MASTER (priority ${s.priority}): discarded (vrrp_strict)`);
    return;
  }
  limited(s, 'conflict', now, out, 'warn', `${s.cfg.name}: another master ${src.text} (priority ${p}) heard while MASTER (priority ${s.priority}): re-asserting`);
  if (now >= s.conflictAdvertAt) {
    s.conflictAdvertAt = now + s.cfg.advertIntervalMs;
    sendAdvert(s, s.priority, out);
    s.adverAt = now + s.cfg.advertIntervalMs;
  }
  if (now >= s.conflictAnnounceAt) {
    s.conflictAnnounceAt = now + downInterval(s);
    out.push({ kind: 'announce', round: 'conflict', repeat: s.cfg.garp.masterRepeat });
  }
}

function validV3Interval(v: number): boolean {
  return Number.isInteger(v / 10) && v >= V3_INTERVALS.min && v <= V3_INTERVALS.max;
}

/** Start, or leave FAULT: as RFC 5798 §6.4.1 Initialize. */
function enterRunning(s: InstanceState, now: number, why: string, out: InstanceEffect[]): void {
  s.masterAdverIntervalMs = s.cfg.advertIntervalMs;
  s.preemptAt = s.cfg.preemptDelayMs > 0 ? now + s.cfg.preemptDelayMs : undefined;
  if (ownerAtOnce(s.cfg)) {
    if (gateOf(s).allowed) {
      becomeMaster(s, now, `${why}: address owner (priority 255)`, out);
      return;
    }
    becomeBackup(s, now, `${why}: address owner, but ${gateOf(s).reason}`, out);
    s.downAt = now;   // MASTER the moment the gate opens
    s.downWhy = 'address owner (priority 255)';
    return;
  }
  becomeBackup(s, now, why, out);
}

function becomeMaster(s: InstanceState, now: number, reason: string, out: InstanceEffect[]): void {
  // The VIPs first, then one advert, then the announcements: the address is
  // what clients wait for, and the netlink add goes out in the same turn as
  // the advert (keepalived's wire shows the advert ~0.3 ms before the VIP;
  // tandem's VIP is ~0.3 ms sooner this way, the advert as much later).
  transition(s, 'become-master', now, reason, out);
  sendAdvert(s, s.priority, out);
  s.stats.becameMaster += 1;
  s.adverAt = now + s.cfg.advertIntervalMs;
  out.push({ kind: 'announce', round: 'master', repeat: s.cfg.garp.masterRepeat });
  s.garpDelayAt = s.cfg.garp.masterDelayMs > 0 ? now + s.cfg.garp.masterDelayMs : Infinity;
  s.garpRefreshAt = s.cfg.garp.masterRefreshMs > 0 ? now + s.cfg.garp.masterRefreshMs : Infinity;
  s.conflictAdvertAt = -Infinity;
  s.conflictAnnounceAt = -Infinity;
}

function becomeBackup(s: InstanceState, now: number, reason: string, out: InstanceEffect[]): void {
  if (s.state !== 'MASTER') s.masterAdverIntervalMs = s.cfg.advertIntervalMs;
  transition(s, 'become-backup', now, reason, out);
  s.downAt = now + downInterval(s);
  s.downWhy = `no advert for ${ms(downInterval(s))}`;
}

function transition(s: InstanceState, kind: Transition, now: number, reason: string, out: InstanceEffect[]): void {
  const from = s.state;
  s.state = kind === 'become-master' ? 'MASTER' : kind === 'become-backup' ? 'BACKUP' : kind === 'become-fault' ? 'FAULT' : 'STOPPED';
  s.since = now;
  s.held = false;
  s.master = undefined;
  s.downAt = Infinity;
  s.adverAt = Infinity;
  s.garpDelayAt = Infinity;
  s.garpRefreshAt = Infinity;
  out.push({ kind, from, priority: s.priority, reason });
}

function sendAdvert(s: InstanceState, priority: number, out: InstanceEffect[]): void {
  s.stats.advertsSent += 1;
  out.push({ kind: 'send-advert', priority, advertIntervalMs: s.cfg.advertIntervalMs });
}

function faultReason(s: InstanceState): string {
  return [...s.faults].map(([k, v]) => `${k}: ${v}`).join('; ');
}

function limited(s: InstanceState, key: string, now: number, out: InstanceEffect[], level: 'info' | 'warn', message: string): void {
  const r = s.logs.admit(key, message, now);
  if (r.emit) out.push({ kind: 'log', level, message: withSuppressed(message, r.suppressed) });
}

/** What status and metrics may read of an instance: plain data, copied and frozen (docs/architecture.md, views). */
export interface InstanceView {
  name: string;
  vrid: number;
  version: 2 | 3;
  state: VrrpStateName;
  /** Time in this state, ms. */
  forMs: number;
  priority: number;
  basePriority: number;
  advertIntervalMs: number;
  masterAdverIntervalMs: number;
  /** BACKUP: the master last heard, and how long ago. */
  master: { address: string; priority: number; agoMs: number } | null;
  /** BACKUP: ms until Master_Down_Timer runs out (0 while held by a gate); null otherwise. */
  masterDownInMs: number | null;
  held: boolean;
  /** Held by the guard: sending adverts without the VIPs. */
  claiming: boolean;
  faults: Array<{ source: string; reason: string }>;
  guard: Gate;
  sync: Gate;
  stats: InstanceStats;
}

export function instanceView(s: InstanceState, now: number): Readonly<InstanceView> {
  return deepFreeze({
    name: s.cfg.name,
    vrid: s.cfg.vrid,
    version: s.cfg.version,
    state: s.state,
    forMs: now - s.since,
    priority: s.priority,
    basePriority: s.cfg.priority,
    advertIntervalMs: s.cfg.advertIntervalMs,
    masterAdverIntervalMs: s.masterAdverIntervalMs,
    master: s.master ? { address: s.master.address, priority: s.master.priority, agoMs: now - s.master.at } : null,
    masterDownInMs: s.state === 'BACKUP' ? Math.max(0, s.downAt - now) : null,
    held: s.held,
    claiming: claiming(s),
    faults: [...s.faults].map(([source, reason]) => ({ source, reason })),
    guard: { ...s.guard },
    sync: { ...s.sync },
    stats: { ...s.stats, dropped: { ...s.stats.dropped } },
  });
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** The instance as a driver machine (runtime/driver.ts). */
export const INSTANCE_MACHINE = {
  step: instanceStep,
  deadline: instanceDeadline,
  tick: { kind: 'tick' } as InstanceEvent,
};
