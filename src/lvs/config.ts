// LVS's keepalived.conf keywords and the model they produce: the tables for
// `virtual_server` (IP PORT, fwmark N, group NAME), `real_server`,
// `sorry_server`, the health checkers (TCP_CHECK, HTTP_GET, SSL_GET,
// MISC_CHECK, SMTP_CHECK, DNS_CHECK) and `virtual_server_group`, and
// finishLvs(), which applies keepalived's defaults and checks what needs the
// whole block or file. Pure: the syntax comes from keepalived-lexer.ts, and
// script permissions are checked by src/config/keepalived.ts on this model.
//
// The verdict follows `keepalived -t` (2.2.7): what it reports (and so
// refuses, exit 5) is an error here, with the line; what it accepts and
// tandem does not carry out is a warning at its line.

import { nested, type Directive, type Keyword, type KeywordTable } from '../config/keywords.js';
import { parseIp, type Family } from '../net/addr.js';
import { at, command, intIn, none, notImplemented, one, type HasReport, type KaReport, type VrrpCommand, type Where } from '../vrrp/config.js';

// ---- the model ------------------------------------------------------------------

export const LB_ALGOS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf'] as const;
export type LbAlgo = typeof LB_ALGOS[number];
export type LbKind = 'NAT' | 'DR' | 'TUN';
export type LvsProtocol = 'TCP' | 'UDP' | 'SCTP';
export type CheckerType = 'TCP_CHECK' | 'HTTP_GET' | 'SSL_GET' | 'MISC_CHECK' | 'SMTP_CHECK' | 'DNS_CHECK';

export interface UrlSpec extends Where {
  path: string;
  /** Accepted status codes; empty: any 2xx (keepalived's default). */
  statusCodes: Array<[number, number]>;
  /** MD5 of the body, lower-case hex. */
  digest?: string;
  virtualhost?: string;
}

export interface CheckerSpec extends Where {
  type: CheckerType;
  /** Where the check connects: connect_ip/connect_port, else the real server's. */
  ip: string;
  port: number;
  bindTo?: string;
  connectTimeoutMs: number;
  /** Failed attempts retried before the server is down: down after retry + 1 failures in a row. */
  retry: number;
  delayBeforeRetryMs: number;
  /** The first check waits a random time up to this (spreads a start's checks). */
  warmupMs: number;
  delayLoopMs: number;
  /** Starts down (until its first success) rather than up. */
  alpha: boolean;
  urls: UrlSpec[];
  virtualhost?: string;
  /** HTTP/1.0 (keepalived's default) or 1.1. */
  httpVersion: '1.0' | '1.1';
  misc?: { command: VrrpCommand; timeoutMs: number; dynamic: boolean };
  heloName: string;
  dns: { type: DnsType; name: string };
}

export const DNS_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 } as const;
export type DnsType = keyof typeof DNS_TYPES;

export interface RealServerSpec extends Where {
  ip: string;
  family: Family;
  /** 0 for a fwmark service (the packet's own port is kept). */
  port: number;
  weight: number;
  inhibitOnFailure: boolean;
  checkers: CheckerSpec[];
  notifyUp?: VrrpCommand;
  notifyDown?: VrrpCommand;
  /** Direct routing, NAT or tunnel: the service's lb_kind unless the real server says otherwise. */
  lbKind: LbKind;
  upperThreshold: number;
  lowerThreshold: number;
}

/** One address the service answers on: IP PORT, or a fwmark. */
export type VsAddress = { kind: 'addr'; ip: string; family: Family; port: number } | { kind: 'fwmark'; mark: number; family: Family };

export interface VirtualServerSpec extends Where {
  /** How the file names it, for logs and status: "10.0.0.1:80 TCP", "fwmark 1", "group WEB". */
  name: string;
  /** What the kernel gets: one address, or each member of a virtual_server_group. */
  addresses: VsAddress[];
  family: Family;
  protocol: LvsProtocol;
  delayLoopMs: number;
  lbAlgo: LbAlgo;
  lbKind: LbKind;
  /** Seconds; 0: no persistence. */
  persistenceTimeout: number;
  /** Persistence netmask: IPv4 prefix length (from the dotted mask) or IPv6 prefix length. */
  persistenceGranularity: number;
  sorryServer?: { ip: string; family: Family; port: number; lbKind: LbKind } & Where;
  /** Keep the sorry server in (weight 0) while real servers are up, rather than adding it only when they are all down. */
  sorryServerInhibit: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp?: VrrpCommand;
  quorumDown?: VrrpCommand;
  /** Real servers start down until their checks pass. */
  alpha: boolean;
  /** At stop, notify_down and quorum_down run for what was up. */
  omega: boolean;
  /** Checks pause while this node does not hold the virtual address. */
  haSuspend: boolean;
  realServers: RealServerSpec[];
}

export interface VsGroupSpec extends Where {
  name: string;
  members: VsAddress[];
}

export interface LvsConfig {
  services: VirtualServerSpec[];
  groups: VsGroupSpec[];
  /** global_defs checker_priority: the checker worker thread's nice value (default CHECKER_NICE, src/lvs/checkers.ts). */
  checkerNice?: Where & { nice: number };
}

// ---- parse state ---------------------------------------------------------------

interface CheckerDraft extends HasReport {
  d: Directive;
  type: CheckerType;
  connectIp?: string;
  connectPort?: number;
  bindTo?: string;
  connectTimeoutMs?: number;
  retry?: number;
  delayBeforeRetryMs?: number;
  warmupMs?: number;
  delayLoopMs?: number;
  alpha?: boolean;
  urls: Array<Partial<UrlSpec> & Where & { d: Directive }>;
  virtualhost?: string;
  httpVersion?: '1.0' | '1.1';
  miscPath?: VrrpCommand;
  miscTimeoutMs?: number;
  miscDynamic: boolean;
  miscUser?: { name: string; group?: string };
  heloName?: string;
  dnsType?: DnsType;
  dnsName?: string;
}

/** Timing values a virtual_server or real_server gives its checkers as defaults. */
interface CheckDefaults {
  connectTimeoutMs?: number;
  retry?: number;
  delayBeforeRetryMs?: number;
  warmupMs?: number;
  delayLoopMs?: number;
  virtualhost?: string;
  inhibitOnFailure?: boolean;
  alpha?: boolean;
}

interface RsDraft extends HasReport, CheckDefaults {
  d: Directive;
  ip?: { text: string; family: Family };
  port?: number;
  weight?: number;
  checkers: CheckerDraft[];
  notifyUp?: VrrpCommand;
  notifyDown?: VrrpCommand;
  lbKind?: LbKind;
  upperThreshold: number;
  lowerThreshold: number;
}

interface VsDraft extends HasReport, CheckDefaults {
  d: Directive;
  protocol?: LvsProtocol;
  lbAlgo?: LbAlgo;
  lbKind?: LbKind;
  family?: Family;
  persistenceTimeout?: number;
  persistenceGranularity?: { v: number; family: Family; d: Directive };
  sorry?: VirtualServerSpec['sorryServer'];
  sorryKind?: LbKind;
  sorryServerInhibit: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp?: VrrpCommand;
  quorumDown?: VrrpCommand;
  omega: boolean;
  haSuspend: boolean;
  weight?: number;
  rs: RsDraft[];
}

interface GroupDraft extends HasReport {
  d: Directive;
  members: VsAddress[];
}

export interface LvsParse {
  r: KaReport;
  services: VsDraft[];
  groups: GroupDraft[];
  checkerNice?: Where & { nice: number };
}

export function newLvsParse(r: KaReport): LvsParse {
  return { r, services: [], groups: [] };
}

// ---- value helpers -------------------------------------------------------------

/** keepalived's decimal seconds ("3", "0.5"): more than 0, at most `hi`. */
function seconds(s: HasReport, d: Directive, v: string | undefined, hi = 4294, allowZero = false): number | undefined {
  if (v === undefined) return undefined;
  const n = /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || (allowZero ? n < 0 : n <= 0) || n > hi) {
    s.r.error(d, `'${d.directive}' must be ${allowZero ? '0 or more' : 'more than 0'} and at most ${hi} seconds (got '${v}')`);
    return undefined;
  }
  return Math.round(n * 1000);
}

function port(s: HasReport, d: Directive, v: string | undefined, what: string): number | undefined {
  return intIn(s, d, v, 0, 65535, what);
}

function ipOf(s: HasReport, d: Directive, v: string | undefined, what: string): { text: string; family: Family } | undefined {
  if (v === undefined) { s.r.error(d, `${what} needs an address`); return undefined; }
  const ip = parseIp(v);
  if (!ip) { s.r.error(d, `${what}: '${v}' is not an IPv4 or IPv6 address`); return undefined; }
  return { text: ip.text, family: ip.family };
}

function lbKind(s: HasReport, d: Directive): LbKind | undefined {
  const v = one(s, d, 'NAT, DR or TUN');
  if (v === undefined) return undefined;
  const k = v.toUpperCase();
  if (k === 'NAT' || k === 'DR' || k === 'TUN') return k;
  s.r.error(d, `'${d.directive}' must be NAT, DR or TUN (got '${v}')`);
  return undefined;
}

/** Keywords every level above a checker may give as a default for its checkers. */
function defaultsKeywords<S extends HasReport & CheckDefaults>(): Keyword<S>[] {
  return [
    { name: 'connect_timeout', apply: (s, d) => { const v = seconds(s, d, one(s, d, 'seconds')); if (v !== undefined) s.connectTimeoutMs = v; } },
    { name: 'retry', aliases: ['nb_get_retry'], apply: (s, d) => { retryOf(s, d, (v) => { s.retry = v; }); } },
    { name: 'delay_before_retry', apply: (s, d) => { const v = seconds(s, d, one(s, d, 'seconds'), 4294, true); if (v !== undefined) s.delayBeforeRetryMs = v; } },
    { name: 'warmup', apply: (s, d) => { const v = seconds(s, d, one(s, d, 'seconds'), 4294, true); if (v !== undefined) s.warmupMs = v; } },
    { name: 'delay_loop', apply: (s, d) => { const v = seconds(s, d, one(s, d, 'seconds')); if (v !== undefined) s.delayLoopMs = v; } },
    { name: 'virtualhost', apply: (s, d) => { const v = one(s, d, 'a host name'); if (v !== undefined) s.virtualhost = v; } },
    { name: 'inhibit_on_failure', apply: (s, d) => { s.inhibitOnFailure = d.args[0] === undefined ? true : onOff(s, d); } },
    { name: 'alpha', apply: (s, d) => { s.alpha = d.args[0] === undefined ? true : onOff(s, d); } },
  ];
}

function retryOf(s: HasReport, d: Directive, set: (v: number) => void): void {
  if (d.directive === 'nb_get_retry') s.r.warn(d, "'nb_get_retry' is deprecated (keepalived 2.x): it means 'retry'");
  const v = intIn(s, d, one(s, d, 'a count'), 0, 2147483647);
  if (v !== undefined) set(v);
}

function onOff(s: HasReport, d: Directive): boolean {
  const v = d.args[0]!.toLowerCase();
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  s.r.error(d, `'${d.directive}' takes no value, or on/off (got '${d.args[0]}')`);
  return false;
}

// ---- checkers -------------------------------------------------------------------

/** A range list as keepalived's status_code takes it: "200", "200-299", several on a line. */
function statusCodes(s: HasReport, d: Directive): Array<[number, number]> | undefined {
  if (d.args.length === 0) { s.r.error(d, "'status_code' needs a code or range (200, 200-299)"); return undefined; }
  const out: Array<[number, number]> = [];
  for (const a of d.args) {
    const m = /^([0-9]{3})(?:-([0-9]{3}))?$/.exec(a);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 100 || hi > 599 || hi < lo) { s.r.error(d, `'status_code' '${a}' is not an HTTP status or range from 100 to 599`); return undefined; }
    out.push([lo, hi]);
  }
  return out;
}

type UrlDraft = CheckerDraft['urls'][number] & HasReport;

const URL_KEYWORDS: KeywordTable<UrlDraft> = [
  { name: 'path', apply: (u, d) => { const v = one(u, d, 'a path'); if (v !== undefined) u.path = v; } },
  { name: 'status_code', apply: (u, d) => { const v = statusCodes(u, d); if (v) u.statusCodes = [...(u.statusCodes ?? []), ...v]; } },
  {
    name: 'digest',
    apply: (u, d) => {
      const v = one(u, d, 'an MD5 sum, 32 hex digits');
      if (v === undefined) return;
      if (!/^[0-9a-fA-F]{32}$/.test(v)) { u.r.error(d, `'digest' must be an MD5 sum of 32 hex digits (got '${v}'; keepalived -t refuses it too)`); return; }
      u.digest = v.toLowerCase();
    },
  },
  { name: 'virtualhost', apply: (u, d) => { const v = one(u, d, 'a host name'); if (v !== undefined) u.virtualhost = v; } },
  ...notImplemented<UrlDraft>(['regex', 'regex_no_match', 'regex_options', 'regex_min_offset', 'regex_max_offset'], 'not implemented by tandem (the status code and digest are checked); ignored'),
];

const CONNECT_KEYWORDS: KeywordTable<CheckerDraft> = [
  { name: 'connect_ip', apply: (c, d) => { const v = ipOf(c, d, one(c, d, 'an address'), "'connect_ip'"); if (v) c.connectIp = v.text; } },
  { name: 'connect_port', apply: (c, d) => { const v = port(c, d, one(c, d, 'a port'), 'connect_port'); if (v !== undefined) c.connectPort = v; } },
  { name: 'bindto', apply: (c, d) => { const v = ipOf(c, d, one(c, d, 'an address'), "'bindto'"); if (v) c.bindTo = v.text; } },
  ...notImplemented<CheckerDraft>(['bind_port', 'bind_if', 'fwmark']),
];

const COMMON_CHECK_KEYWORDS: KeywordTable<CheckerDraft> = [
  ...defaultsKeywords<CheckerDraft>().filter((k) => k.name !== 'inhibit_on_failure' && k.name !== 'virtualhost'),
  ...notImplemented<CheckerDraft>(['log_all_failures']),
];

const HTTP_KEYWORDS: KeywordTable<CheckerDraft> = [
  ...COMMON_CHECK_KEYWORDS,
  ...CONNECT_KEYWORDS,
  {
    name: 'url',
    apply: () => {},
    block: nested(URL_KEYWORDS, (c: CheckerDraft, d) => {
      const u: UrlDraft = { ...at(d), d, r: c.r };
      c.urls.push(u);
      return u;
    }, (u, x) => u.r.error(x, `unknown keyword '${x.directive}' in url`)),
  },
  { name: 'virtualhost', apply: (c, d) => { const v = one(c, d, 'a host name'); if (v !== undefined) c.virtualhost = v; } },
  {
    name: 'http_protocol',
    apply: (c, d) => {
      const v = one(c, d, '1.0, 1.1 or 1.0C');
      if (v === '1.0' || v === '1.0C') c.httpVersion = '1.0';
      else if (v === '1.1') c.httpVersion = '1.1';
      else if (v !== undefined) c.r.error(d, `'http_protocol' must be 1.0, 1.0C or 1.1 (got '${v}')`);
    },
  },
  ...notImplemented<CheckerDraft>(['enable_sni', 'fast_recovery']),
];

const TCP_KEYWORDS: KeywordTable<CheckerDraft> = [...COMMON_CHECK_KEYWORDS, ...CONNECT_KEYWORDS];

const MISC_KEYWORDS: KeywordTable<CheckerDraft> = [
  ...COMMON_CHECK_KEYWORDS,
  { name: 'misc_path', apply: (c, d) => { const v = command(c, d); if (v) c.miscPath = v; } },
  { name: 'misc_timeout', apply: (c, d) => { const v = seconds(c, d, one(c, d, 'seconds')); if (v !== undefined) c.miscTimeoutMs = v; } },
  { name: 'misc_dynamic', apply: (c, d) => { none(c, d); c.miscDynamic = true; } },
  {
    name: 'user',
    apply: (c, d) => {
      if (d.args.length < 1 || d.args.length > 2) { c.r.error(d, `'user' takes a user and optionally a group, got ${d.args.length} values`); return; }
      c.miscUser = { name: d.args[0]!, ...(d.args[1] !== undefined ? { group: d.args[1] } : {}) };
    },
  },
];

const SMTP_KEYWORDS: KeywordTable<CheckerDraft> = [
  ...COMMON_CHECK_KEYWORDS,
  ...CONNECT_KEYWORDS,
  { name: 'helo_name', apply: (c, d) => { const v = one(c, d, 'a name'); if (v !== undefined) c.heloName = v; } },
  ...notImplemented<CheckerDraft>(['host'], "not implemented by tandem (deprecated in keepalived: give each host its own SMTP_CHECK); ignored"),
];

const DNS_KEYWORDS: KeywordTable<CheckerDraft> = [
  ...COMMON_CHECK_KEYWORDS,
  ...CONNECT_KEYWORDS,
  {
    name: 'type',
    apply: (c, d) => {
      const v = one(c, d, Object.keys(DNS_TYPES).join(', '));
      if (v === undefined) return;
      const t = v.toUpperCase();
      if (t in DNS_TYPES) c.dnsType = t as DnsType;
      else c.r.error(d, `'type' must be one of ${Object.keys(DNS_TYPES).join(', ')} (got '${v}'; keepalived -t refuses it too)`);
    },
  },
  { name: 'name', apply: (c, d) => { const v = one(c, d, 'a domain name'); if (v !== undefined) c.dnsName = v; } },
];

const CHECKER_TABLES: Record<CheckerType, KeywordTable<CheckerDraft>> = {
  TCP_CHECK: TCP_KEYWORDS, HTTP_GET: HTTP_KEYWORDS, SSL_GET: HTTP_KEYWORDS, MISC_CHECK: MISC_KEYWORDS, SMTP_CHECK: SMTP_KEYWORDS, DNS_CHECK: DNS_KEYWORDS,
};

function checkerKeyword(type: CheckerType): Keyword<RsDraft> {
  return {
    name: type,
    apply: (s, d) => none(s, d),
    block: nested(CHECKER_TABLES[type], (rs: RsDraft, d) => {
      const c: CheckerDraft = { d, type, urls: [], miscDynamic: false, r: rs.r };
      rs.checkers.push(c);
      return c;
    }, (c, x) => c.r.error(x, `unknown keyword '${x.directive}' in ${type}`)),
  };
}

// ---- real_server / virtual_server ------------------------------------------------

const RS_KEYWORDS: KeywordTable<RsDraft> = [
  ...defaultsKeywords<RsDraft>(),
  { name: 'weight', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a weight, 0 or more'), 0, 2147483647, 'weight'); if (v !== undefined) s.weight = v; } },
  { name: 'notify_up', apply: (s, d) => { const c = command(s, d); if (c) s.notifyUp = c; } },
  { name: 'notify_down', apply: (s, d) => { const c = command(s, d); if (c) s.notifyDown = c; } },
  { name: 'lvs_method', apply: (s, d) => { const v = lbKind(s, d); if (v) s.lbKind = v; } },
  { name: 'uthreshold', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'connections'), 0, 2147483647); if (v !== undefined) s.upperThreshold = v; } },
  { name: 'lthreshold', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'connections'), 0, 2147483647); if (v !== undefined) s.lowerThreshold = v; } },
  ...(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK'] as const).map(checkerKeyword),
  ...(['BFD_CHECK', 'FILE_CHECK', 'PING_CHECK', 'UDP_CHECK'] as const).map((name): Keyword<RsDraft> => ({
    name,
    apply: (s, d) => s.r.warn(d, `'${name}' is not implemented by tandem; this real server is not checked by it`),
    block: { run: () => {} },
  })),
  ...notImplemented<RsDraft>(['smtp_alert', 'snmp_name']),
];

function sorryServer(s: VsDraft, d: Directive): void {
  const ip = ipOf(s, d, d.args[0], "'sorry_server'");
  if (!ip) return;
  const p = d.args[1] === undefined ? 0 : port(s, d, d.args[1], 'sorry_server port');
  if (p === undefined) return;
  s.sorry = { ...at(d), ip: ip.text, family: ip.family, port: p, lbKind: 'NAT' };
}

const VS_KEYWORDS: KeywordTable<VsDraft> = [
  ...defaultsKeywords<VsDraft>(),
  {
    name: 'lb_algo',
    aliases: ['lvs_sched'],
    apply: (s, d) => {
      const v = one(s, d, LB_ALGOS.join(' '));
      if (v === undefined) return;
      if ((LB_ALGOS as readonly string[]).includes(v)) s.lbAlgo = v as LbAlgo;
      else s.r.error(d, `'${d.directive}' '${v}' is not a scheduler (${LB_ALGOS.join(' ')}; keepalived -t refuses it too)`);
    },
  },
  { name: 'lb_kind', aliases: ['lvs_method'], apply: (s, d) => { const v = lbKind(s, d); if (v) s.lbKind = v; } },
  {
    name: 'protocol',
    apply: (s, d) => {
      const v = one(s, d, 'TCP, UDP or SCTP')?.toUpperCase();
      if (v === 'TCP' || v === 'UDP' || v === 'SCTP') s.protocol = v;
      else if (v !== undefined) s.r.error(d, `'protocol' must be TCP, UDP or SCTP (got '${d.args[0]}')`);
      // keepalived -t fails on it ("protocol specified for fwmark - protocol will be ignored").
      if (s.d.args[0] === 'fwmark') s.r.error(d, 'a fwmark virtual_server has no protocol (the mark selects the packets); remove this line');
    },
  },
  { name: 'persistence_timeout', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'seconds'), 1, 2678400); if (v !== undefined) s.persistenceTimeout = v; } },
  {
    name: 'persistence_granularity',
    apply: (s, d) => {
      const v = one(s, d, 'a netmask (255.255.255.0) or IPv6 prefix length');
      if (v === undefined) return;
      const mask = parseIp(v);
      if (mask?.family === 4) {
        const n = mask.bytes.readUInt32BE(0);
        const len = 32 - Math.log2(((~n) >>> 0) + 1);
        if (!Number.isInteger(len)) { s.r.error(d, `'persistence_granularity' ${v} is not a netmask`); return; }
        s.persistenceGranularity = { v: len, family: 4, d };
      } else if (/^[0-9]+$/.test(v) && Number(v) >= 1 && Number(v) <= 128) {
        s.persistenceGranularity = { v: Number(v), family: 6, d };
      } else s.r.error(d, `'persistence_granularity' must be a netmask (255.255.255.0) or an IPv6 prefix length (got '${v}')`);
    },
  },
  { name: 'sorry_server', apply: sorryServer },
  { name: 'sorry_server_inhibit', apply: (s, d) => { s.sorryServerInhibit = d.args[0] === undefined ? true : onOff(s, d); } },
  { name: 'sorry_server_lvs_method', apply: (s, d) => { const v = lbKind(s, d); if (v) s.sorryKind = v; } },
  { name: 'quorum', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a weight, 1 or more'), 1, 2147483647); if (v !== undefined) s.quorum = v; } },
  { name: 'hysteresis', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a weight, 0 or more'), 0, 2147483647); if (v !== undefined) s.hysteresis = v; } },
  { name: 'quorum_up', apply: (s, d) => { const c = command(s, d); if (c) s.quorumUp = c; } },
  { name: 'quorum_down', apply: (s, d) => { const c = command(s, d); if (c) s.quorumDown = c; } },
  { name: 'omega', apply: (s, d) => { none(s, d); s.omega = true; } },
  { name: 'ha_suspend', apply: (s, d) => { none(s, d); s.haSuspend = true; } },
  { name: 'weight', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a weight, 0 or more'), 0, 2147483647, 'weight'); if (v !== undefined) s.weight = v; } },
  {
    name: 'ip_family',
    apply: (s, d) => {
      const v = one(s, d, 'inet or inet6');
      if (v === 'inet') s.family = 4;
      else if (v === 'inet6') s.family = 6;
      else if (v !== undefined) s.r.error(d, `'ip_family' must be inet or inet6 (got '${v}')`);
    },
  },
  {
    name: 'real_server',
    apply: () => {},
    block: nested(RS_KEYWORDS, (vs: VsDraft, d) => {
      const rs: RsDraft = { d, checkers: [], r: vs.r, upperThreshold: 0, lowerThreshold: 0 };
      const ip = ipOf(vs, d, d.args[0], "'real_server'");
      if (ip) rs.ip = ip;
      if (d.args[1] !== undefined) {
        if (vs.d.args[0] === 'fwmark') vs.r.error(d, 'a real_server of a fwmark virtual_server takes no port (the packet keeps its own; keepalived -t refuses it too)');
        else { const p = port(vs, d, d.args[1], 'real_server port'); if (p !== undefined) rs.port = p; }
      }
      if (d.args.length > 2) vs.r.error(d, "'real_server' takes IP [PORT]");
      vs.rs.push(rs);
      return rs;
    }, (rs, x) => rs.r.error(x, `unknown keyword '${x.directive}' in real_server`)),
  },
  ...notImplemented<VsDraft>(['hashed', 'ops', 'persistence_engine', 'smtp_alert', 'snmp_name']),
];

/** A virtual_server_group line: `IP PORT`, `IP-LAST PORT` (a range of the last part), `fwmark N`. */
function groupMember(g: GroupDraft, d: Directive): void {
  const word = d.directive;
  if (word === 'fwmark') {
    const m = intIn(g, d, one(g, d, 'a mark, 1 or more'), 1, 0xffffffff, 'fwmark');
    if (m !== undefined) g.members.push({ kind: 'fwmark', mark: m, family: 4 });
    return;
  }
  const range = /^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(word);
  const first = parseIp(range ? `${range[1]}${range[2]}` : word);
  if (!first) { g.r.error(d, `virtual_server_group: '${word}' is not an address, a range (10.0.0.1-9) or 'fwmark N'`); return; }
  const p = port(g, d, d.args[0] ?? (g.r.error(d, `virtual_server_group: ${word} needs a port`), undefined), 'port');
  if (p === undefined) return;
  if (!range) { g.members.push({ kind: 'addr', ip: first.text, family: first.family, port: p }); return; }
  const lo = first.family === 4 ? Number(range[2]) : parseInt(range[2]!, 16);
  const hi = first.family === 4 ? Number(range[3]) : parseInt(range[3]!, 16);
  if (!(hi >= lo) || hi > (first.family === 4 ? 255 : 0xffff) || hi - lo > 255) { g.r.error(d, `virtual_server_group: range '${word}' must count up within its last part, at most 256 addresses`); return; }
  for (let i = lo; i <= hi; i++) {
    const ip = parseIp(`${range[1]}${first.family === 4 ? i : i.toString(16)}`);
    if (ip) g.members.push({ kind: 'addr', ip: ip.text, family: ip.family, port: p });
  }
}

export const LVS_GLOBAL_KEYWORDS: KeywordTable<LvsParse> = [
  {
    // keepalived's: the checker process's nice value. Here the checker worker thread's (Linux nice is per thread).
    name: 'checker_priority',
    apply: (p, d) => { const v = intIn(p, d, one(p, d, 'a nice value, -20 to 19'), -20, 19); if (v !== undefined) p.checkerNice = { ...at(d), nice: v }; },
  },
];

export const LVS_TOP_KEYWORDS: KeywordTable<LvsParse> = [
  {
    name: 'virtual_server',
    apply: (p, d) => {
      if (!d.block) p.r.error(d, "'virtual_server' has no '{ ... }' block");
      const ok = (d.args[0] === 'fwmark' || d.args[0] === 'group') ? d.args.length === 2 : d.args.length === 2;
      if (!ok) p.r.error(d, "'virtual_server' takes IP PORT, fwmark N or group NAME");
    },
    block: nested(VS_KEYWORDS, (p: LvsParse, d) => {
      const vs: VsDraft = { d, r: p.r, rs: [], sorryServerInhibit: false, quorum: 1, hysteresis: 0, omega: false, haSuspend: false };
      p.services.push(vs);
      return vs;
    }, (vs, x) => vs.r.error(x, `unknown keyword '${x.directive}' in virtual_server`)),
  },
  {
    name: 'virtual_server_group',
    apply: (p, d) => {
      if (!d.block) { p.r.error(d, "'virtual_server_group' has no '{ ... }' block"); return; }
      if (d.args.length !== 1) p.r.error(d, "'virtual_server_group' takes a name");
      const g: GroupDraft = { d, r: p.r, members: [] };
      for (const x of d.block) groupMember(g, x);
      p.groups.push(g);
    },
  },
];

// ---- whole-file rules ------------------------------------------------------------

const DEFAULT_DELAY_LOOP_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_DELAY_BEFORE_RETRY_MS = 1_000;
const DEFAULT_RETRY = 1;

/** Where a virtual_server's defaults and the real server's meet: the nearest level wins. */
function pick<K extends keyof CheckDefaults>(k: K, ...levels: CheckDefaults[]): CheckDefaults[K] | undefined {
  for (const l of levels) if (l[k] !== undefined) return l[k];
  return undefined;
}

function finishChecker(c: CheckerDraft, rs: RealServerSpec, rsd: RsDraft, vs: VsDraft, vsDelayMs: number): CheckerSpec | undefined {
  const { r } = c;
  const levels = [c as CheckDefaults, rsd, vs];
  if ((c.type === 'HTTP_GET' || c.type === 'SSL_GET') && c.urls.length === 0) {
    r.error(c.d, `${c.type} has no url block (keepalived -t refuses it too: the checker would be ignored)`);
    return undefined;
  }
  if (c.type === 'MISC_CHECK' && !c.miscPath) {
    r.error(c.d, 'MISC_CHECK has no misc_path (keepalived -t refuses it too: the checker would be skipped)');
    return undefined;
  }
  const urls: UrlSpec[] = [];
  for (const u of c.urls) {
    if (u.path === undefined) { r.error(u.d, 'url has no path'); continue; }
    const url: UrlSpec = { file: u.file, line: u.line, path: u.path, statusCodes: u.statusCodes ?? [] };
    if (u.digest !== undefined) url.digest = u.digest;
    if (u.virtualhost !== undefined) url.virtualhost = u.virtualhost;
    urls.push(url);
  }
  const delayLoopMs = c.delayLoopMs ?? rsd.delayLoopMs ?? vsDelayMs;
  const out: CheckerSpec = {
    ...at(c.d), type: c.type,
    ip: c.connectIp ?? rs.ip,
    port: c.connectPort ?? (c.type === 'DNS_CHECK' && rs.port === 0 ? 53 : c.type === 'SMTP_CHECK' && rs.port === 0 ? 25 : rs.port),
    connectTimeoutMs: pick('connectTimeoutMs', ...levels) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    retry: pick('retry', ...levels) ?? DEFAULT_RETRY,
    delayBeforeRetryMs: pick('delayBeforeRetryMs', ...levels) ?? DEFAULT_DELAY_BEFORE_RETRY_MS,
    warmupMs: pick('warmupMs', ...levels) ?? 0,
    delayLoopMs,
    alpha: pick('alpha', ...levels) ?? false,
    urls,
    httpVersion: c.httpVersion ?? '1.0',
    heloName: c.heloName ?? 'tandem',
    dns: { type: c.dnsType ?? 'SOA', name: c.dnsName ?? '.' },
  };
  if (c.bindTo !== undefined) out.bindTo = c.bindTo;
  const vh = c.virtualhost ?? rsd.virtualhost ?? vs.virtualhost;
  if (vh !== undefined) out.virtualhost = vh;
  if (c.miscPath) {
    const cmd: VrrpCommand = c.miscUser && !c.miscPath.user ? { ...c.miscPath, user: c.miscUser } : c.miscPath;
    out.misc = { command: cmd, timeoutMs: c.miscTimeoutMs ?? delayLoopMs, dynamic: c.miscDynamic };
  }
  if (c.type !== 'MISC_CHECK' && out.port === 0) {
    r.error(c.d, `${c.type} has no port to connect to: give connect_port (the real server has none)`);
    return undefined;
  }
  return out;
}

function vsName(d: Directive, protocol: LvsProtocol): string {
  if (d.args[0] === 'fwmark') return `fwmark ${d.args[1] ?? '?'}`;
  if (d.args[0] === 'group') return `group ${d.args[1] ?? '?'}`;
  const ip = parseIp(d.args[0] ?? '');
  const host = ip?.family === 6 ? `[${ip.text}]` : ip?.text ?? d.args[0] ?? '?';
  return `${host}:${d.args[1] ?? '?'} ${protocol}`;
}

/** keepalived's defaults and the checks that need a whole block or the whole file; errors at their lines. */
export function finishLvs(p: LvsParse): LvsConfig {
  const { r } = p;
  const groups: VsGroupSpec[] = [];
  const groupNames = new Map<string, Directive>();
  for (const g of p.groups) {
    const name = g.d.args[0] ?? '';
    const prev = groupNames.get(name);
    if (prev) { r.error(g.d, `virtual_server_group ${name} is defined twice (first at line ${prev.line})`); continue; }
    groupNames.set(name, g.d);
    if (g.members.length === 0) r.error(g.d, `virtual_server_group ${name} has no members`);
    groups.push({ ...at(g.d), name, members: g.members });
  }
  const services: VirtualServerSpec[] = [];
  const seen = new Map<string, Directive>();
  for (const vs of p.services) {
    const d = vs.d;
    const kind = d.args[0] === 'fwmark' ? 'fwmark' : d.args[0] === 'group' ? 'group' : 'addr';
    let addresses: VsAddress[] = [];
    let family: Family = vs.family ?? 4;
    if (kind === 'fwmark') {
      const m = intIn(vs, d, d.args[1], 1, 0xffffffff, 'fwmark');
      if (m === undefined) continue;
      addresses = [{ kind: 'fwmark', mark: m, family }];
    } else if (kind === 'group') {
      const g = groups.find((x) => x.name === d.args[1]);
      if (!g) { r.error(d, `virtual_server group ${d.args[1] ?? ''}: no virtual_server_group of that name`); continue; }
      addresses = g.members.map((m) => (m.kind === 'fwmark' ? { ...m, family } : m));
      family = addresses.find((a) => a.kind === 'addr')?.family ?? family;
    } else {
      const ip = ipOf(vs, d, d.args[0], "'virtual_server'");
      const pt = port(vs, d, d.args[1], 'virtual_server port');
      if (!ip || pt === undefined) continue;
      family = ip.family;
      addresses = [{ kind: 'addr', ip: ip.text, family, port: pt }];
    }
    // A keyword given with a bad value was reported at its own line; only a missing one is reported here.
    const given = (k: string) => d.block?.some((x) => x.directive === k) ?? false;
    if (kind !== 'fwmark' && !vs.protocol && !given('protocol')) r.error(d, "virtual_server has no 'protocol' (TCP, UDP or SCTP): keepalived -t refuses it too (it would default to UDP)");
    if (!vs.lbAlgo && !given('lb_algo') && !given('lvs_sched')) r.error(d, "virtual_server has no 'lb_algo': keepalived -t refuses it too (it would run wlc)");
    if (!vs.lbKind && !given('lb_kind') && !given('lvs_method')) r.error(d, "virtual_server has no 'lb_kind' (NAT, DR or TUN): keepalived -t refuses it too (it would run NAT)");
    if (vs.rs.length === 0) r.error(d, 'virtual_server has no real_server: keepalived -t refuses it too (the service would be ignored)');
    const protocol = vs.protocol ?? 'TCP';
    const name = vsName(d, protocol);
    const prev = seen.get(name);
    if (prev) { r.error(d, `virtual_server ${name} is defined twice (first at line ${prev.line})`); continue; }
    seen.set(name, d);
    if (vs.persistenceGranularity && vs.persistenceGranularity.family !== family) {
      r.error(vs.persistenceGranularity.d, `'persistence_granularity' is an IPv${vs.persistenceGranularity.family} mask for an IPv${family} service`);
    }
    const delayLoopMs = vs.delayLoopMs ?? DEFAULT_DELAY_LOOP_MS;
    const out: VirtualServerSpec = {
      ...at(d), name, addresses, family, protocol, delayLoopMs, lbAlgo: vs.lbAlgo ?? 'wlc', lbKind: vs.lbKind ?? 'NAT',
      persistenceTimeout: vs.persistenceTimeout ?? 0,
      persistenceGranularity: vs.persistenceGranularity?.v ?? (family === 4 ? 32 : 128),
      sorryServerInhibit: vs.sorryServerInhibit, quorum: vs.quorum, hysteresis: vs.hysteresis,
      alpha: vs.alpha ?? false, omega: vs.omega, haSuspend: vs.haSuspend, realServers: [],
    };
    if (vs.hysteresis >= vs.quorum && vs.hysteresis > 0) r.warn(d, `hysteresis ${vs.hysteresis} is not below quorum ${vs.quorum}: the service comes up only at quorum + hysteresis = ${vs.quorum + vs.hysteresis}`);
    if (vs.quorumUp) out.quorumUp = vs.quorumUp;
    if (vs.quorumDown) out.quorumDown = vs.quorumDown;
    if (vs.sorry) {
      if (vs.sorry.family !== family) r.error({ directive: 'sorry_server', args: [], line: vs.sorry.line, file: vs.sorry.file }, `sorry_server ${vs.sorry.ip} is IPv${vs.sorry.family}, the service IPv${family}`);
      out.sorryServer = { ...vs.sorry, port: kind === 'fwmark' ? 0 : vs.sorry.port || (addresses[0]?.kind === 'addr' ? addresses[0].port : 0), lbKind: vs.sorryKind ?? vs.lbKind ?? 'NAT' };
    }
    const rsSeen = new Map<string, number>();
    for (const rsd of vs.rs) {
      if (!rsd.ip) continue;
      if (rsd.ip.family !== family) { r.error(rsd.d, `real_server ${rsd.ip.text} is IPv${rsd.ip.family}, the service IPv${family} (keepalived -t refuses mixed families too)`); continue; }
      const rsPort = kind === 'fwmark' ? 0 : rsd.port ?? (addresses[0]?.kind === 'addr' ? addresses[0].port : 0);
      const key = `${rsd.ip.text} ${rsPort}`;
      if (rsSeen.has(key)) { r.error(rsd.d, `real_server ${rsd.ip.text} ${rsPort} is listed twice in this virtual_server (first at line ${rsSeen.get(key)})`); continue; }
      rsSeen.set(key, rsd.d.line);
      const rs: RealServerSpec = {
        ...at(rsd.d), ip: rsd.ip.text, family: rsd.ip.family, port: rsPort,
        weight: rsd.weight ?? vs.weight ?? 1,
        inhibitOnFailure: rsd.inhibitOnFailure ?? vs.inhibitOnFailure ?? false,
        checkers: [], lbKind: rsd.lbKind ?? vs.lbKind ?? 'NAT', upperThreshold: rsd.upperThreshold, lowerThreshold: rsd.lowerThreshold,
      };
      if (rsd.notifyUp) rs.notifyUp = rsd.notifyUp;
      if (rsd.notifyDown) rs.notifyDown = rsd.notifyDown;
      for (const c of rsd.checkers) {
        const spec = finishChecker(c, rs, rsd, vs, delayLoopMs);
        if (spec) rs.checkers.push(spec);
      }
      out.realServers.push(rs);
    }
    services.push(out);
  }
  return { services, groups, ...(p.checkerNice ? { checkerNice: p.checkerNice } : {}) };
}

/** Every program the LVS side runs, with what it is for (for the script security checks). */
export function lvsCommands(c: LvsConfig): Array<{ c: VrrpCommand; what: string }> {
  const out: Array<{ c: VrrpCommand; what: string }> = [];
  for (const vs of c.services) {
    if (vs.quorumUp) out.push({ c: vs.quorumUp, what: `virtual_server ${vs.name} quorum_up` });
    if (vs.quorumDown) out.push({ c: vs.quorumDown, what: `virtual_server ${vs.name} quorum_down` });
    for (const rs of vs.realServers) {
      const who = `real_server ${rs.ip}${rs.port ? ` ${rs.port}` : ''} of ${vs.name}`;
      if (rs.notifyUp) out.push({ c: rs.notifyUp, what: `${who} notify_up` });
      if (rs.notifyDown) out.push({ c: rs.notifyDown, what: `${who} notify_down` });
      for (const ck of rs.checkers) if (ck.misc) out.push({ c: ck.misc.command, what: `${who} MISC_CHECK` });
    }
  }
  return out;
}

/** The tables of this module, for the test that no keyword is listed twice. */
export const LVS_KEYWORD_TABLES: Record<string, KeywordTable<never>> = {
  global_defs: LVS_GLOBAL_KEYWORDS,
  virtual_server: VS_KEYWORDS, real_server: RS_KEYWORDS, url: URL_KEYWORDS,
  TCP_CHECK: TCP_KEYWORDS, HTTP_GET: HTTP_KEYWORDS, MISC_CHECK: MISC_KEYWORDS, SMTP_CHECK: SMTP_KEYWORDS, DNS_CHECK: DNS_KEYWORDS,
} as Record<string, KeywordTable<never>>;
