// The invariants, checked after every simulated event against the world
// model (what is really configured on each host) and the durable stores,
// not against what the engines believe. docs/simulation.md states each one
// and derives its time bounds.

import type { GroupPhase } from '../resources/machine.js';

/** A phase in which a node claims a group (a monitor's restart in place claims it throughout). */
const claimPhase = (p: GroupPhase | undefined): boolean => p === 'starting' || p === 'running' || p === 'restarting';
import type { Bounds } from './scenario.js';

export type Proc = 'down' | 'booting' | 'up' | 'closing';

/** What the checker may see of a simulated node. */
export interface CheckedNode {
  readonly name: string;
  readonly proc: Proc;
  readonly paused: boolean;
  readonly shuttingDown: boolean;
  /** Resources of each group that are up on this host, whatever any process thinks. */
  readonly world: ReadonlyMap<string, boolean[]>;
  /** Groups the durable store says this node holds. */
  readonly durableHeld: ReadonlySet<string>;
  /** The last start attempt of the group on this host failed (by an injected fault). */
  readonly lastStartFailed: ReadonlyMap<string, boolean>;
  phase(group: string): GroupPhase | undefined;
  /** Fencing's wait_for_all holds this node back (it has not heard its peer since it started). */
  readonly fenceBlocked?: boolean;
  /** This node's current claim (starting/running) of the group began while its membership heard the peer (not a takeover). */
  claimedWithPeerUp?(group: string): boolean;
  /** The last start that brought a resource of the group up on this host, and whether its claim was made hearing the peer. */
  lastStartUp?(group: string): { t: number; withPeerUp: boolean } | undefined;
  /** Since when the process has run unfrozen (its start, or its last resume). */
  readonly liveSince?: number;
}

export interface Conditions {
  perfectPath: boolean;     // some path delivers every packet within its healthy delay, both ways
  netQuiet: boolean;        // no network episode, and no delayed packet still in flight
  opQuiet: boolean;         // no op fault active, and no faulty op still running
  fenceQuiet?: boolean;     // no power switch fault active (default true)
}

export interface Violation {
  kind: 'durability' | 'dual-hold' | 'dual-start' | 'dual-claim' | 'liveness' | 'solo-liveness' | 'generation' | 'sequence'
    | 'split-brain' | 'unfenced-takeover' | 'fence-loop' | 'fence-race' | 'lease-overlap' | 'lease-arbiter';
  t: number;
  message: string;
}

const anyUp = (n: CheckedNode, g: string) => n.world.get(g)?.some((x) => x) ?? false;
const allUp = (n: CheckedNode, g: string) => n.world.get(g)?.every((x) => x) ?? false;
const bits = (n: CheckedNode, g: string) => (n.world.get(g) ?? []).map((x) => (x ? '1' : '0')).join('');
const live = (n: CheckedNode) => n.proc === 'up' && !n.paused;
const absent = (n: CheckedNode) => n.proc !== 'up';

/** How much each invariant was actually exercised: a check that never ran proves nothing. */
export interface CheckStats {
  dualSteps: number;        // steps with a group up on both hosts
  dualWindowMaxMs: number;  // longest dual holding measured from reconnection (compare with the bound)
  settledChecks: number;    // liveness checks made after the settle bound
  soloChecks: number;
  startChecks: number;      // starts made on a long-healthy connection (checked against the peer)
  fences: number;           // fence actions issued
  takeovers: number;        // starts while the starter's membership said the peer was dead (fencing only)
  races: number;            // fences landing while every path was cut and both nodes ran
  racesActiveLost: number;  // ... that powered off the active node (its own switch was faulty, or fence_delay tight)
  racesUnclean: number;     // fences in a full cut while the held counts the two sides compare disagreed (not checked)
  blockedSolo: number;      // solo checks skipped because wait_for_all held the survivor back
  leaseSteps: number;       // steps where some node counted a lease as valid (arbiter or etcd)
  leaseHandovers: number;   // a group's valid lease passed from one node to the other
  arbDualSteps: number;     // with an arbiter: steps with a group up on both hosts while both ran unfrozen (checked)
  tightOverlaps: number;    // ... of those, overlaps with arbiter_safety below the stop walk (statistic only)
  ipfailHandovers: number;  // a node gave a group up because its peer reached more ping targets
  noGrantReleases: number;  // a node gave a group up because it heard neither its peer nor a lease
  kills: number;            // monitored resources that died while up (a service crash)
  killRepairs: number;      // ... after which every group was held by exactly one node again while all stayed healthy
  killRepairMaxShare: number; // the longest such repair as a share of bounds.killMs (at most 1, else liveness is flagged)
  monitorRestarts: number;  // monitor failures answered by a restart in place
  monitorMoves: number;     // monitor failures that reached migration-threshold: the group moved
  monitorTimeouts: number;  // monitor calls reported as timed out (a hung check killed at its timeout)
}

export class Checker {
  violation?: Violation;
  readonly stats: CheckStats = {
    dualSteps: 0, dualWindowMaxMs: 0, settledChecks: 0, soloChecks: 0, startChecks: 0,
    fences: 0, takeovers: 0, races: 0, racesActiveLost: 0, racesUnclean: 0, blockedSolo: 0,
    leaseSteps: 0, leaseHandovers: 0, arbDualSteps: 0, tightOverlaps: 0, ipfailHandovers: 0, noGrantReleases: 0,
    kills: 0, killRepairs: 0, killRepairMaxShare: 0, monitorRestarts: 0, monitorMoves: 0, monitorTimeouts: 0,
  };
  /** An arbiter (tandem's or etcd) holds one lease per group: two running nodes never both run a group. */
  arbiter = false;
  /** arbiter_safety does not cover the stop walk: such overlaps are counted, not flagged. */
  tightSafety = false;
  private readonly arbDual = new Map<string, { t: number; connected: boolean; counted: boolean }>();
  /** Fencing configured: a group up on both hosts is a violation at once, whatever the network does. */
  fencing = false;
  /**
   * With fencing, also flag an overlap that begins while the pair hears
   * itself (the resources machine's resume-while-the-peer-stops handover,
   * reported as a bug: docs/simulation.md, Findings). Off: such an overlap
   * must end within B_dual of its beginning.
   */
  strictSplitBrain = false;
  /** fence_delay is only the device timeout: the race rule is not guaranteed (statistic only). */
  tightFenceDelay = false;
  private readonly dualBegan = new Map<string, { t: number; connected: boolean }>();
  connected = false;
  connectedSince = 0;
  private opQuiet = false;
  private opQuietSince = 0;
  private quiet = false;
  private fenceQuiet = true;
  private fenceQuietSince = 0;
  private quietSince = 0;
  /** An operator's standby/takeover/cleanup moves groups on purpose: the settle bound counts from the last one. */
  private operatorAt = -Infinity;
  /** The last time a monitored resource died (a fault, not a disturbance of the network or the ops). */
  private killAt = -Infinity;
  /** A resource died while everything was healthy: measuring how long until every group is held by one node again. */
  private repairing = false;
  /** Per group, the last step it was stop-failed on either node: its dual-hold bounds count from when it left that state. */
  private readonly stopFailedAt = new Map<string, number>();
  private survivor = -1;
  private soloSince = 0;
  private readonly lastBootGen: Array<number | undefined> = [undefined, undefined];
  private readonly lastSent: Array<[number, number] | undefined> = [undefined, undefined];

  constructor(
    private readonly nodes: readonly [CheckedNode, CheckedNode],
    private readonly groups: readonly string[],
    readonly bounds: Bounds,
  ) {}

  private flag(kind: Violation['kind'], t: number, message: string): void {
    if (!this.violation) this.violation = { kind, t, message };
  }

  /** An operator command was applied (whether or not it moved anything). */
  onOperator(t: number): void {
    this.operatorAt = t;
  }

  /** A monitored resource died on a host where it was up: liveness waits bounds.killMs for its monitor to repair it. */
  onKill(t: number): void {
    this.killAt = t;
    this.stats.kills += 1;
    // Measured only from a settled pair: before that, the settle bound is the one that counts.
    this.repairing = this.quiet && t - Math.max(this.quietSince, this.operatorAt) > this.bounds.settleMs;
  }

  /** Recomputes the connection and quiet intervals; call after every event, before check(). */
  update(t: number, c: Conditions): void {
    const [a, b] = this.nodes;
    const connected = live(a) && live(b) && c.perfectPath;
    if (connected && !this.connected) this.connectedSince = t;
    this.connected = connected;
    if (c.opQuiet && !this.opQuiet) this.opQuietSince = t;
    this.opQuiet = c.opQuiet;
    const quiet = connected && c.opQuiet && c.netQuiet && !a.shuttingDown && !b.shuttingDown;
    if (quiet && !this.quiet) this.quietSince = t;
    this.quiet = quiet;
    let survivor = -1;
    for (let i = 0; i < 2; i++) {
      const n = this.nodes[i]!;
      if (live(n) && !n.shuttingDown && absent(this.nodes[1 - i]!)) survivor = i;
    }
    const fq = c.fenceQuiet ?? true;
    if (fq && !this.fenceQuiet) this.fenceQuietSince = t;
    this.fenceQuiet = fq;
    if (!(c.opQuiet && c.netQuiet && fq)) survivor = -1;
    if (survivor !== this.survivor) this.soloSince = t;
    this.survivor = survivor;
  }

  check(t: number): void {
    const [a, b] = this.nodes;
    const B = this.bounds;
    if (this.repairing) this.measureRepair(t);
    for (const n of this.nodes) {
      for (const g of this.groups) {
        if (anyUp(n, g) && !n.durableHeld.has(g)) {
          this.flag('durability', t, `${n.name}: group ${g} has resources up [${bits(n, g)}] but the store does not say held`);
        }
      }
    }
    for (const g of this.groups) {
      const stopFailed = a.phase(g) === 'stop-failed' || b.phase(g) === 'stop-failed';
      if (this.fencing) this.checkSplitBrain(t, g, stopFailed);
      else if (this.arbiter) this.checkArbiterSplit(t, g, stopFailed);
      if (stopFailed) {
        // Needs an operator (or fencing): no bound can hold until it is cleaned up.
        this.stopFailedAt.set(g, t);
        continue;
      }
      // A group an operator just cleaned up out of stop-failed is walked down from then on (seed 770284871).
      const managedSince = this.stopFailedAt.get(g) ?? -Infinity;
      const pa = a.phase(g);
      const pb = b.phase(g);
      if (claimPhase(pa) && claimPhase(pb) && this.connected && this.opQuiet) {
        const since = Math.max(this.connectedSince, this.opQuietSince, managedSince);
        if (t - since > B.claimBothMs) {
          this.flag('dual-claim', t, `both nodes claim ${g} (alpha ${pa}, beta ${pb}) ${t - since} ms after they could hear each other again (bound ${B.claimBothMs} ms)`);
        }
      }
      const dual = anyUp(a, g) && anyUp(b, g);
      if (dual) this.stats.dualSteps += 1;
      if (dual && this.connected && this.opQuiet) {
        const since = Math.max(this.connectedSince, this.opQuietSince, managedSince);
        this.stats.dualWindowMaxMs = Math.max(this.stats.dualWindowMaxMs, t - since);
        if (t - since > B.dualMs) {
          this.flag('dual-hold', t, `group ${g} up on both hosts (alpha [${bits(a, g)}], beta [${bits(b, g)}]) ${t - since} ms after they could hear each other again (bound ${B.dualMs} ms)`);
        }
      }
      const settledFrom = Math.max(this.quietSince, this.operatorAt);
      const killed = t - this.killAt <= B.killMs;
      if (this.quiet && t - settledFrom > B.settleMs && !killed) {
        this.stats.settledChecks += 1;
        const exempt = (a.lastStartFailed.get(g) ?? false) && (b.lastStartFailed.get(g) ?? false);
        const one = (allUp(a, g) && !anyUp(b, g)) || (allUp(b, g) && !anyUp(a, g));
        if (!exempt && !one) {
          this.flag('liveness', t, `group ${g} is not held by exactly one node ${t - settledFrom} ms after everything healed${settledFrom > this.quietSince ? ' and the last operator command' : ''} (bound ${B.settleMs} ms): alpha [${bits(a, g)}] ${a.phase(g)}, beta [${bits(b, g)}] ${b.phase(g)}`);
        }
      }
      if (this.survivor >= 0 && t - this.soloSince > B.soloMs && !killed) {
        const s = this.nodes[this.survivor]!;
        if (s.fenceBlocked) {
          // wait_for_all: a node that never heard its peer since it started takes nothing over (needs an operator).
          this.stats.blockedSolo += 1;
          continue;
        }
        this.stats.soloChecks += 1;
        const exempt = s.lastStartFailed.get(g) ?? false;
        if (!exempt && !allUp(s, g)) {
          this.flag('solo-liveness', t, `${s.name} has been alone for ${t - this.soloSince} ms (bound ${B.soloMs} ms) but group ${g} is not fully up on it: [${bits(s, g)}] ${s.phase(g)}`);
        }
      }
    }
  }

  /** The statistic behind killMs: the time from a death to every group held by exactly one node (or failed on both). */
  private measureRepair(t: number): void {
    const [a, b] = this.nodes;
    if (!this.quiet) {
      this.repairing = false;
      return;
    }
    for (const g of this.groups) {
      const exempt = (a.lastStartFailed.get(g) ?? false) && (b.lastStartFailed.get(g) ?? false);
      const one = (allUp(a, g) && !anyUp(b, g)) || (allUp(b, g) && !anyUp(a, g));
      if (!exempt && !one) return;
    }
    this.repairing = false;
    this.stats.killRepairs += 1;
    this.stats.killRepairMaxShare = Math.max(this.stats.killRepairMaxShare, (t - this.killAt) / this.bounds.killMs);
  }

  /**
   * A node begins starting a group. Once the pair has heard itself for longer
   * than deadtime, the peer's newest report is current, so the node must not
   * start a group the peer holds (from recovery: one the peer claims).
   */
  onStarting(t: number, who: 0 | 1, group: string, from: GroupPhase | undefined): void {
    if (!this.connected || t - this.connectedSince <= this.bounds.claimMs) return;
    const peer = this.nodes[1 - who]!;
    const p = peer.phase(group);
    this.stats.startChecks += 1;
    const claims = claimPhase(p);
    const holds = claims || p === 'stopping' || p === 'stop-failed' || p === 'recovering';
    if (from === 'recovering' ? claims : holds) {
      this.flag('dual-start', t, `${this.nodes[who]!.name} began starting ${group} (from ${from}) while ${peer.name} had it ${p}, ${t - this.connectedSince} ms into a healthy connection (deadtime ${this.bounds.claimMs} ms)`);
    }
  }

  /** Lease safety (checked by the simulator, which sees the lease machines and the arbiter). */
  flagLease(kind: 'lease-overlap' | 'lease-arbiter', t: number, message: string): void {
    this.flag(kind, t, message);
  }

  /**
   * An overlap begins: was it a handover between two nodes that hear each
   * other (the later start that brought a resource up was decided hearing
   * the peer), or a takeover?
   */
  private handover(g: string): boolean {
    const [a, b] = this.nodes;
    const la = a.lastStartUp?.(g);
    const lb = b.lastStartUp?.(g);
    const last = la && (!lb || la.t >= lb.t) ? la : lb;
    const claims = (x: CheckedNode) => claimPhase(x.phase(g));
    return last ? last.withPeerUp
      : (claims(a) && (a.claimedWithPeerUp?.(g) ?? false)) || (claims(b) && (b.claimedWithPeerUp?.(g) ?? false));
  }

  /**
   * With an arbiter and no fencing: a lease cannot stop a frozen or killed
   * holder's resources (its host keeps them until the process runs again;
   * fencing is what removes them), so a group may be up on both hosts while
   * one of them is down, booting, closing or frozen, and for the first
   * decision and stop walk after it runs again (after a restart: once
   * initdead has passed). Otherwise, a group up on both hosts while both
   * run is a split brain, unless it is a handover overlap between two nodes
   * that hear each other (bounded as with fencing), ops are impaired (a
   * slow or failing stop outlasts any safety), or arbiter_safety is below
   * the stop walk (counted only).
   */
  private checkArbiterSplit(t: number, g: string, stopFailed: boolean): void {
    const [a, b] = this.nodes;
    const B = this.bounds;
    if (!(anyUp(a, g) && anyUp(b, g))) {
      this.arbDual.delete(g);
      return;
    }
    let began = this.arbDual.get(g);
    if (!began) {
      began = { t, connected: this.handover(g), counted: false };
      this.arbDual.set(g, began);
    }
    const grace = Math.max(B.claimMs, B.initdeadMs ?? 0) + B.hearMs + B.walkMs;
    const exempt = (n: CheckedNode) => !live(n) || n.proc !== 'up' || t - (n.liveSince ?? 0) <= grace;
    if (exempt(a) || exempt(b) || stopFailed || !this.opQuiet || t - this.opQuietSince <= B.walkMs) return;
    this.stats.arbDualSteps += 1;
    const what = `group ${g} up on both running hosts with an arbiter (alpha [${bits(a, g)}] ${a.phase(g)}, beta [${bits(b, g)}] ${b.phase(g)})`;
    if (began.connected && !this.strictSplitBrain) {
      if (t - Math.max(began.t, this.opQuietSince) > B.dualMs + B.claimMs) {
        this.flag('split-brain', t, `${what}: a handover overlap that began at ${began.t} ms outlasted B_dual + D (${B.dualMs + B.claimMs} ms)`);
      }
      return;
    }
    if (this.tightSafety) {
      if (!began.counted) this.stats.tightOverlaps += 1;
      began.counted = true;
      return;
    }
    this.flag('split-brain', t, `${what}, since ${began.t} ms${began.connected ? ' (began while connected)' : ''}`);
  }

  private checkSplitBrain(t: number, g: string, stopFailed: boolean): void {
    const [a, b] = this.nodes;
    if (!(anyUp(a, g) && anyUp(b, g))) {
      this.dualBegan.delete(g);
      return;
    }
    let began = this.dualBegan.get(g);
    if (!began) {
      // A handover between two nodes that hear each other: a claim decided
      // while the claimant heard its peer (resuming while the peer still
      // stops its copy, or a decision on a report one round old). A claim
      // made while the peer was considered dead (a takeover) is what fencing
      // must make safe: overlapping it is a split brain at once.
      // The overlap is made by the later of the two hosts' starts.
      const la = a.lastStartUp?.(g);
      const lb = b.lastStartUp?.(g);
      const last = la && (!lb || la.t >= lb.t) ? la : lb;
      const claims = (x: CheckedNode) => claimPhase(x.phase(g));
      const handover = last ? last.withPeerUp
        : (claims(a) && (a.claimedWithPeerUp?.(g) ?? false)) || (claims(b) && (b.claimedWithPeerUp?.(g) ?? false));
      began = { t, connected: handover };
      this.dualBegan.set(g, began);
    }
    const what = `group ${g} up on both hosts with fencing configured (alpha [${bits(a, g)}] ${a.phase(g)} ${a.proc}, beta [${bits(b, g)}] ${b.phase(g)} ${b.proc})`;
    if (!began.connected || this.strictSplitBrain) {
      this.flag('split-brain', t, `${what}, since ${began.t} ms${began.connected ? ' (began while connected)' : ''}`);
    } else if (!stopFailed && t - Math.max(began.t, this.opQuietSince, this.fenceQuietSince) > this.bounds.dualMs + this.bounds.claimMs + this.bounds.fenceMs
      && this.opQuiet && this.fenceQuiet) {
      // Ended by the yielding side's stop walk, or (if it froze) by its fence.
      this.flag('split-brain', t, `${what}: a handover overlap that began at ${began.t} ms outlasted B_dual + D + B_fence (${this.bounds.dualMs + this.bounds.claimMs + this.bounds.fenceMs} ms)`);
    }
  }

  /** With fencing, a node starts a group while its membership says the peer is dead: the peer must be confirmed off (or have left). */
  onTakeover(t: number, who: 0 | 1, group: string, confirmedOff: boolean): void {
    this.stats.takeovers += 1;
    if (!confirmedOff) {
      this.flag('unfenced-takeover', t, `${this.nodes[who]!.name} began starting ${group} while it considered ${this.nodes[1 - who]!.name} dead, but no fence of its own had confirmed ${this.nodes[1 - who]!.name} off and it had not left gracefully`);
    }
  }

  /** A fence is issued: wait_for_all says only by a node that has heard its peer since it started (no fence loops). */
  onFence(t: number, who: 0 | 1, heardPeerSinceStart: boolean): void {
    this.stats.fences += 1;
    if (!heardPeerSinceStart) {
      this.flag('fence-loop', t, `${this.nodes[who]!.name} fences ${this.nodes[1 - who]!.name} without having heard it since it started`);
    }
  }

  /**
   * A fence lands while every path is cut both ways and both nodes run.
   * The policy's race rule: the active node (more groups; ties: the first
   * node) shoots first, so it must not be the one powered off, unless its
   * own switch is faulty.
   */
  onRace(t: number, by: 0 | 1, activeLost: boolean, activeSwitchHealthy: boolean, detail: string): void {
    this.stats.races += 1;
    if (!activeLost) return;
    this.stats.racesActiveLost += 1;
    if (activeSwitchHealthy && !this.tightFenceDelay) {
      this.flag('fence-race', t, `${this.nodes[by]!.name} powered off the active ${this.nodes[1 - by]!.name} in a symmetric cut, although the active node's switch works (${detail})`);
    }
  }

  onBoot(t: number, who: 0 | 1, generation: number): void {
    const prev = this.lastBootGen[who];
    if (prev !== undefined && generation <= prev) {
      this.flag('generation', t, `${this.nodes[who]!.name} restarted with generation ${generation}, not above the previous ${prev}`);
    }
    this.lastBootGen[who] = generation;
  }

  onSend(t: number, who: 0 | 1, generation: number, seq: number): void {
    const prev = this.lastSent[who];
    if (prev && (generation < prev[0] || (generation === prev[0] && seq <= prev[1]))) {
      this.flag('sequence', t, `${this.nodes[who]!.name} sent (generation ${generation}, seq ${seq}) after (${prev[0]}, ${prev[1]})`);
    }
    this.lastSent[who] = [generation, seq];
  }
}
