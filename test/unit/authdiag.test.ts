// Issue 11: the "authkeys differ?" diagnosis and the key fingerprint.
import { describe, expect, it } from 'vitest';
import { AuthDiag, claimsSender } from '../../src/daemon/authdiag.js';
import { keyFingerprint } from '../../src/config/authkeys.js';
import { encode } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';

const keys = (method: 'sha1' | 'sha256', key: string): AuthKeys => ({ sendIndex: 1, keys: new Map([[1, { index: 1, method, key: Buffer.from(key) }]]) });

describe('authkeys differ?', () => {
  it('is raised by repeated failures claiming the peer while nothing authentic arrives, and cleared by an authentic message', () => {
    const d = new AuthDiag('alpha', 1000);
    expect(d.onAuthFailure('10.0.0.1', true, 0)).toBeUndefined();
    expect(d.onAuthFailure('10.0.0.9', false, 10)).toBeUndefined();   // junk that does not claim the peer
    expect(d.onAuthFailure('10.0.0.1', true, 100)).toBeUndefined();
    expect(d.onAuthFailure('10.0.0.1', true, 200)).toBe('raised');
    const v = d.view(300);
    expect(v.suspected).toBe(true);
    expect(v.sources).toEqual(['10.0.0.1']);
    expect(v.message).toMatch(/^authkeys differ\? 3 heartbeat-shaped packet\(s\) from 10\.0\.0\.1 claiming to be alpha failed authentication in the last 1 s, and nothing authentic came from alpha/);
    expect(d.onAuthentic(400)).toBe('cleared');
    expect(d.view(400).suspected).toBe(false);
    // Failures beside authentic traffic (a stray forger) are not a key mismatch.
    for (let t = 500; t < 900; t += 100) d.onAuthFailure('10.0.0.1', true, t);
    expect(d.view(900).suspected).toBe(false);
    // Old failures age out of the window.
    expect(d.view(5000).suspected).toBe(false);
  });

  it('keeps a bounded number of failures', () => {
    const d = new AuthDiag('alpha', 1e9);
    for (let i = 0; i < 10_000; i++) d.onAuthFailure(`10.0.${i >> 8}.${i & 255}`, true, i);
    const v = d.view(10_000);
    expect(v.packets).toBe(64);
    expect(v.sources).toHaveLength(4);
    expect(v.message).toContain('64+ heartbeat-shaped');
  });

  it('recognises a heartbeat naming the peer without decoding it', () => {
    const msg = encode(buildStatus({ status: 'active', deadtimeMs: 300, src: 'alpha', srcUuid: Buffer.alloc(16), seq: 1, generation: 5, wallSeconds: 1, hold: [], yielding: [], failed: [] }), keys('sha1', 'x'));
    expect(claimsSender(msg, 'alpha')).toBe(true);
    expect(claimsSender(msg, 'alph')).toBe(false);
    expect(claimsSender(Buffer.from('>>>\nt=status\nsrc=alpha\nauth=1 00\n<<<\n'), 'alpha')).toBe(true);
    expect(claimsSender(Buffer.from('random alpha bytes'), 'alpha')).toBe(false);
  });

  it('fingerprints the send key: equal for equal keys, different otherwise, never containing the key', () => {
    const a = keyFingerprint(keys('sha256', 'secret-one'));
    expect(a).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(keyFingerprint(keys('sha256', 'secret-one'))).toBe(a);
    expect(keyFingerprint(keys('sha256', 'secret-two'))).not.toBe(a);
    expect(keyFingerprint(keys('sha1', 'secret-one'))).not.toBe(a.replace('sha256', 'sha1'));
    expect(a).not.toContain(Buffer.from('secret-one').toString('hex').slice(0, 8));
  });
});
