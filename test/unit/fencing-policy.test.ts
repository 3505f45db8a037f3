// The fencing policy machine: scenarios, then fast-check properties over
// random event sequences.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { FencingConfig } from '../../src/config/stonith.js';
import {
  backoff, fencingDeadline, fencingPolicyConfig, fencingStep, initFencing, mayTakeOver,
  type FencingAction, type FencingEvent, type FencingPolicyConfig, type FencingState,
} from '../../src/fencing/policy.js';

const base: FencingPolicyConfig = {
  self: 'alpha', peer: 'beta', devices: ['ipmi beta (ha.cf:7)', 'fence_apc beta (ha.cf:8)'],
  fenceDelayMs: 7000, failurePolicy: 'wait', checkIntervalMs: 300_000, retryMs: 2000, retryMaxMs: 60_000,
  waitForAll: true, tieBreakWinner: true,
};

/** Drives one machine and keeps every action with its time. */
class Run {
  readonly s: FencingState;
  readonly log: Array<{ at: number; a: FencingAction }> = [];
  now = 0;
  constructor(cfg: Partial<FencingPolicyConfig> = {}) {
    this.s = initFencing({ ...base, ...cfg }, 0);
  }
  step(ev: FencingEvent): FencingAction[] {
    const acts = fencingStep(this.s, ev, this.now);
    for (const a of acts) this.log.push({ at: this.now, a });
    return acts;
  }
  /** Advances time to `t`, ticking at every deadline on the way. */
  until(t: number): FencingAction[] {
    const out: FencingAction[] = [];
    for (;;) {
      const d = fencingDeadline(this.s);
      if (d > t) break;
      this.now = Math.max(this.now, d);
      out.push(...this.step({ kind: 'tick' }));
    }
    this.now = t;
    return out;
  }
  kinds(acts: FencingAction[]): string[] {
    return acts.map((a) => a.kind);
  }
  fences(): Array<Extract<FencingAction, { kind: 'fence' }> & { at: number }> {
    return this.log.filter((l) => l.a.kind === 'fence').map((l) => ({ ...(l.a as Extract<FencingAction, { kind: 'fence' }>), at: l.at }));
  }
  lastFence(): Extract<FencingAction, { kind: 'fence' }> {
    const f = this.fences().at(-1);
    if (!f) throw new Error('no fence yet');
    return f;
  }
  /** Answers all pending device checks as working. */
  checksOk(): void {
    this.s.checks.forEach((c, i) => { if (c.checking) this.step({ kind: 'check-done', device: i, ok: true }); });
  }
}

const seen = (r: Run): void => { r.step({ kind: 'peer-up' }); };

describe('fencing policy: takeover only after a confirmed off', () => {
  it('the node holding the groups fences at once and takes over after the off is confirmed', () => {
    const r = new Run();
    seen(r);
    r.now = 1000;
    const acts = r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    expect(acts.filter((a) => a.kind === 'fence')).toEqual([{ kind: 'fence', id: 1, device: 0, target: 'beta' }]);
    expect(mayTakeOver(r.s)).toBe(false);
    r.now = 1150;
    const done = r.step({ kind: 'fence-done', id: 1, ok: true });
    expect(done).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'fenced' });
    expect(done).toContainEqual({ kind: 'record', entry: expect.objectContaining({ target: 'beta', result: 'ok', durationMs: 150, attempt: 1 }) });
    expect(mayTakeOver(r.s)).toBe(true);
    expect(r.s.phase).toBe('fenced');
  });

  it('the node holding fewer groups waits fence_delay first (fence race)', () => {
    const r = new Run({ tieBreakWinner: false });
    seen(r);
    r.now = 1000;
    const acts = r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 0, peerHeld: 2 });
    expect(r.kinds(acts)).not.toContain('fence');
    expect(fencingDeadline(r.s)).toBe(8000);
    expect(r.kinds(r.until(7999))).not.toContain('fence');
    expect(r.kinds(r.until(8000))).toContain('fence');
  });

  it('ties go to the first node of ha.cf; the other one waits', () => {
    for (const [winner, delayed] of [[true, false], [false, true]] as const) {
      const r = new Run({ tieBreakWinner: winner });
      seen(r);
      const acts = r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 1 });
      expect(r.kinds(acts).includes('fence')).toBe(!delayed);
    }
  });

  it('a peer heard again during the delay is not fenced', () => {
    const r = new Run({ tieBreakWinner: false });
    seen(r);
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 0, peerHeld: 1 });
    r.now = 3000;
    r.step({ kind: 'peer-up' });
    expect(r.s.phase).toBe('idle');
    expect(r.kinds(r.until(100_000))).not.toContain('fence');
    expect(r.fences()).toEqual([]);
  });

  it('a fence already running when the peer comes back is let finish and only recorded', () => {
    const r = new Run();
    seen(r);
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    const id = r.lastFence().id;
    r.step({ kind: 'peer-up' });
    const done = r.step({ kind: 'fence-done', id, ok: true });
    expect(r.kinds(done)).not.toContain('may-take-over');
    expect(done).toContainEqual({ kind: 'record', entry: expect.objectContaining({ result: 'stale' }) });
  });

  it('a peer that left gracefully is not fenced', () => {
    const r = new Run();
    seen(r);
    const acts = r.step({ kind: 'peer-dead', reason: 'left', selfHeld: 0, peerHeld: 0 });
    expect(acts).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'peer-left' });
    expect(r.kinds(acts)).not.toContain('fence');
  });

  it('without a device it takes over at once, with a warning (Heartbeat without STONITH)', () => {
    const r = new Run({ devices: [] });
    const acts = r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 0, peerHeld: 1 });
    expect(acts).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'no-fencing' });
    expect(acts).toContainEqual(expect.objectContaining({ kind: 'log', level: 'warn', message: expect.stringContaining('shared data is not protected') }));
  });
});

describe('fencing policy: failures', () => {
  it('tries the next device, then backs off, alerts, and never takes over under wait', () => {
    const r = new Run();
    seen(r);
    r.checksOk();
    r.now = 0;
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    expect(r.lastFence().device).toBe(0);
    r.now = 2000;
    const next = r.step({ kind: 'fence-done', id: r.lastFence().id, ok: false, error: 'no answer' });
    expect(next.filter((a) => a.kind === 'fence')).toEqual([{ kind: 'fence', id: 2, device: 1, target: 'beta' }]);
    r.now = 3000;
    const failed = r.step({ kind: 'fence-done', id: 2, ok: false, error: 'outlet busy' });
    const alert = failed.find((a) => a.kind === 'alert');
    expect(alert).toBeDefined();
    expect((alert as { message: string }).message).toMatch(/fencing beta failed \(round 1\): ipmi beta \(ha\.cf:7\): no answer; fence_apc beta \(ha\.cf:8\): outlet busy\. Retrying in 2000 ms\. Its groups stay down/);
    expect(r.kinds(failed)).not.toContain('may-take-over');
    expect(fencingDeadline(r.s)).toBe(5000);
    // Rounds: 2 s, 4 s, 8 s, ... capped at 60 s.
    const gaps: number[] = [];
    for (let round = 2; round <= 9; round++) {
      const before = r.now;
      r.until(fencingDeadline(r.s));
      gaps.push(r.now - before);
      for (const dev of [0, 1]) {
        expect(r.lastFence().device).toBe(dev);
        r.step({ kind: 'fence-done', id: r.lastFence().id, ok: false, error: 'down' });
      }
    }
    expect(gaps).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(mayTakeOver(r.s)).toBe(false);
    // ...until a round succeeds.
    r.until(fencingDeadline(r.s));
    const ok = r.step({ kind: 'fence-done', id: r.lastFence().id, ok: true });
    expect(ok).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'fenced' });
    expect(ok).toContainEqual(expect.objectContaining({ kind: 'log', message: expect.stringContaining('after 9 failed round(s)') }));
  });

  it('fence_failure_policy takeover takes over after the first failed round and keeps fencing', () => {
    const r = new Run({ failurePolicy: 'takeover', devices: ['ipmi beta'] });
    seen(r);
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    const acts = r.step({ kind: 'fence-done', id: r.lastFence().id, ok: false, error: 'timeout' });
    expect(acts).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'failure-policy' });
    expect((acts.find((a) => a.kind === 'alert') as { message: string }).message).toContain('WITHOUT fencing');
    r.until(fencingDeadline(r.s));
    const again = r.step({ kind: 'fence-done', id: r.lastFence().id, ok: true });
    expect(r.kinds(again)).not.toContain('may-take-over');   // once per episode
    expect(r.s.phase).toBe('fenced');
  });

  it('the operator can confirm the peer off, or ask for a retry now', () => {
    const r = new Run({ devices: ['ipmi beta'] });
    seen(r);
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    r.now = 100;
    r.step({ kind: 'fence-done', id: r.lastFence().id, ok: false, error: 'x' });
    expect(fencingDeadline(r.s)).toBe(2100);
    r.now = 500;
    expect(r.kinds(r.step({ kind: 'operator', op: 'retry-now' }))).toContain('fence');
    const acts = r.step({ kind: 'operator', op: 'confirm-off' });
    expect(acts).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'operator' });
    expect(acts).toContainEqual({ kind: 'record', entry: expect.objectContaining({ device: 'operator', result: 'operator' }) });
  });

  it('an operator confirmation while the peer is alive is refused', () => {
    const r = new Run();
    seen(r);
    const acts = r.step({ kind: 'operator', op: 'confirm-off' });
    expect(r.kinds(acts)).toEqual(['log']);
    expect(mayTakeOver(r.s)).toBe(false);
  });
});

describe('fencing policy: no fence loops (wait_for_all)', () => {
  it('a node that never heard its peer since start neither fences nor takes over', () => {
    const r = new Run();
    const acts = r.step({ kind: 'peer-dead', reason: 'initdead', selfHeld: 0 });
    expect(r.s.phase).toBe('blocked');
    expect(r.kinds(acts)).toContain('alert');
    expect(r.kinds(r.until(10_000_000))).not.toContain('fence');
    expect(r.log.some((l) => l.a.kind === 'may-take-over')).toBe(false);
  });

  it('hearing the peer once lifts it for the rest of the run', () => {
    const r = new Run();
    r.step({ kind: 'peer-dead', reason: 'initdead', selfHeld: 0 });
    r.step({ kind: 'peer-up' });
    expect(r.s.phase).toBe('idle');
    const acts = r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    expect(r.kinds(acts)).toContain('fence');
  });

  it('an operator can unblock it: fence now, without the race delay', () => {
    const r = new Run({ tieBreakWinner: false });
    r.step({ kind: 'peer-dead', reason: 'initdead', selfHeld: 0 });
    const acts = r.step({ kind: 'operator', op: 'unblock-startup' });
    expect(r.kinds(acts)).toContain('fence');
  });

  it('with fence_wait_for_all off, a never-seen peer is fenced', () => {
    const r = new Run({ waitForAll: false, tieBreakWinner: true });
    expect(r.kinds(r.step({ kind: 'peer-dead', reason: 'initdead', selfHeld: 0 }))).toContain('fence');
  });
});

describe('fencing policy: device checks', () => {
  it('checks every device at start and every interval; alerts once per breakage', () => {
    const r = new Run({ checkIntervalMs: 60_000 });
    expect(r.step({ kind: 'tick' }).filter((a) => a.kind === 'check')).toEqual([{ kind: 'check', device: 0 }, { kind: 'check', device: 1 }]);
    expect(r.kinds(r.step({ kind: 'check-done', device: 0, ok: false, error: 'no answer' }))).toEqual(['alert']);
    r.step({ kind: 'check-done', device: 1, ok: true });
    expect(fencingDeadline(r.s)).toBe(60_000);
    r.now = 60_000;
    r.step({ kind: 'tick' });
    expect(r.kinds(r.step({ kind: 'check-done', device: 0, ok: false, error: 'no answer' }))).toEqual([]);   // still broken: no new alert
    r.step({ kind: 'check-done', device: 1, ok: true });
    r.now = 120_000;
    r.step({ kind: 'tick' });
    const back = r.step({ kind: 'check-done', device: 0, ok: true });
    expect(back).toEqual([{ kind: 'log', level: 'info', message: 'STONITH device ipmi beta (ha.cf:7) is working again' }]);
  });

  it('does not check a device while it is fencing, and never spins on a past deadline', () => {
    const r = new Run({ checkIntervalMs: 1000, devices: ['ipmi beta'] });
    seen(r);
    r.step({ kind: 'tick' });
    r.step({ kind: 'check-done', device: 0, ok: true });
    r.now = 500;
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    r.now = 5000;
    expect(r.kinds(r.step({ kind: 'tick' }))).not.toContain('check');
    expect(fencingDeadline(r.s)).toBe(Infinity);
    const done = r.step({ kind: 'fence-done', id: r.lastFence().id, ok: true });
    expect(r.kinds(done)).toContain('check');
  });

  it('interval 0 means never', () => {
    const r = new Run({ checkIntervalMs: 0 });
    expect(r.step({ kind: 'tick' })).toEqual([]);
    expect(fencingDeadline(r.s)).toBe(Infinity);
  });
});

describe('fencingPolicyConfig', () => {
  const dev = (from: string, target: string, line: number) => ({
    type: 'ipmi' as const, from, target, file: '/etc/ha.d/ha.cf', line, timeoutMs: 5000, host: '10.0.0.1', port: 623, user: 'u',
    passfile: '/p', interface: 'lanplus' as const, cipher: 3, privlvl: 'ADMINISTRATOR' as const, ipmitoolTimeoutS: 1, retries: 1, powerWaitMs: 0,
  });
  const fcfg: FencingConfig = {
    devices: [dev('*', 'beta', 1), dev('alpha', 'beta', 2), dev('beta', 'alpha', 3), dev('beta', 'beta', 4), dev('*', 'alpha', 5)],
    fenceDelayMs: 7000, failurePolicy: 'wait', checkIntervalMs: 1000, retryMs: 1000, retryMaxMs: 8000, waitForAll: true,
  };
  it('keeps the devices this node may use against its peer, in order', () => {
    const a = fencingPolicyConfig(fcfg, 'alpha', ['alpha', 'beta']);
    expect(a.devices.map((d) => d.line)).toEqual([1, 2]);
    expect(a.cfg).toMatchObject({ self: 'alpha', peer: 'beta', tieBreakWinner: true });
    const b = fencingPolicyConfig(fcfg, 'beta', ['alpha', 'beta']);
    expect(b.devices.map((d) => d.line)).toEqual([3, 5]);
    expect(b.cfg.tieBreakWinner).toBe(false);
    expect(b.cfg.devices).toEqual(['ipmi alpha via 10.0.0.1:623 (ha.cf:3)', 'ipmi alpha via 10.0.0.1:623 (ha.cf:5)']);
  });
});

// --- properties --------------------------------------------------------------

type Ev =
  | { t: 'advance'; ms: number }
  | { t: 'up' }
  | { t: 'dead'; reason: 'silent' | 'initdead' | 'left'; selfHeld: number; peerHeld: number | undefined }
  | { t: 'done'; ok: boolean }
  | { t: 'stale-done'; ok: boolean }
  | { t: 'check'; ok: boolean }
  | { t: 'op'; op: 'confirm-off' | 'unblock-startup' | 'retry-now' };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 90_000 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'up' as const }) },
  { weight: 3, arbitrary: fc.record({
    t: fc.constant('dead' as const), reason: fc.constantFrom('silent' as const, 'initdead' as const, 'left' as const),
    selfHeld: fc.integer({ min: 0, max: 3 }), peerHeld: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('done' as const), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('stale-done' as const), ok: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('check' as const), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('op' as const), op: fc.constantFrom('unblock-startup' as const, 'retry-now' as const) }) },
);

const cfgArb: fc.Arbitrary<FencingPolicyConfig> = fc.record({
  self: fc.constant('alpha'), peer: fc.constant('beta'),
  devices: fc.integer({ min: 1, max: 3 }).map((n) => Array.from({ length: n }, (_, i) => `dev${i}`)),
  fenceDelayMs: fc.integer({ min: 0, max: 30_000 }),
  failurePolicy: fc.constant('wait' as const),
  checkIntervalMs: fc.constantFrom(0, 1000, 60_000),
  retryMs: fc.integer({ min: 100, max: 5000 }),
  retryMaxMs: fc.integer({ min: 5000, max: 120_000 }),
  waitForAll: fc.boolean(),
  tieBreakWinner: fc.boolean(),
});

interface Sim {
  s: FencingState;
  now: number;
  acts: Array<{ at: number; a: FencingAction; ev: string }>;
  /** Fence ids that completed ok. */
  okIds: Set<number>;
  peerUp: boolean;
  issued: Map<number, number>;   // fence id -> time issued
  open: number[];                // fence ids issued and not yet answered
}

function simulate(cfg: FencingPolicyConfig, evs: Ev[]): Sim {
  const sim: Sim = { s: initFencing(cfg, 0), now: 0, acts: [], okIds: new Set(), peerUp: false, issued: new Map(), open: [] };
  const step = (ev: FencingEvent, label: string): void => {
    for (const a of fencingStep(sim.s, ev, sim.now)) {
      sim.acts.push({ at: sim.now, a, ev: label });
      if (a.kind === 'fence') {
        sim.issued.set(a.id, sim.now);
        sim.open.push(a.id);
      }
    }
  };
  for (const e of evs) {
    switch (e.t) {
      case 'advance': {
        const end = sim.now + e.ms;
        for (;;) {
          const d = fencingDeadline(sim.s);
          if (d > end) break;
          expect(d).toBeGreaterThanOrEqual(sim.now);   // never a deadline in the past
          sim.now = d;
          step({ kind: 'tick' }, 'tick');
        }
        sim.now = end;
        break;
      }
      case 'up':
        sim.peerUp = true;
        step({ kind: 'peer-up' }, 'up');
        break;
      case 'dead':
        if (!sim.peerUp && sim.s.phase !== 'idle') break;
        sim.peerUp = false;
        step({ kind: 'peer-dead', reason: e.reason, selfHeld: e.selfHeld, ...(e.peerHeld !== undefined ? { peerHeld: e.peerHeld } : {}) }, 'dead');
        break;
      case 'done':
      case 'stale-done': {
        // Answer the newest open fence, or (stale-done) an already answered id.
        const id = e.t === 'done' ? sim.open.pop() : [...sim.issued.keys()][0];
        if (id === undefined) break;
        const open = sim.open.indexOf(id);
        if (open >= 0) sim.open.splice(open, 1);
        if (e.ok && (e.t === 'done' || open >= 0)) sim.okIds.add(id);
        step({ kind: 'fence-done', id, ok: e.ok, ...(e.ok ? {} : { error: 'x' }) }, `done ${id} ${e.ok}`);
        break;
      }
      case 'check': {
        const i = sim.s.checks.findIndex((c) => c.checking);
        if (i >= 0) step({ kind: 'check-done', device: i, ok: e.ok }, 'check');
        break;
      }
      case 'op':
        step({ kind: 'operator', op: e.op }, `op ${e.op}`);
        break;
    }
  }
  return sim;
}

describe('fencing policy properties', () => {
  it('never may-take-over without a confirmed off (policy wait, devices configured, no operator confirmation)', () => {
    fc.assert(fc.property(cfgArb, fc.array(evArb, { maxLength: 80 }), (cfg, evs) => {
      const sim = simulate(cfg, evs);
      for (const { a, ev } of sim.acts) {
        if (a.kind !== 'may-take-over') continue;
        if (a.reason === 'peer-left') continue;
        expect(a.reason).toBe('fenced');
        // It comes in the step that reported a successful fence.
        const m = /^done (\d+) true$/.exec(ev);
        expect(m, `may-take-over on event '${ev}'`).not.toBeNull();
        expect(sim.okIds.has(Number(m![1]))).toBe(true);
      }
    }), { numRuns: 500 });
  });

  it('at most one fence in flight, only at the peer, only through its devices', () => {
    fc.assert(fc.property(cfgArb, fc.array(evArb, { maxLength: 80 }), (cfg, evs) => {
      const sim = simulate(cfg, evs);
      let inFlight = 0;
      const answered = new Set<number>();
      for (const { a, ev } of sim.acts) {
        const m = /^done (\d+)/.exec(ev);
        if (m && !answered.has(Number(m[1]))) {
          answered.add(Number(m[1]));
          inFlight = Math.max(0, inFlight - 1);
        }
        if (a.kind === 'fence') {
          expect(a.target).toBe('beta');
          expect(a.device).toBeLessThan(cfg.devices.length);
          inFlight += 1;
          expect(inFlight).toBeLessThanOrEqual(1);
        }
      }
    }), { numRuns: 500 });
  });

  it('retry delays stay within [fence_retry first, fence_retry max]', () => {
    fc.assert(fc.property(cfgArb, fc.array(evArb, { maxLength: 80 }), (cfg, evs) => {
      const sim = simulate(cfg, evs);
      for (const { at, a } of sim.acts) {
        if (a.kind !== 'alert' || !a.message.startsWith('fencing beta failed')) continue;
        const ms = Number(/Retrying in (\d+) ms/.exec(a.message)![1]);
        expect(ms).toBeGreaterThanOrEqual(cfg.retryMs);
        expect(ms).toBeLessThanOrEqual(cfg.retryMaxMs);
        void at;
      }
      for (let n = 1; n < 40; n++) {
        const b = backoff(cfg, n);
        expect(b).toBeGreaterThanOrEqual(Math.min(cfg.retryMs, cfg.retryMaxMs));
        expect(b).toBeLessThanOrEqual(cfg.retryMaxMs);
        expect(backoff(cfg, n + 1)).toBeGreaterThanOrEqual(b);
      }
    }), { numRuns: 300 });
  });

  it('wait_for_all: a peer never heard is neither fenced nor taken over (without an operator)', () => {
    const noUp = evArb.filter((e) => e.t !== 'up' && e.t !== 'op');
    fc.assert(fc.property(cfgArb.map((c) => ({ ...c, waitForAll: true })), fc.array(noUp, { maxLength: 60 }), (cfg, evs) => {
      const sim = simulate(cfg, evs);
      for (const { a } of sim.acts) {
        expect(a.kind).not.toBe('fence');
        if (a.kind === 'may-take-over') expect(a.reason).toBe('peer-left');
      }
    }), { numRuns: 300 });
  });

  it('the delayed side never shoots before fence_delay has passed since the peer died', () => {
    fc.assert(fc.property(cfgArb.map((c) => ({ ...c, waitForAll: false, tieBreakWinner: false })), fc.array(evArb, { maxLength: 60 }), (cfg, evs) => {
      // Every peer-dead in this run has selfHeld < peerHeld: this node is the standby.
      const standby = evs.map((e) => (e.t === 'dead' ? { ...e, selfHeld: 0, peerHeld: 1 + e.selfHeld } : e));
      const sim = simulate(cfg, standby);
      let diedAt: number | undefined;
      let checked = 0;
      for (const { at, a, ev } of sim.acts) {
        if (ev === 'dead' && a.kind === 'log') diedAt = at;   // the episode's first shot is scheduled
        if (ev === 'up') diedAt = undefined;
        if (a.kind === 'fence' && diedAt !== undefined) {
          expect(at - diedAt).toBeGreaterThanOrEqual(cfg.fenceDelayMs);
          diedAt = undefined;
          checked += 1;
        }
      }
      return checked >= 0;
    }), { numRuns: 300 });
  });
});

describe('fencing durations are whole milliseconds', () => {
  it('a fence timed with performance.now() fractions is recorded, logged and shown rounded', async () => {
    const { historyRecord } = await import('../../src/fencing/index.js');
    const { formatStatus } = await import('../../src/cli/format.js');
    const r = new Run();
    seen(r);
    r.now = 1000.123456;
    r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 });
    r.now = 1093.137630000004;   // 93.01417400000355 ms later, as measured on a pair
    const rec = r.step({ kind: 'fence-done', id: 1, ok: true }).find((a) => a.kind === 'record');
    expect(rec).toBeDefined();
    const entry = (rec as Extract<FencingAction, { kind: 'record' }>).entry;
    expect(entry.durationMs).toBe(93);
    // A draft from elsewhere (an older daemon) is rounded when it becomes a record.
    const h = historyRecord({ ...entry, durationMs: 93.01417400000355 }, 'alpha', new Date('2026-01-01T00:00:10Z'));
    expect(h.durationMs).toBe(93);
    expect(h.at).toBe('2026-01-01T00:00:09.907Z');
    // And `tandem status` shows a stored unrounded record (written before this fix) rounded.
    const report = {
      node: 'alpha', cluster: 'c', generation: 1, timing: { keepaliveMs: 100, deadtimeMs: 300, autoFailback: 'off' },
      nodes: [], paths: [], groups: [], counters: { sent: 0, received: 0, dropped: {} }, quorum: null,
      fencing: { peer: 'beta', phase: 'fenced', waiting: false, waitingReason: null, failedRounds: 0, fenceDelayMs: 0, devices: [],
        history: [{ ...h, durationMs: 93.01417400000355 }] },
    };
    let text = '';
    try { text = formatStatus(report as never); } catch (e) { throw new Error(`formatStatus: ${(e as Error).message}`); }
    expect(text).toContain('(93 ms)');
    expect(text).not.toMatch(/93\.0/);
  });
});

describe('fencing policy: a peer whose stop failed', () => {
  it('is fenced at once while still heard, and its groups may be taken once it is off', () => {
    const r = new Run();
    seen(r);
    r.now = 500;
    const acts = r.step({ kind: 'peer-stop-failed', groups: ['g1'] });
    expect(acts).toContainEqual({ kind: 'fence', id: 1, device: 0, target: 'beta' });
    expect(acts).toContainEqual({ kind: 'log', level: 'warn', message: 'beta could not stop g1: fencing it now, before its groups start here' });
    expect(mayTakeOver(r.s)).toBe(false);
    // Repeated in every heartbeat: one fence per episode.
    expect(r.step({ kind: 'peer-stop-failed', groups: ['g1'] }).filter((a) => a.kind === 'fence')).toEqual([]);
    r.now = 700;
    expect(r.step({ kind: 'fence-done', id: 1, ok: true })).toContainEqual({ kind: 'may-take-over', target: 'beta', reason: 'fenced' });
    // Then its silence ends in peer-dead: nothing is fenced twice.
    r.now = 3000;
    expect(r.step({ kind: 'peer-dead', reason: 'silent', selfHeld: 0, peerHeld: 1 }).filter((a) => a.kind === 'fence')).toEqual([]);
    expect(mayTakeOver(r.s)).toBe(true);
  });

  it('without a device nothing is fenced (the group stays blocked where it is)', () => {
    const r = new Run({ devices: [] });
    seen(r);
    expect(r.step({ kind: 'peer-stop-failed', groups: ['g1'] })).toEqual([]);
    expect(mayTakeOver(r.s)).toBe(false);
  });
});
