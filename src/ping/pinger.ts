// The pinger without its socket: the tracker (tracker.ts) run through the
// runtime Driver on a Clock, probes handed to a `send` function. icmp.ts
// gives it a raw ICMP socket and real timers; the simulator gives it
// simulated time and a modelled network. Pure: no socket, timer or clock of
// its own.

import { Driver, type Clock, type Machine } from '../runtime/driver.js';
import {
  initTracker, reach, trackerConfigProblems, trackerDeadline, trackerStats, trackerStep,
  type AddrStatus, type PingTargetSpec, type Reach, type TargetStats, type TrackerAction, type TrackerConfig,
  type TrackerEvent, type TrackerState,
} from './tracker.js';

export interface PingChange {
  kind: 'addr-status' | 'target-status';
  name: string;
  status: AddrStatus;
  detail: string;
  reach: Reach;
}

/** The options both pingers take (IcmpPinger.open adds the socket's). */
export interface PingerSpec {
  targets: PingTargetSpec[];
  intervalMs: number;
  deadpingMs: number;
  upAfter?: number;         // default 2
  timeoutMs?: number;       // default min(deadping, max(interval, 1000))
  window?: number;          // default 100
}

/** The tracker's config with the defaults filled in, and its problems (each naming the field). */
export function pingerConfig(o: PingerSpec): { cfg: TrackerConfig; problems: string[] } {
  const cfg: TrackerConfig = {
    targets: o.targets,
    intervalMs: o.intervalMs,
    deadpingMs: o.deadpingMs,
    upAfter: o.upAfter ?? 2,
    timeoutMs: o.timeoutMs ?? Math.min(o.deadpingMs, Math.max(o.intervalMs, 1000)),
    window: o.window ?? 100,
  };
  return { cfg, problems: trackerConfigProblems(cfg) };
}

const TRACKER: Machine<TrackerState, TrackerEvent, TrackerAction> = {
  step: trackerStep,
  deadline: trackerDeadline,
  tick: { kind: 'tick' },
};

export interface PingerCoreOptions {
  cfg: TrackerConfig;
  clock: Clock;
  /** Sends one echo request; an Error means this probe is lost now (EHOSTUNREACH), not after the timeout. */
  send: (addr: string, seq: number) => void | Error;
  /** Called from inside the driver's step; calls back into the pinger from here are queued, not nested. */
  onChange?: (c: PingChange) => void;
}

export class PingerCore {
  readonly state: TrackerState;
  private readonly driver: Driver<TrackerState, TrackerEvent, TrackerAction>;
  sendErrors = 0;

  constructor(private readonly o: PingerCoreOptions) {
    this.state = initTracker(o.cfg, o.clock.now());
    this.driver = new Driver(TRACKER, this.state, o.clock, (a) => this.act(a));
  }

  /** The first probes, and the timer from then on. */
  start(): void {
    this.driver.tick();
  }

  /** An echo reply that carried our identifier and token, from `addr`. */
  reply(addr: string, seq: number): void {
    this.driver.submit({ kind: 'reply', addr, seq });
  }

  reach(): Reach {
    return reach(this.state);
  }

  stats(): TargetStats[] {
    return trackerStats(this.state);
  }

  close(): void {
    this.driver.close();
  }

  get closed(): boolean {
    return this.driver.isClosed;
  }

  private act(a: TrackerAction): void {
    switch (a.kind) {
      case 'probe': {
        const err = this.o.send(a.addr, a.seq);
        if (err instanceof Error) {
          this.sendErrors += 1;
          // Submitted from inside the step: the driver steps it right after this one.
          this.driver.submit({ kind: 'send-failed', addr: a.addr, seq: a.seq, error: err.message });
        }
        return;
      }
      case 'addr-status':
        this.o.onChange?.({ kind: 'addr-status', name: a.addr, status: a.status, detail: a.detail, reach: reach(this.state) });
        return;
      case 'target-status':
        this.o.onChange?.({ kind: 'target-status', name: a.target, status: a.status, detail: a.detail, reach: reach(this.state) });
        return;
    }
  }
}
