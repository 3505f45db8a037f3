// `tandem run -f keepalived.conf` and a real keepalived 2.2 (Debian) in one
// virtual router, in network namespaces: T runs tandem, K runs keepalived,
// one veth between them, 10.248.1.0/24 and fd00:248:1::/64. Both run the
// same kind of keepalived.conf; who is master is read from where the VIP is
// (the kernel's address list) and from keepalived's own log.
//   - tandem master, keepalived backup; a graceful stop of tandem (priority 0)
//     hands the VIP over at once; tandem back: preemption returns it;
//   - keepalived master, tandem backup; keepalived's power loss (SIGKILL of
//     both its processes, stopped first so no goodbye advert goes out):
//     tandem takes the VIP and gives it back when keepalived returns;
//   - `nopreempt` on tandem: a returning higher-priority tandem stays BACKUP;
//   - VRRPv2 with auth_type PASS, VRRPv3 over IPv6, unicast peers;
//   - a failing track_script (weight -60) on master tandem: keepalived at
//     100 preempts tandem's 90, and tandem back at 150 preempts it.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, netnsName, nsExec, powerLossIn, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdvi';
const K = netnsName(PREFIX, 'k');
const T = netnsName(PREFIX, 't');
const WORK = `/tmp/tandem-vrrp-interop-${process.pid}`;
const NET = { 4: { k: '10.248.1.1', t: '10.248.1.2', vip: '10.248.1.100', len: 24 }, 6: { k: 'fd00:248:1::1', t: 'fd00:248:1::2', vip: 'fd00:248:1::100', len: 64 } } as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Instance {
  version: 2 | 3;
  family: 4 | 6;
  advertInt: string;
  priority: number;
  nopreempt?: boolean;
  pass?: string;
  unicast?: boolean;
  /** A vrrp_script `chk` (weight -60) that fails while WORK/<who>.fail exists. */
  track?: boolean;
}

function conf(who: 'k' | 't', i: Instance): string {
  const peer = who === 'k' ? 't' : 'k';
  const n = NET[i.family];
  return [
    '! written by test/netns/vrrp-interop.test.ts',
    'global_defs {',
    `    router_id ${who}`,
    `    vrrp_version ${i.version}`,
    ...(i.track ? ['    enable_script_security', '    script_user nobody nogroup'] : []),
    '}',
    ...(i.track ? ['vrrp_script chk {', `    script "/usr/bin/test ! -e ${join(WORK, `${who}.fail`)}"`, '    interval 1', '    weight -60', '}'] : []),
    'vrrp_instance VI_1 {',
    '    state BACKUP',
    '    interface eth0',
    '    virtual_router_id 61',
    `    priority ${i.priority}`,
    `    advert_int ${i.advertInt}`,
    ...(i.nopreempt ? ['    nopreempt'] : []),
    ...(i.track ? ['    track_script {', '        chk', '    }'] : []),
    ...(i.pass ? ['    authentication {', '        auth_type PASS', `        auth_pass ${i.pass}`, '    }'] : []),
    ...(i.unicast ? [`    unicast_src_ip ${n[who]}`, '    unicast_peer {', `        ${n[peer]}`, '    }'] : []),
    '    virtual_ipaddress {',
    `        ${n.vip}/${n.len} dev eth0`,
    '    }',
    '}',
    '',
  ].join('\n');
}

const procs: Partial<Record<'k' | 't', ChildProcess>> = {};

function start(who: 'k' | 't', i: Instance): void {
  mkdirSync(WORK, { recursive: true });
  const file = join(WORK, `${who}.conf`);
  writeFileSync(file, conf(who, i));
  const log = openSync(join(WORK, `${who}.log`), 'a');
  const args = who === 'k'
    ? ['netns', 'exec', K, '/usr/sbin/keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', file,
      '-p', join(WORK, 'k.pid'), '-r', join(WORK, 'kv.pid')]
    : ['netns', 'exec', T, process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', file, '--run-dir', join(WORK, 'run')];
  procs[who] = spawn('ip', args, { stdio: ['ignore', log, log] });
  closeSync(log);
}

/** A power loss: every process of the namespace, SIGKILL (keepalived's VRRP child included). */
async function powerOff(who: 'k' | 't'): Promise<void> {
  const ns = who === 'k' ? K : T;
  await powerLossIn(ns, who);
  delete procs[who];
  for (const f of ['k.pid', 'kv.pid']) rmSync(join(WORK, f), { force: true });
  // A node without power holds no address; SIGKILL alone leaves the VIP configured.
  for (const f of [4, 6] as const) await sh('ip', ['-n', ns, `-${f}`, 'addr', 'del', `${NET[f].vip}/${NET[f].len}`, 'dev', 'eth0']).catch(() => undefined);
}

async function stopGracefully(who: 'k' | 't'): Promise<void> {
  const p = procs[who]!;
  const exited = new Promise((r) => p.once('exit', r));
  // `ip netns exec` execs the program: the child's pid is tandem's.
  p.kill('SIGTERM');
  await exited;
  delete procs[who];
}

async function hasVip(who: 'k' | 't', family: 4 | 6): Promise<boolean> {
  const out = (await nsExec(who === 'k' ? K : T, 'ip', [`-${family}`, '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
  return out.includes(` ${NET[family].vip}/`);
}

/** Waits until exactly `who` holds the VIP; returns how long it took. */
async function vipOnlyOn(who: 'k' | 't', family: 4 | 6, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const other = who === 'k' ? 't' : 'k';
  await waitFor(`the VIP on ${who} only`, async () => ((await hasVip(who, family)) && !(await hasVip(other, family)) ? true : undefined), timeoutMs, 20)
    .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
  return performance.now() - t0;
}

const kLog = () => { try { return readFileSync(join(WORK, 'k.log'), 'utf8'); } catch { return ''; } };
const tLog = () => { try { return readFileSync(join(WORK, 't.log'), 'utf8'); } catch { return ''; } };
const logs = () => `--- tandem\n${tLog()}\n--- keepalived\n${kLog()}`;

describe('tandem run -f against keepalived 2.2.7', () => {
  beforeAll(async () => {
    need('ip', '/usr/sbin/keepalived');
    await cleanupPrefix(PREFIX);
    for (const ns of [K, T]) await createNetns(ns);
    await createVeth({ ns: K, ifname: 'eth0', cidr: `${NET[4].k}/24` }, { ns: T, ifname: 'eth0', cidr: `${NET[4].t}/24` });
    for (const [ns, a] of [[K, NET[6].k], [T, NET[6].t]] as const) await sh('ip', ['-n', ns, 'addr', 'add', `${a}/64`, 'dev', 'eth0', 'nodad']);
    // IPv6 adverts leave from the link-local address: wait until it is no longer tentative.
    for (const ns of [K, T]) {
      await waitFor(`${ns} link-local`, async () => {
        const o = (await nsExec(ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout;
        return o.includes('fe80::') && !o.includes('tentative') ? true : undefined;
      }, 10_000);
    }
  }, 30_000);

  afterEach(async () => {
    for (const who of ['k', 't'] as const) if (procs[who]) await powerOff(who).catch(() => undefined);
    for (const ns of [K, T]) for (const f of [4, 6] as const) await sh('ip', ['-n', ns, `-${f}`, 'addr', 'del', `${NET[f].vip}/${NET[f].len}`, 'dev', 'eth0']).catch(() => undefined);
    rmSync(WORK, { recursive: true, force: true });
  });

  afterAll(async () => {
    for (const ns of [K, T]) await destroyNetns(ns);
  });

  it('v3 IPv4: tandem master, keepalived backup; a graceful stop hands over at once; tandem back preempts', async () => {
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 100 });
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 150 });
    await vipOnlyOn('t', 4, 5000);
    await sleep(500);
    expect(kLog(), logs()).toMatch(/higher priority 150, ours 100/);
    expect(await hasVip('k', 4)).toBe(false);
    // `tandem status` answers from the VRRP-only daemon.
    const st = await nsExec(T, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--run-dir', join(WORK, 'run')]);
    expect(st.stdout).toMatch(/^ {2}VI_1 +VRID 61 +v3 MASTER for [\d.]+ s, priority 150, advert 100 ms$/m);
    const js = JSON.parse((await nsExec(T, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--json', '--run-dir', join(WORK, 'run')])).stdout) as { kind: string; vrrp: { instances: Array<{ name: string; state: string }> } };
    expect(js.kind).toBe('vrrp');
    expect(js.vrrp.instances).toMatchObject([{ name: 'VI_1', state: 'MASTER' }]);
    // Priority 0 from the stopping master: keepalived takes over after Skew_Time, not Master_Down_Interval.
    const t0 = performance.now();
    await stopGracefully('t');
    await vipOnlyOn('k', 4, 3000);
    const handover = performance.now() - t0;
    expect(handover, logs()).toBeLessThan(300);   // Master_Down_Interval would be 300 ms + skew
    expect(tLog()).toMatch(/MASTER -> STOPPED/);
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 150 });
    await vipOnlyOn('t', 4, 5000);
  }, 30_000);

  it('v3 IPv4 unicast: keepalived master, tandem backup; keepalived loses power: tandem takes the VIP; keepalived back preempts', async () => {
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 100, nopreempt: true, unicast: true });
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 150, unicast: true });
    await vipOnlyOn('k', 4, 5000);
    await sleep(600);
    expect(await hasVip('t', 4), logs()).toBe(false);
    await powerOff('k');
    const took = await vipOnlyOn('t', 4, 3000);
    // Master_Down_Interval = 3 x 100 ms + (256-100)/256 x 100 ms = 361 ms, plus detection of the kill.
    expect(took, logs()).toBeLessThan(1500);
    // keepalived back with the higher priority: tandem keeps the VIP only if keepalived does not preempt.
    // keepalived preempts (no nopreempt there): the VIP goes back, and tandem lets it.
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 150, unicast: true });
    await vipOnlyOn('k', 4, 5000);
  }, 30_000);

  it('nopreempt on tandem: a returning higher-priority tandem does not take the VIP from keepalived', async () => {
    // With nopreempt a node that hears any master stays BACKUP, so tandem starts alone.
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 150, nopreempt: true });
    await vipOnlyOn('t', 4, 5000);
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 100 });
    await sleep(800);
    expect(await hasVip('k', 4), logs()).toBe(false);
    await powerOff('t');
    await vipOnlyOn('k', 4, 3000);
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 150, nopreempt: true });
    await sleep(1500);
    expect(await hasVip('t', 4), logs()).toBe(false);
    expect(await hasVip('k', 4), logs()).toBe(true);
  }, 30_000);

  it('v2 IPv4 with auth_type PASS: keepalived accepts tandem as master, and tandem keepalived', async () => {
    start('k', { version: 2, family: 4, advertInt: '1', priority: 100, pass: 'tandem12' });
    start('t', { version: 2, family: 4, advertInt: '1', priority: 150, pass: 'tandem12' });
    await vipOnlyOn('t', 4, 8000);
    await sleep(1500);
    expect(await hasVip('k', 4), logs()).toBe(false);
    await powerOff('t');
    await vipOnlyOn('k', 4, 6000);
  }, 30_000);

  it('run -c DIR -f FILE: one daemon runs a Heartbeat pair\'s group and the VRRP instance; status shows both; a stop releases both', async () => {
    // The Heartbeat peer never comes: after initdead the group starts here. keepalived is the VRRP peer.
    const cfg = join(WORK, 'ha.d');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'ha.cf'), `keepalive 100ms\nwarntime 500ms\ndeadtime 1\ninitdead 1\nucast eth0 ${NET[4].k}\nauto_failback off\nnode t absent\n`);
    writeFileSync(join(cfg, 'authkeys'), 'auth 1\n1 sha1 interop-secret\n', { mode: 0o600 });
    writeFileSync(join(cfg, 'haresources'), 't IPaddr2::10.248.1.150/24/eth0\n');
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 100 });
    writeFileSync(join(WORK, 't.conf'), conf('t', { version: 3, family: 4, advertInt: '0.1', priority: 150 }));
    const log = openSync(join(WORK, 't.log'), 'a');
    procs.t = spawn('ip', ['netns', 'exec', T, process.execPath, join(ROOT, 'bin/tandem'), 'run', '-c', cfg, '-f', join(WORK, 't.conf'), '--node', 't',
      '--state-dir', join(WORK, 'state'), '--run-dir', join(WORK, 'run')], { stdio: ['ignore', log, log] });
    closeSync(log);
    await vipOnlyOn('t', 4, 5000);
    const groupVip = async () => (await nsExec(T, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(' 10.248.1.150/');
    await waitFor('the group\'s address after initdead', async () => ((await groupVip()) ? true : undefined), 8000, 50)
      .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
    const st = (await nsExec(T, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--run-dir', join(WORK, 'run')])).stdout;
    expect(st).toMatch(/^VRRP instances of .*t\.conf:$/m);
    expect(st).toMatch(/^ {2}VI_1 +VRID 61 +v3 MASTER/m);
    const js = JSON.parse((await nsExec(T, process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--json', '--run-dir', join(WORK, 'run')])).stdout) as { vrrp: { instances: Array<{ state: string }> } };
    expect(js.vrrp.instances).toMatchObject([{ state: 'MASTER' }]);
    await stopGracefully('t');
    expect(await groupVip(), logs()).toBe(false);
    await vipOnlyOn('k', 4, 3000);
  }, 40_000);

  it('v3 IPv6: tandem master over ff02::12, keepalived backup; tandem loses power: keepalived takes over', async () => {
    start('k', { version: 3, family: 6, advertInt: '0.1', priority: 100 });
    start('t', { version: 3, family: 6, advertInt: '0.1', priority: 150 });
    await vipOnlyOn('t', 6, 5000);
    await sleep(500);
    expect(kLog(), logs()).toMatch(/higher priority 150, ours 100/);
    await powerOff('t');
    await vipOnlyOn('k', 6, 3000);
  }, 30_000);

  it('track_script weight -60 on tandem (150): failing, keepalived (100) takes over; recovered, tandem preempts back', async () => {
    start('k', { version: 3, family: 4, advertInt: '0.1', priority: 100 });
    start('t', { version: 3, family: 4, advertInt: '0.1', priority: 150, track: true });
    await vipOnlyOn('t', 4, 5000);
    writeFileSync(join(WORK, 't.fail'), '');
    // fall 1 x interval 1 s, then keepalived's down timer (it discards tandem's adverts at 90).
    await vipOnlyOn('k', 4, 4000);
    expect(tLog(), logs()).toMatch(/effective priority 150 -> 90/);
    rmSync(join(WORK, 't.fail'));
    await vipOnlyOn('t', 4, 4000);
  }, 30_000);
});
