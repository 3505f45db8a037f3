import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { digest, heartbeatCrc, verifyDigest } from '../../src/heartbeat/auth.js';
import type { AuthMethod } from '../../src/config/types.js';

// Reference CRC computed one bit at a time, deliberately not table driven, so
// it shares nothing with the implementation under test.
function crcBitwise(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc = (crc ^ (byte << 24)) >>> 0;
    for (let i = 0; i < 8; i++) {
      crc = (crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1) >>> 0;
    }
  }
  return ~crc >>> 0;
}

const empty = Buffer.alloc(0);

describe('digest', () => {
  it('crc matches the catalogued CRC-32/CKSUM check value (poly 04C11DB7, init 0, no reflection, xorout FFFFFFFF)', () => {
    expect(digest('crc', empty, Buffer.from('123456789'))).toBe('765e7680');
  });

  it('crc agrees with a bit-by-bit computation on random data and ignores the key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 20 }), (data, key) => {
        const b = Buffer.from(data);
        expect(heartbeatCrc(b)).toBe(crcBitwise(b));
        expect(digest('crc', Buffer.from(key), b)).toBe(crcBitwise(b).toString(16));
      }),
    );
  });

  it('crc is printed without zero padding, like %lx', () => {
    // Find an input whose CRC has a leading zero nibble (about 1 in 16 do).
    let input: Buffer | undefined;
    for (let i = 0; input === undefined; i++) {
      const b = Buffer.from(`probe-${i}`);
      if (crcBitwise(b) < 0x10000000) input = b;
    }
    const d = digest('crc', empty, input);
    expect(d.length).toBeLessThan(8);
    expect(d).toBe(crcBitwise(input).toString(16));
    expect(d).not.toMatch(/^0/);
    // The empty input: register stays 0, complemented.
    expect(digest('crc', empty, empty)).toBe('ffffffff');
  });

  it('md5, sha1 and sha256 are HMACs (RFC 2104/2202/4231 "Jefe" vectors)', () => {
    const key = Buffer.from('Jefe');
    const data = Buffer.from('what do ya want for nothing?');
    expect(digest('md5', key, data)).toBe('750c783e6ab0b503eaa86e310a5db738');
    expect(digest('sha1', key, data)).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    expect(digest('sha256', key, data)).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('keys longer than the hash block are hashed first (RFC 2202 case 6)', () => {
    const key = Buffer.alloc(80, 0xaa);
    const data = Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First');
    expect(digest('sha1', key, data)).toBe('aa4ae5e15272d00e95705637ce8a3b55ed402112');
    expect(digest('md5', key, data)).toBe('6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd');
  });

  it('rejects an unknown method instead of picking a default', () => {
    expect(() => digest('sha512' as AuthMethod, empty, empty)).toThrow(TypeError);
  });
});

describe('verifyDigest', () => {
  const key = Buffer.from('s3cret');
  const data = Buffer.from('some bytes');
  const methods: AuthMethod[] = ['crc', 'md5', 'sha1', 'sha256'];

  it.each(methods)('%s: accepts exactly the token', (m) => {
    const good = digest(m, key, data);
    expect(verifyDigest(m, key, data, good)).toBe(true);
    expect(verifyDigest(m, key, Buffer.from('some bytez'), good)).toBe(false);
    expect(verifyDigest(m, key, data, good.slice(0, -1))).toBe(false);
    expect(verifyDigest(m, key, data, good + '0')).toBe(false);
    expect(verifyDigest(m, key, data, '')).toBe(false);
    // Heartbeat compares with strcmp: upper case is a different token.
    expect(verifyDigest(m, key, data, good.toUpperCase())).toBe(good === good.toUpperCase());
  });

  it('a different key changes every keyed method but not crc', () => {
    const other = Buffer.from('s3creT');
    for (const m of ['md5', 'sha1', 'sha256'] as const) {
      expect(verifyDigest(m, other, data, digest(m, key, data))).toBe(false);
    }
    expect(verifyDigest('crc', other, data, digest('crc', key, data))).toBe(true);
  });

  it('does not fold non-Latin-1 characters onto hex digits', () => {
    const good = digest('sha1', key, data);
    // U+0161 truncated to a byte would be 0x61 'a'; it must not match 'a'.
    const i = good.indexOf('a');
    expect(i).toBeGreaterThanOrEqual(0);
    const forged = good.slice(0, i) + '\u0161' + good.slice(i + 1);
    expect(verifyDigest('sha1', key, data, forged)).toBe(false);
  });

  it('never accepts a random string other than the token', () => {
    fc.assert(
      fc.property(fc.constantFrom(...methods), fc.string({ maxLength: 70 }), (m, s) => {
        expect(verifyDigest(m, key, data, s)).toBe(s === digest(m, key, data));
      }),
    );
  });
});
