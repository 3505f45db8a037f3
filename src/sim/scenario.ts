// A schedule for one simulated run, derived from its seed alone: the pair's
// timing, resource groups and heartbeat paths, the fault episodes, and the
// time bounds the checker holds the engine to (docs/simulation.md derives
// them).

import type { AutoFailback } from '../config/types.js';
import type { GroupSpec } from '../resources/machine.js';
import { Rng } from './rng.js';

export const NODE_NAMES = ['alpha', 'beta'] as const;
export type NodeIx = 0 | 1;

export interface PathParams {
  name: string;
  delayMs: number;          // fixed one-way latency
  jitterMs: number;         // plus uniform 0..jitter
  dup: number;              // probability that a packet arrives twice
  reorder: number;          // probability that a packet is held back by up to reorderMs, behind later ones
  reorderMs: number;
}

export interface Params {
  keepaliveMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
  autoFailback: AutoFailback;
  groups: GroupSpec[];
  stopRetries: number;
  stopRetryDelayMs: number;
  paths: PathParams[];
  opMs: readonly [number, number];      // a healthy resource operation
  slowOpMs: number;                     // longest operation while a slow-ops fault is active
  writeMs: readonly [number, number];   // one fsynced store write
  bootMs: readonly [number, number];    // process start until the store is open
  timerSlackMs: number;                 // how late a due timer fires in a running process
  wallStartS: number;                   // wall clock at t=0, seconds
  horizonMs: number;                    // faults begin before this; everything heals here
  endMs: number;
  /** STONITH: each node has a power switch for its peer. Absent = no fencing (Heartbeat without STONITH). */
  fencing?: FencingParams;
  /** Quorum: ping nodes (ipfail) and/or an arbiter holding one lease per group. Absent = no quorum rules. */
  quorum?: QuorumParams;
}

export type ArbiterKind = 'none' | 'arbiter' | 'etcd';

export interface QuorumParams {
  arbiter: ArbiterKind;
  ttlMs: number;                        // arbiter_ttl
  safetyMs: number;                     // arbiter_safety
  retryMs: number;
  /** arbiter_safety below the holder's stop walk: the lease does not cover stopping (statistic only, as tightDelay). */
  tightSafety: boolean;
  /** Links from each node to the arbiter: one-way latency and jitter. */
  arbLink: readonly [{ delayMs: number; jitterMs: number }, { delayMs: number; jitterMs: number }];
  arbWriteMs: readonly [number, number];
  arbBootMs: readonly [number, number];
  /** Ping targets (gateways) each node probes every keepalive; 0 = no ping nodes. */
  pingTargets: number;
  deadpingMs: number;
  ipfail: { enabled: boolean; delayMs: number; dwellMs: number };
  pingRttMs: number;
  /** Clock rate of each host's monotonic clock and of the arbiter's (1 = exact), within the drift margin. */
  rates: readonly [number, number, number];
}

export interface FencingParams {
  deviceMs: readonly [number, number];  // a healthy device: power off and confirm
  timeoutMs: number;                    // the device's timeout: an unanswered call fails after it
  fenceDelayMs: number;                 // fence_delay (>= timeoutMs, as the config requires)
  /** fence_delay the least the config accepts (timeout + keepalive + 100 ms), not above timeout + keepalive + 2 hops. */
  tightDelay: boolean;
  retryMs: number;
  retryMaxMs: number;
  checkIntervalMs: number;              // 0 = no periodic checks
  offMs: readonly [number, number];     // a fenced host stays off this long, then powers on and boots
}

/** A fault of the switch node n uses against its peer. */
export type DeviceFaultMode = 'slow' | 'fail' | 'unreachable';

/** A network impairment, active between its on and off events. dirs: the sending node. */
export interface NetSpec {
  kind: 'cut' | 'loss' | 'slow' | 'dup';
  paths: number[];
  dirs: NodeIx[];
  p: number;                // loss or duplication probability
  extraMs: number;          // slow: each packet is delayed by a further 0..extraMs
}

export type OpFaultMode = 'start-fail' | 'stop-fail' | 'slow';
/** A monitor fault: the check hangs (killed at its timeout, as the runner does), errors, or is slow within its timeout. */
export type MonitorFaultMode = 'hang' | 'fail' | 'slow';

export type Fault =
  | { k: 'boot'; n: NodeIx }
  | { k: 'crash'; n: NodeIx }             // kill -9: resources stay configured
  /** kill -9 or power loss of a node that stays down past the heal, until its own boot: the survivor runs alone after it. */
  | { k: 'node-loss'; n: NodeIx; power: boolean }
  | { k: 'power-off'; n: NodeIx }         // resources vanish with the host
  | { k: 'shutdown'; n: NodeIx }          // graceful: release everything, then exit
  | { k: 'pause'; n: NodeIx }             // SIGSTOP
  | { k: 'resume'; n: NodeIx }
  | { k: 'net'; id: number; on: boolean; spec: NetSpec; label: string }
  | { k: 'ops'; id: number; on: boolean; n: NodeIx; group?: string; mode: OpFaultMode; p: number }
  | { k: 'wall-jump'; n: NodeIx; deltaS: number }
  /** A monitored resource dies on node n (the service crashed): its monitor must notice. */
  | { k: 'kill'; n: NodeIx; group: string; index: number }
  | { k: 'mon'; id: number; on: boolean; n: NodeIx; mode: MonitorFaultMode; p: number }
  | { k: 'device'; id: number; on: boolean; n: NodeIx; mode: DeviceFaultMode; permanent: boolean }
  /** The link between a node and the arbiter; spec.paths = nodes, spec.dirs: 0 = node to arbiter, 1 = arbiter to node. */
  | { k: 'arb-net'; id: number; on: boolean; spec: NetSpec; label: string }
  | { k: 'arb-crash' }
  | { k: 'arb-boot' }
  | { k: 'arb-pause' }
  | { k: 'arb-resume' }
  /** Ping targets that stop answering the given nodes. */
  | { k: 'gw'; id: number; on: boolean; nodes: NodeIx[]; targets: number[] }
  /** An operator's day-2 command on node n (docs/operations.md), as through its control socket. */
  | { k: 'operator'; n: NodeIx; op: 'standby' | 'takeover' | 'cleanup'; which: 'all' | 'local' | 'foreign'; group: string }
  | { k: 'heal-all' };

export interface ScheduledFault {
  at: number;
  f: Fault;
}

export interface Bounds {
  hopMs: number;            // one message over a healthy path, plus timer slack
  hearMs: number;           // keepalive + hop: each side holds the other's current report
  writeMs: number;          // one group's write, queued behind every other write the node may have pending
  opMs: number;             // longest healthy operation
  claimMs: number;          // connected longer than this, no node may begin starting a group the peer holds
  claimBothMs: number;      // both engines may claim (starting/running) a group at most this long after reconnecting
  dualMs: number;           // dual holding must end this long after the nodes can hear each other
  settleMs: number;         // everything healthy this long: exactly one node holds each group
  soloMs: number;           // one node alone this long: it holds every group
  fenceMs: number;          // with fencing, a takeover may take this much longer (0 without)
  leaseMs: number;          // with an arbiter, a takeover may take this much longer for the lease (0 without)
  walkMs: number;           // a node that lost its right to a group has stopped it within this (arbiter: the safety it needs)
  killMs: number;           // a monitored resource died: it is restarted in place or its group moved within this (0: no monitors)
  initdeadMs?: number;
}

export interface Scenario {
  seed: number;
  params: Params;
  faults: ScheduledFault[];
  bounds: Bounds;
}

export function boundsFor(p: Params): Bounds {
  const K = p.keepaliveMs;
  const eps = p.timerSlackMs + 1;                       // + the daemon's ceil to whole ms
  let delta = 0;
  for (const pp of p.paths) delta = Math.max(delta, pp.delayMs + pp.jitterMs + (pp.reorder > 0 ? pp.reorderMs : 0));
  const hop = delta + eps;
  const hear = K + hop;
  let R = 0;
  for (const g of p.groups) R = Math.max(R, g.resourceCount);
  const O = p.opMs[1];
  const W = (p.groups.length + 2) * p.writeMs[1];
  const Sr = p.stopRetryDelayMs;
  // Two rounds of reports (a side may decide once on a report that predates
  // the other's last phase change, which is announced only at the next
  // keepalive), a stop retry that was already pending, the op in flight and
  // the write before it, then the loser's whole stop walk.
  // The loser gives up its claim at its first decision on a current report,
  // once the op in flight (and the write queued before it) has finished.
  const claimBothMs = 2 * hear + W + O;
  const dualMs = 2 * hear + Sr + W + (R + 1) * O;
  // Then at most one more handover (failback, or the yielding side's leftover
  // cleanup followed by the preferred node's start): a report round, a stop
  // walk, the announce, the durable hold and a start walk.
  let settleMs = dualMs + 2 * hear + 2 * W + (2 * R + 1) * O;
  // ipfail: once the ping targets answer again, upAfter probes, then the
  // node that reached fewer waits deadtime before it starts anything, and
  // until the peer has read its new count: our next report, the peer's
  // answer (two hears from the change), which deadtime covers unless the
  // hop is long.
  const qp = p.quorum;
  if (qp && qp.pingTargets > 0 && qp.ipfail.enabled) settleMs += 3 * K + qp.pingRttMs + eps + Math.max(p.deadtimeMs, 2 * hear);
  // Monitoring. A dead resource is seen within detectMs: the check that
  // read it just before it died still reports within min(timeout, O) (a
  // healthy call), the next is issued an interval later (plus a timer's
  // lateness) and reports within min(timeout, O). Then a restart in place
  // (a stop walk down to it, a start walk back: 2R ops) or a move (the stop
  // walk and the release here, a report round, the hold and the start walk
  // there: 2 hear + 2 W + 2R ops).
  let detectMs = 0;
  for (const g of p.groups) for (const m of g.monitors ?? []) if (m) detectMs = Math.max(detectMs, m.intervalMs + 2 * Math.min(m.timeoutMs, O) + eps);
  const recoverMs = 2 * hear + 2 * W + 2 * R * O;
  // At the heal a check may still be counting a failure (a hang killed at
  // its timeout ends the fault only when it returns: the checker's quiet
  // clock starts then) or a service died just before it.
  const monMs = detectMs > 0 ? detectMs + recoverMs : 0;
  settleMs += monMs;
  // A service that dies while everything is healthy (or alone) starts the
  // clock again: a walk already under way (a start with its hold, or a
  // restart after an earlier death: 2R ops and a write) ends, the first
  // check comes an interval after the group runs again, then detection and
  // recovery as above.
  const killMs = detectMs > 0 ? 2 * R * O + W + detectMs + recoverMs : 0;
  // Alone: the peer is declared dead after deadtime (initdead if we just
  // booted), then a pending stop walk and a start walk.
  const soloMs = Math.max(p.deadtimeMs, p.initdeadMs) + eps + Sr + 2 * W + (2 * R + 1) * O;
  // With fencing the survivor first fences its peer: fence_delay if it held
  // fewer groups, an unreachable call already running (timeout), the longest
  // back-off after failed rounds, then a healthy fence.
  const f = p.fencing;
  const fenceMs = f ? f.fenceDelayMs + f.timeoutMs + f.retryMaxMs + f.deviceMs[1] : 0;
  // A holder that loses its right (lease deadline, or a resume after its
  // lease ran out) stops within a timer's lateness, a pending stop retry,
  // the write and op in flight and its stop walk.
  const walkMs = eps + Sr + W + (R + 1) * O;
  // With an arbiter the survivor needs the lease. The solo clock runs only
  // while the arbiter runs unimpaired, so the old holder's grant (renewed
  // at most at the peer's death, or granted anew for a full TTL by an
  // arbiter restart before the clock started) ends within a TTL; the
  // survivor's grace (deadtime + safety) runs from its first request,
  // which comes after max(D, I) (counted above); then a denial's retry
  // (a quarter TTL, with etcd whole seconds), a retry after a lost
  // answer, round trips and the arbiter's writes, and with etcd the
  // takeover delay (the grace again). Ping targets must first be seen up
  // again (upAfter probes) when configured.
  const q = p.quorum;
  let leaseMs = 0;
  if (q) {
    const arbHop = Math.max(q.arbLink[0].delayMs + q.arbLink[0].jitterMs, q.arbLink[1].delayMs + q.arbLink[1].jitterMs) + eps + q.arbWriteMs[1] * 4;
    if (q.arbiter !== 'none') {
      const grace = p.deadtimeMs + q.safetyMs;
      leaseMs = Math.max(q.ttlMs, grace) + 2 * q.retryMs + Math.max(1000, q.ttlMs / 4) + 4 * arbHop + (q.arbiter === 'etcd' ? grace + 1000 : 0);
    }
    if (q.pingTargets > 0) leaseMs += 3 * p.keepaliveMs + q.pingRttMs + eps;
  }
  return { hopMs: hop, hearMs: hear, writeMs: W, opMs: O, claimMs: p.deadtimeMs, claimBothMs, dualMs, settleMs, soloMs: soloMs + fenceMs + leaseMs + monMs, fenceMs, leaseMs, walkMs, killMs, initdeadMs: p.initdeadMs };
}

export interface ScenarioOptions {
  /**
   * Draw monitored resources (default true). false replays the schedule a
   * seed had before monitoring was simulated: the seeds named in the tests
   * for the bugs they found.
   */
  monitors?: boolean;
}

export function makeScenario(seed: number, opts: ScenarioOptions = {}): Scenario {
  const r = new Rng(seed, 1);
  const K = r.pick([100, 200, 250, 500, 1000]);
  const D = K * r.int(3, 10);
  const I = r.weighted([[D, 2], [2 * D, 3], [3 * D, 1]] as const);
  const nGroups = r.int(1, 3);
  const groups: GroupSpec[] = [];
  for (let i = 1; i <= nGroups; i++) {
    groups.push({ name: `g${i}`, preferredNode: r.chance(0.8) ? 'alpha' : 'beta', resourceCount: r.int(1, 4) });
  }
  const nPaths = r.int(1, 3);
  const paths: PathParams[] = [];
  const lan = Math.max(1, Math.floor(K / 20));
  for (let i = 0; i < nPaths; i++) {
    paths.push({
      name: `path${i}`,
      delayMs: r.int(0, lan),
      jitterMs: r.int(0, lan),
      dup: r.chance(0.3) ? 0.05 : 0,
      reorder: r.chance(0.3) ? 0.1 : 0,
      reorderMs: r.int(1, lan * 2),
    });
  }
  const opMax = r.weighted([[2, 2], [20, 3], [Math.floor(K / 2), 3], [2 * K, 2], [D, 1]] as const);
  const writeMax = r.int(1, 30);
  const params: Params = {
    keepaliveMs: K,
    warntimeMs: r.int(K, D - 1),
    deadtimeMs: D,
    initdeadMs: I,
    autoFailback: r.weighted([['on', 3], ['off', 3], ['legacy', 1]] as const),
    groups,
    stopRetries: r.pick([0, 1, 3, 10]),
    stopRetryDelayMs: r.pick([K, 1000]),
    paths,
    opMs: [1, opMax],
    slowOpMs: 2 * D,
    writeMs: [1, writeMax],
    bootMs: [20, 300],
    timerSlackMs: r.int(0, 3),
    wallStartS: 1_700_000_000 + r.int(0, 1_000_000),
    horizonMs: K * r.int(40, 160),
    endMs: 0,
  };
  // Fencing is drawn from its own stream: a seed without it has exactly the
  // schedule it had before fencing existed.
  const fr = new Rng(seed, 4);
  if (fr.chance(0.5)) {
    const devMax = fr.pick([20, 100, 500, 2000]);
    const timeoutMs = devMax * fr.pick([2, 4]);
    // The two nodes declare each other dead up to a keepalive plus one hop
    // apart (each last heard the other at a different instant), so the
    // standby's delay must cover that as well as the active node's timeout.
    const b0 = boundsFor(params);
    const tightDelay = fr.chance(0.2);
    params.fencing = {
      deviceMs: [Math.max(1, Math.floor(devMax / 4)), devMax],
      timeoutMs,
      // Tight: the least src/config/stonith.ts accepts (timeout + keepalive + 100 ms), which does not cover a hop above 100 ms.
      fenceDelayMs: timeoutMs + (tightDelay ? K + 100 + fr.pick([0, 1]) : b0.hearMs + b0.hopMs + fr.pick([0, 2000])),
      tightDelay,
      retryMs: fr.pick([K, 500, 2000]),
      retryMaxMs: 0,
      checkIntervalMs: fr.pick([0, 5 * K, 30_000]),
      offMs: [D, fr.pick([2 * D, 4 * D + I, 10 * D + I])],
    };
    params.fencing.retryMaxMs = params.fencing.retryMs * fr.pick([1, 4]);
  }
  // Quorum, likewise from a stream of its own.
  const qr = new Rng(seed, 5);
  if (qr.chance(0.4)) {
    const arbiter = qr.weighted([['arbiter', 4], ['etcd', 2], ['none', 1]] as const);
    const pingTargets = arbiter === 'none' ? qr.int(1, 3) : qr.weighted([[0, 2], [qr.int(1, 3), 1]] as const);
    const arbWriteMs = [1, qr.int(1, 20)] as const;
    const link = () => ({ delayMs: qr.int(0, lan * 2), jitterMs: qr.int(0, lan * 2) });
    const arbLink = [link(), link()] as const;
    // The lease must outlast the holder's stop walk (arbiter_safety): the
    // scenario picks a safety that covers the healthy walk, or (tightSafety)
    // the default, which may not.
    const b0 = boundsFor(params);
    const tightSafety = qr.chance(0.15);
    let ttlMs = Math.max(2000, Math.ceil((2 * D) / 1000) * 1000);
    let safetyMs = tightSafety ? Math.min(500, Math.round(ttlMs / 10)) : b0.walkMs + qr.int(0, 200) + arbWriteMs[1] + 1;
    let retryMs = Math.max(100, Math.round(ttlMs / 10));
    // lease.ts: ttl·(1 − drift) − safety must leave room for a renewal at ttl/3 and a retry.
    while (ttlMs * (1 - 0.01) - safetyMs <= ttlMs / 3 + retryMs) {
      ttlMs += 1000;
      retryMs = Math.max(100, Math.round(ttlMs / 10));
    }
    if (arbiter === 'etcd') ttlMs = Math.ceil(ttlMs / 1000) * 1000;
    if (tightSafety) safetyMs = Math.min(safetyMs, Math.round(ttlMs / 10));
    // Clock rates: each within ±0.4 %, so two clocks differ by less than the 1 % drift margin.
    const rate = () => 1 + qr.int(-4000, 4000) / 1_000_000;
    const deadpingMs = qr.pick([D, 2 * D]);
    params.quorum = {
      arbiter, ttlMs, safetyMs, retryMs, tightSafety, arbLink, arbWriteMs, arbBootMs: [20, 300],
      pingTargets, deadpingMs,
      ipfail: { enabled: pingTargets > 0 && qr.chance(0.7), delayMs: Math.max(deadpingMs, qr.pick([D, 5000])), dwellMs: qr.pick([10 * K, 60_000]) },
      pingRttMs: qr.int(0, lan),
      rates: [rate(), rate(), rate()],
    };
  }
  // Monitors, from a stream of their own: a seed without them has the
  // schedule it had before monitoring was simulated.
  const mr = new Rng(seed, 8);
  const monitored = mr.chance(0.4) && opts.monitors !== false;
  if (monitored) {
    for (const g of groups) {
      const monitors = Array.from({ length: g.resourceCount }, () => (mr.chance(0.6) ? {
        intervalMs: mr.pick([K, 2 * K, 4 * K]), timeoutMs: mr.pick([K, 2 * K]),
        migrationThreshold: mr.pick([1, 2, 3]), failureTimeoutMs: mr.pick([0, 20 * K]),
      } : undefined));
      if (monitors.some(Boolean)) g.monitors = monitors;
    }
  }
  const bounds = boundsFor(params);
  if (bounds.hearMs >= D) throw new Error(`seed ${seed}: deadtime ${D} ms does not exceed keepalive + one hop (${bounds.hearMs} ms)`);
  const H = params.horizonMs;
  params.endMs = H + params.bootMs[1] + bounds.writeMs + params.slowOpMs + bounds.dualMs +
    Math.max(bounds.settleMs, bounds.soloMs) + 3 * K;
  const fp = params.fencing;
  // A fence issued before the heal may still power a host off after it; that host comes back after offMs.
  if (fp) params.endMs += fp.timeoutMs + fp.offMs[1] + params.bootMs[1] + bounds.writeMs + bounds.settleMs;
  if (params.quorum) params.endMs += bounds.leaseMs;

  const faults: ScheduledFault[] = [];
  const add = (at: number, f: Fault) => faults.push({ at, f });
  add(r.int(0, 2 * K), { k: 'boot', n: 0 });
  add(r.weighted([[r.int(0, 2 * K), 3], [r.int(0, 2 * I), 1]] as const), { k: 'boot', n: 1 });

  // Durations cluster around deadtime, where the decisions change.
  const duration = () => Math.max(1, r.weighted([
    [r.int(1, K), 2], [r.int(K, D), 3], [D + r.int(-2, 2), 2], [r.int(D, 4 * D), 3],
  ] as const));
  // Outages long enough for the survivor to be checked on its own.
  const outage = () => r.weighted([[duration(), 3], [r.int(4 * D, 4 * D + 3 * I), 1]] as const);
  const allPaths = paths.map((_, i) => i);
  const somePaths = () => (nPaths === 1 ? allPaths : [r.int(0, nPaths - 1)]);
  const someDirs = (): NodeIx[] => r.pick<NodeIx[]>([[0], [1], [0, 1]]);
  const node = (): NodeIx => (r.chance(0.5) ? 0 : 1);
  let id = 0;
  const net = (at: number, spec: NetSpec, label: string) => {
    const n = ++id;
    add(at, { k: 'net', id: n, on: true, spec, label });
    add(at + duration(), { k: 'net', id: n, on: false, spec, label });
  };
  const episodes = r.weighted([[r.int(0, 4), 2], [r.int(5, 12), 2], [r.int(13, 30), 1]] as const);
  for (let i = 0; i < episodes; i++) {
    const at = r.int(0, H - 1);
    const kind = r.weighted([
      ['partition', 3], ['asym', 2], ['path-cut', 2], ['loss', 2], ['slow', 1], ['dup', 1],
      ['crash', 2], ['power', 1], ['site-power', 1], ['pause', 3], ['shutdown', 1], ['ops', 3], ['wall', 1],
    ] as const);
    switch (kind) {
      case 'partition':
        net(at, { kind: 'cut', paths: allPaths, dirs: [0, 1], p: 1, extraMs: 0 }, 'partition');
        break;
      case 'asym': {
        const d = node();
        net(at, { kind: 'cut', paths: allPaths, dirs: [d], p: 1, extraMs: 0 }, `partition ${NODE_NAMES[d]}->${NODE_NAMES[1 - d]}`);
        break;
      }
      case 'path-cut': {
        const ps = somePaths();
        const dirs = someDirs();
        net(at, { kind: 'cut', paths: ps, dirs, p: 1, extraMs: 0 }, `cut ${ps.map((x) => paths[x]!.name).join(',')} ${dirLabel(dirs)}`);
        break;
      }
      case 'loss': {
        const ps = r.chance(0.5) ? allPaths : somePaths();
        const p = r.pick([0.05, 0.3, 0.6, 0.9]);
        net(at, { kind: 'loss', paths: ps, dirs: someDirs(), p, extraMs: 0 }, `loss ${Math.round(p * 100)}% ${ps.map((x) => paths[x]!.name).join(',')}`);
        break;
      }
      case 'slow': {
        const ps = somePaths();
        const extra = r.int(K, 2 * D);
        net(at, { kind: 'slow', paths: ps, dirs: someDirs(), p: 0, extraMs: extra }, `slow +0..${extra}ms ${ps.map((x) => paths[x]!.name).join(',')}`);
        break;
      }
      case 'dup': {
        const ps = somePaths();
        net(at, { kind: 'dup', paths: ps, dirs: [0, 1], p: 0.5, extraMs: 0 }, `dup 50% ${ps.map((x) => paths[x]!.name).join(',')}`);
        break;
      }
      case 'crash': {
        const n = node();
        add(at, { k: 'crash', n });
        add(at + outage(), { k: 'boot', n });
        break;
      }
      case 'power': {
        const n = node();
        add(at, { k: 'power-off', n });
        add(at + outage(), { k: 'boot', n });
        break;
      }
      case 'site-power': {
        // Both hosts lose power; they come back one after the other.
        add(at, { k: 'power-off', n: 0 });
        add(at, { k: 'power-off', n: 1 });
        add(at + duration(), { k: 'boot', n: 0 });
        add(at + outage(), { k: 'boot', n: 1 });
        break;
      }
      case 'pause': {
        const n = node();
        add(at, { k: 'pause', n });
        add(at + duration(), { k: 'resume', n });
        break;
      }
      case 'shutdown': {
        const n = node();
        add(at, { k: 'shutdown', n });
        add(at + outage(), { k: 'boot', n });
        break;
      }
      case 'ops': {
        const n = ++id;
        const who = node();
        const mode = r.weighted([['start-fail', 2], ['stop-fail', 2], ['slow', 1]] as const);
        const group = r.chance(0.5) ? r.pick(groups).name : undefined;
        const p = mode === 'slow' ? 1 : r.pick([0.2, 0.5, 1]);
        const base = { k: 'ops', id: n, n: who, mode, p, ...(group !== undefined ? { group } : {}) } as const;
        add(at, { ...base, on: true });
        add(at + duration(), { ...base, on: false });
        break;
      }
      case 'wall':
        add(at, { k: 'wall-jump', n: node(), deltaS: r.pick([-1, 1]) * r.int(1, 100_000) });
        break;
    }
  }
  if (fp) {
    // Faults of the power switches: slow (still within the timeout), failing
    // (an error), unreachable (fails at the timeout); each recovers when its
    // episode ends, except a small share that stays broken (liveness exempt).
    const devEpisodes = fr.weighted([[0, 2], [fr.int(1, 3), 3], [fr.int(4, 10), 1]] as const);
    for (let i = 0; i < devEpisodes; i++) {
      const at = fr.int(0, H - 1);
      const n: NodeIx = fr.chance(0.5) ? 0 : 1;
      const mode = fr.weighted([['slow', 2], ['fail', 2], ['unreachable', 2]] as const);
      const permanent = mode !== 'slow' && fr.chance(0.05);
      const did = ++id;
      add(at, { k: 'device', id: did, on: true, n, mode, permanent });
      if (!permanent) add(at + fr.int(1, 6 * D), { k: 'device', id: did, on: false, n, mode, permanent });
    }
  }
  const qp = params.quorum;
  if (qp) {
    // Faults of the arbiter and its links, and of the ping targets.
    const qEpisodes = qr.weighted([[0, 1], [qr.int(1, 4), 3], [qr.int(5, 12), 2]] as const);
    const qdur = () => Math.max(1, qr.weighted([
      [qr.int(1, K), 2], [qr.int(K, D), 2], [qr.int(D, qp.ttlMs), 3], [qr.int(qp.ttlMs, 3 * qp.ttlMs), 2],
    ] as const));
    for (let i = 0; i < qEpisodes; i++) {
      const at = qr.int(0, H - 1);
      const kinds = qp.arbiter === 'none'
        ? [['gw', 1]] as const
        : [['arb-cut', 4], ['isolate', 3], ['node-loss', 3], ['arb-loss', 2], ['arb-slow', 2], ['arb-crash', 2], ['arb-pause', 2], ...(qp.pingTargets ? [['gw', 2] as const] : [])] as const;
      const kind = qr.weighted(kinds as ReadonlyArray<readonly [string, number]>);
      const nodes = (): NodeIx[] => qr.pick<NodeIx[]>([[0], [1], [0, 1]]);
      const aid = ++id;
      const arbNet = (spec: NetSpec, label: string) => {
        add(at, { k: 'arb-net', id: aid, on: true, spec, label });
        add(at + qdur(), { k: 'arb-net', id: aid, on: false, spec, label });
      };
      const dirs = (): NodeIx[] => qr.pick<NodeIx[]>([[0], [1], [0, 1]]);
      const who = (ns: NodeIx[]) => ns.map((x) => NODE_NAMES[x]).join('+');
      switch (kind) {
        case 'arb-cut': { const ns = nodes(); const d = dirs(); arbNet({ kind: 'cut', paths: ns, dirs: d, p: 1, extraMs: 0 }, `arbiter link of ${who(ns)} cut ${arbDirLabel(d)}`); break; }
        case 'arb-loss': { const ns = nodes(); const p = qr.pick([0.3, 0.6, 0.9]); arbNet({ kind: 'loss', paths: ns, dirs: dirs(), p, extraMs: 0 }, `arbiter link of ${who(ns)} loses ${Math.round(p * 100)}%`); break; }
        case 'arb-slow': { const ns = nodes(); const extra = qr.int(K, qp.ttlMs); arbNet({ kind: 'slow', paths: ns, dirs: dirs(), p: 0, extraMs: extra }, `arbiter link of ${who(ns)} slow +0..${extra}ms`); break; }
        case 'isolate': {
          // The split brain an arbiter exists for: one node loses its peer and the arbiter at once.
          const n: NodeIx = qr.chance(0.5) ? 0 : 1;
          // Mostly long enough for the lease to run out and pass to the other node.
          const len = qr.weighted([[qdur(), 1], [qr.int(qp.ttlMs + 2 * D, 3 * qp.ttlMs + 2 * D), 3]] as const);
          const cut: NetSpec = { kind: 'cut', paths: allPaths, dirs: [0, 1], p: 1, extraMs: 0 };
          const nid = ++id;
          add(at, { k: 'net', id: nid, on: true, spec: cut, label: `partition (${NODE_NAMES[n]} isolated)` });
          add(at + len, { k: 'net', id: nid, on: false, spec: cut, label: `partition (${NODE_NAMES[n]} isolated)` });
          const spec: NetSpec = { kind: 'cut', paths: [n], dirs: [0, 1], p: 1, extraMs: 0 };
          add(at, { k: 'arb-net', id: aid, on: true, spec, label: `${NODE_NAMES[n]} isolated from the arbiter` });
          add(at + len + qr.int(0, K), { k: 'arb-net', id: aid, on: false, spec, label: `${NODE_NAMES[n]} isolated from the arbiter` });
          break;
        }
        case 'node-loss': {
          // A node dies for long enough that its lease must pass to the survivor.
          const n: NodeIx = qr.chance(0.5) ? 0 : 1;
          add(at, qr.chance(0.5) ? { k: 'power-off', n } : { k: 'crash', n });
          add(at + qr.int(qp.ttlMs + 4 * D, 3 * qp.ttlMs + 4 * D + I), { k: 'boot', n });
          break;
        }
        case 'arb-crash': add(at, { k: 'arb-crash' }); add(at + qdur(), { k: 'arb-boot' }); break;
        case 'arb-pause': add(at, { k: 'arb-pause' }); add(at + qdur(), { k: 'arb-resume' }); break;
        case 'gw': {
          const ns = nodes();
          const all = [...Array(qp.pingTargets).keys()];
          const targets = qr.chance(0.5) ? all : [qr.int(0, qp.pingTargets - 1)];
          add(at, { k: 'gw', id: aid, on: true, nodes: ns, targets });
          add(at + qdur(), { k: 'gw', id: aid, on: false, nodes: ns, targets });
          break;
        }
      }
    }
  }
  if (qp && qp.arbiter !== 'none' && qr.chance(0.5)) {
    // A node lost near the end that stays down well past the heal: the
    // survivor must get the lease and every group once all else is quiet.
    const b = boundsFor(params);
    const n: NodeIx = qr.chance(0.5) ? 0 : 1;
    const at = qr.int(Math.floor(H / 2), H - 1);
    const back = H + b.soloMs + qr.int(params.bootMs[1], b.soloMs);
    add(at, { k: 'node-loss', n, power: qr.chance(0.5) });
    add(back, { k: 'boot', n });
    params.endMs = Math.max(params.endMs, back + params.bootMs[1] + b.writeMs + params.slowOpMs + b.dualMs + b.settleMs + b.leaseMs + 3 * K);
  }
  // Operator commands, from a stream of their own: a seed without them has
  // the schedule it had before they were simulated. Some near the heal, so
  // a hand-over in force when everything else is quiet is checked too.
  const or = new Rng(seed, 7);
  if (or.chance(0.5)) {
    const count = or.weighted([[1, 3], [or.int(2, 4), 3], [or.int(5, 10), 1]] as const);
    for (let i = 0; i < count; i++) {
      const at = or.chance(0.8) ? or.int(0, H - 1) : or.int(Math.floor(H * 0.9), H - 1);
      const op = or.weighted([['standby', 3], ['takeover', 3], ['cleanup', 2]] as const);
      add(at, { k: 'operator', n: or.chance(0.5) ? 0 : 1, op, which: or.weighted([['all', 2], ['local', 1], ['foreign', 1]] as const), group: or.pick(groups).name });
    }
  }
  if (monitored && groups.some((g) => g.monitors)) {
    const targets = groups.flatMap((g) => (g.monitors ?? []).flatMap((m, index) => (m ? [{ group: g.name, index }] : [])));
    const kills = mr.weighted([[1, 3], [mr.int(2, 6), 3], [mr.int(7, 15), 1]] as const);
    for (let i = 0; i < kills; i++) {
      const t = mr.pick(targets);
      add(mr.int(0, H - 1), { k: 'kill', n: mr.chance(0.5) ? 0 : 1, group: t.group, index: t.index });
    }
    const monFaults = mr.int(0, 3);
    for (let i = 0; i < monFaults; i++) {
      const n = ++id;
      const at = mr.int(0, H - 1);
      const base = { k: 'mon', id: n, n: (mr.chance(0.5) ? 0 : 1) as NodeIx, mode: mr.weighted([['hang', 2], ['fail', 2], ['slow', 1]] as const), p: mr.pick([0.3, 1]) } as const;
      add(at, { ...base, on: true });
      add(at + duration(), { ...base, on: false });
    }
  }
  add(H, { k: 'heal-all' });
  // Stable order by time; ties keep generation order.
  faults.sort((x, y) => x.at - y.at);
  return { seed, params, faults, bounds };
}

function arbDirLabel(dirs: NodeIx[]): string {
  if (dirs.length === 2) return 'both ways';
  return dirs[0] === 0 ? 'to the arbiter' : 'from the arbiter';
}

function dirLabel(dirs: NodeIx[]): string {
  if (dirs.length === 2) return 'both ways';
  return dirs[0] === 0 ? 'alpha->beta' : 'beta->alpha';
}
