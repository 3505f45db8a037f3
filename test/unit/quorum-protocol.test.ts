// The arbiter wire format: authentic messages round-trip; forged, tampered,
// crc-keyed and malformed ones are rejected with a reason, never a throw of
// anything else.

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AuthKeys } from '../../src/config/types.js';
import { decodeMessage, encodeMessage, ProtocolError, type ArbiterReply, type ArbiterRequest } from '../../src/quorum/protocol.js';

const keys = (secret: string, index = 1, method: 'sha256' | 'sha1' | 'md5' | 'crc' = 'sha256'): AuthKeys =>
  ({ sendIndex: index, keys: new Map([[index, { index, method, key: Buffer.from(method === 'crc' ? '' : secret) }]]) });

const req: ArbiterRequest = {
  t: 'req', op: 'acquire', cluster: 'prod', node: 'alpha', group: 'IPaddr2::10.0.0.5/24/eth0', gen: 17, seq: 3,
  ttlMs: 4000, graceMs: 1500, holds: true, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 2,
};

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.reason}: ${e.message}`;
    throw e;
  }
  return 'accepted';
}

describe('arbiter protocol', () => {
  it('round-trips requests and replies', () => {
    const k = keys('s3cret');
    const buf = encodeMessage(req, k);
    expect(buf.toString('latin1')).toMatch(/^TQ1 1 [0-9a-f]{64}\n\{/);
    expect(decodeMessage(buf, k)).toEqual({ index: 1, msg: req });
    const rep: ArbiterReply = { t: 'rep', cluster: 'prod', node: 'alpha', group: req.group, gen: 17, seq: 3, outcome: 'denied', holder: 'beta', retryInMs: 900, reason: 'held by beta' };
    expect(decodeMessage(encodeMessage(rep, k), k).msg).toEqual(rep);
  });

  it('rejects a wrong key, a tampered body, an unknown index and crc keys', () => {
    const buf = encodeMessage(req, keys('s3cret'));
    expect(reason(() => decodeMessage(buf, keys('other')))).toBe('auth: bad HMAC (key index 1)');
    const tampered = Buffer.from(buf.toString('latin1').replace('"holds":true', '"holds":fals'), 'latin1');
    expect(reason(() => decodeMessage(tampered, keys('s3cret')))).toMatch(/^auth: bad HMAC/);
    expect(reason(() => decodeMessage(buf, keys('s3cret', 2)))).toBe('auth: unknown key index 1');
    const crcKeys = keys('', 1, 'crc');
    expect(() => encodeMessage(req, crcKeys)).toThrow(/crc/);
    expect(reason(() => decodeMessage(buf, crcKeys))).toBe('auth: key index 1 uses crc, which is not accepted');
  });

  it('a heartbeat signed with the same key is not a request (the HMAC covers a label)', () => {
    const k = keys('s3cret');
    const body = Buffer.from(JSON.stringify(req));
    const bare = createHmac('sha256', 's3cret').update(body).digest('hex');
    expect(reason(() => decodeMessage(Buffer.concat([Buffer.from(`TQ1 1 ${bare}\n`), body]), k))).toMatch(/^auth/);
  });

  it('authentic but malformed bodies are rejected naming the field', () => {
    const k = keys('s3cret');
    const bad = (patch: Record<string, unknown>) => reason(() => decodeMessage(encodeMessage({ ...req, ...patch } as ArbiterRequest, k), k));
    expect(bad({ seq: 0 })).toBe('malformed: seq: not an integer in [1, 9007199254740991]');
    expect(bad({ node: 'a/b' })).toMatch(/^malformed: node: must be/);
    expect(bad({ group: 'has space' })).toMatch(/^malformed: group:/);
    expect(bad({ reach: 3 })).toBe('malformed: reach: exceeds reachTotal');
    expect(bad({ op: 'steal' })).toBe('malformed: op: must be acquire or release');
    expect(bad({ holds: 'yes' })).toBe('malformed: holds: not a boolean');
    expect(bad({ ttlMs: 1.5 })).toMatch(/^malformed: ttlMs/);
  });

  it('property: arbitrary bytes never throw anything but ProtocolError', () => {
    const k = keys('s3cret');
    const valid = encodeMessage(req, k);
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 1600 }).map((a) => Buffer.from(a)),
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => { const c = Buffer.from(valid); c[i] = b; return c; }),
        fc.nat(valid.length).map((n) => valid.subarray(0, n)),
      ),
      (buf) => {
        try {
          decodeMessage(buf, k);
          return true;
        } catch (e) {
          return e instanceof ProtocolError;
        }
      },
    ), { numRuns: 3000 });
  });
});
