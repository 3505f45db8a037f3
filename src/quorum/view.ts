// What an operator may know of the quorum decision and the leases: plain,
// frozen data built fresh (node/view.ts says why readers hold no state).

import type { ArbiterKind, Connectivity, DecisionCode, HoldRule, QuorumDecision, QuorumState, Reach, TakeRule } from './decide.js';
import type { LeaseStatus, LeaseView } from './lease.js';

/** The engine's quorum parts (node/engine.ts EngineQuorum has them all). */
export interface QuorumParts {
  readonly state: QuorumState;
  readonly graceMs: number;
  readonly reach?: Reach;
  readonly leases: Readonly<Record<string, LeaseView>>;
  readonly decision?: QuorumDecision;
}

export interface LeaseStatusView {
  readonly status: LeaseStatus;
  readonly reason: string;
  /** Who the arbiter said holds it, after a denial. */
  readonly holder: string | null;
  /** Held continuously for this long (unrounded); null unless held. */
  readonly heldForMs: number | null;
  /** Valid by the local deadline for this long more (unrounded, may be negative); null unless held. */
  readonly validForMs: number | null;
}

export interface GroupQuorumView {
  readonly name: string;
  readonly hold: HoldRule;
  readonly take: TakeRule;
  /** 'startup' until the first decision. */
  readonly code: DecisionCode;
  readonly reason: string;
  /** null without an arbiter. */
  readonly lease: LeaseStatusView | null;
}

export interface QuorumView {
  readonly peer: string;
  readonly arbiter: ArbiterKind;
  readonly ipfail: { readonly enabled: boolean; readonly delayMs: number; readonly dwellMs: number };
  readonly takeoverDelayMs: number;
  readonly graceMs: number;
  /** A decision has been made (false before the first engine step). */
  readonly decided: boolean;
  /** The nodes hear each other both ways. */
  readonly mutual: boolean;
  readonly connectivity: Connectivity | 'unknown';
  readonly summary: string | null;
  /** This node's reachable ping targets; null without ping targets or before the first figure. */
  readonly reach: { readonly up: number; readonly total: number } | null;
  /** Groups whose lease this node holds now. */
  readonly leasesHeld: readonly string[];
  /** In configuration order. */
  readonly groups: readonly GroupQuorumView[];
}

export function quorumView(q: QuorumParts, now: number): QuorumView {
  const d = q.decision;
  const cfg = q.state.cfg;
  return Object.freeze({
    peer: cfg.peer,
    arbiter: cfg.arbiter,
    ipfail: Object.freeze({ enabled: cfg.ipfail.enabled, delayMs: cfg.ipfail.delayMs, dwellMs: cfg.ipfail.dwellMs }),
    takeoverDelayMs: cfg.takeoverDelayMs,
    graceMs: q.graceMs,
    decided: d !== undefined,
    mutual: d?.mutual ?? false,
    connectivity: d?.connectivity ?? 'unknown',
    summary: d?.summary ?? null,
    reach: q.reach ? Object.freeze({ up: q.reach.up, total: q.reach.total }) : null,
    leasesHeld: Object.freeze(Object.entries(q.leases).filter(([, l]) => l.status === 'held').map(([g]) => g)),
    groups: Object.freeze(cfg.groups.map((g) => {
      const gd = d?.groups[g];
      const l = q.leases[g];
      const held = l?.status === 'held';
      return Object.freeze({
        name: g,
        hold: gd?.hold ?? 'normal', take: gd?.take ?? 'normal', code: gd?.code ?? 'startup', reason: gd?.reason ?? '',
        lease: cfg.arbiter === 'none' ? null : Object.freeze({
          status: l?.status ?? 'idle',
          reason: l?.reason ?? 'not wanted',
          holder: l?.holder ?? null,
          heldForMs: held && l.since !== undefined ? now - l.since : null,
          validForMs: held && l.until !== undefined ? l.until - now : null,
        }),
      });
    })),
  });
}
