// tandem's VRRP wire against a real keepalived 2.2 (Debian), in network
// namespaces: keepalived in K, tandem's VrrpSocket (src/net/vrrp-socket.ts,
// through vrrp-driver.mjs) in T, one veth between them,
// 10.247.1.0/24 and fd00:247:1::/64. For VRRPv2 and v3, IPv4 and IPv6,
// multicast and unicast:
//   (a) keepalived's adverts arrive and decode (vrid, priority, interval,
//       addresses, TTL 255, source and destination);
//   (b) our adverts at a higher priority make the keepalived MASTER a BACKUP
//       and keep it there; at a lower priority it stays MASTER. A wrong
//       password or the other checksum mode, at the higher priority, does
//       not move it: keepalived checks what (b) shows it accepted;
//   (c) `tcpdump -vv -r` decodes every advert we sent without a checksum or
//       truncation warning, and it flags the deliberately wrong checksums
//       (so the check is live); the checksums are also summed here by hand;
//   (d) the decoder refuses keepalived's real adverts with the wrong
//       password or checksum mode, naming the reason.
// keepalived's state is read from its own log ("Entering MASTER/BACKUP STATE").

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, netnsName, nsExec, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';
import { decode, type Advert, type ChecksumMode, type EncodeOptions } from '../../src/vrrp/packet.js';

beforeAll(() => need('ip', 'tcpdump', '/usr/sbin/keepalived'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdvw';
const K = netnsName(PREFIX, 'k');
const T = netnsName(PREFIX, 't');
const WORK = `/tmp/tandem-vrrp-wire-${process.pid}`;
const ADDR = { 4: { k: '10.247.1.1', t: '10.247.1.2', vip: '10.247.1.100', len: 24 }, 6: { k: 'fd00:247:1::1', t: 'fd00:247:1::2', vip: 'fd00:247:1::100', len: 64 } } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Rx { payload: string; src: string; dst: string; ttl: number; ifindex: number; family: 4 | 6; ageMs: number; at: number }

/** vrrp-driver.mjs in a namespace: a VrrpSocket of the compiled core, one JSON line at a time. */
class VrrpDriver {
  readonly rx: Rx[] = [];
  readonly logs: string[] = [];
  private readonly pending = new Map<number, (r: { ok: boolean; value?: unknown; error?: string }) => void>();
  private nextId = 1;
  private stderr = '';

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { id?: number; ok: boolean; value?: unknown; error?: string; rx?: Omit<Rx, 'at'>; log?: [string, string] };
      if (m.rx) { if (this.rx.length < 10_000) this.rx.push({ ...m.rx, at: Date.now() }); }
      else if (m.log) this.logs.push(m.log.join(': '));
      else if (m.id !== undefined) this.pending.get(m.id)?.(m);
    });
    proc.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    proc.on('exit', (code) => {
      for (const done of this.pending.values()) done({ ok: false, error: `driver exited (${code}): ${this.stderr.trim()}` });
      this.pending.clear();
    });
  }

  static start(ns: string): VrrpDriver {
    return new VrrpDriver(spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'test/netns/vrrp-driver.mjs'), join(ROOT, 'dist')]));
  }

  call(cmd: Record<string, unknown>): Promise<{ ok: boolean; value?: unknown; error?: string }> {
    const id = this.nextId++;
    return new Promise((done) => {
      this.pending.set(id, (r) => { this.pending.delete(id); done(r); });
      this.proc.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  async must(cmd: Record<string, unknown>): Promise<unknown> {
    const r = await this.call(cmd);
    if (!r.ok) throw new Error(`${String(cmd.op)}: ${r.error}`);
    return r.value;
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

interface Case {
  name: string;
  version: 2 | 3;
  family: 4 | 6;
  media: 'mcast' | 'ucast';
  password?: string;
  intervalCs: number;
  vrid: number;
}

const CASES: Case[] = [
  { name: 'VRRPv2, IPv4 multicast, auth_type PASS', version: 2, family: 4, media: 'mcast', password: 'secret12', intervalCs: 100, vrid: 61 },
  { name: 'VRRPv2, IPv4 unicast, no authentication', version: 2, family: 4, media: 'ucast', intervalCs: 100, vrid: 62 },
  { name: 'VRRPv3, IPv4 multicast', version: 3, family: 4, media: 'mcast', intervalCs: 10, vrid: 63 },
  { name: 'VRRPv3, IPv4 unicast', version: 3, family: 4, media: 'ucast', intervalCs: 10, vrid: 64 },
  { name: 'VRRPv3, IPv6 multicast (link-local sources)', version: 3, family: 6, media: 'mcast', intervalCs: 10, vrid: 65 },
  { name: 'VRRPv3, IPv6 unicast', version: 3, family: 6, media: 'ucast', intervalCs: 10, vrid: 66 },
];

/** keepalived (VRRP only, foreground) in K for one case; its log is read for its state. */
class Keepalived {
  readonly dir: string;
  private proc: ChildProcess | undefined;

  constructor(readonly c: Case) {
    this.dir = join(WORK, `vrid${c.vrid}`);
  }

  get logFile(): string { return join(this.dir, 'keepalived.log'); }

  log(from = 0): string {
    try { return readFileSync(this.logFile, 'utf8').slice(from); } catch { return ''; }
  }

  mark(): number { return this.log().length; }

  start(): void {
    const c = this.c;
    const a = ADDR[c.family];
    mkdirSync(this.dir, { recursive: true });
    const conf = join(this.dir, 'keepalived.conf');
    writeFileSync(conf, [
      'global_defs {', `    router_id ${PREFIX}`, '}',
      'vrrp_instance VI_1 {',
      '    state BACKUP',
      '    interface eth0',
      `    virtual_router_id ${c.vrid}`,
      '    priority 100',
      `    advert_int ${c.intervalCs / 100}`,
      `    version ${c.version}`,
      ...(c.password ? ['    authentication {', '        auth_type PASS', `        auth_pass ${c.password}`, '    }'] : []),
      ...(c.media === 'ucast' ? [`    unicast_src_ip ${a.k}`, '    unicast_peer {', `        ${a.t}`, '    }'] : []),
      '    virtual_ipaddress {', `        ${a.vip}/${a.len}`, '    }',
      '}', '',
    ].join('\n'));
    const fd = openSync(this.logFile, 'a');
    this.proc = spawn('ip', ['netns', 'exec', K, '/usr/sbin/keepalived', '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp',
      '-f', conf, '-p', join(this.dir, 'keepalived.pid'), '-r', join(this.dir, 'vrrp.pid')], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }

  /** Waits for `re` in the log written after `from`; returns the offset just past the match. */
  async waitLog(re: RegExp, from: number, timeoutMs: number): Promise<number> {
    return waitFor(`keepalived to log ${re}`, async () => {
      const m = re.exec(this.log(from));
      return m ? from + m.index + m[0].length : undefined;
    }, timeoutMs, 20).catch((e: Error) => { throw new Error(`${e.message}\n--- keepalived log ---\n${this.log()}`); });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');   // `ip netns exec` execs keepalived: this is its parent
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

/** tcpdump writing what T sends (-Q out) to a file, for `tcpdump -vv -r` afterwards. */
async function startCapture(file: string): Promise<{ stop(): Promise<void> }> {
  const p = spawn('ip', ['netns', 'exec', T, 'tcpdump', '-i', 'eth0', '-Q', 'out', '-U', '-n', '-w', file, 'ip proto 112 or ip6 proto 112']);
  let err = '';
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => { p.kill('SIGKILL'); fail(new Error(`tcpdump did not start: ${err}`)); }, 5000);
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('listening on')) { clearTimeout(t); ok(); } });
    p.once('exit', () => { clearTimeout(t); fail(new Error(`tcpdump exited: ${err}`)); });
  });
  return {
    async stop() {
      p.kill('SIGINT');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** `tcpdump -nn -vv -x -r`: each packet's decoded text and its bytes from the IP header on. */
async function readCapture(file: string): Promise<Array<{ text: string; ip: Buffer }>> {
  const { stdout } = await sh('tcpdump', ['-nn', '-vv', '-x', '-r', file]);
  const out: Array<{ text: string; ip: Buffer }> = [];
  for (const line of stdout.split('\n')) {
    const hexLine = /^\s+0x[0-9a-f]{4}:\s+(.*)$/.exec(line);
    if (hexLine) {
      const last = out[out.length - 1];
      if (last) last.ip = Buffer.concat([last.ip, Buffer.from(hexLine[1]!.replace(/\s+/g, ''), 'hex')]);
    } else if (/^\d/.test(line)) {
      out.push({ text: line, ip: Buffer.alloc(0) });
    } else if (line.trim() !== '') {
      const last = out[out.length - 1];
      if (last) last.text += ` ${line.trim()}`;
    }
  }
  return out;
}

// RFC 1071, written out here again on purpose: the captured checksums are
// checked without the codec under test.
function sum16(...parts: Buffer[]): number {
  let s = 0;
  for (const p of parts) for (let i = 0; i < p.length; i += 2) s += (p[i]! << 8) + (p[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Whether a captured advert's checksum is the RFC one: v2 over the message, v3 with the pseudo-header. */
function rfcChecksumOk(ip: Buffer): boolean {
  if (ip[0]! >> 4 === 4) {
    const ihl = (ip[0]! & 15) * 4;
    const msg = ip.subarray(ihl, ip.readUInt16BE(2));
    if (msg[0]! >> 4 === 2) return sum16(msg) === 0xffff;
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 112, msg.length >> 8, msg.length & 255])]);
    return sum16(pseudo, msg) === 0xffff;
  }
  const msg = ip.subarray(40, 40 + ip.readUInt16BE(4));
  const len = Buffer.alloc(8); len.writeUInt32BE(msg.length, 0); len[7] = 112;
  return sum16(ip.subarray(8, 40), len, msg) === 0xffff;
}

describe.sequential('VRRP on the wire with keepalived 2.2 in network namespaces', () => {
  let drv: VrrpDriver | undefined;
  const d = (): VrrpDriver => { if (!drv) throw new Error('driver not started (see beforeAll)'); return drv; };
  let kLinkLocal = '';
  let tLinkLocal = '';

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);
    rmSync(WORK, { recursive: true, force: true });
    for (const ns of [K, T]) {
      await createNetns(ns);
      // No duplicate address detection: link-local sources usable at once.
      await nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    }
    await createVeth({ ns: K, ifname: 'eth0', cidr: `${ADDR[4].k}/24` }, { ns: T, ifname: 'eth0', cidr: `${ADDR[4].t}/24` });
    await sh('ip', ['-n', K, 'addr', 'add', `${ADDR[6].k}/64`, 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', T, 'addr', 'add', `${ADDR[6].t}/64`, 'dev', 'eth0', 'nodad']);
    drv = VrrpDriver.start(T);
    tLinkLocal = await waitFor('T link-local address', async () => (await d().must({ op: 'primary', ifname: 'eth0', family: 6 })) as string | undefined ?? undefined, 5000);
    const { stdout } = await sh('ip', ['-n', K, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
    kLinkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(stdout)?.[1] ?? '';
    expect(kLinkLocal).not.toBe('');
  }, 30_000);

  afterAll(async () => {
    const problems: unknown[] = [];
    for (const step of [() => drv?.close(), () => destroyNetns(K), () => destroyNetns(T)]) {
      try { await step(); } catch (e) { problems.push(e); }
    }
    if (!process.env.TANDEM_KEEP_LAB) rmSync(WORK, { recursive: true, force: true });
    if (problems.length) throw problems[0];
  });

  it('opening on a missing interface is an error naming it and the errno text, not a crash', async () => {
    const r = await d().call({ op: 'open', family: 4, ifname: 'nosuch0' });
    expect(r).toMatchObject({ ok: false });
    expect(r.error).toMatch(/^VRRP socket on nosuch0 \(IPv4, group 224\.0\.0\.18\): interface nosuch0: No such device/);
    const r6 = await d().call({ op: 'open', family: 6, ifname: 'nosuch0', group: null });
    expect(r6.error).toMatch(/^VRRP socket on nosuch0 \(IPv6\): interface nosuch0: No such device/);
  });

  it('a flood of junk on protocol 112 is read in bounded batches: the process keeps answering, oversize datagrams are refused with a rate-limited line', async () => {
    const k = VrrpDriver.start(K);
    try {
      await d().must({ op: 'open', family: 4, ifname: 'eth0', forward: false });
      await k.must({ op: 'open', family: 4, ifname: 'eth0', group: null });
      const logsBefore = d().logs.length;
      const flood = k.must({ op: 'burst', n: 20_000, maxLen: 8190, dst: '224.0.0.18', src: ADDR[4].k });
      // while the flood arrives, T's loop still answers within a fraction of a second
      const lat: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await d().must({ op: 'counters' });
        lat.push(performance.now() - t0);
        await sleep(50);
      }
      const sent = (await flood) as { sent: number; errors: number };
      expect(sent.sent).toBeGreaterThan(10_000);
      await sleep(500);
      const counters = (await d().must({ op: 'counters' })) as { received: number; recvErrors: number };
      expect(counters.received).toBeGreaterThan(1000);
      // every 100th datagram is longer than any advert: refused, never read past the buffer
      expect(counters.recvErrors).toBeGreaterThan(10);
      const lines = d().logs.slice(logsBefore).filter((l) => l.includes('longer than any VRRP advert'));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(2);   // one per 10 s, plus the summary at most
      console.log(`flood: sent ${sent.sent}, received ${counters.received}, oversize refused ${counters.recvErrors}, log lines ${lines.length}, counters RTT max ${Math.max(...lat).toFixed(1)} ms`);
      expect(Math.max(...lat)).toBeLessThan(1000);
    } finally {
      await k.close();
      await d().call({ op: 'close' });
    }
  }, 60_000);

  for (const c of CASES) {
    it(c.name, async () => {
      const a = ADDR[c.family];
      const ms = c.intervalCs * 10;
      const group = c.family === 4 ? '224.0.0.18' : 'ff02::12';
      const ourSrc = c.family === 4 ? a.t : c.media === 'ucast' ? a.t : tLinkLocal;
      const theirSrc = c.family === 6 && c.media === 'mcast' ? kLinkLocal : a.k;
      const dst = c.media === 'mcast' ? group : a.k;
      const auth = c.password ? { type: 'pass' as const, password: c.password } : undefined;
      const advert = (priority: number): Advert => ({ version: c.version, vrid: c.vrid, priority, intervalCs: c.intervalCs, addresses: [a.vip] });
      const enc = (mode: ChecksumMode = 'rfc', au = auth): EncodeOptions => ({ family: c.family, src: ourSrc, dst, checksumMode: mode, ...(au ? { auth: au } : {}) });
      const open = (mode: ChecksumMode) => d().must({ op: 'open', family: c.family, ifname: 'eth0', group: c.media === 'mcast' ? group : null, checksumMode: mode });
      // long enough on a busy 2-core machine for a wrong acceptance to show
      const hold = Math.max(5 * ms, 1500);

      const ka = new Keepalived(c);
      const pcap = join(ka.dir, 'ours.pcap');
      mkdirSync(ka.dir, { recursive: true });
      const opened = (await open('rfc')) as { ifindex: number; kernelChecksum: boolean };
      // IPv6 'rfc': the kernel fills (and checks) the checksum; never for IPv4 or the other mode
      expect(opened.kernelChecksum).toBe(c.family === 6);
      ka.start();
      try {
        // (a) keepalived becomes MASTER on its own, then its adverts arrive and decode
        await ka.waitLog(/Entering MASTER STATE/, 0, 4 * ms + 5000);
        const since = Date.now();
        await waitFor('3 adverts from keepalived', async () => (d().rx.filter((r) => r.at >= since).length >= 3 ? true : undefined), 4 * ms + 3000, 20);
        const theirs = d().rx.filter((r) => r.at >= since);
        // keepalived 2.2.7 sends IPv6 unicast adverts with the default hop limit (and skips the check for unicast)
        const theirTtl = c.family === 6 && c.media === 'ucast' ? 64 : 255;
        for (const r of theirs) {
          expect(r).toMatchObject({ family: c.family, src: theirSrc, dst: c.media === 'mcast' ? group : a.t, ttl: theirTtl, ifindex: opened.ifindex });
          // The kernel's arrival stamp came with it (without one the age is 0), bounded as Master_Down's use of it is.
          expect(r.ageMs).toBeGreaterThan(0);
          expect(r.ageMs).toBeLessThanOrEqual(1);
          const got = decode(Buffer.from(r.payload, 'hex'), { family: c.family, src: r.src, dst: r.dst, ttl: r.ttl, version: c.version, ...(auth ? { auth } : {}), ...(theirTtl !== 255 ? { checkTtl: false } : {}) });
          expect(got).toEqual({ ok: true, authType: auth ? 1 : 0, advert: advert(100) });
        }
        // (d) the decoder refuses keepalived's own bytes under a wrong password or checksum mode
        const one = theirs[0]!;
        const ctx = { family: c.family, src: one.src, dst: one.dst, ttl: 255, version: c.version } as const;
        if (theirTtl !== 255) expect(decode(Buffer.from(one.payload, 'hex'), { ...ctx, ttl: one.ttl })).toMatchObject({ ok: false, reason: 'ttl' });
        const bytes = Buffer.from(one.payload, 'hex');
        if (auth) {
          expect(decode(bytes, { ...ctx, auth: { type: 'pass', password: 'secret13' } })).toMatchObject({ ok: false, reason: 'auth-mismatch' });
          expect(decode(bytes, ctx)).toMatchObject({ ok: false, reason: 'auth-type' });
        } else if (c.version === 2) {
          expect(decode(bytes, { ...ctx, auth: { type: 'pass', password: 'secret12' } })).toMatchObject({ ok: false, reason: 'auth-type' });
        }
        if (c.version === 3) {
          expect(decode(bytes, { ...ctx, checksumMode: 'no-pseudo-header' })).toMatchObject({ ok: false, reason: 'checksum-mode' });
        }
        expect(decode(bytes, { ...ctx, ttl: 254 })).toMatchObject({ ok: false, reason: 'ttl' });

        const cap = await startCapture(pcap);
        // keepalived checks what we send: at priority 200 but with a wrong
        // password (v2 PASS), an unexpected PASS (v2 none) or the checksum
        // without the pseudo-header (v3), it stays MASTER.
        let mark = ka.mark();
        if (c.version === 2) {
          await d().must({ op: 'advertise', advert: advert(200), enc: enc('rfc', { type: 'pass', password: auth ? 'secret13' : 'secret12' }), dst, src: ourSrc, everyMs: ms });
        } else {
          await open('no-pseudo-header');
          await d().must({ op: 'advertise', advert: advert(200), enc: enc('no-pseudo-header'), dst, src: ourSrc, everyMs: ms });
        }
        await sleep(hold);
        await d().must({ op: 'quiet' });
        if (c.version === 3) await open('rfc');
        expect(ka.log(mark)).not.toMatch(/Entering BACKUP STATE/);

        // (b) a higher priority makes it BACKUP, and it stays BACKUP while we advertise
        mark = ka.mark();
        await d().must({ op: 'advertise', advert: advert(200), enc: enc(), dst, src: ourSrc, everyMs: ms });
        const backupAt = await ka.waitLog(/Entering BACKUP STATE/, mark, 2 * ms + 2000);
        expect(ka.log(mark)).toMatch(new RegExp(`received advert from ${ourSrc.replace(/\./g, '\\.')} with higher priority 200, ours 100`));
        await sleep(hold);
        expect(ka.log(backupAt)).not.toMatch(/Entering MASTER STATE/);
        await d().must({ op: 'quiet' });
        // silence: it takes over again after Master_Down_Interval
        mark = ka.mark();
        await ka.waitLog(/Entering MASTER STATE/, mark, 4 * ms + 3000);

        // a lower priority leaves it MASTER
        mark = ka.mark();
        await d().must({ op: 'advertise', advert: advert(50), enc: enc(), dst, src: ourSrc, everyMs: ms });
        if (c.family === 6) {
          // checksum left 0: the kernel (IPV6_CHECKSUM) must fill it, or tcpdump flags this one
          const raw = Buffer.from((await d().must({ op: 'send', advert: advert(50), enc: enc(), dst, src: ourSrc })) as string, 'hex');
          raw.writeUInt16BE(0, 6);
          await d().must({ op: 'sendRaw', hex: raw.toString('hex'), dst, src: ourSrc });
        }
        await sleep(hold);
        await d().must({ op: 'quiet' });
        expect(ka.log(mark)).not.toMatch(/Entering BACKUP STATE/);
        await cap.stop();

        // (c) tcpdump decodes every advert we sent; only the deliberately wrong v3 checksums are flagged
        const ours = (await readCapture(pcap)).filter((p) => p.text.includes('VRRP'));
        const head = `VRRPv${c.version}, Advertisement, vrid ${c.vrid}, prio`;
        const good = ours.filter((p) => rfcChecksumOk(p.ip));
        const bad = ours.filter((p) => !rfcChecksumOk(p.ip));
        expect(good.filter((p) => p.text.includes(`${head} 200`)).length).toBeGreaterThanOrEqual(2);
        expect(good.filter((p) => p.text.includes(`${head} 50`)).length).toBeGreaterThanOrEqual(2);
        for (const p of good) {
          expect(p.text).toContain(head);
          expect(p.text).toMatch(c.version === 2 ? /intvl 1s/ : new RegExp(`intvl ${c.intervalCs}cs`));
          expect(p.text).toContain(a.vip);
          expect(p.text).not.toMatch(/bad|\[\|vrrp\]|malformed|truncated/i);
          expect(p.text).toMatch(c.family === 4 ? /ttl 255/ : /hlim 255/);
        }
        if (c.password) expect(good.filter((p) => p.text.includes(`${head} 200`) && p.text.includes(`auth "${c.password}"`)).length).toBeGreaterThanOrEqual(2);
        if (c.version === 3) {
          expect(bad.length).toBeGreaterThanOrEqual(2);
          // only the no-pseudo-header ones (priority 200 in the first phase)
          for (const p of bad) expect(p.text).toMatch(new RegExp(`${head} 200.*bad vrrp cksum`));
        } else {
          expect(bad).toEqual([]);
        }
      } finally {
        await d().call({ op: 'quiet' });
        await ka.stop();
      }
      const counters = (await d().must({ op: 'counters' })) as { sendErrors: number; malformed: number };
      expect(counters).toMatchObject({ sendErrors: 0, malformed: 0 });
    }, 90_000);
  }
});
