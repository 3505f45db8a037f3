// Heartbeat 3 datagram codec.
//
// On the wire every message is netstring framed:
//   "###\n" { "<len>:(<type>)<name>=<value>," } "%%%\n" "<len>:<idx> <hex>,"
// and carries two tokens: the trailer over the framed bytes, and (classic msgfmt,
// Heartbeat's default) an inner `auth` field over a text rendering of the other
// fields. tandem always sends both so that a stock Heartbeat peer accepts it.
// The older ">>>\n name=value\n ... <<<\n" text form is still accepted on receive.

import type { AuthKey, AuthKeys } from '../config/types.js';
import { digest, verifyDigest } from './auth.js';
import { DecodeError, type Field, type FieldType } from './types.js';

/** Datagrams above this are refused before any parsing (overridable per call). */
export const DEFAULT_MAX_BYTES = 64 * 1024;

export interface DecodeOptions {
  maxBytes?: number;
}

const AUTH_FIELD = 'auth';
const NETSTRING_HEAD = Buffer.from('###\n', 'latin1');
const NETSTRING_TAIL = Buffer.from('%%%\n', 'latin1');
const CLASSIC_HEAD = Buffer.from('>>>\n', 'latin1');
const CLASSIC_TAIL_LINE = Buffer.from('<<<', 'latin1');

const COLON = 0x3a;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;
const PERCENT = 0x25;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

const isDigit = (b: number): boolean => b >= DIGIT_0 && b <= DIGIT_9;

// ---------------------------------------------------------------------------
// Field names and values

/** Why `name` cannot be put in a message, or undefined when it can. */
function nameProblem(name: string): string | undefined {
  if (GOOD_NAMES.has(name)) return undefined;
  if (name.length === 0) return 'field name is empty';
  // '=' ends the name in both formats and '\n' ends a classic line.
  if (/[=\n\0]/.test(name)) return `field name ${JSON.stringify(name)} contains '=', newline or NUL`;
  // A classic line starting with '(' is read as a typed field.
  if (name.charCodeAt(0) === OPEN_PAREN) return `field name ${JSON.stringify(name)} starts with '('`;
  // Lone surrogates would not survive the UTF-8 round trip.
  if (/\p{Cs}/u.test(name)) return `field name ${JSON.stringify(name)} is not valid Unicode`;
  if (GOOD_NAMES.size >= MAX_GOOD_NAMES) GOOD_NAMES.clear();
  GOOD_NAMES.add(name);
  return undefined;
}

// Every message repeats the same few dozen names; checking each once per
// process keeps the regex and the Unicode check off the per-heartbeat path.
// Bounded, since decoded names come from the network.
const GOOD_NAMES = new Set<string>();
const MAX_GOOD_NAMES = 1024;

function isFieldType(t: unknown): t is FieldType {
  return t === 0 || t === 1 || t === 2 || t === 3 || t === 4 || t === 5;
}

function checkOutgoing(f: Field): void {
  const problem = nameProblem(f.name);
  if (problem !== undefined) throw new TypeError(problem);
  if (!isFieldType(f.type)) throw new TypeError(`field ${f.name}: unknown type ${String(f.type)}`);
  if (!Buffer.isBuffer(f.value)) throw new TypeError(`field ${f.name}: value is not a Buffer`);
  // A C peer keeps string values as NUL-terminated strings; it would sign a
  // shorter value than we did and drop the message.
  if (f.type === 0 && f.value.includes(0)) throw new TypeError(`field ${f.name}: string value contains NUL`);
  if (f.name === AUTH_FIELD) throw new TypeError('the auth field is added by encode, do not pass one');
}

/** Build a field; strings default to type 0 (string), Buffers to type 1 (binary). */
export function field(name: string, value: string | Buffer, type?: FieldType): Field {
  const f: Field = {
    name,
    value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
    type: type ?? (typeof value === 'string' ? 0 : 1),
  };
  checkOutgoing(f);
  return f;
}

/** First string field called `name`, as UTF-8 text. */
export function str(fields: readonly Field[], name: string): string | undefined {
  const f = fields.find((x) => x.name === name);
  return f !== undefined && f.type === 0 ? f.value.toString('utf8') : undefined;
}

/** First string field called `name` read as a hex number (seq, hg, ts, dt); undefined if absent or not hex. */
export function hex(fields: readonly Field[], name: string): number | undefined {
  const s = str(fields, name);
  // Heartbeat prints these with "%lx"; anything else is not a number it sent.
  if (s === undefined || !/^[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  const n = parseInt(s, 16);
  return Number.isSafeInteger(n) ? n : undefined;
}

// ---------------------------------------------------------------------------
// Signing

// encode and classicText write into one scratch buffer each instead of
// concatenating a dozen small Buffers per field: the heartbeat path runs them
// for every status sent and received. Nothing yields between filling a
// scratch buffer and reading it, so one per module is enough.
const MAX_TRAILER_BYTES = 80; // "<len>:<idx> <64 hex digits>,"
const frameScratch = Buffer.allocUnsafe(DEFAULT_MAX_BYTES + MAX_TRAILER_BYTES);
let classicScratch = Buffer.allocUnsafe(4096);

/** "(T)name=" as bytes, cached per type and name (a small set in practice; bounded). */
const FIELD_HEADS = new Map<string, Buffer>();
function fieldHead(type: FieldType, name: string): Buffer {
  const k = type + name;
  let head = FIELD_HEADS.get(k);
  if (head === undefined) {
    if (FIELD_HEADS.size >= MAX_GOOD_NAMES) FIELD_HEADS.clear();
    head = Buffer.from(`(${type})${name}=`, 'utf8');
    FIELD_HEADS.set(k, head);
  }
  return head;
}

/** "name=" as bytes for a classic string line, cached like fieldHead. */
const CLASSIC_HEADS = new Map<string, Buffer>();
function classicHead(name: string): Buffer {
  let head = CLASSIC_HEADS.get(name);
  if (head === undefined) {
    if (CLASSIC_HEADS.size >= MAX_GOOD_NAMES) CLASSIC_HEADS.clear();
    head = Buffer.from(`${name}=`, 'utf8');
    CLASSIC_HEADS.set(name, head);
  }
  return head;
}

function decimalDigits(n: number): number {
  let d = 1;
  while (n >= 10) { n = Math.floor(n / 10); d++; }
  return d;
}

/** Writes n in decimal at pos; returns the position after it. */
function writeDecimal(buf: Buffer, pos: number, n: number): number {
  const end = pos + decimalDigits(n);
  for (let p = end - 1; p >= pos; p--) { buf[p] = DIGIT_0 + (n % 10); n = Math.floor(n / 10); }
  return end;
}

/**
 * The classic text rendering the inner `auth` token is computed over: every
 * field but `auth`, in order, `name=value\n` for strings and
 * `(T)name=<base64>\n` for everything else, with no >>>/<<< lines. The
 * result is a view of a scratch buffer: digest it before the next call.
 */
function classicText(fields: readonly Field[]): Buffer {
  let size = 0;
  for (const f of fields) {
    if (f.name === AUTH_FIELD) continue;
    size += f.type === 0
      ? classicHead(f.name).length + f.value.length + 1
      : fieldHead(f.type, f.name).length + 4 * Math.ceil(f.value.length / 3) + 1;
  }
  if (size > classicScratch.length) classicScratch = Buffer.allocUnsafe(Math.max(size, 2 * classicScratch.length));
  const out = classicScratch;
  let pos = 0;
  for (const f of fields) {
    if (f.name === AUTH_FIELD) continue;
    if (f.type === 0) {
      const head = classicHead(f.name);
      out.set(head, pos);
      out.set(f.value, pos + head.length);
      pos += head.length + f.value.length;
    } else {
      const head = fieldHead(f.type, f.name);
      out.set(head, pos);
      pos += head.length;
      pos += out.write(f.value.toString('base64'), pos, 'latin1');
    }
    out[pos++] = NEWLINE;
  }
  return out.subarray(0, pos);
}

function token(index: number, key: AuthKey, data: Buffer): string {
  return `${index} ${digest(key.method, key.key, data)}`;
}

function netstringSize(bodyLength: number): number {
  return decimalDigits(bodyLength) + 1 + bodyLength + 1;
}

/**
 * Frame and sign `fields` (which must not contain `auth`) with the send key.
 * Throws on a missing send key or a field a Heartbeat peer could not read back.
 */
export function encode(fields: readonly Field[], keys: AuthKeys): Buffer {
  const key = keys.keys.get(keys.sendIndex);
  if (key === undefined) throw new Error(`authkeys has no key ${keys.sendIndex} to send with`);
  for (const f of fields) checkOutgoing(f);

  const inner = Buffer.from(token(keys.sendIndex, key, classicText(fields)), 'latin1');
  const authHead = fieldHead(0, AUTH_FIELD);
  let signedSize = NETSTRING_HEAD.length + NETSTRING_TAIL.length + netstringSize(authHead.length + inner.length);
  for (const f of fields) signedSize += netstringSize(fieldHead(f.type, f.name).length + f.value.length);
  // Whatever we send must be something our own decoder (and a peer with the
  // same limit) accepts.
  if (signedSize > DEFAULT_MAX_BYTES) throw new RangeError(`message is at least ${signedSize} bytes, limit ${DEFAULT_MAX_BYTES}`);

  const out = frameScratch;
  out.set(NETSTRING_HEAD, 0);
  let pos = NETSTRING_HEAD.length;
  const putField = (head: Buffer, value: Buffer): void => {
    pos = writeDecimal(out, pos, head.length + value.length);
    out[pos++] = COLON;
    out.set(head, pos);
    out.set(value, pos + head.length);
    pos += head.length + value.length;
    out[pos++] = COMMA;
  };
  for (const f of fields) putField(fieldHead(f.type, f.name), f.value);
  putField(authHead, inner);
  out.set(NETSTRING_TAIL, pos);
  pos += NETSTRING_TAIL.length;

  const trailer = token(keys.sendIndex, key, out.subarray(0, pos));
  const total = pos + netstringSize(trailer.length);
  if (total > DEFAULT_MAX_BYTES) throw new RangeError(`message is ${total} bytes, limit ${DEFAULT_MAX_BYTES}`);
  pos = writeDecimal(out, pos, trailer.length);
  out[pos++] = COLON;
  pos += out.write(trailer, pos, 'latin1');
  out[pos++] = COMMA;
  return Buffer.from(out.subarray(0, pos));
}

// ---------------------------------------------------------------------------
// Decoding. Every failure is a DecodeError. Order of checks: size; framing and
// truncation while the datagram is walked; the token's syntax, key index and
// digest; only then the field contents. Field bodies of a datagram that does
// not authenticate are never parsed: a flood of forged, field-heavy datagrams
// then costs one walk and one digest each, not thousands of allocations.

function fail(reason: DecodeError['reason'], message: string): never {
  throw new DecodeError(reason, message);
}

/** True when buf[pos..] is a (possibly empty) proper prefix of `want`, i.e. the datagram was cut inside it. */
function cutInside(buf: Buffer, pos: number, want: Buffer): boolean {
  const avail = buf.length - pos;
  return avail < want.length && buf.subarray(pos).equals(want.subarray(0, avail));
}

/**
 * Read one netstring starting at `pos`. Lengths are plain decimal without
 * leading zeros and at most as many digits as the size limit has: longer can
 * never fit, so it is bad framing rather than a cut datagram.
 */
function readNetstring(buf: Buffer, pos: number, maxBytes: number, what: string): { start: number; end: number } {
  const maxDigits = String(maxBytes).length;
  let p = pos;
  while (p < buf.length && isDigit(buf[p]!)) {
    if (p - pos >= maxDigits) fail('framing', `${what} length at byte ${pos} has too many digits`);
    p++;
  }
  if (p === buf.length) fail('truncated', `datagram ends inside the ${what} length at byte ${pos}`);
  if (p === pos) fail('framing', `expected a ${what} length at byte ${pos}, found 0x${buf[p]!.toString(16)}`);
  if (buf[p] !== COLON) fail('framing', `${what} length at byte ${pos} is not followed by ':'`);
  if (buf[pos] === DIGIT_0 && p - pos > 1) fail('framing', `${what} length at byte ${pos} has a leading zero`);
  const len = Number(buf.toString('latin1', pos, p));
  if (len > maxBytes) fail('framing', `${what} length ${len} at byte ${pos} exceeds ${maxBytes}`);
  const start = p + 1;
  const end = start + len;
  if (end >= buf.length) fail('truncated', `${what} at byte ${pos} needs ${end + 1 - buf.length} more bytes`);
  if (buf[end] !== COMMA) fail('framing', `${what} at byte ${pos} is not terminated by ','`);
  // The body is buf[start, end); the next netstring starts at end + 1.
  return { start, end };
}

/**
 * buf[start, end) as a field name. It must be valid UTF-8 and pass the same
 * rules encode applies, so anything decoded re-encodes identically.
 */
function decodeName(buf: Buffer, start: number, end: number, where: () => string): string {
  let ascii = true;
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) { ascii = false; break; }
  // Plain ASCII is always valid UTF-8 and reads the same in latin1, which is cheaper.
  const name = buf.toString(ascii ? 'latin1' : 'utf8', start, end);
  if (!ascii && !Buffer.from(name, 'utf8').equals(buf.subarray(start, end))) fail('field', `${where()}: field name is not valid UTF-8`);
  const problem = nameProblem(name);
  if (problem !== undefined) fail('field', `${where()}: ${problem}`);
  return name;
}

/**
 * `(T)name=value`, the body of one field netstring at buf[start, end).
 * Values of every type stay opaque bytes, views of `buf`.
 */
function parseNetstringField(buf: Buffer, start: number, end: number, where: () => string): Field {
  if (end - start < 4 || buf[start] !== OPEN_PAREN || buf[start + 2] !== CLOSE_PAREN) {
    fail('field', `${where()}: expected (T)name=value`);
  }
  const type = buf[start + 1]! - DIGIT_0;
  if (!isFieldType(type)) fail('field', `${where()}: unknown field type 0x${buf[start + 1]!.toString(16)}`);
  const eq = buf.indexOf(EQUALS, start + 3);
  if (eq < 0 || eq >= end) fail('field', `${where()}: no '=' in field`);
  const name = decodeName(buf, start + 3, eq, where);
  return { type, name, value: buf.subarray(eq + 1, end) };
}

/**
 * `<idx> <token>` as used by the trailer and the inner auth field. Returns
 * undefined when malformed; the caller picks the reason.
 */
function parseToken(raw: Buffer): { index: number; token: string } | undefined {
  const sp = raw.indexOf(SPACE);
  if (sp < 1 || sp > 2 || sp === raw.length - 1 || raw.indexOf(SPACE, sp + 1) >= 0) return undefined;
  for (let i = 0; i < sp; i++) if (!isDigit(raw[i]!)) return undefined;
  if (sp === 2 && raw[0] === DIGIT_0) return undefined;
  return { index: Number(raw.toString('latin1', 0, sp)), token: raw.toString('latin1', sp + 1) };
}

/** Check `raw` ("<idx> <hex>") over `data`; `badSyntax` is the reason for a malformed token. */
function checkToken(raw: Buffer, data: Buffer, keys: AuthKeys, what: string, badSyntax: 'framing' | 'field'): void {
  const parsed = parseToken(raw);
  if (parsed === undefined) fail(badSyntax, `${what} is not "<idx> <hex>"`);
  const key = keys.keys.get(parsed.index);
  if (key === undefined) fail('auth-index', `${what} names key index ${parsed.index}, not in authkeys`);
  if (!verifyDigest(key.method, key.key, data, parsed.token)) fail('auth', `${what} digest does not verify`);
}

function decodeNetstring(buf: Buffer, keys: AuthKeys, maxBytes: number): Field[] {
  // First pass: framing only, remembering where each field body is (plain
  // offsets: cheap for a forged datagram that will be dropped).
  const spans: number[] = [];
  let pos = NETSTRING_HEAD.length;
  for (;;) {
    if (cutInside(buf, pos, NETSTRING_TAIL)) fail('truncated', `datagram ends at byte ${buf.length} before "%%%"`);
    if (buf[pos] === PERCENT) {
      if (!buf.subarray(pos, pos + NETSTRING_TAIL.length).equals(NETSTRING_TAIL)) {
        fail('framing', `bad field terminator at byte ${pos}`);
      }
      pos += NETSTRING_TAIL.length;
      break;
    }
    const { start, end } = readNetstring(buf, pos, maxBytes, 'field');
    spans.push(pos, start, end);
    pos = end + 1;
  }
  const signedEnd = pos;
  if (pos === buf.length) fail('truncated', 'datagram ends before the auth trailer');
  const trailer = readNetstring(buf, pos, maxBytes, 'auth trailer');
  if (trailer.end + 1 !== buf.length) fail('framing', `${buf.length - trailer.end - 1} bytes after the auth trailer`);
  checkToken(buf.subarray(trailer.start, trailer.end), buf.subarray(0, signedEnd), keys, 'auth trailer', 'framing');

  // One copy of the authenticated datagram backs every value: callers may
  // keep fields long after the receive buffer is reused.
  const own = Buffer.from(buf);
  const fields: Field[] = [];
  for (let i = 0; i < spans.length; i += 3) {
    fields.push(parseNetstringField(own, spans[i + 1]!, spans[i + 2]!, () => `field ${i / 3} at byte ${spans[i]!}`));
  }
  const authFields = fields.filter((f) => f.name === AUTH_FIELD);
  const rest = fields.filter((f) => f.name !== AUTH_FIELD);
  if (authFields.length > 1) fail('field', 'more than one auth field');
  const auth = authFields[0];
  // msgfmt netstring senders leave the inner field out; the trailer suffices.
  if (auth === undefined) return rest;
  if (auth.type !== 0) fail('field', 'auth field is not a string');
  // The trailer already covers the inner field's bytes; checking the inner
  // token too catches a peer whose key for that index differs from ours.
  checkToken(auth.value, classicText(rest), keys, 'auth field', 'field');
  return rest;
}

/** Strict canonical base64 (what the sender's encoder emits); anything else is a damaged field. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function parseClassicLine(line: Buffer, where: string): Field {
  let type: FieldType = 0;
  let nameStart = 0;
  if (line[0] === OPEN_PAREN) {
    const t = line.length >= 3 && line[2] === CLOSE_PAREN ? line[1]! - DIGIT_0 : -1;
    // String fields are written without a type prefix, so "(0)" is not something a sender emits.
    if (!isFieldType(t) || t === 0) fail('field', `${where}: bad type prefix`);
    type = t;
    nameStart = 3;
  }
  const eq = line.indexOf(EQUALS, nameStart);
  if (eq < 0) fail('field', `${where}: no '=' in line`);
  const name = decodeName(line, nameStart, eq, () => where);
  // The one legitimate auth line was taken out before parsing.
  if (name === AUTH_FIELD) fail('field', `${where}: second or typed auth field`);
  const rawValue = line.subarray(eq + 1);
  if (type === 0) return { type, name, value: Buffer.from(rawValue) };
  const value = decodeBase64(rawValue.toString('latin1'));
  if (value === undefined) fail('field', `${where}: value is not canonical base64`);
  return { type, name, value };
}

const CLASSIC_AUTH_PREFIX = Buffer.from(`${AUTH_FIELD}=`, 'latin1');

function decodeClassic(buf: Buffer, keys: AuthKeys): Field[] {
  // First pass: find the auth line and the end; lines are parsed only once
  // the message has authenticated.
  let auth: { value: Buffer; start: number; end: number } | undefined;
  let pos = CLASSIC_HEAD.length;
  let textEnd: number;
  for (;;) {
    const nl = buf.indexOf(NEWLINE, pos);
    if (nl < 0) fail('truncated', `datagram ends at byte ${buf.length} before "<<<"`);
    // Range compares: no per-line Buffer objects in this pass.
    if (CLASSIC_TAIL_LINE.compare(buf, pos, nl) === 0) {
      textEnd = pos;
      pos = nl + 1;
      break;
    }
    const valueAt = pos + CLASSIC_AUTH_PREFIX.length;
    if (valueAt <= nl && CLASSIC_AUTH_PREFIX.compare(buf, pos, valueAt) === 0) {
      if (auth !== undefined) fail('field', `line at byte ${pos}: more than one auth field`);
      auth = { value: buf.subarray(valueAt, nl), start: pos, end: nl + 1 };
    }
    pos = nl + 1;
  }
  // One NUL is tolerated after "<<<\n": C senders may count the string terminator.
  const extra = buf.length - pos;
  if (extra > 1 || (extra === 1 && buf[pos] !== 0)) fail('framing', `${extra} bytes after "<<<"`);

  // No trailer in this format: the inner token is the only proof of origin.
  if (auth === undefined) fail('auth', 'classic message without an auth field');
  // Every other line, verbatim, is exactly the classic rendering the token
  // covers, provided it parses (non-canonical lines are refused below).
  const signed = Buffer.concat([buf.subarray(CLASSIC_HEAD.length, auth.start), buf.subarray(auth.end, textEnd)]);
  checkToken(auth.value, signed, keys, 'auth field', 'field');
  const fields: Field[] = [];
  for (let at = CLASSIC_HEAD.length, n = 2; at < textEnd; n++) {
    const nl = buf.indexOf(NEWLINE, at);
    if (at !== auth.start) fields.push(parseClassicLine(buf.subarray(at, nl), `line ${n} at byte ${at}`));
    at = nl + 1;
  }
  return fields;
}

/** The smallest datagram either framing can carry ("###\n%%%\n" and the shortest trailer). */
export const MIN_DATAGRAM_BYTES = 14;

/**
 * The cheapest look at a datagram, for use before decode: a length decode
 * accepts, the first four bytes of one of the two framings, and the last byte
 * that framing must end with. False means decode would refuse it as
 * malformed; true means nothing more than "worth decoding". Random junk
 * fails here without a single allocation.
 */
export function plausible(buf: Buffer, maxBytes = DEFAULT_MAX_BYTES): boolean {
  const n = buf.length;
  if (n < MIN_DATAGRAM_BYTES || n > maxBytes) return false;
  if (buf[1] !== buf[0] || buf[2] !== buf[0] || buf[3] !== NEWLINE) return false;
  if (buf[0] === 0x3e /* > */) {
    // Classic: ends with "<<<\n", or with one NUL after it that a C sender counted.
    const end = buf[n - 1] === 0 ? n - 1 : n;
    return CLASSIC_TAIL_LINE.compare(buf, end - 4, end - 1) === 0 && buf[end - 1] === NEWLINE;
  }
  if (buf[0] !== 0x23 /* # */) return false;
  // Netstring: the first field's length (or the end of the fields) right
  // after the head, and from the end, "%%%\n<len>:<token>," with <len> the
  // token's length. The token holds no ':' (key index, space, hex digest).
  if (!isDigit(buf[4]!) && buf[4] !== PERCENT) return false;
  if (buf[n - 1] !== COMMA) return false;
  const colon = buf.lastIndexOf(COLON, n - 2);
  if (colon < 8) return false;
  let len = 0;
  let scale = 1;
  let p = colon - 1;
  for (; p >= 0 && isDigit(buf[p]!) && scale <= maxBytes; p--, scale *= 10) len += (buf[p]! - DIGIT_0) * scale;
  if (p === colon - 1 || len !== n - 2 - colon) return false;
  return p >= 3 && NETSTRING_TAIL.compare(buf, p - 3, p + 1) === 0;
}

/**
 * Parse and authenticate one datagram. Returns the fields in wire order
 * without `auth`. Throws only DecodeError.
 */
export function decode(buf: Buffer, keys: AuthKeys, opts?: DecodeOptions): Field[] {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (buf.length > maxBytes) fail('too-large', `datagram of ${buf.length} bytes exceeds ${maxBytes}`);
  if (cutInside(buf, 0, NETSTRING_HEAD) || cutInside(buf, 0, CLASSIC_HEAD)) {
    fail('truncated', `datagram of ${buf.length} bytes is shorter than its header`);
  }
  const head = buf.subarray(0, 4);
  if (head.equals(NETSTRING_HEAD)) return decodeNetstring(buf, keys, maxBytes);
  if (head.equals(CLASSIC_HEAD)) return decodeClassic(buf, keys);
  return fail('framing', 'datagram starts with neither "###" nor ">>>"');
}
