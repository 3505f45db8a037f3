// Runs inside a test namespace: `node fuzz-exchange.mjs HOST PORT WAIT_MS`.
// Reads one datagram per stdin line ('=' + base64, so an empty datagram is
// still a line), sends each to HOST:PORT from one socket, paced so no
// receive buffer overflows (datagrams over 1500 bytes get a pause of their
// own), then waits WAIT_MS for late replies and prints one JSON line:
//   {"sent":N,"errors":["..."],"replies":["<base64>",...]}
// Replies are every datagram that came back to the socket, in arrival order.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [host, portS, waitS] = process.argv.slice(2);
const port = Number(portS);
const waitMs = Number(waitS ?? 300);
const sock = dgram.createSocket('udp4');
const replies = [];
const errors = [];
sock.on('message', (b) => replies.push(b.toString('base64')));
sock.on('error', (e) => errors.push(e.message));
await new Promise((r) => sock.bind(0, r));
let sent = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.startsWith('=')) continue;
  const buf = Buffer.from(line.slice(1), 'base64');
  try {
    await new Promise((r, j) => sock.send(buf, port, host, (e) => (e ? j(e) : r())));
    sent += 1;
  } catch (e) {
    errors.push(`datagram ${sent + errors.length} (${buf.length} bytes): ${e.message}`);
  }
  if (buf.length > 1500) await new Promise((r) => setTimeout(r, 3));
  else if (sent % 4 === 0) await new Promise((r) => setTimeout(r, 3));
}
await new Promise((r) => setTimeout(r, waitMs));
process.stdout.write(`${JSON.stringify({ sent, errors, replies })}\n`);
sock.close();
