// Wire format between tandem nodes and the arbiter: one UDP datagram per
// request or reply,
//
//   "TQ1 <key index> <hex HMAC>\n" <JSON body>
//
// authenticated with a key from an authkeys-format file (the same parser and
// HMAC code as the heartbeats). The HMAC covers a fixed label plus the body,
// so a heartbeat signed with the same key can never pass for a request.
// Replay protection is in the body: every request carries the sender's
// generation (bumped and fsynced at each daemon start) and a sequence number
// within it; the arbiter keeps the highest pair per node and ignores anything
// not above it. Replies echo the pair, so a client accepts only the answer
// to a request it has outstanding. No field is a timestamp: neither side
// trusts the other's clock.

import type { AuthKeys, AuthMethod } from '../config/types.js';
import { digest, verifyDigest } from '../heartbeat/auth.js';

export const MAGIC = 'TQ1';
export const MAX_DATAGRAM = 1400;
const LABEL = Buffer.from('tandem-quorum-v1\n');

export interface ArbiterRequest {
  t: 'req';
  op: 'acquire' | 'release';
  cluster: string;
  node: string;
  group: string;
  gen: number;              // sender's generation
  seq: number;              // per-generation request counter, starts at 1
  ttlMs: number;
  graceMs: number;          // how long a holder that lost its lease may still be stopping
  holds: boolean;           // the sender runs the group now
  peerHeard: boolean;       // the sender hears its peer
  peerHolds: boolean;       // the peer's newest report lists the group
  reach: number;            // ping targets the sender reaches
  reachTotal: number;       // ping targets configured (0 = none)
  leaving?: boolean;        // with op=release: the sender is shutting down
}

export type ReplyOutcome = 'granted' | 'denied' | 'released';

export interface ArbiterReply {
  t: 'rep';
  cluster: string;
  node: string;
  group: string;
  gen: number;
  seq: number;
  outcome: ReplyOutcome;
  ttlMs?: number;
  holder?: string;
  retryInMs?: number;
  reason?: string;
}

export type ArbiterMessage = ArbiterRequest | ArbiterReply;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(readonly reason: 'malformed' | 'auth', message: string) {
    super(message);
  }
}

/** Key methods acceptable for the arbiter: crc is a checksum anyone can compute. */
export function isAuthenticating(method: AuthMethod): boolean {
  return method !== 'crc';
}

export function encodeMessage(msg: ArbiterMessage, keys: AuthKeys, index = keys.sendIndex): Buffer {
  const key = keys.keys.get(index);
  if (!key) throw new Error(`key index ${index} is not in the keys file`);
  if (!isAuthenticating(key.method)) throw new Error(`key index ${index} uses crc, which authenticates nothing`);
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  const mac = digest(key.method, key.key, Buffer.concat([LABEL, body]));
  const out = Buffer.concat([Buffer.from(`${MAGIC} ${index} ${mac}\n`, 'latin1'), body]);
  if (out.length > MAX_DATAGRAM) throw new Error(`message of ${out.length} bytes exceeds ${MAX_DATAGRAM}`);
  return out;
}

/** Checks the HMAC, then the shape. Throws ProtocolError; never anything else. */
export function decodeMessage(buf: Buffer, keys: AuthKeys): { index: number; msg: ArbiterMessage } {
  if (buf.length > MAX_DATAGRAM) throw new ProtocolError('malformed', `datagram of ${buf.length} bytes is too long`);
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > 200) throw new ProtocolError('malformed', 'no header line');
  const header = buf.subarray(0, nl).toString('latin1');
  const m = /^TQ1 ([0-9]{1,2}) ([0-9a-f]{1,128})$/.exec(header);
  if (!m) throw new ProtocolError('malformed', 'not a tandem arbiter message');
  const index = Number(m[1]);
  const key = keys.keys.get(index);
  if (!key) throw new ProtocolError('auth', `unknown key index ${index}`);
  if (!isAuthenticating(key.method)) throw new ProtocolError('auth', `key index ${index} uses crc, which is not accepted`);
  const body = buf.subarray(nl + 1);
  if (!verifyDigest(key.method, key.key, Buffer.concat([LABEL, body]), m[2]!)) {
    throw new ProtocolError('auth', `bad HMAC (key index ${index})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ProtocolError('malformed', 'body is not JSON');
  }
  return { index, msg: validate(parsed) };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Cluster and node names: what ha.cf accepts for node names. */
export function nameProblem(s: string): string | undefined {
  return NAME_RE.test(s) ? undefined : 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
}

/** Group names are haresources' first resource: printable ASCII, no blanks. */
export function groupProblem(s: string): string | undefined {
  return /^[\x21-\x7e]{1,200}$/.test(s) ? undefined : 'must be 1-200 printable ASCII characters without blanks';
}

function validate(v: unknown): ArbiterMessage {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError('malformed', 'body is not an object');
  const o = v as Record<string, unknown>;
  const str = (k: string, check: (s: string) => string | undefined): string => {
    const x = o[k];
    if (typeof x !== 'string') throw new ProtocolError('malformed', `${k}: not a string`);
    const p = check(x);
    if (p) throw new ProtocolError('malformed', `${k}: ${p}`);
    return x;
  };
  const int = (k: string, min: number, max: number): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
      throw new ProtocolError('malformed', `${k}: not an integer in [${min}, ${max}]`);
    }
    return x;
  };
  const bool = (k: string): boolean => {
    const x = o[k];
    if (typeof x !== 'boolean') throw new ProtocolError('malformed', `${k}: not a boolean`);
    return x;
  };
  const DAY = 86_400_000;
  const common = {
    cluster: str('cluster', nameProblem), node: str('node', nameProblem), group: str('group', groupProblem),
    gen: int('gen', 0, Number.MAX_SAFE_INTEGER), seq: int('seq', 1, Number.MAX_SAFE_INTEGER),
  };
  if (o.t === 'req') {
    if (o.op !== 'acquire' && o.op !== 'release') throw new ProtocolError('malformed', 'op: must be acquire or release');
    const req: ArbiterRequest = {
      t: 'req', op: o.op, ...common,
      ttlMs: int('ttlMs', 1, DAY), graceMs: int('graceMs', 0, DAY),
      holds: bool('holds'), peerHeard: bool('peerHeard'), peerHolds: bool('peerHolds'),
      reach: int('reach', 0, 10_000), reachTotal: int('reachTotal', 0, 10_000),
    };
    if (req.reach > req.reachTotal) throw new ProtocolError('malformed', 'reach: exceeds reachTotal');
    if (o.leaving !== undefined) req.leaving = bool('leaving');
    return req;
  }
  if (o.t === 'rep') {
    if (o.outcome !== 'granted' && o.outcome !== 'denied' && o.outcome !== 'released') {
      throw new ProtocolError('malformed', 'outcome: must be granted, denied or released');
    }
    const rep: ArbiterReply = { t: 'rep', ...common, outcome: o.outcome };
    if (o.ttlMs !== undefined) rep.ttlMs = int('ttlMs', 1, DAY);
    if (rep.outcome === 'granted' && rep.ttlMs === undefined) throw new ProtocolError('malformed', 'ttlMs: missing in a grant');
    if (o.holder !== undefined) rep.holder = str('holder', nameProblem);
    if (o.retryInMs !== undefined) rep.retryInMs = int('retryInMs', 0, DAY);
    if (o.reason !== undefined) rep.reason = str('reason', (s) => (s.length <= 300 && !/[\x00-\x1f]/.test(s) ? undefined : 'too long or has control characters'));
    return rep;
  }
  throw new ProtocolError('malformed', 't: must be req or rep');
}
