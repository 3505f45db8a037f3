// tandem under systemd, without a running systemd: the daemon and the
// arbiter speak sd_notify(3) to a unix datagram socket playing systemd's
// (READY=1, WATCHDOG=1 at half WatchdogSec, STOPPING=1 on SIGTERM), on a
// path and on an abstract address, and the daemon prefixes its stderr lines
// for journald. The unit files themselves: test/system/systemd-unit.test.ts.
// Traffic stays inside the namespaces this file creates (prefix tdsd, 10.223.2.x).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Pair } from '../../lab/pair.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(__dirname, '../..');

/** A unix datagram socket playing systemd's notification socket: every datagram with its arrival time (monotonic ms). */
class NotifyListener {
  private proc?: ChildProcess;
  constructor(readonly address: string, private readonly out: string, private readonly netns?: string) {}

  async start(): Promise<void> {
    need('/usr/bin/python3');
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
  const WATCHDOG_USEC = 2_000_000;   // WatchdogSec=2s: pings every 1000 ms; keepalive is 100 ms

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
    await sleep(5500);
    const msgs = pathListener.messages();
    const ready = msgs.findIndex((m) => m.msg.startsWith('READY=1'));
    expect(ready).toBe(0);
    expect(msgs[0]!.msg).toMatch(/^READY=1\nSTATUS=node alpha, generation \d+\nMAINPID=\d+$/);
    const pings = msgs.filter((m) => m.msg === 'WATCHDOG=1');
    // About five in 5.5 s; at least one per WatchdogSec is what systemd requires.
    expect(pings.length).toBeGreaterThanOrEqual(3);
    const gaps = pings.slice(1).map((m, i) => m.t - pings[i]!.t).sort((a, b) => a - b);
    const half = WATCHDOG_USEC / 2000;
    // Never more often than a quarter of WatchdogSec (a late ping is followed by one on the
    // original cadence), and never so late that systemd would have killed
    // the daemon. How late within that depends on the host's load (a full parallel run on 2 cores
    // gave a median of 1.4 s): the cadence is a benchmark figure, not a test assertion.
    expect(gaps[0]).toBeGreaterThanOrEqual(half / 2 - 5);
    expect(gaps.at(-1)).toBeLessThan(2 * half);
    // Nothing but READY and pings so far.
    expect(msgs.filter((m) => m.msg !== 'WATCHDOG=1' && !m.msg.startsWith('READY=1'))).toEqual([]);
  });

  it('a stalled loop stops feeding the watchdog', async () => {
    const pid = p.procs.alpha!.pid!;
    const before = pathListener.messages().filter((m) => m.msg === 'WATCHDOG=1').length;
    process.kill(pid, 'SIGSTOP');
    await sleep(2500);
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

describe.sequential('sd_notify from the arbiter', () => {
  it('says READY=1 once it listens and STOPPING=1 on SIGTERM', async () => {
    const dir = join(tmpdir(), `tandem-systemd-arbiter-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const keys = join(dir, 'keys');
    writeFileSync(keys, 'auth 1\n1 sha256 arbiter-test-secret\n', { mode: 0o600 });
    chmodSync(keys, 0o600);
    const listener = new NotifyListener(join(dir, 'notify.sock'), join(dir, 'notify.jsonl'));
    await listener.start();
    // 127.0.0.1 and a port of its own: nothing leaves this host.
    const arb = spawn(process.execPath, [join(ROOT, 'bin/tandem'), 'arbiter', '--listen', '127.0.0.1:17619', '--state-dir', join(dir, 'state'), '--keys', keys], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: listener.address },
    });
    let stderr = '';
    arb.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      await waitFor('READY=1 from the arbiter', async () => (listener.messages().length ? true : undefined), 15_000);
      expect(listener.messages().map((m) => m.msg)).toEqual(['READY=1\nSTATUS=listening on 127.0.0.1:17619']);
      const exited = new Promise<number | null>((r) => arb.once('exit', (c) => r(c)));
      arb.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      expect(listener.messages().map((m) => m.msg)).toEqual(['READY=1\nSTATUS=listening on 127.0.0.1:17619', 'STOPPING=1']);
    } finally {
      arb.kill('SIGKILL');
      listener.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
