// The reachability tracker (hysteresis, ping groups, stats, foreign replies)
// and the ICMP echo codec, with time injected.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { initTracker, reach, trackerConfigProblems, trackerDeadline, trackerStats, trackerStep, type TrackerAction, type TrackerConfig, type TrackerState } from '../../src/ping/tracker.js';
import { encodeEchoRequest, icmpChecksum, parseEchoReply, pingTargets } from '../../src/ping/icmp.js';

const cfg: TrackerConfig = {
  targets: [{ name: '10.0.0.1', addrs: ['10.0.0.1'] }, { name: 'gw', addrs: ['10.0.0.2', '10.0.0.3'] }],
  intervalMs: 100, deadpingMs: 500, upAfter: 2, timeoutMs: 300, window: 10,
};

/** Runs the tracker to `until`, answering probes to `answering` after `rtt` ms. */
function run(s: TrackerState, from: number, until: number, answering: Set<string>, rtt = 5): TrackerAction[] {
  const all: TrackerAction[] = [];
  const replies: Array<{ at: number; addr: string; seq: number }> = [];
  let t = from;
  while (t <= until) {
    replies.sort((a, b) => a.at - b.at);
    const r = replies[0] && replies[0].at <= Math.min(trackerDeadline(s), until) ? replies.shift()! : undefined;
    t = r ? r.at : Math.max(t, trackerDeadline(s));
    if (t > until) break;
    const acts = trackerStep(s, r ? { kind: 'reply', addr: r.addr, seq: r.seq } : { kind: 'tick' }, t);
    for (const a of acts) {
      if (a.kind === 'probe' && answering.has(a.addr)) replies.push({ at: t + rtt, addr: a.addr, seq: a.seq });
    }
    all.push(...acts);
  }
  return all;
}

const statuses = (acts: TrackerAction[]) =>
  acts.filter((a) => a.kind === 'target-status').map((a) => `${(a as { target: string }).target}=${(a as { status: string }).status}`);

describe('ping reachability tracker', () => {
  it('probes every address each interval; up after K answers, a group up when any member is', () => {
    const s = initTracker(cfg, 0);
    const acts = run(s, 0, 250, new Set(['10.0.0.1', '10.0.0.3']));
    expect(acts.slice(0, 3).map((a) => `${a.kind} ${(a as { addr: string }).addr}`)).toEqual(['probe 10.0.0.1', 'probe 10.0.0.2', 'probe 10.0.0.3']);
    expect(statuses(acts)).toEqual(['10.0.0.1=up', 'gw=up']);
    const stats = trackerStats(s);
    expect(stats[0]!.addrs[0]).toMatchObject({ status: 'up', received: 3, lost: 0, rttMs: { last: 5, min: 5, avg: 5, max: 5 } });
    expect(reach(s)).toEqual({ up: 2, total: 2 });
  });

  it('down only after deadping without answers, not on one lost probe; back up after K answers', () => {
    const s = initTracker(cfg, 0);
    run(s, 0, 300, new Set(['10.0.0.1', '10.0.0.2']));
    expect(reach(s).up).toBe(2);
    // 10.0.0.1 stops answering at 300: down at lastReply + 500, not before.
    const lastReply = s.addrs.get('10.0.0.1')!.lastReplyAt!;
    const quiet = run(s, 301, lastReply + 499, new Set(['10.0.0.2']));
    expect(statuses(quiet)).toEqual([]);
    const down = run(s, lastReply + 499, lastReply + 500, new Set(['10.0.0.2']));
    expect(statuses(down)).toEqual(['10.0.0.1=down']);
    expect(reach(s)).toEqual({ up: 1, total: 2 });
    // One answer is not enough to come back; two in a row are.
    const t0 = lastReply + 500;
    const back = run(s, t0, t0 + 250, new Set(['10.0.0.1', '10.0.0.2']));
    const upAt = back.findIndex((a) => a.kind === 'target-status');
    expect(statuses(back)).toEqual(['10.0.0.1=up']);
    expect(back.slice(0, upAt).filter((a) => a.kind === 'probe' && (a as { addr: string }).addr === '10.0.0.1').length).toBeGreaterThanOrEqual(2);
    const st = trackerStats(s)[0]!.addrs[0]!;
    expect(st.lost).toBeGreaterThan(0);
    expect(st.lossPct).toBeGreaterThan(0);
  });

  it('a target that never answers is down after deadping from start', () => {
    const s = initTracker(cfg, 0);
    const acts = run(s, 0, 500, new Set());
    expect(statuses(acts)).toEqual(['10.0.0.1=down', 'gw=down']);
    expect(reach(s)).toEqual({ up: 0, total: 2 });
  });

  it('ignores replies it did not ask for: wrong address, unknown sequence, duplicates', () => {
    const s = initTracker(cfg, 0);
    const probes = trackerStep(s, { kind: 'tick' }, 0).filter((a) => a.kind === 'probe') as Array<{ addr: string; seq: number }>;
    const p = probes[0]!;
    trackerStep(s, { kind: 'reply', addr: '10.0.0.9', seq: p.seq }, 1);       // someone else answering that sequence
    trackerStep(s, { kind: 'reply', addr: p.addr, seq: (p.seq + 1000) & 0xffff }, 1);
    trackerStep(s, { kind: 'reply', addr: p.addr, seq: p.seq }, 2);
    trackerStep(s, { kind: 'reply', addr: p.addr, seq: p.seq }, 3);            // duplicate
    expect(s.ignored).toBe(3);
    expect(s.addrs.get(p.addr)!.received).toBe(1);
  });

  it('a send error counts the probe as lost at once', () => {
    const s = initTracker({ ...cfg, targets: [cfg.targets[0]!] }, 0);
    const p = trackerStep(s, { kind: 'tick' }, 0).find((a) => a.kind === 'probe') as { addr: string; seq: number };
    trackerStep(s, { kind: 'send-failed', addr: p.addr, seq: p.seq, error: 'EHOSTUNREACH' }, 1);
    expect(s.addrs.get(p.addr)!.lost).toBe(1);
    expect(s.addrs.get(p.addr)!.outstanding).toEqual([]);
  });

  it('config problems name the field', () => {
    expect(trackerConfigProblems(cfg)).toEqual([]);
    expect(trackerConfigProblems({ ...cfg, deadpingMs: 100 })[0]).toMatch(/^deadpingMs: 100 must exceed intervalMs/);
    expect(trackerConfigProblems({ ...cfg, targets: [] })[0]).toMatch(/^targets:/);
    expect(trackerConfigProblems({ ...cfg, upAfter: 0 })[0]).toMatch(/^upAfter:/);
  });
});

describe('ICMP echo codec', () => {
  it('builds a request whose checksum verifies, and parses a reply behind an IPv4 header', () => {
    const token = Buffer.from('0123456789abcdef', 'hex');
    const reqPkt = encodeEchoRequest(0xbeef, 42, token);
    expect(reqPkt[0]).toBe(8);
    expect(icmpChecksum(reqPkt)).toBe(0);
    // The kernel's reply: type 0, same id/seq/payload, new checksum, behind a 20-byte header.
    const icmp = Buffer.from(reqPkt);
    icmp[0] = 0;
    icmp.writeUInt16BE(0, 2);
    icmp.writeUInt16BE(icmpChecksum(icmp), 2);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    expect(parseEchoReply(Buffer.concat([ip, icmp]))).toEqual({ id: 0xbeef, seq: 42, token });
    // An echo request (our own, looped back), a corrupted reply, a short packet: not replies.
    expect(parseEchoReply(Buffer.concat([ip, reqPkt]))).toBeUndefined();
    const bad = Buffer.concat([ip, icmp]);
    bad[bad.length - 1]! ^= 1;
    expect(parseEchoReply(bad)).toBeUndefined();
    expect(parseEchoReply(Buffer.alloc(10))).toBeUndefined();
    // IP options (ihl 6) are skipped.
    const ip6 = Buffer.alloc(24);
    ip6[0] = 0x46;
    expect(parseEchoReply(Buffer.concat([ip6, icmp]))).toMatchObject({ seq: 42 });
  });

  it('property: any bytes off the raw socket parse to a reply or to nothing, never an exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => {
      const r = parseEchoReply(Buffer.from(a));
      return r === undefined || (r.seq >= 0 && r.seq <= 0xffff);
    }), { numRuns: 5000 });
  });

  it('maps ping and ping_group lines to targets', () => {
    expect(pingTargets(['10.0.0.1'], [{ name: 'gw', addrs: ['10.0.0.2', '10.0.0.3'] }])).toEqual([
      { name: '10.0.0.1', addrs: ['10.0.0.1'] }, { name: 'gw', addrs: ['10.0.0.2', '10.0.0.3'] },
    ]);
  });
});
