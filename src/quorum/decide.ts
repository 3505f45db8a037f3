// Quorum as a pure decision layered over the resource rules: given what this
// node knows about its peer, the ping nodes and its arbiter leases, it says
// for each group whether the node must release it, may keep it against the
// normal rules, or may take it over. It never starts or stops anything
// itself; resources/machine.ts stays the one place that walks groups.
//
// Rules (docs/quorum.md):
//  - While the nodes hear each other, quorum changes nothing, except ipfail:
//    the node that reaches fewer ping targets than its peer hands its groups
//    over, once that has lasted `delayMs` and the group has stayed put for
//    `dwellMs` since it last moved.
//  - Without the peer and with an arbiter, a node may hold or take a group
//    only while it holds that group's lease.
//  - Without the peer and without an arbiter, a node that reaches no ping
//    target takes nothing over.
// The only memory kept is what hysteresis needs: since when the connectivity
// comparison has had its current sign, and when each group last moved.

import type { Reach } from '../ping/tracker.js';
import type { LeaseView } from './lease.js';

export type { Reach };

export type ArbiterKind = 'none' | 'arbiter' | 'etcd';

export interface QuorumConfig {
  self: string;
  peer: string;
  groups: string[];
  pingConfigured: boolean;
  arbiter: ArbiterKind;
  /**
   * A fresh grant (not a renewal) lets the node take a group over only after
   * it has been held this long. tandem's arbiter waits its own grace before
   * granting, so 0 there; etcd has no such wait, so give it the grace
   * (deadtime + safety) here.
   */
  takeoverDelayMs: number;
  /**
   * With an arbiter, a group is taken over under a lease only once the peer
   * has not been heard (or has not heard us) for this long: deadtime +
   * lease safety. The peer may have run the group without a lease while it
   * still took us for a mutual partner: it goes on believing that for up to
   * deadtime after it last heard us say we hear it, then stops. A grant can
   * come sooner (the arbiter may count its own grace from an older request),
   * so the node counts this itself. Default 0.
   */
  aloneGraceMs?: number;
  ipfail: { enabled: boolean; delayMs: number; dwellMs: number };
  /**
   * After this node stops reaching fewer ping targets than its peer, it
   * starts no group for this long (deadtime): the peer may still take one
   * over on our previous, lower count, which it holds until our next report
   * reaches it, and both would start it (simulator seed 22629). Default 0.
   */
  ipfailSettleMs?: number;
}

export interface GroupInput {
  iHold: boolean;           // any held phase: starting, running, stopping, recovering, stop-failed
  peerHolds: boolean;       // the peer's newest report lists it
  peerFailed?: boolean;     // the peer's newest report lists it as failed there
  peerYields?: boolean;     // the peer's newest report leaves it to this node by ipfail (tg_ipfail_yield)
  lease?: LeaseView;
}

export interface QuorumInput {
  peer: {
    liveness: 'unknown' | 'up' | 'dead';
    /** false when the peer says it does not hear us (asymmetric link); undefined = not reported */
    hearsMe?: boolean;
    /**
     * Whether the peer's newest report was written after it had read one of
     * our messages saying that we hear it, i.e. whether the peer, too, counts
     * the pair as mutual (the engine tells from tg_hears_seq). undefined =
     * the peer does not say (no tg_hears_seq): treated as true.
     */
    confirmsMutual?: boolean;
    /**
     * Whether the peer's newest report was written after it read our
     * current ping count (tg_hears_seq at or past our first message with
     * it). undefined = not known (treated as read).
     */
    readOurReach?: boolean;
    reach?: Reach;          // the peer's own count, as it last reported it
  };
  reach?: Reach;            // ours; undefined when no ping node is configured
  groups: Record<string, GroupInput>;
}

/**
 * Applies when this node holds the group. `no-resume`: as `normal`, except
 * that a group held only from before a restart (recovering) is not started
 * again yet.
 */
export type HoldRule = 'normal' | 'keep' | 'release' | 'no-resume';
/** Applies when this node does not hold the group. */
export type TakeRule = 'normal' | 'allow' | 'forbid';

export type DecisionCode =
  | 'startup'               // peer not known yet: the resource rules wait anyway
  | 'mutual'                // the nodes hear each other; nothing to add
  | 'mutual-unconfirmed'    // we hear each other, but the peer has not yet read that we hear it: start nothing
  | 'ipfail-pending'        // connectivity differs, not for long enough yet
  | 'ipfail-handover'       // we reach fewer ping targets: hand over
  | 'ipfail-dwell'          // we would hand over, but the group moved recently
  | 'ipfail-better'         // we reach more: keep ours, take the peer's
  | 'grant-held'            // peer not heard; we hold the lease
  | 'grant-young'           // peer not heard; lease fresh, waiting out the takeover delay
  | 'no-grant'              // peer not heard; no lease: release, take nothing
  | 'isolated'              // peer not heard, no arbiter, no ping target answers
  | 'heartbeat-rules';      // peer not heard, no arbiter: Heartbeat's behaviour

export interface GroupDecision {
  group: string;
  hold: HoldRule;
  take: TakeRule;
  code: DecisionCode;
  reason: string;
}

export type Connectivity = 'unknown' | 'equal' | 'better' | 'worse';

export interface QuorumDecision {
  mutual: boolean;
  connectivity: Connectivity;
  connectivitySince: number;
  groups: Record<string, GroupDecision>;
  /** Groups whose rule or code changed since the previous call: worth a journal line. */
  changed: GroupDecision[];
  /** Call again by then even if no input changes (a hysteresis timer runs out). */
  nextAt: number;
  summary: string;
}

type Owner = 'self' | 'peer';

interface GroupMemory {
  owner?: Owner;            // last single holder seen
  movedAt?: number;         // when the holder last changed from one node to the other
}

export interface QuorumState {
  readonly cfg: QuorumConfig;
  cmp: { sign: -1 | 0 | 1; since: number; from?: -1 | 0 | 1 };
  /**
   * Set when this node stops reaching fewer ping targets than its peer:
   * it starts nothing until `until` has passed and the peer has read our
   * new count, whatever the comparison does meanwhile.
   */
  settle?: { until: number };
  /** Since when the nodes have not heard each other both ways (undefined while they do). */
  aloneSince?: number;
  groups: Record<string, GroupMemory>;
  last: Record<string, GroupDecision>;
}

/** ipfail defaults: the difference must outlast deadping (and 5 s); a moved group stays a minute. */
export function defaultIpfail(deadpingMs: number): QuorumConfig['ipfail'] {
  return { enabled: true, delayMs: Math.max(deadpingMs, 5000), dwellMs: 60_000 };
}

export function quorumConfigProblems(c: QuorumConfig): string[] {
  const p: string[] = [];
  if (c.self === c.peer) p.push(`peer: '${c.peer}' is this node's own name`);
  if (!(c.takeoverDelayMs >= 0)) p.push(`takeoverDelayMs: ${c.takeoverDelayMs} must be >= 0`);
  if (c.ipfail.enabled) {
    if (!c.pingConfigured) p.push('ipfail: needs at least one ping or ping_group target');
    if (!(c.ipfail.delayMs >= 0)) p.push(`ipfail.delayMs: ${c.ipfail.delayMs} must be >= 0`);
    if (!(c.ipfail.dwellMs >= 0)) p.push(`ipfail.dwellMs: ${c.ipfail.dwellMs} must be >= 0`);
  }
  return p;
}

export function initQuorum(cfg: QuorumConfig, now: number): QuorumState {
  const groups: Record<string, GroupMemory> = {};
  for (const g of cfg.groups) groups[g] = {};
  return { cfg, cmp: { sign: 0, since: now }, groups, last: {} };
}

export function decideQuorum(s: QuorumState, input: QuorumInput, now: number): QuorumDecision {
  const { cfg } = s;
  const peerUp = input.peer.liveness === 'up';
  const mutual = peerUp && input.peer.hearsMe !== false;
  if (mutual || input.peer.liveness === 'unknown') s.aloneSince = undefined;
  else s.aloneSince ??= now;
  const mine = input.reach;
  const theirs = input.peer.reach;

  const comparable = mutual && cfg.ipfail.enabled && mine !== undefined && theirs !== undefined;
  const sign = comparable ? (Math.sign(mine.up - theirs.up) as -1 | 0 | 1) : 0;
  if (sign !== s.cmp.sign) {
    if (s.cmp.sign === -1) s.settle = { until: now + (cfg.ipfailSettleMs ?? 0) };
    if (sign === -1) s.settle = undefined;
    s.cmp = { sign, since: now, from: s.cmp.sign };
  }
  if (s.settle && now >= s.settle.until && input.peer.readOurReach !== false) s.settle = undefined;
  const connectivity: Connectivity = !comparable ? 'unknown' : sign === 0 ? 'equal' : sign > 0 ? 'better' : 'worse';
  let nextAt = Infinity;

  const groups: Record<string, GroupDecision> = {};
  const changed: GroupDecision[] = [];
  for (const name of cfg.groups) {
    const gi = input.groups[name] ?? { iHold: false, peerHolds: false };
    const mem = (s.groups[name] ??= {});
    trackOwner(mem, gi.iHold, peerUp && gi.peerHolds, now);

    const d = decideGroup(s, name, gi, mem, input, mutual, now);
    if (d.wakeAt !== undefined && d.wakeAt > now) nextAt = Math.min(nextAt, d.wakeAt);
    groups[name] = d.decision;
    const prev = s.last[name];
    if (!prev || prev.hold !== d.decision.hold || prev.take !== d.decision.take || prev.code !== d.decision.code) {
      changed.push(d.decision);
    }
    s.last[name] = d.decision;
  }

  return {
    mutual, connectivity, connectivitySince: s.cmp.since, groups, changed, nextAt,
    summary: summarize(cfg, input, mutual, connectivity),
  };
}

/**
 * The resource rules' answer (resources/machine.ts wantsGroup) adjusted by
 * a decision: true = hold it, false = do not hold it, undefined = not yet
 * decidable. `peerHeard` is the peer's liveness being 'up'; `failedHere`
 * the group's phase here being 'failed'.
 */
export function applyDecision(
  normal: boolean | undefined,
  d: GroupDecision | undefined,
  g: { iHold: boolean; peerHeard: boolean; peerHolds: boolean; failedHere?: boolean; recovering?: boolean },
): boolean | undefined {
  if (!d) return normal;
  if (g.iHold) {
    if (d.hold === 'release') return false;
    // Resuming is a start: wait (stopping the leftovers stays allowed).
    if (d.hold === 'no-resume') return g.recovering && normal === true ? undefined : normal;
    if (d.hold === 'keep') {
      if (normal === undefined) return undefined;
      if (normal === false && g.peerHeard && g.peerHolds) {
        // Keeping a group held only from before a restart means resuming it,
        // a start: not while the peer's report still lists it, whose copy may
        // be up (leftovers, a stop walk). Wait for its report to drop it
        // (simulator seed 2476739868: resumed under a lease beside the
        // restarted peer's leftovers).
        if (g.recovering) return undefined;
        // Both run it, the nodes hear each other, and the resource rules
        // (the same on both sides: the preferred node, or the side not
        // yielding, keeps it) give it to the peer: ipfail's keep must not
        // override that, or both keep it. The two sides' ipfail views can
        // differ for a while after a partition (each counts the comparison
        // from when it saw it change): this node kept it as 'better' while
        // the peer, still 'pending', kept it as its preferred node, both
        // running it for seconds (simulator seed 440188746). ipfail moves
        // it back after its delay if it still should. A lease's keep is
        // left alone: without mutual hearing the lease is the authority.
        if (d.code.startsWith('ipfail')) return false;
      }
      return true;
    }
    return normal;
  }
  if (d.take === 'forbid') return false;
  if (d.take === 'allow') {
    if (normal === undefined) return undefined;
    // A start failed here: retrying it on quorum's word would loop.
    if (g.failedHere) return normal;
    // The peer still runs it: wait for its report to drop the group, so the
    // two never run it at once while they can see each other.
    if (g.peerHeard && g.peerHolds) return false;
    return true;
  }
  return normal;
}

/**
 * Whether the lease for a group should be held (asked for and renewed).
 * The holder keeps one at all times so that a partition finds it already
 * granted; a node that does not hear its peer asks for every group it would
 * run. `eligible` = the resource rules would run it here if the peer were
 * gone (not failed here).
 */
export function leaseWanted(o: { arbiter: ArbiterKind; shuttingDown: boolean; iHold: boolean; mutual: boolean; eligible: boolean }): boolean {
  if (o.arbiter === 'none' || o.shuttingDown) return false;
  return o.iHold || (!o.mutual && o.eligible);
}

function trackOwner(mem: GroupMemory, iHold: boolean, peerHolds: boolean, now: number): void {
  // Both at once (a healed partition) or neither says nothing about who owns it.
  if (iHold === peerHolds) return;
  const owner: Owner = iHold ? 'self' : 'peer';
  if (mem.owner !== undefined && mem.owner !== owner) mem.movedAt = now;
  mem.owner = owner;
}

interface Decided {
  decision: GroupDecision;
  wakeAt?: number;
}

function decideGroup(
  s: QuorumState, group: string, gi: GroupInput, mem: GroupMemory, input: QuorumInput, mutual: boolean, now: number,
): Decided {
  const { cfg } = s;
  const mk = (hold: HoldRule, take: TakeRule, code: DecisionCode, reason: string, wakeAt?: number): Decided =>
    ({ decision: { group, hold, take, code, reason }, ...(wakeAt !== undefined ? { wakeAt } : {}) });
  const peer = cfg.peer;
  const mine = input.reach;
  const theirs = input.peer.reach;

  if (input.peer.liveness === 'unknown') {
    return mk('normal', 'normal', 'startup', `${peer} not heard yet: waiting for it or for initdead`);
  }

  if (!mutual) {
    const why = input.peer.liveness === 'up' ? `${peer} reports it does not hear this node` : `${peer} not heard`;
    if (cfg.arbiter !== 'none') {
      const who = cfg.arbiter === 'etcd' ? 'etcd' : 'the arbiter';
      const lease = gi.lease;
      // A view taken before the deadline but read after it (a late timer, a
      // stalled loop) must not count: the deadline itself is the authority.
      if (lease && leaseValid(lease, now)) {
        const heldFor = lease.since !== undefined ? now - lease.since : Infinity;
        const aloneFor = now - (s.aloneSince ?? now);
        const aloneGrace = cfg.aloneGraceMs ?? 0;
        if (!gi.iHold && (heldFor < cfg.takeoverDelayMs || aloneFor < aloneGrace)) {
          const at = Math.max((lease.since ?? now) + cfg.takeoverDelayMs, (s.aloneSince ?? now) + aloneGrace);
          return mk('keep', 'forbid', 'grant-young',
            `${why}: lease from ${who} held; taking over in ${fmt(at - now)} so a holder that lost its own lease, or ran the group while it still heard this node, has stopped`, at);
        }
        return mk('keep', 'allow', 'grant-held', `${why}: lease from ${who} held`);
      }
      const isolated = cfg.pingConfigured && mine !== undefined && mine.up === 0;
      const detail = lease === undefined || lease.status === 'idle' ? 'not asked for'
        : lease.status === 'held' ? 'its local deadline has passed'
        : lease.status === 'denied' ? `refused${lease.holder ? `, held by ${lease.holder}` : ''}: ${lease.reason}`
        : `no answer yet (${lease.reason})`;
      return mk('release', 'forbid', 'no-grant',
        `${why} and no lease from ${who} (${detail})${isolated ? '; no ping target answers either' : ''}: holding nothing`);
    }
    if (cfg.pingConfigured && mine !== undefined && mine.up === 0) {
      return mk('normal', 'forbid', 'isolated', `${why} and none of ${mine.total} ping targets answers: taking nothing over`);
    }
    return mk('normal', 'normal', 'heartbeat-rules', `${why}; no arbiter configured: Heartbeat rules`);
  }

  if (cfg.arbiter !== 'none' && input.peer.confirmsMutual === false) {
    // The peer does not count us as mutual yet (it has not read that we hear
    // it), so it may hold, or still be getting, a lease for this group, and
    // use it as soon as it declares us dead on its older view: both would
    // run the group (simulator seed 91012102). Start nothing until its
    // report shows it has read our word; one report round.
    // A group already running is kept only under a valid lease: the peer
    // can be granted a lapsed one and, not counting us as mutual, start the
    // group after its takeover delay (seed 330341212: alpha's renewals went
    // unanswered while it heard beta only over a slow path; it kept g1 until
    // it declared beta dead, too late to have stopped it).
    if (gi.iHold && !leaseValid(gi.lease, now)) {
      const who = cfg.arbiter === 'etcd' ? 'etcd' : 'the arbiter';
      return mk('release', 'forbid', 'mutual-unconfirmed',
        `hearing ${peer}, but ${peer} has not yet heard that this node hears it, and this node holds no valid lease from ${who}: ${peer} may be granted it, so stopping`);
    }
    return mk(gi.iHold ? 'no-resume' : 'normal', 'forbid', 'mutual-unconfirmed',
      `hearing ${peer}, but ${peer} has not yet heard that this node hears it: it may still act on a lease; starting nothing until it has`);
  }
  if (s.settle && !gi.iHold) {
    // The peer may still take a group we released on our old, lower count
    // until it has read the new one. The wait outlives any further change
    // of the comparison: a count that flaps on to 'better' within it must
    // not let us start what the peer is taking (simulator seed 200045201).
    const end = s.settle.until;
    return mk('normal', 'forbid', 'ipfail-pending',
      `ipfail: this node no longer reaches fewer ping targets than ${peer}; starting nothing ${now < end ? `for ${fmt(end - now)}` : `until ${peer} has read the new count`} while ${peer} may still act on the old counts`, now < end ? end : undefined);
  }
  if (s.cmp.sign === 0 || mine === undefined || theirs === undefined) {
    return mk('normal', 'normal', 'mutual', `hearing ${peer}: quorum rules do not apply`);
  }
  if (s.cmp.sign < 0 && gi.peerFailed) {
    // Pushing a group to the node where it failed to start helps nobody.
    return mk('normal', 'normal', 'mutual', `hearing ${peer}: the group failed there, so ipfail leaves it here`);
  }

  const counts = `${mine.up}/${mine.total} here, ${theirs.up}/${theirs.total} on ${peer}`;
  const lasted = now - s.cmp.since;
  if (lasted < cfg.ipfail.delayMs) {
    const at = s.cmp.since + cfg.ipfail.delayMs;
    return mk('normal', 'normal', 'ipfail-pending',
      `ipfail: ping targets reachable ${counts} for ${fmt(lasted)}; acting once it has lasted ${fmt(cfg.ipfail.delayMs)}`, at);
  }
  const dwellEnd = mem.movedAt !== undefined ? mem.movedAt + cfg.ipfail.dwellMs : -Infinity;
  const dwelling = now < dwellEnd;
  if (s.cmp.sign < 0) {
    if (gi.iHold && dwelling) {
      return mk('keep', 'forbid', 'ipfail-dwell',
        `ipfail: ${peer} reaches more ping targets (${counts}), but the group moved ${fmt(now - mem.movedAt!)} ago; handing over after the ${fmt(cfg.ipfail.dwellMs)} dwell`, dwellEnd);
    }
    return mk('release', 'forbid', 'ipfail-handover',
      `ipfail: ${peer} reaches more ping targets (${counts}): ${gi.iHold ? 'handing over' : 'leaving it to ' + peer}`);
  }
  if (!gi.iHold && dwelling) {
    return mk('keep', 'normal', 'ipfail-dwell',
      `ipfail: this node reaches more ping targets (${counts}), but the group moved ${fmt(now - mem.movedAt!)} ago; taking over after the ${fmt(cfg.ipfail.dwellMs)} dwell`, dwellEnd);
  }
  if (!gi.iHold && !gi.peerYields) {
    // The peer decides on its own view of the counts and may still be inside
    // its own ipfail delay, where Heartbeat's rules let it start the group:
    // take it only once the peer says it leaves it here (simulator seed 420034641).
    return mk('normal', 'forbid', 'ipfail-pending',
      `ipfail: this node reaches more ping targets (${counts}); taking the group once ${peer} reports leaving it here`);
  }
  return mk('keep', 'allow', 'ipfail-better', `ipfail: this node reaches more ping targets (${counts}): it runs the groups`);
}

function summarize(cfg: QuorumConfig, input: QuorumInput, mutual: boolean, c: Connectivity): string {
  const parts: string[] = [];
  parts.push(input.peer.liveness === 'unknown' ? `${cfg.peer} not heard yet` : mutual ? `hearing ${cfg.peer}` : `${cfg.peer} not heard`);
  if (input.reach) parts.push(`ping ${input.reach.up}/${input.reach.total}`);
  if (input.peer.reach) parts.push(`${cfg.peer} ping ${input.peer.reach.up}/${input.peer.reach.total}`);
  if (c === 'better' || c === 'worse') parts.push(`connectivity ${c} than ${cfg.peer}`);
  if (cfg.arbiter !== 'none') parts.push(`arbiter ${cfg.arbiter}`);
  return parts.join('; ');
}

/** A view taken before the deadline but read after it (a late timer, a stalled loop) does not count. */
function leaseValid(lease: LeaseView | undefined, now: number): boolean {
  return lease?.status === 'held' && (lease.until === undefined || now < lease.until);
}

function fmt(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
