// tandem standby / takeover / cleanup as engine events (issue 11, day-2
// operations): two real engines wired back to back, messages encoded and
// decoded with the real codec, resource operations that finish one step
// later. The pair must never run a group on both nodes, and the hand-over
// must end where the operator asked.

import { describe, expect, it } from 'vitest';
import {
  engineStep, initEngine, planHandover,
  type EngineAction, type EngineEvent, type EngineState, type RscHold,
} from '../../src/node/engine.js';
import { cleanupCheck, heldGroups, resourcesStep, initResources, wantsGroup } from '../../src/resources/machine.js';
import { ASK_WINDOW } from '../../src/membership/machine.js';
import { buildAskResources, buildStatus, parseAskResources, parseHeader, parseStatus } from '../../src/heartbeat/messages.js';
import { decode, encode } from '../../src/heartbeat/codec.js';
import type { AuthKeys } from '../../src/config/types.js';

const KEYS = { sendIndex: 1, keys: new Map([[1, { method: 'sha1', key: 'k' }]]) } as unknown as AuthKeys;
const GROUPS = [
  { name: 'ga', preferredNode: 'alpha', resourceCount: 2 },
  { name: 'gb', preferredNode: 'beta', resourceCount: 1 },
];
type Name = 'alpha' | 'beta';
const GEN: Record<Name, number> = { alpha: 100, beta: 200 };
const UUID = Buffer.alloc(16, 1);

interface Node { name: Name; e: EngineState; pendingOps: EngineEvent[]; fail: (group: string, op: string, index: number) => boolean; running: Set<string> }

function node(name: Name, autoFailback: 'on' | 'off'): Node {
  const peer = name === 'alpha' ? 'beta' : 'alpha';
  return {
    name, pendingOps: [], fail: () => false, running: new Set(),
    e: initEngine(
      { self: name, peer, paths: ['p0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 400, initdeadMs: 400, generation: GEN[name] },
      { self: name, autoFailback, stopRetries: 1, stopRetryDelayMs: 100, groups: GROUPS, generation: GEN[name] },
      0, { held: new Set() },
    ),
  };
}

/** A pair on a perfect wire; `drop` loses messages of one node's kind. */
class Pair {
  readonly a: Node;
  readonly b: Node;
  t = 0;
  wire: Array<{ to: Node; buf: Buffer }> = [];
  drop: (from: Name, type: string) => boolean = () => false;
  logs: string[] = [];
  both: string[] = [];
  constructor(autoFailback: 'on' | 'off') {
    this.a = node('alpha', autoFailback);
    this.b = node('beta', autoFailback);
  }
  other(n: Node): Node { return n === this.a ? this.b : this.a; }
  step(n: Node, ev: EngineEvent): EngineAction[] {
    const acts = engineStep(n.e, ev, this.t);
    for (const a of acts) this.act(n, a);
    return acts;
  }
  act(n: Node, a: EngineAction): void {
    const to = this.other(n);
    if (a.kind === 'send') {
      if (this.drop(n.name, 'status')) return;
      const s = a.status;
      this.wire.push({ to, buf: encode(buildStatus({ status: s.status === 'init' ? 'init' : s.status, deadtimeMs: 400, src: n.name, srcUuid: UUID, seq: s.seq, generation: GEN[n.name], wallSeconds: 1, hold: s.hold, yielding: s.yielding, failed: s.failed, standby: s.standby, hears: s.hears, ...(s.hearsSeq !== undefined ? { hearsSeq: s.hearsSeq } : {}) }), KEYS) });
    } else if (a.kind === 'ask') {
      if (this.drop(n.name, 'ask')) return;
      this.wire.push({ to, buf: encode(buildAskResources({ rscHold: a.rscHold, info: a.info, src: n.name, srcUuid: UUID, seq: a.seq, generation: GEN[n.name], wallSeconds: 1 }), KEYS) });
    } else if (a.kind === 'op') {
      n.pendingOps.push({ kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: !n.fail(a.group, a.op, a.index) });
      if (!n.fail(a.group, a.op, a.index)) {
        if (a.op === 'start') n.running.add(`${a.group}#${a.index}`); else n.running.delete(`${a.group}#${a.index}`);
      }
    } else if (a.kind === 'handover-log') this.logs.push(`${n.name}: ${a.message}`);
  }
  deliver(): void {
    const w = this.wire;
    this.wire = [];
    for (const { to, buf } of w) {
      const f = decode(buf, KEYS);
      const h = parseHeader(f);
      if (h.type === 'ask_resources') {
        const q = parseAskResources(f);
        this.step(to, { kind: 'ask-heard', src: h.src, generation: h.generation!, seq: h.seq!, rscHold: q.rscHold, info: q.info });
      } else {
        const st = parseStatus(f);
        this.step(to, { kind: 'heard', path: 'p0', src: h.src, generation: h.generation!, seq: h.seq!, report: { status: st.status, hold: st.hold, yielding: st.yielding, failed: st.failed, ...(st.standby ? { standby: st.standby } : {}), ...(st.hearsGeneration !== undefined ? { hearsGeneration: st.hearsGeneration } : {}), ...(st.hearsSeq !== undefined ? { hearsSeq: st.hearsSeq } : {}) } });
      }
    }
  }
  run(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) {
      this.t += 10;
      for (const n of [this.a, this.b]) {
        const ops = n.pendingOps;
        n.pendingOps = [];
        for (const ev of ops) this.step(n, ev);
        this.step(n, { kind: 'tick' });
      }
      this.deliver();
      for (const g of GROUPS) {
        const up = (n: Node) => [...n.running].some((r) => r.startsWith(`${g.name}#`));
        if (up(this.a) && up(this.b)) this.both.push(`${this.t}: ${g.name}`);
      }
    }
  }
  holds(n: Node): string[] { return heldGroups(n.e.r).filter((g) => n.e.r.groups[g]!.phase === 'running'); }
  command(n: Node, cmd: 'standby' | 'takeover', which: RscHold): void {
    const plan = planHandover(n.e, cmd, which);
    expect(plan.refusal).toBeUndefined();
    this.step(n, { kind: cmd, which, groups: plan.groups });
  }
}

describe('standby and takeover (hb_standby / hb_takeover)', () => {
  it('standby local hands this node\'s groups to the peer, which keeps them despite auto_failback; takeover brings them back', () => {
    const p = new Pair('on');
    p.run(1000);
    expect(p.holds(p.a)).toEqual(['ga']);
    expect(p.holds(p.b)).toEqual(['gb']);
    p.command(p.a, 'standby', 'local');
    p.run(1000);
    expect(p.holds(p.a)).toEqual([]);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    // It lasts: auto_failback does not pull it back while both run.
    p.run(3000);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    expect(p.logs.some((l) => l.startsWith('beta: hb_standby [local] from alpha'))).toBe(true);
    p.command(p.a, 'takeover', 'local');
    p.run(1000);
    expect(p.holds(p.a)).toEqual(['ga']);
    expect(p.holds(p.b)).toEqual(['gb']);
    expect(p.both).toEqual([]);
  });

  it('auto_failback off: takeover all asks the peer to release, and it does', () => {
    const p = new Pair('off');
    p.run(1000);
    p.command(p.b, 'takeover', 'all');
    p.run(1500);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    expect(p.holds(p.a)).toEqual([]);
    expect(p.logs.some((l) => l.startsWith('alpha: hb_takeover [all] from beta'))).toBe(true);
    // Opposite request from alpha: standby foreign is gb's and ga stays; standby all sends everything back.
    p.command(p.b, 'standby', 'all');
    p.run(1500);
    expect(p.holds(p.a)).toEqual(['ga', 'gb']);
    expect(p.both).toEqual([]);
  });

  it('a lost takeover request is repeated with the next heartbeats', () => {
    const p = new Pair('off');
    p.run(1000);
    let lost = 0;
    p.drop = (from, type) => from === 'beta' && type === 'ask' && lost++ < 2;
    p.command(p.b, 'takeover', 'foreign');
    p.run(1500);
    expect(lost).toBeGreaterThanOrEqual(2);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    expect(p.both).toEqual([]);
  });

  it('a group handed over that the peer fails to start comes back to this node', () => {
    const p = new Pair('on');
    p.run(1000);
    p.b.fail = (g, op) => g === 'ga' && op === 'start';
    p.command(p.a, 'standby', 'local');
    p.run(2000);
    expect(p.b.e.r.groups.ga!.phase).toBe('failed');
    expect(p.a.e.r.standby).toEqual(['ga']);
    expect(p.holds(p.a)).toEqual(['ga']);
    expect(p.both).toEqual([]);
  });

  it('the standby lasts until the peer dies: then this node takes its groups back', () => {
    const p = new Pair('on');
    p.run(1000);
    p.command(p.a, 'standby', 'all');
    p.run(1000);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    // beta falls silent.
    p.drop = (from) => from === 'beta';
    p.b.running.clear();
    p.run(1500);
    expect(p.holds(p.a)).toEqual(['ga', 'gb']);
    expect(p.a.e.r.standby).toEqual([]);
  });

  it('refuses when nobody could take the groups, or nothing matches', () => {
    const p = new Pair('on');
    expect(planHandover(p.a.e, 'standby', 'all').refusal).toMatch(/beta is not heard yet: nobody could take the groups/);
    p.run(1000);
    const one = new Pair('on');
    one.run(1000);
    expect(planHandover(p.a.e, 'standby', 'local')).toEqual({ groups: ['ga'], notes: [] });
    one.b.e.r.cfg = { ...one.b.e.r.cfg, groups: [GROUPS[0]!] };
    expect(planHandover(one.b.e, 'standby', 'local').refusal).toBe("nothing matched 'local': no group is preferred on beta");
  });

  it('a replayed ask_resources is refused; unknown values are ignored', () => {
    const p = new Pair('on');
    p.run(1000);
    const seq = p.b.e.m.peer.lastSeq!;
    const ask = (n: number, rscHold = 'all', info = 'me') => engineStep(p.b.e, { kind: 'ask-heard', src: 'alpha', generation: GEN.alpha, seq: n, rscHold, info }, p.t);
    // Far older than the heartbeats accepted: a recording played back.
    const old = ask(seq - ASK_WINDOW);
    expect(old.some((a) => a.kind === 'dropped' && a.reason === 'replay')).toBe(true);
    expect(old.some((a) => a.kind === 'ask')).toBe(false);
    expect(ask(seq + 1).some((a) => a.kind === 'ask')).toBe(true);   // taken, answered with other
    // The same datagram again (a second path, or a replay) does nothing; an older one is refused.
    expect(ask(seq + 1)).toEqual(expect.not.arrayContaining([expect.objectContaining({ kind: 'ask' })]));
    expect(ask(seq).some((a) => a.kind === 'dropped' && a.reason === 'replay')).toBe(true);
    const bad = ask(seq + 5, 'sideways');
    expect(bad.filter((a) => a.kind === 'ask-ignored').map((a) => a.kind === 'ask-ignored' && a.detail)).toEqual([expect.stringMatching(/rsc_hold="sideways"/)]);
    expect(ask(seq + 6, 'all', 'maybe').some((a) => a.kind === 'ask-ignored')).toBe(true);
  });

  it('a standby right after a takeover: a peer report from before it read the standby does not count as crossed (seed 450121183)', () => {
    const p = new Pair('on');
    p.run(1000);
    p.command(p.a, 'standby', 'all');
    p.run(1500);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    // Right after one of alpha's heartbeats: the rest happens before its next.
    const seq = p.a.e.m.seq;
    while (p.a.e.m.seq === seq) p.run(10);
    p.command(p.a, 'takeover', 'all');
    // The standby follows as soon as beta's report hands the groups back
    // (before the fix, that was before alpha's next heartbeat: beta counted
    // the two hand-overs as crossed on alpha's older report, and let ga go
    // at once by auto_failback).
    while (!p.a.e.m.peer.report?.standby?.length) p.run(10);
    // beta's heartbeats written after it read the standby are lost for a while: alpha keeps the older report.
    const until = p.t + 300;
    p.drop = (from, type) => from === 'beta' && type === 'status' && p.t < until;
    p.command(p.a, 'standby', 'all');
    p.run(2000);
    expect(p.both).toEqual([]);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    expect(p.holds(p.a)).toEqual([]);
  });

  it('a request that overtakes the heartbeat sent before it does not make that heartbeat a replay (seed 900001803)', () => {
    const p = new Pair('off');
    p.run(1000);
    // beta sends a heartbeat, then a takeover request; the request arrives first, every time.
    let held: Array<{ to: Node; buf: Buffer }> = [];
    const deliver = p.deliver.bind(p);
    p.deliver = () => {
      const asks = p.wire.filter((w) => parseHeader(decode(w.buf, KEYS)).type === 'ask_resources');
      const rest = p.wire.filter((w) => !asks.includes(w));
      p.wire = [...asks, ...held];
      held = rest;
      deliver();
    };
    p.command(p.b, 'takeover', 'all');
    p.run(3000);
    expect(p.a.e.m.peer.liveness).toBe('up');
    expect(p.a.e.m.drops.replay).toBe(0);
    expect(p.holds(p.b)).toEqual(['ga', 'gb']);
    expect(p.both).toEqual([]);
  });

  it('accepts a Heartbeat peer\'s hb_standby: answers other, takes the groups only after done', () => {
    const p = new Pair('on');
    p.run(1000);
    const b = p.b.e;
    // A peer without tg_standby (Heartbeat): its reports carry no standby list.
    let seq = b.m.peer.lastSeq! + 1;
    const me = engineStep(b, { kind: 'ask-heard', src: 'alpha', generation: GEN.alpha, seq: seq++, rscHold: 'local', info: 'me' }, p.t);
    expect(me.filter((a) => a.kind === 'ask').map((a) => a.kind === 'ask' && `${a.rscHold}/${a.info}`)).toEqual(['local/other']);
    const { standby: _dropped, ...heartbeatLike } = b.m.peer.report!;
    b.m.peer.report = heartbeatLike;
    b.r.peer.report = b.m.peer.report;
    expect(wantsGroup(b.r, GROUPS[0]!)).toBe(false);   // alpha still holds ga
    b.m.peer.report = { ...heartbeatLike, hold: [] };
    b.r.peer.report = b.m.peer.report;
    expect(wantsGroup(b.r, GROUPS[0]!)).toBe(false);   // not before done: it may still be stopping
    engineStep(b, { kind: 'ask-heard', src: 'alpha', generation: GEN.alpha, seq: seq++, rscHold: 'local', info: 'done' }, p.t);
    expect(b.r.fromPeer).toEqual(['ga']);
    expect(wantsGroup(b.r, GROUPS[0]!)).toBe(true);
  });
});

describe('cleanup', () => {
  const cfg = { self: 'alpha', autoFailback: 'on' as const, stopRetries: 0, stopRetryDelayMs: 100, groups: [GROUPS[0]!] };
  const up = { kind: 'peer' as const, liveness: 'up' as const, report: { status: 'active', hold: [], yielding: [], failed: [] } };

  it('names the known groups for an unknown one, and refuses a group that did not fail', () => {
    const s = initResources(cfg, new Set(), 0);
    expect(cleanupCheck(s, 'nope')).toEqual({ error: 'no group "nope"; known groups: ga' });
    expect(cleanupCheck(s, 'ga')).toEqual({ error: 'group ga is stopped, not failed, and no resource has a failure counted; nothing to clean up' });
  });

  it('a failed group becomes stopped and is started again by the usual rules', () => {
    const s = initResources(cfg, new Set(), 0);
    resourcesStep(s, up, 0);
    resourcesStep(s, { kind: 'op-done', group: 'ga', op: 'start', index: 0, ok: false, error: 'boom' }, 1);
    resourcesStep(s, { kind: 'op-done', group: 'ga', op: 'stop', index: 0, ok: true }, 2);
    expect(s.groups.ga!.phase).toBe('failed');
    // Not retried by itself while the peer is up.
    expect(resourcesStep(s, { kind: 'tick' }, 3).some((a) => a.kind === 'op')).toBe(false);
    expect(cleanupCheck(s, 'ga')).toEqual({ probe: false });
    const acts = resourcesStep(s, { kind: 'cleanup', group: 'ga' }, 4);
    expect(acts.filter((a) => a.kind === 'op')).toEqual([{ kind: 'op', group: 'ga', op: 'start', index: 0 }]);
    expect(s.groups.ga!.lastError).toBeUndefined();
  });

  it('a stop-failed group is cleared by what its status operations say', () => {
    const stopFailed = () => {
      const s = initResources({ ...cfg, autoFailback: 'on' }, new Set(), 0);
      resourcesStep(s, up, 0);
      resourcesStep(s, { kind: 'op-done', group: 'ga', op: 'start', index: 0, ok: true }, 1);
      resourcesStep(s, { kind: 'op-done', group: 'ga', op: 'start', index: 1, ok: true }, 2);
      resourcesStep(s, { kind: 'shutdown' }, 3);
      resourcesStep(s, { kind: 'op-done', group: 'ga', op: 'stop', index: 1, ok: false, error: 'stuck' }, 4);
      expect(s.groups.ga!.phase).toBe('stop-failed');
      s.stopping = false;
      return s;
    };
    const a = stopFailed();
    expect(cleanupCheck(a, 'ga')).toEqual({ probe: true });
    // Without the status verdict nothing changes.
    expect(resourcesStep(a, { kind: 'cleanup', group: 'ga' }, 5)).toEqual([]);
    const stopped = resourcesStep(a, { kind: 'cleanup', group: 'ga', probe: 'stopped' }, 5);
    expect(stopped).toContainEqual({ kind: 'persist-hold', group: 'ga', held: false });
    const b = stopFailed();
    const running = resourcesStep(b, { kind: 'cleanup', group: 'ga', probe: 'running' }, 5);
    // Still running here and wanted: the start sequence runs again (idempotent), nothing is released first.
    expect(running.find((a) => a.kind === 'group-phase')).toMatchObject({ phase: 'recovering' });
    expect(b.groups.ga!.leftovers || b.groups.ga!.phase === 'starting').toBe(true);
    expect(heldGroups(b)).toEqual(['ga']);
  });
});

describe('hand-over and reload', () => {
  it('a group removed by a reload leaves no hand-over behind for a later group of the same name', () => {
    const s = initResources({ self: 'alpha', autoFailback: 'on', stopRetries: 0, stopRetryDelayMs: 100, groups: GROUPS }, new Set(), 0);
    resourcesStep(s, { kind: 'peer', liveness: 'up', report: { status: 'active', hold: [], yielding: [], failed: [] } }, 0);
    resourcesStep(s, { kind: 'hand-over', groups: ['ga', 'gb'] }, 1);
    expect(s.standby).toEqual(['ga', 'gb']);
    resourcesStep(s, { kind: 'reconfigure', groups: [GROUPS[0]!], autoFailback: 'on', replace: [] }, 2);
    expect(s.standby).toEqual(['ga']);
  });
});
