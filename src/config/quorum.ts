// The quorum directives of ha.cf (docs/quorum.md, "Configuration"): ping
// nodes, ipfail and the arbiter. hacf.ts hands their lines here, like the
// fencing lines, because the defaults depend on deadtime and the checks on
// each other.

import type { ArbiterSetting, ConfigIssue, QuorumSettings } from './types.js';
import { escapeControls, isIPv4, unicastProblem } from './common.js';
import { applyKeywords, keywordNames, timeArg, type AddIssue, type Directive, type Keyword, type KeywordTable } from './keywords.js';
import { UserError } from '../util/errors.js';
import { parseArbiterAddress, parseEtcdUrl } from '../quorum/endpoints.js';
import { defaultLeaseConfig, leaseConfigProblems } from '../quorum/lease.js';
import { defaultIpfail } from '../quorum/decide.js';

export type { ArbiterSetting, QuorumSettings } from './types.js';

/** One ha.cf line that belongs to this module. */
export type QuorumLine = Directive;

interface QuorumState {
  add: AddIssue;
  ping: string[];
  pingGroups: QuorumSettings['pingGroups'];
  targetLine: Map<string, number>;   // target name or address -> line
  deadping?: number;
  ipfail?: { on: boolean; line: number };
  delay?: number;
  dwell?: number;
  arbiter?: ArbiterSetting;
  arbiterLine: number;
  keys?: string;
  ttl?: { ms: number; line: number };
  safety?: { ms: number; line: number };
}

const TIME_VALUE = 'a time: seconds, or Nms';

/** A time greater than zero, or undefined after reporting why not. */
function timeValue(s: QuorumState, d: Directive, v: string): number | undefined {
  return timeArg(s.add, d, v, (ms) => (ms <= 0 ? 'must be greater than zero' : undefined));
}

function addrOk(s: QuorumState, d: Directive, a: string): boolean {
  if (!isIPv4(a)) {
    s.add(d.line, `'${d.directive}' address '${a}' is not an IPv4 address`);
    return false;
  }
  const bad = unicastProblem(a);
  if (bad) {
    s.add(d.line, `'${d.directive}' address ${a} ${bad}`);
    return false;
  }
  return true;
}

/** A lease time, kept with its line for the checks against the other lease settings. */
function leaseTime(name: string, field: 'ttl' | 'safety'): Keyword<QuorumState> {
  return {
    name,
    once: true,
    one: TIME_VALUE,
    apply(s, d, v) {
      const ms = timeValue(s, d, v);
      if (ms !== undefined) s[field] = { ms, line: d.line };
    },
  };
}

/** ha.cf's quorum keywords: ping nodes, ipfail and the arbiter. */
export const QUORUM_KEYWORDS: KeywordTable<QuorumState> = [
  {
    name: 'ping',
    apply(s, d) {
      if (d.args.length === 0) { s.add(d.line, `'ping' needs at least one IPv4 address, e.g. 'ping 192.0.2.1'`); return; }
      for (const a of d.args) {
        if (!addrOk(s, d, a)) continue;
        const prev = s.targetLine.get(a);
        if (prev !== undefined) { s.add(d.line, `ping target ${a} is already given at line ${prev}`); continue; }
        s.targetLine.set(a, d.line);
        s.ping.push(a);
      }
    },
  },
  {
    name: 'ping_group',
    apply(s, d) {
      const [name = '', ...addrs] = d.args;
      if (addrs.length === 0) { s.add(d.line, `'ping_group' takes a name and at least one IPv4 address (ping_group NAME IP...)`); return; }
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name) || isIPv4(name)) {
        s.add(d.line, `'ping_group' name '${name}' must be letters, digits, '.', '_' or '-' and not an address`);
        return;
      }
      const prev = s.targetLine.get(name);
      if (prev !== undefined) { s.add(d.line, `ping_group ${name} is already given at line ${prev}`); return; }
      const ok = addrs.filter((a) => addrOk(s, d, a));
      if (ok.length !== addrs.length) return;
      s.targetLine.set(name, d.line);
      s.pingGroups.push({ name, addrs: [...new Set(ok)] });
    },
  },
  { name: 'deadping', once: true, one: TIME_VALUE, apply(s, d, v) { s.deadping = timeValue(s, d, v); } },
  {
    name: 'ipfail',
    once: true,
    apply(s, d) {
      const v = d.args.length === 1 ? d.args[0]!.toLowerCase() : '';
      if (['on', 'yes', 'true', '1'].includes(v)) s.ipfail = { on: true, line: d.line };
      else if (['off', 'no', 'false', '0'].includes(v)) s.ipfail = { on: false, line: d.line };
      else s.add(d.line, `'ipfail' must be on or off (got '${d.args.join(' ')}')`);
    },
  },
  { name: 'ipfail_delay', once: true, one: TIME_VALUE, apply(s, d, v) { s.delay = timeValue(s, d, v); } },
  { name: 'ipfail_dwell', once: true, one: TIME_VALUE, apply(s, d, v) { s.dwell = timeValue(s, d, v); } },
  {
    name: 'arbiter',
    once: true,
    apply(s, d) {
      // The ha.cf tokenizer splits on ',', which etcd endpoint lists use.
      const v = d.args.join(',');
      if (d.args.length === 0) { s.add(d.line, `'arbiter' takes HOST:PORT or etcd://HOST:PORT[,HOST:PORT...]/PREFIX`); return; }
      try {
        if (v.startsWith('etcd://')) { parseEtcdUrl(v); s.arbiter = { kind: 'etcd', url: v }; }
        else if (d.args.length !== 1) s.add(d.line, `'arbiter' takes one HOST:PORT (got '${d.args.join(' ')}')`);
        else { parseArbiterAddress(v); s.arbiter = { kind: 'arbiter', address: v }; }
        s.arbiterLine = d.line;
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        s.add(d.line, e.message);
      }
    },
  },
  {
    name: 'arbiter_keys',
    once: true,
    apply(s, d) {
      if (d.args.length !== 1 || !d.args[0]!.startsWith('/')) { s.add(d.line, `'arbiter_keys' takes the absolute path of an authkeys-format file`); return; }
      s.keys = d.args[0];
    },
  },
  leaseTime('arbiter_ttl', 'ttl'),
  leaseTime('arbiter_safety', 'safety'),
];

/** ha.cf directives this module parses. */
export const QUORUM_DIRECTIVES: ReadonlySet<string> = keywordNames(QUORUM_KEYWORDS);

/**
 * Parses every quorum line of one ha.cf. Returns settings only when there is
 * at least one line and no issue; no lines = no quorum (Heartbeat's rules).
 */
export function parseQuorum(lines: QuorumLine[], file: string, deadtimeMs: number): { settings?: QuorumSettings; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (lines.length === 0) return { issues };
  const add: AddIssue = (line, message) => { issues.push({ file, line, message: escapeControls(message) }); };
  const seen = new Map<string, number>();
  const s: QuorumState = { add, ping: [], pingGroups: [], targetLine: new Map(), arbiterLine: 0 };
  applyKeywords(QUORUM_KEYWORDS, s, lines, add, { seen });
  const { ping, pingGroups, deadping, ipfail, delay, dwell, arbiter, arbiterLine, keys, ttl, safety } = s;

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
