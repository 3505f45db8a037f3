// tandem's command line. Every failure an operator can cause ends in one
// clear line on stderr and a non-zero exit, never a stack trace.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig, formatIssue, sortIssues } from '../config/load.js';
import { checkKeepalived } from './keepalived.js';
import { vrrpGuardWithoutFile } from '../config/vrrp-guard.js';
import { loadKeepalived } from '../config/keepalived.js';
import { parseMetricsValue } from '../config/metrics.js';
import { runVrrpDaemon, type VrrpStatusReport } from '../daemon/vrrp-daemon.js';
import { formatVrrpStatus, formatVrrpSection } from './vrrp-status.js';
import type { VrrpConfig } from '../vrrp/config.js';
import { checkHost } from '../config/host.js';
import type { Config, ConfigIssue } from '../config/types.js';
import { checkAgentParams } from '../agents/index.js';
import { join } from 'node:path';
import { generateAuthKeys, writeSecretFile } from '../config/authkeys.js';
import { Daemon } from '../daemon/daemon.js';
import { request } from '../control/socket.js';
import { formatStatus } from './format.js';
import { parseWatchInterval, watch, WATCH_DEFAULT_S } from './watch.js';
import { fenceByHand } from './fence.js';
import { UserError } from '../util/errors.js';
import { registerTimelineCommands } from './timeline.js';
import { SdNotify } from '../daemon/sdnotify.js';
import { DAEMON_SIGNALS, installSignals } from '../daemon/signals.js';
import type { ReloadReport } from '../daemon/daemon.js';
import { DEFAULT_WAIT_MS, type OperatorReport } from '../daemon/operator.js';

const DEFAULT_STATE_DIR = '/var/lib/tandem';
const DEFAULT_RUN_DIR = '/run/tandem';
/** Heartbeat's configuration directory: a migrated node needs no -c. */
const DEFAULT_CONFIG_DIR = '/etc/ha.d';

/** The version in package.json, which ships in every install (dist/src/cli/ is three levels down). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function nodeName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value)) throw new InvalidArgumentError('a node name is letters, digits, ".", "_" or "-"');
  return value.toLowerCase();
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || n > 3600) throw new InvalidArgumentError('seconds, 0 to 3600');
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program.name('tandem').description('High-availability pair manager (Heartbeat-compatible)').exitOverride();
  program.version(packageVersion(), '-V, --version', 'print the version and exit');
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let exitCode = 0;

  program.command('run')
    .description('run the daemon in the foreground')
    .option('-c, --config <dir>', 'directory holding ha.cf, authkeys and haresources', DEFAULT_CONFIG_DIR)
    .option('--node <name>', 'this node\'s name (default: uname -n)', nodeName)
    .option('--state-dir <dir>', 'LevelDB state directory', DEFAULT_STATE_DIR)
    .option('--run-dir <dir>', 'control socket and pid file directory', DEFAULT_RUN_DIR)
    .option('--init-dir <dir>', 'where LSB init scripts are looked up', '/etc/init.d')
    .option('-d, --debug', 'log debug messages to stderr')
    .option('-f, --use-file <file>', 'a keepalived.conf whose VRRP instances and virtual servers to run (docs/keepalived-conf.md)')
    .option('--metrics <address:port>', 'with -f alone: serve Prometheus metrics (the virtual services) on ADDRESS:PORT (docs/metrics.md)')
    .action(async (o: { config: string; node?: string; stateDir: string; runDir: string; initDir: string; debug?: boolean; useFile?: string; metrics?: string }, cmd: Command) => {
      let metricsAt: { host: string; port: number } | undefined;
      if (o.metrics !== undefined) {
        const m = parseMetricsValue(o.metrics);
        if (m !== 'off' && 'error' in m) throw new UserError(`--metrics: ${m.error.replace(/^'metrics' /, '')}`);
        if (m !== 'off') metricsAt = m;
        if (o.useFile === undefined || cmd.getOptionValueSource('config') !== 'default') throw new UserError("--metrics is for 'run -f FILE' alone; with a Heartbeat directory the endpoint is ha.cf's 'metrics' line");
      }
      let vrrp: { file: string; config: VrrpConfig } | undefined;
      if (o.useFile !== undefined) {
        const withDir = cmd.getOptionValueSource('config') !== 'default';
        const ka = checkKeepalived(o.useFile, withDir ? o.config : undefined, o.initDir);
        for (const line of ka.lines) process.stderr.write(line + '\n');
        if (!ka.ok) throw new UserError(`configuration in ${o.useFile}${withDir ? ` and ${o.config}` : ''} is not valid; nothing started`);
        if (!withDir) {
          if (ka.instances === 0 && ka.services === 0) throw new UserError(`${o.useFile} configures no VRRP instance and no virtual_server, and no -c directory was given; nothing to run`);
          const loaded = loadKeepalived(o.useFile);
          exitCode = await runVrrpDaemon(loaded.config!, { node: o.node ?? hostname().toLowerCase(), runDir: o.runDir, ...(o.debug ? { debug: true } : {}), ...(metricsAt ? { metrics: metricsAt } : {}) });
          return;
        }
        if (ka.services > 0) throw new UserError(`${o.useFile}: virtual_server blocks run with 'tandem run -f FILE' alone; with a Heartbeat directory (-c) they are not run yet, and nothing was started`);
        if (ka.instances > 0) {
          const loaded = loadKeepalived(o.useFile);
          vrrp = { file: o.useFile, config: loaded.config!.vrrp };
          // One daemon, one main thread: with -c, ha.cf's realtime and rtprio schedule it.
          const { rtPriority: rt, nice } = vrrp.config;
          for (const [k, w] of [['vrrp_rt_priority', rt], ['vrrp_priority', nice]] as const) {
            if (w) process.stderr.write(`${w.file}:${w.line}: warning: '${k}' is ignored with a Heartbeat directory (-c): ha.cf's realtime and rtprio schedule the daemon's main thread\n`);
          }
        }
      }
      const { config, issues } = await loadWithAgents(o.config, o.initDir);
      if (!config || issues.length) {
        for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
        throw new UserError(`configuration in ${o.config} is not valid; nothing started`);
      }
      if (o.useFile === undefined) for (const w of vrrpGuardWithoutFile(config.hacf)) process.stderr.write(w + '\n');
      const node = o.node ?? hostname().toLowerCase();
      const daemon = new Daemon({ config, node, stateDir: o.stateDir, runDir: o.runDir, initDir: o.initDir, ...(o.debug ? { debug: true } : {}), ...(vrrp ? { vrrp } : {}) });
      // Every signal that would end the process by default has a meaning or is logged (src/daemon/signals.ts).
      installSignals(DAEMON_SIGNALS, {
        shutdown: (sig) => daemon.shutdown(sig),
        insist: (sig) => {
          daemon.log.warn(`${sig} again: exiting without releasing resources`);
          process.exit(2);
        },
        reload: (sig) => { void daemon.reload(sig); },
        debug: (delta, sig) => daemon.adjustDebug(delta, sig),
        ignored: (sig) => daemon.ignoredSignal(sig),
      });
      try {
        await daemon.start();
      } catch (e) {
        await daemon.close().catch(() => undefined);
        throw e;
      }
      await daemon.done;
    });

  program.command('status')
    .description('show nodes, heartbeat paths and resource groups of the running daemon')
    .option('--run-dir <dir>', 'the daemon\'s run directory', DEFAULT_RUN_DIR)
    .option('--json', 'machine-readable output (docs/status.md)')
    .option('--watch [seconds]', `refresh every SECONDS (default ${WATCH_DEFAULT_S}) until Ctrl-C: in place on a terminal, else successive timestamped snapshots`, parseWatchInterval)
    .action(async (o: { runDir: string; json?: boolean; watch?: number | true }) => {
      const snapshot = async (): Promise<string> => {
        const report = await request(o.runDir, { cmd: 'status' }, 5000);
        if (o.json) return JSON.stringify(report, null, 2) + '\n';
        if ((report as { kind?: string }).kind === 'vrrp') return formatVrrpStatus(report as VrrpStatusReport);
        try {
          const vrrpPart = (report as { vrrp?: VrrpStatusReport['vrrp'] | null }).vrrp;
          return formatStatus(report as never) + (vrrpPart ? formatVrrpSection(vrrpPart) : '');
        } catch {
          // A daemon of another version, or something else on the socket: say so instead of crashing.
          throw new UserError(`the daemon in ${o.runDir} sent a status report this tandem cannot read; try --json`);
        }
      };
      if (o.watch === undefined) {
        process.stdout.write(await snapshot());
        return;
      }
      exitCode = await watch({ intervalS: o.watch === true ? WATCH_DEFAULT_S : o.watch, snapshot, out: process.stdout });
    });

  program.command('reload')
    .description('make the running daemon re-read its configuration and apply the difference (as SIGHUP does)')
    .option('--run-dir <dir>', 'the daemon\'s run directory', DEFAULT_RUN_DIR)
    .action(async (o: { runDir: string }) => {
      const r = await request(o.runDir, { cmd: 'reload' }, 15_000) as ReloadReport;
      if (!r || typeof r !== 'object' || !Array.isArray(r.problems)) throw new UserError(`the daemon in ${o.runDir} sent a reload answer this tandem cannot read`);
      if (!r.valid) {
        for (const p of r.problems) process.stderr.write(`${p}\n`);
        process.stderr.write('tandem: reload refused; the daemon keeps running its previous configuration\n');
        exitCode = 1;
        return;
      }
      for (const a of r.applied) process.stdout.write(`applied: ${a}\n`);
      if (!r.applied.length) process.stdout.write('nothing to apply: the configuration did not change\n');
      for (const x of r.restart) process.stdout.write(`needs a restart: ${x}\n`);
    });

  // Heartbeat's hb_standby / hb_takeover, and Pacemaker-style cleanup (docs/operations.md).
  const waitOption = () => new Option('--wait <seconds>', 'how long to wait for the outcome').default(DEFAULT_WAIT_MS / 1000).argParser(seconds);
  const operatorCommand = async (runDir: string, req: { cmd: string; [k: string]: unknown }, waitS: number) => {
    const r = await request(runDir, { ...req, waitMs: waitS * 1000 }, waitS * 1000 + 15_000) as OperatorReport;
    if (!r || typeof r !== 'object' || !Array.isArray(r.groups) || !Array.isArray(r.notes)) throw new UserError(`the daemon in ${runDir} sent an answer this tandem cannot read`);
    for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
    for (const g of r.groups) process.stdout.write(`group ${g.group}: ${g.outcome}\n`);
    if (r.refused) process.stderr.write(`tandem: ${req.cmd} refused: ${r.refused}\n`);
    if (!r.ok) exitCode = 1;
  };
  const which = new Argument('[which]', 'local: groups preferred on this node; foreign (or failback): preferred on the peer; all').choices(['all', 'local', 'foreign', 'failback']).default('all');
  program.command('standby')
    .description('hand resource groups to the peer, as Heartbeat\'s hb_standby; waits for the outcome')
    .addArgument(which)
    .option('--run-dir <dir>', 'the daemon\'s run directory', DEFAULT_RUN_DIR)
    .addOption(waitOption())
    .action(async (w: string, o: { runDir: string; wait: number }) => operatorCommand(o.runDir, { cmd: 'standby', which: w }, o.wait));
  program.command('takeover')
    .description('ask the peer to hand resource groups to this node, as Heartbeat\'s hb_takeover; waits for the outcome')
    .addArgument(which)
    .option('--run-dir <dir>', 'the daemon\'s run directory', DEFAULT_RUN_DIR)
    .addOption(waitOption())
    .action(async (w: string, o: { runDir: string; wait: number }) => operatorCommand(o.runDir, { cmd: 'takeover', which: w }, o.wait));
  program.command('cleanup')
    .description('clear a failed (or, after checking its resources, stop-failed) group so the rules place it again')
    .argument('<group>', 'the group\'s name or its label as tandem status shows it')
    .option('--run-dir <dir>', 'the daemon\'s run directory', DEFAULT_RUN_DIR)
    .addOption(waitOption())
    .action(async (group: string, o: { runDir: string; wait: number }) => operatorCommand(o.runDir, { cmd: 'cleanup', group }, o.wait));

  program.command('check-config')
    .description('validate ha.cf, authkeys and haresources, and/or a keepalived.conf (-f); print every error as FILE:LINE: message')
    .option('-c, --config <dir>', 'configuration directory', DEFAULT_CONFIG_DIR)
    .option('-f, --use-file <file>', 'check this keepalived.conf (alone, or with the -c directory when -c is given)')
    .option('--init-dir <dir>', 'where LSB init scripts are looked up', '/etc/init.d')
    .option('--host', 'also check that the configuration fits this machine: node name, interfaces, serial devices')
    .option('--node <name>', 'this node\'s name for --host (default: uname -n)', nodeName)
    .action(async (o: { config: string; initDir: string; host?: boolean; node?: string; useFile?: string }, cmd: Command) => {
      if (o.useFile !== undefined) {
        const withDir = cmd.getOptionValueSource('config') !== 'default';
        if (o.host) throw new UserError('--host checks the -c directory only; it does not go with -f yet');
        const ka = checkKeepalived(o.useFile, withDir ? o.config : undefined, o.initDir);
        for (const line of ka.lines) process.stderr.write(line + '\n');
        if (!ka.ok) exitCode = 1;
        else process.stdout.write(`${o.useFile}${withDir ? ` and ${o.config}` : ''}: configuration is valid${ka.warnings ? ` (${ka.warnings} warning${ka.warnings > 1 ? 's' : ''} above)` : ''}\n`);
        return;
      }
      const { config, issues } = await loadWithAgents(o.config, o.initDir);
      const all = config && o.host
        ? sortIssues([...issues, ...checkHost(config, o.node ?? hostname().toLowerCase(), o.node ? '--node' : 'uname -n')])
        : issues;
      for (const i of all) process.stderr.write(formatIssue(i) + '\n');
      if (!config && o.host) process.stderr.write('tandem: --host: this machine is checked once the files above are valid\n');
      const warnings = config ? vrrpGuardWithoutFile(config.hacf) : [];
      for (const w of warnings) process.stderr.write(w + '\n');
      if (all.length) exitCode = 1;
      else process.stdout.write(`${o.config}: configuration is valid${o.host ? ' for this host' : ''}${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''} above)` : ''}\n`);
    });

  program.command('fence')
    .description('fence NODE now through the device(s) ha.cf configures for it; the daemon is not needed')
    .argument('<node>', 'the node to fence', nodeName)
    .option('-c, --config <dir>', 'configuration directory', DEFAULT_CONFIG_DIR)
    .addOption(new Option('--action <action>', 'what to do with its power').choices(['off', 'on', 'reboot', 'status']).default('off'))
    .option('--state-dir <dir>', 'record into the fencing history here (only while the daemon does not hold it)', DEFAULT_STATE_DIR)
    .option('--init-dir <dir>', 'where LSB init scripts are looked up', '/etc/init.d')
    .action(async (target: string, o: { config: string; action: 'off' | 'on' | 'reboot' | 'status'; stateDir: string; initDir: string }) => {
      const ok = await fenceByHand({ ...o, target, out: (s) => process.stdout.write(s) });
      if (!ok) exitCode = 1;
    });

  program.command('arbiter')
    .description('run the third-site arbiter that grants each group to at most one node (docs/quorum.md)')
    .requiredOption('--listen <host:port>', 'UDP address to listen on, e.g. 0.0.0.0:7610')
    .requiredOption('--state-dir <dir>', 'LevelDB directory for grants and request counters')
    .requiredOption('--keys <file>', 'authkeys-format key file (mode 600), normally the cluster\'s authkeys')
    .action(async (o: { listen: string; stateDir: string; keys: string }) => {
      const { formatArbiterStats, runArbiter } = await import('../../arbiter/server.js');
      const arb = await runArbiter({ listen: o.listen, stateDir: o.stateDir, keysFile: o.keys });
      const say = (level: string, msg: string) => process.stderr.write(`${new Date().toISOString()} arbiter ${level.padEnd(5)} ${msg}\n`);
      // Under systemd (Type=notify): ready once it listens.
      const sd = SdNotify.fromEnv(process.env, process.pid, (m) => say('WARN', m));
      sd?.send(`READY=1\nSTATUS=listening on ${o.listen}`);
      const ignoredAt = new Map<string, number>();
      // The arbiter has no debug level and reads its keys once: USR1 and USR2
      // log its counters (kill -USR1 <pid>), HUP says what it did not do.
      installSignals({ ...DAEMON_SIGNALS, SIGUSR2: 'debug-up' }, {
        shutdown: () => { sd?.send('STOPPING=1'); void arb.close(); },
        insist: () => process.exit(2),
        reload: (sig) => say('WARN', `${sig}: the arbiter reads --keys only at start; restart it to use new keys (its grants survive a restart)`),
        debug: () => say('INFO', formatArbiterStats(arb.stats())),
        ignored: (sig) => {
          const t = Date.now();
          if (t - (ignoredAt.get(sig) ?? -Infinity) < 60_000) return;
          ignoredAt.set(sig, t);
          say('WARN', `${sig} ignored (SIGTERM, SIGINT or SIGQUIT stop the arbiter; SIGUSR1/SIGUSR2 log its counters)`);
        },
      });
      await arb.done;
    });

  registerTimelineCommands(program, DEFAULT_RUN_DIR);

  const authkeys = program.command('authkeys').description('authkeys helpers');
  authkeys.command('generate')
    .description('print a fresh authkeys file with a random key, or write it (mode 0600) with --out')
    .addOption(new Option('--method <method>', 'digest method').choices(['sha256', 'sha1', 'md5']).default('sha256'))
    .option('--out <file>', 'write the file, created with mode 0600, instead of printing it; an existing file is refused')
    .option('--force', 'with --out: replace an existing file (atomically: the old key stays whole until the new one is written)')
    .action((o: { method: 'sha256' | 'sha1' | 'md5'; out?: string; force?: boolean }) => {
      if (o.force && o.out === undefined) throw new UserError('--force only goes with --out FILE');
      if (o.out === undefined) process.stdout.write(generateAuthKeys(o.method));
      else writeSecretFile(o.out, generateAuthKeys(o.method), { force: o.force === true });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UserError) {
      process.stderr.write(`tandem: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`tandem: internal error: ${(e as Error).message}\n`);
    if (process.env.TANDEM_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 70;
  }
}

/**
 * loadConfig, then the agents' own check (OCF parameters against each
 * agent's meta-data): a configuration with a problem in either has no config.
 */
async function loadWithAgents(dir: string, initDir: string): Promise<{ config?: Config; issues: ConfigIssue[] }> {
  const loaded = loadConfig(dir, { initDir, checkMode: true });
  if (!loaded.config) return loaded;
  const more = await checkAgentParams(loaded.config.groups, join(dir, 'haresources'), {
    configDir: dir, initDir, scriptTimeoutMs: 60_000, log: () => undefined,
  });
  const issues = sortIssues([...loaded.issues, ...more]);
  return issues.length ? { issues } : loaded;
}
