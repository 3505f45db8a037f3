// The serial framing codec: exact layout, every rejection reason, and
// properties over random streams (never throws, always resynchronises).

import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  cobsDecode, cobsEncode, cobsMaxLength, crc32, encodeFrame, FrameDecoder, frameLength, MAX_PAYLOAD,
  REJECT_REASONS, type FrameCounters,
} from '../../src/transport/serial-frame.js';

const totalRejected = (c: FrameCounters) => REJECT_REASONS.reduce((n, r) => n + c.rejected[r], 0);

/** Splits `buf` at the given fractions, feeding a decoder piece by piece. */
function feed(d: FrameDecoder, buf: Buffer, cuts: number[] = []): Buffer[] {
  const at = [...new Set(cuts.map((f) => Math.floor(f * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(...d.push(buf.subarray(prev, c)));
    prev = c;
  }
  return out;
}

/** A frame with its body bytes rebuilt by hand: type, length, payload, crc, then COBS. */
function rawFrame(type: number, declared: number, payload: Buffer, crc?: number): Buffer {
  const raw = Buffer.alloc(3 + payload.length + 4);
  raw[0] = type;
  raw.writeUInt16BE(declared, 1);
  payload.copy(raw, 3);
  raw.writeUInt32BE(crc ?? crc32(raw, 0, 3 + payload.length), 3 + payload.length);
  return Buffer.concat([Buffer.of(0), cobsEncode(raw), Buffer.of(0)]);
}

describe('crc32', () => {
  it('is the IEEE CRC-32 (check value and zlib agree)', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => crc32(b) === zlibCrc32(b)));
  });
});

describe('COBS', () => {
  it('encodes the textbook cases', () => {
    expect(cobsEncode(Buffer.of(0))).toEqual(Buffer.of(1, 1));
    expect(cobsEncode(Buffer.of(0x11, 0x22, 0, 0x33))).toEqual(Buffer.of(3, 0x11, 0x22, 2, 0x33));
    expect(cobsEncode(Buffer.alloc(0))).toEqual(Buffer.of(1));
    const run = Buffer.alloc(254, 7);
    expect(cobsEncode(run)).toEqual(Buffer.concat([Buffer.of(0xff), run, Buffer.of(1)]));
  });

  it('round-trips any bytes, never emits a zero, and stays within its bound', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1200 }), (b) => {
      const e = cobsEncode(b);
      expect(e.includes(0)).toBe(false);
      expect(e.length).toBeLessThanOrEqual(cobsMaxLength(b.length));
      expect(cobsDecode(e)).toEqual(Buffer.from(b));
    }));
  });

  it('refuses a block that runs past the end', () => {
    expect(cobsDecode(Buffer.of(5, 1, 2))).toBeUndefined();
  });
});

describe('encodeFrame', () => {
  it('is delimited by zeros and carries type, length, payload and CRC-32', () => {
    const f = encodeFrame(Buffer.from('hi'));
    expect(f[0]).toBe(0);
    expect(f[f.length - 1]).toBe(0);
    expect(f.subarray(1, -1).includes(0)).toBe(false);
    const raw = cobsDecode(f.subarray(1, -1))!;
    expect([...raw.subarray(0, 5)]).toEqual([1, 0, 2, 0x68, 0x69]);
    expect(raw.readUInt32BE(5)).toBe(crc32(raw, 0, 5));
    expect(f.length).toBeLessThanOrEqual(frameLength(2));
  });

  it('refuses payloads above the limit', () => {
    expect(() => encodeFrame(Buffer.alloc(MAX_PAYLOAD + 1))).toThrow(/exceeds the serial frame limit of 4096/);
    expect(encodeFrame(Buffer.alloc(MAX_PAYLOAD, 0xaa)).length).toBeLessThanOrEqual(frameLength(MAX_PAYLOAD));
  });
});

describe('FrameDecoder', () => {
  const A = Buffer.from('###\nfirst heartbeat');
  const B = Buffer.from('###\nsecond heartbeat');

  it('delivers frames split at every possible point, and empty gaps are not errors', () => {
    const stream = Buffer.concat([encodeFrame(A), encodeFrame(B)]);
    for (let i = 0; i <= stream.length; i++) {
      const d = new FrameDecoder();
      expect([...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i))]).toEqual([A, B]);
      expect(totalRejected(d.counters)).toBe(0);
      expect(d.counters.frames).toBe(2);
    }
  });

  it('counts a frame cut short as truncated and still delivers the next one', () => {
    const d = new FrameDecoder();
    const cut = encodeFrame(A);
    expect(d.push(Buffer.concat([cut.subarray(0, 9), encodeFrame(B)]))).toEqual([B]);
    expect(d.counters.rejected.truncated).toBe(1);
  });

  it('names each reason', () => {
    const d = new FrameDecoder();
    const p = Buffer.from('payload');
    d.push(rawFrame(1, p.length, p, 0x12345678));       // checksum wrong
    d.push(rawFrame(1, p.length - 2, p));               // longer than its length says
    d.push(rawFrame(1, p.length + 2, p));               // shorter than its length says
    d.push(rawFrame(9, p.length, p));                   // type from some other version
    d.push(Buffer.concat([Buffer.of(0), Buffer.alloc(20_000, 0x41), Buffer.of(0)]));   // no boundary for too long
    d.push(Buffer.of(0, 1, 2, 0));                      // too short for a header
    expect(d.counters.rejected).toEqual({ crc: 1, length: 1, truncated: 2, type: 1, oversize: 1 });
    expect(d.counters.frames).toBe(0);
    expect(d.push(encodeFrame(p))).toEqual([p]);
  });

  it('catches every single-bit error in a frame', () => {
    const f = encodeFrame(A);
    for (let byte = 1; byte < f.length - 1; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(f);
        bad[byte]! ^= 1 << bit;
        const d = new FrameDecoder();
        const got = d.push(Buffer.concat([bad, encodeFrame(B)]));
        // A flipped bit may turn into a zero and split the frame; either way
        // nothing of A gets through and B does.
        expect(got).toEqual([B]);
        expect(totalRejected(d.counters)).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('reset forgets a partial frame', () => {
    const d = new FrameDecoder();
    d.push(encodeFrame(A).subarray(0, 10));
    d.reset();
    expect(d.push(encodeFrame(B).subarray(1))).toEqual([B]);   // even without its leading zero
  });

  // --- properties -----------------------------------------------------------

  const payload = fc.uint8Array({ minLength: 0, maxLength: 700 }).map((u) => Buffer.from(u));
  const garbage = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((u) => Buffer.from(u));
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

  it('never throws on arbitrary bytes in arbitrary chunks', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 30_000 }), cuts, (bytes, c) => {
      const d = new FrameDecoder();
      feed(d, Buffer.from(bytes), c);
      expect(d.counters.bytes).toBe(bytes.length);
    }), { numRuns: 200 });
  });

  it('recovers every frame, in order, whatever garbage surrounds them and however the stream is chunked', () => {
    fc.assert(fc.property(fc.array(fc.tuple(garbage, payload), { minLength: 1, maxLength: 8 }), garbage, cuts, (items, tail, c) => {
      const stream = Buffer.concat([...items.flatMap(([g, p]) => [g, encodeFrame(p)]), tail]);
      const d = new FrameDecoder();
      const got = feed(d, stream, c);
      expect(got).toEqual(items.map(([, p]) => p));
    }), { numRuns: 300 });
  });

  it('drops a truncated frame, counts it, and resynchronises on the next', () => {
    fc.assert(fc.property(payload, payload, fc.double({ min: 0, max: 1, noNaN: true }), cuts, (p1, p2, where, c) => {
      const f1 = encodeFrame(p1);
      const keep = 1 + Math.floor(where * (f1.length - 3));   // leading zero plus at least part of the body, never the end
      const stream = Buffer.concat([f1.subarray(0, keep), encodeFrame(p2)]);
      const d = new FrameDecoder();
      expect(feed(d, stream, c)).toEqual([p2]);
      expect(d.counters.frames).toBe(1);
      if (keep > 1) expect(totalRejected(d.counters)).toBe(1);
    }), { numRuns: 300 });
  });

  it('accounts for every byte: delivered frames plus discarded bytes plus delimiters', () => {
    fc.assert(fc.property(fc.array(fc.tuple(garbage, payload), { maxLength: 6 }), (items) => {
      const stream = Buffer.concat(items.flatMap(([g, p]) => [g, encodeFrame(p)]));
      const d = new FrameDecoder();
      d.push(stream);
      const zeros = stream.filter((b) => b === 0).length;
      const good = items.reduce((n, [, p]) => n + encodeFrame(p).length - 2, 0);
      expect(good + d.counters.discardedBytes + zeros).toBe(stream.length);
    }), { numRuns: 200 });
  });
});
