// What an operator (status, metrics, the day-2 commands, path notify) may
// know of membership: plain, frozen data built fresh from the state. Readers
// outside the engine never hold MembershipState itself (node/view.ts).

import type { MembershipState, PeerLiveness } from './machine.js';

/** The peer's newest report, as it said it (copied: a reader cannot edit the machine's). */
export interface PeerReportView {
  readonly status: string;
  readonly hold: readonly string[];
  readonly yielding: readonly string[];
  readonly failed: readonly string[];
  /** Groups it hands to this node (tg_standby); null = it does not say (Heartbeat). */
  readonly standby: readonly string[] | null;
  /** Its reachable ping targets (tg_ping); null = not reported. */
  readonly reach: { readonly up: number; readonly total: number } | null;
  /** Whether it hears this node (tg_hears); null = not reported. */
  readonly hearsMe: boolean | null;
  /** The peer runs Heartbeat (no tg_hold): its holdings come from its t=resource messages (EngineView.peerHolds). */
  readonly heartbeat: boolean;
}

export interface PeerView {
  readonly name: string;
  readonly liveness: PeerLiveness;
  /** The peer generation this node accepts (highest seen); null before any. */
  readonly generation: number | null;
  /** now - last accepted message, unrounded; null = never heard. */
  readonly lastHeardMsAgo: number | null;
  readonly report: PeerReportView | null;
}

export interface PathView {
  readonly name: string;
  readonly up: boolean;
  readonly lastHeardMsAgo: number | null;
  readonly accepted: number;
  readonly stale: number;
}

export interface MembershipView {
  readonly self: string;
  readonly peer: PeerView;
  /** In configuration order. */
  readonly paths: readonly PathView[];
  readonly drops: { readonly replay: number; readonly foreign: number; readonly jump: number; readonly unconfirmed: number };
}

const since = (now: number, t: number | undefined) => (t === undefined ? null : now - t);

export function membershipView(m: MembershipState, now: number): MembershipView {
  const p = m.peer;
  const r = p.report;
  return Object.freeze({
    self: m.cfg.self,
    peer: Object.freeze({
      name: m.cfg.peer,
      liveness: p.liveness,
      generation: p.generation ?? null,
      lastHeardMsAgo: since(now, p.lastHeard),
      report: r ? Object.freeze({
        status: r.status,
        hold: Object.freeze([...r.hold]),
        yielding: Object.freeze([...r.yielding]),
        failed: Object.freeze([...r.failed]),
        standby: r.standby ? Object.freeze([...r.standby]) : null,
        reach: r.reach ? Object.freeze({ up: r.reach.up, total: r.reach.total }) : null,
        hearsMe: r.hearsMe ?? null,
        heartbeat: r.heartbeat === true,
      }) : null,
    }),
    paths: Object.freeze(Object.entries(m.paths).map(([name, s]) => Object.freeze({
      name, up: s.up, lastHeardMsAgo: since(now, s.lastHeard), accepted: s.accepted, stale: s.stale,
    }))),
    drops: Object.freeze({ replay: m.drops.replay, foreign: m.drops.foreign, jump: m.drops.jump, unconfirmed: m.drops.unconfirmed }),
  });
}
