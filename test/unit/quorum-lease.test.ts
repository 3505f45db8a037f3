// The client lease machine: requests, renewals, denials, and above all the
// rule that the client gives a lease up strictly before the arbiter can
// consider it expired, whatever the delays and within the drift margin.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  defaultLeaseConfig, initLease, leaseConfigProblems, leaseDeadline, leaseStep, leaseView, localExpiry,
  type LeaseAction, type LeaseConfig, type LeaseState,
} from '../../src/quorum/lease.js';

const cfg: LeaseConfig = { group: 'g', ttlMs: 3000, renewFraction: 1 / 3, driftMargin: 0.02, safetyMs: 100, retryMs: 200 };

function kinds(a: LeaseAction[]): string[] {
  return a.map((x) => x.kind);
}

function requestOf(a: LeaseAction[]): Extract<LeaseAction, { kind: 'send-request' }> {
  const r = a.find((x): x is Extract<LeaseAction, { kind: 'send-request' }> => x.kind === 'send-request');
  if (!r) throw new Error(`no request in ${JSON.stringify(a)}`);
  return r;
}

describe('lease client machine', () => {
  it('asks when wanted, holds on a grant until sent-at + ttl*(1-margin) - safety, and renews at the fraction', () => {
    const s = initLease(cfg);
    expect(leaseDeadline(s)).toBe(Infinity);
    const r1 = requestOf(leaseStep(s, { kind: 'want', want: true }, 1000));
    expect(r1).toMatchObject({ attempt: 1, renew: false });
    // The reply takes 400 ms: the deadline still counts from the send at 1000.
    const held = leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 1400);
    expect(held).toEqual([{ kind: 'lease-held', group: 'g', until: 1000 + 3000 * 0.98 - 100 }]);
    expect(leaseView(s)).toMatchObject({ status: 'held', until: 3840, since: 1400 });
    expect(leaseDeadline(s)).toBe(2000);   // renewal at 1000 + 3000/3
    const r2 = requestOf(leaseStep(s, { kind: 'tick' }, 2000));
    expect(r2).toMatchObject({ attempt: 2, renew: true });
    expect(leaseStep(s, { kind: 'granted', attempt: 2, ttlMs: 3000 }, 2010)).toEqual([]);   // no news: still held
    expect(s.deadline).toBe(2000 + 2940 - 100);
  });

  it('retries an unanswered request and declares the lease lost at the local deadline with no reply at all', () => {
    const s = initLease(cfg);
    leaseStep(s, { kind: 'want', want: true }, 0);
    leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 5);
    const deadline = s.deadline!;
    let t = 1000;
    const sent: number[] = [];
    while (t < deadline) {
      const acts = leaseStep(s, { kind: 'tick' }, t);
      for (const a of acts) if (a.kind === 'send-request') sent.push(t);
      expect(kinds(acts)).not.toContain('lease-lost');
      t = Math.min(leaseDeadline(s), deadline);
    }
    // 1000 (renewal), then every retryMs
    expect(sent[0]).toBe(1000);
    expect(sent[1]).toBe(1200);
    const lost = leaseStep(s, { kind: 'tick' }, deadline);
    expect(lost[0]).toEqual({ kind: 'lease-lost', group: 'g', reason: 'no renewal acknowledged before the local deadline' });
    expect(s.status).toBe('requesting');
    expect(kinds(lost)).toContain('send-request');   // and it keeps asking
  });

  it('after a freeze, the deadline is checked before the late reply is looked at', () => {
    const s = initLease(cfg);
    leaseStep(s, { kind: 'want', want: true }, 0);
    leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 1);
    leaseStep(s, { kind: 'tick' }, 1000);   // renewal attempt 2 goes out
    // Frozen for 10 s; then the renewal's reply is the first thing processed.
    const acts = leaseStep(s, { kind: 'granted', attempt: 2, ttlMs: 3000 }, 11_000);
    expect(acts[0]).toMatchObject({ kind: 'lease-lost' });
    expect(kinds(acts)).not.toContain('lease-held');   // 1000 + 2840 is long past
    expect(s.status).toBe('requesting');
  });

  it('a late grant for an older attempt still counts, from its own (earlier) send time', () => {
    const s = initLease(cfg);
    leaseStep(s, { kind: 'want', want: true }, 0);       // attempt 1 at 0
    leaseStep(s, { kind: 'tick' }, 200);                 // attempt 2 at 200 (retry)
    leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 250);
    expect(s.deadline).toBe(localExpiry(cfg, 0, 3000));
    leaseStep(s, { kind: 'granted', attempt: 2, ttlMs: 3000 }, 260);
    expect(s.deadline).toBe(localExpiry(cfg, 200, 3000));
    // Unknown attempts are ignored.
    leaseStep(s, { kind: 'granted', attempt: 99, ttlMs: 60_000 }, 270);
    expect(s.deadline).toBe(localExpiry(cfg, 200, 3000));
  });

  it('a denied renewal loses the lease at once and retries when told; a stale denial is ignored', () => {
    const s = initLease(cfg);
    leaseStep(s, { kind: 'want', want: true }, 0);
    leaseStep(s, { kind: 'tick' }, 200);   // attempt 2
    leaseStep(s, { kind: 'granted', attempt: 2, ttlMs: 3000 }, 210);
    // attempt 1's denial arrives after attempt 2's grant: reordered, stale.
    expect(leaseStep(s, { kind: 'denied', attempt: 1, reason: 'old' }, 220)).toEqual([]);
    expect(s.status).toBe('held');
    const r = requestOf(leaseStep(s, { kind: 'tick' }, 1200));
    const acts = leaseStep(s, { kind: 'denied', attempt: r.attempt, reason: 'held by beta', holder: 'beta', retryInMs: 1500 }, 1210);
    expect(acts).toEqual([{ kind: 'lease-lost', group: 'g', reason: 'renewal refused: held by beta' }]);
    expect(leaseView(s)).toEqual({ status: 'denied', holder: 'beta', reason: 'held by beta' });
    expect(leaseDeadline(s)).toBe(2710);
  });

  it('releases when no longer wanted, and sends a release for a grant that arrives afterwards', () => {
    const s = initLease(cfg);
    leaseStep(s, { kind: 'want', want: true }, 0);
    leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 1);
    expect(leaseStep(s, { kind: 'want', want: false }, 10)).toEqual([{ kind: 'send-release', group: 'g' }]);
    expect(s.status).toBe('idle');
    expect(leaseDeadline(s)).toBe(Infinity);
    expect(leaseStep(s, { kind: 'granted', attempt: 1, ttlMs: 3000 }, 20)).toEqual([{ kind: 'send-release', group: 'g' }]);
    expect(s.status).toBe('idle');
  });

  it('rejects configurations that cannot keep the rule, naming the field', () => {
    expect(leaseConfigProblems(cfg)).toEqual([]);
    expect(leaseConfigProblems({ ...cfg, safetyMs: 0 })[0]).toMatch(/^safetyMs:/);
    expect(leaseConfigProblems({ ...cfg, safetyMs: 3000 }).join()).toMatch(/safetyMs: 3000 ms plus the drift margin leaves nothing/);
    expect(leaseConfigProblems({ ...cfg, renewFraction: 0.95 }).join()).toMatch(/renewFraction/);
    expect(leaseConfigProblems({ ...cfg, driftMargin: 0.7 }).join()).toMatch(/^driftMargin/);
    for (const dt of [300, 1000, 10_000, 30_000]) expect(leaseConfigProblems(defaultLeaseConfig('g', dt))).toEqual([]);
  });

  it('property: the client stops strictly before the arbiter-side expiry, for any delays and drift within the margin', () => {
    // Real time T. The client's clock reads c0 + rc*T, the arbiter's a0 + ra*T.
    // "Drift within the margin": ra/rc <= 1/(1 - driftMargin).
    const arb = fc.record({
      ttlMs: fc.integer({ min: 200, max: 20_000 }),
      margin: fc.double({ min: 0, max: 0.3, noNaN: true }),
      safetyFrac: fc.double({ min: 0.001, max: 0.2, noNaN: true }),
      renewFraction: fc.double({ min: 0.1, max: 0.5, noNaN: true }),
      retryFrac: fc.double({ min: 0.01, max: 0.2, noNaN: true }),
      rc: fc.double({ min: 0.5, max: 2, noNaN: true }),
      ratio: fc.double({ min: 0.7, max: 1, noNaN: true }),   // scaled into [0.7, 1/(1-m)] below
      c0: fc.integer({ min: 0, max: 1e9 }),
      // After this many requests the arbiter becomes unreachable for good:
      // the case the rule exists for.
      outageAfter: fc.integer({ min: 1, max: 12 }),
      steps: fc.array(fc.record({
        reqDelay: fc.double({ min: 0, max: 3000, noNaN: true }),
        repDelay: fc.double({ min: 0, max: 3000, noNaN: true }),
        lost: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
        deny: fc.integer({ min: 0, max: 9 }),
        ttlScale: fc.constantFrom(0.5, 1, 1, 1, 2),
        toggle: fc.integer({ min: 0, max: 19 }),
      }), { minLength: 1, maxLength: 60 }),
    });
    fc.assert(fc.property(arb, (p) => {
      const c: LeaseConfig = {
        group: 'g', ttlMs: p.ttlMs, driftMargin: p.margin, safetyMs: Math.max(1, p.ttlMs * p.safetyFrac),
        renewFraction: p.renewFraction, retryMs: Math.max(1, p.ttlMs * p.retryFrac),
      };
      fc.pre(leaseConfigProblems(c).length === 0);
      const maxRatio = 1 / (1 - p.margin);
      const ra = p.rc * (0.7 + (maxRatio - 0.7) * ((p.ratio - 0.7) / 0.3));
      const local = (T: number) => p.c0 + p.rc * T;
      const real = (l: number) => (l - p.c0) / p.rc;

      const s: LeaseState = initLease(c);
      // Pending deliveries in real time; the arbiter's expiry (real) of each grant it issued.
      type Ev = { at: number; ev: Parameters<typeof leaseStep>[1] };
      const queue: Ev[] = [];
      const expiries: number[] = [];
      let step = 0;
      let T = 0;
      const handle = (acts: LeaseAction[], now: number) => {
        for (const a of acts) {
          if (a.kind !== 'send-request') continue;
          const st = p.steps[step % p.steps.length]!;
          step += 1;
          if (st.lost || step > p.outageAfter) continue;
          const recv = now + st.reqDelay;
          if (st.deny === 0) {
            queue.push({ at: recv + st.repDelay, ev: { kind: 'denied', attempt: a.attempt, reason: 'no' } });
            continue;
          }
          const ttl = p.ttlMs * st.ttlScale;
          // The arbiter counts ttl on its own clock from the arrival.
          expiries.push(recv + ttl / ra);
          queue.push({ at: recv + st.repDelay, ev: { kind: 'granted', attempt: a.attempt, ttlMs: ttl } });
        }
      };
      handle(leaseStep(s, { kind: 'want', want: true }, local(0)), 0);
      for (let i = 0; i < 400 && (queue.length > 0 || Number.isFinite(leaseDeadline(s))); i++) {
        queue.sort((a, b) => a.at - b.at);
        const timerAt = real(leaseDeadline(s));
        const next = queue[0] && queue[0].at < timerAt ? queue.shift()! : { at: timerAt, ev: { kind: 'tick' as const } };
        T = Math.max(T, next.at);
        // Before the client acts at T: if it still believes it holds the
        // lease, the arbiter must still consider some grant of it valid.
        if (s.status === 'held') {
          const latest = Math.max(...expiries);
          if (!(T < latest)) return false;
        }
        handle(leaseStep(s, next.ev, local(T)), T);
        const tog = p.steps[i % p.steps.length]!.toggle;
        if (tog === 0) handle(leaseStep(s, { kind: 'want', want: !s.want }, local(T)), T);
      }
      return true;
    }), { numRuns: 2000 });
  });
});
