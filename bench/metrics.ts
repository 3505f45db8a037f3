// npm run bench:metrics — what the Prometheus endpoint costs the daemon.
//
// A pair at keepalive 100 ms (lab/pair.ts), run twice: with `metrics off`
// and with the default endpoint. For each run: the CPU time alpha's daemon
// used over an idle window (utime+stime from /proc/PID/stat), then with
// metrics on, N scrapes from inside alpha's namespace, one after another:
// their wall time as the client sees it, and the daemon's CPU per scrape.
// There is no anchor here: Heartbeat and keepalived have no such endpoint.
//
// Usage: npm run bench:metrics -- [--seconds S] [--scrapes N] [--rounds R]

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair } from '../lab/pair.js';
import { sh, sleep, waitFor } from '../lab/sh.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 20);
const SCRAPES = arg('scrapes', 200);
const TICK = 100; // USER_HZ on Linux

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICK;   // utime, stime
}

async function run(metrics: boolean): Promise<void> {
  const p = new Pair({
    prefix: 'tdmb', net: '10.236.2', workDir: join(tmpdir(), 'tandem-bench-metrics'), keepalive: '100ms', deadtime: '1', warntime: '500ms',
    ...(metrics ? {} : { extraHaCf: { alpha: ['metrics off'], beta: ['metrics off'] } }),
  });
  try {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    await sleep(2000);
    const pid = p.procs.alpha!.pid!;
    const c0 = cpuMs(pid);
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const idle = (cpuMs(pid) - c0) / ((performance.now() - t0) / 1000);
    console.log(`metrics ${metrics ? 'on ' : 'off'}: daemon CPU idle at keepalive 100 ms: ${idle.toFixed(1)} ms/s (${(idle / 10).toFixed(2)} %) over ${SECONDS} s`);
    if (!metrics) return;
    // Spaced past the render cache (1 s): every one renders. Then back to back: the cache and the 429 budget answer.
    const client = (n: number, gapMs: number) => `(async () => { const t = []; let bytes = 0; const codes = {};
      for (let i = 0; i < ${n}; i++) { const s = performance.now(); const r = await fetch('http://127.0.0.1:9694/metrics'); const b = await r.text(); t.push(performance.now() - s);
        codes[r.status] = (codes[r.status] ?? 0) + 1; if (r.status === 200) bytes = b.length; await new Promise((r) => setTimeout(r, ${gapMs})); }
      t.sort((a, b) => a - b); process.stdout.write(JSON.stringify({ p50: t[t.length >> 1], p99: t[Math.floor(t.length * 0.99)], max: t[t.length - 1], bytes, codes })); })()`;
    for (const [label, n, gap] of [['spaced 1.1 s (each one rendered)', Math.min(20, SCRAPES), 1100], ['back to back (cache, then 429)', SCRAPES, 0]] as const) {
      const c1 = cpuMs(pid);
      const w1 = performance.now();
      const r = JSON.parse(await sh('ip', ['netns', 'exec', p.ns.alpha, process.execPath, '-e', client(n, gap)], { timeoutMs: 120_000 })) as { p50: number; p99: number; max: number; bytes: number; codes: Record<string, number> };
      // The daemon's own idle load over the same time is taken off: what is left is the requests'.
      const per = (cpuMs(pid) - c1 - (idle * (performance.now() - w1)) / 1000) / n;
      console.log(`metrics on : ${n} scrapes ${label}: wall p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms; ${r.bytes} bytes; HTTP ${JSON.stringify(r.codes)}; daemon CPU ${per.toFixed(2)} ms per request`);
    }
  } finally {
    await p.cleanup();
  }
}

// Alternating rounds: on this shared machine the idle figures vary by a few ms/s from run to run.
for (let i = 0; i < arg('rounds', 2); i++) {
  await run(false);
  await run(true);
}
