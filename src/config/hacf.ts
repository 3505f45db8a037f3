// ha.cf parser. Reads the Heartbeat 3 directive syntax, reports every problem
// with its line (Heartbeat itself often fails with only "configuration
// error"), and builds the HaCf model only when the file is clean.

import { IssueSink, asciiLower, nodeNameProblem, parseUInt, physicalLines } from './common.js';
import {
  Settings, directiveLines, immediateSection, keywordNames, routeDirectives, timeArg,
  type AddIssue, type Directive, type Keyword, type KeywordTable, type Unsupported,
} from './keywords.js';
import type { AutoFailback, ConfigIssue, HaCf } from './types.js';
import { QUORUM_DIRECTIVES, parseQuorum, type QuorumLine } from './quorum.js';
import { FENCING_DIRECTIVES, parseFencing, type FencingConfig, type FencingLine, type StonithParseOptions } from './stonith.js';
import { DEFAULT_UDPPORT, MEDIA_KEYWORDS, mediaWithPort, newMediaState } from './media.js';
import { formatDuration } from '../util/duration.js';
import { parseMetricsValue } from './metrics.js';
import { VRRP_GUARD_DIRECTIVES, parseVrrpGuard } from './vrrp-guard.js';

export { DEFAULT_BAUD, DEFAULT_UDPPORT } from './media.js';
export const DEFAULT_KEEPALIVE_MS = 1000;
export const DEFAULT_DEADTIME_MS = 30000;
export const DEFAULT_CLUSTER = 'linux-ha';
/** SCHED_FIFO's range on Linux; Heartbeat's default is halfway, as here. */
export const RTPRIO_MIN = 1;
export const RTPRIO_MAX = 99;
export const DEFAULT_RTPRIO = 50;

/**
 * Real Heartbeat 3.0.6 directives (config.c tables and comm plugins) that
 * tandem does not implement. They get their own message so an operator
 * migrating a working ha.cf learns the line is understood but unsupported,
 * rather than being told it is a typo. `udp` is Heartbeat's old alias for
 * bcast; ping6 and rds are comm plugins shipped with 3.0.6.
 */
const HEARTBEAT_ONLY = [
  'mcast6', 'ucast6', 'hopfudge', 'ping6',
  'hbaping', 'rds', 'udp', 'respawn', 'failfast', 'apiauth', 'stonith', 'watchdog',
  'use_logd', 'conn_logd_time', 'syslogmsgfmt', 'memreserve', 'coredumps',
  'coreroot', 'hbgenmethod', 'uuidfrom', 'autojoin', 'msgfmt', 'compression',
  'compression_threshold', 'traditional_compression', 'max_rexmit_delay', 'log_badpack',
  'pacemaker', 'crm', 'crm_daemon_dir', 'crmd_spawns_pengine', 'record_config_changes',
  'record_pengine_inputs', 'enable_config_writes', 'env', 'use_apphbd', 'quorum_server',
  'normalpoll',
];
export const UNSUPPORTED: ReadonlyArray<Unsupported> = HEARTBEAT_ONLY.map((name) => ({
  name, message: `'${name}' is a Heartbeat directive tandem does not support yet`,
}));
export const UNSUPPORTED_DIRECTIVES: ReadonlySet<string> = new Set(HEARTBEAT_ONLY);

/** Facility names syslog(3) understands (glibc facilitynames, minus the internal "mark"). */
export const SYSLOG_FACILITIES: ReadonlySet<string> = new Set([
  'auth', 'authpriv', 'cron', 'daemon', 'ftp', 'kern', 'lpr', 'mail', 'news', 'syslog', 'user',
  'uucp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
]);

// Heartbeat reads on/off values with cl_str_to_boolean, so existing files
// may say yes/no/true/false/1/0; accept the same spellings.
function parseBool(s: string): boolean | undefined {
  const v = s.toLowerCase();
  if (['on', 'yes', 'y', 'true', '1'].includes(v)) return true;
  if (['off', 'no', 'n', 'false', '0'].includes(v)) return false;
  return undefined;
}

export interface HaCfResult {
  config: HaCf | undefined;
  issues: ConfigIssue[];
  /**
   * The node names, also when other lines have errors (undefined when a node
   * line itself was wrong), so haresources is still checked against them.
   */
  nodes?: string[];
}

/** What the node, timing and logging lines of one ha.cf say so far. */
interface CoreState {
  add: AddIssue;
  settings: Settings;
  nodes: Array<{ name: string; line: number }>;
  // Set when a node line had an error: the node count is then unreliable,
  // and "no node line" / "only one node" would only add noise.
  nodeLineError: boolean;
  // A time directive that failed to parse leaves its default in place; the
  // cross-checks below would then report against a value nobody wrote.
  timeValueError: boolean;
}

const TIME_VALUE = 'a time: seconds, or Nms';

function timeKeyword(name: string): Keyword<CoreState> {
  return {
    name,
    one: TIME_VALUE,
    miscount(s) { s.timeValueError = true; },
    apply(s, d, v) {
      const ms = timeArg(s.add, d, v, (t) => (t <= 0 && name !== 'initdead' ? 'must be greater than zero' : undefined));
      if (ms === undefined) s.timeValueError = true;
      else s.settings.set(name, d.line, ms);
    },
  };
}

/** A switch, in any spelling Heartbeat's cl_str_to_boolean takes; `what` names the two words used in messages. */
function boolKeyword(name: string, what: string): Keyword<CoreState> {
  return {
    name,
    one: what,
    apply(s, { line }, v) {
      const b = parseBool(v);
      if (b === undefined) {
        s.add(line, `'${name}' must be ${what} (got '${v}')`);
        return;
      }
      s.settings.set(name, line, b);
    },
  };
}

/** An absolute path, once per file. The daemon runs with cwd "/", so a relative path would not be where the operator expects it. */
function pathKeyword(name: string, what: string): Keyword<CoreState> {
  return {
    name,
    one: what,
    apply(s, { line }, v) {
      if (!v.startsWith('/')) {
        s.add(line, `'${name}' must be an absolute path (got '${v}')`);
        return;
      }
      s.settings.set(name, line, v);
    },
  };
}

/** The pair, its timing and its logging: the keywords no other subsystem owns. */
export const CORE_KEYWORDS: KeywordTable<CoreState> = [
  {
    name: 'node',
    apply(s, { args, line }) {
      if (args.length === 0) {
        s.nodeLineError = true;
        s.add(line, `'node' needs at least one node name`);
        return;
      }
      for (const arg of args) {
        const problem = nodeNameProblem(arg);
        if (problem) {
          s.nodeLineError = true;
          s.add(line, `node name '${arg}' ${problem}`);
          continue;
        }
        const name = asciiLower(arg);
        const prev = s.nodes.find((n) => n.name === name);
        if (prev) {
          s.nodeLineError = true;
          s.add(line, `duplicate node '${name}' (already declared at line ${prev.line})`);
          continue;
        }
        s.nodes.push({ name, line });
      }
    },
  },
  timeKeyword('keepalive'),
  timeKeyword('warntime'),
  timeKeyword('deadtime'),
  timeKeyword('initdead'),
  {
    name: 'auto_failback',
    one: 'on, off or legacy',
    apply(s, { line }, v) {
      const mode = parseAutoFailback(v);
      if (!mode) {
        s.add(line, `'auto_failback' must be on, off or legacy (got '${v}')`);
        return;
      }
      s.settings.set('auto_failback', line, mode);
    },
  },
  {
    name: 'nice_failback',
    one: 'on or off',
    apply(s, { line }, v) {
      const b = parseBool(v);
      if (b === undefined) {
        s.add(line, `'nice_failback' must be on or off (got '${v}'); it is deprecated, prefer auto_failback`);
        return;
      }
      // Heartbeat's own mapping of the deprecated switch.
      s.settings.set<AutoFailback>('nice_failback', line, b ? 'off' : 'legacy');
    },
  },
  {
    name: 'cluster',
    one: 'a name',
    apply(s, { line }, v) { s.settings.set('cluster', line, v); },
  },
  pathKeyword('logfile', 'a path'),
  pathKeyword('debugfile', 'a path'),
  {
    name: 'logfacility',
    one: 'a syslog facility or none',
    apply(s, { line }, v) {
      if (v !== 'none' && !SYSLOG_FACILITIES.has(v)) {
        s.add(
          line,
          `'logfacility' '${v}' is not a syslog facility (use none, daemon, local0..local7, ${[...SYSLOG_FACILITIES].filter((f) => !/^(local[0-9]|daemon)$/.test(f)).join(', ')})`,
        );
        return;
      }
      s.settings.set('logfacility', line, v);
    },
  },
  {
    name: 'debug',
    one: 'a level 0-255',
    apply(s, { line }, v) {
      const n = parseUInt(v);
      if (n === undefined || n > 255) {
        s.add(line, `'debug' must be a number from 0 to 255 (got '${v}')`);
        return;
      }
      s.settings.set('debug', line, n);
    },
  },
  boolKeyword('realtime', 'on or off'),
  {
    name: 'rtprio',
    one: `a priority ${RTPRIO_MIN}-${RTPRIO_MAX}`,
    apply(s, { line }, v) {
      const n = parseUInt(v);
      if (n === undefined || n < RTPRIO_MIN || n > RTPRIO_MAX) {
        s.add(line, `'rtprio' must be a number from ${RTPRIO_MIN} to ${RTPRIO_MAX} (SCHED_FIFO priorities; got '${v}')`);
        return;
      }
      s.settings.set('rtprio', line, n);
    },
  },
  // tandem extension: the Prometheus endpoint (config/metrics.ts)
  {
    name: 'metrics',
    one: 'off or ADDRESS:PORT',
    apply(s, { line }, v) {
      const m = parseMetricsValue(v);
      if (typeof m === 'object' && 'error' in m) s.add(line, m.error);
      else s.settings.set('metrics', line, m);
    },
  },
  // tandem extension (not in Heartbeat): a hook run on heartbeat path transitions
  pathKeyword('notify', 'the absolute path of a program'),
  // tandem extension: accept crc and extra key lines in authkeys (config/authkeys.ts)
  boolKeyword('allow_insecure_authkeys', 'yes or no'),
];

/** Every ha.cf keyword tandem implements outside fencing and quorum. */
export const SUPPORTED_DIRECTIVES: ReadonlySet<string> = new Set([...keywordNames(CORE_KEYWORDS), ...keywordNames(MEDIA_KEYWORDS)]);

/**
 * Parses ha.cf text. `file` is only used to label issues. Returns the model
 * when there are no issues, otherwise `config` is undefined and `issues`
 * lists every problem found (line 0 = a problem with the file as a whole).
 */
export function parseHaCf(text: string, file: string, stonithOpts: StonithParseOptions = {}): HaCfResult {
  const out = new IssueSink(file);
  const add: AddIssue = (line, message) => out.add(line, message);
  const settings = new Settings(add);
  const core: CoreState = { add, settings, nodes: [], nodeLineError: false, timeValueError: false };
  const media = newMediaState(add, settings);
  const fencingLines: FencingLine[] = [];
  const quorumLines: QuorumLine[] = [];
  const guardLines: Directive[] = [];

  routeDirectives(directiveLines(physicalLines(text)), [
    immediateSection(CORE_KEYWORDS, core, add),
    immediateSection(MEDIA_KEYWORDS, media, add),
    // Fencing needs every line at once (the plugin dir applies to lines above
    // it, and both nodes need a device for their peer); quorum's defaults
    // depend on deadtime, known only at the end.
    { names: FENCING_DIRECTIVES, take: (d) => fencingLines.push(d) },
    { names: QUORUM_DIRECTIVES, take: (d) => quorumLines.push(d) },
    // Needs to know whether an arbiter, ping or stonith_host line is anywhere in the file.
    { names: VRRP_GUARD_DIRECTIVES, take: (d) => guardLines.push(d) },
  ], UNSUPPORTED, add);

  const { nodes, nodeLineError, timeValueError } = core;
  const get = <T>(directive: string): { value: T; line: number } | undefined => settings.get<T>(directive);

  // --- whole-file rules -----------------------------------------------------

  if (nodes.length > 2) {
    const third = nodes[2]!;
    out.add(
      third.line,
      `tandem manages two-node pairs: '${third.name}' is a third node (already have '${nodes[0]!.name}' and '${nodes[1]!.name}')`,
    );
  } else if (!nodeLineError && nodes.length === 0) {
    out.add(0, `no 'node' line: declare the two nodes, e.g. 'node alpha beta' (names as 'uname -n' prints them)`);
  } else if (!nodeLineError && nodes.length === 1) {
    const only = nodes[0]!;
    out.add(only.line, `only one node declared ('${only.name}'); tandem needs exactly 2 nodes`);
  }

  // When media lines exist but are all invalid, their own errors say enough.
  if (!media.sawMediaLine) {
    out.add(0, `no heartbeat media: add at least one bcast, ucast, mcast or serial line`);
  }

  const keepalive = get<number>('keepalive');
  const deadtime = get<number>('deadtime');
  const warntime = get<number>('warntime');
  const initdead = get<number>('initdead');
  const keepaliveMs = keepalive?.value ?? DEFAULT_KEEPALIVE_MS;
  const deadtimeMs = deadtime?.value ?? DEFAULT_DEADTIME_MS;

  let timingOk = !timeValueError;
  if (timingOk && deadtimeMs <= 2 * keepaliveMs) {
    timingOk = false;
    out.add(
      deadtime?.line ?? keepalive?.line ?? 0,
      `deadtime (${formatDuration(deadtimeMs)}) must be more than twice keepalive (${formatDuration(keepaliveMs)})`,
    );
  }

  // Heartbeat's default for initdead: long enough for slow network start-up
  // (at least 12 s) but never below deadtime.
  const initdeadMs =
    initdead?.value ?? (deadtimeMs > 10000 ? deadtimeMs : deadtimeMs < 6000 ? 12000 : 2 * deadtimeMs);
  if (!timeValueError && initdead && initdeadMs < deadtimeMs) {
    out.add(initdead.line, `initdead (${formatDuration(initdeadMs)}) must be at least deadtime (${formatDuration(deadtimeMs)})`);
  }

  const warntimeMs = warntime?.value ?? Math.floor(deadtimeMs / 2);
  // The default (deadtime/2) satisfies both bounds whenever the deadtime rule
  // holds, so only an explicit warntime can break them.
  if (warntime && timingOk) {
    if (warntimeMs >= deadtimeMs) {
      out.add(warntime.line, `warntime (${formatDuration(warntimeMs)}) must be less than deadtime (${formatDuration(deadtimeMs)})`);
    } else if (warntimeMs <= keepaliveMs) {
      out.add(warntime.line, `warntime (${formatDuration(warntimeMs)}) must be more than keepalive (${formatDuration(keepaliveMs)})`);
    }
  }

  const auto = get<AutoFailback>('auto_failback');
  const nice = get<AutoFailback>('nice_failback');
  if (auto && nice && auto.value !== nice.value) {
    out.add(
      Math.max(auto.line, nice.line),
      `nice_failback (line ${nice.line}, meaning auto_failback ${nice.value}) conflicts with auto_failback ${auto.value} (line ${auto.line}); keep only auto_failback`,
    );
  }

  // The node list must be sound before devices are checked against it.
  let fencing: FencingConfig | undefined;
  if (fencingLines.length > 0 && nodes.length === 2 && !nodeLineError) {
    const r = parseFencing(fencingLines, file, nodes.map((n) => n.name), { ...stonithOpts, keepaliveMs });
    out.issues.push(...r.issues);   // already cleaned; some name a password file rather than ha.cf
    // Without a stonith_host line there is nothing to fence with: behave as
    // before (Heartbeat without STONITH); the other directives are then moot.
    if (r.config && r.config.devices.length > 0) fencing = r.config;
  }

  const quorum = parseQuorum(quorumLines, file, deadtimeMs);
  out.issues.push(...quorum.issues);

  const guard = parseVrrpGuard(guardLines, file, [...quorumLines, ...fencingLines]);
  out.issues.push(...guard.issues);

  const issues = out.sorted();
  if (issues.length > 0) return nodeLineError || nodes.length === 0 ? { config: undefined, issues } : { config: undefined, issues, nodes: nodes.map((n) => n.name) };

  const config: HaCf = {
    file,
    cluster: get<string>('cluster')?.value ?? DEFAULT_CLUSTER,
    nodes: nodes.map((n) => n.name),
    media: mediaWithPort(media),
    udpport: get<number>('udpport')?.value ?? DEFAULT_UDPPORT,
    keepaliveMs,
    deadtimeMs,
    warntimeMs,
    initdeadMs,
    autoFailback: auto?.value ?? nice?.value ?? 'legacy',
    debug: get<number>('debug')?.value ?? 0,
    realtime: get<boolean>('realtime')?.value ?? true,
    rtprio: get<number>('rtprio')?.value ?? DEFAULT_RTPRIO,
  };
  const logfile = get<string>('logfile')?.value;
  const debugfile = get<string>('debugfile')?.value;
  const logfacility = get<string>('logfacility')?.value;
  if (logfile !== undefined) config.logfile = logfile;
  if (debugfile !== undefined) config.debugfile = debugfile;
  if (logfacility !== undefined) config.logfacility = logfacility;
  if (media.serial.length > 0) config.serial = media.serial;
  const notify = get<string>('notify');
  if (notify !== undefined) config.notify = { command: notify.value, line: notify.line };
  if (fencing) config.fencing = fencing;
  if (quorum.settings) config.quorum = quorum.settings;
  const insecure = get<boolean>('allow_insecure_authkeys');
  if (insecure?.value) config.allowInsecureAuthkeys = { line: insecure.line };
  const metrics = get<{ host: string; port: number } | 'off'>('metrics');
  if (metrics) config.metrics = metrics.value === 'off' ? { off: true, line: metrics.line } : { ...metrics.value, line: metrics.line };
  if (guard.setting) config.vrrpGuard = guard.setting;
  return { config, issues };
}

function parseAutoFailback(v: string): AutoFailback | undefined {
  if (v.toLowerCase() === 'legacy') return 'legacy';
  const b = parseBool(v);
  return b === undefined ? undefined : b ? 'on' : 'off';
}
