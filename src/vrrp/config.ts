// VRRP's keepalived.conf keywords and the model they produce: the tables for
// `vrrp_instance`, `vrrp_script`, `vrrp_sync_group`, `vrrp_track_file` and
// the VRRP keywords of `global_defs`, and finishVrrp(), which applies
// keepalived's defaults and checks what needs the whole file (references,
// duplicate VRIDs, families, versions). Pure: the syntax comes from
// src/config/keepalived-lexer.ts, and the checks that need the host (script
// permissions, users) are made by src/config/keepalived.ts on this model.
//
// Where keepalived quietly corrects a value (advert_int out of range falls
// back to 1 s, a v2 interval of 0.5 is rounded), tandem reports an error at
// its line: keepalived -t fails on those too (exit 5), but keepalived itself
// runs them. docs/keepalived-conf.md lists every difference.

import { nested, type Directive, type Keyword, type KeywordTable } from '../config/keywords.js';
import { ifaceNameProblem, parseUInt } from '../config/common.js';
import { broadcastOf, formatIPv4, parseIPv4, parseIp, type Family } from '../net/addr.js';

// ---- the model ------------------------------------------------------------------

/** Where a value was written. */
export interface Where { file: string; line: number }

export interface VrrpVipSpec extends Where {
  address: string;          // canonical text
  family: Family;
  prefix: number;           // /32 or /128 when not written
  dev?: string;             // default: the instance's interface
  label?: string;
  scope?: string;
  brd?: string;
}

export interface VrrpRouteSpec extends Where {
  /** Destination prefix, canonical ("10.1.0.0/16"), or "default". */
  to: string;
  family: Family;
  via?: string;
  src?: string;
  dev?: string;
  metric?: number;
  table?: number;
  scope?: string;
  type?: 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';
}

export interface VrrpTrack extends Where {
  name: string;
  /** Undefined: the tracked object's own weight (scripts, files) or none (interfaces: down = FAULT). */
  weight?: number;
  reverse: boolean;
}

/** A program keepalived runs: the command as written and its words. */
export interface VrrpCommand extends Where {
  command: string;
  argv: string[];
  /** `user USER [GROUP]` on the line or the script block; else global script_user. */
  user?: { name: string; group?: string };
  /** Filled by the host checks (src/config/keepalived.ts): the program found and whom it runs as. */
  path?: string;
  uid?: number;
  gid?: number;
}

export interface VrrpScriptSpec extends Where {
  name: string;
  script?: VrrpCommand;
  intervalMs: number;
  /** 0: the interval. */
  timeoutMs: number;
  weight: number;
  reverse: boolean;
  fall: number;
  rise: number;
  initFail: boolean;
}

export interface VrrpTrackFileSpec extends Where {
  name: string;
  path: string;
  weight: number;
  reverse: boolean;
}

export interface VrrpNotify {
  master?: VrrpCommand;
  backup?: VrrpCommand;
  fault?: VrrpCommand;
  stop?: VrrpCommand;
  /** `notify`: every transition, with INSTANCE|GROUP NAME STATE PRIORITY appended. */
  any?: VrrpCommand;
}

export interface VrrpInstanceSpec extends Where {
  name: string;
  initialState: 'MASTER' | 'BACKUP';
  interface: string;
  /** Where `interface` is written. */
  interfaceAt: Where;
  vrid: number;             // 1..255
  /** 1..255; 255 = address owner (takes over at once, never preempted). */
  priority: number;
  addressOwner: boolean;
  advertMs: number;
  version: 2 | 3;
  family: Family;
  preempt: boolean;
  preemptDelayMs: number;
  /** Multicast destination, or undefined with unicast peers. */
  mcastGroup?: string;
  unicastSrc?: string;
  unicastPeers: Array<Where & { address: string }>;
  /** v2 `auth_type PASS`: the first 8 bytes of auth_pass. */
  authPass?: string;
  vips: VrrpVipSpec[];
  excludedVips: VrrpVipSpec[];
  routes: VrrpRouteSpec[];
  trackInterfaces: VrrpTrack[];
  trackScripts: VrrpTrack[];
  trackFiles: VrrpTrack[];
  dontTrackPrimary: boolean;
  notify: VrrpNotify;
  garp: { masterDelayMs: number; masterRepeat: number; masterRefreshMs: number; masterRefreshRepeat: number };
  accept: boolean;
  strict: boolean;
  syncGroup?: string;
}

export interface VrrpSyncGroupSpec extends Where {
  name: string;
  members: string[];
  notify: VrrpNotify;
  trackInterfaces: VrrpTrack[];
  trackScripts: VrrpTrack[];
  trackFiles: VrrpTrack[];
  /** sync_group_tracking_weight: weights on the members' own tracks count (else check-config refuses them). */
  trackingWeight?: boolean;
}

export interface VrrpConfig {
  mcastGroup4: string;
  mcastGroup6: string;
  strict: boolean;
  /** global_defs script_user, if given. */
  scriptUser?: Where & { name: string; group?: string };
  enableScriptSecurity: boolean;
  /** global_defs vrrp_rt_priority: the daemon's main thread (adverts, heartbeats) real-time at this priority. */
  rtPriority?: Where & { priority: number };
  /** global_defs vrrp_priority: the main thread's nice value; given without vrrp_rt_priority, the main thread stays at the normal policy. */
  nice?: Where & { nice: number };
  scripts: VrrpScriptSpec[];
  trackFiles: VrrpTrackFileSpec[];
  instances: VrrpInstanceSpec[];
  syncGroups: VrrpSyncGroupSpec[];
}

// ---- parse state ---------------------------------------------------------------

/** How a table reports: errors fail the check; warnings (known, not implemented) do not. */
export interface KaReport {
  error(d: Directive, message: string): void;
  warn(d: Directive, message: string): void;
}

export const at = (d: Directive): Where => ({ file: d.file ?? '', line: d.line });

interface InstanceDraft {
  d: Directive;
  name: string;
  state?: { v: 'MASTER' | 'BACKUP'; d: Directive };
  iface?: { v: string; d: Directive };
  vrid?: { v: number; d: Directive };
  priority?: { v: number; d: Directive };
  advert?: { centis: number; text: string; d: Directive };
  version?: { v: 2 | 3; d: Directive };
  nopreempt: boolean;
  preemptDelayMs: number;
  preemptDelayD?: Directive;
  mcastDst?: { v: string; d: Directive };
  unicastSrc?: { v: string; family: Family; d: Directive };
  unicastPeers: Array<{ address: string; family: Family; d: Directive }>;
  auth: { type?: { v: 'PASS' | 'AH'; d: Directive }; pass?: { v: string; d: Directive }; d?: Directive };
  vips: VrrpVipSpec[];
  excluded: VrrpVipSpec[];
  routes: VrrpRouteSpec[];
  trackInterfaces: VrrpTrack[];
  trackScripts: VrrpTrack[];
  trackFiles: VrrpTrack[];
  dontTrackPrimary: boolean;
  notify: VrrpNotify;
  garp: Partial<{ masterDelayMs: number; masterRepeat: number; masterRefreshMs: number; masterRefreshRepeat: number }>;
  accept?: boolean;
  /** Where `accept` was given (vrrp_strict refuses it with VRRPv2). */
  acceptD?: Directive;
  strict?: boolean;
  r: KaReport;
}

interface GroupDraft {
  d: Directive;
  name: string;
  members: Array<{ name: string; d: Directive }>;
  notify: VrrpNotify;
  trackInterfaces: VrrpTrack[];
  trackScripts: VrrpTrack[];
  trackFiles: VrrpTrack[];
  trackingWeight: boolean;
  r: KaReport;
}

/** A `user` line may come before `script`: kept aside until the end. */
interface ScriptDraft extends VrrpScriptSpec { r: KaReport; d: Directive; pendingUser?: { name: string; group?: string } }
interface TrackFileDraft { d: Directive; name: string; path?: string; weight: number; reverse: boolean; r: KaReport }

export interface VrrpParse {
  r: KaReport;
  mcastGroup4?: { v: string; d: Directive };
  mcastGroup6?: { v: string; d: Directive };
  version?: 2 | 3;
  strict: boolean;
  scriptUser?: Where & { name: string; group?: string };
  enableScriptSecurity: boolean;
  rtPriority?: Where & { priority: number };
  nice?: Where & { nice: number };
  garp: Partial<InstanceDraft['garp']>;
  scripts: ScriptDraft[];
  trackFiles: TrackFileDraft[];
  instances: InstanceDraft[];
  groups: GroupDraft[];
}

export function newVrrpParse(r: KaReport): VrrpParse {
  return { r, strict: false, enableScriptSecurity: false, garp: {}, scripts: [], trackFiles: [], instances: [], groups: [] };
}

// ---- value helpers -------------------------------------------------------------

export interface HasReport { r: KaReport }

/** The keyword's single value, or undefined after reporting (a missing value is an error; extra ones are ignored with a warning). */
export function one(s: HasReport, d: Directive, what: string): string | undefined {
  if (d.args.length === 0) {
    s.r.error(d, `'${d.directive}' needs a value (${what})`);
    return undefined;
  }
  if (d.args.length > 1) s.r.warn(d, `'${d.directive}' takes one value (${what}); '${d.args.slice(1).join(' ')}' is ignored`);
  return d.args[0];
}

export function none(s: HasReport, d: Directive): void {
  if (d.args.length > 0) s.r.warn(d, `'${d.directive}' takes no value; '${d.args.join(' ')}' is ignored`);
}

/** GARP counts: keepalived takes any 32-bit count; a large burst is legal but floods the segment. */
function garpCount(s: HasReport, d: Directive): number | undefined {
  const v = intIn(s, d, one(s, d, 'a count, 1 or more'), 1, 0xffffffff);
  if (v !== undefined && v > 100) s.r.warn(d, `'${d.directive}' ${v}: every burst sends ${v} gratuitous ARPs/NAs on the segment`);
  return v;
}

export function intIn(s: HasReport, d: Directive, v: string | undefined, lo: number, hi: number, what = d.directive): number | undefined {
  if (v === undefined) return undefined;
  const neg = v.startsWith('-');
  const n = parseUInt(neg || v.startsWith('+') ? v.slice(1) : v);
  if (n === undefined || (neg ? -n : n) < lo || (neg ? -n : n) > hi) {
    s.r.error(d, `'${what}' must be a whole number from ${lo} to ${hi} (got '${v}')`);
    return undefined;
  }
  return neg ? -n : n;
}

/** Decimal seconds ("1", "0.5") to milliseconds, or undefined after reporting. */
export function secondsMs(s: HasReport, d: Directive, v: string | undefined, lo: number, hi: number, integer = false): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v) || (integer && v.includes('.'))) {
    s.r.error(d, `'${d.directive}' must be ${integer ? 'a whole number of seconds' : 'seconds'} from ${lo} to ${hi} (got '${v}')`);
    return undefined;
  }
  const n = Number(v);
  if (n < lo || n > hi) {
    s.r.error(d, `'${d.directive}' must be from ${lo} to ${hi} seconds (got '${v}')`);
    return undefined;
  }
  return Math.round(n * 1000);
}

export function address(s: HasReport, d: Directive, v: string | undefined, what: string): { text: string; family: Family } | undefined {
  if (v === undefined) return undefined;
  const ip = parseIp(v);
  if (!ip) {
    s.r.error(d, `${what} '${v}' is not an IPv4 or IPv6 address`);
    return undefined;
  }
  return { text: ip.text, family: ip.family };
}

function iface(s: HasReport, d: Directive, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const p = ifaceNameProblem(v);
  if (p) {
    s.r.error(d, `interface name '${v}' ${p}`);
    return undefined;
  }
  return v;
}

/** A shell-like split of a script line: keepalived runs the words, honouring '…' and "…" quotes. */
export function commandWords(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let has = false;
  for (const c of command) {
    if (quote) {
      if (c === quote) quote = undefined;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** `KEYWORD "cmd" [USER [GROUP]]`, as notify_* and `script` take. */
export function command(s: HasReport, d: Directive): VrrpCommand | undefined {
  const [cmd, user, group, ...rest] = d.args;
  if (cmd === undefined || cmd.trim() === '') {
    s.r.error(d, `'${d.directive}' needs a command`);
    return undefined;
  }
  if (rest.length) s.r.warn(d, `'${d.directive}': '${rest.join(' ')}' after the user and group is ignored (quote a command that has arguments)`);
  const argv = commandWords(cmd);
  if (argv.length === 0 || argv[0] === '') {
    s.r.error(d, `'${d.directive}' needs a command`);
    return undefined;
  }
  return { ...at(d), command: cmd, argv, ...(user !== undefined ? { user: { name: user, ...(group !== undefined ? { group } : {}) } } : {}) };
}

/** A keyword keepalived accepts whose meaning tandem does not implement: reported, never dropped silently. */
export function notImplemented<S extends HasReport>(names: readonly string[], why = 'not implemented by tandem; ignored'): Keyword<S>[] {
  return names.map((name) => ({ name, apply: (s: S, d: Directive) => s.r.warn(d, `'${d.directive}' is ${why}`) }));
}

/** The lines of a block that are lists (`group { A B }`, `unicast_peer { ... }`): each line's words. */
export function listBlock<S>(each: (s: S, d: Directive) => void): Keyword<S>['block'] {
  return { run: (s, d) => { for (const x of d.block ?? []) each(s, x); } };
}

function track(s: HasReport, d: Directive, kind: 'interface' | 'script' | 'file'): VrrpTrack | undefined {
  const name = d.directive;
  let weight: number | undefined;
  let reverse = false;
  const args = [...d.args];
  while (args.length) {
    const w = args.shift()!;
    if (w === 'weight') {
      const v = args.shift();
      if (v === undefined) {
        s.r.error(d, `track_${kind} ${name}: 'weight' needs a value (-253 to 253)`);
        return undefined;
      }
      weight = intIn(s, d, v, -253, 253, `weight of ${name}`);
      if (weight === undefined) return undefined;
      if (args[0] === 'reverse') { args.shift(); reverse = true; }
    } else if (w === 'reverse') {
      reverse = true;
    } else if (w === 'noreverse') {
      reverse = false;
    } else {
      s.r.error(d, `track_${kind} ${name}: unknown option '${w}' (weight N, reverse)`);
      return undefined;
    }
  }
  if (kind === 'interface' && iface(s, d, name) === undefined) return undefined;
  return { ...at(d), name, ...(weight !== undefined ? { weight } : {}), reverse };
}

function trackBlock<S extends HasReport & { trackInterfaces: VrrpTrack[]; trackScripts: VrrpTrack[]; trackFiles: VrrpTrack[] }>(): Keyword<S>[] {
  const mk = (name: string, kind: 'interface' | 'script' | 'file', list: (s: S) => VrrpTrack[]): Keyword<S> => ({
    name,
    apply: (s, d) => none(s, d),
    block: listBlock<S>((s, x) => { const t = track(s, x, kind); if (t) list(s).push(t); }),
  });
  return [
    mk('track_interface', 'interface', (s) => s.trackInterfaces),
    mk('track_script', 'script', (s) => s.trackScripts),
    mk('track_file', 'file', (s) => s.trackFiles),
  ];
}

function notifyKeywords<S extends HasReport & { notify: VrrpNotify }>(): Keyword<S>[] {
  const mk = (name: string, key: keyof VrrpNotify): Keyword<S> => ({
    name,
    apply: (s, d) => { const c = command(s, d); if (c) s.notify[key] = c; },
  });
  return [mk('notify_master', 'master'), mk('notify_backup', 'backup'), mk('notify_fault', 'fault'), mk('notify_stop', 'stop'), mk('notify', 'any')];
}

// ---- global_defs (VRRP's part) -------------------------------------------------

const GARP_GLOBAL: Keyword<VrrpParse>[] = [
  { name: 'vrrp_garp_master_delay', apply: (s, d) => { const v = secondsMs(s, d, one(s, d, 'seconds'), 0, 1000, true); if (v !== undefined) s.garp.masterDelayMs = v; } },
  { name: 'vrrp_garp_master_repeat', apply: (s, d) => { const v = garpCount(s, d); if (v !== undefined) s.garp.masterRepeat = v; } },
  { name: 'vrrp_garp_master_refresh', apply: (s, d) => { const v = secondsMs(s, d, one(s, d, 'seconds'), 0, 86400, true); if (v !== undefined) s.garp.masterRefreshMs = v; } },
  { name: 'vrrp_garp_master_refresh_repeat', apply: (s, d) => { const v = garpCount(s, d); if (v !== undefined) s.garp.masterRefreshRepeat = v; } },
];

/** global_defs keywords that belong to VRRP (the rest are in src/config/keepalived.ts). */
export const VRRP_GLOBAL_KEYWORDS: KeywordTable<VrrpParse> = [
  {
    name: 'vrrp_mcast_group4',
    apply: (s, d) => {
      const a = address(s, d, one(s, d, 'an IPv4 multicast address'), 'vrrp_mcast_group4');
      if (!a) return;
      if (a.family !== 4 || !/^(22[4-9]|23[0-9])\./.test(a.text)) s.r.error(d, `vrrp_mcast_group4 '${a.text}' is not an IPv4 multicast address`);
      else s.mcastGroup4 = { v: a.text, d };
    },
  },
  {
    name: 'vrrp_mcast_group6',
    apply: (s, d) => {
      const a = address(s, d, one(s, d, 'an IPv6 multicast address'), 'vrrp_mcast_group6');
      if (!a) return;
      if (a.family !== 6 || !a.text.startsWith('ff')) s.r.error(d, `vrrp_mcast_group6 '${a.text}' is not an IPv6 multicast address`);
      else s.mcastGroup6 = { v: a.text, d };
    },
  },
  { name: 'vrrp_version', apply: (s, d) => { const v = intIn(s, d, one(s, d, '2 or 3'), 2, 3); if (v !== undefined) s.version = v as 2 | 3; } },
  { name: 'vrrp_strict', apply: (s, d) => { none(s, d); s.strict = true; } },
  {
    name: 'script_user',
    apply: (s, d) => {
      if (d.args.length < 1 || d.args.length > 2) {
        s.r.error(d, `'script_user' takes a user and optionally a group, got ${d.args.length} values`);
        return;
      }
      s.scriptUser = { ...at(d), name: d.args[0]!, ...(d.args[1] !== undefined ? { group: d.args[1] } : {}) };
    },
  },
  { name: 'enable_script_security', apply: (s, d) => { none(s, d); s.enableScriptSecurity = true; } },
  {
    // keepalived's range; it asks for SCHED_RR, tandem for SCHED_FIFO (as Heartbeat's realtime): one thread, the same effect.
    name: 'vrrp_rt_priority',
    apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a real-time priority, 1 to 99'), 1, 99); if (v !== undefined) s.rtPriority = { ...at(d), priority: v }; },
  },
  {
    // keepalived's: the VRRP process's nice value. Here the main thread's, which sends and judges adverts and heartbeats.
    name: 'vrrp_priority',
    apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a nice value, -20 to 19'), -20, 19); if (v !== undefined) s.nice = { ...at(d), nice: v }; },
  },
  ...GARP_GLOBAL,
  ...notImplemented<VrrpParse>([
    'vmac_addr_prefix', 'vmac_prefix', 'vrrp_check_unicast_src', 'vrrp_cpu_affinity', 'vrrp_down_timer_adverts',
    'vrrp_garp_extra_if', 'vrrp_garp_interval', 'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat', 'vrrp_gna_interval',
    'vrrp_higher_prio_send_advert', 'vrrp_iptables', 'vrrp_lower_prio_no_advert', 'vrrp_min_garp', 'vrrp_netlink_cmd_rcv_bufs',
    'vrrp_netlink_cmd_rcv_bufs_force', 'vrrp_netlink_monitor_rcv_bufs', 'vrrp_netlink_monitor_rcv_bufs_force', 'vrrp_no_swap',
    'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'vrrp_notify_priority_changes', 'vrrp_process_name',
    'vrrp_rlimit_rtime', 'vrrp_rlimit_rttime', 'vrrp_rx_bufs_multiplier', 'vrrp_rx_bufs_policy',
    'vrrp_skip_check_adv_addr', 'vrrp_startup_delay', 'vrrp_vmac_garp_intvl',
  ]),
];

// ---- vrrp_script / vrrp_track_file -----------------------------------------------

const SCRIPT_KEYWORDS: KeywordTable<ScriptDraft> = [
  {
    name: 'script',
    apply: (s, d) => {
      if (d.args.length === 0) { s.r.error(d, "'script' needs a command"); return; }
      // keepalived joins unquoted words: `script /bin/pidof nginx` runs "/bin/pidof nginx".
      const cmd = d.args.join(' ');
      const argv = commandWords(cmd);
      if (!argv.length || argv[0] === '') { s.r.error(d, "'script' needs a command"); return; }
      s.script = { ...at(d), command: cmd, argv, ...(s.script?.user ? { user: s.script.user } : {}) };
    },
  },
  { name: 'interval', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'whole seconds, 1 to 4294'), 1, 4294); if (v !== undefined) s.intervalMs = v * 1000; } },
  { name: 'timeout', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'whole seconds, 1 to 4294'), 1, 4294); if (v !== undefined) s.timeoutMs = v * 1000; } },
  {
    name: 'weight',
    apply: (s, d) => {
      const v = intIn(s, d, d.args[0] ?? (s.r.error(d, "'weight' needs a value (-253 to 253)"), undefined), -253, 253);
      if (v === undefined) return;
      s.weight = v;
      if (d.args[1] === 'reverse') s.reverse = true;
      else if (d.args[1] !== undefined) s.r.error(d, `'weight': unknown option '${d.args[1]}' (reverse)`);
    },
  },
  { name: 'fall', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a count'), 1, 2147483647); if (v !== undefined) s.fall = v; } },
  { name: 'rise', apply: (s, d) => { const v = intIn(s, d, one(s, d, 'a count'), 1, 2147483647); if (v !== undefined) s.rise = v; } },
  {
    name: 'user',
    apply: (s, d) => {
      if (d.args.length < 1 || d.args.length > 2) { s.r.error(d, `'user' takes a user and optionally a group, got ${d.args.length} values`); return; }
      const user = { name: d.args[0]!, ...(d.args[1] !== undefined ? { group: d.args[1] } : {}) };
      if (s.script) s.script.user = user;
      s.pendingUser = user;
    },
  },
  { name: 'init_fail', apply: (s, d) => { none(s, d); s.initFail = true; } },
];

const TRACK_FILE_KEYWORDS: KeywordTable<TrackFileDraft> = [
  { name: 'file', apply: (s, d) => { const v = one(s, d, 'a path'); if (v !== undefined) s.path = v; } },
  {
    name: 'weight',
    apply: (s, d) => {
      const v = intIn(s, d, d.args[0] ?? (s.r.error(d, "'weight' needs a value"), undefined), -254, 254);
      if (v === undefined) return;
      s.weight = v;
      if (d.args[1] === 'reverse') s.reverse = true;
    },
  },
  ...notImplemented<TrackFileDraft>(['init_file']),
];

// ---- vrrp_instance -------------------------------------------------------------

const VIP_SCOPES = new Set(['global', 'site', 'link', 'host', 'nowhere']);
const VIP_FLAGS_NOT_IMPLEMENTED = new Set(['no_track', 'home', 'nodad', 'mngtmpaddr', 'noprefixroute', 'autojoin']);
const VIP_VALUES_NOT_IMPLEMENTED = new Set(['preferred_lft', 'track_group', 'peer']);

function vip(s: HasReport, d: Directive): VrrpVipSpec | undefined {
  const [first, ...rest] = [d.directive, ...d.args];
  const slash = first!.indexOf('/');
  const addrText = slash >= 0 ? first!.slice(0, slash) : first!;
  const ip = parseIp(addrText);
  if (!ip) {
    s.r.error(d, `virtual address '${first}' is not an IPv4 or IPv6 address`);
    return undefined;
  }
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = parseUInt(first!.slice(slash + 1));
    if (p === undefined || p > max) {
      s.r.error(d, `virtual address '${first}': prefix length must be 0 to ${max}`);
      return undefined;
    }
    prefix = p;
  }
  const spec: VrrpVipSpec = { ...at(d), address: ip.text, family: ip.family, prefix };
  const args = [...rest];
  while (args.length) {
    const w = args.shift()!;
    const needValue = (): string | undefined => {
      const v = args.shift();
      if (v === undefined) s.r.error(d, `virtual address ${ip.text}: '${w}' needs a value`);
      return v;
    };
    if (w === 'dev') {
      const v = iface(s, d, needValue());
      if (v === undefined) return undefined;
      spec.dev = v;
    } else if (w === 'label') {
      const v = needValue();
      if (v === undefined) return undefined;
      if (Buffer.byteLength(v) > 15) { s.r.error(d, `virtual address ${ip.text}: label '${v}' is longer than 15 characters`); return undefined; }
      spec.label = v;
    } else if (w === 'scope') {
      const v = needValue();
      if (v === undefined) return undefined;
      if (!VIP_SCOPES.has(v) && parseUInt(v) === undefined) { s.r.error(d, `virtual address ${ip.text}: unknown scope '${v}' (global, site, link, host, nowhere)`); return undefined; }
      // keepalived -t refuses it too (only `global`, the default, passes): the kernel derives an IPv6 address's scope from the address.
      if (ip.family === 6 && v !== 'global' && v !== '0') { s.r.error(d, `virtual address ${ip.text}: an IPv6 address takes no scope but global (it follows from the address)`); return undefined; }
      spec.scope = v;
    } else if (w === 'brd' || w === 'broadcast') {
      const v = needValue();
      if (v === undefined) return undefined;
      if (ip.family === 4 && v === '+') {
        // As `ip addr add ... brd +`: the prefix's broadcast address.
        const bc = broadcastOf(parseIPv4(ip.text)!, prefix);
        if (bc !== undefined) spec.brd = formatIPv4(bc);
        continue;
      }
      if (ip.family === 4 && v === '-') continue;
      const b = parseIp(v);
      if (!b || b.family !== 4 || ip.family !== 4) { s.r.error(d, `virtual address ${ip.text}: broadcast '${v}' must be an IPv4 address (or + or -), for an IPv4 address`); return undefined; }
      spec.brd = b.text;
    } else if (VIP_FLAGS_NOT_IMPLEMENTED.has(w)) {
      s.r.warn(d, `virtual address ${ip.text}: '${w}' is not implemented by tandem; ignored`);
    } else if (VIP_VALUES_NOT_IMPLEMENTED.has(w)) {
      args.shift();
      s.r.warn(d, `virtual address ${ip.text}: '${w}' is not implemented by tandem; ignored`);
    } else {
      s.r.error(d, `virtual address ${ip.text}: unknown option '${w}' (dev, label, scope, brd)`);
      return undefined;
    }
  }
  return spec;
}

const ROUTE_SCOPES: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

/** A route scope word or number as the kernel's RT_SCOPE_* value; undefined for neither. */
export function routeScope(text: string): number | undefined {
  if (/^\d{1,3}$/.test(text)) { const n = Number(text); return n <= 255 ? n : undefined; }
  return ROUTE_SCOPES[text];
}

function route(s: HasReport, d: Directive): VrrpRouteSpec | undefined {
  const words = [d.directive, ...d.args];
  const out: Partial<VrrpRouteSpec> & Where = at(d);
  const noTrack = words.includes('no_track');
  let family: Family | undefined;
  const fam = (f: Family, what: string): boolean => {
    if (family !== undefined && family !== f) { s.r.error(d, `virtual route: ${what} is not of the route's address family`); return false; }
    family = f;
    return true;
  };
  const prefix = (v: string): string | undefined => {
    if (v === 'default') return 'default';
    const [a, p] = v.split('/');
    const ip = parseIp(a ?? '');
    const len = p === undefined ? undefined : parseUInt(p);
    if (!ip || (p !== undefined && (len === undefined || len > (ip.family === 4 ? 32 : 128)))) { s.r.error(d, `virtual route: '${v}' is not an address or prefix`); return undefined; }
    if (!fam(ip.family, v)) return undefined;
    return p === undefined ? ip.text : `${ip.text}/${len}`;
  };
  while (words.length) {
    const w = words.shift()!;
    const val = (): string | undefined => {
      const v = words.shift();
      if (v === undefined) s.r.error(d, `virtual route: '${w}' needs a value`);
      return v;
    };
    if (w === 'to') { const v = val(); if (v === undefined) return undefined; const p = prefix(v); if (!p) return undefined; out.to = p; }
    else if (w === 'via' || w === 'gw' || w === 'src') {
      const v = val(); if (v === undefined) return undefined;
      const ip = parseIp(v);
      if (!ip) { s.r.error(d, `virtual route: ${w} '${v}' is not an address`); return undefined; }
      if (!fam(ip.family, v)) return undefined;
      if (w === 'src') out.src = ip.text; else out.via = ip.text;
    } else if (w === 'dev' || w === 'oif') { const v = iface(s, d, val()); if (v === undefined) return undefined; out.dev = v; }
    else if (w === 'metric' || w === 'preference' || w === 'priority') { const v = intIn(s, d, val(), 0, 0xffffffff, 'metric'); if (v === undefined) return undefined; out.metric = v; }
    else if (w === 'table') { const v = intIn(s, d, val(), 0, 0xffffffff, 'table'); if (v === undefined) return undefined; out.table = v; }
    else if (w === 'scope') {
      const v = val(); if (v === undefined) return undefined;
      if (routeScope(v) === undefined) s.r.warn(d, `virtual route: scope '${v}' is not global, site, link, host, nowhere or 0 to 255; tandem run will not add this route`);
      out.scope = v;
    }
    else if (w === 'blackhole' || w === 'unreachable' || w === 'prohibit') out.type = w;
    else if (['or', 'no_track', 'onlink', 'proto', 'protocol', 'mtu', 'advmss', 'realms', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd', 'initcwnd', 'initrwnd', 'features', 'quickack', 'congctl', 'pref', 'fastopen_no_cookie', 'ttl-propagate', 'nexthop', 'tos', 'dsfield', 'ssthresh', 'rto_min', 'hoplimit', 'lock', 'track_group', 'encap', 'expires', 'type'].includes(w)) {
      s.r.warn(d, `virtual route: '${w}' is not implemented by tandem; the route line is kept without it`);
      if (!['no_track', 'onlink', 'lock', 'fastopen_no_cookie', 'quickack'].includes(w)) words.shift();
    } else if (out.to === undefined) { const p = prefix(w); if (!p) return undefined; out.to = p; }
    else { s.r.error(d, `virtual route: unknown word '${w}'`); return undefined; }
  }
  if (out.to === undefined) { s.r.error(d, 'virtual route: no destination (to PREFIX)'); return undefined; }
  // A blackhole/unreachable/prohibit route has no interface to track (the kernel takes none): keepalived accepts it without.
  if (out.dev === undefined && !noTrack && out.type === undefined) {
    // keepalived -t refuses it too: a route is tracked through its interface.
    s.r.error(d, `virtual route ${out.to}: no 'dev IF' to track it by; add dev, or no_track`);
    return undefined;
  }
  return { ...out, to: out.to, family: family ?? 4 } as VrrpRouteSpec;
}

/** The addresses of a `virtual_rules` / `static_rules` line (tandem does not run rules; keepalived -t refuses a bad address). */
export function checkRuleLine(r: KaReport, x: Directive): void {
  const words = [x.directive, ...x.args];
  words.forEach((w, k) => {
    const v = words[k + 1];
    if ((w === 'from' || w === 'to') && v !== undefined && v !== 'all') {
      const [a, p] = v.split('/');
      const ip = parseIp(a ?? '');
      const len = p === undefined ? 0 : parseUInt(p);
      if (!ip || len === undefined || len > (ip.family === 4 ? 32 : 128)) r.error(x, `rule: ${w} '${v}' is not an address or prefix`);
    }
  });
}

const AUTH_KEYWORDS: KeywordTable<InstanceDraft> = [
  {
    name: 'auth_type',
    apply: (s, d) => {
      const v = one(s, d, 'PASS or AH');
      if (v === undefined) return;
      if (v !== 'PASS' && v !== 'AH') { s.r.error(d, `auth_type must be PASS or AH (got '${v}')`); return; }
      s.auth.type = { v, d };
    },
  },
  {
    name: 'auth_pass',
    apply: (s, d) => {
      const v = one(s, d, 'a password');
      if (v === undefined) return;
      if (Buffer.byteLength(v) > 8) {
        // keepalived truncates it and -t fails: a peer configured with the whole string would not match.
        s.r.error(d, 'auth_pass is longer than 8 bytes; VRRPv2 carries 8: shorten it (on every node)');
      }
      s.auth.pass = { v, d };
    },
  },
];

const INSTANCE_KEYWORDS: KeywordTable<InstanceDraft> = [
  {
    name: 'state',
    apply: (s, d) => {
      const v = one(s, d, 'MASTER or BACKUP');
      if (v === undefined) return;
      if (v !== 'MASTER' && v !== 'BACKUP') { s.r.error(d, `state must be MASTER or BACKUP (got '${v}')`); return; }
      s.state = { v, d };
    },
  },
  { name: 'interface', apply: (s, d) => { const v = iface(s, d, one(s, d, 'an interface name')); if (v !== undefined) s.iface = { v, d }; } },
  { name: 'virtual_router_id', apply: (s, d) => { const v = intIn(s, d, one(s, d, '1 to 255'), 1, 255); if (v !== undefined) s.vrid = { v, d }; } },
  { name: 'priority', apply: (s, d) => { const v = intIn(s, d, one(s, d, '1 to 255'), 1, 255); if (v !== undefined) s.priority = { v, d }; } },
  {
    name: 'advert_int',
    apply: (s, d) => {
      const v = one(s, d, 'seconds');
      if (v === undefined) return;
      const m = /^([0-9]{1,6})(?:\.([0-9]+))?$/.exec(v);
      if (!m) { s.r.error(d, `advert_int must be seconds, e.g. 1 or 0.1 (got '${v}')`); return; }
      // Exact centiseconds from the digits (0.015 is 1.5: not a whole number of them).
      const frac = (m[2] ?? '').replace(/0+$/, '');
      const centis = Number(m[1]) * 100 + (frac.length <= 2 ? Number(frac.padEnd(2, '0')) : Number(`${frac.slice(0, 2)}.${frac.slice(2)}`));
      s.advert = { centis, text: v, d };
    },
  },
  { name: 'version', apply: (s, d) => { const v = intIn(s, d, one(s, d, '2 or 3'), 2, 3); if (v !== undefined) s.version = { v: v as 2 | 3, d }; } },
  { name: 'nopreempt', apply: (s, d) => { none(s, d); s.nopreempt = true; } },
  { name: 'preempt', apply: (s, d) => { none(s, d); s.nopreempt = false; } },
  { name: 'preempt_delay', apply: (s, d) => { const v = secondsMs(s, d, one(s, d, 'seconds, 0 to 1000'), 0, 1000); if (v !== undefined) { s.preemptDelayMs = v; s.preemptDelayD = d; } } },
  {
    name: 'mcast_dst_ip',
    apply: (s, d) => {
      const a = address(s, d, one(s, d, 'a multicast address'), 'mcast_dst_ip');
      if (!a) return;
      if (a.family === 4 ? !/^(22[4-9]|23[0-9])\./.test(a.text) : !a.text.startsWith('ff')) { s.r.error(d, `mcast_dst_ip '${a.text}' is not a multicast address`); return; }
      s.mcastDst = { v: a.text, d };
    },
  },
  { name: 'unicast_src_ip', apply: (s, d) => { const a = address(s, d, one(s, d, 'an address'), 'unicast_src_ip'); if (a) s.unicastSrc = { v: a.text, family: a.family, d }; } },
  {
    name: 'unicast_peer',
    apply: (s, d) => none(s, d),
    block: listBlock<InstanceDraft>((s, x) => {
      const a = address(s, x, x.directive, 'unicast_peer');
      if (!a) return;
      const rest = [...x.args];
      while (rest.length) {
        const w = rest.shift()!;
        if (w === 'min_ttl' || w === 'max_ttl') { rest.shift(); s.r.warn(x, `unicast_peer ${a.text}: '${w}' is not implemented by tandem; ignored`); }
        else { s.r.error(x, `unicast_peer ${a.text}: unknown option '${w}'`); return; }
      }
      s.unicastPeers.push({ address: a.text, family: a.family, d: x });
    }),
  },
  {
    name: 'authentication',
    apply: (s, d) => { none(s, d); s.auth.d = d; },
    block: nested(AUTH_KEYWORDS, (s: InstanceDraft) => s, (s, x) => s.r.error(x, `unknown keyword '${x.directive}' in authentication (auth_type, auth_pass)`)),
  },
  { name: 'virtual_ipaddress', apply: (s, d) => none(s, d), block: listBlock<InstanceDraft>((s, x) => { const v = vip(s, x); if (v) s.vips.push(v); }) },
  { name: 'virtual_ipaddress_excluded', apply: (s, d) => none(s, d), block: listBlock<InstanceDraft>((s, x) => { const v = vip(s, x); if (v) s.excluded.push(v); }) },
  { name: 'virtual_routes', apply: (s, d) => none(s, d), block: listBlock<InstanceDraft>((s, x) => { const r = route(s, x); if (r) s.routes.push(r); }) },
  {
    // Not run by tandem, but an address keepalived -t refuses is refused here too.
    name: 'virtual_rules',
    apply: (s, d) => s.r.warn(d, "'virtual_rules' is not implemented by tandem; ignored"),
    block: listBlock<InstanceDraft>((s, x) => checkRuleLine(s.r, x)),
  },
  ...trackBlock<InstanceDraft>(),
  { name: 'dont_track_primary', apply: (s, d) => { none(s, d); s.dontTrackPrimary = true; } },
  ...notifyKeywords<InstanceDraft>(),
  { name: 'garp_master_delay', apply: (s, d) => { const v = secondsMs(s, d, one(s, d, 'seconds'), 0, 1000, true); if (v !== undefined) s.garp.masterDelayMs = v; } },
  { name: 'garp_master_repeat', apply: (s, d) => { const v = garpCount(s, d); if (v !== undefined) s.garp.masterRepeat = v; } },
  { name: 'garp_master_refresh', apply: (s, d) => { const v = secondsMs(s, d, one(s, d, 'seconds'), 0, 86400, true); if (v !== undefined) s.garp.masterRefreshMs = v; } },
  { name: 'garp_master_refresh_repeat', apply: (s, d) => { const v = garpCount(s, d); if (v !== undefined) s.garp.masterRefreshRepeat = v; } },
  { name: 'accept', apply: (s, d) => { none(s, d); s.accept = true; s.acceptD = d; } },
  { name: 'no_accept', apply: (s, d) => { none(s, d); s.accept = false; delete s.acceptD; } },
  { name: 'strict_mode', apply: (s, d) => { const v = d.args[0]; s.strict = v === undefined || v === 'on' || v === 'true' || v === 'yes'; } },
  ...notImplemented<InstanceDraft>([
    'check_unicast_src', 'debug', 'down_timer_adverts', 'garp_extra_if', 'garp_lower_prio_delay', 'garp_lower_prio_repeat',
    'higher_prio_send_advert', 'kernel_rx_buf_size', 'linkbeat_use_polling', 'lower_prio_no_advert', 'lvs_sync_daemon_interface',
    'mcast_src_ip', 'native_ipv6', 'notify_deleted', 'notify_master_rx_lower_pri', 'notify_priority_changes',
    'old_unicast_checksum', 'promote_secondaries', 'skip_check_adv_addr', 'smtp_alert', 'track_bfd', 'track_process',
    'track_src_ip', 'unicast_fault_no_peer', 'unicast_ttl', 'use_ipvlan', 'use_vmac', 'use_vmac_addr',
    'vmac_garp_intvl', 'vmac_xmit_base', 'vrf',
  ]),
];

// ---- vrrp_sync_group -----------------------------------------------------------

const GROUP_KEYWORDS: KeywordTable<GroupDraft> = [
  {
    name: 'group',
    apply: (s, d) => none(s, d),
    block: listBlock<GroupDraft>((s, x) => { for (const n of [x.directive, ...x.args]) s.members.push({ name: n, d: x }); }),
  },
  ...notifyKeywords<GroupDraft>(),
  ...trackBlock<GroupDraft>(),
  { name: 'sync_group_tracking_weight', apply: (s, d) => { none(s, d); s.trackingWeight = true; } },
  ...notImplemented<GroupDraft>([
    'global_tracking', 'notify_priority_changes', 'smtp_alert', 'track_bfd', 'track_process',
  ]),
];

// ---- the top-level VRRP blocks -------------------------------------------------

/** Top-level keepalived.conf blocks VRRP owns. */
export const VRRP_TOP_KEYWORDS: KeywordTable<VrrpParse> = [
  {
    name: 'vrrp_instance',
    apply: () => {},
    block: nested(INSTANCE_KEYWORDS, (p: VrrpParse, d) => {
      const i: InstanceDraft = {
        d, name: d.args[0] ?? '', nopreempt: false, preemptDelayMs: 0, unicastPeers: [], auth: {}, vips: [], excluded: [], routes: [],
        trackInterfaces: [], trackScripts: [], trackFiles: [], dontTrackPrimary: false, notify: {}, garp: {}, r: p.r,
      };
      p.instances.push(i);
      return i;
    }, (i, x) => i.r.error(x, `unknown keyword '${x.directive}' in vrrp_instance`)),
  },
  {
    name: 'vrrp_script',
    apply: () => {},
    block: nested(SCRIPT_KEYWORDS, (p: VrrpParse, d) => {
      const sc: ScriptDraft = { ...at(d), d, name: d.args[0] ?? '', intervalMs: 1000, timeoutMs: 0, weight: 0, reverse: false, fall: 1, rise: 1, initFail: false, r: p.r };
      p.scripts.push(sc);
      return sc;
    }, (sc, x) => sc.r.error(x, `unknown keyword '${x.directive}' in vrrp_script`)),
  },
  {
    name: 'vrrp_track_file',
    aliases: ['track_file'],
    apply: () => {},
    block: nested(TRACK_FILE_KEYWORDS, (p: VrrpParse, d) => {
      const t: TrackFileDraft = { d, name: d.args[0] ?? '', weight: 1, reverse: false, r: p.r };
      p.trackFiles.push(t);
      return t;
    }, (t, x) => t.r.error(x, `unknown keyword '${x.directive}' in ${t.d.directive}`)),
  },
  {
    name: 'vrrp_sync_group',
    apply: () => {},
    block: nested(GROUP_KEYWORDS, (p: VrrpParse, d) => {
      const g: GroupDraft = { d, name: d.args[0] ?? '', members: [], notify: {}, trackInterfaces: [], trackScripts: [], trackFiles: [], trackingWeight: false, r: p.r };
      p.groups.push(g);
      return g;
    }, (g, x) => g.r.error(x, `unknown keyword '${x.directive}' in vrrp_sync_group`)),
  },
];

// ---- whole-file rules ------------------------------------------------------------

const ADVERT_V2 = 'VRRPv2 advert_int must be a whole number of seconds from 1 to 255';
const ADVERT_V3 = 'VRRPv3 advert_int must be from 0.01 to 40.95 seconds in steps of 0.01';

/** keepalived's defaults and the checks that need the whole file; errors at their lines. */
export function finishVrrp(p: VrrpParse): VrrpConfig {
  const { r } = p;
  const scripts: VrrpScriptSpec[] = [];
  const scriptNames = new Set<string>();
  for (const sc of p.scripts) {
    if (!nameOk(r, sc.d, 'vrrp_script')) continue;
    if (scriptNames.has(sc.name)) { r.error(sc.d, `vrrp_script ${sc.name} is defined more than once`); continue; }
    scriptNames.add(sc.name);
    if (!sc.script) { r.error(sc.d, `vrrp_script ${sc.name} has no 'script' line`); continue; }
    if (sc.pendingUser && !sc.script.user) sc.script.user = sc.pendingUser;
    if (sc.timeoutMs > 0 && sc.timeoutMs > sc.intervalMs) r.warn(sc.d, `vrrp_script ${sc.name}: timeout is longer than interval; a hung script delays the next run`);
    scripts.push({
      file: sc.file, line: sc.line, name: sc.name, script: sc.script, intervalMs: sc.intervalMs, timeoutMs: sc.timeoutMs,
      weight: sc.weight, reverse: sc.reverse, fall: sc.fall, rise: sc.rise, initFail: sc.initFail,
    });
  }

  const trackFiles: VrrpTrackFileSpec[] = [];
  const fileNames = new Set<string>();
  for (const t of p.trackFiles) {
    if (!nameOk(r, t.d, t.d.directive)) continue;
    if (fileNames.has(t.name)) { r.error(t.d, `${t.d.directive} ${t.name} is defined more than once`); continue; }
    fileNames.add(t.name);
    if (!t.path) { r.error(t.d, `${t.d.directive} ${t.name} has no 'file' line`); continue; }
    trackFiles.push({ ...at(t.d), name: t.name, path: t.path, weight: t.weight, reverse: t.reverse });
  }

  const refs = (list: VrrpTrack[], names: Set<string>, kind: string, owner: string): void => {
    for (const t of list) {
      if (!names.has(t.name)) r.error({ directive: t.name, args: [], line: t.line, file: t.file }, `${owner}: ${kind} '${t.name}' is not defined`);
    }
  };

  const mcast4 = p.mcastGroup4?.v ?? '224.0.0.18';
  const mcast6 = p.mcastGroup6?.v ?? 'ff02::12';
  const instances: VrrpInstanceSpec[] = [];
  const instanceNames = new Map<string, InstanceDraft>();
  for (const i of p.instances) {
    if (!nameOk(r, i.d, 'vrrp_instance')) continue;
    if (instanceNames.has(i.name)) { r.error(i.d, `vrrp_instance ${i.name} is already defined at ${where(instanceNames.get(i.name)!.d)}`); continue; }
    instanceNames.set(i.name, i);
    const spec = finishInstance(p, i, mcast4, mcast6);
    refs(i.trackScripts, scriptNames, 'track_script', `vrrp_instance ${i.name}`);
    refs(i.trackFiles, fileNames, 'track_file', `vrrp_instance ${i.name}`);
    if (spec) instances.push(spec);
  }

  // One VRID per interface and family: two instances would answer each other's adverts.
  const byVrid = new Map<string, VrrpInstanceSpec>();
  for (const i of instances) {
    const key = `${i.interface}/${i.family}/${i.vrid}`;
    const prev = byVrid.get(key);
    if (prev) r.error({ directive: 'virtual_router_id', args: [], line: i.line, file: i.file }, `vrrp_instance ${i.name} uses VRID ${i.vrid} with IPv${i.family} on ${i.interface}, as vrrp_instance ${prev.name} does (${prev.file}:${prev.line})`);
    else byVrid.set(key, i);
  }

  const syncGroups: VrrpSyncGroupSpec[] = [];
  const memberOf = new Map<string, string>();
  const groupNames = new Set<string>();
  for (const g of p.groups) {
    if (!nameOk(r, g.d, 'vrrp_sync_group')) continue;
    if (groupNames.has(g.name)) { r.error(g.d, `vrrp_sync_group ${g.name} is defined more than once`); continue; }
    groupNames.add(g.name);
    const members: string[] = [];
    for (const m of g.members) {
      if (!instanceNames.has(m.name)) { r.error(m.d, `vrrp_sync_group ${g.name}: vrrp_instance '${m.name}' is not defined`); continue; }
      const other = memberOf.get(m.name);
      if (other !== undefined) { r.error(m.d, `vrrp_sync_group ${g.name}: vrrp_instance ${m.name} is already in vrrp_sync_group ${other}; an instance belongs to one group`); continue; }
      if (members.includes(m.name)) { r.error(m.d, `vrrp_sync_group ${g.name}: ${m.name} is listed twice`); continue; }
      memberOf.set(m.name, g.name);
      members.push(m.name);
    }
    if (g.members.length === 0) r.error(g.d, `vrrp_sync_group ${g.name} has no 'group { ... }' of instances`);
    else if (members.length === 1 && g.members.length === 1) r.error(g.d, `vrrp_sync_group ${g.name} has only one instance; a sync group binds two or more`);
    refs(g.trackScripts, scriptNames, 'track_script', `vrrp_sync_group ${g.name}`);
    refs(g.trackFiles, fileNames, 'track_file', `vrrp_sync_group ${g.name}`);
    syncGroups.push({ ...at(g.d), name: g.name, members, notify: g.notify, trackInterfaces: g.trackInterfaces, trackScripts: g.trackScripts, trackFiles: g.trackFiles, trackingWeight: g.trackingWeight });
  }
  const scriptWeight = new Map(scripts.map((x) => [x.name, x.weight]));
  const fileWeight = new Map(trackFiles.map((x) => [x.name, x.weight]));
  const weighted = new Set(p.groups.filter((g) => g.trackingWeight).map((g) => g.name));
  for (const i of instances) {
    const g = memberOf.get(i.name);
    if (g === undefined) continue;
    i.syncGroup = g;
    // keepalived ignores weighted tracking in a sync group member (its members move together,
    // a weight would move one alone) and -t fails on it, unless the group says otherwise.
    if (weighted.has(g)) continue;
    const check = (list: VrrpTrack[], kind: string, own: (n: string) => number | undefined): void => {
      for (const t of list) {
        const w = t.weight ?? own(t.name) ?? 0;
        if (w !== 0) r.error(dAt(t, t.name), `(${i.name}) track_${kind} ${t.name} has weight ${w}, but ${i.name} is in vrrp_sync_group ${g}, whose members change state together; keepalived ignores it. Use weight 0 (fault), or sync_group_tracking_weight in the group`);
      }
    };
    check(i.trackScripts, 'script', (n) => scriptWeight.get(n));
    check(i.trackFiles, 'file', (n) => fileWeight.get(n));
    check(i.trackInterfaces, 'interface', () => undefined);
  }

  return {
    mcastGroup4: mcast4, mcastGroup6: mcast6, strict: p.strict, enableScriptSecurity: p.enableScriptSecurity,
    ...(p.scriptUser ? { scriptUser: p.scriptUser } : {}),
    ...(p.rtPriority ? { rtPriority: p.rtPriority } : {}),
    ...(p.nice ? { nice: p.nice } : {}),
    scripts, trackFiles, instances, syncGroups,
  };
}

function where(d: Directive): string {
  return `${d.file ?? ''}:${d.line}`;
}

function nameOk(r: KaReport, d: Directive, what: string): boolean {
  if (d.args.length !== 1 || d.args[0] === '') {
    r.error(d, `'${what}' takes one name before its '{' (got ${d.args.length})`);
    return false;
  }
  if (!d.block) {
    r.error(d, `'${what} ${d.args[0]}' has no '{ ... }' block`);
    return false;
  }
  return true;
}

function finishInstance(p: VrrpParse, i: InstanceDraft, mcast4: string, mcast6: string): VrrpInstanceSpec | undefined {
  const { r } = p;
  let ok = true;
  const fail = (d: Directive, m: string): void => { r.error(d, m); ok = false; };
  const name = `(${i.name})`;
  if (!i.vrid) fail(i.d, `vrrp_instance ${i.name}: virtual_router_id is required (1 to 255)`);
  const unicast = i.unicastPeers.length > 0;
  if (!i.iface) fail(i.d, `vrrp_instance ${i.name}: interface is required`);
  else if (i.iface.v === 'lo') fail(i.iface.d, `${`(${i.name})`} VRRP cannot run on the loopback interface`);
  if (i.vips.length === 0) fail(i.d, `vrrp_instance ${i.name}: virtual_ipaddress lists no address (keepalived requires one)`);

  // Family: from the advertised addresses, which must agree.
  const family: Family = i.vips[0]?.family ?? 4;
  for (const v of i.vips.slice(1)) {
    if (v.family !== family) fail(dAt(v, 'virtual_ipaddress'), `${name} virtual_ipaddress ${v.address} is IPv${v.family} but the instance is IPv${family} (from ${i.vips[0]!.address}); put other-family addresses in virtual_ipaddress_excluded`);
  }
  // An advert carries the addresses (count byte: 255; at MTU 1500, 89 IPv6 ones, keepalived's figure).
  const maxVips = family === 4 ? 255 : 89;
  if (i.vips.length > maxVips) fail(dAt(i.vips[maxVips]!, 'virtual_ipaddress'), `${name} virtual_ipaddress lists ${i.vips.length} addresses; one advert carries at most ${maxVips} IPv${family} addresses: put the rest in virtual_ipaddress_excluded`);
  for (const peer of i.unicastPeers) {
    if (peer.family !== family) fail(peer.d, `${name} unicast_peer ${peer.address} is IPv${peer.family} but the instance is IPv${family}`);
  }
  if (i.unicastSrc && i.unicastSrc.family !== family) fail(i.unicastSrc.d, `${name} unicast_src_ip ${i.unicastSrc.v} is IPv${i.unicastSrc.family} but the instance is IPv${family}`);
  if (i.mcastDst && (i.mcastDst.v.includes(':') ? 6 : 4) !== family) fail(i.mcastDst.d, `${name} mcast_dst_ip ${i.mcastDst.v} is not of the instance's family (IPv${family})`);

  // Version: the instance's own, else IPv6 = 3, else global vrrp_version, else 2 (keepalived's order).
  let version: 2 | 3 = i.version?.v ?? (family === 6 ? 3 : p.version ?? 2);
  if (family === 6 && version === 2) {
    // keepalived sends a non-standard VRRPv2-over-IPv6 here (or, with vrrp_strict, switches to v3);
    // RFC 3768 is IPv4 only and no other implementation speaks it.
    fail(i.version!.d, `${name} version 2 cannot carry IPv6 addresses (VRRPv2 is IPv4 only); use version 3`);
    version = 3;
  }

  let advertMs = 1000;
  if (i.advert) {
    const c = i.advert.centis;
    if (version === 2 ? !(c % 100 === 0 && c >= 100 && c <= 25500) : !(Number.isInteger(c) && c >= 1 && c <= 4095)) {
      fail(i.advert.d, `${name} ${version === 2 ? ADVERT_V2 : ADVERT_V3} (got '${i.advert.text}'; keepalived would silently use another value)`);
    } else {
      advertMs = c * 10;
    }
  }

  const strict = i.strict ?? p.strict;
  let authPass: string | undefined;
  if (i.auth.d) {
    const type = i.auth.type?.v;
    if (!type) {
      if (i.auth.pass) r.warn(i.auth.d, `${name} authentication without auth_type: no authentication is used (as in keepalived)`);
    }
    else if (type === 'AH') fail(i.auth.type!.d, `${name} auth_type AH (IPsec-AH) is not supported by tandem; use auth_type PASS, or no authentication`);
    else if (version === 3) fail(i.auth.d, `${name} VRRPv3 has no authentication (RFC 5798); remove the authentication block`);
    else if (strict) fail(i.auth.d, `${name} vrrp_strict does not allow authentication`);
    else if (!i.auth.pass) fail(i.auth.d, `${name} auth_type PASS needs auth_pass`);
    else authPass = Buffer.from(i.auth.pass.v).subarray(0, 8).toString('latin1');
  }

  const initialState = i.state?.v ?? 'BACKUP';
  // keepalived: no priority line means 255 (the address owner) for state MASTER, else 100.
  const priority = i.priority?.v ?? (initialState === 'MASTER' ? 255 : 100);
  if (priority === 255 && i.state?.v === 'BACKUP') r.warn(i.priority?.d ?? i.d, `${name} priority 255 makes this node the address owner: it becomes MASTER at once whatever 'state' says`);
  if (i.nopreempt && priority === 255) fail(i.priority?.d ?? i.d, `${name} nopreempt cannot go with priority 255 (the address owner always takes over)${i.priority ? '' : '; without a priority line, state MASTER means 255'}`);
  else if (i.nopreempt && i.state?.v === 'MASTER') r.warn(i.state.d, `${name} nopreempt works only with state BACKUP (as in keepalived); this instance preempts when it starts`);
  if (strict && i.preemptDelayD) fail(i.preemptDelayD, `${name} vrrp_strict does not allow preempt_delay`);
  // keepalived 2.2.7 -t refuses both (exit 5); run alone it would reset them silently.
  if (strict && i.state?.v === 'MASTER' && priority !== 255) fail(i.state.d, `${name} vrrp_strict: state MASTER needs priority 255 (the address owner); use state BACKUP`);
  if (strict && version === 2 && i.accept && i.acceptD) fail(i.acceptD, `${name} vrrp_strict does not allow accept with VRRPv2 (RFC 3768 has no Accept_Mode); remove it or use version 3`);

  if (!ok || !i.iface || !i.vrid) return undefined;
  const garp = {
    masterDelayMs: i.garp.masterDelayMs ?? p.garp.masterDelayMs ?? 5000,
    masterRepeat: i.garp.masterRepeat ?? p.garp.masterRepeat ?? 5,
    masterRefreshMs: i.garp.masterRefreshMs ?? p.garp.masterRefreshMs ?? 0,
    masterRefreshRepeat: i.garp.masterRefreshRepeat ?? p.garp.masterRefreshRepeat ?? 1,
  };
  return {
    ...at(i.d), name: i.name, initialState, interface: i.iface.v, interfaceAt: at(i.iface.d), vrid: i.vrid.v, priority, addressOwner: priority === 255,
    advertMs, version, family, preempt: !i.nopreempt, preemptDelayMs: i.preemptDelayMs,
    ...(unicast ? {} : { mcastGroup: i.mcastDst?.v ?? (family === 4 ? mcast4 : mcast6) }),
    ...(i.unicastSrc ? { unicastSrc: i.unicastSrc.v } : {}),
    unicastPeers: i.unicastPeers.map((x) => ({ ...at(x.d), address: x.address })),
    ...(authPass !== undefined ? { authPass } : {}),
    vips: i.vips.map((v) => ({ ...v, dev: v.dev ?? i.iface!.v })),
    excludedVips: i.excluded.map((v) => ({ ...v, dev: v.dev ?? i.iface!.v })),
    routes: i.routes, trackInterfaces: i.trackInterfaces, trackScripts: i.trackScripts, trackFiles: i.trackFiles,
    dontTrackPrimary: i.dontTrackPrimary, notify: i.notify, garp,
    accept: i.accept ?? (!strict || priority === 255), strict,
  };
}

function dAt(w: Where, directive: string): Directive {
  return { directive, args: [], line: w.line, file: w.file };
}


/** Every VRRP table by block, for the test that no keyword is listed twice (a later entry would hide an earlier one). */
export const VRRP_KEYWORD_TABLES: Record<string, KeywordTable<never>> = {
  global_defs: VRRP_GLOBAL_KEYWORDS, top: VRRP_TOP_KEYWORDS, vrrp_instance: INSTANCE_KEYWORDS, authentication: AUTH_KEYWORDS,
  vrrp_script: SCRIPT_KEYWORDS, vrrp_track_file: TRACK_FILE_KEYWORDS, vrrp_sync_group: GROUP_KEYWORDS,
} as Record<string, KeywordTable<never>>;
