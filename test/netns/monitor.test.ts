// Monitored resources in a running pair (issue 16, "Done when"), with
// Debian's real resource-agents: ocf:heartbeat:IPaddr2 and ocf:heartbeat:Dummy
// in one group with an LSB script (a socat service with a pid file whose
// `status` answers with LSB's exit codes). Killing the service on the active
// node restarts it in place; a status that hangs is killed at its timeout
// and counted; the failure that reaches migration-threshold moves the whole
// group to the peer; `tandem cleanup` clears the counts.
//
// Traffic stays inside the namespaces this file creates (prefix tdsa, 10.150.1.x).

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type NodeName, type StatusJson } from '../../lab/pair.js';
import { sh, waitFor } from '../../lab/sh.js';
import { runTandem } from '../helpers/tandem-cli.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, '/usr/lib/ocf/resource.d/heartbeat/Dummy', '/usr/lib/ocf/resource.d/heartbeat/IPaddr2'));

const NET = '10.150.1';
const GROUP = `ocf:heartbeat:IPaddr2::ip=${NET}.100::cidr_netmask=24::nic=eth0`;

interface MonitorJson { resource: string; last: { result: string; detail: string } | null; failCount: number; migrationThreshold: number; nextCheckInMs: number | null }
type Status = StatusJson & { groups: Array<StatusJson['groups'][number] & { monitors: MonitorJson[] }>; recentEvents: Array<{ kind: string; detail: string }> };

describe.sequential('monitoring with real OCF agents and an LSB script', () => {
  const p = new Pair({ prefix: 'tdsa', net: NET, workDir: join(tmpdir(), 'tandem-monitor'), autoFailback: 'off', keepalive: '200ms', warntime: '1', deadtime: '2', initdead: '2' });
  const status = (n: NodeName) => p.status(n) as Promise<Status>;
  const pidFile = (n: NodeName) => join(p.dir(n), 'websvc.pid');
  const hangFlag = (n: NodeName) => join(p.dir(n), 'websvc.hang');
  const servicePid = (n: NodeName) => (existsSync(pidFile(n)) ? Number(readFileSync(pidFile(n), 'utf8')) : undefined);
  const svcMonitor = (s: Status) => s.groups[0]!.monitors.find((m) => m.resource === 'websvc')!;
  const log = (n: NodeName) => readFileSync(p.logFile(n), 'utf8');
  const alive = (pid: number | undefined) => pid !== undefined && existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

  beforeAll(async () => {
    await p.setup();
    for (const n of ['alpha', 'beta'] as const) {
      // An LSB init script: status 0 running, 1 dead with a pid file, 3 not running; hangs while the flag exists.
      writeFileSync(join(p.configDir(n), 'resource.d', 'websvc'), `#!/bin/sh
PIDF=${pidFile(n)}
case "$1" in
  start)
    if [ -f $PIDF ] && kill -0 $(cat $PIDF) 2>/dev/null; then exit 0; fi
    setsid socat TCP-LISTEN:7000,bind=${NET}.100,reuseaddr,fork SYSTEM:'echo ${n}' </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF; exit 0 ;;
  stop)
    if [ -f $PIDF ]; then kill $(cat $PIDF) 2>/dev/null; rm -f $PIDF; fi; exit 0 ;;
  status)
    [ -e ${hangFlag(n)} ] && { rm -f ${hangFlag(n)}; sleep 61.5; }
    [ -f $PIDF ] || exit 3
    kill -0 $(cat $PIDF) 2>/dev/null && exit 0
    exit 1 ;;
  *) exit 2 ;;
esac
`, { mode: 0o755 });
      writeFileSync(join(p.configDir(n), 'haresources'), [
        `alpha ${GROUP} op monitor interval=0 \\`,
        `  ocf:heartbeat:Dummy::state=${join(p.dir(n), 'dummy.state')} op monitor interval=1s timeout=2s \\`,
        '  websvc op monitor interval=1s timeout=1s meta migration-threshold=3',
        '',
      ].join('\n'));
    }
    p.startTandem('alpha');
    p.startTandem('beta');
    await p.waitForStatus('alpha', 'alpha to run the group', (s) => s.groups[0]?.local.phase === 'running' && s.nodes.some((x) => !x.self && x.state === 'up'), 20_000);
  }, 60_000);
  afterAll(async () => {
    for (const n of ['alpha', 'beta'] as const) {
      const pid = servicePid(n);
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      rmSync(hangFlag(n), { force: true });
    }
    await p.cleanup();
  });

  it('runs the real agents and shows each monitored resource in status', async () => {
    expect(await p.holdsVip('alpha')).toBe(true);
    expect(existsSync(join(p.dir('alpha'), 'dummy.state'))).toBe(true);
    expect(alive(servicePid('alpha'))).toBe(true);
    const s = await p.waitForStatus('alpha', 'the first checks', (x) => (x as Status).groups[0]!.monitors.every((m) => m.last?.result === 'running')) as Status;
    expect(s.groups[0]!.monitors.map((m) => [m.resource, m.failCount, m.migrationThreshold])).toEqual([
      [`ocf:heartbeat:Dummy::state=${join(p.dir('alpha'), 'dummy.state')}`, 0, 3],
      ['websvc', 0, 3],
    ]);
    const text = await runTandem(['status', '--run-dir', p.runDir('alpha')]);
    expect(text.out).toMatch(/monitor websvc \(every 1000 ms, timeout 1000 ms\): running .* ago; fail count 0 of 3; (next check in|checking now)/);
  });

  it('a killed service is detected within interval + timeout and restarted in place', async () => {
    const before = servicePid('alpha')!;
    const t0 = Date.now();
    process.kill(before, 'SIGKILL');
    await waitFor('the service restarted with a new pid', async () => {
      const pid = servicePid('alpha');
      return pid !== undefined && pid !== before && alive(pid) ? true : undefined;
    }, 10_000);
    const detected = log('alpha').match(/monitor websvc: not-running \(status exit 1: program is dead and \/var\/run pid file exists\)/);
    expect(detected).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000 + 1000 + 3000);   // interval + timeout, and the restart itself
    const s = await p.waitForStatus('alpha', 'running again, one failure counted', (x) => x.groups[0]?.local.phase === 'running' && svcMonitor(x as Status).failCount === 1) as Status;
    expect(s.groups[0]!.holder).toBe('alpha');
    expect(await p.holdsVip('alpha')).toBe(true);   // the resources before it were not touched
    expect(log('alpha')).toMatch(/websvc: monitor not-running .* failure 1 of 3: restarting it in place/);
  });

  it('a status that hangs is killed at its timeout and counted as a failure', async () => {
    writeFileSync(hangFlag('alpha'), '');
    const s = await p.waitForStatus('alpha', 'the hung check counted', (x) => svcMonitor(x as Status).failCount === 2, 10_000) as Status;
    expect(log('alpha')).toMatch(/monitor websvc: timeout \(timed out after 1 s; its processes were killed\)/);
    expect(s.groups[0]!.holder).toBe('alpha');
    // The hung status's sleep died with its process group.
    await waitFor('the hung sleep to be gone', async () => ((await sh('pgrep', ['-f', '^sleep 61.5$'], { allowFail: true })).trim() === '' ? true : undefined), 5000);
  });

  it('the failure that reaches migration-threshold moves the whole group to the peer', async () => {
    await p.waitForStatus('alpha', 'running after the restart', (x) => x.groups[0]?.local.phase === 'running');
    process.kill(servicePid('alpha')!, 'SIGKILL');
    await p.waitForStatus('beta', 'beta to run the group', (x) => x.groups[0]?.local.phase === 'running', 20_000);
    expect(await p.holdsVip('beta')).toBe(true);
    expect(await p.holdsVip('alpha')).toBe(false);
    expect(alive(servicePid('beta'))).toBe(true);
    expect(existsSync(join(p.dir('alpha'), 'dummy.state'))).toBe(false);
    const a = await status('alpha');
    expect(a.groups[0]!.local.phase).toBe('failed');
    expect(svcMonitor(a).failCount).toBe(3);
    expect(log('alpha')).toMatch(/failure 3 of 3: moving the group to the peer/);
  });

  it('tandem cleanup clears the failure and the fail counts', async () => {
    const r = await runTandem(['cleanup', GROUP, '--run-dir', p.runDir('alpha')]);
    expect(r.code, r.err).toBe(0);
    const a = await p.waitForStatus('alpha', 'alpha clean', (x) => x.groups[0]?.local.phase === 'stopped') as Status;
    expect(a.groups[0]!.monitors.map((m) => m.failCount)).toEqual([0, 0]);
    expect((await status('beta')).groups[0]!.holder).toBe('beta');
  });
});
