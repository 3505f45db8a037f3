// The engine's read-only views (issue 12: status is read through a view each
// machine exposes). A real engine driven through a fenced takeover and a
// lease-gated one: the view says what `tandem status` shows, and nothing a
// reader gets back (view or status report) reaches into the engine's state.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { buildStatusReport } from '../../src/daemon/status.js';
import { formatStatus } from '../../src/cli/format.js';
import {
  engineQuorumInput, engineStep, engineView, initEngine,
  type EngineAction, type EngineHandle, type EngineQuorumConfig, type EngineState,
} from '../../src/node/engine.js';
import { readEngine } from '../../src/node/view.js';
import type { FencingPolicyConfig } from '../../src/fencing/policy.js';

const G = 'IPaddr2::10.0.0.100/24/eth0';
const dir = mkdtempSync(join(tmpdir(), 'tandem-engine-views-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'ha.cf'), 'keepalive 100ms\ndeadtime 300ms\ninitdead 1\nbcast eth0\nnode alpha beta\n');
writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha256 views\n', { mode: 0o600 });
writeFileSync(join(dir, 'haresources'), `alpha ${G}\n`);
const { config } = loadConfig(dir);

const fcfg: FencingPolicyConfig = {
  self: 'beta', peer: 'alpha', devices: ['ipmi alpha via 10.0.0.11:623 (ha.cf:9)'], fenceDelayMs: 4000, failurePolicy: 'wait',
  checkIntervalMs: 0, retryMs: 500, retryMaxMs: 1000, waitForAll: true, tieBreakWinner: false,
};
const qcfg: EngineQuorumConfig = {
  self: 'beta', peer: 'alpha', groups: [G], pingConfigured: false, arbiter: 'arbiter', takeoverDelayMs: 0,
  ipfail: { enabled: false, delayMs: 5000, dwellMs: 60_000 }, graceMs: 500,
};

function beta(f?: FencingPolicyConfig, q?: EngineQuorumConfig): EngineState {
  return initEngine(
    { self: 'beta', peer: 'alpha', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000 },
    { self: 'beta', autoFailback: 'off', stopRetries: 3, stopRetryDelayMs: 100, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 1 }], generation: 9 },
    0, { held: new Set() }, f, q,
  );
}

const alphaHolds = (e: EngineState, seq: number, at: number) => engineStep(e, {
  kind: 'heard', path: 'bcast eth0', src: 'alpha', generation: 5, seq,
  report: { status: 'active', hold: [G], yielding: [], failed: [], reach: { up: 1, total: 1 }, hearsMe: true },
}, at);

/** Every op the engine asks for succeeds, as the daemon's agents would. */
function runOps(e: EngineState, acts: EngineAction[], now: number): void {
  let pending = acts;
  while (pending.length) {
    const next: EngineAction[] = [];
    for (const a of pending) if (a.kind === 'op') next.push(...engineStep(e, { kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: true }, now));
    pending = next;
  }
}

function status(e: EngineState, now: number) {
  const report = buildStatusReport({
    engine: e, config: config!, node: 'beta', peer: 'alpha', generation: 9, now, startedWall: 0,
    drops: { auth: 0, malformed: 0, ignored: 0, own: 0, spoofed: 0, filtered: 0 }, sent: 0, received: 0, journal: [],
  });
  return { report, text: formatStatus(report) };
}

/** Every object and array reachable from v is frozen. */
function deepFrozen(v: unknown, path = 'view'): string[] {
  if (v === null || typeof v !== 'object') return [];
  const bad = Object.isFrozen(v) ? [] : [path];
  for (const [k, x] of Object.entries(v)) bad.push(...deepFrozen(x, `${path}.${k}`));
  return bad;
}

describe('engine views', () => {
  it('a fenced takeover: the view says what status shows at each stage (peer, fencing, group phase and reason, holder)', () => {
    const e = beta(fcfg);
    alphaHolds(e, 1, 10);
    let v = engineView(e, 200);
    expect(v.membership.peer).toMatchObject({ name: 'alpha', liveness: 'up', generation: 5, lastHeardMsAgo: 190 });
    expect(v.membership.peer.report?.hold).toEqual([G]);
    expect(v.peerHolds).toEqual([G]);
    expect(v.membership.paths).toEqual([{ name: 'bcast eth0', up: expect.any(Boolean), lastHeardMsAgo: 190, accepted: 1, stale: 0 }]);
    let s = status(e, 200);
    expect(s.report.nodes[1]).toMatchObject({ state: v.membership.peer.liveness, generation: 5, lastHeardMsAgo: 190, holds: [...v.peerHolds] });
    expect(s.report.groups[0]!.holder).toBe('alpha');

    // alpha goes silent: dead at 400, but fence_delay holds the takeover back.
    runOps(e, engineStep(e, { kind: 'tick' }, 400), 400);
    v = engineView(e, 1000);
    expect(v.membership.peer.liveness).toBe('dead');
    expect(v.waitingOnFencing).toBe(true);
    expect(v.fencing).toMatchObject({ peer: 'alpha', phase: 'delayed', mayTakeOver: false, failedRounds: 0, nextFenceInMs: 3400, inFlight: null });
    expect(v.resources.groups[G]).toMatchObject({ phase: 'stopped', held: false });
    s = status(e, 1000);
    expect(s.report.fencing).toMatchObject({ phase: v.fencing!.phase, waiting: true, failedRounds: 0 });
    expect(s.report.fencing!.waitingReason).toContain('in 3400 ms');
    expect(s.report.nodes[1]!.state).toBe('dead');

    // The fence fires and succeeds: the group moves here.
    const fire = engineStep(e, { kind: 'tick' }, 4400);
    const fence = fire.find((a) => a.kind === 'fence') as { id: number };
    v = engineView(e, 4500);
    expect(v.fencing).toMatchObject({ phase: 'fencing', device: fcfg.devices[0], inFlight: { device: fcfg.devices[0], msAgo: 100, stale: false } });
    expect(status(e, 4500).report.fencing!.waitingReason).toBe(`fencing alpha through ${fcfg.devices[0]}`);
    runOps(e, engineStep(e, { kind: 'fence-done', id: fence.id, ok: true }, 5000), 5000);
    v = engineView(e, 6000);
    expect(v.waitingOnFencing).toBe(false);
    expect(v.fencing).toMatchObject({ phase: 'fenced', mayTakeOver: true });
    const g = v.resources.groups[G]!;
    expect(g).toMatchObject({ name: G, preferredNode: 'alpha', phase: 'running', held: true, busy: false, lastError: null, handover: null });
    expect(g.cause).toMatchObject({ code: 'peer-dead', takeover: true, msAgo: 1000 });
    expect(v.resources.held).toEqual([G]);
    expect(v.localState).toBe('active');

    s = status(e, 6000);
    const sg = s.report.groups[0]!;
    expect(sg.local.phase).toBe(g.phase);
    expect(sg.holder).toBe('beta');
    expect(sg.transition).toMatchObject({ change: 'moved-here', node: 'beta', code: g.cause!.code, reason: g.cause!.reason, msAgo: 1000 });
    expect(s.report.nodes[0]!.holds).toEqual([...v.resources.held]);
    expect(s.text).toContain(`moved to beta 1 s ago: ${g.cause!.reason}`);
    expect(s.report.fencing).toMatchObject({ phase: 'fenced', waiting: false, waitingReason: null });
  });

  it('a lease-gated takeover: quorum decisions and the lease in the view are what status shows', () => {
    const e = beta(undefined, qcfg);
    alphaHolds(e, 1, 10);
    engineStep(e, { kind: 'tick' }, 400);
    let v = engineView(e, 400);
    expect(v.quorum).toMatchObject({ peer: 'alpha', arbiter: 'arbiter', decided: true, mutual: false, leasesHeld: [] });
    expect(v.quorum!.groups[0]).toMatchObject({ name: G, code: 'no-grant', lease: { status: 'idle', holder: null, heldForMs: null, validForMs: null } });
    expect(status(e, 400).report.quorum).toMatchObject({ quorum: false, why: 'alpha not heard and no lease from the arbiter' });

    engineQuorumInput(e, { leases: { [G]: { status: 'held', since: 450, until: 2200, reason: 'granted' } } });
    runOps(e, engineStep(e, { kind: 'tick' }, 450), 460);
    v = engineView(e, 1000);
    expect(v.quorum!.leasesHeld).toEqual([G]);
    expect(v.quorum!.groups[0]).toMatchObject({ code: 'grant-held', lease: { status: 'held', reason: 'granted', heldForMs: 550, validForMs: 1200 } });
    expect(v.resources.groups[G]).toMatchObject({ phase: 'running', cause: { takeover: true } });
    const q = status(e, 1000).report.quorum!;
    expect(q).toMatchObject({ quorum: true, why: `alpha not heard; lease held for ${G}`, mutual: v.quorum!.mutual, connectivity: v.quorum!.connectivity });
    expect(q.groups[0]).toMatchObject({ code: v.quorum!.groups[0]!.code, reason: v.quorum!.groups[0]!.reason, lease: { status: 'held', heldForMs: 550, validForMs: 1200 } });
  });

  it('is pure: reading does not change the engine, and the same state and now give the same view', () => {
    const e = beta(fcfg, qcfg);
    alphaHolds(e, 1, 10);
    engineStep(e, { kind: 'tick' }, 400);
    const before = JSON.stringify(e);
    const a = engineView(e, 700);
    const b = readEngine(e, 700);
    expect(b).toEqual(a);
    status(e, 700);
    expect(JSON.stringify(e)).toBe(before);
  });

  it('cannot be used to edit the engine: the view is frozen all the way down and holds copies', () => {
    const e = beta(fcfg, qcfg);
    alphaHolds(e, 1, 10);
    runOps(e, engineStep(e, { kind: 'tick' }, 20), 20);
    const v = engineView(e, 50);
    expect(deepFrozen(v)).toEqual([]);
    // Strict mode (ES modules): writing to a frozen object throws.
    expect(() => { (v.membership.peer.report!.hold as string[]).push('stolen'); }).toThrow(TypeError);
    expect(() => { (v.resources.groups[G] as { phase: string }).phase = 'running'; }).toThrow(TypeError);
    expect(() => { (v.quorum!.ipfail as { enabled: boolean }).enabled = true; }).toThrow(TypeError);
    expect(() => { (v.fencing as { phase: string }).phase = 'fenced'; }).toThrow(TypeError);
    // And none of it is the engine's own object.
    expect(v.membership.peer.report!.hold).not.toBe(e.m.peer.report!.hold);
    expect(v.quorum!.ipfail).not.toBe(e.q!.state.cfg.ipfail);
    expect(e.m.peer.report!.hold).toEqual([G]);
  });

  it('the status report a reader gets is its own: editing it leaves the engine as it was', () => {
    const e = beta(undefined, qcfg);
    alphaHolds(e, 1, 10);
    engineQuorumInput(e, { reach: { up: 1, total: 2 } });
    engineStep(e, { kind: 'tick' }, 20);
    const before = JSON.stringify(e);
    const r = status(e, 50).report;
    r.nodes[1]!.holds.push('stolen');
    r.quorum!.ipfail.enabled = true;
    r.quorum!.reach!.up = 0;
    r.quorum!.peerReach!.total = 99;
    expect(JSON.stringify(e)).toBe(before);
    expect(e.m.peer.report!.hold).toEqual([G]);
    expect(e.q!.state.cfg.ipfail.enabled).toBe(false);
  });

  it('outside src/node the engine is an opaque handle: its fields do not type-check', () => {
    const h: EngineHandle = beta();
    // @ts-expect-error readers may not reach into the membership machine
    expect(h.m).toBeDefined();
    // @ts-expect-error nor into the resource groups
    expect(h.r).toBeDefined();
    expect(readEngine(h, 0).resources.order).toEqual([G]);
  });
});
