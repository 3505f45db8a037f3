// Runs inside a test namespace: an eavesdropper on the heartbeat segment.
// Binds PORT, keeps the datagrams that come from SOURCE for MS milliseconds,
// and prints one line per datagram: '<ms since the first> =<base64>'.
import dgram from 'node:dgram';

const [portS, source, msS] = process.argv.slice(2);
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const lines = [];
let t0;
sock.on('message', (buf, rinfo) => {
  if (rinfo.address !== source) return;
  const now = performance.now();
  t0 ??= now;
  lines.push(`${Math.round(now - t0)} =${buf.toString('base64')}`);
});
await new Promise((r) => sock.bind(Number(portS), r));
setTimeout(() => {
  sock.close();
  process.stdout.write(lines.join('\n') + '\n');
}, Number(msS));
