// A service address (VIP) as the network core takes it, and the pure parts
// of placing one: the haresources argument forms and Heartbeat's findif.
//
// haresources forms (first argument; the agent name picks nothing but the
// error examples, the address decides the family):
//   IPaddr2::10.0.0.5                      interface and prefix found like findif
//   IPaddr2::10.0.0.5/24                   interface found, prefix given
//   IPaddr2::10.0.0.5/24/eth0              both given
//   IPaddr2::10.0.0.5/24/eth0/10.0.0.255   and the broadcast address
//   IPaddr::10.0.0.5/255.255.255.0/eth0:0  dotted mask; ":0" becomes the label
//   IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0  IPv6, written without "::"
//   IPaddr2::2001:db8:0:0:0:0:0:10/64/eth0   (haresources splits on "::")
// Further arguments: arp_count=N (default 5), arp_interval=MS (default 200);
// for IPv6 they repeat the unsolicited neighbour advertisement instead.

import {
  broadcastOf, formatIPv4, isLinkLocal6, maskToPrefix, parseIp, parseIPv4, samePrefix, unicast6Problem, type Family,
} from './addr.js';

export const DEFAULT_ARP_COUNT = 5;
export const DEFAULT_ARP_INTERVAL_MS = 200;

export interface VipSpec {
  family: Family;
  ip: string;               // canonical text
  prefixLen?: number;       // undefined: take it from the matching subnet
  nic?: string;             // undefined: find the interface (findif)
  label?: string;           // IPv4 only
  broadcast?: string;       // IPv4 only
  arpCount: number;         // announcement rounds (gratuitous ARP or unsolicited NA)
  arpIntervalMs: number;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const HEXISH = /^[0-9A-Fa-f:]+$/;

/** The spec, or a message saying what is wrong (without the resource name). */
export function parseVipArgs(agent: string, args: string[]): VipSpec | string {
  const [first, ...extra] = args;
  const example = agent === 'IPv6addr' ? `${agent}::2001:db8:0:0:0:0:0:10/64/eth0` : `${agent}::10.0.0.5/24/eth0`;
  if (first === undefined || first === '') return `${agent} needs an address, e.g. ${example}`;
  const parts = first.split('/');
  const [ipText = ''] = parts;
  const ip = parseIp(ipText);
  if (!ip) {
    // "2001:db8::10" was split by haresources into "2001:db8" and "10/64/eth0".
    if (HEXISH.test(ipText) && (ipText.includes(':') || agent === 'IPv6addr') && extra.length > 0 && !extra[0]!.includes('=')) {
      return `"${[ipText, ...extra].join('::')}" cannot be written with "::" in haresources, where "::" separates arguments; ` +
        'write the address with all eight groups, e.g. 2001:db8:0:0:0:0:0:10';
    }
    return agent === 'IPv6addr' ? `"${ipText}" is not an IPv6 address` : `"${ipText}" is not an IPv4 address`;
  }
  if (agent === 'IPv6addr' && ip.family !== 6) return `"${ipText}" is not an IPv6 address (IPv4 addresses go to IPaddr2)`;
  return ip.family === 4 ? parse4(ip.text, parts, first, extra) : parse6(ip.text, ip.bytes, parts, first, extra);
}

function parse4(ip: string, parts: string[], first: string, extra: string[]): VipSpec | string {
  if (parts.length > 4) return `"${first}" has too many "/" fields (expected IP[/cidr[/nic[/broadcast]]])`;
  const [, maskText = '', nicText = '', bcastText = ''] = parts;
  const p: VipSpec = { family: 4, ip, arpCount: DEFAULT_ARP_COUNT, arpIntervalMs: DEFAULT_ARP_INTERVAL_MS };
  let nic = nicText;
  if (maskText !== '') {
    if (/^\d+$/.test(maskText)) {
      const n = Number(maskText);
      if (n < 1 || n > 32) return `prefix length "${maskText}" is not in 1..32`;
      p.prefixLen = n;
    } else if (parseIPv4(maskText) !== undefined) {
      const n = maskToPrefix(parseIPv4(maskText)!);
      if (n === undefined || n === 0) return `"${maskText}" is not a valid netmask`;
      p.prefixLen = n;
    } else if (parts.length === 2) {
      nic = maskText; // IP/nic: the netmask was left out
    } else {
      return `"${maskText}" is neither a prefix length nor a netmask`;
    }
  }
  if (nic !== '') {
    // eth0:0 is the old ifconfig alias style: device eth0, label eth0:0.
    const [dev = '', alias] = nic.split(':', 2);
    if (!IFNAME.test(dev)) return `"${dev}" is not a valid interface name`;
    p.nic = dev;
    if (alias !== undefined) {
      if (alias === '' || nic.length > 15) return `"${nic}" is not a valid interface label (at most 15 characters)`;
      p.label = nic;
    }
  }
  if (bcastText !== '') {
    const b = parseIPv4(bcastText);
    if (b === undefined) return `broadcast "${bcastText}" is not an IPv4 address`;
    p.broadcast = formatIPv4(b);
  }
  return options(p, extra);
}

function parse6(ip: string, bytes: Buffer, parts: string[], first: string, extra: string[]): VipSpec | string {
  if (parts.length > 3) return `"${first}" has too many "/" fields (expected IPv6[/prefix[/nic]])`;
  const bad = unicast6Problem(bytes);
  if (bad) return `${ip} ${bad} and cannot be a service address`;
  const [, prefixText = '', nicText = ''] = parts;
  const p: VipSpec = { family: 6, ip, arpCount: DEFAULT_ARP_COUNT, arpIntervalMs: DEFAULT_ARP_INTERVAL_MS };
  let nic = nicText;
  if (prefixText !== '') {
    if (/^\d+$/.test(prefixText)) {
      const n = Number(prefixText);
      if (n < 1 || n > 128) return `prefix length "${prefixText}" is not in 1..128`;
      p.prefixLen = n;
    } else if (parts.length === 2) {
      nic = prefixText;
    } else {
      return `"${prefixText}" is not an IPv6 prefix length (1..128)`;
    }
  }
  if (nic !== '') {
    if (nic.includes(':')) return `"${nic}": IPv6 addresses take no interface label`;
    if (!IFNAME.test(nic)) return `"${nic}" is not a valid interface name`;
    p.nic = nic;
  }
  return options(p, extra);
}

function options(p: VipSpec, extra: string[]): VipSpec | string {
  for (const arg of extra) {
    const m = /^(\w+)=(.*)$/.exec(arg);
    const key = m?.[1];
    const value = m?.[2] ?? '';
    if (key === 'arp_count') {
      if (!/^\d+$/.test(value) || Number(value) > 1000) return `arp_count must be a whole number 0..1000, got "${value}"`;
      p.arpCount = Number(value);
    } else if (key === 'arp_interval') {
      if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 60_000) {
        return `arp_interval must be 1..60000 milliseconds, got "${value}"`;
      }
      p.arpIntervalMs = Number(value);
    } else {
      return `unknown argument "${arg}" (known: arp_count=N, arp_interval=MS)`;
    }
  }
  return p;
}

/** What findif needs of an interface. */
export interface PlaceIface {
  name: string;
  index: number;
  loopback: boolean;
  addresses: Array<{ family: Family; address: string; prefixLen: number; secondary: boolean }>;
}

export interface Placement<I extends PlaceIface> {
  nic: I;
  prefixLen: number;
  broadcast?: string;
}

/**
 * The interface and prefix for a VIP, like Heartbeat's findif: the interface
 * whose primary subnet of the same family contains the VIP (most specific
 * wins; IPv6 link-local and /128 entries never count), and that subnet's
 * prefix unless one was given. A message when it cannot be placed.
 */
export function placeVip<I extends PlaceIface>(spec: VipSpec, ifs: readonly I[], example: string): Placement<I> | string {
  const { ip, nic, prefixLen, broadcast, family } = spec;
  const vip = parseIp(ip)!.bytes;
  const fam = family === 4 ? 'IPv4' : 'IPv6';
  const hostLen = family === 4 ? 32 : 128;
  let best: { nic: I; prefixLen: number } | undefined;
  for (const i of ifs) {
    if (nic !== undefined ? i.name !== nic : i.loopback) continue;
    for (const a of i.addresses) {
      if (a.family !== family || a.secondary || a.prefixLen === hostLen) continue;
      const own = parseIp(a.address)!.bytes;
      if (family === 6 && isLinkLocal6(own)) continue;
      if (!samePrefix(vip, own, a.prefixLen)) continue;
      if (!best || a.prefixLen > best.prefixLen) best = { nic: i, prefixLen: a.prefixLen };
    }
  }
  let chosen: I;
  let len: number;
  if (nic !== undefined) {
    const i = ifs.find((x) => x.name === nic);
    if (!i) return `network interface ${nic} not found (present: ${ifs.map((x) => x.name).join(', ') || 'none'})`;
    chosen = i;
    if (prefixLen !== undefined) len = prefixLen;
    else if (best) len = best.prefixLen;
    else return `cannot tell the netmask: no ${fam} subnet on ${nic} contains ${ip}; write it as ${ip}/<cidr>/${nic}`;
  } else {
    if (!best) {
      return `no interface has an ${fam} subnet containing ${ip}, so there is no interface to put it on; ` +
        `name one explicitly, e.g. ${example}`;
    }
    chosen = best.nic;
    len = prefixLen ?? best.prefixLen;
  }
  if (family === 6) return { nic: chosen, prefixLen: len };
  const b = broadcast ?? (() => {
    const v = broadcastOf(parseIPv4(ip)!, len);
    return v === undefined ? undefined : formatIPv4(v);
  })();
  return b === undefined ? { nic: chosen, prefixLen: len } : { nic: chosen, prefixLen: len, broadcast: b };
}
