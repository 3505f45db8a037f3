// Wires the split-brain guard of VRRP units run beside a pair (`run -c -f`
// with `vrrp_guard` in ha.cf): a unit's wants go to its arbiter lease
// (`vrrp:UNIT`, in the pair's lease driver, so the same arbiter or etcd and
// the same safety margins), and the verdict (vrrp/guard.ts) from the lease,
// the ping reach and the fencing phase goes back to the VRRP runtime
// whenever it changes. It decides nothing itself.

import type { RequestContext } from '../quorum/backend.js';
import type { LeaseView } from '../quorum/lease.js';
import { guardVerdict, type GuardInputs } from '../vrrp/guard.js';
import type { VrrpRuntime } from '../vrrp/runtime.js';

/** The lease key of a guarded unit: never a haresources group name (those cannot hold ':' and a VRRP name together by accident). */
export const vrrpLeaseKey = (unit: string) => `vrrp:${unit}`;

export interface VrrpGuardSources {
  units: readonly string[];
  peer: string;
  /** Which guards ha.cf configures. */
  arbiter: boolean;
  ping: boolean;
  fencing: boolean;
  /** How long a grant to a node that does not hold the unit waits at the arbiter (lease safety). */
  graceMs: number;
  /** Late-bound: each exists only once the daemon has opened it. */
  runtime: () => VrrpRuntime | undefined;
  leases: () => { update(group: string, want: boolean, ctx: RequestContext): void; view(group: string): LeaseView | undefined } | undefined;
  reach: () => { up: number; total: number };
  engine: () => { peerUp: boolean; fencing: { phase: string; mayTakeOver: boolean; reason: string } | undefined } | undefined;
  log: (level: 'info' | 'warn', message: string) => void;
}

export class VrrpGuardLink {
  private readonly wants = new Map<string, boolean>();
  private readonly told = new Map<string, string>();
  private readonly sentCtx = new Map<string, string>();
  private closed = false;

  get pinging(): boolean { return this.o.ping; }

  constructor(private readonly o: VrrpGuardSources) {
    for (const u of o.units) this.wants.set(u, false);
  }

  /** From the VRRP host: the unit wants MASTER (ask for its lease) or no longer does (its VIPs are off). */
  want(unit: string, want: boolean, reason: string): void {
    if (this.closed || !this.wants.has(unit)) return;
    this.wants.set(unit, want);
    this.o.log('info', `vrrp guard: ${unit} ${want ? 'wants' : 'no longer wants'} MASTER (${reason})`);
    this.reevaluate();
  }

  /** After any change in what the verdict reads: a lease event, ping reach, the peer's liveness or fencing. */
  reevaluate(): void {
    const rt = this.o.runtime();
    if (this.closed || !rt) return;
    const leases = this.o.leases();
    const reach = this.o.reach();
    const engine = this.o.engine();
    const sendCtx = (unit: string, master: boolean) => {
      if (!this.o.arbiter || !leases) return;
      const ctx: RequestContext = {
        holds: master, peerHeard: engine?.peerUp ?? false, peerHolds: false,
        reach: reach.up, reachTotal: reach.total, graceMs: this.o.graceMs,
      };
      // Only on a change: each update steps the lease machine.
      const sig = `${this.wants.get(unit)}|${JSON.stringify(ctx)}`;
      if (this.sentCtx.get(unit) === sig) return;
      this.sentCtx.set(unit, sig);
      leases.update(vrrpLeaseKey(unit), this.wants.get(unit) ?? false, ctx);
    };
    for (const unit of this.o.units) {
      const master = rt.unitIsMaster(unit);
      sendCtx(unit, master);
      const lv = this.o.arbiter ? leases?.view(vrrpLeaseKey(unit)) : undefined;
      const inputs: GuardInputs = {
        unit, master,
        ...(this.o.arbiter ? { lease: { held: lv?.status === 'held', status: lv?.status ?? 'not open yet', reason: lv?.reason ?? 'the lease driver is not open yet' } } : {}),
        ...(this.o.ping ? { ping: reach } : {}),
        ...(this.o.fencing ? {
          fencing: {
            peer: this.o.peer, peerUp: engine?.peerUp ?? false, mayTakeOver: engine?.fencing?.mayTakeOver ?? false,
            phase: engine?.fencing?.phase ?? 'not started', reason: engine?.fencing?.reason ?? 'the pair is not running yet',
          },
        } : {}),
      };
      const v = guardVerdict(inputs);
      const sig = `${v.allowed}|${v.reason}`;
      if (this.told.get(unit) === sig) continue;
      this.told.set(unit, sig);
      rt.guard(unit, v.allowed, v.reason);
      // The answer may have made it MASTER (or not): renewals say so to the arbiter.
      sendCtx(unit, rt.unitIsMaster(unit));
    }
  }

  close(): void {
    this.closed = true;
  }
}
