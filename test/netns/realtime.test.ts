// Heartbeat's `realtime`/`rtprio` on a real pair: the daemon's main thread
// (the one that sends and judges heartbeats) runs SCHED_FIFO, the services
// its resource scripts start do not, its code is locked in memory,
// `realtime off` leaves both alone, and a system that refuses real-time
// scheduling or the memory lock gets a warning, not a silent fallback and
// not a dead daemon.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair, REPO_ROOT, type NodeName } from '../../lab/pair.js';
import { sh, waitFor } from '../../lab/sh.js';
import type { StatusReport } from '../../src/daemon/status.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS));

const p = new Pair({
  prefix: 'tdrt', net: '10.229.7', workDir: join(tmpdir(), 'tandem-realtime'),
  extraHaCf: { beta: ['rtprio 7'] },
});

const status = async (n: NodeName) => (await p.status(n)) as unknown as StatusReport;

/** What `chrt -p` says of a process: [policy, priority]. */
async function chrt(pid: number): Promise<[string, number]> {
  const out = await sh('chrt', ['-p', String(pid)]);
  const policy = out.match(/scheduling policy: (\S+)/)?.[1];
  const prio = out.match(/scheduling priority: (\d+)/)?.[1];
  if (!policy || prio === undefined) throw new Error(`chrt -p ${pid}: ${out}`);
  return [policy, Number(prio)];
}

/** The lab service (socat) that alpha's labsvc resource script started. */
async function servicePid(n: NodeName): Promise<number> {
  return waitFor(`${n}: the labsvc service`, async () => {
    const pids = (await sh('ip', ['netns', 'pids', p.ns[n]])).split('\n').filter(Boolean).map(Number);
    return pids.find((pid) => {
      try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'socat'; } catch { return false; }
    });
  }, 10_000);
}

/** VmLck of a process, in kB. */
const vmLck = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmLck:\s+(\d+) kB/)![1]);

async function restartBeta(haCfChange: (text: string) => string, wrap: string[] = []): Promise<void> {
  await p.stopTandem('beta');
  writeFileSync(p.haCfPath('beta'), haCfChange(readFileSync(p.haCfPath('beta'), 'utf8')));
  p.startTandem('beta', [], undefined, wrap);
  await p.waitForStatus('beta', 'alpha heard', (s) => s.nodes.some((x) => !x.self && x.state === 'up'), 20_000);
}

describe.sequential('realtime and rtprio', () => {
  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('runs the heartbeat thread SCHED_FIFO at rtprio (default 50), and says so in status and the log', async () => {
    expect(await chrt(p.procs.alpha!.pid!)).toEqual(['SCHED_FIFO|SCHED_RESET_ON_FORK', 50]);
    expect(await chrt(p.procs.beta!.pid!)).toEqual(['SCHED_FIFO|SCHED_RESET_ON_FORK', 7]);
    const locked = { regions: expect.any(Number), bytes: expect.any(Number), refused: null };
    expect((await status('alpha')).timing.scheduling).toEqual({ policy: 'SCHED_FIFO 50', refused: null, memoryLock: locked });
    expect((await status('beta')).timing.scheduling).toEqual({ policy: 'SCHED_FIFO 7', refused: null, memoryLock: locked });
    expect(readFileSync(p.logFile('alpha'), 'utf8')).toMatch(/starting: node alpha, .*; scheduling SCHED_FIFO 50; memory lock: \d+ MB in \d+ mappings;/);
  });

  it('locks the heartbeat code in memory as it is touched: VmLck is the locked size, RSS stays small', async () => {
    const pid = p.procs.alpha!.pid!;
    const lock = (await status('alpha')).timing.scheduling!.memoryLock!;
    expect(lock.regions).toBeGreaterThan(5);
    expect(lock.bytes).toBeGreaterThan(50 * 2 ** 20);
    expect(vmLck(pid)).toBeGreaterThanOrEqual(Math.floor(lock.bytes / 1024));
    const rss = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)![1]);
    expect(rss).toBeLessThan(lock.bytes / 1024);
  });

  it('starts resource scripts, and the services they start, at the normal policy', async () => {
    expect(await chrt(await servicePid('alpha'))).toEqual(['SCHED_OTHER', 0]);
  });

  it('realtime off: the normal policy', async () => {
    await restartBeta((t) => t.replace('rtprio 7', 'realtime off'));
    expect(await chrt(p.procs.beta!.pid!)).toEqual(['SCHED_OTHER', 0]);
    expect((await status('beta')).timing.scheduling).toEqual({ policy: 'SCHED_OTHER', refused: null, memoryLock: null });
    expect(vmLck(p.procs.beta!.pid!)).toBe(0);
  });

  it('a system that refuses real-time scheduling: a warning naming why, and the daemon runs on', async () => {
    // No CAP_SYS_NICE and an RLIMIT_RTPRIO of 0, as for an unprivileged user or in many containers.
    await restartBeta((t) => t.replace('realtime off', 'realtime on'),
      ['prlimit', '--rtprio=0:0', '--', 'setpriv', '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice', '--']);
    const s = await status('beta');
    expect(s.timing.scheduling?.policy).toBe('SCHED_OTHER');
    expect(s.timing.scheduling?.refused).toMatch(/Operation not permitted \(needs CAP_SYS_NICE, or 'ulimit -r' of at least 50/);
    expect(readFileSync(p.logFile('beta'), 'utf8')).toMatch(
      /WARN  \S+ha\.cf: realtime on, but the system refused real-time scheduling: sched_setscheduler\(SCHED_FIFO\): Operation not permitted .*heartbeats run at normal priority/);
    expect(await chrt(p.procs.beta!.pid!)).toEqual(['SCHED_OTHER', 0]);
    const text = await sh(process.execPath, [join(REPO_ROOT, 'bin', 'tandem'), 'status', '--run-dir', p.runDir('beta')]);
    expect(text).toMatch(/^timing: .*, scheduling SCHED_OTHER \(realtime refused\), code locked \d+ MB$/m);
  });

  it('a system that refuses the memory lock: a warning naming CAP_IPC_LOCK and ulimit -l, and the daemon runs on', async () => {
    // No CAP_IPC_LOCK and an RLIMIT_MEMLOCK of 0, as for an unprivileged user or in a container.
    await restartBeta((t) => t,
      ['prlimit', '--memlock=0:0', '--', 'setpriv', '--bounding-set', '-ipc_lock', '--inh-caps', '-ipc_lock', '--']);
    const s = await status('beta');
    expect(s.timing.scheduling?.policy).toBe('SCHED_FIFO 50');
    expect(s.timing.scheduling?.memoryLock).toEqual({ regions: 0, bytes: 0, refused: expect.stringMatching(
      /Operation not permitted \(needs CAP_IPC_LOCK, or 'ulimit -l' of at least \d+ MB: LimitMEMLOCK= in the systemd unit\)$/) });
    const log = readFileSync(p.logFile('beta'), 'utf8');
    expect(log).toMatch(
      /WARN  \S+ha\.cf: realtime on, but the system refused to lock the heartbeat code in memory: mlock2\(MLOCK_ONFAULT\) of \d+ KiB in \d+ mappings, locked-memory limit 0 KiB: Operation not permitted \(needs CAP_IPC_LOCK.*\); it may be paged out when memory is short/);
    expect(log).toMatch(/starting: node beta, .*; scheduling SCHED_FIFO 50; memory lock: refused;/);
    expect(vmLck(p.procs.beta!.pid!)).toBe(0);
    const text = await sh(process.execPath, [join(REPO_ROOT, 'bin', 'tandem'), 'status', '--run-dir', p.runDir('beta')]);
    expect(text).toMatch(/^timing: .*, scheduling SCHED_FIFO 50, memory lock refused$/m);
  });
});
