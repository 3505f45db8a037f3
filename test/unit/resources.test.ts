import { describe, expect, it } from 'vitest';
import {
  decideWithQuorum, failedGroups, heldGroups, initResources, resourcesStep, wantsGroup, yieldingGroups,
  type ResourcesAction, type ResourcesConfig, type ResourcesState,
} from '../../src/resources/machine.js';
import type { PeerReport } from '../../src/membership/machine.js';

const base = (self: string, autoFailback: 'on' | 'off' = 'off'): ResourcesConfig => ({
  self, autoFailback, stopRetries: 2, stopRetryDelayMs: 1000,
  groups: [{ name: 'g1', preferredNode: 'alpha', resourceCount: 3 }],
});
const rep = (hold: string[] = [], extra: Partial<PeerReport> = {}): PeerReport =>
  ({ status: 'active', hold, yielding: [], failed: [], ...extra });
const ops = (a: ResourcesAction[]) => a.filter((x) => x.kind === 'op').map((x) => x.kind === 'op' && `${x.op}${x.index}`);

/** Runs ops to completion, succeeding unless `fail(op, index)` says otherwise. */
function settle(s: ResourcesState, acts: ResourcesAction[], fail = (_op: string, _i: number) => false, now = 0): string[] {
  const log: string[] = [];
  const queue = [...acts];
  while (queue.length) {
    const a = queue.shift()!;
    if (a.kind !== 'op') continue;
    log.push(`${a.op}${a.index}`);
    queue.push(...resourcesStep(s, { kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: !fail(a.op, a.index) }, now));
  }
  return log;
}

describe('resource groups', () => {
  it('waits while the peer is unknown, then the preferred node starts left to right and persists first', () => {
    const s = initResources(base('alpha'), new Set(), 0);
    expect(resourcesStep(s, { kind: 'tick' }, 0)).toEqual([]);
    const acts = resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0);
    const persistAt = acts.findIndex((a) => a.kind === 'persist-hold');
    const opAt = acts.findIndex((a) => a.kind === 'op');
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(persistAt).toBeLessThan(opAt);
    expect(settle(s, acts)).toEqual(['start0', 'start1', 'start2']);
    expect(s.groups.g1!.phase).toBe('running');
  });

  it('the non-preferred node never starts an unheld group while the preferred peer is up', () => {
    const s = initResources(base('beta'), new Set(), 0);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0))).toEqual([]);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 10))).toEqual(['start0']);
  });

  it('never starts a group the peer still reports, even when it should fail back to us', () => {
    const s = initResources(base('alpha', 'on'), new Set(), 0);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep(['g1']) }, 0))).toEqual([]);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([]) }, 5))).toEqual(['start0']);
  });

  it('auto_failback on: the non-preferred holder releases right to left when the preferred node is back', () => {
    const s = initResources(base('beta', 'on'), new Set(), 0);
    settle(s, resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 0));
    expect(s.groups.g1!.phase).toBe('running');
    const acts = resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 10);
    expect(settle(s, acts)).toEqual(['stop2', 'stop1', 'stop0']);
    expect(heldGroups(s)).toEqual([]);
  });

  it('auto_failback off: the holder keeps the group when the preferred node returns', () => {
    const s = initResources(base('beta', 'off'), new Set(), 0);
    settle(s, resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 0));
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 10))).toEqual([]);
    expect(s.groups.g1!.phase).toBe('running');
  });

  it('a failed start unwinds from the failed resource down and lets the peer take the group', () => {
    const s = initResources(base('alpha'), new Set(), 0);
    const log = settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0), (op, i) => op === 'start' && i === 1);
    expect(log).toEqual(['start0', 'start1', 'stop1', 'stop0']);
    expect(s.groups.g1!.phase).toBe('failed');
    const peer = initResources(base('beta'), new Set(), 0);
    expect(ops(resourcesStep(peer, { kind: 'peer', liveness: 'up', report: rep([], { failed: ['g1'] }) }, 0))).toEqual(['start0']);
  });

  it('a restarted node that remembers holding a group yields to a peer that holds it', () => {
    const s = initResources(base('alpha', 'off'), new Set(['g1']), 0);
    expect(s.groups.g1!.phase).toBe('recovering');
    expect(heldGroups(s)).toEqual(['g1']);
    const log = settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep(['g1']) }, 0));
    expect(log).toEqual(['stop2', 'stop1', 'stop0']);
    expect(heldGroups(s)).toEqual([]);
  });

  it('auto_failback off: the running holder keeps the group while the restarted node clears its leftovers', () => {
    const b = initResources(base('beta', 'off'), new Set(), 0);
    settle(b, resourcesStep(b, { kind: 'peer', liveness: 'dead' }, 0));
    // alpha's reports while it recovers, then while it stops its leftovers, then done.
    for (const report of [rep(['g1'], { yielding: ['g1'] }), rep(['g1'], { yielding: ['g1'] }), rep([])]) {
      expect(ops(resourcesStep(b, { kind: 'peer', liveness: 'up', report }, 1))).toEqual([]);
      expect(b.groups.g1!.phase).toBe('running');
    }
  });

  // Seed 73 of the simulator (strict split-brain): the preferred node resumed
  // its remembered group while the peer, which held it too, was still
  // stopping its copy, and both hosts ran it until that stop walk ended.
  it('a restarted preferred node does not resume while the peer still lists the group as yielding', () => {
    const s = initResources(base('alpha'), new Set(['g1']), 0);
    // beta stops its copy: its reports list g1 held and yielding until its walk ends.
    for (let t = 0; t < 3; t++) {
      expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep(['g1'], { yielding: ['g1'] }) }, t))).toEqual([]);
      expect(s.groups.g1!.phase).toBe('recovering');
    }
    expect(wantsGroup(s, base('alpha').groups[0]!)).toBeUndefined();
    expect(ops(resourcesStep(s, { kind: 'tick' }, 5))).toEqual([]);
    // Its report drops g1 once the walk is over: now alpha resumes.
    expect(settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([]) }, 10))).toEqual(['start0', 'start1', 'start2']);
    expect(s.groups.g1!.phase).toBe('running');
    // While waiting, the peer's death lets it resume at once.
    const d = initResources(base('alpha'), new Set(['g1']), 0);
    expect(ops(resourcesStep(d, { kind: 'peer', liveness: 'up', report: rep(['g1'], { yielding: ['g1'] }) }, 0))).toEqual([]);
    expect(ops(resourcesStep(d, { kind: 'peer', liveness: 'dead' }, 1))).toEqual(['start0']);
    // The peer's stop fails for good (stop-failed: held, no longer yielding): the restarted node stops its own copy.
    const f = initResources(base('alpha'), new Set(['g1']), 0);
    resourcesStep(f, { kind: 'peer', liveness: 'up', report: rep(['g1'], { yielding: ['g1'] }) }, 0);
    expect(settle(f, resourcesStep(f, { kind: 'peer', liveness: 'up', report: rep(['g1']) }, 1))).toEqual(['stop2', 'stop1', 'stop0']);
    expect(heldGroups(f)).toEqual([]);
  });

  it('two restarted nodes that both remember a group: the other stops its copy, then the preferred one resumes', () => {
    for (const failback of ['on', 'off'] as const) {
      const a = initResources(base('alpha', failback), new Set(['g1']), 0);
      const b = initResources(base('beta', failback), new Set(['g1']), 0);
      const report = (s: ResourcesState): PeerReport => rep(heldGroups(s), { yielding: yieldingGroups(s), failed: failedGroups(s) });
      const log: string[] = [];
      // Report rounds: each node hears the other's report as it was at the start of the round.
      for (let round = 0; round < 4; round++) {
        const ra = report(a);
        const rb = report(b);
        log.push(...settle(a, resourcesStep(a, { kind: 'peer', liveness: 'up', report: rb }, round), undefined, round).map((o) => `alpha ${o}`));
        log.push(...settle(b, resourcesStep(b, { kind: 'peer', liveness: 'up', report: ra }, round), undefined, round).map((o) => `beta ${o}`));
      }
      // No deadlock, and alpha's start walk begins only after beta's stop walk ended.
      expect(log).toEqual(['beta stop2', 'beta stop1', 'beta stop0', 'alpha start0', 'alpha start1', 'alpha start2']);
      expect(a.groups.g1!.phase).toBe('running');
      expect(b.groups.g1!.phase).toBe('stopped');
    }
  });

  it('takes a group the leaving peer has released even while another of its groups is stuck', () => {
    const cfg: ResourcesConfig = { ...base('beta'), groups: [
      { name: 'g1', preferredNode: 'alpha', resourceCount: 1 },
      { name: 'g2', preferredNode: 'alpha', resourceCount: 1 },
    ] };
    const s = initResources(cfg, new Set(), 0);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep(['g1', 'g2']) }, 0))).toEqual([]);
    // alpha shuts down: g1 released, g2 stuck in stop-failed.
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep(['g2'], { status: 'dead' }) }, 5))).toEqual(['start0']);
    expect(s.groups.g2!.phase).toBe('stopped');
  });

  it('starts an unheld group only on a report written after the peer heard this incarnation', () => {
    const s = initResources({ ...base('alpha'), generation: 9 }, new Set(), 0);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: null }) }, 0))).toEqual([]);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: 8 }) }, 1))).toEqual([]);
    expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: 9 }) }, 2))).toEqual(['start0']);
    // A Heartbeat peer does not say: no waiting.
    const h = initResources({ ...base('alpha'), generation: 9 }, new Set(), 0);
    expect(ops(resourcesStep(h, { kind: 'peer', liveness: 'up', report: rep([]) }, 0))).toEqual(['start0']);
  });

  // Simulator seeds 60569, 84496 (strict split-brain): a restarted node heard
  // a report its peer sent, over a slow path, before it took the group over
  // from the fenced node, and resumed the group beside the peer's copy.
  it('resumes a remembered group only on a report written after the peer heard this incarnation', () => {
    for (const [self, failback] of [['alpha', 'on'], ['beta', 'off']] as const) {
      const s = initResources({ ...base(self, failback), generation: 9 }, new Set(['g1']), 0);
      expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: 8 }) }, 0))).toEqual([]);
      expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: null }) }, 1))).toEqual([]);
      expect(s.groups.g1!.phase).toBe('recovering');
      expect(ops(resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: 9 }) }, 2))).toEqual(['start0']);
      // A Heartbeat peer does not say: no waiting.
      const h = initResources({ ...base(self, failback), generation: 9 }, new Set(['g1']), 0);
      expect(ops(resourcesStep(h, { kind: 'peer', liveness: 'up', report: rep([]) }, 0))).toEqual(['start0']);
    }
    // A group already running is not stopped or paused by an older report.
    const r = initResources({ ...base('alpha'), generation: 9 }, new Set(), 0);
    settle(r, resourcesStep(r, { kind: 'peer', liveness: 'dead' }, 0));
    expect(ops(resourcesStep(r, { kind: 'peer', liveness: 'up', report: rep([], { hearsGeneration: 8 }) }, 1))).toEqual([]);
    expect(r.groups.g1!.phase).toBe('running');
  });

  it('a restarted node whose peer is dead resumes its group', () => {
    const s = initResources(base('beta'), new Set(['g1']), 0);
    expect(settle(s, resourcesStep(s, { kind: 'peer', liveness: 'dead' }, 0))).toEqual(['start0', 'start1', 'start2']);
  });

  it('both holding after a partition: the recovering side yields, else the preferred node keeps it', () => {
    const a = initResources(base('alpha'), new Set(), 0);
    settle(a, resourcesStep(a, { kind: 'peer', liveness: 'dead' }, 0));
    const b = initResources(base('beta'), new Set(), 0);
    settle(b, resourcesStep(b, { kind: 'peer', liveness: 'dead' }, 0));
    expect(wantsGroup(a, base('alpha').groups[0]!)).toBe(true);
    resourcesStep(a, { kind: 'peer', liveness: 'up', report: rep(['g1']) }, 1);
    expect(a.groups.g1!.phase).toBe('running');
    expect(ops(resourcesStep(b, { kind: 'peer', liveness: 'up', report: rep(['g1']) }, 1))).toEqual(['stop2']);
  });

  it('a stop that keeps failing is retried with a delay, then held with an alert', () => {
    const s = initResources(base('alpha'), new Set(), 0);
    settle(s, resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep() }, 0));
    let acts = resourcesStep(s, { kind: 'shutdown' }, 0);
    expect(ops(acts)).toEqual(['stop2']);
    for (let attempt = 0; attempt < 3; attempt++) {
      acts = resourcesStep(s, { kind: 'op-done', group: 'g1', op: 'stop', index: 2, ok: false, error: 'boom' }, attempt * 1000);
      if (attempt < 2) {
        expect(ops(acts)).toEqual([]);
        expect(ops(resourcesStep(s, { kind: 'tick' }, attempt * 1000 + 999))).toEqual([]);
        expect(ops(resourcesStep(s, { kind: 'tick' }, attempt * 1000 + 1000))).toEqual(['stop2']);
      }
    }
    expect(s.groups.g1!.phase).toBe('stop-failed');
    expect(acts).toContainEqual(expect.objectContaining({ kind: 'alert' }));
    expect(heldGroups(s)).toEqual(['g1']);
  });
});

describe('quorum cannot take a group past the start rules', () => {
  // alpha reaches more ping targets (ipfail-better: "take the peer's"), but it
  // has just handed g1 to beta (tandem standby) and dropped it in a message
  // beta had not read when it wrote its newest report: beta may be starting
  // g1 right now (simulator seed 55836).
  const ipfailBetter = { g1: { group: 'g1', hold: 'keep', take: 'allow', code: 'ipfail-better', reason: 'ipfail: this node reaches more' } as const };

  it('waits while the peer has not read that this node released the group', () => {
    const s = initResources(base('alpha'), new Set(), 0);
    resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([], { unheardDrops: ['g1'] }) }, 0);
    resourcesStep(s, { kind: 'hand-over', groups: ['g1'] }, 0);
    s.quorum = ipfailBetter;
    const d = decideWithQuorum(s, s.cfg.groups[0]!, ipfailBetter.g1);
    expect(d.want).toBeUndefined();
    expect(d.reason).toMatch(/to read that this node released it/);
  });

  it('takes it once the peer has read the release and does not hold it', () => {
    const s = initResources(base('alpha'), new Set(), 0);
    resourcesStep(s, { kind: 'peer', liveness: 'up', report: rep([]) }, 0);
    resourcesStep(s, { kind: 'hand-over', groups: ['g1'] }, 0);
    expect(decideWithQuorum(s, s.cfg.groups[0]!, ipfailBetter.g1).want).toBe(true);
  });
});
