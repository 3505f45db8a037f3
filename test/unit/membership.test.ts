import { describe, expect, it } from 'vitest';
import {
  initMembership, membershipDeadline, membershipStep, type MembershipAction, type MembershipConfig, type PeerReport,
} from '../../src/membership/machine.js';

const cfg: MembershipConfig = {
  self: 'alpha', peer: 'beta', paths: ['p1', 'p2'],
  keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000,
};
const report: PeerReport = { status: 'active', hold: [], yielding: [], failed: [] };
const kinds = (a: MembershipAction[]) => a.map((x) => x.kind);
const heard = (seq: number, path = 'p1', generation = 7, r = report) =>
  ({ kind: 'heard', path, src: 'beta', generation, seq, report: r }) as const;

describe('membership timing (injected clock)', () => {
  it('sends on an absolute keepalive schedule that does not drift with late timers', () => {
    const s = initMembership(cfg, 0);
    const sendTimes: number[] = [];
    // Timers that fire 7 ms late every time must not push the schedule back.
    let now = 0;
    for (let i = 0; i < 50; i++) {
      const acts = membershipStep(s, { kind: 'tick' }, now);
      if (acts.some((a) => a.kind === 'send')) sendTimes.push(now);
      now = membershipDeadline(s) + 7;
    }
    expect(s.nextSendAt % 100).toBe(0);
    expect(sendTimes.slice(0, 4)).toEqual([0, 107, 207, 307]);
  });

  it('declares a never-heard peer dead exactly at initdead, not before', () => {
    const s = initMembership(cfg, 1000);
    expect(kinds(membershipStep(s, { kind: 'tick' }, 1999))).not.toContain('peer-dead');
    expect(membershipDeadline(s)).toBeLessThanOrEqual(2000);
    const acts = membershipStep(s, { kind: 'tick' }, 2000);
    expect(acts).toContainEqual({ kind: 'peer-dead', reason: 'initdead' });
  });

  it('warns after warntime and declares dead only after deadtime of silence', () => {
    const s = initMembership(cfg, 0);
    expect(kinds(membershipStep(s, heard(1), 10))).toContain('peer-up');
    expect(kinds(membershipStep(s, { kind: 'tick' }, 210))).not.toContain('late-heartbeat');
    expect(kinds(membershipStep(s, { kind: 'tick' }, 211))).toContain('late-heartbeat');
    expect(kinds(membershipStep(s, { kind: 'tick' }, 212))).not.toContain('late-heartbeat');
    expect(kinds(membershipStep(s, { kind: 'tick' }, 310))).not.toContain('peer-dead');
    expect(membershipDeadline(s)).toBe(311);
    expect(membershipStep(s, { kind: 'tick' }, 311)).toContainEqual({ kind: 'peer-dead', reason: 'silent' });
    // Back again: up, with no restart since the generation is the same.
    expect(membershipStep(s, heard(2), 400)).toContainEqual({ kind: 'peer-up', generation: 7, restarted: false });
  });

  it('keeps the peer alive while any path hears it and reports the silent path', () => {
    const s = initMembership(cfg, 0);
    membershipStep(s, heard(1, 'p1'), 0);
    membershipStep(s, heard(1, 'p2'), 1);
    membershipStep(s, heard(2, 'p1'), 50);
    membershipStep(s, heard(2, 'p2'), 51);
    expect(s.paths.p1!.up && s.paths.p2!.up).toBe(true);
    let now = 51;
    const events: MembershipAction[] = [];
    for (let seq = 3; seq < 20; seq++) {
      now += 100;
      events.push(...membershipStep(s, heard(seq, 'p2'), now));
    }
    expect(events).toContainEqual({ kind: 'path-down', path: 'p1' });
    expect(kinds(events)).not.toContain('peer-dead');
    expect(s.paths.p2!.up).toBe(true);
    expect(s.peer.liveness).toBe('up');
  });

  it('reports a path up only after fresh packets in a row (hysteresis), down after deadtime', () => {
    const s = initMembership(cfg, 0);
    expect(kinds(membershipStep(s, heard(1, 'p1'), 0))).not.toContain('path-up');
    expect(membershipStep(s, heard(2, 'p1'), 100)).toContainEqual({ kind: 'path-up', path: 'p1' });
    expect(membershipStep(s, { kind: 'tick' }, 401)).toContainEqual({ kind: 'path-down', path: 'p1' });
    // One stray packet after a long silence is not enough to call it up again.
    expect(kinds(membershipStep(s, heard(3, 'p1'), 2000))).not.toContain('path-up');
    expect(kinds(membershipStep(s, heard(4, 'p1'), 2500))).not.toContain('path-up');
    expect(membershipStep(s, heard(5, 'p1'), 2600)).toContainEqual({ kind: 'path-up', path: 'p1' });
  });

  it('drops replays: older generation, and old seqs; a stale path does not count as alive', () => {
    const s = initMembership(cfg, 0, 7);
    expect(membershipStep(s, heard(5, 'p1', 6), 0)).toContainEqual(expect.objectContaining({ kind: 'dropped', reason: 'replay' }));
    expect(s.peer.liveness).toBe('unknown');
    for (let seq = 20; seq < 40; seq++) membershipStep(s, heard(seq, 'p1'), seq);
    // p2 only ever sees an attacker replaying seq 3..10: never fresh enough.
    for (let seq = 3; seq < 11; seq++) membershipStep(s, heard(seq, 'p2'), 50 + seq);
    expect(s.paths.p2!.up).toBe(false);
    expect(s.paths.p2!.stale).toBe(8);
    expect(s.drops.replay).toBe(1 + 8);
    // Same seq over the second path is a normal duplicate, not a replay, and
    // fresh for that path; a second one in a row brings the path up.
    membershipStep(s, heard(39, 'p2'), 70);
    expect(s.drops.replay).toBe(9);
    membershipStep(s, heard(40, 'p1'), 80);
    membershipStep(s, heard(40, 'p2'), 81);
    expect(s.drops.replay).toBe(9);
    expect(s.paths.p2!.up).toBe(true);
  });

  it('the first contact of a fresh pair is not a restart; a higher generation than one known before is', () => {
    const fresh = initMembership(cfg, 0);
    expect(membershipStep(fresh, heard(1, 'p1', 7), 10)).toContainEqual({ kind: 'peer-up', generation: 7, restarted: false });
    // Known from the state dir: the peer came back with a new generation while we were away.
    const known = initMembership(cfg, 0, 6);
    expect(membershipStep(known, heard(1, 'p1', 7), 10)).toContainEqual({ kind: 'peer-up', generation: 7, restarted: true });
    // Dead, then back with a higher generation in the same run.
    membershipStep(fresh, { kind: 'tick' }, 400);
    expect(membershipStep(fresh, heard(1, 'p1', 8), 500)).toContainEqual({ kind: 'peer-up', generation: 8, restarted: true });
  });

  it('accepts a restarted peer (higher generation) and asks to persist it', () => {
    const s = initMembership(cfg, 0, 7);
    membershipStep(s, heard(100, 'p1', 7), 0);
    const acts = membershipStep(s, heard(1, 'p1', 8), 10);
    expect(acts).toContainEqual({ kind: 'persist-peer-generation', generation: 8, previous: { generation: 7, lastSeq: 100 } });
    expect(s.peer.lastSeq).toBe(1);
  });

  it('ignores messages from nodes outside the pair', () => {
    const s = initMembership(cfg, 0);
    const acts = membershipStep(s, { ...heard(1), src: 'mallory' }, 0);
    expect(acts).toContainEqual(expect.objectContaining({ kind: 'dropped', reason: 'foreign' }));
    expect(s.peer.liveness).toBe('unknown');
  });

  it('a leaving peer that still holds something is alive, also for a node that just started', () => {
    const s = initMembership(cfg, 0);
    const leaving = { ...report, status: 'dead', hold: ['g1'] };
    expect(kinds(membershipStep(s, heard(1, 'p1', 7, leaving), 10))).toContain('peer-up');
    const acts: MembershipAction[] = [];
    for (let seq = 2; seq < 20; seq++) acts.push(...membershipStep(s, heard(seq, 'p1', 7, leaving), seq * 100));
    expect(kinds(acts)).not.toContain('peer-dead');   // well past initdead (1000)
  });

  it('treats a peer that announces st=dead with nothing held as gone at once', () => {
    const s = initMembership(cfg, 0);
    membershipStep(s, heard(1), 0);
    const acts = membershipStep(s, heard(2, 'p1', 7, { ...report, status: 'dead' }), 50);
    expect(acts).toContainEqual({ kind: 'peer-dead', reason: 'left' });
  });
});
