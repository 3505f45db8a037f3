// Binds each haresources entry to what acts on the host: the built-in
// address agent for IPaddr/IPaddr2, a resource.d or init.d script otherwise.

import type { Resource } from '../config/types.js';
import { IpAddrAgent } from './ipaddr.js';
import type { Netlink } from './netlink.js';
import { ScriptAgent } from './script.js';
import type { AgentContext, ResourceAgent } from './types.js';

export const NATIVE_AGENTS: readonly string[] = ['IPaddr', 'IPaddr2'];

/**
 * Throws a UserError for bad IPaddr arguments or an agent that is neither
 * built in nor found as an executable script (the message says where it looked).
 * `netlink` is only used by the address agents; the caller owns it and closes
 * it after the last agent call.
 */
export function createAgent(resource: Resource, ctx: AgentContext, netlink: Netlink): ResourceAgent {
  if (NATIVE_AGENTS.includes(resource.agent)) return new IpAddrAgent(resource, ctx, netlink);
  return new ScriptAgent(resource, ctx);
}

export { IpAddrAgent, parseIpAddrArgs, DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS } from './ipaddr.js';
export type { IpAddrParams } from './ipaddr.js';
export { Netlink, NetlinkError, openNetlink } from './netlink.js';
export type { AddressEntry, IfAddress, InterfaceInfo, NetlinkHandle } from './netlink.js';
export { ScriptAgent, findScript, runScript, interpretStatus, SCRIPT_ENV } from './script.js';
export type { ScriptResult } from './script.js';
export { sendGratuitousArp, buildGarpFrame } from './garp.js';
export type { GarpOptions } from './garp.js';
export type { AgentContext, ResourceAgent, ResourceStatus } from './types.js';
