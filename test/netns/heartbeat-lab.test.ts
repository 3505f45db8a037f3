// The yardstick lab: Debian's real Heartbeat 3.0.6 on the Pair topology
// (lab/heartbeat.ts). Fails, naming the package, where Heartbeat is not installed.

import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, beforeAll } from 'vitest';
import { heartbeatNodeStatus } from '../../lab/heartbeat.js';
import { Pair } from '../../lab/pair.js';
import { sh, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, '/usr/libexec/heartbeat/heartbeat'));

describe.sequential('heartbeat 3.0.6 lab pair', () => {
  const workDir = join(tmpdir(), 'tandem-heartbeat-lab');
  const p = new Pair({ prefix: 'tdhb', net: '10.211.6', workDir, impl: 'heartbeat', initdead: '2' });
  afterAll(() => p.cleanup());

  it('starts, fails over on power loss, restarts, and cleans up without traces', async () => {
    await p.setup();
    expect(readFileSync(join(p.configDir('alpha'), 'haresources'), 'utf8')).toBe(`alpha IPaddr2::${p.vip}/24/eth0 labsvc::7000\n`);
    p.startNode('alpha');
    p.startNode('beta');
    // Heartbeat's RQSTDELAY: the first acquisition comes ~10 s after both are active.
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 30_000);
    await waitFor('the service on alpha', async () => ((await p.askService()) === 'alpha' ? true : undefined), 5_000);
    expect(await heartbeatNodeStatus(p, 'beta', 'alpha')).toBe('active');

    await p.powerOff('alpha');
    expect(await sh('ip', ['netns', 'pids', p.ns.alpha])).toBe('');
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    await waitFor('the service on beta', async () => ((await p.askService()) === 'beta' ? true : undefined), 5_000);
    expect(await heartbeatNodeStatus(p, 'beta', 'alpha')).toBe('dead');

    await p.powerOn('alpha');
    await waitFor('alpha back', async () => ((await heartbeatNodeStatus(p, 'beta', 'alpha').catch(() => '')) === 'active' ? true : undefined), 10_000);
    expect(await p.holdsVip('alpha')).toBe(false);   // auto_failback off

    await p.cleanup();
    expect((await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith('tdhb-'))).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(workDir);
  }, 90_000);
});
