// The daemon's VRRP host: the keepalived.conf model mapped onto the instance
// machines (runtime.ts), one raw VRRP socket per instance from the network
// core, adverts through the codec (packet.ts), VIPs placed and removed by the
// network core under the owner `vrrp:NAME`, link and carrier events as
// faults, and notify scripts run in state order. It decides nothing.

import { routeText, type NetCore, type RouteSpec } from '../net/core.js';
import type { InterfaceInfo, NetEvent, NetWatcher } from '../net/netlink.js';
import type { VipSpec } from '../net/vip.js';
import type { VrrpReceived, VrrpSocket } from '../net/vrrp-socket.js';
import { runChild } from '../agents/runner.js';
import { nodeClock } from '../runtime/node-clock.js';
import type { Clock } from '../runtime/driver.js';
import { UserError } from '../util/errors.js';
import { RateLimitedLog } from '../util/ratelimit.js';
import { DEFAULT_GARP, type InstanceConfig, type Transition, type VrrpStateName } from './instance.js';
import { decode, encode, primaryAddress, type VrrpAuth } from './packet.js';
import { NotifyQueue } from './notify-queue.js';
import { STATE_OF, VrrpRuntime, warmTakeover, type VrrpHost } from './runtime.js';
import { routeScope, type VrrpCommand, type VrrpConfig, type VrrpInstanceSpec, type VrrpNotify, type VrrpRouteSpec, type VrrpScriptSpec, type VrrpTrackFileSpec } from './config.js';
import { Driver } from '../runtime/driver.js';
import { open } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import {
  SCRIPT_SET_MACHINE, fileTrackValue, initInstanceTracks, initScripts, parseTrackFile, scriptOk, setTrack, trackValue,
  type InstanceTracks, type ScriptEffect, type ScriptEvent, type ScriptSetState, type TrackValue,
} from './track.js';

export type VrrpLogFn = (level: 'info' | 'warn' | 'debug', message: string) => void;

/** A notify script gets this long; keepalived's default script timeout is not bounded, tandem's is. */
const NOTIFY_TIMEOUT_MS = 30_000;
const DROP_LOG_INTERVAL_MS = 10_000;

/** The owner name of an instance's addresses in the network core's registry. */
export const vrrpOwner = (instance: string) => `vrrp:${instance}`;

interface Live {
  spec: VrrpInstanceSpec;
  primary: string;
  destinations: string[];
  auth: VrrpAuth;
  socket?: VrrpSocket;
  /**
   * Encoded adverts by priority and interval, one per destination: a master
   * sends the same bytes every interval, and a backup's first advert as
   * master is then a lookup, not an encode that only a takeover runs.
   */
  adverts: Map<number, Buffer[]>;
  /** The VIPs as the network core takes them, made once: prepared for a takeover on every advert heard. */
  takeover?: Array<{ vip: VipSpec; example: string }>;
}

/** Priorities a sync group's tracking or a shutdown can give an instance are few; more means churn, not a cache. */
const ADVERT_CACHE_MAX = 8;

/** The machine's view of an instance: the numbers it needs, from the model and the interface. */
export function instanceConfig(spec: VrrpInstanceSpec, primary: string, guarded = false): InstanceConfig {
  return {
    name: spec.name, vrid: spec.vrid, priority: spec.priority, version: spec.version, advertIntervalMs: spec.advertMs,
    nopreempt: !spec.preempt, preemptDelayMs: spec.preemptDelayMs, initialState: spec.initialState,
    primaryAddress: primary, garp: { ...DEFAULT_GARP, ...spec.garp }, guarded,
    ...(spec.strict ? { strict: true } : {}),
  };
}

/** Where an instance's adverts go from: unicast_src_ip, or the interface's primary address (IPv6: link-local). */
export function resolvePrimary(spec: VrrpInstanceSpec, ifs: InterfaceInfo[]): string {
  if (spec.unicastSrc) return spec.unicastSrc;
  const nic = ifs.find((i) => i.name === spec.interface);
  const where = `${spec.interfaceAt.file}:${spec.interfaceAt.line}`;
  if (!nic) throw new UserError(`${where}: vrrp_instance ${spec.name}: interface ${spec.interface} does not exist`);
  const p = primaryAddress(nic, spec.family, spec.vips.map((v) => v.address));
  if (!p) {
    throw new UserError(`${where}: vrrp_instance ${spec.name}: ${spec.interface} has no ${spec.family === 4 ? 'IPv4 address' : 'IPv6 link-local address'} to send adverts from${spec.family === 4 ? ' (set unicast_src_ip or add one)' : ''}`);
  }
  return p;
}

function vipSpec(spec: VrrpInstanceSpec, v: VrrpInstanceSpec['vips'][number]): VipSpec {
  const s: VipSpec = {
    // The machine's `announce` effects say when and how often (garp_master_*): none with the add itself.
    family: v.family, ip: v.address, prefixLen: v.prefix, nic: v.dev ?? spec.interface,
    arpCount: 0, arpIntervalMs: 0,
  };
  if (v.label !== undefined) s.label = v.label;
  if (v.brd !== undefined) s.broadcast = v.brd;
  return s;
}

/** A virtual_routes line as the network core takes it; a string says why it cannot be (a scope check-config warned about). */
export function routeSpec(r: VrrpRouteSpec): RouteSpec | string {
  let dst: string;
  let dstLen: number;
  if (r.to === 'default') { dst = r.family === 4 ? '0.0.0.0' : '::'; dstLen = 0; }
  else {
    const [a, p] = r.to.split('/');
    dst = a!;
    dstLen = p === undefined ? (r.family === 4 ? 32 : 128) : Number(p);
  }
  const out: RouteSpec = { dst, dstLen };
  if (r.via !== undefined) out.gateway = r.via;
  if (r.src !== undefined) out.src = r.src;
  if (r.metric !== undefined) out.metric = r.metric;
  if (r.table !== undefined) out.table = r.table;
  if (r.type !== undefined) out.type = r.type;
  // The device of a blackhole/unreachable/prohibit line only named what keepalived would track: the kernel takes none.
  if (r.dev !== undefined && (r.type ?? 'unicast') === 'unicast') out.ifname = r.dev;
  if (r.scope !== undefined) {
    const n = routeScope(r.scope);
    if (n === undefined) return `scope '${r.scope}' is not global, site, link, host, nowhere or 0 to 255`;
    out.scope = n;
  }
  return out;
}

/**
 * no_accept (vrrp_strict's default below 255): keepalived 2.2 drops IP
 * traffic to a master's addresses unless it is their owner (priority 255).
 */
export function dropsTraffic(spec: VrrpInstanceSpec): boolean {
  return !spec.accept && !spec.addressOwner;
}

/** One tracked object of one instance, keepalived's weight rules resolved. */
export interface TrackRef {
  instance: string;
  /** The instance's fault source / weight key: `track_script NAME`, or `sync group G: track_file NAME`. */
  source: string;
  kind: 'script' | 'interface' | 'file';
  name: string;
  weight: number;
  reverse: boolean;
}

/**
 * Who tracks what, with which weight: the track line's weight, else the
 * vrrp_script's / vrrp_track_file's own (interfaces: 0); `reverse` from
 * either. A sync group's own tracks apply to each member with their weights
 * (keepalived 2.2 does the same, sync_group_tracking_weight or not). A
 * member's own weighted track needs sync_group_tracking_weight: check-config
 * refuses it otherwise, and should one get here it counts as 0 (FAULT).
 */
export function trackPlan(cfg: VrrpConfig): TrackRef[] {
  const out: TrackRef[] = [];
  const scripts = new Map<string, VrrpScriptSpec>(cfg.scripts.map((x) => [x.name, x]));
  const files = new Map<string, VrrpTrackFileSpec>(cfg.trackFiles.map((x) => [x.name, x]));
  const groupOf = new Map(cfg.syncGroups.flatMap((g) => g.members.map((m) => [m, g] as const)));
  for (const i of cfg.instances) {
    const g = groupOf.get(i.name);
    const weightless = g !== undefined && !g.trackingWeight;
    const add = (prefix: string, list: VrrpInstanceSpec['trackScripts'], kind: TrackRef['kind'], own: (n: string) => { weight: number; reverse: boolean } | undefined) => {
      for (const t of list) {
        const o = own(t.name);
        out.push({
          instance: i.name, source: `${prefix}track_${kind} ${t.name}`, kind, name: t.name,
          weight: weightless && prefix === '' ? 0 : t.weight ?? o?.weight ?? 0, reverse: t.reverse || (o?.reverse ?? false),
        });
      }
    };
    for (const [prefix, o] of [['', i], ...(g ? [[`sync group ${g.name}: `, g]] as const : [])] as const) {
      add(prefix, o.trackScripts, 'script', (n) => scripts.get(n));
      add(prefix, o.trackInterfaces, 'interface', () => undefined);
      add(prefix, o.trackFiles, 'file', (n) => files.get(n));
    }
  }
  return out;
}

/** How often a track_file is read (keepalived: inotify, at once). */
export const TRACK_FILE_POLL_MS = 1000;
/** keepalived reads 127 bytes of a track file; so does tandem. */
const TRACK_FILE_READ_MAX = 127;
/** After SIGTERM on timeout runScript waits this long before SIGKILL; the start waits for it too. */
const SCRIPT_KILL_GRACE_MS = 2000;

export interface VrrpServiceOptions {
  log: VrrpLogFn;
  clock?: Clock;
  /**
   * The split-brain guard: the guarded units (instances outside sync groups,
   * sync groups), and where their wants go (the daemon's VrrpGuardLink).
   */
  guard?: { units: readonly string[]; want: (unit: string, want: boolean, reason: string) => void };
}

export class VrrpService {
  readonly runtime: VrrpRuntime;
  private readonly live = new Map<string, Live>();
  private watcher?: NetWatcher;
  private readonly drops: RateLimitedLog;
  private stopped?: Promise<void>;
  /** Set by stop(): no more tracking results reach the instances. */
  private trackingClosed = false;
  private readonly plan: TrackRef[];
  private readonly tracks = new Map<string, InstanceTracks>();
  private scripts?: Driver<ScriptSetState, ScriptEvent, ScriptEffect>;
  private fileTimer?: NodeJS.Timeout;
  private readonly fileReading = new Set<string>();
  /** Weight-0 scripts without a first result: the instances wait in INIT for them, as keepalived's do. */
  private readonly initPending = new Set<string>();
  private initDone?: () => void;
  /** Script runs in flight: stop waits for them (each bounded by its timeout and the kill grace). */
  private readonly running = new Set<Promise<void>>();
  private readonly notifies = new NotifyQueue((key) => this.o.log('info', `${key}: an earlier state's notify had not started yet; only the newer state's runs`));

  private constructor(private readonly cfg: VrrpConfig, private readonly core: NetCore, private readonly o: Required<VrrpServiceOptions>, ifs: InterfaceInfo[]) {
    for (const spec of cfg.instances) {
      const primary = resolvePrimary(spec, ifs);
      const unicast = spec.unicastPeers.map((p) => p.address);
      this.live.set(spec.name, {
        spec, primary,
        destinations: unicast.length ? unicast : [spec.mcastGroup ?? (spec.family === 4 ? cfg.mcastGroup4 : cfg.mcastGroup6)],
        auth: spec.authPass !== undefined ? { type: 'pass', password: spec.authPass } : { type: 'none' },
        adverts: new Map(),
      });
      // The advert a takeover sends first, encoded now.
      this.adverts(this.live.get(spec.name)!, spec.priority, spec.advertMs);
    }
    this.drops = new RateLimitedLog((level, msg) => o.log(level === 'error' ? 'warn' : level, msg), () => o.clock.now(), { intervalMs: DROP_LOG_INTERVAL_MS, maxKeys: 64 });
    const host: VrrpHost = {
      clock: o.clock,
      sendAdvert: (name, priority, ms) => this.sendAdvert(name, priority, ms),
      transition: (name, t, from, priority, reason, done) => void this.transition(name, t, from, priority, reason).finally(done),
      // The 'master' round went out with the addresses (transition).
      announce: (name, repeat, round) => { if (round !== 'master') void this.announce(name, repeat); },
      groupState: (group, state, _from, _reason, done) => {
        const g = cfg.syncGroups.find((x) => x.name === group);
        this.notifies.push(`group ${group}`, () => this.notify(g?.notify, 'GROUP', group, state, 0));
        done();
      },
      log: (level, message) => o.log(level, message),
      guardWant: (unit, want, reason) => o.guard.want(unit, want, reason),
    };
    this.plan = trackPlan(cfg);
    const guarded = new Set(o.guard.units.flatMap((u) => cfg.syncGroups.find((g) => g.name === u)?.members ?? [u]));
    for (const spec of cfg.instances) this.tracks.set(spec.name, initInstanceTracks());
    const setConfig = {
      instances: [...this.live.values()].map((l) => instanceConfig(l.spec, l.primary, guarded.has(l.spec.name))),
      syncGroups: cfg.syncGroups.map((g) => ({ name: g.name, members: g.members })),
    };
    warmTakeover(setConfig, o.clock.now());
    this.runtime = new VrrpRuntime(setConfig, host);
  }

  /** Opens every instance's socket and starts the machines; throws UserError naming the instance. */
  static async start(cfg: VrrpConfig, core: NetCore, opts: VrrpServiceOptions): Promise<VrrpService> {
    // A takeover then places its VIPs without dumping every link and address first (net/interfaces.ts).
    await core.trackInterfaces();
    const ifs = await core.nl.interfaces();
    const blocking = cfg.instances.find(dropsTraffic);
    try {
      await core.prepareTrafficFilter(blocking !== undefined, (level, m) => opts.log(level, m));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new UserError(blocking ? `${blocking.file}:${blocking.line}: vrrp_instance ${blocking.name}: ${blocking.strict ? 'vrrp_strict (no_accept below priority 255)' : 'no_accept'} needs nftables: ${why}` : why);
    }
    const s = new VrrpService(cfg, core, { clock: opts.clock ?? nodeClock(), log: opts.log, guard: opts.guard ?? { units: [], want: () => undefined } }, ifs);
    try {
      for (const l of s.live.values()) {
        const { spec } = l;
        const multicast = spec.unicastPeers.length === 0;
        l.socket = core.openVrrp({
          family: spec.family, ifname: spec.interface, group: multicast ? l.destinations[0]! : null,
          onPacket: (p) => s.received(l, p),
          log: (level, msg) => opts.log(level, `vrrp_instance ${spec.name}: ${msg}`),
        });
      }
      s.watcher = core.watch((e) => s.netEvent(e));
    } catch (e) {
      s.closeSockets();
      if (e instanceof UserError) {
        const l = [...s.live.values()].find((x) => !x.socket);
        throw new UserError(l ? `${l.spec.file}:${l.spec.line}: vrrp_instance ${l.spec.name}: ${e.message}` : e.message);
      }
      throw e;
    }
    // Link state before the first advert: an instance on a down interface starts in FAULT.
    // Read again now that the watcher is open: a carrier that came up between
    // the first listing and the watcher sent its event to nobody, and the
    // instance stayed in FAULT for good (CI, a veth whose peer came up late).
    const current = await core.nl.interfaces();
    for (const l of s.live.values()) {
      const nic = current.find((i) => i.name === l.spec.interface);
      if (nic && !nic.running) s.runtime.submit({ to: l.spec.name, event: { kind: 'fault', source: `interface ${nic.name}`, reason: nic.up ? 'no carrier' : 'down' } });
    }
    await s.startTracking(current);
    s.runtime.start();
    return s;
  }

  /**
   * Interfaces and files at once, scripts from now on; resolves when every
   * weight-0 script has its first result (bounded by its timeout and the kill
   * grace), so that no instance starts before its tracking says whether it may.
   */
  private async startTracking(ifs: InterfaceInfo[]): Promise<void> {
    for (const r of this.plan) {
      if (r.kind !== 'interface') continue;
      const nic = ifs.find((i) => i.name === r.name);
      this.applyTrack(r, trackValue(nic?.running ?? false, r.weight, r.reverse, nic ? `${r.name} down` : `${r.name} does not exist`));
    }
    const files = [...new Set(this.plan.filter((r) => r.kind === 'file').map((r) => r.name))];
    if (files.length) {
      await Promise.all(files.map((f) => this.readTrackFile(f)));
      this.fileTimer = setInterval(() => { for (const f of files) void this.readTrackFile(f); }, TRACK_FILE_POLL_MS);
    }
    const used = new Set(this.plan.filter((r) => r.kind === 'script').map((r) => r.name));
    const specs = this.cfg.scripts.filter((x) => used.has(x.name) && x.script);
    if (!specs.length) return;
    const state = initScripts(specs.map((x) => ({ name: x.name, intervalMs: x.intervalMs, timeoutMs: x.timeoutMs, rise: x.rise, fall: x.fall, initFail: x.initFail })), this.o.clock.now());
    for (const t of state.scripts.values()) {
      const ok = scriptOk(t);
      if (ok !== undefined) this.scriptStatus(t.cfg.name, ok, 'init_fail');
      else if (this.plan.some((r) => r.kind === 'script' && r.name === t.cfg.name && r.weight === 0)) this.initPending.add(t.cfg.name);
    }
    this.scripts = new Driver(SCRIPT_SET_MACHINE, state, this.o.clock, (a) => this.scriptEffect(a));
    const waitMs = Math.max(...specs.map((x) => (x.timeoutMs || x.intervalMs))) + SCRIPT_KILL_GRACE_MS + 1000;
    const first = this.initPending.size ? new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.o.log('warn', `track_script ${[...this.initPending].join(', ')}: no first result after ${waitMs} ms; starting without it`);
        resolve();
      }, waitMs);
      this.initDone = () => { clearTimeout(t); resolve(); };
    }) : undefined;
    this.scripts.tick();
    if (first) await first;
    this.initDone = undefined;
  }

  private scriptEffect(a: ScriptEffect): void {
    if (a.kind === 'log') { this.o.log(a.level, a.message); return; }
    if (a.kind === 'status') { this.scriptStatus(a.script, a.ok, a.reason); return; }
    const spec = this.cfg.scripts.find((x) => x.name === a.script);
    const cmd = spec?.script;
    if (!cmd) return;
    const as = cmd.uid !== undefined && cmd.gid !== undefined ? { uid: cmd.uid, gid: cmd.gid } : undefined;
    const run = runChild({ path: cmd.path ?? cmd.argv[0]!, args: cmd.argv.slice(1), timeoutMs: a.timeoutMs, ...(as ? { as } : {}) }).then((r) => {
      if (r.spawnError !== undefined) this.drops.log('warn', `script:${a.script}`, `${cmd.file}:${cmd.line}: vrrp_script ${a.script}: cannot run ${cmd.path ?? cmd.argv[0]!}: ${r.spawnError}`);
      this.scripts?.submit({ kind: 'exited', script: a.script, code: r.code, signal: r.signal, timedOut: r.timedOut });
    });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  private scriptStatus(name: string, ok: boolean, reason: string): void {
    this.o.log(ok ? 'info' : 'warn', `vrrp_script ${name}: ${ok ? 'good' : 'failed'} (${reason})`);
    for (const r of this.plan) if (r.kind === 'script' && r.name === name) this.applyTrack(r, trackValue(ok, r.weight, r.reverse, reason));
    if (this.initPending.delete(name) && this.initPending.size === 0) this.initDone?.();
  }

  /** Bounded, non-blocking read (a FIFO gives nothing, not a hang); no file or no number is 0, as keepalived. */
  private async readTrackFile(name: string): Promise<void> {
    const spec = this.cfg.trackFiles.find((x) => x.name === name);
    if (!spec || this.fileReading.has(name) || this.trackingClosed) return;
    this.fileReading.add(name);
    let text: string | undefined;
    try {
      const fh = await open(spec.path, fsc.O_RDONLY | fsc.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(TRACK_FILE_READ_MAX);
        const { bytesRead } = await fh.read(buf, 0, TRACK_FILE_READ_MAX, 0);
        text = buf.subarray(0, bytesRead).toString('latin1');
      } finally {
        await fh.close();
      }
    } catch {
      text = undefined;
    } finally {
      this.fileReading.delete(name);
    }
    if (this.trackingClosed) return;
    const value = parseTrackFile(text);
    for (const r of this.plan) if (r.kind === 'file' && r.name === name) this.applyTrack(r, fileTrackValue(value, r.weight, r.reverse));
  }

  /** Link events were lost (netlink overrun): the tracked interfaces' state from a fresh dump. */
  private async rereadTrackedInterfaces(): Promise<void> {
    if (!this.plan.some((r) => r.kind === 'interface')) return;
    const ifs = await this.core.nl.interfaces().catch(() => undefined);
    if (!ifs || this.trackingClosed) return;
    for (const r of this.plan) {
      if (r.kind !== 'interface') continue;
      const nic = ifs.find((i) => i.name === r.name);
      this.applyTrack(r, trackValue(nic?.running ?? false, r.weight, r.reverse, nic ? `${r.name} down` : `${r.name} does not exist`));
    }
  }

    private applyTrack(r: TrackRef, v: TrackValue): void {
    for (const event of setTrack(this.tracks.get(r.instance)!, r.source, v)) this.runtime.submit({ to: r.instance, event });
  }

  /** Masters send priority 0 and drop their VIPs; every instance's stop notify runs; sockets close. */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      this.trackingClosed = true;
      this.scripts?.close();
      if (this.fileTimer) clearInterval(this.fileTimer);
      await this.runtime.shutdown();
      await this.notifies.whenIdle();
      await this.core.removeTrafficFilter().catch((e: unknown) => this.o.log('warn', `no_accept filter not removed: ${e instanceof Error ? e.message : String(e)}`));
      // A script still running is not left behind: its timeout (SIGTERM, then SIGKILL) runs out first.
      await Promise.all([...this.running]);
      this.closeSockets();
      this.watcher?.close();
      this.drops.close();
    })());
  }

  private closeSockets(): void {
    for (const l of this.live.values()) { l.socket?.close(); delete l.socket; }
  }

  private received(l: Live, p: VrrpReceived): void {
    const { spec } = l;
    const r = decode(p.payload, {
      family: p.family, src: p.src, dst: p.dst, ttl: p.ttl, version: spec.version, auth: l.auth,
      // keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64 (packet.ts, checkTtl).
      checkTtl: !(spec.family === 6 && spec.unicastPeers.length > 0),
    });
    if (!r.ok) {
      this.drops.log('warn', `${spec.name}:${r.reason}`, `vrrp_instance ${spec.name}: advert from ${p.src} dropped: ${r.detail}`);
      return;
    }
    if (r.advert.vrid !== spec.vrid) return;   // another virtual router on the same link
    if (p.src === l.primary) return;           // our own, looped back
    if (spec.unicastPeers.length && !spec.unicastPeers.some((x) => x.address === p.src)) {
      this.drops.log('warn', `${spec.name}:peer`, `vrrp_instance ${spec.name}: advert from ${p.src}, not a unicast_peer: dropped`);
      return;
    }
    this.runtime.submit({ to: spec.name, event: { kind: 'advert-received', priority: r.advert.priority, src: p.src, advertIntervalMs: r.advert.intervalCs * 10, at: this.o.clock.now() - p.ageMs } });
    // After the advert is judged: a master's adverts are what a takeover
    // would follow, so the takeover's netlink work is done now, not then
    // (a lookup while nothing changed).
    l.takeover ??= [...spec.vips, ...spec.excludedVips].map((v) => ({ vip: vipSpec(spec, v), example: `${v.address}/${v.prefix} dev ${v.dev ?? spec.interface}` }));
    for (const t of l.takeover) this.core.prepareVip(t.vip, t.example);
  }

  private sendAdvert(name: string, priority: number, intervalMs: number): void {
    const l = this.live.get(name);
    if (!l?.socket) return;
    const msgs = this.adverts(l, priority, intervalMs);
    for (let i = 0; i < l.destinations.length; i++) {
      const dst = l.destinations[i]!;
      const err = l.socket.send(msgs[i]!, dst, l.primary);
      if (err) this.drops.log('warn', `${name}:send`, `vrrp_instance ${name}: advert to ${dst} not sent: ${err}`);
    }
  }

  private adverts(l: Live, priority: number, intervalMs: number): Buffer[] {
    const intervalCs = Math.round(intervalMs / 10);
    const key = priority * 0x10000 + intervalCs;
    let msgs = l.adverts.get(key);
    if (msgs) return msgs;
    const { spec } = l;
    const addresses = spec.vips.filter((v) => v.family === spec.family).map((v) => v.address);
    msgs = l.destinations.map((dst) => encode({ version: spec.version, vrid: spec.vrid, priority, intervalCs, addresses },
      { family: spec.family, src: l.primary, dst, auth: l.auth }));
    if (l.adverts.size >= ADVERT_CACHE_MAX) l.adverts.clear();
    l.adverts.set(key, msgs);
    return msgs;
  }

  private async transition(name: string, t: Transition, from: VrrpStateName, priority: number, reason: string): Promise<void> {
    const l = this.live.get(name)!;
    const { spec } = l;
    const owner = vrrpOwner(name);
    const log = (level: 'info' | 'warn' | 'debug', msg: string) => this.o.log(level, `vrrp_instance ${name}: ${msg}`);
    // As keepalived: routes are added after the VIPs (a route's src or gateway may need one) and removed before them.
    if (t !== 'become-master') await this.routes(spec, false, log);
    // no_accept: the drop rule is in before the first address, out after the last.
    // Without no_accept nothing is awaited before the first address: it goes out in this turn.
    const place = t !== 'become-master' || !dropsTraffic(spec) || await this.dropBeforeVips(l, log);
    // virtual_ipaddress_excluded: placed and removed with the others, never advertised.
    // Becoming MASTER, each VIP's first announcement round (garp_master_repeat) goes out as it is added, as
    // keepalived sends it: not queued behind the rest of the transition (the machine's 'master' round, below).
    const firstRound = { ...DEFAULT_GARP, ...spec.garp }.masterRepeat;
    for (const v of place ? [...spec.vips, ...spec.excludedVips] : []) {
      const vs = vipSpec(spec, v);
      try {
        if (t === 'become-master') await this.core.addVip(owner, { ...vs, arpCount: firstRound }, log, `${v.address}/${v.prefix} dev ${vs.nic}`);
        else await this.core.removeVip(owner, vs, log);
      } catch (e) {
        log('warn', `${v.address} (${v.file}:${v.line}): ${t === 'become-master' ? 'not added' : 'not removed'}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (t !== 'become-master') await this.allowAfterVips(l, log);
    if (t === 'become-master' && place) await this.routes(spec, true, log);
    void from; void reason;
    this.notifies.push(`instance ${name}`, () => this.notify(spec.notify, 'INSTANCE', name, STATE_OF[t], priority));
  }

  /**
   * no_accept: before a master adds its addresses, IP traffic to them is
   * dropped. False when the rule could not be put in: the addresses are then
   * not added (a VIP that accepted traffic would be a silent difference from
   * keepalived, and a security one).
   */
  private async dropBeforeVips(l: Live, log: VrrpLogFn): Promise<boolean> {
    if (!dropsTraffic(l.spec)) return true;
    const addrs = [...l.spec.vips, ...l.spec.excludedVips].map((v) => ({ ip: v.address, nic: v.dev ?? l.spec.interface }));
    try {
      await this.core.dropTraffic(vrrpOwner(l.spec.name), addrs);
      log('info', `no_accept: IP traffic to ${addrs.map((a) => a.ip).join(', ')} dropped (nftables table inet tandem_vrrp)`);
      return true;
    } catch (e) {
      log('warn', `no_accept: drop rule not set (${e instanceof Error ? e.message : String(e)}): addresses not added`);
      return false;
    }
  }

  /** After the addresses are removed, the drop rule goes (nothing when there was none). */
  private async allowAfterVips(l: Live, log: VrrpLogFn): Promise<void> {
    if (!dropsTraffic(l.spec)) return;
    await this.core.allowTraffic(vrrpOwner(l.spec.name)).catch((e: unknown) => log('warn', `no_accept: drop rule not removed: ${e instanceof Error ? e.message : String(e)}`));
  }

  /**
   * An instance's virtual_routes on (in file order) or off (in reverse: a
   * route through a gateway an earlier one reaches goes first). A route that
   * fails is logged at its line and the rest go on, as keepalived does: the
   * VIPs and the other routes are not held back by one bad route.
   */
  private async routes(spec: VrrpInstanceSpec, add: boolean, log: (level: 'info' | 'warn' | 'debug', msg: string) => void): Promise<void> {
    const owner = vrrpOwner(spec.name);
    for (const r of add ? spec.routes : [...spec.routes].reverse()) {
      const where = `${r.file}:${r.line}`;
      const rs = routeSpec(r);
      if (typeof rs === 'string' && !add) continue;   // never added: nothing to remove, and its warning was given
      try {
        if (typeof rs === 'string') throw new UserError(rs);
        if (add) await this.core.addRoute(owner, rs, log, where);
        else await this.core.removeRoute(owner, rs, log);
      } catch (e) {
        this.o.log('warn', `${where}: vrrp_instance ${spec.name}: route ${typeof rs === 'string' ? r.to : routeText(rs)} ${add ? 'not added' : 'not removed'}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private async announce(name: string, repeat: number): Promise<void> {
    const l = this.live.get(name);
    if (!l) return;
    for (const v of [...l.spec.vips, ...l.spec.excludedVips]) {
      try {
        await this.core.announceVip(vrrpOwner(name), { ...vipSpec(l.spec, v), arpCount: repeat });
      } catch (e) {
        this.drops.log('warn', `${name}:announce`, `vrrp_instance ${name}: ${v.address} not announced: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** notify_STATE, then `notify` with keepalived's arguments (TYPE NAME STATE PRIORITY), one after the other. */
  private async notify(n: VrrpNotify | undefined, type: 'INSTANCE' | 'GROUP', name: string, state: Exclude<VrrpStateName, 'INIT'>, priority: number): Promise<void> {
    if (!n) return;
    const specific: VrrpCommand | undefined = state === 'MASTER' ? n.master : state === 'BACKUP' ? n.backup : state === 'FAULT' ? n.fault : n.stop;
    // keepalived's word for a stop is STOP (its man page: MASTER|BACKUP|FAULT|STOP); the logs and status say STOPPED.
    for (const [cmd, extra] of [[specific, []], [n.any, [type, name, state === 'STOPPED' ? 'STOP' : state, String(priority)]]] as const) {
      if (!cmd) continue;
      const path = cmd.path ?? cmd.argv[0]!;
      // check-config resolved whom it runs as (its user, script_user, or keepalived_script).
      const as = cmd.uid !== undefined && cmd.gid !== undefined ? { uid: cmd.uid, gid: cmd.gid } : undefined;
      const ran = await runChild({ path, args: [...cmd.argv.slice(1), ...extra], timeoutMs: NOTIFY_TIMEOUT_MS, ...(as ? { as } : {}) });
      const r = ran.spawnError !== undefined ? { ...ran, stderr: `cannot run ${path}: ${ran.spawnError}` } : ran;
      if (r.timedOut || r.code !== 0) {
        this.o.log('warn', `${cmd.file}:${cmd.line}: notify for ${type.toLowerCase()} ${name} ${state}: ${r.timedOut ? `timed out after ${NOTIFY_TIMEOUT_MS / 1000} s` : r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`}${r.stderr ? `: ${r.stderr.trim().slice(0, 200)}` : ''}`);
      }
    }
  }

  private netEvent(e: NetEvent): void {
    if (e.kind === 'overrun') { void this.rereadTrackedInterfaces(); return; }
    if (e.kind !== 'link') return;
    for (const r of this.plan) {
      if (r.kind === 'interface' && r.name === e.name) {
        this.applyTrack(r, trackValue(!e.removed && e.running, r.weight, r.reverse, e.removed ? `${e.name} removed` : !e.up ? `${e.name} down` : `${e.name} no carrier`));
      }
    }
    for (const l of this.live.values()) {
      if (l.spec.interface !== e.name) continue;
      const source = `interface ${e.name}`;
      if (e.removed || !e.running) this.runtime.submit({ to: l.spec.name, event: { kind: 'fault', source, reason: e.removed ? 'removed' : !e.up ? 'down' : 'no carrier' } });
      else this.runtime.submit({ to: l.spec.name, event: { kind: 'fault-cleared', source, reason: 'link up' } });
    }
  }
}
