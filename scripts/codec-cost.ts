// npm run cost:codec: what one status heartbeat costs to encode and sign
// (wire.encodeStatus) and to decode and authenticate (wire.readDatagram),
// sha1 as in most authkeys files, with the fields a quorum pair sends. A
// developer's measure of the send-and-judge path's codec, not a comparison:
// the pair-level cost beside keepalived and Heartbeat is issue 13's
// bench:cost.
//
// Usage: npm run cost:codec -- [--iterations N]

import { createHash } from 'node:crypto';
import type { AuthKeys } from '../src/config/types.js';
import type { OutgoingStatus } from '../src/node/engine.js';
import { encodeStatus, readDatagram, type Receiver, type Sender } from '../src/node/wire.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isSafeInteger(v) || v < 1) {
    console.error(`--${name}: a whole number above 0, got '${process.argv[i + 1] ?? ''}'`);
    process.exit(2);
  }
  return v;
}

const n = arg('iterations', 200_000);
const authkeys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('cost of a heartbeat') }]]) };
const from: Sender = { node: 'alpha', uuid: Buffer.alloc(16, 7), generation: 1_700_000_000, deadtimeMs: 300, authkeys };
const to: Receiver = { node: 'beta', authkeys, quorum: true };
const status: OutgoingStatus = {
  seq: 1, status: 'active', hold: ['g1', 'g2'], yielding: [], failed: [], standby: [], hears: 1_700_000_100, hearsSeq: 99,
  extra: [['tg_ping', '2 2'], ['tg_hears', '1']],
};

let bytes = encodeStatus(status, from, 1_700_000_000);
// Warm up, so the figures are the optimised code's.
for (let i = 0; i < 20_000; i++) readDatagram(encodeStatus({ ...status, seq: i }, from, 1_700_000_000), 'p', to, 1_700_000_000);

let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) { status.seq = i; bytes = encodeStatus(status, from, 1_700_000_000); }
const encodeNs = Number(process.hrtime.bigint() - t) / n;
t = process.hrtime.bigint();
let kind = '';
for (let i = 0; i < n; i++) kind = readDatagram(bytes, 'p', to, 1_700_000_000).kind;
const decodeNs = Number(process.hrtime.bigint() - t) / n;
if (kind !== 'heard') throw new Error(`the datagram did not decode as a heartbeat: ${kind}`);

console.log(`status heartbeat, sha1, ${bytes.length} bytes, ${n} iterations`);
console.log(`  encode + sign          ${(encodeNs / 1000).toFixed(1)} µs`);
console.log(`  decode + authenticate  ${(decodeNs / 1000).toFixed(1)} µs`);
console.log(`  last datagram sha1     ${createHash('sha1').update(bytes).digest('hex')}`);
