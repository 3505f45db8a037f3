// The network core (docs/architecture.md): the only code that talks to the
// kernel's network stack for addresses, links, routes, announcements and raw
// sockets, and IPVS. Pure modules: addr, rtnetlink, frames, registry, vip,
// ipvs-codec, ipvs-reconcile. I/O: netlink, raw, announce, core, vrrp-socket, ipvs.

export * from './addr.js';
export { NetCore, type NetLog } from './core.js';
export { Netlink, NetlinkError, NetWatcher, decodeEvent } from './netlink.js';
export type { AddressChange, AddressEntry, BatchResult, IfAddress, InterfaceInfo, NetEvent } from './netlink.js';
export { AddressRegistry, conflictMessage, type Claim, type ClaimResult } from './registry.js';
export { DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS, parseVipArgs, placeVip, type VipSpec } from './vip.js';
export { announce, announcementFrames, type AnnounceOptions } from './announce.js';
export { buildGarpFrame, buildUnsolicitedNa, icmpv6Checksum } from './frames.js';
export { VrrpSocket, type VrrpReceived, type VrrpSocketCounters, type VrrpSocketOptions } from './vrrp-socket.js';
export { IpvsBackend, IpvsClient, NO_IPVS_MESSAGE, changeText as ipvsChangeText, type IpvsApplyResult } from './ipvs.js';
export { IpvsPlanError, planIpvs, type IpvsChange, type IpvsDesiredService, type IpvsKernelService, type IpvsPlanOptions } from './ipvs-reconcile.js';
export { serviceKeyId, serviceKeyText, type IpvsDest, type IpvsDestState, type IpvsForward, type IpvsInfo, type IpvsProtocol, type IpvsService, type IpvsServiceKey, type IpvsServiceState, type IpvsStats } from './ipvs-codec.js';
