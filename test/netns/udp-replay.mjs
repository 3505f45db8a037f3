// Runs inside a test namespace: replays lines of udp-capture.mjs to HOST:PORT
// (broadcast allowed) with their original spacing, then prints how many it sent.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [host, portS] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
await new Promise((r) => sock.bind(0, r));
sock.setBroadcast(true);
const start = performance.now();
let sent = 0;
for await (const line of createInterface({ input: process.stdin })) {
  const m = /^(\d+) =(.*)$/.exec(line);
  if (!m) continue;
  const wait = Number(m[1]) - (performance.now() - start);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await new Promise((r, j) => sock.send(Buffer.from(m[2], 'base64'), Number(portS), host, (e) => (e ? j(e) : r())));
  sent += 1;
}
process.stdout.write(`${sent}\n`);
sock.close();
