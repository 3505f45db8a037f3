// Runs inside a test namespace: `node replay-sender.mjs HOST PORT RATE SECONDS`.
// Reads datagrams from stdin (one per line, '=' + base64). The first line is
// sent once (as the real sender did), the second at RATE per second for
// SECONDS, as an attacker replays one captured datagram, and any further
// lines once each, spread evenly through the flood. Prints {"sent":N,"replayed":N}.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const [host, portS, rateS, secondsS] = process.argv.slice(2);
const port = Number(portS);
const rate = Number(rateS);
const seconds = Number(secondsS);
const lines = [];
for await (const line of createInterface({ input: process.stdin })) if (line.startsWith('=')) lines.push(Buffer.from(line.slice(1), 'base64'));
const [first, replay, ...extra] = lines;
const sock = dgram.createSocket('udp4');
await new Promise((r) => sock.bind(0, r));
const send = (buf) => new Promise((r, j) => sock.send(buf, port, host, (e) => (e ? j(e) : r())));
let sent = 0;
await send(first);
sent += 1;
await new Promise((r) => setTimeout(r, 200));
const total = Math.round(rate * seconds);
const t0 = performance.now();
let replayed = 0;
while (replayed < total) {
  // Catch up to where the schedule says we should be, in batches.
  const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
  const batch = [];
  while (replayed < due) { batch.push(send(replay)); replayed += 1; }
  await Promise.all(batch);
  // the next extra line is due once its share of the flood has gone
  while (sent - 1 < extra.length && replayed >= ((sent) * total) / (extra.length + 1)) {
    await send(extra[sent - 1]);
    sent += 1;
  }
  await new Promise((r) => setTimeout(r, 2));
}
sent += replayed;
process.stdout.write(JSON.stringify({ sent, replayed }) + '\n');
sock.close();
