// A vrrp_sync_group as a pure composition of its member instances: the
// members change state together, as keepalived 2.2 does it (vrrp_sync.c):
//  - MASTER only when every member wants it (MASTER already, or BACKUP whose
//    Master_Down_Timer ran out and whose guard allows it): "prefer BACKUP to
//    avoid thrashing". Until then a ready member waits in BACKUP. Under the
//    split-brain guard, one ready member is enough once the guard allows
//    the group: its lease says no other node is MASTER of it.
//  - One member leaving MASTER (a higher advert, its guard) takes the others
//    to BACKUP; each sends a priority-0 advert first, so their backups on the
//    other node take over after Skew_Time instead of Master_Down_Interval.
//  - One member in FAULT takes the group to FAULT (the others with the
//    source `sync group NAME`); once no member has a fault of its own, all
//    leave FAULT together, as a fresh start.
// The group's own notify effects (GROUP NAME STATE) follow the member
// transitions that made them, in order.
//
// Implemented with the instances' sync gate (instance.ts 'sync-gate'): open
// for all members while the group is MASTER or every member is ready, closed
// otherwise; a MASTER whose gate closes steps down at once.

import {
  followsBetterMaster, initInstance, instanceDeadline, instanceStep, instanceView, readyForMaster,
  type InstanceConfig, type InstanceEffect, type InstanceEvent, type InstanceState, type InstanceView, type VrrpStateName,
} from './instance.js';

export interface SyncGroupConfig {
  name: string;
  members: InstanceConfig[];
}

export interface SyncGroupState {
  readonly cfg: SyncGroupConfig;
  members: InstanceState[];
  /** The group's state as its notify scripts last heard it. */
  state: VrrpStateName;
  since: number;
}

/** An instance event for one member (`to`), or for every member (no `to`: start, tick, guard, shutdown, a group track). */
export interface SyncGroupEvent {
  to?: string;
  event: InstanceEvent;
}

export type SyncGroupEffect =
  | { kind: 'member'; member: string; effect: InstanceEffect }
  /** The group's transition: its notify_master/backup/fault/stop, after the members'. */
  | { kind: 'group-state'; state: Exclude<VrrpStateName, 'INIT'>; from: VrrpStateName; reason: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string };

/** The fault source a member gets when another member's fault takes the group down. */
export const syncFaultSource = (group: string) => `sync group ${group}`;

export function syncGroupProblems(cfg: SyncGroupConfig): string[] {
  const p: string[] = [];
  if (cfg.members.length < 2) p.push(`members: sync group ${cfg.name} has ${cfg.members.length} member(s); it needs at least 2`);
  const seen = new Set<string>();
  for (const m of cfg.members) {
    if (seen.has(m.name)) p.push(`members: ${m.name} is listed twice in sync group ${cfg.name}`);
    seen.add(m.name);
  }
  return p;
}

export function initSyncGroup(cfg: SyncGroupConfig, now: number): SyncGroupState {
  const problems = syncGroupProblems(cfg);
  if (problems.length) throw new RangeError(problems.join('; '));
  return { cfg, members: cfg.members.map((m) => initInstance(m, now, { syncGroup: cfg.name })), state: 'INIT', since: now };
}

export function syncGroupStep(g: SyncGroupState, ev: SyncGroupEvent, now: number): SyncGroupEffect[] {
  const out: SyncGroupEffect[] = [];
  if (g.state === 'STOPPED') return out;
  if (ev.to !== undefined) {
    const m = g.members.find((x) => x.cfg.name === ev.to);
    if (!m) {
      out.push({ kind: 'log', level: 'warn', message: `sync group ${g.cfg.name}: event for unknown member ${ev.to} ignored` });
      return out;
    }
    run(g, m, ev.event, now, out);
  } else {
    for (const m of g.members) run(g, m, ev.event, now, out);
  }
  reconcile(g, now, ev.event.kind === 'shutdown' ? 'shutdown' : undefined, out);
  return out;
}

export function syncGroupDeadline(g: SyncGroupState): number {
  let t = Infinity;
  for (const m of g.members) t = Math.min(t, instanceDeadline(m));
  return t;
}

function run(g: SyncGroupState, m: InstanceState, e: InstanceEvent, now: number, out: SyncGroupEffect[]): void {
  for (const effect of instanceStep(m, e, now)) out.push({ kind: 'member', member: m.cfg.name, effect });
}

const ownFaults = (g: SyncGroupState, m: InstanceState) => [...m.faults.keys()].some((k) => k !== syncFaultSource(g.cfg.name));

/** Brings the members to one state, then reports the group's transition. */
function reconcile(g: SyncGroupState, now: number, why: string | undefined, out: SyncGroupEffect[]): void {
  const src = syncFaultSource(g.cfg.name);
  let reason = why;
  // Each pass moves members one way (fault, unfault, gates); a few passes settle.
  for (let pass = 0; pass < 4 * g.members.length + 4; pass++) {
    let changed = false;
    if (g.members.some((m) => m.state === 'STOPPED' || m.state === 'INIT')) break;
    const faulty = g.members.find((m) => ownFaults(g, m));
    if (faulty) {
      // Every member carries the group's fault, the faulty ones too: a member
      // whose own fault clears stays in FAULT until no member has one.
      const r = `${faulty.cfg.name} is in FAULT (${[...faulty.faults].filter(([k]) => k !== src).map(([k, v]) => `${k}: ${v}`).join('; ')})`;
      for (const m of g.members) {
        if (m.faults.has(src)) continue;
        run(g, m, { kind: 'fault', source: src, reason: r }, now, out);
        changed = true;
      }
      // Closed while in FAULT, so leaving it is a fresh start for every
      // member (an owner does not go MASTER alone before the others).
      for (const m of g.members) {
        if (m.sync.allowed) run(g, m, { kind: 'sync-gate', allowed: false, reason: `sync group ${g.cfg.name}: ${r}` }, now, out);
      }
      reason ??= r;
    } else if (g.members.some((m) => m.faults.has(src))) {
      for (const m of g.members) {
        if (!m.faults.has(src)) continue;
        run(g, m, { kind: 'fault-cleared', source: src, reason: 'no member is in FAULT' }, now, out);
        changed = true;
      }
      reason ??= 'no member is in FAULT';
    } else {
      const waiting = g.members.filter((m) => m.state !== 'MASTER' && !readyForMaster(m, now)).map((m) => m.cfg.name);
      // Under the guard the group's lease is the authority: no other node
      // may be MASTER of it, so one ready member is enough. Waiting for
      // every member's timer would let the claims of other nodes keep one
      // of them from ever running out (3 nodes, equal priorities).
      const lead = g.members.every((m) => m.cfg.guarded && m.guard.allowed) && !g.members.some((m) => followsBetterMaster(m, now))
        ? g.members.find((m) => readyForMaster(m, now)) : undefined;
      const gate = waiting.length === 0
        ? { allowed: true, reason: `sync group ${g.cfg.name}: every member is ready` }
        : lead
          ? { allowed: true, reason: `sync group ${g.cfg.name}: the guard allows MASTER and ${lead.cfg.name} is ready`, join: true }
          : { allowed: false, reason: `sync group ${g.cfg.name}: waiting for ${waiting.join(', ')}` };
      for (const m of g.members) {
        if (m.sync.allowed === gate.allowed && !(gate.join && m.state === 'BACKUP')) continue;
        const before = m.state;
        run(g, m, { kind: 'sync-gate', ...gate }, now, out);
        if (m.state !== before) changed = true;
      }
      if (changed && gate.allowed) reason ??= 'every member is ready';
    }
    if (!changed) break;
  }
  const st = groupState(g);
  if (st && st !== g.state) {
    const from = g.state;
    g.state = st;
    g.since = now;
    out.push({ kind: 'group-state', state: st, from, reason: reason ?? memberReason(g, out) });
  }
}

/** The group's state once its members agree: FAULT if any is, else the one state they share. */
function groupState(g: SyncGroupState): Exclude<VrrpStateName, 'INIT'> | undefined {
  const states = new Set(g.members.map((m) => m.state));
  if (states.has('FAULT')) return 'FAULT';
  if (states.size !== 1) return undefined;
  const s = g.members[0]!.state;
  return s === 'INIT' ? undefined : s;
}

/** The reason of the first member transition in this step (what moved the group). */
function memberReason(g: SyncGroupState, out: SyncGroupEffect[]): string {
  for (const e of out) {
    if (e.kind === 'member' && (e.effect.kind === 'become-master' || e.effect.kind === 'become-backup' || e.effect.kind === 'become-fault' || e.effect.kind === 'stopped')) {
      return `${e.member}: ${e.effect.reason}`;
    }
  }
  return `sync group ${g.cfg.name}`;
}

export interface SyncGroupView {
  name: string;
  state: VrrpStateName;
  forMs: number;
  members: ReadonlyArray<Readonly<InstanceView>>;
}

export function syncGroupView(g: SyncGroupState, now: number): Readonly<SyncGroupView> {
  return Object.freeze({ name: g.cfg.name, state: g.state, forMs: now - g.since, members: Object.freeze(g.members.map((m) => instanceView(m, now))) });
}

export const SYNC_GROUP_MACHINE = {
  step: syncGroupStep,
  deadline: syncGroupDeadline,
  tick: { event: { kind: 'tick' } } as SyncGroupEvent,
};
