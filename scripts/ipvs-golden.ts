// node dist/scripts/ipvs-golden.js — regenerates test/fixtures/ipvs-genl.json:
// the generic netlink messages Debian's ipvsadm sends for each IPVS operation
// and what the kernel answers, captured on an nlmon interface inside the
// qemu guest (lab/kvm.ts), so the codec is tested against bytes the real
// tools and the real kernel produced. Run it after changing what the codec
// must cover; the tests read only the fixture.
//
// In the guest (--guest) it runs each ipvsadm command as its own process,
// so the capture is split by netlink port id, one group per command.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInGuest } from '../lab/kvm.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = resolve(ROOT, 'test/fixtures/ipvs-genl.json');

/** name -> ipvsadm arguments; run in this order on one kernel. */
const CASES: Array<[string, string[]]> = [
  ['new-service-tcp-wrr', ['-A', '-t', '10.180.0.1:80', '-s', 'wrr']],
  ['new-service-duplicate', ['-A', '-t', '10.180.0.1:80', '-s', 'wrr']],
  ['new-service-unknown-scheduler', ['-A', '-t', '10.180.0.2:80', '-s', 'nosuch']],
  ['new-service-udp-persistent', ['-A', '-u', '10.180.0.3:53', '-s', 'rr', '-p', '300', '-M', '255.255.255.0']],
  ['new-service-fwmark', ['-A', '-f', '7', '-s', 'sh', '-p', '60']],
  ['new-dest-masq', ['-a', '-t', '10.180.0.1:80', '-r', '10.180.1.11:8080', '-m', '-w', '2']],
  ['new-dest-route-thresholds', ['-a', '-t', '10.180.0.1:80', '-r', '10.180.1.12', '-g', '-w', '1', '-x', '100', '-y', '10']],
  ['new-dest-tunnel', ['-a', '-t', '10.180.0.1:80', '-r', '10.180.1.13', '-i', '-w', '0']],
  ['new-dest-fwmark', ['-a', '-f', '7', '-r', '10.180.1.14', '-g', '-w', '3']],
  ['set-dest-weight', ['-e', '-t', '10.180.0.1:80', '-r', '10.180.1.11:8080', '-m', '-w', '5']],
  ['set-service-scheduler', ['-E', '-t', '10.180.0.1:80', '-s', 'rr']],
  ['list', ['-Ln']],
  ['del-dest', ['-d', '-t', '10.180.0.1:80', '-r', '10.180.1.13']],
  ['del-service', ['-D', '-u', '10.180.0.3:53']],
  ['flush', ['-C']],
];

interface Captured { dir: 'to-kernel' | 'from-kernel'; hex: string }

/** nlmon's pcap (LINKTYPE_NETLINK: a 16-byte cooked header, then the netlink messages). */
function parsePcap(buf: Buffer): Array<{ protocol: number; data: Buffer }> {
  if (buf.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error('not a little-endian pcap');
  if (buf.readUInt32LE(20) !== 253) throw new Error(`link type ${buf.readUInt32LE(20)}, expected 253 (netlink)`);
  const out = [];
  for (let at = 24; at + 16 <= buf.length;) {
    const len = buf.readUInt32LE(at + 8);
    const pkt = buf.subarray(at + 16, at + 16 + len);
    at += 16 + len;
    out.push({ protocol: pkt.readUInt16BE(14), data: Buffer.from(pkt.subarray(16)) });
  }
  return out;
}

async function inGuest(): Promise<void> {
  const sh = (cmd: string, ...args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  sh('modprobe', 'nlmon');
  sh('ip', 'link', 'add', 'tdipmon', 'type', 'nlmon');
  sh('ip', 'link', 'set', 'tdipmon', 'up');
  // The IPVS module and schedulers are loaded first, so the capture holds
  // only the commands' own messages.
  sh('modprobe', '-a', 'ip_vs', 'ip_vs_wrr', 'ip_vs_rr', 'ip_vs_sh');
  const dump = spawn('tcpdump', ['-i', 'tdipmon', '-U', '-w', '/tmp/tdip.pcap'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((ok, fail) => {
    let err = '';
    dump.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (/listening on/.test(err)) ok(); });
    dump.on('exit', () => fail(new Error(`tcpdump: ${err}`)));
  });
  const ran: Array<{ name: string; args: string[]; status: number; stdout: string; stderr: string; pid: number }> = [];
  for (const [name, args] of CASES) {
    const r = spawnSync('ipvsadm', args, { encoding: 'utf8' });
    ran.push({ name, args, status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.trim(), pid: r.pid! });
  }
  // tcpdump under TCG lags behind the commands: give it time to write the last packets.
  await new Promise((r) => setTimeout(r, 2000));
  dump.kill('SIGINT');
  await new Promise((r) => dump.on('exit', r));
  const packets = parsePcap(readFileSync('/tmp/tdip.pcap')).filter((p) => p.protocol === 16);
  // One group per ipvsadm process, in order: libnl binds each socket to a
  // port whose low 22 bits are the process id, and that port is in every
  // message the process sends and every answer it gets.
  const groups: Array<{ port: number; messages: Captured[] }> = [];
  for (const p of packets) {
    const port = p.data.readUInt32LE(12) & 0x3fffff;
    let g = groups.find((x) => x.port === port);
    if (!g) groups.push(g = { port, messages: [] });
    // nlmon marks both directions outgoing; a request carries NLM_F_REQUEST, an answer never does.
    g.messages.push({ dir: (p.data.readUInt16LE(6) & 1) !== 0 ? 'to-kernel' : 'from-kernel', hex: p.data.toString('hex') });
  }
  const messagesOf = (pid: number): Captured[] => groups.find((g) => g.port === (pid & 0x3fffff))?.messages ?? [];
  // ipvsadm resolves the family and asks GET_INFO before every command:
  // those exchanges are kept once, apart, and each case keeps its own. An
  // exchange is a request and the answers up to the next request (ipvsadm
  // waits for each answer; its sequence numbers repeat across its sockets).
  const exchanges = (msgs: Captured[]): Captured[][] => {
    const out: Captured[][] = [];
    for (const m of msgs) if (m.dir === 'to-kernel' || !out.length) out.push([m]); else out[out.length - 1]!.push(m);
    return out;
  };
  const kind = (x: Captured[]): string => {
    const b = Buffer.from(x[0]!.hex, 'hex');
    return b.readUInt16LE(4) === 16 ? 'ctrl' : b[16] === 15 ? 'info' : 'ipvs';
  };
  const first = exchanges(groups[0]!.messages);
  const own = (pid: number, name: string): Captured[] =>
    exchanges(messagesOf(pid)).filter((x) => kind(x) === 'ipvs' || (name === 'list' && kind(x) === 'info')).flat();
  const version = sh('ipvsadm', '--version').trim();
  process.stdout.write(JSON.stringify({
    kernel: sh('uname', '-r').trim(), ipvsadm: version,
    getFamily: first.find((x) => kind(x) === 'ctrl'), getInfo: first.find((x) => kind(x) === 'info'),
    cases: ran.map(({ pid, ...r }) => ({ ...r, messages: own(pid, r.name) })),
  }));
}

async function onHost(): Promise<void> {
  const r = await runInGuest([process.execPath, fileURLToPath(import.meta.url), '--guest'], { timeoutMs: 180_000, cwd: ROOT });
  if (r.code !== 0) throw new Error(`the guest failed (exit ${r.code}): ${r.stderr}`);
  const data = JSON.parse(r.stdout) as Record<string, unknown>;
  writeFileSync(FIXTURE, JSON.stringify({
    about: 'ipvsadm\'s generic netlink messages and the kernel\'s answers, captured on nlmon in the qemu guest by scripts/ipvs-golden.ts; regenerate, do not edit',
    ...data,
  }, null, 1) + '\n');
  console.log(`wrote ${FIXTURE} (${(r.wallMs / 1000).toFixed(1)} s in the guest)`);
}

(process.argv.includes('--guest') ? inGuest() : onHost()).catch((e: unknown) => {
  process.stderr.write(`ipvs-golden: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
