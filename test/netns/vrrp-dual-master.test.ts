// Issue 14's "dual-master active/active": tandem on two nodes A and B, each
// with a front (eth0, 10.246.1.0/24) and a back (eth1, 10.246.2.0/24)
// segment, and an eth2 (a veth pair inside the node) to track. Two instances with opposite
// priorities: A is master of VI_1 (front VIP .100), B of VI_2 (front VIP
// .200). A vrrp_sync_group VG1 binds VI_1 with DIP_1, the back segment's
// address (.100 on eth1), so VG1 has two instances that move together.
//   - VI_2 tracks a script (weight -60), a file (weight -60) and eth2
//     (weight 0): each one failing on B moves VI_2 alone to A (VG1 stays),
//     and back when it recovers;
//   - VG1 tracks a script with sync_group_tracking_weight (weight -60 on
//     every member, as keepalived applies a group's tracking): failing on A
//     moves both VI_1 and DIP_1 to B, together;
//   - A loses power (every process SIGSTOPped then SIGKILLed, so nothing
//     says goodbye, and its addresses removed): B takes VI_1's VIP and the
//     DIP together.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, netnsName, nsExec, powerLossIn, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tddm';
const NS = { a: netnsName(PREFIX, 'a'), b: netnsName(PREFIX, 'b') } as const;
type Node = keyof typeof NS;
const WORK = `/tmp/tandem-vrrp-dual-master-${process.pid}`;
const ADDR = { a: { front: '10.246.1.1', back: '10.246.2.1' }, b: { front: '10.246.1.2', back: '10.246.2.2' } } as const;
const VIP = { vi1: { ip: '10.246.1.100', dev: 'eth0' }, dip: { ip: '10.246.2.100', dev: 'eth1' }, vi2: { ip: '10.246.1.200', dev: 'eth0' } } as const;
type Vip = keyof typeof VIP;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const path = (who: Node, f: string) => join(WORK, `${who}.${f}`);

/** ownerZero: VI_2 is the address owner (255) and also tracks chk_zero (weight 0, failing while WORK/<who>.fail-zero exists). */
function conf(who: Node, o: { ownerZero?: boolean } = {}): string {
  const p1 = who === 'a' ? 150 : 100;
  const p2 = o.ownerZero ? 255 : who === 'a' ? 100 : 150;
  const inst = (name: string, dev: string, vrid: number, prio: number, vip: string, extra: string[] = []) => [
    `vrrp_instance ${name} {`, '    state BACKUP', `    interface ${dev}`, `    virtual_router_id ${vrid}`, `    priority ${prio}`,
    '    advert_int 0.5', ...extra, '    virtual_ipaddress {', `        ${vip}/24 dev ${dev}`, '    }', '}',
  ];
  return [
    '! written by test/netns/vrrp-dual-master.test.ts',
    // Scripts run as nobody, checked as keepalived checks them.
    'global_defs {', `    router_id ${who}`, '    vrrp_version 3', '    enable_script_security', '    script_user nobody nogroup', '}',
    'vrrp_script chk_group {', `    script "/usr/bin/test ! -e ${path(who, 'fail-group')}"`, '    interval 1', '    weight -60', '}',
    'vrrp_script chk_vi2 {', `    script "/usr/bin/test ! -e ${path(who, 'fail-vi2')}"`, '    interval 1', '    weight -60', '}',
    // Hangs until its timeout: no effect on the roles (a positive weight, never good), but it is running when tandem stops.
    'vrrp_script chk_hang {', '    script "/bin/sleep 30"', '    interval 3', '    timeout 3', '    weight 10', '}',
    'vrrp_script chk_zero {', `    script "/usr/bin/test ! -e ${path(who, 'fail-zero')}"`, '    interval 1', '    weight 0', '}',
    'vrrp_track_file tf_vi2 {', `    file ${path(who, 'tf')}`, '    weight -60', '}',
    'vrrp_sync_group VG1 {', '    group {', '        VI_1', '        DIP_1', '    }',
    '    track_script {', '        chk_group', '    }', '    sync_group_tracking_weight', '}',
    ...inst('VI_1', 'eth0', 71, p1, VIP.vi1.ip),
    ...inst('DIP_1', 'eth1', 72, p1, VIP.dip.ip),
    ...inst('VI_2', 'eth0', 73, p2, VIP.vi2.ip, [
      '    track_script {', '        chk_vi2', '        chk_hang', ...(o.ownerZero ? ['        chk_zero'] : []), '    }', '    track_file {', '        tf_vi2', '    }', '    track_interface {', '        eth2', '    }',
    ]),
    '',
  ].join('\n');
}

const procs: Partial<Record<Node, ChildProcess>> = {};

function start(who: Node, o: { ownerZero?: boolean } = {}): void {
  mkdirSync(WORK, { recursive: true });
  const file = path(who, 'conf');
  writeFileSync(file, conf(who, o));
  writeFileSync(path(who, 'tf'), '0\n');
  const log = openSync(path(who, 'log'), 'a');
  procs[who] = spawn('ip', ['netns', 'exec', NS[who], process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', file, '--run-dir', join(WORK, `run-${who}`)], { stdio: ['ignore', log, log] });
  closeSync(log);
}

/** A power loss: every process of the node stopped, then killed (no goodbye advert), its addresses gone. */
async function powerOff(who: Node): Promise<void> {
  await powerLossIn(NS[who], who);
  delete procs[who];
  for (const v of Object.values(VIP)) await sh('ip', ['-n', NS[who], 'addr', 'del', `${v.ip}/24`, 'dev', v.dev]).catch(() => undefined);
}

async function holders(): Promise<Record<Vip, string>> {
  const out = {} as Record<Vip, string>;
  const text: Record<Node, string> = { a: '', b: '' };
  for (const who of ['a', 'b'] as const) text[who] = (await nsExec(NS[who], 'ip', ['-4', '-o', 'addr', 'show'])).stdout;
  for (const [k, v] of Object.entries(VIP) as Array<[Vip, (typeof VIP)[Vip]]>) {
    const on = (['a', 'b'] as const).filter((w) => text[w].includes(` ${v.ip}/`));
    out[k] = on.join('+') || '-';
  }
  return out;
}

const logs = () => (['a', 'b'] as const).map((w) => { try { return `--- ${w}\n${readFileSync(path(w, 'log'), 'utf8')}`; } catch { return ''; } }).join('\n');

/** Waits until the addresses are held as `want` says; returns how long it took. */
async function expectHolders(want: Record<Vip, string>, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  let last: Record<Vip, string> | undefined;
  await waitFor(JSON.stringify(want), async () => {
    last = await holders();
    return (Object.keys(want) as Vip[]).every((k) => last![k] === want[k]) ? true : undefined;
  }, timeoutMs, 20).catch((e: Error) => { throw new Error(`${e.message}; last seen ${JSON.stringify(last)}\n${logs()}`); });
  return performance.now() - t0;
}

/** Holds `want` for `ms` (nothing else moves meanwhile). */
async function staysHeld(want: Record<Vip, string>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const h = await holders();
    expect(h, logs()).toEqual(want);
    await sleep(100);
  }
}

const ACTIVE_ACTIVE = { vi1: 'a', dip: 'a', vi2: 'b' } as const;
const ALL_ON_A = { vi1: 'a', dip: 'a', vi2: 'a' } as const;

describe('dual-master active/active with a sync group (tandem on both nodes)', () => {
  beforeAll(async () => {
    need('ip');
    await cleanupPrefix(PREFIX);
    for (const ns of Object.values(NS)) await createNetns(ns);
    await createVeth({ ns: NS.a, ifname: 'eth0', cidr: `${ADDR.a.front}/24` }, { ns: NS.b, ifname: 'eth0', cidr: `${ADDR.b.front}/24` });
    await createVeth({ ns: NS.a, ifname: 'eth1', cidr: `${ADDR.a.back}/24` }, { ns: NS.b, ifname: 'eth1', cidr: `${ADDR.b.back}/24` });
    for (const ns of Object.values(NS)) {
      // A veth pair inside the node (no dummy module here): eth2 up with carrier, down at will.
      await sh('ip', ['-n', ns, 'link', 'add', 'eth2', 'type', 'veth', 'peer', 'name', 'eth2p']);
      for (const l of ['eth2', 'eth2p']) await sh('ip', ['-n', ns, 'link', 'set', l, 'up']);
    }
  }, 30_000);

  afterEach(async () => {
    for (const who of ['a', 'b'] as const) if (procs[who]) await powerOff(who).catch(() => undefined);
    rmSync(WORK, { recursive: true, force: true });
  });

  afterAll(async () => {
    for (const ns of Object.values(NS)) await destroyNetns(ns);
  });

  it('each of VI_2\'s tracks failing on B moves VI_2 alone to A, and back; VG1 stays on A', async () => {
    start('a');
    start('b');
    await expectHolders(ACTIVE_ACTIVE, 10_000);
    await staysHeld(ACTIVE_ACTIVE, 1000);

    // track_script, weight -60: B's VI_2 150 -> 90 < A's 100; A preempts.
    writeFileSync(path('b', 'fail-vi2'), '');
    await expectHolders(ALL_ON_A, 6000);
    await staysHeld(ALL_ON_A, 1000);
    expect(readFileSync(path('b', 'log'), 'utf8')).toMatch(/vrrp_script chk_vi2: failed \(exit status 1\)/);
    rmSync(path('b', 'fail-vi2'));
    await expectHolders(ACTIVE_ACTIVE, 6000);

    // track_file, weight -60: the file says 1 -> -60.
    writeFileSync(path('b', 'tf'), '1\n');
    await expectHolders(ALL_ON_A, 6000);
    await staysHeld(ALL_ON_A, 600);
    writeFileSync(path('b', 'tf'), '0\n');
    await expectHolders(ACTIVE_ACTIVE, 6000);

    // track_interface, weight 0: eth2 down is FAULT for VI_2 (only).
    await sh('ip', ['-n', NS.b, 'link', 'set', 'eth2', 'down']);
    try {
      await expectHolders(ALL_ON_A, 6000);
      await staysHeld(ALL_ON_A, 600);
      expect(readFileSync(path('b', 'log'), 'utf8')).toMatch(/vrrp_instance VI_2: \w+ -> FAULT .*track_interface eth2/);
    } finally {
      await sh('ip', ['-n', NS.b, 'link', 'set', 'eth2', 'up']);
    }
    await expectHolders(ACTIVE_ACTIVE, 6000);
  }, 90_000);

  it("the group's weighted track_script failing on A moves VI_1 and DIP_1 to B together; back when it recovers", async () => {
    start('a');
    start('b');
    await expectHolders(ACTIVE_ACTIVE, 10_000);
    writeFileSync(path('a', 'fail-group'), '');
    await expectHolders({ vi1: 'b', dip: 'b', vi2: 'b' }, 6000);
    await staysHeld({ vi1: 'b', dip: 'b', vi2: 'b' }, 1000);
    rmSync(path('a', 'fail-group'));
    await expectHolders(ACTIVE_ACTIVE, 6000);
  }, 60_000);

  it("A's power loss moves VI_1's VIP and the DIP to B together", async () => {
    start('a');
    start('b');
    await expectHolders(ACTIVE_ACTIVE, 10_000);
    await staysHeld(ACTIVE_ACTIVE, 1000);
    await powerOff('a');
    const seen: Partial<Record<Vip, number>> = {};
    const t0 = performance.now();
    await waitFor('VI_1 and DIP_1 on B', async () => {
      const h = await holders();
      for (const k of ['vi1', 'dip'] as const) if (h[k] === 'b' && seen[k] === undefined) seen[k] = performance.now() - t0;
      return seen.vi1 !== undefined && seen.dip !== undefined ? true : undefined;
    }, 6000, 10).catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
    // Master_Down_Interval at 0.5 s and priority 100: 1.5 s + 0.3 s skew; both members time out together.
    expect(Math.abs(seen.vi1! - seen.dip!), logs()).toBeLessThan(500);
    expect(await holders()).toEqual({ vi1: 'b', dip: 'b', vi2: 'b' });
    console.log(`power loss of A -> B holds VI_1's VIP after ${Math.round(seen.vi1!)} ms, the DIP after ${Math.round(seen.dip!)} ms`);
  }, 60_000);

  it('a graceful stop leaves no tracking script behind (a hung one is killed at its timeout first)', async () => {
    start('a');
    await expectHolders({ vi1: 'a', dip: 'a', vi2: 'a' }, 10_000);
    const comms = async () => {
      const pids = (await sh('ip', ['netns', 'pids', NS.a])).stdout.split('\n').filter(Boolean);
      return (await Promise.all(pids.map((p) => readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')))).map((c) => c.trim());
    };
    await waitFor('chk_hang running', async () => ((await comms()).includes('sleep') ? true : undefined), 8000, 20);
    const p = procs.a!;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    delete procs.a;
    expect(await comms(), logs()).toEqual([]);
  }, 60_000);

  it('an instance waits for its weight-0 scripts: a failing one keeps even the address owner from ever adding its VIP', async () => {
    mkdirSync(WORK, { recursive: true });
    writeFileSync(path('a', 'fail-zero'), '');
    // Every address the kernel adds in A, from before tandem starts: a VIP up for a moment would show here.
    const mon = spawn('ip', ['-n', NS.a, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    mon.stdout.on('data', (c: Buffer) => { seen += c.toString(); });
    try {
      await sleep(200);
      start('a', { ownerZero: true });
      await expectHolders({ vi1: 'a', dip: 'a', vi2: '-' }, 10_000);
      await sleep(1500);
      expect(readFileSync(path('a', 'log'), 'utf8'), logs()).toMatch(/vrrp_instance VI_2: \w+ -> FAULT .*track_script chk_zero/);
      expect(seen, logs()).not.toContain(`${VIP.vi2.ip}/`);
      // The script good again: the owner takes its address.
      rmSync(path('a', 'fail-zero'));
      await expectHolders({ vi1: 'a', dip: 'a', vi2: 'a' }, 5000);
      expect(seen).toContain(`${VIP.vi2.ip}/`);
    } finally {
      mon.kill();
    }
  }, 60_000);
});
