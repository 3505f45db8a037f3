// Device adapters against real programs written by the test: a fence agent
// speaking the fence-agents stdin protocol, cluster-glue style external
// plugins, and ones that hang. (ipmitool, fence_ipmilan and ipmi_sim are
// exercised in test/netns/fencing-devices.test.ts.)

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseStonithHost, type StonithDevice } from '../../src/config/stonith.js';
import { checkDevice, ensureIpmitoolShim, fence } from '../../src/fencing/devices.js';

const SECRET = 'tdf-Secr3t-value';
let dir: string;
let plugins: string;
let pass: string;

/** Running, not a zombie waiting for a slow init to reap it. */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tdf-dev-'));
  plugins = join(dir, 'plugins');
  mkdirSync(plugins);
  pass = join(dir, 'pass');
  writeFileSync(pass, `${SECRET}\n`, { mode: 0o600 });
  const D = dir;
  // A fence agent: parameters on stdin, power in a file; 0 ok/on, 1 failure, 2 off.
  writeFileSync(join(plugins, 'fence_tdfrec'), `#!/bin/sh
D='${D}'
cat > "$D/stdin.$$"
action=$(sed -n 's/^action=//p' "$D/stdin.$$")
mv "$D/stdin.$$" "$D/agent-stdin-$action"
tr '\\000' ' ' < /proc/$$/cmdline > "$D/agent-cmdline"
[ -f "$D/agent-power" ] || echo 1 > "$D/agent-power"
case "$action" in
  off) [ -f "$D/agent-stuck" ] || echo 0 > "$D/agent-power"; echo "Success: Powered OFF" ;;
  on) echo 1 > "$D/agent-power"; echo "Success: Powered ON" ;;
  monitor) exit 0 ;;
  status) [ -f "$D/status-hang" ] && exec sleep 300
    [ -f "$D/status-hang-next" ] && mv "$D/status-hang-next" "$D/status-hang"
    if [ "$(cat "$D/agent-power")" = 1 ]; then echo "Status: ON"; exit 0; fi; echo "Status: OFF"; exit 2 ;;
  *) echo "ERROR: unknown action $action (password was $(sed -n 's/^password=//p' "$D/agent-stdin-$action"))" >&2; exit 1 ;;
esac
`, { mode: 0o755 });
  // A fence agent that hangs with a child of its own.
  writeFileSync(join(plugins, 'fence_tdfhang'), `#!/bin/sh
sleep 300 &
echo $! > '${D}/hang-child'
sleep 300
`, { mode: 0o755 });
  // An external plugin that logs argv and its environment parameters.
  writeFileSync(join(plugins, 'tdfext'), `#!/bin/sh
D='${D}'
echo "$*" >> "$D/ext-calls"
case "$1" in
  gethosts) for h in $hostlist; do echo "$h"; done ;;
  getconfignames) echo hostlist; echo passwd ;;
  status) [ -n "$passwd" ] || exit 1 ;;
  off|on|reset)
    echo "host=$2 passwd=$passwd mode=$mode" > "$D/ext-$1"
    if [ "$fail" = yes ]; then echo "ERROR: login with $passwd rejected" >&2; exit 1; fi ;;
  *) exit 1 ;;
esac
exit 0
`, { mode: 0o755 });
  writeFileSync(join(plugins, 'tdfexthang'), `#!/bin/sh
case "$1" in gethosts) echo beta ;; *) exec sleep 300 ;; esac
`, { mode: 0o755 });
  // Stands in for the operator's ipmitool_path, to show what the shim passes on.
  writeFileSync(join(dir, 'show-args'), `#!/bin/sh
printf '%s\\n' "$@" > '${D}/shim-args'
echo "Chassis Power is on"
`, { mode: 0o755 });
  // A fence agent that, like fence_ipmilan, runs ipmitool_path with -P.
  writeFileSync(join(plugins, 'fence_tdfipmi'), `#!/bin/sh
# runs ipmitool_path
p=$(sed -n 's/^ipmitool_path=//p'); pw=''
exec "$p" -I lanplus -H 10.0.0.1 -U admin -P "$pw" chassis power status
`, { mode: 0o755 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function device(line: string): StonithDevice {
  const r = parseStonithHost(line.split(/\s+/), '/etc/ha.d/ha.cf', 9, ['alpha', 'beta'], { pluginDir: plugins });
  expect(r.issues).toEqual([]);
  return r.device!;
}

describe('fence_* agents (stdin protocol)', () => {
  it('off is sent on stdin, then confirmed by status = off (exit 2)', async () => {
    writeFileSync(join(dir, 'agent-power'), '1\n');
    const d = device(`* fence_tdfrec target=beta ip=10.0.0.12 username=admin passfile=${pass} login=a%20b timeout=5`);
    const r = await fence(d, 'off');
    expect(r).toMatchObject({ ok: true, action: 'off', target: 'beta', power: 'off', confirmedBy: 'status', timedOut: false });
    expect(r.device).toBe('fence_tdfrec beta (ha.cf:9)');
    const stdin = readFileSync(join(dir, 'agent-stdin-off'), 'utf8').split('\n');
    expect(stdin).toEqual(expect.arrayContaining(['action=off', 'ip=10.0.0.12', 'username=admin', 'login=a b', `password=${SECRET}`,
      'power_timeout=2', 'login_timeout=1', 'shell_timeout=1']));
    expect(stdin.some((l) => l.startsWith('target='))).toBe(false);
    expect(existsSync(join(dir, 'agent-stdin-status'))).toBe(true);
    // No argument at all, so nothing for ps to show.
    expect(readFileSync(join(dir, 'agent-cmdline'), 'utf8')).not.toContain(SECRET);
    expect((await fence(d, 'status')).power).toBe('off');
    expect(await fence(d, 'on')).toMatchObject({ ok: true, power: 'on', confirmedBy: 'status' });
    expect((await checkDevice(d)).ok).toBe(true);
  });

  it('an off that the status does not confirm is a failure, within the timeout', async () => {
    writeFileSync(join(dir, 'agent-power'), '1\n');
    writeFileSync(join(dir, 'agent-stuck'), '');
    try {
      // Room for several status polls: on a loaded machine (load 9, 2 cores) each agent run took
      // hundreds of ms, and with 1.5 s the first status was itself cut off by the deadline.
      const d = device(`* fence_tdfrec target=beta timeout=3000ms`);
      const r = await fence(d, 'off');
      expect(r.ok).toBe(false);
      expect(r.power).toBe('on');
      // Under load the last poll may be the one the deadline cuts off.
      expect(r.error).toMatch(/fence_tdfrec accepted power off but it was not confirmed before the deadline: status (still reads on|last read on, then failed)/);
      expect(r.durationMs).toBeLessThan(3700);
    } finally {
      rmSync(join(dir, 'agent-stuck'));
    }
  });

  it('when the deadline cuts off the last status poll, the last power read is still reported', async () => {
    writeFileSync(join(dir, 'agent-power'), '1\n');
    writeFileSync(join(dir, 'agent-stuck'), '');
    writeFileSync(join(dir, 'status-hang-next'), '');
    try {
      const d = device(`* fence_tdfrec target=beta timeout=3000ms`);
      const r = await fence(d, 'off');
      expect(r.ok).toBe(false);
      expect(r.power).toBe('on');
      expect(r.error).toMatch(/not confirmed before the deadline: status last read on, then failed: .*no answer within the device timeout/);
    } finally {
      rmSync(join(dir, 'agent-stuck'));
      rmSync(join(dir, 'status-hang'), { force: true });
      rmSync(join(dir, 'status-hang-next'), { force: true });
    }
  });

  it('agent errors are reported with the secret scrubbed', async () => {
    const d = device(`* fence_tdfrec target=beta passfile=${pass}`);
    // 'reboot' is not understood by this agent: it fails and quotes the password.
    writeFileSync(join(plugins, 'fence_tdfrec2'), readFileSync(join(plugins, 'fence_tdfrec'), 'utf8').replace('  on)', '  on|reboot-never)'), { mode: 0o755 });
    const r = await fence({ ...d, agent: 'fence_tdfrec2' } as StonithDevice, 'reboot');
    expect(r.ok).toBe(false);
    expect(r.error).toContain('ERROR: unknown action reboot (password was ***)');
    expect(r.error).not.toContain(SECRET);
  });

  it('a hanging agent is killed with its children at the timeout', async () => {
    const d = device(`* fence_tdfhang target=beta timeout=1`);
    const t0 = performance.now();
    const r = await fence(d, 'off');
    const took = performance.now() - t0;
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(r.error).toBe('fence_tdfhang action=off: no answer within the device timeout (1000 ms); its processes were killed');
    // Not before the timeout: libuv's millisecond clock may fire its timer up to 1 ms early by performance.now().
    expect(took).toBeGreaterThanOrEqual(998);
    expect(took).toBeLessThan(1800);
    const child = Number(readFileSync(join(dir, 'hang-child'), 'utf8'));
    await new Promise((r2) => setTimeout(r2, 100));
    expect(pidAlive(child)).toBe(false);
  });

  it('an abort stops it at once', async () => {
    const d = device(`* fence_tdfhang target=beta timeout=30`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = performance.now();
    const r = await fence(d, 'off', ac.signal);
    expect(r).toMatchObject({ ok: false, aborted: true });
    expect(performance.now() - t0).toBeLessThan(1200);
  });

  it('a secret file of more than one line is refused, not smuggled onto stdin', async () => {
    const two = join(dir, 'two-lines');
    writeFileSync(two, 'pw\naction=on\n', { mode: 0o600 });
    const d = device(`* fence_tdfrec target=beta passfile=${pass}`);
    const r = await fence({ ...d, passfile: two } as StonithDevice, 'off');
    expect(r).toMatchObject({ ok: false, error: `passfile: ${two} must hold a single line without control characters` });
  });

  it('an agent removed after configuration is a clear error', async () => {
    const d = device(`* fence_tdfrec target=beta`);
    const r = await fence({ ...d, agent: 'fence_tdfgone' } as StonithDevice, 'off');
    expect(r).toMatchObject({ ok: false, error: `fence agent fence_tdfgone not found in ${plugins}, /usr/sbin, /usr/bin` });
  });

  it('agents that run ipmitool get the shim: -P dropped, -f <passfile> and -R 1 added', async () => {
    const d = device(`* fence_tdfipmi target=beta ipmitool_path=${dir}/show-args passfile=${pass}`);
    const r = await fence(d, 'status', undefined, { workDir: join(dir, 'work') });
    expect(r).toMatchObject({ ok: true, power: 'on' });
    const args = readFileSync(join(dir, 'shim-args'), 'utf8').trim().split('\n');
    expect(args).toEqual(['-R', '1', '-f', pass, '-I', 'lanplus', '-H', '10.0.0.1', '-U', 'admin', 'chassis', 'power', 'status']);
    const shim = ensureIpmitoolShim(join(dir, 'work'));
    expect(readFileSync(shim, 'utf8')).toContain('exec "$real" "$@"');
  });
});

describe('external/* plugins (cluster-glue convention)', () => {
  it('parameters in the environment, gethosts checked, then "off <target>"', async () => {
    rmSync(join(dir, 'ext-calls'), { force: true });
    const d = device(`* external/tdfext target=beta hostlist=alpha%20beta passwd=@${pass} mode=x%2Cy`);
    const r = await fence(d, 'off');
    expect(r).toMatchObject({ ok: true, power: 'off', confirmedBy: 'exit-code' });
    expect(readFileSync(join(dir, 'ext-calls'), 'utf8').trim().split('\n')).toEqual(['gethosts', 'off beta']);
    expect(readFileSync(join(dir, 'ext-off'), 'utf8').trim()).toBe(`host=beta passwd=${SECRET} mode=x,y`);
    expect(await fence(d, 'reboot')).toMatchObject({ ok: true });
    expect(readFileSync(join(dir, 'ext-calls'), 'utf8')).toContain('reset beta');
  });

  it('refuses a device whose gethosts does not list the target, without calling off', async () => {
    rmSync(join(dir, 'ext-calls'), { force: true });
    const d = device(`* external/tdfext target=beta hostlist=alpha passwd=@${pass}`);
    const r = await fence(d, 'off');
    expect(r.ok).toBe(false);
    expect(r.error).toBe('external/tdfext does not list beta among the hosts it controls (gethosts: alpha); refusing to act');
    expect(readFileSync(join(dir, 'ext-calls'), 'utf8').trim().split('\n')).toEqual(['gethosts']);
    expect((await checkDevice(d)).ok).toBe(false);
  });

  it('monitor = status + gethosts', async () => {
    expect((await checkDevice(device(`* external/tdfext target=beta hostlist=beta passwd=@${pass}`))).ok).toBe(true);
    const noPass = await checkDevice(device(`* external/tdfext target=beta hostlist=beta`));
    expect(noPass).toMatchObject({ ok: false, action: 'monitor' });
    expect(noPass.error).toMatch(/^external\/tdfext status failed \(exit code 1\)/);
  });

  it('failure text is scrubbed of secrets', async () => {
    const r = await fence(device(`* external/tdfext target=beta hostlist=beta passwd=@${pass} fail=yes`), 'off');
    expect(r.ok).toBe(false);
    expect(r.error).toContain('ERROR: login with *** rejected');
    expect(r.error).not.toContain(SECRET);
  });

  it('a hanging plugin fails at the timeout', async () => {
    const t0 = performance.now();
    const r = await fence(device(`* external/tdfexthang target=beta timeout=800ms`), 'off');
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(r.error).toContain('external/tdfexthang off beta: no answer within the device timeout (800 ms)');
    expect(performance.now() - t0).toBeLessThan(1600);
  });
});

describe('policy + devices glue (runDeviceAction)', () => {
  it('drives the policy with real plugins: first device fails, second confirms, then may-take-over and a history record', async () => {
    const { fencingPolicyConfig, initFencing, fencingStep, runDeviceAction, historyRecord } = await import('../../src/fencing/index.js');
    const { parseFencing } = await import('../../src/config/stonith.js');
    rmSync(join(dir, 'ext-calls'), { force: true });
    const lines = [
      `stonith_host * external/tdfext target=beta hostlist=beta passwd=@${pass} fail=yes`,
      `stonith_host * external/tdfext target=beta hostlist=beta passwd=@${pass}`,
      `stonith_host * external/tdfext target=alpha hostlist=alpha passwd=@${pass}`,
      'fence_delay 30',
    ].map((l, i) => {
      const [directive = '', ...args] = l.split(' ');
      return { directive, args, line: i + 1 };
    });
    const parsed = parseFencing(lines, '/etc/ha.d/ha.cf', ['alpha', 'beta'], { pluginDir: plugins });
    expect(parsed.issues).toEqual([]);
    const { cfg, devices } = fencingPolicyConfig(parsed.config!, 'alpha', ['alpha', 'beta']);
    expect(devices).toHaveLength(2);
    const s = initFencing({ ...cfg, checkIntervalMs: 0 }, 0);
    let now = 0;
    const seen: string[] = [];
    const records: unknown[] = [];
    let queue = [...fencingStep(s, { kind: 'peer-up' }, now), ...fencingStep(s, { kind: 'peer-dead', reason: 'silent', selfHeld: 1, peerHeld: 0 }, now)];
    while (queue.length > 0) {
      const a = queue.shift()!;
      seen.push(a.kind === 'may-take-over' ? `may-take-over:${a.reason}` : a.kind);
      if (a.kind === 'record') records.push(historyRecord(a.entry, 'alpha', new Date('2026-01-01T00:00:10Z')));
      const ev = await runDeviceAction(a, devices);
      if (!ev) continue;
      now += 100;   // each device call "takes" 100 ms of policy time
      queue = [...queue, ...fencingStep(s, ev, now)];
    }
    expect(seen.filter((k) => k !== 'log')).toEqual(['fence', 'record', 'fence', 'record', 'may-take-over:fenced']);
    expect(readFileSync(join(dir, 'ext-calls'), 'utf8').trim().split('\n')).toEqual(['gethosts', 'off beta', 'gethosts', 'off beta']);
    expect(records[0]).toMatchObject({ by: 'alpha', target: 'beta', result: 'failed', durationMs: 100, at: '2026-01-01T00:00:09.900Z' });
    expect((records[0] as { error: string }).error).toContain('login with *** rejected');
    expect(records[1]).toMatchObject({ result: 'ok', device: 'external/tdfext beta (ha.cf:2)' });
  });

  it('refuses a fence action whose device is for another node', async () => {
    const { runDeviceAction } = await import('../../src/fencing/index.js');
    const d = device(`* external/tdfext target=alpha hostlist=alpha`);
    expect(await runDeviceAction({ kind: 'fence', id: 7, device: 0, target: 'beta' }, [d])).toEqual({
      kind: 'fence-done', id: 7, ok: false, error: 'device 0 is not a device for beta',
    });
  });
});
