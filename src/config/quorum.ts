// The quorum directives of ha.cf (docs/quorum.md, "Configuration"): ping
// nodes, ipfail and the arbiter. hacf.ts hands their lines here, like the
// fencing lines, because the defaults depend on deadtime and the checks on
// each other.

import type { ArbiterSetting, ConfigIssue, QuorumSettings } from './types.js';
import { isIPv4, oncePerFile, unicastProblem } from './common.js';
import { parseTime } from './time.js';
import { UserError } from '../util/errors.js';
import { parseArbiterAddress, parseEtcdUrl } from '../quorum/endpoints.js';
import { defaultLeaseConfig, leaseConfigProblems } from '../quorum/lease.js';
import { defaultIpfail } from '../quorum/decide.js';

/** ha.cf directives this module parses. */
export const QUORUM_DIRECTIVES: ReadonlySet<string> = new Set([
  'ping', 'ping_group', 'deadping', 'ipfail', 'ipfail_delay', 'ipfail_dwell',
  'arbiter', 'arbiter_keys', 'arbiter_ttl', 'arbiter_safety',
]);

export type { ArbiterSetting, QuorumSettings } from './types.js';

export interface QuorumLine {
  directive: string;
  args: string[];
  line: number;
}

/**
 * Parses every quorum line of one ha.cf. Returns settings only when there is
 * at least one line and no issue; no lines = no quorum (Heartbeat's rules).
 */
export function parseQuorum(lines: QuorumLine[], file: string, deadtimeMs: number): { settings?: QuorumSettings; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (lines.length === 0) return { issues };
  const add = (line: number, message: string) => issues.push({ file, line, message });
  const seen = new Map<string, number>();
  const once = oncePerFile(add, seen);
  const time = (l: QuorumLine): number | undefined => {
    if (l.args.length !== 1) {
      add(l.line, `'${l.directive}' takes exactly one value (a time: seconds, or Nms), got ${l.args.length}`);
      return undefined;
    }
    try {
      const ms = parseTime(l.args[0]!);
      if (ms <= 0) {
        add(l.line, `'${l.directive}' must be greater than zero (got '${l.args[0]}')`);
        return undefined;
      }
      return ms;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      add(l.line, `'${l.directive}': ${e.message}`);
      return undefined;
    }
  };
  const addrOk = (l: QuorumLine, a: string): boolean => {
    if (!isIPv4(a)) {
      add(l.line, `'${l.directive}' address '${a}' is not an IPv4 address`);
      return false;
    }
    const bad = unicastProblem(a);
    if (bad) {
      add(l.line, `'${l.directive}' address ${a} ${bad}`);
      return false;
    }
    return true;
  };

  const ping: string[] = [];
  const pingGroups: QuorumSettings['pingGroups'] = [];
  const targetLine = new Map<string, number>();   // target name or address -> line
  let deadping: number | undefined;
  let ipfail: { on: boolean; line: number } | undefined;
  let delay: number | undefined;
  let dwell: number | undefined;
  let arbiter: ArbiterSetting | undefined;
  let arbiterLine = 0;
  let keys: string | undefined;
  let ttl: { ms: number; line: number } | undefined;
  let safety: { ms: number; line: number } | undefined;

  for (const l of lines) {
    switch (l.directive) {
      case 'ping': {
        if (l.args.length === 0) { add(l.line, `'ping' needs at least one IPv4 address, e.g. 'ping 192.0.2.1'`); break; }
        for (const a of l.args) {
          if (!addrOk(l, a)) continue;
          const prev = targetLine.get(a);
          if (prev !== undefined) { add(l.line, `ping target ${a} is already given at line ${prev}`); continue; }
          targetLine.set(a, l.line);
          ping.push(a);
        }
        break;
      }
      case 'ping_group': {
        const [name = '', ...addrs] = l.args;
        if (addrs.length === 0) { add(l.line, `'ping_group' takes a name and at least one IPv4 address (ping_group NAME IP...)`); break; }
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name) || isIPv4(name)) {
          add(l.line, `'ping_group' name '${name}' must be letters, digits, '.', '_' or '-' and not an address`);
          break;
        }
        const prev = targetLine.get(name);
        if (prev !== undefined) { add(l.line, `ping_group ${name} is already given at line ${prev}`); break; }
        const ok = addrs.filter((a) => addrOk(l, a));
        if (ok.length !== addrs.length) break;
        targetLine.set(name, l.line);
        pingGroups.push({ name, addrs: [...new Set(ok)] });
        break;
      }
      case 'deadping':
        if (once(l)) deadping = time(l);
        break;
      case 'ipfail': {
        if (!once(l)) break;
        const v = l.args.length === 1 ? l.args[0]!.toLowerCase() : '';
        if (['on', 'yes', 'true', '1'].includes(v)) ipfail = { on: true, line: l.line };
        else if (['off', 'no', 'false', '0'].includes(v)) ipfail = { on: false, line: l.line };
        else add(l.line, `'ipfail' must be on or off (got '${l.args.join(' ')}')`);
        break;
      }
      case 'ipfail_delay':
        if (once(l)) delay = time(l);
        break;
      case 'ipfail_dwell':
        if (once(l)) dwell = time(l);
        break;
      case 'arbiter': {
        if (!once(l)) break;
        // The ha.cf tokenizer splits on ',', which etcd endpoint lists use.
        const v = l.args.join(',');
        if (l.args.length === 0) { add(l.line, `'arbiter' takes HOST:PORT or etcd://HOST:PORT[,HOST:PORT...]/PREFIX`); break; }
        try {
          if (v.startsWith('etcd://')) { parseEtcdUrl(v); arbiter = { kind: 'etcd', url: v }; }
          else if (l.args.length !== 1) add(l.line, `'arbiter' takes one HOST:PORT (got '${l.args.join(' ')}')`);
          else { parseArbiterAddress(v); arbiter = { kind: 'arbiter', address: v }; }
          arbiterLine = l.line;
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          add(l.line, e.message);
        }
        break;
      }
      case 'arbiter_keys': {
        if (!once(l)) break;
        if (l.args.length !== 1 || !l.args[0]!.startsWith('/')) { add(l.line, `'arbiter_keys' takes the absolute path of an authkeys-format file`); break; }
        keys = l.args[0];
        break;
      }
      case 'arbiter_ttl': {
        if (!once(l)) break;
        const ms = time(l);
        if (ms !== undefined) ttl = { ms, line: l.line };
        break;
      }
      case 'arbiter_safety': {
        if (!once(l)) break;
        const ms = time(l);
        if (ms !== undefined) safety = { ms, line: l.line };
        break;
      }
    }
  }

  const anyTarget = ping.length + pingGroups.length > 0;
  const hadTargetLine = lines.some((l) => l.directive === 'ping' || l.directive === 'ping_group');
  if (ipfail?.on && !anyTarget && !hadTargetLine) add(ipfail.line, `'ipfail on' needs at least one ping or ping_group target`);
  for (const l of lines) {
    if ((l.directive === 'ipfail_delay' || l.directive === 'ipfail_dwell' || l.directive === 'deadping') && !hadTargetLine) {
      add(l.line, `'${l.directive}' has no effect without a ping or ping_group target`);
    }
    if ((l.directive === 'arbiter_keys' || l.directive === 'arbiter_ttl' || l.directive === 'arbiter_safety') && !seen.has('arbiter')) {
      add(l.line, `'${l.directive}' has no effect without an 'arbiter' line`);
    }
  }
  if (keys !== undefined && arbiter?.kind === 'etcd') add(seen.get('arbiter_keys')!, `'arbiter_keys' applies to tandem's arbiter, not to etcd`);

  const deadpingMs = deadping ?? deadtimeMs;
  const def = defaultLeaseConfig('-', deadtimeMs);
  const ttlMs = ttl?.ms ?? def.ttlMs;
  const safetyMs = safety?.ms ?? Math.min(500, Math.round(ttlMs / 10));
  if (arbiter?.kind === 'etcd' && ttl && (ttl.ms % 1000 !== 0 || ttl.ms < 2000)) {
    add(ttl.line, `'arbiter_ttl' with etcd must be whole seconds, at least 2 (got ${ttl.ms} ms)`);
  } else if (arbiter) {
    const p = leaseConfigProblems({ ...def, ttlMs, safetyMs, retryMs: Math.max(100, Math.round(ttlMs / 10)) });
    if (p.length) add(safety?.line ?? ttl?.line ?? arbiterLine, `arbiter lease: ${p.join('; ')}`);
  }

  if (issues.length) return { issues };
  const ipDefault = defaultIpfail(deadpingMs);
  const settings: QuorumSettings = {
    ping, pingGroups, deadpingMs,
    ipfail: { enabled: ipfail ? ipfail.on : anyTarget, delayMs: delay ?? ipDefault.delayMs, dwellMs: dwell ?? ipDefault.dwellMs },
    arbiterTtlMs: ttlMs, arbiterSafetyMs: safetyMs,
    ...(arbiter ? { arbiter } : {}),
    ...(keys !== undefined ? { arbiterKeys: keys } : {}),
  };
  return { settings, issues };
}
