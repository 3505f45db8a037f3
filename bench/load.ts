// npm run bench:load — false takeovers under CPU load: a tandem pair and a
// keepalived pair side by side at 10 ms, while N busy loops compete for the
// machine's cores (issue 13).
//
//   tandem      keepalive 10ms / deadtime 30ms / warntime 20ms, ucast, sha1 (realtime on: its default)
//   keepalived  VRRPv3 unicast, advert_int 0.01 (Master_Down = 3 x 10 ms + skew), default scheduling
//
// Each pair in its own namespaces and addresses; both are started, alpha
// takes the VIP, and after 8 s of steady state N plain CPU burners
// (`sh -c 'while :; do :; done'`, normal priority, outside the namespaces)
// run for --seconds. A FALSE takeover is the VIP appearing on the backup
// (beta) while the master (alpha) is alive: counted from `ip -ts monitor
// address` in beta's namespace (every VIP addition), with the time the VIP
// stayed on beta from the same events; and by sampling both nodes' addresses
// every 100 ms: the time both held the VIP. tandem's send lateness and event
// loop delay come from `tandem status --json` (timing.sendLateness,
// timing.eventLoopDelay), read before and after the window; they are
// since-start figures (percentiles cannot be subtracted), so the after-load
// figures cover the daemon's whole life, load window included.
//
// Usage: npm run bench:load -- [--seconds 600] [--hogs 8] [--json FILE]

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEEPALIVED_BIN, KeepalivedPair } from '../lab/keepalived.js';
import { Pair, type NodeName } from '../lab/pair.js';
import { cpuPercent, pidsByExe, sample } from '../lab/procstat.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

function usage(msg: string): never {
  console.error(`bench:load: ${msg}\nusage: npm run bench:load -- [--seconds 600] [--hogs 8] [--json FILE]`);
  process.exit(2);
}

type Lab = Pair | KeepalivedPair;
interface Watched {
  name: 'tandem' | 'keepalived';
  lab: Lab;
  exe: string;
  beta?: LineWatcher;
  alpha?: LineWatcher;
  dualSampledMs: number;
  dualSamples: number;
}

interface Percentiles { samples?: number; p50Ms?: number; p99Ms?: number; maxMs?: number }
interface Timing { sendLateness?: Percentiles; eventLoopDelay?: Percentiles; scheduling?: { policy?: string; refused?: string | null } | null }

const hogs: ChildProcess[] = [];
function killHogs(): void {
  for (const h of hogs.splice(0)) {
    try { process.kill(-h.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
}
const labs: Lab[] = [];
async function cleanupAll(): Promise<void> {
  killHogs();
  for (const l of labs.splice(0)) await l.cleanup().catch(() => undefined);
}

/** `ip -ts` stamps to epoch ms. */
function tsMs(line: string): number | undefined {
  const ts = line.match(/^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]/);
  return ts ? Date.parse(`${ts[1]!.slice(0, 23)}Z`) + parseInt(ts[1]!.slice(23, 26).padEnd(3, '0'), 10) / 1000 : undefined;
}

/** VIP additions on a node and how long it held the VIP, from its address monitor, within [from, to] (epoch ms). */
function vipEvents(w: LineWatcher | undefined, vip: string, from: number, to: number): { added: number; removed: number; heldMs: number } {
  const re = new RegExp(`inet ${vip.replace(/\./g, '\\.')}/`);
  let added = 0;
  let removed = 0;
  let heldMs = 0;
  let since: number | undefined;
  for (const l of w?.lines ?? []) {
    if (!re.test(l.line)) continue;
    const t = tsMs(l.line);
    if (t === undefined || t < from || t > to) continue;
    if (/\bDeleted\b/.test(l.line)) {
      removed++;
      if (since !== undefined) heldMs += t - since;
      since = undefined;
    } else {
      added++;
      since ??= t;
    }
  }
  if (since !== undefined) heldMs += to - since;
  return { added, removed, heldMs };
}

/** The last 64 KiB of a log, as lines. */
function readTail(file: string): string[] {
  try {
    const s = readFileSync(file, 'utf8');
    return s.slice(-65536).split('\n');
  } catch {
    return [];
  }
}

async function tandemTiming(p: Pair, node: NodeName): Promise<Timing | undefined> {
  try {
    return ((await p.status(node)) as unknown as { timing?: Timing }).timing;
  } catch {
    return undefined;
  }
}

const pct = (p: Percentiles | undefined, keys: Array<keyof Percentiles>) =>
  p && keys.every((k) => typeof p[k] === 'number') ? keys.map((k) => `${k.replace('Ms', '')} ${(p[k] as number).toFixed(k === 'samples' ? 0 : 2)}${k === 'samples' ? '' : ' ms'}`).join(', ') : 'n/a';

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '600'));
  const nHogs = Number(arg('hogs', '8'));
  if (!(seconds > 0)) usage(`--seconds must be a positive number, not '${arg('seconds', '')}'`);
  if (!(Number.isInteger(nHogs) && nHogs >= 0 && nHogs <= 256)) usage(`--hogs must be a whole number 0..256, not '${arg('hogs', '')}'`);
  if (!existsSync(KEEPALIVED_BIN)) usage(`keepalived is not installed (need ${KEEPALIVED_BIN}; apt-get install keepalived)`);
  const prefix = arg('prefix', 'tdld');
  const net = arg('net', '10.238');
  process.once('SIGINT', () => void cleanupAll().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanupAll().then(() => process.exit(143)));
  process.once('exit', killHogs);

  const tandem = new Pair({
    prefix: `${prefix}1`, net: `${net}.1`, workDir: join(tmpdir(), 'tandem-bench-load-tandem'),
    keepalive: '10ms', deadtime: '30ms', warntime: '20ms', initdead: '1', media: 'ucast', impl: 'tandem',
  });
  const ka = new KeepalivedPair({ prefix: `${prefix}2`, net: `${net}.2`, workDir: join(tmpdir(), 'tandem-bench-load-keepalived'), advertInt: 0.01 });
  const watched: Watched[] = [
    { name: 'tandem', lab: tandem, exe: process.execPath, dualSampledMs: 0, dualSamples: 0 },
    { name: 'keepalived', lab: ka, exe: KEEPALIVED_BIN, dualSampledMs: 0, dualSamples: 0 },
  ];
  labs.push(tandem, ka);
  console.log('tandem: keepalive 10ms / deadtime 30ms / warntime 20ms, ucast, sha1; keepalived: VRRPv3 unicast advert_int 0.01');
  for (const w of watched) await w.lab.setup();
  for (const w of watched) { w.lab.startNode('alpha'); w.lab.startNode('beta'); }
  const started = performance.now();
  for (const w of watched) {
    await waitFor(`${w.name}: the VIP on alpha`, async () => ((await w.lab.holdsVip('alpha')) ? true : undefined), 30_000, 50);
  }
  await sleep(Math.max(1000, 8000 - (performance.now() - started)));
  for (const w of watched) {
    if (await w.lab.holdsVip('beta')) throw new Error(`${w.name}: the VIP is on beta too before the load`);
    w.beta = new LineWatcher('env', ['TZ=UTC', 'ip', '-ts', '-n', w.lab.ns.beta, 'monitor', 'address']);
    w.alpha = new LineWatcher('env', ['TZ=UTC', 'ip', '-ts', '-n', w.lab.ns.alpha, 'monitor', 'address']);
  }
  const before = { alpha: await tandemTiming(tandem, 'alpha'), beta: await tandemTiming(tandem, 'beta') };
  const alphaPids = { tandem: await pidsByExe(tandem.ns.alpha, process.execPath), keepalived: await ka.pids('alpha') };
  const betaPids = { tandem: await pidsByExe(tandem.ns.beta, process.execPath), keepalived: await ka.pids('beta') };
  await sleep(300);   // the monitors are listening

  // One shell per tick reads all four nodes' addresses.
  const script = watched.flatMap((w) => (['alpha', 'beta'] as const).map((n) => `ip -n ${w.lab.ns[n]} -4 -o addr show dev eth0; echo @@`)).join('; ');
  const cpu0 = watched.map((w) => ({ a: sample(alphaPids[w.name]), b: sample(betaPids[w.name]) }));
  console.log(`load: ${nHogs} busy loops for ${seconds} s`);
  const fromWall = Date.now();
  for (let i = 0; i < nHogs; i++) hogs.push(spawn('sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }));
  const end = performance.now() + seconds * 1000;
  let last = performance.now();
  let samples = 0;
  while (performance.now() < end) {
    const out = await sh('sh', ['-c', script], { allowFail: true, timeoutMs: 10_000 });
    const now = performance.now();
    const parts = out.split('@@');
    watched.forEach((w, i) => {
      const both = [parts[2 * i], parts[2 * i + 1]].every((p) => (p ?? '').includes(` ${w.lab.vip}/`));
      if (both) { w.dualSampledMs += now - last; w.dualSamples++; }
    });
    samples++;
    last = now;
    await sleep(Math.max(0, 100 - (performance.now() - now)));
  }
  const cpu1 = watched.map((w) => ({ a: sample(alphaPids[w.name]), b: sample(betaPids[w.name]) }));
  killHogs();
  const toWall = Date.now();
  await sleep(500);   // the monitors' last lines
  const alive = {
    tandem: tandem.procs.alpha?.exitCode === null && tandem.procs.alpha.signalCode === null,
    keepalived: (await ka.pids('alpha')).length === 2,
  };
  const after = { alpha: await tandemTiming(tandem, 'alpha'), beta: await tandemTiming(tandem, 'beta') };

  const results = watched.map((w, i) => {
    const b = vipEvents(w.beta, w.lab.vip, fromWall, toWall);
    const a = vipEvents(w.alpha, w.lab.vip, fromWall, toWall);
    const ca = cpuPercent(cpu0[i]!.a, cpu1[i]!.a);
    const cb = cpuPercent(cpu0[i]!.b, cpu1[i]!.b);
    return {
      impl: w.name, falseTakeovers: b.added, vipOnBetaMs: b.heldMs, alphaLostVip: a.removed,
      dualSampledMs: w.dualSampledMs, dualSamples: w.dualSamples, alphaAlive: alive[w.name],
      cpuPercent: { alpha: ca.sched, beta: cb.sched },
    };
  });
  for (const w of watched) { w.alpha?.stop(); w.beta?.stop(); }

  console.log(`\nfalse takeovers under load (${nHogs} busy loops, ${seconds} s, ${samples} samples of both nodes' addresses, one per ~${((toWall - fromWall) / Math.max(1, samples)).toFixed(0)} ms)`);
  console.log('impl        false takeovers   VIP on beta (monitor)   VIP on both (sampled) * alpha lost VIP   alpha alive   CPU % alpha / beta under load');
  for (const r of results) {
    console.log(`${r.impl.padEnd(11)} ${String(r.falseTakeovers).padEnd(17)} ${`${r.vipOnBetaMs.toFixed(0)} ms`.padEnd(23)} ${`${r.dualSampledMs.toFixed(0)} ms (${r.dualSamples})`.padEnd(23)} ${String(r.alphaLostVip).padEnd(16)} ${String(r.alphaAlive).padEnd(13)} ${r.cpuPercent.alpha.toFixed(2)} / ${r.cpuPercent.beta.toFixed(2)}`);
  }
  console.log('* sampled: the time from the previous sample to each sample that saw the VIP on both nodes (an upper bound; samples in brackets)');
  // Only what beta said while the load ran, not from setting up or before.
  const inWindow = (l: string) => {
    const t = Date.parse(l.split(' ')[0] ?? '');
    return Number.isFinite(t) && t >= fromWall && t <= toWall;
  };
  const betaSaid = readTail(tandem.logFile('beta')).filter((l) => inWindow(l) && /\bdead\b|takeover|taking|acquir/i.test(l)).slice(-5);
  if (betaSaid.length) console.log(`tandem beta's log during the load:\n  ${betaSaid.join('\n  ')}`);
  console.log('\ntandem timing from `tandem status --json` (since the daemon started; the after-load figures include the load window, percentiles cannot be subtracted):');
  for (const n of ['alpha', 'beta'] as const) {
    const sl = ['samples', 'p50Ms', 'p99Ms', 'maxMs'] as Array<keyof Percentiles>;
    const el = ['p50Ms', 'p99Ms', 'maxMs'] as Array<keyof Percentiles>;
    console.log(`  ${n.padEnd(5)} before load: send lateness ${pct(before[n]?.sendLateness, sl)}; event loop delay ${pct(before[n]?.eventLoopDelay, el)}`);
    console.log(`  ${n.padEnd(5)} after load:  send lateness ${pct(after[n]?.sendLateness, sl)}; event loop delay ${pct(after[n]?.eventLoopDelay, el)}`);
    const s = after[n]?.scheduling;
    console.log(`  ${n.padEnd(5)} scheduling: ${s?.policy ?? 'n/a'}${s?.refused ? ` (realtime refused: ${s.refused})` : ''}`);
  }
  console.log('keepalived: default scheduling (no vrrp_rt_priority / max_auto_priority configured)');
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify({ seconds, hogs: nHogs, samples, results, tandemTiming: { before, after } }, null, 2));
}

main().then(() => cleanupAll()).catch(async (e: Error) => {
  console.error(`bench:load: ${e.message}`);
  await cleanupAll();
  process.exit(1);
});
