// A dual-stack group on a real pair: IPv4 VIP, IPv6 VIP (IPv6addr, written
// without "::" as haresources needs) and a service, over 10.236.2.0/24 and
// fd00:236:2::/64. On power loss of the holder the survivor takes both
// addresses, and the client's IPv6 neighbour entry follows by the
// unsolicited neighbour advertisement, not by its cache timing out.

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type NodeName } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';
import { capture, NA_FILTER } from '../helpers/capture.js';

beforeAll(() => need(...PAIR_TOOLS, 'tcpdump'));

const pair = new Pair({
  prefix: 'tdsix', net: '10.236.2', ipv6: 'fd00:236:2', workDir: join(tmpdir(), 'tandem-ipv6'),
  keepalive: '100ms', warntime: '200ms', deadtime: '300ms', initdead: '1', arpCount: 5, arpIntervalMs: 200,
});
const VIP6 = pair.vip6!;

function logs(): string {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(pair.logFile(n), 'utf8').split('\n').slice(-30).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

async function clientPing6(): Promise<boolean> {
  const out = await sh('ip', ['netns', 'exec', pair.ns.client, 'ping', '-6', '-c1', '-W1', VIP6], { allowFail: true });
  return /1 received/.test(out);
}

async function holdsBoth(node: NodeName): Promise<boolean> {
  return (await pair.holdsVip(node)) && (await pair.holdsVip6(node));
}

/** tcpdump of neighbour advertisements on the client's bridge; stop() returns the packets, one line each. */
const captureNa = () => capture(pair.ns.client, 'br0', NA_FILTER, ['-tt']);

describe.sequential('dual-stack group on a pair', () => {
  beforeAll(async () => {
    await pair.setup();
    pair.startTandem('alpha');
    pair.startTandem('beta');
    try {
      await waitFor('alpha to hold both VIPs', async () => ((await holdsBoth('alpha')) ? true : undefined), 20_000);
      await pair.waitForStatus('alpha', 'group running on alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running');
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    }
  });

  afterAll(async () => {
    await pair.cleanup();
  });

  it('an IPv6 VIP fails over on power loss: the client\'s neighbour entry moves to the survivor by unsolicited NA, and ping -6 reaches it', async () => {
    // The client talks to the VIP first, so it holds an entry for alpha.
    expect(await clientPing6()).toBe(true);
    expect(await pair.clientNeighbourMac6()).toBe(pair.mac.alpha);
    expect(await holdsBoth('beta')).toBe(false);

    const cap = await captureNa();
    let lines: string[] = [];
    let heldAt = 0;
    let movedAt = 0;
    try {
      await pair.powerOff('alpha');
      await waitFor('beta to hold the IPv6 VIP', async () => ((await pair.holdsVip6('beta')) ? true : undefined), 10_000, 10);
      heldAt = Date.now();
      // Left alone, the client's entry stays REACHABLE (then STALE) at
      // alpha's MAC for many seconds: only the advertisement moves it now.
      await waitFor('the client\'s neighbour entry to move to beta', async () => ((await pair.clientNeighbourMac6()) === pair.mac.beta ? true : undefined), 1500, 10);
      movedAt = Date.now();
      expect(await clientPing6()).toBe(true);
      await sleep(300);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    } finally {
      lines = await cap.stop();
    }
    expect(movedAt - heldAt).toBeLessThan(1500);
    const fromBeta = lines.filter((l) => l.includes(`${pair.mac.beta} > 33:33:00:00:00:01`) && l.includes(`tgt is ${VIP6}`));
    expect(fromBeta.length).toBeGreaterThanOrEqual(1);
    expect(fromBeta[0]).toMatch(/hlim 255/);
    expect(fromBeta[0]).toMatch(/icmp6 sum ok/);
    expect(fromBeta[0]).toMatch(/Flags \[override\]/);
    expect(fromBeta[0]).toContain(`${VIP6} > ff02::1`);
    const s = await pair.status('beta');
    expect(s.groups[0]?.holder).toBe('beta');
  });

  it('the IPv4 and IPv6 VIPs move as one group, and back', async () => {
    // After the power loss above: beta has both, and the client reaches both there.
    expect(await holdsBoth('beta')).toBe(true);
    expect(await pair.clientPing()).toBe(true);
    expect(await pair.clientNeighbourMac()).toBe(pair.mac.beta);
    expect(await pair.askService()).toBe('beta');

    await pair.powerOn('alpha');
    await pair.waitForStatus('beta', 'alpha back', (s) => s.nodes.find((n) => n.name === 'alpha')?.state === 'up');
    await sleep(1500);
    // auto_failback off: nothing moves, and a rebooted alpha holds neither address.
    expect(await pair.holdsVip('alpha')).toBe(false);
    expect(await pair.holdsVip6('alpha')).toBe(false);
    expect(await holdsBoth('beta')).toBe(true);

    await pair.powerOff('beta');
    try {
      await waitFor('alpha to hold both VIPs', async () => ((await holdsBoth('alpha')) ? true : undefined), 10_000, 10);
      await waitFor('the client\'s IPv6 entry back at alpha', async () => ((await pair.clientNeighbourMac6()) === pair.mac.alpha ? true : undefined), 1500, 10);
      await waitFor('the service on alpha', async () => ((await pair.askService()) === 'alpha' ? true : undefined), 10_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    }
    expect(await pair.clientNeighbourMac()).toBe(pair.mac.alpha);
    expect(await pair.clientPing()).toBe(true);
    expect(await clientPing6()).toBe(true);
    const s = await pair.status('alpha');
    expect(s.groups).toHaveLength(1);
    expect(s.groups[0]).toMatchObject({ holder: 'alpha', local: { phase: 'running' } });
  });
});
