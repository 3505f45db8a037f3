// Announcement frames, built byte for byte (pure): gratuitous ARP for an
// IPv4 VIP and an unsolicited neighbour advertisement (RFC 4861 4.4, 7.2.6)
// for an IPv6 VIP. Both are full Ethernet frames for the one AF_PACKET
// sender in raw.ts, so every byte that reaches the wire is tested here.

import { ipv4ToBuffer, parseIPv4, parseIPv6 } from './addr.js';

export const ETH_P_ARP = 0x0806;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const GARP_FRAME_LEN = 42; // 14 Ethernet + 28 ARP; the NIC pads to 60
export const IPPROTO_ICMPV6 = 58;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const NA_FRAME_LEN = 14 + 40 + 24 + 8; // Ethernet, IPv6, NA, target link-layer address option

const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);
/** ff02::1, all nodes on the link, and its Ethernet multicast address 33:33:00:00:00:01. */
const ALL_NODES = parseIPv6('ff02::1')!;
const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0, 0, 0, 1]);

/**
 * One gratuitous ARP frame: sender and target protocol address are both the
 * VIP, which is what makes receivers update (never create) their entry.
 * The request carries an all-zero target MAC (an RFC 5227 announcement, as the
 * kernel's own arp_notify does); the reply is addressed to everybody.
 */
export function buildGarpFrame(mac: Uint8Array, ip: string, op: typeof ARPOP_REQUEST | typeof ARPOP_REPLY): Buffer {
  if (mac.length !== 6) throw new RangeError(`MAC address must be 6 bytes, got ${mac.length}`);
  const addr = parseIPv4(ip);
  if (addr === undefined) throw new RangeError(`"${ip}" is not an IPv4 address`);
  const vip = ipv4ToBuffer(addr);
  const f = Buffer.alloc(GARP_FRAME_LEN);
  BROADCAST.copy(f, 0);                 // Ethernet destination
  Buffer.from(mac).copy(f, 6);          // Ethernet source
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(ARPHRD_ETHER, 14);    // htype
  f.writeUInt16BE(ETH_P_IP, 16);        // ptype
  f.writeUInt8(6, 18);                  // hlen
  f.writeUInt8(4, 19);                  // plen
  f.writeUInt16BE(op, 20);
  Buffer.from(mac).copy(f, 22);         // sender MAC
  vip.copy(f, 28);                      // sender IP
  (op === ARPOP_REQUEST ? ZERO_MAC : BROADCAST).copy(f, 32); // target MAC
  vip.copy(f, 38);                      // target IP
  return f;
}

/**
 * An unsolicited neighbour advertisement for `ip` from `mac`, as Linux's own
 * ndisc_send_unsol_na builds it: to ff02::1, source = the advertised address,
 * hop limit 255 (receivers drop anything else), Override set and Solicited
 * clear (so existing entries take the new MAC; none are created), Router
 * clear, and a target link-layer address option carrying the MAC.
 */
export function buildUnsolicitedNa(mac: Uint8Array, ip: string): Buffer {
  if (mac.length !== 6) throw new RangeError(`MAC address must be 6 bytes, got ${mac.length}`);
  const target = parseIPv6(ip);
  if (target === undefined) throw new RangeError(`"${ip}" is not an IPv6 address`);
  const f = Buffer.alloc(NA_FRAME_LEN);
  ALL_NODES_MAC.copy(f, 0);
  Buffer.from(mac).copy(f, 6);
  f.writeUInt16BE(ETH_P_IPV6, 12);
  // IPv6 header: version 6, traffic class 0, flow label 0.
  const ip6 = 14;
  f.writeUInt32BE(0x60000000, ip6);
  f.writeUInt16BE(32, ip6 + 4);         // payload length
  f.writeUInt8(IPPROTO_ICMPV6, ip6 + 6);
  f.writeUInt8(255, ip6 + 7);           // hop limit
  target.copy(f, ip6 + 8);              // source
  ALL_NODES.copy(f, ip6 + 24);          // destination
  const icmp = ip6 + 40;
  f.writeUInt8(ICMPV6_NEIGHBOR_ADVERT, icmp);
  f.writeUInt8(0, icmp + 1);            // code
  f.writeUInt32BE(0x20000000, icmp + 4); // R=0 S=0 O=1
  target.copy(f, icmp + 8);
  f.writeUInt8(2, icmp + 24);           // option: target link-layer address
  f.writeUInt8(1, icmp + 25);           // length in 8-byte units
  Buffer.from(mac).copy(f, icmp + 26);
  f.writeUInt16BE(icmpv6Checksum(target, ALL_NODES, f.subarray(icmp)), icmp + 2);
  return f;
}

/** RFC 4443 2.3: ones' complement sum over the pseudo-header and the ICMPv6 message (checksum field zero). */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, msg: Uint8Array): number {
  let sum = 0;
  const add = (b: Uint8Array): void => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  };
  add(src);
  add(dst);
  sum += (msg.length >>> 16) + (msg.length & 0xffff);
  sum += IPPROTO_ICMPV6;
  const m = Buffer.from(msg);
  m.writeUInt16BE(0, 2);
  add(m);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
