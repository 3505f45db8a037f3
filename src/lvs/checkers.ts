// The main thread's side of the checker worker (checker-worker.ts): starts
// it with every check, hands its changes (verdicts, misc_dynamic weights) to
// the LVS service, and asks it for status. Nothing here runs a check.

import { Worker } from 'node:worker_threads';
import type { CheckTiming } from './checker.js';
import type { CheckerSpec } from './config.js';

export interface WorkerInit {
  checks: Array<{ id: number; spec: CheckerSpec; timing: CheckTiming; suspended?: boolean }>;
  maxInFlight: number;
  nice: number;
}

export interface CheckStatus {
  id: number;
  up: boolean;
  runs: number;
  failures: number;
  suspended: boolean;
  last?: { ok: boolean; reason: string; agoMs: number };
}

export type ToWorker =
  | { type: 'status'; req: number }
  | { type: 'suspend'; ids: number[]; on: boolean }
  | { type: 'stop' };

export type CheckChange = { id: number; up: boolean; ok: boolean; reason: string } | { id: number; weight: number };

export type FromWorker =
  | { type: 'changes'; changes: CheckChange[] }
  | { type: 'status'; req: number; checks: CheckStatus[]; attempts: number; inFlight: number; waiting: number; /** The worker thread's nice value, as the kernel has it (absent once the worker is gone). */ nice?: number };

export type CheckerStatus = Omit<Extract<FromWorker, { type: 'status' }>, 'type' | 'req'>;

/** Attempts running at once in the worker: 10,000 servers with slow answers must not open 10,000 sockets at a time. */
export const MAX_IN_FLIGHT = 2048;
/**
 * The checker worker thread's nice value unless checker_priority says otherwise: below the main thread, which sends and
 * judges heartbeats and adverts, so a machine busy with checks gives that thread the CPU first (bench:checkers).
 */
export const CHECKER_NICE = 10;
const STATUS_TIMEOUT_MS = 2000;

export function timingOf(spec: CheckerSpec): CheckTiming {
  return { delayLoopMs: spec.delayLoopMs, retry: spec.retry, delayBeforeRetryMs: spec.delayBeforeRetryMs, warmupMs: spec.warmupMs, alpha: spec.alpha };
}

/** The worker's compiled file: beside this module in dist/, or dist/'s when this runs from the TypeScript source (tests). */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/src/lvs/checker-worker.js', import.meta.url)
    : new URL('./checker-worker.js', import.meta.url);
}

export class CheckerPool {
  private readonly worker: Worker;
  private req = 0;
  private readonly pending = new Map<number, (s: CheckerStatus) => void>();
  private exited = false;
  private stopping = false;

  constructor(
    checks: Array<{ id: number; spec: CheckerSpec; suspended?: boolean }>, onChanges: (c: CheckChange[]) => void, onError: (e: Error) => void,
    o: { maxInFlight?: number; nice?: number } = {},
  ) {
    const init: WorkerInit = { checks: checks.map((c) => ({ ...c, timing: timingOf(c.spec) })), maxInFlight: o.maxInFlight ?? MAX_IN_FLIGHT, nice: o.nice ?? CHECKER_NICE };
    this.worker = new Worker(workerUrl(), { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    this.worker.on('message', (m: FromWorker) => {
      if (m.type === 'changes') onChanges(m.changes);
      else {
        const { type: _t, req, ...rest } = m;
        this.pending.get(req)?.(rest);
        this.pending.delete(req);
      }
    });
    this.worker.on('error', onError);
    this.worker.on('exit', (code) => {
      this.exited = true;
      for (const r of this.pending.values()) r({ checks: [], attempts: 0, inFlight: 0, waiting: 0 });
      this.pending.clear();
      if (!this.stopping) onError(new Error(`the checker worker exited with code ${code}`));
    });
  }

  /** ha_suspend: these checks pause (on) or resume at once (off). */
  suspend(ids: number[], on: boolean): void {
    if (!this.exited && ids.length) this.worker.postMessage({ type: 'suspend', ids, on } satisfies ToWorker);
  }

  status(): Promise<CheckerStatus> {
    if (this.exited) return Promise.resolve({ checks: [], attempts: 0, inFlight: 0, waiting: 0 });
    const req = ++this.req;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(req); resolve({ checks: [], attempts: 0, inFlight: 0, waiting: 0 }); }, STATUS_TIMEOUT_MS);
      this.pending.set(req, (s) => { clearTimeout(timer); resolve(s); });
      this.worker.postMessage({ type: 'status', req } satisfies ToWorker);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    await this.worker.terminate();
  }
}
