// `tandem status` answers "who holds what, and why": each group's holder,
// since when, and its last transition with the reason of the decision that
// caused it, carried by the engine with the transition (never re-guessed by
// the formatter). Real engines driven through real events.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/format.js';
import { loadConfig } from '../../src/config/load.js';
import { buildStatusReport } from '../../src/daemon/status.js';
import { engineStep, initEngine, type EngineAction, type EngineState } from '../../src/node/engine.js';
import { formatAge } from '../../src/util/duration.js';
import { runOps } from '../helpers/engine-ops.js';

const dir = mkdtempSync(join(tmpdir(), 'tandem-status-why-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const G = 'IPaddr2::10.213.9.100/24/eth0';
writeFileSync(join(dir, 'ha.cf'), 'keepalive 100ms\ndeadtime 400ms\ninitdead 2\nbcast lo\nnode alpha beta\n');
writeFileSync(join(dir, 'authkeys'), 'auth 1\n1 sha256 why\n', { mode: 0o600 });
writeFileSync(join(dir, 'haresources'), `alpha ${G}\n`);
const { config } = loadConfig(dir);

const GEN = { alpha: 11, beta: 22 } as const;

function engineFor(self: 'alpha' | 'beta', quorum = false): EngineState {
  const peer = self === 'alpha' ? 'beta' : 'alpha';
  return initEngine(
    { self, peer, paths: ['bcast lo'], keepaliveMs: 100, warntimeMs: 300, deadtimeMs: 400, initdeadMs: 2000 },
    { self, autoFailback: 'on', stopRetries: 1, stopRetryDelayMs: 100, groups: [{ name: G, preferredNode: 'alpha', resourceCount: 1 }], generation: GEN[self] },
    0, { held: new Set() }, undefined,
    quorum ? {
      self, peer, groups: [G], pingConfigured: false, arbiter: 'arbiter', takeoverDelayMs: 0, aloneGraceMs: 500,
      ipfail: { enabled: false, delayMs: 0, dwellMs: 0 }, graceMs: 500,
    } : undefined,
  );
}

let seq = 0;
function hear(e: EngineState, from: 'alpha' | 'beta', hold: string[], now: number, status: 'active' | 'dead' = 'active'): EngineAction[] {
  const self = from === 'alpha' ? 'beta' : 'alpha';
  return engineStep(e, {
    kind: 'heard', path: 'bcast lo', src: from, generation: GEN[from], seq: ++seq,
    report: { status, hold, yielding: [], failed: [], hearsGeneration: GEN[self], hearsSeq: e.m.seq },
  }, now);
}

function status(e: EngineState, node: 'alpha' | 'beta', now: number) {
  const report = buildStatusReport({
    engine: e, config: config!, node, peer: node === 'alpha' ? 'beta' : 'alpha', generation: GEN[node], now, startedWall: 0,
    drops: { auth: 0, malformed: 0, ignored: 0, own: 0, spoofed: 0, filtered: 0 }, sent: 0, received: 0, journal: [],
  });
  return { report, text: formatStatus(report), group: report.groups[0]! };
}

const phases = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'group-phase');

describe('status: who holds what, and why', () => {
  it('the preferred node: "started here N ago: preferred node, beta agreed", the reason carried by the transition itself', () => {
    const e = engineFor('alpha');
    const acts = runOps(e, hear(e, 'beta', [], 50), 60);
    // The machine emits the reason with the effect, and the daemon journals exactly that.
    expect(phases(acts)).toEqual([
      { kind: 'group-phase', group: G, phase: 'starting', reason: 'preferred node, beta agreed', code: 'preferred' },
      { kind: 'group-phase', group: G, phase: 'running', reason: 'all resources started', code: 'preferred' },
    ]);
    const { text, group } = status(e, 'alpha', 3 * 60_000 + 60);
    expect(group.holder).toBe('alpha');
    expect(group.transition).toEqual({ change: 'started', node: 'alpha', msAgo: 180_010, phase: 'starting', code: 'preferred', reason: 'preferred node, beta agreed' });
    expect(text).toContain('    holder: alpha for 3 min; here: running\n    started here 3 min ago: preferred node, beta agreed\n');
  });

  it('a takeover: "moved to beta 12 s ago: alpha declared dead (silent on every path for 400 ms)"', () => {
    const e = engineFor('beta');
    hear(e, 'alpha', [G], 1000);
    let { text, group } = status(e, 'beta', 1050);
    expect(group.holder).toBe('alpha');
    expect(group.transition).toMatchObject({ change: 'held-by-peer', node: 'alpha', msAgo: 50, reason: null });
    expect(text).toContain('    holder: alpha for 50 ms; here: stopped\n    started on alpha 50 ms ago (its reason is in alpha\'s status and journal)\n');
    // Silent past deadtime: declared dead, and the group comes here.
    const acts = runOps(e, engineStep(e, { kind: 'tick' }, 1401), 1402);
    expect(phases(acts)[0]).toMatchObject({ phase: 'starting', code: 'peer-dead', reason: 'alpha declared dead (silent on every path for 401 ms)' });
    ({ text, group } = status(e, 'beta', 13_401));
    expect(group.holder).toBe('beta');
    expect(group.holderSinceMsAgo).toBe(12_000);
    expect(text).toContain('    moved to beta 12 s ago: alpha declared dead (silent on every path for 401 ms)\n');
  });

  it('auto_failback seen from the node that let go: "moved to alpha N ago: auto_failback: ..."', () => {
    const e = engineFor('beta');
    runOps(e, engineStep(e, { kind: 'tick' }, 2001), 2002);   // initdead: alpha never heard, beta takes the group
    let { text } = status(e, 'beta', 2100);
    expect(text).toContain('    holder: beta for 99 ms; here: running\n    moved to beta 99 ms ago: alpha not heard within initdead (2000 ms) of start\n');
    const acts = runOps(e, hear(e, 'alpha', [], 5000), 5001);
    expect(phases(acts)[0]).toMatchObject({ phase: 'stopping', code: 'failback', reason: 'auto_failback: alpha, its preferred node, is up' });
    hear(e, 'alpha', [G], 5100);
    ({ text } = status(e, 'beta', 65_100));
    expect(text).toContain('    holder: alpha for 1 min; here: stopped\n    moved to alpha 1 min ago: auto_failback: alpha, its preferred node, is up\n');
  });

  it('quorum: "stopped 5 s ago: quorum: ... no lease from the arbiter ..."', () => {
    const e = engineFor('alpha', true);
    // A valid lease, the peer agreeing: alpha starts and runs the group.
    e.q!.leases[G] = { status: 'held', since: 0, until: 10_000, reason: 'granted' } as never;
    // Twice: the second report is one beta wrote after reading that alpha hears it (mutual, confirmed).
    hear(e, 'beta', [], 50);
    runOps(e, hear(e, 'beta', [], 60), 60);
    expect(status(e, 'alpha', 100).group.holder).toBe('alpha');
    // beta goes silent and the lease is gone: quorum takes the group away.
    e.q!.leases[G] = { status: 'requesting', reason: 'no answer from the arbiter' } as never;
    const acts = runOps(e, engineStep(e, { kind: 'tick' }, 470), 470);
    const stop = phases(acts)[0]!;
    expect(stop).toMatchObject({ phase: 'stopping' });
    expect(stop.kind === 'group-phase' && stop.code).toBe('quorum-no-grant');
    const { text, group } = status(e, 'alpha', 5470);
    expect(group.holder).toBe(null);
    expect(group.transition).toMatchObject({ change: 'stopped', code: 'quorum-no-grant' });
    expect(text).toMatch(/^ {4}holder: nobody; here: stopped\n {4}stopped 5 s ago: quorum: beta not heard and no lease from the arbiter \(no answer yet \(no answer from the arbiter\)\): holding nothing\n/m);
  });

  it('ages read at a glance: seconds under a minute, then minutes', () => {
    expect([0, 999, 1000, 5_040, 9_960, 12_400, 59_400, 180_000, 3_599_999, 3_600_000, 7_500_000, 200_000_000].map(formatAge))
      .toEqual(['0 ms', '999 ms', '1 s', '5 s', '10 s', '12 s', '59 s', '3 min', '59 min', '1 h', '2 h 5 min', '2 d']);
  });
});
