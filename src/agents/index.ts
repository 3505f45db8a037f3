// Binds each haresources entry to what acts on the host: the network core
// for IPaddr/IPaddr2/IPv6addr, a resource.d or init.d script otherwise.

import type { Resource } from '../config/types.js';
import type { NetCore } from '../net/core.js';
import { IpAddrAgent } from './ipaddr.js';
import { ScriptAgent } from './script.js';
import type { AgentContext, ResourceAgent } from './types.js';

export const NATIVE_AGENTS: readonly string[] = ['IPaddr', 'IPaddr2', 'IPv6addr'];

/** How the address registry names a haresources group as an owner. */
export function groupOwner(groupName: string): string {
  return `group '${groupName}'`;
}

/**
 * Throws a UserError for bad IPaddr arguments or an agent that is neither
 * built in nor found as an executable script (the message says where it looked).
 * `net` is only used by the address agents; the caller owns it and closes
 * it after the last agent call. `owner` holds the agent's address in the
 * core's registry (default: a group of its own).
 */
export function createAgent(resource: Resource, ctx: AgentContext, net: NetCore, owner: string = groupOwner(resource.spec)): ResourceAgent {
  if (NATIVE_AGENTS.includes(resource.agent)) return new IpAddrAgent(resource, ctx, net, owner);
  return new ScriptAgent(resource, ctx);
}

export { IpAddrAgent, parseIpAddrArgs, DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS } from './ipaddr.js';
export type { IpAddrParams } from './ipaddr.js';
export { ScriptAgent, findScript, interpretStatus, lsbMonitorOutcome, SCRIPT_ENV } from './script.js';
export { runChild, type RunResult, type RunSpec } from './runner.js';
export type { ScriptResult } from './script.js';
export type { AgentContext, AgentDefaults, MonitorOutcome, MonitorResult, ResourceAgent, ResourceStatus } from './types.js';
