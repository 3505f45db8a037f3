// LVS on nftables with real traffic (issue 15), on this machine's kernel (no
// IPVS): a client namespace -> the director (tandem run -f, VIP 10.160.1.100
// and 10.160.1.101 on its eth0) -> three real servers and a sorry server on
// a bridge behind it, each a Python http.server answering its own name.
// HTTP_GET checks /health.html (a file the test removes to fail a server),
// rs3's MISC_CHECK with misc_dynamic reads its weight from a file. Every
// request is a new TCP connection, so each is balanced on its own.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LvsStatus } from '../../src/lvs/service.js';
import { attachToBridge, cleanupPrefix, createBridge, createNetns, createVeth, destroyNetns, netnsName, nsExec, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdlvn';
const NS = { c: netnsName(PREFIX, 'c'), d: netnsName(PREFIX, 'd'), r1: netnsName(PREFIX, 'r1'), r2: netnsName(PREFIX, 'r2'), r3: netnsName(PREFIX, 'r3'), sy: netnsName(PREFIX, 'sy') } as const;
const WORK = `/tmp/tandem-lvs-nft-${process.pid}`;
const VIP = '10.160.1.100';
const VIP2 = '10.160.1.101';
const RS = { r1: '10.160.2.11', r2: '10.160.2.12', r3: '10.160.2.13', sy: '10.160.2.99' } as const;
type Rs = keyof typeof RS;
const DELAY_LOOP_S = 1;
const RETRY = 2;
const procs: ChildProcess[] = [];
let daemon: ChildProcess | undefined;

const weightFile = join(WORK, 'rs3.weight');
/** misc_dynamic: exit 2 + weight (keepalived's rule); exit 1 is down. */
const setRs3 = (v: { weight: number } | 'down') => writeFileSync(weightFile, String(v === 'down' ? 1 : v.weight + 2));
const health = (rs: Rs) => join(WORK, rs, 'health.html');
const fail = (rs: 'r1' | 'r2') => unlinkSync(health(rs));
const heal = (rs: 'r1' | 'r2') => writeFileSync(health(rs), 'ok\n');

function conf(): string {
  const http = (rs: string) => `  real_server ${rs} 80 {\n    weight ${rs === RS.r1 ? 2 : 1}\n    HTTP_GET {\n      url {\n        path /health.html\n        status_code 200\n      }\n      connect_timeout 1\n      retry ${RETRY}\n      delay_before_retry 0.2\n    }\n  }`;
  const tcp443 = (rs: string) => `  real_server ${rs} {\n    TCP_CHECK {\n      connect_port 443\n      connect_timeout 1\n    }\n  }`;
  return [
    '! written by test/netns/lvs-nft.test.ts',
    'global_defs {', '  router_id tdlv', '  enable_script_security', '  script_user root', '}',
    `virtual_server ${VIP} 80 {`, `  delay_loop ${DELAY_LOOP_S}`, '  lb_algo wrr', '  lb_kind NAT', '  protocol TCP', `  sorry_server ${RS.sy} 80`,
    http(RS.r1), http(RS.r2),
    `  real_server ${RS.r3} 80 {`, '    MISC_CHECK {', `      misc_path "/bin/sh -c 'exit $(cat ${weightFile})'"`, '      misc_dynamic', '      misc_timeout 1', `      retry ${RETRY}`, '      delay_before_retry 0.2', '    }', '  }',
    '}',
    'virtual_server fwmark 1 {', `  delay_loop ${DELAY_LOOP_S}`, '  lb_algo rr', '  lb_kind NAT', '  persistence_timeout 30',
    tcp443(RS.r1), tcp443(RS.r2), tcp443(RS.r3),
    '}', '',
  ].join('\n');
}

const logs = () => { try { return readFileSync(join(WORK, 'director.log'), 'utf8'); } catch { return '(no log)'; } };

async function status(): Promise<LvsStatus> {
  const { stdout } = await nsExec(NS.d, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--json', '--run-dir', join(WORK, 'run')]);
  return (JSON.parse(stdout) as { lvs: LvsStatus }).lvs;
}
const rsState = (s: LvsStatus, ip: string) => s.services[0]!.realServers.find((r) => r.address.startsWith(`${ip}:`))!;

interface Traffic { counts: Record<string, number>; failed: number; errors: string[] }
async function traffic(o: { count: number; concurrency?: number; paceMs?: number; url?: string | string[]; local?: string }): Promise<Traffic> {
  const { stdout } = await nsExec(NS.c, process.execPath, [join(ROOT, 'test/netns/lvs-client.mjs'), JSON.stringify({ url: `http://${VIP}/`, ...o })], { timeoutMs: 120_000 });
  return JSON.parse(stdout) as Traffic;
}

beforeAll(async () => {
  need('ip', 'nft', '/usr/bin/python3');
  await cleanupPrefix(PREFIX);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { mode: 0o755 });
  chmodSync(WORK, 0o755);
  for (const ns of Object.values(NS)) await createNetns(ns);
  await createVeth({ ns: NS.c, ifname: 'eth0', cidr: '10.160.1.2/24' }, { ns: NS.d, ifname: 'eth0', cidr: '10.160.1.1/24' });
  await sh('ip', ['-n', NS.c, 'addr', 'add', '10.160.1.3/24', 'dev', 'eth0']);
  await sh('ip', ['-n', NS.c, 'route', 'add', 'default', 'via', '10.160.1.1']);
  for (const v of [VIP, VIP2]) await sh('ip', ['-n', NS.d, 'addr', 'add', `${v}/32`, 'dev', 'eth0']);
  await createBridge(NS.d, 'br0');
  await sh('ip', ['-n', NS.d, 'addr', 'add', '10.160.2.1/24', 'dev', 'br0']);
  await nsExec(NS.d, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const rs of Object.keys(RS) as Rs[]) {
    await attachToBridge(NS.d, 'br0', `p-${rs}`, { ns: NS[rs], ifname: 'eth0', cidr: `${RS[rs]}/24` });
    // NAT: replies go back through the director, which undoes the translation.
    await sh('ip', ['-n', NS[rs], 'route', 'add', 'default', 'via', '10.160.2.1']);
    const dir = join(WORK, rs);
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), `${rs === 'sy' ? 'sorry' : rs}\n`);
    writeFileSync(join(dir, 'health.html'), 'ok\n');
    for (const port of rs === 'sy' ? [80] : [80, 443]) {
      procs.push(spawn('ip', ['netns', 'exec', NS[rs], '/usr/bin/python3', '-m', 'http.server', String(port), '--bind', RS[rs], '--directory', dir], { stdio: 'ignore' }));
    }
  }
  // The fwmark service's mark: ports 80 and 443 of the second VIP, as an administrator sets it.
  await nsExec(NS.d, 'nft', ['-f', '-'], { input: `table ip tdlv_mark {\n chain pre {\n  type filter hook prerouting priority mangle; policy accept;\n  ip daddr ${VIP2} tcp dport { 80, 443 } meta mark set 1\n }\n}\n` });
  setRs3({ weight: 1 });
  writeFileSync(join(WORK, 'keepalived.conf'), conf());
  for (const rs of ['r1', 'r2', 'r3', 'sy'] as const) {
    await waitFor(`${rs} serving`, async () => ((await nsExec(NS.d, '/usr/bin/python3', ['-c', `import urllib.request;urllib.request.urlopen('http://${RS[rs]}/', timeout=1)`]).then(() => true, () => undefined))), 10_000, 100);
  }
  const log = openSync(join(WORK, 'director.log'), 'a');
  daemon = spawn('ip', ['netns', 'exec', NS.d, process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', join(WORK, 'keepalived.conf'), '--run-dir', join(WORK, 'run'), '--metrics', '127.0.0.1:9694'], { stdio: ['ignore', log, log] });
  closeSync(log);
  await waitFor('every real server checked and up', async () => {
    const s = await status();
    return s.services.every((v) => v.realServers.every((r) => r.state === 'up' && r.checks.every((c) => c.runs > 0))) ? s : undefined;
  }, 15_000, 100).catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
}, 60_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  for (const p of procs) p.kill('SIGKILL');
  for (const ns of Object.values(NS)) await destroyNetns(ns);
  rmSync(WORK, { recursive: true, force: true });
});

describe.sequential('LVS on nftables, real traffic through the director', () => {
  it('wrr 2:1:1 over 3,000 requests, each server within 5 % of its share; the kernel counted the same connections', async () => {
    const before = await status();
    const t = await traffic({ count: 3000, concurrency: 16 });
    expect(t.failed, t.errors.join('\n')).toBe(0);
    const share = { r1: 0.5, r2: 0.25, r3: 0.25 };
    for (const [rs, p] of Object.entries(share)) {
      expect(Math.abs((t.counts[rs] ?? 0) - 3000 * p), `${rs}: ${JSON.stringify(t.counts)}`).toBeLessThanOrEqual(3000 * p * 0.05);
    }
    const after = await status();
    const counted = after.services[0]!.realServers.map((r, i) => r.connections - before.services[0]!.realServers[i]!.connections);
    expect(counted).toEqual([t.counts.r1, t.counts.r2, t.counts.r3]);
    console.log(`wrr 2:1:1 over 3000 requests: ${JSON.stringify(t.counts)}`);
  }, 60_000);

  it('tandem status, --json and the metrics say the same: each real server\'s state, weight, connections and last check', async () => {
    const j = await status();
    const { stdout: text } = await nsExec(NS.d, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--run-dir', join(WORK, 'run')]);
    const { stdout: prom } = await nsExec(NS.d, '/usr/bin/python3', ['-c', "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9694/metrics').read().decode())"]);
    expect(j.backend).toBe('nftables');
    const r1 = rsState(j, RS.r1);
    expect(r1).toMatchObject({ state: 'up', weight: 2, configuredWeight: 2, checks: [{ type: 'HTTP_GET', up: true, last: { ok: true, reason: '/health.html: HTTP 200' } }] });
    expect(text).toMatch(new RegExp(`${VIP}:80 TCP wrr NAT: quorum up for [0-9.]+ s \\(alive weight 4, needs 1\\); sorry server ${RS.sy}:80 standing by`));
    expect(text).toMatch(new RegExp(`${RS.r1}:80 +up +for [0-9.]+ s, weight 2, ${r1.connections} connections`));
    expect(text).toMatch(/HTTP_GET +up, \d+ runs, last ok [0-9.]+ s ago: \/health.html: HTTP 200/);
    const line = (name: string, rs: string) => prom.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`real_server="${rs}"`) && l.includes(`service="${VIP}:80 TCP"`));
    expect(line('tandem_lvs_real_server_up', `${RS.r1}:80`)).toMatch(/ 1$/);
    expect(line('tandem_lvs_real_server_weight', `${RS.r1}:80`)).toMatch(/ 2$/);
    expect(Number(line('tandem_lvs_real_server_connections_total', `${RS.r1}:80`)!.split(' ').at(-1))).toBeGreaterThanOrEqual(r1.connections);
    expect(prom).toContain('# TYPE tandem_lvs_real_server_connections_total counter');
  }, 30_000);

  it(`a real server that fails its check leaves within delay_loop x retry (${DELAY_LOOP_S * RETRY} s) and comes back after it passes`, async () => {
    const t0 = Date.now();
    fail('r2');
    const down = await waitFor('r2 down', async () => (rsState(await status(), RS.r2).state === 'down' ? Date.now() - t0 : undefined), 10_000, 50);
    console.log(`r2 left the pool ${down} ms after its health page went`);
    expect(down, logs()).toBeLessThanOrEqual(DELAY_LOOP_S * RETRY * 1000);
    const s = rsState(await status(), RS.r2);
    expect(s).toMatchObject({ state: 'down', weight: 0, reason: '/health.html: HTTP 404' });
    const t = await traffic({ count: 300, concurrency: 8 });
    expect(t.failed).toBe(0);
    expect(t.counts.r2 ?? 0).toBe(0);
    expect(t.counts.r1).toBe(200);
    heal('r2');
    await waitFor('r2 up', async () => (rsState(await status(), RS.r2).state === 'up' ? true : undefined), 5000, 50);
    const back = await traffic({ count: 400, concurrency: 8 });
    expect(back.counts).toEqual({ r1: 200, r2: 100, r3: 100 });
  }, 60_000);

  it('zero failed requests while weights change (misc_dynamic) and servers leave and return, each change one transaction', async () => {
    const run = traffic({ count: 1500, concurrency: 6, paceMs: 20 });
    const steps: Array<() => void> = [
      () => setRs3({ weight: 4 }), () => fail('r1'), () => setRs3({ weight: 0 }), () => heal('r1'),
      () => setRs3({ weight: 2 }), () => fail('r2'), () => setRs3({ weight: 1 }), () => heal('r2'),
    ];
    for (const step of steps) {
      step();
      await new Promise((r) => setTimeout(r, 600));
    }
    const t = await run;
    console.log(`1500 requests during 8 changes: ${JSON.stringify(t.counts)}, failed ${t.failed}`);
    expect(t.failed, t.errors.join('\n')).toBe(0);
    expect(logs()).toMatch(/weight 4 \(misc_dynamic\)/);
    await waitFor('all up again', async () => ((await status()).services[0]!.realServers.every((r) => r.state === 'up') ? true : undefined), 5000, 50);
  }, 90_000);

  it('the sorry server answers when every real server is down, and hands back when they return', async () => {
    fail('r1');
    fail('r2');
    setRs3('down');
    await waitFor('quorum lost', async () => ((await status()).services[0]!.quorum.up ? undefined : true), 10_000, 50);
    const s = (await status()).services[0]!;
    expect(s.sorry).toMatchObject({ address: `${RS.sy}:80`, active: true });
    const t = await traffic({ count: 50, concurrency: 4 });
    expect(t).toMatchObject({ counts: { sorry: 50 }, failed: 0 });
    heal('r1');
    heal('r2');
    setRs3({ weight: 1 });
    await waitFor('quorum back', async () => ((await status()).services[0]!.quorum.up ? true : undefined), 10_000, 50);
    // Quorum comes back with the first servers to pass their checks, not necessarily all three.
    await waitFor('all up again', async () => ((await status()).services[0]!.realServers.every((r) => r.state === 'up') ? true : undefined), 10_000, 50);
    const back = await traffic({ count: 40, concurrency: 4 });
    expect(back.counts).toEqual({ r1: 20, r2: 10, r3: 10 });
  }, 60_000);

  it('a fwmark service for ports 80 and 443 with persistence keeps each client on one server', async () => {
    const urls = [`http://${VIP2}/`, `http://${VIP2}:443/`];
    const a = await traffic({ count: 20, concurrency: 1, url: urls, local: '10.160.1.2' });
    const b = await traffic({ count: 20, concurrency: 1, url: urls, local: '10.160.1.3' });
    console.log(`fwmark 1 with persistence: client .2 ${JSON.stringify(a.counts)}, client .3 ${JSON.stringify(b.counts)}`);
    expect(a.failed + b.failed).toBe(0);
    expect(Object.values(a.counts)).toEqual([20]);
    expect(Object.values(b.counts)).toEqual([20]);
    const fw = (await status()).services[1]!;
    expect(fw).toMatchObject({ name: 'fwmark 1', persistenceS: 30 });
    expect(fw.realServers.reduce((n, r) => n + r.connections, 0)).toBe(40);
  }, 30_000);

  it('a graceful stop takes the table out of the kernel', async () => {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon!.kill('SIGTERM');
    await exited;
    const { stdout } = await nsExec(NS.d, 'nft', ['list', 'tables']);
    expect(stdout).not.toMatch(/tandem_lvs/);
  }, 20_000);
});
