// One tandem node's wiring, shared by the daemon and the simulator: the
// engine under the runtime Driver, its effects carried out in the order the
// ordering contract below gives, heartbeats encoded and signed by wire.ts.
// What differs between the two hosts is behind NodeHost: the daemon's
// sockets, LevelDB store, agents and fence devices, or the simulator's
// models of them on simulated time.
//
// The ordering contract (docs/architecture.md, "Effects"):
// - The engine's effects are executed in the order it emitted them.
// - A group's hold write completes before that group's next operation
//   starts, and a failed write voids the start queued behind it (durable
//   intent before action, or no action); a group's operations never overlap.
// - A message that acknowledges a peer generation (the status after
//   persist-peer-generation) waits until that write is on disk, like
//   etcd-raft's Ready: persist, then send. The wait is bounded by keepalive:
//   heartbeats held back by a hung disk would get this node declared dead
//   while its groups still run here, which is worse than an early ack.
// - A new generation of this node is durable before anything is sent under
//   it (the boot's generation by the host, a raised one here).

import type { AuthKeys } from '../config/types.js';
import type { FencingPolicyConfig } from '../fencing/policy.js';
import type { RequestContext } from '../quorum/backend.js';
import type { ArbiterKind } from '../quorum/decide.js';
import type { LeaseView } from '../quorum/lease.js';
import type { GroupSpec, MonitorVerdict } from '../resources/machine.js';
import { Driver, DurableGate, KeyedSerial, type Clock, type Machine } from '../runtime/driver.js';
import {
  engineDeadline, engineQuorumInput, engineStep, initEngine,
  type EngineAction, type EngineEvent, type EngineQuorumConfig, type EngineState,
} from './engine.js';
import { askDatagram, hbDatagram, readDatagram, statusDatagram, type OutgoingDatagram, type Received, type Sender } from './wire.js';

/** Our generations follow the wall clock: a claim of one far beyond it was never ours (a broken or hostile peer). */
export const GENERATION_RAISE_LIMIT_S = 86_400;

/** How many of our sent messages are kept for a Heartbeat peer's NS_rexmit (Heartbeat keeps 500; it asks within a second or so). */
const REXMIT_HISTORY = 256;
/** At most this many resends per second, whatever the peer asks. */
const REXMIT_PER_S = 200;

/** Gaps between the last st=dead repeats of a graceful shutdown (one lost datagram must not cost the peer a deadtime). */
const LEAVE_REPEAT_MS = 20;

export interface QuorumSpec {
  pingConfigured: boolean;
  arbiter: ArbiterKind;
  safetyMs: number;
  ipfail: EngineQuorumConfig['ipfail'];
}

/** What the daemon reads from its config and state dir, and the simulator from its scenario. */
export interface NodeSpec {
  self: string;
  peer: string;
  paths: string[];
  keepaliveMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
  autoFailback: 'on' | 'off' | 'legacy';
  stopRetries: number;
  stopRetryDelayMs: number;
  groups: GroupSpec[];
  /** This process's generation, already durable. */
  generation: number;
  uuid: Buffer;
  authkeys: AuthKeys;
  persisted: {
    peerGeneration?: number;
    peerSeq?: number;
    peerPrevious?: { generation: number; lastSeq: number };
    held: ReadonlySet<string>;
  };
  fencing?: FencingPolicyConfig;
  quorum?: QuorumSpec;
  /** Test hook (simulator): adjust the derived quorum config; undefined runs Heartbeat's rules. */
  adjustQuorum?: (cfg: EngineQuorumConfig) => EngineQuorumConfig | undefined;
}

/** The engine's quorum configuration for a node: the one place it is derived (docs/quorum.md). */
export function engineQuorumConfig(spec: Pick<NodeSpec, 'self' | 'peer' | 'groups' | 'deadtimeMs'>, q: QuorumSpec): EngineQuorumConfig {
  const graceMs = spec.deadtimeMs + q.safetyMs;
  return {
    self: spec.self, peer: spec.peer, groups: spec.groups.map((g) => g.name),
    pingConfigured: q.pingConfigured, arbiter: q.arbiter,
    takeoverDelayMs: q.arbiter === 'etcd' ? graceMs : 0,
    aloneGraceMs: q.arbiter === 'none' ? 0 : graceMs,
    ipfailSettleMs: spec.deadtimeMs,
    ipfail: q.ipfail.enabled && q.pingConfigured ? q.ipfail : { ...q.ipfail, enabled: false },
    graceMs,
  };
}

type DeviceAction = Extract<EngineAction, { kind: 'fence' | 'check' }>;
type DeviceResult = Extract<EngineEvent, { kind: 'fence-done' | 'check-done' }>;

/** The lease adapter (LeaseDriver, or the simulator's) as the node runtime uses it. */
export interface NodeLeases {
  update(group: string, want: boolean, ctx: RequestContext): void;
  views(): Record<string, LeaseView>;
  releaseAll(opts: { leaving: boolean }): void;
}

export interface NodeHost {
  readonly clock: Clock;
  /** The wall clock in seconds (ts fields, generations). */
  wallS(): number;
  /** One message, on every heartbeat path (each path signs what it sends: `msg.bytes`, or its own variant). */
  sendDatagram(msg: OutgoingDatagram, sent: { generation: number; seq: number }): void;
  persistHold(group: string, held: boolean, done: (error?: Error) => void): void;
  persistPeerGeneration(generation: number, previous: { generation: number; lastSeq: number } | undefined, done: () => void): void;
  /** Moves this node to a generation above the one the peer saw, durably; done(undefined) when the write failed (the host said why). */
  raiseGeneration(seen: Extract<EngineAction, { kind: 'generation-seen' }>, done: (generation: number | undefined) => void): void;
  /** A resource operation; done(undefined) when there is no such resource any more (nothing to report). */
  runOp(group: string, op: 'start' | 'stop', index: number, done: (r: { ok: boolean; error?: string } | undefined) => void): void;
  /**
   * One monitor call of a resource, killed at timeoutMs; beside the group's
   * operations (the agent itself keeps one call at a time per resource).
   * done(undefined) when there is no such resource any more.
   */
  runMonitor(group: string, index: number, timeoutMs: number, done: (r: { result: MonitorVerdict; detail: string } | undefined) => void): void;
  /** A fence or a device check, beside the heartbeat path; done(undefined) when it was abandoned. */
  device(a: DeviceAction, done: (r: DeviceResult | undefined) => void): void;
  readonly leases?: NodeLeases;
  /** Extra wait before the st=dead repeats of a graceful shutdown (etcd's revoke is an HTTP call). */
  readonly leaveDelayMs: number;
  /** Every effect, after the runtime has carried out its part: logs, journal, metrics, the simulator's checker. */
  observe(a: EngineAction, cause: EngineEvent): void;
  /** A write messages waited for took longer than keepalive: they went out before it landed (a hung or very slow disk). */
  writeOverrun?(waitedMs: number): void;
  /** A raised generation was refused as impossible (beyond the wall clock by more than a day). */
  generationClaimRefused(claimed: number, limit: number): void;
  /** The graceful shutdown's last message is out: close sockets, drain, exit. */
  left(): void;
  /** See DriverOptions.onDeadline. */
  onDeadline?: (fire: () => void, at: number) => void;
  /** Wraps the engine's step (the simulator's trace and test hooks). */
  wrapStep?: (step: Machine<EngineState, EngineEvent, EngineAction>['step']) => Machine<EngineState, EngineEvent, EngineAction>['step'];
}

export class NodeRuntime {
  readonly driver: Driver<EngineState, EngineEvent, EngineAction>;
  private readonly groups = new KeyedSerial();
  /** Groups whose hold write failed: the start queued behind it must not run (the engine was told). */
  private readonly voidStarts = new Set<string>();
  readonly gate: DurableGate;
  private generationValue: number;
  private raising = false;
  private readonly sender: Sender;
  private authkeys: AuthKeys;
  private leaving = false;
  /** Our recent messages by seq, for a Heartbeat peer's NS_rexmit (bounded: REXMIT_HISTORY). */
  private readonly history = new Map<number, OutgoingDatagram>();
  private rexmitBudget = { second: -1, left: REXMIT_PER_S };

  constructor(readonly spec: NodeSpec, private readonly host: NodeHost) {
    const clock = host.clock;
    const derived = spec.quorum ? engineQuorumConfig(spec, spec.quorum) : undefined;
    const qcfg = derived && spec.adjustQuorum ? spec.adjustQuorum(derived) : derived;
    this.generationValue = spec.generation;
    this.authkeys = spec.authkeys;
    this.sender = { node: spec.self, uuid: spec.uuid, generation: spec.generation, deadtimeMs: spec.deadtimeMs, authkeys: spec.authkeys };
    this.gate = new DurableGate(clock, spec.keepaliveMs, () => host.writeOverrun?.(spec.keepaliveMs));
    const state = initEngine(
      {
        self: spec.self, peer: spec.peer, paths: spec.paths,
        keepaliveMs: spec.keepaliveMs, warntimeMs: spec.warntimeMs, deadtimeMs: spec.deadtimeMs, initdeadMs: spec.initdeadMs,
      },
      {
        self: spec.self, autoFailback: spec.autoFailback, stopRetries: spec.stopRetries, stopRetryDelayMs: spec.stopRetryDelayMs,
        ...(spec.fencing && spec.fencing.devices.length ? { fencing: true } : {}),
        generation: spec.generation, groups: spec.groups,
      },
      clock.now(),
      spec.persisted,
      spec.fencing,
      qcfg,
    );
    const step = host.wrapStep ? host.wrapStep(engineStep) : engineStep;
    this.driver = new Driver({ step, deadline: engineDeadline, tick: { kind: 'tick' } }, state, clock,
      (a, e) => this.execute(a, e), host.onDeadline ? { onDeadline: host.onDeadline } : {});
  }

  get engine(): EngineState {
    return this.driver.state;
  }

  get generation(): number {
    return this.generationValue;
  }

  submit(ev: EngineEvent): void {
    this.driver.submit(ev);
  }

  tick(): void {
    this.driver.tick();
  }

  /** New inputs from the quorum adapters; `tick` steps them in (steps never nest: the driver queues it). */
  quorumInput(i: { reach?: Parameters<typeof engineQuorumInput>[1]['reach']; leases?: Record<string, LeaseView> }, tick = true): void {
    if (this.driver.isClosed) return;
    engineQuorumInput(this.engine, i);
    if (tick) this.tick();
  }

  /** A reload's new keys: heartbeats are signed and checked with them from now on. */
  setAuthkeys(keys: AuthKeys): void {
    this.authkeys = keys;
    this.sender.authkeys = keys;
  }

  /** A datagram as read from a path: decoded and authenticated; the host counts drops and submits the event. */
  read(bytes: Buffer, path: string): Received {
    return readDatagram(bytes, path, { node: this.spec.self, authkeys: this.authkeys, quorum: this.spec.quorum !== undefined }, this.host.wallS());
  }

  /** Group queues are empty (nothing running or waiting). */
  idle(): boolean {
    return this.groups.idle();
  }

  whenIdle(fn: () => void): void {
    this.groups.whenIdle(fn);
  }

  /** No more steps, timers or sends; effects in flight finish on the host's side. */
  close(): void {
    this.driver.close();
  }

  private send(msg: () => OutgoingDatagram, seq: number): void {
    this.gate.after(() => {
      if (this.driver.isClosed) return;
      const m = msg();
      this.remember(seq, m);
      this.host.sendDatagram(m, { generation: this.generationValue, seq });
    });
  }

  private remember(seq: number, m: OutgoingDatagram): void {
    this.history.set(seq, m);
    if (this.history.size > REXMIT_HISTORY) this.history.delete(this.history.keys().next().value!);
  }

  /** A Heartbeat peer's NS_rexmit: resend what is still kept, else say it is lost (NS_nak_rexmit, as Heartbeat does). */
  private rexmit(a: Extract<EngineAction, { kind: 'hb-rexmit' }>): void {
    const second = Math.floor(this.host.clock.now() / 1000);
    if (this.rexmitBudget.second !== second) this.rexmitBudget = { second, left: REXMIT_PER_S };
    for (let seq = a.first; seq <= a.last && this.rexmitBudget.left > 0; seq++, this.rexmitBudget.left--) {
      const kept = this.history.get(seq);
      const m = kept ?? hbDatagram({ type: 'nak-rexmit', dest: a.dest, seq }, undefined, this.sender, Math.floor(this.host.wallS()));
      this.host.sendDatagram(m, { generation: this.generationValue, seq: kept ? seq : this.driver.state.m.seq });
    }
  }

  private execute(a: EngineAction, cause: EngineEvent): void {
    const h = this.host;
    switch (a.kind) {
      case 'send':
        this.send(() => statusDatagram(a.status, this.sender, Math.floor(h.wallS())), a.status.seq);
        break;
      case 'ask':
        this.send(() => askDatagram(a, this.sender, Math.floor(h.wallS())), a.seq);
        break;
      case 'hb-send':
        if (a.seq !== undefined) this.send(() => hbDatagram(a.msg, a.seq, this.sender, Math.floor(h.wallS())), a.seq);
        else {
          const seq = this.driver.state.m.seq;
          this.gate.after(() => {
            if (!this.driver.isClosed) h.sendDatagram(hbDatagram(a.msg, undefined, this.sender, Math.floor(h.wallS())), { generation: this.generationValue, seq });
          });
        }
        break;
      case 'hb-rexmit':
        this.gate.after(() => { if (!this.driver.isClosed) this.rexmit(a); });
        break;
      case 'persist-peer-generation': {
        const release = this.gate.hold();
        h.persistPeerGeneration(a.generation, a.previous, release);
        break;
      }
      case 'persist-hold': {
        const { group, held } = a;
        this.groups.run(group, (done) => {
          this.voidStarts.delete(group);
          h.persistHold(group, held, (error) => {
            if (error) {
              if (held) this.voidStarts.add(group);
              this.submit({ kind: 'hold-failed', group, held, error: error.message });
            }
            done();
          });
        });
        break;
      }
      case 'op': {
        const { group, op, index } = a;
        this.groups.run(group, (done) => {
          if (this.voidStarts.has(group)) return done();
          h.runOp(group, op, index, (r) => {
            if (r) this.submit({ kind: 'op-done', group, op, index, ok: r.ok, ...(r.error !== undefined ? { error: r.error } : {}) });
            done();
          });
        });
        break;
      }
      case 'monitor': {
        const { group, index, token } = a;
        h.runMonitor(group, index, a.timeoutMs, (r) => {
          if (r && !this.driver.isClosed) this.submit({ kind: 'monitor-done', group, index, token, result: r.result, detail: r.detail });
        });
        break;
      }
      case 'fence':
      case 'check':
        h.device(a, (r) => { if (r) this.submit(r); });
        break;
      case 'lease':
        if (h.leases) {
          h.leases.update(a.group, a.want, a.ctx);
          engineQuorumInput(this.engine, { leases: h.leases.views() });
        }
        break;
      case 'generation-seen':
        this.raiseGeneration(a);
        break;
      case 'released':
        this.leave();
        break;
      default:
        break;
    }
    h.observe(a, cause);
  }

  /** The peer has seen this generation (or a later one) used before: move past it, durably, before using it. */
  private raiseGeneration(seen: Extract<EngineAction, { kind: 'generation-seen' }>): void {
    if (this.raising) return;
    const claimed = seen.generation;
    const limit = Math.max(this.generationValue, Math.floor(this.host.wallS())) + GENERATION_RAISE_LIMIT_S;
    if (claimed > limit) {
      this.host.generationClaimRefused(claimed, limit);
      return;
    }
    this.raising = true;
    this.host.raiseGeneration(seen, (g) => {
      this.raising = false;
      if (g === undefined || this.driver.isClosed) return;
      this.generationValue = g;
      this.sender.generation = g;
      this.submit({ kind: 'generation', generation: g });
    });
  }

  /** Graceful shutdown finished: every group is stopped. Give the leases up saying we leave, repeat st=dead twice, then the host closes. */
  private leave(): void {
    if (this.leaving) return;
    this.leaving = true;
    this.host.leases?.releaseAll({ leaving: true });
    const clock = this.host.clock;
    const timer = clock.timer();
    let repeats = 0;
    const repeat = (): void => {
      if (this.driver.isClosed) return;
      this.tick();
      repeats += 1;
      if (repeats < 2) timer.set(clock.now() + LEAVE_REPEAT_MS, repeat);
      else {
        timer.clear();   // releases a timerfd
        this.host.left();
      }
    };
    timer.set(clock.now() + this.host.leaveDelayMs + LEAVE_REPEAT_MS, repeat);
  }
}
