// Fencing through real devices: OpenIPMI's ipmi_sim as node beta's power
// switch (its power-off kills everything in beta's namespace and downs its
// link, as pulling the plug would), driven by tandem's built-in ipmi type
// (ipmitool), by fence-agents' fence_ipmilan, by cluster-glue's
// external/ipmi and by an external plugin written here. Also: unreachable
// devices fail within their bound, and no password shows in any process's
// command line while all of that runs.
//
// Traffic: ipmi_sim listens on 127.0.0.1 (a free port); the blackholed BMC
// lives in a namespace of this test (10.216.7.0/24 on a veth whose far end drops it).
// Needs root and Debian's openipmi, ipmitool, fence-agents, cluster-glue.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freeUdpPort, IpmiSim } from '../../lab/ipmi.js';
import { parseStonithHost, type IpmiDevice, type StonithDevice } from '../../src/config/stonith.js';
import { fence, type FenceAction, type FenceResult } from '../../src/fencing/devices.js';
import { cleanupPrefix, createNetns, destroyNetns, netnsName, nsExec, sh, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

beforeAll(() => need('ip', 'ipmi_sim', 'ipmitool', 'fence_ipmilan', '/usr/lib/stonith/plugins/external/ipmi'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdfn';
const NODE_B = netnsName(PREFIX, 'b');     // the node being fenced
const MGMT = netnsName(PREFIX, 'm');       // holds a blackholed "BMC" address
const BLACKHOLE = '10.216.7.99';
const PASSWORD = `tdf-${randomBytes(6).toString('hex')}`;
const NODES = ['alpha', 'beta'];

let work = '';
let sim: IpmiSim | undefined;
let victim: ChildProcess | undefined;
const timings: Array<[string, number]> = [];

function dev(args: string[]): StonithDevice {
  const r = parseStonithHost(['*', ...args], '/etc/ha.d/ha.cf', 1, NODES, { pluginDir: join(work, 'plugins') });
  expect(r.issues).toEqual([]);
  return r.device!;
}

async function timed(label: string, d: StonithDevice, action: FenceAction): Promise<FenceResult> {
  const r = await fence(d, action);
  timings.push([`${label} ${action}${r.ok ? '' : ' (failed)'}`, r.durationMs]);
  return r;
}

/** A process standing for node beta's workload, in beta's namespace. */
function startVictim(): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', NODE_B, 'sleep', '1000'], { stdio: 'ignore', detached: true });
  victim = p;
  return p;
}

async function linkUp(): Promise<boolean> {
  const { stdout } = await sh('ip', ['-n', NODE_B, '-o', 'link', 'show', 'dev', 'eth0']);
  return /<[^>]*\bUP\b[^>]*>/.test(stdout);
}

beforeAll(async () => {
  await cleanupPrefix(PREFIX);
  work = mkdtempSync(join(tmpdir(), 'tdf-nsdev-'));
  await createNetns(NODE_B);
  await sh('ip', ['-n', NODE_B, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
  for (const l of ['eth0', 'eth0p']) await sh('ip', ['-n', NODE_B, 'link', 'set', l, 'up']);
  // A BMC address that never answers: frames for it leave bh0 with a MAC
  // nobody has, and the other end of the veth drops them. No ICMP, no error.
  await createNetns(MGMT);
  await sh('ip', ['-n', MGMT, 'link', 'add', 'bh0', 'type', 'veth', 'peer', 'name', 'bh1']);
  await sh('ip', ['-n', MGMT, 'addr', 'add', '10.216.7.1/24', 'dev', 'bh0']);
  for (const l of ['bh0', 'bh1']) await sh('ip', ['-n', MGMT, 'link', 'set', l, 'up']);
  await sh('ip', ['-n', MGMT, 'neigh', 'add', BLACKHOLE, 'lladdr', '02:00:00:00:00:99', 'dev', 'bh0', 'nud', 'permanent']);
  sim = await IpmiSim.start({
    name: 'tdf-beta', dir: join(work, 'bmc-beta'), password: PASSWORD,
    onPowerOff: `ip netns pids ${NODE_B} | xargs -r kill -9; ip -n ${NODE_B} link set eth0 down`,
    onPowerOn: `ip -n ${NODE_B} link set eth0 up`,
  });
  // An external plugin in the cluster-glue convention, driving ipmitool with -f.
  const plugins = join(work, 'plugins');
  await sh('mkdir', ['-p', plugins]);
  writeFileSync(join(plugins, 'tdfipmi'), `#!/bin/sh
ipmi() { ipmitool -I lanplus -C 3 -H "$ipaddr" -p "$port" -U "$userid" -f "$passfile" -N 1 -R 1 chassis power "$@"; }
case "$1" in
  gethosts) echo "$hostname" ;;
  getconfignames) printf 'hostname\\nipaddr\\nport\\nuserid\\npassfile\\n' ;;
  status) ipmi status >/dev/null ;;
  on) ipmi on >/dev/null ;;
  off) ipmi off >/dev/null ;;
  reset) ipmi reset >/dev/null ;;
  getinfo-devid) echo "tandem test IPMI plugin" ;;
  *) exit 1 ;;
esac
`, { mode: 0o755 });
}, 60_000);

afterAll(async () => {
  if (victim?.pid && victim.exitCode === null) {
    try { process.kill(victim.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await sim?.stop();
  await destroyNetns(NODE_B);
  await destroyNetns(MGMT);
  if (work) rmSync(work, { recursive: true, force: true });
  if (timings.length > 0) {
    console.log(`fencing timings (ms):\n${timings.map(([k, v]) => `  ${k.padEnd(48)} ${v}`).join('\n')}`);
  }
});

/** off (victim dies, link goes down, confirmed) -> status off -> on (link up) -> status on. */
async function offOnCycle(label: string, d: StonithDevice, opts: { nodeStatus: boolean }): Promise<void> {
  const s = sim!;
  if (s.power() === 'off') await s.ipmitool('chassis', 'power', 'on');
  const v = startVictim();
  const died = new Promise<void>((r) => v.once('exit', () => r()));
  await waitFor('victim running', async () => (v.pid && v.exitCode === null ? true : undefined));
  if (opts.nodeStatus) expect(await timed(label, d, 'status')).toMatchObject({ ok: true, power: 'on' });

  const off = await timed(label, d, 'off');
  expect(off, off.error).toMatchObject({ ok: true, power: 'off', target: 'beta' });
  expect(off.confirmedBy).toBe(opts.nodeStatus ? 'status' : 'exit-code');
  // The switch ran the hook before it answered: the node is already dead.
  expect(s.power()).toBe('off');
  await Promise.race([died, new Promise((_, rej) => setTimeout(() => rej(new Error('victim survived power off')), 2000))]);
  expect(await linkUp()).toBe(false);

  if (opts.nodeStatus) expect(await timed(label, d, 'status')).toMatchObject({ ok: true, power: 'off' });
  const on = await timed(label, d, 'on');
  expect(on, on.error).toMatchObject({ ok: true });
  expect(s.power()).toBe('on');
  expect(await linkUp()).toBe(true);
  if (opts.nodeStatus) expect(await timed(label, d, 'status')).toMatchObject({ ok: true, power: 'on' });
}

describe('fencing through ipmi_sim', () => {
  it('built-in ipmi (ipmitool lanplus -C 3 -f passfile)', async () => {
    await offOnCycle('ipmi', dev(['ipmi', ...sim!.stonithParams('beta')]), { nodeStatus: true });
  });

  it('fence_ipmilan, parameters on stdin, password through the shim', async () => {
    const d = dev(['fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${sim!.port}`, 'lanplus=1', 'cipher=3',
      'username=admin', `passfile=${sim!.passfile}`, 'power_wait=0']);
    await offOnCycle('fence_ipmilan power_wait=0', d, { nodeStatus: true });
  });

  it('fence_ipmilan with its default power_wait (2 s)', async () => {
    const d = dev(['fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${sim!.port}`, 'lanplus=1', 'cipher=3',
      'username=admin', `passfile=${sim!.passfile}`]);
    await offOnCycle('fence_ipmilan default', d, { nodeStatus: true });
  });

  it('an external/ plugin written here (environment parameters, gethosts)', async () => {
    const d = dev(['external/tdfipmi', 'target=beta', 'hostname=beta', 'ipaddr=127.0.0.1', `port=${sim!.port}`, 'userid=admin',
      `passfile=${sim!.passfile}`]);
    await offOnCycle('external/tdfipmi', d, { nodeStatus: false });
  });

  it("cluster-glue's own external/ipmi (passwd_method=file)", async () => {
    const d = dev(['external/ipmi', 'target=beta', 'hostname=beta', 'ipaddr=127.0.0.1', 'userid=admin', 'passwd_method=file',
      `passwd=${sim!.passfile}`, `interface=lanplus%20-C%203%20-p%20${sim!.port}`]);
    await offOnCycle('external/ipmi (cluster-glue)', d, { nodeStatus: false });
  });

  it('an external plugin whose gethosts does not list the target is refused, the power stays on', async () => {
    const d = dev(['external/ipmi', 'target=beta', 'hostname=alpha', 'ipaddr=127.0.0.1', 'userid=admin', 'passwd_method=file',
      `passwd=${sim!.passfile}`, `interface=lanplus%20-C%203%20-p%20${sim!.port}`]);
    const r = await fence(d, 'off');
    expect(r.ok).toBe(false);
    expect(r.error).toContain('does not list beta among the hosts it controls (gethosts: alpha)');
    expect(sim!.power()).toBe('on');
  });
});

describe('unreachable devices fail within their bound', () => {
  it('ipmi: a port nobody listens on fails in about 2 s (ipmitool -N 1 -R 1), not 20 s', async () => {
    const port = await freeUdpPort();
    const d = dev(['ipmi', ...sim!.stonithParams('beta').map((p) => (p.startsWith('port=') ? `port=${port}` : p))]);
    const r = await timed('ipmi, nobody on the port', d, 'off');
    expect(r.ok).toBe(false);
    expect(r.error).toContain('ipmitool chassis power off failed (exit code 1)');
    expect(r.durationMs).toBeLessThan(3500);
  });

  it('ipmi: a frozen BMC fails the same way; the power is untouched', async () => {
    const d = dev(['ipmi', ...sim!.stonithParams('beta')]);
    sim!.freeze();
    try {
      const r = await timed('ipmi, BMC frozen', d, 'off');
      expect(r.ok).toBe(false);
      expect(r.durationMs).toBeLessThan(3500);
    } finally {
      sim!.thaw();
    }
    expect(sim!.power()).toBe('on');
  });

  it('ipmi: the hard deadline kills ipmitool even when its own retries would take longer', async () => {
    const port = await freeUdpPort();
    // Not writable in ha.cf (the parser demands timeout >= 2 x -N x (-R+1)); built by hand to test the kill.
    const d = { ...(dev(['ipmi', ...sim!.stonithParams('beta')]) as IpmiDevice), port, ipmitoolTimeoutS: 10, retries: 3, timeoutMs: 1500 };
    const r = await timed('ipmi, hard kill at 1.5 s', d, 'off');
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(r.durationMs).toBeGreaterThanOrEqual(1500);
    expect(r.durationMs).toBeLessThan(2300);
  });

  it('fence_ipmilan: fails in seconds through the shim (-R 1), where it alone takes 20 s', async () => {
    const port = await freeUdpPort();
    const d = dev(['fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${port}`, 'lanplus=1', 'cipher=3', 'username=admin',
      `passfile=${sim!.passfile}`, 'timeout=10']);
    const r = await timed('fence_ipmilan, nobody on the port', d, 'off');
    expect(r.ok).toBe(false);
    expect(r.timedOut).toBe(false);   // the agent gave up by itself
    expect(r.durationMs).toBeLessThan(4000);
  });

  it('fence_ipmilan without the shim (password_script) still fails within the device timeout', async () => {
    // No shim (the agent would hand the script's password to it on -P), so no
    // -R 1; the power_timeout tandem derives from timeout= bounds each call.
    const port = await freeUdpPort();
    const script = join(work, 'pw.sh');
    writeFileSync(script, `#!/bin/sh\ncat '${sim!.passfile}'\n`, { mode: 0o700 });
    const args = ['*', 'fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${port}`, 'lanplus=1', 'cipher=3', 'username=admin',
      `password_script=${script}`, 'timeout=4'];
    // The parser refuses this (the password would be on ipmitool's command line) ...
    expect(parseStonithHost(args, 'ha.cf', 1, NODES).issues.map((i) => i.message)).toEqual([
      'password_script: fence_ipmilan hands that password to ipmitool as -P, where ps can read it; use passfile= instead (tandem then has ipmitool read the file with -f)',
    ]);
    // ... but the adapter must still bound it.
    const d = parseStonithHost(args, 'ha.cf', 1, NODES, { checkFiles: false }).device!;
    const r = await timed('fence_ipmilan password_script, timeout=4', d, 'off');
    expect(r.ok).toBe(false);
    expect(r.durationMs).toBeLessThan(4800);
  });

  it('a blackholed BMC address in a namespace: ipmi and fence_ipmilan both fail within the bound', async () => {
    const devices: Array<[string, StonithDevice]> = [
      ['ipmi, blackholed address', dev(['ipmi', 'target=beta', `host=${BLACKHOLE}`, 'user=admin', `passfile=${sim!.passfile}`])],
      ['fence_ipmilan, blackholed address', dev(['fence_ipmilan', 'target=beta', `ip=${BLACKHOLE}`, 'lanplus=1', 'cipher=3',
        'username=admin', `passfile=${sim!.passfile}`, 'timeout=6'])],
    ];
    // fence() acts in its caller's namespace, so it runs in a node inside MGMT.
    const code = `
      const [dist, json, action] = process.argv.slice(1);
      const { fence } = await import(dist + '/src/fencing/devices.js');
      process.stdout.write(JSON.stringify(await fence(JSON.parse(json), action)));`;
    for (const [label, d] of devices) {
      const { stdout } = await nsExec(MGMT, process.execPath, ['--input-type=module', '-e', code, join(ROOT, 'dist'), JSON.stringify(d), 'off'],
        { timeoutMs: 20_000 });
      const r = JSON.parse(stdout) as FenceResult;
      timings.push([label, r.durationMs]);
      expect(r.ok).toBe(false);
      expect(r.durationMs).toBeLessThan(d.type === 'ipmi' ? 3500 : 6800);
    }
  });
});

describe('credentials never on a command line', () => {
  /** A separate process scanning every /proc/<pid>/cmdline as fast as it can until its stdin closes. */
  function startSampler(needle: string): { stop: () => Promise<{ scans: number; hits: string[]; toolScans: number }> } {
    const code = `
      const fs = require('node:fs');
      const needle = process.argv[1];
      let stop = false, scans = 0, toolScans = 0; const hits = new Set();
      process.stdin.on('end', () => { stop = true; }); process.stdin.resume();
      function scan() {
        let tool = false;
        for (const p of fs.readdirSync('/proc')) {
          if (p.charCodeAt(0) > 57 || p === String(process.pid)) continue;
          let c; try { c = fs.readFileSync('/proc/' + p + '/cmdline', 'latin1'); } catch { continue; }
          if (c.includes(needle)) hits.add(c.split('\\0').join(' ').slice(0, 300));
          if (c.includes('ipmitool') || c.includes('fence_ipmilan') || c.includes('tdfipmi') || c.includes('external/ipmi')) tool = true;
        }
        scans++; if (tool) toolScans++;
        if (stop) { process.stdout.write(JSON.stringify({ scans, toolScans, hits: [...hits] })); return; }
        setImmediate(scan);
      }
      scan();`;
    const child = spawn(process.execPath, ['-e', code, needle], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    return {
      stop: () => new Promise((res) => {
        child.once('close', () => res(JSON.parse(out) as { scans: number; hits: string[]; toolScans: number }));
        child.stdin.end();
      }),
    };
  }

  it('the sampler does see a secret on a command line (control)', async () => {
    const sampler = startSampler(PASSWORD);
    await new Promise((r) => setTimeout(r, 100));
    const leak = spawn('sh', ['-c', 'sleep 0.5', PASSWORD], { stdio: 'ignore' });
    await new Promise((r) => leak.once('exit', r));
    const res = await sampler.stop();
    expect(res.hits.length).toBeGreaterThan(0);
  });

  it('no process shows the password while fencing through every type', async () => {
    const sampler = startSampler(PASSWORD);
    const devices = [
      dev(['ipmi', ...sim!.stonithParams('beta')]),
      dev(['fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${sim!.port}`, 'lanplus=1', 'cipher=3', 'username=admin',
        `passfile=${sim!.passfile}`, 'power_wait=0']),
      dev(['fence_ipmilan', 'target=beta', 'ip=127.0.0.1', `ipport=${sim!.port}`, 'lanplus=1', 'cipher=3', 'username=admin',
        `password=@${sim!.passfile}`, 'power_wait=0']),
      dev(['external/tdfipmi', 'target=beta', 'hostname=beta', 'ipaddr=127.0.0.1', `port=${sim!.port}`, 'userid=admin', `passfile=${sim!.passfile}`]),
      dev(['external/ipmi', 'target=beta', 'hostname=beta', 'ipaddr=127.0.0.1', 'userid=admin', 'passwd_method=file',
        `passwd=${sim!.passfile}`, `interface=lanplus%20-C%203%20-p%20${sim!.port}`]),
    ];
    try {
      for (let round = 0; round < 3; round++) {
        for (const d of devices) {
          for (const a of ['off', 'on', 'status'] as const) {
            const r = await fence(d, a);
            expect(r.ok, `${d.type} ${a}: ${r.error}`).toBe(true);
          }
        }
      }
    } finally {
      const res = await sampler.stop();
      console.log(`cmdline sampler: ${res.scans} scans of /proc, ${res.toolScans} while a fencing tool ran`);
      expect(res.hits).toEqual([]);
      expect(res.toolScans).toBeGreaterThan(20);
    }
  });
});

describe('lab/ipmi.ts inside a namespace (how the pair lab gives each node a switch)', () => {
  it('listens on the namespace\'s own 127.0.0.1:623, and its hook runs there before the reply', async () => {
    const marker = join(work, 'ns-hook-ran');
    const nsSim = await IpmiSim.start({
      name: 'tdf-ns', dir: join(work, 'bmc-ns'), netns: MGMT, password: PASSWORD,
      onPowerOff: `if ip link show dev bh0 >/dev/null 2>&1; then echo in-mgmt; else echo elsewhere; fi > ${marker}`, power: 'on',
    });
    try {
      expect(nsSim.port).toBe(623);
      expect(await nsSim.ipmitool('chassis', 'power', 'status')).toContain('Chassis Power is on');
      const d = dev(['ipmi', ...nsSim.stonithParams('beta')]);
      const code = `
        const [dist, json] = process.argv.slice(1);
        const { fence } = await import(dist + '/src/fencing/devices.js');
        process.stdout.write(JSON.stringify(await fence(JSON.parse(json), 'off')));`;
      const { stdout } = await nsExec(MGMT, process.execPath, ['--input-type=module', '-e', code, join(ROOT, 'dist'), JSON.stringify(d)]);
      expect(JSON.parse(stdout)).toMatchObject({ ok: true, power: 'off', confirmedBy: 'status' });
      expect(nsSim.power()).toBe('off');
      // The hook saw the namespace's links (bh0 exists only in MGMT).
      expect((await sh('cat', [marker])).stdout.trim()).toBe('in-mgmt');
      // From the host's loopback there is nothing on that port.
      expect((await fence(d, 'status')).ok).toBe(false);
    } finally {
      await nsSim.stop();
    }
  });
});
