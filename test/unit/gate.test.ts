import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { decode, encode, plausible } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import { DecodeError } from '../../src/heartbeat/types.js';
import { MAX_LEARNT, MAX_SOURCES, REPORT_EVERY_MS, RxGate, UNKNOWN_SOURCE_RATE } from '../../src/transport/gate.js';
import { initMembership, membershipDeadline, membershipJudgementDeadline, membershipStep } from '../../src/membership/machine.js';
import type { AuthKeys } from '../../src/config/types.js';
import { captureKeys, rebuiltPackets } from './heartbeat-fixtures.js';

const keys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('lab-secret') }]]) };
const valid = encode(buildStatus({
  status: 'active', deadtimeMs: 300, src: 'alpha', srcUuid: Buffer.alloc(16, 1), seq: 7, generation: 5,
  wallSeconds: 1, hold: ['g1'], yielding: [], failed: [],
}), keys);

function decodes(buf: Buffer, k: AuthKeys): boolean {
  try {
    decode(buf, k);
    return true;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
}

describe('codec.plausible: the check before decoding', () => {
  it('passes every real message: tandem\'s, Heartbeat\'s captured ones, classic with and without the trailing NUL', () => {
    expect(plausible(valid)).toBe(true);
    for (const p of rebuiltPackets()) expect(plausible(p.payload), p.from).toBe(true);
    const classic = Buffer.from('>>>\nt=status\nauth=1 00\n<<<\n');
    expect(plausible(classic)).toBe(true);
    expect(plausible(Buffer.concat([classic, Buffer.of(0)]))).toBe(true);
  });

  it('refuses random junk, and anything it refuses decode refuses too', () => {
    let passed = 0;
    for (let i = 0; i < 2000; i++) if (plausible(randomBytes(300))) passed += 1;
    expect(passed).toBe(0);
    const framed = randomBytes(300);
    framed.write('###\n', 0, 'latin1');
    framed[299] = 0x2c;
    expect(plausible(framed)).toBe(false);
    // Edits, cuts and splices of real messages: plausible may pass a broken
    // one (decode then refuses it), but must never refuse one decode accepts.
    const real = [valid, ...rebuiltPackets().map((p) => p.payload)];
    fc.assert(fc.property(
      fc.nat(real.length - 1), fc.nat(2000), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'splice', 'none'),
      (which, at0, byte, how) => {
        const src = real[which]!;
        const at = at0 % src.length;
        let b = Buffer.from(src);
        if (how === 'flip') b[at] = byte;
        if (how === 'cut') b = b.subarray(0, at);
        if (how === 'splice') b = Buffer.concat([b.subarray(0, at), Buffer.of(byte), b.subarray(at)]);
        const k = which === 0 ? keys : captureKeys();
        if (!plausible(b)) expect(decodes(b, k)).toBe(false);
        if (how === 'none') expect(plausible(b)).toBe(true);
      }), { seed: 20261203, numRuns: 3000 });
  });
});

describe('RxGate: admission before decoding', () => {
  const own = new Set(['10.0.0.2', '127.0.0.1']);

  it('checks the shape first, even for the configured peer', () => {
    const g = new RxGate({ peer: '10.0.0.1', own });
    expect(g.check(randomBytes(300), '10.0.0.1', 0)).toBe('shape');
    expect(g.check(valid, '10.0.0.1', 0)).toBe('pass');
    expect(g.dropped).toEqual({ shape: 1, source: 0 });
  });

  it('ucast: the peer always passes, another sender only within its budget', () => {
    const g = new RxGate({ peer: '10.0.0.1', own });
    for (let i = 0; i < 1000; i++) expect(g.check(valid, '10.0.0.1', i)).toBe('pass');
    const verdicts = Array.from({ length: 50 }, () => g.check(valid, '10.0.0.9', 1000));
    expect(verdicts.filter((v) => v === 'pass')).toHaveLength(UNKNOWN_SOURCE_RATE);
    expect(verdicts.filter((v) => v === 'source')).toHaveLength(50 - UNKNOWN_SOURCE_RATE);
    // One more per 1000/UNKNOWN_SOURCE_RATE ms; another sender has a budget of its own.
    expect(g.check(valid, '10.0.0.9', 1000 + 1000 / UNKNOWN_SOURCE_RATE)).toBe('pass');
    expect(g.check(valid, '10.0.0.9', 1000 + 1000 / UNKNOWN_SOURCE_RATE)).toBe('source');
    expect(g.check(valid, '10.0.0.8', 1000)).toBe('pass');
  });

  it('bcast: our own addresses pass; the peer\'s address passes freely once it was heard from there', () => {
    const g = new RxGate({ own });
    expect(g.check(valid, '10.0.0.2', 0)).toBe('pass');
    for (let i = 0; i < UNKNOWN_SOURCE_RATE; i++) g.check(valid, '10.0.0.1', 0);
    expect(g.check(valid, '10.0.0.1', 0)).toBe('source');
    g.confirm('10.0.0.1');
    expect(g.check(valid, '10.0.0.1', 0)).toBe('pass');
    expect(g.known()).toEqual(['10.0.0.1']);
    // Only the most recent few addresses are remembered.
    for (let i = 0; i < MAX_LEARNT; i++) g.confirm(`10.0.1.${i}`);
    expect(g.known()).not.toContain('10.0.0.1');
    expect(g.known()).toHaveLength(MAX_LEARNT);
  });

  it('a sender forging many addresses ends up sharing one budget', () => {
    const g = new RxGate({ own });
    let passed = 0;
    for (let i = 0; i < MAX_SOURCES * 4; i++) if (g.check(valid, `10.${i >> 8}.${i & 255}.1`, 0) === 'pass') passed += 1;
    expect(passed).toBe(MAX_SOURCES + UNKNOWN_SOURCE_RATE);
  });

  it('serial: no sender to check, only the shape', () => {
    const g = new RxGate({ own, serial: true });
    for (let i = 0; i < 100; i++) expect(g.check(valid, '/dev/ttyS0', 0)).toBe('pass');
    expect(g.check(Buffer.from('junk'), '/dev/ttyS0', 0)).toBe('shape');
  });

  it('summarises drops at most every REPORT_EVERY_MS, naming the last sender', () => {
    const g = new RxGate({ peer: '10.0.0.1', own });
    expect(g.report(0)).toBeUndefined();
    g.check(randomBytes(300), '10.0.0.7', 100);
    expect(g.report(100 + REPORT_EVERY_MS - 1)).toBeUndefined();
    for (let i = 0; i < UNKNOWN_SOURCE_RATE + 3; i++) g.check(valid, '10.0.0.9', 200);
    const msg = g.report(100 + REPORT_EVERY_MS);
    expect(msg).toMatch(/^4 datagrams dropped before decoding in the last 10 s \(1 not Heartbeat framing, 3 over the budget for unknown senders; the last from 10\.0\.0\.9\)$/);
    expect(g.report(100 + 3 * REPORT_EVERY_MS)).toBeUndefined();
  });
});

describe('membershipJudgementDeadline', () => {
  it('is when a tick would judge liveness, not when the next heartbeat is due', () => {
    const cfg = { self: 'beta', peer: 'alpha', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 2000 };
    const s = initMembership(cfg, 0);
    expect(membershipJudgementDeadline(s)).toBe(2000);   // initdead
    membershipStep(s, { kind: 'tick' }, 0);
    expect(membershipDeadline(s)).toBe(100);             // the next send
    const report = { status: 'active', hold: [], yielding: [], failed: [] };
    membershipStep(s, { kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 1, seq: 1, report }, 50);
    expect(membershipJudgementDeadline(s)).toBe(50 + 200 + 1);   // warntime first
    membershipStep(s, { kind: 'tick' }, 251);
    expect(membershipJudgementDeadline(s)).toBe(50 + 300 + 1);   // then deadtime
  });
});
