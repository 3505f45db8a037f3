// A stop that keeps failing, with fencing (issue 16, "Done when"): the node
// cannot prove the resource down, says so in its heartbeats (tg_stopfail),
// and the peer fences it through its real power switch (OpenIPMI's ipmi_sim,
// lab/ipmi.ts) before it starts the group. The stop is reached the way a
// monitored service gets there: it dies, the monitor restarts it in place,
// and the restart's stop fails.
//
// Traffic stays inside the namespaces this file creates (prefix tdsaf, 10.150.2.x).

import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type StatusJson } from '../../lab/pair.js';
import { waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, 'ipmi_sim', 'ipmitool'));

const NET = '10.150.2';
type Status = StatusJson & { recentEvents: Array<{ kind: string; detail: string; at?: string }> };

describe.sequential('a failed stop with fencing', () => {
  const p = new Pair({
    prefix: 'tdsaf', net: NET, workDir: join(tmpdir(), 'tandem-monitor-fencing'), autoFailback: 'off',
    keepalive: '200ms', warntime: '1', deadtime: '2', initdead: '2',
    fencing: {
      stonithHost: (t, sw) => `stonith_host * ipmi ${sw.stonithParams(t, ['timeout=4']).join(' ')}`,
      extra: ['fence_delay 4400ms', 'fence_check_interval 60'],
    },
  });
  const up = (n: 'alpha' | 'beta') => join(p.dir(n), 'svc.up');
  const stuck = (n: 'alpha' | 'beta') => join(p.dir(n), 'svc.stuck');

  beforeAll(async () => {
    await p.setup();
    for (const n of ['alpha', 'beta'] as const) {
      writeFileSync(join(p.configDir(n), 'resource.d', 'svc'), `#!/bin/sh
case "$1" in
  start) touch ${up(n)}; exit 0 ;;
  stop) [ -e ${stuck(n)} ] && { echo "svc: cannot stop" >&2; exit 1; }; rm -f ${up(n)}; exit 0 ;;
  status) [ -e ${up(n)} ] && exit 0; exit 3 ;;
esac
exit 2
`, { mode: 0o755 });
      writeFileSync(join(p.configDir(n), 'haresources'), `alpha IPaddr2::${NET}.100/24/eth0::arp_count=1 svc op monitor interval=1s timeout=2s\n`);
    }
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to answer', async () => (await p.status('alpha').then(() => true, () => undefined)), 10_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${readFileSync(p.logFile('alpha'), 'utf8')}`); });
    await p.waitForStatus('alpha', 'alpha running the group, beta up', (s) => s.groups[0]?.local.phase === 'running' && s.nodes.some((x) => !x.self && x.state === 'up'), 20_000);
    await p.waitForStatus('beta', 'beta standby, its device checked', (s) => (s as Status & { fencing: { devices: Array<{ lastCheck: { ok: boolean } | null }> } }).fencing.devices.every((d) => d.lastCheck?.ok), 20_000);
  }, 60_000);
  afterAll(async () => {
    await p.cleanup();
  });

  it('the peer fences the node whose stop failed, and only then starts the group', async () => {
    writeFileSync(stuck('alpha'), '');
    // The service dies: the monitor restarts it in place, and that stop fails.
    unlinkSync(up('alpha'));
    await waitFor('alpha powered off by beta', async () => (p.power.alpha!.power() === 'off' ? true : undefined), 20_000);
    const b = await p.waitForStatus('beta', 'beta running the group', (s) => s.groups[0]?.local.phase === 'running', 15_000) as Status;
    expect(await p.holdsVip('beta')).toBe(true);
    const log = readFileSync(p.logFile('beta'), 'utf8');
    const fenced = log.search(/fence of alpha through .*: ok/);
    const started = log.search(/group .*: starting/);
    expect(fenced).toBeGreaterThan(0);
    expect(started).toBeGreaterThan(fenced);
    expect(log).toMatch(/alpha could not stop IPaddr2::10\.150\.2\.100\/24\/eth0::arp_count=1: fencing it now, before its groups start here/);
    expect(readFileSync(p.logFile('alpha'), 'utf8')).toMatch(/could not be stopped after 3 attempts: .*beta fences this node before it starts the group/);
    expect(b.groups[0]!.holder).toBe('beta');
  });
});
