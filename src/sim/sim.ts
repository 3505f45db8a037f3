// The simulator: two nodes running the daemon's own node runtime
// (src/node/runtime.ts: the engine, its effect ordering, the codec and
// authentication) on a simulated host: a simulated network, monotonic
// clock, disk and resources, with faults from a seeded schedule. Every
// source of nondeterminism is a seeded PRNG, so a seed replays exactly.

import { planHandover, type EngineAction, type EngineEvent, type EngineQuorumConfig, type EngineState } from '../node/engine.js';
import { NodeRuntime, type NodeHost, type NodeSpec } from '../node/runtime.js';
import type { Received } from '../node/wire.js';
import type { Clock, Timer } from '../runtime/driver.js';
import type { AuthKeys } from '../config/types.js';
import type { ArbiterReply, ArbiterRequest } from '../quorum/protocol.js';
import type { LeaseView } from '../quorum/lease.js';
import type { Reach } from '../ping/tracker.js';
import { NodeQuorum, SimArbiter, type QuorumHost, type QuorumProcess } from './quorum.js';
import { cleanupCheck, heldGroups, type GroupPhase, type MonitorVerdict } from '../resources/machine.js';
import type { FencingPolicyConfig } from '../fencing/policy.js';
import { Checker, type CheckedNode, type CheckStats, type Proc, type Violation } from './checker.js';
import { EventHeap } from './heap.js';
import { Network } from './network.js';
import { Rng } from './rng.js';
import { makeScenario, NODE_NAMES, type DeviceFaultMode, type Fault, type MonitorFaultMode, type NodeIx, type OpFaultMode, type Scenario } from './scenario.js';
import { formatEntry, Ring, TraceHash, type TraceEntry } from './trace.js';

/** Test-only hooks: a deliberately broken engine must be caught by the checker. */
export interface SimHooks {
  event?: (node: string, ev: EngineEvent) => EngineEvent;
  actions?: (node: string, acts: EngineAction[]) => EngineAction[];
  /** The fencing policy a node starts with (scenarios with fencing only); undefined = that node runs without fencing. */
  fencing?: (node: string, cfg: FencingPolicyConfig) => FencingPolicyConfig | undefined;
  /** The quorum config a node's engine starts with (scenarios with quorum only); undefined = that node runs Heartbeat's rules. */
  quorum?: (node: string, cfg: EngineQuorumConfig) => EngineQuorumConfig | undefined;
  /** The arbiter's grants as read from its disk at a restart (a planted bug: an arbiter that forgets them). */
  arbiterLoad?: <T>(grants: T[]) => T[];
}

export interface SimOptions {
  steps?: number;             // stop after this many events (default DEFAULT_STEPS; schedules end long before)
  traceLen?: number;          // entries kept for a report (default 40)
  verbose?: (line: string) => void;
  hash?: boolean;             // hash every trace line (determinism checks)
  hooks?: SimHooks;
  scenario?: (s: Scenario) => Scenario;   // test-only: adjust the generated schedule
  monitors?: boolean;         // false: no monitored resources (the schedule a seed had before they were simulated)
  /**
   * With fencing or an arbiter, flag even an overlap that begins while the
   * pair is connected (a handover). Default true; false tolerates such an
   * overlap within its bound (how the checker ran before the handover rules
   * of seeds 73 and 19016 were fixed).
   */
  strictSplitBrain?: boolean;
}

export interface SimResult {
  seed: number;
  steps: number;
  simMs: number;
  truncated: boolean;
  violation?: Violation;
  trace: string[];
  hash?: string;
  stats: CheckStats;
}

export const DEFAULT_STEPS = 1_000_000;
const SOCKET_BACKLOG = 256;   // datagrams a frozen process can have queued before the kernel drops more

// Heartbeats travel as the daemon's bytes (node/wire.ts): encoded, signed
// and checked with a real key, so the codec and authentication run under
// every fault the network injects.
const SIM_KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('tandem simulator') }]]) };
const SIM_UUIDS = [Buffer.alloc(16, 0xa1), Buffer.alloc(16, 0xb2)] as const;
/** Decoded datagrams by their bytes (each is sent by one node to the other only). */
const DECODED = new WeakMap<Buffer, Received>();

type Body =
  | { k: 'fault'; f: Fault }
  | { k: 'pkt'; to: NodeIx; path: number; bytes: Buffer }
  | { k: 'io'; n: NodeIx; id: number }
  | { k: 'power-on'; n: NodeIx; token: number }
  | { k: 'call'; fn: () => boolean };

interface Queued {
  t: number;
  order: number;
  e: Body;
}

/**
 * A timer of one process on simulated time: it fires by the process's own
 * clock (never early), late by up to the scenario's timer slack, never after
 * the process died, and, while the process is frozen, on its resume.
 */
class SimTimer implements Timer {
  private token = 0;

  constructor(private readonly node: SimNode, private readonly inc: number) {}

  set(at: number, fire: () => void): void {
    const token = ++this.token;
    const n = this.node;
    const s = n.sim;
    s.after(n.delayTo(at) + s.rng.int(0, s.scenario.params.timerSlackMs), () => {
      if (token !== this.token || !n.alive(this.inc)) return false;
      n.onTimerDue(() => { if (token === this.token && n.alive(this.inc)) fire(); });
      return true;
    });
  }

  clear(): void {
    this.token += 1;
  }
}

interface Io {
  id: number;
  kind: 'boot' | 'write' | 'op' | 'device';
  faulty: boolean;
  land: () => void;           // the effect on disk or on the host; happens even if the process is frozen
  done?: () => void;          // the callback inside the process
}

interface Durable {
  generation?: number;
  peerGeneration?: number;
  peerPrevious?: { generation: number; lastSeq: number };
  held: Set<string>;
}

class SimNode implements CheckedNode, QuorumProcess {
  proc: Proc = 'down';
  paused = false;
  shuttingDown = false;
  pendingBoot = false;
  inc = 0;
  private incStart = 0;
  private clockOrigin = 0;
  wallOffsetS = 0;
  /** The daemon's node runtime of the current process (src/node/runtime.ts). */
  rt: NodeRuntime | null = null;
  generation = 0;
  /** The quorum adapters of the current process (lease driver, arbiter client, pinger), when configured. */
  q: NodeQuorum | null = null;
  private readonly rate: number;
  /** Since when the process has run without a freeze (started, or resumed); the checker's grace after either. */
  liveSince = 0;
  readonly durable: Durable = { held: new Set() };
  private writes: Io[] = [];
  private lastWriteDone = 0;
  readonly io = new Map<number, Io>();
  /** Timers that expired while the process was frozen: they run on resume. */
  private dueTimers: Array<() => void> = [];
  private deferred: Array<() => void> = [];
  private deferredPkts = 0;
  readonly world = new Map<string, boolean[]>();
  readonly lastStartFailed = new Map<string, boolean>();
  private phases = new Map<string, GroupPhase>();   // from group-phase actions (peer death turns failed into stopped silently)
  /** Switched off by the peer's power switch: stays down until its power-on. */
  poweredOff = false;
  private powerToken = 0;
  /** Heard the peer (membership peer-up) since this process started. */
  heardPeer = false;
  /** Since this node last heard its peer, its own switch confirmed the peer off, or the peer left gracefully. */
  peerOffConfirmed = false;
  private readonly claimedUp = new Map<string, boolean>();
  private readonly lastUp = new Map<string, { t: number; withPeerUp: boolean }>();
  /** Frozen (SIGSTOP) since it last heard its peer. */
  pausedSinceHeard = false;
  /** A fence of this node's failed since it last heard its peer. */
  fenceFailed = false;

  constructor(readonly ix: NodeIx, readonly sim: Sim) {
    this.rate = sim.scenario.params.quorum?.rates[ix] ?? 1;
    for (const g of sim.scenario.params.groups) {
      this.world.set(g.name, new Array<boolean>(g.resourceCount).fill(false));
      this.lastStartFailed.set(g.name, false);
    }
  }

  get name(): string {
    return NODE_NAMES[this.ix];
  }

  get engine(): EngineState | null {
    return this.rt?.engine ?? null;
  }

  get durableHeld(): ReadonlySet<string> {
    return this.durable.held;
  }

  phase(group: string): GroupPhase | undefined {
    return this.engine?.r.groups[group]?.phase;
  }

  /** wait_for_all holds this node back: it never heard its peer since it started. */
  get fenceBlocked(): boolean {
    return this.engine?.f?.phase === 'blocked';
  }

  /** When (simulated time) this process last heard its peer, if it has. */
  lastHeardAt(): number | undefined {
    const l = this.engine?.m.peer.lastHeard;
    return l === undefined ? undefined : l - this.clockOrigin + this.incStart;
  }

  claimedWithPeerUp(group: string): boolean {
    return this.claimedUp.get(group) ?? false;
  }

  /** The last start that brought a resource of the group up on this host: when, and whether its claim was made hearing the peer. */
  lastStartUp(group: string): { t: number; withPeerUp: boolean } | undefined {
    return this.lastUp.get(group);
  }

  heldCount(): number {
    return this.engine ? heldGroups(this.engine.r).length : 0;
  }

  /** performance.now() of the current process: it starts near zero at every process start. */
  localNow(): number {
    return (this.sim.t - this.incStart) * this.rate + this.clockOrigin;
  }

  /** Simulated ms until this process's clock reads `deadline`: a timer never fires early by its own clock. */
  delayTo(deadline: number): number {
    const local = Math.max(1, Math.ceil(deadline - this.localNow()));
    return this.rate === 1 ? local : Math.max(1, Math.ceil(local / this.rate));
  }

  alive(inc: number): boolean {
    return this.inc === inc && this.proc === 'up';
  }

  // ---- process lifecycle -------------------------------------------------

  boot(): string {
    if (this.proc === 'closing' || (this.proc === 'up' && this.shuttingDown)) {
      this.pendingBoot = true;
      return 'restart once it has exited';
    }
    if (this.proc !== 'down') return 'no effect: running';
    if (this.poweredOff) return 'no effect: powered off by the peer\'s switch';
    const p = this.sim.scenario.params;
    this.inc += 1;
    this.proc = 'booting';
    this.paused = false;
    this.shuttingDown = false;
    this.pendingBoot = false;
    this.incStart = this.sim.t;
    this.heardPeer = false;
    this.peerOffConfirmed = false;
    this.fenceFailed = false;
    this.clockOrigin = this.sim.rng.int(30, 300);
    this.addIo(this.sim.rng.int(p.bootMs[0], p.bootMs[1]), { kind: 'boot', faulty: false, land: () => undefined, done: () => this.bumpGeneration() });
    return 'process starting';
  }

  /** This node's wall clock in seconds (it jumps with 'wall-jump' faults). */
  private wallS(): number {
    return this.sim.scenario.params.wallStartS + this.sim.t / 1000 + this.wallOffsetS;
  }

  // As StateStore.bumpGeneration: durable before anything is sent under it.
  private bumpGeneration(): void {
    const prev = this.durable.generation;
    const wallS = this.wallS();
    const next = Math.max(Math.floor(wallS), prev !== undefined ? prev + 1 : 0, 1);
    this.storeWrite((d) => { d.generation = next; }, () => this.finishBoot(next));
  }

  private finishBoot(generation: number): void {
    const s = this.sim;
    const p = s.scenario.params;
    s.checker.onBoot(s.t, this.ix, generation);
    this.generation = generation;
    const peer = NODE_NAMES[1 - this.ix]!;
    const held = new Set([...this.durable.held].filter((g) => p.groups.some((x) => x.name === g)));
    let fcfg: FencingPolicyConfig | undefined;
    if (p.fencing) {
      const f = p.fencing;
      fcfg = {
        self: this.name, peer, devices: [`switch of ${peer}`], fenceDelayMs: f.fenceDelayMs, failurePolicy: 'wait',
        checkIntervalMs: f.checkIntervalMs, retryMs: f.retryMs, retryMaxMs: f.retryMaxMs, waitForAll: true, tieBreakWinner: this.ix === 0,
      };
      if (s.opts.hooks?.fencing) fcfg = s.opts.hooks.fencing(this.name, fcfg);
    }
    const q = p.quorum;
    const hook = s.opts.hooks?.quorum;
    const spec: NodeSpec = {
      self: this.name, peer, paths: p.paths.map((x) => x.name),
      keepaliveMs: p.keepaliveMs, warntimeMs: p.warntimeMs, deadtimeMs: p.deadtimeMs, initdeadMs: p.initdeadMs,
      autoFailback: p.autoFailback, stopRetries: p.stopRetries, stopRetryDelayMs: p.stopRetryDelayMs,
      groups: p.groups, generation, uuid: SIM_UUIDS[this.ix], authkeys: SIM_KEYS,
      persisted: {
        ...(this.durable.peerGeneration !== undefined ? { peerGeneration: this.durable.peerGeneration } : {}),
        ...(this.durable.peerPrevious ? { peerPrevious: this.durable.peerPrevious } : {}),
        held,
      },
      ...(fcfg ? { fencing: fcfg } : {}),
      ...(q ? { quorum: { pingConfigured: q.pingTargets > 0, arbiter: q.arbiter, safetyMs: q.safetyMs, ipfail: q.ipfail } } : {}),
      ...(hook ? { adjustQuorum: (cfg: EngineQuorumConfig) => hook(this.name, cfg) } : {}),
    };
    this.dueTimers = [];
    this.rt = new NodeRuntime(spec, this.host(this.inc));
    this.phases = new Map(p.groups.map((g) => [g.name, this.engine!.r.groups[g.name]!.phase]));
    this.proc = 'up';
    this.liveSince = s.t;
    s.note(this.name, `up: generation ${generation}${held.size ? `, held before: ${[...held].join(',')}` : ''}`);
    if (p.quorum) {
      this.q = new NodeQuorum(s, this, p);
      this.q.start();
    }
    this.rt.tick();
  }

  // ---- QuorumProcess: what the quorum adapters see of this process ----------

  quorumInput(i: { reach?: Reach; leases?: Record<string, LeaseView> }, tick: boolean): void {
    if (!this.rt || this.proc !== 'up') return;
    // Engine steps never nest: the runtime's driver queues a tick asked for inside one.
    this.rt.quorumInput(i, tick);
  }

  sendToArbiter(req: ArbiterRequest, etcdLease?: number): void {
    const a = this.sim.arbiter;
    if (!a) return;
    for (const d of a.net.transmit(0, this.ix, this.sim.t)) this.sim.after(d.delayMs, () => a.onRequest(this.ix, req, etcdLease));
  }

  targetAnswers(i: number): boolean {
    return this.sim.targetAnswers(this.ix, i);
  }

  onArbiterReply(rep: ArbiterReply, etcdLease?: number): boolean {
    if (this.proc !== 'up' || !this.q) return false;
    const inc = this.inc;
    return this.whenRunning(() => { if (this.alive(inc)) this.q?.onReply(rep, etcdLease); }, true);
  }

  /** kill -9 (power = false) or power loss. In-flight I/O resolves one way or the other. */
  crash(power: boolean): string {
    if (this.proc === 'down') {
      if (!power) return 'no effect: down';
      // The process was already gone (kill -9): what it left configured goes with the power.
      for (const w of this.world.values()) w.fill(false);
      return 'process already down; host resources gone';
    }
    const rng = this.sim.rng;
    // The store applies writes in order: some prefix of the pending ones reached the disk.
    const landed = rng.int(0, this.writes.length);
    for (let i = 0; i < landed; i++) this.writes[i]!.land();
    for (const io of this.io.values()) {
      // A child (an op script, a fence tool) in flight: its effect lands or not.
      if ((io.kind === 'op' || io.kind === 'device') && rng.chance(0.5)) io.land();
      if (io.faulty) this.sim.faultyOps -= 1;
    }
    const lost = this.writes.length - landed;
    this.io.clear();
    this.writes = [];
    this.lastWriteDone = this.sim.t;
    this.deferred = [];
    this.deferredPkts = 0;
    this.dueTimers = [];
    this.rt?.close();
    this.rt = null;
    this.q = null;
    this.proc = 'down';
    this.paused = false;
    this.shuttingDown = false;
    this.pendingBoot = false;
    if (power) for (const w of this.world.values()) w.fill(false);
    return `${landed} pending write(s) landed, ${lost} lost${power ? '; host resources gone' : ''}`;
  }

  /** The peer's switch turns this host off: power loss, and it stays off until its scheduled power-on. */
  powerOff(): string {
    if (this.poweredOff) return 'already off';
    const out = this.crash(true);
    this.poweredOff = true;
    this.powerToken += 1;
    const f = this.sim.scenario.params.fencing!;
    this.sim.schedule(this.sim.rng.int(f.offMs[0], f.offMs[1]), { k: 'power-on', n: this.ix, token: this.powerToken });
    return out;
  }

  powerOn(token?: number): string {
    if (!this.poweredOff || (token !== undefined && token !== this.powerToken)) return 'no effect';
    this.poweredOff = false;
    return `powered on: ${this.boot()}`;
  }

  shutdown(): string {
    if (this.proc !== 'up' || this.shuttingDown) return 'no effect';
    this.shuttingDown = true;
    // SIGTERM reaches a frozen process's handler only when it runs again.
    this.whenRunning(() => this.rt?.submit({ kind: 'shutdown' }));
    return this.paused ? 'handled on resume' : 'releasing';
  }

  pause(): string {
    if (this.proc === 'down' || this.paused) return 'no effect';
    this.paused = true;
    this.pausedSinceHeard = true;
    return 'frozen';
  }

  resume(): string {
    if (!this.paused) return 'no effect';
    this.paused = false;
    this.liveSince = this.sim.t;
    const backlog = this.deferred;
    this.deferred = [];
    this.deferredPkts = 0;
    // The event loop may run the expired timers before or after the queued
    // I/O; a step re-arms its timer, so after I/O one fires on a fresh deadline.
    if (this.sim.rng.chance(0.5)) this.fireDueTimers();
    for (const run of backlog) run();
    this.fireDueTimers();
    return `resumed with ${backlog.length} queued callback(s)`;
  }

  /** A SimTimer's deadline: fire now, or on resume when frozen. */
  onTimerDue(fire: () => void): void {
    if (this.paused) this.dueTimers.push(fire);
    else fire();
  }

  private fireDueTimers(): void {
    const due = this.dueTimers;
    this.dueTimers = [];
    for (const fire of due) if (this.proc === 'up' && !this.paused) fire();
  }

  /** Runs fn now, or queues it for the resume of a frozen process; a datagram is dropped once the socket's backlog is full. */
  whenRunning(run: () => void, datagram = false): boolean {
    if (!this.paused) {
      run();
      return true;
    }
    if (datagram) {
      if (this.deferredPkts >= SOCKET_BACKLOG) return false;
      this.deferredPkts += 1;
    }
    this.deferred.push(run);
    return false;
  }

  /**
   * An operator's command through the control socket (src/daemon/operator.ts
   * without its wait): planned, refused or stepped. A frozen process does
   * not answer: the command is lost (the CLI would time out).
   */
  operator(f: Extract<Fault, { k: 'operator' }>): string {
    if (this.proc !== 'up' || !this.rt || this.shuttingDown) return 'no effect (not running)';
    if (this.paused) return 'no effect (paused: the socket does not answer)';
    if (f.op === 'cleanup') {
      const check = cleanupCheck(this.rt.engine.r, f.group);
      if ('error' in check) return `refused: ${check.error}`;
      // The status operations report what really runs here.
      const probe = check.probe ? (this.world.get(f.group)!.some((x) => x) ? 'running' : 'stopped') : undefined;
      this.rt.submit({ kind: 'cleanup', group: f.group, ...(probe ? { probe } : {}) });
      return probe ? `cleanup (status: ${probe})` : 'cleanup';
    }
    const plan = planHandover(this.rt.engine, f.op, f.which);
    if (plan.refusal) return `refused: ${plan.refusal}`;
    this.rt.submit({ kind: f.op, which: f.which, groups: plan.groups });
    return `${f.op} ${plan.groups.join(',')}`;
  }

  // ---- events from the simulator ----------------------------------------

  onPacket(path: number, bytes: Buffer): boolean {
    if (this.proc !== 'up') return false;   // no socket yet, or closed
    if (this.paused) {
      if (this.deferredPkts >= SOCKET_BACKLOG) return false;
      this.deferredPkts += 1;
      this.deferred.push(() => { if (this.proc === 'up') this.receive(path, bytes); });
      return false;
    }
    this.receive(path, bytes);
    return true;
  }

  /** As the daemon reads a datagram: decoded and authenticated when the process reads it. */
  private receive(path: number, bytes: Buffer): void {
    const pathName = this.sim.scenario.params.paths[path]!.name;
    // One datagram reaches this node once per path, and again when the
    // network duplicates it: the same bytes decode to the same fields, so
    // they are decoded and authenticated once (4x the run time otherwise).
    let r = DECODED.get(bytes);
    if (!r) {
      r = this.rt!.read(bytes, pathName);
      DECODED.set(bytes, r);
    }
    if (r.kind === 'drop') throw new Error(`${this.name}: a datagram from the simulated peer was dropped (${r.reason}${r.error ? `: ${r.error.message}` : ''})`);
    // Per delivery: its path and clock; a report of its own (the engine annotates the one it keeps).
    this.rt!.submit(r.kind === 'heard'
      ? { ...r.event, path: pathName, wallS: this.wallS(), report: { ...r.event.report } }
      : r.event);
  }

  onIo(id: number): boolean {
    const io = this.io.get(id);
    if (!io) return false;
    this.io.delete(id);
    if (io.kind === 'write' && this.writes.shift() !== io) throw new Error('store writes completed out of order');
    io.land();
    if (io.faulty) this.sim.faultyOps -= 1;
    if (io.done) this.whenRunning(io.done);
    if (this.proc === 'closing') this.maybeExit();
    return true;
  }

  // ---- the simulated host of the daemon's node runtime --------------------

  /** What NodeRuntime needs of a host, on simulated time, disk and resources (the daemon's is Daemon.nodeHost). */
  private host(inc: number): NodeHost {
    const s = this.sim;
    const p = s.scenario.params;
    const hooks = s.opts.hooks;
    const clock: Clock = { now: () => this.localNow(), timer: () => new SimTimer(this, inc) };
    return {
      clock,
      wallS: () => this.wallS(),
      sendDatagram: (msg, sent) => {
        s.checker.onSend(s.t, this.ix, sent.generation, sent.seq);
        s.send(this.ix, msg.bytes);
      },
      persistHold: (group, held, done) => {
        this.storeWrite((d) => { if (held) d.held.add(group); else d.held.delete(group); }, () => done());
      },
      persistPeerGeneration: (generation, previous, done) => {
        this.storeWrite((d) => {
          d.peerGeneration = generation;
          if (previous) d.peerPrevious = { ...previous }; else delete d.peerPrevious;
        }, done);
      },
      raiseGeneration: (seen, done) => {
        // As StateStore.raiseGeneration.
        const prev = this.durable.generation;
        const next = Math.max(Math.floor(this.wallS()), prev === undefined ? 0 : prev + 1, seen.generation + 1);
        this.storeWrite((d) => { d.generation = next; }, () => {
          this.generation = next;
          s.note(this.name, `generation ${seen.generation} was used before: moving to ${next}`);
          done(next);
        });
      },
      runOp: (group, op, index, done) => this.runOp(group, op, index, this.claimedWithPeerUp(group), done),
      runMonitor: (group, index, timeoutMs, done) => this.runMonitor(group, index, timeoutMs, done),
      device: (a, done) => {
        if (a.kind === 'fence') {
          s.checker.onFence(s.t, this.ix, this.heardPeer);
          this.device(a.id, undefined, done);
        } else {
          this.device(undefined, a.device, done);
        }
      },
      ...(p.quorum ? {
        leases: {
          update: (group, want, ctx) => this.q?.update(group, want, ctx),
          views: () => this.q?.views() ?? {},
          releaseAll: () => this.q?.releaseAll(),
        },
      } : {}),
      leaveDelayMs: p.quorum?.arbiter === 'etcd' ? 200 : 0,
      observe: (a) => this.observe(a),
      generationClaimRefused: (claimed, limit) => s.note(this.name, `generation claim ${claimed} beyond ${limit}: ignored`),
      left: () => {
        // Daemon.close(): sockets and timers go, then the group queues drain.
        this.proc = 'closing';
        this.rt?.close();
        s.note(this.name, 'closing: sockets closed, draining group queues');
        this.rt?.whenIdle(() => this.maybeExit());
        this.maybeExit();
      },
      wrapStep: (step) => (state, ev, now) => {
        const e = hooks?.event ? hooks.event(this.name, ev) : ev;
        let acts = step(state, e, now);
        if (hooks?.actions) acts = hooks.actions(this.name, acts);
        s.record({ t: s.t, who: this.name, ev: e, acts });
        return acts;
      },
    };
  }

  /** The checker's view of the engine's effects (the runtime has carried them out). */
  private observe(a: EngineAction): void {
    const s = this.sim;
    switch (a.kind) {
      case 'group-phase': {
        // The engine has already moved on; the mirror still has the phase it left.
        const from = this.phases.get(a.group);
        this.phases.set(a.group, a.phase);
        if (a.phase === 'starting') {
          this.claimedUp.set(a.group, this.engine?.m.peer.liveness === 'up');
          s.checker.onStarting(s.t, this.ix, a.group, from);
          // A start while membership says the peer is dead is a takeover: with fencing, only after a confirmed off.
          if (s.scenario.params.fencing && this.engine?.m.peer.liveness !== 'up') {
            s.checker.onTakeover(s.t, this.ix, a.group, this.peerOffConfirmed);
          }
        }
        return;
      }
      case 'monitor-failed':
        // The group leaves this node for good (until a cleanup or the peer's death): like a failed start, it may end up held nowhere.
        if (a.action === 'move') this.lastStartFailed.set(a.group, true);
        if (a.action === 'move') s.checker.stats.monitorMoves += 1;
        else s.checker.stats.monitorRestarts += 1;
        if (a.result === 'timeout') s.checker.stats.monitorTimeouts += 1;
        return;
      case 'quorum-changed':
        for (const d of a.changed) {
          if (d.code === 'ipfail-handover' && this.engine && heldGroups(this.engine.r).includes(d.group)) s.checker.stats.ipfailHandovers += 1;
          if (d.code === 'no-grant' && this.engine && heldGroups(this.engine.r).includes(d.group)) s.checker.stats.noGrantReleases += 1;
        }
        return;
      case 'peer-up':
        this.heardPeer = true;
        this.peerOffConfirmed = false;
        this.fenceFailed = false;
        this.pausedSinceHeard = false;
        return;
      case 'peer-dead':
        // It released everything and said so: no fence needed.
        if (a.reason === 'left') this.peerOffConfirmed = true;
        return;
      default:
        return;
    }
  }

  /**
   * The power switch for the peer: a fence (id) powers it off and confirms,
   * or a status check (device). The call runs beside the process, like a
   * child: it lands even if this process is frozen.
   */
  private device(id: number | undefined, check: number | undefined, report: (ev: Extract<EngineEvent, { kind: 'fence-done' | 'check-done' }>) => void): void {
    const s = this.sim;
    const f = s.scenario.params.fencing;
    if (!f) return;
    const mode = s.deviceFault(this.ix);
    const [lo, hi] = f.deviceMs;
    const ms = mode === 'unreachable' ? f.timeoutMs
      : mode === 'slow' ? s.rng.int(Math.min(hi, f.timeoutMs - 1), f.timeoutMs - 1)
        : s.rng.int(lo, hi);
    const ok = mode !== 'unreachable' && mode !== 'fail';
    const error = mode === 'unreachable' ? `timed out after ${f.timeoutMs} ms` : mode === 'fail' ? 'injected device failure' : undefined;
    const inc = this.inc;
    const peer = s.nodes[1 - this.ix]!;
    const land = () => {
      if (id === undefined || !ok) return;
      s.onFenceLands(this.ix);
      s.note(this.name, `switch powers ${peer.name} off: ${peer.powerOff()}`);
    };
    const done = () => {
      if (this.proc !== 'up' || this.inc !== inc) return;
      if (id !== undefined) {
        if (ok) this.peerOffConfirmed = true;
        else this.fenceFailed = true;
        report({ kind: 'fence-done', id, ok, ...(error ? { error } : {}) });
      } else {
        report({ kind: 'check-done', device: check!, ok, ...(error ? { error } : {}) });
      }
    };
    this.addIo(ms, { kind: 'device', faulty: false, land, done });
  }


  // ---- store and per-group queues ---------------------------------------

  /** One fsynced write; the store completes writes in the order they were issued. */
  private storeWrite(apply: (d: Durable) => void, done?: () => void): void {
    const p = this.sim.scenario.params;
    const at = Math.max(this.lastWriteDone, this.sim.t) + this.sim.rng.int(p.writeMs[0], p.writeMs[1]);
    this.lastWriteDone = at;
    const io = this.addIo(at - this.sim.t, { kind: 'write', faulty: false, land: () => apply(this.durable), ...(done ? { done } : {}) });
    this.writes.push(io);
  }

  private addIo(delay: number, spec: Omit<Io, 'id'>): Io {
    const io: Io = { id: this.sim.nextIoId(), ...spec };
    this.io.set(io.id, io);
    if (io.faulty) this.sim.faultyOps += 1;
    this.sim.schedule(delay, { k: 'io', n: this.ix, id: io.id });
    return io;
  }

  /** A resource operation on the simulated host (the runtime runs a group's operations one at a time). */
  private runOp(group: string, op: 'start' | 'stop', index: number, peerUp: boolean, report: (r: { ok: boolean; error?: string }) => void): void {
    const s = this.sim;
    const p = s.scenario.params;
    const fault = s.opFault(this.ix, group, op);
    const ms = fault.slow ? s.rng.int(p.opMs[1], p.slowOpMs) : s.rng.int(p.opMs[0], p.opMs[1]);
    // A failed start may leave the resource half up; a failed stop leaves it as it was.
    const halfUp = s.rng.chance(0.5);
    const count = this.world.get(group)!.length;
    const land = () => {
      const w = this.world.get(group)!;
      if (op === 'start') {
        w[index] = fault.fail ? halfUp : true;
        if (w[index]) this.lastUp.set(group, { t: this.sim.t, withPeerUp: peerUp });
        if (fault.fail) this.lastStartFailed.set(group, true);
        else if (index === count - 1) this.lastStartFailed.set(group, false);
      } else if (!fault.fail) {
        w[index] = false;
      }
    };
    const done = () => report({ ok: !fault.fail, ...(fault.fail ? { error: `injected ${op} failure` } : {}) });
    this.addIo(ms, { kind: 'op', faulty: fault.fail || fault.slow, land, done });
  }

  /**
   * A monitor call on the simulated host, under the runner's contract: it
   * reads whether the resource is up when it lands; a hung one is killed at
   * its timeout and reports a timeout; a failing one an error; a slow one
   * takes up to its timeout.
   */
  private runMonitor(group: string, index: number, timeoutMs: number, report: (r: { result: MonitorVerdict; detail: string } | undefined) => void): void {
    const s = this.sim;
    const p = s.scenario.params;
    const fault = s.monFault(this.ix);
    const ms = fault === 'hang' ? timeoutMs : fault === 'slow' ? s.monRng.int(p.opMs[1], Math.max(p.opMs[1], timeoutMs)) : Math.min(timeoutMs, s.monRng.int(p.opMs[0], p.opMs[1]));
    let up = false;
    const land = () => { up = this.world.get(group)?.[index] ?? false; };
    const done = () => {
      if (!this.world.has(group)) return report(undefined);
      if (fault === 'hang') return report({ result: 'timeout', detail: `timed out after ${timeoutMs} ms; its processes were killed` });
      if (fault === 'fail') return report({ result: 'failed', detail: 'injected monitor error' });
      report({ result: up ? 'running' : 'not-running', detail: up ? 'up' : 'down' });
    };
    this.addIo(ms, { kind: 'op', faulty: fault !== undefined, land, done });
  }

  private maybeExit(): void {
    if (this.proc !== 'closing' || this.writes.length > 0 || (this.rt && !this.rt.idle())) return;
    this.proc = 'down';
    this.rt = null;
    this.shuttingDown = false;
    this.sim.note(this.name, 'exited');
    if (this.pendingBoot) this.sim.note(this.name, `restart: ${this.boot()}`);
  }
}

class Sim implements QuorumHost {
  t = 0;
  readonly rng: Rng;
  /** Quorum's own stream: a seed without quorum runs exactly as before quorum was simulated. */
  readonly qrng: Rng;
  readonly arbiter?: SimArbiter;
  private readonly gwFaults = new Map<number, Extract<Fault, { k: 'gw' }>>();
  private readonly leaseHolder = new Map<string, string>();
  /** Nodes lost by a node-loss fault: down until their own boot, whatever heals meanwhile. */
  private readonly lost = new Set<NodeIx>();
  readonly nodes: [SimNode, SimNode];
  readonly net: Network;
  readonly checker: Checker;
  faultyOps = 0;
  private readonly heap = new EventHeap<Queued>();
  private readonly opFaults = new Map<number, Extract<Fault, { k: 'ops' }>>();
  private readonly monFaults = new Map<number, Extract<Fault, { k: 'mon' }>>();
  /** Monitor durations and fault draws: a stream of their own, so seeds without monitors run as before. */
  readonly monRng: Rng;
  private readonly deviceFaults = new Map<number, Extract<Fault, { k: 'device' }>>();
  private readonly ring: Ring;
  private readonly hash?: TraceHash;
  private ioIds = 0;
  steps = 0;

  constructor(readonly scenario: Scenario, readonly opts: SimOptions) {
    this.rng = new Rng(scenario.seed, 2);
    this.net = new Network(scenario.params.paths, new Rng(scenario.seed, 3));
    this.qrng = new Rng(scenario.seed, 6);
    this.monRng = new Rng(scenario.seed, 9);
    const q = scenario.params.quorum;
    if (q && q.arbiter !== 'none') {
      const arb = this.arbiter = new SimArbiter(this, q, opts.hooks?.arbiterLoad);
      arb.deliver = (to, rep, delay, lease) => this.after(delay, () => this.nodes[to].onArbiterReply(rep, lease));
    }
    this.nodes = [new SimNode(0, this), new SimNode(1, this)];
    this.checker = new Checker(this.nodes, scenario.params.groups.map((g) => g.name), scenario.bounds);
    this.checker.fencing = scenario.params.fencing !== undefined;
    this.checker.tightFenceDelay = scenario.params.fencing?.tightDelay ?? false;
    this.checker.strictSplitBrain = opts.strictSplitBrain ?? true;
    this.checker.arbiter = this.arbiter !== undefined;
    this.checker.tightSafety = q?.tightSafety ?? false;
    this.ring = new Ring(opts.traceLen ?? 40);
    if (opts.hash) this.hash = new TraceHash();
  }

  schedule(delay: number, e: Body): void {
    this.heap.push({ t: this.t + delay, order: 0, e });
  }

  after(delayMs: number, fn: () => boolean): void {
    this.schedule(delayMs, { k: 'call', fn });
  }

  /** Ping target i answers node n unless a gateway fault covers both. */
  targetAnswers(n: NodeIx, i: number): boolean {
    for (const f of this.gwFaults.values()) if (f.nodes.includes(n) && f.targets.includes(i)) return false;
    return true;
  }

  /** Nothing impairs the arbiter, its links or the ping targets. */
  quorumQuiet(): boolean {
    if (this.gwFaults.size > 0) return false;
    const a = this.arbiter;
    return !a || (a.live && a.net.quiet(this.t));
  }

  /**
   * Lease safety, checked at every step: at most one node counts a group's
   * lease as valid by its own clock, and the arbiter (when it runs) holds
   * the group for that node by its own clock.
   */
  private checkLeases(): void {
    const a = this.arbiter;
    if (!a) return;
    const valid = this.nodes.map((n) => (n.q && n.proc === 'up' ? n.q.validLeases() : []));
    for (const g of this.scenario.params.groups) {
      const holders = this.nodes.filter((_, i) => valid[i]!.includes(g.name));
      if (holders.length > 0) this.checker.stats.leaseSteps += 1;
      if (holders.length > 1) {
        this.checker.flagLease('lease-overlap', this.t, `both nodes count the lease of ${g.name} as valid by their own clocks`);
        return;
      }
      const h = holders[0];
      if (h) {
        const prev = this.leaseHolder.get(g.name);
        if (prev !== undefined && prev !== h.name) this.checker.stats.leaseHandovers += 1;
        this.leaseHolder.set(g.name, h.name);
        const at = a.holder(g.name);
        if (a.proc === 'up' && at !== h.name) {
          this.checker.flagLease('lease-arbiter', this.t, `${h.name} counts the lease of ${g.name} as valid but the ${a.kind} ${at ? `holds it for ${at}` : 'holds it for no one'} by its own clock`);
          return;
        }
      }
    }
  }

  nextIoId(): number {
    return ++this.ioIds;
  }

  record(e: TraceEntry): void {
    this.ring.push(e);
    if (this.opts.verbose || this.hash) {
      const line = formatEntry(e);
      this.hash?.add(line);
      this.opts.verbose?.(line);
    }
  }

  note(who: string, note: string): void {
    this.record({ t: this.t, who, note });
  }

  send(from: NodeIx, bytes: Buffer): void {
    const to: NodeIx = from === 0 ? 1 : 0;
    for (let p = 0; p < this.net.paths.length; p++) {
      for (const d of this.net.transmit(from, p, this.t)) this.schedule(d.delayMs, { k: 'pkt', to, path: p, bytes });
    }
  }

  /** The monitor fault active on node n, drawn per call: hang, fail or slow (the worst that fires). */
  monFault(n: NodeIx): MonitorFaultMode | undefined {
    let mode: MonitorFaultMode | undefined;
    for (const f of this.monFaults.values()) {
      if (f.n !== n || !this.monRng.chance(f.p)) continue;
      if (f.mode === 'hang' || (f.mode === 'fail' && mode !== 'hang') || mode === undefined) mode = f.mode;
    }
    return mode;
  }

  opFault(n: NodeIx, group: string, op: 'start' | 'stop'): { fail: boolean; slow: boolean } {
    let fail = false;
    let slow = false;
    const want: OpFaultMode = op === 'start' ? 'start-fail' : 'stop-fail';
    for (const f of this.opFaults.values()) {
      if (f.n !== n || (f.group !== undefined && f.group !== group)) continue;
      if (f.mode === 'slow') slow = true;
      else if (f.mode === want && this.rng.chance(f.p)) fail = true;
    }
    return { fail, slow };
  }

  /** The fault of the switch node n uses against its peer, if any (the worst one active). */
  deviceFault(n: NodeIx): DeviceFaultMode | undefined {
    let mode: DeviceFaultMode | undefined;
    for (const f of this.deviceFaults.values()) {
      if (f.n !== n) continue;
      if (f.mode === 'unreachable' || (f.mode === 'fail' && mode !== 'unreachable') || mode === undefined) mode = f.mode;
    }
    return mode;
  }

  /**
   * A fence by `by` is about to power its peer off. When every path is cut
   * both ways and both nodes run, this is a fence race: the policy
   * guarantees the active node (more groups held; ties: alpha) shoots first.
   */
  onFenceLands(by: NodeIx): void {
    const me = this.nodes[by];
    const peer = this.nodes[1 - by]!;
    const live = (n: SimNode) => n.proc === 'up' && !n.paused && !n.shuttingDown;
    // A race needs two contenders: a node that has not heard its peer since it started never shoots (wait_for_all).
    if (!live(me) || !live(peer) || !this.net.fullCut() || !me.heardPeer || !peer.heardPeer) return;
    // Nothing else failed: a node frozen meanwhile declares the other dead late.
    if (me.pausedSinceHeard || peer.pausedSinceHeard) return;
    // Symmetric: each side last heard the other within a keepalive and a hop of each other, so
    // they declare each other dead about together (an earlier one-way cut or heavy loss is not).
    const la = me.lastHeardAt();
    const lb = peer.lastHeardAt();
    if (la === undefined || lb === undefined || Math.abs(la - lb) > this.scenario.bounds.hearMs) return;
    // A fence called off (the peer was heard again) that lands anyway is not this race.
    const inflight = me.engine?.f?.inflight;
    if (!inflight || inflight.stale) return;
    // The rule compares each side's own count with the peer's last report; it is a guarantee only when
    // those agree (no group changed hands in the last report round before the cut). The counts are the
    // ones each side decided on when it declared the other dead, not those at landing: a node may have
    // stopped a group since (for want of a lease), and a node that started one after the cut was
    // never seen with it by the other side (simulator seeds 400262359, 400269973).
    const myView = me.engine?.f?.decidedOn;
    if (!myView) return;
    const peerView = peer.engine?.f?.decidedOn;
    const mine = myView.selfHeld;
    const theirs = peerView?.selfHeld ?? peer.heldCount();
    const peerSawMine = peerView?.peerHeld ?? peer.engine?.m.peer.report?.hold.length;
    if (myView.peerHeld !== theirs || peerSawMine !== mine) {
      this.checker.stats.racesUnclean += 1;
      return;
    }
    const activeLost = theirs > mine || (theirs === mine && peer.ix === 0);
    // Nothing else failed: the active side's own switch works.
    this.checker.onRace(this.t, by, activeLost, this.deviceFault(peer.ix) === undefined && !peer.fenceFailed, `${me.name} holds ${mine} group(s), ${peer.name} ${theirs}`);
  }

  /** Applies a scheduled fault; returns what it did when that is not obvious from its description. */
  private applyFault(f: Fault): string {
    switch (f.k) {
      case 'boot':
        this.lost.delete(f.n);
        return this.nodes[f.n].boot();
      case 'node-loss':
        this.lost.add(f.n);
        return this.nodes[f.n].crash(f.power);
      case 'crash': return this.nodes[f.n].crash(false);
      case 'power-off': return this.nodes[f.n].crash(true);
      case 'shutdown': return this.nodes[f.n].shutdown();
      case 'pause': return this.nodes[f.n].pause();
      case 'resume': return this.nodes[f.n].resume();
      case 'net':
        return (f.on ? this.net.start(f.id, f.spec) : this.net.stop(f.id)) ? '' : 'no effect';
      case 'ops':
        if (f.on) {
          this.opFaults.set(f.id, f);
          return '';
        }
        return this.opFaults.delete(f.id) ? '' : 'no effect';
      case 'wall-jump':
        this.nodes[f.n].wallOffsetS += f.deltaS;
        return '';
      case 'kill': {
        const w = this.nodes[f.n].world.get(f.group);
        if (!w?.[f.index]) return 'no effect (not up there)';
        w[f.index] = false;
        this.checker.onKill(this.t);
        return '';
      }
      case 'mon':
        if (f.on) {
          this.monFaults.set(f.id, f);
          return '';
        }
        return this.monFaults.delete(f.id) ? '' : 'no effect';
      case 'operator':
        this.checker.onOperator(this.t);
        return this.nodes[f.n].operator(f);
      case 'device':
        if (f.on) {
          this.deviceFaults.set(f.id, f);
          return '';
        }
        return this.deviceFaults.delete(f.id) ? '' : 'no effect';
      case 'arb-net':
        if (!this.arbiter) return 'no effect';
        return (f.on ? this.arbiter.net.start(f.id, f.spec) : this.arbiter.net.stop(f.id)) ? '' : 'no effect';
      case 'arb-crash': return this.arbiter?.crash() ?? 'no effect';
      case 'arb-boot': return this.arbiter?.boot() ?? 'no effect';
      case 'arb-pause': return this.arbiter?.pause() ?? 'no effect';
      case 'arb-resume': return this.arbiter?.resume() ?? 'no effect';
      case 'gw':
        if (f.on) {
          this.gwFaults.set(f.id, f);
          return '';
        }
        return this.gwFaults.delete(f.id) ? '' : 'no effect';
      case 'heal-all': {
        this.net.healAll();
        this.gwFaults.clear();
        if (this.arbiter) {
          this.arbiter.net.healAll();
          if (this.arbiter.paused) this.arbiter.resume();
          if (this.arbiter.proc === 'down') this.arbiter.boot();
        }
        this.opFaults.clear();
        this.monFaults.clear();
        for (const [id, df] of this.deviceFaults) if (!df.permanent) this.deviceFaults.delete(id);
        const out: string[] = [];
        for (const n of this.nodes) {
          if (n.poweredOff) out.push(`${n.name} ${n.powerOn()}`);
          if (n.paused) out.push(`${n.name} ${n.resume()}`);
          if (this.lost.has(n.ix)) out.push(`${n.name} stays down until its own boot`);
          else if (n.proc !== 'up' || n.shuttingDown) out.push(`${n.name} ${n.boot()}`);
        }
        return out.join('; ');
      }
    }
  }

  private handle(ev: Body): boolean {
    switch (ev.k) {
      case 'fault': {
        // Noted first so that steps the fault causes (a resume) follow it in the trace.
        const entry: TraceEntry = { t: this.t, who: '*', note: describeFault(ev.f) };
        this.record(entry);
        const outcome = this.applyFault(ev.f);
        if (outcome) this.note('*', `  -> ${outcome}`);
        return true;
      }
      case 'pkt':
        return this.nodes[ev.to].onPacket(ev.path, ev.bytes);
      case 'io':
        return this.nodes[ev.n].onIo(ev.id);
      case 'power-on': {
        const out = this.nodes[ev.n].powerOn(ev.token);
        if (out === 'no effect') return false;
        this.note(NODE_NAMES[ev.n], `switch: ${out}`);
        return true;
      }
      case 'call':
        return ev.fn();
    }
  }

  run(): SimResult {
    const { params, faults } = this.scenario;
    for (const sf of faults) this.heap.push({ t: sf.at, order: 0, e: { k: 'fault', f: sf.f } });
    if (this.arbiter) this.arbiter.boot();
    const cap = this.opts.steps ?? DEFAULT_STEPS;
    let truncated = false;
    for (;;) {
      const ev = this.heap.pop();
      if (!ev || ev.t > params.endMs) break;
      if (this.steps >= cap) { truncated = true; break; }
      this.t = ev.t;
      // Events that change nothing (stale timers, packets to a dead host) are not steps.
      if (!this.handle(ev.e)) continue;
      this.steps += 1;
      this.checker.update(this.t, {
        perfectPath: this.net.anyPerfectPath(),
        // A ping target that stops answering one node may move groups (ipfail): not settled.
        netQuiet: this.net.quiet(this.t) && this.gwFaults.size === 0,
        opQuiet: this.opFaults.size === 0 && this.monFaults.size === 0 && this.faultyOps === 0,
        fenceQuiet: this.deviceFaults.size === 0 && this.quorumQuiet(),
      });
      this.checker.check(this.t);
      this.checkLeases();
      if (this.checker.violation) break;
    }
    const v = this.checker.violation;
    return {
      seed: this.scenario.seed,
      steps: this.steps,
      simMs: this.t,
      truncated,
      ...(v ? { violation: v } : {}),
      trace: v || this.opts.traceLen !== undefined ? this.ring.entries().map(formatEntry) : [],
      ...(this.hash ? { hash: this.hash.hex() } : {}),
      stats: this.checker.stats,
    };
  }
}

export function describeFault(f: Fault): string {
  switch (f.k) {
    case 'boot': return `boot ${NODE_NAMES[f.n]}`;
    case 'crash': return `kill -9 ${NODE_NAMES[f.n]}`;
    case 'power-off': return `power off ${NODE_NAMES[f.n]}`;
    case 'node-loss': return `${f.power ? 'power off' : 'kill -9'} ${NODE_NAMES[f.n]} until its own boot`;
    case 'shutdown': return `graceful shutdown of ${NODE_NAMES[f.n]}`;
    case 'pause': return `pause ${NODE_NAMES[f.n]}`;
    case 'resume': return `resume ${NODE_NAMES[f.n]}`;
    case 'operator': return `operator on ${NODE_NAMES[f.n]}: tandem ${f.op} ${f.op === 'cleanup' ? f.group : f.which}`;
    case 'net': return `net #${f.id} ${f.label} ${f.on ? 'begins' : 'heals'}`;
    case 'ops': {
      const p = f.p < 1 ? ` ${Math.round(f.p * 100)}%` : '';
      return `ops #${f.id} ${f.mode}${p} on ${NODE_NAMES[f.n]} ${f.group ?? 'all groups'} ${f.on ? 'begins' : 'ends'}`;
    }
    case 'wall-jump': return `wall clock of ${NODE_NAMES[f.n]} jumps ${f.deltaS > 0 ? '+' : ''}${f.deltaS} s`;
    case 'kill': return `${f.group}#${f.index} dies on ${NODE_NAMES[f.n]}`;
    case 'mon': return `monitor fault #${f.id} ${f.mode}${f.p < 1 ? ` ${Math.round(f.p * 100)}%` : ''} on ${NODE_NAMES[f.n]} ${f.on ? 'begins' : 'ends'}`;
    case 'device': return `device #${f.id} ${f.mode}${f.permanent ? ' (for good)' : ''}: ${NODE_NAMES[f.n]}'s switch for ${NODE_NAMES[1 - f.n]} ${f.on ? 'begins' : 'recovers'}`;
    case 'arb-net': return `arbiter net #${f.id} ${f.label} ${f.on ? 'begins' : 'heals'}`;
    case 'arb-crash': return 'kill -9 the arbiter';
    case 'arb-boot': return 'start the arbiter';
    case 'arb-pause': return 'pause the arbiter';
    case 'arb-resume': return 'resume the arbiter';
    case 'gw': return `ping target(s) ${f.targets.map((x) => `gw${x + 1}`).join(',')} ${f.on ? 'stop answering' : 'answer again'} ${f.nodes.map((x) => NODE_NAMES[x]).join('+')}`;
    case 'heal-all': return 'heal all: network, op faults, paused and stopped nodes';
  }
}

export function runSeed(seed: number, opts: SimOptions = {}): SimResult {
  let scenario = makeScenario(seed, opts.monitors === false ? { monitors: false } : {});
  if (opts.scenario) scenario = opts.scenario(scenario);
  return new Sim(scenario, opts).run();
}

/** The report for a violating seed; a replay with --seed prints the same. */
export function formatViolation(r: SimResult): string {
  const v = r.violation;
  if (!v) return `seed ${r.seed}: ok`;
  return [
    `VIOLATION seed ${r.seed} at ${v.t} ms: ${v.kind}: ${v.message}`,
    `  last ${r.trace.length} events:`,
    ...r.trace.map((l) => `  ${l}`),
    `  replay: npm run sim -- --seed ${r.seed} --verbose`,
  ].join('\n');
}

export { makeScenario };
