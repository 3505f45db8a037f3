// npm run bench:timers — how late the daemon's Clock wakes a deadline, and
// what it costs, for both timer implementations of src/runtime/node-clock.ts
// measured in the same run: setTimeout (libuv timers: ms resolution, cached
// loop time; the fallback without the addon) and a timerfd polled by libuv.
//
// Each variant runs in its own child process (its CPU is its own): one
// deadline at a time, each set at performance.now() + --delay ms when the
// previous one fired, for --seconds. Lateness = performance.now() - deadline
// when the timer's callback runs (what the machine sees when it checks
// now >= deadline); a negative one (early) is counted. CPU % = the child's
// scheduler run time (/proc/self/task/*/schedstat, ns; every thread) over
// the wall time of the loop (utime+stime beside it, 4 ms ticks). Re-arm: the cost of one
// set() that moves an armed deadline earlier (a re-arm), what the "moved
// later" shortcut saves per datagram.
//
// Usage: npm run bench:timers -- [--delay 10,36.1] [--seconds 10] [--json FILE]

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { defaultTimerKind, nodeClock, PRECISE_LEAD_MS, type TimerKind } from '../src/runtime/node-clock.js';
import { quantile, runNs } from './measure.js';

const USAGE = 'usage: npm run bench:timers -- [--delay 10,36.1] [--seconds 10] [--json FILE]';

/** A timer kind, or the timerfd with precise deadlines (woken PRECISE_LEAD_MS ahead, the loop turned until due: a VRRP takeover's). */
type Variant = TimerKind | 'timerfd precise';

interface Result {
  kind: Variant;
  delayMs: number;
  deadlines: number;
  early: number;
  medianMs: number;
  p90Ms: number;
  maxMs: number;
  cpuPct: number;
  tickCpuPct: number;
  rearmUs: number;
}



/** In the child: one variant. */
async function measure(kind: Variant, delayMs: number, seconds: number): Promise<Result> {
  const precise = kind === 'timerfd precise';
  const clock = nodeClock(() => performance.now(), precise ? 'timerfd' : kind);
  // Re-arm cost: alternate two deadlines far away, each set earlier than the armed one.
  const t0 = clock.timer();
  const REARMS = 20000;
  const far = performance.now() + 3_600_000;
  const r0 = performance.now();
  for (let i = 0; i < REARMS; i++) t0.set(far - i, () => undefined);
  const rearmUs = ((performance.now() - r0) * 1000) / REARMS;
  t0.clear();

  const timer = clock.timer();
  const late: number[] = [];
  const cpu0 = process.cpuUsage();
  const run0 = runNs();
  const w0 = performance.now();
  const end = w0 + seconds * 1000;
  await new Promise<void>((done) => {
    const next = (): void => {
      const at = performance.now() + delayMs;
      timer.set(at, () => {
        late.push(performance.now() - at);
        if (performance.now() < end) next();
        else done();
      }, precise);
    };
    next();
  });
  const run = runNs() - run0;
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  timer.clear();
  const sorted = [...late].sort((a, b) => a - b);
  return {
    kind, delayMs, deadlines: late.length, early: late.filter((l) => l < 0).length,
    medianMs: quantile(sorted, 0.5), p90Ms: quantile(sorted, 0.9), maxMs: sorted[sorted.length - 1] ?? NaN,
    cpuPct: (run / 1e6 / wall) * 100, tickCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100, rearmUs,
  };
}

function parse(argv: string[]): { delays: number[]; seconds: number; json?: string } {
  const o: { delays: number[]; seconds: number; json?: string } = { delays: [10, 36.1], seconds: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined && a !== '--help') { process.stderr.write(`${a}: value required\n${USAGE}\n`); process.exit(2); }
    if (a === '--delay') o.delays = v!.split(',').map(Number);
    else if (a === '--seconds') o.seconds = Number(v);
    else if (a === '--json') o.json = v;
    else { process.stderr.write(`unknown option ${a}\n${USAGE}\n`); process.exit(2); }
    i++;
  }
  if (o.delays.some((d) => !(d > 0 && d < 60_000)) || !(o.seconds > 0 && o.seconds <= 3600)) {
    process.stderr.write(`--delay: ms in (0, 60000); --seconds: (0, 3600]\n${USAGE}\n`);
    process.exit(2);
  }
  return o;
}

const f = (n: number, d = 2): string => n.toFixed(d);

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const r = await measure(process.argv[3] as Variant, Number(process.argv[4]), Number(process.argv[5]));
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const o = parse(process.argv.slice(2));
  if (defaultTimerKind !== 'timerfd') process.stderr.write('tandem-native is not built: only setTimeout can be measured\n');
  const kinds: Variant[] = defaultTimerKind === 'timerfd' ? ['setTimeout', 'timerfd', 'timerfd precise'] : ['setTimeout'];
  const self = fileURLToPath(import.meta.url);
  const results: Result[] = [];
  process.stdout.write(`timer lateness, one deadline at a time, ${o.seconds} s per variant (ms late; CPU % of one core)\n`);
  process.stdout.write(`precise: woken ${PRECISE_LEAD_MS} ms ahead, the event loop turned (sockets read) until due; a backup's Master_Down only\n`);
  process.stdout.write('timer             delay ms  deadlines  early  median    p90     max   CPU % (ticks)  µs/deadline  re-arm µs\n');
  for (const delay of o.delays) {
    for (const kind of kinds) {
      const c = spawnSync(process.execPath, [self, '--child', kind, String(delay), String(o.seconds)], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(`${kind} child failed: ${c.stderr}`);
      const r = JSON.parse(c.stdout) as Result;
      results.push(r);
      process.stdout.write(`${kind.padEnd(16)} ${f(delay, 1).padStart(9)} ${String(r.deadlines).padStart(10)} ${String(r.early).padStart(6)} ` +
        `${f(r.medianMs, 3).padStart(7)} ${f(r.p90Ms, 3).padStart(6)} ${f(r.maxMs, 3).padStart(7)} ${f(r.cpuPct).padStart(7)} (${f(r.tickCpuPct)}) ${f((r.cpuPct / 100) * o.seconds * 1e6 / Math.max(1, r.deadlines), 0).padStart(12)} ${f(r.rearmUs).padStart(10)}\n`);
    }
  }
  if (o.json) writeFileSync(o.json, JSON.stringify(results, null, 2));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:timers: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
