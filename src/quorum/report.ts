// What each node must tell its peer in its heartbeats for quorum to work:
// how many ping targets it reaches (for ipfail) and whether it hears the
// peer (so an asymmetric link is seen as one). Two extra status fields in
// tandem's `tg_` namespace, which Heartbeat ignores:
//
//   tg_ping=<up>/<total>    tg_hears=1|0
//
// Parsing is lenient on purpose: a peer that omits them, or sends something
// odd, simply reports nothing, and quorum then treats the figure as unknown.

import type { Reach } from '../ping/tracker.js';

export const PING_FIELD = 'tg_ping';
export const HEARS_FIELD = 'tg_hears';

export interface QuorumReport {
  reach?: Reach;            // the sender's reachable ping targets
  hearsPeer?: boolean;      // the sender hears the node it sends to
}

/** The fields to add to an outgoing status message, as name/value pairs. */
export function quorumFields(r: QuorumReport): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (r.reach) out.push([PING_FIELD, `${r.reach.up}/${r.reach.total}`]);
  if (r.hearsPeer !== undefined) out.push([HEARS_FIELD, r.hearsPeer ? '1' : '0']);
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
  return out;
}
