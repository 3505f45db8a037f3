// Debian's Heartbeat 3.0.6 on the same lab topology, as the yardstick for
// benchmarks (docs: /work/shared/reference/heartbeat.md §3, §6).
//
// Each node gets its own /etc/ha.d, /var/lib/heartbeat and /run, bind-mounted
// from pair.dir(node) inside a private mount namespace (`unshare -m
// --propagation private`, itself inside `ip netns exec`, which already makes /
// a slave), plus its own UTS namespace for the hostname. `ip netns exec`,
// `unshare` and `sh` all exec, so the spawned ChildProcess *is* the heartbeat
// master control process, and every heartbeat process (and every resource
// script it runs) lives in the node's network namespace, so Pair.powerOff /
// Pair.cleanup (`ip netns pids` + SIGKILL) kill all of it. The mount and UTS
// namespaces vanish with their last process; nothing touches the host's mount
// table.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export type NodeName = 'alpha' | 'beta';

/**
 * What the Heartbeat yardstick needs of a lab pair (lab/pair.ts Pair has
 * all of it). Structural, so pair.ts, which starts Heartbeat through this
 * file, and this file do not import each other.
 */
export interface Pair {
  readonly options: Readonly<{
    autoFailback: string; deadtime: string; initdead: string; keepalive: string; servicePort: number; warntime: string;
    authkeys: Partial<Record<NodeName, string>>;
  }>;
  readonly vip: string;
  readonly ns: Readonly<Record<NodeName | 'client', string>>;
  readonly procs: Partial<Record<NodeName, ChildProcess>>;
  dir(node: NodeName): string;
  configDir(node: NodeName): string;
  stateDir(node: NodeName): string;
  runDir(node: NodeName): string;
  logFile(node: NodeName): string;
  mediaLine(): string;
  writeServiceScript(node: NodeName): void;
}

const HB_BIN = '/usr/libexec/heartbeat/heartbeat';
const HOST_HA_D = '/etc/ha.d';
const HOST_HB_LIB = '/var/lib/heartbeat';
/** Files we write ourselves; never copied from the host's /etc/ha.d. */
const OWN_FILES = new Set(['ha.cf', 'authkeys', 'haresources']);

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Writes pair.configDir(node) (the node's /etc/ha.d: ha.cf, authkeys, haresources, plus the
 * host's shellfuncs, harc, rc.d/ and resource.d/ so Heartbeat's own IPaddr2 wrapper is found,
 * and the lab's labsvc script) and pair.stateDir(node) (the node's /var/lib/heartbeat).
 */
export function writeHeartbeatConfig(pair: Pair, node: NodeName): void {
  const cfg = pair.configDir(node);
  const o = pair.options;
  if (!existsSync(join(HOST_HA_D, 'resource.d', 'IPaddr2')) || !existsSync(HB_BIN)) {
    throw new Error(`Heartbeat is not installed (need ${HB_BIN} and ${HOST_HA_D}/resource.d/IPaddr2; apt-get install heartbeat)`);
  }
  mkdirSync(cfg, { recursive: true });
  for (const entry of readdirSync(HOST_HA_D)) {
    if (OWN_FILES.has(entry)) continue;
    cpSync(join(HOST_HA_D, entry), join(cfg, entry), { recursive: true });   // keeps modes
  }
  mkdirSync(join(cfg, 'resource.d'), { recursive: true });
  mirrorDirs(HOST_HB_LIB, pair.stateDir(node));
  mkdirSync(pair.runDir(node), { recursive: true });

  writeFileSync(join(cfg, 'ha.cf'), [
    '# written by the tandem lab (impl heartbeat)',
    // Log to the node's log file only: not to the host's syslog, no logd.
    'use_logd no',
    'logfacility none',
    `logfile ${pair.logFile(node)}`,
    'udpport 694',          // must precede the media lines
    `keepalive ${o.keepalive}`,
    `warntime ${o.warntime}`,
    `deadtime ${o.deadtime}`,
    `initdead ${o.initdead}`,
    pair.mediaLine(),
    `auto_failback ${o.autoFailback}`,
    'node alpha beta',
    '',
  ].join('\n'));
  writeFileSync(join(cfg, 'authkeys'), o.authkeys[node] ?? 'auth 1\n1 sha1 lab-secret\n', { mode: 0o600 });
  chmodSync(join(cfg, 'authkeys'), 0o600);
  // Heartbeat's own IPaddr2 (resource.d wrapper around the OCF agent), default ARP settings.
  writeFileSync(join(cfg, 'haresources'), `alpha IPaddr2::${pair.vip}/24/eth0 labsvc::${o.servicePort}\n`);
  pair.writeServiceScript(node);
}

/** Recreates the directory tree (directories only, same modes and owners) of `from` under `to`. */
function mirrorDirs(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  if (!existsSync(from)) return;
  const st = statSync(from);
  chmodSync(to, st.mode & 0o7777);
  chownSync(to, st.uid, st.gid);
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) mirrorDirs(join(from, e.name), join(to, e.name));
  }
}

/**
 * Starts Heartbeat (foreground, `-f`) on `node`; stdout/stderr and Heartbeat's own log go to
 * pair.logFile(node). The returned child is the master control process.
 *
 * The node's /run is wiped first, as on a real boot (stale /run/heartbeat.pid, API socket,
 * rsctmp); /var/lib/heartbeat (hb_uuid, hb_generation, hostcache) persists like a disk.
 */
export function startHeartbeat(pair: Pair, node: NodeName): ChildProcess {
  const run = pair.runDir(node);
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o755);
  dropStaleLabsvcPid(pair, node);
  const script = [
    'set -e',
    `mount --bind ${q(pair.configDir(node))} /etc/ha.d`,
    `mount --bind ${q(pair.stateDir(node))} /var/lib/heartbeat`,
    `mount --bind ${q(run)} /run`,
    `hostname ${node}`,
    // What systemd-tmpfiles would create at boot (heartbeat.conf, resource-agents.conf).
    'install -d -o hacluster -g haclient -m 0750 /run/heartbeat /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm',
    'install -d -m 1755 /run/resource-agents',
    // realtime is on, so heartbeat mlockall()s. Best effort: without CAP_SYS_RESOURCE the hard
    // limit stays (8 MB here) and cluster-glue then skips mlockall in the master control process
    // ("Cannot lock ourselves into memory": memreserve 6.5 MB >= limit/2; it keeps SCHED_RR and
    // runs on); the smaller children still lock (CAP_IPC_LOCK). Without swap this changes nothing.
    'ulimit -l unlimited 2>/dev/null || true',
    `exec ${HB_BIN} -f`,
  ].join('\n');
  const fd = openSync(pair.logFile(node), 'a');
  const child = spawn('ip', ['netns', 'exec', pair.ns[node], 'unshare', '-m', '-u', '--propagation', 'private', 'sh', '-c', script],
    { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  pair.procs[node] = child;
  return child;
}

/**
 * A powered-off node loses its labsvc, but the pid file (in pair.dir, shared with the tandem
 * lab's script) survives; drop it unless that pid is still alive in the node's namespace, so a
 * recycled pid can't make `labsvc status` lie.
 */
function dropStaleLabsvcPid(pair: Pair, node: NodeName): void {
  const pidFile = join(pair.dir(node), 'labsvc.pid');
  if (!existsSync(pidFile)) return;
  const pid = readFileSync(pidFile, 'utf8').trim();
  try {
    if (statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${pair.ns[node]}`).ino) return;
  } catch { /* not running */ }
  rmSync(pidFile, { force: true });
}

/** The heartbeat master control process of `node`: the child we spawned, else /run/heartbeat.pid. */
function masterPid(pair: Pair, node: NodeName): number {
  const child = pair.procs[node];
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) return child.pid;
  try {
    const pid = Number(readFileSync(join(pair.runDir(node), 'heartbeat.pid'), 'utf8').trim());
    if (pid > 0 && existsSync(`/proc/${pid}`)) return pid;
  } catch { /* fall through */ }
  throw new Error(`${node}: heartbeat is not running`);
}

/**
 * `cl_status nodestatus <of>` as seen by `node`'s heartbeat: active / up / init / dead.
 * (cl_status exits 1 for `dead`, so the answer is whatever it printed.) Throws while the API
 * socket is not up yet ("Cannot signon with heartbeat": the first second or so after start).
 */
export function heartbeatNodeStatus(pair: Pair, node: NodeName, of: NodeName): Promise<string> {
  const pid = masterPid(pair, node);
  const args = ['-t', String(pid), '-m', '-u', '-n', 'cl_status', 'nodestatus', of];
  return new Promise((resolve, reject) => {
    execFile('nsenter', args, { timeout: 5000 }, (err, stdout, stderr) => {
      const answer = stdout.trim();
      if (answer) resolve(answer);
      else reject(new Error(`${node}: cl_status nodestatus ${of}: ${stderr.trim() || err?.message || 'no answer'}`));
    });
  });
}

/**
 * `cl_status ARGS...` run inside `node`'s Heartbeat (its namespaces), its
 * printed answer (trimmed lines). cl_status exits 1 for some answers (a dead
 * node, a dead link), so the answer is whatever it printed; nothing printed
 * is an error (the API socket is not up yet, or an unknown node).
 */
export function heartbeatClStatus(pair: Pair, node: NodeName, ...args: string[]): Promise<string> {
  const pid = masterPid(pair, node);
  return new Promise((resolve, reject) => {
    execFile('nsenter', ['-t', String(pid), '-m', '-u', '-n', 'cl_status', ...args], { timeout: 5000 }, (err, stdout, stderr) => {
      const answer = stdout.trim();
      if (answer) resolve(answer);
      else reject(new Error(`${node}: cl_status ${args.join(' ')}: ${stderr.trim() || err?.message || 'no answer'}`));
    });
  });
}

/** Runs a Heartbeat admin command (hb_standby, hb_takeover) inside `node`'s Heartbeat. */
export function heartbeatCommand(pair: Pair, node: NodeName, cmd: string, ...args: string[]): Promise<string> {
  const pid = masterPid(pair, node);
  return new Promise((resolve, reject) => {
    execFile('nsenter', ['-t', String(pid), '-m', '-u', '-n', cmd, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${node}: ${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
}
