// A mixed pair (issue 17): tandem on alpha, Debian's Heartbeat 3.0.6 on
// beta (haresources, crm off), one group preferred on alpha. Heartbeat's
// own view (cl_status) must show tandem as an ordinary active peer, and the
// group must move every way an operator or a failure moves it, never
// running on both nodes while they hear each other.
// Namespaces tdmxh*, addresses 10.170.1.x.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatClStatus, heartbeatCommand } from '../../lab/heartbeat.js';
import { Pair, type NodeName } from '../../lab/pair.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { runTandem } from '../helpers/tandem-cli.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, '/usr/libexec/heartbeat/heartbeat'));

function logs(p: Pair): string {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').filter((l) => !/WARN: (Core|Consider|Logging)/.test(l)).slice(-40).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

/**
 * Waits until `node` alone holds the VIP, checking every sample on the way
 * that the VIP is never on both nodes at once (they hear each other all along).
 */
async function soleHolder(p: Pair, node: NodeName, what: string, timeoutMs = 20_000, onVip?: () => void): Promise<void> {
  const other: NodeName = node === 'alpha' ? 'beta' : 'alpha';
  let both = false;
  await waitFor(what, async () => {
    const here = await p.holdsVip(node);
    const there = await p.holdsVip(other);
    both ||= here && there;
    // waitFor retries a probe that throws: end the wait by answering instead.
    return both || (here && !there) ? true : undefined;
  }, timeoutMs, 50).catch((e: Error) => { throw new Error(`${e.message}\n${logs(p)}`); });
  if (both) throw new Error(`the VIP was on both nodes (${what})\n${logs(p)}`);
  onVip?.();
  await waitFor(`the service on ${node}`, async () => ((await p.askService()) === node ? true : undefined), 10_000);
}

describe.sequential('mixed pair: tandem and Heartbeat 3.0.6', () => {
  const p = new Pair({
    prefix: 'tdmxh', net: '10.170.1', workDir: join(tmpdir(), 'tandem-mixed'), heartbeatNodes: ['beta'],
    initdead: '2', autoFailback: 'on',
  });
  afterAll(() => p.cleanup());

  it('joins, shows as an active peer in cl_status, and moves the group every way', async () => {
    await p.setup();
    p.startNode('alpha');
    p.startNode('beta');
    // tandem is the preferred node and starts once Heartbeat said what it holds.
    await soleHolder(p, 'alpha', 'alpha (tandem) to hold the group');
    await waitFor('cl_status on beta', async () => ((await heartbeatClStatus(p, 'beta', 'nodestatus', 'alpha')) === 'active' ? true : undefined), 10_000);
    expect(await heartbeatClStatus(p, 'beta', 'listhblinks', 'alpha')).toBe('eth0');
    expect(await heartbeatClStatus(p, 'beta', 'hblinkstatus', 'alpha', 'eth0')).toBe('up');
    expect((await heartbeatClStatus(p, 'beta', 'listnodes')).split('\n').sort()).toEqual(['alpha', 'beta']);
    const st = await p.status('alpha');
    expect(st.nodes.find((n) => n.name === 'beta')?.state).toBe('up');
    expect(readFileSync(p.logFile('alpha'), 'utf8')).toMatch(/beta \(Heartbeat\) reports what it holds: no group/);
    // Heartbeat logs nothing about tandem's tg_ fields, and flow control never stalls it.
    expect(readFileSync(p.logFile('beta'), 'utf8')).not.toMatch(/clients are now paused|bad node|ERROR: .*(message|field)/i);

    // Power loss of the tandem node: Heartbeat takes the group.
    await p.powerOff('alpha');
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 15_000);
    await waitFor('the service on beta', async () => ((await p.askService()) === 'beta' ? true : undefined), 10_000);
    expect(await heartbeatClStatus(p, 'beta', 'nodestatus', 'alpha')).toBe('dead');

    // Back: auto_failback on brings the group home to alpha (Heartbeat's hb_standby of its foreign group).
    await p.powerOn('alpha');
    await soleHolder(p, 'alpha', 'auto_failback to alpha');

    // tandem standby on alpha: Heartbeat takes it.
    const sb = await runTandem(['standby', '--run-dir', p.runDir('alpha')]);
    expect(sb.code, sb.out + sb.err).toBe(0);
    await soleHolder(p, 'beta', 'beta to take the group on tandem standby');

    // hb_standby on beta: tandem takes it back.
    await heartbeatCommand(p, 'beta', '/usr/share/heartbeat/hb_standby');
    await soleHolder(p, 'alpha', 'alpha to take the group on hb_standby');

    // A graceful stop of tandem: it releases, says shutdone, and Heartbeat takes the group at once.
    await p.stopTandem('alpha');
    await soleHolder(p, 'beta', 'beta to take the group on tandem\'s shutdown', 5_000);
    p.startNode('alpha');
    await soleHolder(p, 'alpha', 'auto_failback to alpha after its restart');

    // A graceful stop of Heartbeat while it holds the group: tandem takes it on its shutdone.
    const sb1 = await runTandem(['standby', '--run-dir', p.runDir('alpha')]);
    expect(sb1.code, sb1.out + sb1.err).toBe(0);
    await soleHolder(p, 'beta', 'beta to take the group before its shutdown');
    const hbPid = Number(readFileSync(join(p.runDir('beta'), 'heartbeat.pid'), 'utf8').trim());
    const hbRunning = () => existsSync(`/proc/${hbPid}`);
    expect(hbRunning()).toBe(true);
    // heartbeat -k returns once Heartbeat is gone: not awaited before the VIP moved.
    const stopping = heartbeatCommand(p, 'beta', '/usr/libexec/heartbeat/heartbeat', '-k');
    // On its shutdone, not on its silence: Heartbeat is still in its final shutdown (it exits ~2 s later).
    let hbStillUp = false;
    await soleHolder(p, 'alpha', 'alpha to take the group on Heartbeat\'s shutdown', 10_000, () => { hbStillUp = hbRunning(); });
    expect(hbStillUp, 'Heartbeat exited before tandem took the group').toBe(true);
    await stopping;
    await waitFor('beta\'s heartbeat to exit', async () => (hbRunning() ? undefined : true), 15_000);
    p.startNode('beta');
    await waitFor('beta back', async () => ((await heartbeatClStatus(p, 'beta', 'nodestatus', 'alpha').catch(() => '')) === 'active' ? true : undefined), 15_000);
    expect(await p.holdsVip('alpha')).toBe(true);

    // Again to beta, then beta loses power: tandem takes it.
    const sb2 = await runTandem(['standby', '--run-dir', p.runDir('alpha')]);
    expect(sb2.code, sb2.out + sb2.err).toBe(0);
    await soleHolder(p, 'beta', 'beta to take the group again');
    await p.powerOff('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 10_000);
    await p.waitForStatus('alpha', 'beta dead, group here', (s) => s.nodes.find((n) => n.name === 'beta')?.state === 'dead' && s.groups[0]?.holder === 'alpha');

    // Heartbeat's control messages arrive out of seq order at times (the `done` of an acquisition after the
    // resource report it caused): tandem takes each once, as Heartbeat does, and drops none as a replay.
    expect(readFileSync(p.logFile('alpha'), 'utf8')).not.toMatch(/dropped datagram.*(ask_resources|resource|starting)/);

    // beta comes back with a key of its own: neither daemon accepts the other's packets.
    const authDrops = (await p.status('alpha')).counters.dropped.auth ?? 0;
    writeFileSync(join(p.configDir('beta'), 'authkeys'), 'auth 1\n1 sha1 other-secret\n', { mode: 0o600 });
    await p.powerOn('beta');
    await waitFor('beta\'s Heartbeat to answer cl_status', async () => (await heartbeatClStatus(p, 'beta', 'nodestatus', 'beta').catch(() => '')) ? true : undefined, 10_000);
    await sleep(3000);   // past initdead (2 s) on beta
    const st2 = await p.status('alpha');
    expect(st2.nodes.find((n) => n.name === 'beta')?.state).toBe('dead');
    expect(st2.counters.dropped.auth ?? 0).toBeGreaterThan(authDrops);
    expect(await heartbeatClStatus(p, 'beta', 'nodestatus', 'alpha')).toBe('dead');
    expect(readFileSync(p.logFile('beta'), 'utf8')).toMatch(/authentication failed/);
  }, 180_000);
});
