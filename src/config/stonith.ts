// STONITH devices and the fencing directives of ha.cf.
//
//   stonith_host <from-node|*> <type> key=value ...
//
// Heartbeat passed the parameters positionally and kept only the last
// device; tandem takes key=value pairs (so a missing or misspelt parameter is
// an error, not a shifted one), keeps every line, and requires each device to
// name the one node it may fence (`target=`). Types:
//
//   ipmi            built in: ipmitool -I lanplus against the node's BMC
//   fence_<agent>   a fence-agents agent, parameters on stdin
//   external/<name> a cluster-glue external plugin, parameters in the environment
//
// Secrets never appear in ha.cf: they come from files only root can read
// (`passfile=`, or `KEY=@/path` for any parameter). The files are checked
// here but read only when a fence runs, so a rotated password needs no reload.
//
// The fence-race and start-up rules are tandem extensions, documented in
// docs/fencing.md: fence_delay, fence_failure_policy, fence_check_interval,
// fence_retry, fence_wait_for_all, stonith_plugin_dir.

import { join } from 'node:path';

import { asciiLower, escapeControls, isIPv4, looksLikeIPv4, parseUInt } from './common.js';
import { applyKeywords, keywordNames, timeArg, type AddIssue, type Directive, type KeywordTable } from './keywords.js';
import { parseTime } from './time.js';
import { agentRunsIpmitool, findExecutable, isExecutableFile, trustedFileProblem } from './files.js';

export { agentRunsIpmitool };
import type {
  ConfigIssue, ExternalDevice, FenceAgentDevice, FenceFailurePolicy, FencingConfig, IpmiDevice, ParamValue, StonithDevice,
} from './types.js';
import { UserError } from '../util/errors.js';

/** Where cluster-glue installs external plugins (Debian's cluster-glue). */
export const SYSTEM_EXTERNAL_DIR = '/usr/lib/stonith/plugins/external';
/** Where fence-agents installs its agents (Debian's fence-agents). */
export const SYSTEM_FENCE_AGENT_DIRS: readonly string[] = ['/usr/sbin', '/usr/bin'];

export const DEFAULT_IPMI_TIMEOUT_MS = 5_000;
export const DEFAULT_AGENT_TIMEOUT_MS = 20_000;
export const DEFAULT_FENCE_CHECK_INTERVAL_MS = 300_000;
export const DEFAULT_FENCE_RETRY_MS = 2_000;
export const DEFAULT_FENCE_RETRY_MAX_MS = 60_000;
/** Added to the slowest device's timeout when fence_delay is not given (at least keepalive + FENCE_SKEW_ALLOWANCE_MS). */
export const FENCE_DELAY_MARGIN_MS = 2_000;
/**
 * In a symmetric cut the two nodes declare each other dead up to a keepalive
 * plus one one-way delay (and a late timer) apart: each last heard the other
 * at a different instant. fence_delay must cover that on top of the device
 * timeout; this is the allowance for the one-way delay and timer lateness
 * (the simulator found the race lost with fence_delay = timeout, seed 42).
 */
export const FENCE_SKEW_ALLOWANCE_MS = 100;
/** No single fence may take longer: the pair waits on it with its groups down. */
const MAX_DEVICE_TIMEOUT_MS = 600_000;

export type {
  ExternalDevice, FenceAgentDevice, FenceFailurePolicy, FencingConfig, IpmiDevice, ParamValue, StonithDevice,
} from './types.js';
export { deviceLabel } from './common.js';

export interface StonithParseOptions {
  /** Extra directory searched first for fence_* agents and external plugins (stonith_plugin_dir). */
  pluginDir?: string;
  /** Check password files, scripts and executables on this host. Default true. */
  checkFiles?: boolean;
  /** Owners accepted for secret files. Default: root and the current user. */
  secretOwners?: number[];
  /** ha.cf's keepalive: fence_delay must also cover the skew between the two nodes' death declarations. */
  keepaliveMs?: number;
}

/** cluster-glue's compiled (.so) plugins, which tandem cannot load. */
const GLUE_SO_PLUGINS = new Set([
  'apcmaster', 'apcmastersnmp', 'apcsmart', 'baytech', 'bladehpi', 'cyclades', 'drac3', 'ibmhmc', 'ipmilan',
  'meatware', 'null', 'nw_rpc100s', 'rcd_serial', 'rps10', 'ssh', 'suicide', 'wti_mpc', 'wti_nps',
]);

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// External plugins get their parameters as environment variables; these
// would change how every program in the plugin runs.
const RESERVED_ENV = /^(PATH|HOME|SHELL|IFS|ENV|BASH_ENV|LD_[A-Z_]*|LANG|LC_[A-Z_]*|HA_[A-Za-z_]*|TANDEM_[A-Z_]*)$/;
const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
// Names under which agents and plugins take a secret. Matched on the whole
// key or its last _part, so snmp_priv_passwd counts and passwd_method does not.
const SECRET_KEY = /(^|_)(password|passwd|pass|secret|passphrase|community)$/i;

const PRIVLVLS = new Set(['CALLBACK', 'USER', 'OPERATOR', 'ADMINISTRATOR']);
/** Keys tandem sets itself when it runs a fence agent. */
const AGENT_RESERVED = new Set(['action', 'nodename']);

export interface StonithHostResult {
  device?: StonithDevice;
  issues: ConfigIssue[];
}

/**
 * Parses the arguments of one `stonith_host` line (everything after the
 * directive). `nodes` are the ha.cf node names (lower case). Returns the
 * device only when the line has no issues.
 */
export function parseStonithHost(
  args: string[], file: string, line: number, nodes: string[], opts: StonithParseOptions = {},
): StonithHostResult {
  const issues: ConfigIssue[] = [];
  const add = (message: string): void => { issues.push({ file, line, message: escapeControls(message) }); };
  const checkFiles = opts.checkFiles ?? true;

  if (args.length < 3) {
    add(`'stonith_host' takes a node (or *), a device type and key=value parameters, e.g. ` +
      `'stonith_host * ipmi target=beta host=10.0.0.12 user=admin passfile=/etc/ha.d/beta.ipmi'`);
    return { issues };
  }
  const [fromRaw = '', type = '', ...rest] = args;
  const from = fromRaw === '*' ? '*' : asciiLower(fromRaw);
  if (from !== '*' && !nodes.includes(from)) {
    add(`'stonith_host' node '${fromRaw}' is not a node of this pair (${nodes.join(', ') || 'no node lines'}); use one of them or *`);
  }

  // key=value pairs, percent-decoded; '@/path' values name a secret file.
  const params = new Map<string, { value: ParamValue; raw: string }>();
  for (const tok of rest) {
    const eq = tok.indexOf('=');
    if (eq <= 0) {
      add(`parameter '${tok}' is not key=value (Heartbeat's positional form is not accepted: write e.g. ` +
        `target=beta host=10.0.0.12 ...)`);
      continue;
    }
    const key = tok.slice(0, eq);
    const rawValue = tok.slice(eq + 1);
    if (!KEY_RE.test(key)) {
      add(`parameter name '${key}' may only contain letters, digits and '_', starting with a letter or '_'`);
      continue;
    }
    if (params.has(key)) {
      add(`parameter '${key}' is given more than once`);
      continue;
    }
    const decoded = percentDecode(rawValue);
    if (decoded === undefined) {
      add(`parameter '${key}': '%' must start an escape of two hex digits (%20 blank, %2C comma, %25 percent)`);
      continue;
    }
    // A newline would start a parameter of its own on a fence agent's stdin.
    if (/[\u0000-\u001f\u007f]/.test(decoded)) {
      add(`parameter '${key}' must not contain control characters (escaped as %00-%1F or %7F)`);
      continue;
    }
    if (RESERVED_ENV.test(key)) {
      add(`parameter name '${key}' is reserved (tandem sets the environment of the tools it runs)`);
      continue;
    }
    if (decoded.startsWith('@')) {
      const path = decoded.slice(1);
      if (!path.startsWith('/')) {
        add(`parameter '${key}': '@${path}' must name an absolute path`);
        continue;
      }
      params.set(key, { value: { file: path }, raw: decoded });
    } else {
      params.set(key, { value: { text: decoded }, raw: decoded });
    }
  }

  // target: tandem's own, and mandatory for every type.
  let target = '';
  const t = params.get('target');
  if (!t) {
    add(`missing target=<node>: every device names the one node it fences`);
  } else if (!('text' in t.value)) {
    add(`target must be a node name, not a file`);
  } else {
    target = asciiLower(t.value.text);
    if (!nodes.includes(target)) {
      add(`target '${t.value.text}' is not a node of this pair (${nodes.join(', ') || 'no node lines'})`);
    } else if (target === from) {
      add(`node '${from}' cannot fence itself (target=${target}); the line must say which node uses the device: the other node, or *`);
    }
  }

  const c: DeviceContext = {
    type, params, add, issues, opts, checkFiles, before: issues.length, base: { from, target, file, line },
    text: (key) => {
      const p = params.get(key);
      return p && 'text' in p.value ? p.value.text : undefined;
    },
    secretCheck: (key, path) => {
      if (!checkFiles) return;
      const problem = secretFileProblem(path, opts.secretOwners);
      if (problem) add(`${key}: ${problem}`);
    },
    timeout: (dflt) => {
      const v = params.get('timeout');
      if (!v) return dflt;
      const ms = timeParam('timeout', v.value, add, 100, MAX_DEVICE_TIMEOUT_MS);
      return ms ?? dflt;
    },
    dirs: (system) => (opts.pluginDir ? [opts.pluginDir, ...system] : [...system]),
  };
  const kind = DEVICE_TYPES.find((t) => (t.prefix ? type.startsWith(t.name) : type === t.name));
  if (kind?.parse) return kind.parse(c);
  add(kind?.refused ?? `unknown stonith device type '${type}': use ipmi, fence_<agent> (fence-agents) or external/<plugin> (cluster-glue)`);
  return { issues };
}

/** What a device type's parser gets: the line's parameters and the checks every type shares. */
interface DeviceContext {
  type: string;
  params: Map<string, { value: ParamValue; raw: string }>;
  add: (message: string) => void;
  issues: ConfigIssue[];
  opts: StonithParseOptions;
  checkFiles: boolean;
  /** Issues from the parts every type shares (node, parameters, target). */
  before: number;
  base: { from: string; target: string; file: string; line: number };
  /** A literal parameter's text; undefined when absent or from a file. */
  text(key: string): string | undefined;
  secretCheck(key: string, path: string): void;
  /** The shared timeout= parameter, or `dflt`. */
  timeout(dflt: number): number;
  /** Where agents and plugins are looked for: stonith_plugin_dir first. */
  dirs(system: readonly string[]): string[];
}

/**
 * A stonith_host device type: `name` is the type word (or, with `prefix`,
 * how it starts); `parse` reads the rest of the line, `refused` says why
 * tandem does not take this type.
 */
interface DeviceType {
  name: string;
  prefix?: boolean;
  parse?(c: DeviceContext): StonithHostResult;
  refused?: string;
}

/** One parameter of the ipmi type; `read` is absent for those every type reads (target, timeout). */
interface IpmiParam {
  key: string;
  read?(c: DeviceContext, v: Partial<IpmiDevice>): void;
}

/** The ipmi type's parameters, in the order the "accepted:" message lists them and they are read. */
const IPMI_PARAMS: readonly IpmiParam[] = [
  { key: 'target' },
  {
    key: 'host',
    read(c, v) {
      const host = c.text('host');
      if (host === undefined) c.add(`missing host=<BMC address>`);
      else if (looksLikeIPv4(host) ? !isIPv4(host) : !/^[A-Za-z0-9][A-Za-z0-9.:-]*$/.test(host)) {
        c.add(`host '${host}' is not an IPv4 address or host name`);
      }
      if (host !== undefined) v.host = host;
    },
  },
  { key: 'port', read(c, v) { v.port = intParam(c.text('port'), 'port', 623, 1, 65535, c.add); } },
  {
    key: 'user',
    read(c, v) {
      const user = c.text('user');
      if (user === undefined) c.add(`missing user=<BMC user name>`);
      else v.user = user;
    },
  },
  {
    key: 'passfile',
    read(c, v) {
      const passfile = c.text('passfile');
      if (passfile === undefined) {
        c.add(`missing passfile=<file with the BMC password> (ipmitool reads it with -f; passwords are never written in ha.cf)`);
      } else if (!passfile.startsWith('/')) {
        c.add(`passfile '${passfile}' must be an absolute path`);
      } else {
        c.secretCheck('passfile', passfile);
      }
      if (passfile !== undefined) v.passfile = passfile;
    },
  },
  {
    key: 'interface',
    read(c, v) {
      const iface = c.text('interface') ?? 'lanplus';
      if (iface !== 'lanplus' && iface !== 'lan') c.add(`interface '${iface}' must be lanplus (IPMI 2.0) or lan (IPMI 1.5)`);
      v.interface = iface as IpmiDevice['interface'];
    },
  },
  // Cipher suite 3 (HMAC-SHA1, AES-128) is what BMCs and ipmi_sim answer at
  // once; without -C ipmitool first asks for the suites and loses 10 s when
  // the BMC does not implement that command.
  { key: 'cipher', read(c, v) { v.cipher = intParam(c.text('cipher'), 'cipher', 3, 0, 17, c.add); } },
  {
    key: 'privlvl',
    read(c, v) {
      const privRaw = (c.text('privlvl') ?? 'ADMINISTRATOR').toUpperCase();
      if (!PRIVLVLS.has(privRaw)) c.add(`privlvl '${c.text('privlvl')}' must be one of ${[...PRIVLVLS].join(', ')}`);
      v.privlvl = privRaw as IpmiDevice['privlvl'];
    },
  },
  { key: 'timeout' },
  { key: 'ipmitool_timeout', read(c, v) { v.ipmitoolTimeoutS = intParam(c.text('ipmitool_timeout'), 'ipmitool_timeout', 1, 1, 60, c.add); } },
  {
    key: 'retries',
    read(c, v) {
      v.retries = intParam(c.text('retries'), 'retries', 1, 1, 10, c.add,
        ' (0 is refused: ipmitool treats -R 0 as its default and then takes about 20 s to give up)');
    },
  },
  {
    key: 'power_wait',
    read(c, v) {
      const pw = c.params.get('power_wait');
      v.powerWaitMs = pw ? timeParam('power_wait', pw.value, c.add, 0, 60_000) ?? 0 : 0;
    },
  },
];
const IPMI_KEYS: ReadonlySet<string> = new Set(IPMI_PARAMS.map((p) => p.key));

function parseIpmi(c: DeviceContext): StonithHostResult {
  const { params, add, issues } = c;
  for (const key of params.keys()) {
    if (!IPMI_KEYS.has(key)) add(`unknown ipmi parameter '${key}' (accepted: ${[...IPMI_KEYS].join(', ')})`);
  }
  for (const [key, p] of params) {
    if ('file' in p.value && key !== 'target') add(`ipmi parameter '${key}' cannot come from a file; the password file is passfile=`);
  }
  const v: Partial<IpmiDevice> = {};
  for (const p of IPMI_PARAMS) p.read?.(c, v);
  const nS = v.ipmitoolTimeoutS!;
  const retries = v.retries!;
  const timeoutMs = c.timeout(DEFAULT_IPMI_TIMEOUT_MS);
  // One ipmitool call against a dead BMC takes about -N x (-R + 1) seconds;
  // the hard bound must leave room for the off and one confirming status.
  const oneCall = nS * (retries + 1) * 1000;
  if (issues.length === c.before && timeoutMs < 2 * oneCall) {
    add(`timeout ${fmtMs(timeoutMs)} is too short for ipmitool_timeout=${nS} retries=${retries}: ` +
      `one unanswered call takes about ${fmtMs(oneCall)} and a fence needs two (off, then status); use at least timeout=${(2 * oneCall) / 1000}`);
  }
  if (issues.length > 0) return { issues };
  return {
    device: {
      ...c.base, type: 'ipmi', timeoutMs, host: v.host!, port: v.port!, user: v.user!, passfile: v.passfile!,
      interface: v.interface!, cipher: v.cipher!, privlvl: v.privlvl!, ipmitoolTimeoutS: nS, retries, powerWaitMs: v.powerWaitMs!,
    },
    issues,
  };
}

/** The parameters handed to an agent or plugin, with the checks that keep secrets out of ha.cf. */
function agentParams(c: DeviceContext, what: 'fence' | 'external'): Array<[string, ParamValue]> {
  const out: Array<[string, ParamValue]> = [];
  for (const [key, p] of c.params) {
    if (key === 'target' || key === 'timeout' || (what === 'fence' && key === 'passfile')) continue;
    if ('file' in p.value) {
      c.secretCheck(key, p.value.file);
    } else if (SECRET_KEY.test(key)) {
      // A path to a root-only file is how some plugins take their password
      // (external/ipmi passwd_method=file); anything else is a secret in ha.cf.
      if (what === 'external' && p.value.text.startsWith('/')) {
        c.secretCheck(key, p.value.text);
      } else {
        c.add(`${key}= must not hold a secret in ha.cf (it is readable by more than root and ends up in backups); ` +
          `put it in a file only root can read and write ${key}=@/etc/ha.d/<file>` +
          (what === 'fence' ? ' or passfile=/etc/ha.d/<file>' : ''));
      }
    }
    out.push([key, p.value]);
  }
  return out;
}

function parseFenceAgent(c: DeviceContext): StonithHostResult {
  const { type, params, add, issues, opts, checkFiles } = c;
  if (!PLUGIN_NAME.test(type)) {
    add(`fence agent name '${type}' is not a plain file name`);
    return { issues };
  }
  for (const key of AGENT_RESERVED) {
    if (params.has(key)) add(`parameter '${key}' is set by tandem (it chooses the action and the target); remove it`);
  }
  let passfile: string | undefined;
  const pf = params.get('passfile');
  if (pf) {
    if (!('text' in pf.value) || !pf.value.text.startsWith('/')) add(`passfile must be an absolute path`);
    else {
      passfile = pf.value.text;
      c.secretCheck('passfile', passfile);
    }
    for (const k of ['password', 'passwd']) if (params.has(k)) add(`give the password once: passfile= and ${k}= are both set`);
  }
  const ps = params.get('password_script');
  if (ps && 'text' in ps.value && checkFiles) {
    const problem = scriptFileProblem(ps.value.text, opts.secretOwners);
    if (problem) add(`password_script: ${problem}`);
  }
  const list = agentParams(c, 'fence');
  const timeoutMs = c.timeout(DEFAULT_AGENT_TIMEOUT_MS);
  const searchDirs = c.dirs(SYSTEM_FENCE_AGENT_DIRS);
  if (checkFiles && issues.length === c.before) {
    const problem = findExecutableProblem(type, searchDirs);
    if (problem) add(`fence agent ${problem} (Debian: apt-get install fence-agents)`);
    const path = problem ? undefined : searchDirs.map((d) => join(d, type)).find((p) => isExecutableFile(p));
    // It runs as root with the device's password.
    const untrusted = path && trustedFileProblem(path, 'script', opts.secretOwners);
    if (untrusted) add(`fence agent: ${untrusted}`);
    for (const k of ['password_script', 'passwd_script']) {
      if (path && params.has(k) && agentRunsIpmitool(path)) {
        add(`${k}: ${type} hands that password to ipmitool as -P, where ps can read it; use passfile= instead (tandem then has ipmitool read the file with -f)`);
      }
    }
  }
  if (issues.length > 0) return { issues };
  const device: FenceAgentDevice = { ...c.base, type: 'fence', timeoutMs, agent: type, dirs: searchDirs, params: list };
  if (passfile !== undefined) device.passfile = passfile;
  return { device, issues };
}

function parseExternal(c: DeviceContext): StonithHostResult {
  const { add, issues, opts, checkFiles } = c;
  const name = c.type.slice('external/'.length);
  if (!PLUGIN_NAME.test(name)) {
    add(`external plugin name '${name}' is not a plain file name`);
    return { issues };
  }
  const list = agentParams(c, 'external');
  const timeoutMs = c.timeout(DEFAULT_AGENT_TIMEOUT_MS);
  const searchDirs = c.dirs([SYSTEM_EXTERNAL_DIR]);
  if (checkFiles && issues.length === c.before) {
    const problem = findExecutableProblem(name, searchDirs);
    if (problem) add(`external plugin ${problem}`);
    const path = problem ? undefined : searchDirs.map((d) => join(d, name)).find((p) => isExecutableFile(p));
    const untrusted = path && trustedFileProblem(path, 'script', opts.secretOwners);
    if (untrusted) add(`external plugin: ${untrusted}`);
  }
  if (issues.length > 0) return { issues };
  return { device: { ...c.base, type: 'external', timeoutMs, plugin: name, dirs: searchDirs, params: list }, issues };
}

/** What a compiled plugin's users should take instead, where there is a direct replacement. */
const GLUE_SO_HINTS: Readonly<Record<string, string>> = { ipmilan: ' (ipmi or fence_ipmilan replace it)', ssh: ' (external/ssh)' };

/** The device types of stonith_host. */
const DEVICE_TYPES: readonly DeviceType[] = [
  { name: 'ipmi', parse: parseIpmi },
  { name: 'fence_', prefix: true, parse: parseFenceAgent },
  { name: 'external/', prefix: true, parse: parseExternal },
  ...[...GLUE_SO_PLUGINS].map((name) => ({
    name,
    refused: `cluster-glue plugin '${name}' is a compiled plugin tandem cannot load; use ipmi, a fence_* agent ` +
      `or an external/* plugin${GLUE_SO_HINTS[name] ?? ''}`,
  })),
];

/** One ha.cf line that belongs to this module. */
export type FencingLine = Directive;

export interface FencingResult {
  config?: FencingConfig;
  issues: ConfigIssue[];
}

interface FencingState {
  add: AddIssue;
  issues: ConfigIssue[];
  file: string;
  nodes: string[];
  opts: StonithParseOptions;
  pluginDir?: string;
  devices: StonithDevice[];
  fenceDelay?: { ms: number; line: number };
  failurePolicy: FenceFailurePolicy;
  checkIntervalMs: number;
  retryMs: number;
  retryMaxMs: number;
  waitForAll: boolean;
}

const TIME_VALUE = 'a time: seconds, or Nms';

/** A time of at least `min`, or undefined after reporting why not. */
function timeValue(s: FencingState, d: Directive, v: string, min: number): number | undefined {
  return timeArg(s.add, d, v, (ms) => (ms < min ? `must be at least ${fmtMs(min)}` : undefined));
}

/** ha.cf's fencing keywords (docs/fencing.md). */
export const FENCING_KEYWORDS: KeywordTable<FencingState> = [
  {
    name: 'stonith_host',
    apply(s, d) {
      const { pluginDir } = s;
      const r = parseStonithHost(d.args, s.file, d.line, s.nodes, { ...s.opts, ...(pluginDir ? { pluginDir } : {}) });
      s.issues.push(...r.issues);
      if (r.device) s.devices.push(r.device);
    },
  },
  {
    // Applies to every stonith_host line wherever it is written, so it is read first.
    name: 'stonith_plugin_dir',
    first: true,
    once: true,
    one: 'an absolute directory',
    apply(s, d, v) {
      if (!v.startsWith('/')) {
        s.add(d.line, `'stonith_plugin_dir' must be an absolute path (got '${v}')`);
        return;
      }
      s.pluginDir = v;
    },
  },
  {
    name: 'fence_delay',
    once: true,
    one: TIME_VALUE,
    apply(s, d, v) {
      const ms = timeValue(s, d, v, 0);
      if (ms !== undefined) s.fenceDelay = { ms, line: d.line };
    },
  },
  {
    name: 'fence_failure_policy',
    once: true,
    one: 'wait or takeover',
    apply(s, d, v) {
      if (v !== 'wait' && v !== 'takeover') {
        s.add(d.line, `'fence_failure_policy' must be wait (take nothing over until the peer is confirmed off) or takeover (got '${v}')`);
        return;
      }
      s.failurePolicy = v;
    },
  },
  {
    name: 'fence_check_interval',
    once: true,
    one: 'a time, 0 = never',
    apply(s, d, v) {
      const ms = timeValue(s, d, v, 0);
      if (ms !== undefined && ms > 0 && ms < 1000) {
        s.add(d.line, `'fence_check_interval' must be 0 (never) or at least 1 s (got '${v}'); a BMC polled faster gets busy when it is needed`);
      } else if (ms !== undefined) s.checkIntervalMs = ms;
    },
  },
  {
    name: 'fence_retry',
    once: true,
    apply(s, d) {
      if (d.args.length < 1 || d.args.length > 2) {
        s.add(d.line, `'fence_retry' takes the first retry delay and optionally the longest one (e.g. 'fence_retry 2 60'), got ${d.args.length} values`);
        return;
      }
      const first = timeValue(s, d, d.args[0]!, 100);
      const max = d.args[1] === undefined ? Math.max(first ?? 0, DEFAULT_FENCE_RETRY_MAX_MS) : timeValue(s, d, d.args[1], 100);
      if (first === undefined || max === undefined) return;
      if (max < first) {
        s.add(d.line, `'fence_retry' longest delay (${fmtMs(max)}) is shorter than the first (${fmtMs(first)})`);
        return;
      }
      s.retryMs = first;
      s.retryMaxMs = max;
    },
  },
  {
    name: 'fence_wait_for_all',
    once: true,
    one: 'on or off',
    apply(s, d, v) {
      const b = parseOnOff(v);
      if (b === undefined) {
        s.add(d.line, `'fence_wait_for_all' must be on or off (got '${v}')`);
        return;
      }
      s.waitForAll = b;
    },
  },
];

/** ha.cf directives this module parses; hacf.ts hands their lines to parseFencing(). */
export const FENCING_DIRECTIVES: ReadonlySet<string> = keywordNames(FENCING_KEYWORDS);

/**
 * Parses every fencing directive of one ha.cf (the lines whose directive is in
 * FENCING_DIRECTIVES, in file order) and checks them against each other.
 * `nodes` must be the file's node list. Returns a config when there are no
 * issues; with no stonith_host line the config has no devices (no fencing).
 */
export function parseFencing(lines: FencingLine[], file: string, nodes: string[], opts: StonithParseOptions = {}): FencingResult {
  const issues: ConfigIssue[] = [];
  const add: AddIssue = (line, message) => { issues.push({ file, line, message: escapeControls(message) }); };
  const s: FencingState = {
    add, issues, file, nodes, opts, devices: [], failurePolicy: 'wait', checkIntervalMs: DEFAULT_FENCE_CHECK_INTERVAL_MS,
    retryMs: DEFAULT_FENCE_RETRY_MS, retryMaxMs: DEFAULT_FENCE_RETRY_MAX_MS, waitForAll: true,
    ...(opts.pluginDir !== undefined ? { pluginDir: opts.pluginDir } : {}),
  };
  applyKeywords(FENCING_KEYWORDS, s, lines, add, {
    unknown: (d) => add(d.line, `'${d.directive}' is not a fencing directive`),
  });
  const { pluginDir, devices, fenceDelay, failurePolicy, checkIntervalMs, retryMs, retryMaxMs, waitForAll } = s;

  // --- whole-file rules -----------------------------------------------------
  const slowest = devices.reduce<StonithDevice | undefined>((a, d) => (!a || d.timeoutMs > a.timeoutMs ? d : a), undefined);
  const skewMs = (opts.keepaliveMs ?? 0) + FENCE_SKEW_ALLOWANCE_MS;
  if (fenceDelay && slowest && fenceDelay.ms < slowest.timeoutMs + skewMs) {
    add(fenceDelay.line,
      `fence_delay (${fmtMs(fenceDelay.ms)}) must be at least the longest device timeout (${fmtMs(slowest.timeoutMs)}, stonith_host at line ${slowest.line}) ` +
      `plus keepalive and ${FENCE_SKEW_ALLOWANCE_MS} ms (${fmtMs(slowest.timeoutMs + skewMs)}): ` +
      `otherwise the node without the groups can shoot the active node while the active node's own fence is still running`);
  }
  const stonithLines = lines.filter((l) => l.directive === 'stonith_host');
  if (stonithLines.length > 0 && issues.length === 0 && nodes.length === 2) {
    // Fencing is for both directions or neither: a node that cannot fence
    // its peer would take over unprotected while the peer is protected.
    for (const [victim, shooter] of [[nodes[0]!, nodes[1]!], [nodes[1]!, nodes[0]!]] as const) {
      if (!devices.some((d) => d.target === victim && (d.from === '*' || d.from === shooter))) {
        add(stonithLines[0]!.line,
          `no stonith_host lets '${shooter}' fence '${victim}' (add e.g. 'stonith_host ${shooter} ... target=${victim} ...'); ` +
          `both nodes need a device for their peer`);
      }
    }
  }

  if (issues.length > 0) return { issues: sortByLine(issues) };
  const config: FencingConfig = {
    devices,
    fenceDelayMs: fenceDelay?.ms ?? (slowest ? slowest.timeoutMs + Math.max(FENCE_DELAY_MARGIN_MS, skewMs) : 0),
    failurePolicy,
    checkIntervalMs,
    retryMs,
    retryMaxMs,
    waitForAll,
  };
  if (pluginDir !== undefined) config.pluginDir = pluginDir;
  return { config, issues };
}

/** Why `path` is not a fit place for a secret, or undefined. */
export function secretFileProblem(path: string, owners?: number[]): string | undefined {
  return trustedFileProblem(path, 'secret', owners);
}

function scriptFileProblem(path: string, owners?: number[]): string | undefined {
  if (!path.startsWith('/')) return `'${path}' must be an absolute path`;
  // Whoever can change the script can read the password it prints.
  return trustedFileProblem(path, 'script', owners);
}

/** Why no executable `name` is found in `dirs`, or undefined when one is. */
function findExecutableProblem(name: string, dirs: string[]): string | undefined {
  const found = findExecutable(dirs.map((d) => join(d, name)));
  if ('path' in found) return undefined;
  const notes = found.problems.map((p) => `${p.path} ${p.why === 'not-file' ? 'is not a regular file' : 'is not executable'}`);
  return `'${name}' not found: no executable in ${dirs.join(', ')}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

function intParam(
  v: string | undefined, key: string, dflt: number, min: number, max: number, add: (m: string) => void, note = '',
): number {
  if (v === undefined) return dflt;
  const n = parseUInt(v);
  if (n === undefined || n < min || n > max) {
    add(`${key} '${v}' must be a whole number from ${min} to ${max}${note}`);
    return dflt;
  }
  return n;
}

function timeParam(key: string, v: ParamValue, add: (m: string) => void, min: number, max: number): number | undefined {
  if (!('text' in v)) {
    add(`${key} cannot come from a file`);
    return undefined;
  }
  try {
    const ms = parseTime(v.text);
    if (ms < min || ms > max) {
      add(`${key}=${v.text} must be from ${fmtMs(min)} to ${fmtMs(max)}`);
      return undefined;
    }
    return ms;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    add(`${key}: ${e.message}`);
    return undefined;
  }
}

/** %XX escapes let values hold the blanks and commas ha.cf splits on. */
function percentDecode(s: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return undefined;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function parseOnOff(s: string): boolean | undefined {
  const v = s.toLowerCase();
  if (['on', 'yes', 'true', '1'].includes(v)) return true;
  if (['off', 'no', 'false', '0'].includes(v)) return false;
  return undefined;
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'ENOENT') return 'no such file';
  if (err && err.code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(e);
}


function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line);
}
