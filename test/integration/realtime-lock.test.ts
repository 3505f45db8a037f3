// `realtime on` locks the heartbeat path's code in memory (daemon/realtime.ts,
// the addon's lockCode): the program files' mappings and the main stack,
// locked as they are touched (MLOCK_ONFAULT), so VmLck grows by the size of
// the mappings while resident memory does not jump to the 100 MB node binary;
// never V8's anonymous memory, which V8 gives back with madvise(MADV_DONTNEED)
// and aborts on when that fails on a locked page. A system that refuses the
// lock gets a reason naming CAP_IPC_LOCK and 'ulimit -l', with nothing left
// half locked. Each case runs applyRealtime in its own node process.

import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Scheduling } from '../../src/daemon/realtime.js';
import { needTools } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REALTIME = pathToFileURL(join(ROOT, 'dist/src/daemon/realtime.js')).href;

beforeAll(() => needTools([['prlimit', 'util-linux'], ['setpriv', 'util-linux'], ['chrt', 'util-linux']]));

interface Mem { rss: number; lck: number }
interface Report {
  s: Scheduling;
  before: Mem;
  after: Mem;
  end: Mem;
  rounds: number;
  /** Every locked mapping: its permissions and path ('' when anonymous). */
  locked: Array<{ perms: string; path: string }>;
}

// After applying, the child churns its heap, as a daemon does over time:
// under mlockall V8 aborts (SIGTRAP) on the first heap shrink.
const CHILD = `
import { applyRealtime } from ${JSON.stringify(REALTIME)};
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const mem = () => {
  const t = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(t.match(new RegExp(k + ':\\\\s+(\\\\d+) kB'))[1]);
  return { rss: kb('VmRSS'), lck: kb('VmLck') };
};
mem();
const before = mem();
const s = applyRealtime({ realtime: process.argv[1] === 'on', rtprio: 1 });
const after = mem();
const locked = readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/)
  .filter((b) => /^VmFlags:.*\\blo\\b/m.test(b))
  .map((b) => { const f = b.split('\\n')[0].trim().split(/\\s+/); return { perms: f[1], path: f.slice(5).join(' ') }; });
// Back to the normal policy first: a busy SCHED_FIFO loop would starve the machine.
execFileSync('chrt', ['-o', '-p', '0', String(process.pid)]);
const t0 = Date.now();
let rounds = 0;
while (Date.now() - t0 < 1500) {
  let keep = [];
  for (let i = 0; i < 100000; i++) keep.push({ i, s: 'x'.repeat(i % 40), a: new Array(8).fill(i) });
  let fns = [];
  for (let i = 0; i < 1000; i++) { const f = new Function('x', 'return x * ' + i + ' + ' + rounds); for (let j = 0; j < 100; j++) f(j); fns.push(f); }
  keep = null; fns = null;
  globalThis.gc();
  rounds++;
}
console.log(JSON.stringify({ s, before, after, locked, end: mem(), rounds }));
`;

const NO_IPC_LOCK = ['setpriv', '--bounding-set', '-ipc_lock', '--inh-caps', '-ipc_lock', '--'];

function run(realtime: 'on' | 'off', wrap: string[] = []): Report {
  const argv = [...wrap, process.execPath, '--max-semi-space-size=1', '--expose-gc', '--input-type=module', '-e', CHILD, realtime];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status ?? r.signal}: ${r.stderr.slice(0, 2000)}`);
  return JSON.parse(r.stdout) as Report;
}

describe('realtime on: the heartbeat code locked in memory', () => {
  it('locks the program files and the main stack, as they are touched: VmLck grows by their size, RSS does not jump', () => {
    const r = run('on');
    const lock = r.s.memoryLock!;
    expect(lock.refused).toBeUndefined();
    expect(lock.regions).toBeGreaterThan(5);
    expect(lock.bytes).toBeGreaterThan(50 * 2 ** 20);           // the node binary alone is ~95 MB
    expect(r.before.lck).toBe(0);
    expect(Math.abs(r.after.lck * 1024 - lock.bytes)).toBeLessThan(64 * 1024);
    expect(r.after.rss - r.before.rss).toBeLessThan(4 * 1024);   // kB
    expect(r.locked.some((m) => m.path === process.execPath && m.perms.includes('x'))).toBe(true);
    expect(r.locked.some((m) => m.path.endsWith('/tandem_native.node') && m.perms.includes('x'))).toBe(true);
    expect(r.locked.some((m) => m.path === '[stack]')).toBe(true);
    // Nothing anonymous but the stack, nothing writable from a file.
    for (const m of r.locked) {
      expect(m.path === '[stack]' || (m.path.startsWith('/') && m.perms[1] !== 'w'), `${m.perms} ${m.path}`).toBe(true);
    }
    // V8 grew and shrank its heap and lived; no anonymous memory got locked meanwhile.
    expect(r.rounds).toBeGreaterThan(0);
    expect(r.end.lck).toBe(r.after.lck);
    expect(r.s.policy).toBe('SCHED_FIFO 1');
  });

  it('realtime off: nothing locked', () => {
    const r = run('off');
    expect(r.s.memoryLock).toBeUndefined();
    expect(r.after.lck).toBe(0);
    expect(r.locked).toEqual([]);
  });

  it('without CAP_IPC_LOCK and a locked-memory limit of 0: refused, naming CAP_IPC_LOCK and ulimit -l; scheduling still applied', () => {
    const r = run('on', ['prlimit', '--memlock=0:0', '--', ...NO_IPC_LOCK]);
    expect(r.s.memoryLock).toEqual({
      regions: 0, bytes: 0,
      refused: expect.stringMatching(
        /^mlock2\(MLOCK_ONFAULT\) of \d+ KiB in \d+ mappings, locked-memory limit 0 KiB: Operation not permitted \(needs CAP_IPC_LOCK, or 'ulimit -l' of at least \d+ MB: LimitMEMLOCK= in the systemd unit\)$/),
    });
    expect(r.after.lck).toBe(0);
    expect(r.s.policy).toBe('SCHED_FIFO 1');
  });

  it('over the locked-memory limit: refused, and what was locked before the refusal is unlocked again', () => {
    // 8 MiB: the node binary's first mapping (its headers and read-only data) fits, its code does not.
    const r = run('on', ['prlimit', '--memlock=8388608:8388608', '--', ...NO_IPC_LOCK]);
    expect(r.s.memoryLock?.refused).toMatch(/locked-memory limit 8192 KiB: Cannot allocate memory \(needs CAP_IPC_LOCK, or 'ulimit -l' of at least \d+ MB/);
    expect(r.after.lck).toBe(0);
    expect(r.locked).toEqual([]);
  });
});
