// The split-brain guard's verdict for one guarded VRRP unit (an instance
// outside sync groups, or a sync group), as a pure function of what the
// node knows: its arbiter lease for the unit, its ping reach and the
// fencing policy's phase (docs/vrrp.md, "Split-brain guard").
//
//  - With an arbiter (tandem's or etcd), the lease rules both becoming and
//    staying MASTER: a MASTER whose lease is lost steps down at once, before
//    the arbiter can grant it to the peer (quorum/lease.ts keeps that local
//    deadline). This is what makes "never two masters" hold.
//  - Ping nodes and fencing only gate *becoming* MASTER, as they gate a
//    haresources takeover: a master does not step down because its peer
//    died (fencing starts then) or a gateway stopped answering.
//  - Without the lease rule nothing stops two masters in a clean cut
//    between the nodes that both still reach the gateway: check-config
//    requires something to guard with, and docs say which gives what.

import type { Gate } from './instance.js';

export interface GuardInputs {
  unit: string;
  /** The unit has a MASTER member now. */
  master: boolean;
  /** undefined: no arbiter configured. */
  lease?: { held: boolean; status: string; reason: string };
  /** undefined: no ping nodes configured. */
  ping?: { up: number; total: number };
  /** undefined: no fencing configured. */
  fencing?: { peer: string; peerUp: boolean; mayTakeOver: boolean; phase: string; reason: string };
}

export function guardVerdict(i: GuardInputs): Gate {
  const ok: string[] = [];
  if (i.lease) {
    if (!i.lease.held) return { allowed: false, reason: `no lease for vrrp:${i.unit} (${i.lease.status}: ${i.lease.reason})` };
    ok.push(`lease vrrp:${i.unit} held`);
  }
  if (!i.master) {
    if (i.ping) {
      if (i.ping.up === 0) return { allowed: false, reason: `reaches none of its ${i.ping.total} ping target(s)` };
      ok.push(`${i.ping.up}/${i.ping.total} ping target(s) reached`);
    }
    if (i.fencing) {
      const f = i.fencing;
      if (!f.peerUp && !f.mayTakeOver) return { allowed: false, reason: `${f.peer} is not heard and not confirmed off (fencing ${f.phase}: ${f.reason})` };
      ok.push(f.peerUp ? `${f.peer} is heard` : `${f.peer}: ${f.reason}`);
    }
  }
  return { allowed: true, reason: ok.join('; ') || 'nothing to check' };
}
