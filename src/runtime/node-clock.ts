// The daemon's and the arbiter's Clock: performance.now, and timers on a
// timerfd (tandem-native) or, without the addon, setTimeout.
//
// libuv's timers have millisecond resolution against a cached loop time: a
// deadline fired 1-4 ms late, a large part of a 36 ms VRRP Master_Down
// interval. A CLOCK_MONOTONIC timerfd wakes epoll within microseconds, at no
// more CPU than setTimeout (npm run bench:timers).

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { TimerHandle } from 'tandem-native';
import type { Clock, Timer } from './driver.js';

type Native = {
  timerOpen(onFire: (error?: string) => void): TimerHandle;
  timerSet(h: TimerHandle, delayMs: number): void;
  timerClose(h: TimerHandle): void;
};

/** The addon's timer functions, or undefined when it is not built (then setTimeout). */
const native: Native | undefined = (() => {
  try {
    const m = createRequire(import.meta.url)('tandem-native') as Partial<Native>;
    return typeof m.timerOpen === 'function' ? m as Native : undefined;
  } catch {
    return undefined;
  }
})();

export type TimerKind = 'timerfd' | 'setTimeout';

/**
 * How far ahead of a precise deadline the timer wakes. Waking from epoll costs ~0.1 ms on a virtual machine even in
 * C (a timerfd's median lateness here, any policy), and reaching JavaScript ~0.1 ms more: a backup that wakes this
 * much early and then turns the event loop until the deadline (reading its sockets each turn, so an advert that
 * arrives meanwhile still counts) takes over at the deadline itself. Only a deadline that is about to be reached
 * costs the turns: one that an advert moves later is re-armed as any other.
 */
export const PRECISE_LEAD_MS = 0.3;

/** What nodeClock uses by default here. */
export const defaultTimerKind: TimerKind = native ? 'timerfd' : 'setTimeout';

/** A one-shot wake-up `delayMs` from now; arming again replaces it. */
interface Alarm {
  arm(delayMs: number): void;
  /** Disarmed and its resources released; it may be armed again. */
  disarm(): void;
}

class TimeoutAlarm implements Alarm {
  private handle?: NodeJS.Timeout;
  constructor(private readonly expired: () => void) {}
  arm(delayMs: number): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = setTimeout(() => {
      this.handle = undefined;
      this.expired();
    }, Math.max(1, Math.ceil(delayMs)));
  }
  disarm(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

/**
 * The fd exists from the first arm to disarm (Timer.clear, which Driver.close
 * calls): a timer that is never armed holds none, and a dropped Driver that
 * was closed leaks none. After firing it stays open, disarmed and not keeping
 * the process alive, for the re-arm that follows (the driver sets or clears).
 */
class TimerfdAlarm implements Alarm {
  private h?: TimerHandle;
  /** Used instead when no timerfd could be had (EMFILE, ENOMEM): late, but a deadline is never lost. */
  private fallback?: TimeoutAlarm;
  constructor(private readonly n: Native, private readonly expired: () => void) {}
  arm(delayMs: number): void {
    if (!this.h && !this.fallback) {
      try {
        // A failed read or poll counts as the expiry: the timer re-checks the clock.
        this.h = this.n.timerOpen(() => this.expired());
      } catch (e) {
        warnOnce(`timerfd unavailable, this timer uses setTimeout (ms resolution): ${e instanceof Error ? e.message : String(e)}`);
        this.fallback = new TimeoutAlarm(this.expired);
      }
    }
    if (this.h) this.n.timerSet(this.h, delayMs);
    else this.fallback!.arm(delayMs);
  }
  disarm(): void {
    if (this.h) this.n.timerClose(this.h);
    this.h = undefined;
    this.fallback?.disarm();
    this.fallback = undefined;
  }
}

let warned = false;
function warnOnce(msg: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(msg, 'TandemTimerWarning');
}

class NodeTimer implements Timer {
  private readonly alarm: Alarm;
  /** When the armed alarm fires (Infinity: not armed). */
  private armedAt = Infinity;
  /** The deadline asked for: armedAt, or later. */
  private want = Infinity;
  private fire?: () => void;
  private precise = false;
  /** An event-loop turn is queued to look at the deadline again (a precise one is near). */
  private turning = false;

  constructor(private readonly now: () => number, kind: TimerKind) {
    const expired = (): void => this.expired();
    this.alarm = kind === 'timerfd' && native ? new TimerfdAlarm(native, expired) : new TimeoutAlarm(expired);
  }

  set(at: number, fire: () => void, precise = false): void {
    this.fire = fire;
    this.want = at;
    this.precise = precise;
    // Most steps (every heartbeat heard) move the deadline later or leave it:
    // the armed alarm stays and comes back for the rest, rather than a re-arm
    // per datagram (a syscall, or a clearTimeout and a setTimeout).
    if (this.armedAt <= at) return;
    this.arm(at);
  }

  clear(): void {
    this.alarm.disarm();
    this.armedAt = this.want = Infinity;
  }

  private arm(at: number): void {
    this.armedAt = at;
    this.alarm.arm(at - this.now() - (this.precise ? PRECISE_LEAD_MS : 0));
  }

  private expired(): void {
    if (this.armedAt === Infinity) return;
    // Never before the deadline: setTimeout may fire up to ~1 ms early, a
    // precise deadline wakes early on purpose, and `now` need not be
    // CLOCK_MONOTONIC (Date.now in tests).
    const due = Math.max(this.want, this.armedAt);
    const now = this.now();
    if (now < due) {
      if (this.precise && due - now <= PRECISE_LEAD_MS) {
        // setImmediate, not a loop: each turn polls the sockets (with no wait), so what arrives now is stepped first.
        if (!this.turning) {
          this.turning = true;
          setImmediate(() => { this.turning = false; this.expired(); });
        }
        return;
      }
      this.arm(due);
      return;
    }
    this.armedAt = this.want = Infinity;
    this.fire?.();
  }
}

/** `timers` picks the implementation (default: timerfd when the addon is built). */
export function nodeClock(now: () => number = () => performance.now(), timers: TimerKind = defaultTimerKind): Clock {
  return { now, timer: () => new NodeTimer(now, timers) };
}
