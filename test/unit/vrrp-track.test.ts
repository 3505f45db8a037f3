// VRRP tracking (src/vrrp/track.ts): vrrp_script runs and their rise/fall
// counting as keepalived 2.2 does them, with exact times; keepalived's
// weight rules for scripts, interfaces and files; an instance's total; and
// that the total really moves an instance (instance.ts) and a sync group.

import { describe, expect, it } from 'vitest';
import {
  fileTrackValue, initInstanceTracks, initScripts, parseTrackFile, scriptDeadline, scriptOk, scriptStep, setTrack, trackValue,
  type ScriptEffect, type ScriptSetState, type ScriptTrackConfig,
} from '../../src/vrrp/track.js';
import { DEFAULT_GARP, initInstance, instanceStep, type InstanceConfig } from '../../src/vrrp/instance.js';
import { initSyncGroup, syncGroupStep } from '../../src/vrrp/sync-group.js';
import { trackPlan } from '../../src/vrrp/service.js';
import { loadKeepalived } from '../../src/config/keepalived.js';

const cfg = (over: Partial<ScriptTrackConfig> = {}): ScriptTrackConfig => ({ name: 'chk', intervalMs: 2000, timeoutMs: 0, rise: 1, fall: 1, initFail: false, ...over });
const brief = (fx: ScriptEffect[]) => fx.filter((e) => e.kind !== 'log').map((e) => (e.kind === 'run' ? `run ${e.timeoutMs}` : e.kind === 'status' ? `${e.ok ? 'good' : 'bad'}: ${e.reason}` : ''));
const tick = (s: ScriptSetState, now: number) => brief(scriptStep(s, { kind: 'tick' }, now));
const exit = (s: ScriptSetState, code: number | null, now: number, timedOut = false) =>
  brief(scriptStep(s, { kind: 'exited', script: 'chk', code, signal: code === null ? 'SIGTERM' : null, timedOut }, now));

describe('vrrp_script runs', () => {
  it('runs at start, then every interval from the planned start, with timeout = interval by default', () => {
    const s = initScripts([cfg()], 1000);
    expect(scriptDeadline(s)).toBe(1000);
    expect(tick(s, 999)).toEqual([]);
    expect(tick(s, 1000)).toEqual(['run 2000']);
    expect(scriptDeadline(s)).toBe(3000);
    expect(exit(s, 0, 1040)).toEqual(['good: succeeded']);
    expect(tick(s, 3005)).toEqual(['run 2000']);
    expect(scriptDeadline(s)).toBe(5000);   // phase kept: 3000 + 2000, not 3005 + 2000
    expect(exit(s, 0, 3010)).toEqual([]);   // no change, nothing to report
  });

  it('never overlaps itself: a tick that finds it running is skipped (logged)', () => {
    const s = initScripts([cfg({ timeoutMs: 5000 })], 0);
    expect(tick(s, 0)).toEqual(['run 5000']);
    const fx = scriptStep(s, { kind: 'tick' }, 2000);
    expect(brief(fx)).toEqual([]);
    expect(fx).toContainEqual({ kind: 'log', level: 'warn', message: 'vrrp_script chk: still running after 2 s, this run skipped' });
    expect(s.scripts.get('chk')!.skipped).toBe(1);
    expect(exit(s, 1, 4500)).toEqual(['bad: exit status 1']);
    expect(tick(s, 6000)).toEqual(['run 5000']);
  });

  it('without init_fail the first result decides at once, whatever rise and fall', () => {
    const a = initScripts([cfg({ rise: 3, fall: 3 })], 0);
    expect(scriptOk(a.scripts.get('chk')!)).toBeUndefined();
    tick(a, 0);
    expect(exit(a, 0, 10)).toEqual(['good: succeeded']);
    const b = initScripts([cfg({ rise: 3, fall: 3 })], 0);
    tick(b, 0);
    expect(exit(b, 2, 10)).toEqual(['bad: exit status 2']);
    expect(scriptOk(b.scripts.get('chk')!)).toBe(false);
  });

  it('fall consecutive failures take it down, rise consecutive successes bring it up; a success in between resets', () => {
    const s = initScripts([cfg({ rise: 2, fall: 3 })], 0);
    let t = 0;
    const run = (code: number) => { tick(s, t); const r = exit(s, code, t + 5); t += 2000; return r; };
    expect(run(0)).toEqual(['good: succeeded']);
    expect(run(1)).toEqual([]);
    expect(run(1)).toEqual([]);
    expect(run(0)).toEqual([]);                       // back to full: fall counts again from 3
    expect(run(1)).toEqual([]);
    expect(run(1)).toEqual([]);
    expect(run(1)).toEqual(['bad: exit status 1']);   // the third in a row, at t = 12000
    expect(run(0)).toEqual([]);
    expect(run(1)).toEqual([]);                       // resets the rise count
    expect(run(0)).toEqual([]);
    expect(run(0)).toEqual(['good: succeeded']);
  });

  it('init_fail starts bad and needs rise successes', () => {
    const s = initScripts([cfg({ rise: 2, initFail: true })], 0);
    expect(scriptOk(s.scripts.get('chk')!)).toBe(false);
    tick(s, 0);
    expect(exit(s, 0, 5)).toEqual([]);
    tick(s, 2000);
    expect(exit(s, 0, 2005)).toEqual(['good: succeeded']);
  });

  it('a timeout, a signal and a script that cannot be run are failures', () => {
    const s = initScripts([cfg({ timeoutMs: 1000 })], 0);
    tick(s, 0);
    expect(exit(s, null, 1002, true)).toEqual(['bad: timed out after 1 s']);
    tick(s, 2000);
    expect(exit(s, 0, 2001)).toEqual(['good: succeeded']);
    tick(s, 4000);
    expect(brief(scriptStep(s, { kind: 'exited', script: 'chk', code: null, signal: 'SIGSEGV', timedOut: false }, 4001))).toEqual(['bad: killed by SIGSEGV']);
    tick(s, 6000);
    expect(exit(s, 0, 6001)).toEqual(['good: succeeded']);
    tick(s, 8000);
    // runScript could not spawn it (the service logs why): a failure too.
    expect(brief(scriptStep(s, { kind: 'exited', script: 'chk', code: null, signal: null, timedOut: false }, 8001))).toEqual(['bad: could not be run']);
  });

  it('after a stall (process stopped) the next run is an interval from now, not a burst', () => {
    const s = initScripts([cfg()], 0);
    tick(s, 0); exit(s, 0, 1);
    expect(tick(s, 60_000)).toEqual(['run 2000']);
    expect(scriptDeadline(s)).toBe(62_000);
  });
});

describe('keepalived weight rules', () => {
  it('scripts and interfaces: 0 is FAULT while bad (reverse: while good); +w while good; -w while bad; reverse negates', () => {
    expect(trackValue(false, 0, false, 'x')).toEqual({ fault: true, reason: 'x' });
    expect(trackValue(true, 0, false, 'x')).toEqual({ fault: false, weight: 0 });
    expect(trackValue(true, 0, true, 'x')).toEqual({ fault: true, reason: 'x' });
    expect(trackValue(true, 10, false, 'x')).toEqual({ fault: false, weight: 10 });
    expect(trackValue(false, 10, false, 'x')).toEqual({ fault: false, weight: 0 });
    expect(trackValue(false, -60, false, 'x')).toEqual({ fault: false, weight: -60 });
    expect(trackValue(true, -60, false, 'x')).toEqual({ fault: false, weight: 0 });
    expect(trackValue(true, 10, true, 'x')).toEqual({ fault: false, weight: -10 });
    expect(trackValue(false, -60, true, 'x')).toEqual({ fault: false, weight: 60 });
  });

  it('track_file: value × weight, at most 253, -254 or less FAULT; weight 0: non-zero FAULT', () => {
    expect(fileTrackValue(5, 1, false)).toEqual({ fault: false, weight: 5 });
    expect(fileTrackValue(-20, 2, false)).toEqual({ fault: false, weight: -40 });
    expect(fileTrackValue(100, 3, false)).toEqual({ fault: false, weight: 253 });
    expect(fileTrackValue(-254, 1, false).fault).toBe(true);
    expect(fileTrackValue(-200, 2, false).fault).toBe(true);
    expect(fileTrackValue(10, -1, true)).toEqual({ fault: false, weight: 10 });
    expect(fileTrackValue(3, 0, false).fault).toBe(true);
    expect(fileTrackValue(0, 0, false)).toEqual({ fault: false, weight: 0 });
    expect(fileTrackValue(0, 0, true).fault).toBe(true);
  });

  it('track files are read as strtol(base 0): blanks, sign, hex, octal; garbage or no file is 0; clamped to ±254', () => {
    expect(parseTrackFile(undefined)).toBe(0);
    expect(parseTrackFile('')).toBe(0);
    expect(parseTrackFile('garbage')).toBe(0);
    expect(parseTrackFile('  -12\n')).toBe(-12);
    expect(parseTrackFile('+7xyz')).toBe(7);
    expect(parseTrackFile('0x1f')).toBe(31);
    expect(parseTrackFile('010')).toBe(8);
    expect(parseTrackFile('08')).toBe(0);          // strtol stops at 8: "0"
    expect(parseTrackFile('99999999999999999999')).toBe(254);
    expect(parseTrackFile('-1000')).toBe(-254);
    expect(parseTrackFile(`${' '.repeat(130)}5`)).toBe(0);   // past the 127 bytes keepalived reads
  });
});

describe('an instance total', () => {
  it('is the sum of the weights (not a delta), with each weight-0 failure its own fault source', () => {
    const it0 = initInstanceTracks();
    expect(setTrack(it0, 'track_script a', { fault: false, weight: -20 })).toEqual([{ kind: 'priority-changed', weight: -20, reason: 'track_script a: weight -20' }]);
    expect(setTrack(it0, 'track_file f', { fault: false, weight: 5 })).toEqual([{ kind: 'priority-changed', weight: -15, reason: 'track_file f: weight 5' }]);
    expect(setTrack(it0, 'track_file f', { fault: false, weight: 5 })).toEqual([]);
    expect(setTrack(it0, 'track_script b', { fault: true, reason: 'exit status 1' })).toEqual([{ kind: 'fault', source: 'track_script b', reason: 'exit status 1' }]);
    expect(setTrack(it0, 'track_script b', { fault: false, weight: 0 })).toEqual([{ kind: 'fault-cleared', source: 'track_script b', reason: 'recovered' }]);
    expect(setTrack(it0, 'track_script a', { fault: false, weight: 0 })).toEqual([{ kind: 'priority-changed', weight: 5, reason: 'track_script a: weight 0' }]);
  });

  const inst = (over: Partial<InstanceConfig> = {}): InstanceConfig => ({
    name: 'VI_1', vrid: 51, priority: 150, version: 3, advertIntervalMs: 1000, nopreempt: false, preemptDelayMs: 0,
    initialState: 'BACKUP', primaryAddress: '10.78.0.1', garp: DEFAULT_GARP, guarded: false, ...over,
  });

  it('moves a master: a failing weight -60 script lowers 150 to 90, and a peer at 100 takes over (keepalived 5.2)', () => {
    const s = initInstance(inst(), 0);
    instanceStep(s, { kind: 'start' }, 0);
    instanceStep(s, { kind: 'tick' }, 3500);
    expect(s.state).toBe('MASTER');
    const tracks = initInstanceTracks();
    for (const ev of setTrack(tracks, 'track_script chk', trackValue(false, -60, false, 'exit status 1'))) instanceStep(s, ev, 4000);
    expect(s.priority).toBe(90);
    expect(s.state).toBe('MASTER');   // keeps advertising at 90 until preempted
    const fx = instanceStep(s, { kind: 'advert-received', priority: 100, src: '10.78.0.2', advertIntervalMs: 1000 }, 4100);
    expect(fx.map((e) => e.kind)).toContain('become-backup');
  });

  it('a weight-0 failure in one sync group member takes the whole group to FAULT', () => {
    const m = (name: string, vrid: number, addr: string): InstanceConfig => ({ ...inst({ name, vrid, primaryAddress: addr }) });
    const g = initSyncGroup({ name: 'G', members: [m('VI_1', 51, '10.78.0.1'), m('DIP', 52, '10.79.0.1')] }, 0);
    syncGroupStep(g, { event: { kind: 'start' } }, 0);
    const tracks = initInstanceTracks();
    for (const event of setTrack(tracks, 'track_script chk', trackValue(false, 0, false, 'exit status 1'))) syncGroupStep(g, { to: 'VI_1', event }, 100);
    expect(g.members.map((x) => x.state)).toEqual(['FAULT', 'FAULT']);
  });
});

describe('trackPlan (who tracks what)', () => {
  const parse = (text: string) => {
    const r = loadKeepalived('/k.conf', { reader: { read: () => ({ text }), glob: () => [], real: (p) => p }, host: null });
    if (!r.config) throw new Error(r.issues.map((i) => `${i.line}: ${i.message}`).join('\n'));
    return r.config.vrrp;
  };
  const base = (extra: string, group = '') => [
    'vrrp_script chk {', '  script "/bin/true"', '  weight -30', '}',
    'vrrp_track_file tf {', '  file /tmp/x', '}',
    'vrrp_instance A {', '  interface eth0', '  virtual_router_id 1', '  priority 100', '  virtual_ipaddress {', '    10.0.0.1', '  }', ...extra.split('\n'), '}',
    'vrrp_instance B {', '  interface eth1', '  virtual_router_id 2', '  priority 100', '  virtual_ipaddress {', '    10.0.1.1', '  }', '}',
    ...group.split('\n'), '',
  ].join('\n');

  it('takes the script or file weight unless the track line gives one; interfaces default to 0', () => {
    const p = trackPlan(parse(base('track_script {\n  chk\n}\ntrack_file {\n  tf weight 2 reverse\n}\ntrack_interface {\n  eth1\n}')));
    expect(p).toEqual([
      { instance: 'A', source: 'track_script chk', kind: 'script', name: 'chk', weight: -30, reverse: false },
      { instance: 'A', source: 'track_interface eth1', kind: 'interface', name: 'eth1', weight: 0, reverse: false },
      { instance: 'A', source: 'track_file tf', kind: 'file', name: 'tf', weight: 2, reverse: true },
    ]);
  });

  it("a sync group's own tracks apply to every member with their weight (as keepalived 2.2, flag or not)", () => {
    const g = 'vrrp_sync_group G {\n  group {\n    A\n    B\n  }\n  track_script {\n    chk\n  }\n}';
    expect(trackPlan(parse(base('', g))).map((r) => `${r.instance} ${r.source} ${r.weight}`)).toEqual([
      'A sync group G: track_script chk -30', 'B sync group G: track_script chk -30',
    ]);
  });

  it("a member's own weighted track counts only with sync_group_tracking_weight", () => {
    const gw = 'vrrp_sync_group G {\n  group {\n    A\n    B\n  }\n  sync_group_tracking_weight\n}';
    expect(trackPlan(parse(base('track_script {\n  chk\n}', gw))).map((r) => `${r.instance} ${r.source} ${r.weight}`)).toEqual([
      'A track_script chk -30',
    ]);
    // Without the flag check-config refuses it; the plan, given such a model, makes it a FAULT (weight 0).
    const model = parse(base('track_script {\n  chk\n}', gw));
    model.syncGroups[0]!.trackingWeight = false;
    expect(trackPlan(model).map((r) => r.weight)).toEqual([0]);
  });
});
