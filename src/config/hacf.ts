// ha.cf parser. Reads the Heartbeat 3 directive syntax, reports every problem
// with its line (Heartbeat itself often fails with only "configuration
// error"), and builds the HaCf model only when the file is clean.

import { parseMetricsValue } from './metrics.js';
import {
  IssueSink,
  asciiLower,
  ifaceNameProblem,
  isIPv4,
  isMulticastIPv4,
  nodeNameProblem,
  parseUInt,
  physicalLines,
  unicastProblem,
} from './common.js';
import { parseTime } from './time.js';
import { SERIAL_BAUD_RATES, type AutoFailback, type BaudRate, type ConfigIssue, type HaCf, type Medium, type SerialMedium } from './types.js';
import { UserError } from '../util/errors.js';
import { QUORUM_DIRECTIVES, parseQuorum, type QuorumLine } from './quorum.js';
import { FENCING_DIRECTIVES, parseFencing, type FencingConfig, type FencingLine, type StonithParseOptions } from './stonith.js';
import { formatDuration } from '../util/duration.js';

export const DEFAULT_UDPPORT = 694;
export const DEFAULT_KEEPALIVE_MS = 1000;
export const DEFAULT_DEADTIME_MS = 30000;
export const DEFAULT_CLUSTER = 'linux-ha';
export const DEFAULT_BAUD: BaudRate = 19200;

/**
 * Real Heartbeat 3.0.6 directives (config.c tables and comm plugins) that
 * tandem does not implement. They get their own message so an operator
 * migrating a working ha.cf learns the line is understood but unsupported,
 * rather than being told it is a typo. `udp` is Heartbeat's old alias for
 * bcast; ping6 and rds are comm plugins shipped with 3.0.6.
 */
export const UNSUPPORTED_DIRECTIVES: ReadonlySet<string> = new Set([
  'mcast6', 'ucast6', 'hopfudge', 'ping6',
  'hbaping', 'rds', 'udp', 'respawn', 'failfast', 'apiauth', 'stonith', 'watchdog',
  'use_logd', 'conn_logd_time', 'syslogmsgfmt', 'realtime', 'rtprio', 'memreserve', 'coredumps',
  'coreroot', 'hbgenmethod', 'uuidfrom', 'autojoin', 'msgfmt', 'compression',
  'compression_threshold', 'traditional_compression', 'max_rexmit_delay', 'log_badpack',
  'pacemaker', 'crm', 'crm_daemon_dir', 'crmd_spawns_pengine', 'record_config_changes',
  'record_pengine_inputs', 'enable_config_writes', 'env', 'use_apphbd', 'quorum_server',
  'normalpoll',
]);

export const SUPPORTED_DIRECTIVES: ReadonlySet<string> = new Set([
  'node', 'ucast', 'mcast', 'bcast', 'udpport', 'keepalive', 'warntime', 'deadtime', 'initdead',
  'auto_failback', 'nice_failback', 'cluster', 'logfile', 'debugfile', 'logfacility', 'debug',
  'serial', 'baud',
  // tandem extension (not in Heartbeat): a hook run on heartbeat path transitions
  'notify',
  // tandem extension: accept crc and extra key lines in authkeys (config/authkeys.ts)
  'allow_insecure_authkeys',
  // tandem extension: the Prometheus endpoint (config/metrics.ts)
  'metrics',
]);

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

interface Setting<T> {
  value: T;
  line: number;
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

/**
 * Parses ha.cf text. `file` is only used to label issues. Returns the model
 * when there are no issues, otherwise `config` is undefined and `issues`
 * lists every problem found (line 0 = a problem with the file as a whole).
 */
export function parseHaCf(text: string, file: string, stonithOpts: StonithParseOptions = {}): HaCfResult {
  const out = new IssueSink(file);
  const fencingLines: FencingLine[] = [];
  const quorumLines: QuorumLine[] = [];
  const nodes: Array<{ name: string; line: number }> = [];
  const media: Medium[] = [];
  const serial: SerialMedium[] = [];
  let firstSerialLine: number | undefined;
  const singles = new Map<string, Setting<unknown>>();
  let firstPortMediumLine: number | undefined;
  let sawMediaLine = false;
  // Set when a node line had an error: the node count is then unreliable,
  // and "no node line" / "only one node" would only add noise.
  let nodeLineError = false;
  // A time directive that failed to parse leaves its default in place; the
  // cross-checks below would then report against a value nobody wrote.
  let timeValueError = false;

  // One value per directive; a repeat is an error rather than last-wins
  // because two keepalive lines usually mean a merge left a stale one behind.
  const setOnce = <T>(directive: string, line: number, value: T): void => {
    const prev = singles.get(directive);
    if (prev) {
      out.add(line, `'${directive}' is given more than once (first at line ${prev.line})`);
      return;
    }
    singles.set(directive, { value, line });
  };
  const get = <T>(directive: string): Setting<T> | undefined =>
    singles.get(directive) as Setting<T> | undefined;

  const addMedium = (m: Medium): void => {
    const same = media.find((o) => mediumKey(o) === mediumKey(m));
    if (same) {
      out.add(m.line, `duplicate medium '${mediumKey(m)}' (already at line ${same.line})`);
      return;
    }
    media.push(m);
  };

  const addSerial = (m: SerialMedium): void => {
    const same = serial.find((o) => o.device === m.device);
    if (same) {
      out.add(m.line, `duplicate medium 'serial ${m.device}' (already at line ${same.line})`);
      return;
    }
    serial.push(m);
  };

  physicalLines(text).forEach((raw, idx) => {
    const line = idx + 1;
    // Heartbeat drops everything from the first '#', wherever it is.
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') return;
    // Heartbeat's value delimiters include ',', so "node a,b" is two names.
    const [directive = '', ...args] = body.split(/[\s,]+/).filter((t) => t !== '');
    if (directive === '') return;

    // Fencing has its own parser (config/stonith.ts), which needs every line
    // at once: the plugin dir applies to lines above it, and both nodes need
    // a device for their peer.
    if (FENCING_DIRECTIVES.has(directive)) {
      fencingLines.push({ directive, args, line });
      return;
    }
    // Quorum (config/quorum.ts): its defaults depend on deadtime, known only at the end.
    if (QUORUM_DIRECTIVES.has(directive)) {
      quorumLines.push({ directive, args, line });
      return;
    }
    if (UNSUPPORTED_DIRECTIVES.has(directive)) {
      out.add(line, `'${directive}' is a Heartbeat directive tandem does not support yet`);
      return;
    }
    if (!SUPPORTED_DIRECTIVES.has(directive)) {
      const lower = directive.toLowerCase();
      const hint =
        SUPPORTED_DIRECTIVES.has(lower) || UNSUPPORTED_DIRECTIVES.has(lower) || FENCING_DIRECTIVES.has(lower) || QUORUM_DIRECTIVES.has(lower) ? ` (directives are lower-case: '${lower}')` : '';
      out.add(line, `unknown directive '${directive}'${hint}`);
      return;
    }

    const one = (what: string): string | undefined => {
      if (args.length !== 1) {
        out.add(line, `'${directive}' takes exactly one value (${what}), got ${args.length}`);
        return undefined;
      }
      return args[0];
    };

    if (directive === 'bcast' || directive === 'ucast' || directive === 'mcast' || directive === 'serial') sawMediaLine = true;

    switch (directive) {
      case 'node': {
        if (args.length === 0) {
          nodeLineError = true;
          out.add(line, `'node' needs at least one node name`);
          break;
        }
        for (const arg of args) {
          const problem = nodeNameProblem(arg);
          if (problem) {
            nodeLineError = true;
            out.add(line, `node name '${arg}' ${problem}`);
            continue;
          }
          const name = asciiLower(arg);
          const prev = nodes.find((n) => n.name === name);
          if (prev) {
            nodeLineError = true;
            out.add(line, `duplicate node '${name}' (already declared at line ${prev.line})`);
            continue;
          }
          nodes.push({ name, line });
        }
        break;
      }

      case 'ucast': {
        if (args.length !== 2) {
          out.add(line, `'ucast' takes an interface and a peer IPv4 address (ucast IF IP), got ${args.length} values`);
          break;
        }
        const [iface = '', peer = ''] = args;
        firstPortMediumLine ??= line;
        const ifOk = checkIface(out, line, 'ucast', iface);
        if (!isIPv4(peer)) {
          out.add(line, `'ucast' peer '${peer}' is not an IPv4 address`);
          break;
        }
        const bad = unicastProblem(peer);
        if (bad) {
          out.add(line, `'ucast' peer ${peer} ${bad}; use the peer's own address`);
          break;
        }
        if (ifOk) addMedium({ kind: 'ucast', iface, peer, port: DEFAULT_UDPPORT, line });
        break;
      }

      case 'bcast': {
        if (args.length === 0) {
          out.add(line, `'bcast' needs at least one interface name`);
          break;
        }
        firstPortMediumLine ??= line;
        for (const iface of args) {
          if (checkIface(out, line, 'bcast', iface)) {
            addMedium({ kind: 'bcast', iface, port: DEFAULT_UDPPORT, line });
          }
        }
        break;
      }

      case 'mcast': {
        if (args.length !== 5) {
          out.add(line, `'mcast' takes 5 values (mcast IF GROUP PORT TTL LOOP, e.g. mcast eth0 239.0.0.1 694 1 0), got ${args.length}`);
          break;
        }
        const [iface = '', group = '', portS = '', ttlS = '', loopS = ''] = args;
        let ok = checkIface(out, line, 'mcast', iface);
        if (!isIPv4(group) || !isMulticastIPv4(group)) {
          out.add(line, `'mcast' group '${group}' is not an IPv4 multicast address (224.0.0.0/4)`);
          ok = false;
        }
        const port = parseUInt(portS);
        if (port === undefined || port < 1 || port > 65535) {
          out.add(line, `'mcast' port '${portS}' must be a number from 1 to 65535`);
          ok = false;
        }
        const ttl = parseUInt(ttlS);
        if (ttl === undefined || ttl < 1 || ttl > 255) {
          out.add(line, `'mcast' ttl '${ttlS}' must be a number from 1 to 255`);
          ok = false;
        }
        if (loopS !== '0' && loopS !== '1') {
          out.add(line, `'mcast' loop '${loopS}' must be 0 or 1`);
          ok = false;
        }
        if (ok && port !== undefined && ttl !== undefined) {
          addMedium({ kind: 'mcast', iface, group, port, ttl, loop: loopS === '1', line });
        }
        break;
      }

      case 'baud': {
        const v = one(`a bit rate: ${SERIAL_BAUD_RATES.join(', ')}`);
        if (v === undefined) break;
        const rate = parseUInt(v);
        if (rate === undefined || !(SERIAL_BAUD_RATES as readonly number[]).includes(rate)) {
          out.add(line, `'baud' must be one of ${SERIAL_BAUD_RATES.join(', ')} (got '${v}')`);
          break;
        }
        // Heartbeat applies baud to the serial lines that follow it, so a
        // later baud silently leaves earlier lines at the old rate; refuse
        // that order instead of reproducing it (same rule as udpport).
        if (firstSerialLine !== undefined) {
          out.add(
            line,
            `'baud' must precede the serial lines it applies to (serial at line ${firstSerialLine} would not use it); move it above them`,
          );
          break;
        }
        setOnce('baud', line, rate as BaudRate);
        break;
      }

      case 'serial': {
        if (args.length === 0) {
          out.add(line, `'serial' needs at least one device, e.g. 'serial /dev/ttyS0'`);
          break;
        }
        firstSerialLine ??= line;
        const baud = get<BaudRate>('baud')?.value ?? DEFAULT_BAUD;
        for (const device of args) {
          if (!device.startsWith('/')) {
            out.add(line, `'serial' device '${device}' must be an absolute path, e.g. /dev/${device}`);
            continue;
          }
          addSerial({ kind: 'serial', device, baud, line });
        }
        break;
      }

      case 'notify': {
        const v = one('the absolute path of a program');
        if (v === undefined) break;
        if (!v.startsWith('/')) {
          out.add(line, `'notify' must be an absolute path (got '${v}')`);
          break;
        }
        setOnce('notify', line, v);
        break;
      }

      case 'udpport': {
        const v = one('a UDP port');
        if (v === undefined) break;
        const port = parseUInt(v);
        if (port === undefined || port < 1 || port > 65535) {
          out.add(line, `'udpport' '${v}' must be a number from 1 to 65535`);
          break;
        }
        // In Heartbeat the port is read when each bcast/ucast line is parsed,
        // so a later udpport leaves earlier media on the old port. tandem
        // refuses the ambiguous order instead of reproducing that trap.
        if (firstPortMediumLine !== undefined) {
          out.add(
            line,
            `'udpport' must precede media statements (bcast/ucast at line ${firstPortMediumLine} would not use it); move it above them`,
          );
          break;
        }
        setOnce('udpport', line, port);
        break;
      }

      case 'keepalive':
      case 'warntime':
      case 'deadtime':
      case 'initdead': {
        const v = one('a time: seconds, or Nms');
        if (v === undefined) {
          timeValueError = true;
          break;
        }
        try {
          const ms = parseTime(v);
          if (ms <= 0 && directive !== 'initdead') {
            timeValueError = true;
            out.add(line, `'${directive}' must be greater than zero (got '${v}')`);
            break;
          }
          setOnce(directive, line, ms);
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          timeValueError = true;
          out.add(line, `'${directive}': ${e.message}`);
        }
        break;
      }

      case 'auto_failback': {
        const v = one('on, off or legacy');
        if (v === undefined) break;
        const mode = parseAutoFailback(v);
        if (!mode) {
          out.add(line, `'auto_failback' must be on, off or legacy (got '${v}')`);
          break;
        }
        setOnce('auto_failback', line, mode);
        break;
      }

      case 'nice_failback': {
        const v = one('on or off');
        if (v === undefined) break;
        const b = parseBool(v);
        if (b === undefined) {
          out.add(line, `'nice_failback' must be on or off (got '${v}'); it is deprecated, prefer auto_failback`);
          break;
        }
        // Heartbeat's own mapping of the deprecated switch.
        setOnce<AutoFailback>('nice_failback', line, b ? 'off' : 'legacy');
        break;
      }

      case 'cluster': {
        const v = one('a name');
        if (v !== undefined) setOnce('cluster', line, v);
        break;
      }

      case 'logfile':
      case 'debugfile': {
        const v = one('a path');
        if (v === undefined) break;
        // The daemon runs with cwd "/", so a relative path would not be
        // where the operator expects it.
        if (!v.startsWith('/')) {
          out.add(line, `'${directive}' must be an absolute path (got '${v}')`);
          break;
        }
        setOnce(directive, line, v);
        break;
      }

      case 'logfacility': {
        const v = one('a syslog facility or none');
        if (v === undefined) break;
        if (v !== 'none' && !SYSLOG_FACILITIES.has(v)) {
          out.add(
            line,
            `'logfacility' '${v}' is not a syslog facility (use none, daemon, local0..local7, ${[...SYSLOG_FACILITIES].filter((f) => !/^(local[0-9]|daemon)$/.test(f)).join(', ')})`,
          );
          break;
        }
        setOnce('logfacility', line, v);
        break;
      }

      case 'allow_insecure_authkeys': {
        const v = one('yes or no');
        if (v === undefined) break;
        const b = parseBool(v);
        if (b === undefined) {
          out.add(line, `'allow_insecure_authkeys' must be yes or no (got '${v}')`);
          break;
        }
        setOnce('allow_insecure_authkeys', line, b);
        break;
      }

      case 'metrics': {
        const v = one(`off or ADDRESS:PORT`);
        if (v === undefined) break;
        const m = parseMetricsValue(v);
        if (typeof m === 'object' && 'error' in m) out.add(line, m.error);
        else setOnce('metrics', line, m);
        break;
      }

      case 'debug': {
        const v = one('a level 0-255');
        if (v === undefined) break;
        const n = parseUInt(v);
        if (n === undefined || n > 255) {
          out.add(line, `'debug' must be a number from 0 to 255 (got '${v}')`);
          break;
        }
        setOnce('debug', line, n);
        break;
      }
    }
  });

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
  if (!sawMediaLine) {
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

  const issues = out.sorted();
  if (issues.length > 0) return nodeLineError || nodes.length === 0 ? { config: undefined, issues } : { config: undefined, issues, nodes: nodes.map((n) => n.name) };

  const udpport = get<number>('udpport')?.value ?? DEFAULT_UDPPORT;
  const config: HaCf = {
    file,
    cluster: get<string>('cluster')?.value ?? DEFAULT_CLUSTER,
    nodes: nodes.map((n) => n.name),
    // udpport is known to precede every bcast/ucast line by now.
    media: media.map((m) => (m.kind === 'mcast' ? m : { ...m, port: udpport })),
    udpport,
    keepaliveMs,
    deadtimeMs,
    warntimeMs,
    initdeadMs,
    autoFailback: auto?.value ?? nice?.value ?? 'legacy',
    debug: get<number>('debug')?.value ?? 0,
  };
  const logfile = get<string>('logfile')?.value;
  const debugfile = get<string>('debugfile')?.value;
  const logfacility = get<string>('logfacility')?.value;
  if (logfile !== undefined) config.logfile = logfile;
  if (debugfile !== undefined) config.debugfile = debugfile;
  if (logfacility !== undefined) config.logfacility = logfacility;
  if (serial.length > 0) config.serial = serial;
  const notify = get<string>('notify');
  if (notify !== undefined) config.notify = { command: notify.value, line: notify.line };
  if (fencing) config.fencing = fencing;
  if (quorum.settings) config.quorum = quorum.settings;
  const metrics = get<{ host: string; port: number } | 'off'>('metrics');
  if (metrics) config.metrics = metrics.value === 'off' ? { off: true, line: metrics.line } : { ...metrics.value, line: metrics.line };
  const insecure = get<boolean>('allow_insecure_authkeys');
  if (insecure?.value) config.allowInsecureAuthkeys = { line: insecure.line };
  return { config, issues };
}

function parseAutoFailback(v: string): AutoFailback | undefined {
  if (v.toLowerCase() === 'legacy') return 'legacy';
  const b = parseBool(v);
  return b === undefined ? undefined : b ? 'on' : 'off';
}

function checkIface(out: IssueSink, line: number, directive: string, iface: string): boolean {
  const problem = ifaceNameProblem(iface);
  if (problem) out.add(line, `'${directive}' interface name '${iface}' ${problem}`);
  return problem === undefined;
}

function mediumKey(m: Medium): string {
  switch (m.kind) {
    case 'ucast':
      return `ucast ${m.iface} ${m.peer}`;
    case 'bcast':
      return `bcast ${m.iface}`;
    case 'mcast':
      return `mcast ${m.iface} ${m.group} ${m.port}`;
  }
}
