// haresources parser (Heartbeat v1 resource groups):
//   <preferred-node> <resource> [<resource>...]     one group per logical line
// A trailing backslash joins the next line. Resources are `agent::arg::arg`
// or a bare IPv4 address, which Heartbeat treats as IPaddr::<address>.
// This module is pure: whether script agents exist is checked by load.ts.

import {
  IssueSink,
  asciiLower,
  ifaceNameProblem,
  isIPv4,
  looksLikeIPv4,
  nodeNameProblem,
  parseUInt,
  physicalLines,
  unicastProblem,
} from './common.js';
import type { ConfigIssue, Resource, ResourceGroup } from './types.js';
import { AddressRegistry, conflictMessage } from '../net/registry.js';
import { parseVipArgs } from '../net/vip.js';
import { parseOpTime } from './time.js';

const AGENT_NAME = /^[A-Za-z0-9_.+@-]+$/;
// What the native address agent accepts as a device name.
const NIC_NAME = /^[A-Za-z0-9_.@-]+$/;

/** Agents tandem implements itself; every other agent is a script on disk. */
export const BUILTIN_AGENTS: ReadonlySet<string> = new Set(['IPaddr', 'IPaddr2', 'IPv6addr']);

/**
 * IPaddr/IPaddr2 options accepted after the address argument, with the upper
 * bounds the native agent enforces.
 */
const IP_OPTIONS = new Map([
  ['arp_count', { max: 1000, unit: '' }],
  ['arp_interval', { max: 60000, unit: ' (milliseconds)' }],
]);

export interface HaResourcesResult {
  groups: ResourceGroup[] | undefined;
  issues: ConfigIssue[];
  /** Every group parsed, also when some lines have errors, so their agents are still checked. */
  parsed: ResourceGroup[];
}

interface LogicalLine {
  line: number;
  tokens: string[];
}

/**
 * Joins continuation lines and drops comments. A token starting with '#'
 * begins a comment, so "apache # web server" works while "a#b" stays one
 * token; a backslash inside such a comment does not continue the line.
 */
function logicalLines(text: string): LogicalLine[] {
  const result: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  physicalLines(text).forEach((raw, idx) => {
    let s = raw.replace(/(^|\s)#.*$/, '').replace(/\s+$/, '');
    const continues = s.endsWith('\\');
    if (continues) s = s.slice(0, -1);
    const tokens = s.split(/\s+/).filter((t) => t !== '');
    if (tokens.length > 0) {
      current ??= { line: idx + 1, tokens: [] };
      current.tokens.push(...tokens);
    }
    if (!continues && current) {
      result.push(current);
      current = undefined;
    }
  });
  if (current) result.push(current);
  return result;
}

/**
 * Parses haresources text. When `nodes` is given (from ha.cf), every
 * preferred node must be one of them. Returns the groups when there are no
 * issues.
 */
export function parseHaResources(
  text: string,
  file: string,
  nodes: string[] | undefined,
): HaResourcesResult {
  const out = new IssueSink(file);
  const groups: ResourceGroup[] = [];
  // Identity of a resource is agent + args, so "10.0.0.5" and
  // "IPaddr::10.0.0.5" count as the same resource.
  const seenResources = new Map<string, { group: string; line: number }>();
  const claims = new AddressRegistry();
  const wanted = nodes?.map(asciiLower);

  for (const { line, tokens } of logicalLines(text)) {
    const [nodeTok = '', ...specs] = tokens;
    const nodeProblem = nodeNameProblem(nodeTok);
    const preferredNode = asciiLower(nodeTok);
    if (nodeProblem) {
      out.add(line, `preferred node '${nodeTok}' ${nodeProblem}`);
    } else if (wanted && !wanted.includes(preferredNode)) {
      out.add(
        line,
        `preferred node '${nodeTok}' is not a node in ha.cf (nodes: ${wanted.join(', ') || 'none'})`,
      );
    }
    if (specs.length === 0) {
      out.add(line, `group for node '${nodeTok}' lists no resources`);
      continue;
    }

    const resources: Resource[] = [];
    const groupName = specs[0]!;
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      if (spec === 'op' || spec === 'meta') {
        // `op NAME k=v...` / `meta k=v...` belong to the resource before them.
        let j = i + 1;
        const opName = spec === 'op' ? specs[j++] : undefined;
        const pairs: string[] = [];
        while (j < specs.length && specs[j]!.includes('=') && !specs[j]!.includes('::')) pairs.push(specs[j++]!);
        i = j - 1;
        const target = resources[resources.length - 1];
        const problem = target === undefined
          ? `'${spec}' must follow the resource it applies to`
          : spec === 'op' ? applyOp(target, opName, pairs) : applyMeta(target, pairs);
        if (problem) out.add(line, problem);
        continue;
      }
      const parsed = parseResourceSpec(spec);
      if (typeof parsed === 'string') {
        out.add(line, parsed);
        continue;
      }
      const id = [parsed.agent, ...parsed.args].join('::');
      const prev = seenResources.get(id);
      if (prev) {
        out.add(
          line,
          prev.line === line
            ? `resource '${spec}' appears twice in this group`
            : `resource '${spec}' is already in group '${prev.group}' (line ${prev.line})`,
        );
        continue;
      }
      seenResources.set(id, { group: groupName, line });
      const conflict = claimConfigAddress(claims, parsed, groupName, file, line);
      if (conflict) {
        out.add(line, conflict);
        continue;
      }
      resources.push(parsed);
    }
    groups.push({ name: groupName, preferredNode, resources, line });
  }

  const issues = out.sorted();
  return issues.length > 0 ? { groups: undefined, issues, parsed: groups } : { groups, issues, parsed: groups };
}

/**
 * Two resources for one address would fight over it on takeover: the address
 * registry of the network core (src/net/registry.ts) refuses the second claim
 * with a message naming both places. Undefined when `r` is not an address
 * resource or its claim is accepted.
 */
export function claimConfigAddress(claims: AddressRegistry, r: Resource, group: string, file: string, line: number): string | undefined {
  if (!BUILTIN_AGENTS.has(r.agent)) return undefined;
  const spec = parseVipArgs(r.agent, r.args);
  if (typeof spec === 'string') return undefined;   // reported by parseResourceSpec
  const [, prefix = ''] = (r.args[0] ?? '').split('/');
  const shown = /^\d+$/.test(prefix) ? `${spec.ip}/${prefix}` : spec.ip;
  // Within one group too: the second resource would remove the first one's address on stop.
  const holder = claims.holderOf(spec.ip);
  if (holder) return conflictMessage(shown, holder);
  claims.claim(spec.ip, `group '${group}'`, `${file}:${line}`);
  return undefined;
}

const OP_KEYS: Record<string, readonly string[]> = { start: ['timeout'], stop: ['timeout'], monitor: ['interval', 'timeout'] };

function timeValue(key: string, value: string, zeroOk: boolean): number | string {
  const ms = parseOpTime(value);
  if (ms === undefined) return `${key}=${value} is not a time (e.g. 10s, 500ms, 2min; a bare number is seconds)`;
  if (ms === 0 && !zeroOk) return `${key}=${value} must be more than 0`;
  return ms;
}

function splitPairs(pairs: string[]): Array<[string, string]> {
  return pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]);
}

/** `op start|stop|monitor interval=T timeout=T` (docs/configuration.md, "Monitoring"). */
function applyOp(r: Resource, name: string | undefined, pairs: string[]): string | undefined {
  const keys = name !== undefined ? OP_KEYS[name] : undefined;
  if (!keys) return `'op' needs an operation: start, stop or monitor (got ${name === undefined ? 'nothing' : `'${name}'`}), e.g. op monitor interval=10s timeout=20s`;
  if (pairs.length === 0) return `op ${name} needs ${keys.map((k) => `${k}=TIME`).join(' or ')}`;
  const ops = (r.ops ??= {});
  if (ops[name as keyof typeof ops]) return `op ${name} is given twice for resource '${r.spec}'`;
  const got: Record<string, number> = {};
  for (const [k, v] of splitPairs(pairs)) {
    if (!keys.includes(k)) return `op ${name}: unknown setting '${k}' (${keys.join(', ')} only)`;
    if (got[k] !== undefined) return `op ${name}: ${k} is given twice`;
    const ms = timeValue(k, v, k === 'interval');
    if (typeof ms === 'string') return `op ${name}: ${ms}`;
    got[k] = ms;
  }
  if (name === 'monitor') ops.monitor = { ...(got.interval !== undefined ? { intervalMs: got.interval } : {}), ...(got.timeout !== undefined ? { timeoutMs: got.timeout } : {}) };
  else if (got.timeout !== undefined) ops[name as 'start' | 'stop'] = { timeoutMs: got.timeout };
  return undefined;
}

/** `meta migration-threshold=N failure-timeout=T`. */
function applyMeta(r: Resource, pairs: string[]): string | undefined {
  if (pairs.length === 0) return `'meta' needs migration-threshold=N or failure-timeout=TIME`;
  const meta = (r.meta ??= {});
  for (const [k, v] of splitPairs(pairs)) {
    if (k === 'migration-threshold') {
      const n = parseUInt(v);
      if (n === undefined || n < 1 || n > 1_000_000) return `meta migration-threshold must be a whole number from 1 to 1000000 (got '${v}')`;
      meta.migrationThreshold = n;
    } else if (k === 'failure-timeout') {
      const ms = timeValue(k, v, true);
      if (typeof ms === 'string') return `meta ${ms}`;
      meta.failureTimeoutMs = ms;
    } else {
      return `meta: unknown setting '${k}' (migration-threshold, failure-timeout only)`;
    }
  }
  return undefined;
}

/** The parts of an `ocf:PROVIDER:TYPE` agent name; undefined for any other agent. */
export function ocfName(agent: string): { provider: string; type: string } | undefined {
  const m = /^ocf:([A-Za-z0-9_.+@-]+):([A-Za-z0-9_.+@-]+)$/.exec(agent);
  return m ? { provider: m[1]!, type: m[2]! } : undefined;
}

/** The unit of a `systemd:UNIT` agent name (".service" added when it names no type); undefined for any other agent. */
export function systemdUnit(agent: string): string | undefined {
  const m = /^systemd:([A-Za-z0-9_.@:\\-]+)$/.exec(agent);
  if (!m) return undefined;
  return /\.(service|socket|target|mount|timer|path)$/.test(m[1]!) ? m[1]! : `${m[1]!}.service`;
}

/** `NAME=VALUE` arguments (OCF parameters, and Heartbeat resources resolved to OCF). */
export function namedParams(args: readonly string[]): { named: Array<[string, string]>; positional: string[] } {
  const named: Array<[string, string]> = [];
  const positional: string[] = [];
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(a.slice(0, eq))) named.push([a.slice(0, eq), a.slice(eq + 1)]);
    else positional.push(a);
  }
  return { named, positional };
}

/** A Resource, or the message explaining why `spec` is not one. */
export function parseResourceSpec(spec: string): Resource | string {
  let agent: string;
  let args: string[];
  if (spec.includes('::')) {
    [agent = '', ...args] = spec.split('::');
  } else if (looksLikeIPv4(spec.split('/')[0] ?? '')) {
    // Heartbeat's shorthand: a bare address means IPaddr with that argument.
    agent = 'IPaddr';
    args = [spec];
  } else {
    agent = spec;
    args = [];
  }

  if (agent === '') return `resource '${spec}' has no agent name before '::'`;
  // The agent name becomes a file name under resource.d or the init
  // directory; same character set as the script runner (src/agents/script.ts).
  if (agent.startsWith('ocf:')) {
    if (!ocfName(agent)) return `resource agent '${agent}' must be ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:nginx`;
    const { positional } = namedParams(args);
    if (positional.length) return `resource '${spec}': OCF agents take NAME=VALUE parameters, not '${positional[0]}'`;
  } else if (agent.startsWith('systemd:')) {
    if (!systemdUnit(agent)) return `resource agent '${agent}' must be systemd:UNIT, e.g. systemd:nginx.service`;
    if (args.length) return `resource '${spec}': a systemd unit takes no arguments`;
  } else if (!AGENT_NAME.test(agent) || agent === '.' || agent === '..') {
    return `resource agent '${agent}' must be a plain file name (letters, digits, '_', '.', '+', '@', '-'), ocf:PROVIDER:TYPE or systemd:UNIT`;
  }
  if (args.some((a) => a === '')) {
    return `resource '${spec}' has an empty argument (check for ':::' or a trailing '::')`;
  }
  if (BUILTIN_AGENTS.has(agent)) {
    const v6 = agent === 'IPv6addr' || (args[0] ?? '').split('/')[0]!.includes(':');
    const v6problem = v6 ? parseVipArgs(agent, args) : undefined;
    if (typeof v6problem === 'string') return `resource '${spec}': ${v6problem}`;
    const problem = v6 ? undefined : ipAgentProblem(agent, args);
    if (problem) return `resource '${spec}': ${problem}`;
  }
  return { spec, agent, args };
}

/** A dotted netmask with contiguous ones, as a prefix length; undefined otherwise. */
function dottedMaskPrefix(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  const m = /^(1*)0*$/.exec(bits);
  return m ? (m[1] ?? '').length : undefined;
}

/**
 * Validates IPaddr/IPaddr2 arguments: IP[/mask[/nic[/broadcast]]] followed by
 * arp_count=N / arp_interval=MS. Accepts the same spellings as the native
 * agent (src/agents/ipaddr.ts), so check-config never passes a resource the
 * daemon later refuses: mask as 1-32 or a dotted netmask (the OCF agents take
 * both), an empty mask field, "IP/nic", and an ifconfig-style "eth0:0" label.
 */
function ipAgentProblem(agent: string, args: string[]): string | undefined {
  const [first, ...options] = args;
  if (first === undefined) {
    return `${agent} needs an address, e.g. ${agent}::10.0.0.5/24/eth0`;
  }
  const parts = first.split('/');
  if (parts.length > 4) return `'${first}' has too many '/' fields (IP/cidr/nic/broadcast at most)`;
  const [ip = '', mask = '', nicField = '', broadcast = ''] = parts;
  if (!isIPv4(ip)) return `'${ip}' is not an IPv4 address`;
  const bad = unicastProblem(ip);
  if (bad) return `${ip} ${bad} and cannot be a service address`;
  let nic = nicField;
  if (mask !== '') {
    if (/^[0-9]+$/.test(mask)) {
      const n = parseUInt(mask);
      if (n === undefined || n < 1 || n > 32) return `netmask '/${mask}' must be a prefix length from 1 to 32`;
    } else if (isIPv4(mask)) {
      const n = dottedMaskPrefix(mask);
      if (n === undefined || n === 0) return `'${mask}' is not a valid netmask`;
    } else if (parts.length === 2) {
      nic = mask;
    } else {
      return `netmask '${mask}' must be a prefix length from 1 to 32 or a dotted netmask`;
    }
  }
  if (nic !== '') {
    const [dev = '', label] = nic.split(/:(.*)/s);
    const problem = ifaceNameProblem(dev) ?? (NIC_NAME.test(dev) ? undefined : 'may only contain letters, digits, "_", ".", "@" and "-"');
    if (problem) return `interface name '${dev}' ${problem}`;
    if (label !== undefined && (label === '' || Buffer.byteLength(nic) > 15)) {
      return `interface label '${nic}' must be DEVICE:LABEL within 15 characters`;
    }
  }
  if (broadcast !== '' && !isIPv4(broadcast)) {
    return `broadcast '${broadcast}' is not an IPv4 address`;
  }
  const given = new Set<string>();
  for (const opt of options) {
    const eq = opt.indexOf('=');
    const key = eq > 0 ? opt.slice(0, eq) : '';
    const range = IP_OPTIONS.get(key);
    if (!range) {
      return `unknown argument '${opt}' (after the address only arp_count=N and arp_interval=MS are accepted)`;
    }
    if (given.has(key)) return `${key} is given twice`;
    given.add(key);
    const value = opt.slice(eq + 1);
    const n = parseUInt(value);
    if (n === undefined || n < 1 || n > range.max) {
      return `${key} must be a whole number from 1 to ${range.max}${range.unit} (got '${value}')`;
    }
  }
  return undefined;
}

/**
 * How logs and `tandem status` name a group. Its identity stays the first
 * resource as written (Heartbeat's convention, and the key in the state dir
 * and at the arbiter), but "IPaddr2::10.0.0.5/24/eth0::arp_count=5" on every
 * line says less than the address: a group that starts with an address is
 * named by it; any other by its first resource.
 */
export function groupLabel(name: string): string {
  const parsed = parseResourceSpec(name);
  if (typeof parsed === 'string') return name;
  if (BUILTIN_AGENTS.has(parsed.agent)) return (parsed.args[0] ?? name).split('/')[0] || name;
  return name;
}
