// The daemon: the adapters around the pure engine. It turns datagrams,
// timer expiries and finished resource operations into engine events, and
// the engine's actions into sends, agent calls and durable writes.
//
// The send-and-judge path (timer -> engineStep -> encode -> send) stays
// synchronous and small; everything slow (agents, LevelDB) runs beside it.

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { chmodSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import type { Config, ResourceGroup } from '../config/types.js';
import type { EngineAction, EngineEvent, EngineHandle } from '../node/view.js';
import { NodeRuntime, type NodeHost, type QuorumSpec } from '../node/runtime.js';
import { nodeClock } from '../runtime/node-clock.js';
import { IcmpPinger, pingTargets } from '../ping/icmp.js';
import { LeaseDriver } from '../quorum/driver.js';
import { groupLeaseConfigs } from '../quorum/lease.js';
import type { ArbiterClient } from '../quorum/arbiter-client.js';
import type { LeaseBackend } from '../quorum/backend.js';
import { hotRead } from '../node/view.js';
import { StateStore, type JournalEntry, type JournalFields } from '../state/store.js';
import { localAddresses, openUdpPath, pathName, RECV_BUFFER_BYTES, type Path } from '../transport/udp.js';
import { RxGate } from '../transport/gate.js';
import { PathMonitor, type MonitoredPath } from './paths.js';
import { createAgent, groupOwner, groupSpecOf, prepareAgents } from '../agents/index.js';
import { NetCore } from '../net/core.js';
import type { VrrpConfig } from '../vrrp/config.js';
import { VrrpService } from '../vrrp/service.js';
import type { ResourceAgent } from '../agents/types.js';
import { listenControl, PID_NAME } from '../control/socket.js';
import { Logger } from '../util/log.js';
import { RateLimitedLog, type LazyText } from '../util/ratelimit.js';
import { UserError } from '../util/errors.js';
import { prepareDir } from './dirs.js';
import { groupLabel } from '../config/haresources.js';
import { formatDuration } from '../util/duration.js';
import { LatencyHistogram, LOOP_DELAY_RESOLUTION_MS, loopDelaySummary } from '../util/histogram.js';
import { buildStatusReport, type DropCounts, type StatusReport } from './status.js';
import type { FenceRecord } from '../fencing/history.js';
import { SdNotify } from './sdnotify.js';
import { applyRealtime, mib, type Scheduling } from './realtime.js';
import { AuthDiag, claimsSender } from './authdiag.js';
import { keyFingerprint } from '../config/authkeys.js';
import type { StonithDevice } from '../config/stonith.js';
import { FenceHistory, fencingPolicyConfig, historyRecord, runDeviceAction, type FencingAction } from '../fencing/index.js';
import { formatIssue, loadConfig } from '../config/load.js';
import { diffConfig, groupSetChanges } from '../config/diff.js';
import { lockNode, type NodeLock } from './lock.js';
import { nextDebugLevel } from './signals.js';
import { cleanup as operatorCleanup, handover as operatorHandover, type OperatorHost } from './operator.js';
import { Metrics } from './metrics.js';
import { metricsListen } from '../config/metrics.js';
import { resolveVrrpGuard } from '../config/vrrp-guard.js';
import { VrrpGuardLink, vrrpLeaseKey } from './vrrp-guard.js';

/** What `tandem reload` (and SIGHUP) did; `valid: false` means nothing changed. */
export interface ReloadReport {
  valid: boolean;
  /** FILE:LINE problems of an invalid configuration, or why the reload was refused. */
  problems: string[];
  applied: string[];
  /** Changes read but not applied: they need a restart. */
  restart: string[];
}

/** Journal entries per control-socket reply (about 300 bytes each). */
const JOURNAL_PAGE = 500;

/**
 * Longest a liveness judgement waits for the sockets to be read. Reading a
 * receive buffer full of junk (RECV_BUFFER_BYTES, about 1 KiB per small
 * datagram in the kernel, a few microseconds each) takes some 40 ms.
 */
export const DRAIN_MAX_MS = 100;

export interface DaemonOptions {
  config: Config;
  node: string;
  stateDir: string;
  runDir: string;
  initDir?: string;
  scriptTimeoutMs?: number;
  debug?: boolean;
  /** `run -c DIR -f FILE`: the keepalived.conf whose VRRP instances run beside the pair (checked first: cli/keepalived.ts). */
  vrrp?: { file: string; config: VrrpConfig };
}

/** Journal kinds that change what the VRRP guard reads. */
const GUARD_INPUTS = new Set(['peer-up', 'peer-dead', 'fence', 'fencing', 'lease', 'ping', 'quorum']);

export class Daemon {
  readonly log: Logger;
  /** The engine and its wiring (src/node/runtime.ts), shared with the simulator. */
  private runtime?: NodeRuntime;
  private get engine(): EngineHandle {
    return this.runtime?.engine as EngineHandle;
  }
  private store!: StateStore;
  private paths: MonitoredPath[] = [];
  private pathMon?: PathMonitor;
  private control?: Server;
  private netlink?: NetCore;
  /** The keepalived.conf's VRRP instances, on the same network core as the groups' addresses. */
  private vrrp?: VrrpService;
  private agents = new Map<string, ResourceAgent[]>();
  /** The cause of the last failed state write, until one succeeds (logs the first of a streak). */
  private stateFailing?: string;
  private generation = 0;
  private uuid: Buffer = Buffer.alloc(16);
  private readonly peer: string;
  private readonly startedWall = Date.now();
  private readonly drops: DropCounts = { auth: 0, malformed: 0, ignored: 0, own: 0, spoofed: 0, filtered: 0 };
  /** Per path: cheap admission before decoding (src/transport/gate.ts). */
  private readonly gates = new Map<string, RxGate>();
  /** Datagrams handed up by every path, admitted or not: tells the timer whether the sockets still had input. */
  private rxSeen = 0;
  private ownAddresses = new Set<string>();
  private sent = 0;
  private received = 0;
  private stopping = false;
  /** STONITH devices this node uses against its peer (indexes of the policy's actions). */
  private fenceDevices: StonithDevice[] = [];
  private fenceHistory?: FenceHistory;
  /** Aborts fences and checks still running when the daemon closes. */
  private readonly fenceAbort = new AbortController();
  private readonly fenceJobs = new Set<Promise<void>>();
  private closed = false;
  /** Quorum adapters, when ha.cf configures ping nodes or an arbiter. */
  private pinger?: IcmpPinger;
  private leases?: LeaseDriver;
  /** The split-brain guard of the VRRP units ha.cf's vrrp_guard names. */
  private vrrpGuard?: VrrpGuardLink;
  private guardUnits: string[] = [];
  private guardTimer?: NodeJS.Timeout;
  private guardQueued = false;
  /** Ping reach as the pinger last reported it. */
  private reach = { up: 0, total: 0 };
  private backend?: LeaseBackend;
  private arbiterClient?: ArbiterClient;
  private exitResolve?: () => void;
  readonly done: Promise<void>;
  /** systemd's notification socket, when run as a Type=notify unit. */
  private readonly sd: SdNotify | undefined;
  /** "authkeys differ?" diagnosis (issue 11). */
  private authDiag?: AuthDiag;
  private scheduling?: Scheduling;
  /** How late the send-and-judge timer runs (status: timing.sendLateness). */
  private readonly sendLateness = new LatencyHistogram();
  /** Node's own event-loop delay sampler (a libuv timer in C++, no JS per sample). */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  private authDiagLoggedAt = -Infinity;
  /** The datagram being stepped, so drops name its real source, not the peer. */
  private current?: { from: string; path: string; src: string };
  /** The peer seq watermark last written (state/store.ts setPeerSeq). */
  private seqWritten = '';
  private seqTimer?: NodeJS.Timeout;
  private lock?: NodeLock;
  private shutdownAfterStart?: string;
  /** Set once this daemon created the control socket and pid file: only then does close() remove them. */
  private ownsRunDir = false;
  /** Agents of groups a reload changed, used once the old ones are released (group-retired). */
  private pendingAgents = new Map<string, ResourceAgent[]>();
  /** The Prometheus endpoint (ha.cf `metrics`, on by default on 127.0.0.1). */
  private metrics?: Metrics;

  constructor(private readonly opts: DaemonOptions) {
    const h = opts.config.hacf;
    this.log = new Logger({
      node: opts.node, debug: opts.debug ?? h.debug > 0, debugLevel: opts.debug ? Math.max(1, h.debug) : h.debug,
      logfile: h.logfile, debugfile: h.debugfile, logfacility: h.logfacility,
    });
    const peer = h.nodes.find((n) => n !== opts.node);
    if (!h.nodes.includes(opts.node) || !peer) {
      throw new UserError(`this node is '${opts.node}', but ha.cf lists nodes ${h.nodes.join(', ')}; use --node NAME or fix the node line`);
    }
    this.peer = peer;
    this.done = new Promise((resolve) => { this.exitResolve = resolve; });
    this.sd = SdNotify.fromEnv(process.env, process.pid, (m) => this.log.warn(m));
  }

  private now(): number {
    return performance.now();
  }

  async start(): Promise<void> {
    const { config, node, stateDir, runDir } = this.opts;
    const h = config.hacf;
    // Before anything else: a second daemon for this node must not touch
    // the first one's run dir, state or ports.
    this.lock = await lockNode(node);
    prepareDir('--run-dir', runDir, 0o755);
    prepareDir('--state-dir', stateDir, 0o700);
    this.store = await StateStore.open(stateDir);
    if (this.store.fresh) this.log.info(`state dir ${stateDir} is new: no generation or held group is remembered from before`);
    for (const n of this.store.notes) this.log.warn(`state dir ${stateDir}: ${n}`);
    // Durable before any heartbeat carries it: a generation is never used twice.
    this.generation = await this.store.bumpGeneration(Date.now() / 1000);
    this.uuid = await this.store.nodeUuid();
    const peerGeneration = await this.store.peerGeneration(this.peer);
    const peerSeq = peerGeneration !== undefined ? await this.store.peerSeq(this.peer, peerGeneration) : undefined;
    const peerPrevious = await this.store.peerPrevious(this.peer);
    const held = await this.store.heldGroups();
    for (const g of [...held]) if (!config.groups.some((x) => x.name === g)) held.delete(g);

    this.netlink = NetCore.open();
    // A takeover places its VIPs from the event-fed view (net/interfaces.ts); without it, from a dump each time.
    await this.netlink.trackInterfaces().catch((e: unknown) => this.log.warn(`network interfaces not tracked (${e instanceof Error ? e.message : String(e)}); each takeover lists them instead`));
    const ctx = {
      configDir: config.dir, initDir: this.opts.initDir ?? '/etc/init.d',
      scriptTimeoutMs: this.opts.scriptTimeoutMs ?? 60_000,
      log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => this.log.log(level, msg),
    };
    for (const g of config.groups) this.agents.set(g.name, g.resources.map((r) => createAgent(r, ctx, this.netlink!, groupOwner(g.name))));
    // OCF agents' meta-data: their timeouts and monitor intervals are needed before the first step.
    await prepareAgents([...this.agents.values()].flat());

    if (this.opts.vrrp) {
      if (h.vrrpGuard) {
        const r = resolveVrrpGuard(h, this.opts.vrrp.config, this.opts.vrrp.file);
        if (r.problems.length) throw new UserError(r.problems.join('\n'));
        this.guardUnits = r.units.map((u) => u.unit);
        const q = h.quorum;
        const link = this.vrrpGuard = new VrrpGuardLink({
          units: this.guardUnits, peer: this.peer,
          arbiter: !!q?.arbiter, ping: pingTargets(q?.ping ?? [], q?.pingGroups ?? []).length > 0, fencing: !!h.fencing,
          graceMs: q?.arbiterSafetyMs ?? 0,
          runtime: () => this.vrrp?.runtime, leases: () => this.leases, reach: () => this.reach,
          engine: () => (this.runtime ? hotRead(this.engine) : undefined),
          log: (level, m) => this.log.log(level, m),
        });
        const by = [q?.arbiter ? 'the arbiter lease' : '', link.pinging ? 'ping nodes' : '', h.fencing ? 'fencing' : ''].filter(Boolean);
        this.log.info(`vrrp_guard: ${this.guardUnits.join(', ') || 'nothing'} become MASTER only as ${by.join(', ')} allow (${h.file})`);
        // A backstop: every input also re-evaluates on its own event.
        this.guardTimer = setInterval(() => this.vrrpGuard?.reevaluate(), Math.min(1000, h.keepaliveMs));
        this.guardTimer.unref();
      }
      const link = this.vrrpGuard;
      this.vrrp = await VrrpService.start(this.opts.vrrp.config, this.netlink, {
        log: (level, m) => this.log.log(level, m),
        ...(link ? { guard: { units: this.guardUnits, want: (u: string, w: boolean, r: string) => link.want(u, w, r) } } : {}),
      });
      this.log.info(`running ${this.opts.vrrp.config.instances.length} vrrp_instance(s) from ${this.opts.vrrp.file} beside the pair`);
    }
    this.control = await listenControl(runDir, async (req) => this.handleControl(req.cmd, req));
    this.ownsRunDir = true;
    const pidFile = join(runDir, PID_NAME);
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
    chmodSync(pidFile, 0o644);   // whatever the umask, and whoever left a file there
    const listen = metricsListen(h.metrics);
    if (listen) {
      this.metrics = new Metrics({
        ...listen, origin: h.metrics ? `${h.file}:${h.metrics.line}: metrics` : `${h.file}: metrics (default, no metrics line)`,
        keepaliveMs: h.keepaliveMs, report: () => this.statusReport([]), labels: { node, peer: this.peer, cluster: h.cluster },
      });
      await this.metrics.listen();
    }

    const own = localAddresses();
    this.ownAddresses = own;
    const logFn = (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => this.log.log(level, msg);
    // Every path goes through the monitor: per-path rate/loss/latency for
    // status, and the notify hook; it reads up/down from the engine.
    const mon = this.pathMon = new PathMonitor({
      peer: this.peer, authkeys: config.authkeys, deadtimeMs: h.deadtimeMs, keepaliveMs: h.keepaliveMs,
      now: () => this.now(), engine: () => this.engine as EngineHandle | undefined, log: logFn,
      env: { TANDEM_NODE: node, TANDEM_PEER: this.peer },
      ...(h.notify ? { notify: { ...h.notify, file: h.file } } : {}),
    });
    const deliver = (buf: Buffer, path: string, from: string) => this.onDatagram(buf, path, from);
    for (const m of h.media) {
      if (m.kind === 'ucast' && own.has(m.peer)) continue;   // the line for our own address, so one ha.cf fits both nodes
      // FILE:LINE, as check-config --host would report it.
      const p = await openUdpPath(m, deliver, (path, e) => mon.pathError(path, e)).catch((e: unknown) => {
        throw e instanceof UserError ? new UserError(`${h.file}:${m.line}: ${e.message}`) : e;
      });
      this.gates.set(p.name, new RxGate({ own, ...(m.kind === 'ucast' ? { peer: m.peer } : {}) }));
      if (p.recvBufferBytes !== undefined && p.recvBufferBytes < RECV_BUFFER_BYTES) {
        this.log.warn(`${p.name}: receive buffer is ${p.recvBufferBytes >> 10} KiB, asked for ${RECV_BUFFER_BYTES >> 10} KiB (not root?); a flood overflows it sooner`);
      }
      this.paths.push(mon.wrap(p, m.kind));
    }
    for (const m of h.serial ?? []) {
      // Loaded only for a serial line: serialport and its native binding are ~14 MB of RSS a UDP-only pair never uses.
      const { openSerialPath } = await import('../transport/serial.js');
      const p = await openSerialPath(m, deliver, { log: logFn, file: h.file, keepaliveMs: h.keepaliveMs });
      this.gates.set(p.name, new RxGate({ own, serial: true }));
      this.paths.push(mon.wrap(p, 'serial'));
    }
    if (this.paths.length === 0) throw new UserError(`${h.file}: no heartbeat medium reaches the peer (every ucast line names an address of this host)`);

    let fencingCfg;
    if (h.fencing) {
      const f = fencingPolicyConfig(h.fencing, node, h.nodes);
      fencingCfg = f.cfg;
      this.fenceDevices = f.devices;
      this.fenceHistory = await FenceHistory.on(this.store.sublevel('fence'));
      this.log.info(`fencing: ${f.devices.length} device(s) for ${this.peer}: ${f.cfg.devices.join('; ')}; fence_delay ${f.cfg.fenceDelayMs} ms`);
    }
    const quorum = await this.startQuorum();
    this.runtime = new NodeRuntime({
      self: node, peer: this.peer, paths: this.paths.map((p) => p.name),
      keepaliveMs: h.keepaliveMs, warntimeMs: h.warntimeMs, deadtimeMs: h.deadtimeMs, initdeadMs: h.initdeadMs,
      // With fencing a stop that keeps failing ends in this node being fenced (Pacemaker fences at the
      // first failure); a few retries ride out a transient error first.
      autoFailback: h.autoFailback, stopRetries: h.fencing ? 2 : 10, stopRetryDelayMs: 1000,
      groups: config.groups.map((g) => groupSpecOf(g, this.agents.get(g.name))),
      generation: this.generation, uuid: this.uuid, authkeys: config.authkeys,
      persisted: {
        ...(peerGeneration !== undefined ? { peerGeneration } : {}),
        ...(peerSeq !== undefined ? { peerSeq } : {}),
        ...(peerPrevious ? { peerPrevious } : {}),
        held,
      },
      ...(fencingCfg ? { fencing: fencingCfg } : {}),
      ...(quorum ? { quorum } : {}),
    }, this.nodeHost());
    if (h.autoFailback === 'legacy') this.log.warn(`${h.file}: auto_failback legacy behaves as 'on' (resources return to their preferred node)`);
    this.authDiag = new AuthDiag(this.peer, Math.max(h.deadtimeMs, 3 * h.keepaliveMs, 2000));
    this.scheduling = applyRealtime(h);
    this.loopDelay.enable();
    if (this.scheduling.refused) {
      this.log.warn(`${h.file}: realtime on, but the system refused real-time scheduling: ${this.scheduling.refused}; heartbeats run at normal priority (set 'realtime off' to silence this)`);
    }
    const lock = this.scheduling.memoryLock;
    if (lock?.refused) {
      this.log.warn(`${h.file}: realtime on, but the system refused to lock the heartbeat code in memory: ${lock.refused}; it may be paged out when memory is short (set 'realtime off' to silence this)`);
    }
    this.log.info(`starting: node ${node}, peer ${this.peer}, generation ${this.generation}, paths: ${this.paths.map((p) => p.name).join('; ')}` +
      `; scheduling ${this.scheduling.policy}` +
      (lock ? `; memory lock: ${lock.refused ? 'refused' : `${mib(lock.bytes)} MB in ${lock.regions} mappings`}` : '') +
      `; authkeys: auth ${config.authkeys.sendIndex}, fingerprint ${keyFingerprint(config.authkeys)}` +
      (held.size ? `; held before restart: ${[...held].join(', ')}` : ''));
    if (h.allowInsecureAuthkeys) {
      this.log.warn(`${h.file}:${h.allowInsecureAuthkeys.line}: allow_insecure_authkeys: authkeys has crc or extra keys; anyone who can send to the heartbeat network may forge heartbeats`);
    }
    // The replay watermark for after a restart: written beside the heartbeat
    // path, not per message (docs/paths.md, "Replays").
    this.seqTimer = setInterval(() => this.writePeerSeq(false), 1000);
    this.seqTimer.unref();
    this.store.journal('start', `generation ${this.generation}`, new Date(), { node }).catch((e: Error) => this.stateWriteFailed('journal', e));
    if (this.sd?.watchdogIntervalMs !== undefined && this.sd.watchdogIntervalMs <= h.keepaliveMs) {
      this.log.warn(`systemd WatchdogSec (${2 * this.sd.watchdogIntervalMs} ms) is under twice keepalive (${h.keepaliveMs} ms): the watchdog may kill a healthy daemon`);
    }
    // Groups remembered from before the restart start out 'recovering' without a phase change: journal it, so a timeline shows them.
    for (const g of held) {
      this.store.journal('group', `group ${g}: recovering (held before restart)`, new Date(), { node, group: g, phase: 'recovering', reason: 'held before restart' })
        .catch((e: Error) => this.stateWriteFailed('journal', e));
    }
    this.runtime.tick();
    this.sd?.send(`READY=1\nSTATUS=node ${node}, generation ${this.generation}\nMAINPID=${process.pid}`);
    this.sd?.tick(this.now());
    if (this.shutdownAfterStart) this.shutdown(this.shutdownAfterStart);
  }

  /**
   * Opens the pinger and the lease backend when ha.cf asks for them. Their
   * events only reach the engine once it exists (start() steps it right after).
   */
  private async startQuorum(): Promise<QuorumSpec | undefined> {
    const { config, node } = this.opts;
    const h = config.hacf;
    const q = h.quorum;
    if (!q) return undefined;
    const targets = pingTargets(q.ping, q.pingGroups);
    const safetyMs = q.arbiterSafetyMs;
    const arbiter = q.arbiter?.kind ?? 'none';
    if (targets.length) {
      this.pinger = IcmpPinger.open({
        targets, intervalMs: h.keepaliveMs, deadpingMs: q.deadpingMs,
        onChange: (c) => {
          if (c.kind === 'target-status') this.event(c.status === 'up' ? 'info' : 'warn', 'ping', `ping target ${c.name} ${c.status} (${c.detail}); reachable ${c.reach.up}/${c.reach.total}`);
          this.reach = c.reach;
          this.runtime?.quorumInput({ reach: c.reach });
          this.guardSoon();
        },
        onError: (m) => this.log.error(m),
      });
    }
    if (q.arbiter) {
      const leases = groupLeaseConfigs([...config.groups.map((g) => g.name), ...this.guardUnits.map(vrrpLeaseKey)], h.deadtimeMs, q.arbiterTtlMs, safetyMs);
      const driver = this.leases = new LeaseDriver({
        leases, now: () => this.now(),
        onEvent: (ev) => {
          if (ev.kind === 'lease-held') this.event('info', 'lease', `lease for ${groupLabel(ev.group)} held (${this.backend?.target ?? ''})`, { group: ev.group, phase: 'held' });
          else this.event('warn', 'lease', `lease for ${groupLabel(ev.group)} lost: ${ev.reason}`, { group: ev.group, phase: 'lost', reason: ev.reason });
          // A lost lease stops the group now. Queued as a microtask: the
          // driver may report from inside an engine action (update), and
          // engine steps must not nest.
          queueMicrotask(() => {
            if (!this.closed) this.runtime?.quorumInput({ leases: driver.views() });
          });
        },
      });
      const onReply = (r: Parameters<LeaseDriver['onReply']>[0]) => {
        driver.onReply(r);
        // Denials carry a reason and a holder status shows; held/lost come through onEvent.
        this.runtime?.quorumInput({ leases: driver.views() }, false);
        this.guardSoon();
      };
      const onWarn = (m: string, kind = 'warning') => this.rateLimitedWarn(`quorum:${kind}`, m);
      if (q.arbiter.kind === 'etcd') {
        // Loaded only when configured: a pair without an arbiter does not carry the code.
        const { EtcdBackend } = await import('../quorum/etcd.js');
        this.backend = EtcdBackend.open({ url: q.arbiter.url, cluster: h.cluster, node, onReply, onWarn });
      } else {
        const [{ ArbiterClient }, { loadArbiterKeys }] = await Promise.all([import('../quorum/arbiter-client.js'), import('../../arbiter/server.js')]);
        const keys = q.arbiterKeys ? loadArbiterKeys(q.arbiterKeys) : config.authkeys;
        this.backend = this.arbiterClient = await ArbiterClient.open({ address: q.arbiter.address, cluster: h.cluster, node, generation: this.generation, keys, onReply, onWarn });
      }
      driver.attach(this.backend);
      this.log.info(`quorum: arbiter ${this.backend.target}; lease ttl ${q.arbiterTtlMs} ms, safety ${safetyMs} ms`);
    }
    if (targets.length) this.log.info(`quorum: ping ${targets.map((t) => t.name).join(', ')}; deadping ${q.deadpingMs} ms; ipfail ${q.ipfail.enabled ? 'on' : 'off'}`);
    return { pingConfigured: targets.length > 0, arbiter, safetyMs, ipfail: q.ipfail };
  }

  /** Graceful stop: release every group so the peer can take it at once, then exit. */
  shutdown(reason: string): void {
    if (this.stopping) return;
    if (!this.engine) {
      // Still starting: nothing is held yet; stop as soon as the engine exists.
      this.shutdownAfterStart = reason;
      return;
    }
    this.stopping = true;
    this.sd?.send(`STOPPING=1\nSTATUS=releasing resource groups (${reason})`);
    this.log.info(`shutting down (${reason}): releasing resource groups${this.vrrp ? ' and VRRP instances' : ''}`);
    // Both at once: VRRP masters say priority 0 now, so their backups take over while the groups are released.
    void this.vrrp?.stop();
    this.runtime?.submit({ kind: 'shutdown' });
  }

  private onDatagram(buf: Buffer, path: string, from: string): void {
    this.rxSeen += 1;
    // Paths open one after another before the engine exists; a packet in
    // that window has nobody to go to yet.
    if (!this.engine || this.closed) return;
    // Cheapest first: length, framing bytes and sender, before any decoding.
    const gate = this.gates.get(path);
    const verdict = gate ? gate.check(buf, from, this.now()) : 'pass';
    if (verdict !== 'pass') {
      if (verdict === 'shape') this.drops.malformed += 1; else this.drops.filtered += 1;
      const summary = gate!.report(this.now());
      if (summary) this.log.warn(`${path}: ${summary}`);
      return;
    }
    const r = this.runtime!.read(buf, path);
    if (r.kind === 'drop') {
      switch (r.reason) {
        case 'auth':
        case 'malformed': {
          const e = r.error!;
          if (r.reason === 'auth') this.drops.auth += 1; else this.drops.malformed += 1;
          // Built only when it is logged: under a flood this runs per datagram.
          this.rateLimitedWarn(`drop:${e.reason}`, () => `dropped packet from ${from} on ${path}: ${e.message}`);
          if (r.reason === 'auth' && this.authDiag) {
            const raised = this.authDiag.onAuthFailure(from, claimsSender(buf, this.peer), this.now()) === 'raised';
            if (raised || (this.now() - this.authDiagLoggedAt > 60_000 && this.authDiag.view(this.now()).suspected)) this.authMismatchLog();
          }
          return;
        }
        case 'own':
          // Our own broadcasts come back from our own address; anything else
          // using our name is somebody pretending to be us.
          if (this.ownAddresses.has(from)) this.drops.own += 1;
          else { this.drops.spoofed += 1; this.rateLimitedWarn('drop:spoofed', `dropped message from ${from} on ${path} claiming to come from this node`); }
          return;
        case 'ignored':
          this.drops.ignored += 1;
          return;
      }
    }
    if (r.kind === 'ask' || r.kind === 'hb') {
      // Heartbeat's hb_standby/hb_takeover protocol and its other messages
      // (a mixed pair): authenticated above, replay-checked by the engine.
      this.received += 1;
      this.current = { from, path, src: r.event.src };
      try {
        this.step(r.event);
      } finally {
        this.current = undefined;
      }
      return;
    }
    const fields = r.fields;
    const header = r.event;
    this.pathMon?.observe(fields, path);
    this.received += 1;
    const hot = hotRead(this.engine);
    const accepted = hot.acceptedOn(path);
    const lastSeq = hot.peerSeq;
    this.current = { from, path, src: header.src };
    try {
      this.step(r.event);
    } finally {
      this.current = undefined;
    }
    if (this.metrics && hot.peerSeq !== lastSeq) this.metrics.heartbeat(this.now());
    // Fresh and authentic on this path: the peer really sends from here.
    if (hot.acceptedOn(path) > accepted) gate?.confirm(from);
  }

  /** The "authkeys differ?" diagnosis, loud: on the transition and then at most once a minute while it lasts. */
  private authMismatchLog(): void {
    const v = this.authDiag?.view(this.now());
    if (!v?.message) return;
    this.authDiagLoggedAt = this.now();
    this.event('error', 'authkeys', `${v.message} (this node: ${keyFingerprint(this.opts.config.authkeys)}); ` +
      `until ${this.peer} is heard authentically it counts as dead and its groups are taken over here`);
  }

  /** Persists the peer's newest accepted seq when it changed (sync at shutdown). */
  private writePeerSeq(sync: boolean): Promise<void> {
    const p = this.engine ? hotRead(this.engine).peerWatermark : undefined;
    if (!p) return Promise.resolve();
    const key = `${p.generation}:${p.lastSeq}`;
    if (key === this.seqWritten && !sync) return Promise.resolve();
    this.seqWritten = key;
    return this.store.setPeerSeq(this.peer, p.generation, p.lastSeq, sync).catch((e: Error) => this.log.error(`state: ${e.message}`));
  }

  // Per kind of message, so a flood of one kind never hides another.
  private readonly limitedLog = new RateLimitedLog((level, m) => this.log.log(level, m), () => performance.now());
  private rateLimitedWarn(key: string, msg: LazyText): void {
    this.limitedLog.warn(key, msg);
  }

  private step(ev: EngineEvent): void {
    if (this.closed) return;
    this.runtime?.submit(ev);
  }

  /** What the node runtime (src/node/runtime.ts) needs of this host: real sockets, LevelDB, agents and fence devices. */
  private nodeHost(): NodeHost {
    return {
      clock: nodeClock(() => this.now()),
      wallS: () => Date.now() / 1000,
      sendDatagram: (msg) => {
        for (const p of this.paths) p.send(msg);
        this.sent += 1;
      },
      persistHold: (group, held, done) => {
        const role = hotRead(this.engine).heldCount ? 'active' : 'standby';
        this.store.setHeld(group, held, role).then(() => {
          this.stateWriteOk();
          done();
        }, (e: Error) => {
          // Durable intent before action, or no action: the runtime voids the start queued behind this write.
          this.stateWriteFailed(`group ${group}: ${held ? 'hold' : 'release'}`, e);
          done(e);
        });
      },
      persistPeerGeneration: (generation, previous, done) => {
        this.store.setPeerGeneration(this.peer, generation, previous)
          .then(() => this.stateWriteOk(), (e: Error) => this.stateWriteFailed(`generation ${generation} of ${this.peer}`, e))
          .finally(done);
      },
      raiseGeneration: (a, done) => {
        this.store.raiseGeneration(a.generation, Date.now() / 1000).then((g) => {
          this.stateWriteOk();
          this.event('warn', 'generation', `${this.peer} has accepted generation ${a.generation}${a.seq !== undefined ? ` seq ${a.seq}` : ''} of this node, ` +
            `but this run is generation ${a.ours} at seq ${a.ourSeq}: the generation was used before (state records lost?); moving to generation ${g}`);
          this.generation = g;
          done(g);
        }, (e: Error) => {
          this.stateWriteFailed('new generation', e);
          done(undefined);
        });
      },
      runOp: (group, op, index, done) => {
        const agent = this.agents.get(group)?.[index];
        if (!agent) return done(undefined);
        const t0 = this.now();
        (op === 'start' ? agent.start() : agent.stop()).then(() => undefined, (e: Error) => e.message).then((error) => {
          this.log.log(error === undefined ? 'info' : 'error', `${op} ${agent.resource.spec}: ${error ?? 'ok'} (${formatDuration(this.now() - t0)})`);
          done({ ok: error === undefined, ...(error !== undefined ? { error } : {}) });
        });
      },
      runMonitor: (group, index, timeoutMs, done) => {
        const agent = this.agents.get(group)?.[index];
        if (!agent) return done(undefined);
        void agent.monitor(timeoutMs).then((m) => {
          this.log.log(m.result === 'running' ? 'debug' : 'warn', `monitor ${agent.resource.spec}: ${m.result} (${m.detail})`);
          done({ result: m.result, detail: m.detail });
        });
      },
      device: (a, done) => this.runFencing(a, done),
      ...(this.leases ? { leases: this.pairLeases(this.leases) } : {}),
      // etcd's revoke is an HTTP call: give it a moment before close() aborts it.
      leaveDelayMs: this.backend?.kind === 'etcd' ? 200 : 0,
      observe: (a) => this.observe(a),
      writeOverrun: (ms) => {
        this.rateLimitedWarn('state:overrun', `state dir ${this.opts.stateDir}: a write heartbeats wait for took over ${ms} ms; they were sent before it landed (a hung or very slow disk?)`);
      },
      generationClaimRefused: (claimed, limit) => {
        this.rateLimitedWarn('generation-claim', `${this.peer} reports having heard generation ${claimed} of this node, beyond any it can have used (${limit}); ignored`);
      },
      left: () => void this.finishShutdown(),
      onDeadline: (fire, at) => this.onDeadline(fire, at),
    };
  }

  /**
   * A tick that may judge liveness waits until the sockets have been read.
   * Timers run before the poll phase, so after a pause (SIGSTOP, a long GC,
   * a VM freeze) or under a flood the peer's heartbeats may sit unread in a
   * socket when the deadline fires; setImmediate runs after the next poll
   * phase. Repeat while datagrams keep coming, for at most DRAIN_MAX_MS (a
   * flood never empties the socket). A step in between (a heartbeat) has
   * done the tick's work and re-armed the timer: the driver then skips `fire`.
   */
  private onDeadline(fire: () => void, at: number): void {
    if (this.closed) return;
    const late = this.now() - at;
    this.sendLateness.record(late);
    this.metrics?.timer(late);
    // The watchdog is fed from the timer that sends and judges heartbeats, so a stalled loop starves it.
    this.sd?.tick(this.now());
    for (const [name, g] of this.gates) {
      const summary = g.report(this.now());
      if (summary) this.log.warn(`${name}: ${summary}`);
    }
    if (this.now() < hotRead(this.engine).judgementDeadline) {
      fire();
      return;
    }
    const started = this.now();
    let seen = this.rxSeen;
    const again = (): void => {
      if (this.closed) return;
      if (this.rxSeen !== seen && this.now() - started < DRAIN_MAX_MS) {
        seen = this.rxSeen;
        setImmediate(again);
        return;
      }
      fire();
    };
    setImmediate(again);
  }

  /** The engine's effects as logs, journal entries and metrics (the runtime has carried out the rest). */
  private observe(a: EngineAction): void {
    switch (a.kind) {
      case 'ask':
        this.log.debug(`sent ask_resources rsc_hold=${a.rscHold} info=${a.info} (seq ${a.seq})`);
        return;
      case 'handover-log':
        this.event(a.level, 'handover', a.message);
        return;
      case 'ask-ignored': {
        const c = this.current;
        this.rateLimitedWarn('engine:ask', c ? `${a.detail} (from ${c.from} on ${c.path})` : a.detail);
        return;
      }
      case 'peer-up':
        this.event('info', 'peer-up', `node ${this.peer} is up (generation ${a.generation}${a.restarted ? ', restarted' : ''})`, { peer: this.peer });
        return;
      case 'peer-dead':
        this.event('warn', 'peer-dead', a.reason === 'initdead'
          ? `node ${this.peer} not heard within initdead: declared dead`
          : a.reason === 'left' ? `node ${this.peer} left the cluster (graceful shutdown)` : `node ${this.peer} is dead: silent on every path for deadtime`,
        { peer: this.peer, reason: a.reason });
        this.metrics?.peerGone(a.reason);
        return;
      case 'peer-report':
        if (this.authDiag?.onAuthentic(this.now()) === 'cleared') this.event('info', 'authkeys', `authentic heartbeats from ${this.peer} again: the authkeys-differ diagnosis is cleared`);
        return;
      case 'late-heartbeat':
        this.log.warn(`late heartbeat from ${this.peer}: ${formatDuration(a.silentMs)} since the last one`);
        return;
      case 'path-up':
        this.event('info', 'path-up', `heartbeat path to ${this.peer} up: ${a.path}`, { path: a.path });
        this.metrics?.path(a.path, 'up');
        this.pathMon?.transition(a.path, true);
        return;
      case 'path-down':
        this.event('warn', 'path-down', `heartbeat path to ${this.peer} down: ${a.path}`, { path: a.path });
        this.metrics?.path(a.path, 'down');
        this.pathMon?.transition(a.path, false);
        return;
      case 'generation-reverted':
        this.event('warn', 'generation', `${this.peer} generation ${a.from} was not the peer's: its generation ${a.to} is still sending; back to ${a.to} (a forged message, or a second daemon?)`);
        return;
      case 'dropped': {
        // Name where the datagram came from; it only claims to be the peer.
        const c = this.current;
        this.rateLimitedWarn(`engine:${a.reason}`, c ? `dropped datagram from ${c.from} on ${c.path} (authentic, claims to be ${c.src}): ${a.detail}` : `dropped message: ${a.detail}`);
        return;
      }
      case 'group-phase':
        this.event(a.phase === 'failed' || a.phase === 'stop-failed' ? 'error' : 'info', 'group', `group ${groupLabel(a.group)}: ${a.phase} (${a.reason})`,
          { group: a.group, phase: a.phase, reason: a.reason, code: a.code });
        this.metrics?.transition(groupLabel(a.group), a.phase, a.code);
        return;
      case 'alert':
        this.event('error', 'alert', `group ${groupLabel(a.group)}: ${a.message}`, { group: a.group });
        return;
      case 'monitor-failed': {
        const spec = this.agents.get(a.group)?.[a.index]?.resource.spec ?? `resource ${a.index + 1}`;
        this.event(a.action === 'move' ? 'error' : 'warn', 'monitor',
          `group ${groupLabel(a.group)}: ${spec}: monitor ${a.result} (${a.detail}); failure ${a.count} of ${a.threshold}: ${a.action === 'move' ? 'moving the group to the peer' : 'restarting it in place'}`,
          { group: a.group, reason: a.detail });
        return;
      }
      case 'group-retired': {
        // Its release for a reload is done: its old resources are all stopped.
        const next = this.pendingAgents.get(a.group);
        this.pendingAgents.delete(a.group);
        if (a.replaced && next) this.agents.set(a.group, next);
        else if (!a.replaced) this.agents.delete(a.group);
        this.event('info', 'reload', `group ${a.group}: ${a.replaced ? 'released; its new definition now applies' : 'released and removed'}`);
        return;
      }
      case 'quorum-changed':
        for (const d of a.changed) this.event(d.hold === 'release' ? 'warn' : 'info', 'quorum', `group ${groupLabel(d.group)}: quorum ${d.code} (hold ${d.hold}, take ${d.take}): ${d.reason}`, { group: d.group, reason: d.reason });
        return;
      case 'record': {
        const rec = historyRecord(a.entry, this.opts.node);
        this.event(rec.result === 'ok' || rec.result === 'operator' ? 'warn' : 'error', 'fence',
          `fence of ${rec.target} through ${rec.device}: ${rec.result} after ${formatDuration(rec.durationMs)}${rec.error ? ` (${rec.error})` : ''}`,
          { peer: rec.target, phase: rec.result });
        this.fenceHistory?.append(rec).catch((e: Error) => this.log.error(`fencing history: ${e.message}`));
        this.metrics?.fence(rec.target, rec.device, rec.result);
        return;
      }
      case 'may-take-over':
        this.event('warn', 'fencing', `${a.target}'s groups may be taken over here (${a.reason})`, { peer: a.target, reason: a.reason });
        return;
      case 'fence-alert':
        this.event('error', 'fence-alert', a.message);
        this.pathMon?.notify('fence-alert', a.message);
        return;
      case 'fence-log':
        this.event(a.level, 'fencing', a.message);
        return;
      default:
        return;
    }
  }

  /**
   * A fence or device check runs beside the heartbeat path (it takes from
   * ~50 ms to the device's timeout); its result comes back as an event.
   */
  private runFencing(a: Extract<FencingAction, { kind: 'fence' | 'check' }>, done: (ev: Extract<EngineEvent, { kind: 'fence-done' | 'check-done' }> | undefined) => void): void {
    const ctx = {
      workDir: join(this.opts.runDir, 'fence'),
      log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => this.log.log(level === 'warn' ? 'debug' : level, msg),
    };
    if (a.kind === 'fence') this.log.warn(`fencing ${a.target} through ${hotRead(this.engine).deviceName(a.device) ?? `device ${a.device}`}`);
    const job = runDeviceAction(a, this.fenceDevices, this.fenceAbort.signal, ctx)
      .then((ev) => {
        if (!ev || this.fenceAbort.signal.aborted) return done(undefined);
        done(ev.kind === 'fence-done' || ev.kind === 'check-done' ? ev : undefined);
      })
      .catch((e: Error) => this.log.error(`fencing: ${e.message}`))
      .finally(() => this.fenceJobs.delete(job));
    this.fenceJobs.add(job);
  }

  /** A transition: logged and journalled (off the send path: the LevelDB write is not awaited). */
  private event(level: 'info' | 'warn' | 'error', kind: string, msg: string, fields: JournalFields = {}): void {
    this.log.log(level, msg);
    if (GUARD_INPUTS.has(kind)) this.guardSoon();
    this.store.journal(kind, msg, new Date(), { node: this.opts.node, ...fields }).then(() => this.stateWriteOk(), (e: Error) => this.stateWriteFailed('journal', e));
  }

  /** The lease driver as the pair's runtime sees it: its release on leaving leaves the VRRP units' leases to their own guard. */
  private pairLeases(d: LeaseDriver): NonNullable<NodeHost['leases']> {
    const groups = this.opts.config.groups.map((g) => g.name);
    return {
      update: (g, want, ctx) => d.update(g, want, ctx),
      views: () => d.views(),
      releaseAll: (o) => d.releaseAll({ ...o, only: groups }),
    };
  }

  /** The VRRP guard reads the peer, fencing, leases and ping: re-read once after whatever changed them (never nested in an engine step). */
  private guardSoon(): void {
    if (!this.vrrpGuard || this.guardQueued) return;
    this.guardQueued = true;
    queueMicrotask(() => {
      this.guardQueued = false;
      if (!this.closed) this.vrrpGuard?.reevaluate();
    });
  }

  /** A failed state write is logged with its cause (the first of a streak as an error, the rest at debug); the daemon goes on. */
  private stateWriteFailed(what: string, e: Error): void {
    const first = this.stateFailing === undefined;
    this.stateFailing = e.message;
    this.log.log(first ? 'error' : 'debug', `${what} not recorded: ${e.message}`);
  }

  private stateWriteOk(): void {
    if (this.stateFailing === undefined) return;
    this.stateFailing = undefined;
    this.log.info(`state dir ${this.opts.stateDir}: writes work again`);
  }

  /** The runtime's graceful shutdown is done (groups released, leases given up, st=dead repeated): close and exit. */
  private async finishShutdown(): Promise<void> {
    // The timeline ends this node's intervals here rather than at an unknown time.
    await this.store.journal('stop', 'stopped (graceful shutdown)', new Date(), { node: this.opts.node }).catch(() => undefined);
    await this.close();
    this.log.info('stopped');
    this.log.close();
    this.exitResolve?.();
  }

  async close(): Promise<void> {
    this.runtime?.close();
    this.loopDelay.disable();
    if (this.seqTimer) clearInterval(this.seqTimer);
    if (this.engine && this.store) await this.writePeerSeq(true);
    // A fence still running is killed (its process group); its result is not fed back.
    this.fenceAbort.abort();
    await Promise.allSettled([...this.fenceJobs]);
    this.closed = true;
    // VRRP first: its masters' VIPs are off and their guard leases given up
    // (leaving) while the lease driver and the arbiter link are still open.
    await this.vrrp?.stop();
    if (this.guardTimer) clearInterval(this.guardTimer);
    this.vrrpGuard?.close();
    this.pinger?.close();
    this.leases?.close();
    await this.backend?.close().catch(() => undefined);
    for (const p of this.paths) await p.close().catch(() => undefined);
    this.paths = [];
    this.limitedLog.flush(true);
    this.limitedLog.close();
    await this.metrics?.close();
    if (this.control) await new Promise<void>((r) => this.control!.close(() => r()));
    // A refused start (another daemon answers in this run dir) must leave that daemon's pid file alone.
    if (this.ownsRunDir) try { unlinkSync(join(this.opts.runDir, PID_NAME)); } catch { /* already gone */ }
    // Operations in flight finish (their results are no longer stepped).
    if (this.runtime) await new Promise<void>((r) => this.runtime!.whenIdle(r));
    await this.vrrp?.stop();
    this.netlink?.close();
    await this.store?.close().catch(() => undefined);
    await this.lock?.release();
  }

  /** SIGUSR1 (+1) / SIGUSR2 (-1): Heartbeat's debug level, 0..255; debug lines print while it is above 0. */
  adjustDebug(delta: 1 | -1, sig: string): void {
    const from = this.log.debugLevel;
    const to = nextDebugLevel(from, delta);
    this.log.setDebugLevel(to);
    this.log.info(`${sig}: debug level ${from} -> ${to}${to === 0 ? ' (debug messages off)' : ''}`);
  }

  private lastIgnoredAt = new Map<string, number>();
  /** A signal with no meaning here: said once per signal per minute, never fatal. */
  ignoredSignal(sig: string): void {
    const t = Date.now();
    if (t - (this.lastIgnoredAt.get(sig) ?? -Infinity) < 60_000) return;
    this.lastIgnoredAt.set(sig, t);
    this.log.warn(`${sig} ignored (SIGTERM, SIGINT or SIGQUIT stop tandem, releasing its groups; SIGHUP reloads; SIGUSR1/SIGUSR2 change the debug level)`);
  }

  private reloading = false;
  /**
   * Re-reads ha.cf, authkeys and haresources. An invalid set is refused
   * whole and logged with every FILE:LINE problem; the running one stays.
   * A valid one is applied as a difference: groups that did not change are
   * not touched at all; removed groups are released; changed groups are
   * released and then taken again by the usual rules; added groups are
   * taken by the usual rules. ha.cf settings that shape what was opened at
   * start are reported as needing a restart.
   */
  async reload(source: string): Promise<ReloadReport> {
    const report: ReloadReport = { valid: false, problems: [], applied: [], restart: [] };
    const refuse = (why: string[]): ReloadReport => {
      report.problems = why;
      this.log.error(`reload (${source}) refused; still running the previous configuration`);
      for (const p of why) this.log.error(`reload: ${p}`);
      void this.store?.journal('reload', `refused: ${why[0] ?? ''}${why.length > 1 ? ` (+${why.length - 1} more)` : ''}`).catch(() => undefined);
      return report;
    };
    if (!this.engine || this.stopping || this.closed) return refuse(['the daemon is starting or stopping']);
    if (this.reloading) return refuse(['another reload is in progress']);
    this.reloading = true;
    try {
      const old = this.opts.config;
      const { config, issues } = loadConfig(old.dir, { initDir: this.opts.initDir ?? '/etc/init.d', checkMode: true });
      if (!config || issues.length) return refuse(issues.map(formatIssue));
      if (!config.hacf.nodes.includes(this.opts.node) || !config.hacf.nodes.includes(this.peer)) {
        return refuse([`${config.hacf.file}: the node line must still name ${this.opts.node} and ${this.peer} (changing nodes needs a restart)`]);
      }
      const d = diffConfig(old, config);
      report.restart = d.restart;
      if (d.authkeys && old.hacf.quorum?.arbiter?.kind === 'arbiter' && !old.hacf.quorum.arbiterKeys) {
        report.restart.push(`${join(old.dir, 'authkeys')}: heartbeats use the new keys now; the arbiter client keeps the old ones until a restart`);
      }
      if (old.hacf.quorum && groupSetChanges(d)) {
        // Leases are per group and opened at start; a changed group set would leave some without one.
        report.restart.push(`${join(old.dir, 'haresources')}: adding or removing groups while ha.cf configures quorum (ping/arbiter) needs a restart; the groups stay as they were`);
        d.added = [];
        d.removed = [];
      }
      // New agents first: a resource that cannot be built refuses the whole reload.
      const ctx = {
        configDir: config.dir, initDir: this.opts.initDir ?? '/etc/init.d',
        scriptTimeoutMs: this.opts.scriptTimeoutMs ?? 60_000,
        log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => this.log.log(level, msg),
      };
      const built = new Map<string, ResourceAgent[]>();
      try {
        for (const g of [...d.added, ...d.changed]) built.set(g.name, g.resources.map((r) => createAgent(r, ctx, this.netlink!, groupOwner(g.name))));
        await prepareAgents([...built.values()].flat());
      } catch (e) {
        return refuse([(e as Error).message]);
      }
      const keepGroups = new Set([...d.unchanged, ...d.preferred.map((g) => g.name), ...d.changed.map((g) => g.name), ...d.added.map((g) => g.name)]);
      // With quorum and a changed group set the old set stays: keep removed ones, skip added ones.
      const groups = [
        ...config.groups.filter((g) => keepGroups.has(g.name)),
        ...old.groups.filter((g) => !config.groups.some((x) => x.name === g.name) && !d.removed.some((x) => x.name === g.name)),
      ];
      const effective = {
        ...old,
        authkeys: config.authkeys,
        groups,
        hacf: { ...old.hacf, autoFailback: config.hacf.autoFailback, debug: config.hacf.debug },
      };
      for (const [name, agents] of built) {
        if (hotRead(this.engine).knowsGroup(name)) this.pendingAgents.set(name, agents);   // still held under its old definition
        else this.agents.set(name, agents);
      }
      (this.opts as { config: Config }).config = effective;
      this.pathMon?.setAuthKeys(effective.authkeys);
      this.runtime?.setAuthkeys(effective.authkeys);
      if (d.debug && !this.opts.debug) { this.log.setDebugLevel(d.debug.to); report.applied.push(`debug ${d.debug.from} -> ${d.debug.to}`); }
      if (d.authkeys) report.applied.push('authkeys: new keys in use');
      if (d.autoFailback) report.applied.push(`auto_failback ${d.autoFailback.from} -> ${d.autoFailback.to}`);
      for (const g of d.added) report.applied.push(`group ${g.name}: added`);
      for (const g of d.removed) report.applied.push(`group ${g.name}: removed (released if held here)`);
      for (const g of d.changed) report.applied.push(`group ${g.name}: resources changed (released, then taken again by the usual rules)`);
      for (const g of d.preferred) report.applied.push(`group ${g.name}: preferred node now ${g.preferredNode}`);
      report.valid = true;
      const unchanged = d.unchanged.length;
      this.event('info', 'reload', `reload (${source}): ${report.applied.length ? report.applied.join('; ') : 'nothing to change'}; ${unchanged} group(s) unchanged, untouched`);
      for (const r of report.restart) this.log.warn(`reload: ${r}`);
      this.step({
        kind: 'reconfigure', autoFailback: effective.hacf.autoFailback, replace: d.changed.map((g) => g.name),
        groups: groups.map((g) => groupSpecOf(g, built.get(g.name) ?? this.agents.get(g.name))),
      });
      return report;
    } finally {
      this.reloading = false;
    }
  }

  /** What the day-2 commands (src/daemon/operator.ts) may use of the daemon. */
  private operatorHost(): OperatorHost {
    return {
      node: this.opts.node, peer: this.peer,
      engine: () => (this.engine && !this.closed ? this.engine : undefined),
      now: () => this.now(),
      step: (ev) => this.step(ev),
      journal: (level, msg) => this.event(level, 'operator', msg),
      agents: (g) => this.agents.get(g),
    };
  }

  private async handleControl(cmd: string, req: Record<string, unknown> = {}): Promise<unknown> {
    if (cmd === 'reload') return this.reload('tandem reload');
    if (cmd === 'standby' || cmd === 'takeover') return operatorHandover(this.operatorHost(), cmd, req.which, req.waitMs);
    if (cmd === 'cleanup') return operatorCleanup(this.operatorHost(), req.group, req.waitMs);
    if (cmd === 'journal') {
      // `tandem journal` / `tandem timeline` read a running node's journal here (the daemon holds the LevelDB
      // lock), a page at a time: one reply for all 10,000 entries would take tens of ms of JSON on this loop.
      const since = typeof req.sinceMs === 'number' && Number.isFinite(req.sinceMs) ? req.sinceMs : -Infinity;
      const after = typeof req.after === 'string' && /^\d{12}$/.test(req.after) ? req.after : undefined;
      const page = await this.store.journalPage(after, JOURNAL_PAGE, since);
      return { node: this.opts.node, exportedAt: new Date().toISOString(), live: true, ...page };
    }
    if (cmd === 'status') {
      const journal = await this.store.recentJournal(20);
      // The database is closed while a failed write waits for its reopen: status still answers.
      const fenceHistory = this.fenceHistory ? await this.fenceHistory.recent(10).catch(() => []) : undefined;
      return this.statusReport(journal, fenceHistory);
    }
    throw new Error(`unknown command '${cmd}'`);
  }

  /** The status report (`tandem status`; the metrics endpoint reads it on each scrape). */
  private statusReport(journal: JournalEntry[], fenceHistory?: FenceRecord[]): StatusReport {
    if (!this.engine) throw new Error('the daemon is starting');
    return buildStatusReport({
      engine: this.engine, config: this.opts.config, node: this.opts.node, peer: this.peer,
      generation: this.generation, now: this.now(), startedWall: this.startedWall,
      drops: this.drops, sent: this.sent, received: this.received,
      ...(this.scheduling ? { scheduling: this.scheduling } : {}),
      sendLateness: this.sendLateness.summary(),
      eventLoopDelay: loopDelaySummary(this.loopDelay),
      ...(this.authDiag ? { auth: { sendIndex: this.opts.config.authkeys.sendIndex, fingerprint: keyFingerprint(this.opts.config.authkeys), insecureAllowed: !!this.opts.config.hacf.allowInsecureAuthkeys, diagnosis: this.authDiag.view(this.now()) } } : {}),
      journal,
      ...(this.pathMon ? { pathStats: this.pathMon.snapshot() } : {}),
      ...(fenceHistory ? { fenceHistory } : {}),
      ...(this.pinger ? { ping: this.pinger.stats() } : {}),
      ...(this.backend ? { arbiter: this.backend.target } : {}),
      ...(this.arbiterClient ? { arbiterDrops: this.arbiterClient.dropped } : {}),
      ...(this.vrrp && this.opts.vrrp ? { vrrp: { file: this.opts.vrrp.file, ...this.vrrp.runtime.view() } } : {}),
    });
  }
}

export type { ResourceGroup };
export function readPid(runDir: string): number | undefined {
  try { return parseInt(readFileSync(join(runDir, PID_NAME), 'utf8'), 10); } catch { return undefined; }
}
