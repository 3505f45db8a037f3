// `tandem run -f keepalived.conf` without a Heartbeat directory: a daemon
// that runs the file's VRRP instances and nothing else, as keepalived's VRRP
// process does. Stops gracefully on TERM/INT/QUIT (masters send priority 0,
// so the backups take over after Skew_Time, and drop their VIPs); USR1/USR2
// raise and lower the debug level; HUP is logged (reload is not there yet).
// `tandem status` answers on the control socket.

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import type { KeepalivedConfig } from '../config/keepalived.js';
import { listenControl } from '../control/socket.js';
import { NetCore } from '../net/core.js';
import { UserError } from '../util/errors.js';
import { Logger } from '../util/log.js';
import { VrrpService } from '../vrrp/service.js';
import { LvsService, type LvsStatus } from '../lvs/service.js';
import { renderLvsMetrics } from '../lvs/metrics.js';
import { Metrics } from './metrics.js';
import { DEFAULT_RTPRIO } from '../config/hacf.js';
import { applyNice, applyRealtime, type Scheduling } from './realtime.js';
import { lockNode, type NodeLock } from './lock.js';
import { DAEMON_SIGNALS, installSignals, nextDebugLevel } from './signals.js';

/** What `tandem status --json` returns from a VRRP-only daemon (docs/status.md). */
export interface VrrpStatusReport {
  kind: 'vrrp';
  node: string;
  file: string;
  vrrp: ReturnType<VrrpService['runtime']['view']>;
  /** The virtual services (LVS), when the file has virtual_server blocks. */
  lvs?: LvsStatus;
  /** The main thread's scheduling (vrrp_rt_priority), as applied at start. */
  scheduling: { policy: string; refused: string | null };
}

export async function runVrrpDaemon(cfg: KeepalivedConfig, o: { node: string; runDir: string; debug?: boolean; metrics?: { host: string; port: number } }): Promise<number> {
  const log = new Logger({ node: o.node, debug: o.debug ?? false });
  let lock: NodeLock | undefined;
  let core: NetCore | undefined;
  let service: VrrpService | undefined;
  let lvs: LvsService | undefined;
  let control: Server | undefined;
  let metrics: Metrics | undefined;
  let scheduling: Scheduling = { policy: 'SCHED_OTHER' };
  let stopping: Promise<void> | undefined;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => { finish = r; });

  /** Undoes whatever has been started, in reverse order; at most once. */
  const teardown = (): Promise<void> => (stopping ??= (async () => {
    // Both at once: a master's priority-0 advert is not held back by the balancer's teardown.
    await Promise.all([
      service?.stop().catch((e: unknown) => log.error(`stopping the VRRP instances: ${e instanceof Error ? e.message : String(e)}`)),
      lvs?.stop().catch((e: unknown) => log.error(`stopping the virtual services: ${e instanceof Error ? e.message : String(e)}`)),
    ]);
    control?.close();
    await metrics?.close();
    core?.close();
    await lock?.release();
  })());

  // Before anything is started: a TERM during start-up stops what has started, never leaves it.
  const removeSignals = installSignals(DAEMON_SIGNALS, {
    shutdown: (sig) => {
      log.info(`${sig}: stopping the VRRP instances`);
      void teardown().then(() => { removeSignals(); log.info('stopped'); finish(0); });
    },
    reload: (sig) => log.warn(`${sig}: reloading a keepalived.conf is not supported yet; restart tandem to apply changes`),
    debug: (delta, sig) => { log.setDebugLevel(nextDebugLevel(log.debugLevel, delta)); log.info(`${sig}: debug level ${log.debugLevel}`); },
    ignored: () => undefined,
    insist: (sig) => { log.warn(`${sig} again: exiting without waiting for the VRRP instances to stop`); removeSignals(); finish(1); },
  });

  try {
    // One tandem per node and network namespace: two would take the VIPs from each other.
    lock = await lockNode(o.node);
    if (stopping) return await done;
    core = NetCore.open();
    service = await VrrpService.start(cfg.vrrp, core, { log: (level, m) => log.log(level, m) });
    if (stopping) { await teardown(); return await done; }
    // keepalived programs its virtual services on every node, master or not: the VIP decides where traffic arrives.
    if (cfg.lvs.services.length) lvs = await LvsService.start(cfg.lvs, core, { log: (level, m) => log.log(level, m) });
    if (stopping) { await teardown(); return await done; }
    // The main thread sends and judges adverts: real-time by default, as a Heartbeat daemon's `realtime on` (on a
    // machine busy with 10,000 health checks the normal policy lets adverts run milliseconds late: bench:checkers).
    // vrrp_rt_priority sets the priority; vrrp_priority alone (keepalived's nice) keeps the normal policy at that
    // nice. Applied after the checker worker started: a thread inherits its creator's policy, and checks stay normal.
    const { rtPriority: rt, nice } = cfg.vrrp;
    if (nice && !rt) {
      scheduling = applyNice(nice.nice);
      if (scheduling.refused) log.warn(`${nice.file}:${nice.line}: vrrp_priority ${nice.nice}: the system refused: ${scheduling.refused}; the main thread runs at ${scheduling.policy}`);
    } else {
      scheduling = applyRealtime({ realtime: true, rtprio: rt?.priority ?? DEFAULT_RTPRIO });
      const what = rt ? `${rt.file}:${rt.line}: vrrp_rt_priority ${rt.priority}` : `${cfg.file}: real-time adverts (tandem's default; 'vrrp_priority 0' in global_defs keeps the normal policy)`;
      if (scheduling.refused) log.warn(`${what}: the system refused real-time scheduling: ${scheduling.refused}; adverts run at normal priority`);
      if (scheduling.memoryLock?.refused) log.warn(`${what}: the system refused to lock the code in memory: ${scheduling.memoryLock.refused}`);
    }
    mkdirSync(o.runDir, { recursive: true, mode: 0o755 });
    const running = service;
    const balancer = lvs;
    control = await listenControl(o.runDir, async (req) => {
      if (req.cmd === 'status') {
        return {
          kind: 'vrrp', node: o.node, file: cfg.file, vrrp: running.runtime.view(), ...(balancer ? { lvs: await balancer.status() } : {}),
          scheduling: { policy: scheduling.policy, refused: scheduling.refused ?? null },
        } satisfies VrrpStatusReport;
      }
      throw new UserError(`'${req.cmd}' is not available from a daemon that runs only ${cfg.file}'s VRRP instances; 'status' is`);
    });
    if (o.metrics) {
      metrics = new Metrics({
        ...o.metrics, origin: '--metrics', hint: "give another --metrics ADDRESS:PORT", keepaliveMs: 0, labels: { node: o.node, peer: '', cluster: '' },
        extra: async () => (balancer ? renderLvsMetrics(await balancer.status(), o.node) : ''),
      });
      await metrics.listen();
    }
  } catch (e) {
    await teardown();
    removeSignals();
    throw e;
  }
  log.info(`running ${cfg.vrrp.instances.length} vrrp_instance(s) from ${cfg.file}${cfg.vrrp.instances.length ? `: ${cfg.vrrp.instances.map((i) => `${i.name} (VRID ${i.vrid} on ${i.interface}, priority ${i.priority})`).join(', ')}` : ''}${cfg.lvs.services.length ? `, and ${cfg.lvs.services.length} virtual_server(s)` : ''}; scheduling ${scheduling.policy}`);
  return done;
}
