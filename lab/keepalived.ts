// A keepalived.conf pair on the same topology as lab/pair.ts (alpha, beta and
// a client on a bridge in the client's namespace), run by Debian's keepalived
// 2.2.7 (the yardstick) or by tandem (`tandem run -f`) from the same file:
//
//   [alpha: eth0 .1] --veth-- [client: br0 .10] --veth-- [beta: eth0 .2]
//
// One VRRPv3 instance, unicast adverts (unicast_src_ip/unicast_peer) by
// default, one VIP (NET.100/24 on eth0), alpha at the higher priority. Each
// node's keepalived runs in the foreground (-n) in its namespace with the VRRP
// subsystem only, logging to its own file, its pid files in the run's work dir:
// every keepalived process (the parent and its VRRP child) lives in the node's
// namespace, so powerOff() and cleanup() (`ip netns pids` + SIGKILL) end all of
// it and nothing escapes to the host. With impl 'tandem' the node runs
// `node <bin/tandem's flags> bin/tandem run -f keepalived.conf` instead, from
// the identical file.
//
// Facts used here (/work/shared/reference/keepalived.md §0): the parent you
// start forks a VRRP child; `kill -9` of the parent alone is a graceful stop
// (the child has PDEATHSIG=SIGTERM and sends a priority-0 advert). So a power
// loss first SIGSTOPs every process of the node (none can see another die or
// react to the link), then downs the link, then SIGKILLs them: no goodbye
// advert leaves, whichever implementation runs.

import { performance } from 'node:perf_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bringUpEth0, createPairNetwork, killAllIn, killNetns, Pair, REPO_ROOT, TANDEM_NODE_FLAGS, type NodeName } from './pair.js';
import { sh, sleep } from './sh.js';

export const KEEPALIVED_BIN = '/usr/sbin/keepalived';
const TANDEM_BIN = join(REPO_ROOT, 'bin', 'tandem');

export type VrrpImpl = 'keepalived' | 'tandem';

export interface KeepalivedPairOptions {
  prefix: string;             // namespace prefix, <= 8 chars
  net: string;                // first three octets, e.g. "10.237.1"
  workDir: string;
  /** VRRP advert_int in seconds: 0.01..40.95 in 10 ms steps for VRRPv3. */
  advertInt?: number;
  media?: 'ucast' | 'mcast';
  /** false: `nopreempt` (a returning alpha does not take the VIP back). */
  preempt?: boolean;
  vrid?: number;
  priority?: Record<NodeName, number>;
  /** Who runs the keepalived.conf on both nodes (default keepalived). */
  impl?: VrrpImpl;
}

export class KeepalivedPair {
  readonly vip: string;
  readonly clientIp: string;
  readonly ns: Record<NodeName | 'client', string>;
  readonly ip: Record<NodeName, string>;
  readonly procs: Partial<Record<NodeName, ChildProcess>> = {};
  private readonly o: Required<KeepalivedPairOptions>;

  constructor(opts: KeepalivedPairOptions) {
    this.o = { advertInt: 1, media: 'ucast', preempt: true, vrid: 51, priority: { alpha: 150, beta: 100 }, impl: 'keepalived', ...opts };
    const s = Math.round(this.o.advertInt * 100);
    if (!(s >= 1 && s <= 4095) || Math.abs(s - this.o.advertInt * 100) > 1e-6) {
      // keepalived itself would round it, or ignore it and silently keep 1 s (keepalived.md §5.3).
      throw new Error(`advert_int ${this.o.advertInt}: VRRPv3 needs 0.01..40.95 s in 10 ms steps`);
    }
    const p = `${opts.prefix}${process.pid}`;
    this.o.workDir = `${opts.workDir}-${process.pid}`;
    this.ns = { alpha: `${p}-a`, beta: `${p}-b`, client: `${p}-c` };
    this.ip = { alpha: `${opts.net}.1`, beta: `${opts.net}.2` };
    this.clientIp = `${opts.net}.10`;
    this.vip = `${opts.net}.100`;
  }

  get options(): Readonly<Required<KeepalivedPairOptions>> { return this.o; }
  get impl(): VrrpImpl { return this.o.impl; }

  dir(node: NodeName): string { return join(this.o.workDir, node); }
  configFile(node: NodeName): string { return join(this.dir(node), 'keepalived.conf'); }
  logFile(node: NodeName): string { return join(this.dir(node), `${this.o.impl}.log`); }
  pidFile(node: NodeName): string { return join(this.dir(node), 'keepalived.pid'); }
  vrrpPidFile(node: NodeName): string { return join(this.dir(node), 'vrrp.pid'); }

  async setup(): Promise<void> {
    await Pair.removeStale(this.o.prefix);
    rmSync(this.o.workDir, { recursive: true, force: true });
    await createPairNetwork(this.ns, this.clientIp);
    for (const node of ['alpha', 'beta'] as const) {
      await this.bringUp(node);
      this.writeConfig(node);
    }
  }

  private async bringUp(node: NodeName): Promise<void> {
    await bringUpEth0(this.ns[node], `${this.ip[node]}/24`);
  }

  /** keepalived.conf for `node`: both nodes start as BACKUP; the priority decides. */
  writeConfig(node: NodeName): void {
    mkdirSync(this.dir(node), { recursive: true });
    const o = this.o;
    const peer: NodeName = node === 'alpha' ? 'beta' : 'alpha';
    const media = o.media === 'ucast'
      ? [`    unicast_src_ip ${this.ip[node]}`, `    unicast_peer {`, `        ${this.ip[peer]}`, `    }`]
      : [];
    writeFileSync(this.configFile(node), [
      '# written by the tandem lab (run by keepalived or tandem run -f)',
      'global_defs {',
      `    router_id ${node}`,
      '    vrrp_version 3',
      '}',
      'vrrp_instance VI_1 {',
      '    state BACKUP',
      '    interface eth0',
      `    virtual_router_id ${o.vrid}`,
      `    priority ${o.priority[node]}`,
      `    advert_int ${o.advertInt}`,
      ...(o.preempt ? [] : ['    nopreempt']),
      ...media,
      '    virtual_ipaddress {',
      `        ${this.vip}/24 dev eth0`,
      '    }',
      '}',
      '',
    ].join('\n'));
  }

  /**
   * Starts the implementation on `node`: keepalived (foreground, VRRP only;
   * the child is keepalived's parent process) or `tandem run -f` (the child is
   * tandem itself: `ip netns exec` execs).
   */
  startNode(node: NodeName): ChildProcess {
    if (this.o.impl === 'tandem') {
      const fd = openSync(this.logFile(node), 'a');
      const child = spawn('ip', ['netns', 'exec', this.ns[node], process.execPath, ...TANDEM_NODE_FLAGS, TANDEM_BIN,
        'run', '-f', this.configFile(node), '--node', node, '--run-dir', join(this.dir(node), 'run')], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      this.procs[node] = child;
      return child;
    }
    if (!existsSync(KEEPALIVED_BIN)) throw new Error(`keepalived is not installed (need ${KEEPALIVED_BIN}; apt-get install keepalived)`);
    for (const f of [this.pidFile(node), this.vrrpPidFile(node)]) rmSync(f, { force: true });
    const fd = openSync(this.logFile(node), 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns[node], KEEPALIVED_BIN,
      '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp',
      '-f', this.configFile(node), '-p', this.pidFile(node), '-r', this.vrrpPidFile(node)],
    { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.procs[node] = child;
    return child;
  }

  /** The pids of every process of the implementation on `node` (keepalived: parent first, then the VRRP child), from its namespace. */
  async pids(node: NodeName): Promise<number[]> {
    const inNs = (await sh('ip', ['netns', 'pids', this.ns[node]], { allowFail: true })).split('\n').filter(Boolean).map(Number);
    const exe = this.o.impl === 'tandem' ? realpathSync(process.execPath) : KEEPALIVED_BIN;
    return inNs.filter((pid) => {
      try { return readlinkSync(`/proc/${pid}/exe`) === exe; } catch { return false; }
    }).sort((a, b) => a - b);
  }

  /** The VRRP child's pid from its pid file, if it is running. */
  vrrpPid(node: NodeName): number | undefined {
    try {
      const pid = Number(readFileSync(this.vrrpPidFile(node), 'utf8').trim());
      return pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async holdsVip(node: NodeName): Promise<boolean> {
    const out = await sh('ip', ['-n', this.ns[node], '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { allowFail: true });
    return out.includes(` ${this.vip}/`);
  }

  async clientPing(): Promise<boolean> {
    const out = await sh('ip', ['netns', 'exec', this.ns.client, 'ping', '-c1', '-W1', this.vip], { allowFail: true });
    return /1 received/.test(out);
  }

  /**
   * Power loss: every process of the node is frozen (SIGSTOP) at once, so
   * none sees another die (keepalived's VRRP child would say goodbye on its
   * parent's death) or the link go; then the link drops and they are all
   * SIGKILLed. The VIP stays on the dead node's eth0, as on a real crashed
   * host, behind a link that is down. `pids` (from every process in the
   * node's namespace, default: listed now) lets a caller list them before its
   * clock starts, so the freeze is a few kill(2) calls. Resolves with the
   * wall-clock instant (ms) by which the link was down: from then on
   * nothing of the node's (its kernel still answers pings for its addresses
   * while its processes are stopped) reaches the client. The processes'
   * exit takes longer, more for a big one (tandem's node) than for
   * keepalived's: timing "reachable again" from the end of this call
   * charged that exit to the survivor.
   */
  async powerOff(node: NodeName, pids?: number[]): Promise<number> {
    const frozen = pids ?? await this.namespacePids(node);
    for (const pid of frozen) {
      try { process.kill(pid, 'SIGSTOP'); } catch { /* gone */ }
    }
    await sh('ip', ['-n', this.ns[node], 'link', 'set', 'eth0', 'down']);
    const linkDownAt = performance.timeOrigin + performance.now();
    for (const pid of frozen) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await killAllIn(this.ns[node]);
    this.procs[node] = undefined;
    return linkDownAt;
  }

  /** Every process in `node`'s namespace (the daemon, keepalived's children, anything they ran). */
  async namespacePids(node: NodeName): Promise<number[]> {
    return (await sh('ip', ['netns', 'pids', this.ns[node]], { allowFail: true })).split('\n').filter(Boolean).map(Number);
  }

  /** Power back on: the node's own address only, then keepalived again. */
  async powerOn(node: NodeName): Promise<ChildProcess> {
    await this.bringUp(node);
    return this.startNode(node);
  }

  /** SIGTERM: keepalived (or tandem) sends a priority-0 advert, drops the VIP and exits. */
  async stopNode(node: NodeName, timeoutMs = 10_000): Promise<void> {
    const child = this.procs[node];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');   // `ip netns exec` execs, so this is keepalived's parent
    const r = await Promise.race([exited.then(() => 'ok' as const), sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (r === 'timeout') await killAllIn(this.ns[node]);
    this.procs[node] = undefined;
  }

  async cleanup(): Promise<void> {
    // A daemon spawned just now may not have entered its namespace yet, so
    // `ip netns pids` would miss it and it would outlive the namespace.
    for (const child of Object.values(this.procs)) {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of Object.values(this.ns)) await killNetns(ns);
    if (!process.env.TANDEM_KEEP_LAB) rmSync(this.o.workDir, { recursive: true, force: true });
  }
}
