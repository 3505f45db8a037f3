// The checker worker: every health check of the daemon runs here, on a
// thread of its own, so thousands of checks never delay the thread that
// sends and judges heartbeats and adverts. It runs the verdict machine
// (checker.ts) under the one Driver, the attempts (probes.ts) at most
// MAX_IN_FLIGHT at a time, and posts only what changed (a verdict, a
// misc_dynamic weight), batched per event-loop turn; status is read on
// request. Started by CheckerPool (checkers.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getPriority, setPriority } from 'node:os';
import { Driver } from '../runtime/driver.js';
import { nodeClock } from '../runtime/node-clock.js';
import { CHECKER_MACHINE, newCheckerState, type CheckerEffect, type CheckerEvent, type CheckerState } from './checker.js';
import { probe } from './probes.js';
import type { CheckerSpec } from './config.js';
import type { CheckStatus, FromWorker, ToWorker, WorkerInit } from './checkers.js';

const init = workerData as WorkerInit;
// Checks yield the CPU to the thread that sends and judges heartbeats: Linux
// nice is per thread, and setpriority(PRIO_PROCESS, 0) applies to the caller.
// Refused only for a nice below the thread's (no CAP_SYS_NICE): status shows what the kernel has.
try { setPriority(0, init.nice); } catch { /* status reports the nice the thread runs at */ }
const port = parentPort!;
const specs = new Map<number, CheckerSpec>(init.checks.map((c) => [c.id, c.spec]));
const state: CheckerState = newCheckerState();
const clock = nodeClock(() => performance.now(), 'setTimeout');

let outbox: Extract<FromWorker, { type: 'changes' }>['changes'] = [];
let flushQueued = false;
function post(c: (typeof outbox)[number]): void {
  outbox.push(c);
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(() => {
    flushQueued = false;
    const changes = outbox;
    outbox = [];
    port.postMessage({ type: 'changes', changes } satisfies FromWorker);
  });
}

// Attempts beyond the bound wait their turn (each check has at most one waiting: the machine runs it once at a time).
const waiting: number[] = [];
let inFlight = 0;
let attempts = 0;
function start(id: number): void {
  if (inFlight >= init.maxInFlight) { waiting.push(id); return; }
  const spec = specs.get(id);
  if (!spec) return;
  inFlight += 1;
  attempts += 1;
  void probe(spec).then((result) => {
    inFlight -= 1;
    driver.submit({ kind: 'result', id, result });
    const next = waiting.shift();
    if (next !== undefined) start(next);
  });
}

function execute(a: CheckerEffect): void {
  if (a.kind === 'run') start(a.id);
  else if (a.kind === 'verdict') post({ id: a.id, up: a.up, ok: a.result.ok, reason: a.result.reason });
  else post({ id: a.id, weight: a.weight });
}

const driver = new Driver<CheckerState, CheckerEvent, CheckerEffect>(CHECKER_MACHINE, state, clock, execute);
for (const c of init.checks) driver.submit({ kind: 'add', id: c.id, timing: c.timing, jitter: Math.random(), ...(c.suspended ? { suspended: true } : {}) });

port.on('message', (m: ToWorker) => {
  if (m.type === 'suspend') driver.submit({ kind: 'suspend', ids: m.ids, on: m.on });
  else if (m.type === 'stop') { driver.close(); port.close(); }
  else if (m.type === 'status') {
    const now = clock.now();
    const checks: CheckStatus[] = [];
    for (const c of state.checks.values()) {
      checks.push({
        id: c.id, up: c.up, runs: c.runs, failures: c.failures, suspended: c.suspended,
        ...(c.last ? { last: { ok: c.last.ok, reason: c.last.reason, agoMs: Math.round(now - c.last.at) } } : {}),
      });
    }
    port.postMessage({ type: 'status', req: m.req, checks, attempts, inFlight, waiting: waiting.length, nice: getPriority(0) } satisfies FromWorker);
  }
});
