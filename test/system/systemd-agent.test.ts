// systemd:UNIT resources through systemd's D-Bus API (src/agents/systemd.ts).
// The unit test part runs everywhere; the part that starts, monitors and
// stops a real unit runs only where systemd is init (this test's own
// environment may be a container without it: then it is skipped, and the
// skip says so).
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { activeStateOutcome, busctlValue, SystemdAgent, systemdProblem } from '../../src/agents/systemd.js';
import { checkAgentParams } from '../../src/agents/index.js';
import { parseHaResources } from '../../src/config/haresources.js';
import type { AgentContext } from '../../src/agents/types.js';

const ctx: AgentContext = { configDir: '/nonexistent', initDir: '/nonexistent', scriptTimeoutMs: 20_000, log: () => undefined };
const SYSTEMD = systemdProblem() === undefined;

describe('systemd agent: pure parts', () => {
  it('reads busctl answers', () => {
    expect(busctlValue('o "/org/freedesktop/systemd1/job/42"\n')).toBe('/org/freedesktop/systemd1/job/42');
    expect(busctlValue('s "active"')).toBe('active');
    expect(busctlValue('garbage')).toBeUndefined();
  });

  it('ActiveState as a monitor verdict', () => {
    expect(activeStateOutcome('active').result).toBe('running');
    expect(activeStateOutcome('failed').result).toBe('not-running');
    expect(activeStateOutcome('inactive').result).toBe('not-running');
    expect(activeStateOutcome('activating').result).toBe('failed');
  });

  it('haresources: systemd:UNIT, .service added when no type is named', () => {
    const r = parseHaResources('alpha systemd:nginx op monitor interval=5s\n', 'haresources', ['alpha']);
    expect(r.issues).toEqual([]);
    expect(r.groups![0]!.resources[0]!.agent).toBe('systemd:nginx');
  });

  it.skipIf(SYSTEMD)('where systemd does not run: check-config and every operation say so', async () => {
    const r = parseHaResources('alpha systemd:nginx.service\n', 'haresources', ['alpha']);
    expect(await checkAgentParams(r.groups!, 'haresources', ctx)).toEqual([
      { file: 'haresources', line: 1, message: "resource 'systemd:nginx.service': systemd is not running on this host (no /run/systemd/system): systemd:UNIT resources need it as init" },
    ]);
    const a = new SystemdAgent({ spec: 'systemd:nginx.service', agent: 'systemd:nginx.service', args: [] }, ctx, 'nginx.service');
    await expect(a.start()).rejects.toThrow(/systemd is not running on this host/);
    expect(await a.monitor(1000)).toEqual({ result: 'failed', detail: 'systemd is not running on this host (no /run/systemd/system): systemd:UNIT resources need it as init' });
  });
});

const UNIT = 'tdsa-agent-test.service';
const UNIT_FILE = `/run/systemd/system/${UNIT}`;

describe.skipIf(!SYSTEMD)(`systemd agent against the running systemd${SYSTEMD ? '' : ' (skipped: systemd is not init on this host, no /run/systemd/system)'}`, () => {
  afterAll(() => {
    try { execFileSync('systemctl', ['stop', UNIT]); } catch { /* not running */ }
    rmSync(UNIT_FILE, { force: true });
    try { execFileSync('systemctl', ['daemon-reload']); } catch { /* gone */ }
  });

  it('starts a unit and waits for its job, monitors it, sees it die, stops it', async () => {
    writeFileSync(UNIT_FILE, '[Service]\nExecStart=/bin/sleep 600\n');
    execFileSync('systemctl', ['daemon-reload']);
    const a = new SystemdAgent({ spec: `systemd:${UNIT}`, agent: `systemd:${UNIT}`, args: [] }, ctx, UNIT);
    await a.start();
    expect((await a.monitor(5000)).result).toBe('running');
    execFileSync('systemctl', ['kill', '--signal=SIGKILL', UNIT]);
    for (let i = 0; i < 50 && (await a.monitor(5000)).result === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await a.monitor(5000)).result).toBe('not-running');
    await a.start();
    await a.stop();
    expect((await a.monitor(5000)).result).toBe('not-running');
    expect(existsSync(UNIT_FILE)).toBe(true);
  });
});
