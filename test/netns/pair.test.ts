// The core pair end to end: two real tandem daemons and a client in network
// namespaces, real netlink, real gratuitous ARP, a real service.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Pair, type NodeName } from '../../lab/pair.js';
import { sleep, waitFor } from '../../lab/sh.js';

const GROUP_HOLDER = (p: Pair, node: NodeName) => p.status(node).then((s) => s.groups[0]?.holder);

async function dumpLogs(p: Pair): Promise<string> {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').slice(-40).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

async function startPair(p: Pair): Promise<void> {
  await p.setup();
  p.startTandem('alpha');
  p.startTandem('beta');
  await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
  await p.waitForStatus('alpha', 'group held by alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running');
}

async function failover(p: Pair): Promise<void> {
  expect(await p.askService()).toBe('alpha');
  expect(await p.clientNeighbourMac()).toBe(p.mac.alpha);
  await p.powerOff('alpha');
  await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
  await waitFor('the service on beta', async () => ((await p.askService()) === 'beta' ? true : undefined), 10_000);
  // The client followed because of the gratuitous ARP, not a timeout of its cache.
  expect(await p.clientNeighbourMac()).toBe(p.mac.beta);
  expect(await p.clientPing()).toBe(true);
  const s = await p.status('beta');
  expect(s.nodes.find((n) => n.name === 'alpha')?.state).toBe('dead');
  expect(s.groups[0]?.holder).toBe('beta');
}

describe.sequential('pair with auto_failback off', () => {
  const p = new Pair({ prefix: 'tdp1', net: '10.211.1', workDir: join(tmpdir(), 'tandem-pair-off'), autoFailback: 'off' });
  beforeAll(async () => { await startPair(p); }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('serves the VIP from the preferred node; the standby holds nothing', async () => {
    expect(await p.holdsVip('beta')).toBe(false);
    expect(await p.clientPing()).toBe(true);
    const s = await p.status('beta');
    expect(s.nodes.find((n) => n.name === 'alpha')?.state).toBe('up');
    expect(s.paths[0]?.state).toBe('up');
    expect(s.counters.dropped.auth).toBe(0);
  });

  it('moves VIP and service to the standby on power loss of the active node', async () => {
    try { await failover(p); } catch (e) { throw new Error(`${(e as Error).message}\n${await dumpLogs(p)}`); }
  });

  it('leaves the VIP on the survivor when the old node comes back', async () => {
    await p.powerOn('alpha');
    await p.waitForStatus('alpha', 'beta heard', (s) => s.nodes.find((n) => n.name === 'beta')?.state === 'up');
    await sleep(1500);
    expect(await p.holdsVip('alpha')).toBe(false);
    expect(await p.holdsVip('beta')).toBe(true);
    expect(await GROUP_HOLDER(p, 'alpha')).toBe('beta');
    expect(await p.askService()).toBe('beta');
  });

  it('a daemon killed with -9 and restarted yields what it held before to the peer that took it', async () => {
    // beta holds the group; crash only its daemon (the VIP stays configured, as with Heartbeat).
    await p.crashTandem('beta');
    await waitFor('alpha to take over', async () => ((await p.holdsVip('alpha')) ? true : undefined), 10_000);
    expect(await p.holdsVip('beta')).toBe(true);   // left behind by the crash
    p.startTandem('beta');
    await waitFor('beta to clear its leftover VIP', async () => ((await p.holdsVip('beta')) ? undefined : true), 10_000);
    const s = await p.status('beta');
    expect(s.groups[0]?.holder).toBe('alpha');
    expect(await p.holdsVip('alpha')).toBe(true);
    expect(await p.askService()).toBe('alpha');
  });

  it('a graceful stop hands the group over without waiting for deadtime', async () => {
    const code = await p.stopTandem('alpha');
    expect(code).toBe(0);
    expect(await p.holdsVip('alpha')).toBe(false);
    await waitFor('beta to take over', async () => ((await p.holdsVip('beta')) ? true : undefined), 5000);
  });
});

describe.sequential('pair with auto_failback on', () => {
  const p = new Pair({ prefix: 'tdp2', net: '10.211.2', workDir: join(tmpdir(), 'tandem-pair-on'), autoFailback: 'on', media: 'ucast' });
  beforeAll(async () => { await startPair(p); }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('fails over on power loss, and back to the preferred node when it returns', async () => {
    try { await failover(p); } catch (e) { throw new Error(`${(e as Error).message}\n${await dumpLogs(p)}`); }
    await p.powerOn('alpha');
    await waitFor('alpha to take the VIP back', async () => ((await p.holdsVip('alpha')) ? true : undefined), 15_000);
    await waitFor('beta to release it', async () => ((await p.holdsVip('beta')) ? undefined : true), 5000);
    await waitFor('the service on alpha', async () => ((await p.askService()) === 'alpha' ? true : undefined), 5000);
    expect(await p.clientNeighbourMac()).toBe(p.mac.alpha);
  });
});
