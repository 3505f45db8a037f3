// Fence device adapters: ipmitool (type ipmi), fence-agents (fence_*) and
// cluster-glue external plugins (external/*). Thin on purpose: the decision
// when to fence is policy.ts's; this only does one action on one device.
//
// Rules every adapter keeps:
//  - bounded: one call never takes longer than the device's timeout (plus
//    well under a second to reap); the tool's whole process group is killed
//    at the deadline. ipmitool gets -N/-R so a dead BMC fails in seconds.
//  - "off" succeeds only when confirmed: a status that reads off afterwards
//    (ipmi, fence_*). External plugins have no node status in their
//    convention, so their exit code is the confirmation (reported as such).
//  - a device acts only on its target: external plugins are asked gethosts
//    first, because they do not check the host themselves.
//  - secrets never on a command line and never in a message: ipmitool reads
//    -f <file>; agents get key=value on stdin; agents that run ipmitool get a
//    shim that swaps their -P for -f; text from the tools is scrubbed.

import { createHash } from 'node:crypto';
import { accessSync, constants as fsc, lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SCRIPT_ENV } from '../agents/script.js';
import {
  agentRunsIpmitool, deviceLabel, type ExternalDevice, type FenceAgentDevice, type IpmiDevice, type ParamValue, type StonithDevice,
} from '../config/stonith.js';
import { runBounded, type RunResult } from './run.js';

export type FenceAction = 'off' | 'on' | 'reboot' | 'status';
export type PowerState = 'on' | 'off';

export interface FenceResult {
  ok: boolean;
  action: FenceAction | 'monitor';
  target: string;
  device: string;             // deviceLabel(): no secrets
  /** The last power state the device reported for the target. */
  power?: PowerState;
  /** How success of off/on/reboot was established. */
  confirmedBy?: 'status' | 'exit-code';
  durationMs: number;
  timedOut: boolean;
  aborted: boolean;
  /** Operator-facing, one line, secrets removed. */
  error?: string;
}

export interface FenceContext {
  /** Private directory for the ipmitool shim given to fence agents that run ipmitool. Default: <tmpdir>/tandem-fence-<uid>. */
  workDir?: string;
  /** Debug trace (commands without secrets). */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
}

/** Between confirming status reads. */
const CONFIRM_POLL_MS = 250;

/** Runs `action` against the device's target. Never rejects. */
export async function fence(device: StonithDevice, action: FenceAction, signal?: AbortSignal, ctx: FenceContext = {}): Promise<FenceResult> {
  return guarded(device, action, signal, ctx, () => {
    switch (device.type) {
      case 'ipmi': return ipmi(device, action, signal, ctx);
      case 'fence': return agent(device, action, signal, ctx);
      case 'external': return external(device, action, signal, ctx);
    }
  });
}

/**
 * Is the device usable right now? ipmi: the BMC answers a power status;
 * fence_*: the agent's monitor action; external: `status` and `gethosts`
 * lists the target. Never switches power. Never rejects.
 */
export async function checkDevice(device: StonithDevice, signal?: AbortSignal, ctx: FenceContext = {}): Promise<FenceResult> {
  return guarded(device, 'monitor', signal, ctx, () => {
    switch (device.type) {
      case 'ipmi': return ipmi(device, 'status', signal, ctx);
      case 'fence': return agent(device, 'monitor', signal, ctx);
      case 'external': return external(device, 'monitor', signal, ctx);
    }
  });
}

type Outcome = Omit<FenceResult, 'action' | 'target' | 'device' | 'durationMs' | 'timedOut' | 'aborted'> & { timedOut?: boolean; aborted?: boolean };

async function guarded(
  device: StonithDevice, action: FenceResult['action'], signal: AbortSignal | undefined, ctx: FenceContext,
  body: () => Promise<Outcome>,
): Promise<FenceResult> {
  const started = performance.now();
  let o: Outcome;
  try {
    o = await body();
  } catch (e) {
    // Adapters report failures as outcomes; anything thrown is a bug or an
    // fs error, and still must not escape as a stack.
    o = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  const r: FenceResult = {
    ...o,
    action, target: device.target, device: deviceLabel(device),
    durationMs: Math.round(performance.now() - started),
    timedOut: o.timedOut ?? false,
    aborted: o.aborted ?? signal?.aborted ?? false,
  };
  if (!r.ok && r.aborted && !r.error) r.error = 'aborted';
  ctx.log?.(r.ok ? 'debug' : 'warn', `${r.device}: ${action} ${r.ok ? 'ok' : `failed: ${r.error}`} in ${r.durationMs} ms`);
  return r;
}

// --- ipmi ------------------------------------------------------------------

function ipmitoolArgs(d: IpmiDevice, ...cmd: string[]): string[] {
  const a = ['-I', d.interface, '-H', d.host, '-p', String(d.port), '-U', d.user, '-f', d.passfile, '-L', d.privlvl,
    '-N', String(d.ipmitoolTimeoutS), '-R', String(d.retries)];
  if (d.interface === 'lanplus') a.push('-C', String(d.cipher));
  return [...a, 'chassis', 'power', ...cmd];
}

async function ipmi(d: IpmiDevice, action: FenceAction, signal: AbortSignal | undefined, ctx: FenceContext): Promise<Outcome> {
  const deadline = performance.now() + d.timeoutMs;
  // ipmitool asks on the terminal for a password it cannot read; say why instead.
  try {
    accessSync(d.passfile, fsc.R_OK);
  } catch {
    return { ok: false, error: `password file ${d.passfile} cannot be read` };
  }
  const run = async (...cmd: string[]): Promise<{ r: RunResult; power?: PowerState; err?: string }> => {
    ctx.log?.('debug', `${deviceLabel(d)}: ipmitool chassis power ${cmd.join(' ')}`);
    const r = await runBounded('ipmitool', ipmitoolArgs(d, ...cmd), { env: { ...SCRIPT_ENV }, deadline, ...(signal ? { signal } : {}) });
    const m = /Chassis Power is (on|off)/i.exec(r.stdout);
    const power = m ? (m[1]!.toLowerCase() as PowerState) : undefined;
    const failed = r.code !== 0 || r.timedOut || r.aborted || r.spawnError !== undefined;
    return { r, ...(power ? { power } : {}), ...(failed ? { err: describe('ipmitool', `chassis power ${cmd.join(' ')}`, r, d.timeoutMs) } : {}) };
  };
  const status = async (): Promise<Outcome> => {
    const s = await run('status');
    if (s.err) return fail(s.err, s.r);
    if (!s.power) return { ok: false, error: `ipmitool chassis power status gave no power state: ${tail(s.r)}` };
    return { ok: true, power: s.power };
  };
  const switchTo = async (want: PowerState): Promise<Outcome> => {
    const s = await run(want);
    if (s.err) return fail(s.err, s.r);
    if (want === 'off' && d.powerWaitMs > 0) await sleep(Math.min(d.powerWaitMs, Math.max(0, deadline - performance.now())), signal);
    return confirm(want, deadline, signal, status, 'ipmitool');
  };
  switch (action) {
    case 'status': return status();
    case 'off': return switchTo('off');
    case 'on': return switchTo('on');
    case 'reboot': {
      // off and on, each confirmed; never "power cycle", which BMCs may
      // acknowledge before the node is actually off.
      const off = await switchTo('off');
      if (!off.ok) return off;
      return switchTo('on');
    }
  }
}

/** Polls `status` until it reads `want` or the deadline passes. */
async function confirm(
  want: PowerState, deadline: number, signal: AbortSignal | undefined, status: () => Promise<Outcome>, tool: string,
): Promise<Outcome> {
  let last: Outcome | undefined;
  // The last poll may itself be cut off by the deadline; the operator still
  // needs the last state the device did report.
  let lastRead: PowerState | undefined;
  for (;;) {
    const s = await status();
    if (s.ok && s.power === want) return { ok: true, power: want, confirmedBy: 'status' };
    last = s;
    if (s.ok && s.power) lastRead = s.power;
    if (s.timedOut || s.aborted || signal?.aborted) break;
    if (performance.now() + CONFIRM_POLL_MS >= deadline) break;
    await sleep(CONFIRM_POLL_MS, signal);
  }
  const why = last?.ok
    ? `status still reads ${last.power ?? 'unknown'}`
    : `${lastRead ? `status last read ${lastRead}, then ` : 'status '}failed: ${last?.error ?? 'no answer'}`;
  return {
    ok: false,
    ...(lastRead ? { power: lastRead } : {}),
    timedOut: last?.timedOut ?? performance.now() >= deadline,
    aborted: last?.aborted ?? signal?.aborted ?? false,
    error: `${tool} accepted power ${want} but it was not confirmed before the deadline: ${why}`,
  };
}

function fail(error: string, r: RunResult): Outcome {
  return { ok: false, error, timedOut: r.timedOut, aborted: r.aborted };
}

// --- fence-agents ----------------------------------------------------------

function findIn(dirs: string[], name: string): string | undefined {
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) {
        accessSync(p, fsc.X_OK);
        return p;
      }
    } catch {
      // absent or not executable: next directory
    }
  }
  return undefined;
}

interface Secrets {
  values: string[];
}

function readParam(v: ParamValue, secrets: Secrets, what: string): string {
  if ('text' in v) return v.text;
  let s: string;
  try {
    s = readFileSync(v.file, 'utf8');
  } catch (e) {
    throw new Error(`${what}: cannot read ${v.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  s = s.replace(/[\r\n]+$/, '');
  // One line only: a second line would become a parameter of its own on an
  // agent's stdin.
  if (/[\u0000-\u001f]/.test(s)) throw new Error(`${what}: ${v.file} must hold a single line without control characters`);
  if (s !== '') secrets.values.push(s);
  return s;
}

async function agent(d: FenceAgentDevice, action: FenceAction | 'monitor', signal: AbortSignal | undefined, ctx: FenceContext): Promise<Outcome> {
  const deadline = performance.now() + d.timeoutMs;
  const path = findIn(d.dirs, d.agent);
  if (!path) return { ok: false, error: `fence agent ${d.agent} not found in ${d.dirs.join(', ')}` };

  const secrets: Secrets = { values: [] };
  const env: Record<string, string> = { ...SCRIPT_ENV };
  const lines: string[] = [];
  const given = new Set(d.params.map(([k]) => k));
  const family = agentRunsIpmitool(path);
  let passfile = d.passfile;
  // The agent would put a password from password_script on -P again; only
  // without one can the shim take over.
  const useShim = family && !given.has('password_script') && !given.has('passwd_script');
  for (const [k, v] of d.params) {
    // A password file for an ipmitool agent is handed to ipmitool itself (-f),
    // so neither the agent nor ipmitool's command line ever holds it.
    if (useShim && (k === 'password' || k === 'passwd') && 'file' in v) {
      passfile = v.file;
      continue;
    }
    if (useShim && k === 'ipmitool_path') {
      env.TANDEM_IPMITOOL = readParam(v, secrets, k);
      continue;
    }
    lines.push(`${k}=${readParam(v, secrets, k)}`);
  }
  if (passfile !== undefined && !useShim) {
    lines.push(`password=${readParam({ file: passfile }, secrets, 'passfile')}`);
  }
  if (useShim) {
    lines.push(`ipmitool_path=${ensureIpmitoolShim(ctx.workDir)}`);
    if (passfile !== undefined) env.TANDEM_IPMI_PASSFILE = passfile;
    env.TANDEM_IPMI_RETRIES = '1';
    if (!given.has('ipmitool_timeout')) lines.push('ipmitool_timeout=1');
  }
  // The agent should give up, and say why, before our hard kill.
  const sec = Math.max(1, Math.floor(d.timeoutMs / 1000));
  if (!given.has('power_timeout')) lines.push(`power_timeout=${Math.max(1, Math.floor(sec / 2))}`);
  if (!given.has('login_timeout')) lines.push(`login_timeout=${Math.max(1, Math.min(5, Math.floor(sec / 4)))}`);
  if (!given.has('shell_timeout')) lines.push(`shell_timeout=${Math.max(1, Math.min(3, Math.floor(sec / 4)))}`);

  const run = async (act: string): Promise<RunResult> => {
    ctx.log?.('debug', `${deviceLabel(d)}: ${path} action=${act} (parameters on stdin)`);
    return runBounded(path, [], { env, input: [`action=${act}`, ...lines, ''].join('\n'), deadline, ...(signal ? { signal } : {}) });
  };
  const scrub = (s: string): string => scrubSecrets(s, secrets.values);

  // fence-agents exit codes: 0 success (status: on), 1 failure, 2 status off.
  const status = async (): Promise<Outcome> => {
    const r = await run('status');
    if (r.code === 0) return { ok: true, power: 'on' };
    if (r.code === 2) return { ok: true, power: 'off' };
    return fail(scrub(describe(d.agent, 'action=status', r, d.timeoutMs)), r);
  };
  const act = async (a: 'off' | 'on' | 'reboot' | 'monitor'): Promise<Outcome | undefined> => {
    const r = await run(a);
    if (r.code === 0) return undefined;
    return fail(scrub(describe(d.agent, `action=${a}`, r, d.timeoutMs)), r);
  };
  switch (action) {
    case 'status': return status();
    case 'monitor': return (await act('monitor')) ?? { ok: true };
    case 'off':
    case 'on':
    case 'reboot': {
      const err = await act(action);
      if (err) return err;
      return confirm(action === 'off' ? 'off' : 'on', deadline, signal, status, d.agent);
    }
  }
}

const SHIM = `#!/bin/sh
# Written by tandem. Fence agents that run ipmitool pass the password as -P on
# ipmitool's command line, where ps can read it until ipmitool hides it.
# tandem gives such an agent no password and runs it with ipmitool_path set
# here: this drops the agent's -P and lets ipmitool read -f <file> instead,
# and adds -R so an unreachable BMC fails in seconds.
real=\${TANDEM_IPMITOOL:-ipmitool}
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  if [ "$a" = "-P" ] && [ -n "$TANDEM_IPMI_PASSFILE" ]; then
    if [ "$n" -gt 0 ]; then shift; n=$((n - 1)); fi
    continue
  fi
  set -- "$@" "$a"
done
if [ -n "$TANDEM_IPMI_PASSFILE" ]; then set -- -f "$TANDEM_IPMI_PASSFILE" "$@"; fi
if [ -n "$TANDEM_IPMI_RETRIES" ]; then set -- -R "$TANDEM_IPMI_RETRIES" "$@"; fi
exec "$real" "$@"
`;

/** Writes the shim (once per directory and content) and returns its path. */
export function ensureIpmitoolShim(workDir?: string): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const dir = workDir ?? join(tmpdir(), `tandem-fence-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // In a shared /tmp someone else could have made the directory first.
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`fence work directory ${dir} must be a directory owned by uid ${uid} and writable only by it`);
  }
  const digest = createHash('sha256').update(SHIM).digest('hex').slice(0, 12);
  const path = join(dir, `ipmitool-shim-${digest}`);
  try {
    if (readFileSync(path, 'utf8') === SHIM && (statSync(path).mode & 0o777) === 0o700) return path;
  } catch {
    // not there yet
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, SHIM, { mode: 0o700 });
  renameSync(tmp, path);
  return path;
}

// --- cluster-glue external plugins ----------------------------------------

async function external(d: ExternalDevice, action: FenceAction | 'monitor', signal: AbortSignal | undefined, ctx: FenceContext): Promise<Outcome> {
  const deadline = performance.now() + d.timeoutMs;
  const path = findIn(d.dirs, d.plugin);
  if (!path) return { ok: false, error: `external plugin ${d.plugin} not found in ${d.dirs.join(', ')}` };
  const secrets: Secrets = { values: [] };
  const env: Record<string, string> = {
    ...SCRIPT_ENV,
    // Plugins log through cluster-glue's ha_log.sh; send that to stderr so
    // the reason for a failure reaches our message.
    PATH: `${SCRIPT_ENV.PATH}:/usr/share/cluster-glue`,
    HA_LOGD: 'no', HA_LOGFACILITY: 'none', HA_LOGFILE: '/dev/stderr', HA_LOGTAG: `external/${d.plugin}`,
  };
  for (const [k, v] of d.params) env[k] = readParam(v, secrets, k);
  const scrub = (s: string): string => scrubSecrets(s, secrets.values);
  const run = (...args: string[]): Promise<RunResult> => {
    ctx.log?.('debug', `${deviceLabel(d)}: ${path} ${args.join(' ')} (parameters in the environment)`);
    return runBounded(path, args, { env, deadline, ...(signal ? { signal } : {}) });
  };
  const checkHosts = async (): Promise<Outcome | undefined> => {
    const r = await run('gethosts');
    if (r.code !== 0) return fail(scrub(describe(`external/${d.plugin}`, 'gethosts', r, d.timeoutMs)), r);
    const hosts = r.stdout.split(/\s+/).filter(Boolean).map((h) => h.toLowerCase());
    if (!hosts.includes(d.target.toLowerCase())) {
      return {
        ok: false,
        error: `external/${d.plugin} does not list ${d.target} among the hosts it controls (gethosts: ${scrub(hosts.join(' ')) || 'nothing'}); refusing to act`,
      };
    }
    return undefined;
  };
  const simple = async (...args: string[]): Promise<Outcome | undefined> => {
    const r = await run(...args);
    if (r.code === 0) return undefined;
    return fail(scrub(describe(`external/${d.plugin}`, args.join(' '), r, d.timeoutMs)), r);
  };
  switch (action) {
    case 'status':
      return (await simple('status')) ?? { ok: true };
    case 'monitor':
      return (await simple('status')) ?? (await checkHosts()) ?? { ok: true };
    case 'off':
    case 'on':
    case 'reboot': {
      const bad = await checkHosts();
      if (bad) return bad;
      const err = await simple(action === 'reboot' ? 'reset' : action, d.target);
      if (err) return err;
      // The convention has no per-node status ("status" means the device
      // answers), so the exit code is all the confirmation there is.
      return { ok: true, confirmedBy: 'exit-code', ...(action === 'reboot' ? {} : { power: action }) };
    }
  }
}

// --- shared ---------------------------------------------------------------

function describe(tool: string, what: string, r: RunResult, timeoutMs: number): string {
  if (r.spawnError) return `${tool} ${what}: cannot run: ${r.spawnError}`;
  if (r.aborted) return `${tool} ${what}: aborted`;
  if (r.timedOut) return `${tool} ${what}: no answer within the device timeout (${timeoutMs} ms); its processes were killed`;
  const how = r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
  return `${tool} ${what} failed (${how}): ${tail(r)}`;
}

/** The lines that say what went wrong, without Python's warnings about itself. */
function tail(r: Pick<RunResult, 'stdout' | 'stderr'>): string {
  const all = `${r.stderr}\n${r.stdout}`.split('\n')
    // fence-agents prefix their log lines with a timestamp the log has anyway
    .map((l) => l.trim().replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ /, ''))
    .filter((l) => l !== '' && !/DeprecationWarning|^from pipes import/.test(l));
  const errs = all.filter((l) => /error|fail|unable|denied|timed out|refused/i.test(l));
  const pick = (errs.length > 0 ? errs : all).slice(-3).join(' / ');
  if (pick === '') return '(no output)';
  return pick.length > 400 ? `...${pick.slice(-400)}` : pick;
}

export function scrubSecrets(s: string, secrets: string[]): string {
  let out = s;
  for (const v of secrets) if (v.length > 0) out = out.split(v).join('***');
  return out;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
