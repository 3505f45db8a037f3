// Redundant heartbeat paths end to end: two real tandem daemons in network
// namespaces with three paths between them (bcast on eth0, ucast on a second
// link eth1, and a serial null-modem cable made of a socat pty pair), cut
// one path at a time with real nftables rules and by killing the cable.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair, REPO_ROOT, type NodeName } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { encodeFrame } from '../../src/transport/serial-frame.js';
import { encode } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';
import type { StatusReport } from '../../src/daemon/status.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, 'nft'));

const DIR = join(tmpdir(), `tandem-paths-${process.pid}`);   // apart from any parallel run
const TTY: Record<NodeName, string> = { alpha: join(DIR, 'ttyA'), beta: join(DIR, 'ttyB') };
const NOTIFY = join(DIR, 'notify.sh');
const NET1 = '10.214.2';   // the second, direct link alpha eth1 <-> beta eth1

const SERIAL = (n: NodeName) => `serial ${TTY[n]}`;
const UCAST = (n: NodeName) => `ucast eth1 ${NET1}.${n === 'alpha' ? 2 : 1}`;   // the line that names the peer
const ETH_PATHS = (n: NodeName) => ['bcast eth0', UCAST(n)];

const p = new Pair({
  prefix: 'tdpa', net: '10.214.1', workDir: join(DIR, 'pair'), media: 'bcast',
  keepalive: '100ms', warntime: '200ms', deadtime: '400ms', initdead: '2', autoFailback: 'off',
  extraHaCf: Object.fromEntries((['alpha', 'beta'] as const).map((n) => [n, [
    `ucast eth1 ${NET1}.1`, `ucast eth1 ${NET1}.2`,   // identical on both; each node skips its own address
    'baud 115200', SERIAL(n), `notify ${NOTIFY}`,
  ]])),
});

let cable: ChildProcess | undefined;
let healed = true;   // no nft cut left in alpha's namespace

async function plugCable(): Promise<void> {
  rmSync(TTY.alpha, { force: true });
  rmSync(TTY.beta, { force: true });
  cable = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${TTY.alpha}`, `pty,raw,echo=0,link=${TTY.beta}`], { stdio: 'ignore' });
  await waitFor('the socat cable', async () => (existsSync(TTY.alpha) && existsSync(TTY.beta) ? true : undefined), 5000, 10);
}

async function pullCable(): Promise<void> {
  const c = cable;
  cable = undefined;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGKILL');
  await gone;
}

// Drops every heartbeat datagram in and out of one node's namespace: both UDP paths at once.
const cutEthernet = (n: NodeName) => sh('ip', ['netns', 'exec', p.ns[n], 'sh', '-c', `nft -f - <<'EOF'
table inet tdpa_cut {
  chain in { type filter hook input priority 0; udp dport 694 drop; }
  chain out { type filter hook output priority 0; udp dport 694 drop; }
}
EOF`]);
const healEthernet = (n: NodeName) => sh('ip', ['netns', 'exec', p.ns[n], 'nft', 'delete', 'table', 'inet', 'tdpa_cut']);

const status = (n: NodeName) => p.status(n) as unknown as Promise<StatusReport>;
const pathOf = (s: StatusReport, name: string) => {
  const x = s.paths.find((q) => q.name === name);
  if (!x) throw new Error(`no path '${name}' in ${s.paths.map((q) => q.name).join(', ')}`);
  return x;
};
const peerOf = (s: StatusReport) => s.nodes.find((x) => !x.self)!;

function notifications(n: NodeName): string[] {
  try { return readFileSync(join(DIR, `notify-${n}.log`), 'utf8').trim().split('\n').filter(Boolean); } catch { return []; }
}

async function logs(): Promise<string> {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').slice(-30).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

/** Runs `fn`; on failure the daemons' recent log lines are added to the error. */
async function withLogs(fn: () => Promise<void>): Promise<void> {
  try { await fn(); } catch (e) { throw new Error(`${(e as Error).message}\n${await logs()}`); }
}

const noFailover = async () => {
  for (const n of ['alpha', 'beta'] as const) {
    const s = await status(n);
    expect(peerOf(s).state).toBe('up');
    expect(s.groups[0]?.holder).toBe('alpha');
  }
  expect(await p.holdsVip('alpha')).toBe(true);
  expect(await p.holdsVip('beta')).toBe(false);
};

const alive = () => {
  for (const n of ['alpha', 'beta'] as const) {
    const c = p.procs[n];
    expect(c?.exitCode ?? null, `${n} exited`).toBeNull();
    expect(c?.signalCode ?? null, `${n} was killed`).toBeNull();
  }
};

describe.sequential('redundant heartbeat paths: ethernet x2 + serial', () => {
  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    writeFileSync(NOTIFY, `#!/bin/sh\necho "$1|$2|$TANDEM_NODE|$TANDEM_PEER" >> ${DIR}/notify-$TANDEM_NODE.log\n`);
    chmodSync(NOTIFY, 0o755);
    await plugCable();
    await p.setup();
    await sh('ip', ['link', 'add', 'eth1', 'netns', p.ns.alpha, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', p.ns.beta]);
    for (const [n, ip] of [['alpha', `${NET1}.1`], ['beta', `${NET1}.2`]] as const) {
      await sh('ip', ['-n', p.ns[n], 'addr', 'add', `${ip}/24`, 'brd', '+', 'dev', 'eth1']);
      await sh('ip', ['-n', p.ns[n], 'link', 'set', 'eth1', 'up']);
    }
    // Node lists only running interfaces, and veth carrier comes up asynchronously.
    for (const n of ['alpha', 'beta'] as const) {
      await waitFor(`${n} eth1 running`, async () => (/\bUP\b/.test(await sh('ip', ['-n', p.ns[n], '-br', 'link', 'show', 'eth1'])) ? true : undefined), 5000);
    }
    p.startTandem('alpha');
    p.startTandem('beta');
    await withLogs(async () => {
      await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
      for (const n of ['alpha', 'beta'] as const) {
        await waitFor(`${n}: all three paths up`, async () => {
          const s = await status(n);
          return s.paths.length === 3 && s.paths.every((x) => x.state === 'up') ? true : undefined;
        }, 10_000, 50);
      }
    });
  }, 120_000);

  afterAll(async () => {
    await pullCable();
    await p.cleanup();
  });

  it('reports each path with its own rate, loss, latency and serial detail', async () => {
    await sleep(1500);   // enough heartbeats for rate and latency figures
    for (const n of ['alpha', 'beta'] as const) {
      const s = await status(n);
      expect(s.paths.map((x) => x.name)).toEqual([...ETH_PATHS(n), SERIAL(n)]);
      expect(s.paths.map((x) => x.kind)).toEqual(['bcast', 'ucast', 'serial']);
      for (const x of s.paths) {
        expect(x.state).toBe('up');
        expect(x.packetsPerSec).toBeGreaterThan(5);     // keepalive 100 ms: about 10/s
        expect(x.packetsPerSec).toBeLessThan(15);
        expect(x.loss!.percent, `${n}: ${x.name} ${JSON.stringify(x.loss)}`).toBe(0);
        expect(x.latency!.samples).toBeGreaterThan(5);
        expect(x.latency!.oneWayMs).toBeGreaterThanOrEqual(0);
        expect(x.latency!.oneWayMs).toBeLessThan(50);
      }
      const ser = pathOf(s, SERIAL(n)).serial!;
      expect(ser).toMatchObject({ device: TTY[n], baud: 115200, state: 'open', opens: 1 });
      expect(ser.rx.frames).toBeGreaterThan(10);
      expect(pathOf(s, 'bcast eth0').serial).toBeUndefined();
    }
    const text = await sh(process.execPath, [join(REPO_ROOT, 'bin', 'tandem'), 'status', '--run-dir', p.runDir('beta')]);
    expect(text).toMatch(new RegExp(`${SERIAL('beta')}\\s+-> alpha  up`));
    expect(text).toMatch(/pkt\/s in, \d+ sent; loss 0% over \d+ s/);   // the window grows to 60 s from first contact
    expect(text).toContain(`${TTY.beta} 115200 baud: open; opened 1x`);
    // The first path-up of each path ran the hook too.
    for (const n of ['alpha', 'beta'] as const) {
      const peer = n === 'alpha' ? 'beta' : 'alpha';
      expect(notifications(n).sort()).toEqual([...ETH_PATHS(n), SERIAL(n)].map((x) => `path-up|${x}|${n}|${peer}`).sort());
    }
  });

  it('1. ethernet cut by nftables in one namespace: both UDP paths down, serial carries on, no failover; heal', async () => {
    await withLogs(async () => {
      await cutEthernet('alpha');
      healed = false;
      for (const n of ['alpha', 'beta'] as const) {
        await p.waitForStatus(n, 'UDP paths down', (s) => {
          const r = s as unknown as StatusReport;
          return ETH_PATHS(n).every((x) => pathOf(r, x).state === 'down') && pathOf(r, SERIAL(n)).state === 'up';
        }, 5000);
      }
      const early = await status('beta');
      await sleep(1000);   // several deadtimes on serial alone
      await noFailover();
      const s = await status('beta');
      expect(pathOf(s, SERIAL('beta')).state).toBe('up');
      // The 60 s loss window fills with misses while the cut lasts (the
      // serial path shows the peer is still sending), not only once it heals.
      for (const x of ETH_PATHS('beta')) {
        expect(pathOf(early, x).loss!.percent).toBeGreaterThan(0);
        expect(pathOf(s, x).loss!.percent).toBeGreaterThan(pathOf(early, x).loss!.percent!);
      }
      expect(pathOf(s, SERIAL('beta')).loss!.percent).toBe(0);
      expect(s.recentEvents.filter((e) => e.kind === 'path-down').map((e) => e.detail)).toEqual(expect.arrayContaining([
        'heartbeat path to alpha down: bcast eth0', `heartbeat path to alpha down: ${UCAST('beta')}`,
      ]));
      // The hook runs as a child process: under load it may not have written yet.
      await waitFor('the path-down hooks', async () => (ETH_PATHS('beta').every((x) => notifications('beta').includes(`path-down|${x}|beta|alpha`)) ? true : undefined), 5000);
      expect(readFileSync(p.logFile('beta'), 'utf8')).toMatch(/WARN  heartbeat path to alpha down: bcast eth0/);

      await healEthernet('alpha');
      healed = true;
      for (const n of ['alpha', 'beta'] as const) {
        await p.waitForStatus(n, 'all paths up again', (s) => s.paths.every((x) => x.state === 'up'), 5000);
      }
      const after = await status('beta');
      for (const x of ETH_PATHS('beta')) expect(pathOf(after, x).loss!.lost).toBeGreaterThan(5);   // the outage, as seq gaps
      expect(pathOf(after, SERIAL('beta')).loss!.lost).toBe(0);
      await waitFor('the path-up hooks', async () => (notifications('beta').length >= 2 ? true : undefined), 5000);
      expect(notifications('beta').slice(-2).sort()).toEqual(ETH_PATHS('beta').map((x) => `path-up|${x}|beta|alpha`).sort());
      await noFailover();
    }).finally(async () => {
      // A failure above must not leave the cut for the next tests: they would fail for it.
      if (!healed) await healEthernet('alpha');
    });
  });

  it('2. serial cable pulled (socat killed): serial down, no failover; plugged back, the daemons reopen the device', async () => {
    await withLogs(async () => {
      expect(healed, 'test 1 left ethernet cut').toBe(true);
      await pullCable();
      for (const n of ['alpha', 'beta'] as const) {
        await p.waitForStatus(n, 'serial down', (s) => pathOf(s as unknown as StatusReport, SERIAL(n)).state === 'down', 5000);
      }
      await sleep(800);
      await noFailover();
      const s = await status('alpha');
      expect(pathOf(s, SERIAL('alpha')).serial).toMatchObject({ state: 'waiting', opens: 1 });
      expect(pathOf(s, SERIAL('alpha')).serial!.lastError).toMatch(/does not exist/);
      expect(ETH_PATHS('alpha').every((x) => pathOf(s, x).state === 'up')).toBe(true);
      expect(notifications('alpha')).toContain(`path-down|${SERIAL('alpha')}|alpha|beta`);

      await plugCable();
      for (const n of ['alpha', 'beta'] as const) {
        await p.waitForStatus(n, 'serial up again', (s) => {
          const x = pathOf(s as unknown as StatusReport, SERIAL(n));
          return x.state === 'up' && x.serial?.state === 'open' && x.serial.opens === 2;
        }, 10_000);
      }
      const log = readFileSync(p.logFile('alpha'), 'utf8');
      expect(log.match(/device lost/g)).toHaveLength(1);
      expect(log.match(/device open again/g)).toHaveLength(1);
      await noFailover();
      alive();
    }).finally(async () => {
      if (!cable) await plugCable();   // the next test writes to the cable
    });
  });

  it('4. garbage and cut frames on the serial line are counted and ignored; heartbeats keep flowing', async () => {
    await withLogs(async () => {
      const keys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('not-the-lab-key') }]]) };
      const forged = encode(buildStatus({
        status: 'active', deadtimeMs: 400, src: 'alpha', srcUuid: Buffer.alloc(16, 1), seq: 1e6, generation: 2 ** 40,
        wallSeconds: 1, hold: [], yielding: [], failed: [],
      }), keys);
      const before = await status('beta');
      const b0 = pathOf(before, SERIAL('beta'));
      // A second writer on alpha's end of the cable: these bytes reach beta between alpha's frames.
      const fd = openSync(TTY.alpha, 'w');
      try {
        for (let i = 0; i < 5; i++) {
          writeSync(fd, Buffer.from('\0line noise \x7e\x7e\xff\xfe ATZ\r\n\0'));
          writeSync(fd, encodeFrame(Buffer.from('###\nthis frame is cut')).subarray(0, 9));
          const corrupt = encodeFrame(Buffer.from('###\nflipped bit'));
          corrupt[7]! ^= 0x01;
          writeSync(fd, corrupt);
          writeSync(fd, Buffer.alloc(6000, 0x5a));   // a long run with no frame boundary
          writeSync(fd, Buffer.of(0));
          await sleep(150);
        }
        writeSync(fd, encodeFrame(forged));          // a well-framed heartbeat with the wrong key
      } finally {
        closeSync(fd);
      }
      await sleep(1000);
      const after = await status('beta');
      const b1 = pathOf(after, SERIAL('beta'));
      const d = (k: 'truncated' | 'length' | 'crc' | 'oversize') => b1.serial!.rx.rejected[k] - b0.serial!.rx.rejected[k];
      expect(d('oversize')).toBe(5);
      expect(d('crc')).toBe(5);
      expect(d('truncated') + d('length')).toBeGreaterThanOrEqual(10);   // the noise and the cut frames
      expect(after.counters.dropped.auth - before.counters.dropped.auth).toBe(1);
      // Still up, still heard at the keepalive rate, the forged generation not adopted.
      expect(b1.state).toBe('up');
      expect(b1.accepted - b0.accepted).toBeGreaterThan(15);
      expect(b1.serial!.rx.frames - b0.serial!.rx.frames).toBeGreaterThan(15);
      expect(peerOf(after).generation).toBe(peerOf(before).generation);
      alive();
      await noFailover();
    });
  });

  // Last, because it ends in a failover.
  it('3. every path cut: the standby takes over after deadtime', async () => {
    await withLogs(async () => {
      const t0 = performance.now();
      await cutEthernet('alpha');
      await pullCable();
      const s = await p.waitForStatus('beta', 'alpha declared dead', (x) => x.nodes.find((q) => q.name === 'alpha')?.state === 'dead', 10_000);
      const detectMs = performance.now() - t0;
      expect(detectMs).toBeGreaterThanOrEqual(400 - 100);   // deadtime after the last heartbeat (sent up to a keepalive before t0)
      expect(s.paths.every((x) => x.state === 'down')).toBe(true);
      await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
      expect(notifications('beta')).toEqual(expect.arrayContaining([...ETH_PATHS('beta'), SERIAL('beta')].map((x) => `path-down|${x}|beta|alpha`)));
    });
  });
});
