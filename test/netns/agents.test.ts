// The IPaddr agent against the real kernel: namespaces A (runs the agent)
// and C (a neighbour) joined by a veth pair, 10.210.7.0/24.
//
// netlink and AF_PACKET act on the namespace of the calling process, so the
// agent runs in a child process started with `ip netns exec A`. That child is
// plain node, so the agents are compiled first (into a private directory, so
// unrelated work-in-progress elsewhere in src/ cannot break this test).

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attachToBridge, cleanupPrefix, createBridge, createNetns, createVeth, destroyNetns, macOf, netnsName, nsExec, sh, succeeds, waitFor,
} from '../helpers/netns.js';
import { need } from '../helpers/tools.js';
import { capture } from '../helpers/capture.js';
import { AgentsDriver as Driver } from '../helpers/agents-driver.js';

beforeAll(() => need('ip', 'ping', 'tcpdump'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdag';
const A = netnsName(PREFIX, 'a');
const C = netnsName(PREFIX, 'c');
const FAKE_MAC = '02:00:00:00:00:99';

/** ARP on one interface with epoch timestamps, one packet per line. */
const captureArp = (ns: string, ifname: string) => capture(ns, ifname, 'arp', ['-tt']);

interface Frame { t: number; kind: 'request' | 'reply'; line: string }

/** The gratuitous ARPs for `vip` (sender = target = vip) sent from `mac`. */
function garps(lines: string[], vip: string, mac: string): Frame[] {
  const v = vip.replace(/\./g, '\\.');
  const req = new RegExp(`Request who-has ${v} tell ${v},`);
  const rep = new RegExp(`Reply ${v} is-at ${mac},`);
  return lines
    .filter((l) => l.split(' ')[1] === mac && (req.test(l) || rep.test(l)))
    .map((l) => ({ t: Number(l.split(' ')[0]) * 1000, kind: req.test(l) ? 'request' as const : 'reply' as const, line: l }));
}

async function addrsOn(ns: string, ifname: string): Promise<{ local: string; prefixlen: number; broadcast?: string; label?: string }[]> {
  const { stdout } = await sh('ip', ['-n', ns, '-4', '-j', 'addr', 'show', 'dev', ifname]);
  const parsed = JSON.parse(stdout) as { addr_info?: { local: string; prefixlen: number; broadcast?: string; label?: string }[] }[];
  return parsed[0]?.addr_info ?? [];
}

async function neighMac(ns: string, ip: string, dev: string): Promise<string | undefined> {
  const { stdout } = await sh('ip', ['-n', ns, '-j', 'neigh', 'show', ip, 'dev', dev]);
  return (JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr?.toLowerCase();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.sequential('IPaddr agent in network namespaces', () => {
  let dist = '';
  let drv: Driver | undefined;
  let macA = '';

  const d = (): Driver => {
    if (!drv) throw new Error('driver not started (see beforeAll failure)');
    return drv;
  };

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);

    // The global setup built dist/ from the sources under test.
    dist = join(ROOT, 'dist');

    await createNetns(A);
    await createNetns(C);
    await createVeth({ ns: A, ifname: 'va', cidr: '10.210.7.1/24' }, { ns: C, ifname: 'vc', cidr: '10.210.7.2/24' });
    // A wider subnet on a second interface: findif must prefer the more
    // specific /24 on va for 10.210.7.x. It is NOARP, so no announcements go
    // there. (A veth looped back into A: this kernel has no dummy driver.)
    await createVeth({ ns: A, ifname: 'vd', cidr: '10.210.0.1/16' }, { ns: A, ifname: 'vdp' });
    await sh('ip', ['-n', A, 'link', 'set', 'vd', 'arp', 'off']);
    macA = await macOf(A, 'va');
    drv = Driver.start(A, dist);
  });

  afterAll(async () => {
    const problems: unknown[] = [];
    for (const step of [
      () => drv?.close(),
      () => destroyNetns(A),
      () => destroyNetns(C),
    ]) {
      try { await step(); } catch (e) { problems.push(e); }
    }
    if (problems.length) throw problems[0];
  });

  it('start adds the VIP, repoints the neighbour, makes it reachable; stop undoes it', async () => {
    const vip = '10.210.7.100';
    const spec = `IPaddr2::${vip}/24/va::arp_count=3::arp_interval=100`;
    await sh('ip', ['-n', C, 'neigh', 'replace', vip, 'lladdr', FAKE_MAC, 'dev', 'vc', 'nud', 'stale']);
    expect(await neighMac(C, vip, 'vc')).toBe(FAKE_MAC);
    expect(await d().agent('status', spec)).toBe('stopped');

    await d().agent('start', spec);
    expect(await addrsOn(A, 'va')).toContainEqual(expect.objectContaining({ local: vip, prefixlen: 24, broadcast: '10.210.7.255' }));
    await waitFor('C to learn the VIP at A\'s MAC', async () => ((await neighMac(C, vip, 'vc')) === macA ? true : undefined), 2000);
    await nsExec(C, 'ping', ['-c1', '-W1', vip]);
    expect(await d().agent('status', spec)).toBe('running');

    // Starting again is fine (and announces again).
    await d().agent('start', spec);
    expect(d().logs.some(([, m]) => m.includes(`${vip} already on va`))).toBe(true);

    await d().agent('stop', spec);
    expect((await addrsOn(A, 'va')).map((a) => a.local)).not.toContain(vip);
    expect(await d().agent('status', spec)).toBe('stopped');
    await d().agent('stop', spec); // idempotent
    expect(await succeeds('ip', ['netns', 'exec', C, 'ping', '-c1', '-W1', vip])).toBe(false);
  });

  it('announces in request+reply pairs, arp_count rounds arp_interval apart, mostly after start returned', async () => {
    const vip = '10.210.7.110';
    const spec = `IPaddr2::${vip}/24/va::arp_count=4::arp_interval=150`;
    const cap = await captureArp(C, 'vc');
    let frames: Frame[];
    let returnedAt: number;
    try {
      await d().agent('start', spec);
      returnedAt = Date.now();
      await sleep(4 * 150 + 400);
    } finally {
      frames = garps(await cap.stop(), vip, macA);
    }
    expect(frames.map((f) => f.kind)).toEqual(['request', 'reply', 'request', 'reply', 'request', 'reply', 'request', 'reply']);
    const starts = frames.filter((f) => f.kind === 'request').map((f) => f.t);
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThan(100);
      expect(starts[i]! - starts[i - 1]!).toBeLessThan(400);
    }
    // start() resolves after the first pair; the later rounds run in the background.
    expect(starts[0]!).toBeLessThanOrEqual(returnedAt + 5);
    expect(starts[3]!).toBeGreaterThan(returnedAt + 200);
    await d().agent('stop', spec);
  });

  it('stop cancels the announcements still pending', async () => {
    const vip = '10.210.7.111';
    const spec = `IPaddr2::${vip}/24/va::arp_count=40::arp_interval=100`;
    const cap = await captureArp(C, 'vc');
    let frames: Frame[];
    let stoppedAt: number;
    try {
      await d().agent('start', spec);
      await sleep(250);
      await d().agent('stop', spec);
      stoppedAt = Date.now();
      await sleep(600);
    } finally {
      frames = garps(await cap.stop(), vip, macA);
    }
    const pairs = frames.filter((f) => f.kind === 'request').length;
    expect(pairs).toBeGreaterThanOrEqual(2);
    expect(pairs).toBeLessThanOrEqual(6);
    expect(Math.max(...frames.map((f) => f.t))).toBeLessThanOrEqual(stoppedAt + 5);
  });

  it('a gratuitous ARP that cannot be sent fails the start (never reported ok); stop then removes the address', async () => {
    const vip = '10.210.7.130';
    const spec = `IPaddr2::${vip}/24/va::arp_count=2::arp_interval=100`;
    // A fresh core: the packet socket earlier tests opened on va is kept open, and with it the ARP would go out.
    expect((await d().call({ op: 'reopen' })).ok).toBe(true);
    const held = await d().call({ op: 'exhaust-fds' });
    expect(held.ok).toBe(true);
    let error = '';
    try {
      await d().agent('start', spec);
    } catch (e) {
      error = (e as Error).message;
    } finally {
      await d().call({ op: 'release-fds' });
    }
    expect(error).toMatch(new RegExp(`${vip} was added to va but neighbours could not be told \\(gratuitous ARP failed\\): .*(EMFILE|Too many open files)`));
    // The resources machine unwinds a failed start with a stop: the address goes.
    await d().agent('stop', spec);
    expect((await addrsOn(A, 'va')).map((a) => a.local)).not.toContain(vip);
  });

  it('finds the interface and prefix when they are not given (findif)', async () => {
    const vip = '10.210.7.120';
    await d().agent('start', `IPaddr2::${vip}::arp_count=1`);
    expect(await addrsOn(A, 'va')).toContainEqual(expect.objectContaining({ local: vip, prefixlen: 24 }));
    expect((await addrsOn(A, 'vd')).map((a) => a.local)).not.toContain(vip);
    expect(await d().agent('status', `IPaddr2::${vip}::arp_count=1`)).toBe('running');
    await d().agent('stop', `IPaddr2::${vip}::arp_count=1`);
    expect((await addrsOn(A, 'va')).map((a) => a.local)).not.toContain(vip);

    // Only vd's /16 contains this one; vd is NOARP, so no announcement and no error.
    const other = '10.210.9.5';
    const before = d().logs.length;
    await d().agent('start', `IPaddr2::${other}`);
    expect(await addrsOn(A, 'vd')).toContainEqual(expect.objectContaining({ local: other, prefixlen: 16 }));
    expect(d().logs.slice(before).filter(([level]) => level === 'error')).toEqual([]);
    await d().agent('stop', `IPaddr2::${other}`);
    expect((await addrsOn(A, 'vd')).map((a) => a.local)).not.toContain(other);
  });

  it('refuses what it cannot place, with messages an operator can act on', async () => {
    await expect(d().agent('start', 'IPaddr2::10.211.0.5')).rejects.toThrow(
      'resource "IPaddr2::10.211.0.5": no interface has an IPv4 subnet containing 10.211.0.5, so there is no interface to put it on; name one explicitly, e.g. IPaddr2::10.211.0.5/24/eth0',
    );
    await expect(d().agent('start', 'IPaddr2::10.210.7.122/24/nope0')).rejects.toThrow(
      /network interface nope0 not found \(present: lo, va, (vd, vdp|vdp, vd)\)/,
    );
    await expect(d().agent('start', 'IPaddr2::10.212.0.5/va')).rejects.toThrow(
      /cannot tell the netmask: no IPv4 subnet on va contains 10\.212\.0\.5; write it as 10\.212\.0\.5\/<cidr>\/va/,
    );
    // Stopping something that never started is fine, even on a missing interface.
    await d().agent('stop', 'IPaddr2::10.210.7.122/24/nope0');

    await sh('ip', ['-n', A, 'addr', 'add', '10.210.7.130/32', 'dev', 'vd']);
    try {
      await expect(d().agent('start', 'IPaddr2::10.210.7.130/24/va')).rejects.toThrow(
        /10\.210\.7\.130 is already configured on vd, not on va; remove it there first/,
      );
      expect((await addrsOn(A, 'va')).map((a) => a.local)).not.toContain('10.210.7.130');
    } finally {
      await sh('ip', ['-n', A, 'addr', 'del', '10.210.7.130/32', 'dev', 'vd']);
    }
  });

  it('IPaddr with an alias label, and a down interface is brought up', async () => {
    const spec = 'IPaddr::10.210.7.121/255.255.255.0/va:7::arp_count=1';
    await d().agent('start', spec);
    expect(await addrsOn(A, 'va')).toContainEqual(expect.objectContaining({ local: '10.210.7.121', prefixlen: 24, label: 'va:7' }));
    await d().agent('stop', spec);
    expect((await addrsOn(A, 'va')).map((a) => a.local)).not.toContain('10.210.7.121');

    await sh('ip', ['-n', A, 'link', 'set', 'vd', 'down']);
    const onVd = 'IPaddr2::10.210.9.6/16/vd';
    await d().agent('start', onVd);
    const { stdout } = await sh('ip', ['-n', A, '-j', 'link', 'show', 'dev', 'vd']);
    expect((JSON.parse(stdout) as { flags: string[] }[])[0]?.flags).toContain('UP');
    await d().agent('stop', onVd);
  });

  it('netlink handle: errors carry errno codes and plain messages', async () => {
    const ip = '10.210.7.140';
    expect((await d().nl('addAddress', 'va', ip, 24)).ok).toBe(true);
    expect(await d().nl('addAddress', 'va', ip, 24)).toMatchObject({
      ok: false, code: 'EEXIST', name: 'UserError', error: `${ip}/24 is already configured on va`,
    });
    const listed = await d().nl('listAddresses', 'va');
    expect(listed.value).toContainEqual({ ifname: 'va', index: expect.any(Number), family: 4, address: ip, prefixLen: 24, secondary: true, label: 'va' });
    expect((await d().nl('delAddress', 'va', ip, 24)).ok).toBe(true);
    expect(await d().nl('delAddress', 'va', ip, 24)).toMatchObject({
      ok: false, code: 'EADDRNOTAVAIL', error: `${ip}/24 is not configured on va`,
    });
    expect(await d().nl('interfaceIndex', 'nope0')).toMatchObject({
      ok: false, code: 'ENODEV', error: expect.stringMatching(/^no network interface named "nope0" \(present: lo, va, (vd, vdp|vdp, vd)\)$/),
    });
    const ifs = (await d().nl('interfaces')).value as { name: string; index: number; loopback: boolean; noarp: boolean; up: boolean }[];
    const va = ifs.find((i) => i.name === 'va');
    expect(va).toMatchObject({ up: true, loopback: false, noarp: false, index: (await d().nl('interfaceIndex', 'va')).value });
    expect(ifs.find((i) => i.name === 'lo')).toMatchObject({ loopback: true });
    expect(ifs.find((i) => i.name === 'vd')).toMatchObject({ noarp: true });
  });

  it('cleanupPrefix removes namespaces of dead runs and keeps those of live ones', async () => {
    const prefix = `${PREFIX}cl`; // distinct from A and C, which must survive this
    const dead = await new Promise<number>((r) => { const p = spawn('true'); p.once('exit', () => r(p.pid!)); });
    const stale = `${prefix}${dead}-x`;
    const live = `${prefix}1-x`; // pid 1 is always alive
    const unowned = `${prefix}-x`;
    try {
      for (const n of [stale, live, unowned]) await createNetns(n);
      const removed = await cleanupPrefix(prefix);
      expect(removed.sort()).toEqual([stale, unowned].sort());
      const left = (await sh('ip', ['netns', 'list'])).stdout;
      expect(left).toContain(live);
      expect(left).not.toContain(stale);
      expect(left).toContain(A);
    } finally {
      for (const n of [stale, live, unowned]) await destroyNetns(n);
    }
  });

  it('bridge helper: two namespaces reach each other through a hub', async () => {
    const [hub, x, y] = ['h', 'x', 'y'].map((t) => netnsName(PREFIX, t)) as [string, string, string];
    try {
      for (const n of [hub, x, y]) await createNetns(n);
      await createBridge(hub, 'br0');
      await attachToBridge(hub, 'br0', 'px', { ns: x, ifname: 'ex', cidr: '10.210.8.1/24' });
      await attachToBridge(hub, 'br0', 'py', { ns: y, ifname: 'ey', cidr: '10.210.8.2/24' });
      await nsExec(x, 'ping', ['-c1', '-W2', '10.210.8.2']);
    } finally {
      for (const n of [hub, x, y]) await destroyNetns(n);
    }
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(hub);
  });
});
