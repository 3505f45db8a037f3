// VRRP schedules (issue 14): 2 or 3 simulated hosts on one segment, each
// running the daemon's own VrrpRuntime (src/vrrp/runtime.ts: the instance
// and sync-group machines under the runtime Driver, transitions serialized
// per instance) with a simulated VrrpHost. Adverts leave through the real
// encoder and are decoded by the receiver with the real codec (TTL 255,
// the real source and destination, v2 auth), then filtered as
// src/vrrp/service.ts does (VRID, own address, unicast peers). Between them
// the segment's faults: partitions (one-way too), loss, delay, duplication,
// link down, kill -9, power loss, SIGSTOP, graceful stops (priority 0).
//
// A separate scenario kind, not an option of the Heartbeat schedules: those
// model exactly two nodes, a durable store and resource groups, none of
// which VRRP has, and their seeds must keep replaying as they did. What is
// shared: the PRNG streams, the event heap, the runtime Clock and the
// style (a seed fixes everything; the first violation ends the run with the
// last 40 events).
//
// Invariants (docs/simulation.md, "VRRP schedules"):
//  - one-master / vip-holders: quiet (no network, link or pause episode,
//    every delayed packet arrived) for longer than B_settle, each virtual
//    router with a running instance has exactly one MASTER among the running
//    processes, and exactly one host with its VIPs up (with the guard: when
//    a running process holds the unit's lease or wants it);
//  - sync-group: quiet for B_settle, a group's members on a running host
//    share one state, and the group reports it;
//  - priority-0: a sole MASTER that stops gracefully on a whole network,
//    with a running BACKUP (holding the unit's lease, with the guard), is
//    replaced within hop + Skew_Time;
//  - guard: `guarded` schedules: never two MASTERs of a virtual router at any
//    instant (each unit's lease is exclusive, handed over with a gap);
//  - codec: an advert between instances of the same virtual router always
//    decodes (both ends share version, family and password).

import { VrrpRuntime, type VrrpHost, type VrrpSetConfig } from '../vrrp/runtime.js';
import {
  DEFAULT_GARP, masterDownIntervalMs, skewTimeMs,
  type InstanceConfig, type InstanceEvent, type InstanceState,
} from '../vrrp/instance.js';
import { decode, encode, VRRP_GROUP4, VRRP_GROUP6, VRRP_TTL, type VrrpAuth } from '../vrrp/packet.js';
import type { Clock, Timer } from '../runtime/driver.js';
import { EventHeap } from './heap.js';
import { Rng } from './rng.js';

// ---- the scenario --------------------------------------------------------------

export interface VrSpec {
  name: string;
  vrid: number;
  version: 2 | 3;
  family: 4 | 6;
  unicast: boolean;
  intervalMs: number;
  auth: VrrpAuth;
  vips: string[];
}

export interface MemberSpec {
  priority: number;
  nopreempt: boolean;
  preemptDelayMs: number;
  initialState: 'MASTER' | 'BACKUP';
  /** v3 only: this node's own advert_int, when it differs from the others' (a v3 BACKUP takes the master's). */
  intervalMs?: number;
}

export type VrrpFault =
  | { k: 'cut'; from: number[]; to: number[]; both: boolean }   // packets from `from` to `to` lost; `both`: the other way too (a partition)
  | { k: 'loss'; nodes: number[]; p: number }          // sent or received by these nodes
  | { k: 'slow'; nodes: number[]; extraMs: number }
  | { k: 'dup'; nodes: number[] }
  | { k: 'link'; node: number }                         // the interface down: FAULT, nothing in or out
  | { k: 'kill'; node: number }                         // kill -9, restart at the end
  | { k: 'power'; node: number }                        // power off, on at the end
  | { k: 'pause'; node: number }                        // SIGSTOP, SIGCONT at the end
  | { k: 'stop'; node: number };                        // graceful stop (priority 0), start at the end

export interface VrrpEpisode {
  at: number;
  durMs: number;
  f: VrrpFault;
}

export interface VrrpParams {
  nodes: number;
  addresses: Array<{ v4: string; v6: string }>;
  vrs: VrSpec[];
  /** members[node][vr] */
  members: MemberSpec[][];
  /** Sync groups by VR index, the same on every node. */
  groups: number[][];
  delayMs: number;
  jitterMs: number;
  dup: number;
  reorder: number;
  reorderMs: number;
  timerSlackMs: number;
  /** A transition (VIPs and notify script) takes 1..opMaxMs. */
  opMaxMs: number;
  bootMaxMs: number;
  horizonMs: number;
  /**
   * The split-brain guard: every instance `guarded`, a lease per unit (a
   * standalone instance, or a sync group): granted `gapMs` after it became
   * free to a running node that asked, kept while the holder wants MASTER;
   * a dead holder's expires after holdMin..holdMax; messages to and from
   * the lease take 0..noticeMaxMs (in order per host).
   */
  guard?: { gapMs: number; holdMinMs: number; holdMaxMs: number; noticeMaxMs: number };
}

export interface VrrpScenario {
  seed: number;
  params: VrrpParams;
  faults: VrrpEpisode[];
}

const STREAM_PARAMS = 101;
const STREAM_FAULTS = 102;
const STREAM_RUN = 103;

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export function makeVrrpScenario(seed: number): VrrpScenario {
  const rng = new Rng(seed, STREAM_PARAMS);
  const nodes = rng.chance(0.6) ? 2 : 3;
  // Address order is not node order: the tie-break must not favour node 0.
  const perm = shuffle(rng, [1, 2, 3].map((x) => x + 10 * rng.int(0, 2)));
  const addresses = Array.from({ length: nodes }, (_, i) => ({ v4: `10.9.0.${perm[i]}`, v6: `fe80::${perm[i]!.toString(16)}` }));
  const nvr = rng.int(1, 3);
  const vrids = shuffle(rng, Array.from({ length: 255 }, (_, i) => i + 1)).slice(0, nvr);
  const vrs: VrSpec[] = vrids.map((vrid, r) => {
    const version = rng.chance(0.4) ? 2 : 3;
    const family = version === 2 || rng.chance(0.6) ? 4 : 6;
    const intervalMs = version === 2 ? rng.pick([1000, 1000, 2000, 3000]) : rng.pick([100, 200, 300, 500, 1000, 2000]);
    const nv = rng.int(1, 3);
    return {
      name: `VI_${r + 1}`, vrid, version, family, unicast: rng.chance(0.4), intervalMs,
      auth: version === 2 && rng.chance(0.5) ? { type: 'pass', password: `pw${vrid}` } : { type: 'none' },
      vips: Array.from({ length: nv }, (_, k) => (family === 4 ? `192.0.2.${(r * 10 + k + 1) % 255}` : `2001:db8::${r * 10 + k + 1}`)),
    };
  });
  const groups: number[][] = nvr >= 2 && rng.chance(0.4) ? [nvr === 3 && rng.chance(0.5) ? [0, 1, 2] : [0, 1]] : [];
  const draw = (vr: VrSpec, others: MemberSpec[], owner: boolean): MemberSpec => {
    let priority = rng.int(1, 254);
    if (others.length && rng.chance(0.25)) priority = rng.pick(others).priority === 255 ? 254 : rng.pick(others).priority;   // ties: the address breaks them
    if (owner) priority = 255;
    const nopreempt = rng.chance(0.2);
    const m: MemberSpec = {
      priority, nopreempt,
      preemptDelayMs: !nopreempt && rng.chance(0.25) ? rng.pick([500, 1000, 3000, 5000]) : 0,
      initialState: priority === 255 || rng.chance(0.3) ? 'MASTER' : 'BACKUP',
    };
    if (vr.version === 3 && rng.chance(0.15)) m.intervalMs = rng.pick([100, 200, 500, 1000, 2000]);
    return m;
  };
  const members: MemberSpec[][] = Array.from({ length: nodes }, () => []);
  for (let r = 0; r < nvr; r++) {
    const ownerAt = rng.chance(0.1) ? rng.int(0, nodes - 1) : -1;
    const col: MemberSpec[] = [];
    for (let n = 0; n < nodes; n++) {
      const m = draw(vrs[r]!, col, n === ownerAt);
      col.push(m);
      members[n]![r] = m;
    }
  }
  // A sync group's members on one node share priority and preemption (a
  // group whose members rank the nodes differently need not settle: each
  // node may wait for a member that the other's adverts keep from being ready).
  for (const g of groups) {
    for (let n = 0; n < nodes; n++) {
      const first = members[n]![g[0]!]!;
      for (const r of g) {
        const own = members[n]![r]!.intervalMs;   // v2 and v3 members may share a group
        const m: MemberSpec = { priority: first.priority, nopreempt: first.nopreempt, preemptDelayMs: first.preemptDelayMs, initialState: first.initialState };
        if (own !== undefined) m.intervalMs = own;
        members[n]![r] = m;
      }
    }
  }
  const maxInterval = Math.max(...vrs.map((v) => v.intervalMs), ...members.flat().map((m) => m.intervalMs ?? 0));
  const params: VrrpParams = {
    nodes, addresses, vrs, members, groups,
    delayMs: rng.int(0, 5), jitterMs: rng.int(0, 5), dup: rng.chance(0.3) ? 0.05 : 0,
    reorder: rng.chance(0.3) ? 0.1 : 0, reorderMs: rng.int(1, 20),
    timerSlackMs: rng.int(0, 3),
    opMaxMs: rng.pick([5, 50, 500, 2000]),
    bootMaxMs: rng.pick([50, 500]),
    horizonMs: Math.max(20_000, 30 * maxInterval),
  };
  if (rng.chance(0.25)) {
    params.guard = { gapMs: rng.pick([0, 50, 500]), holdMinMs: 500, holdMaxMs: rng.pick([2000, 10_000]), noticeMaxMs: rng.pick([1, 20, 200]) };
  }
  return { seed, params, faults: makeFaults(seed, params) };
}

function makeFaults(seed: number, p: VrrpParams): VrrpEpisode[] {
  const rng = new Rng(seed, STREAM_FAULTS);
  const mdi = maxMdi(p);
  const out: VrrpEpisode[] = [];
  const count = rng.int(0, 15);
  const some = (): number[] => {
    const xs = shuffle(rng, Array.from({ length: p.nodes }, (_, i) => i));
    return xs.slice(0, rng.int(1, p.nodes));
  };
  for (let i = 0; i < count; i++) {
    const at = rng.int(0, p.horizonMs);
    const durMs = rng.weighted<number>([
      [rng.int(1, 200), 2], [rng.int(1, Math.ceil(mdi)), 3], [Math.round(mdi) + rng.int(-2, 2), 1], [rng.int(1, 4 * Math.ceil(mdi)), 3], [rng.int(1, 30_000), 1],
    ]);
    const node = rng.int(0, p.nodes - 1);
    const kind = rng.weighted<VrrpFault['k']>([
      ['cut', 4], ['loss', 2], ['slow', 2], ['dup', 1], ['link', 1], ['kill', 2], ['power', 1], ['pause', 2], ['stop', 3],
    ]);
    let f: VrrpFault;
    switch (kind) {
      case 'cut': {
        const side = shuffle(rng, Array.from({ length: p.nodes }, (_, k) => k));
        const a = side.slice(0, rng.int(1, p.nodes - 1));
        const b = side.filter((x) => !a.includes(x));
        f = { k: 'cut', from: a, to: b, both: rng.chance(0.6) };
        break;
      }
      case 'loss': f = { k: 'loss', nodes: some(), p: rng.pick([0.05, 0.3, 0.6, 0.9]) }; break;
      case 'slow': f = { k: 'slow', nodes: some(), extraMs: rng.int(0, Math.ceil(2 * mdi)) }; break;
      case 'dup': f = { k: 'dup', nodes: some() }; break;
      default: f = { k: kind, node };
    }
    out.push({ at, durMs, f });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** A node's advert interval in a virtual router. */
export const intervalOf = (p: VrrpParams, n: number, r: number): number => p.members[n]![r]!.intervalMs ?? p.vrs[r]!.intervalMs;

/** Every interval a virtual router's instances use: a v3 BACKUP may run on any of them (the master's). */
const intervalsOf = (p: VrrpParams, r: number): number[] => Array.from({ length: p.nodes }, (_, n) => intervalOf(p, n, r));

/** The longest Master_Down_Interval any instance of the schedule can run (its own or a v3 master's interval). */
export function maxMdi(p: VrrpParams): number {
  let m = 0;
  for (let r = 0; r < p.vrs.length; r++) {
    const vr = p.vrs[r]!;
    for (let n = 0; n < p.nodes; n++) {
      for (const iv of intervalsOf(p, r)) m = Math.max(m, masterDownIntervalMs(vr.version, p.members[n]![r]!.priority, iv));
    }
  }
  return m;
}

/**
 * Bounds derived from the timers (docs/simulation.md):
 *  hop = delay + jitter + reorder hold-back + timer slack + 1 ms;
 *  B_settle = boot + P + 2·MDI + A + 2·hop + 4·O, with boot the longest
 *  process start (a restart at the last fault), P the longest preempt_delay,
 *  MDI the longest Master_Down_Interval, A the longest advert interval and O
 *  the longest transition. A process started at the last fault accepts
 *  lower adverts for P, then its Master_Down_Timer runs out (MDI): the
 *  backups with the highest priority are MASTER; two masters resolve on the
 *  next advert between them (A + hop); a sync group a member of which was
 *  pulled to BACKUP meanwhile needs one more timer round (MDI + hop); the VIPs
 *  follow the MASTER state within the transitions queued on the instance
 *  (4·O: at most that many are ever queued once the network is whole).
 *
 *  With the guard, the lease's own delays come on top:
 *  B_settle(guard) = B_settle + X + 2·H, with H = hop + 2·O + 2·N + G.
 *  X (holdMax) is the expiry of the lease of a holder that died at the last
 *  change. H is one hand-over: the outranked master hears the claim (hop),
 *  its VIPs come off behind at most one queued transition (2·O), its release
 *  reaches the lease (N, the notice delay), the gap (G), the grant reaches
 *  the claimer (N). Twice: with 3 hosts the lease may first go to a lower
 *  claimer whose withdrawal was still on its way; that one no longer wants
 *  it after, so the next grant is the right one.
 */
export function vrrpBounds(p: VrrpParams): { hop: number; mdi: number; settle: number } {
  const hop = p.delayMs + p.jitterMs + (p.reorder > 0 ? p.reorderMs : 0) + p.timerSlackMs + 1;
  const mdi = maxMdi(p);
  const P = Math.max(0, ...p.members.flat().map((m) => m.preemptDelayMs));
  const A = Math.max(...p.vrs.map((_, r) => Math.max(...intervalsOf(p, r))));
  let settle = p.bootMaxMs + P + 2 * mdi + A + 2 * hop + 4 * p.opMaxMs;
  const g = p.guard;
  if (g) settle += g.holdMaxMs + 2 * (hop + 2 * p.opMaxMs + 2 * g.noticeMaxMs + g.gapMs);
  return { hop, mdi, settle };
}

// ---- planted bugs (tests only) ----------------------------------------------------

/**
 * Defects planted in the host's receive path or its VIP model, to show the
 * checker sees them: `no-tie-break` (a MASTER ignores an advert of its own
 * priority, so the lower address never yields), `ignore-priority-0` (a
 * BACKUP drops the leaving master's priority-0 advert), `keep-vips` (VIPs
 * are not removed on leaving MASTER), `ignore-guard` (the guard's refusal
 * never reaches the instances).
 */
export type VrrpBug = 'no-tie-break' | 'ignore-priority-0' | 'keep-vips' | 'ignore-guard';

// ---- the run ------------------------------------------------------------------------

export interface VrrpViolation {
  t: number;
  kind: 'one-master' | 'vip-holders' | 'sync-group' | 'priority-0' | 'guard' | 'codec' | 'crash';
  message: string;
}

export interface VrrpStats {
  masters: number;          // transitions to MASTER
  priority0Checks: number;  // graceful stops of a sole master checked for takeover
  settledSteps: number;     // steps at which the settle invariants were checked
  adverts: number;
  crossVrDrops: number;     // adverts of another virtual router refused by the codec (version, auth)
  guardHandovers: number;   // leases granted
  guardClaims: number;      // adverts sent by a BACKUP held by the guard
  guardRevocations: number; // leases taken from a running holder (before the heal)
  guardExpiries: number;    // leases of a dead holder that expired
  priority0Reordered: number;   // takeover checks cancelled: an older advert of the stopped master arrived after its priority 0
}

export interface VrrpResult {
  seed: number;
  steps: number;
  simMs: number;
  violation?: VrrpViolation;
  trace: string[];
  stats: VrrpStats;
}

export interface VrrpOptions {
  verbose?: (line: string) => void;
  bug?: VrrpBug;
  scenario?: (s: VrrpScenario) => VrrpScenario;
  steps?: number;
}

interface Ev { t: number; order: number; fn: () => void }

type Proc = 'up' | 'down' | 'stopping' | 'off';

class SimClockTimer implements Timer {
  private token = 0;
  constructor(private readonly n: SimHost, private readonly inc: number) {}
  set(at: number, fire: () => void): void {
    const token = ++this.token;
    const s = this.n.sim;
    s.after(Math.max(0, at - this.n.localNow()) + s.rng.int(0, s.p.timerSlackMs), () => {
      if (token !== this.token || this.n.inc !== this.inc) return;
      this.n.inProcess(() => { if (token === this.token && this.n.inc === this.inc) fire(); }, true);
    });
  }
  clear(): void { this.token += 1; }
}

/** One simulated host: its process (a VrrpRuntime per incarnation) and its VIPs. */
class SimHost {
  proc: Proc = 'down';
  paused = false;
  linkDown = false;
  inc = 0;
  origin = 0;
  rt: VrrpRuntime | null = null;
  /** VIPs up on this host, by VR index: what is really configured. */
  readonly vips = new Set<number>();
  /** Work waiting for SIGCONT (timers, packets, completions), in order. */
  private frozen: Array<{ timer: boolean; fn: () => void }> = [];
  /** Transitions in flight: land (VIPs) at completion. */
  private inflight = new Map<number, () => void>();
  private nextOp = 0;
  backlog = 0;
  /**
   * The lease client of this process, per guarded unit: the request it has
   * open (0: none) and whether that request was granted (the runtime was
   * told it may be MASTER). A new incarnation starts with none.
   */
  leases = new Map<string, { req: number; granted: boolean }>();
  private reqSeq = 0;

  constructor(readonly sim: VrrpSim, readonly ix: number) {}

  localNow(): number { return this.sim.now - this.origin; }
  running(): boolean { return this.proc === 'up' && !this.paused; }

  /** Runs `fn` in the process now, or on SIGCONT if it is frozen. */
  inProcess(fn: () => void, timer = false): void {
    if (this.paused) this.frozen.push({ timer, fn });
    else fn();
  }

  resume(): void {
    this.paused = false;
    const q = this.frozen.splice(0);
    this.backlog = 0;
    // The expired timers before or after the queued packets and events, each in its own order.
    const timersFirst = this.sim.rng.chance(0.5);
    const order = [...q.filter((x) => x.timer === timersFirst), ...q.filter((x) => x.timer !== timersFirst)];
    for (const x of order) if (!this.paused) x.fn(); else this.frozen.push(x);
  }

  start(): void {
    const s = this.sim;
    this.inc += 1;
    const inc = this.inc;
    this.proc = 'down';
    this.frozen = [];
    s.after(s.rng.int(1, s.p.bootMaxMs), () => {
      if (this.inc !== inc || this.proc === 'off') return;
      this.proc = 'up';
      this.origin = s.now - s.rng.int(0, 1000);
      const clock: Clock = { now: () => this.localNow(), timer: () => new SimClockTimer(this, inc) };
      // A guarded instance starts forbidden MASTER (initInstance): it asks for the lease once it wants it.
      this.leases = new Map();
      this.rt = new VrrpRuntime(s.setConfig(this.ix), this.host(inc, clock));
      s.trace(`${this.name} started (incarnation ${inc})`);
      if (this.linkDown) this.linkFault(true);
      this.rt.start();
      s.check();
    });
  }

  get name(): string { return `n${this.ix}`; }

  client(unit: string): { req: number; granted: boolean } {
    let c = this.leases.get(unit);
    if (!c) this.leases.set(unit, c = { req: 0, granted: false });
    return c;
  }

  newRequest(): number { return ++this.reqSeq; }

  /** The runtime's instances are gone with the process (or the run ends): count their claims. */
  harvest(): void {
    if (this.rt) for (const u of this.rt.state.units) for (const m of u.kind === 'instance' ? [u.s] : u.g.members) this.sim.stats.guardClaims += m.stats.claims;
  }

  private host(inc: number, clock: Clock): VrrpHost {
    const s = this.sim;
    const alive = () => this.inc === inc && this.proc !== 'down' && this.proc !== 'off';
    return {
      clock,
      sendAdvert: (name, priority, ms) => { if (alive()) s.send(this, name, priority, ms); },
      transition: (name, t, from, priority, reason, done) => {
        if (!alive()) return;
        const r = s.vrIndex(name);
        const id = this.nextOp++;
        s.trace(`${this.name} ${name}: ${from} -> ${t} (priority ${priority}): ${reason}`);
        if (t === 'become-master') s.stats.masters += 1;
        const land = () => {
          if (t === 'become-master') this.vips.add(r);
          else if (!(s.bug === 'keep-vips' && t === 'become-backup')) this.vips.delete(r);
        };
        this.inflight.set(id, land);
        s.after(s.rng.int(1, s.p.opMaxMs), () => {
          if (!this.inflight.delete(id)) return;
          land();
          s.trace(`${this.name} ${name}: ${t} done (VIPs ${this.vips.has(r) ? 'up' : 'down'})`);
          this.inProcess(() => { if (this.inc === inc) { done(); this.maybeExited(inc); } });
        });
      },
      announce: () => {},
      groupState: (group, state, _from, reason, done) => {
        if (!alive()) return;
        s.trace(`${this.name} group ${group}: ${state} (${reason})`);
        done();
      },
      guardWant: (unit, want, reason) => { if (alive()) s.guardWant(this, inc, unit, want, reason); },
      log: (level, message) => { if (s.verbose) s.trace(`${this.name} [${level}] ${message}`); },
    };
  }

  /** A graceful stop ends when every transition has run (the runtime's serial queue is then idle). */
  maybeExited(inc: number): void {
    if (this.proc !== 'stopping' || this.inc !== inc || this.inflight.size > 0) return;
    this.proc = 'down';
    this.harvest();
    this.rt = null;
    this.sim.trace(`${this.name} exited`);
    this.sim.processGone(this, inc);
  }

  /** SIGTERM: handled once the process runs (a frozen one on SIGCONT). */
  stopGracefully(): void {
    const inc = this.inc;
    this.inProcess(() => {
      if (this.inc !== inc || this.proc !== 'up' || !this.rt) return;
      const rt = this.rt;
      this.proc = 'stopping';
      this.sim.beforeStop(this);
      void rt.shutdown();
      this.maybeExited(inc);
    });
  }

  /** kill -9 (keeps the VIPs) or power loss (clears them): a transition in flight lands now or never. */
  die(power: boolean): void {
    for (const land of this.inflight.values()) if (this.sim.rng.chance(0.5)) land();
    this.inflight.clear();
    const was = this.proc !== 'down' && this.proc !== 'off' ? this.inc : -1;
    this.inc += 1;
    this.proc = power ? 'off' : 'down';
    this.harvest();
    this.rt = null;
    if (was >= 0) this.sim.processGone(this, was);
    this.paused = false;
    this.frozen = [];
    this.backlog = 0;
    if (power) this.vips.clear();
  }

  linkFault(down: boolean): void {
    this.linkDown = down;
    const rt = this.rt;
    if (!rt || this.proc !== 'up') return;
    this.inProcess(() => {
      if (this.rt !== rt) return;
      for (const vr of this.sim.p.vrs) {
        rt.submit({ to: vr.name, event: down ? { kind: 'fault', source: 'interface eth0', reason: 'no carrier' } : { kind: 'fault-cleared', source: 'interface eth0', reason: 'link up' } });
      }
    });
  }

  deliver(fn: () => void): void {
    if (this.proc !== 'up' && this.proc !== 'stopping') return;
    if (this.paused) {
      if (this.backlog >= 256) return;   // the socket buffer is full
      this.backlog += 1;
    }
    this.inProcess(fn);
  }
}

interface Packet { from: number; vr: number; family: 4 | 6; src: string; dst: string; bytes: Buffer }

/** A grant of a unit's lease: to one request of one process. */
interface Grant { node: number; inc: number; req: number; epoch: number }

/** One guarded unit's lease, as the arbiter sees it. */
interface Lease {
  name: string;
  vrs: number[];
  holder: Grant | undefined;
  /** The holder is being told it lost the lease; free once it was. */
  revoking: boolean;
  freeSince: number;
  /** Per host: the open request the arbiter last heard of. */
  wants: Array<{ inc: number; req: number } | undefined>;
  epoch: number;
}

export class VrrpSim {
  now = 0;
  readonly p: VrrpParams;
  readonly rng: Rng;
  readonly hosts: SimHost[];
  readonly bug: VrrpBug | undefined;
  readonly verbose: boolean;
  readonly stats: VrrpStats = {
    masters: 0, priority0Checks: 0, settledSteps: 0, adverts: 0, crossVrDrops: 0,
    guardHandovers: 0, guardClaims: 0, guardRevocations: 0, guardExpiries: 0, priority0Reordered: 0,
  };
  private readonly heap = new EventHeap<Ev>();
  private readonly active = new Map<number, VrrpFault>();
  private impairedUntil = 0;
  private quietSince = 0;
  private violation: VrrpViolation | undefined;
  private readonly ring: string[] = [];
  private steps = 0;
  private readonly bounds: ReturnType<typeof vrrpBounds>;
  /** Takeovers owed after a graceful stop: VR index and deadline; cancelled by any fault. */
  private owed: Array<{ vr: number; by: number; node: number; from: string }> = [];
  /** The guarded units' leases (none without the guard), and each VR's. */
  private readonly leases: Lease[] = [];
  private readonly leaseOfVr: Lease[] = [];
  /** Per host, the time the last message to / from the arbiter arrives: each way keeps its order. */
  private readonly upAt: number[];
  private readonly downAt: number[];
  private healed = false;

  constructor(readonly scenario: VrrpScenario, private readonly opts: VrrpOptions) {
    this.p = scenario.params;
    this.rng = new Rng(scenario.seed, STREAM_RUN);
    this.bug = opts.bug;
    this.verbose = !!opts.verbose;
    this.hosts = Array.from({ length: this.p.nodes }, (_, i) => new SimHost(this, i));
    this.bounds = vrrpBounds(this.p);
    this.upAt = this.hosts.map(() => 0);
    this.downAt = this.hosts.map(() => 0);
    if (this.p.guard) {
      // The runtime's units: a sync group is one, each other instance one.
      for (let r = 0; r < this.p.vrs.length; r++) {
        const gi = this.p.groups.findIndex((g) => g.includes(r));
        const name = gi >= 0 ? `G${gi + 1}` : this.p.vrs[r]!.name;
        let l = this.leases.find((x) => x.name === name);
        if (!l) this.leases.push(l = { name, vrs: gi >= 0 ? this.p.groups[gi]! : [r], holder: undefined, revoking: false, freeSince: -Infinity, wants: this.hosts.map(() => undefined), epoch: 0 });
        this.leaseOfVr[r] = l;
      }
    }
  }

  after(ms: number, fn: () => void): void {
    this.heap.push({ t: this.now + Math.max(0, ms), order: 0, fn });
  }

  trace(line: string): void {
    const l = `${this.now} ${line}`;
    this.ring.push(l);
    if (this.ring.length > 40) this.ring.shift();
    this.opts.verbose?.(l);
  }

  vrIndex(name: string): number {
    return this.p.vrs.findIndex((v) => v.name === name);
  }

  setConfig(n: number): VrrpSetConfig {
    const a = this.p.addresses[n]!;
    const instances: InstanceConfig[] = this.p.vrs.map((vr, r) => {
      const m = this.p.members[n]![r]!;
      return {
        name: vr.name, vrid: vr.vrid, priority: m.priority, version: vr.version, advertIntervalMs: intervalOf(this.p, n, r),
        nopreempt: m.nopreempt, preemptDelayMs: m.preemptDelayMs, initialState: m.initialState,
        primaryAddress: vr.family === 4 ? a.v4 : a.v6, garp: DEFAULT_GARP, guarded: !!this.p.guard,
      };
    });
    return { instances, syncGroups: this.p.groups.map((g, i) => ({ name: `G${i + 1}`, members: g.map((r) => this.p.vrs[r]!.name) })) };
  }

  // ---- the segment ----

  send(h: SimHost, name: string, priority: number, intervalMs: number): void {
    const r = this.vrIndex(name);
    const vr = this.p.vrs[r]!;
    const src = vr.family === 4 ? this.p.addresses[h.ix]!.v4 : this.p.addresses[h.ix]!.v6;
    if (h.linkDown) return;   // the send fails on a down link, harmlessly
    const dsts = vr.unicast
      ? this.hosts.filter((x) => x !== h).map((x) => ({ to: [x.ix], dst: vr.family === 4 ? this.p.addresses[x.ix]!.v4 : this.p.addresses[x.ix]!.v6 }))
      : [{ to: this.hosts.filter((x) => x !== h).map((x) => x.ix), dst: vr.family === 4 ? VRRP_GROUP4 : VRRP_GROUP6 }];
    for (const d of dsts) {
      const bytes = encode({ version: vr.version, vrid: vr.vrid, priority, intervalCs: Math.round(intervalMs / 10), addresses: vr.vips },
        { family: vr.family, src, dst: d.dst, auth: vr.auth });
      this.stats.adverts += 1;
      for (const to of d.to) this.transmit({ from: h.ix, vr: r, family: vr.family, src, dst: d.dst, bytes }, to);
    }
  }

  private transmit(pk: Packet, to: number): void {
    let loss = 0;
    let dup = this.p.dup;
    let extra = 0;
    for (const f of this.active.values()) {
      if (f.k === 'cut' && ((f.from.includes(pk.from) && f.to.includes(to)) || (f.both && f.to.includes(pk.from) && f.from.includes(to)))) return;
      if (f.k === 'link' && (f.node === pk.from || f.node === to)) return;
      const touches = 'nodes' in f && (f.nodes.includes(pk.from) || f.nodes.includes(to));
      if (!touches) continue;
      if (f.k === 'loss') loss = 1 - (1 - loss) * (1 - f.p);
      if (f.k === 'dup') dup = Math.max(dup, 0.5);
      if (f.k === 'slow') extra = Math.max(extra, f.extraMs);
    }
    if (this.rng.chance(loss)) return;
    const copies = this.rng.chance(dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let d = this.p.delayMs + this.rng.int(0, this.p.jitterMs);
      if (this.rng.chance(this.p.reorder)) d += this.rng.int(1, this.p.reorderMs);
      if (extra > 0) {
        d += this.rng.int(0, extra);
        this.impairedUntil = Math.max(this.impairedUntil, this.now + d);
      }
      this.after(d, () => {
        const h = this.hosts[to]!;
        if (h.linkDown) return;
        h.deliver(() => this.receive(h, pk));
      });
    }
  }

  /** src/vrrp/service.ts's receive path: every instance of the packet's family reads it and keeps its own VRID's. */
  private receive(h: SimHost, pk: Packet): void {
    const rt = h.rt;
    if (!rt) return;
    const a = this.p.addresses[h.ix]!;
    for (let r = 0; r < this.p.vrs.length; r++) {
      const vr = this.p.vrs[r]!;
      if (vr.family !== pk.family) continue;
      const primary = vr.family === 4 ? a.v4 : a.v6;
      // A multicast instance's socket hears the group; a unicast one's, what is sent to this host.
      if (vr.unicast ? pk.dst !== primary : pk.dst !== (vr.family === 4 ? VRRP_GROUP4 : VRRP_GROUP6)) continue;
      const res = decode(pk.bytes, { family: pk.family, src: pk.src, dst: pk.dst, ttl: VRRP_TTL, version: vr.version, auth: vr.auth, checkTtl: true });
      if (!res.ok) {
        if (r === pk.vr) { this.fail('codec', `${h.name} ${vr.name}: advert from ${pk.src} (same virtual router) dropped: ${res.reason}: ${res.detail}`); return; }
        this.stats.crossVrDrops += 1;
        continue;
      }
      if (res.advert.vrid !== vr.vrid) continue;
      // An advert the stopping master sent before its priority 0, overtaking it (jitter, a
      // duplicate): the backup rightly restarts Master_Down_Timer, so no takeover is owed then.
      if (res.advert.priority > 0 && this.owed.length) {
        const before = this.owed.length;
        this.owed = this.owed.filter((o) => !(o.node === pk.from && this.p.groups.concat([[o.vr]]).some((g) => g.includes(o.vr) && g.includes(r))));
        this.stats.priority0Reordered += this.owed.length < before ? 1 : 0;
      }
      if (pk.src === primary) continue;
      if (vr.unicast && !this.hosts.some((x) => x !== h && (vr.family === 4 ? this.p.addresses[x.ix]!.v4 : this.p.addresses[x.ix]!.v6) === pk.src)) continue;
      const ev: InstanceEvent = { kind: 'advert-received', priority: res.advert.priority, src: pk.src, advertIntervalMs: res.advert.intervalCs * 10 };
      if (this.planted(rt, vr.name, ev)) continue;
      rt.submit({ to: vr.name, event: ev });
    }
    this.check();
  }

  private planted(rt: VrrpRuntime, name: string, ev: Extract<InstanceEvent, { kind: 'advert-received' }>): boolean {
    if (this.bug === 'ignore-priority-0') return ev.priority === 0;
    if (this.bug === 'no-tie-break') {
      const s = instanceOf(rt, name);
      return s.state === 'MASTER' && ev.priority === s.priority;
    }
    return false;
  }

  // ---- faults ----

  private startFault(id: number, f: VrrpFault): void {
    this.trace(`fault ${id} begins: ${JSON.stringify(f)}`);
    this.changed();
    switch (f.k) {
      case 'cut': case 'loss': case 'slow': case 'dup': this.active.set(id, f); break;
      case 'link': this.active.set(id, f); this.hosts[f.node]!.linkFault(true); break;
      case 'kill': this.hosts[f.node]!.die(false); break;
      case 'power': this.hosts[f.node]!.die(true); break;
      case 'pause': { const h = this.hosts[f.node]!; if (h.proc === 'up' || h.proc === 'stopping') h.paused = true; break; }
      case 'stop': this.hosts[f.node]!.stopGracefully(); break;
    }
  }

  private endFault(id: number, f: VrrpFault): void {
    if (this.healed) return;
    this.trace(`fault ${id} ends`);
    this.changed();
    this.active.delete(id);
    const h = 'node' in f ? this.hosts[f.node]! : undefined;
    switch (f.k) {
      case 'link':
        if (![...this.active.values()].some((x) => x.k === 'link' && x.node === f.node)) h!.linkFault(false);
        break;
      case 'kill': case 'power': case 'stop':
        if (h!.proc === 'down' || h!.proc === 'off') h!.start();
        break;
      case 'pause': if (h!.paused) h!.resume(); break;
      default: break;
    }
  }

  /** Something changed in the world: the quiet period restarts and owed takeovers no longer apply. */
  private changed(): void {
    this.quietSince = this.now;
    this.owed = [];
  }

  private whole(): boolean {
    // A host's link is down until its fault ends, even within 'heal all' (which resumes paused hosts
    // first): a priority 0 sent then never leaves it (seed 640023386).
    return this.active.size === 0 && this.now >= this.impairedUntil && !this.hosts.some((h) => h.paused || h.linkDown);
  }

  /** A graceful stop: a sole MASTER on a whole network with a running BACKUP must be replaced within hop + Skew_Time. */
  beforeStop(h: SimHost): void {
    if (!this.whole() || !h.rt) return;
    for (let r = 0; r < this.p.vrs.length; r++) {
      const vr = this.p.vrs[r]!;
      const group = this.p.groups.find((g) => g.includes(r)) ?? [r];
      const soleMaster = group.every((x) => this.masters(x).length === 1 && this.masters(x)[0] === h.ix);
      if (!soleMaster) continue;
      let skew = -1;
      for (const o of this.hosts) {
        if (o === h || !o.running() || !o.rt) continue;
        const ok = group.every((x) => instanceOf(o.rt!, this.p.vrs[x]!.name).state === 'BACKUP');
        if (!ok) continue;
        if (this.p.guard && !o.leases.get(this.leaseOfVr[r]!.name)?.granted) continue;
        for (const x of group) {
          for (const iv of intervalsOf(this.p, x)) skew = Math.max(skew, skewTimeMs(this.p.vrs[x]!.version, this.p.members[o.ix]![x]!.priority, iv));
        }
      }
      if (skew < 0) continue;
      this.stats.priority0Checks += 1;
      this.owed.push({ vr: r, by: this.now + this.bounds.hop + skew + this.p.timerSlackMs + 1, node: h.ix, from: `${h.name} stopped as sole MASTER of ${vr.name}` });
    }
  }

  // ---- the guard: a lease per unit ----
  //
  // The arbiter (or etcd) as the daemon will use it: a host's lease client
  // asks for a unit's lease when the runtime wants MASTER of it
  // (guardWant true) and gives it up when it no longer does (false, sent
  // only once the unit's VIPs are off); each request is one; a grant answers
  // one request, and a release gives up that request's grant only, so a
  // late message never frees or grants the wrong one. Messages each way
  // take 0..noticeMaxMs, in order per host. The client tells the runtime
  // `may-be-master` true when its open request is granted, false when it
  // gives the lease up or learns that it lost it.

  private toArbiter(h: SimHost, fn: () => void): void {
    this.upAt[h.ix] = Math.max(this.upAt[h.ix]!, this.now + this.rng.int(0, this.p.guard!.noticeMaxMs));
    this.after(this.upAt[h.ix]! - this.now, fn);
  }

  /** A message from the arbiter, taken in by the host's process (on SIGCONT if it is frozen). */
  private toHost(h: SimHost, fn: () => void): void {
    this.downAt[h.ix] = Math.max(this.downAt[h.ix]!, this.now + this.rng.int(0, this.p.guard!.noticeMaxMs));
    this.after(this.downAt[h.ix]! - this.now, () => h.inProcess(fn));
  }

  private lease(unit: string): Lease {
    const l = this.leases.find((x) => x.name === unit);
    if (!l) throw new Error(`guard-want for ${unit}, which is not a guarded unit of the schedule`);
    return l;
  }

  /** The host's lease client hears the runtime (process incarnation `inc`). */
  guardWant(h: SimHost, inc: number, unit: string, want: boolean, reason: string): void {
    const l = this.lease(unit);
    const c = h.client(unit);
    if (want) {
      if (c.req) return;   // asked already, or holds it
      const req = c.req = h.newRequest();
      c.granted = false;
      this.trace(`${h.name} ${unit}: asks for the lease (${reason})`);
      this.toArbiter(h, () => {
        l.wants[h.ix] = { inc, req };
        this.tryGrant(l);
      });
      return;
    }
    if (!c.req) return;
    const req = c.req;
    const had = c.granted;
    c.req = 0;
    c.granted = false;
    this.trace(`${h.name} ${unit}: gives the lease up (${reason})`);
    // The lease goes with this message: MASTER is no longer allowed here.
    if (had && h.rt && this.bug !== 'ignore-guard') h.rt.guard(unit, false, 'lease given up');
    this.toArbiter(h, () => {
      const w = l.wants[h.ix];
      if (w && w.inc === inc && w.req === req) l.wants[h.ix] = undefined;
      const g = l.holder;
      if (g && g.node === h.ix && g.inc === inc && g.req === req) this.free(l, `released by ${h.name}`);
    });
  }

  private free(l: Lease, why: string): void {
    l.holder = undefined;
    l.revoking = false;
    l.freeSince = this.now;
    this.trace(`guard ${l.name}: free (${why})`);
    this.after(this.p.guard!.gapMs, () => this.tryGrant(l));
  }

  /** A free unit goes, once the gap since it became free is over, to a running process that asked (at random). */
  private tryGrant(l: Lease): void {
    if (l.holder || this.now < l.freeSince + this.p.guard!.gapMs) return;
    const ready = this.hosts.filter((x) => {
      const w = l.wants[x.ix];
      return w !== undefined && x.proc === 'up' && x.inc === w.inc;
    });
    if (ready.length === 0) return;
    const h = this.rng.pick(ready);
    const w = l.wants[h.ix]!;
    l.wants[h.ix] = undefined;
    const g: Grant = { node: h.ix, inc: w.inc, req: w.req, epoch: ++l.epoch };
    l.holder = g;
    this.stats.guardHandovers += 1;
    this.trace(`guard ${l.name}: granted to ${h.name}`);
    this.toHost(h, () => {
      // A request given up meanwhile: its release is on its way and frees the lease.
      const c = h.leases.get(l.name);
      if (h.inc !== g.inc || !h.rt || !c || c.req !== g.req) return;
      c.granted = true;
      h.rt.guard(l.name, true, 'lease held');
      this.check();
    });
  }

  /** Lease lost by a running holder (before the heal): it is told first; the unit is free once it was. */
  private revokeRound(l: Lease): void {
    const gd = this.p.guard!;
    if (this.healed) return;
    this.after(this.rng.int(gd.holdMinMs, gd.holdMaxMs), () => this.revokeRound(l));
    const g = l.holder;
    if (!g || l.revoking || !this.rng.chance(0.5)) return;
    const h = this.hosts[g.node]!;
    if (h.inc !== g.inc || (h.proc !== 'up' && h.proc !== 'stopping')) return;   // a dead holder's lease expires
    this.changed();
    l.revoking = true;
    this.stats.guardRevocations += 1;
    this.trace(`guard ${l.name}: ${h.name} loses the lease`);
    this.toHost(h, () => {
      // Released meanwhile, or the process died (its lease expires instead).
      if (l.holder?.epoch !== g.epoch || h.inc !== g.inc) return;
      const c = h.leases.get(l.name);
      if (c && c.req === g.req) {
        c.req = 0;
        c.granted = false;
        if (h.rt && this.bug !== 'ignore-guard') h.rt.guard(l.name, false, 'lease lost');
      }
      this.free(l, `${h.name} was told it lost it`);
    });
  }

  /** A process is gone (killed, powered off, exited): a lease it holds expires after its TTL. */
  processGone(h: SimHost, inc: number): void {
    const gd = this.p.guard;
    if (!gd) return;
    for (const l of this.leases) {
      const g = l.holder;
      if (!g || g.node !== h.ix || g.inc !== inc) continue;
      this.after(this.rng.int(gd.holdMinMs, gd.holdMaxMs), () => {
        if (l.holder?.epoch !== g.epoch) return;
        this.stats.guardExpiries += 1;
        this.free(l, `${h.name}'s lease expired`);
      });
    }
  }

  // ---- the checker ----

  masters(r: number): number[] {
    const out: number[] = [];
    for (const h of this.hosts) {
      if (!h.rt || (h.proc !== 'up' && h.proc !== 'stopping')) continue;
      if (instanceOf(h.rt, this.p.vrs[r]!.name).state === 'MASTER') out.push(h.ix);
    }
    return out;
  }

  fail(kind: VrrpViolation['kind'], message: string): void {
    if (this.violation) return;
    this.violation = { t: this.now, kind, message };
    this.trace(`VIOLATION ${kind}: ${message}`);
  }

  check(): void {
    if (this.violation) return;
    if (this.p.guard) {
      for (let r = 0; r < this.p.vrs.length; r++) {
        const m = this.masters(r);
        if (m.length > 1) this.fail('guard', `${this.p.vrs[r]!.name}: MASTER on ${m.map((x) => `n${x}`).join(' and ')} at once, with the guard`);
      }
    }
    for (const o of this.owed) {
      if (this.now >= o.by && this.masters(o.vr).length === 0) {
        this.fail('priority-0', `${this.p.vrs[o.vr]!.name}: no MASTER at ${o.by} ms: ${o.from}, and a running BACKUP should have taken over within hop + Skew_Time`);
      }
    }
    this.owed = this.owed.filter((o) => this.now < o.by && this.masters(o.vr).length === 0);
    // Quiet from the last change, or from the arrival of the last advert a fault delayed, whichever is later.
    const quietFrom = Math.max(this.quietSince, this.impairedUntil);
    if (!this.whole() || this.now < quietFrom + this.bounds.settle) return;
    const running = this.hosts.filter((h) => h.running() && h.rt);
    if (running.length === 0) return;
    this.stats.settledSteps += 1;
    for (let r = 0; r < this.p.vrs.length; r++) {
      const name = this.p.vrs[r]!.name;
      const m = this.masters(r).filter((x) => this.hosts[x]!.running());
      if (this.p.guard) {
        // Nobody holds the unit's lease or asks for it: nobody may be MASTER.
        const l = this.leaseOfVr[r]!;
        const g = l.holder;
        const holds = g !== undefined && this.hosts[g.node]!.running() && this.hosts[g.node]!.inc === g.inc;
        if (!holds && !running.some((h) => h.rt!.state.wants.get(l.name) === true)) continue;
      }
      if (m.length !== 1) {
        this.fail('one-master', `${name}: ${m.length} MASTERs (${m.map((x) => `n${x}`).join(', ') || 'none'}) after ${this.now - quietFrom} ms quiet (B_settle ${this.bounds.settle} ms)`);
        return;
      }
      const holders = running.filter((h) => h.vips.has(r)).map((h) => h.ix);
      if (holders.length !== 1) {
        this.fail('vip-holders', `${name}: VIPs up on ${holders.length} running hosts (${holders.map((x) => `n${x}`).join(', ') || 'none'}) after ${this.now - quietFrom} ms quiet (B_settle ${this.bounds.settle} ms)`);
        return;
      }
    }
    for (const h of running) {
      for (const u of h.rt!.state.units) {
        if (u.kind !== 'group') continue;
        const g = u.g;
        const s0 = g.members[0]!.state;
        if (g.members.some((x) => x.state !== s0) || g.state !== s0) {
          this.fail('sync-group', `${h.name} group ${g.cfg.name}: members ${g.members.map((x) => `${x.cfg.name}=${x.state}`).join(', ')}, group ${g.state}, after ${this.now - quietFrom} ms quiet`);
          return;
        }
      }
    }
  }

  run(): VrrpResult {
    const p = this.p;
    for (const h of this.hosts) h.start();
    this.scenario.faults.forEach((e, i) => {
      this.after(e.at, () => this.startFault(i, e.f));
      this.after(e.at + e.durMs, () => this.endFault(i, e.f));
    });
    for (const l of this.leases) this.after(this.rng.int(0, 1000), () => this.revokeRound(l));
    // Heal everything at the horizon, then run long enough to check the settled state.
    this.after(p.horizonMs + 1, () => {
      this.trace('heal all');
      this.healed = true;
      this.active.clear();
      this.changed();
      for (const h of this.hosts) {
        if (h.paused) h.resume();
        if (h.linkDown) h.linkFault(false);
        if (h.proc === 'down' || h.proc === 'off') h.start();
      }
    });
    const end = p.horizonMs + 1 + this.bounds.settle + 3 * this.bounds.mdi + 2000;
    const maxSteps = this.opts.steps ?? 2_000_000;
    try {
      while (!this.violation && this.steps < maxSteps) {
        const ev = this.heap.pop();
        if (!ev || ev.t > end) break;
        this.now = ev.t;
        this.steps += 1;
        ev.fn();
        this.check();
      }
    } catch (e) {
      // A throw from the runtime or the codec is a finding, with its seed, not the end of the run.
      this.fail('crash', e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
    for (const h of this.hosts) h.harvest();
    const r: VrrpResult = { seed: this.scenario.seed, steps: this.steps, simMs: this.now, trace: this.ring.slice(), stats: this.stats };
    if (this.violation) r.violation = this.violation;
    return r;
  }
}

function instanceOf(rt: VrrpRuntime, name: string): InstanceState {
  const u = rt.state.byInstance.get(name)!;
  return u.kind === 'instance' ? u.s : u.g.members.find((m) => m.cfg.name === name)!;
}

export function runVrrpSeed(seed: number, opts: VrrpOptions = {}): VrrpResult {
  let sc = makeVrrpScenario(seed);
  if (opts.scenario) sc = opts.scenario(sc);
  return new VrrpSim(sc, opts).run();
}

export function formatVrrpViolation(r: VrrpResult): string {
  const v = r.violation;
  if (!v) return `seed ${r.seed}: ok`;
  return [
    `VIOLATION (vrrp) seed ${r.seed} at ${v.t} ms: ${v.kind}: ${v.message}`,
    `  last ${r.trace.length} events:`,
    ...r.trace.map((l) => `  ${l}`),
    `  replay: npm run sim -- --vrrp --seed ${r.seed} --verbose`,
  ].join('\n');
}

