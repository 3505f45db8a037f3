// Native IPaddr / IPaddr2: the virtual IP of a resource group, managed over
// netlink instead of through the resource.d shell wrappers, followed by
// gratuitous ARP so the network learns where the address went.
//
// haresources forms accepted (first argument):
//   IPaddr2::10.0.0.5                      interface and prefix found like findif
//   IPaddr2::10.0.0.5/24                   interface found, prefix given
//   IPaddr2::10.0.0.5/24/eth0              both given
//   IPaddr2::10.0.0.5/24/eth0/10.0.0.255   and the broadcast address
//   IPaddr::10.0.0.5/255.255.255.0/eth0:0  dotted mask; ":0" becomes the label
// Further arguments: arp_count=N (default 5), arp_interval=MS (default 200).

import type { Resource } from '../config/types.js';
import { UserError } from '../util/errors.js';
import { sendGratuitousArp } from './garp.js';
import {
  broadcastOf, formatIPv4, maskToPrefix, parseIPv4, sameSubnet,
} from './ipv4.js';
import { NetlinkError, type InterfaceInfo, type Netlink } from './netlink.js';
import type { AgentContext, ResourceAgent, ResourceStatus } from './types.js';

export const DEFAULT_ARP_COUNT = 5;
export const DEFAULT_ARP_INTERVAL_MS = 200;

export interface IpAddrParams {
  ip: string;
  prefixLen?: number;       // undefined: take it from the matching subnet
  nic?: string;             // undefined: find the interface (findif)
  label?: string;
  broadcast?: string;
  arpCount: number;
  arpIntervalMs: number;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Validates the haresources arguments; throws a UserError naming the resource. */
export function parseIpAddrArgs(resource: Resource): IpAddrParams {
  const bad = (why: string): UserError => new UserError(`resource "${resource.spec}": ${why}`);
  const [first, ...extra] = resource.args;
  if (first === undefined || first === '') {
    throw bad(`${resource.agent} needs an address, e.g. ${resource.agent}::10.0.0.5/24/eth0`);
  }
  const parts = first.split('/');
  if (parts.length > 4) throw bad(`"${first}" has too many "/" fields (expected IP[/cidr[/nic[/broadcast]]])`);
  const [ipText = '', maskText = '', nicText = '', bcastText = ''] = parts;
  const ipNum = parseIPv4(ipText);
  if (ipNum === undefined) throw bad(`"${ipText}" is not an IPv4 address`);
  const p: IpAddrParams = { ip: formatIPv4(ipNum), arpCount: DEFAULT_ARP_COUNT, arpIntervalMs: DEFAULT_ARP_INTERVAL_MS };

  let nic = nicText;
  if (maskText !== '') {
    if (/^\d+$/.test(maskText)) {
      const n = Number(maskText);
      if (n < 1 || n > 32) throw bad(`prefix length "${maskText}" is not in 1..32`);
      p.prefixLen = n;
    } else if (parseIPv4(maskText) !== undefined) {
      const n = maskToPrefix(parseIPv4(maskText)!);
      if (n === undefined || n === 0) throw bad(`"${maskText}" is not a valid netmask`);
      p.prefixLen = n;
    } else if (parts.length === 2) {
      nic = maskText; // IP/nic: the netmask was left out
    } else {
      throw bad(`"${maskText}" is neither a prefix length nor a netmask`);
    }
  }
  if (nic !== '') {
    // eth0:0 is the old ifconfig alias style: device eth0, label eth0:0.
    const [dev = '', alias] = nic.split(':', 2);
    if (!IFNAME.test(dev)) throw bad(`"${dev}" is not a valid interface name`);
    p.nic = dev;
    if (alias !== undefined) {
      if (alias === '' || nic.length > 15) throw bad(`"${nic}" is not a valid interface label (at most 15 characters)`);
      p.label = nic;
    }
  }
  if (bcastText !== '') {
    const b = parseIPv4(bcastText);
    if (b === undefined) throw bad(`broadcast "${bcastText}" is not an IPv4 address`);
    p.broadcast = formatIPv4(b);
  }

  for (const arg of extra) {
    const m = /^(\w+)=(.*)$/.exec(arg);
    const key = m?.[1];
    const value = m?.[2] ?? '';
    if (key === 'arp_count') {
      if (!/^\d+$/.test(value) || Number(value) > 1000) throw bad(`arp_count must be a whole number 0..1000, got "${value}"`);
      p.arpCount = Number(value);
    } else if (key === 'arp_interval') {
      if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 60_000) {
        throw bad(`arp_interval must be 1..60000 milliseconds, got "${value}"`);
      }
      p.arpIntervalMs = Number(value);
    } else {
      throw bad(`unknown argument "${arg}" (known: arp_count=N, arp_interval=MS)`);
    }
  }
  return p;
}

interface Target {
  nic: InterfaceInfo;
  prefixLen: number;
  broadcast?: string;
}

export class IpAddrAgent implements ResourceAgent {
  readonly params: IpAddrParams;
  private garp?: AbortController;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly resource: Resource,
    private readonly ctx: AgentContext,
    private readonly nl: Netlink,
  ) {
    this.params = parseIpAddrArgs(resource);
  }

  start(): Promise<void> {
    return this.serial(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serial(() => this.doStop());
  }

  status(): Promise<ResourceStatus> {
    return this.serial(async () => {
      const ifs = await this.wrap(() => this.nl.interfaces());
      return this.holders(ifs).length > 0 ? 'running' : 'stopped';
    });
  }

  private async doStart(): Promise<void> {
    const { ip, label } = this.params;
    const ifs = await this.wrap(() => this.nl.interfaces());
    const t = this.target(ifs);
    const nic = t.nic.name;
    // Two interfaces answering ARP for one address would split its traffic.
    // (Loopback is exempt: LVS direct-routing setups keep VIPs there.)
    const elsewhere = ifs.filter((i) => i.index !== t.nic.index && !i.loopback && i.addresses.some((a) => a.address === ip));
    if (elsewhere.length > 0) {
      throw this.err(`${ip} is already configured on ${elsewhere.map((i) => i.name).join(', ')}, not on ${nic}; remove it there first`);
    }
    if (!t.nic.up) {
      this.ctx.log('info', `${this.resource.spec}: bringing ${nic} up`);
      await this.wrap(() => this.nl.setLinkUp(nic));
    }
    if (t.nic.addresses.some((a) => a.address === ip)) {
      this.ctx.log('info', `${this.resource.spec}: ${ip} already on ${nic}`);
    } else {
      this.ctx.log('info', `${this.resource.spec}: adding ${ip}/${t.prefixLen} to ${nic}`);
      try {
        await this.nl.addAddress(nic, ip, t.prefixLen, t.broadcast, label);
      } catch (e) {
        // Someone added it between our listing and the add: same end state.
        if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw this.wrapErr(e);
      }
    }

    this.garp?.abort();
    if (t.nic.loopback || t.nic.noarp || this.params.arpCount === 0) return;
    const ctl = new AbortController();
    this.garp = ctl;
    const log = (level: 'warn' | 'debug', msg: string): void => this.ctx.log(level, `${this.resource.spec}: ${msg}`);
    try {
      await sendGratuitousArp(nic, ip, { count: this.params.arpCount, intervalMs: this.params.arpIntervalMs, log }, ctl.signal);
    } catch (e) {
      // Not cosmetic: neighbours keep sending to the old holder until their
      // caches expire, so a takeover without its announcement is not a
      // takeover. An actuation that failed is never reported ok: the start
      // fails, the group is unwound (the address removed again) and the
      // usual rules decide who runs it.
      throw this.err(`${ip} was added to ${nic} but neighbours could not be told (gratuitous ARP failed): ${msgOf(e)}`);
    }
  }

  private async doStop(): Promise<void> {
    // Announcing an address we no longer hold would steal it back from the peer.
    this.garp?.abort();
    this.garp = undefined;
    const { ip } = this.params;
    for (const i of this.holders(await this.wrap(() => this.nl.interfaces()))) {
      for (const a of i.addresses.filter((x) => x.address === ip)) {
        this.ctx.log('info', `${this.resource.spec}: removing ${ip}/${a.prefixLen} from ${i.name}`);
        try {
          await this.nl.delAddress(i.name, ip, a.prefixLen);
        } catch (e) {
          // Already gone (or its interface vanished): what stop wants anyway.
          if (!(e instanceof NetlinkError && (e.code === 'EADDRNOTAVAIL' || e.code === 'ENODEV'))) throw this.wrapErr(e);
        }
      }
    }
  }

  /** Interfaces in scope that carry the VIP: the named nic, else any but loopback. */
  private holders(ifs: InterfaceInfo[]): InterfaceInfo[] {
    const { ip, nic } = this.params;
    return ifs.filter((i) => (nic !== undefined ? i.name === nic : !i.loopback) && i.addresses.some((a) => a.address === ip));
  }

  /**
   * The interface and prefix to use. Like Heartbeat's findif: the interface
   * whose primary IPv4 subnet contains the VIP (most specific wins), and that
   * subnet's prefix unless one was given.
   */
  private target(ifs: InterfaceInfo[]): Target {
    const { ip, nic, prefixLen, broadcast } = this.params;
    const ipNum = parseIPv4(ip)!;
    let best: { nic: InterfaceInfo; prefixLen: number } | undefined;
    for (const i of ifs) {
      if (nic !== undefined ? i.name !== nic : i.loopback) continue;
      for (const a of i.addresses) {
        if (a.secondary || a.prefixLen === 32) continue;
        if (!sameSubnet(ipNum, parseIPv4(a.address)!, a.prefixLen)) continue;
        if (!best || a.prefixLen > best.prefixLen) best = { nic: i, prefixLen: a.prefixLen };
      }
    }
    let chosen: InterfaceInfo;
    let len: number;
    if (nic !== undefined) {
      const i = ifs.find((x) => x.name === nic);
      if (!i) {
        throw this.err(`network interface ${nic} not found (present: ${ifs.map((x) => x.name).join(', ') || 'none'})`);
      }
      chosen = i;
      if (prefixLen !== undefined) len = prefixLen;
      else if (best) len = best.prefixLen;
      else throw this.err(`cannot tell the netmask: no IPv4 subnet on ${nic} contains ${ip}; write it as ${ip}/<cidr>/${nic}`);
    } else {
      if (!best) {
        throw this.err(
          `no interface has an IPv4 subnet containing ${ip}, so there is no interface to put it on; ` +
          `name one explicitly, e.g. ${this.resource.agent}::${ip}/24/eth0`,
        );
      }
      chosen = best.nic;
      len = prefixLen ?? best.prefixLen;
    }
    const b = broadcast ?? (() => {
      const v = broadcastOf(ipNum, len);
      return v === undefined ? undefined : formatIPv4(v);
    })();
    return b === undefined ? { nic: chosen, prefixLen: len } : { nic: chosen, prefixLen: len, broadcast: b };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.wrapErr(e);
    }
  }

  private wrapErr(e: unknown): UserError {
    return this.err(msgOf(e));
  }

  private err(msg: string): UserError {
    return new UserError(`resource "${this.resource.spec}": ${msg}`);
  }
}

function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
