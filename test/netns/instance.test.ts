// One daemon per node, and what it leaves in its run dir: a second daemon
// for the same node is refused whatever its --state-dir and --run-dir (two
// would answer for one node at once and the peer would ignore the real one
// as a replay); a refused start leaves the running daemon's pid file alone;
// the control socket and pid file have fixed modes whatever the umask; and
// the control socket bounds its connections and closes idle ones.

import net from 'node:net';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, REPO_ROOT } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';

const TANDEM = join(REPO_ROOT, 'bin', 'tandem');
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const rssKb = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** `tandem run` for alpha in alpha's namespace with other dirs; resolves with its exit code and output. */
function secondRun(p: Pair, stateDir: string, runDir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', p.ns.alpha, process.execPath, TANDEM, 'run', '-c', p.configDir('alpha'), '--node', 'alpha',
      '--state-dir', stateDir, '--run-dir', runDir]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe.sequential('one daemon per node; run dir, modes and control-socket bounds', () => {
  const p = new Pair({ prefix: 'tdin', net: '10.231.2', workDir: join(tmpdir(), 'tandem-instance') });
  let alphaGen = 0;

  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    const s = await p.waitForStatus('beta', 'alpha up', (x) => x.nodes.find((n) => n.name === 'alpha')?.state === 'up');
    alphaGen = s.nodes.find((n) => n.name === 'alpha')!.generation!;
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('refuses a second daemon for the same node with other state and run dirs, naming the first; the pair does not notice', async () => {
    const betaLog = readFileSync(p.logFile('beta'), 'utf8').length;
    const pid = p.procs.alpha!.pid!;
    const r = await secondRun(p, join(p.dir('alpha'), 'state2'), join(p.dir('alpha'), 'run2'));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(new RegExp(`another tandem daemon for node 'alpha' is already running on this host \\(pid ${pid}: `));
    expect(r.out).not.toMatch(/internal error|    at /);
    await sleep(1000);
    // The first one runs on, as the same incarnation; beta never heard another alpha.
    expect(p.procs.alpha!.exitCode).toBeNull();
    const s = await p.status('beta');
    expect(s.nodes.find((n) => n.name === 'alpha')).toMatchObject({ state: 'up', generation: alphaGen });
    expect(readFileSync(p.logFile('beta'), 'utf8').slice(betaLog)).not.toMatch(/generation|replay|alpha is dead|restarted/);
    expect(await p.holdsVip('alpha')).toBe(true);
    expect(await p.holdsVip('beta')).toBe(false);
  });

  it('a refused second run with the same --run-dir leaves the running daemon\'s pid file and socket alone', async () => {
    const pidFile = join(p.runDir('alpha'), 'tandem.pid');
    const r = await secondRun(p, join(p.dir('alpha'), 'state3'), p.runDir('alpha'));
    expect(r.code, r.out).toBe(1);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(p.procs.alpha!.pid));
    expect((await p.status('alpha')).node).toBe('alpha');
  });

  it('bounds control-socket connections, closes idle ones, and status still answers', async () => {
    const pid = p.procs.alpha!.pid!;
    const sock = join(p.runDir('alpha'), 'tandem.sock');
    const fds0 = fdCount(pid);
    const rss0 = rssKb(pid);
    const N = 1000;
    const closed: boolean[] = [];
    const conns = await Promise.all(Array.from({ length: N }, (_, i) => new Promise<net.Socket>((resolve) => {
      const c = net.connect(sock, () => resolve(c));
      closed[i] = false;
      c.on('close', () => { closed[i] = true; });
      c.on('error', () => { closed[i] = true; resolve(c); });
    })));
    await sleep(500);
    const openNow = closed.filter((x) => !x).length;
    const fds1 = fdCount(pid);
    const rss1 = rssKb(pid);
    // At most 64 are kept; the rest were closed by the daemon at once.
    expect(openNow).toBeLessThanOrEqual(64);
    expect(fds1 - fds0).toBeLessThanOrEqual(64 + 4);
    // A new client still gets an answer: the oldest idle one makes room.
    expect((await p.status('alpha')).node).toBe('alpha');
    // Idle ones are closed after the idle timeout (5 s).
    await waitFor('idle connections closed', async () => (closed.every((x) => x) ? true : undefined), 9000);
    for (const c of conns) c.destroy();
    await waitFor('descriptors back', async () => (fdCount(pid) <= fds0 + 2 ? true : undefined), 5000);
    console.log(`[instance] ${N} idle clients: ${openNow} kept open, fds ${fds0} -> ${fds1} -> ${fdCount(pid)}, RSS ${Math.round(rss0 / 1024)} -> ${Math.round(rss1 / 1024)} MB`);
    expect(p.procs.alpha!.exitCode).toBeNull();
    expect(await p.holdsVip('alpha')).toBe(true);
  });

  it('creates the control socket 0600 and the pid file 0644 under umask 000', async () => {
    expect(await p.stopTandem('alpha')).toBe(0);
    await waitFor('beta to take over', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    const fd = openSync(p.logFile('alpha'), 'a');
    const child = spawn('sh', ['-c', 'umask 000 && exec "$@"', 'sh', 'ip', 'netns', 'exec', p.ns.alpha, process.execPath, TANDEM, 'run',
      '-c', p.configDir('alpha'), '--node', 'alpha', '--state-dir', p.stateDir('alpha'), '--run-dir', p.runDir('alpha')], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    p.procs.alpha = child;
    await p.waitForStatus('alpha', 'beta heard', (s) => s.nodes.find((n) => n.name === 'beta')?.state === 'up');
    expect(statSync(join(p.runDir('alpha'), 'tandem.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(p.runDir('alpha'), 'tandem.pid')).mode & 0o777).toBe(0o644);
    // Sanity: the umask really was 000 for it.
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    expect(/^Umask:\s+(\d+)/m.exec(status)?.[1]).toBe('0000');
    await sh('true', []);
  });
});
