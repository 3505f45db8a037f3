import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AuthKeys, AuthMethod } from '../../src/config/types.js';
import { decode, encode } from '../../src/heartbeat/codec.js';
import { DecodeError, type Field, type FieldType } from '../../src/heartbeat/types.js';
import { captureKeys, dumpedPackets, rebuiltPackets } from './heartbeat-fixtures.js';

const RUNS = { numRuns: 500 };

// Names as encode accepts them: anything printable or binary except '=',
// newline, NUL and a leading '(' (those cannot survive the classic rendering).
const nameArb = fc
  .string({ unit: fc.oneof(fc.constantFrom('t', 'src', 'seq', ',', ':', '(', ')', '#', '%', ' ', 'é', '😀'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 12 })
  .filter((n) => !/[=\n\0]/.test(n) && !n.startsWith('(') && n !== 'auth' && Buffer.from(n, 'utf8').toString('utf8') === n);

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.record({
    type: fc.constant(0 as FieldType),
    name: nameArb,
    value: fc.string({ unit: 'binary', maxLength: 40 }).filter((v) => !v.includes('\0')).map((v) => Buffer.from(v, 'utf8')),
  }),
  fc.record({
    type: fc.constantFrom<FieldType>(1, 2, 3, 4, 5),
    name: nameArb,
    value: fc.uint8Array({ maxLength: 40 }).map((v) => Buffer.from(v)),
  }),
);

const keysArb: fc.Arbitrary<AuthKeys> = fc
  .record({
    index: fc.integer({ min: 0, max: 15 }),
    method: fc.constantFrom<AuthMethod>('crc', 'md5', 'sha1', 'sha256'),
    key: fc.uint8Array({ minLength: 1, maxLength: 100 }).map((k) => Buffer.from(k)),
  })
  .map(({ index, method, key }) => ({ sendIndex: index, keys: new Map([[index, { index, method, key }]]) }));

/** Run decode and report how it ended; anything other than DecodeError is rethrown so fast-check reports it. */
function attempt(buf: Buffer, keys: AuthKeys): Field[] | DecodeError {
  try {
    return decode(buf, keys);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}

describe('codec properties', () => {
  it('encode then decode returns the same fields, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), keysArb, (fields, keys) => {
        const buf = encode(fields, keys);
        const back = decode(buf, keys);
        expect(back).toEqual(fields);
        expect(encode(back, keys).equals(buf)).toBe(true);
      }),
      RUNS,
    );
  });

  it('random bytes only ever produce DecodeError', () => {
    const prefix = fc.constantFrom('', '###\n', '>>>\n');
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 400 }), (p, bytes) => {
        expect(attempt(Buffer.concat([Buffer.from(p), bytes]), captureKeys())).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 2000 },
    );
  });

  it('random framing-shaped text only ever produces DecodeError', () => {
    // Pieces of real syntax glued at random reach much deeper into the parser
    // than uniform bytes do.
    const piece = fc.oneof(
      fc.constantFrom('###\n', '%%%\n', '>>>\n', '<<<\n', ':', ',', '(0)', '(1)', '(4)', '=', '\n', ' ', 'auth=', '1 ', '42:', '0:', '9:', 'ffff', '\0'),
      fc.nat({ max: 70000 }).map(String),
      fc.string({ unit: 'binary', maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        expect(attempt(Buffer.from(pieces.join(''), 'utf8'), captureKeys())).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 2000 },
    );
  });

  const originals = [...dumpedPackets().map((p) => p.payload), ...rebuiltPackets().map((p) => p.payload)];
  // A second index with the same key makes a changed trailer index a
  // mutation that can legitimately still verify.
  const keys: AuthKeys = {
    sendIndex: 1,
    keys: new Map([
      [1, { index: 1, method: 'sha1', key: Buffer.from('s3cret') }],
      [3, { index: 3, method: 'sha1', key: Buffer.from('s3cret') }],
    ]),
  };
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 30 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 30 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;
  function apply(buf: Buffer, m: Mutation): Buffer {
    const at = buf.length === 0 ? 0 : m.at % (buf.length + 1);
    switch (m.kind) {
      case 'set': {
        if (at === buf.length) return buf;
        const b = Buffer.from(buf);
        b[at] = m.byte;
        return b;
      }
      case 'insert':
        return Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
      case 'delete':
        return Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.n)]);
      case 'duplicate':
        return Buffer.concat([buf.subarray(0, at + m.n), buf.subarray(at)]);
      case 'truncate':
        return buf.subarray(0, at);
    }
  }

  it('mutated captures fail with DecodeError, or decode only when the bytes still authenticate', () => {
    fc.assert(
      fc.property(fc.constantFrom(...originals), fc.array(mutation, { minLength: 1, maxLength: 4 }), (original, ms) => {
        const buf = ms.reduce(apply, original);
        const r = attempt(buf, keys);
        if (r instanceof DecodeError) return;
        // Success must mean the datagram is exactly what the key holder would
        // have sent for these fields under the index the trailer names.
        const index = Number(/(\d+) [0-9a-f]+,$/.exec(buf.toString('latin1'))![1]);
        expect(encode(r, { ...keys, sendIndex: index }).equals(buf)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
