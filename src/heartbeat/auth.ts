// Heartbeat's authentication tokens: the HBauth plugins each turn (key, bytes)
// into a lowercase hex string, and a receiver accepts a token only when it is
// byte-for-byte the string it computes itself.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthMethod } from '../config/types.js';

// MSB-first table for the CRC-32 polynomial 0x04C11DB7 (no bit reflection),
// which is what the `crc` plugin uses; built once at load time.
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let bit = 0; bit < 8; bit++) {
      c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    }
    table[i] = c >>> 0;
  }
  return table;
})();

/** The `crc` plugin's checksum: init 0, no length suffix, result complemented. */
export function heartbeatCrc(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    // `>>> 0` keeps the register an unsigned 32-bit value; the C code works in an
    // unsigned long but only the low 32 bits ever reach the result.
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  }
  return ~crc >>> 0;
}

const HMAC_ALGORITHM: Record<Exclude<AuthMethod, 'crc'>, string> = {
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
};

/**
 * The token a Heartbeat peer would put on `data`. crc ignores the key and is
 * printed without zero padding (the C side uses "%lx"); the others are HMACs.
 */
export function digest(method: AuthMethod, key: Buffer, data: Buffer): string {
  if (method === 'crc') return heartbeatCrc(data).toString(16);
  const algorithm = HMAC_ALGORITHM[method];
  // The authkeys value is untrusted config; an unknown method must not silently
  // fall through to some default hash.
  if (algorithm === undefined) throw new TypeError(`unknown auth method ${String(method)}`);
  return createHmac(algorithm, key).update(data).digest('hex');
}

const LOWER_HEX = /^[0-9a-f]*$/;

/**
 * Whether `hex` is exactly the token for `data`. The comparison does not stop
 * at the first differing character, so response timing does not reveal how
 * much of a forged token was right.
 */
export function verifyDigest(method: AuthMethod, key: Buffer, data: Buffer, hex: string): boolean {
  let expected: Buffer;
  let given: Buffer;
  if (method === 'crc') {
    expected = Buffer.from(digest(method, key, data), 'latin1');
    // utf8, not latin1: latin1 would fold e.g. U+0161 onto 'a' and accept a
    // string that is not the token.
    given = Buffer.from(hex, 'utf8');
  } else {
    const algorithm = HMAC_ALGORITHM[method];
    if (algorithm === undefined) throw new TypeError(`unknown auth method ${String(method)}`);
    // Compare raw digests: no hex string per datagram. The token must be the
    // lowercase hex a Heartbeat peer prints, of exactly the digest's length.
    expected = createHmac(algorithm, key).update(data).digest();
    given = hex.length === 2 * expected.length && LOWER_HEX.test(hex) ? Buffer.from(hex, 'hex') : Buffer.alloc(0);
  }
  if (given.length !== expected.length) {
    // Still do a comparison of the same cost so a length mismatch is not the
    // one fast path; the expected length is public anyway (fixed per method,
    // and crc is unkeyed).
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(given, expected);
}
