// A node's VRRP instances under one runtime Driver, shared by the daemon and
// (next) the simulator: standalone instances and sync groups as one machine,
// one timer for all of them, effects handed to a VrrpHost in the order the
// machines emitted them. What differs between hosts is only the VrrpHost
// (raw sockets, the network core and notify scripts, or simulated ones).
//
// Ordering contract: an instance's transitions (VIPs on or off, then its
// notify script) run one after another in state order, never overlapping,
// through a KeyedSerial per instance, and a sync group's own notify runs
// behind its members'. Adverts are not held back by them: a backup must
// hear the master's adverts even while its VIPs are being removed.
// Transitions the machine makes while one is still being carried out wait in
// one slot per instance, the newest replacing the older (with the first's
// `from`): a host whose scripts are slow carries out the current state next,
// instead of working through every flap, so the VIPs follow the machine
// within two transitions, and the queue is bounded (the simulator found a
// BACKUP holding its VIPs for seconds behind a backlog: docs/simulation.md).

import { Driver, KeyedSerial, type Clock, type Machine } from '../runtime/driver.js';
import {
  followsBetterMaster, initInstance, instanceDeadline, instanceStep, instanceView,
  type InstanceConfig, type InstanceEffect, type InstanceEvent, type InstanceState, type InstanceView, type Transition, type VrrpStateName,
} from './instance.js';
import {
  initSyncGroup, syncGroupDeadline, syncGroupStep, syncGroupView,
  type SyncGroupState, type SyncGroupView,
} from './sync-group.js';

export interface VrrpSetConfig {
  instances: InstanceConfig[];
  /** Sync groups by name, with the names of their member instances. */
  syncGroups: Array<{ name: string; members: string[] }>;
}

type Unit = { kind: 'instance'; s: InstanceState } | { kind: 'group'; g: SyncGroupState };

export interface VrrpSetState {
  units: Unit[];
  /** Which unit runs each instance. */
  byInstance: Map<string, Unit>;
  /** Guarded units (a standalone instance, or a sync group as one) and whether each wants MASTER. */
  wants: Map<string, boolean>;
}

/**
 * An event for one instance (`to`), for every member of one unit (`unit`:
 * an instance or sync group name; the guard's answers), or for all of them
 * (start, tick, shutdown).
 */
export interface VrrpSetEvent {
  to?: string;
  unit?: string;
  event: InstanceEvent;
}

export type VrrpSetEffect =
  | { kind: 'instance'; instance: string; effect: InstanceEffect }
  | { kind: 'group-state'; group: string; state: Exclude<VrrpStateName, 'INIT'>; from: VrrpStateName; reason: string }
  /**
   * A guarded unit starts or stops wanting MASTER (MASTER, or held by the
   * guard): the guard asks for its lease, or gives it up. Giving up waits
   * for the unit's transitions, so the VIPs are off before the lease goes.
   */
  | { kind: 'guard-want'; unit: string; members: string[]; want: boolean; reason: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string };

export function initVrrpSet(cfg: VrrpSetConfig, now: number): VrrpSetState {
  const byName = new Map(cfg.instances.map((i) => [i.name, i]));
  const grouped = new Set(cfg.syncGroups.flatMap((g) => g.members));
  const units: Unit[] = [];
  const byInstance = new Map<string, Unit>();
  for (const g of cfg.syncGroups) {
    const members = g.members.map((m) => {
      const c = byName.get(m);
      if (!c) throw new RangeError(`sync group ${g.name}: no vrrp_instance ${m}`);
      return c;
    });
    const u: Unit = { kind: 'group', g: initSyncGroup({ name: g.name, members }, now) };
    units.push(u);
    for (const m of g.members) byInstance.set(m, u);
  }
  for (const i of cfg.instances) {
    if (grouped.has(i.name)) continue;
    const u: Unit = { kind: 'instance', s: initInstance(i, now) };
    units.push(u);
    byInstance.set(i.name, u);
  }
  const wants = new Map<string, boolean>();
  for (const u of units) if (unitMembers(u).some((m) => m.cfg.guarded)) wants.set(unitName(u), false);
  return { units, byInstance, wants };
}

const unitName = (u: Unit) => (u.kind === 'instance' ? u.s.cfg.name : u.g.cfg.name);
const unitMembers = (u: Unit): InstanceState[] => (u.kind === 'instance' ? [u.s] : u.g.members);

/** Names of the guarded units (instances outside sync groups, and sync groups). */
export function guardedUnits(s: VrrpSetState): string[] {
  return [...s.wants.keys()];
}

/**
 * A guarded unit wants MASTER while a member is MASTER or held (its timer
 * ran out), unless another member follows a master that outranks it: the
 * group would go up and down against that node, keeping the lease from it.
 */
function unitWants(u: Unit, now: number): { want: boolean; reason: string } {
  const ms = unitMembers(u);
  const master = ms.find((m) => m.state === 'MASTER');
  if (master) return { want: true, reason: `${master.cfg.name} is MASTER` };
  const yielding = ms.find((m) => followsBetterMaster(m, now));
  if (yielding) return { want: false, reason: `${yielding.cfg.name} hears ${yielding.master!.address} at priority ${yielding.master!.priority}, which outranks it` };
  const held = ms.find((m) => m.state === 'BACKUP' && m.held);
  if (held) return { want: true, reason: `${held.cfg.name}: ${held.downWhy}` };
  const st = ms.find((m) => m.state !== 'BACKUP')?.state ?? 'BACKUP';
  return { want: false, reason: st === 'BACKUP' ? 'BACKUP, a master is heard' : st };
}

function stepUnit(u: Unit, to: string | undefined, e: InstanceEvent, now: number, out: VrrpSetEffect[]): void {
  if (u.kind === 'instance') {
    for (const effect of instanceStep(u.s, e, now)) out.push({ kind: 'instance', instance: u.s.cfg.name, effect });
    return;
  }
  for (const x of syncGroupStep(u.g, to !== undefined ? { to, event: e } : { event: e }, now)) {
    if (x.kind === 'member') out.push({ kind: 'instance', instance: x.member, effect: x.effect });
    else if (x.kind === 'group-state') out.push({ kind: 'group-state', group: u.g.cfg.name, state: x.state, from: x.from, reason: x.reason });
    else out.push(x);
  }
}

export const VRRP_SET_MACHINE: Machine<VrrpSetState, VrrpSetEvent, VrrpSetEffect> = {
  step(s, ev, now) {
    const out: VrrpSetEffect[] = [];
    if (ev.unit !== undefined) {
      const u = s.units.find((x) => unitName(x) === ev.unit);
      if (!u) return [{ kind: 'log', level: 'warn', message: `event for unknown VRRP unit ${ev.unit} ignored` }];
      stepUnit(u, undefined, ev.event, now, out);
    } else if (ev.to !== undefined) {
      const u = s.byInstance.get(ev.to);
      if (!u) return [{ kind: 'log', level: 'warn', message: `event for unknown vrrp_instance ${ev.to} ignored` }];
      stepUnit(u, ev.to, ev.event, now, out);
    } else {
      for (const u of s.units) stepUnit(u, undefined, ev.event, now, out);
    }
    for (const u of s.units) {
      const name = unitName(u);
      const was = s.wants.get(name);
      if (was === undefined) continue;
      const w = unitWants(u, now);
      if (w.want === was) continue;
      s.wants.set(name, w.want);
      out.push({ kind: 'guard-want', unit: name, members: unitMembers(u).map((m) => m.cfg.name), want: w.want, reason: w.reason });
    }
    return out;
  },
  deadline(s) {
    let t = Infinity;
    for (const u of s.units) t = Math.min(t, u.kind === 'instance' ? instanceDeadline(u.s) : syncGroupDeadline(u.g));
    return t;
  },
  tick: { event: { kind: 'tick' } },
  // A backup's Master_Down (or skew after a priority 0 advert): the takeover, where the wake-up's lateness is the VIP's.
  precise: (s, at) => s.units.some((u) => unitMembers(u).some((m) => m.state === 'BACKUP' && !m.held && m.downAt === at)),
};

/**
 * The takeover branch, stepped on throwaway sets at start with their effects dropped (pure: nothing leaves).
 * A backup hears adverts for days and never ticks (an advert moves its deadline first), so V8 optimizes the
 * machine for adverts alone; the first takeover's tick then met code without feedback for it and deoptimized:
 * ~90 µs of a takeover's step, against ~10 µs after this (a script timing the step after 20,000 adverts).
 * 50 rounds: V8 allocates a function's feedback only after several calls, and fewer rounds left it cold.
 * Called by the daemon's host (src/vrrp/service.ts), not the simulator's: its runtimes live one schedule each.
 */
export function warmTakeover(cfg: VrrpSetConfig, now: number): void {
  for (let i = 0; i < 50; i++) {
    const s = initVrrpSet(cfg, now);
    VRRP_SET_MACHINE.step(s, { event: { kind: 'start' } }, now);
    const down = VRRP_SET_MACHINE.deadline(s);
    if (Number.isFinite(down)) VRRP_SET_MACHINE.step(s, VRRP_SET_MACHINE.tick, down);
  }
}

export interface VrrpView { instances: InstanceView[]; groups: SyncGroupView[] }

export function vrrpSetView(s: VrrpSetState, now: number): VrrpView {
  const instances: InstanceView[] = [];
  const groups: SyncGroupView[] = [];
  for (const u of s.units) {
    if (u.kind === 'instance') instances.push(instanceView(u.s, now));
    else {
      groups.push(syncGroupView(u.g, now));
      for (const m of u.g.members) instances.push(instanceView(m, now));
    }
  }
  return { instances, groups };
}

/** The effects' executor: sockets, the network core and scripts in the daemon; models in the simulator. */
export interface VrrpHost {
  readonly clock: Clock;
  sendAdvert(instance: string, priority: number, advertIntervalMs: number): void;
  /** VIPs on (master) or off (the others), then the notify script; `done` when both are over. */
  transition(instance: string, t: Transition, from: VrrpStateName, priority: number, reason: string, done: () => void): void;
  /** Gratuitous ARP / unsolicited NA for the instance's VIPs, `repeat` rounds. */
  /** An announcement round of the instance's VIPs; `round` says which (instance.ts). */
  announce(instance: string, repeat: number, round: 'master' | 'master-delay' | 'refresh' | 'conflict'): void;
  /** The sync group's own notify, after its members' transitions. */
  groupState(group: string, state: Exclude<VrrpStateName, 'INIT'>, from: VrrpStateName, reason: string, done: () => void): void;
  /** A guarded unit wants MASTER (ask for its lease) or no longer does (its VIPs are off: give it up). */
  guardWant?(unit: string, want: boolean, reason: string): void;
  log(level: 'info' | 'warn', message: string): void;
}

export class VrrpRuntime {
  readonly state: VrrpSetState;
  private readonly driver: Driver<VrrpSetState, VrrpSetEvent, VrrpSetEffect>;
  private readonly serial = new KeyedSerial();
  /** Per instance: the transition queued and not yet started, which a newer one replaces. */
  private readonly waiting = new Map<string, { t: Transition; from: VrrpStateName; priority: number; reason: string }>();
  private readonly latestWant = new Map<string, boolean>();

  constructor(cfg: VrrpSetConfig, private readonly host: VrrpHost) {
    this.state = initVrrpSet(cfg, host.clock.now());
    this.driver = new Driver(VRRP_SET_MACHINE, this.state, host.clock, (a) => this.execute(a));
  }

  start(): void {
    this.driver.submit({ event: { kind: 'start' } });
  }

  submit(ev: VrrpSetEvent): void {
    this.driver.submit(ev);
  }

  /** Priority 0 adverts from the masters, then every instance's stop transition; resolves when those have run. */
  shutdown(): Promise<void> {
    this.driver.submit({ event: { kind: 'shutdown' } });
    this.driver.close();
    return new Promise((resolve) => this.serial.whenIdle(resolve));
  }

  /** The guard's answer for a unit (an instance outside sync groups, or a sync group). */
  guard(unit: string, allowed: boolean, reason: string): void {
    this.driver.submit({ unit, event: { kind: 'may-be-master', allowed, reason } });
  }

  /** The unit (instance or sync group) has a MASTER member now. */
  unitIsMaster(unit: string): boolean {
    const u = this.state.units.find((x) => unitName(x) === unit);
    return !!u && unitMembers(u).some((m) => m.state === 'MASTER');
  }

  view(): ReturnType<typeof vrrpSetView> {
    return vrrpSetView(this.state, this.host.clock.now());
  }

  private execute(a: VrrpSetEffect): void {
    const h = this.host;
    if (a.kind === 'log') { h.log(a.level, a.message); return; }
    if (a.kind === 'guard-want') {
      this.latestWant.set(a.unit, a.want);
      if (a.want) { h.guardWant?.(a.unit, true, a.reason); return; }
      // Behind every member's queued transition (their VIPs come off first);
      // dropped if the unit wanted MASTER again meanwhile.
      let left = a.members.length;
      for (const m of a.members) {
        this.waiting.delete(m);
        this.serial.run(m, (done) => {
          done();
          if (--left === 0 && this.latestWant.get(a.unit) === false) h.guardWant?.(a.unit, false, a.reason);
        });
      }
      return;
    }
    if (a.kind === 'group-state') {
      const unit = [...this.state.units].find((u) => u.kind === 'group' && u.g.cfg.name === a.group);
      const members = unit?.kind === 'group' ? unit.g.members.map((m) => m.cfg.name) : [];
      // Behind every member's queued transition: a job per member that waits its turn, then the group's notify.
      let left = members.length;
      const fire = () => this.serial.run(`group:${a.group}`, (done) => h.groupState(a.group, a.state, a.from, a.reason, done));
      if (left === 0) { fire(); return; }
      // A member's waiting transition is now behind this job: a newer one queues after it.
      for (const m of members) {
        this.waiting.delete(m);
        this.serial.run(m, (done) => { done(); if (--left === 0) fire(); });
      }
      return;
    }
    const e = a.effect;
    const name = a.instance;
    switch (e.kind) {
      case 'send-advert': h.sendAdvert(name, e.priority, e.advertIntervalMs); break;
      // Behind the transition that put the VIPs on: announcing before they are there says nothing.
      case 'announce': this.serial.run(name, (done) => { h.announce(name, e.repeat, e.round); done(); }); break;
      case 'log': h.log(e.level, e.message); break;
      default: {
        const t = e;
        const queued = this.waiting.get(name);
        if (queued) {
          queued.t = t.kind; queued.priority = t.priority; queued.reason = t.reason;
        } else {
          const job = { t: t.kind, from: t.from, priority: t.priority, reason: t.reason };
          this.waiting.set(name, job);
          this.serial.run(name, (done) => {
            if (this.waiting.get(name) === job) this.waiting.delete(name);
            h.transition(name, job.t, job.from, job.priority, job.reason, done);
          });
        }
        // Logged after the job started: a takeover's first address is sent before this line is written.
        h.log(t.kind === 'become-fault' ? 'warn' : 'info', `vrrp_instance ${name}: ${t.from} -> ${STATE_OF[t.kind]} (priority ${t.priority}): ${t.reason}`);
      }
    }
  }
}

export const STATE_OF: Record<Transition, Exclude<VrrpStateName, 'INIT'>> = {
  'become-master': 'MASTER', 'become-backup': 'BACKUP', 'become-fault': 'FAULT', stopped: 'STOPPED',
};
