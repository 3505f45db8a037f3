// Framing for heartbeats on a serial line (pure: no I/O, no clocks).
//
// A serial line is a byte stream with no message boundaries: reads split and
// merge frames arbitrarily, a peer may stop mid-frame (cable pulled, daemon
// killed), and noise adds, drops or flips bytes. Each frame is therefore
//
//   0x00  COBS( type:u8  length:u16be  payload  crc32:u32be )  0x00
//
// COBS removes every 0x00 from the body, so 0x00 only ever means "frame
// boundary": the decoder resynchronises at the next zero byte whatever came
// before it, and a frame cut short is ended by the next frame's leading zero
// instead of swallowing it (which a length-prefixed format without a reserved
// delimiter would do, stalling the line for up to a maximum-size frame).
// The length field tells a cut frame from a corrupted one, and CRC-32 catches
// noise that the Heartbeat digest would otherwise be the first to see.
//
// The payload is the authenticated Heartbeat message, byte for byte what UDP
// carries, so authentication does not depend on the medium.

import { reflectedCrc32 } from '../util/crc.js';

export const FRAME_HEARTBEAT = 0x01;
/** Largest payload accepted either way. A tandem status message is about 450 bytes. */
export const MAX_PAYLOAD = 4096;

const HEADER = 3;   // type + length
const TRAILER = 4;  // crc32

export type RejectReason =
  | 'truncated'  // the frame ended before its length said (or its COBS blocks ran past the end)
  | 'length'     // more bytes than its length said: bytes were inserted, or the length was hit by noise
  | 'crc'        // complete but the checksum does not match: corrupted on the line
  | 'oversize'   // no frame boundary within the largest legal frame (garbage or a stuck line)
  | 'type';      // intact frame of a type this version does not know

export const REJECT_REASONS: readonly RejectReason[] = ['truncated', 'length', 'crc', 'oversize', 'type'];

export interface FrameCounters {
  frames: number;          // good frames delivered
  bytes: number;           // every byte pushed in
  discardedBytes: number;  // bytes of rejected frames and skipped garbage
  rejected: Record<RejectReason, number>;
}

// ---------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as in zlib and PNG)

export const crc32 = reflectedCrc32(0xedb88320);

// ---------------------------------------------------------------------------
// COBS (consistent overhead byte stuffing)

/** Worst-case COBS output for `n` input bytes: one code byte per 254 data bytes, plus one. */
export function cobsMaxLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

export function cobsEncode(src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(cobsMaxLength(src.length));
  let codeAt = 0;
  let code = 1;
  let o = 1;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b !== 0) {
      out[o++] = b;
      code++;
    }
    // A zero ends the block; so does a full block (254 data bytes, code 0xFF),
    // which implies no zero.
    if (b === 0 || code === 0xff) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** Inverse of cobsEncode; undefined when a block runs past the end or a zero byte appears. */
export function cobsDecode(src: Uint8Array): Buffer | undefined {
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const code = src[i++]!;
    if (code === 0) return undefined;
    const end = i + code - 1;
    if (end > src.length) return undefined;
    for (; i < end; i++) {
      const b = src[i]!;
      if (b === 0) return undefined;
      out[o++] = b;
    }
    if (code !== 0xff && i < src.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

// ---------------------------------------------------------------------------
// Frames

/** Bytes on the wire for a payload of `n` bytes, delimiters included. */
export function frameLength(n: number): number {
  return cobsMaxLength(HEADER + n + TRAILER) + 2;
}

/** One frame, delimiters included. Throws RangeError above MAX_PAYLOAD. */
export function encodeFrame(payload: Uint8Array, type: number = FRAME_HEARTBEAT): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes exceeds the serial frame limit of ${MAX_PAYLOAD}`);
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`frame type ${type} is not a byte`);
  const raw = Buffer.allocUnsafe(HEADER + payload.length + TRAILER);
  raw[0] = type;
  raw.writeUInt16BE(payload.length, 1);
  raw.set(payload, HEADER);
  raw.writeUInt32BE(crc32(raw, 0, HEADER + payload.length), HEADER + payload.length);
  const body = cobsEncode(raw);
  const out = Buffer.allocUnsafe(body.length + 2);
  out[0] = 0;
  body.copy(out, 1);
  out[out.length - 1] = 0;
  return out;
}

export function newCounters(): FrameCounters {
  return { frames: 0, bytes: 0, discardedBytes: 0, rejected: { truncated: 0, length: 0, crc: 0, oversize: 0, type: 0 } };
}

/**
 * Turns an arbitrarily chunked byte stream back into payloads. Never throws on
 * input; everything it drops is counted by reason in `counters`.
 */
export class FrameDecoder {
  readonly counters: FrameCounters;
  private readonly maxBody: number;
  private readonly acc: Buffer;
  private len = 0;
  private skipping = false;   // inside an oversize run: drop bytes up to the next zero

  constructor(opts: { maxPayload?: number; counters?: FrameCounters } = {}) {
    const maxPayload = Math.min(opts.maxPayload ?? MAX_PAYLOAD, MAX_PAYLOAD);
    this.maxBody = cobsMaxLength(HEADER + maxPayload + TRAILER);
    this.acc = Buffer.allocUnsafe(this.maxBody);
    this.counters = opts.counters ?? newCounters();
  }

  /** Forget a partial frame, e.g. after the device was reopened; counters stay. */
  reset(): void {
    if (this.len > 0 || this.skipping) this.counters.discardedBytes += this.len;
    this.len = 0;
    this.skipping = false;
  }

  /** Feeds bytes in; returns the payloads of every frame they complete, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    this.counters.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const zero = chunk.indexOf(0, at);
      const end = zero < 0 ? chunk.length : zero;
      this.take(chunk, at, end);
      if (zero < 0) break;
      this.finish(out);
      at = zero + 1;
    }
    return out;
  }

  private take(chunk: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    if (this.skipping) {
      this.counters.discardedBytes += n;
      return;
    }
    if (this.len + n > this.maxBody) {
      // Give up on this run now rather than buffering without bound; what
      // follows up to the next zero cannot be a frame either.
      this.counters.rejected.oversize += 1;
      this.counters.discardedBytes += this.len + n;
      this.len = 0;
      this.skipping = true;
      return;
    }
    this.acc.set(chunk.subarray(start, end), this.len);
    this.len += n;
  }

  private finish(out: Buffer[]): void {
    if (this.skipping) {
      this.skipping = false;
      return;
    }
    const n = this.len;
    this.len = 0;
    if (n === 0) return;   // back-to-back delimiters: the gap between two frames
    const reason = this.check(this.acc.subarray(0, n), out);
    if (reason) {
      this.counters.rejected[reason] += 1;
      this.counters.discardedBytes += n;
    }
  }

  private check(body: Buffer, out: Buffer[]): RejectReason | undefined {
    const raw = cobsDecode(body);
    if (raw === undefined || raw.length < HEADER + TRAILER) return 'truncated';
    const declared = raw.readUInt16BE(1);
    const total = HEADER + declared + TRAILER;
    if (raw.length < total) return 'truncated';
    if (raw.length > total) return 'length';
    if (crc32(raw, 0, HEADER + declared) !== raw.readUInt32BE(HEADER + declared)) return 'crc';
    if (raw[0] !== FRAME_HEARTBEAT) return 'type';
    this.counters.frames += 1;
    out.push(Buffer.from(raw.subarray(HEADER, HEADER + declared)));
    return undefined;
  }
}
