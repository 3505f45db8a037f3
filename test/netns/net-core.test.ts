// The network core against the real kernel: namespaces A (runs the core,
// through agents-driver.mjs) and C (a neighbour) joined by a veth pair,
// 10.236.1.0/24 and fd00:236:1::/64.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentsDriver } from '../helpers/agents-driver.js';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, macOf, netnsName, nsExec, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';
import { capture, NA_FILTER } from '../helpers/capture.js';

beforeAll(() => need('ip', 'ping', 'tcpdump'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdnc';
const A = netnsName(PREFIX, 'a');
const C = netnsName(PREFIX, 'c');
const FAKE_MAC = '02:00:00:00:00:98';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function addrs(ns: string, dev: string): Promise<Array<{ family: string; local: string; prefixlen: number; tentative?: boolean; nodad?: boolean }>> {
  const { stdout } = await sh('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', dev]);
  return (JSON.parse(stdout) as { addr_info?: [] }[])[0]?.addr_info ?? [];
}

async function neigh6(ns: string, ip: string, dev: string): Promise<string | undefined> {
  const { stdout } = await sh('ip', ['-n', ns, '-6', '-j', 'neigh', 'show', ip, 'dev', dev]);
  return (JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr?.toLowerCase();
}

/** tcpdump -vv of neighbour advertisements in `ns`; stop() returns its lines. */
const captureNa = (ns: string, ifname: string) => capture(ns, ifname, NA_FILTER);

describe.sequential('network core in network namespaces', () => {
  let drv: AgentsDriver | undefined;
  let macA = '';
  const d = (): AgentsDriver => {
    if (!drv) throw new Error('driver not started (see beforeAll failure)');
    return drv;
  };

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);
    await createNetns(A);
    await createNetns(C);
    await createVeth({ ns: A, ifname: 'va', cidr: '10.236.1.1/24' }, { ns: C, ifname: 'vc', cidr: '10.236.1.2/24' });
    await sh('ip', ['-n', A, 'addr', 'add', 'fd00:236:1::1/64', 'dev', 'va', 'nodad']);
    await sh('ip', ['-n', C, 'addr', 'add', 'fd00:236:1::2/64', 'dev', 'vc', 'nodad']);
    macA = await macOf(A, 'va');
    drv = AgentsDriver.start(A, join(ROOT, 'dist'));
  });

  afterAll(async () => {
    const problems: unknown[] = [];
    for (const step of [() => drv?.close(), () => destroyNetns(A), () => destroyNetns(C)]) {
      try { await step(); } catch (e) { problems.push(e); }
    }
    if (problems.length) throw problems[0];
  });

  it('several address changes go in one sendmsg, each acknowledged and answered by its own sequence number', async () => {
    const before = (await d().nl('counters')).value as { sendmsg: number; messages: number };
    const r = await d().nl('changeAddresses', [
      { op: 'add', ifname: 'va', ip: '10.236.1.50', prefixLen: 24 },
      { op: 'add', ifname: 'va', ip: 'fd00:236:1:0:0:0:0:50', prefixLen: 64 },
      { op: 'add', ifname: 'va', ip: '10.236.1.1', prefixLen: 24 },        // already there: EEXIST for this one only
      { op: 'add', ifname: 'va', ip: '10.236.1.51', prefixLen: 24 },
    ]);
    expect(r.ok).toBe(true);
    const results = r.value as Array<{ ok: boolean; error?: { code?: string; message?: string } }>;
    expect(results.map((x) => x.ok)).toEqual([true, true, false, true]);
    const after = (await d().nl('counters')).value as { sendmsg: number; messages: number };
    // listing the links is one dump (one sendmsg); the four changes are one more.
    expect(after.sendmsg - before.sendmsg).toBe(2);
    expect(after.messages - before.messages).toBe(5);
    const on = await addrs(A, 'va');
    expect(on.map((a) => a.local)).toEqual(expect.arrayContaining(['10.236.1.50', 'fd00:236:1::50', '10.236.1.51']));
    // IPv6 added without duplicate address detection: usable at once, never tentative.
    expect(on.find((a) => a.local === 'fd00:236:1::50')).toMatchObject({ nodad: true });
    expect(on.find((a) => a.local === 'fd00:236:1::50')?.tentative).toBeUndefined();

    const del = await d().nl('changeAddresses', [
      { op: 'del', ifname: 'va', ip: '10.236.1.50', prefixLen: 24 },
      { op: 'del', ifname: 'va', ip: 'fd00:236:1::50', prefixLen: 64 },
      { op: 'del', ifname: 'va', ip: '10.236.1.51', prefixLen: 24 },
    ]);
    expect((del.value as Array<{ ok: boolean }>).map((x) => x.ok)).toEqual([true, true, true]);
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain('fd00:236:1::50');
  });

  it('an IPv6 VIP: added without DAD, neighbours repointed by unsolicited NAs, reachable at once; stop removes it', async () => {
    const vip = 'fd00:236:1::100';
    const spec = 'IPv6addr::fd00:236:1:0:0:0:0:100/64/va::arp_count=3::arp_interval=100';
    // C believes the VIP is elsewhere.
    await sh('ip', ['-n', C, '-6', 'neigh', 'replace', vip, 'lladdr', FAKE_MAC, 'dev', 'vc', 'nud', 'stale']);
    expect(await neigh6(C, vip, 'vc')).toBe(FAKE_MAC);
    const cap = await captureNa(C, 'vc');
    let lines: string[];
    try {
      await d().agent('start', spec);
      expect(await addrs(A, 'va')).toContainEqual(expect.objectContaining({ local: vip, prefixlen: 64, nodad: true }));
      await waitFor('C to learn the VIP at A\'s MAC', async () => ((await neigh6(C, vip, 'vc')) === macA ? true : undefined), 1000, 20);
      await nsExec(C, 'ping', ['-6', '-c1', '-W1', vip]);
      await sleep(400);
    } finally {
      lines = await cap.stop();
    }
    const nas = lines.filter((l) => l.includes(`${macA} > 33:33:00:00:00:01`) && l.includes(`tgt is ${vip}`));
    expect(nas).toHaveLength(3);
    for (const l of nas) {
      expect(l).toMatch(/hlim 255/);
      expect(l).toMatch(/icmp6 sum ok/);
      expect(l).toMatch(/Flags \[override\]/);
      expect(l).toContain(`${vip} > ff02::1`);
      expect(l).toContain(`link-address option (2), length 8 (1): ${macA}`);
    }
    expect(await d().agent('status', spec)).toBe('running');
    await d().agent('stop', spec);
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain(vip);
    expect(await d().agent('status', spec)).toBe('stopped');
  });

  it('a VIP goes in after one listing of links and addresses: three netlink round trips before it is on the interface', async () => {
    // A takeover waits for each of them (bench:vrrp: crash -> VIP); the links
    // used to be dumped three times (twice for the listing, once more for the add).
    const spec = 'IPaddr2::10.236.1.103/24/va::arp_count=1';
    const before = (await d().nl('counters')).value as { sendmsg: number; messages: number };
    await d().agent('start', spec);
    const after = (await d().nl('counters')).value as { sendmsg: number; messages: number };
    expect((await addrs(A, 'va')).map((a) => a.local)).toContain('10.236.1.103');
    // links dump, address dump, then the add (and nothing else) in one sendmsg each.
    expect(after.sendmsg - before.sendmsg).toBe(3);
    expect(after.messages - before.messages).toBe(3);
    await d().agent('stop', spec);
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain('10.236.1.103');
  });

  it('announcements keep one packet socket per interface open: closing one stalls the event loop (7-30 ms in the kernel)', async () => {
    // /proc/net/packet in A lists the packet sockets of its namespace; only the core opens them there.
    const packetSockets = async () => (await nsExec(A, 'cat', ['/proc/net/packet'])).stdout.trim().split('\n').slice(1).filter(Boolean).length;
    const specs = ['IPaddr2::10.236.1.104/24/va::arp_count=1', 'IPaddr2::10.236.1.105/24/va::arp_count=2::arp_interval=50'];
    for (const spec of specs) await d().agent('start', spec);
    await sleep(150);   // the second one's last round
    // One socket for va, still open after every round was sent (it used to be opened and closed per announcement).
    expect(await packetSockets()).toBe(1);
    for (const spec of specs) await d().agent('stop', spec);
    expect(await packetSockets()).toBe(1);
  });

  it('IPaddr2 given an IPv6 address finds its interface and prefix (findif)', async () => {
    const spec = 'IPaddr2::fd00:236:1:0:0:0:0:101::arp_count=1';
    await d().agent('start', spec);
    expect(await addrs(A, 'va')).toContainEqual(expect.objectContaining({ local: 'fd00:236:1::101', prefixlen: 64 }));
    await d().agent('stop', spec);
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain('fd00:236:1::101');
  });

  it('a second owner\'s claim is refused naming both; its stop leaves the holder\'s address alone', async () => {
    const v4 = 'IPaddr2::10.236.1.102/24/va::arp_count=1';
    const v6 = 'IPv6addr::fd00:236:1:0:0:0:0:102/64/va::arp_count=1';
    await d().agent('start', v4, "group 'web'");
    await expect(d().agent('start', 'IPaddr::10.236.1.102/24/va', "group 'db'")).rejects.toThrow(
      'resource "IPaddr::10.236.1.102/24/va": 10.236.1.102 is already claimed by group \'web\'',
    );
    await d().agent('stop', 'IPaddr::10.236.1.102/24/va', "group 'db'");
    expect((await addrs(A, 'va')).map((a) => a.local)).toContain('10.236.1.102');
    await d().agent('stop', v4, "group 'web'");
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain('10.236.1.102');
    // Released: the other owner may have it now. Same for IPv6, by canonical form.
    await d().agent('start', 'IPaddr::10.236.1.102/24/va::arp_count=1', "group 'db'");
    await d().agent('stop', 'IPaddr::10.236.1.102/24/va::arp_count=1', "group 'db'");
    await d().agent('start', v6, 'vrrp VI_1');
    await expect(d().agent('start', 'IPaddr2::FD00:236:1:0:0:0:0:0102/64/va', "group 'web'")).rejects.toThrow(
      /fd00:236:1::102 is already claimed by vrrp VI_1/,
    );
    await d().agent('stop', v6, 'vrrp VI_1');
  });

  it('routes of both families: added, listed and removed over rtnetlink', async () => {
    expect((await d().nl('route', 'add', { dst: '10.236.99.0', dstLen: 24, gateway: '10.236.1.2' })).ok).toBe(true);
    expect((await d().nl('route', 'add', { dst: 'fd00:236:99::', dstLen: 64, gateway: 'fd00:236:1::2', metric: 7 })).ok).toBe(true);
    expect((await sh('ip', ['-n', A, 'route', 'show', '10.236.99.0/24'])).stdout).toContain('via 10.236.1.2 dev va');
    expect((await sh('ip', ['-n', A, '-6', 'route', 'show', 'fd00:236:99::/64'])).stdout).toMatch(/via fd00:236:1::2 dev va .*metric 7/);
    const listed = (await d().nl('listRoutes')).value as Array<{ family: number; dst: string; dstLen: number; gateway?: string }>;
    expect(listed).toContainEqual(expect.objectContaining({ family: 4, dst: '10.236.99.0', dstLen: 24, gateway: '10.236.1.2' }));
    expect(listed).toContainEqual(expect.objectContaining({ family: 6, dst: 'fd00:236:99::', dstLen: 64, gateway: 'fd00:236:1::2' }));
    expect(await d().nl('route', 'add', { dst: '10.236.99.0', dstLen: 24, gateway: '10.236.1.2' })).toMatchObject({
      ok: false, code: 'EEXIST', error: 'the route to 10.236.99.0/24 already exists',
    });
    expect((await d().nl('route', 'del', { dst: '10.236.99.0', dstLen: 24 })).ok).toBe(true);
    expect((await d().nl('route', 'del', { dst: 'fd00:236:99::', dstLen: 64, metric: 7 })).ok).toBe(true);
    expect((await sh('ip', ['-n', A, 'route', 'show', '10.236.99.0/24'])).stdout.trim()).toBe('');
    expect((await sh('ip', ['-n', A, '-6', 'route', 'show', 'fd00:236:99::/64'])).stdout.trim()).toBe('');
  });

  it('link and carrier changes arrive as events', async () => {
    expect((await d().call({ op: 'watch' })).ok).toBe(true);
    const seen = (pred: (e: Record<string, unknown>) => boolean, from: number) =>
      waitFor('the event', async () => d().events.slice(from).find(pred), 2000, 10);
    const va = (e: Record<string, unknown>) => e.kind === 'link' && e.name === 'va';

    // The far end goes down: va stays administratively up but loses carrier.
    let n = d().events.length;
    await sh('ip', ['-n', C, 'link', 'set', 'vc', 'down']);
    expect(await seen((e) => va(e) && e.carrier === false, n)).toMatchObject({ up: true, running: false, carrier: false, removed: false });
    n = d().events.length;
    await sh('ip', ['-n', C, 'link', 'set', 'vc', 'up']);
    expect(await seen((e) => va(e) && e.carrier === true, n)).toMatchObject({ up: true, running: true, carrier: true });

    // va itself administratively down and up again.
    n = d().events.length;
    await sh('ip', ['-n', A, 'link', 'set', 'va', 'down']);
    expect(await seen((e) => va(e) && e.up === false, n)).toMatchObject({ up: false, running: false });
    n = d().events.length;
    await sh('ip', ['-n', A, 'link', 'set', 'va', 'up']);
    expect(await seen((e) => va(e) && e.up === true && e.running === true, n)).toMatchObject({ up: true, running: true });

    // Address events of both families.
    n = d().events.length;
    await sh('ip', ['-n', A, 'addr', 'add', 'fd00:236:1::77/64', 'dev', 'va', 'nodad']);
    await sh('ip', ['-n', A, 'addr', 'add', '10.236.1.77/24', 'dev', 'va']);
    expect(await seen((e) => e.kind === 'address' && e.address === 'fd00:236:1::77', n)).toMatchObject({ op: 'add', family: 6, prefixLen: 64 });
    expect(await seen((e) => e.kind === 'address' && e.address === '10.236.1.77', n)).toMatchObject({ op: 'add', family: 4, prefixLen: 24 });
    n = d().events.length;
    await sh('ip', ['-n', A, 'addr', 'del', '10.236.1.77/24', 'dev', 'va']);
    expect(await seen((e) => e.kind === 'address' && e.address === '10.236.1.77', n)).toMatchObject({ op: 'del' });
    await sh('ip', ['-n', A, 'addr', 'del', 'fd00:236:1::77/64', 'dev', 'va']);

    // More events than the socket's 1 MiB buffer holds while the loop cannot
    // read them: the kernel drops some (ENOBUFS), and that is an event too.
    n = d().events.length;
    const batch = (op: string) => Array.from({ length: 6000 }, (_, k) => `address ${op} 10.237.${k >> 8}.${k & 255}/32 dev va`).join('\n') + '\n';
    try {
      expect((await d().call({ op: 'behind-view', run: ['ip', '-batch', '-'], input: batch('add') })).ok).toBe(true);
      expect(await seen((e) => e.kind === 'overrun', n)).toMatchObject({ kind: 'overrun' });
    } finally {
      await d().call({ op: 'behind-view', run: ['ip', '-force', '-batch', '-'], input: batch('del') });
    }
  });

  it('with the interfaces tracked, a VIP goes in with its one netlink message (no listing first), and the view hears changes made by others', async () => {
    expect((await d().call({ op: 'track' })).ok).toBe(true);
    const counters = async () => (await d().nl('counters')).value as { sendmsg: number; messages: number };
    const before = await counters();
    await d().agent('start', 'IPaddr2::10.236.1.60/24/va::arp_count=1');
    const after = await counters();
    // Untracked, the same start lists links and addresses first: three sendmsg calls.
    expect(after.sendmsg - before.sendmsg).toBe(1);
    expect(after.messages - before.messages).toBe(1);
    expect((await addrs(A, 'va')).map((a) => a.local)).toContain('10.236.1.60');

    // Another program puts an address on another interface: the view has it from the kernel's event.
    await sh('ip', ['-n', A, 'link', 'add', 'vx', 'type', 'veth', 'peer', 'name', 'vy']);
    try {
      await sh('ip', ['-n', A, 'addr', 'add', '10.236.1.61/32', 'dev', 'vx']);
      await sleep(100);
      const quiet = await counters();
      await expect(d().agent('start', 'IPaddr2::10.236.1.61/24/va')).rejects.toThrow('10.236.1.61 is already configured on vx, not on va');
      // The refusal is the kernel's word, not only the view's: one fresh listing (links, addresses).
      expect((await counters()).sendmsg - quiet.sendmsg).toBe(2);
      // Removed there while the view cannot have heard it yet: the kernel's
      // listing wins over the stale view, and the VIP goes in.
      await sh('ip', ['-n', A, 'addr', 'add', '10.236.1.62/32', 'dev', 'vx']);
      await sleep(100);
      const r = await d().call({ op: 'behind-view', run: ['ip', 'addr', 'del', '10.236.1.62/32', 'dev', 'vx'], then: { op: 'agent', method: 'start', resource: d().resource('IPaddr2::10.236.1.62/24/va::arp_count=1') } });
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
      expect((await addrs(A, 'va')).map((a) => a.local)).toContain('10.236.1.62');
      await d().agent('stop', 'IPaddr2::10.236.1.62/24/va::arp_count=1');
    } finally {
      await sh('ip', ['-n', A, 'link', 'del', 'vx']);
    }
    await d().agent('stop', 'IPaddr2::10.236.1.60/24/va::arp_count=1');
    expect((await addrs(A, 'va')).map((a) => a.local)).not.toContain('10.236.1.60');
  });
});
