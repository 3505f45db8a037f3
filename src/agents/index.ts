// Binds each haresources entry to what acts on the host: the network core
// for IPaddr/IPaddr2/IPv6addr, a resource.d or init.d script otherwise.

import type { ConfigIssue, Resource, ResourceGroup } from '../config/types.js';
import type { GroupSpec, MonitorSpec } from '../resources/machine.js';
import type { NetCore } from '../net/core.js';
import { IpAddrAgent } from './ipaddr.js';
import { accessSync, constants as fsc, statSync } from 'node:fs';
import { namedParams, ocfName, systemdUnit } from '../config/haresources.js';
import { UserError } from '../util/errors.js';
import { DEFAULT_OCF_ROOT, OcfAgent, ocfPath, type OcfTarget } from './ocf.js';
import { findScript, ScriptAgent } from './script.js';
import { SystemdAgent, systemdProblem } from './systemd.js';
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
  const kind = resolveAgent(resource, ctx);
  switch (kind.kind) {
    case 'native': return new IpAddrAgent(resource, ctx, net, owner);
    case 'ocf': return new OcfAgent(resource, ctx, kind.target);
    case 'systemd': return new SystemdAgent(resource, ctx, kind.unit);
    case 'script': return new ScriptAgent(resource, ctx);
  }
}

export type AgentKind =
  | { kind: 'native' }
  | { kind: 'ocf'; target: OcfTarget }
  | { kind: 'systemd'; unit: string }
  | { kind: 'script'; path: string };

/**
 * What runs a resource: the network core (IPaddr*), an OCF agent (named, or
 * Heartbeat's TYPE::arg where no script of that name exists but an OCF
 * heartbeat agent does), a systemd unit, or a resource.d/init.d script.
 * Throws a UserError saying where it looked.
 */
export function resolveAgent(resource: Resource, ctx: AgentContext): AgentKind {
  if (NATIVE_AGENTS.includes(resource.agent)) return { kind: 'native' };
  const root = ctx.ocfRoot ?? DEFAULT_OCF_ROOT;
  const ocf = ocfName(resource.agent);
  if (ocf) {
    const path = ocfPath(root, ocf.provider, ocf.type);
    if (!isExecutableFile(path)) throw new UserError(`unknown resource agent "${resource.agent}": no executable ${path} (Debian package resource-agents installs the heartbeat provider's agents)`);
    return { kind: 'ocf', target: { ...ocf, ...namedParams(resource.args) } };
  }
  const unit = systemdUnit(resource.agent);
  if (unit) return { kind: 'systemd', unit };
  try {
    return { kind: 'script', path: findScript(resource.agent, ctx) };
  } catch (e) {
    const path = ocfPath(root, 'heartbeat', resource.agent);
    if (isExecutableFile(path)) return { kind: 'ocf', target: { provider: 'heartbeat', type: resource.agent, ...namedParams(resource.args) } };
    throw e;
  }
}

/**
 * check-config's and the daemon's meta-data check: every OCF resource's
 * parameters against its agent's meta-data (unknown, missing required), and
 * agents that cannot be resolved, as FILE:LINE issues. Runs each agent's
 * meta-data action through the runner.
 */
export async function checkAgentParams(groups: readonly ResourceGroup[], file: string, ctx: AgentContext): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const g of groups) {
    for (const r of g.resources) {
      let kind: AgentKind;
      try {
        kind = resolveAgent(r, ctx);
      } catch (e) {
        issues.push({ file, line: g.line, message: e instanceof Error ? e.message : String(e) });
        continue;
      }
      if (kind.kind === 'systemd') {
        // Checked where the configuration runs: a unit on a host without systemd cannot start.
        const problem = systemdProblem();
        if (problem) issues.push({ file, line: g.line, message: `resource '${r.spec}': ${problem}` });
        continue;
      }
      if (kind.kind !== 'ocf') continue;
      const agent = new OcfAgent(r, ctx, kind.target);
      try {
        await agent.prepare();
      } catch (e) {
        issues.push({ file, line: g.line, message: e instanceof Error ? e.message : String(e) });
        continue;
      }
      for (const m of agent.paramProblems()) issues.push({ file, line: g.line, message: m });
    }
  }
  return issues;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

export { IpAddrAgent, parseIpAddrArgs, DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS } from './ipaddr.js';
export type { IpAddrParams } from './ipaddr.js';
export { ScriptAgent, findScript, interpretStatus, lsbMonitorOutcome, SCRIPT_ENV } from './script.js';
export { runChild, type RunResult, type RunSpec } from './runner.js';
export type { ScriptResult } from './script.js';
export type { AgentContext, AgentDefaults, MonitorOutcome, MonitorResult, ResourceAgent, ResourceStatus } from './types.js';
export { OcfAgent, parseOcfMetadata, ocfParamProblems, ocfMonitorOutcome, OCF_RC, DEFAULT_OCF_ROOT } from './ocf.js';

/** Defaults when haresources does not say (docs/configuration.md, "Monitoring"). */
export const DEFAULT_MIGRATION_THRESHOLD = 3;
export const DEFAULT_MONITOR_TIMEOUT_MS = 20_000;

/**
 * How a resource is monitored: its `op monitor` line, else its agent's
 * advice (OCF meta-data); undefined = not monitored (interval 0, or a
 * script or address without an `op monitor` line).
 */
export function monitorSpecOf(r: Resource, agent: ResourceAgent | undefined): MonitorSpec | undefined {
  const d = agent?.defaults?.() ?? {};
  const op = r.ops?.monitor;
  const intervalMs = op?.intervalMs ?? d.monitor?.intervalMs;
  if (!intervalMs) return undefined;
  return {
    intervalMs,
    timeoutMs: op?.timeoutMs ?? d.monitor?.timeoutMs ?? DEFAULT_MONITOR_TIMEOUT_MS,
    migrationThreshold: r.meta?.migrationThreshold ?? DEFAULT_MIGRATION_THRESHOLD,
    failureTimeoutMs: r.meta?.failureTimeoutMs ?? 0,
  };
}

/** The resources machine's view of a group: its resources' count and monitors. */
export function groupSpecOf(g: ResourceGroup, agents: readonly ResourceAgent[] | undefined): GroupSpec {
  const monitors = g.resources.map((r, i) => monitorSpecOf(r, agents?.[i]));
  return { name: g.name, preferredNode: g.preferredNode, resourceCount: g.resources.length, ...(monitors.some(Boolean) ? { monitors } : {}) };
}

/** Reads every agent's own description (OCF meta-data) before first use; throws a UserError naming the resource. */
export async function prepareAgents(agents: Iterable<ResourceAgent>): Promise<void> {
  for (const a of agents) await a.prepare?.();
}
export { SystemdAgent, systemdProblem, activeStateOutcome, busctlValue } from './systemd.js';
