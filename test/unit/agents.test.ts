import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agents/index.js';
import { parseIpAddrArgs } from '../../src/agents/ipaddr.js';
import { announce as sendGratuitousArp } from '../../src/net/announce.js';
import { ARPOP_REPLY, ARPOP_REQUEST, GARP_FRAME_LEN, buildGarpFrame } from '../../src/net/frames.js';
import { NetCore } from '../../src/net/core.js';
import { Netlink } from '../../src/net/netlink.js';
import { SCRIPT_ENV, ScriptAgent, findScript, interpretStatus } from '../../src/agents/script.js';
import type { AgentContext } from '../../src/agents/types.js';
import type { Resource } from '../../src/config/types.js';
import { UserError } from '../../src/util/errors.js';

function res(spec: string): Resource {
  const [agent = '', ...args] = spec.split('::');
  return { spec, agent, args };
}

/** Captures the rejection so both its class and its text can be checked. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Alive and not a zombie (an orphan may wait a while for init to reap it). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitDead(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !pidAlive(pid);
}

describe('gratuitous ARP frame', () => {
  const mac = Buffer.from([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

  for (const [op, name, tha] of [
    [ARPOP_REQUEST, 'request', [0, 0, 0, 0, 0, 0]],
    [ARPOP_REPLY, 'reply', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ] as const) {
    it(`${name}: every field`, () => {
      const f = buildGarpFrame(mac, '10.210.3.77', op);
      expect(f.length).toBe(GARP_FRAME_LEN);
      expect(f.length).toBe(42);
      expect([...f.subarray(0, 6)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // eth dst: broadcast
      expect([...f.subarray(6, 12)]).toEqual([...mac]);                            // eth src
      expect([...f.subarray(12, 14)]).toEqual([0x08, 0x06]);                       // ethertype ARP
      expect([...f.subarray(14, 16)]).toEqual([0x00, 0x01]);                       // htype Ethernet
      expect([...f.subarray(16, 18)]).toEqual([0x08, 0x00]);                       // ptype IPv4
      expect(f[18]).toBe(6);                                                       // hlen
      expect(f[19]).toBe(4);                                                       // plen
      expect([...f.subarray(20, 22)]).toEqual([0x00, op]);                         // operation
      expect([...f.subarray(22, 28)]).toEqual([...mac]);                           // sender MAC
      expect([...f.subarray(28, 32)]).toEqual([10, 210, 3, 77]);                   // sender IP = VIP
      expect([...f.subarray(32, 38)]).toEqual([...tha]);                           // target MAC
      expect([...f.subarray(38, 42)]).toEqual([10, 210, 3, 77]);                   // target IP = VIP
    });
  }

  it('refuses malformed input', () => {
    expect(() => buildGarpFrame(Buffer.alloc(5), '10.0.0.1', ARPOP_REQUEST)).toThrow(/6 bytes/);
    expect(() => buildGarpFrame(mac, '10.0.0.256', ARPOP_REQUEST)).toThrow(/not an IPv4/);
    expect(() => buildGarpFrame(mac, '10.0.0', ARPOP_REQUEST)).toThrow(/not an IPv4/);
  });

  it('reports an unknown interface as an operator error', async () => {
    const e = await rejection(sendGratuitousArp('tdagnope0', '10.210.3.77', { count: 2, intervalMs: 10 }));
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(/cannot send gratuitous ARP for 10\.210\.3\.77 on tdagnope0: .*No such device/);
  });

  it('sends nothing for count 0 or an already aborted signal', async () => {
    await expect(sendGratuitousArp('tdagnope0', '10.210.3.77', { count: 0, intervalMs: 10 })).resolves.toBeUndefined();
    await expect(sendGratuitousArp('tdagnope0', '10.210.3.77', { count: 3, intervalMs: 10 }, AbortSignal.abort()))
      .resolves.toBeUndefined();
    await expect(sendGratuitousArp('tdagnope0', '10.210.3.77', { count: -1, intervalMs: 10 })).rejects.toThrow(/arp_count/);
  });
});

describe('IPaddr arguments', () => {
  it('accepts the haresources forms', () => {
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5'))).toEqual({ family: 4, ip: '10.210.3.5', arpCount: 5, arpIntervalMs: 200 });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5/24'))).toMatchObject({ prefixLen: 24 });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5/24/eth1'))).toMatchObject({ prefixLen: 24, nic: 'eth1' });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5/24/eth1/10.210.3.255')))
      .toMatchObject({ prefixLen: 24, nic: 'eth1', broadcast: '10.210.3.255' });
    expect(parseIpAddrArgs(res('IPaddr::10.210.3.5/255.255.254.0/eth0:1')))
      .toMatchObject({ prefixLen: 23, nic: 'eth0', label: 'eth0:1' });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5/eth0.100'))).toMatchObject({ nic: 'eth0.100' });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5//eth1'))).toEqual({ family: 4, ip: '10.210.3.5', nic: 'eth1', arpCount: 5, arpIntervalMs: 200 });
    expect(parseIpAddrArgs(res('IPaddr2::10.210.3.5/24/eth1::arp_count=2::arp_interval=50')))
      .toMatchObject({ arpCount: 2, arpIntervalMs: 50 });
  });

  it.each([
    ['IPaddr2', /needs an address/],
    ['IPaddr2::10.210.3.300/24', /"10\.210\.3\.300" is not an IPv4 address/],
    ['IPaddr2::10.210.3.5/33', /prefix length "33" is not in 1\.\.32/],
    ['IPaddr2::10.210.3.5/255.0.255.0/eth0', /not a valid netmask/],
    ['IPaddr2::10.210.3.5/24/eth0/10.210.3', /broadcast "10\.210\.3" is not an IPv4 address/],
    ['IPaddr2::10.210.3.5/24/eth0/10.210.3.255/x', /too many "\/" fields/],
    ['IPaddr2::10.210.3.5/24/bad name', /not a valid interface name/],
    ['IPaddr2::10.210.3.5::arp_count=many', /arp_count must be a whole number/],
    ['IPaddr2::10.210.3.5::arp_interval=0', /arp_interval must be 1\.\.60000/],
    ['IPaddr2::10.210.3.5::lvs_support=true', /unknown argument "lvs_support=true"/],
  ])('%s is refused clearly', (spec, msg) => {
    let err: unknown;
    try {
      parseIpAddrArgs(res(spec));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(`resource "${spec}"`);
    expect((err as Error).message).toMatch(msg);
  });
});

describe('status verdicts', () => {
  it.each([
    [0, '', '', 'running'],
    [0, 'running\n', '', 'running'],
    [0, 'OK\n', '', 'running'],
    [0, 'httpd is not running\n', '', 'stopped'],
    [0, 'stopped\n', '', 'stopped'],
    [3, '', '', 'stopped'],
    [3, 'running', '', 'stopped'],
    [1, 'svc is not running\n', '', 'stopped'],
    [1, '', 'pid file exists', undefined],
    [4, 'running', '', undefined],
  ] as const)('exit %i, stdout %j, stderr %j -> %s', (code, stdout, stderr, want) => {
    expect(interpretStatus({ code, stdout, stderr })).toBe(want);
  });
});

describe('script agents (real scripts)', () => {
  let root: string;
  let ctx: AgentContext;
  let logs: string[];
  let nl: NetCore;

  beforeAll(() => {
    nl = NetCore.open();
  });
  afterAll(() => {
    nl.close();
  });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tdag-unit-'));
    mkdirSync(join(root, 'conf', 'resource.d'), { recursive: true });
    mkdirSync(join(root, 'init'));
    logs = [];
    ctx = {
      configDir: join(root, 'conf'),
      initDir: join(root, 'init'),
      scriptTimeoutMs: 5000,
      log: (level, msg) => logs.push(`${level}: ${msg}`),
    };
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  /** Writes an executable script (mode 0755 unless given) and returns its path. */
  function script(where: 'resource.d' | 'init', name: string, body: string, mode = 0o755): string {
    const path = where === 'init' ? join(root, 'init', name) : join(root, 'conf', 'resource.d', name);
    writeFileSync(path, body.startsWith('#!') ? body : `#!/bin/sh\n${body}\n`);
    chmodSync(path, mode);
    return path;
  }

  function agentFor(spec: string) {
    return createAgent(res(spec), ctx, nl);
  }

  it('finds resource.d before init.d, and skips a non-executable file', () => {
    const rd = script('resource.d', 'svc', 'exit 0');
    const init = script('init', 'svc', 'exit 0');
    expect(findScript('svc', ctx)).toBe(rd);
    chmodSync(rd, 0o644);
    expect(findScript('svc', ctx)).toBe(init);
  });

  it('names both places and the reason when no script is usable', () => {
    const e1 = (() => { try { agentFor('nosuch::x'); } catch (e) { return e as Error; } })();
    expect(e1).toBeInstanceOf(UserError);
    expect(e1?.message).toContain('unknown resource agent "nosuch"');
    expect(e1?.message).toContain(join(root, 'conf', 'resource.d', 'nosuch'));
    expect(e1?.message).toContain(join(root, 'init', 'nosuch'));

    script('init', 'noexec', 'exit 0', 0o644);
    expect(() => agentFor('noexec')).toThrow(/init\/noexec exists but is not executable \(chmod \+x it\)/);
    mkdirSync(join(root, 'init', 'adir'));
    expect(() => agentFor('adir')).toThrow(/adir is not a regular file/);
    expect(() => agentFor('../init/x')).toThrow(/not a plain file name/);
  });

  it('start and stop pass the arguments unsplit, then the operation', async () => {
    const out = join(root, 'args');
    script('resource.d', 'svc', `printf '%s|' "$@" >> ${out}; echo >> ${out}`);
    const a = agentFor('svc::one two::three');
    await a.start();
    await a.stop();
    expect(readFileSync(out, 'utf8')).toBe('one two|three|start|\none two|three|stop|\n');
  });

  it('a failing start rejects with the exit code and the end of stderr', async () => {
    script('init', 'svc', 'echo "noise on stdout"; echo "line 1" >&2; echo "config error at line 3" >&2; exit 1');
    const e = await rejection(agentFor('svc').start());
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(
      `resource "svc": ${join(root, 'init', 'svc')} start failed with exit code 1: line 1 / config error at line 3`,
    );
  });

  it('a failing stop without stderr shows stdout, and a signal is named', async () => {
    script('init', 'svc', '[ "$1" = stop ] && { echo "cannot stop: busy"; exit 7; }; kill -SEGV $$');
    expect((await rejection(agentFor('svc').stop())).message).toMatch(/stop failed with exit code 7: cannot stop: busy$/);
    expect((await rejection(agentFor('svc').start())).message).toMatch(/start failed with signal SIGSEGV: \(no output\)$/);
  });

  it('status follows both Heartbeat texts and LSB exit codes', async () => {
    const cases: [string, 'running' | 'stopped'][] = [
      ['exit 0', 'running'],
      ['echo running', 'running'],
      ['echo "[  OK  ]"', 'running'],
      ['echo "svc is not running"; exit 0', 'stopped'],
      ['echo stopped', 'stopped'],
      ['exit 3', 'stopped'],
      ['echo "svc is not running"; exit 1', 'stopped'],
    ];
    script('init', 'svc', 'exit 0');
    const a = agentFor('svc');
    for (const [body, want] of cases) {
      script('init', 'svc', body);
      expect(await a.status(), body).toBe(want);
    }
    script('init', 'svc', 'echo "something odd" >&2; exit 4');
    expect((await rejection(a.status())).message)
      .toMatch(/status ended with exit code 4 and gave no running\/stopped verdict: something odd$/);
  });

  it('a hanging script is killed with its process group and reported as timed out', async () => {
    const pidfile = join(root, 'pid');
    script('init', 'hang', `sleep 30 & echo $! > ${pidfile}; wait`);
    ctx.scriptTimeoutMs = 300;
    const t0 = Date.now();
    const e = await rejection(agentFor('hang').start());
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe(`resource "hang": ${join(root, 'init', 'hang')} start timed out after 300 ms; its processes were killed`);
    expect(Date.now() - t0).toBeLessThan(2000);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    expect(await waitDead(pid, 2000)).toBe(true);
  });

  it('a script that ignores SIGTERM gets SIGKILL', async () => {
    const pidfile = join(root, 'pid');
    script('init', 'stubborn', `trap '' TERM; sleep 30 & echo $! > ${pidfile}; wait; wait`);
    ctx.scriptTimeoutMs = 200;
    const t0 = Date.now();
    expect((await rejection(agentFor('stubborn').status())).message).toMatch(/status timed out after 200 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000); // the SIGTERM grace
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await waitDead(Number(readFileSync(pidfile, 'utf8')), 2000)).toBe(true);
  });

  it('a service left running in the background does not hold up start', async () => {
    const pidfile = join(root, 'pid');
    // The backgrounded sleep inherits stdout/stderr, so waiting for the pipes
    // to close would take 30 s.
    script('resource.d', 'daemonish', `sleep 30 & echo $! > ${pidfile}; echo "started"; exit 0`);
    let pid = 0;
    try {
      const t0 = Date.now();
      await agentFor('daemonish').start();
      expect(Date.now() - t0).toBeLessThan(1500);
      pid = Number(readFileSync(pidfile, 'utf8'));
      expect(pidAlive(pid)).toBe(true); // still running: it was left alone, not killed
    } finally {
      if (!pid) {
        try { pid = Number(readFileSync(pidfile, 'utf8')); } catch { /* never started */ }
      }
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('runs with a fixed environment and without the daemon\'s sockets', async () => {
    process.env.TANDEM_UNIT_SECRET = 'do-not-leak';
    const envOut = join(root, 'env');
    const fdOut = join(root, 'fds');
    // The listing runs in a subshell so that its redirection does not change
    // the fds of the script being inspected.
    script('init', 'probe', `env > ${envOut}; pwd >> ${envOut}; (cd /proc/$$/fd && for f in *; do echo "$f $(readlink $f)"; done) > ${fdOut}`);
    try {
      await agentFor('probe').start();
    } finally {
      delete process.env.TANDEM_UNIT_SECRET;
    }
    const env = readFileSync(envOut, 'utf8');
    expect(env).toContain(`PATH=${SCRIPT_ENV.PATH}\n`);
    expect(env).toContain('LC_ALL=C\n');
    expect(env).not.toContain('do-not-leak');
    expect(env.trimEnd().endsWith('\n/')).toBe(true); // cwd
    const fds = new Map(readFileSync(fdOut, 'utf8').trim().split('\n').map((l) => {
      const [fd = '', ...target] = l.split(' ');
      return [Number(fd), target.join(' ')] as const;
    }));
    expect(fds.get(0)).toBe('/dev/null');
    // Node's stdio "pipes" are socketpairs, so 1 and 2 are sockets; any other
    // socket would be one of ours leaking (this process holds a netlink
    // socket and the test runner's IPC channel).
    expect(fds.get(1)).toMatch(/^socket:/);
    const leaked = [...fds].filter(([fd, t]) => fd > 2 && t.startsWith('socket:'));
    expect(leaked).toEqual([]);
  });

  it('runs one operation at a time per resource', async () => {
    const log = join(root, 'order');
    script('init', 'slow', `echo "begin $1" >> ${log}; sleep 0.2; echo "end $1" >> ${log}`);
    const a = agentFor('slow');
    await Promise.all([a.start(), a.stop(), a.status()]);
    expect(readFileSync(log, 'utf8')).toBe('begin start\nend start\nbegin stop\nend stop\nbegin status\nend status\n');
  });

  it('reports a missing interpreter', async () => {
    script('init', 'badshebang', '#!/nonexistent/tandem-interp\nexit 0\n');
    expect((await rejection(agentFor('badshebang').start())).message)
      .toMatch(/cannot run .*badshebang: it, or the interpreter named on its #! line, does not exist/);
  });

  it('a script removed after configuration is reported, not crashed on', async () => {
    const p = script('init', 'svc', 'exit 0');
    const a = agentFor('svc');
    expect(a).toBeInstanceOf(ScriptAgent);
    rmSync(p);
    expect((await rejection(a.status())).message).toMatch(/^resource "svc": unknown resource agent "svc"/);
  });
});

describe('netlink handle lifecycle', () => {
  it('lists this namespace\'s interfaces, and refuses work once closed', async () => {
    const nl = Netlink.open();
    try {
      const ifs = await nl.interfaces();
      expect(ifs.find((i) => i.name === 'lo')).toMatchObject({ loopback: true });
      expect(await nl.interfaceIndex('lo')).toBe(ifs.find((i) => i.name === 'lo')?.index);
      const inFlight = nl.listAddresses();
      nl.close();
      expect(nl.closed).toBe(true);
      await expect(inFlight).rejects.toThrow(/netlink handle (is closed|was closed while a request was in progress)/);
      const e = await rejection(nl.interfaces());
      expect(e).toBeInstanceOf(UserError);
      expect(e.message).toBe('cannot do listing network interfaces: the netlink handle is closed');
    } finally {
      nl.close(); // a second close is harmless
    }
  });
});
