// The day-2 control commands behind the control socket: `tandem standby`,
// `tandem takeover` (Heartbeat's hb_standby / hb_takeover) and `tandem
// cleanup`. The decisions are the engine's (planHandover, the resources
// machine's hand-over and cleanup events); this adapter asks, steps the
// engine, and watches it until the outcome is known, to tell the operator.

import { cleanupCheckOf, handoverPlan, readEngine, type EngineEvent, type EngineHandle, type EngineView, type RscHold } from '../node/view.js';
import type { ResourceAgent } from '../agents/types.js';
import { groupLabel } from '../config/haresources.js';
import { UserError } from '../util/errors.js';

export interface OperatorHost {
  readonly node: string;
  readonly peer: string;
  /** The engine while it runs; read only through its view (node/view.ts). */
  engine(): EngineHandle | undefined;
  /** The engine's clock (the views turn its instants into ages). */
  now(): number;
  step(ev: EngineEvent): void;
  journal(level: 'info' | 'warn' | 'error', msg: string): void;
  agents(group: string): ResourceAgent[] | undefined;
}

export interface GroupOutcome { group: string; ok: boolean; outcome: string }

/** The answer to standby/takeover/cleanup; `refused` = nothing was done. */
export interface OperatorReport {
  ok: boolean;
  refused?: string;
  notes: string[];
  groups: GroupOutcome[];
}

/** Longest a command waits for its outcome unless told otherwise. */
export const DEFAULT_WAIT_MS = 60_000;
const POLL_MS = 100;
const STOPPED = 'the daemon stopped meanwhile';

/** hb_standby's arguments: all|local|foreign, and failback meaning foreign. */
export function parseWhich(v: unknown): RscHold {
  if (v === undefined || v === null) return 'all';
  if (v === 'failback') return 'foreign';
  if (v === 'all' || v === 'local' || v === 'foreign') return v;
  throw new UserError(`${JSON.stringify(String(v).slice(0, 40))} is not one of all, local, foreign, failback`);
}

export function parseWait(v: unknown): number {
  if (v === undefined) return DEFAULT_WAIT_MS;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3_600_000) throw new UserError('the wait must be 0..3600 s');
  return v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The engine's view now, or undefined while the daemon starts or stops. */
function look(host: OperatorHost): EngineView | undefined {
  const e = host.engine();
  return e ? readEngine(e, host.now()) : undefined;
}

/** Polls until every group has an outcome (or the wait ends); undefined from `judge` = not settled yet. */
async function settle(groups: string[], waitMs: number, judge: (g: string) => GroupOutcome | undefined, pending: (g: string) => string): Promise<GroupOutcome[]> {
  const until = performance.now() + waitMs;
  for (;;) {
    const done = groups.map(judge);
    if (done.every((d) => d !== undefined)) return done as GroupOutcome[];
    if (performance.now() >= until) {
      return groups.map((g, i) => done[i] ?? { group: g, ok: false, outcome: `not settled within ${Math.round(waitMs / 1000)} s: ${pending(g)}` });
    }
    await sleep(POLL_MS);
  }
}

export async function handover(host: OperatorHost, cmd: 'standby' | 'takeover', whichArg: unknown, waitArg: unknown): Promise<OperatorReport> {
  const which = parseWhich(whichArg);
  const waitMs = parseWait(waitArg);
  const e = host.engine();
  const asked = `tandem ${cmd} ${which} from the control socket`;
  if (!e) return { ok: false, refused: 'the daemon is starting or stopping', notes: [], groups: [] };
  const plan = handoverPlan(e, cmd, which);
  if (plan.refusal) {
    host.journal('warn', `${asked}: refused: ${plan.refusal}`);
    return { ok: false, refused: plan.refusal, notes: plan.notes, groups: [] };
  }
  host.journal('info', `${asked}: ${plan.groups.map(groupLabel).join(', ')}${plan.notes.length ? `; ${plan.notes.join('; ')}` : ''}`);
  host.step({ kind: cmd, which, groups: plan.groups });
  const { peer, node } = host;
  const view = (g: string) => {
    const v = look(host);
    if (!v) return undefined;
    const report = v.membership.peer.report;
    return {
      here: v.resources.groups[g], heldHere: v.resources.held.includes(g),
      peerUp: v.membership.peer.liveness === 'up',
      peerHolds: v.peerHolds.includes(g), peerFailed: report?.failed.includes(g) ?? false,
      // A Heartbeat peer is handed the group only once it answers (engine.ts operatorHandover).
      heartbeatPeer: report?.heartbeat === true,
    };
  };
  const judge = (g: string): GroupOutcome | undefined => {
    const v = view(g);
    if (!v) return { group: g, ok: false, outcome: STOPPED };
    if (!v.here) return { group: g, ok: false, outcome: 'removed by a reload meanwhile' };
    if (!v.peerUp) return { group: g, ok: false, outcome: `${peer} is gone; the usual rules place it again` };
    if (cmd === 'standby') {
      if (v.here.handover !== 'to-peer') {
        if (v.heartbeatPeer && v.heldHere) return undefined;   // waiting for its answer (or the wait runs out)
        if (!v.heartbeatPeer) return { group: g, ok: false, outcome: `the standby was cancelled (${peer} asked for the opposite)` };
      }
      if (v.heldHere) return undefined;
      if (v.peerHolds) return { group: g, ok: true, outcome: `held by ${peer}` };
      if (v.peerFailed) return { group: g, ok: false, outcome: `released here, but ${peer} failed to start it` };
      return undefined;
    }
    if (v.here.phase === 'running') return { group: g, ok: true, outcome: `running on ${node} (this node)` };
    if (v.here.phase === 'failed') return { group: g, ok: false, outcome: `failed to start here: ${v.here.lastError ?? 'start failed'}` };
    if (v.here.phase === 'stop-failed') return { group: g, ok: false, outcome: `stop-failed here: ${v.here.lastError ?? ''}` };
    return undefined;
  };
  const pending = (g: string) => {
    const v = view(g);
    if (!v) return STOPPED;
    return `here ${v.here?.phase ?? 'gone'}; ${peer} ${v.peerHolds ? 'holds it' : 'does not hold it'}`;
  };
  const groups = await settle(plan.groups, waitMs, judge, pending);
  const ok = groups.every((x) => x.ok);
  host.journal(ok ? 'info' : 'warn', `${asked}: ${groups.map((x) => `${groupLabel(x.group)}: ${x.outcome}`).join('; ')}`);
  return { ok, notes: plan.notes, groups };
}

/**
 * `tandem cleanup GROUP` (docs/operations.md): a failed group becomes
 * stopped; a stop-failed one is first checked with every resource's status
 * operation, since it may still run here. Either way the usual rules then
 * place it, and the command waits for where it lands.
 */
export async function cleanup(host: OperatorHost, groupArg: unknown, waitArg: unknown): Promise<OperatorReport> {
  const waitMs = parseWait(waitArg);
  const h = host.engine();
  if (!h) return { ok: false, refused: 'the daemon is starting or stopping', notes: [], groups: [] };
  const e = readEngine(h, host.now());
  if (typeof groupArg !== 'string' || !groupArg) throw new UserError('cleanup needs a group name');
  // Accept the label `tandem status` prints as well as the full name.
  const group = e.resources.order.find((g) => g === groupArg || groupLabel(g) === groupArg) ?? groupArg;
  const asked = `tandem cleanup ${group} from the control socket`;
  const check = cleanupCheckOf(h, group);
  if ('error' in check) {
    host.journal('warn', `${asked}: refused: ${check.error}`);
    return { ok: false, refused: check.error, notes: [], groups: [] };
  }
  const notes: string[] = [];
  let probe: 'running' | 'stopped' | undefined;
  if (check.probe) {
    const agents = host.agents(group) ?? [];
    const running: string[] = [];
    for (const a of agents) {
      let st;
      try {
        st = await a.status();
      } catch (err) {
        const why = `cannot tell whether ${a.resource.spec} still runs: ${(err as Error).message}; the group stays stop-failed`;
        host.journal('warn', `${asked}: refused: ${why}`);
        return { ok: false, refused: why, notes, groups: [] };
      }
      if (st === 'running') running.push(a.resource.spec);
    }
    probe = running.length ? 'running' : 'stopped';
    notes.push(running.length ? `still running here: ${running.join(', ')}` : 'every resource reports stopped');
    // The status operations took time: the group must still be stop-failed.
    if (look(host)?.resources.groups[group]?.phase !== 'stop-failed') {
      return { ok: false, refused: `group ${group} changed while its resources were checked; run cleanup again`, notes, groups: [] };
    }
  }
  host.journal('info', `${asked}: clearing ${e.resources.groups[group]!.phase}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  host.step({ kind: 'cleanup', group, ...(probe ? { probe } : {}) });
  const { peer, node } = host;
  const [res] = await settle([group], waitMs, (g) => {
    const v = look(host);
    if (!v) return { group: g, ok: false, outcome: STOPPED };
    const here = v.resources.groups[g];
    if (!here) return { group: g, ok: false, outcome: 'removed by a reload meanwhile' };
    const peerHolds = v.peerHolds.includes(g);
    if (here.busy || here.phase === 'starting' || here.phase === 'stopping' || here.phase === 'recovering') return undefined;
    if (here.phase === 'running') return { group: g, ok: true, outcome: `cleaned up; running on ${node} (this node)` };
    if (here.phase === 'failed') return { group: g, ok: false, outcome: `cleaned up, but its start failed again: ${here.lastError ?? ''}` };
    if (here.phase === 'stop-failed') return { group: g, ok: false, outcome: `cleaned up, but its stop failed again: ${here.lastError ?? ''}` };
    return { group: g, ok: true, outcome: `cleaned up; stopped here${peerHolds ? `, held by ${peer}` : ''}` };
  }, (g) => `here ${look(host)?.resources.groups[g]?.phase ?? 'gone'}`);
  host.journal(res!.ok ? 'info' : 'warn', `${asked}: ${res!.outcome}`);
  return { ok: res!.ok, notes, groups: [res!] };
}
