// The daemon's timers on a timerfd (tandem-native): never before the
// deadline, re-armed earlier and later, cleared, closed without leaking fds,
// and keeping the process alive exactly while armed, as setTimeout did.

import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { defaultTimerKind, nodeClock, PRECISE_LEAD_MS } from '../../src/runtime/node-clock.js';
import { createSocket } from 'node:dgram';
import { Driver } from '../../src/runtime/driver.js';

const native = createRequire(import.meta.url)('tandem-native') as typeof import('tandem-native');
const NODE_CLOCK_JS = resolve(__dirname, '../../dist/src/runtime/node-clock.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitUntil(ok: () => boolean, ms = 2000): Promise<void> {
  for (const end = performance.now() + ms; !ok(); await sleep(5)) if (performance.now() > end) throw new Error('timed out');
}

function timerfds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[timerfd]') n++;
    } catch { /* the fd readdir itself used, closed since */ }
  }
  return n;
}

/** Runs `code` (ESM) in a child Node with node-clock.js importable as NC; returns its output and wall time. */
function child(code: string): { out: string; ms: number; status: number | null } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import * as NC from ${JSON.stringify(NODE_CLOCK_JS)};\n${code}`],
    { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status} ${r.signal}): ${r.stderr}`);
  return { out: r.stdout.trim(), ms: performance.now() - t0, status: r.status };
}

describe('nodeClock on a timerfd', () => {
  it('is the default where the addon is built', () => {
    expect(defaultTimerKind).toBe('timerfd');
  });

  it('fires at or after each deadline, never before', async () => {
    const clock = nodeClock();
    const t = clock.timer();
    const early: number[] = [];
    for (let i = 0; i < 40; i++) {
      const at = clock.now() + 0.3 + (i % 7) * 0.77;   // fractional delays
      await new Promise<void>((done) => t.set(at, () => {
        if (clock.now() < at) early.push(at - clock.now());
        done();
      }));
    }
    expect(early).toEqual([]);
    t.clear();
  });

  it('a precise deadline wakes ahead and turns the loop: never before the deadline, and a datagram that arrives meanwhile is read first', async () => {
    const clock = nodeClock();
    const t = clock.timer();
    const early: number[] = [];
    for (let i = 0; i < 40; i++) {
      const at = clock.now() + 0.2 + (i % 7) * 0.77;
      await new Promise<void>((done) => t.set(at, () => {
        if (clock.now() < at) early.push(at - clock.now());
        done();
      }, true));
    }
    expect(early).toEqual([]);
    t.clear();
  });

  it('inside a precise deadline\'s lead the loop keeps reading sockets: a datagram received then moves the deadline, and the old one never fires', async () => {
    // Time frozen just short of the deadline (inside the lead), so the timer keeps turning the loop: a busy wait
    // would starve the socket, and this test would time out.
    let fake = 0;
    const clock = nodeClock(() => fake);
    const t = clock.timer();
    const rx = createSocket('udp4');
    const tx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    try {
      let firedOld = 0;
      let firedNew = 0;
      t.set(10, () => { firedOld++; }, true);
      fake = 10 - PRECISE_LEAD_MS / 2;
      await sleep(30);   // the alarm (armed PRECISE_LEAD_MS early) has fired and found the deadline inside the lead
      const moved = new Promise<void>((r) => rx.once('message', () => { t.set(20, () => { firedNew++; }, true); r(); }));
      tx.send('advert', rx.address().port, '127.0.0.1');
      await moved;
      fake = 10.5;
      await sleep(20);
      expect(firedOld).toBe(0);
      fake = 20;
      await waitUntil(() => firedNew === 1);
      expect([firedOld, firedNew]).toEqual([0, 1]);
    } finally {
      rx.close();
      tx.close();
      t.clear();
    }
  });

  it('a deadline in the past fires on the next loop turn, once', async () => {
    const clock = nodeClock();
    const t = clock.timer();
    let fired = 0;
    t.set(clock.now() - 5, () => { fired++; });
    expect(fired).toBe(0);
    await sleep(20);
    expect(fired).toBe(1);
    t.clear();
  });

  it('re-armed earlier fires once at the earlier deadline; moved later fires once at the latest', async () => {
    const clock = nodeClock();
    const t = clock.timer();
    const fired: string[] = [];
    const t0 = clock.now();
    t.set(t0 + 400, () => fired.push('late'));
    t.set(t0 + 20, () => fired.push(`early ${clock.now() >= t0 + 20}`));
    await sleep(150);
    expect(fired).toEqual(['early true']);

    const t1 = clock.now();
    for (let d = 10; d <= 60; d += 5) t.set(t1 + d, () => fired.push(`later ${clock.now() >= t1 + 60}`));
    await sleep(250);
    expect(fired).toEqual(['early true', 'later true']);
    t.clear();
  });

  it('clear() stops it and releases its fd', async () => {
    await sleep(20);   // earlier tests' fds are closed in libuv's close callbacks
    const before = timerfds();
    const clock = nodeClock();
    const t = clock.timer();
    expect(timerfds()).toBe(before);   // no fd until armed
    let fired = 0;
    t.set(clock.now() + 30, () => { fired++; });
    expect(timerfds()).toBe(before + 1);
    t.clear();
    await sleep(80);
    expect(fired).toBe(0);
    expect(timerfds()).toBe(before);   // closed by libuv's close callback
  });

  it('leaks no fd over many timers and drivers, armed then cleared or closed', async () => {
    await sleep(20);
    const before = timerfds();
    const clock = nodeClock();
    for (let i = 0; i < 2000; i++) {
      const t = clock.timer();
      t.set(clock.now() + 1000 + i, () => undefined);
      t.set(clock.now() + 10 + i, () => undefined);
      t.clear();
    }
    for (let i = 0; i < 500; i++) {
      const d = new Driver({ step: () => [], deadline: () => clock.now() + 1000, tick: 'tick' }, {}, clock, () => undefined);
      d.tick();
      d.close();
    }
    for (let i = 0; i < 2000; i++) {
      const h = native.timerOpen(() => undefined);
      native.timerSet(h, 5000);
      native.timerClose(h);
      native.timerClose(h);   // idempotent
    }
    await sleep(50);
    expect(timerfds()).toBe(before);
  });

  it('is not inherited by child processes (resource scripts): close-on-exec', () => {
    const clock = nodeClock();
    const t = clock.timer();
    t.set(clock.now() + 5000, () => undefined);
    expect(timerfds()).toBeGreaterThan(0);
    const r = spawnSync('sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8' });
    t.clear();
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/timerfd/);
  });

  it('a closed handle is refused with a clear error, and bad arguments too', () => {
    const h = native.timerOpen(() => undefined);
    native.timerClose(h);
    expect(() => native.timerSet(h, 10)).toThrow(/timerSet\(open handle, delayMs\)/);
    expect(() => native.timerOpen(undefined as never)).toThrow(/callback required/);
    const h2 = native.timerOpen(() => undefined);
    expect(() => native.timerSet(h2, NaN)).toThrow(/timerSet/);
    native.timerClose(h2);
  });

  it('without a free fd (EMFILE) a timer still fires, on setTimeout, with a warning naming the error', () => {
    const code = `import * as NC from ${JSON.stringify(NODE_CLOCK_JS)}; import { openSync } from 'node:fs';
      const fds = []; try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {}
      process.on('warning', (w) => console.log('warning', w.message));
      const c = NC.nodeClock(); const t = c.timer(); const at = c.now() + 30;
      t.set(at, () => console.log('fired', c.now() >= at));`;
    const r = spawnSync('sh', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, code], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toMatch(/TandemTimerWarning: timerfd unavailable/);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^warning timerfd unavailable, this timer uses setTimeout .*timerfd_create\(CLOCK_MONOTONIC\): Too many open files/);
    expect(lines[1]).toBe('fired true');
  });

  it('keeps the process alive while armed, and only then', () => {
    // Armed then cleared: nothing left, the process exits at once.
    const cleared = child(`const c = NC.nodeClock(); const t = c.timer(); t.set(c.now() + 5000, () => console.log('fired')); t.clear(); console.log('done');`);
    expect(cleared.out).toBe('done');
    expect(cleared.ms).toBeLessThan(4000);
    // Armed: the process waits for it; once it fired (fd still open, disarmed), it exits.
    const armed = child(`const c = NC.nodeClock(); const t = c.timer(); const at = c.now() + 600; t.set(at, () => console.log('fired', c.now() >= at));`);
    expect(armed.out).toBe('fired true');
    expect(armed.ms).toBeGreaterThanOrEqual(600);
    // A closed driver holds nothing either.
    const driver = child(`const { Driver } = await import(${JSON.stringify(resolve(__dirname, '../../dist/src/runtime/driver.js'))});
      const c = NC.nodeClock(); const d = new Driver({ step: () => [], deadline: () => c.now() + 5000, tick: 'tick' }, {}, c, () => {});
      d.tick(); d.close(); console.log('closed');`);
    expect(driver.out).toBe('closed');
    expect(driver.ms).toBeLessThan(4000);
  });
});

describe('bench:timers', () => {
  it('prints setTimeout beside timerfd (figures not judged here)', () => {
    const r = spawnSync(process.execPath, [resolve(__dirname, '../../dist/bench/timers.js'), '--seconds', '0.3', '--delay', '5'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    for (const kind of ['setTimeout', 'timerfd']) {
      expect(r.stdout).toMatch(new RegExp(`^${kind}\\s+5\\.0\\s+\\d+\\s+\\d+\\s+-?\\d+\\.\\d+\\s+-?\\d+\\.\\d+\\s+-?\\d+\\.\\d+\\s+\\d+\\.\\d+ \\(\\d+\\.\\d+\\)\\s+\\d+\\s+\\d+\\.\\d+$`, 'm'));
    }
    const bad = spawnSync(process.execPath, [resolve(__dirname, '../../dist/bench/timers.js'), '--delay', 'x'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--delay: ms in/);
  });
});
