// The only door from outside the engine into what it knows (issue 12: status
// is read through a view each machine exposes). Status, metrics, the path
// monitor, the day-2 commands and the CLI hold the engine as an opaque
// EngineHandle and read it here; .dependency-cruiser.cjs (engine-read-through-views)
// keeps them from importing the machines or node/engine.ts, so a reader can
// neither depend on a machine's internal layout nor edit its state.

import { membershipJudgementDeadline } from '../membership/machine.js';
import { cleanupCheck, heldGroups } from '../resources/machine.js';
import { mayTakeOver } from '../fencing/policy.js';
import { engineView, planHandover, type EngineHandle, type EngineState, type EngineView, type HandoverPlan, type RscHold } from './engine.js';

export type { EngineAction, EngineEvent, EngineHandle, EngineView, HandoverPlan, RscHold } from './engine.js';
export type { MembershipView, PathView, PeerReportView, PeerView } from '../membership/view.js';
export type { CauseView, GroupView, ResourcesView } from '../resources/view.js';
export type { FenceDeviceView, FencingView } from '../fencing/view.js';
export type { GroupQuorumView, LeaseStatusView, QuorumView } from '../quorum/view.js';

// Every EngineHandle handed out is an EngineState (node/engine.ts initEngine); the handle only hides its fields.
const state = (h: EngineHandle) => h as EngineState;

/** What the engine knows at `now`: frozen, built fresh on each call. */
export function readEngine(h: EngineHandle, now: number): EngineView {
  return engineView(state(h), now);
}

/** What `tandem standby|takeover WHICH` would do now (a copy: the plan is the caller's). */
export function handoverPlan(h: EngineHandle, cmd: 'standby' | 'takeover', which: RscHold): HandoverPlan {
  const p = planHandover(state(h), cmd, which);
  return { groups: [...p.groups], notes: [...p.notes], ...(p.refusal !== undefined ? { refusal: p.refusal } : {}) };
}

/** What `tandem cleanup GROUP` may do now: refused (unknown group, not failed), clear at once, or probe first. */
export function cleanupCheckOf(h: EngineHandle, group: string): { readonly error: string } | { readonly probe: boolean } {
  return { ...cleanupCheck(state(h).r, group) };
}

/**
 * The few numbers the daemon's packet and timer path reads per datagram or
 * per deadline: cheap reads, where building a whole view (microseconds)
 * would sit on the send-and-judge path.
 */
export interface HotRead {
  /** Heartbeats accepted on `path` so far (a datagram that raised it was fresh and authentic there). */
  acceptedOn(path: string): number;
  /** The peer's newest accepted seq (undefined: none yet). */
  readonly peerSeq: number | undefined;
  /** Until when a tick cannot declare the peer dead. */
  readonly judgementDeadline: number;
  /** Groups held here (the role written beside a hold). */
  readonly heldCount: number;
  /** The fencing device's name by its index in the policy, if fencing is configured. */
  deviceName(index: number): string | undefined;
  /** Whether the engine knows the group (a reload's replaced group is still held under its old definition). */
  knowsGroup(group: string): boolean;
  /** The peer's replay watermark to persist: its generation and newest accepted seq (undefined while unknown or resuming). */
  readonly peerWatermark: { generation: number; lastSeq: number } | undefined;
  /** Every heartbeat path's judgement: the peer is alive. */
  readonly peerUp: boolean;
  /** The fencing policy's phase and whether the dead peer's work may start here; undefined without fencing. */
  readonly fencing: { phase: string; mayTakeOver: boolean; reason: string } | undefined;
}

/** One reader per engine, kept: the hot path reads it per datagram and per tick without allocating. */
class HotReader implements HotRead {
  constructor(private readonly e: EngineState) {}
  acceptedOn(path: string): number { return this.e.m.paths[path]?.accepted ?? 0; }
  get peerSeq(): number | undefined { return this.e.m.peer.lastSeq; }
  get judgementDeadline(): number { return membershipJudgementDeadline(this.e.m); }
  get heldCount(): number { return heldGroups(this.e.r).length; }
  deviceName(i: number): string | undefined { return this.e.f?.cfg.devices[i]; }
  knowsGroup(g: string): boolean { return this.e.r.groups[g] !== undefined; }
  get peerUp(): boolean { return this.e.m.peer.liveness === 'up'; }
  get fencing(): { phase: string; mayTakeOver: boolean; reason: string } | undefined {
    const f = this.e.f;
    return f ? { phase: f.phase, mayTakeOver: mayTakeOver(f), reason: f.reason } : undefined;
  }
  get peerWatermark(): { generation: number; lastSeq: number } | undefined {
    const p = this.e.m.peer;
    return p.generation === undefined || p.lastSeq === undefined || p.resume ? undefined : { generation: p.generation, lastSeq: p.lastSeq };
  }
}

const readers = new WeakMap<EngineState, HotReader>();

export function hotRead(h: EngineHandle): HotRead {
  const e = state(h);
  let r = readers.get(e);
  if (!r) readers.set(e, (r = new HotReader(e)));
  return r;
}
