// OCF resource agents (Open Cluster Framework, resource-agents' API 1.0):
// $OCF_ROOT/resource.d/PROVIDER/TYPE ACTION, its parameters in the
// environment as OCF_RESKEY_NAME, the answer in the exit code. Debian's
// `resource-agents` package installs them under /usr/lib/ocf.
//
// haresources names one as `ocf:PROVIDER:TYPE::name=value::...`; a
// Heartbeat-style `TYPE::arg::...` with no resource.d or init.d script of
// that name, but an OCF heartbeat agent, runs that agent, its positional
// arguments given to the agent's parameters in meta-data order (Heartbeat's
// resource.d wrappers map them the same way: Filesystem::DEV::DIR::FSTYPE).

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { Resource } from '../config/types.js';
import { parseOpTime } from '../config/time.js';
import { UserError } from '../util/errors.js';
import { describeEnd, outputTail, runChild, type RunResult } from './runner.js';
import type { AgentContext, AgentDefaults, MonitorOutcome, ResourceAgent, ResourceStatus } from './types.js';

export const DEFAULT_OCF_ROOT = '/usr/lib/ocf';
/** meta-data must answer quickly: it is read at start and by check-config. */
const META_DATA_TIMEOUT_MS = 10_000;

/** OCF exit codes (OCF Resource Agent API, "Return codes"). */
export const OCF_RC: Readonly<Record<number, string>> = Object.freeze({
  0: 'OCF_SUCCESS',
  1: 'OCF_ERR_GENERIC: generic error',
  2: 'OCF_ERR_ARGS: invalid arguments',
  3: 'OCF_ERR_UNIMPLEMENTED: action not implemented',
  4: 'OCF_ERR_PERM: insufficient privileges',
  5: 'OCF_ERR_INSTALLED: a program the agent needs is not installed',
  6: 'OCF_ERR_CONFIGURED: the resource is configured wrongly',
  7: 'OCF_NOT_RUNNING: not running',
  8: 'OCF_RUNNING_MASTER: running as master',
  9: 'OCF_FAILED_MASTER: failed as master',
});

export type OcfAction = 'start' | 'stop' | 'monitor' | 'validate-all' | 'meta-data';

export interface OcfParameter {
  name: string;
  required: boolean;
  default?: string;
}

export interface OcfMetadata {
  name: string;
  parameters: OcfParameter[];
  /** Per action: its advised timeout and (monitor) interval, in ms. */
  actions: Record<string, { timeoutMs?: number; intervalMs?: number }>;
}

/** "20s", "2min", "500ms", "1h", or a bare number of seconds (Pacemaker's forms). */
export const parseOcfTime = parseOpTime;

const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** Parses an agent's meta-data XML; throws a UserError when it is not an OCF resource-agent document. */
export function parseOcfMetadata(xml: string): OcfMetadata {
  let doc: Record<string, unknown>;
  try {
    doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', processEntities: false }).parse(xml) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`meta-data is not XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ra = doc['resource-agent'] as Record<string, unknown> | undefined;
  if (!ra || typeof ra !== 'object') throw new UserError('meta-data has no <resource-agent> element');
  const params = asList((ra.parameters as Record<string, unknown> | undefined)?.parameter as Array<Record<string, unknown>> | undefined);
  const parameters: OcfParameter[] = params.filter((p) => typeof p['@name'] === 'string').map((p) => {
    const content = p.content as Record<string, unknown> | undefined;
    const def = content?.['@default'];
    return { name: p['@name'] as string, required: p['@required'] === '1', ...(typeof def === 'string' ? { default: def } : {}) };
  });
  const actions: OcfMetadata['actions'] = {};
  for (const a of asList((ra.actions as Record<string, unknown> | undefined)?.action as Array<Record<string, unknown>> | undefined)) {
    const name = a['@name'];
    if (typeof name !== 'string') continue;
    // Several monitor entries (roles, depths): the first one is the plain monitor.
    if (actions[name]) continue;
    const timeoutMs = parseOcfTime(a['@timeout'] as string | undefined);
    const intervalMs = parseOcfTime(a['@interval'] as string | undefined);
    actions[name] = { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(intervalMs !== undefined ? { intervalMs } : {}) };
  }
  return { name: typeof ra['@name'] === 'string' ? ra['@name'] : '', parameters, actions };
}

/**
 * The resource's parameters against the agent's meta-data: unknown names and
 * missing required ones, as messages (check-config adds FILE:LINE).
 */
export function ocfParamProblems(spec: string, agentName: string, params: ReadonlyArray<[string, string]>, meta: OcfMetadata): string[] {
  const known = new Set(meta.parameters.map((p) => p.name));
  const given = new Set(params.map(([k]) => k));
  const out: string[] = [];
  for (const [k] of params) {
    if (!known.has(k)) {
      out.push(`resource '${spec}': ${agentName} has no parameter '${k}' (its parameters: ${[...known].join(', ') || 'none'})`);
    }
  }
  for (const p of meta.parameters) {
    if (p.required && !given.has(p.name)) out.push(`resource '${spec}': ${agentName} needs parameter '${p.name}' (required by its meta-data)`);
  }
  return out;
}

export interface OcfTarget {
  provider: string;
  type: string;
  /** NAME=VALUE parameters as written. */
  named: Array<[string, string]>;
  /** Heartbeat-style positional arguments, given to the meta-data's parameters in order. */
  positional: string[];
}

/** Where the agent lives. */
export function ocfPath(root: string, provider: string, type: string): string {
  return join(root, 'resource.d', provider, type);
}

export class OcfAgent implements ResourceAgent {
  private queue: Promise<unknown> = Promise.resolve();
  private meta?: OcfMetadata;
  private params: Array<[string, string]>;
  readonly path: string;
  private readonly root: string;
  /** OCF_RESOURCE_INSTANCE: a stable, file-name-safe name (Dummy keeps its state file under it). */
  readonly instance: string;

  constructor(readonly resource: Resource, private readonly ctx: AgentContext, readonly target: OcfTarget) {
    this.root = ctx.ocfRoot ?? DEFAULT_OCF_ROOT;
    this.path = ocfPath(this.root, target.provider, target.type);
    this.params = [...target.named];
    const safe = resource.spec.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40);
    this.instance = `${safe}-${createHash('sha256').update(resource.spec).digest('hex').slice(0, 8)}`;
  }

  get agentName(): string {
    return `ocf:${this.target.provider}:${this.target.type}`;
  }

  /** Reads meta-data; maps positional arguments onto its parameters. Throws a UserError naming the resource. */
  async prepare(): Promise<void> {
    if (this.meta) return;
    const r = await this.runAction('meta-data', META_DATA_TIMEOUT_MS);
    if (r.code !== 0 || r.spawnError !== undefined || r.timedOut) {
      throw this.err(`${this.path} meta-data: ${describeEnd(r, META_DATA_TIMEOUT_MS)}: ${outputTail(r)}`);
    }
    let meta: OcfMetadata;
    try {
      meta = parseOcfMetadata(r.stdout);
    } catch (e) {
      throw this.err(`${this.path} ${e instanceof Error ? e.message : String(e)}`);
    }
    if (this.target.positional.length) {
      const free = meta.parameters.filter((p) => !this.params.some(([k]) => k === p.name));
      if (this.target.positional.length > free.length) {
        throw this.err(`${this.target.positional.length} positional arguments, but ${this.agentName} has only ${free.length} parameters left to give them to (${free.map((p) => p.name).join(', ')})`);
      }
      this.target.positional.forEach((v, i) => this.params.push([free[i]!.name, v]));
    }
    this.meta = meta;
  }

  /** Problems of the parameters against meta-data (after prepare). */
  paramProblems(): string[] {
    return this.meta ? ocfParamProblems(this.resource.spec, this.agentName, this.params, this.meta) : [];
  }

  defaults(): AgentDefaults {
    const a = this.meta?.actions ?? {};
    const mon = a.monitor;
    return {
      ...(a.start?.timeoutMs !== undefined ? { startTimeoutMs: a.start.timeoutMs } : {}),
      ...(a.stop?.timeoutMs !== undefined ? { stopTimeoutMs: a.stop.timeoutMs } : {}),
      ...(mon?.intervalMs ? { monitor: { intervalMs: mon.intervalMs, timeoutMs: mon.timeoutMs ?? this.ctx.scriptTimeoutMs } } : {}),
    };
  }

  start(): Promise<void> {
    return this.serial(() => this.checked('start', this.resource.ops?.start?.timeoutMs ?? this.defaults().startTimeoutMs ?? this.ctx.scriptTimeoutMs));
  }

  stop(): Promise<void> {
    return this.serial(() => this.checked('stop', this.resource.ops?.stop?.timeoutMs ?? this.defaults().stopTimeoutMs ?? this.ctx.scriptTimeoutMs));
  }

  /** validate-all: whether the parameters make sense on this host (the agent's own checks). */
  validate(): Promise<{ ok: boolean; detail: string }> {
    return this.serial(async () => {
      await this.prepare();
      const timeout = this.meta?.actions['validate-all']?.timeoutMs ?? this.ctx.scriptTimeoutMs;
      const r = await this.runAction('validate-all', timeout);
      return { ok: r.code === 0, detail: r.code === 0 ? 'valid' : `${explain(r, timeout)}: ${outputTail(r)}` };
    });
  }

  status(): Promise<ResourceStatus> {
    return this.monitor(this.defaults().monitor?.timeoutMs ?? this.ctx.scriptTimeoutMs).then((m) => {
      if (m.result === 'running') return 'running';
      if (m.result === 'not-running') return 'stopped';
      throw this.err(`monitor: ${m.detail}`);
    });
  }

  monitor(timeoutMs: number): Promise<MonitorOutcome> {
    return this.serial(async () => {
      try {
        await this.prepare();
      } catch (e) {
        return { result: 'failed', detail: e instanceof Error ? e.message : String(e) };
      }
      const r = await this.runAction('monitor', timeoutMs);
      return ocfMonitorOutcome(r, timeoutMs);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  private async checked(action: 'start' | 'stop', timeoutMs: number): Promise<void> {
    await this.prepare();
    this.ctx.log('debug', `running ${this.path} ${action} (${this.resource.spec})`);
    const r = await this.runAction(action, timeoutMs);
    // Stopping a stopped resource succeeds; some agents say so with 7.
    if (r.code === 0 || (action === 'stop' && r.code === 7 && !r.timedOut)) return;
    throw this.err(`${this.path} ${action} failed: ${explain(r, timeoutMs)}: ${outputTail(r)}`);
  }

  private runAction(action: OcfAction, timeoutMs: number): Promise<RunResult> {
    const env: Record<string, string> = {
      OCF_ROOT: this.root,
      OCF_RA_VERSION_MAJOR: '1',
      OCF_RA_VERSION_MINOR: '0',
      OCF_RESOURCE_INSTANCE: this.instance,
      OCF_RESOURCE_TYPE: this.target.type,
      OCF_RESOURCE_PROVIDER: this.target.provider,
      OCF_RESKEY_CRM_meta_timeout: String(timeoutMs),
      HA_LOGTAG: 'tandem',
    };
    if (action === 'monitor') env.OCF_RESKEY_CRM_meta_interval = String(this.resource.ops?.monitor?.intervalMs ?? this.meta?.actions.monitor?.intervalMs ?? 0);
    for (const [k, v] of this.params) env[`OCF_RESKEY_${k}`] = v;
    return runChild({ path: this.path, args: [action], timeoutMs, env });
  }

  private err(msg: string): UserError {
    return new UserError(`resource "${this.resource.spec}": ${msg}`);
  }
}

/** An exit in words: "exit 6 (OCF_ERR_CONFIGURED: ...)", or how the run ended otherwise. */
function explain(r: RunResult, timeoutMs: number): string {
  if (r.code === null || r.timedOut || r.spawnError !== undefined) return describeEnd(r, timeoutMs);
  return `exit ${r.code}${OCF_RC[r.code] ? ` (${OCF_RC[r.code]})` : ''}`;
}

/** A monitor run's verdict by OCF's exit codes: 0 (and 8) running, 7 not running, anything else an error. */
export function ocfMonitorOutcome(r: RunResult, timeoutMs: number): MonitorOutcome {
  if (r.timedOut) return { result: 'timeout', detail: describeEnd(r, timeoutMs) };
  if (r.code === null || r.spawnError !== undefined) return { result: 'failed', detail: describeEnd(r, timeoutMs) };
  if (r.code === 0 || r.code === 8) return { result: 'running', rc: r.code, detail: OCF_RC[r.code]! };
  if (r.code === 7) return { result: 'not-running', rc: 7, detail: OCF_RC[7]! };
  return { result: 'failed', rc: r.code, detail: `${explain(r, timeoutMs)}: ${outputTail(r)}` };
}
