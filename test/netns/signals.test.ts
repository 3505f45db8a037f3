// Signals to a running daemon and to the arbiter, for real: kill(2) on the
// processes of a pair in network namespaces. No signal opens Node's
// inspector (it would give any local user a root shell on 127.0.0.1:9229);
// USR1/USR2 move the debug level (the arbiter logs its counters), HUP
// reloads, and no signal ends the daemon without the release SIGTERM does:
// the peer never sees it die, and the VIP is never on both nodes.

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type NodeName } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';

const log = (p: Pair, n: NodeName) => readFileSync(p.logFile(n), 'utf8');

/** Is anything listening on TCP 9229 (Node's inspector) in the namespace? */
async function inspectorListening(ns: string): Promise<string> {
  return (await sh('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :9229'], { allowFail: true })).trim();
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe.sequential('signals', () => {
  const p = new Pair({ prefix: 'tdsg', net: '10.231.1', workDir: join(tmpdir(), 'tandem-signals'), arbiter: 'tandem' });
  let alpha = 0;
  let arbiter = 0;

  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    await p.waitForStatus('beta', 'alpha up', (s) => s.nodes.find((n) => n.name === 'alpha')?.state === 'up');
    alpha = p.procs.alpha!.pid!;
    arbiter = p.arbiterProc!.pid!;
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  /** Nothing moved: alpha alive and holding, beta holding nothing, beta never saw alpha die. */
  async function nothingMoved(logBefore: number): Promise<void> {
    expect(alive(alpha), 'the daemon is alive').toBe(true);
    expect(p.procs.alpha!.exitCode).toBeNull();
    expect(await p.holdsVip('alpha')).toBe(true);
    expect(await p.holdsVip('beta')).toBe(false);
    const s = await p.status('beta');
    expect(s.nodes.find((n) => n.name === 'alpha')?.state).toBe('up');
    expect(log(p, 'beta').slice(logBefore)).not.toMatch(/alpha (is dead|left)/);
  }

  it('SIGUSR1/SIGUSR2 move the debug level up and down, logged; no inspector opens, nobody dies', async () => {
    const betaLog = log(p, 'beta').length;
    const arbLog = readFileSync(p.arbiterLog(), 'utf8').length;
    for (const sig of ['SIGUSR1', 'SIGUSR1', 'SIGUSR2', 'SIGUSR2', 'SIGUSR2'] as const) {
      process.kill(alpha, sig);
      process.kill(arbiter, sig);
      await sleep(150);
    }
    await sleep(500);
    expect(await inspectorListening(p.ns.alpha)).toBe('');
    expect(await inspectorListening(p.arbiterNs)).toBe('');
    expect(log(p, 'alpha')).not.toMatch(/Debugger listening/);
    const text = log(p, 'alpha');
    for (const step of ['SIGUSR1: debug level 0 -> 1', 'SIGUSR1: debug level 1 -> 2', 'SIGUSR2: debug level 2 -> 1', 'SIGUSR2: debug level 1 -> 0', 'SIGUSR2: debug level 0 -> 0']) {
      expect(text).toContain(step);
    }
    // The arbiter keeps its counters on USR1 (and USR2); it is alive and listening.
    const arb = readFileSync(p.arbiterLog(), 'utf8').slice(arbLog);
    expect(arb).not.toMatch(/Debugger listening/);
    expect(arb.match(/requests /g)?.length ?? 0).toBeGreaterThanOrEqual(5);
    expect(alive(arbiter)).toBe(true);
    expect((await sh('ip', ['netns', 'exec', p.arbiterNs, 'ss', '-Hlun', 'sport = :7610'])).trim()).not.toBe('');
    await nothingMoved(betaLog);
  });

  it('SIGHUP reloads the daemon (logged) and is logged by the arbiter; neither dies', async () => {
    const betaLog = log(p, 'beta').length;
    const arbLog = readFileSync(p.arbiterLog(), 'utf8').length;
    process.kill(alpha, 'SIGHUP');
    process.kill(arbiter, 'SIGHUP');
    await waitFor('the reload line', async () => (/reload \(SIGHUP\): nothing to change/.test(log(p, 'alpha')) ? true : undefined), 5000);
    await waitFor('the arbiter\'s line', async () => (readFileSync(p.arbiterLog(), 'utf8').slice(arbLog).includes('SIGHUP') ? true : undefined), 5000);
    await sleep(1000);   // three deadtimes: a daemon that died would be declared dead by now
    expect(alive(arbiter)).toBe(true);
    await nothingMoved(betaLog);
  });

  it('every other signal whose default action ends or stops the process is logged and survived', async () => {
    const betaLog = log(p, 'beta').length;
    const sigs = ['SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGIO', 'SIGPWR', 'SIGSTKFLT', 'SIGXCPU', 'SIGXFSZ', 'SIGSYS', 'SIGTRAP', 'SIGPIPE', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const;
    for (const sig of sigs) {
      process.kill(alpha, sig);
      process.kill(arbiter, sig);
      await sleep(50);
    }
    // Real-time signals (Node cannot listen to them): SIGRTMIN, RTMIN+6, SIGRTMAX.
    for (const n of [34, 40, 64]) {
      process.kill(alpha, n);
      process.kill(arbiter, n);
    }
    await sleep(1000);
    expect(alive(alpha), 'the daemon survives real-time signals').toBe(true);
    const text = log(p, 'alpha');
    for (const sig of sigs) expect(text).toContain(`${sig} ignored`);
    // Not stopped either (SIGTSTP): it still answers and still sends heartbeats.
    const st = (await sh('ps', ['-o', 'stat=', '-p', String(alpha)])).trim();
    expect(st).not.toMatch(/^T/);
    expect(alive(arbiter)).toBe(true);
    await nothingMoved(betaLog);
  });

  it('SIGQUIT stops the daemon the way SIGTERM does: it releases, and the peer takes over at once', async () => {
    const exited = new Promise<number | null>((r) => p.procs.alpha!.once('exit', (code) => r(code)));
    process.kill(alpha, 'SIGQUIT');
    const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    expect(code).toBe(0);
    expect(log(p, 'alpha')).toMatch(/shutting down \(SIGQUIT\): releasing resource groups/);
    expect(await p.holdsVip('alpha')).toBe(false);
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    expect(log(p, 'beta')).toMatch(/alpha left the cluster \(graceful shutdown\)/);
  });
});
