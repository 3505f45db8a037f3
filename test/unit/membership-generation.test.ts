// Issue 10 items 2 and 4: a peer generation moves forward only by a bounded
// step, a generation contradicted by the peer's own messages is undone, and
// after this node restarts a message of the peer's known generation counts
// only once it shows it was written after the restart.
import { describe, expect, it } from 'vitest';
import {
  GENERATION_MAX_AHEAD_S, JUMP_CONFIRMATIONS, initMembership, membershipStep, type MembershipAction, type MembershipConfig, type PeerReport,
} from '../../src/membership/machine.js';

const OUR_GEN = 1_800_000_500;
const cfg: MembershipConfig = {
  self: 'beta', peer: 'alpha', paths: ['p1'], keepaliveMs: 100, warntimeMs: 200, deadtimeMs: 300, initdeadMs: 1000,
  generation: OUR_GEN,
};
const WALL = 1_800_000_000;
const tandem = (hears: number | null): PeerReport => ({ status: 'active', hold: ['g1'], yielding: [], failed: [], hearsGeneration: hears });
const heartbeat: PeerReport = { status: 'active', hold: [], yielding: [], failed: [] };
const heard = (generation: number, seq: number, report: PeerReport = tandem(OUR_GEN), wallS = WALL) =>
  ({ kind: 'heard', path: 'p1', src: 'alpha', generation, seq, report, wallS }) as const;
const dropped = (a: MembershipAction[]) => a.filter((x) => x.kind === 'dropped').map((x) => (x as { reason: string }).reason);

describe('peer generation bound', () => {
  it('drops a far-future generation (2^53-1) and keeps hearing the real peer', () => {
    const s = initMembership(cfg, 0, 1_799_000_000);
    membershipStep(s, heard(1_799_000_000, 10), 0);
    const acts = membershipStep(s, heard(Number.MAX_SAFE_INTEGER, 1), 10);
    expect(dropped(acts)).toEqual(['jump']);
    expect(acts.some((a) => a.kind === 'persist-peer-generation')).toBe(false);
    expect(s.drops.jump).toBe(1);
    expect(s.peer.generation).toBe(1_799_000_000);
    // The real peer is still fresh, not a replay.
    expect(dropped(membershipStep(s, heard(1_799_000_000, 11), 20))).toEqual([]);
    expect(s.peer.lastSeq).toBe(11);
  });

  it('takes a generation past the bound only once it keeps coming in order: a peer whose clock is days ahead is not locked out', () => {
    // Seeds 300002332 / 300004786: the peer's wall-clock generation after a clock jump; dropped for
    // good, both nodes held the groups.
    const far = WALL + GENERATION_MAX_AHEAD_S + 5000;
    const s = initMembership(cfg, 0, 1_799_000_000);
    membershipStep(s, heard(1_799_000_000, 10), 0);
    for (let i = 1; i < JUMP_CONFIRMATIONS; i++) expect(dropped(membershipStep(s, heard(far, i, tandem(null)), i * 10))).toEqual(['jump']);
    expect(dropped(membershipStep(s, heard(far, 3, tandem(null)), 100))).toEqual(['jump']);   // out of order: no count
    expect(dropped(membershipStep(s, heard(far, JUMP_CONFIRMATIONS, tandem(null)), 110))).toEqual([]);
    expect(s.peer.generation).toBe(far);
    // Naming our generation, the second in order suffices (within deadtime).
    const t = initMembership(cfg, 0, 1_799_000_000);
    expect(dropped(membershipStep(t, heard(far, 1), 0))).toEqual(['jump']);
    expect(dropped(membershipStep(t, heard(far, 2), 10))).toEqual([]);
    expect(t.peer.generation).toBe(far);
  });

  it('bounds a first contact by this node\'s clock', () => {
    const s = initMembership(cfg, 0);
    expect(dropped(membershipStep(s, heard(WALL + GENERATION_MAX_AHEAD_S + 1, 1), 0))).toEqual(['jump']);
    expect(s.peer.generation).toBeUndefined();
    expect(dropped(membershipStep(s, heard(WALL + 5, 1), 0))).toEqual([]);
  });

  it('accepts the legitimate restarts: a Heartbeat counter +1, tandem after a month down, a peer clock a day ahead', () => {
    const s = initMembership(cfg, 0, 1000);                 // a small Heartbeat-style counter
    expect(dropped(membershipStep(s, heard(1001, 1, heartbeat), 0))).toEqual([]);
    expect(s.peer.generation).toBe(1001);
    const t = initMembership(cfg, 0, WALL - 30 * 86_400);   // last heard a month ago
    expect(dropped(membershipStep(t, heard(WALL + 3, 1), 0))).toEqual([]);
    expect(dropped(membershipStep(t, heard(WALL + 86_400, 1), 10))).toEqual([]);
    expect(t.peer.generation).toBe(WALL + 86_400);
  });

  it('goes back to the generation a forged one displaced when the real peer shows it sent on after the switch', () => {
    const s = initMembership(cfg, 0);
    membershipStep(s, heard(WALL - 100, 50), 0);          // our seq 1 goes out at 0
    // A forgery inside the bound is accepted at first ...
    const forged = membershipStep(s, heard(WALL + 1000, 1, tandem(null)), 10);
    expect(forged).toContainEqual({ kind: 'persist-peer-generation', generation: WALL + 1000, previous: { generation: WALL - 100, lastSeq: 50 } });
    expect(s.peer.previous?.switchedAtSeq).toBe(1);
    // ... a replay of the old generation does not undo it ...
    expect(dropped(membershipStep(s, heard(WALL - 100, 50), 20))).toEqual(['replay']);
    // ... nor does a late message of it that had not heard our seqs after the switch (sim seed 5402) ...
    expect(dropped(membershipStep(s, heard(WALL - 100, 51, { ...tandem(OUR_GEN), hearsSeq: 1 }), 30))).toEqual(['replay']);
    // ... nor one from a peer that does not say what it heard (Heartbeat) ...
    expect(dropped(membershipStep(s, heard(WALL - 100, 52, heartbeat), 40))).toEqual(['replay']);
    // ... but a new message of the old generation that accepted our seq 3 (sent after the switch) does.
    membershipStep(s, { kind: 'tick' }, 200);              // our seqs 2 and 3
    const back = membershipStep(s, heard(WALL - 100, 53, { ...tandem(OUR_GEN), hearsSeq: 3 }), 250);
    expect(back).toContainEqual({ kind: 'generation-reverted', from: WALL + 1000, to: WALL - 100 });
    expect(back).toContainEqual({ kind: 'persist-peer-generation', generation: WALL - 100 });
    expect(dropped(back)).toEqual([]);
    expect(s.peer.generation).toBe(WALL - 100);
    expect(s.peer.report?.hold).toEqual(['g1']);
    expect(dropped(membershipStep(s, heard(WALL + 1000, 2, tandem(null)), 260))).toEqual(['replay']);
  });

  it('after its own restart, goes back from a persisted forged generation once the real one names this incarnation', () => {
    const s = initMembership(cfg, 0, { generation: WALL + 1000, previous: { generation: WALL - 100, lastSeq: 50 } });
    expect(dropped(membershipStep(s, heard(WALL - 100, 40, tandem(null)), 0))).toEqual(['replay']);
    expect(dropped(membershipStep(s, heard(WALL - 100, 60, tandem(OUR_GEN - 1)), 10))).toEqual(['replay']);
    const back = membershipStep(s, heard(WALL - 100, 61), 20);
    expect(back).toContainEqual({ kind: 'generation-reverted', from: WALL + 1000, to: WALL - 100 });
    expect(s.peer.liveness).toBe('up');
  });
});

describe('replays after this node restarts', () => {
  it('tandem peer: a capture of its known generation does not count; a message naming our generation does', () => {
    const s = initMembership(cfg, 0, 1_799_000_000);
    // Captured before our restart: names our previous generation, or none.
    for (const [seq, h] of [[100, OUR_GEN - 1], [101, null], [102, OUR_GEN - 1]] as const) {
      expect(dropped(membershipStep(s, heard(1_799_000_000, seq, tandem(h)), seq))).toEqual(['unconfirmed']);
    }
    expect(s.peer.liveness).toBe('unknown');
    expect(s.peer.report).toBeUndefined();
    expect(s.drops.unconfirmed).toBe(3);
    expect(s.paths.p1!.accepted).toBe(0);
    // The live peer, once it has heard us.
    const acts = membershipStep(s, heard(1_799_000_000, 500), 200);
    expect(acts).toContainEqual({ kind: 'peer-up', generation: 1_799_000_000, restarted: false });
    // From then on the seq rules: the rest of the capture is old.
    expect(dropped(membershipStep(s, heard(1_799_000_000, 103, tandem(OUR_GEN - 1)), 210))).toEqual(['replay']);
    // A later message that no longer names us (the peer lost us) still counts: its seq is new.
    expect(dropped(membershipStep(s, heard(1_799_000_000, 501, tandem(null)), 220))).toEqual([]);
  });

  it('a restarted tandem peer (new generation) counts at once, whatever it hears', () => {
    const s = initMembership(cfg, 0, 1_799_000_000);
    expect(dropped(membershipStep(s, heard(1_799_000_001, 1, tandem(null)), 0))).toEqual([]);
    expect(s.peer.liveness).toBe('up');
  });

  it('Heartbeat peer: only seqs above the persisted watermark count', () => {
    const s = initMembership(cfg, 0, { generation: 77, seq: 4000 });
    expect(dropped(membershipStep(s, heard(77, 3990, heartbeat), 0))).toEqual(['unconfirmed']);
    expect(dropped(membershipStep(s, heard(77, 4000, heartbeat), 1))).toEqual(['unconfirmed']);
    expect(s.peer.liveness).toBe('unknown');
    expect(dropped(membershipStep(s, heard(77, 4001, heartbeat), 2))).toEqual([]);
    expect(s.peer.liveness).toBe('up');
    expect(dropped(membershipStep(s, heard(77, 3999, heartbeat), 3))).toEqual(['replay']);
  });

  it('without a persisted watermark a Heartbeat peer counts as before (the documented window)', () => {
    const s = initMembership(cfg, 0, 77);
    expect(dropped(membershipStep(s, heard(77, 5, heartbeat), 0))).toEqual([]);
    expect(s.peer.liveness).toBe('up');
  });
});
