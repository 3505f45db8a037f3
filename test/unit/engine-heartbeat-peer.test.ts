// A tandem engine beside a Heartbeat 3 peer (issue 17): Heartbeat says what
// it holds only in t=resource messages, in its own coarse terms, and clears
// a group's bit when it starts releasing it. The engine must not start a
// group on a Heartbeat peer's word before such a report, nor while the peer
// may still be releasing it; and it must answer the join chatter.

import { describe, expect, it } from 'vitest';
import { engineStep, initEngine, planHandover, type EngineAction, type EngineEvent, type EngineState } from '../../src/node/engine.js';
import { buildHb, parseHb, type HbMessage } from '../../src/heartbeat/messages.js';
import { decode, encode } from '../../src/heartbeat/codec.js';
import type { AuthKeys } from '../../src/config/types.js';
import type { PeerReport } from '../../src/membership/machine.js';
import { runOps } from '../helpers/engine-ops.js';

const GROUPS = [{ name: 'ga', preferredNode: 'alpha', resourceCount: 1 }];
const PEER_GEN = 500;

function engine(held: string[] = []): EngineState {
  return initEngine(
    { self: 'alpha', peer: 'beta', paths: ['p0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 400, initdeadMs: 400, generation: 100 },
    { self: 'alpha', autoFailback: 'off', stopRetries: 1, stopRetryDelayMs: 100, groups: GROUPS, generation: 100 },
    0, { held: new Set(held) },
  );
}

const hbStatus = (seq: number, t: number): EngineEvent => ({
  kind: 'heard', path: 'p0', src: 'beta', generation: PEER_GEN, seq, wallS: 1,
  report: { status: 'active', hold: [], yielding: [], failed: [], deadtimeMs: 400, heartbeat: true } satisfies PeerReport,
});
const hb = (seq: number | undefined, msg: HbMessage): EngineEvent => ({ kind: 'hb-heard', src: 'beta', generation: PEER_GEN, ...(seq !== undefined ? { seq } : {}), msg });
const starts = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'op' && a.op === 'start');
const sent = (acts: EngineAction[], type: string) => acts.filter((a) => a.kind === 'hb-send' && a.msg.type === type);

describe('engine with a Heartbeat peer', () => {
  it('starts nothing before the peer reported what it holds, and asks it (t=starting)', () => {
    const e = engine();
    const acts = engineStep(e, hbStatus(1, 0), 0);
    expect(starts(acts)).toEqual([]);
    expect(sent(acts, 'starting')).toHaveLength(1);
    // Still nothing a while later; t=starting again.
    let all: EngineAction[] = [];
    for (let t = 100; t <= 1200; t += 100) all = all.concat(engineStep(e, hbStatus(1 + t / 100, t), t));
    expect(starts(all)).toEqual([]);
    expect(sent(all, 'starting').length).toBeGreaterThanOrEqual(1);
  });

  it('leaves a group the peer reports holding (foreign to it) and takes it once the peer reports it released', () => {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    expect(starts(engineStep(e, hb(2, { type: 'resource', rscHold: 'all', stable: true, full: true }), 10))).toEqual([]);
    // Its standby: bits cleared while it releases (unstable) -> still counts as held.
    expect(starts(engineStep(e, hb(3, { type: 'resource', rscHold: 'none', stable: false, full: true }), 20))).toEqual([]);
    expect(starts(engineStep(e, hbStatus(4, 30), 30))).toEqual([]);
    // Its own `done` says the release finished.
    const acts = engineStep(e, { kind: 'ask-heard', src: 'beta', generation: PEER_GEN, seq: 5, rscHold: 'all', info: 'done' }, 40);
    expect(starts(acts).map((a) => a.kind === 'op' && a.group)).toEqual(['ga']);
  });

  it('starts its preferred group on a stable report that the peer holds none', () => {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    const acts = engineStep(e, hb(2, { type: 'resource', rscHold: 'none', stable: true, full: true }), 10);
    expect(starts(acts).map((a) => a.kind === 'op' && a.group)).toEqual(['ga']);
    // It tells the peer it holds its local group, not stable while starting.
    expect(sent(acts, 'resource').map((a) => a.kind === 'hb-send' && a.msg)).toEqual([{ type: 'resource', rscHold: 'local', stable: false }]);
  });

  it('answers reqnodes with the node list, acks every 10th message, and resends on NS_rexmit', () => {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    const rep = sent(engineStep(e, hb(2, { type: 'reqnodes', dest: 'alpha' }), 5), 'repnodes');
    expect(rep.map((a) => a.kind === 'hb-send' && a.msg)).toEqual([{ type: 'repnodes', dest: 'beta', nodes: ['alpha', 'beta'] }]);
    const acks = engineStep(e, hbStatus(12, 10), 10).filter((a) => a.kind === 'hb-send' && a.msg.type === 'ackmsg');
    expect(acks.map((a) => a.kind === 'hb-send' && a.msg)).toEqual([{ type: 'ackmsg', dest: 'beta', ackseq: 12 }]);
    const rx = engineStep(e, hb(undefined, { type: 'rexmit', first: 1, last: 500 }), 20).filter((a) => a.kind === 'hb-rexmit');
    expect(rx).toHaveLength(1);
    expect(rx[0]!.kind === 'hb-rexmit' && rx[0]!.last - rx[0]!.first).toBeLessThan(50);
  });
});

describe('engine with a Heartbeat peer: hand-overs', () => {
  /** alpha holds ga; beta (Heartbeat) reported holding none, stable; our stable report went out. */
  function holding(): EngineState {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    runOps(e, engineStep(e, hb(2, { type: 'resource', rscHold: 'none', stable: true, full: true }), 10), 10);
    return e;
  }
  const asks = (acts: EngineAction[], info: string) => acts.filter((a) => a.kind === 'ask' && a.info === info);

  it('waits for the peer to be stable before asking it to take over, and asks again until it answers', () => {
    const e = holding();
    // It restarts: until its stable report Heartbeat would ignore the request ("Other side is in flux").
    engineStep(e, { ...hbStatus(1, 20), generation: PEER_GEN + 1 } as EngineEvent, 20);
    expect(asks(engineStep(e, { kind: 'standby', which: 'all', groups: ['ga'] }, 25), 'me')).toEqual([]);
    // Its stable report (ours goes out stable too): the request goes out, nothing stops here before its answer.
    let acts = engineStep(e, { ...hb(2, { type: 'resource', rscHold: 'none', stable: true, full: true }), generation: PEER_GEN + 1 } as EngineEvent, 30);
    expect(asks(acts, 'me')).toHaveLength(1);
    expect(acts.filter((a) => a.kind === 'op' && a.op === 'stop')).toEqual([]);
    // Unanswered (ignored): asked again a second later, not before.
    const later = (seq: number, t: number) => engineStep(e, { ...hbStatus(seq, t), generation: PEER_GEN + 1 } as EngineEvent, t);
    expect(asks(later(3, 500), 'me')).toEqual([]);
    expect(asks(later(4, 1100), 'me')).toHaveLength(1);
    // Its answer: the group is handed over, and no more requests.
    acts = engineStep(e, { kind: 'ask-heard', src: 'beta', generation: PEER_GEN + 1, seq: 5, rscHold: 'all', info: 'other' }, 1200);
    expect(acts.filter((a) => a.kind === 'op' && a.op === 'stop').map((a) => a.kind === 'op' && a.group)).toEqual(['ga']);
    runOps(e, acts, 1200);
    expect(asks(later(6, 3000), 'me')).toEqual([]);
  });

  it('refuses tandem takeover toward Heartbeat, naming hb_standby on the peer instead', () => {
    const e = holding();
    expect(planHandover(e, 'takeover', 'all').refusal).toMatch(/runs Heartbeat.*hb_standby on beta/);
    expect(planHandover(e, 'standby', 'all').refusal).toBeUndefined();
  });

  it('takes the groups at once when the peer says shutdone, even from a standby of its own', () => {
    const e = holding();
    runOps(e, engineStep(e, { kind: 'standby', which: 'all', groups: ['ga'] }, 20), 20);
    runOps(e, engineStep(e, { kind: 'ask-heard', src: 'beta', generation: PEER_GEN, seq: 3, rscHold: 'all', info: 'other' }, 30), 30);
    expect(e.r.groups.ga!.phase).toBe('stopped');
    // It took the group (stable report), then shuts down: its shutdone gives it back at once, not after deadtime.
    engineStep(e, hb(4, { type: 'resource', rscHold: 'foreign', stable: true, full: true }), 40);
    expect(starts(engineStep(e, hbStatus(5, 50), 50))).toEqual([]);
    const acts = engineStep(e, hb(6, { type: 'shutdone' }), 60);
    expect(starts(acts).map((a) => a.kind === 'op' && a.group)).toEqual(['ga']);
  });
});

describe('engine with a Heartbeat peer: messages out of order', () => {
  const ask = (seq: number, info: string): EngineEvent => ({ kind: 'ask-heard', src: 'beta', generation: PEER_GEN, seq, rscHold: 'all', info });
  const drops = (acts: EngineAction[]) => acts.filter((a) => a.kind === 'dropped');

  it('takes a control message a newer one overtook, once, and never one it took in order again', () => {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    engineStep(e, hb(2, { type: 'resource', rscHold: 'all', stable: true, full: true }), 10);
    // Its hb_standby: `me`, then (overtaken by its unstable report, seq 5) the `done` of its release, seq 4.
    engineStep(e, ask(3, 'me'), 20);
    engineStep(e, hb(5, { type: 'resource', rscHold: 'none', stable: false, full: true }), 30);
    const acts = engineStep(e, ask(4, 'done'), 40);
    expect(drops(acts)).toEqual([]);
    expect(starts(acts).map((a) => a.kind === 'op' && a.group)).toEqual(['ga']);
    // Each seq once: the late one again, or one taken in order, is a replay.
    expect(drops(engineStep(e, ask(4, 'done'), 50))).toHaveLength(1);
    expect(drops(engineStep(e, ask(3, 'me'), 60))).toHaveLength(1);
  });

  it('ignores a resource report a newer one overtook', () => {
    const e = engine();
    engineStep(e, hbStatus(1, 0), 0);
    engineStep(e, hb(3, { type: 'resource', rscHold: 'all', stable: true, full: true }), 10);
    // The older "none" must not make the group look free.
    expect(starts(engineStep(e, hb(2, { type: 'resource', rscHold: 'none', stable: true, full: true }), 20))).toEqual([]);
    expect(e.hb?.rscHold).toBe('all');
  });

  it('takes nothing late from a tandem peer (its control messages stay in order)', () => {
    const e = engine();
    const tandemStatus = (seq: number): EngineEvent => ({
      kind: 'heard', path: 'p0', src: 'beta', generation: PEER_GEN, seq, wallS: 1,
      report: { status: 'active', hold: [], yielding: [], failed: [], deadtimeMs: 400, standby: [] } satisfies PeerReport,
    });
    engineStep(e, tandemStatus(1), 0);
    engineStep(e, ask(5, 'me'), 10);
    expect(drops(engineStep(e, ask(4, 'done'), 20))).toHaveLength(1);
  });
});

describe('Heartbeat message codec', () => {
  const KEYS = { sendIndex: 1, keys: new Map([[1, { method: 'sha1', key: 'k' }]]) } as unknown as AuthKeys;
  const header = { src: 'alpha', srcUuid: Buffer.alloc(16, 2), seq: 7, generation: 9, wallSeconds: 1 };

  it('writes repnodes as Heartbeat does (dest first, names each followed by a space)', () => {
    const f = buildHb({ type: 'repnodes', dest: 'beta', nodes: ['alpha', 'beta'] }, header);
    expect(f.slice(0, 4).map((x) => `${x.name}=${x.value.toString()}`)).toEqual(['dest=beta', 't=repnodes', 'nodelist=alpha beta ', 'delnodelist= ']);
  });

  it('round-trips resource and gives NS_ackmsg no seq', () => {
    const r = decode(encode(buildHb({ type: 'resource', rscHold: 'foreign', stable: true }, header), KEYS), KEYS);
    expect(parseHb('resource', r)).toEqual({ type: 'resource', rscHold: 'foreign', stable: true, full: true });
    const a = buildHb({ type: 'ackmsg', dest: 'beta', ackseq: 0x1f }, header);
    expect(a.some((x) => x.name === 'seq')).toBe(false);
    expect(a.find((x) => x.name === 'ackseq')?.value.toString()).toBe('1f');
  });

  it('refuses a resource message with an unknown rsc_hold', () => {
    const f = buildHb({ type: 'resource', rscHold: 'none', stable: true }, header).map((x) => (x.name === 'rsc_hold' ? { ...x, value: Buffer.from('most') } : x));
    expect(() => parseHb('resource', f)).toThrow(/rsc_hold/);
  });
});
