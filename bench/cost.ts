// npm run bench:cost — what a heartbeat costs at steady state: CPU and memory
// per node of tandem, keepalived 2.2.7 and Heartbeat 3.0.6, measured in the
// same run on the same machine (issue 13, "The cost of a heartbeat").
//
// Each implementation runs as a pair in network namespaces (lab/pair.ts,
// lab/keepalived.ts), one pair at a time, at each rate:
//   10 ms   tandem keepalive 10ms / deadtime 30ms / warntime 20ms; keepalived advert_int 0.01;
//           Heartbeat not measured (its dead-node check is polled every 250 ms)
//   100 ms  tandem keepalive 100ms / deadtime 300ms / warntime 200ms; keepalived advert_int 0.1;
//           Heartbeat keepalive 100ms / deadtime 300ms / warntime 200ms
// tandem and Heartbeat use ucast and authkeys sha1; keepalived VRRPv3 unicast
// (no authentication: v3 has none). Once alpha holds the VIP and at least
// 8 s have passed since start, every process of the implementation on each
// node (found by its executable in the node's namespace: keepalived's parent
// and VRRP child, Heartbeat's master control process and its readers and
// writers) is sampled over --seconds:
//   CPU %   utime+stime from /proc/PID/stat (all threads) summed over the
//           processes, per second of wall time (resolution: one 10 ms tick
//           over the window); beside it the scheduler's run time
//           (/proc/PID/task/*/schedstat, ns) as a finer check
//   RSS     VmRSS summed over the processes; PSS from smaps_rollup beside it
//           (RSS counts a page shared by N processes N times)
// node-floor: two bare Node endpoints (lab/floor-endpoint.ts) with tandem's
// node flags, each signing and sending one 300-byte datagram per period and
// checking the peer's: what any Node daemon pays at that rate before its own
// code runs, so tandem's figures can be read against it.
// Targets of the issue, printed next to tandem's figures: CPU <= 2x
// keepalived's at the same rate (per node; judged on the scheduler run time,
// as a 10 ms tick cannot tell keepalived's 0.03 % from nothing), RSS <= 45 MB
// (per node).
//
// Usage: npm run bench:cost -- [--seconds 20] [--rates 10,100]
//        [--impl tandem,keepalived,heartbeat,node-floor] [--json FILE]

import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFloorPair } from '../lab/floor.js';
import { KEEPALIVED_BIN, KeepalivedPair } from '../lab/keepalived.js';
import { Pair, type NodeName, type StatusJson } from '../lab/pair.js';
import { cpuPercent, memoryMb, pidsByExe, sample } from '../lab/procstat.js';
import { sleep, waitFor } from '../lab/sh.js';

const HB_BIN = '/usr/libexec/heartbeat/heartbeat';
type Impl = 'tandem' | 'keepalived' | 'heartbeat' | 'node-floor';
const IMPLS: Impl[] = ['tandem', 'keepalived', 'heartbeat', 'node-floor'];
const RATES = [10, 100];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

function usage(msg: string): never {
  console.error(`bench:cost: ${msg}\nusage: npm run bench:cost -- [--seconds 20] [--rates 10,100] [--impl tandem,keepalived,heartbeat,node-floor] [--json FILE]`);
  process.exit(2);
}

interface NodeFigures { procs: number; cpu: number; sched: number; rssMb: number; pssMb: number }
interface Row {
  impl: Impl;
  rateMs: number;
  configured: string;
  skipped?: string;
  nodes?: Record<NodeName, NodeFigures>;
  scheduling?: string | null;
}

/** A lab pair of any implementation, as this bench drives it. */
interface Lab {
  setup(): Promise<void>;
  startNode(node: NodeName): unknown;
  /** Steady state can begin: alpha holds the VIP (node-floor: both endpoints run). */
  ready(): Promise<boolean>;
  cleanup(): Promise<void>;
  readonly ns: Record<NodeName | 'client', string>;
  /** The VIP-holding pair underneath, for the checks only it can answer. */
  readonly inner?: Pair | KeepalivedPair;
}

function vipLab(p: Pair | KeepalivedPair): Lab {
  return {
    setup: () => p.setup(), startNode: (n) => p.startNode(n), ready: () => p.holdsVip('alpha'),
    cleanup: () => p.cleanup(), ns: p.ns, inner: p,
  };
}

const tandemTiming = (rate: number) => rate === 10
  ? { keepalive: '10ms', deadtime: '30ms', warntime: '20ms' }
  : { keepalive: '100ms', deadtime: '300ms', warntime: '200ms' };

function configured(impl: Impl, rate: number): string {
  if (impl === 'keepalived') return `VRRPv3 unicast advert_int ${rate / 1000}`;
  if (impl === 'node-floor') return `bare node, one 300-byte HMAC-SHA1 datagram each way per ${rate} ms`;
  const t = tandemTiming(rate);
  const s = `ucast sha1 keepalive ${t.keepalive} deadtime ${t.deadtime} warntime ${t.warntime}`;
  return impl === 'heartbeat' ? `${s} (dead check polled every 250 ms)` : s;
}

const live: Lab[] = [];

async function measure(impl: Impl, rate: number, seconds: number, idx: number, prefix: string, netBase: string): Promise<Row> {
  const row: Row = { impl, rateMs: rate, configured: configured(impl, rate) };
  if (impl === 'heartbeat' && rate < 100) {
    row.configured = '—';
    row.skipped = 'not measured: Heartbeat polls for dead nodes every 250 ms';
    return row;
  }
  const common = { prefix: `${prefix}${idx}`, net: `${netBase}.${idx}`, workDir: join(tmpdir(), `tandem-bench-cost-${impl}-${rate}`) };
  const lab: Lab = impl === 'keepalived' ? vipLab(new KeepalivedPair({ ...common, advertInt: rate / 1000 }))
    : impl === 'node-floor' ? new NodeFloorPair({ prefix: common.prefix, net: common.net, periodMs: rate })
    : vipLab(new Pair({ ...common, ...tandemTiming(rate), initdead: '1', media: 'ucast', impl }));
  const exe = impl === 'tandem' || impl === 'node-floor' ? process.execPath : impl === 'heartbeat' ? HB_BIN : KEEPALIVED_BIN;
  live.push(lab);
  try {
    await lab.setup();
    const started = performance.now();
    lab.startNode('alpha');
    lab.startNode('beta');
    // Heartbeat waits RQSTDELAY (10 s) before it takes its resources.
    await waitFor(`${impl}: ${impl === 'node-floor' ? 'both endpoints running' : 'the VIP on alpha'}`, async () => ((await lab.ready()) ? true : undefined), 60_000, 50);
    await sleep(Math.max(2000, 8000 - (performance.now() - started)));
    if (lab.inner && await lab.inner.holdsVip('beta')) throw new Error(`${impl} ${rate} ms: the VIP is on both nodes at steady state`);
    const pids = {
      alpha: await pidsByExe(lab.ns.alpha, exe),
      beta: await pidsByExe(lab.ns.beta, exe),
    };
    for (const n of ['alpha', 'beta'] as const) if (pids[n].length === 0) throw new Error(`${impl} ${rate} ms: no ${exe} process in ${n}'s namespace`);
    const s0 = { alpha: sample(pids.alpha), beta: sample(pids.beta) };
    await sleep(seconds * 1000);
    const s1 = { alpha: sample(pids.alpha), beta: sample(pids.beta) };
    const fig = (n: NodeName): NodeFigures => {
      const c = cpuPercent(s0[n], s1[n]);
      const m = memoryMb(pids[n]);
      return { procs: pids[n].length, cpu: c.stat, sched: c.sched, rssMb: m.rss, pssMb: m.pss };
    };
    row.nodes = { alpha: fig('alpha'), beta: fig('beta') };
    if (lab.inner instanceof Pair && impl === 'tandem') {
      const st = await lab.inner.status('alpha').catch(() => undefined) as (StatusJson & { timing?: { scheduling?: { policy?: string } | null } }) | undefined;
      row.scheduling = st?.timing?.scheduling?.policy ?? null;
    }
    return row;
  } finally {
    await lab.cleanup();
    live.splice(live.indexOf(lab), 1);
  }
}

const f2 = (x: number) => x.toFixed(2);
const f1 = (x: number) => x.toFixed(1);

function printTable(rows: Row[], seconds: number): void {
  console.log(`\ncost of a heartbeat at steady state, per node (alpha holds the VIP; ${seconds} s window; CPU % of one core)`);
  console.log('impl        rate    procs a/b  CPU % alpha / beta   (sched run time)   RSS MB alpha / beta   PSS MB alpha / beta   configured');
  for (const r of rows) {
    const head = `${r.impl.padEnd(11)} ${`${r.rateMs} ms`.padEnd(7)} `;
    if (!r.nodes) {
      console.log(`${head}${'—'.padEnd(10)} ${'—'.padEnd(20)} ${''.padEnd(18)} ${'—'.padEnd(21)} ${'—'.padEnd(21)} ${r.skipped ?? ''}`);
      continue;
    }
    const { alpha: a, beta: b } = r.nodes;
    console.log(`${head}${`${a.procs}/${b.procs}`.padEnd(10)} ${`${f2(a.cpu)} / ${f2(b.cpu)}`.padEnd(20)} ${`(${f2(a.sched)} / ${f2(b.sched)})`.padEnd(18)} ${`${f1(a.rssMb)} / ${f1(b.rssMb)}`.padEnd(21)} ${`${f1(a.pssMb)} / ${f1(b.pssMb)}`.padEnd(21)} ${r.configured}`);
  }
  const sched = rows.find((r) => r.impl === 'tandem' && r.scheduling !== undefined)?.scheduling;
  if (sched !== undefined) console.log(`tandem's scheduling (status timing.scheduling): ${sched ?? 'n/a (not in status)'}`);

  const tandem = rows.filter((r) => r.impl === 'tandem' && r.nodes);
  if (tandem.length === 0) return;
  // At 10 ms a tick, utime+stime reads 0.00 % for a process that ran 0.04 %:
  // the bound is judged on the scheduler's run time, both are printed.
  console.log('\ntargets (issue 13) for tandem (CPU judged on the scheduler run time; utime+stime in brackets):');
  for (const t of tandem) {
    const k = rows.find((r) => r.impl === 'keepalived' && r.rateMs === t.rateMs && r.nodes);
    for (const n of ['alpha', 'beta'] as const) {
      const tc = t.nodes![n].sched;
      if (k) {
        const bound = 2 * k.nodes![n].sched;
        console.log(`  ${`${t.rateMs} ms`.padEnd(7)} ${n.padEnd(5)}  CPU ${f2(tc)} % [${f2(t.nodes![n].cpu)}] <= 2 x keepalived ${f2(k.nodes![n].sched)} % [${f2(k.nodes![n].cpu)}] = ${f2(bound)} %   ${tc <= bound ? 'PASS' : 'FAIL'}`);
      } else {
        console.log(`  ${`${t.rateMs} ms`.padEnd(7)} ${n.padEnd(5)}  CPU ${f2(tc)} % [${f2(t.nodes![n].cpu)}]: keepalived not measured at this rate`);
      }
      const rss = t.nodes![n].rssMb;
      console.log(`  ${`${t.rateMs} ms`.padEnd(7)} ${n.padEnd(5)}  RSS ${f1(rss)} MB <= 45 MB   ${rss <= 45 ? 'PASS' : 'FAIL'}`);
    }
  }
  const floors = rows.filter((r) => r.impl === 'node-floor' && r.nodes);
  if (floors.length === 0) return;
  console.log('\nagainst Node\'s floor (bare node endpoints, same flags, same rate; scheduler run time, RSS):');
  for (const fl of floors) {
    const t = tandem.find((r) => r.rateMs === fl.rateMs);
    const k = rows.find((r) => r.impl === 'keepalived' && r.rateMs === fl.rateMs && r.nodes);
    for (const n of ['alpha', 'beta'] as const) {
      const floor = fl.nodes![n];
      const parts = [`floor CPU ${f2(floor.sched)} %, RSS ${f1(floor.rssMb)} MB`];
      if (t) parts.push(`tandem ${f2(t.nodes![n].sched)} % = ${f1(t.nodes![n].sched / floor.sched)}x the floor, RSS +${f1(t.nodes![n].rssMb - floor.rssMb)} MB`);
      if (k) parts.push(`the floor is ${f1(floor.sched / Math.max(k.nodes![n].sched, 0.01))}x keepalived`);
      console.log(`  ${`${fl.rateMs} ms`.padEnd(7)} ${n.padEnd(5)}  ${parts.join('; ')}`);
    }
  }
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '20'));
  if (!(seconds > 0)) usage(`--seconds must be a positive number, not '${arg('seconds', '')}'`);
  const rates = arg('rates', RATES.join(',')).split(',').map(Number);
  for (const r of rates) if (!RATES.includes(r)) usage(`--rates: ${r} is not one of ${RATES.join(', ')}`);
  const impls = arg('impl', IMPLS.join(',')).split(',') as Impl[];
  for (const i of impls) if (!IMPLS.includes(i)) usage(`--impl: '${i}' is not one of ${IMPLS.join(', ')}`);
  for (const [impl, bin, pkg] of [['keepalived', KEEPALIVED_BIN, 'keepalived'], ['heartbeat', HB_BIN, 'heartbeat']] as const) {
    if (impls.includes(impl) && !existsSync(bin)) {
      console.error(`${impl} is not installed (apt-get install ${pkg}); not measured`);
      impls.splice(impls.indexOf(impl), 1);
    }
  }
  const prefix = arg('prefix', 'tdcs');
  const netBase = arg('net', '10.237');
  const onSignal = () => {
    void Promise.all(live.map((l) => l.cleanup().catch(() => undefined))).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: Row[] = [];
  let idx = 1;
  for (const rate of rates) {
    for (const impl of impls) {
      console.log(`${impl}, ${rate} ms: ${impl === 'heartbeat' && rate < 100 ? 'not measured' : configured(impl, rate)}`);
      const row = await measure(impl, rate, seconds, idx++, prefix, netBase);
      rows.push(row);
      if (row.nodes) console.log(`  CPU % ${f2(row.nodes.alpha.cpu)} / ${f2(row.nodes.beta.cpu)}, RSS ${f1(row.nodes.alpha.rssMb)} / ${f1(row.nodes.beta.rssMb)} MB`);
    }
  }
  printTable(rows, seconds);
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify({ seconds, rows }, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench:cost: ${e.message}`);
  void Promise.all(live.map((l) => l.cleanup().catch(() => undefined))).then(() => process.exit(1));
});
