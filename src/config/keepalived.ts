// keepalived.conf: the top-level keywords, global_defs, and the checks that need this host (script permissions and
// users, as keepalived's enable_script_security makes them). The syntax is
// keepalived-lexer.ts; VRRP's keywords and model are src/vrrp/config.ts,
// LVS's (virtual_server, real_server, checkers) src/lvs/config.ts.
//
// The verdict follows `keepalived -t` (2.2.7): what it accepts tandem
// accepts, with a warning at the line of every keyword keepalived knows and
// tandem does not implement; what it refuses tandem refuses. Where keepalived
// runs a configuration that is quietly wrong, tandem refuses it; the list is
// in docs/keepalived-conf.md.

import { applyKeywords, type Directive, type Keyword, type KeywordTable } from './keywords.js';
import { lexKeepalived, type KaIssue, type KaReader } from './keepalived-lexer.js';
import { finishLvs, lvsCommands, newLvsParse, LVS_GLOBAL_KEYWORDS, LVS_TOP_KEYWORDS, type LvsConfig, type LvsParse } from '../lvs/config.js';
import { defaultOwners, findExecutable, hostInterfaces, keepalivedReader, lookupUser, settableByOthers, trustedFileProblem, withoutPath } from './files.js';
import { checkRuleLine, finishVrrp, newVrrpParse, VRRP_GLOBAL_KEYWORDS, VRRP_TOP_KEYWORDS, type KaReport, type VrrpCommand, type VrrpConfig, type VrrpParse } from '../vrrp/config.js';

export type { KaIssue } from './keepalived-lexer.js';

export interface KeepalivedConfig {
  file: string;
  /** Every file read (the top one first). */
  files: string[];
  routerId?: string;
  vrrp: VrrpConfig;
  /** virtual_server and virtual_server_group blocks: the LVS subsystem's model (src/lvs/config.ts). */
  lvs: LvsConfig;
}

export interface KeepalivedResult {
  /** Present when there is no error (warnings allowed). */
  config?: KeepalivedConfig;
  /** Errors and warnings, by file and line. */
  issues: KaIssue[];
}

/** What the script checks ask of the host; files.ts answers for real, tests may answer otherwise. */
export interface ScriptHost {
  /** Why the program at `path`, run as `uid`, may not be trusted; undefined when it may. */
  trust(path: string, uid: number): string | undefined;
  /** The executable `argv0` names (absolute, or searched in PATH as keepalived does), or why there is none. */
  find(argv0: string): { path: string } | { problem: string };
  user(name: string, group?: string): { uid: number; gid: number } | { problem: string };
  /** Why users other than root could set the file at `path` (change it, or create it while it is missing); undefined when they cannot. */
  trackFile?(path: string): string | undefined;
  /** The network interfaces of this host (keepalived -t refuses a configuration naming another), or undefined to skip. */
  interfaces(): ReadonlySet<string> | undefined;
}

const SCRIPT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export const realScriptHost: ScriptHost = {
  // Root, or the user the script runs as, may own it (and tandem's own user when it is not root).
  trust: (path, uid) => trustedFileProblem(path, 'script', [...new Set([...defaultOwners(), uid])]),
  find(argv0) {
    const candidates = argv0.includes('/') ? [argv0] : SCRIPT_PATH.map((d) => `${d}/${argv0}`);
    const found = findExecutable(candidates);
    if ('path' in found) return found;
    if (found.problems.length) return { problem: found.problems.map((p) => (p.why === 'not-file' ? `${p.path} is not a regular file` : `${p.path} is not executable`)).join('; ') };
    return { problem: argv0.includes('/') ? `${argv0} does not exist` : `'${argv0}' is not in ${SCRIPT_PATH.join(':')}` };
  },
  user: (name, group) => lookupUser(name, group),
  trackFile: (path) => settableByOthers(path),
  interfaces: () => hostInterfaces(),
};

// ---- keywords keepalived 2.2.7 knows that tandem does not implement ---------------
// (found by running `keepalived -t` on each keyword in each block; see
// docs/keepalived-conf.md). Reported as warnings at their lines.

const GLOBAL_NOT_IMPLEMENTED = [
  'bfd_cpu_affinity', 'bfd_no_swap', 'bfd_priority', 'bfd_process_name', 'bfd_rlimit_rtime', 'bfd_rlimit_rttime',
  'bfd_rt_priority', 'checker_cpu_affinity', 'checker_log_all_failures', 'checker_no_swap',
  'checker_process_name', 'checker_rlimit_rtime', 'checker_rlimit_rttime', 'checker_rt_priority', 'config_save_dir',
  'data_use_instance', 'dbus_service_name', 'default_interface', 'disable_local_igmp', 'dynamic_interfaces', 'enable_dbus',
  'enable_snmp_checker', 'enable_snmp_keepalived', 'enable_snmp_rfc', 'enable_snmp_rfcv2', 'enable_snmp_rfcv3',
  'enable_snmp_vrrp', 'enable_traps', 'fifo_write_vrrp_states_on_reload', 'log_unknown_vrids', 'lvs_flush', 'lvs_flush_on_stop',
  'lvs_flush_onstop', 'lvs_netlink_cmd_rcv_bufs', 'lvs_netlink_cmd_rcv_bufs_force', 'lvs_netlink_monitor_rcv_bufs',
  'lvs_netlink_monitor_rcv_bufs_force', 'lvs_notify_fifo', 'lvs_notify_fifo_script', 'lvs_process_name', 'lvs_sync_daemon',
  'lvs_timeouts', 'max_auto_priority', 'min_auto_priority_delay', 'nftables', 'nftables_counters', 'nftables_ifindex',
  'nftables_ipvs', 'nftables_ipvs_priority', 'nftables_ipvs_start_fwmark', 'nftables_priority', 'no_checker_emails',
  'no_email_faults', 'notification_email', 'notification_email_from', 'notify_fifo', 'notify_fifo_script',
  'process_monitor_rcv_bufs', 'process_monitor_rcv_bufs_force', 'process_name', 'process_names', 'random_seed',
  'reload_check_config', 'reload_file', 'reload_repeat', 'reload_time_file', 'rs_init_notifies', 'shutdown_script',
  'shutdown_script_timeout', 'smtp_alert', 'smtp_alert_checker', 'smtp_alert_vrrp', 'smtp_connect_timeout', 'smtp_helo_name',
  'smtp_server', 'snmp_socket', 'startup_script', 'startup_script_timeout', 'tmp_config_directory', 'umask',
];

const TOP_NOT_IMPLEMENTED = [
  'SSL', 'bfd_instance', 'child_wait_time', 'garp_group', 'instance', 'interface_up_down_delays', 'linkbeat_interfaces',
  'linkbeat_use_polling', 'namespace_with_ipsets', 'net_namespace', 'net_namespace_ipvs', 'static_ipaddress', 'static_routes',
  'static_rules', 'track_group', 'use_pid_dir', 'vrrp_track_process',
];

// ---- tables ----------------------------------------------------------------------

interface KaState {
  r: KaReport;
  routerId?: string;
  vrrp: VrrpParse;
  lvs: LvsParse;
}

/** A subsystem's table run on its part of the file's state. */
function lens<S, T>(table: KeywordTable<T>, get: (s: S) => T): KeywordTable<S> {
  return table.map((k): Keyword<S> => {
    const out: Keyword<S> = { name: k.name, apply: (s, d, v) => k.apply(get(s), d, v) };
    if (k.aliases) out.aliases = k.aliases;
    const block = k.block;
    if (block) out.block = { run: (s, d, add) => block.run(get(s), d, add) };
    return out;
  });
}

function warnAll<S extends { r: KaReport }>(names: readonly string[], taken: ReadonlySet<string>): Keyword<S>[] {
  return [...new Set(names)].filter((n) => !taken.has(n)).map((name) => ({
    name,
    apply: (s: S, d: Directive) => s.r.warn(d, `'${d.directive}' is not implemented by tandem; ignored`),
  }));
}

const GLOBAL_OWN: KeywordTable<KaState> = [
  {
    name: 'router_id',
    apply: (s, d) => {
      if (d.args.length === 0) { s.r.error(d, "'router_id' needs a name"); return; }
      if (d.args.length > 1) s.r.warn(d, `'router_id' takes one name; '${d.args.slice(1).join(' ')}' is ignored`);
      s.routerId = d.args[0]!;
    },
  },
];
const GLOBAL_TAKEN = new Set([...GLOBAL_OWN, ...VRRP_GLOBAL_KEYWORDS, ...LVS_GLOBAL_KEYWORDS].map((k) => k.name));
const GLOBAL_KEYWORDS: KeywordTable<KaState> = [
  ...GLOBAL_OWN,
  ...lens(VRRP_GLOBAL_KEYWORDS, (s: KaState) => s.vrrp),
  ...lens(LVS_GLOBAL_KEYWORDS, (s: KaState) => s.lvs),
  ...warnAll<KaState>(GLOBAL_NOT_IMPLEMENTED, GLOBAL_TAKEN),
];

const TOP_OWN: KeywordTable<KaState> = [
  {
    name: 'global_defs',
    apply: (s, d) => { if (!d.block) s.r.error(d, "'global_defs' has no '{ ... }' block"); },
    block: { run: (s, d) => applyKeywords(GLOBAL_KEYWORDS, s, d.block ?? [], addFor(s), { unknown: (x) => s.r.error(x, unknownMessage(x, 'global_defs')) }) },
  },
  ...lens(VRRP_TOP_KEYWORDS, (s: KaState) => s.vrrp),
  {
    name: 'static_rules',
    apply: (s, d) => s.r.warn(d, "'static_rules' is not implemented by tandem; ignored"),
    block: { run: (s, d) => { for (const x of d.block ?? []) checkRuleLine(s.r, x); } },
  },
  ...lens(LVS_TOP_KEYWORDS, (s: KaState) => s.lvs),
];
const TOP_KEYWORDS: KeywordTable<KaState> = [...TOP_OWN, ...warnAll<KaState>(TOP_NOT_IMPLEMENTED, new Set(TOP_OWN.map((k) => k.name)))];

function unknownMessage(d: Directive, where?: string): string {
  const inBlock = where ? ` in ${where}` : '';
  if (d.directive.startsWith('@') || d.directive.startsWith('$')) {
    return `'${d.directive}': keepalived's ${d.directive.startsWith('@') ? '@ conditional lines' : '$ definitions'} are not supported by tandem`;
  }
  return `unknown keyword '${d.directive}'${inBlock}`;
}

function addFor(s: KaState): (line: number, message: string, at?: Directive) => void {
  return (line, message, at) => s.r.error(at ?? { directive: '', args: [], line }, message);
}

// ---- the whole file --------------------------------------------------------------

export interface KeepalivedOptions {
  reader?: KaReader;
  /** null: no script checks (a test of the syntax only). Default: this host. */
  host?: ScriptHost | null;
  /**
   * Check that every file read is owned by root and not writable by others
   * (it decides what runs as root), as for ha.cf. Default: when `host` is
   * the real one. keepalived does not check this (a deliberate difference).
   */
  checkMode?: boolean;
}

/** Reads and checks a keepalived.conf and everything it includes. */
export function loadKeepalived(file: string, opts: KeepalivedOptions = {}): KeepalivedResult {
  const lex = lexKeepalived(file, opts.reader ?? keepalivedReader);
  const issues: KaIssue[] = [...lex.issues];
  const clean = (m: string): string => m.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const r: KaReport = {
    error: (d, message) => issues.push({ file: d.file ?? file, line: d.line, message: clean(message), severity: 'error' }),
    warn: (d, message) => issues.push({ file: d.file ?? file, line: d.line, message: clean(message), severity: 'warning' }),
  };
  const s: KaState = { r, vrrp: newVrrpParse(r), lvs: newLvsParse(r) };
  applyKeywords(TOP_KEYWORDS, s, lex.nodes, addFor(s), { unknown: (d) => r.error(d, unknownMessage(d)) });
  const vrrp = finishVrrp(s.vrrp);
  const lvs = finishLvs(s.lvs);
  const host = opts.host === undefined ? realScriptHost : opts.host;
  if (opts.checkMode ?? (host === realScriptHost && opts.reader === undefined)) {
    for (const f of lex.files) {
      const problem = trustedFileProblem(f, 'config');
      if (problem) issues.push({ file: f, line: 0, message: clean(withoutPath(problem, f)), severity: 'error' });
    }
  }
  if (host) {
    checkScripts(vrrp, lvs, host, r);
    checkInterfaces(vrrp, host, r);
    checkTrackFiles(vrrp, host, r);
  }
  const sorted = sortKaIssues(issues);
  if (sorted.some((i) => i.severity === 'error')) return { issues: sorted };
  return { config: { file, files: lex.files, ...(s.routerId !== undefined ? { routerId: s.routerId } : {}), vrrp, lvs }, issues: sorted };
}

/**
 * A track_file's number moves the priority of every instance that tracks
 * it: whoever can write it (or create it while it is missing) decides which
 * node is master. keepalived accepts any such file, and so does tandem, but
 * it says so at the file's line.
 */
function checkTrackFiles(v: VrrpConfig, host: ScriptHost, r: KaReport): void {
  if (!host.trackFile) return;
  for (const t of v.trackFiles) {
    const tracked = (u: { trackFiles: Array<{ name: string }> }) => u.trackFiles.some((x) => x.name === t.name);
    if (!v.instances.some(tracked) && !v.syncGroups.some(tracked)) continue;
    const problem = host.trackFile(t.path);
    if (problem) r.warn({ directive: '', args: [], line: t.line, file: t.file }, `vrrp_track_file ${t.name}: ${problem}: any local user who can do so sets the priority of the instances that track it`);
  }
}

/**
 * Like keepalived -t: every interface an instance names (its own, tracked
 * ones, a virtual address's or route's dev) must exist here.
 */
function checkInterfaces(v: VrrpConfig, host: ScriptHost, r: KaReport): void {
  const have = host.interfaces();
  if (!have) return;
  const d = (w: { file: string; line: number }): Directive => ({ directive: '', args: [], line: w.line, file: w.file });
  for (const i of v.instances) {
    const named: Array<[string, { file: string; line: number }, string]> = [
      [i.interface, i.interfaceAt, 'interface'],
      ...i.trackInterfaces.map((t): [string, typeof t, string] => [t.name, t, 'track_interface']),
      // An address without its own dev is on the instance's interface, reported once above.
      ...[...i.vips, ...i.excludedVips].filter((x) => x.dev !== i.interface).map((x): [string, typeof x, string] => [x.dev!, x, `dev of ${x.address}`]),
      ...i.routes.filter((x) => x.dev !== undefined).map((x): [string, typeof x, string] => [x.dev!, x, `dev of route ${x.to}`]),
    ];
    for (const [name, w, what] of named) {
      if (!have.has(name)) r.error(d(w), `(${i.name}) ${what}: interface ${name} does not exist on this host (keepalived -t refuses it too)`);
    }
  }
}

/** Every command the VRRP side would run, with what it is for: tracked vrrp_scripts and notify commands. */
function commandsOf(v: VrrpConfig): Array<{ c: VrrpCommand; what: string }> {
  const out: Array<{ c: VrrpCommand; what: string }> = [];
  // A vrrp_script no instance or group tracks is never run (keepalived does not check it either).
  const used = new Set([...v.instances.flatMap((i) => i.trackScripts), ...v.syncGroups.flatMap((g) => g.trackScripts)].map((t) => t.name));
  for (const sc of v.scripts) if (sc.script && used.has(sc.name)) out.push({ c: sc.script, what: `vrrp_script ${sc.name}` });
  const notify = (owner: string, n: VrrpConfig['instances'][number]['notify']): void => {
    for (const [k, c] of Object.entries(n)) if (c) out.push({ c, what: `${owner} ${k === 'any' ? 'notify' : `notify_${k}`}` });
  };
  for (const i of v.instances) notify(`vrrp_instance ${i.name}`, i.notify);
  for (const g of v.syncGroups) notify(`vrrp_sync_group ${g.name}`, g.notify);
  return out;
}

/**
 * keepalived's script security: with enable_script_security every script
 * runs as its `user`, else script_user, else the user keepalived_script,
 * which must exist; a script (and every directory above it) that someone
 * other than root or that user can change is refused. Without
 * enable_script_security `keepalived -t` fails (exit 6, "SECURITY
 * VIOLATION"), and so does tandem.
 */
function checkScripts(v: VrrpConfig, lvs: LvsConfig, host: ScriptHost, r: KaReport): void {
  const cmds = [...commandsOf(v), ...lvsCommands(lvs)];
  const d = (c: VrrpCommand): Directive => ({ directive: '', args: [], line: c.line, file: c.file });
  // A program that is not there is an error whatever the security setting (keepalived -t refuses a
  // tracked one; it silently drops a notify one, which tandem refuses too).
  const runnable: Array<{ c: VrrpCommand; what: string; path: string }> = [];
  for (const { c, what } of cmds) {
    const prog = host.find(c.argv[0]!);
    if ('problem' in prog) r.error(d(c), `${what}: cannot run '${c.argv[0]}': ${prog.problem}`);
    else runnable.push({ c, what, path: prog.path });
  }
  if (runnable.length === 0) return;
  if (!v.enableScriptSecurity) {
    const first = runnable[0]!;
    r.error(d(first.c), `${first.what} runs a script, but global_defs has no enable_script_security: scripts would run as root unchecked ` +
      `(keepalived -t refuses this too, "SECURITY VIOLATION"); add enable_script_security and script_user to global_defs`);
    return;
  }
  const verdicts = new Map<string, string | undefined>();
  for (const { c, what, path } of runnable) {
    const user = c.user ?? (v.scriptUser ? { name: v.scriptUser.name, ...(v.scriptUser.group !== undefined ? { group: v.scriptUser.group } : {}) } : { name: 'keepalived_script' });
    const found = host.user(user.name, user.group);
    if ('problem' in found) {
      const how = c.user ? 'its user' : v.scriptUser ? 'script_user' : "the default user 'keepalived_script' (enable_script_security without script_user)";
      r.error(d(c), `${what}: cannot run as ${how}: ${found.problem}`);
      continue;
    }
    c.user = user;
    c.uid = found.uid;
    c.gid = found.gid;
    c.path = path;
    const key = `${path}\0${found.uid}`;
    if (!verdicts.has(key)) verdicts.set(key, host.trust(path, found.uid));
    const problem = verdicts.get(key);
    if (problem) r.error(d(c), `${what}: unsafe script (enable_script_security): ${problem}`);
  }
}

export function sortKaIssues(issues: KaIssue[]): KaIssue[] {
  return [...issues].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

/** `FILE:LINE: message`, warnings marked. */
export function formatKaIssue(i: KaIssue): string {
  const msg = i.severity === 'warning' ? `warning: ${i.message}` : i.message;
  return i.line > 0 ? `${i.file}:${i.line}: ${msg}` : `${i.file}: ${msg}`;
}

/** The tables of this module, for the test that no keyword is listed twice. */
export const KEEPALIVED_KEYWORD_TABLES: Record<string, KeywordTable<never>> = { global_defs: GLOBAL_KEYWORDS, top: TOP_KEYWORDS } as Record<string, KeywordTable<never>>;
