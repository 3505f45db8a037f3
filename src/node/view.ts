// The only door from outside the engine into what it knows (issue 12: status
// is read through a view each machine exposes). Status, metrics, the path
// monitor, the day-2 commands and the CLI hold the engine as an opaque
// EngineHandle and read it here; .dependency-cruiser.cjs (engine-read-through-views)
// keeps them from importing the machines or node/engine.ts, so a reader can
// neither depend on a machine's internal layout nor edit its state.

import { cleanupCheck } from '../resources/machine.js';
import { engineView, planHandover, type EngineHandle, type EngineState, type EngineView, type HandoverPlan, type RscHold } from './engine.js';

export type { EngineEvent, EngineHandle, EngineView, HandoverPlan, RscHold } from './engine.js';
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
