// The daemon's LVS host: the pool machine (pool.ts) under the one Driver,
// fed by the checker worker (checkers.ts), its `program` effects carried out
// by the network core (one kernel transaction per change, coalesced while
// one is in flight), its scripts run in their own process groups with a
// timeout. It decides nothing; status joins the pool, the checkers' last
// results and the kernel's counters.

import { runChild } from '../agents/runner.js';
import type { NetCore } from '../net/core.js';
import type { NetEvent, NetWatcher } from '../net/netlink.js';
import { lvsCounterName } from '../net/lvs-nft.js';
import { Driver } from '../runtime/driver.js';
import { nodeClock } from '../runtime/node-clock.js';
import { UserError } from '../util/errors.js';
import { CheckerPool, type CheckChange, type CheckStatus } from './checkers.js';
import type { LvsConfig } from './config.js';
import { POOL_MACHINE, kernelServices, newPoolState, rsWeight, type PoolEffect, type PoolEvent, type PoolState } from './pool.js';

export type LvsLogFn = (level: 'info' | 'warn' | 'debug', message: string) => void;

const SCRIPT_TIMEOUT_MS = 30_000;

/** `tandem status` for the virtual services (docs/lvs.md); the same data in --json and the metrics. */
export interface LvsStatus {
  backend: 'nftables' | 'ipvs';
  /** The last change the kernel refused, if the one after has not succeeded yet. */
  programError?: string;
  /** nice: the checker worker thread's (checker_priority), null once it is gone. */
  checks: { attempts: number; inFlight: number; waiting: number; nice: number | null };
  services: Array<{
    name: string;
    protocol: string;
    scheduler: string;
    kind: string;
    quorum: { up: boolean; needed: number; aliveWeight: number; forMs: number };
    persistenceS: number;
    sorry?: { address: string; active: boolean; connections: number };
    realServers: Array<{
      address: string;
      state: 'up' | 'down';
      forMs: number;
      weight: number;
      configuredWeight: number;
      /** Why it is in the state it is: the result that changed it. */
      reason: string;
      connections: number;
      checks: Array<{ type: string; up: boolean; runs: number; suspended: boolean; last?: { ok: boolean; reason: string; agoMs: number } }>;
    }>;
  }>;
}

export class LvsService {
  private readonly driver: Driver<PoolState, PoolEvent, PoolEffect>;
  private readonly checkers: CheckerPool;
  private programming?: Promise<void>;
  private again = false;
  private programError?: string;
  private readonly clock = nodeClock();
  private stopped = false;
  /** ha_suspend: this namespace's addresses, and which services' checks are paused. */
  private local = new Set<string>();
  private readonly suspended = new Map<string, boolean>();
  private watcher?: NetWatcher;
  /** Scripts still running (a stop waits for omega's). */
  private readonly scripts = new Set<Promise<void>>();

  private constructor(private readonly cfg: LvsConfig, private readonly core: NetCore, private readonly log: LvsLogFn) {
    const { state, checks } = newPoolState(cfg, this.clock.now());
    this.driver = new Driver(POOL_MACHINE, state, this.clock, (a) => this.execute(a));
    // ha_suspend's checks start paused: they run once the address is seen here.
    const paused = new Set<number>();
    for (const vs of this.haSuspended()) {
      this.suspended.set(vs.id, true);
      for (const r of vs.rs) for (const id of r.checks.keys()) paused.add(id);
    }
    this.checkers = new CheckerPool(checks.map((c) => (paused.has(c.id) ? { ...c, suspended: true } : c)), (c) => this.onChanges(c), (e) => this.log('warn', `LVS checker worker: ${e.message}`),
      cfg.checkerNice ? { nice: cfg.checkerNice.nice } : {});
  }

  /** Programs the kernel with the services as configured (checks not run yet) and starts the checkers. */
  static async start(cfg: LvsConfig, core: NetCore, o: { log: LvsLogFn }): Promise<LvsService> {
    const s = new LvsService(cfg, core, o.log);
    try {
      await s.programNow();
      await s.watchAddresses();
    } catch (e) {
      s.watcher?.close();
      await s.checkers.stop();
      throw e;
    }
    const backend = await core.lvsBackendOf();
    o.log('info', `LVS: ${cfg.services.length} virtual service(s) on ${backend}: ${cfg.services.map((v) => `${v.name} (${v.lbAlgo}, ${v.realServers.length} real servers)`).join(', ')}`);
    if (backend === 'nftables') {
      for (const vs of cfg.services) {
        if (vs.realServers.some((r) => r.upperThreshold || r.lowerThreshold)) o.log('warn', `${vs.file}:${vs.line}: ${vs.name}: uthreshold/lthreshold need IPVS (nftables keeps no connection counts): not applied`);
      }
    }
    return s;
  }

  /**
   * ha_suspend: a service's checks run only while this node holds one of
   * its virtual addresses (VRRP's master), from the kernel's address
   * events; a fwmark service has none to hold and is always checked.
   */
  private haSuspended(): PoolState['services'] {
    return this.driver.state.services.filter((vs) => vs.spec.haSuspend && vs.spec.addresses.some((a) => a.kind === 'addr'));
  }

  private async watchAddresses(): Promise<void> {
    const watched = this.haSuspended();
    if (!watched.length) return;
    const ids = (vs: (typeof watched)[number]) => vs.rs.flatMap((r) => [...r.checks.keys()]);
    const apply = (): void => {
      for (const vs of watched) {
        const held = vs.spec.addresses.some((a) => a.kind === 'addr' && this.local.has(a.ip));
        if (this.suspended.get(vs.id) === !held) continue;
        this.suspended.set(vs.id, !held);
        this.checkers.suspend(ids(vs), !held);
        this.log('info', `LVS ${vs.spec.name}: ${held ? 'this node holds its address: checks run' : 'this node does not hold its address: checks paused (ha_suspend)'}`);
      }
    };
    // Events first, then the listing; events that come while the listing is
    // read are replayed over it in order, so the newest word on an address wins.
    let early: NetEvent[] | undefined = [];
    const onEvent = (e: NetEvent): void => {
      if (e.kind === 'address') { if (e.op === 'add') this.local.add(e.address); else this.local.delete(e.address); }
      else if (e.kind === 'overrun') { void this.relist(apply); return; }
      else return;
      apply();
    };
    this.watcher = this.core.watch((e) => { if (!early) onEvent(e); else if (early.length < 10_000) early.push(e); else early[early.length - 1] = { kind: 'overrun' }; });
    this.local = await this.core.localAddresses();
    const seen = early;
    early = undefined;
    for (const e of seen) onEvent(e);
    apply();
  }

  private async relist(apply: () => void): Promise<void> {
    try { this.local = await this.core.localAddresses(); } catch { return; }
    if (!this.stopped) apply();
  }

  private onChanges(changes: CheckChange[]): void {
    for (const c of changes) {
      if ('weight' in c) this.driver.submit({ kind: 'weight', check: c.id, weight: c.weight });
      else this.driver.submit({ kind: 'verdict', check: c.id, up: c.up, reason: c.reason });
    }
  }

  private execute(a: PoolEffect): void {
    if (a.kind === 'log') this.log(a.level, `LVS ${a.message}`);
    else if (a.kind === 'program') this.program();
    else {
      const c = a.command;
      const as = c.uid !== undefined && c.gid !== undefined ? { uid: c.uid, gid: c.gid } : undefined;
      const run = runChild({ path: c.path ?? c.argv[0]!, args: c.argv.slice(1), timeoutMs: SCRIPT_TIMEOUT_MS, ...(as ? { as } : {}) }).then(
        (r) => {
          if (r.spawnError !== undefined) this.log('warn', `${c.file}:${c.line}: ${a.what}: cannot run ${c.path ?? c.argv[0]!}: ${r.spawnError}`);
          else if (r.timedOut || r.code !== 0) this.log('warn', `${c.file}:${c.line}: ${a.what}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}`);
        },
        (e: unknown) => this.log('warn', `${c.file}:${c.line}: ${a.what}: ${e instanceof Error ? e.message : String(e)}`),
      ).finally(() => this.scripts.delete(run));
      this.scripts.add(run);
    }
  }

  /** One kernel change at a time; changes meanwhile are folded into the next. */
  private program(): void {
    if (this.programming) { this.again = true; return; }
    this.programming = this.programNow().catch((e: unknown) => {
      this.log('warn', `LVS: the kernel refused the change: ${e instanceof Error ? e.message : String(e)}`);
    }).finally(() => {
      this.programming = undefined;
      if (this.again && !this.stopped) { this.again = false; this.program(); }
    });
  }

  private async programNow(): Promise<void> {
    try {
      await this.core.lvsApply(kernelServices(this.driver.state));
      delete this.programError;
    } catch (e) {
      this.programError = e instanceof Error ? e.message : String(e);
      throw e instanceof UserError ? e : new UserError(this.programError);
    }
  }

  async status(): Promise<LvsStatus> {
    const [checks, counters] = await Promise.all([this.checkers.status(), this.core.lvsCounters().catch(() => new Map<string, { packets: number }>())]);
    const byId = new Map<number, CheckStatus>(checks.checks.map((c) => [c.id, c]));
    const now = this.clock.now();
    const conns = (sid: string, did: string) => counters.get(lvsCounterName(sid, did))?.packets ?? 0;
    const st = this.driver.state;
    const kernel = kernelServices(st);
    return {
      backend: await this.core.lvsBackendOf(),
      ...(this.programError ? { programError: this.programError } : {}),
      checks: { attempts: checks.attempts, inFlight: checks.inFlight, waiting: checks.waiting, nice: checks.nice ?? null },
      services: st.services.map((vs, si) => {
        const aliveWeight = vs.rs.reduce((n, r) => n + (r.alive ? rsWeight(r) : 0), 0);
        const sorry = vs.spec.sorryServer;
        const ks = kernel[si]!;
        return {
          name: vs.spec.name, protocol: vs.spec.protocol, scheduler: vs.spec.lbAlgo, kind: vs.spec.lbKind,
          quorum: { up: vs.quorum, needed: vs.spec.quorum, aliveWeight, forMs: Math.round(now - vs.since) },
          persistenceS: vs.spec.persistenceTimeout,
          ...(sorry ? { sorry: { address: `${sorry.ip}${sorry.port ? `:${sorry.port}` : ''}`, active: ks.dests.some((d) => d.id === 'sorry' && d.active && d.weight > 0), connections: conns(vs.id, 'sorry') } } : {}),
          realServers: vs.rs.map((r, ri) => ({
            address: `${r.spec.ip}${r.spec.port ? `:${r.spec.port}` : ''}`,
            state: r.alive ? 'up' as const : 'down' as const,
            forMs: Math.round(now - r.since),
            weight: ks.dests[ri]!.active ? ks.dests[ri]!.weight : 0,
            configuredWeight: r.spec.weight,
            reason: r.reason,
            connections: conns(vs.id, `d${ri}`),
            checks: [...r.checks.keys()].map((id, k) => {
              const c = byId.get(id);
              return { type: r.spec.checkers[k]!.type, up: c?.up ?? r.checks.get(id)!, runs: c?.runs ?? 0, suspended: c?.suspended ?? false, ...(c?.last ? { last: c.last } : {}) };
            }),
          })),
        };
      }),
    };
  }

  /** Stops the checks, runs omega's scripts, and takes the services out of the kernel. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    await this.checkers.stop();
    this.driver.submit({ kind: 'stop' });
    this.driver.close();
    await this.programming;
    await Promise.all([this.core.lvsApply([]), ...this.scripts]);
  }
}
