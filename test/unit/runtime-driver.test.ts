// The runtime Driver's contract, which the lease driver, the pinger, the
// arbiter and the simulator rely on: steps never nest (events submitted
// from an effect are queued and stepped right after, in order), the
// machine's deadline is re-armed after every step, and close() stops it.
// Also the adapters built on it: LeaseDriver and PingerCore on a Clock.

import { describe, expect, it } from 'vitest';
import { ARBITER_MACHINE, initArbiter, PRUNE_EVERY_MS, type ArbiterAction, type ArbiterEvent, type ArbiterRun } from '../../arbiter/machine.js';
import { PingerCore, pingerConfig } from '../../src/ping/pinger.js';
import type { BackendRequest, LeaseBackend } from '../../src/quorum/backend.js';
import { LeaseDriver, type LeaseDriverEvent } from '../../src/quorum/driver.js';
import { Driver, KeyedSerial, type Clock, type Machine } from '../../src/runtime/driver.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { processClock, type QuorumHost, type QuorumProcess } from '../../src/sim/quorum.js';
import { Rng } from '../../src/sim/rng.js';


type Ev = { kind: 'tick' } | { kind: 'msg'; n: number };
interface S { log: string[]; depth: number; maxDepth: number; due: number }

/** A machine that records its steps, how deeply they nest, and asks for a tick at `due`. */
const RECORDER: Machine<S, Ev, string> = {
  step(s, e, now) {
    s.depth += 1;
    s.maxDepth = Math.max(s.maxDepth, s.depth);
    s.log.push(`${e.kind === 'tick' ? 'tick' : `msg${e.n}`}@${now}`);
    s.depth -= 1;
    return e.kind === 'msg' ? [`a${e.n}`, `b${e.n}`] : ['t'];
  },
  deadline: (s) => s.due,
  tick: { kind: 'tick' },
};

describe('runtime Driver', () => {
  it('never nests steps: events submitted by an effect run after the step\'s remaining effects, in submission order', () => {
    const clock = new ManualClock();
    const s: S = { log: [], depth: 0, maxDepth: 0, due: Infinity };
    const effects: string[] = [];
    const d: Driver<S, Ev, string> = new Driver(RECORDER, s, clock, (a) => {
      effects.push(a);
      // An executor that learns something at once, twice.
      if (a === 'a1') {
        d.submit({ kind: 'msg', n: 2 });
        d.submit({ kind: 'msg', n: 3 });
      }
    });
    d.submit({ kind: 'msg', n: 1 });
    expect(s.maxDepth).toBe(1);
    expect(s.log).toEqual(['msg1@0', 'msg2@0', 'msg3@0']);
    expect(effects).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    expect(d.steps).toBe(3);
  });

  it('arms the machine\'s deadline after every step, replacing the previous one, and none for Infinity', () => {
    const clock = new ManualClock();
    const s: S = { log: [], depth: 0, maxDepth: 0, due: 100 };
    const d = new Driver(RECORDER, s, clock, () => undefined);
    d.submit({ kind: 'msg', n: 1 });
    expect(clock.next).toBe(100);
    s.due = 50;
    d.submit({ kind: 'msg', n: 2 });
    expect(clock.next).toBe(50);
    expect(clock.pending).toBe(1);
    // At the deadline the machine gets its tick, and the next deadline is armed.
    s.due = 120;
    clock.advance(60);
    expect(s.log).toEqual(['msg1@0', 'msg2@0', 'tick@50']);
    expect(clock.next).toBe(120);
    s.due = Infinity;
    d.tick();
    expect(clock.pending).toBe(0);
  });

  it('onDeadline delays the tick until the host is ready, and drops it when a step ran in between', () => {
    const clock = new ManualClock();
    const s: S = { log: [], depth: 0, maxDepth: 0, due: 10 };
    const ready: Array<() => void> = [];
    const d = new Driver(RECORDER, s, clock, () => undefined, { onDeadline: (fire) => ready.push(fire) });
    d.submit({ kind: 'msg', n: 1 });
    s.due = 20;
    clock.advance(10);
    expect(s.log).toEqual(['msg1@0']);
    ready.shift()!();
    expect(s.log).toEqual(['msg1@0', 'tick@10']);
    clock.advance(20);
    d.submit({ kind: 'msg', n: 2 });   // a heartbeat read first: it did the tick's work
    ready.shift()!();
    expect(s.log).toEqual(['msg1@0', 'tick@10', 'msg2@20']);
  });

  it('close() stops the timer, drops queued events and ignores later ones', () => {
    const clock = new ManualClock();
    const s: S = { log: [], depth: 0, maxDepth: 0, due: 10 };
    const effects: string[] = [];
    const d: Driver<S, Ev, string> = new Driver(RECORDER, s, clock, (a) => {
      effects.push(a);
      if (a === 'a1') {
        d.submit({ kind: 'msg', n: 2 });
        d.close();
      }
    });
    d.submit({ kind: 'msg', n: 1 });
    expect(effects).toEqual(['a1']);
    expect(clock.pending).toBe(0);
    clock.advance(100);
    d.submit({ kind: 'msg', n: 3 });
    expect(s.log).toEqual(['msg1@0']);
    expect(d.isClosed).toBe(true);
  });
});

const LEASE = { group: 'g', ttlMs: 3000, renewFraction: 1 / 3, driftMargin: 0.01, safetyMs: 300, retryMs: 300 };

class Recorder implements LeaseBackend {
  readonly kind = 'arbiter' as const;
  readonly target = 'test';
  readonly requests: Array<BackendRequest & { at: number }> = [];
  readonly releases: string[] = [];
  constructor(private readonly clock: Clock) {}
  request(r: BackendRequest): void { this.requests.push({ ...r, at: this.clock.now() }); }
  release(group: string): void { this.releases.push(group); }
  close(): Promise<void> { return Promise.resolve(); }
}

describe('LeaseDriver on a Clock', () => {
  it('asks, renews at a third of the TTL, and reports the lease lost at its local deadline when no renewal is answered', () => {
    const clock = new ManualClock();
    clock.t = 1000;
    const events: Array<LeaseDriverEvent & { at: number }> = [];
    const d = new LeaseDriver({ leases: [LEASE], clock, onEvent: (ev) => events.push({ ...ev, at: clock.now() }) });
    const b = new Recorder(clock);
    d.attach(b);
    d.update('g', true, { holds: false, peerHeard: true, peerHolds: false, reach: 1, reachTotal: 1, graceMs: 500 });
    expect(b.requests.map((r) => [r.at, r.attempt, r.graceMs])).toEqual([[1000, 1, 500]]);
    clock.advance(1010);
    d.onReply({ group: 'g', attempt: 1, outcome: 'granted', ttlMs: 3000 });
    expect(events).toEqual([{ kind: 'lease-held', group: 'g', until: 1000 + 3000 * 0.99 - 300, at: 1010 }]);
    // The driver's timer: renewal at sent + TTL/3, then retries every retryMs, then lost at the local deadline.
    clock.advance(10_000);
    const at = b.requests.map((r) => r.at);
    expect(at.filter((t) => t <= 3670)).toEqual([1000, 2000, 2300, 2600, 2900, 3200, 3500, 3670]);
    // Still wanted after the loss: asking again every retryMs.
    expect(at.slice(8, 11)).toEqual([3970, 4270, 4570]);
    const lost = events.find((e) => e.kind === 'lease-lost');
    expect(lost?.at).toBe(1000 + 3000 * 0.99 - 300);
    d.close();
    expect(clock.pending).toBe(0);
  });

  it('an update made from onEvent is stepped after the report, not inside it', () => {
    const clock = new ManualClock();
    const b = new Recorder(clock);
    const order: string[] = [];
    const d: LeaseDriver = new LeaseDriver({
      leases: [LEASE], clock,
      onEvent: (ev) => {
        order.push(`event ${ev.kind}`);
        // The engine reacting at once: give the group up.
        d.update('g', false, { holds: false, peerHeard: true, peerHolds: false, reach: 0, reachTotal: 0, graceMs: 0 });
        order.push(`after update: ${d.view('g')!.status}`);
      },
    });
    d.attach(b);
    d.update('g', true, { holds: false, peerHeard: true, peerHolds: false, reach: 0, reachTotal: 0, graceMs: 0 });
    d.onReply({ group: 'g', attempt: 1, outcome: 'granted', ttlMs: 3000 });
    // Nested, the update would have run inside the report and shown 'idle' already.
    expect(order).toEqual(['event lease-held', 'after update: held']);
    expect(d.view('g')!.status).toBe('idle');
    expect(b.releases).toEqual(['g']);
  });
});

describe('PingerCore on a Clock', () => {
  const spec = { targets: [{ name: 'gw', addrs: ['10.0.0.1'] }], intervalMs: 1000, deadpingMs: 3000 };

  it('probes every interval through send, is up after two answers and down after deadping without', () => {
    const clock = new ManualClock();
    const sent: Array<[number, string, number]> = [];
    const changes: string[] = [];
    let answer = true;
    const p: PingerCore = new PingerCore({
      cfg: pingerConfig(spec).cfg, clock,
      send: (addr, seq) => {
        sent.push([clock.now(), addr, seq]);
        if (answer) p.reply(addr, seq);   // an echo that is already there: queued, not nested
      },
      onChange: (c) => changes.push(`${c.kind} ${c.name} ${c.status}@${clock.now()} ${c.reach.up}/${c.reach.total}`),
    });
    p.start();
    clock.advance(1000);
    expect(sent.map((s) => s[0])).toEqual([0, 1000]);
    expect(changes).toEqual(['addr-status 10.0.0.1 up@1000 1/1', 'target-status gw up@1000 1/1']);
    answer = false;
    clock.advance(4500);
    expect(changes.slice(2)).toEqual(['addr-status 10.0.0.1 down@4000 0/1', 'target-status gw down@4000 0/1']);
    p.close();
    expect(clock.pending).toBe(0);
  });

  it('a send error counts the probe lost at once, stepped after the probe\'s step', () => {
    const clock = new ManualClock();
    const p = new PingerCore({ cfg: pingerConfig(spec).cfg, clock, send: () => new Error('EHOSTUNREACH') });
    p.start();
    expect(p.sendErrors).toBe(1);
    expect(p.stats()[0]!.addrs[0]).toMatchObject({ sent: 1, lost: 1 });
  });
});

describe('the arbiter machine under the Driver', () => {
  it('ticks (and so prunes) at least every PRUNE_EVERY_MS, however often requests come, and at a grant\'s expiry', () => {
    const clock = new ManualClock();
    const run: ArbiterRun = { arb: initArbiter({ grants: [], nonces: [] }, 0), lastTickAt: 0 };
    const acts: ArbiterAction[] = [];
    const d = new Driver<ArbiterRun, ArbiterEvent, ArbiterAction>(ARBITER_MACHINE, run, clock, (a) => acts.push(a));
    d.tick();
    const ticks: number[] = [];
    let seq = 0;
    for (let t = 100; t <= 3000; t += 100) {
      clock.advance(t);
      if (run.lastTickAt !== ticks[ticks.length - 1] && run.lastTickAt > 0) ticks.push(run.lastTickAt);
      // A request every 100 ms: re-arming after each must not push the prune tick away.
      d.submit({
        kind: 'request', from: '10.0.0.1:1',
        req: { t: 'req', op: 'acquire', cluster: 'c', node: 'a', group: 'g', gen: 1, seq: ++seq, ttlMs: 2500, graceMs: 0, holds: true, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1 },
      });
    }
    expect(ticks).toEqual([PRUNE_EVERY_MS, 2 * PRUNE_EVERY_MS, 3 * PRUNE_EVERY_MS]);
    expect(acts.some((a) => a.kind === 'reply' && a.reply.outcome === 'granted')).toBe(true);
    // No more requests: the grant (renewed at 3000 for 2500 ms) expires on time, a tick at its expiry.
    clock.advance(5500);
    expect(run.arb.grants.size).toBe(0);
    expect(run.lastTickAt).toBe(5500);
  });
});

describe('the simulator\'s process clock', () => {
  /** A host running `after` callbacks in time order, and a process that can crash and freeze. */
  function world() {
    const calls: Array<{ at: number; fn: () => boolean }> = [];
    const host: QuorumHost = {
      t: 0, qrng: new Rng(1, 6), note: () => undefined,
      after(delayMs, fn) { calls.push({ at: host.t + delayMs, fn }); },
    };
    const deferred: Array<() => void> = [];
    const proc = {
      ix: 0 as const, generation: 1, inc: 1, up: true, paused: false,
      alive(inc: number) { return this.up && this.inc === inc; },
      whenRunning(fn: () => void) { if (!this.paused) { fn(); return true; } deferred.push(fn); return false; },
      localNow: () => host.t * 2 + 7,   // a clock twice as fast, not starting at zero
      delayTo(deadline: number) { return Math.max(1, Math.ceil((deadline - this.localNow()) / 2)); },
      quorumInput: () => undefined, sendToArbiter: () => undefined, targetAnswers: () => true,
    };
    const run = (until: number) => {
      for (;;) {
        calls.sort((a, b) => a.at - b.at);
        const c = calls[0];
        if (!c || c.at > until) break;
        calls.shift();
        (host as { t: number }).t = c.at;
        c.fn();
      }
      (host as { t: number }).t = until;
    };
    return { host, proc, run, deferred, proc2: proc as typeof proc & QuorumProcess };
  }

  it('fires at the process clock\'s deadline, never early; a reset or cleared timer does not fire', () => {
    const w = world();
    const clock = processClock(w.host, w.proc2);
    const fired: number[] = [];
    const t1 = clock.timer();
    t1.set(27, () => fired.push(clock.now()));
    t1.set(47, () => fired.push(clock.now()));
    const t2 = clock.timer();
    t2.set(30, () => fired.push(-1));
    t2.clear();
    w.run(100);
    expect(fired).toEqual([47]);
  });

  it('a timer of a crashed incarnation never fires; one due while frozen fires on resume', () => {
    const w = world();
    const clock = processClock(w.host, w.proc2);
    const fired: string[] = [];
    clock.timer().set(27, () => fired.push('old'));
    w.proc.inc = 2;   // crashed and booted again
    w.run(100);
    expect(fired).toEqual([]);
    const clock2 = processClock(w.host, w.proc2);
    clock2.timer().set(clock2.now() + 20, () => fired.push('frozen'));
    w.proc.paused = true;
    w.run(200);
    expect(fired).toEqual([]);
    w.proc.paused = false;
    for (const f of w.deferred.splice(0)) f();
    expect(fired).toEqual(['frozen']);
  });
});

describe('KeyedSerial', () => {
  it('runs one job per key at a time, in order; keys do not wait on each other; every idle waiter is called', () => {
    const q = new KeyedSerial();
    const log: string[] = [];
    const pending: Array<() => void> = [];
    const job = (name: string) => (done: () => void) => { log.push(`start ${name}`); pending.push(() => { log.push(`end ${name}`); done(); }); };
    q.run('g1', job('g1 hold'));
    q.run('g1', job('g1 start'));
    q.run('g2', job('g2 hold'));
    expect(log).toEqual(['start g1 hold', 'start g2 hold']);
    let idle = 0;
    q.whenIdle(() => { idle += 1; });
    q.whenIdle(() => { idle += 1; });
    pending.shift()!();   // g1 hold ends: g1 start begins
    expect(log.slice(2)).toEqual(['end g1 hold', 'start g1 start']);
    expect(q.idle()).toBe(false);
    pending.shift()!();
    pending.shift()!();
    expect(q.idle()).toBe(true);
    expect(idle).toBe(2);
  });
});
