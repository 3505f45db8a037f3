// `tandem run -f keepalived.conf` without a Heartbeat directory: a daemon
// that runs the file's VRRP instances and nothing else, as keepalived's VRRP
// process does. Stops gracefully on TERM/INT/QUIT (masters send priority 0,
// so the backups take over after Skew_Time, and drop their VIPs); USR1/USR2
// raise and lower the debug level; HUP is logged (reload is not there yet).

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import type { KeepalivedConfig } from '../config/keepalived.js';
import { listenControl } from '../control/socket.js';
import { NetCore } from '../net/core.js';
import { Logger } from '../util/log.js';
import { UserError } from '../util/errors.js';
import { notRunYet, VrrpService } from '../vrrp/service.js';
import { DAEMON_SIGNALS, installSignals, nextDebugLevel } from './signals.js';

/** What `tandem status --json` returns from a VRRP-only daemon (docs/status.md). */
export interface VrrpStatusReport {
  kind: 'vrrp';
  node: string;
  file: string;
  vrrp: ReturnType<VrrpService['runtime']['view']>;
}

export async function runVrrpDaemon(cfg: KeepalivedConfig, o: { node: string; runDir: string; debug?: boolean }): Promise<number> {
  const missing = notRunYet(cfg.vrrp);
  if (missing.length) throw new UserError(`${missing.join('\n')}\n${cfg.file}: nothing started`);
  const log = new Logger({ node: o.node, debug: o.debug ?? false });
  const core = NetCore.open();
  let service: VrrpService;
  try {
    service = await VrrpService.start(cfg.vrrp, core, { log: (level, m) => log.log(level, m) });
  } catch (e) {
    core.close();
    throw e;
  }
  let control: Server;
  try {
    mkdirSync(o.runDir, { recursive: true, mode: 0o755 });
    control = await listenControl(o.runDir, async (req) => {
      if (req.cmd === 'status') return { kind: 'vrrp', node: o.node, file: cfg.file, vrrp: service.runtime.view() } satisfies VrrpStatusReport;
      throw new UserError(`'${req.cmd}' is not available from a daemon that runs only ${cfg.file}'s VRRP instances; 'status' is`);
    });
  } catch (e) {
    await service.stop();
    core.close();
    throw e;
  }
  log.info(`running ${cfg.vrrp.instances.length} vrrp_instance(s) from ${cfg.file}: ${cfg.vrrp.instances.map((i) => `${i.name} (VRID ${i.vrid} on ${i.interface}, priority ${i.priority})`).join(', ')}`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      log.info(`${sig}: stopping the VRRP instances`);
      void service.stop().then(() => {
        remove();
        control.close();
        core.close();
        log.info('stopped');
        resolve(0);
      });
    };
    const remove = installSignals(DAEMON_SIGNALS, {
      shutdown: stop,
      reload: (sig) => log.warn(`${sig}: reloading a keepalived.conf is not supported yet; restart tandem to apply changes`),
      debug: (delta, sig) => { log.setDebugLevel(nextDebugLevel(log.debugLevel, delta)); log.info(`${sig}: debug level ${log.debugLevel}`); },
      ignored: () => undefined,
      insist: (sig) => { log.warn(`${sig} again: exiting without waiting for the VRRP instances to stop`); remove(); control.close(); core.close(); resolve(1); },
    });
  });
}
