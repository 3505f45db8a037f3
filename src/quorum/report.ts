// What each node must tell its peer in its heartbeats for quorum to work:
// how many ping targets it reaches (for ipfail) and whether it hears the
// peer (so an asymmetric link is seen as one). Two extra status fields in
// tandem's `tg_` namespace, which Heartbeat ignores:
//
//   tg_ping=<up>/<total>    tg_hears=1|0
//   tg_ipfail_yield=<group> <group>...   (only when ipfail leaves groups to the peer)
//
// The yield list is the handshake of an ipfail handover between two live
// nodes: the node that reaches more takes a group only once the other says
// it leaves it. Without it, each acts on its own view of the counts, and a
// preferred node still inside its ipfail delay starts the group the better
// node is starting too (simulator seed 420034641).
//
// Parsing is lenient on purpose: a peer that omits them, or sends something
// odd, simply reports nothing, and quorum then treats the figure as unknown.

import type { Reach } from '../ping/tracker.js';

export const PING_FIELD = 'tg_ping';
export const HEARS_FIELD = 'tg_hears';
export const YIELD_FIELD = 'tg_ipfail_yield';
/** A peer's list is bounded like any field from the network. */
const MAX_YIELDS = 256;

export interface QuorumReport {
  reach?: Reach;            // the sender's reachable ping targets
  hearsPeer?: boolean;      // the sender hears the node it sends to
  ipfailYields?: string[];  // groups the sender leaves to the node it sends to, by ipfail
}

/** The fields to add to an outgoing status message, as name/value pairs. */
export function quorumFields(r: QuorumReport): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (r.reach) out.push([PING_FIELD, `${r.reach.up}/${r.reach.total}`]);
  if (r.hearsPeer !== undefined) out.push([HEARS_FIELD, r.hearsPeer ? '1' : '0']);
  if (r.ipfailYields?.length) out.push([YIELD_FIELD, r.ipfailYields.join(' ')]);
  return out;
}

/** Reads the fields back from a received status message; `get` returns a field's text or undefined. */
export function parseQuorumFields(get: (name: string) => string | undefined): QuorumReport {
  const out: QuorumReport = {};
  const p = /^([0-9]{1,4})\/([0-9]{1,4})$/.exec(get(PING_FIELD) ?? '');
  if (p) {
    const up = Number(p[1]);
    const total = Number(p[2]);
    if (up <= total) out.reach = { up, total };
  }
  const h = get(HEARS_FIELD);
  if (h === '1' || h === '0') out.hearsPeer = h === '1';
  const y = get(YIELD_FIELD);
  if (y !== undefined) out.ipfailYields = y.split(/\s+/).filter(Boolean).slice(0, MAX_YIELDS);
  return out;
}
