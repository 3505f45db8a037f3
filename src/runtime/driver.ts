// One driver for every pure machine: it feeds the machine events, hands
// each effect to the host's executor in the order the machine emitted them,
// and arms the machine's next deadline on the host's clock. The daemon, the
// arbiter, the lease and ping adapters and the simulator all run their
// machines through it; what differs between them is only the Clock (real
// timers or simulated time) and the executor (sockets and disks, or the
// simulator's models of them).
//
// Pure: no timers, sockets or clocks of its own, so the simulator's host runs
// exactly this code.

/**
 * A one-shot timer at an absolute time of its clock; setting it again replaces the previous deadline.
 * `precise`: a deadline where a late wake-up costs (a takeover); the clock may wake ahead of it and keep reading
 * its sockets until it is due (node-clock.ts). Never earlier than `at` either way.
 */
export interface Timer {
  set(at: number, fire: () => void, precise?: boolean): void;
  clear(): void;
}

/** Monotonic time in ms and timers against it: performance.now and setTimeout, or the simulator's. */
export interface Clock {
  now(): number;
  timer(): Timer;
}

/** A pure machine as the driver sees it: `(state, event, now) -> effects`, and when it next needs a tick. */
export interface Machine<S, E, A> {
  step(state: S, event: E, now: number): A[];
  /** The time of the next tick the machine needs (Infinity: none). */
  deadline(state: S): number;
  /** The event a deadline delivers. */
  readonly tick: E;
  /** True when the deadline `at` is one where microseconds count (a backup's takeover): see Timer.set. */
  precise?(state: S, at: number): boolean;
}

export interface DriverOptions<E> {
  /**
   * Called when the deadline is reached, instead of stepping the tick at
   * once: the daemon first reads its sockets (a tick that judges liveness
   * must not run ahead of heartbeats queued in them). It calls `fire` when
   * ready; a step in between has already done the tick's work.
   */
  onDeadline?: (fire: () => void, at: number) => void;
  /** Sees every event before the machine does (the simulator's fault hooks, tracing). */
  event?: (e: E) => E;
}

/**
 * Runs one machine. Steps never nest: an event submitted while effects are
 * being executed (an executor that learns something at once) is queued and
 * stepped right after the current step's effects, in submission order.
 */
export class Driver<S, E, A> {
  private readonly timer: Timer;
  private stepping = false;
  private readonly queued: E[] = [];
  private closed = false;
  /** Steps taken; a host may compare it to see whether a step ran in between. */
  steps = 0;

  constructor(
    private readonly machine: Machine<S, E, A>,
    readonly state: S,
    private readonly clock: Clock,
    private readonly execute: (a: A, e: E) => void,
    private readonly opts: DriverOptions<E> = {},
  ) {
    this.timer = clock.timer();
  }

  /** Steps `e` now, or right after the step in progress. */
  submit(e: E): void {
    if (this.closed) return;
    if (this.stepping) {
      this.queued.push(e);
      return;
    }
    this.stepping = true;
    try {
      for (let next: E | undefined = e; next !== undefined && !this.closed; next = this.queued.shift()) this.stepOne(next);
    } finally {
      this.stepping = false;
      this.queued.length = 0;
    }
    this.arm();
  }

  /** A tick now (new inputs recorded in the state by an adapter take effect). */
  tick(): void {
    this.submit(this.machine.tick);
  }

  /** No more steps or timers; effects already handed out are the host's. */
  close(): void {
    this.closed = true;
    this.queued.length = 0;
    this.timer.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private stepOne(e0: E): void {
    const e = this.opts.event ? this.opts.event(e0) : e0;
    this.steps += 1;
    for (const a of this.machine.step(this.state, e, this.clock.now())) {
      if (this.closed) return;
      this.execute(a, e);
    }
  }

  private arm(): void {
    if (this.closed) return;
    const at = this.machine.deadline(this.state);
    if (!Number.isFinite(at)) {
      this.timer.clear();
      return;
    }
    this.timer.set(at, () => {
      if (this.closed) return;
      if (!this.opts.onDeadline) {
        this.tick();
        return;
      }
      const steps = this.steps;
      this.opts.onDeadline(() => {
        // A step since the deadline (a heartbeat, a reply) ticked the machine and re-armed.
        if (!this.closed && this.steps === steps) this.tick();
      }, at);
    }, this.machine.precise?.(this.state, at) ?? false);
  }
}

/**
 * Effects that must not overlap or reorder per key (a group's hold write
 * and its operations): each job starts when the previous one of its key
 * called `done`. Callback style, so the simulator runs it in simulated time.
 */
export class KeyedSerial {
  private readonly queues = new Map<string, { busy: boolean; jobs: Array<(done: () => void) => void> }>();
  private onIdle: Array<() => void> = [];

  run(key: string, job: (done: () => void) => void): void {
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, q = { busy: false, jobs: [] });
    q.jobs.push(job);
    this.next(key);
  }

  /** True when no job runs or waits. */
  idle(): boolean {
    for (const q of this.queues.values()) if (q.busy || q.jobs.length) return false;
    return true;
  }

  /** Calls `fn` once every queue has drained (at once if idle now). */
  whenIdle(fn: () => void): void {
    if (this.idle()) fn();
    else this.onIdle.push(fn);
  }

  private next(key: string): void {
    const q = this.queues.get(key)!;
    if (q.busy) return;
    const job = q.jobs.shift();
    if (!job) {
      if (this.onIdle.length && this.idle()) for (const fn of this.onIdle.splice(0)) fn();
      return;
    }
    q.busy = true;
    let called = false;
    job(() => {
      if (called) return;
      called = true;
      q.busy = false;
      this.next(key);
    });
  }
}

/**
 * The ordering contract's gate (the idea of etcd-raft's Ready: persist, then
 * send). Writes that later messages depend on are `hold()`-ed while they run;
 * `after(fn)` runs fn at once when none is pending, else when the last one
 * completes, keeping submission order. A write that fails releases the gate
 * too (its failure has its own handling); `maxWaitMs` bounds the wait, since
 * a node whose heartbeats a hung disk holds back is taken for dead while its
 * groups still run.
 */
export class DurableGate {
  private pending = 0;
  /** Bumped by an overrun: releases of writes from before it no longer count. */
  private epoch = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly timer: Timer;
  /** Times the bound released messages ahead of a write (for status). */
  overruns = 0;

  constructor(private readonly clock: Clock, private readonly maxWaitMs: number, private readonly onOverrun?: () => void) {
    this.timer = clock.timer();
  }

  /** Marks a write that later messages wait for; call the returned function when it completes or fails. */
  hold(): () => void {
    this.pending += 1;
    if (this.pending === 1) this.timer.set(this.clock.now() + this.maxWaitMs, () => this.overrun());
    let released = false;
    const epoch = this.epoch;
    return () => {
      if (released || epoch !== this.epoch) return;
      released = true;
      this.pending -= 1;
      if (this.pending === 0) this.open();
    };
  }

  after(fn: () => void): void {
    if (this.pending === 0 && this.waiting.length === 0) fn();
    else this.waiting.push(fn);
  }

  get blocked(): boolean {
    return this.pending > 0;
  }

  private overrun(): void {
    if (this.pending === 0) return;
    this.overruns += 1;
    this.pending = 0;
    this.epoch += 1;
    this.onOverrun?.();
    this.open();
  }

  private open(): void {
    this.timer.clear();
    const run = this.waiting.splice(0);
    for (const fn of run) fn();
  }
}
