// The core pair end to end: two real tandem daemons and a client in network
// namespaces, real netlink, real gratuitous ARP, a real service.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { Pair, type NodeName } from '../../lab/pair.js';
import { encode } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS));

const GROUP_HOLDER = (p: Pair, node: NodeName) => p.status(node).then((s) => s.groups[0]?.holder);

async function dumpLogs(p: Pair): Promise<string> {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').slice(-40).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

/** One UDP datagram from the client's namespace to the pair's broadcast address. */
function inject(p: Pair, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', p.ns.client, 'socat', '-u', 'STDIN', `UDP-DATAGRAM:${p.vip.replace(/\.\d+$/, '.255')}:694,broadcast`],
      (err) => (err ? reject(err) : resolve()));
    child.stdin!.end(payload);
  });
}

const keys = (secret: string): AuthKeys => ({ sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from(secret) }]]) });
const status = (src: string, generation: number, seq: number) => buildStatus({
  status: 'active', deadtimeMs: 300, src, srcUuid: Buffer.alloc(16, 7), seq, generation, wallSeconds: 1, hold: [], yielding: [], failed: [],
});

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

  it('drops forged, replayed, foreign and malformed packets, counts them, and changes nothing', async () => {
    const before = await p.status('beta');
    const alphaGen = before.nodes.find((n) => n.name === 'alpha')!.generation!;
    const valid = encode(status('alpha', alphaGen, 1), keys('lab-secret'));
    await inject(p, Buffer.from('this is not a heartbeat'));                        // malformed
    await inject(p, valid.subarray(0, valid.length - 7));                             // truncated
    await inject(p, encode(status('alpha', alphaGen, 1e6), keys('wrong-secret')));    // forged
    await inject(p, valid);                                                           // replay: old seq
    await inject(p, encode(status('alpha', alphaGen - 1, 1e6), keys('lab-secret'))); // replay: old generation
    await inject(p, encode(status('mallory', 1, 1), keys('lab-secret')));           // not of this pair
    type Drops = Record<'malformed' | 'auth' | 'replay' | 'foreign', number>;
    const after = await p.waitForStatus('beta', 'all six counted', (s) => {
      const d = s.counters.dropped as Drops;
      return d.malformed + d.auth + d.replay + d.foreign >= 6;
    }, 5000);
    const d0 = before.counters.dropped as Drops;
    const d = after.counters.dropped as Drops;
    expect(d.malformed - d0.malformed).toBe(2);
    expect(d.auth - d0.auth).toBe(1);
    expect(d.replay - d0.replay).toBe(2);
    expect(d.foreign - d0.foreign).toBe(1);
    // Nothing moved, and the injected generation was not adopted.
    expect(after.nodes.find((n) => n.name === 'alpha')).toMatchObject({ state: 'up', generation: alphaGen });
    expect(after.groups[0]?.holder).toBe('alpha');
    expect(await p.holdsVip('alpha')).toBe(true);
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

describe.sequential('pair over multicast', () => {
  const p = new Pair({ prefix: 'tdp3', net: '10.211.3', workDir: join(tmpdir(), 'tandem-pair-mcast'), media: 'mcast' });
  beforeAll(async () => { await startPair(p); }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('forms over an mcast path and fails over on it', async () => {
    const s = await p.status('beta');
    expect(s.paths.map((x) => [x.name, x.state])).toEqual([['mcast eth0 239.0.0.94', 'up']]);
    try { await failover(p); } catch (e) { throw new Error(`${(e as Error).message}\n${await dumpLogs(p)}`); }
  });
});
