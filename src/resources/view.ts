// What an operator may know of the resource groups here: plain, frozen data
// built fresh from the state (node/view.ts says why readers hold no state).

import {
  handingOver, heldGroups, isTakeover, liveFailures, peerHandsOver,
  type GroupPhase, type MonitorVerdict, type ReasonCode, type ResourcesState,
} from './machine.js';

// Codes and phases are values, not state: readers name them through this module.
export { isTakeover, type GroupPhase, type ReasonCode };

/** The transition that put the group where it is, with the machine's own reason. */
export interface CauseView {
  readonly phase: GroupPhase;
  readonly code: ReasonCode;
  readonly reason: string;
  /** A start that takes the group over from the peer (a failover). */
  readonly takeover: boolean;
  readonly msAgo: number;
}

export interface GroupView {
  readonly name: string;
  /** null for a group a reload removed that is still being released. */
  readonly preferredNode: string | null;
  readonly phase: GroupPhase;
  /** An operation is in flight. */
  readonly busy: boolean;
  /** Held here (starting, running, stopping, recovering, stop-failed). */
  readonly held: boolean;
  readonly sinceMsAgo: number;
  readonly lastError: string | null;
  readonly cause: CauseView | null;
  /** Since when the peer's reports list it as held; null while they do not. */
  readonly peerSinceMsAgo: number | null;
  /** An operator's standby/takeover in force: this node hands it to the peer, or the peer to this node. */
  readonly handover: 'to-peer' | 'from-peer' | null;
  /** Its monitored resources (op monitor, or an OCF agent's meta-data), in group order. */
  readonly monitors: readonly MonitorView[];
}

export interface MonitorView {
  /** Index of the resource in the group (0 = first). */
  readonly index: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The newest check's result; null before the first one. */
  readonly last: { readonly result: MonitorVerdict; readonly detail: string; readonly msAgo: number } | null;
  /** Failures within failure-timeout. */
  readonly failCount: number;
  readonly migrationThreshold: number;
  /** null while no check is scheduled (not running here, or one in flight). */
  readonly nextCheckInMs: number | null;
  readonly checking: boolean;
}

export interface ResourcesView {
  /** Configured groups, in haresources order. */
  readonly order: readonly string[];
  /** Every group the machine knows (configured, and removed ones still being released), by name. */
  readonly groups: Readonly<Record<string, GroupView>>;
  /** Groups held here, in haresources order (what our status messages claim). */
  readonly held: readonly string[];
  /** Shutting down: releasing everything. */
  readonly stopping: boolean;
}

export function resourcesView(r: ResourcesState, now: number): ResourcesView {
  const held = heldGroups(r);
  const groups: Record<string, GroupView> = {};
  for (const [name, g] of Object.entries(r.groups)) {
    const c = g.cause;
    groups[name] = Object.freeze({
      name,
      preferredNode: r.cfg.groups.find((x) => x.name === name)?.preferredNode ?? null,
      phase: g.phase,
      busy: g.busy,
      held: held.includes(name),
      sinceMsAgo: now - g.since,
      lastError: g.lastError ?? null,
      cause: c ? Object.freeze({ phase: c.phase, code: c.code, reason: c.reason, takeover: isTakeover(c.code), msAgo: now - c.at }) : null,
      peerSinceMsAgo: g.peerSince === undefined ? null : now - g.peerSince,
      handover: handingOver(r, name) ? 'to-peer' : peerHandsOver(r, name) ? 'from-peer' : null,
      monitors: Object.freeze((r.cfg.groups.find((x) => x.name === name)?.monitors ?? []).flatMap((ms, index) => {
        if (!ms || ms.intervalMs <= 0) return [];
        const m = g.mon?.[index];
        return [Object.freeze({
          index, intervalMs: ms.intervalMs, timeoutMs: ms.timeoutMs,
          last: m?.last ? Object.freeze({ result: m.last.result, detail: m.last.detail, msAgo: now - m.last.at }) : null,
          failCount: m ? liveFailures(m, ms, now) : 0,
          migrationThreshold: ms.migrationThreshold,
          nextCheckInMs: g.phase === 'running' && m?.nextAt !== undefined && !m.busy ? Math.max(0, m.nextAt - now) : null,
          checking: m?.busy ?? false,
        })];
      })),
    });
  }
  return Object.freeze({
    order: Object.freeze(r.cfg.groups.map((g) => g.name)),
    groups: Object.freeze(groups),
    held: Object.freeze(held),
    stopping: r.stopping,
  });
}
