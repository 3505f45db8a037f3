// One endpoint of Node's floor (bench:cost, impl `node-floor`): the least a
// Node process does to keep a heartbeat pair alive, and nothing else. Every
// period it signs and sends one datagram the size of a tandem status
// (300 bytes, HMAC-SHA1 over it, as `auth 1 sha1`), on an absolute deadline,
// and it checks the HMAC of each datagram it receives. The bench runs two of
// these as a pair, with tandem's own node flags, to show what any Node
// daemon pays at a heartbeat rate before its own code runs.
//
// Usage: node floor-endpoint.js --peer IP --period-ms N [--port 694]

import { createHmac, timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';

const KEY = 'lab-secret';
const BODY = 300;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const peer = arg('peer');
const period = Number(arg('period-ms'));
const port = Number(arg('port') ?? '694');
if (!peer || !(period > 0) || !(port > 0 && port < 65536)) {
  console.error('usage: floor-endpoint --peer IP --period-ms N [--port 694]');
  process.exit(2);
}

const sock = dgram.createSocket('udp4');
const out = Buffer.alloc(BODY + 20, 0x41);
let seq = 0;
let bad = 0;
sock.on('message', (m) => {
  if (m.length !== BODY + 20) { bad++; return; }
  const mac = createHmac('sha1', KEY).update(m.subarray(0, BODY)).digest();
  if (!timingSafeEqual(mac, m.subarray(BODY))) bad++;
});
sock.on('error', (e) => { console.error(`floor-endpoint: ${e.message}`); process.exit(1); });
sock.bind(port, () => {
  let next = performance.now();
  const tick = (): void => {
    out.writeUInt32BE(++seq, 0);
    createHmac('sha1', KEY).update(out.subarray(0, BODY)).digest().copy(out, BODY);
    sock.send(out, port, peer);
    next += period;
    setTimeout(tick, Math.max(0, next - performance.now()));
  };
  tick();
});
process.on('SIGTERM', () => { if (bad) console.error(`floor-endpoint: ${bad} bad datagrams`); process.exit(0); });
