// A thin adapter that runs one lease machine per group against a backend
// (tandem's arbiter or etcd), all groups through one runtime Driver (one
// timer) on a Clock: real timers in the daemon, simulated time in the
// simulator, which runs this very class. It decides nothing: lease.ts does.
// The daemon tells it what it wants and what it knows; it reports
// lease-held / lease-lost so the daemon can re-run the quorum decision.

import { Driver, type Clock, type Machine } from '../runtime/driver.js';
import { nodeClock } from '../runtime/node-clock.js';
import { UserError } from '../util/errors.js';
import { replyEvent, type BackendReply, type LeaseBackend, type RequestContext } from './backend.js';
import {
  initLease, leaseConfigProblems, leaseDeadline, leaseStep, leaseView,
  type LeaseAction, type LeaseConfig, type LeaseEvent, type LeaseState, type LeaseView,
} from './lease.js';

export type LeaseDriverEvent =
  | { kind: 'lease-held'; group: string; until: number }
  | { kind: 'lease-lost'; group: string; reason: string };

export interface LeaseDriverOptions {
  leases: LeaseConfig[];    // one per group
  /**
   * Called from inside the driver's step (as an effect): it must not step
   * the engine synchronously when the engine may be the caller (update() is
   * an engine action); the daemon queues a microtask, the simulator a tick.
   * Calls back into this driver from here are queued, not nested.
   */
  onEvent: (ev: LeaseDriverEvent) => void;
  now?: () => number;       // monotonic ms; default performance.now
  clock?: Clock;            // timers and time; default nodeClock(now)
}

/** One event for one group's machine; without `group`, for every group (the timer's tick). */
interface GroupEvent { group?: string; ev: LeaseEvent }

const TICK: GroupEvent = { ev: { kind: 'tick' } };

/** Every group's lease machine as one Machine: the earliest deadline of any, a tick steps them all. */
const LEASES: Machine<Map<string, LeaseState>, GroupEvent, LeaseAction> = {
  step(machines, e, now) {
    if (e.group !== undefined) {
      const m = machines.get(e.group);
      return m ? leaseStep(m, e.ev, now) : [];
    }
    const out: LeaseAction[] = [];
    for (const m of machines.values()) out.push(...leaseStep(m, e.ev, now));
    return out;
  },
  deadline(machines) {
    let t = Infinity;
    for (const m of machines.values()) t = Math.min(t, leaseDeadline(m));
    return t;
  },
  tick: TICK,
};

const NO_CONTEXT: RequestContext = { holds: false, peerHeard: false, peerHolds: false, reach: 0, reachTotal: 0, graceMs: 0 };

export class LeaseDriver {
  private backend?: LeaseBackend;
  private readonly machines = new Map<string, LeaseState>();
  private readonly contexts = new Map<string, RequestContext>();
  private readonly clock: Clock;
  private readonly driver: Driver<Map<string, LeaseState>, GroupEvent, LeaseAction>;
  private leaving = false;
  /** Every request and grant as it happened (monotonic ms); for status output and tests. */
  readonly history: Array<{ at: number; group: string; what: 'request' | 'granted' | 'denied' | 'lost' | 'release'; detail?: string }> = [];
  private readonly historyKeep = 200;

  constructor(private readonly o: LeaseDriverOptions) {
    this.clock = o.clock ?? nodeClock(o.now);
    for (const c of o.leases) {
      const p = leaseConfigProblems(c);
      if (p.length) throw new UserError(`lease for ${c.group}: ${p.join('; ')}`);
      this.machines.set(c.group, initLease(c));
    }
    this.driver = new Driver(LEASES, this.machines, this.clock, (a) => this.act(a));
  }

  /** Connects the backend (whose onReply must call this.onReply). */
  attach(backend: LeaseBackend): void {
    this.backend = backend;
    this.driver.tick();
  }

  /** What to want for a group, and what to tell the arbiter with the next request. */
  update(group: string, want: boolean, ctx: RequestContext): void {
    this.contexts.set(group, ctx);
    this.step(group, { kind: 'want', want });
  }

  onReply(r: BackendReply): void {
    this.record(r.group, r.outcome, r.outcome === 'denied' ? r.reason : `${r.ttlMs} ms`);
    this.step(r.group, replyEvent(r));
  }

  view(group: string): LeaseView | undefined {
    const m = this.machines.get(group);
    return m ? leaseView(m) : undefined;
  }

  views(): Record<string, LeaseView> {
    const out: Record<string, LeaseView> = {};
    for (const [g, m] of this.machines) out[g] = leaseView(m);
    return out;
  }

  /** Gives every lease (or those `only` names) up (graceful shutdown: `leaving` lets the arbiter hand them on at once). */
  releaseAll(opts: { leaving: boolean; only?: readonly string[] }): void {
    this.leaving = opts.leaving;
    for (const g of opts.only ?? this.machines.keys()) this.step(g, { kind: 'want', want: false });
  }

  /** Stops the timer; does not release anything (that is releaseAll). */
  close(): void {
    this.driver.close();
  }

  private step(group: string, ev: LeaseEvent): void {
    if (this.machines.has(group)) this.driver.submit({ group, ev });
  }

  private act(a: LeaseAction): void {
    switch (a.kind) {
      case 'send-request': {
        const m = this.machines.get(a.group)!;
        this.record(a.group, 'request', `attempt ${a.attempt}${a.renew ? ' (renewal)' : ''}`);
        this.backend?.request({ ...(this.contexts.get(a.group) ?? NO_CONTEXT), group: a.group, attempt: a.attempt, ttlMs: m.cfg.ttlMs });
        return;
      }
      case 'send-release':
        this.record(a.group, 'release');
        this.backend?.release(a.group, { leaving: this.leaving });
        return;
      case 'lease-held':
        this.o.onEvent({ kind: 'lease-held', group: a.group, until: a.until });
        return;
      case 'lease-lost':
        this.record(a.group, 'lost', a.reason);
        this.o.onEvent({ kind: 'lease-lost', group: a.group, reason: a.reason });
        return;
    }
  }

  private record(group: string, what: LeaseDriver['history'][number]['what'], detail?: string): void {
    this.history.push({ at: this.clock.now(), group, what, ...(detail !== undefined ? { detail } : {}) });
    if (this.history.length > this.historyKeep) this.history.shift();
  }
}
