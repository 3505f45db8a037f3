// keepalived's virtual_routes run by tandem (issue 14): two tandem nodes A
// and B joined by eth0 (10.249.1.0/24), one instance VI_R with a VIP and
// routes: via a gateway with a metric, a blackhole, one in table 300 whose
// source is the VIP (so it can only go in after the VIP), and one whose
// gateway is on no connected network (the kernel refuses it: logged at its
// line, nothing else held back). The master holds the VIP and the routes,
// the backup none of them; power loss, a higher-priority node coming back,
// a tracked interface down (FAULT) and a graceful stop move or remove them.
// Then the network core's route ownership against the kernel: another
// owner refused, an identical route adopted, a different one named and
// left, a crashed run's leftovers, IPv6 and big tables.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentsDriver } from '../helpers/agents-driver.js';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, netnsName, nsExec, powerLossIn, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdvr';
const NS = { a: netnsName(PREFIX, 'a'), b: netnsName(PREFIX, 'b') } as const;
type Node = keyof typeof NS;
const WORK = `/tmp/tandem-vrrp-routes-${process.pid}`;
const VIP = '10.249.1.100';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const path = (who: Node, f: string) => join(WORK, `${who}.${f}`);

/** What each node's kernel shows for the VIP and each route (`ip route show table all`). */
const SHOWN = {
  vip: (addrs: string) => addrs.includes(` ${VIP}/24 `),
  gw: (routes: string) => /^10\.249\.10\.0\/24 via 10\.249\.1\.254 dev eth0 proto keepalived metric 5 *$/m.test(routes),
  bh: (routes: string) => /^blackhole 10\.249\.20\.0\/24 proto keepalived *$/m.test(routes),
  t300: (routes: string) => /^10\.249\.30\.0\/24 dev eth0 table 300 proto keepalived scope link src 10\.249\.1\.100 *$/m.test(routes),
} as const;
type Thing = keyof typeof SHOWN;
const ROUTES_AT_LINE = 12;   // the first virtual_routes line in conf()

function conf(who: Node): string {
  const lines = [
    '! written by test/netns/vrrp-routes.test.ts',
    'global_defs {', `    router_id ${who}`, '    vrrp_version 3', '}',
    'vrrp_instance VI_R {', '    interface eth0', '    virtual_router_id 81', `    priority ${who === 'a' ? 150 : 100}`, '    advert_int 0.5',
    '    virtual_routes {',
    '        10.249.10.0/24 via 10.249.1.254 dev eth0 metric 5',
    '        blackhole 10.249.20.0/24',
    `        src ${VIP} to 10.249.30.0/24 dev eth0 table 300`,
    '        10.249.40.0/24 via 10.9.9.9 dev eth0',
    '    }',
    '    virtual_ipaddress {', `        ${VIP}/24 dev eth0`, '    }',
    '    track_interface {', '        eth2', '    }', '}', '',
  ];
  expect(lines[ROUTES_AT_LINE - 1]).toContain('10.249.10.0/24');
  return lines.join('\n');
}

const procs: Partial<Record<Node, ChildProcess>> = {};

function start(who: Node): void {
  mkdirSync(WORK, { recursive: true });
  const file = path(who, 'conf');
  writeFileSync(file, conf(who));
  const log = openSync(path(who, 'log'), 'a');
  procs[who] = spawn('ip', ['netns', 'exec', NS[who], process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', file, '--run-dir', join(WORK, `run-${who}`)], { stdio: ['ignore', log, log] });
  closeSync(log);
}

/** A graceful stop (SIGTERM); resolves when the daemon has exited. */
async function stop(who: Node): Promise<void> {
  const p = procs[who];
  if (!p) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
  delete procs[who];
}

/** A power loss: the node's processes stopped and killed (no goodbye), and its kernel state gone with it. */
async function powerOff(who: Node): Promise<void> {
  await powerLossIn(NS[who], who);
  delete procs[who];
  await sh('ip', ['-n', NS[who], 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']).catch(() => undefined);
  await sh('ip', ['-n', NS[who], 'route', 'flush', 'table', 'all', 'proto', 'keepalived']).catch(() => undefined);
}

async function holders(): Promise<Record<Thing, string>> {
  const seen: Record<Node, { addrs: string; routes: string }> = { a: { addrs: '', routes: '' }, b: { addrs: '', routes: '' } };
  for (const who of ['a', 'b'] as const) {
    seen[who] = {
      addrs: (await nsExec(NS[who], 'ip', ['-4', '-o', 'addr', 'show'])).stdout,
      routes: (await nsExec(NS[who], 'ip', ['-4', 'route', 'show', 'table', 'all'])).stdout,
    };
  }
  const out = {} as Record<Thing, string>;
  for (const k of Object.keys(SHOWN) as Thing[]) {
    const on = (['a', 'b'] as const).filter((w) => SHOWN[k](k === 'vip' ? seen[w].addrs : seen[w].routes));
    out[k] = on.join('+') || '-';
  }
  return out;
}

const all = (who: string): Record<Thing, string> => ({ vip: who, gw: who, bh: who, t300: who });
const logs = () => (['a', 'b'] as const).map((w) => { try { return `--- ${w}\n${readFileSync(path(w, 'log'), 'utf8')}`; } catch { return ''; } }).join('\n');

async function expectHolders(want: Record<Thing, string>, timeoutMs: number): Promise<void> {
  let last: Record<Thing, string> | undefined;
  await waitFor(JSON.stringify(want), async () => {
    last = await holders();
    return (Object.keys(want) as Thing[]).every((k) => last![k] === want[k]) ? true : undefined;
  }, timeoutMs, 20).catch((e: Error) => { throw new Error(`${e.message}; last seen ${JSON.stringify(last)}\n${logs()}`); });
}

async function staysHeld(want: Record<Thing, string>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    expect(await holders(), logs()).toEqual(want);
    await sleep(100);
  }
}

// Both describes share the namespaces (the second drives A's network core directly, with no daemon running).
beforeAll(async () => {
  need('ip');
  await cleanupPrefix(PREFIX);
  for (const ns of Object.values(NS)) await createNetns(ns);
  await createVeth({ ns: NS.a, ifname: 'eth0', cidr: '10.249.1.1/24' }, { ns: NS.b, ifname: 'eth0', cidr: '10.249.1.2/24' });
  for (const ns of Object.values(NS)) {
    // eth2, a veth pair inside the node, is tracked: down is FAULT while eth0 (and the routes through it) stay up.
    await sh('ip', ['-n', ns, 'link', 'add', 'eth2', 'type', 'veth', 'peer', 'name', 'eth2p']);
    for (const l of ['eth2', 'eth2p']) await sh('ip', ['-n', ns, 'link', 'set', l, 'up']);
  }
}, 30_000);

afterAll(async () => {
  for (const ns of Object.values(NS)) await destroyNetns(ns);
});

describe.sequential('virtual_routes follow the MASTER (tandem on both nodes)', () => {
  afterEach(async () => {
    for (const who of ['a', 'b'] as const) if (procs[who]) await powerOff(who).catch(() => undefined);
    rmSync(WORK, { recursive: true, force: true });
  });

  it('the master has the VIP and its routes, the backup none; a route the kernel refuses is logged at its line and holds nothing back', async () => {
    mkdirSync(WORK, { recursive: true });
    writeFileSync(path('a', 'conf'), conf('a'));
    // check-config accepts the file (blackhole without dev included).
    const cc = await nsExec(NS.a, process.execPath, [join(ROOT, 'bin/tandem'), 'check-config', '-f', path('a', 'conf')]);
    expect(cc.stderr).not.toMatch(/error/);
    // b only once a is master: started together on a loaded machine, a's slower
    // start-up could let b be master first (then preempted), which is not what this checks.
    start('a');
    await expectHolders(all('a'), 10_000);
    start('b');
    await staysHeld(all('a'), 1000);
    const la = readFileSync(path('a', 'log'), 'utf8');
    expect(la).toContain(`${path('a', 'conf')}:${ROUTES_AT_LINE + 3}: vrrp_instance VI_R: route 10.249.40.0/24 via 10.9.9.9 dev eth0 not added: `);
    // The order keepalived uses: the VIP, then the routes (table 300's src is the VIP: before it, the kernel refuses the route).
    expect(la.indexOf(`added ${VIP}/24 to eth0`)).toBeGreaterThan(-1);
    expect(la.indexOf(`added ${VIP}/24 to eth0`)).toBeLessThan(la.indexOf('added route 10.249.10.0/24'));
    expect(readFileSync(path('b', 'log'), 'utf8')).not.toContain('added route');
    // What the routes add to a takeover: from the VIP's add to the last route's answer (log timestamps, ms).
    const at = (needle: string) => Date.parse(la.split('\n').find((l) => l.includes(needle))!.split(' ')[0]!);
    console.log(`routes after the VIP: ${at('not added: ') - at(`added ${VIP}/24 to eth0`)} ms for 4 routes (3 added, 1 refused)`);
  }, 60_000);

  it("the master's power loss moves the routes to the backup; the master back takes them again and the backup removes them", async () => {
    start('a');
    start('b');
    await expectHolders(all('a'), 10_000);
    await powerOff('a');
    await expectHolders(all('b'), 6000);
    await staysHeld(all('b'), 600);
    start('a');
    await expectHolders(all('a'), 10_000);
    await staysHeld(all('a'), 600);
    const lb = readFileSync(path('b', 'log'), 'utf8');
    expect(lb).toMatch(/MASTER -> BACKUP/);
    expect(lb).toContain('removed route blackhole 10.249.20.0/24');
    // Routes go before the VIP when leaving MASTER.
    const back = lb.lastIndexOf('MASTER -> BACKUP');
    expect(lb.indexOf('removed route 10.249.10.0/24', back)).toBeLessThan(lb.indexOf(`removing ${VIP}/24 from eth0`, back));
  }, 60_000);

  it("the master's FAULT (a tracked interface down) removes its routes, though the kernel would keep them; the peer takes them", async () => {
    start('a');
    start('b');
    await expectHolders(all('a'), 10_000);
    await sh('ip', ['-n', NS.a, 'link', 'set', 'eth2', 'down']);
    try {
      await expectHolders(all('b'), 6000);
      await staysHeld(all('b'), 600);
      expect(readFileSync(path('a', 'log'), 'utf8')).toMatch(/vrrp_instance VI_R: MASTER -> FAULT/);
    } finally {
      await sh('ip', ['-n', NS.a, 'link', 'set', 'eth2', 'up']);
    }
    await expectHolders(all('a'), 6000);
  }, 60_000);

  it('a graceful stop of the master removes its routes and the peer takes them; stopping the last node leaves none', async () => {
    start('a');
    start('b');
    await expectHolders(all('a'), 10_000);
    await stop('a');
    await expectHolders(all('b'), 6000);
    await stop('b');
    expect(await holders(), logs()).toEqual(all('-'));
    for (const who of ['a', 'b'] as const) {
      expect((await nsExec(NS[who], 'ip', ['route', 'show', 'table', 'all', 'proto', 'keepalived'])).stdout.trim()).toBe('');
    }
  }, 60_000);
});

describe.sequential('route ownership in the network core, against the kernel', () => {
  let drv: AgentsDriver | undefined;
  const d = (): AgentsDriver => { if (!drv) throw new Error('driver not started'); return drv; };
  const route = (method: 'addRoute' | 'removeRoute', owner: string, spec: Record<string, unknown>, where?: string) =>
    d().call({ op: 'route', method, owner, spec, ...(where ? { where } : {}) });
  const show = async (...sel: string[]) => (await sh('ip', ['-n', NS.a, '-4', 'route', 'show', ...sel])).stdout.trim();

  beforeAll(async () => {
    drv = AgentsDriver.start(NS.a, join(ROOT, 'dist'));
  });

  afterAll(async () => { await drv?.close(); });

  it('another owner is refused naming both; removal by a non-holder leaves the route; the holder removes it', async () => {
    const spec = { dst: '10.249.60.0', dstLen: 24, gateway: '10.249.1.254', ifname: 'eth0', table: 1000 };
    expect(await route('addRoute', 'vrrp:A', spec, 'k.conf:3')).toMatchObject({ ok: true });
    expect(await show('table', '1000')).toBe('10.249.60.0/24 via 10.249.1.254 dev eth0 proto keepalived');
    const r = await route('addRoute', 'vrrp:B', spec, 'k.conf:9');
    expect(r.ok).toBe(false);
    expect(r.error).toBe('route 10.249.60.0/24 via 10.249.1.254 dev eth0 table 1000 is already claimed by vrrp:A at k.conf:3; refused for vrrp:B');
    expect(await route('removeRoute', 'vrrp:B', spec)).toMatchObject({ ok: true });
    expect(await show('table', '1000')).not.toBe('');
    expect(await route('removeRoute', 'vrrp:A', spec)).toMatchObject({ ok: true });
    expect(await show('table', '1000')).toBe('');
  });

  it('an identical route already there is adopted (and then removed as the owner\'s); a different one is named and left alone', async () => {
    await sh('ip', ['-n', NS.a, 'route', 'add', '10.249.61.0/24', 'via', '10.249.1.254', 'dev', 'eth0', 'metric', '7']);
    const same = { dst: '10.249.61.0', dstLen: 24, gateway: '10.249.1.254', ifname: 'eth0', metric: 7 };
    expect(await route('addRoute', 'vrrp:A', same)).toMatchObject({ ok: true });
    expect(d().logs.some(([, m]) => m === 'route 10.249.61.0/24 via 10.249.1.254 dev eth0 metric 7 is already in the kernel: adopted')).toBe(true);
    expect(await route('removeRoute', 'vrrp:A', same)).toMatchObject({ ok: true });
    expect(await show('10.249.61.0/24')).toBe('');

    await sh('ip', ['-n', NS.a, 'route', 'add', '10.249.62.0/24', 'via', '10.249.1.253', 'dev', 'eth0']);
    const other = { dst: '10.249.62.0', dstLen: 24, gateway: '10.249.1.254', ifname: 'eth0' };
    const r = await route('addRoute', 'vrrp:A', other);
    expect(r.ok).toBe(false);
    expect(r.error).toBe('route 10.249.62.0/24 via 10.249.1.254 dev eth0: the kernel already has a different route to 10.249.62.0/24 (10.249.62.0/24 via 10.249.1.253 dev eth0); left in place, not replaced');
    // Not claimed: its removal does not take the administrator's route either.
    expect(await route('removeRoute', 'vrrp:A', other)).toMatchObject({ ok: true });
    expect(await show('10.249.62.0/24')).toBe('10.249.62.0/24 via 10.249.1.253 dev eth0');
    await sh('ip', ['-n', NS.a, 'route', 'del', '10.249.62.0/24']);
  });

  it("a route nobody holds is removed only if marked proto keepalived (a crashed run's), not an administrator's identical one", async () => {
    const bh = { dst: '10.249.63.0', dstLen: 24, type: 'blackhole' };
    await sh('ip', ['-n', NS.a, 'route', 'add', 'blackhole', '10.249.63.0/24', 'proto', 'keepalived']);
    await sh('ip', ['-n', NS.a, 'route', 'add', 'blackhole', '10.249.64.0/24']);
    expect(await route('removeRoute', 'vrrp:A', bh)).toMatchObject({ ok: true });
    expect(await route('removeRoute', 'vrrp:A', { ...bh, dst: '10.249.64.0' })).toMatchObject({ ok: true });
    expect(await show('type', 'blackhole')).toBe('blackhole 10.249.64.0/24');
    await sh('ip', ['-n', NS.a, 'route', 'del', 'blackhole', '10.249.64.0/24']);
  });

  it('IPv6: a default blackhole and a route in a table above 255 go in and come out', async () => {
    await sh('ip', ['-n', NS.a, 'addr', 'add', 'fd00:249:1::1/64', 'dev', 'eth0', 'nodad']);
    const def = { dst: '::', dstLen: 0, type: 'unreachable', table: 301 };
    const via = { dst: 'fd00:249:9::', dstLen: 48, gateway: 'fd00:249:1::fe', ifname: 'eth0', table: 70000, metric: 9 };
    for (const s of [def, via]) expect(await route('addRoute', 'vrrp:A', s)).toMatchObject({ ok: true });
    expect((await sh('ip', ['-n', NS.a, '-6', 'route', 'show', 'table', '301'])).stdout.trim()).toMatch(/^unreachable default dev lo proto keepalived metric 1024 /);
    expect((await sh('ip', ['-n', NS.a, '-6', 'route', 'show', 'table', '70000'])).stdout.trim()).toMatch(/^fd00:249:9::\/48 via fd00:249:1::fe dev eth0 proto keepalived metric 9 /);
    for (const s of [def, via]) expect(await route('removeRoute', 'vrrp:A', s)).toMatchObject({ ok: true });
    for (const t of ['301', '70000']) expect((await sh('ip', ['-n', NS.a, '-6', 'route', 'show', 'table', t])).stdout.trim()).toBe('');
  });
});
