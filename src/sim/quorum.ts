// Quorum in the simulator: the arbiter (tandem's own machine from arbiter/,
// run by the runtime Driver as arbiter/server.ts runs it, or a model of
// etcd's lease-and-key semantics) as a third host with its own clock, disk
// and links, and on each node the adapters the daemon runs beside the
// engine: the real LeaseDriver (src/quorum/driver.ts) and the real pinger
// core (src/ping/pinger.ts) on the process's simulated clock. Only the
// sockets are modelled here (the arbiter client's or etcd's, and ICMP);
// every decision comes from the real machines (lease.ts, tracker.ts,
// arbiter/machine.ts, decide.ts via the engine).

import {
  ARBITER_MACHINE, initArbiter,
  type ArbiterAction, type ArbiterEvent, type ArbiterRun, type ArbiterState, type GrantRecord, type NonceRecord, type StoreOp,
} from '../../arbiter/machine.js';
import { pingerConfig, PingerCore } from '../ping/pinger.js';
import type { Reach } from '../ping/tracker.js';
import type { BackendReply, BackendRequest, LeaseBackend, RequestContext } from '../quorum/backend.js';
import { LeaseDriver } from '../quorum/driver.js';
import { groupLeaseConfigs, type LeaseView } from '../quorum/lease.js';
import type { ArbiterReply, ArbiterRequest } from '../quorum/protocol.js';
import { Driver, type Clock as RuntimeClock } from '../runtime/driver.js';
import { Network } from './network.js';
import type { Rng } from './rng.js';
import { NODE_NAMES, type NodeIx, type Params, type QuorumParams } from './scenario.js';

export const CLUSTER = 'sim';
const BACKLOG = 256;

/** What the quorum parts need from the simulator. */
export interface QuorumHost {
  readonly t: number;
  readonly qrng: Rng;
  /** Runs fn after delay ms of simulated time; fn returns whether it did anything (a step). */
  after(delayMs: number, fn: () => boolean): void;
  note(who: string, what: string): void;
}

type Req = ArbiterRequest;

/** A process clock running at `rate`, starting near zero at every process start. */
class ProcClock {
  private start = 0;
  private origin = 0;
  constructor(private readonly host: QuorumHost, private readonly rate: number) {}
  restart(origin: number): void {
    this.start = this.host.t;
    this.origin = origin;
  }
  now(): number {
    return this.origin + (this.host.t - this.start) * this.rate;
  }
  /** Simulated delay until the local clock reaches `deadline` (never early, whole ms). */
  delayTo(deadline: number): number {
    return Math.max(1, Math.ceil((deadline - this.now()) / this.rate));
  }
}

// ---- the arbiter host -------------------------------------------------------

interface EtcdLease { node: string; ttlMs: number; expiresAt: number }
interface EtcdKey { node: string; lease: number }

interface Write { land: () => void; after: Array<() => void> }

/**
 * The arbiter host: tandem's arbiter (arbiter/machine.ts behind the server's
 * ordering rule: a reply leaves only once every write before it is on disk)
 * or etcd, modelled by its semantics as src/quorum/etcd.ts uses them: leases
 * of whole seconds counted from the request's arrival, a key per group put
 * only if absent and attached to a lease, deleted with it (expiry or
 * revoke), kept by keep-alives of that lease id; one call chain of
 * etcd.ts's acquireOrRenew is one request here. Leases survive a restart
 * with a full TTL (etcd's lessor renews them on a new leader).
 */
export class SimArbiter {
  proc: 'down' | 'booting' | 'up' = 'down';
  paused = false;
  private inc = 0;
  private state: ArbiterState | null = null;
  private readonly etcdLeases = new Map<number, EtcdLease>();
  private readonly etcdKeys = new Map<string, EtcdKey>();
  private etcdNextId = 1;
  private readonly durable = {
    grants: new Map<string, GrantRecord>(), nonces: new Map<string, NonceRecord>(),
    leases: new Map<number, { node: string; ttlMs: number }>(), keys: new Map<string, EtcdKey>(),
  };
  private writes: Write[] = [];
  private lastWriteDone = 0;
  private deferred: Array<() => void> = [];
  private driver?: Driver<ArbiterRun, ArbiterEvent, ArbiterAction>;
  /** The driver's timer came due while the process was frozen: it fires on resume. */
  private dueFire?: () => void;
  readonly clock: ProcClock;
  readonly net: Network;
  /** Set by the simulator: delivers a reply to a node's current process. */
  deliver: (to: NodeIx, rep: ArbiterReply, delay: number, etcdLease?: number) => void = () => undefined;

  constructor(private readonly host: QuorumHost, readonly p: QuorumParams, private readonly load?: <T>(grants: T[]) => T[]) {
    this.clock = new ProcClock(host, p.rates[2]);
    this.net = new Network(p.arbLink.map((l, i) => ({ name: `arbiter-link-${NODE_NAMES[i]}`, delayMs: l.delayMs, jitterMs: l.jitterMs, dup: p.arbiter === 'etcd' ? 0 : 0.02, reorder: 0.05, reorderMs: Math.max(1, l.jitterMs) })), host.qrng);
  }

  get kind(): 'arbiter' | 'etcd' {
    return this.p.arbiter === 'etcd' ? 'etcd' : 'arbiter';
  }

  get live(): boolean {
    return this.proc === 'up' && !this.paused;
  }

  boot(): string {
    if (this.proc !== 'down') return 'no effect: running';
    this.inc += 1;
    this.proc = 'booting';
    this.paused = false;
    const inc = this.inc;
    this.host.after(this.host.qrng.int(this.p.arbBootMs[0], this.p.arbBootMs[1]), () => {
      if (this.inc !== inc || this.proc !== 'booting') return false;
      this.clock.restart(this.host.qrng.int(30, 300));
      const now = this.clock.now();
      if (this.kind === 'arbiter') {
        const grants = [...this.durable.grants.values()];
        this.state = initArbiter({ grants: this.load ? this.load(grants) : grants, nonces: [...this.durable.nonces.values()] }, now);
        this.driver = new Driver(ARBITER_MACHINE, { arb: this.state, lastTickAt: now }, this.runtimeClock(), (a) => this.run(a));
      } else {
        this.etcdLeases.clear();
        this.etcdKeys.clear();
        const keys = [...this.durable.keys];
        for (const [id, l] of this.durable.leases) this.etcdLeases.set(id, { ...l, expiresAt: now + l.ttlMs });
        for (const [g, k] of this.load ? this.load(keys) : keys) this.etcdKeys.set(g, { ...k });
      }
      this.proc = 'up';
      this.host.note('arbiter', `up (${this.kind}); ${this.kind === 'arbiter' ? this.state!.grants.size : this.etcdKeys.size} grant(s) from disk, each for a full TTL`);
      this.driver?.tick();
      return true;
    });
    return 'starting';
  }

  crash(): string {
    if (this.proc === 'down') return 'no effect: down';
    const landed = this.host.qrng.int(0, this.writes.length);
    for (let i = 0; i < landed; i++) this.writes[i]!.land();
    const lost = this.writes.length - landed;
    this.writes = [];
    this.deferred = [];
    this.state = null;
    this.etcdLeases.clear();
    this.etcdKeys.clear();
    this.proc = 'down';
    this.paused = false;
    this.driver?.close();
    this.driver = undefined;
    this.dueFire = undefined;
    return `${landed} pending write(s) landed, ${lost} lost`;
  }

  pause(): string {
    if (this.proc === 'down' || this.paused) return 'no effect';
    this.paused = true;
    return 'frozen';
  }

  resume(): string {
    if (!this.paused) return 'no effect';
    this.paused = false;
    const backlog = this.deferred;
    this.deferred = [];
    const due = this.dueFire;
    this.dueFire = undefined;
    due?.();
    for (const run of backlog) run();
    return `resumed with ${backlog.length} queued request(s)`;
  }

  /** A request from node `from` reaches the arbiter host. */
  onRequest(from: NodeIx, req: Req, etcdLease?: number): boolean {
    if (this.proc !== 'up') return false;
    if (this.paused) {
      if (this.deferred.length >= BACKLOG) return false;
      this.deferred.push(() => { if (this.proc === 'up') this.handle(from, req, etcdLease); });
      return false;
    }
    this.handle(from, req, etcdLease);
    return true;
  }

  /** Who the arbiter holds group `g` for right now, by its own clock; undefined when it is down or nobody. */
  holder(group: string): string | undefined {
    if (this.proc !== 'up') return undefined;
    const now = this.clock.now();
    if (this.kind === 'arbiter') {
      const g = this.state!.grants.get(`${CLUSTER}/${group}`);
      return g && g.expiresAt > now ? g.node : undefined;
    }
    this.etcdExpire(now);
    const k = this.etcdKeys.get(group);
    return k?.node;
  }

  private handle(from: NodeIx, req: Req, etcdLease?: number): void {
    if (this.driver) this.driver.submit({ kind: 'request', from: NODE_NAMES[from], req });
    else this.etcdRequest(from, req, etcdLease);
  }

  /** The server's executor: writes, then replies that wait for every write before them. */
  private run(a: ArbiterAction): void {
    if (a.kind === 'persist') this.storeWrite(() => this.applyOps(a.ops));
    else if (a.kind === 'reply') {
      const to = NODE_NAMES.indexOf(a.to as (typeof NODE_NAMES)[number]);
      if (to >= 0) this.reply(to as NodeIx, a.reply);
    } else if (a.level !== 'debug') this.host.note('arbiter', a.message);
  }

  /** The arbiter process's runtime Clock: timers die with the process and wait while it is frozen. */
  private runtimeClock(): RuntimeClock {
    const inc = this.inc;
    return {
      now: () => this.clock.now(),
      timer: () => {
        let token = 0;
        return {
          set: (at, fire) => {
            const t = ++token;
            this.host.after(this.clock.delayTo(at), () => {
              if (t !== token || this.inc !== inc || this.proc !== 'up') return false;
              if (this.paused) {
                this.dueFire = () => { if (t === token && this.inc === inc && this.proc === 'up') fire(); };
                return false;
              }
              fire();
              return true;
            });
          },
          clear: () => { token += 1; },
        };
      },
    };
  }

  private applyOps(ops: StoreOp[]): void {
    for (const op of ops) {
      if (op.type === 'put-grant') this.durable.grants.set(`${op.rec.cluster}/${op.rec.group}`, op.rec);
      else if (op.type === 'del-grant') this.durable.grants.delete(`${op.cluster}/${op.group}`);
      else this.durable.nonces.set(JSON.stringify([op.rec.cluster, op.rec.node, op.rec.group]), op.rec);
    }
  }

  /** Leases past their TTL are gone, and their keys with them. */
  private etcdExpire(now: number): void {
    for (const [id, l] of this.etcdLeases) if (l.expiresAt <= now) this.etcdRevoke(id);
  }

  private etcdRevoke(id: number): void {
    if (!this.etcdLeases.delete(id)) return;
    const gone: string[] = [];
    for (const [g, k] of this.etcdKeys) if (k.lease === id) { this.etcdKeys.delete(g); gone.push(g); }
    this.storeWrite(() => {
      this.durable.leases.delete(id);
      for (const g of gone) if (this.durable.keys.get(g)?.lease === id) this.durable.keys.delete(g);
    });
  }

  /** One call chain of etcd.ts: keep-alive + check, or grant + put-if-absent (or move our own key); a release is a revoke. */
  private etcdRequest(from: NodeIx, req: Req, leaseId: number | undefined): void {
    const node = NODE_NAMES[from];
    const now = this.clock.now();
    this.etcdExpire(now);
    const base = { t: 'rep' as const, cluster: req.cluster, node: req.node, group: req.group, gen: req.gen, seq: req.seq };
    if (req.op === 'release') {
      if (leaseId !== undefined) this.etcdRevoke(leaseId);
      this.reply(from, { ...base, outcome: 'released' });
      return;
    }
    const cur = this.etcdKeys.get(req.group);
    if (leaseId !== undefined) {
      const l = this.etcdLeases.get(leaseId);
      if (!l) {
        this.reply(from, { ...base, outcome: 'denied', reason: 'etcd lease expired', retryInMs: 0 });
        return;
      }
      l.expiresAt = now + l.ttlMs;
      if (cur?.lease === leaseId) {
        this.reply(from, { ...base, outcome: 'granted', ttlMs: l.ttlMs }, leaseId);
        return;
      }
      if (!cur) {
        this.etcdPut(req.group, { node, lease: leaseId });
        this.reply(from, { ...base, outcome: 'granted', ttlMs: l.ttlMs }, leaseId);
        return;
      }
      this.etcdRevoke(leaseId);
      this.reply(from, { ...base, outcome: 'denied', reason: `key belongs to ${cur.node}`, holder: cur.node });
      return;
    }
    const ttlMs = Math.max(1, Math.ceil(req.ttlMs / 1000)) * 1000;
    const id = this.etcdNextId++;
    this.etcdLeases.set(id, { node, ttlMs, expiresAt: now + ttlMs });
    this.storeWrite(() => this.durable.leases.set(id, { node, ttlMs }));
    if (!cur || cur.node === node) {
      // Absent: put it with our lease. Ours from before (a restart, a lost answer): move it onto the new lease.
      this.etcdPut(req.group, { node, lease: id });
      this.reply(from, { ...base, outcome: 'granted', ttlMs }, id);
      return;
    }
    this.etcdRevoke(id);
    const left = this.etcdLeases.get(cur.lease);
    this.reply(from, {
      ...base, outcome: 'denied', reason: `held by ${cur.node} in etcd`, holder: cur.node,
      ...(left ? { retryInMs: Math.ceil((left.expiresAt - now) / 1000) * 1000 } : {}),
    });
  }

  private etcdPut(group: string, k: EtcdKey): void {
    this.etcdKeys.set(group, k);
    this.storeWrite(() => this.durable.keys.set(group, { ...k }));
  }

  private storeWrite(land: () => void): void {
    const at = Math.max(this.lastWriteDone, this.host.t) + this.host.qrng.int(this.p.arbWriteMs[0], this.p.arbWriteMs[1]);
    this.lastWriteDone = at;
    const w: Write = { land, after: [] };
    this.writes.push(w);
    const inc = this.inc;
    this.host.after(at - this.host.t, () => {
      if (this.inc !== inc || this.writes[0] !== w) return false;
      this.writes.shift();
      w.land();
      // Sending the replies that waited for it is the process's work: not while frozen.
      const send = () => { for (const f of w.after) f(); };
      if (this.paused) this.deferred.push(send); else send();
      return true;
    });
  }

  /** A reply leaves only after every write issued before it is durable (arbiter/server.ts). */
  private reply(to: NodeIx, rep: ArbiterReply, etcdLease?: number): void {
    const send = () => {
      for (const d of this.net.transmit(1, to, this.host.t)) this.deliver(to, rep, d.delayMs, etcdLease);
    };
    const last = this.writes[this.writes.length - 1];
    if (last) last.after.push(send); else send();
  }

}

// ---- the node side ----------------------------------------------------------

/** What a node's quorum adapters need from its process. */
export interface QuorumProcess {
  readonly ix: NodeIx;
  readonly generation: number;
  readonly inc: number;
  /** The process is up and this is still incarnation `inc`. */
  alive(inc: number): boolean;
  /** Runs fn now, or on resume if the process is frozen (false: dropped, backlog full). */
  whenRunning(fn: () => void, datagram: boolean): boolean;
  localNow(): number;
  /** Simulated ms until the process clock reaches `deadline` (whole ms, never early). */
  delayTo(deadline: number): number;
  /** The lease views or the reach changed: hand them to the engine; `tick` = step it (a lease held or lost, a target up or down). */
  quorumInput(i: { reach?: Reach; leases?: Record<string, LeaseView> }, tick: boolean): void;
  /** The simulator's delivery of a request to the arbiter (with etcd, the lease id the call chain uses). */
  sendToArbiter(req: Req, etcdLease?: number): void;
  /** Whether ping target `i` answers this node now. */
  targetAnswers(i: number): boolean;
}

/**
 * A process's runtime Clock: its clock, and timers that wait while the
 * process is frozen and never fire in a later incarnation (a crashed
 * process's timers die with it).
 */
export function processClock(host: QuorumHost, proc: QuorumProcess): RuntimeClock {
  const inc = proc.inc;
  return {
    now: () => proc.localNow(),
    timer: () => {
      let token = 0;
      return {
        set(at, fire) {
          const t = ++token;
          host.after(proc.delayTo(at), () => {
            if (t !== token || !proc.alive(inc)) return false;
            return proc.whenRunning(() => { if (t === token && proc.alive(inc)) fire(); }, false);
          });
        },
        clear() { token += 1; },
      };
    },
  };
}

/**
 * The lease backend of one process over the simulator's network: the arbiter
 * client (src/quorum/arbiter-client.ts: requests numbered per process,
 * answers matched by (generation, seq)) or etcd.ts's call chains (one per
 * group at a time, failing at the HTTP timeout, a lease id per group).
 */
class SimBackend implements LeaseBackend {
  readonly target = 'sim arbiter';
  private readonly pending = new Map<number, { group: string; attempt: number; epoch: number }>();
  /** etcd.ts's per-group slot: one call chain at a time, the lease id in use, an epoch bumped by each release. */
  private readonly slots = new Map<string, { busy: number; epoch: number; leaseId?: number }>();
  private seq = 0;

  constructor(
    private readonly host: QuorumHost, private readonly proc: QuorumProcess,
    readonly kind: 'arbiter' | 'etcd', private readonly onReply: (r: BackendReply) => void,
  ) {}

  request(r: BackendRequest): void {
    const seq = ++this.seq;
    const slot = this.slot(r.group);
    if (this.kind === 'etcd') {
      // One call chain per group at a time; a chain that gets no answer fails at the HTTP timeout (1 s).
      if (slot.busy) return;
      slot.busy = seq;
      const inc = this.proc.inc;
      this.host.after(this.proc.delayTo(this.proc.localNow() + 1000), () => {
        if (!this.proc.alive(inc) || slot.busy !== seq) return false;
        slot.busy = 0;
        this.pending.delete(seq);
        return true;
      });
    }
    this.pending.set(seq, { group: r.group, attempt: r.attempt, epoch: slot.epoch });
    if (this.pending.size > 64) this.pending.delete(this.pending.keys().next().value!);
    this.proc.sendToArbiter({
      t: 'req', cluster: CLUSTER, node: NODE_NAMES[this.proc.ix], group: r.group, gen: this.proc.generation,
      op: 'acquire', seq, ttlMs: Math.max(1, Math.round(r.ttlMs)), graceMs: Math.max(0, Math.round(r.graceMs)),
      holds: r.holds, peerHeard: r.peerHeard, peerHolds: r.peerHolds, reach: r.reach, reachTotal: r.reachTotal,
    }, this.kind === 'etcd' ? slot.leaseId : undefined);
  }

  release(group: string, opts: { leaving: boolean }): void {
    if (this.kind !== 'etcd') {
      this.proc.sendToArbiter(this.releaseReq(group, opts.leaving));
      return;
    }
    const slot = this.slot(group);
    slot.epoch += 1;
    const id = slot.leaseId;
    slot.leaseId = undefined;
    if (id !== undefined) this.proc.sendToArbiter(this.releaseReq(group, opts.leaving), id);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** An answer reaches the process: false when it is not one to an outstanding request of this generation. */
  receive(rep: ArbiterReply, etcdLease?: number): boolean {
    // ArbiterClient.onDatagram: only an answer to this generation's outstanding request counts
    // (with etcd: the call chain of this process, not timed out).
    if (rep.gen !== this.proc.generation || rep.outcome === 'released') return false;
    const p = this.pending.get(rep.seq);
    if (!p || p.group !== rep.group) return false;
    this.pending.delete(rep.seq);
    if (this.kind === 'etcd') {
      const slot = this.slot(rep.group);
      slot.busy = 0;
      if (slot.epoch !== p.epoch) {
        // Released while the chain ran: whatever it obtained goes back.
        if (etcdLease !== undefined) this.proc.sendToArbiter(this.releaseReq(rep.group, false), etcdLease);
        return true;
      }
      slot.leaseId = rep.outcome === 'granted' ? etcdLease : undefined;
    }
    this.onReply(rep.outcome === 'granted'
      ? { group: p.group, attempt: p.attempt, outcome: 'granted', ttlMs: rep.ttlMs! }
      : {
        group: p.group, attempt: p.attempt, outcome: 'denied', reason: rep.reason ?? 'denied',
        ...(rep.holder !== undefined ? { holder: rep.holder } : {}),
        ...(rep.retryInMs !== undefined ? { retryInMs: rep.retryInMs } : {}),
      });
    return true;
  }

  private slot(group: string): { busy: number; epoch: number; leaseId?: number } {
    let s = this.slots.get(group);
    if (!s) this.slots.set(group, (s = { busy: 0, epoch: 0 }));
    return s;
  }

  private releaseReq(group: string, leaving: boolean): Req {
    return {
      t: 'req', cluster: CLUSTER, node: NODE_NAMES[this.proc.ix], group, gen: this.proc.generation,
      op: 'release', seq: ++this.seq, ttlMs: 1, graceMs: 0, holds: false, peerHeard: false, peerHolds: false, reach: 0, reachTotal: 0,
      ...(leaving ? { leaving: true } : {}),
    };
  }
}

/**
 * One process's quorum adapters as the daemon wires them (src/daemon/daemon.ts
 * startQuorum): the real LeaseDriver and the real pinger core, each on the
 * process's simulated clock; only the backend and the ICMP socket are
 * modelled here.
 */
export class NodeQuorum {
  private readonly leases?: LeaseDriver;
  private readonly backend?: SimBackend;
  private readonly pinger?: PingerCore;

  constructor(private readonly host: QuorumHost, private readonly proc: QuorumProcess, private readonly params: Params) {
    const q = params.quorum!;
    const clock = processClock(host, proc);
    if (q.arbiter !== 'none') {
      const leases = this.leases = new LeaseDriver({
        leases: groupLeaseConfigs(params.groups.map((g) => g.name), params.deadtimeMs, q.ttlMs, q.safetyMs),
        clock,
        onEvent: (ev) => {
          host.note(NODE_NAMES[proc.ix], ev.kind === 'lease-held' ? `lease ${ev.group} held until ${Math.round(ev.until)} (local)` : `lease ${ev.group} lost: ${ev.reason}`);
          // quorumInput queues the engine's tick when it is the engine that called us: steps do not nest.
          proc.quorumInput({ leases: leases.views() }, true);
        },
      });
      this.backend = new SimBackend(host, proc, q.arbiter, (r) => leases.onReply(r));
    }
    if (q.pingTargets > 0) {
      const targets = [...Array(q.pingTargets).keys()].map((i) => ({ name: `gw${i + 1}`, addrs: [`10.0.0.${i + 1}`] }));
      const { cfg } = pingerConfig({ targets, intervalMs: params.keepaliveMs, deadpingMs: q.deadpingMs });
      this.pinger = new PingerCore({
        cfg, clock,
        send: (addr, seq) => this.probe(addr, seq),
        onChange: (c) => { if (c.kind === 'target-status') proc.quorumInput({ reach: c.reach }, true); },
      });
    }
  }

  /** Lease views now (status output, the engine). */
  views(): Record<string, LeaseView> {
    return this.leases ? this.leases.views() : {};
  }

  /** Groups whose lease this process counts as valid right now, by its own clock. */
  validLeases(): string[] {
    const now = this.proc.localNow();
    const out: string[] = [];
    for (const [g, v] of Object.entries(this.views())) if (v.status === 'held' && v.until !== undefined && now < v.until) out.push(g);
    return out;
  }

  /** The first step: as the daemon, which starts the pinger and the driver before the engine's first step. */
  start(): void {
    this.pinger?.start();
    if (this.leases && this.backend) this.leases.attach(this.backend);
    this.proc.quorumInput({ ...(this.pinger ? { reach: this.pinger.reach() } : {}), leases: this.views() }, false);
  }

  /** The engine's `lease` action: LeaseDriver.update. */
  update(group: string, want: boolean, ctx: RequestContext): void {
    // The node runtime hands the views to the engine right after, as in the daemon.
    this.leases?.update(group, want, ctx);
  }

  /** Graceful shutdown finished: LeaseDriver.releaseAll({ leaving: true }). */
  releaseAll(): void {
    this.leases?.releaseAll({ leaving: true });
  }

  /** An answer from the arbiter reaches this process (the daemon's onReply: the driver, then the views to the engine). */
  onReply(rep: ArbiterReply, etcdLease?: number): boolean {
    if (!this.backend) return false;
    const matched = this.backend.receive(rep, etcdLease);
    if (matched) this.proc.quorumInput({ leases: this.views() }, false);
    return matched;
  }

  onEcho(addr: string, seq: number): boolean {
    if (!this.pinger) return false;
    this.pinger.reply(addr, seq);
    return true;
  }

  /** The ICMP socket's send: the echo comes back after a round trip unless a gateway fault drops it. */
  private probe(addr: string, seq: number): void {
    const i = Number(addr.split('.')[3]) - 1;
    if (!this.proc.targetAnswers(i)) return;
    const inc = this.proc.inc;
    this.host.after(this.host.qrng.int(0, this.params.quorum!.pingRttMs) + 1, () => {
      if (!this.proc.alive(inc)) return false;
      return this.proc.whenRunning(() => { if (this.proc.alive(inc)) this.onEcho(addr, seq); }, true);
    });
  }
}
