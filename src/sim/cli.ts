// npm run sim -- [--vrrp] --seeds N [--from S | --seed S] [--steps K] [--verbose] [--workers W] [--no-monitors]
//
// --vrrp runs the VRRP schedules (src/sim/vrrp.ts) instead of the Heartbeat ones.
//
// Runs seeds S..S+N-1 (S defaults to 1; --seed alone runs just S; --from is
// the same as --seed, for a range) and prints
// how many schedules and steps ran and every violation with its seed and the
// end of its trace. A seed's run depends on nothing but the seed (and
// --steps), so `--seed S` replays a reported violation exactly. --no-monitors
// replays a seed as it ran before monitored resources were simulated (the
// seeds the tests name for the bugs they found).

import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DEFAULT_STEPS, formatViolation, makeScenario, runSeed, type SimResult } from './sim.js';
import { formatVrrpViolation, runVrrpSeed, type VrrpStats } from './vrrp.js';

interface Opts {
  from: number;
  count: number;
  steps: number;
  verbose: boolean;
  workers: number;
  single: boolean;
  vrrp: boolean;
  monitors: boolean;
}

interface Batch {
  vrrp: VrrpStats;
  vrrpViolations: string[];
  schedules: number;
  steps: number;
  truncated: number;
  violations: SimResult[];
  fence: { scenarios: number; fences: number; takeovers: number; races: number; racesActiveLost: number };
  monitor: { scenarios: number; kills: number; monitorRestarts: number; monitorMoves: number; monitorTimeouts: number; killRepairs: number; killRepairMaxShare: number };
  quorum: {
    scenarios: number; arbiter: number; etcd: number; ping: number;
    leaseHandovers: number; noGrantReleases: number; ipfailHandovers: number; arbDualSteps: number; tightOverlaps: number;
  };
}

const USAGE = 'usage: sim [--vrrp] --seeds N [--from S | --seed S] [--steps K] [--verbose] [--workers W] [--no-monitors]\n' +
  '  runs seeds S..S+N-1 (S = 1 by default); --seed S alone replays seed S. Seeds are 32-bit (0..4294967295).\n' +
  '  --vrrp: the VRRP schedules (keepalived instances on 2 or 3 hosts) instead of the Heartbeat ones.\n' +
  '  --no-monitors: no monitored resources (a seed as it ran before they were simulated).';

// The PRNG mixes a seed in as a 32-bit integer (rng.ts): a larger one would
// silently replay a smaller one.
const MAX_SEED = 0xffff_ffff;

function parseArgs(argv: string[]): Opts {
  let seeds: number | undefined;
  let seed: number | undefined;
  let steps = DEFAULT_STEPS;
  let verbose = false;
  let vrrp = false;
  let monitors = true;
  let workers: number | undefined;
  const num = (flag: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(v);
    if (v === undefined || !/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`${flag} needs an integer from ${min} to ${max}\n${USAGE}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--seeds': seeds = num(a, argv[++i], 1); break;
      case '--seed': case '--from': seed = num(a, argv[++i], 0, MAX_SEED); break;
      case '--steps': steps = num(a, argv[++i], 1); break;
      case '--workers': workers = num(a, argv[++i], 1); break;
      case '--verbose': verbose = true; break;
      case '--vrrp': vrrp = true; break;
      case '--no-monitors': monitors = false; break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new Error(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  const count = seeds ?? (seed !== undefined ? 1 : 100);
  if ((seed ?? 1) + count - 1 > MAX_SEED) throw new Error(`seeds ${seed ?? 1}..${(seed ?? 1) + count - 1} go past ${MAX_SEED}\n${USAGE}`);
  const single = count === 1;
  // Verbose output is one ordered stream: keep it in this thread.
  const w = verbose || single ? 1 : (workers ?? Math.min(availableParallelism(), 8));
  return { from: seed ?? 1, count, steps, verbose, workers: Math.max(1, Math.min(w, count)), single, vrrp, monitors };
}

const noFence = (): Batch['fence'] => ({ scenarios: 0, fences: 0, takeovers: 0, races: 0, racesActiveLost: 0 });
const noVrrp = (): VrrpStats => ({
  masters: 0, priority0Checks: 0, settledSteps: 0, adverts: 0, crossVrDrops: 0,
  guardHandovers: 0, guardClaims: 0, guardRevocations: 0, guardExpiries: 0, priority0Reordered: 0,
});
const noMonitor = (): Batch['monitor'] => ({ scenarios: 0, kills: 0, monitorRestarts: 0, monitorMoves: 0, monitorTimeouts: 0, killRepairs: 0, killRepairMaxShare: 0 });
const noQuorum = (): Batch['quorum'] => ({
  scenarios: 0, arbiter: 0, etcd: 0, ping: 0, leaseHandovers: 0, noGrantReleases: 0, ipfailHandovers: 0, arbDualSteps: 0, tightOverlaps: 0,
});

function runBatch(from: number, count: number, stride: number, offset: number, steps: number, verbose: boolean, single: boolean, vrrp: boolean, monitors: boolean): Batch {
  const out: Batch = { vrrp: noVrrp(), vrrpViolations: [], schedules: 0, steps: 0, truncated: 0, violations: [], fence: noFence(), monitor: noMonitor(), quorum: noQuorum() };
  for (let i = offset; i < count; i += stride) {
    const seed = from + i;
    if (vrrp) {
      const r = runVrrpSeed(seed, { steps, ...(verbose ? { verbose: (line: string) => process.stdout.write(`${line}\n`) } : {}) });
      out.schedules += 1;
      out.steps += r.steps;
      for (const k of Object.keys(out.vrrp) as Array<keyof VrrpStats>) out.vrrp[k] += r.stats[k];
      if (r.violation) out.vrrpViolations.push(formatVrrpViolation(r));
      if (single) process.stdout.write(`seed ${seed}: ${r.steps} steps, ${r.simMs} ms simulated\n`);
      continue;
    }
    const r = runSeed(seed, {
      steps,
      hash: single,
      ...(monitors ? {} : { monitors: false }),
      ...(verbose ? { verbose: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    });
    out.schedules += 1;
    out.steps += r.steps;
    if (r.truncated) out.truncated += 1;
    if (r.violation) out.violations.push(r);
    const params = makeScenario(seed, monitors ? {} : { monitors: false }).params;
    if (params.groups.some((g) => g.monitors)) {
      out.monitor.scenarios += 1;
      for (const k of ['kills', 'monitorRestarts', 'monitorMoves', 'monitorTimeouts', 'killRepairs'] as const) out.monitor[k] += r.stats[k];
      out.monitor.killRepairMaxShare = Math.max(out.monitor.killRepairMaxShare, r.stats.killRepairMaxShare);
    }
    const q = params.quorum;
    if (q) {
      out.quorum.scenarios += 1;
      if (q.arbiter === 'arbiter') out.quorum.arbiter += 1;
      if (q.arbiter === 'etcd') out.quorum.etcd += 1;
      if (q.pingTargets > 0) out.quorum.ping += 1;
      for (const k of ['leaseHandovers', 'noGrantReleases', 'ipfailHandovers', 'arbDualSteps', 'tightOverlaps'] as const) out.quorum[k] += r.stats[k];
    }
    if (params.fencing) {
      out.fence.scenarios += 1;
      out.fence.fences += r.stats.fences;
      out.fence.takeovers += r.stats.takeovers;
      out.fence.races += r.stats.races;
      out.fence.racesActiveLost += r.stats.racesActiveLost;
    }
    if (single) process.stdout.write(`seed ${seed}: ${r.steps} steps, ${r.simMs} ms simulated, trace hash ${r.hash}\n`);
  }
  return out;
}

async function main(): Promise<number> {
  let o: Opts;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const t0 = performance.now();
  let batches: Batch[];
  if (o.workers === 1) {
    batches = [runBatch(o.from, o.count, 1, 0, o.steps, o.verbose, o.single, o.vrrp, o.monitors)];
  } else {
    batches = await Promise.all(Array.from({ length: o.workers }, (_, i) => new Promise<Batch>((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { from: o.from, count: o.count, stride: o.workers, offset: i, steps: o.steps, vrrp: o.vrrp, monitors: o.monitors } });
      w.once('message', (b: Batch) => resolve(b));
      w.once('error', reject);
      w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker ${i} exited with ${code}`)); });
    })));
  }
  const total: Batch = { vrrp: noVrrp(), vrrpViolations: [], schedules: 0, steps: 0, truncated: 0, violations: [], fence: noFence(), monitor: noMonitor(), quorum: noQuorum() };
  for (const b of batches) {
    total.schedules += b.schedules;
    total.steps += b.steps;
    total.truncated += b.truncated;
    total.violations.push(...b.violations);
    total.vrrpViolations.push(...b.vrrpViolations);
    for (const k of Object.keys(total.vrrp) as Array<keyof VrrpStats>) total.vrrp[k] += b.vrrp[k];
    for (const k of Object.keys(total.fence) as Array<keyof Batch['fence']>) total.fence[k] += b.fence[k];
    for (const k of Object.keys(total.quorum) as Array<keyof Batch['quorum']>) total.quorum[k] += b.quorum[k];
    for (const k of Object.keys(total.monitor) as Array<keyof Batch['monitor']>) {
      total.monitor[k] = k === 'killRepairMaxShare' ? Math.max(total.monitor[k], b.monitor[k]) : total.monitor[k] + b.monitor[k];
    }
  }
  total.violations.sort((a, b) => a.seed - b.seed);
  for (const v of total.violations) process.stdout.write(`${formatViolation(v)}\n\n`);
  const secs = (performance.now() - t0) / 1000;
  const last = o.from + o.count - 1;
  if (o.vrrp) {
    for (const v of total.vrrpViolations.sort()) process.stdout.write(`${v}\n\n`);
    const seeds = total.vrrpViolations.map((v) => /seed (\d+)/.exec(v)![1]).map(Number).sort((a, b) => a - b);
    const s = total.vrrp;
    process.stdout.write([
      `vrrp schedules run: ${total.schedules} (seeds ${o.from}..${last})`,
      `total steps:   ${total.steps}`,
      `vrrp:          ${s.adverts} adverts sent, ${s.masters} transitions to MASTER, ${s.priority0Checks} graceful stops of a sole master checked for takeover (${s.priority0Reordered} excused: an older advert overtook the priority 0), ` +
        `${s.settledSteps} settled steps checked, ${s.crossVrDrops} adverts of another virtual router refused by the codec`,
      `guard:         ${s.guardHandovers} leases granted, ${s.guardClaims} claims (adverts of a BACKUP held by the guard), ` +
        `${s.guardRevocations} leases revoked from a running holder, ${s.guardExpiries} leases of a dead holder expired`,
      `violations:    ${seeds.length}${seeds.length ? ` (seeds ${seeds.join(', ')})` : ''}`,
      `wall time:     ${secs.toFixed(1)} s on ${o.workers} thread(s)`,
    ].join('\n') + '\n');
    return seeds.length ? 1 : 0;
  }
  process.stdout.write([
    `schedules run: ${total.schedules} (seeds ${o.from}..${last})`,
    `total steps:   ${total.steps}${total.truncated ? ` (${total.truncated} schedule(s) cut short by --steps ${o.steps})` : ''}`,
    `fencing:       ${total.fence.scenarios} schedule(s), ${total.fence.fences} fences, ${total.fence.takeovers} takeovers, ` +
      `${total.fence.races} symmetric races (active node shot in ${total.fence.racesActiveLost}: its switch failed or fence_delay was tight)`,
    `quorum:        ${total.quorum.scenarios} schedule(s) (${total.quorum.arbiter} tandem arbiter, ${total.quorum.etcd} etcd, ${total.quorum.ping} with ping targets), ` +
      `${total.quorum.leaseHandovers} lease handovers, ${total.quorum.noGrantReleases} releases for want of a lease, ${total.quorum.ipfailHandovers} ipfail handovers, ` +
      `${total.quorum.arbDualSteps} checked dual-hold steps with an arbiter (${total.quorum.tightOverlaps} overlaps with a tight arbiter_safety)`,
    `monitors:      ${total.monitor.scenarios} schedule(s), ${total.monitor.kills} services killed, ${total.monitor.monitorRestarts} restarts in place, ${total.monitor.monitorMoves} moves at migration-threshold, ` +
      `${total.monitor.monitorTimeouts} hung checks killed at their timeout; ${total.monitor.killRepairs} repairs timed from a settled pair, the longest ${Math.round(total.monitor.killRepairMaxShare * 100)} % of its bound`,
    `violations:    ${total.violations.length}${total.violations.length ? ` (seeds ${total.violations.map((v) => v.seed).join(', ')})` : ''}`,
    `wall time:     ${secs.toFixed(1)} s on ${o.workers} thread(s)`,
  ].join('\n') + '\n');
  return total.violations.length ? 1 : 0;
}

if (isMainThread) {
  // `| head` closes the pipe early: that is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw e; });
  main().then((code) => { process.exitCode = code; }, (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 2;
  });
} else {
  const d = workerData as { from: number; count: number; stride: number; offset: number; steps: number; vrrp: boolean; monitors: boolean };
  parentPort!.postMessage(runBatch(d.from, d.count, d.stride, d.offset, d.steps, false, false, d.vrrp, d.monitors));
}
