// The node runtime's ordering contract (src/node/runtime.ts), on a manual
// clock: two runtimes exchange real encoded, signed heartbeats; the test
// holds their disk writes to see what waits for what.
import { describe, expect, it } from 'vitest';
import type { EngineAction } from '../../src/node/engine.js';
import { NodeRuntime, type NodeHost, type NodeSpec } from '../../src/node/runtime.js';
import { readDatagram } from '../../src/node/wire.js';
import type { Clock, Timer } from '../../src/runtime/driver.js';
import type { AuthKeys } from '../../src/config/types.js';

const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('runtime test') }]]) };

class ManualClock implements Clock {
  t = 1000;
  private seq = 0;
  readonly armed = new Map<number, { at: number; fire: () => void }>();
  now(): number { return this.t; }
  timer(): Timer {
    const id = ++this.seq;
    return {
      set: (at, fire) => { this.armed.set(id, { at, fire }); },
      clear: () => { this.armed.delete(id); },
    };
  }
  /** Moves time forward, firing timers in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const e of this.armed) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.armed.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fire();
    }
    this.t = end;
  }
}

interface Held { what: string; at: number; sentBefore: number; done: (e?: Error) => void }

function node(self: 'alpha' | 'beta', clock: ManualClock, generation: number) {
  const peer = self === 'alpha' ? 'beta' : 'alpha';
  const log: string[] = [];
  const held: Held[] = [];
  const sent: Buffer[] = [];
  const ops: string[] = [];
  let deliver: (b: Buffer) => void = () => undefined;
  const spec: NodeSpec = {
    self, peer, paths: ['p0'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000,
    autoFailback: 'on', stopRetries: 3, stopRetryDelayMs: 100,
    groups: [{ name: 'g1', preferredNode: 'alpha', resourceCount: 1 }],
    generation, uuid: Buffer.alloc(16, self === 'alpha' ? 1 : 2), authkeys: KEYS,
    persisted: { held: new Set() },
  };
  const host: NodeHost = {
    clock,
    wallS: () => 1_700_000_000 + clock.t / 1000,
    sendDatagram: (msg) => { sent.push(msg.bytes); log.push('send'); deliver(msg.bytes); },
    persistHold: (group, h, done) => { log.push(`hold ${group} ${h}`); held.push({ what: `hold ${group}`, at: clock.t, sentBefore: sent.length, done }); },
    persistPeerGeneration: (g, _p, done) => { log.push(`peer-generation ${g}`); held.push({ what: `peer-generation ${g}`, at: clock.t, sentBefore: sent.length, done: () => done() }); },
    raiseGeneration: (a, done) => done(a.generation + 1),
    runOp: (group, op, index, done) => { ops.push(`${op} ${group}#${index}`); done({ ok: true }); },
    runMonitor: (_group, _index, _timeoutMs, done) => done(undefined),
    device: (_a, done) => done(undefined),
    leaveDelayMs: 0,
    observe: (a: EngineAction) => { if (a.kind === 'op' || a.kind === 'persist-hold') log.push(`action ${a.kind}`); },
    generationClaimRefused: () => undefined,
    left: () => log.push('left'),
    writeOverrun: (ms) => log.push(`overrun ${ms}`),
  };
  const rt = new NodeRuntime(spec, host);
  return { rt, log, held, sent, ops, connect: (to: (b: Buffer) => void) => { deliver = to; } };
}

/** What a status says it hears of its receiver's generation. */
function hears(bytes: Buffer, to: string): number | null | undefined {
  const r = readDatagram(bytes, 'p0', { node: to, authkeys: KEYS, quorum: false }, 1_700_000_000);
  return r.kind === 'heard' ? r.event.report.hearsGeneration : undefined;
}

/**
 * alpha (generation 500) heard by beta (700), one way only: beta's statuses
 * are read by the test, not delivered. 30 ms in, beta is writing 500 down.
 */
function alphaHeardByBeta() {
  const clock = new ManualClock();
  const a = node('alpha', clock, 500);
  const b = node('beta', clock, 700);
  a.connect((bytes) => { const r = b.rt.read(bytes, 'p0'); if (r.kind === 'heard') b.rt.submit(r.event); });
  a.rt.tick();
  b.rt.tick();
  clock.advance(30);
  const write = b.held.find((h) => h.what === 'peer-generation 500');
  expect(write, 'beta records alpha\'s generation').toBeDefined();
  return { clock, b, write: write! };
}

describe('node runtime: effects with an ordering contract', () => {
  it('a status acknowledging a new peer generation waits until that generation is on disk', () => {
    const { clock, b, write } = alphaHeardByBeta();
    // While the write is pending, nothing beta sends says it hears generation 500.
    clock.advance(60);
    expect(b.sent.map((x) => hears(x, 'alpha'))).not.toContain(500);
    const before = b.sent.length;
    write.done();
    // Released at once, in order: the held statuses now go out, acknowledging 500.
    expect(b.sent.length).toBeGreaterThan(before);
    expect(hears(b.sent[b.sent.length - 1]!, 'alpha')).toBe(500);
    expect(b.rt.gate.overruns).toBe(0);
  });

  it('a hung disk holds heartbeats back for at most keepalive', () => {
    const { clock, b, write } = alphaHeardByBeta();
    clock.advance(write.at + 99 - clock.t);
    expect(b.sent.length, 'held back while the write runs').toBe(write.sentBefore);
    // Never completed: after keepalive the statuses leave anyway (silence would get beta declared dead).
    clock.advance(2);
    expect(b.sent.length).toBeGreaterThan(write.sentBefore);
    expect(b.rt.gate.overruns).toBe(1);
    expect(b.log, 'the host is told, to log it').toContain('overrun 100');
  });

  it("a group's start waits for its hold write, and a failed write voids it", () => {
    const clock = new ManualClock();
    const b = node('beta', clock, 700);
    b.rt.tick();
    // No peer within initdead: beta takes g1.
    clock.advance(1100);
    const hold = b.held.find((h) => h.what === 'hold g1');
    expect(hold, 'beta writes its intent to hold g1').toBeDefined();
    expect(b.log).toContain('action op');
    expect(b.ops, 'the start is queued behind the hold write').toEqual([]);
    hold!.done(new Error('No space left on device'));
    expect(b.ops, 'a start whose intent is not durable never runs').toEqual([]);
    expect(b.rt.engine.r.groups.g1!.phase).not.toBe('running');
  });

  it('the start runs once its hold write is on disk', () => {
    const clock = new ManualClock();
    const b = node('beta', clock, 700);
    b.rt.tick();
    clock.advance(1100);
    b.held.find((h) => h.what === 'hold g1')!.done();
    expect(b.ops).toEqual(['start g1#0']);
    expect(b.rt.engine.r.groups.g1!.phase).toBe('running');
  });
});
