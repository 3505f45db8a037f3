// Runs inside a test namespace (`ip netns exec NS node vrrp-driver.mjs DIST`):
// a VrrpSocket of the compiled network core (NetCore.openVrrp), driven over stdin/stdout one
// JSON object per line (a raw socket acts on the namespace of its process):
//   {"id":1,"op":"open","family":4,"ifname":"eth0","group":null,"checksumMode":"rfc"}
//   {"id":2,"op":"send","advert":{..},"enc":{..},"dst":"224.0.0.18","src":"10.0.0.2"}
//   {"id":3,"op":"sendRaw","hex":"2133..","dst":..,"src":..}   (bytes as given)
//   {"id":4,"op":"primary","ifname":"eth0","family":6}        (primaryAddress of the core)
//   {"id":5,"op":"advertise","advert":..,"enc":..,"dst":..,"src":..,"everyMs":100}  (now and every everyMs)
//   {"id":6,"op":"quiet"}                                       (stops advertising)
//   {"id":7,"op":"burst","n":..,"maxLen":..,"dst":..,"src":..}  (random junk, as fast as possible)
// "open" with "forward":false counts received adverts without writing them out.
//   {"id":5,"op":"counters"}
// every received advert arrives as {"rx":{payload(hex),src,dst,ttl,ifindex,family}};
// answers {"id":..,"ok":true,"value":..} or {"id":..,"ok":false,"error":msg}.
// EOF on stdin closes the socket and exits.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dist = process.argv[2];
if (!dist) {
  process.stderr.write('usage: vrrp-driver.mjs <compiled output dir>\n');
  process.exit(2);
}
const net = await import(pathToFileURL(join(dist, 'src/net/index.js')).href);
const packet = await import(pathToFileURL(join(dist, 'src/vrrp/packet.js')).href);
const send = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
let sock;
let core;
let timer;

function sendAdvert(cmd) {
  const b = packet.encode(cmd.advert, cmd.enc);
  const err = sock.send(b, cmd.dst, cmd.src);
  if (err) throw new Error(err);
  return b;
}

async function handle(cmd) {
  switch (cmd.op) {
    case 'open': {
      sock?.close();
      core ??= net.NetCore.open();
      sock = core.openVrrp({
        family: cmd.family,
        ifname: cmd.ifname,
        ...(cmd.group !== undefined ? { group: cmd.group } : {}),
        ...(cmd.checksumMode ? { checksumMode: cmd.checksumMode } : {}),
        log: (level, msg) => send({ log: [level, msg] }),
        onPacket: (p) => { if (cmd.forward !== false) send({ rx: { ...p, payload: p.payload.toString('hex') } }); },
      });
      return { ifindex: sock.ifindex, kernelChecksum: sock.kernelChecksum, group: sock.group ?? null };
    }
    case 'send':
      return sendAdvert(cmd).toString('hex');
    case 'advertise': {
      clearInterval(timer);
      const b = sendAdvert(cmd);
      timer = setInterval(() => {
        try { sendAdvert(cmd); } catch (e) { send({ log: ['warn', e.message] }); }
      }, cmd.everyMs);
      return b.toString('hex');
    }
    case 'quiet':
      clearInterval(timer);
      timer = undefined;
      return null;
    case 'sendRaw': {
      const err = sock.send(Buffer.from(cmd.hex, 'hex'), cmd.dst, cmd.src);
      if (err) throw new Error(err);
      return null;
    }
    case 'primary': {
      core ??= net.NetCore.open();
      const nic = (await core.nl.interfaces()).find((i) => i.name === cmd.ifname);
      return nic ? (packet.primaryAddress(nic, cmd.family) ?? null) : null;
    }
    case 'burst': {
      // n datagrams of random bytes and random length up to maxLen, as fast as the socket takes them
      let errors = 0;
      for (let i = 0; i < cmd.n; i++) {
        const len = i % 100 === 0 ? cmd.maxLen : Math.floor(Math.random() * 64);
        if (sock.send(randomBytes(len), cmd.dst, cmd.src)) errors++;
      }
      return { sent: cmd.n - errors, errors };
    }
    case 'counters':
      return sock ? { ...sock.counters } : null;
    case 'close':
      sock?.close();
      sock = undefined;
      return null;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  Promise.resolve().then(() => handle(cmd)).then(
    (value) => send({ id: cmd.id, ok: true, value: value ?? null }),
    (e) => send({ id: cmd.id, ok: false, error: e.message }),
  );
});
rl.on('close', () => {
  clearInterval(timer);
  core?.close();   // closes the socket with it
});
