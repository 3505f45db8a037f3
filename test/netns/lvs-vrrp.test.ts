// A VRRP pair fronting an LVS pool (issue 15): two directors A (priority
// 150) and B (100), each `tandem run -f` with the same keepalived.conf but
// its priority: one vrrp_instance holding the VIP on the client side and
// the real servers' gateway on the other, one virtual_server (NAT, rr) over
// two real servers, with ha_suspend and vrrp_rt_priority. Both directors program the service, as
// keepalived does; the VIP decides where traffic arrives, and only its holder
// runs the checks. A's power loss moves the VIP and
// the service together: the client's requests resume through B.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VrrpStatusReport } from '../../src/daemon/vrrp-daemon.js';
import { attachToBridge, cleanupPrefix, createBridge, createNetns, destroyNetns, netnsName, nsExec, powerLossIn, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdlvr';
const NS = { sw: netnsName(PREFIX, 'sw'), c: netnsName(PREFIX, 'c'), a: netnsName(PREFIX, 'a'), b: netnsName(PREFIX, 'b'), r1: netnsName(PREFIX, 'r1'), r2: netnsName(PREFIX, 'r2') } as const;
const WORK = `/tmp/tandem-lvs-vrrp-${process.pid}`;
const VIP = '10.160.11.100';
const GW = '10.160.12.1';
const ADDR = { a: ['10.160.11.11', '10.160.12.11'], b: ['10.160.11.12', '10.160.12.12'] } as const;
const RS = { r1: '10.160.12.21', r2: '10.160.12.22' } as const;
const PRIO = { a: 150, b: 100 } as const;
type Dir = 'a' | 'b';
const procs: ChildProcess[] = [];
const daemons: Partial<Record<Dir, ChildProcess>> = {};

function conf(who: Dir): string {
  const rs = (ip: string) => `  real_server ${ip} 80 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }`;
  return [
    '! written by test/netns/lvs-vrrp.test.ts',
    // A: the default scheduling (main thread real-time, checks at nice 10); B: keepalived's nice values instead.
    'global_defs {', `  router_id ${who}`, '  vrrp_version 3', ...(who === 'b' ? ['  vrrp_priority -5', '  checker_priority 12'] : []), '}',
    'vrrp_instance VI_LB {', '  interface eth0', '  virtual_router_id 60', `  priority ${PRIO[who]}`, '  advert_int 0.1',
    '  virtual_ipaddress {', `    ${VIP}/24 dev eth0`, `    ${GW}/24 dev eth1`, '  }', '}',
    `virtual_server ${VIP} 80 {`, '  delay_loop 1', '  lb_algo rr', '  lb_kind NAT', '  protocol TCP', '  ha_suspend', rs(RS.r1), rs(RS.r2), '}', '',
  ].join('\n');
}

const logs = () => (['a', 'b'] as const).map((w) => { try { return `--- ${w}\n${readFileSync(join(WORK, `${w}.log`), 'utf8')}`; } catch { return ''; } }).join('');

async function status(who: Dir): Promise<VrrpStatusReport> {
  const { stdout } = await nsExec(NS[who], process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--json', '--run-dir', join(WORK, `run-${who}`)]);
  return JSON.parse(stdout) as VrrpStatusReport;
}

interface Traffic { counts: Record<string, number>; failed: number; errors: string[]; failTimes: number[] }
async function traffic(o: { count: number; concurrency?: number; paceMs?: number; timeoutMs?: number }): Promise<Traffic> {
  const { stdout } = await nsExec(NS.c, process.execPath, [join(ROOT, 'test/netns/lvs-client.mjs'), JSON.stringify({ url: `http://${VIP}/`, ...o })], { timeoutMs: 120_000 });
  return JSON.parse(stdout) as Traffic;
}

function start(who: Dir): void {
  writeFileSync(join(WORK, `${who}.conf`), conf(who));
  const log = openSync(join(WORK, `${who}.log`), 'a');
  daemons[who] = spawn('ip', ['netns', 'exec', NS[who], process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', join(WORK, `${who}.conf`), '--run-dir', join(WORK, `run-${who}`)], { stdio: ['ignore', log, log] });
  closeSync(log);
}

beforeAll(async () => {
  need('ip', 'nft', '/usr/bin/python3');
  await cleanupPrefix(PREFIX);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { mode: 0o755 });
  for (const ns of Object.values(NS)) await createNetns(ns);
  await createBridge(NS.sw, 'front');
  await createBridge(NS.sw, 'back');
  await attachToBridge(NS.sw, 'front', 'f-c', { ns: NS.c, ifname: 'eth0', cidr: '10.160.11.2/24' });
  for (const who of ['a', 'b'] as const) {
    await attachToBridge(NS.sw, 'front', `f-${who}`, { ns: NS[who], ifname: 'eth0', cidr: `${ADDR[who][0]}/24` });
    await attachToBridge(NS.sw, 'back', `b-${who}`, { ns: NS[who], ifname: 'eth1', cidr: `${ADDR[who][1]}/24` });
    await nsExec(NS[who], 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  }
  for (const r of ['r1', 'r2'] as const) {
    await attachToBridge(NS.sw, 'back', `b-${r}`, { ns: NS[r], ifname: 'eth0', cidr: `${RS[r]}/24` });
    // Replies go to the gateway address the master director holds.
    await sh('ip', ['-n', NS[r], 'route', 'add', 'default', 'via', GW]);
    const dir = join(WORK, r);
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), `${r}\n`);
    procs.push(spawn('ip', ['netns', 'exec', NS[r], '/usr/bin/python3', '-m', 'http.server', '80', '--bind', RS[r], '--directory', dir], { stdio: 'ignore' }));
  }
  start('a');
  await waitFor('A master', async () => ((await status('a')).vrrp.instances[0]?.state === 'MASTER' ? true : undefined), 10_000, 50).catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
  start('b');
  // ha_suspend: only the node holding the VIP checks; B's checks wait, paused.
  await waitFor('a: real servers checked and up', async () => ((await status('a')).lvs?.services[0]?.realServers.every((r) => r.state === 'up' && r.checks[0]!.runs > 0) ? true : undefined), 10_000, 100)
    .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
  await waitFor('b: checks paused', async () => ((await status('b')).lvs?.services[0]?.realServers.every((r) => r.checks[0]!.suspended) ? true : undefined), 10_000, 100)
    .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
}, 60_000);

afterAll(async () => {
  for (const who of ['a', 'b'] as const) if (daemons[who]) await powerLossIn(NS[who], who).catch(() => undefined);
  for (const p of procs) p.kill('SIGKILL');
  for (const ns of Object.values(NS)) await destroyNetns(ns);
  rmSync(WORK, { recursive: true, force: true });
});

describe.sequential('a VRRP pair fronting an LVS pool', () => {
  it('the master takes the traffic; the backup has the same service programmed, without the VIP', async () => {
    const t = await traffic({ count: 40, concurrency: 4 });
    expect(t.failed, t.errors.join('\n')).toBe(0);
    expect(t.counts).toEqual({ r1: 20, r2: 20 });
    const [a, b] = [await status('a'), await status('b')];
    expect(b.vrrp.instances[0]!.state).toBe('BACKUP');
    // By default the adverts' thread is real-time while the checks run on the worker, niced; vrrp_priority alone keeps
    // the normal policy at its nice, and checker_priority sets the worker's.
    expect([a.scheduling, b.scheduling]).toEqual([{ policy: 'SCHED_FIFO 50', refused: null }, { policy: 'SCHED_OTHER nice -5', refused: null }]);
    expect([a.lvs!.checks.nice, b.lvs!.checks.nice]).toEqual([10, 12]);
    const niceOf = (pid: number, tid: string) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ').at(-1)!.split(' ')[16]);
    const bPid = daemons.b!.pid!;
    expect(niceOf(bPid, String(bPid))).toBe(-5);
    expect(readdirSync(`/proc/${bPid}/task`).map((tid) => niceOf(bPid, tid))).toContain(12);
    // Only the main thread: the checker worker (and every other thread) stays at the normal policy.
    const pid = daemons.a!.pid!;
    const fifo = readdirSync(`/proc/${pid}/task`).filter((tid) => readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ').at(-1)!.split(' ')[38] === '1');
    expect(fifo).toEqual([String(pid)]);
    const { stdout: text } = await nsExec(NS.a, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--run-dir', join(WORK, 'run-a')]);
    expect(text.split('\n')[0]).toMatch(/: VRRP instances of .*a\.conf; main thread SCHED_FIFO 50$/);
    expect(a.lvs!.services[0]!.realServers.reduce((n, r) => n + r.connections, 0)).toBe(40);
    expect(b.lvs!.services[0]!.realServers.map((r) => [r.state, r.connections, r.checks[0]!.suspended, r.checks[0]!.runs])).toEqual([['up', 0, true, 0], ['up', 0, true, 0]]);
    expect(a.lvs!.services[0]!.realServers.every((r) => !r.checks[0]!.suspended)).toBe(true);
  }, 30_000);

  it("A's power loss moves the VIP and the virtual service together: the client's requests resume through B", async () => {
    const during = traffic({ count: 120, concurrency: 1, paceMs: 50, timeoutMs: 500 });
    await new Promise((r) => setTimeout(r, 1000));
    const lost = Date.now();
    await powerLossIn(NS.a, 'a');
    delete daemons.a;
    // A powered off: its links go with it (the kernel would otherwise keep answering for its addresses).
    for (const dev of ['eth0', 'eth1']) await sh('ip', ['-n', NS.a, 'link', 'set', dev, 'down']);
    const t = await during;
    const b = await status('b');
    expect(b.vrrp.instances[0]!.state, logs()).toBe('MASTER');
    const outage = t.failTimes.length ? Math.max(...t.failTimes) - lost : 0;
    console.log(`power loss of the director: ${t.failed} of 120 requests failed, the last ${outage} ms after it; then ${JSON.stringify(t.counts)}`);
    expect(t.failed, t.errors.join('\n')).toBeLessThan(40);
    const after = await traffic({ count: 40, concurrency: 4 });
    expect(after.failed, after.errors.join('\n')).toBe(0);
    expect(after.counts).toEqual({ r1: 20, r2: 20 });
    const lvs = (await status('b')).lvs!.services[0]!;
    expect(lvs.realServers.reduce((n, r) => n + r.connections, 0)).toBeGreaterThanOrEqual(40);
    // Holding the VIP now, B checks its real servers.
    expect(lvs.realServers.map((r) => [r.checks[0]!.suspended, r.checks[0]!.runs > 0])).toEqual([[false, true], [false, true]]);
  }, 60_000);
});
