// A two-node pair plus a client, each in its own network namespace, joined
// by a bridge that lives in the client's namespace:
//
//   [alpha: eth0 .1] --veth-- [client: br0 .10] --veth-- [beta: eth0 .2]
//
// Used by the integration tests, `npm run demo` and the failover benchmark.
// Every namespace and directory name carries the caller's prefix and this
// process's pid, so two test runs on one kernel (two checkouts, a CI run
// beside a developer's) never tear down each other's pairs.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, sleep, waitFor } from './sh.js';
import { startHeartbeat, writeHeartbeatConfig, type NodeName } from './heartbeat.js';
import { IpmiSim } from './ipmi.js';

export type { NodeName };

export interface PairOptions {
  prefix: string;             // namespace prefix, <= 8 chars
  net: string;                // first three octets, e.g. "10.211.7"
  workDir: string;
  keepalive?: string;         // ha.cf syntax
  warntime?: string;
  deadtime?: string;
  initdead?: string;
  autoFailback?: 'on' | 'off' | 'legacy';
  media?: 'bcast' | 'ucast' | 'mcast';
  servicePort?: number;
  /** Which daemon runs on the nodes: tandem, or Debian's Heartbeat 3 as the yardstick. */
  impl?: 'tandem' | 'heartbeat';
  /**
   * A mixed pair (issue 17): these nodes run Debian's Heartbeat 3, the other
   * one tandem (impl is then ignored). Both get the same haresources line, as
   * a mixed pair needs (Heartbeat names a group by its resource strings).
   */
  heartbeatNodes?: NodeName[];
  arpCount?: number;
  arpIntervalMs?: number;
  /** Extra ha.cf lines per node, written after the media line (tandem only), e.g. `baud`/`serial`/`notify`/more media. */
  extraHaCf?: Partial<Record<NodeName, string[]>>;
  /**
   * Give each node a power switch (an ipmi_sim, lab/ipmi.ts) and fence
   * through it (tandem only). Power off kills every process of the node and
   * downs its link (powerOff()); power on brings the link back and starts
   * tandem again (powerOn()). The switch of a node runs in its PEER's
   * namespace at 127.0.0.1:623, so each node reaches the switch it fences
   * through without the pair's network, and ha.cf is identical on both.
   */
  fencing?: PairFencing;
  /**
   * A third site: the arbiter (tandem's, or etcd from /usr/bin/etcd) in a
   * namespace of its own on the client's bridge, at NET.20 (tandem only).
   * Both nodes get an `arbiter` line (plus `arbiterHaCf`); the arbiter is
   * started by setup() and can be stopped and started again.
   */
  arbiter?: 'tandem' | 'etcd';
  /** More quorum lines for both nodes' ha.cf, e.g. `arbiter_ttl 2`. */
  arbiterHaCf?: string[];
  /**
   * A gateway for ping nodes: a namespace of its own on the client's bridge
   * at NET.254 that answers ICMP echo (tandem only; add `ping NET.254` via
   * extraHaCf or arbiterHaCf).
   */
  gateway?: boolean;
  /** The authkeys file per node; default `auth 1` / `1 sha1 lab-secret` on both. */
  authkeys?: Partial<Record<NodeName, string>>;
  /**
   * Dual stack (tandem only): the first three groups of a /64, e.g.
   * "fd00:236:2". Nodes get ::1 and ::2, the client ::10 (all without DAD),
   * and the group gets an IPv6 VIP ::100 beside the IPv4 one (vip6).
   */
  ipv6?: string;
}

export interface PairFencing {
  /**
   * The stonith_host line that fences `target` through `sw`; default: the
   * built-in ipmi type with the switch's parameters.
   */
  stonithHost?: (target: NodeName, sw: IpmiSim) => string;
  /** More fencing lines, e.g. `fence_delay 5`, `fence_check_interval 0`. */
  extra?: string[];
}

const HERE = dirname(fileURLToPath(import.meta.url));
// Runs both from source (vitest) and compiled (dist/lab, for demo and bench).
export const REPO_ROOT = resolve(HERE, HERE.split('/').includes('dist') ? '../..' : '..');
const TANDEM_BIN = join(REPO_ROOT, 'bin', 'tandem');
/** Node's flags for the daemon, as bin/tandem's #! line gives them to an installed tandem. */
export const TANDEM_NODE_FLAGS = readFileSync(TANDEM_BIN, 'utf8').split('\n')[0]!.split(/\s+/).filter((a) => a.startsWith('--'));

/**
 * The lab's topology: namespaces alpha, beta and client, the client holding
 * bridge br0 with `clientIp`/24 (and `clientIp6`), each node's eth0 a veth
 * into the bridge (va, vb). The nodes' addresses are bringUpEth0's.
 */
export async function createPairNetwork(ns: Record<NodeName | 'client', string>, clientIp: string, clientIp6?: string): Promise<void> {
  for (const n of [ns.alpha, ns.beta, ns.client]) {
    await sh('ip', ['netns', 'add', n]);
    await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  const c = ns.client;
  await sh('ip', ['-n', c, 'link', 'add', 'br0', 'type', 'bridge']);
  await sh('ip', ['-n', c, 'addr', 'add', `${clientIp}/24`, 'brd', '+', 'dev', 'br0']);
  if (clientIp6) await sh('ip', ['-n', c, 'addr', 'add', clientIp6, 'dev', 'br0', 'nodad']);
  await sh('ip', ['-n', c, 'link', 'set', 'br0', 'up']);
  for (const node of ['alpha', 'beta'] as const) {
    const port = node === 'alpha' ? 'va' : 'vb';
    await sh('ip', ['link', 'add', 'eth0', 'netns', ns[node], 'type', 'veth', 'peer', 'name', port, 'netns', c]);
    await sh('ip', ['-n', c, 'link', 'set', port, 'master', 'br0', 'up']);
  }
}

/** A (re)booted node's eth0: only its own address (CIDR), no VIP left over. */
export async function bringUpEth0(ns: string, cidr: string, cidr6?: string): Promise<void> {
  await sh('ip', ['-n', ns, 'addr', 'flush', 'dev', 'eth0']);
  await sh('ip', ['-n', ns, 'addr', 'add', cidr, 'brd', '+', 'dev', 'eth0']);
  if (cidr6) await sh('ip', ['-n', ns, 'addr', 'add', cidr6, 'dev', 'eth0', 'nodad']);
  await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
}

export class Pair {
  readonly vip: string;
  readonly clientIp: string;
  readonly ns: Record<NodeName | 'client', string>;
  readonly ip: Record<NodeName, string>;
  readonly mac: Record<NodeName, string> = { alpha: '', beta: '' };
  readonly procs: Partial<Record<NodeName, ChildProcess>> = {};
  /** With the fencing option: the switch that powers each node. */
  readonly power: Partial<Record<NodeName, IpmiSim>> = {};
  /** With the arbiter option: its namespace, address and process. */
  readonly arbiterNs: string;
  readonly arbiterIp: string;
  arbiterProc?: ChildProcess;
  readonly gatewayNs: string;
  readonly gatewayIp: string;
  /** With the ipv6 option: the group's IPv6 VIP (canonical text). */
  readonly vip6: string | undefined;
  private readonly o: Required<Omit<PairOptions, 'fencing' | 'arbiter' | 'gateway' | 'ipv6'>> & Pick<PairOptions, 'fencing' | 'arbiter' | 'gateway' | 'ipv6'>;

  constructor(opts: PairOptions) {
    this.o = {
      keepalive: '100ms', warntime: '200ms', deadtime: '300ms', initdead: '1', autoFailback: 'off',
      media: 'bcast', servicePort: 7000, impl: 'tandem', arpCount: 5, arpIntervalMs: 200, extraHaCf: {}, arbiterHaCf: [], authkeys: {}, heartbeatNodes: [], ...opts,
    };
    const p = `${opts.prefix}${process.pid}`;
    this.o.workDir = `${opts.workDir}-${process.pid}`;
    this.ns = { alpha: `${p}-a`, beta: `${p}-b`, client: `${p}-c` };
    this.ip = { alpha: `${opts.net}.1`, beta: `${opts.net}.2` };
    this.clientIp = `${opts.net}.10`;
    this.vip = `${opts.net}.100`;
    this.vip6 = opts.ipv6 === undefined ? undefined : `${opts.ipv6}::100`;
    this.arbiterNs = `${p}-r`;
    this.arbiterIp = `${opts.net}.20`;
    this.gatewayNs = `${p}-g`;
    this.gatewayIp = `${opts.net}.254`;
  }

  dir(node: NodeName): string { return join(this.o.workDir, node); }
  configDir(node: NodeName): string { return join(this.dir(node), 'ha.d'); }
  runDir(node: NodeName): string { return join(this.dir(node), 'run'); }
  stateDir(node: NodeName): string { return join(this.dir(node), 'state'); }
  logFile(node: NodeName): string { return join(this.dir(node), 'tandem.log'); }

  /** Removes namespaces of this prefix whose owning process is gone (a run that died before cleaning up). */
  static async removeStale(prefix: string): Promise<void> {
    const out = await sh('ip', ['netns', 'list'], { allowFail: true });
    for (const line of out.split('\n')) {
      const m = line.split(' ')[0]?.match(new RegExp(`^${prefix}(\\d+)-[abcrg]$`));
      if (!m) continue;
      const owner = Number(m[1]);
      if (owner !== process.pid && processAlive(owner)) continue;
      await killNetns(m[0]);
    }
  }

  async setup(): Promise<void> {
    await Pair.removeStale(this.o.prefix);
    rmSync(this.o.workDir, { recursive: true, force: true });
    await createPairNetwork(this.ns, this.clientIp, this.o.ipv6 ? `${this.o.ipv6}::10/64` : undefined);
    for (const node of ['alpha', 'beta'] as const) {
      await this.bringUp(node);
      this.mac[node] = (await sh('ip', ['-n', this.ns[node], '-br', 'link', 'show', 'eth0'])).trim().split(/\s+/)[2] ?? '';
    }
    if (this.o.arbiter) await this.setupArbiter();
    if (this.o.gateway) await this.setupSite(this.gatewayNs, this.gatewayIp, 'vg');
    if (!this.o.fencing) for (const node of ['alpha', 'beta'] as const) this.writeConfig(node);
    if (this.o.fencing) {
      // The stonith_host lines need the switches' parameters: switches first.
      for (const node of ['alpha', 'beta'] as const) await this.startSwitch(node);
      for (const node of ['alpha', 'beta'] as const) this.writeConfig(node);
    }
  }

  private async startSwitch(node: NodeName): Promise<void> {
    const ns = this.ns[node];
    const peer: NodeName = node === 'alpha' ? 'beta' : 'alpha';
    mkdirSync(this.o.workDir, { recursive: true });
    const onScript = join(this.o.workDir, `power-on-${node}.sh`);
    const offScript = join(this.o.workDir, `power-off-${node}.sh`);
    // What powerOn() does, as a script the switch's hook can run. The daemon
    // gets its own session and no inherited pipe: ipmi_sim waits for the
    // hook, and stop() kills the hook's process group, not the node.
    writeFileSync(onScript, [
      '#!/bin/sh',
      `ip -n ${ns} addr flush dev eth0`,
      `ip -n ${ns} addr add ${this.ip[node]}/24 brd + dev eth0`,
      `ip -n ${ns} link set eth0 up`,
      `setsid ${this.tandemCommand(node).map(shq).join(' ')} </dev/null >>${shq(this.logFile(node))} 2>&1 &`,
      '',
    ].join('\n'), { mode: 0o755 });
    // What powerOff() does. The PEER's switch runs in this node's namespace
    // (it stands for a BMC on its own network): it is spared, by its process
    // group (ipmi_sim leads one; its hooks are in it).
    writeFileSync(offScript, [
      '#!/bin/sh',
      `KEEP=$(cat ${shq(this.keepFile(node))} 2>/dev/null)`,
      'for i in 1 2 3; do',
      `  for pid in $(ip netns pids ${ns}); do`,
      '    [ -n "$KEEP" ] && [ "$(ps -o pgid= -p "$pid" | tr -d \' \')" = "$KEEP" ] && continue',
      '    kill -9 "$pid" 2>/dev/null',
      '  done',
      'done',
      `ip -n ${ns} link set eth0 down`,
      '',
    ].join('\n'), { mode: 0o755 });
    this.power[node] = await IpmiSim.start({
      name: `${ns}-power`, dir: join(this.o.workDir, `power-${node}`), netns: this.ns[peer],
      onPowerOff: `sh ${offScript}`,
      onPowerOn: `sh ${onScript}`,
    });
    // The switch just started lives in the peer's namespace: the peer's power-off keeps it.
    writeFileSync(this.keepFile(peer), `${this.power[node]!.pid ?? ''}\n`);
  }

  /** A namespace of its own on the client's bridge (port `port`), with `ip` on its eth0. */
  private async setupSite(ns: string, ip: string, port: string): Promise<void> {
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.ns.client]);
    await sh('ip', ['-n', this.ns.client, 'link', 'set', port, 'master', 'br0', 'up']);
    await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'brd', '+', 'dev', 'eth0']);
    await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  }

  private async setupArbiter(): Promise<void> {
    await this.setupSite(this.arbiterNs, this.arbiterIp, 'vr');
    mkdirSync(this.arbiterDir(), { recursive: true });
    writeFileSync(this.arbiterKeys(), 'auth 1\n1 sha1 lab-secret\n', { mode: 0o600 });
    chmodSync(this.arbiterKeys(), 0o600);
    await this.startArbiter();
  }

  arbiterDir(): string { return join(this.o.workDir, 'arbiter'); }
  private arbiterKeys(): string { return join(this.arbiterDir(), 'keys'); }
  arbiterLog(): string { return join(this.arbiterDir(), 'arbiter.log'); }

  /** The quorum lines of ha.cf for the arbiter option (identical on both nodes). */
  arbiterLines(): string[] {
    if (!this.o.arbiter) return [];
    const where = this.o.arbiter === 'etcd' ? `etcd://${this.arbiterIp}:2379/tandem-lab` : `${this.arbiterIp}:7610`;
    return [`arbiter ${where}`, ...this.o.arbiterHaCf];
  }

  /** Starts the arbiter (again), with its state kept from any earlier run, and waits until it answers. */
  async startArbiter(): Promise<void> {
    const fd = openSync(this.arbiterLog(), 'a');
    const ns = this.arbiterNs;
    const args = this.o.arbiter === 'etcd'
      ? ['netns', 'exec', ns, '/usr/bin/etcd', '--name', 'lab', '--data-dir', join(this.arbiterDir(), 'etcd'),
        '--listen-client-urls', `http://${this.arbiterIp}:2379`, '--advertise-client-urls', `http://${this.arbiterIp}:2379`,
        '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
        '--initial-cluster', 'lab=http://127.0.0.1:2380']
      : ['netns', 'exec', ns, process.execPath, ...TANDEM_NODE_FLAGS, TANDEM_BIN, 'arbiter', '--listen', `${this.arbiterIp}:7610`,
        '--state-dir', join(this.arbiterDir(), 'state'), '--keys', this.arbiterKeys()];
    this.arbiterProc = spawn('ip', args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    await waitFor('the arbiter to listen', async () => {
      const out = this.o.arbiter === 'etcd'
        ? await sh('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :2379'], { allowFail: true })
        : await sh('ip', ['netns', 'exec', ns, 'ss', '-Hlun', 'sport = :7610'], { allowFail: true });
      return out.includes(this.arbiterIp) ? true : undefined;
    }, 15_000, 50);
  }

  /** Stops the arbiter: SIGTERM (graceful) or SIGKILL (a crash). */
  async stopArbiter(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    const child = this.arbiterProc;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);   // `ip netns exec` execs, so this is the arbiter itself
    await Promise.race([exited, sleep(10_000)]);
    this.arbiterProc = undefined;
  }

  private keepFile(node: NodeName): string { return join(this.o.workDir, `power-keep-${node}`); }

  /** The stonith_host and other fencing lines of ha.cf (identical on both nodes). */
  fencingLines(): string[] {
    const f = this.o.fencing;
    if (!f) return [];
    const line = f.stonithHost ?? ((target: NodeName, sw: IpmiSim) => `stonith_host * ipmi ${sw.stonithParams(target).join(' ')}`);
    return [...(['alpha', 'beta'] as const).map((n) => line(n, this.power[n]!)), ...(f.extra ?? [])];
  }

  private tandemCommand(node: NodeName, extraArgs: string[] = []): string[] {
    return ['ip', 'netns', 'exec', this.ns[node], process.execPath, ...TANDEM_NODE_FLAGS, TANDEM_BIN, 'run',
      '-c', this.configDir(node), '--node', node, '--state-dir', this.stateDir(node), '--run-dir', this.runDir(node), ...extraArgs];
  }

  private async bringUp(node: NodeName): Promise<void> {
    await bringUpEth0(this.ns[node], `${this.ip[node]}/24`, this.o.ipv6 ? `${this.o.ipv6}::${node === 'alpha' ? 1 : 2}/64` : undefined);
  }

  writeConfig(node: NodeName): void {
    const cfg = this.configDir(node);
    if (this.implOf(node) === 'heartbeat') return writeHeartbeatConfig(this, node);
    mkdirSync(join(cfg, 'resource.d'), { recursive: true });
    mkdirSync(this.runDir(node), { recursive: true });
    const o = this.o;
    writeFileSync(join(cfg, 'ha.cf'), [
      '# written by the tandem lab',
      'udpport 694',
      `keepalive ${o.keepalive}`,
      `warntime ${o.warntime}`,
      `deadtime ${o.deadtime}`,
      `initdead ${o.initdead}`,
      this.mediaLine(),
      ...(o.extraHaCf[node] ?? []),
      ...this.fencingLines(),
      ...this.arbiterLines(),
      `auto_failback ${o.autoFailback}`,
      'node alpha beta',
      '',
    ].join('\n'));
    writeFileSync(join(cfg, 'authkeys'), o.authkeys[node] ?? 'auth 1\n1 sha1 lab-secret\n', { mode: 0o600 });
    chmodSync(join(cfg, 'authkeys'), 0o600);
    const arp = o.impl === 'tandem' && !this.mixed ? `::arp_count=${o.arpCount}::arp_interval=${o.arpIntervalMs}` : '';
    // haresources splits on "::", so the IPv6 VIP is written with all eight groups.
    const v6 = o.ipv6 ? ` IPv6addr::${o.ipv6}:0:0:0:0:100/64/eth0${arp}` : '';
    writeFileSync(join(cfg, 'haresources'), `alpha IPaddr2::${this.vip}/24/eth0${arp}${v6} labsvc::${o.servicePort}\n`);
    this.writeServiceScript(node);
  }

  /** Heartbeat media lines for the configured kind; identical on both nodes. */
  mediaLine(): string {
    switch (this.o.media) {
      case 'bcast': return 'bcast eth0';
      case 'mcast': return 'mcast eth0 239.0.0.94 694 1 0';
      case 'ucast': return `ucast eth0 ${this.ip.alpha}\nucast eth0 ${this.ip.beta}`;
    }
  }

  /** resource.d/labsvc: a TCP service on the VIP that answers with the node's name, so a client can tell who serves it. */
  writeServiceScript(node: NodeName): void {
    const pidFile = join(this.dir(node), 'labsvc.pid');
    writeFileSync(join(this.configDir(node), 'resource.d', 'labsvc'), `#!/bin/sh
# labsvc PORT start|stop|status: a TCP service on the VIP that says which node serves it
PORT=$1; PIDF=${pidFile}
case "$2" in
  start)
    if [ -f $PIDF ] && kill -0 $(cat $PIDF) 2>/dev/null; then exit 0; fi
    setsid socat TCP-LISTEN:$PORT,bind=${this.vip},reuseaddr,fork SYSTEM:'echo ${node}' </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF; exit 0 ;;
  stop)
    if [ -f $PIDF ]; then kill $(cat $PIDF) 2>/dev/null; rm -f $PIDF; fi; exit 0 ;;
  status)
    if [ -f $PIDF ] && kill -0 $(cat $PIDF) 2>/dev/null; then echo running; exit 0; fi
    echo "not running"; exit 3 ;;
  *) echo "usage: labsvc PORT start|stop|status" >&2; exit 2 ;;
esac
`, { mode: 0o755 });
  }

  /**
   * Starts tandem on `node`; its output goes to logFile(node); `env` adds
   * environment variables (e.g. systemd's); `wrap` is a command line the
   * daemon's is appended to, e.g. ['prlimit', '--rtprio=0', '--'].
   */
  startTandem(node: NodeName, extraArgs: string[] = [], env?: Record<string, string>, wrap: string[] = []): ChildProcess {
    const fd = openSync(this.logFile(node), 'a');
    const [cmd, ...args] = [...wrap, ...this.tandemCommand(node, extraArgs)];
    const child = spawn(cmd!, args, { stdio: ['ignore', fd, fd], ...(env ? { env: { ...process.env, ...env } } : {}) });
    closeSync(fd);
    this.procs[node] = child;
    return child;
  }

  async status(node: NodeName): Promise<StatusJson> {
    const out = await sh(process.execPath, [TANDEM_BIN, 'status', '--json', '--run-dir', this.runDir(node)]);
    return JSON.parse(out) as StatusJson;
  }

  async waitForStatus(node: NodeName, what: string, pred: (s: StatusJson) => boolean, timeoutMs = 15_000): Promise<StatusJson> {
    return waitFor(`${node}: ${what}`, async () => {
      const s = await this.status(node);
      return pred(s) ? s : undefined;
    }, timeoutMs, 50);
  }

  async holdsVip(node: NodeName): Promise<boolean> {
    const out = await sh('ip', ['-n', this.ns[node], '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { allowFail: true });
    return out.includes(` ${this.vip}/`);
  }

  async holdsVip6(node: NodeName): Promise<boolean> {
    if (!this.vip6) return false;
    const out = await sh('ip', ['-n', this.ns[node], '-6', '-o', 'addr', 'show', 'dev', 'eth0'], { allowFail: true });
    return out.includes(` ${this.vip6}/`);
  }

  /** The MAC the client's IPv6 neighbour table holds for the IPv6 VIP. */
  async clientNeighbourMac6(): Promise<string | undefined> {
    if (!this.vip6) return undefined;
    const out = await sh('ip', ['-n', this.ns.client, '-6', 'neigh', 'show', this.vip6], { allowFail: true });
    return out.match(/lladdr ([0-9a-f:]{17})/)?.[1];
  }

  async serviceRunning(node: NodeName): Promise<boolean> {
    const out = await sh('ip', ['netns', 'exec', this.ns[node], 'ss', '-Hltn', `sport = :${this.o.servicePort}`], { allowFail: true });
    return out.includes(this.vip);
  }

  /** Who answers on VIP:port, as the client sees it. */
  async askService(): Promise<string> {
    const out = await sh('ip', ['netns', 'exec', this.ns.client, 'socat', '-T2', 'STDIO', `TCP:${this.vip}:${this.o.servicePort},connect-timeout=2`], { allowFail: true, timeoutMs: 5000 });
    return out.trim();
  }

  async clientPing(): Promise<boolean> {
    const out = await sh('ip', ['netns', 'exec', this.ns.client, 'ping', '-c1', '-W1', this.vip], { allowFail: true });
    return /1 received/.test(out);
  }

  /** The MAC the client's neighbour table holds for the VIP. */
  async clientNeighbourMac(): Promise<string | undefined> {
    const out = await sh('ip', ['-n', this.ns.client, 'neigh', 'show', this.vip], { allowFail: true });
    return out.match(/lladdr ([0-9a-f:]{17})/)?.[1];
  }

  /** Power loss: the link drops and every process of the node dies at once. */
  async powerOff(node: NodeName): Promise<void> {
    if (this.power[node]) {
      // With switches: the same script as the switch's power-off, which spares the peer's switch.
      await sh('sh', [join(this.o.workDir, `power-off-${node}.sh`)]);
    } else {
      await sh('ip', ['-n', this.ns[node], 'link', 'set', 'eth0', 'down']);
      await killAllIn(this.ns[node]);
    }
    this.procs[node] = undefined;
  }

  get impl(): 'tandem' | 'heartbeat' { return this.o.impl; }
  /** A mixed pair: one node runs Heartbeat, the other tandem. */
  get mixed(): boolean { return this.o.heartbeatNodes.length > 0; }
  /** Which daemon `node` runs. */
  implOf(node: NodeName): 'tandem' | 'heartbeat' {
    return this.mixed ? (this.o.heartbeatNodes.includes(node) ? 'heartbeat' : 'tandem') : this.o.impl;
  }
  get options(): Readonly<Required<Omit<PairOptions, 'fencing' | 'arbiter' | 'gateway' | 'ipv6'>> & Pick<PairOptions, 'fencing' | 'arbiter' | 'gateway' | 'ipv6'>> { return this.o; }

  /** Starts the configured daemon on `node`. */
  startNode(node: NodeName): ChildProcess {
    return this.implOf(node) === 'heartbeat' ? startHeartbeat(this, node) : this.startTandem(node);
  }

  /** Power back on: a rebooted host has only its own address; then the daemon starts again. */
  async powerOn(node: NodeName): Promise<ChildProcess> {
    await this.bringUp(node);
    return this.startNode(node);
  }

  /** The daemon's ha.cf, e.g. to change a line before a restart. */
  haCfPath(node: NodeName): string {
    return join(this.configDir(node), 'ha.cf');
  }

  /** kill -9 of the daemon alone: the host stays up, and so does whatever the daemon configured. */
  async crashTandem(node: NodeName): Promise<void> {
    const child = this.procs[node];
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`${node}: tandem is not running`);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');   // `ip netns exec` execs, so this is the daemon itself
    await exited;
  }

  async stopTandem(node: NodeName, timeoutMs = 10_000): Promise<number | null> {
    const child = this.procs[node];
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`${node}: tandem did not exit within ${timeoutMs} ms of SIGTERM`);
    }
    return code;
  }

  async cleanup(): Promise<void> {
    for (const sw of Object.values(this.power)) await sw?.stop();
    await this.stopArbiter().catch(() => undefined);
    if (this.o.arbiter) await killNetns(this.arbiterNs);
    if (this.o.gateway) await killNetns(this.gatewayNs);
    for (const ns of Object.values(this.ns)) await killNetns(ns);
    if (!process.env.TANDEM_KEEP_LAB) rmSync(this.o.workDir, { recursive: true, force: true });
  }
}

const shq = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function killAllIn(ns: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const pids = (await sh('ip', ['netns', 'pids', ns], { allowFail: true })).split('\n').filter(Boolean);
    if (pids.length === 0) return;
    await sh('kill', ['-9', ...pids], { allowFail: true });
    await sleep(20);
  }
}

export async function killNetns(ns: string): Promise<void> {
  await killAllIn(ns);
  await sh('ip', ['netns', 'del', ns], { allowFail: true });
}

/** The subset of `tandem status --json` the lab reads (docs/status.md has all of it). */
export interface StatusJson {
  node: string;
  generation: number;
  nodes: Array<{ name: string; self: boolean; state: string; holds: string[]; generation: number | null }>;
  paths: Array<{ name: string; state: string; accepted: number; stale: number }>;
  groups: Array<{ name: string; holder: string | null; local: { phase: string; lastError: string | null } }>;
  counters: { sent: number; received: number; dropped: Record<string, number> };
}
