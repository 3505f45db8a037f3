// What the lease machines need from an arbiter, whichever it is: tandem's
// own (arbiter-client.ts) or etcd (etcd.ts). Requests are fire-and-forget;
// an answer, if any ever comes, arrives through the onReply callback the
// backend was opened with. A lost or late answer needs no handling here:
// lease.ts keeps its own deadline and resends.

import type { LeaseEvent } from './lease.js';

/** What this node knows when it asks; sent along so the arbiter can prefer the better node. */
export interface RequestContext {
  holds: boolean;           // this node runs the group now
  peerHeard: boolean;
  peerHolds: boolean;       // the peer's newest report lists the group
  reach: number;            // ping targets reachable from here
  reachTotal: number;       // ping targets configured (0 = none)
  graceMs: number;          // deadtime + lease safety: how long a holder without a lease may still be stopping
}

export interface BackendRequest extends RequestContext {
  group: string;
  attempt: number;          // from the lease machine's send-request action
  ttlMs: number;
}

export type BackendReply =
  | { group: string; attempt: number; outcome: 'granted'; ttlMs: number }
  | { group: string; attempt: number; outcome: 'denied'; reason: string; holder?: string; retryInMs?: number };

export interface LeaseBackend {
  readonly kind: 'arbiter' | 'etcd';
  /** Where it points, for logs and status: "10.0.0.9:7610", "etcd http://10.0.0.9:2379 /tandem". */
  readonly target: string;
  request(r: BackendRequest): void;
  /** Gives the group up; `leaving` = this node is shutting down (lets the arbiter hand it on at once). */
  release(group: string, opts: { leaving: boolean }): void;
  close(): Promise<void>;
}

/** A backend reply as the lease machine's event. */
export function replyEvent(r: BackendReply): LeaseEvent {
  if (r.outcome === 'granted') return { kind: 'granted', attempt: r.attempt, ttlMs: r.ttlMs };
  return {
    kind: 'denied', attempt: r.attempt, reason: r.reason,
    ...(r.holder !== undefined ? { holder: r.holder } : {}),
    ...(r.retryInMs !== undefined ? { retryInMs: r.retryInMs } : {}),
  };
}
