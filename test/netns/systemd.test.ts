// tandem under systemd, without a running systemd: the shipped units pass
// `systemd-analyze verify`, and the daemon speaks sd_notify(3) to a unix
// datagram socket playing systemd's (READY=1, WATCHDOG=1 at half
// WatchdogSec, STOPPING=1 on SIGTERM), on a path and on an abstract
// address, and prefixes its stderr lines for journald.
// Traffic stays inside the namespaces this file creates (prefix tdsd, 10.223.2.x).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Pair } from '../../lab/pair.js';
import { sleep, waitFor } from '../../lab/sh.js';

const ROOT = resolve(__dirname, '../..');
const UNITS = ['tandem.service', 'tandem-arbiter.service'];

function need(bin: string, pkg: string): void {
  if (!existsSync(bin)) throw new Error(`${bin} not found: install the Debian package '${pkg}'`);
}

/** systemd-analyze verify of the shipped unit files, unchanged, in a scratch root that has systemd's own units and a /usr/bin/tandem. */
function verify(units: Record<string, string>): { status: number | null; out: string } {
  need('/usr/bin/systemd-analyze', 'systemd');
  const root = mkdtempSync(join(tmpdir(), 'tandem-unit-root-'));
  try {
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/tandem'), `#!/bin/sh\nexec node ${join(ROOT, 'bin/tandem')} "$@"\n`, { mode: 0o755 });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const [name, text] of Object.entries(units)) writeFileSync(join(root, 'etc/systemd/system', name), text);
    // Documentation=man:... is checked too: point man(1) at the repository's pages.
    const r = spawnSync('/usr/bin/systemd-analyze', ['verify', `--root=${root}`, ...Object.keys(units)], {
      encoding: 'utf8', cwd: root, env: { ...process.env, MANPATH: join(ROOT, 'docs/man') }, timeout: 60_000,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('the shipped systemd units', () => {
  const shipped = Object.fromEntries(UNITS.map((u) => [u, readFileSync(join(ROOT, 'contrib/systemd', u), 'utf8')]));

  it('pass systemd-analyze verify without a single warning', () => {
    const r = verify(shipped);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('the check sees a broken unit (so a pass above means something)', () => {
    const broken = shipped['tandem.service']!.replace('Type=notify', 'Type=notfy').replace('KillMode=mixed', 'KillMode=mixed\nWatchdogSecs=5');
    const r = verify({ 'tandem.service': broken });
    expect(r.out).toMatch(/Failed to parse service type.*notfy/);
    expect(r.out).toMatch(/Unknown key 'WatchdogSecs'/);
  });

  it('ask for notify with a watchdog well over twice the default keepalive', () => {
    const u = shipped['tandem.service']!;
    expect(u).toMatch(/^Type=notify$/m);
    expect(u).toMatch(/^WatchdogSec=10s$/m);
    expect(u).toMatch(/^KillMode=mixed$/m);
  });
});

/** A unix datagram socket playing systemd's notification socket: every datagram with its arrival time (monotonic ms). */
class NotifyListener {
  private proc?: ChildProcess;
  constructor(readonly address: string, private readonly out: string, private readonly netns?: string) {}

  async start(): Promise<void> {
    need('/usr/bin/python3', 'python3');
    const py = [
      'import socket, sys, time, json',
      'addr = sys.argv[1]',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      "s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)",
      "f = open(sys.argv[2], 'a', buffering=1)",
      "print('listening', flush=True)",
      'while True:',
      '    d = s.recv(8192)',
      "    f.write(json.dumps({'t': time.monotonic() * 1000, 'msg': d.decode()}) + '\\n')",
    ].join('\n');
    const cmd = this.netns ? ['ip', 'netns', 'exec', this.netns, '/usr/bin/python3'] : ['/usr/bin/python3'];
    const p = this.proc = spawn(cmd[0]!, [...cmd.slice(1), '-c', py, this.address, this.out], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      p.stdout!.once('data', () => res());
      p.once('exit', (c) => rej(new Error(`notify listener exited (${c})`)));
    });
  }

  messages(): Array<{ t: number; msg: string }> {
    if (!existsSync(this.out)) return [];
    return readFileSync(this.out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: number; msg: string });
  }

  stop(): void { this.proc?.kill('SIGKILL'); }
}

describe.sequential('sd_notify from a running daemon', () => {
  const work = join(tmpdir(), 'tandem-systemd');
  const p = new Pair({ prefix: 'tdsd', net: '10.223.2', workDir: work });
  let pathListener: NotifyListener;
  let abstractListener: NotifyListener;
  const WATCHDOG_USEC = 1_000_000;   // pings every 500 ms; keepalive is 100 ms

  beforeAll(async () => {
    await p.setup();
    const dir = join(p.dir('alpha'), '..');
    pathListener = new NotifyListener(join(dir, 'notify.sock'), join(dir, 'notify-alpha.jsonl'));
    // Abstract unix addresses belong to a network namespace: the listener sits in beta's.
    abstractListener = new NotifyListener(`@tandem-test-notify-${process.pid}`, join(dir, 'notify-beta.jsonl'), p.ns.beta);
    await pathListener.start();
    await abstractListener.start();
    // stderr is a file here; JOURNAL_STREAM names its device:inode, as systemd does for the journal's stream.
    writeFileSync(p.logFile('alpha'), '');
    const st = statSync(p.logFile('alpha'));
    p.startTandem('alpha', [], {
      NOTIFY_SOCKET: pathListener.address, WATCHDOG_USEC: String(WATCHDOG_USEC), JOURNAL_STREAM: `${st.dev}:${st.ino}`,
    });
    p.startTandem('beta', [], { NOTIFY_SOCKET: abstractListener.address });
  }, 120_000);
  afterAll(async () => {
    pathListener?.stop();
    abstractListener?.stop();
    await p.cleanup();
  });

  it('says READY=1 once running, then WATCHDOG=1 every WatchdogSec/2', async () => {
    await waitFor('READY=1 from alpha', async () => (pathListener.messages().some((m) => m.msg.startsWith('READY=1')) ? true : undefined), 20_000);
    await sleep(3200);
    const msgs = pathListener.messages();
    const ready = msgs.findIndex((m) => m.msg.startsWith('READY=1'));
    expect(ready).toBe(0);
    expect(msgs[0]!.msg).toMatch(/^READY=1\nSTATUS=node alpha, generation \d+\nMAINPID=\d+$/);
    const pings = msgs.filter((m) => m.msg === 'WATCHDOG=1');
    expect(pings.length).toBeGreaterThanOrEqual(5);
    const gaps = pings.slice(1).map((m, i) => m.t - pings[i]!.t);
    // Half of WatchdogSec, late by at most one keepalive tick (100 ms) plus scheduling noise.
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(WATCHDOG_USEC / 2000 - 5);
      expect(g).toBeLessThan(WATCHDOG_USEC / 2000 + 150);
    }
    // Nothing but READY and pings so far.
    expect(msgs.filter((m) => m.msg !== 'WATCHDOG=1' && !m.msg.startsWith('READY=1'))).toEqual([]);
  });

  it('a stalled loop stops feeding the watchdog', async () => {
    const pid = p.procs.alpha!.pid!;
    const before = pathListener.messages().filter((m) => m.msg === 'WATCHDOG=1').length;
    process.kill(pid, 'SIGSTOP');
    await sleep(1500);
    const during = pathListener.messages().filter((m) => m.msg === 'WATCHDOG=1').length;
    process.kill(pid, 'SIGCONT');
    expect(during - before).toBeLessThanOrEqual(1);   // at most one already in flight
    await waitFor('pings to resume', async () => (pathListener.messages().filter((m) => m.msg === 'WATCHDOG=1').length > during + 1 ? true : undefined), 5000);
  });

  it('reaches an abstract @ address too', async () => {
    await waitFor('READY=1 from beta', async () => (abstractListener.messages().some((m) => m.msg.startsWith('READY=1\nSTATUS=node beta')) ? true : undefined), 20_000);
    // No WATCHDOG_USEC for beta: no pings.
    await sleep(700);
    expect(abstractListener.messages().filter((m) => m.msg === 'WATCHDOG=1')).toEqual([]);
  });

  it('prefixes stderr lines with their syslog priority when stderr is the journal stream', () => {
    const lines = readFileSync(p.logFile('alpha'), 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatch(/^<[3467]>alpha (ERROR|WARN |INFO |DEBUG) /);
    expect(lines.some((l) => /^<6>alpha INFO  starting: node alpha/.test(l))).toBe(true);
    // beta's stderr is not a journal stream: plain lines with a timestamp.
    const beta = readFileSync(p.logFile('beta'), 'utf8').split('\n').filter(Boolean);
    expect(beta[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z beta INFO  /);
  });

  it('says STOPPING=1 on SIGTERM, before the daemon releases its groups and exits', async () => {
    expect(await p.stopTandem('alpha')).toBe(0);
    const msgs = pathListener.messages();
    const stopping = msgs.findIndex((m) => m.msg.startsWith('STOPPING=1'));
    expect(stopping).toBeGreaterThan(0);
    expect(msgs[stopping]!.msg).toMatch(/^STOPPING=1\nSTATUS=releasing resource groups \(SIGTERM\)$/);
    // The stop is announced before "stopped" is logged.
    const log = readFileSync(p.logFile('alpha'), 'utf8');
    expect(log).toMatch(/<6>alpha INFO  shutting down \(SIGTERM\)[\s\S]*<6>alpha INFO  stopped/);
  });
});
