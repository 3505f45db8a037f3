// The virtual services' pools as one pure machine: from the checkers'
// verdicts to what the kernel balances and which scripts run. A real
// server is alive while every one of its checkers is up (one without
// checkers always is). An alive server takes its weight (a misc_dynamic
// result's, else the configured one); a dead one leaves the pool, or stays
// with weight 0 under inhibit_on_failure (its connections drain). A
// service has quorum while the weights of its alive servers reach `quorum`
// (+ `hysteresis` to come up, - `hysteresis` to go down, as keepalived);
// without it the sorry server takes the new connections. notify_up/down run
// on a server's changes, quorum_up/down on the service's; with `omega` a
// stop runs the down scripts of what was up.
//
// (state, event, now) -> effects under src/runtime/driver.ts; the host is
// src/lvs/service.ts.

import type { Machine } from '../runtime/driver.js';
import type { LvsDest, LvsKernelService } from '../net/lvs-nft.js';
import type { VrrpCommand } from '../vrrp/config.js';
import type { LvsConfig, RealServerSpec, VirtualServerSpec } from './config.js';

export interface RsState {
  spec: RealServerSpec;
  /** Checker id -> up. */
  checks: Map<number, boolean>;
  alive: boolean;
  /** misc_dynamic's weight, when a check set one. */
  dynamicWeight?: number;
  /** The last result that changed a verdict, and when. */
  reason: string;
  since: number;
}

export interface VsState {
  spec: VirtualServerSpec;
  id: string;
  rs: RsState[];
  quorum: boolean;
  since: number;
}

export interface PoolState {
  services: VsState[];
  /** Checker id -> [service index, real server index]. */
  owner: Map<number, [number, number]>;
  stopped: boolean;
}

export type PoolEvent =
  | { kind: 'tick' }
  | { kind: 'verdict'; check: number; up: boolean; reason: string }
  | { kind: 'weight'; check: number; weight: number }
  | { kind: 'stop' };

export type PoolEffect =
  | { kind: 'program' }
  | { kind: 'script'; command: VrrpCommand; what: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string };

/** Checker ids are given out in order: service, real server, checker. */
export function newPoolState(cfg: LvsConfig, now: number): { state: PoolState; checks: Array<{ id: number; spec: RealServerSpec['checkers'][number] }> } {
  const owner = new Map<number, [number, number]>();
  const checks: Array<{ id: number; spec: RealServerSpec['checkers'][number] }> = [];
  let id = 0;
  const services = cfg.services.map((spec, si): VsState => {
    const rs = spec.realServers.map((r, ri): RsState => {
      const m = new Map<number, boolean>();
      for (const c of r.checkers) {
        m.set(id, !c.alpha);
        owner.set(id, [si, ri]);
        checks.push({ id, spec: c });
        id += 1;
      }
      const alive = [...m.values()].every(Boolean);
      return { spec: r, checks: m, alive, reason: r.checkers.length === 0 ? 'no checker' : alive ? 'not checked yet' : 'alpha: down until checked', since: now };
    });
    const vs: VsState = { spec, id: `s${si}`, rs, quorum: false, since: now };
    vs.quorum = aliveWeight(vs) >= spec.quorum + spec.hysteresis;
    return vs;
  });
  return { state: { services, owner, stopped: false }, checks };
}

export function rsWeight(r: RsState): number {
  return r.dynamicWeight ?? r.spec.weight;
}

function aliveWeight(vs: VsState): number {
  return vs.rs.reduce((n, r) => n + (r.alive ? rsWeight(r) : 0), 0);
}

const rsName = (vs: VsState, r: RsState): string => `${vs.spec.name}: real server ${r.spec.ip}${r.spec.port ? `:${r.spec.port}` : ''}`;

function quorumStep(vs: VsState, now: number, out: PoolEffect[]): void {
  const w = aliveWeight(vs);
  const { quorum, hysteresis } = vs.spec;
  const next = vs.quorum ? w >= quorum - hysteresis && w > 0 : w >= quorum + hysteresis;
  if (next === vs.quorum) return;
  vs.quorum = next;
  vs.since = now;
  out.push({ kind: 'log', level: next ? 'info' : 'warn', message: `${vs.spec.name}: quorum ${next ? 'gained' : 'lost'} (alive weight ${w}, quorum ${quorum}, hysteresis ${hysteresis})${!next && vs.spec.sorryServer ? `; sorry server ${vs.spec.sorryServer.ip} takes new connections` : ''}` });
  const cmd = next ? vs.spec.quorumUp : vs.spec.quorumDown;
  if (cmd) out.push({ kind: 'script', command: cmd, what: `${vs.spec.name} ${next ? 'quorum_up' : 'quorum_down'}` });
}

export function poolStep(s: PoolState, e: PoolEvent, now: number): PoolEffect[] {
  const out: PoolEffect[] = [];
  if (s.stopped) return out;
  if (e.kind === 'stop') {
    s.stopped = true;
    for (const vs of s.services) {
      if (!vs.spec.omega) continue;
      for (const r of vs.rs) if (r.alive && r.spec.notifyDown) out.push({ kind: 'script', command: r.spec.notifyDown, what: `${rsName(vs, r)} notify_down (omega)` });
      if (vs.quorum && vs.spec.quorumDown) out.push({ kind: 'script', command: vs.spec.quorumDown, what: `${vs.spec.name} quorum_down (omega)` });
    }
    return out;
  }
  if (e.kind === 'tick') return out;
  const where = s.owner.get(e.check);
  if (!where) return out;
  const vs = s.services[where[0]]!;
  const r = vs.rs[where[1]]!;
  if (e.kind === 'weight') {
    if (r.dynamicWeight === e.weight) return out;
    r.dynamicWeight = e.weight;
    out.push({ kind: 'log', level: 'info', message: `${rsName(vs, r)}: weight ${e.weight} (misc_dynamic)` });
    quorumStep(vs, now, out);
    out.push({ kind: 'program' });
    return out;
  }
  r.checks.set(e.check, e.up);
  const alive = [...r.checks.values()].every(Boolean);
  r.reason = e.reason;
  if (alive === r.alive) return out;
  r.alive = alive;
  r.since = now;
  out.push({ kind: 'log', level: alive ? 'info' : 'warn', message: `${rsName(vs, r)}: ${alive ? 'up' : 'down'} (${e.reason})${!alive && r.spec.inhibitOnFailure ? '; weight 0 (inhibit_on_failure)' : ''}` });
  const cmd = alive ? r.spec.notifyUp : r.spec.notifyDown;
  if (cmd) out.push({ kind: 'script', command: cmd, what: `${rsName(vs, r)} ${alive ? 'notify_up' : 'notify_down'}` });
  quorumStep(vs, now, out);
  out.push({ kind: 'program' });
  return out;
}

export const POOL_MACHINE: Machine<PoolState, PoolEvent, PoolEffect> = {
  step: poolStep,
  deadline: () => Infinity,
  tick: { kind: 'tick' },
};

const FWD = { NAT: 'nat', DR: 'dr', TUN: 'tun' } as const;

/** What the kernel should balance now, for either backend. */
export function kernelServices(s: PoolState): LvsKernelService[] {
  return s.services.map((vs): LvsKernelService => {
    const dests: LvsDest[] = vs.rs.map((r, i) => ({
      id: `d${i}`, ip: r.spec.ip, port: r.spec.port, fwd: FWD[r.spec.lbKind],
      weight: r.alive ? rsWeight(r) : 0,
      active: r.alive || r.spec.inhibitOnFailure,
    }));
    const sorry = vs.spec.sorryServer;
    if (sorry) {
      // In while quorum is lost; sorry_server_inhibit keeps it in (weight 0) the rest of the time.
      dests.push({ id: 'sorry', ip: sorry.ip, port: sorry.port, fwd: FWD[sorry.lbKind], weight: vs.quorum ? 0 : 1, active: !vs.quorum || vs.spec.sorryServerInhibit });
    }
    const out: LvsKernelService = {
      id: vs.id, name: vs.spec.name, family: vs.spec.family, protocol: vs.spec.protocol.toLowerCase() as LvsKernelService['protocol'], sched: vs.spec.lbAlgo,
      match: vs.spec.addresses.map((a) => (a.kind === 'fwmark' ? { kind: 'fwmark' as const, mark: a.mark } : { kind: 'addr' as const, ip: a.ip, port: a.port })),
      dests,
    };
    if (vs.spec.persistenceTimeout > 0) out.persistence = { timeoutS: vs.spec.persistenceTimeout, prefixLen: vs.spec.persistenceGranularity };
    return out;
  });
}
