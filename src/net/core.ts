// The network core: the one place the daemon changes the host's network
// stack. It owns the rtnetlink handle, the address registry (which owner
// holds which service address) and the pending announcements, and places,
// removes and announces VIPs of either family for whoever owns them: a
// haresources group today, a VRRP instance or an IPVS virtual server next.

import { execFile } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UserError } from '../util/errors.js';
import { canonicalIp } from './addr.js';
import { announce } from './announce.js';
import { parseIp } from './addr.js';
import { Netlink, NetlinkError, NetWatcher, ROUTE_TYPES, type AddressChange, type IfAddress, type InterfaceInfo, type NetEvent, type RouteArgs } from './netlink.js';
import { RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTPROT_KEEPALIVED, type RouteInfo } from './rtnetlink.js';
import { AddressRegistry } from './registry.js';
import { hasNftTable, nftBatch, NFT_FAMILY, NFT_TABLE, type DropEntry } from './nft.js';
import { InterfaceView } from './interfaces.js';
import { lvsNftBatch, parseLvsCounters, LVS_NFT_TABLE, type LvsKernelService } from './lvs-nft.js';
import { PacketSockets } from './raw.js';
import { placeVip, type VipSpec } from './vip.js';
import { VrrpSocket, type VrrpSocketOptions } from './vrrp-socket.js';

export type NetLog = (level: 'info' | 'warn' | 'debug', msg: string) => void;

/** A route an owner places and removes (a VRRP instance's virtual_routes): `ip route` semantics, `ifname` is `dev`. */
export type RouteSpec = Omit<RouteArgs, 'protocol'>;

/** Who holds a route, by its kernel identity (family, table, prefix, metric). */
interface RouteClaim {
  owner: string;
  where?: string;
}

export class NetCore {
  readonly registry = new AddressRegistry();
  /** Announcements still being repeated, by address: a removal or a new start cancels them. */
  private readonly announcing = new Map<string, AbortController>();
  /** Open VRRP sockets: closed with the core. */
  private readonly vrrp = new Set<VrrpSocket>();
  /** Announcement sockets, kept open: closing one stalls the event loop (raw.ts). */
  private readonly packets = new PacketSockets();

  /** no_accept: the addresses whose IP traffic is dropped, by owner; the kernel's table mirrors it. */
  private readonly drops = new Map<string, DropEntry[]>();
  /** Whether this core's table is in the kernel. */
  private nftTable = false;
  /** The LVS services of the last batch the kernel took; undefined: none yet, or the table is to be rebuilt. */
  private lvsLast?: LvsKernelService[];
  /** nft runs one at a time, in call order: each batch is computed from the state its turn sees. */
  private nftQueue: Promise<unknown> = Promise.resolve();
  /** Routes placed (or adopted) by an owner, by routeKey(). */
  private readonly routeClaims = new Map<string, RouteClaim>();
  /** The interfaces kept current from the kernel's events, once trackInterfaces() ran. */
  private view?: InterfaceView;

  constructor(readonly nl: Netlink) {}

  /** Opens the rtnetlink handle in the caller's namespace; close() it on shutdown. */
  static open(): NetCore {
    return new NetCore(Netlink.open());
  }

  get closed(): boolean {
    return this.nl.closed;
  }

  close(): void {
    this.view?.close();
    delete this.view;
    for (const s of this.vrrp) s.close();
    this.vrrp.clear();
    for (const c of this.announcing.values()) c.abort();
    this.announcing.clear();
    this.packets.closeAll();
    this.nl.close();
  }

  /**
   * A VRRP socket (IP protocol 112) on one interface and family, closed
   * with the core; throws a UserError naming the interface and errno text.
   */
  openVrrp(o: VrrpSocketOptions): VrrpSocket {
    const s: VrrpSocket = VrrpSocket.open({ ...o, onClose: () => { this.vrrp.delete(s); o.onClose?.(); } });
    this.vrrp.add(s);
    return s;
  }

  /**
   * From now on VIPs are placed from a view of the interfaces that the
   * kernel's events keep current (interfaces.ts), not from a dump of every
   * link and address at each takeover. Idempotent; throws a NetlinkError
   * when the first read fails.
   */
  async trackInterfaces(): Promise<void> {
    if (this.view) return;
    const v = await InterfaceView.open(this.nl, (on) => this.watch(on));
    if (this.view || this.closed) v.close();
    else this.view = v;
  }

  /** Link (up, carrier) and address events from the kernel, on a socket of their own. */
  watch(onEvent: (e: NetEvent) => void): NetWatcher {
    return NetWatcher.open(onEvent);
  }

  /**
   * Puts the VIP on its interface for `owner` and announces it: first round
   * before this resolves, the rest in the background. Refused (UserError,
   * naming both owners) when another owner holds the address. `example` is
   * how the caller would spell a fully given VIP, for messages.
   */
  async addVip(owner: string, spec: VipSpec, log: NetLog, example: string): Promise<void> {
    const { ip } = spec;
    const claim = this.registry.claim(ip, owner);
    if (!claim.ok) throw new UserError(claim.message);
    const known = this.view?.interfaces();
    if (known) {
      try {
        if (await this.placeAndAdd(spec, log, example, known, false)) return;
      } catch (e) {
        // The view was behind: the interface was just recreated (new index) or renamed.
        if (!(e instanceof NetlinkError) || e.code !== 'ENODEV') throw e;
        log('debug', `${ip}: interface view out of date (${e.message}); placing from a fresh listing`);
      }
    }
    await this.placeAndAdd(spec, log, example, await this.nl.interfaces(), true);
  }

  /**
   * Adds and announces the VIP as `ifs` says the interfaces are. False when
   * `ifs` is the event-fed view and it says the address is already there,
   * or gives a reason to refuse: that may be a change not heard yet
   * (skipping the add would leave no VIP, refusing would refuse a takeover
   * the kernel allows), so the caller asks the kernel.
   */
  private async placeAndAdd(spec: VipSpec, log: NetLog, example: string, ifs: readonly InterfaceInfo[], fresh: boolean): Promise<boolean> {
    const { ip } = spec;
    const t = placeVip(spec, ifs, example);
    if (typeof t === 'string') {
      if (!fresh) return false;
      throw new UserError(t);
    }
    const nic = t.nic.name;
    // Two interfaces answering for one address would split its traffic.
    // (Loopback is exempt: LVS direct-routing setups keep VIPs there.)
    const elsewhere = ifs.filter((i) => i.index !== t.nic.index && !i.loopback && i.addresses.some((a) => a.address === ip));
    if (elsewhere.length > 0) {
      if (!fresh) return false;
      throw new UserError(`${ip} is already configured on ${elsewhere.map((i) => i.name).join(', ')}, not on ${nic}; remove it there first`);
    }
    const batch: AddressChange[] = [];
    if (!t.nic.up) {
      log('info', `bringing ${nic} up`);
      batch.push({ op: 'link-up', ifname: nic, ip: '' });
    }
    if (t.nic.addresses.some((a) => a.address === ip)) {
      if (!fresh) return false;
      log('info', `${ip} already on ${nic}`);
    } else {
      const add: AddressChange = { op: 'add', ifname: nic, ip, prefixLen: t.prefixLen };
      if (t.broadcast !== undefined) add.broadcast = t.broadcast;
      if (spec.label !== undefined) add.label = spec.label;
      batch.push(add);
    }
    // Link up and address in one sendmsg; the kernel applies them in order.
    const results = batch.length > 0 ? await this.nl.changeAddresses(batch, true, ifs) : [];
    for (const r of results) {
      // Someone added it between our listing and the add: same end state.
      if (!r.ok && r.error.code !== 'EEXIST') throw r.error;
    }
    const added = batch.findIndex((c) => c.op === 'add');
    if (added >= 0) this.view?.noteAddress('add', t.nic.index, { family: spec.family, address: ip, prefixLen: t.prefixLen, secondary: false });
    // Logged once the first announcement is out: the line is not on the takeover's path.
    const logAdded = (): void => {
      if (added >= 0) log('info', results[added]?.ok === false ? `${ip} already on ${nic}` : `added ${ip}/${t.prefixLen} to ${nic}`);
    };

    this.announcing.get(ip)?.abort();
    this.announcing.delete(ip);
    if (t.nic.loopback || t.nic.noarp || spec.arpCount === 0) {
      logAdded();
      return true;
    }
    const ctl = new AbortController();
    this.announcing.set(ip, ctl);
    try {
      const first = announce(nic, ip, { count: spec.arpCount, intervalMs: spec.arpIntervalMs, log, sockets: this.packets, ...(t.nic.mac ? { mac: t.nic.mac } : {}) }, ctl.signal);
      logAdded();
      await first;
    } catch (e) {
      // Not cosmetic: neighbours keep sending to the old holder until their
      // caches expire, so a takeover without its announcement is not a
      // takeover. The caller reports the start failed and unwinds it.
      const what = spec.family === 4 ? 'gratuitous ARP' : 'unsolicited neighbour advertisement';
      throw new UserError(`${ip} was added to ${nic} but neighbours could not be told (${what} failed): ${errText(e)}`);
    }
    return true;
  }

  /**
   * Removes the VIP (every entry of it on the named interface, or on any but
   * loopback) and gives up `owner`'s claim. An address another owner holds is
   * left alone: unwinding a refused start must not take it from its holder.
   */
  async removeVip(owner: string, spec: VipSpec, log: NetLog): Promise<void> {
    const { ip } = spec;
    const holder = this.registry.holderOf(ip);
    if (holder && holder.owner !== owner) {
      log('info', `${ip} belongs to ${holder.owner}: left in place`);
      return;
    }
    // Announcing an address we no longer hold would steal it back from the peer.
    this.announcing.get(ip)?.abort();
    this.announcing.delete(ip);
    const changes: AddressChange[] = [];
    const gone: Array<{ index: number; a: IfAddress }> = [];
    // A fresh listing, never the event-fed view: an entry the view has not heard of yet would stay behind.
    const ifs = await this.nl.interfaces();
    for (const i of this.holders(spec, ifs)) {
      for (const a of i.addresses.filter((x) => x.address === ip)) {
        log('info', `removing ${ip}/${a.prefixLen} from ${i.name}`);
        changes.push({ op: 'del', ifname: i.name, ip, prefixLen: a.prefixLen });
        gone.push({ index: i.index, a });
      }
    }
    const results = changes.length > 0 ? await this.nl.changeAddresses(changes, true, ifs) : [];
    for (const r of results) {
      // Already gone (or its interface vanished): what stop wants anyway.
      if (!r.ok && r.error.code !== 'EADDRNOTAVAIL' && r.error.code !== 'ENODEV') throw r.error;
    }
    for (const g of gone) this.view?.noteAddress('del', g.index, g.a);
    this.registry.release(ip, owner);
  }

  /**
   * Announces a VIP `owner` holds again (a VRRP master's later rounds:
   * garp_master_delay, garp_master_refresh, or a healed split brain), on the
   * interface it is on. Refused for an address the owner does not hold: an
   * announcement of someone else's address would steal its traffic.
   */
  async announceVip(owner: string, spec: VipSpec, log?: NetLog): Promise<void> {
    const holder = this.registry.holderOf(spec.ip);
    if (!holder || holder.owner !== owner) throw new UserError(`${spec.ip} is not held by ${owner}: not announced`);
    // The view has the address once addVip added it (noteAddress); when it does not, the kernel is asked.
    let [nic] = this.holders(spec, this.view?.interfaces() ?? []);
    nic ??= this.holders(spec, await this.nl.interfaces())[0];
    if (!nic || nic.loopback || nic.noarp || spec.arpCount === 0) return;
    await announce(nic.name, spec.ip, { count: spec.arpCount, intervalMs: spec.arpIntervalMs, sockets: this.packets, ...(log ? { log } : {}) });
  }

  /** Whether the VIP is on the named interface (or on any but loopback). */
  async vipPresent(spec: VipSpec): Promise<boolean> {
    return this.holders(spec, await this.nl.interfaces()).length > 0;
  }

  /**
   * Before a non-owner master with no_accept adds its addresses: IP traffic
   * to and from them is dropped (`inet tandem_vrrp`, docs/vrrp.md), ARP and
   * neighbour discovery still answered. Resolves once the kernel has the
   * rule; throws a UserError (nft's words) when it could not be put in.
   */
  dropTraffic(owner: string, addrs: Array<{ ip: string; nic: string }>): Promise<void> {
    return this.nft(async () => {
      const before = this.drops.get(owner);
      this.drops.set(owner, addrs.map((a) => ({ ip: canonicalIp(a.ip) ?? a.ip, nic: a.nic, owner })));
      try {
        await this.applyDrops();
      } catch (e) {
        // The batch is one transaction: the kernel still has the earlier state.
        if (before) this.drops.set(owner, before); else this.drops.delete(owner);
        throw e;
      }
    });
  }

  /** After `owner`'s addresses are removed: its drop rules go; the table with the last of them. */
  allowTraffic(owner: string): Promise<void> {
    return this.nft(async () => {
      if (!this.drops.delete(owner)) return;
      await this.applyDrops();
    });
  }

  /**
   * At start: `need` (a no_accept instance is configured) makes a missing or
   * unusable nft an error naming the package. A table left by a daemon that
   * did not stop (crash, SIGKILL) is removed: nothing here is master yet, and
   * it would otherwise drop traffic to addresses no instance blocks.
   */
  prepareTrafficFilter(need: boolean, log: NetLog): Promise<void> {
    return this.nft(async () => {
      let listing: string;
      try {
        listing = await runNft(['list', 'tables', NFT_FAMILY]);
      } catch (e) {
        if (need) throw e;
        log('debug', `nft not usable (${errText(e)}); no_accept is not configured, so no filter is needed`);
        return;
      }
      if (!hasNftTable(listing)) return;
      log('warn', `removing nftables table ${NFT_FAMILY} ${NFT_TABLE} left by an earlier tandem that did not stop cleanly`);
      await runNft(['-f', '-'], nftBatch([]));
    });
  }

  /** On stop: whatever this core put in goes (the instances normally took it out already). */
  removeTrafficFilter(): Promise<void> {
    return this.nft(async () => {
      this.drops.clear();
      if (this.nftTable) await this.applyDrops();
    });
  }

  private async applyDrops(): Promise<void> {
    const entries = [...this.drops.values()].flat();
    if (entries.length === 0 && !this.nftTable) return;
    await runNft(['-f', '-'], nftBatch(entries));
    this.nftTable = entries.length > 0;
  }

  private nft<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.nftQueue.then(fn, fn);
    this.nftQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Makes the kernel balance exactly `services` (LVS virtual services), in
   * one nftables transaction (lvs-nft.ts): a packet meets the old balancer
   * or the new one. The first call replaces a table a crashed daemon left.
   * Throws a UserError (nft's words) and leaves the kernel as it was.
   */
  lvsApply(services: LvsKernelService[]): Promise<void> {
    return this.nft(async () => {
      const batch = lvsNftBatch(services, this.lvsLast);
      try {
        await runNft(['-f', '-'], batch);
        this.lvsLast = structuredClone(services);
      } catch (e) {
        // The next batch rebuilds the table whole rather than trusting what this one left.
        delete this.lvsLast;
        throw e;
      }
    });
  }

  /** New connections and bytes per real server (counter name from lvsCounterName); empty when no table is in. */
  lvsCounters(): Promise<Map<string, { packets: number; bytes: number }>> {
    return this.nft(async () => {
      if (!this.lvsLast) return new Map();
      return parseLvsCounters(await runNft(['-j', 'list', 'counters', 'table', ...LVS_NFT_TABLE.split(' ')]));
    });
  }

  /** The balancer's table, as the kernel has it (`nft list table`), for status and tests. */
  lvsListing(): Promise<string> {
    return this.nft(() => runNft(['list', 'table', ...LVS_NFT_TABLE.split(' ')]).catch(() => ''));
  }

  /**
   * Adds a route for `owner` (`where`: the config line, for refusals). The
   * kernel knows a route by family, table, prefix and metric: one of those
   * another owner holds is refused naming both. A route already in the kernel
   * exactly as asked (a restart, an administrator's, keepalived's) is adopted
   * and from then on is the owner's; a different route with that identity is
   * an error naming it, and is left alone. Routes are marked
   * `proto keepalived`, as keepalived marks its own.
   */
  async addRoute(owner: string, spec: RouteSpec, log: NetLog, where?: string): Promise<void> {
    const key = routeKey(spec);
    const text = routeText(spec);
    const held = this.routeClaims.get(key);
    if (held && held.owner !== owner) {
      throw new UserError(`route ${text} is already claimed by ${held.owner}${held.where ? ` at ${held.where}` : ''}; refused for ${owner}`);
    }
    if (!held) this.routeClaims.set(key, where === undefined ? { owner } : { owner, where });
    const unclaim = () => { if (!held) this.routeClaims.delete(key); };
    try {
      await this.nl.route('add', { ...spec, protocol: RTPROT_KEEPALIVED });
      log('info', `added route ${text}`);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'EEXIST')) { unclaim(); throw e; }
      const there = await this.sameIdentity(spec).catch((le: unknown) => { unclaim(); throw le; });
      const oif = spec.ifname === undefined ? undefined : await this.nl.interfaceIndex(spec.ifname).catch(() => -1);
      if (there.some((r) => identical(r, spec, oif))) {
        log('info', `route ${text} is already in the kernel: adopted`);
        return;
      }
      unclaim();
      const ifs = there.length ? await this.nl.links().catch(() => []) : [];
      const shown = there.map((r) => routeInfoText(r, ifs)).join('; ') || 'not listed';
      throw new UserError(`route ${text}: the kernel already has a different route to ${dstText(spec)} (${shown}); left in place, not replaced`);
    }
  }

  /**
   * Removes `owner`'s route, exactly as added (the kernel matches every
   * attribute, so a different route to the same prefix stays). A route
   * another owner holds is left alone. One nobody holds (a restart after a
   * crash left it) is removed only if it is marked `proto keepalived`: an
   * administrator's identical route stays. Already gone is fine.
   */
  async removeRoute(owner: string, spec: RouteSpec, log: NetLog): Promise<void> {
    const key = routeKey(spec);
    const text = routeText(spec);
    const held = this.routeClaims.get(key);
    if (held && held.owner !== owner) {
      log('info', `route ${text} belongs to ${held.owner}: left in place`);
      return;
    }
    try {
      await this.nl.route('del', held ? spec : { ...spec, protocol: RTPROT_KEEPALIVED });
      log('info', `removed route ${text}`);
    } catch (e) {
      // ESRCH: not there (its interface went down, or it was never added); ENODEV: its interface is gone, and the route with it.
      if (!(e instanceof NetlinkError && (e.code === 'ESRCH' || e.code === 'ENODEV'))) throw e;
      if (held) log('info', `route ${text} was already gone`);
    }
    if (held) this.routeClaims.delete(key);
  }

  /** Who holds the route with this identity, if anyone. */
  routeHolder(spec: RouteSpec): string | undefined {
    return this.routeClaims.get(routeKey(spec))?.owner;
  }

  /** The kernel's routes with the spec's identity (family, table, prefix, metric). */
  private async sameIdentity(spec: RouteSpec): Promise<RouteInfo[]> {
    const id = identity(spec);
    return (await this.nl.listRoutes(id.family)).filter((r) => r.dstLen === id.dstLen && (id.dstLen === 0 || r.dst === id.dst)
      && r.table === id.table && (r.metric ?? 0) === id.metric);
  }

  private holders(spec: VipSpec, ifs: readonly InterfaceInfo[]): InterfaceInfo[] {
    const { ip, nic } = spec;
    return ifs.filter((i) => (nic !== undefined ? i.name === nic : !i.loopback) && i.addresses.some((a) => a.address === ip));
  }
}

/** A stuck nft (a wedged kernel lock) must not hold a transition for ever. */
const NFT_TIMEOUT_MS = 10_000;
const NFT_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin'];

/** The nft binary: PATH first, then where Debian installs it (a daemon's PATH may lack sbin). */
function nftPath(): string {
  for (const d of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...NFT_DIRS]) {
    const p = join(d, 'nft');
    try { accessSync(p, fsc.X_OK); return p; } catch { /* next */ }
  }
  throw new UserError('nft not found: no_accept and the LVS balancer need the nftables command (Debian package nftables: apt-get install nftables)');
}

/** Runs nft (spawned: docs/dependencies.md says why) with `input` on stdin; resolves to its stdout. */
function runNft(args: string[], input?: string): Promise<string> {
  const bin = nftPath();
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { timeout: NFT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20, encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (!err) { resolve(stdout); return; }
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why = e.killed ? `timed out after ${NFT_TIMEOUT_MS / 1000} s` : stderr.trim().split('\n').slice(0, 3).join('; ') || e.message;
      reject(new UserError(`nft ${args.join(' ')}: ${why}`));
    });
    child.stdin?.on('error', () => undefined);   // nft gone before reading: its exit says why
    child.stdin?.end(input ?? '');
  });
}

function identity(spec: RouteSpec): { family: 4 | 6; dst: string; dstLen: number; table: number; metric: number } {
  const ip = parseIp(spec.dst);
  const family = ip?.family ?? 4;
  // The kernel's defaults: table 0 is main; IPv6 metric 0 is 1024.
  const table = spec.table === undefined || spec.table === 0 ? RT_TABLE_MAIN : spec.table;
  const metric = family === 6 && !spec.metric ? 1024 : spec.metric ?? 0;
  return { family, dst: ip?.text ?? spec.dst, dstLen: spec.dstLen, table, metric };
}

function routeKey(spec: RouteSpec): string {
  const id = identity(spec);
  return `${id.family} ${id.dst}/${id.dstLen} table ${id.table} metric ${id.metric}`;
}

function dstText(spec: RouteSpec): string {
  return spec.dstLen === 0 ? 'default' : `${parseIp(spec.dst)?.text ?? spec.dst}/${spec.dstLen}`;
}

/** The route as `ip route` writes it. */
export function routeText(spec: RouteSpec): string {
  const w: string[] = [];
  if (spec.type && spec.type !== 'unicast') w.push(spec.type);
  w.push(dstText(spec));
  if (spec.gateway !== undefined) w.push('via', spec.gateway);
  if (spec.ifname !== undefined) w.push('dev', spec.ifname);
  if (spec.src !== undefined) w.push('src', spec.src);
  if (spec.metric !== undefined) w.push('metric', String(spec.metric));
  if (spec.table !== undefined && spec.table !== RT_TABLE_MAIN) w.push('table', String(spec.table));
  if (spec.scope !== undefined) w.push('scope', String(spec.scope));
  return w.join(' ');
}

const TYPE_NAMES = Object.fromEntries(Object.entries(ROUTE_TYPES).map(([k, v]) => [v, k]));

function routeInfoText(r: RouteInfo, links: ReadonlyArray<{ index: number; name: string }>): string {
  const w: string[] = [];
  if (r.type !== ROUTE_TYPES.unicast) w.push(TYPE_NAMES[r.type] ?? `type ${r.type}`);
  w.push(r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`);
  if (r.gateway !== undefined) w.push('via', r.gateway);
  if (r.oif !== undefined) w.push('dev', links.find((l) => l.index === r.oif)?.name ?? `#${r.oif}`);
  if (r.prefsrc !== undefined) w.push('src', r.prefsrc);
  if (r.metric !== undefined) w.push('metric', String(r.metric));
  if (r.table !== RT_TABLE_MAIN) w.push('table', String(r.table));
  return w.join(' ');
}

/** Whether the kernel's route is the one `spec` asks for (what the kernel picks itself, the device of a gatewayed route, is not compared). */
function identical(r: RouteInfo, spec: RouteSpec, oif: number | undefined): boolean {
  const type = spec.type ?? 'unicast';
  if (r.type !== ROUTE_TYPES[type]) return false;
  const canon = (v: string | undefined) => (v === undefined ? undefined : parseIp(v)?.text ?? v);
  if (r.gateway !== canon(spec.gateway) || r.prefsrc !== canon(spec.src)) return false;
  if (type === 'unicast' && oif !== undefined && r.oif !== oif) return false;
  // IPv6 keeps no scope (every route reads as universe).
  if (r.family === 4) {
    const scope = spec.scope ?? (spec.gateway !== undefined || type !== 'unicast' ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    if (r.scope !== scope) return false;
  }
  return true;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export { NetlinkError };
