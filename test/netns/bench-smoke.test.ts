// The cost and load benchmarks (issue 13) and the VRRP failover benchmark
// (issue 14) run end to end, briefly: each prints its table with figures for
// tandem and keepalived, and leaves no namespace, daemon or busy loop behind. The figures themselves are not judged here
// (timing goals live in the benchmarks, not in tests).

import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdbs';

function runBench(script: string, args: string[]): Promise<{ code: number | null; out: string; pid: number | undefined }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [join(ROOT, 'dist/bench', script), ...args], { timeout: 80_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: `${stdout}${stderr}`, pid: child.pid });
    });
  });
}

const num = String.raw`(\d+\.\d+)`;

async function leftovers(): Promise<string[]> {
  const ns = (await sh('ip', ['netns', 'list'], { allowFail: true })).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(PREFIX));
  return ns;
}

describe('benchmark smoke', () => {
  beforeAll(() => need(...PAIR_TOOLS, '/usr/sbin/keepalived'));

  it('bench:cost prints CPU and RSS/PSS per node for tandem, keepalived and Node\'s floor at 100 ms', async () => {
    const r = await runBench('cost.js', ['--seconds', '2', '--rates', '100', '--impl', 'tandem,keepalived,node-floor', '--prefix', `${PREFIX}c`, '--net', '10.239']);
    expect(r.code, r.out).toBe(0);
    for (const impl of ['tandem', 'keepalived', 'node-floor']) {
      // impl, rate, procs a/b, CPU a / b, (sched a / b), RSS a / b, PSS a / b
      const row = new RegExp(`^${impl}\\s+100 ms\\s+(\\d+)/(\\d+)\\s+${num} / ${num}\\s+\\(${num} / ${num}\\)\\s+${num} / ${num}\\s+${num} / ${num}\\s`, 'm').exec(r.out);
      expect(row, r.out).not.toBeNull();
      const [procsA, procsB, , , , , rssA, rssB, pssA, pssB] = row!.slice(1).map(Number);
      expect(procsA, r.out).toBe(impl === 'keepalived' ? 2 : 1);   // keepalived: its parent and the VRRP child
      expect(procsB, r.out).toBe(procsA);
      for (const mb of [rssA!, rssB!, pssA!, pssB!]) expect(mb, r.out).toBeGreaterThan(1);
    }
    expect(r.out).toMatch(/100 ms\s+alpha\s+CPU \d+\.\d+ % \[\d+\.\d+\] <= 2 x keepalived \d+\.\d+ % \[\d+\.\d+\] = \d+\.\d+ %\s+(PASS|FAIL)/);
    expect(r.out).toMatch(/100 ms\s+alpha\s+RSS \d+\.\d+ MB <= 45 MB\s+(PASS|FAIL)/);
    expect(r.out).toMatch(/100 ms\s+alpha\s+floor CPU \d+\.\d+ %, RSS \d+\.\d+ MB; tandem \d+\.\d+ % = \d+\.\dx the floor/);
    expect(await leftovers()).toEqual([]);
  }, 90_000);

  it('bench:load counts takeovers for both pairs and stops its busy loops', async () => {
    const r = await runBench('load.js', ['--seconds', '2', '--hogs', '2', '--prefix', `${PREFIX}l`, '--net', '10.240']);
    expect(r.code, r.out).toBe(0);
    for (const impl of ['tandem', 'keepalived']) expect(r.out, r.out).toMatch(new RegExp(`^${impl}\\s+\\d+\\s+\\d+ ms\\s+\\d+ ms \\(\\d+\\)`, 'm'));
    expect(r.out).toMatch(/alpha\s+after load:\s+send lateness /);
    expect(await leftovers()).toEqual([]);
    // The burners ran in their own process groups; none may survive the bench.
    const hogs = await sh('pgrep', ['-f', '^sh -c while :; do :; done$'], { allowFail: true });
    expect(hogs.trim()).toBe('');
  }, 90_000);

  it('bench:vrrp prints crash → VIP and crash → client-reachable for tandem and keepalived, and the comparison', async () => {
    const r = await runBench('vrrp.js', ['--runs', '1', '--advert', '0.1', '--impl', 'tandem,keepalived', '--prefix', `${PREFIX}v`, '--net', '10.242']);
    expect(r.code, r.out).toBe(0);
    const mmm = String.raw`(\d+) / (\d+) / (\d+)`;
    for (const impl of ['tandem', 'keepalived']) {
      // advert_int, Master_Down_Interval, impl, crash → VIP, crash → client-reachable (median / min / max),
      // last advert → VIP (the same, two decimals, or n/a without a captured advert), n timed runs and
      // false takeovers (a run beta took over before the crash is not timed): 1 in all.
      const fromAdvert = String.raw`(?:\d+\.\d\d / \d+\.\d\d / \d+\.\d\d|n/a)`;
      const row = new RegExp(`^0\\.1\\s+360\\.9\\s+${impl}\\s+${mmm}\\s+${mmm}\\s+${fromAdvert}\\s+(\\d+)\\s+(\\d+)$`, 'm').exec(r.out);
      expect(row, r.out).not.toBeNull();
      const [med, min, max, , , , n, falseTakeovers] = row!.slice(1).map(Number);
      expect(min! <= med! && med! <= max!, r.out).toBe(true);
      expect(n! + falseTakeovers!, r.out).toBe(1);
    }
    expect(r.out).toMatch(/^ {2}advert_int 0\.1\s+crash → VIP\s+tandem \d+ ms <= keepalived \d+ ms\s+(PASS|FAIL)$/m);
    expect(r.out).toMatch(/^ {2}advert_int 0\.1\s+crash → client-reachable\s+tandem \d+ ms <= keepalived \d+ ms\s+(PASS|FAIL)$/m);
    expect(r.out).toMatch(/^ {2}advert_int 0\.1\s+last advert → VIP\s+tandem \d+\.\d\d ms <= keepalived \d+\.\d\d ms\s+(PASS|FAIL)$/m);
    expect(await leftovers()).toEqual([]);
    // Neither implementation's daemon outlives the bench (not even in a namespace already deleted).
    const daemons = await sh('pgrep', ['-f', `tandem-bench-vrrp-.*-${r.pid}/`], { allowFail: true });
    expect(daemons.trim(), r.out).toBe('');
  }, 90_000);

  it('bench:vrrp refuses bad arguments with its usage, before touching the network', async () => {
    for (const [args, msg] of [
      [['--runs', '0'], /--runs must be a whole number from 1 to 1000, not '0'/],
      [['--advert', '0.015'], /--advert: '0.015' is not a VRRPv3 advert_int \(0\.01\.\.40\.95 s in 10 ms steps\)/],
      [['--impl', 'heartbeat'], /--impl: 'heartbeat' is not one of tandem, keepalived/],
      [['--json'], /--json needs a value/],
      [['--seconds', '3'], /unknown argument '--seconds'/],
    ] as const) {
      const r = await runBench('vrrp.js', [...args]);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toMatch(msg);
      expect(r.out).toMatch(/usage: npm run bench:vrrp -- \[--runs 5\] \[--advert 0\.1,0\.01\] \[--impl tandem,keepalived\] \[--json FILE\]/);
      expect(r.out).not.toMatch(/\n\s+at /);   // no stack trace
    }
  }, 30_000);
});
