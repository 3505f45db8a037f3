// Runs inside a test namespace: reads one datagram per stdin line ('=' + base64,
// so an empty datagram is still a line) and
// sends each to HOST:PORT (broadcast allowed), paced so no receive buffer
// overflows, then prints how many it sent.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [host, portS] = process.argv.slice(2);
const port = Number(portS);
const sock = dgram.createSocket('udp4');
await new Promise((r) => sock.bind(0, r));
sock.setBroadcast(true);
let sent = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.startsWith('=')) continue;
  const buf = Buffer.from(line.slice(1), 'base64');
  await new Promise((r, j) => sock.send(buf, port, host, (e) => (e ? j(e) : r())));
  sent += 1;
  if (sent % 4 === 0) await new Promise((r) => setTimeout(r, 4));
}
process.stdout.write(`${sent}\n`);
sock.close();
