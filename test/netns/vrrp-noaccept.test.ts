// no_accept and vrrp_strict as keepalived 2.2 runs them, seen from a client.
// One bridge (namespace S) joins M (the router under test: `tandem run -f`
// or keepalived 2.2.7), B (a second tandem, for takeover) and C (the client),
// 10.243.7.0/24 and fd00:243:7::/64. M and B serve TCP on every address. For each
// setup the client tries the VIP (and an IPv6 virtual_ipaddress_excluded):
// ping, a TCP connect, and whether the address's ARP/ND is answered (C's
// neighbour entry gets M's MAC). keepalived with the same file gives the
// same answers; the test prints both.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachToBridge, cleanupPrefix, createBridge, createNetns, destroyNetns, macOf, netnsName, nsExec, sh, succeeds, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM = join(ROOT, 'bin/tandem');
const PREFIX = 'tdnx';
const S = netnsName(PREFIX, 's');
const M = netnsName(PREFIX, 'm');
const B = netnsName(PREFIX, 'b');
const C = netnsName(PREFIX, 'c');
const WORK = `/tmp/tandem-vrrp-noaccept-${process.pid}`;
const ADDR = { m: '10.243.7.1', b: '10.243.7.2', c: '10.243.7.9' } as const;
const ADDR6 = { m: 'fd00:243:7::1', b: 'fd00:243:7::2', c: 'fd00:243:7::9' } as const;
const VIP = '10.243.7.100';
const EVIP6 = 'fd00:243:7::100';
const PORT = 7443;

type Mode = 'no_accept' | 'accept' | 'strict' | 'strict-255';

/** One instance; `mode` says accept/no_accept/vrrp_strict; B runs it at priority 200 with accept. */
function conf(mode: Mode, who: 'm' | 'b'): string {
  const strict = mode === 'strict' || mode === 'strict-255';
  return [
    '! written by test/netns/vrrp-noaccept.test.ts',
    'global_defs {',
    `    router_id ${who}`,
    ...(strict ? ['    vrrp_strict'] : []),
    '}',
    'vrrp_instance VI_1 {',
    `    state ${mode === 'strict-255' ? 'MASTER' : 'BACKUP'}`,
    '    interface eth0',
    '    virtual_router_id 73',
    `    priority ${who === 'b' ? 200 : mode === 'strict-255' ? 255 : 100}`,
    '    version 3',
    '    advert_int 0.1',
    ...(mode === 'no_accept' && who === 'm' ? ['    no_accept'] : []),
    ...(mode === 'accept' || who === 'b' ? ['    accept'] : []),
    '    virtual_ipaddress {',
    `        ${VIP}/24 dev eth0`,
    '    }',
    '    virtual_ipaddress_excluded {',
    `        ${EVIP6}/64 dev eth0`,
    '    }',
    '}',
    '',
  ].join('\n');
}

const procs: Partial<Record<'m' | 'b' | 'k', ChildProcess>> = {};
const logOf = (who: string) => { try { return readFileSync(join(WORK, `${who}.log`), 'utf8'); } catch { return ''; } };
const logs = () => ['m', 'b', 'k'].map((w) => `--- ${w}\n${logOf(w)}`).join('\n');

function startTandem(who: 'm' | 'b', mode: Mode, wrap: string[] = []): ChildProcess {
  mkdirSync(WORK, { recursive: true });
  const file = join(WORK, `${who}.conf`);
  writeFileSync(file, conf(mode, who));
  const log = openSync(join(WORK, `${who}.log`), 'a');
  const ns = who === 'm' ? M : B;
  const p = spawn('ip', ['netns', 'exec', ns, ...wrap, process.execPath, TANDEM, 'run', '-f', file, '--run-dir', join(WORK, `run-${who}`)], { stdio: ['ignore', log, log] });
  closeSync(log);
  procs[who] = p;
  return p;
}

function startKeepalived(mode: Mode): void {
  mkdirSync(WORK, { recursive: true });
  const file = join(WORK, 'k.conf');
  writeFileSync(file, conf(mode, 'm'));
  const log = openSync(join(WORK, 'k.log'), 'a');
  procs.k = spawn('ip', ['netns', 'exec', M, '/usr/sbin/keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', file,
    '-p', join(WORK, 'k.pid'), '-r', join(WORK, 'kv.pid')], { stdio: ['ignore', log, log] });
  closeSync(log);
}

async function stop(who: 'm' | 'b' | 'k'): Promise<void> {
  const p = procs[who];
  if (!p) return;
  delete procs[who];
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

async function hasAddr(ns: string, ip: string): Promise<boolean> {
  return (await nsExec(ns, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(` ${ip}/`);
}

async function nftTables(ns: string): Promise<string> {
  return (await nsExec(ns, 'nft', ['list', 'tables'])).stdout;
}

/** What a client sees of one address: ping answered, TCP answered, neighbour resolved to `mac`. */
interface Seen { ping: boolean; tcp: boolean; neigh: boolean }

async function probe(ip: string, mac: string): Promise<Seen> {
  const v6 = ip.includes(':');
  await nsExec(C, 'ip', [v6 ? '-6' : '-4', 'neigh', 'flush', 'dev', 'eth0']);
  const ping = await succeeds('ip', ['netns', 'exec', C, 'ping', v6 ? '-6' : '-4', '-c', '2', '-i', '0.2', '-W', '1', '-n', '-q', ip], { timeoutMs: 5000 });
  const target = v6 ? `[${ip}]` : ip;
  const tcp = await nsExec(C, 'socat', ['-T', '2', '-u', `TCP:${target}:${PORT},connect-timeout=1`, 'STDOUT'], { timeoutMs: 5000 })
    .then((r) => r.stdout.includes('hello'), () => false);
  const n = (await nsExec(C, 'ip', [v6 ? '-6' : '-4', 'neigh', 'show', ip, 'dev', 'eth0'])).stdout.toLowerCase();
  return { ping, tcp, neigh: n.includes(`lladdr ${mac}`) };
}

const DROPPED: Seen = { ping: false, tcp: false, neigh: true };
const ANSWERED: Seen = { ping: true, tcp: true, neigh: true };
const show = (s: Seen) => `ping ${s.ping ? 'answered' : 'no answer'}, TCP ${s.tcp ? 'answered' : 'no answer'}, ARP/ND ${s.neigh ? 'answered' : 'no answer'}`;

async function masterOn(ns: string, timeoutMs = 5000): Promise<void> {
  await waitFor(`the VIP on ${ns}`, async () => ((await hasAddr(ns, VIP)) && (await hasAddr(ns, EVIP6)) ? true : undefined), timeoutMs, 20)
    .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
}

let macM = '';
const servers: ChildProcess[] = [];

describe('no_accept and vrrp_strict: a master drops IP traffic to its addresses, as keepalived 2.2 does', () => {
  beforeAll(async () => {
    need('ip', 'ss', 'nft', 'ping', 'socat', 'mount', '/usr/sbin/keepalived');
    await cleanupPrefix(PREFIX);
    for (const ns of [S, M, B, C]) await createNetns(ns);
    await createBridge(S, 'br0');
    for (const [ns, who] of [[M, 'm'], [B, 'b'], [C, 'c']] as const) {
      await attachToBridge(S, 'br0', `p${who}`, { ns, ifname: 'eth0', cidr: `${ADDR[who]}/24` });
      await sh('ip', ['-n', ns, 'addr', 'add', `${ADDR6[who]}/64`, 'dev', 'eth0', 'nodad']);
    }
    for (const ns of [M, B]) {
      await waitFor(`${ns} link-local`, async () => {
        const o = (await nsExec(ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout;
        return o.includes('fe80::') && !o.includes('tentative') ? true : undefined;
      }, 10_000);
    }
    macM = await macOf(M, 'eth0');
    // M and B serve TCP on every address of either family.
    for (const ns of [M, B]) {
      servers.push(spawn('ip', ['netns', 'exec', ns, 'socat', `TCP6-LISTEN:${PORT},ipv6only=0,reuseaddr,fork`, 'SYSTEM:echo hello'], { stdio: 'ignore' }));
      await waitFor('the TCP server', async () => ((await nsExec(ns, 'ss', ['-Htln', `sport = :${PORT}`])).stdout.trim() ? true : undefined), 5000);
    }
    // Both addresses answer before any VRRP runs: what the drops below take away is this.
    expect(await probe(ADDR.m, macM)).toEqual(ANSWERED);
  }, 40_000);

  afterEach(async () => {
    for (const w of ['m', 'b', 'k'] as const) await stop(w).catch(() => undefined);
    for (const ns of [M, B]) {
      await nsExec(ns, 'ip', ['addr', 'del', `${VIP}/24`, 'dev', 'eth0']).catch(() => undefined);
      await nsExec(ns, 'ip', ['addr', 'del', `${EVIP6}/64`, 'dev', 'eth0']).catch(() => undefined);
      await nsExec(ns, 'nft', ['flush', 'ruleset']).catch(() => undefined);
    }
    rmSync(WORK, { recursive: true, force: true });
  });

  afterAll(async () => {
    for (const p of servers) p.kill('SIGKILL');
    for (const ns of [S, M, B, C]) await destroyNetns(ns);
  });

  it('no_accept: the VIPs are up and answer ARP/ND, but no ping or TCP reaches them; keepalived gives the client the same; a graceful stop leaves no table', async () => {
    startTandem('m', 'no_accept');
    await masterOn(M);
    const table = (await nsExec(M, 'nft', ['list', 'table', 'inet', 'tandem_vrrp'])).stdout;
    expect(table).toContain(VIP);
    expect(table).toContain(EVIP6);
    const t4 = await probe(VIP, macM);
    const t6 = await probe(EVIP6, macM);
    expect(t4, logs()).toEqual(DROPPED);
    expect(t6, logs()).toEqual(DROPPED);
    // M's own address is not touched.
    expect(await probe(ADDR.m, macM)).toEqual(ANSWERED);
    // The rule is in before the first address is: no packet to the VIP is accepted in between.
    const log = logOf('m');
    expect(log).toMatch(/no_accept: IP traffic to 10\.243\.7\.100, fd00:243:7::100 dropped/);
    expect(log.indexOf('no_accept: IP traffic')).toBeLessThan(log.indexOf(`added ${VIP}/24`));
    await stop('m');
    expect(await hasAddr(M, VIP)).toBe(false);
    expect(await nftTables(M), logs()).not.toContain('tandem_vrrp');

    startKeepalived('no_accept');
    await masterOn(M);
    await new Promise((r) => setTimeout(r, 300));
    const k4 = await probe(VIP, macM);
    const k6 = await probe(EVIP6, macM);
    console.log(`no_accept, client's view of ${VIP}: tandem: ${show(t4)}; keepalived 2.2.7: ${show(k4)}`);
    console.log(`no_accept, client's view of ${EVIP6} (excluded): tandem: ${show(t6)}; keepalived 2.2.7: ${show(k6)}`);
    expect(k4, logs()).toEqual(t4);
    expect(k6, logs()).toEqual(t6);
  }, 40_000);

  it('vrrp_strict below priority 255 is no_accept; at 255 (the address owner) the VIPs accept; keepalived agrees on both', async () => {
    const seen: Record<string, Seen> = {};
    for (const mode of ['strict', 'strict-255'] as const) {
      for (const impl of ['tandem', 'keepalived'] as const) {
        if (impl === 'tandem') startTandem('m', mode); else startKeepalived(mode);
        await masterOn(M);
        if (impl === 'keepalived') await new Promise((r) => setTimeout(r, 300));
        seen[`${mode} ${impl}`] = await probe(VIP, macM);
        if (impl === 'tandem') {
          const tables = await nftTables(M);
          if (mode === 'strict') expect(tables).toContain('tandem_vrrp'); else expect(tables).not.toContain('tandem_vrrp');
        }
        await stop(impl === 'tandem' ? 'm' : 'k');
        await waitFor('the VIP gone', async () => (!(await hasAddr(M, VIP)) ? true : undefined), 5000);
        expect(await nftTables(M)).not.toContain('tandem_vrrp');
      }
      console.log(`${mode === 'strict' ? 'vrrp_strict, priority 100' : 'vrrp_strict, priority 255'}: tandem: ${show(seen[`${mode} tandem`]!)}; keepalived 2.2.7: ${show(seen[`${mode} keepalived`]!)}`);
    }
    expect(seen['strict tandem'], logs()).toEqual(DROPPED);
    expect(seen['strict keepalived'], logs()).toEqual(DROPPED);
    expect(seen['strict-255 tandem'], logs()).toEqual(ANSWERED);
    expect(seen['strict-255 keepalived'], logs()).toEqual(ANSWERED);
  }, 60_000);

  it('accept: the VIPs answer, and no table is made', async () => {
    startTandem('m', 'accept');
    await masterOn(M);
    expect(await probe(VIP, macM), logs()).toEqual(ANSWERED);
    expect(await probe(EVIP6, macM), logs()).toEqual(ANSWERED);
    expect(await nftTables(M)).not.toContain('tandem_vrrp');
  }, 30_000);

  it('takeover: a higher-priority peer takes the VIPs and the no_accept rule goes from the old master; it comes back when the peer stops', async () => {
    startTandem('m', 'no_accept');
    await masterOn(M);
    expect(await nftTables(M)).toContain('tandem_vrrp');
    startTandem('b', 'no_accept');
    await masterOn(B);
    await waitFor('the VIP gone from M', async () => (!(await hasAddr(M, VIP)) ? true : undefined), 5000);
    expect(await nftTables(M), logs()).not.toContain('tandem_vrrp');
    // B accepts: the client is answered there.
    expect(await probe(VIP, await macOf(B, 'eth0')), logs()).toEqual(ANSWERED);
    await stop('b');
    await masterOn(M);
    expect(await nftTables(M), logs()).toContain('tandem_vrrp');
    expect(await probe(VIP, macM), logs()).toEqual(DROPPED);
  }, 40_000);

  it('a table left by a killed tandem is replaced at start, never doubled, and removed at stop', async () => {
    // A crash leaves a table dropping traffic to M's own address.
    await nsExec(M, 'nft', ['-f', '-'], { input: `table inet tandem_vrrp {\n set vips4 { type ipv4_addr; elements = { ${ADDR.m} } }\n chain in {\n  type filter hook input priority filter - 1; policy accept;\n  ip daddr @vips4 drop\n }\n}\n` });
    expect((await probe(ADDR.m, macM)).ping).toBe(false);
    startTandem('m', 'no_accept');
    await masterOn(M);
    expect(logOf('m')).toMatch(/removing nftables table inet tandem_vrrp left by an earlier tandem/);
    const table = (await nsExec(M, 'nft', ['list', 'table', 'inet', 'tandem_vrrp'])).stdout;
    expect(table).not.toMatch(/10\.243\.7\.1(?!\d)/);   // ADDR.m, not the VIP
    expect(table).toContain(VIP);
    expect((await nftTables(M)).match(/tandem_vrrp/g)).toHaveLength(1);
    expect(await probe(ADDR.m, macM), logs()).toEqual(ANSWERED);
    await stop('m');
    expect(await nftTables(M)).not.toContain('tandem_vrrp');
    // Without no_accept the leftover goes too: it would drop traffic no instance asked to drop.
    await nsExec(M, 'nft', ['-f', '-'], { input: 'table inet tandem_vrrp {\n}\n' });
    startTandem('m', 'accept');
    await masterOn(M);
    expect(await nftTables(M), logs()).not.toContain('tandem_vrrp');
  }, 40_000);

  it('no nft on the host: run -f refuses a no_accept file at start, naming the instance and the package nftables', async () => {
    // A mount namespace of its own where /usr/sbin/nft is not executable.
    const p = startTandem('m', 'no_accept', ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind /dev/null /usr/sbin/nft && exec "$@"', 'sh']);
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    expect(code).not.toBe(0);
    expect(logOf('m')).toMatch(/m\.conf:\d+: vrrp_instance VI_1: no_accept needs nftables: nft not found: .*Debian package nftables/);
    expect(logOf('m')).not.toMatch(/\n\s+at /);
    expect(await hasAddr(M, VIP)).toBe(false);
  }, 20_000);
});
