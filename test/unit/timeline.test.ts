// The timeline model and its SVG, from hand-written journals: what is an
// interval, what is unknown, how two nodes share one axis.

import { describe, expect, it } from 'vitest';
import { buildTimeline, type NodeJournal } from '../../src/timeline/model.js';
import { renderSvg } from '../../src/timeline/svg.js';
import { parseSince } from '../../src/timeline/sources.js';
import type { JournalEntry } from '../../src/state/store.js';

const T = Date.parse('2026-12-03T07:00:00.000Z');
const at = (s: number) => new Date(T + s * 1000).toISOString();
const e = (s: number, kind: string, detail: string, f: Partial<JournalEntry> = {}): JournalEntry => ({ at: at(s), kind, detail, ...f });
const group = (s: number, phase: string) => e(s, 'group', `group web: ${phase} (why)`, { group: 'web', phase, reason: 'why' });

describe('timeline model', () => {
  const alpha: NodeJournal = {
    node: 'alpha', live: false, source: 'test', knownUntil: T + 20_000,
    entries: [
      e(0, 'start', 'generation 1'), e(1, 'path-up', 'heartbeat path to beta up: bcast eth0', { path: 'bcast eth0' }),
      group(2, 'starting'), group(3, 'running'),
      // crash at some time after 3 s: no record until the restart at 10 s
      e(10, 'start', 'generation 2'), group(10, 'recovering'), group(12, 'stopped'), e(15, 'stop', 'stopped'),
    ],
  };
  const beta: NodeJournal = {
    node: 'beta', live: true, source: 'test', knownUntil: T + 20_000,
    entries: [e(0, 'start', 'generation 7'), e(5, 'peer-dead', 'node alpha is dead', { peer: 'alpha' }), group(5, 'starting'), group(6, 'running')],
  };

  it('one interval per held phase; a crash leaves an unknown stretch up to the restart', () => {
    const t = buildTimeline([alpha, beta]);
    const holds = t.segments.filter((s) => s.lane === 'alpha/hold/web');
    expect(holds.map((s) => [s.kind, s.state, (s.start - T) / 1000, (s.end - T) / 1000, s.closed])).toEqual([
      ['hold', 'starting', 2, 3, true],
      ['hold', 'running', 3, 3, false],       // its last record; the daemon died some time after
      ['unknown', 'hold running', 3, 10, true],
      ['hold', 'recovering', 10, 12, true],
    ]);
    const path = t.segments.filter((s) => s.lane === 'alpha/path/bcast eth0');
    expect(path.map((s) => [s.kind, (s.start - T) / 1000, (s.end - T) / 1000])).toEqual([['path', 1, 3], ['unknown', 3, 10]]);
  });

  it('a running daemon\'s open intervals reach its export time; the axis spans both nodes', () => {
    const t = buildTimeline([alpha, beta]);
    const b = t.segments.filter((s) => s.lane === 'beta/hold/web');
    expect(b.at(-1)).toMatchObject({ state: 'running', closed: false, end: T + 20_000 });
    expect([t.t0, t.t1]).toEqual([T, T + 20_000]);
    expect(t.markers.filter((m) => m.kind === 'death')).toEqual([expect.objectContaining({ node: 'beta', at: T + 5000 })]);
    // Holds of one group are next to each other, before the paths.
    expect(t.lanes.map((l) => l.id).slice(0, 3)).toEqual(['alpha/hold/web', 'beta/hold/web', 'alpha/path/bcast eth0']);
  });

  it('a stopped node whose journal ends without a stop entry is unknown to the end of the picture', () => {
    const t = buildTimeline([{ ...alpha, entries: alpha.entries.slice(0, 4) }, beta]);
    expect(t.segments.filter((s) => s.lane === 'alpha/hold/web').at(-1)).toMatchObject({ kind: 'unknown', start: T + 3000, end: T + 20_000, closed: false });
  });

  it('--since clips intervals and drops earlier markers', () => {
    const t = buildTimeline([alpha, beta], { sinceMs: T + 4000 });
    expect(t.t0).toBe(T + 4000);
    expect(t.segments.every((s) => s.start >= T + 4000)).toBe(true);
    expect(t.segments.find((s) => s.lane === 'alpha/hold/web')).toMatchObject({ kind: 'unknown', start: T + 4000, end: T + 10_000 });
    expect(t.markers.every((m) => m.at >= T + 4000)).toBe(true);
  });

  it('a wall clock stepped back keeps the journal\'s order: later entries are pinned to the newest time', () => {
    const j: NodeJournal = { node: 'a', live: false, source: 'x', knownUntil: 0, entries: [e(0, 'start', 'g'), group(5, 'running'), group(2, 'stopping'), group(6, 'stopped')] };
    const s = buildTimeline([j]).segments.filter((x) => x.kind === 'hold');
    expect(s.map((x) => [x.state, (x.start - T) / 1000, (x.end - T) / 1000])).toEqual([['running', 5, 5], ['stopping', 5, 6]]);
  });

  it('reads entries written before the structured fields existed from their text', () => {
    const j: NodeJournal = { node: 'a', live: false, source: 'x', knownUntil: 0, entries: [
      e(0, 'start', 'generation 1'), e(1, 'group', 'group web: running (peer dead)'), e(2, 'path-down', 'heartbeat path to b down: ucast eth1 10.0.0.2'), e(3, 'stop', 'stopped'),
    ] };
    const t = buildTimeline([j]);
    expect(t.segments.map((s) => [s.lane, s.state])).toEqual([['a/daemon', 'running'], ['a/hold/web', 'running'], ['a/path/ucast eth1 10.0.0.2', 'down']]);
  });
});

describe('timeline SVG', () => {
  it('escapes journal text and carries the facts as data attributes', () => {
    const j: NodeJournal = { node: 'a', live: false, source: '<src>', knownUntil: 0, entries: [
      e(0, 'start', 'g'), e(1, 'group', 'group <x>&"y": running (r)', { group: '<x>&"y"', phase: 'running' }), e(2, 'stop', 's'),
    ] };
    const svg = renderSvg(buildTimeline([j]));
    expect(svg).not.toMatch(/<x>|<src>/);
    expect(svg).toContain('data-lane="a/hold/&lt;x&gt;&amp;&quot;y&quot;"');
    expect(svg).toMatch(/<rect class="seg" data-kind="hold" data-node="a" [^>]*data-state="running" data-start="2026-12-03T07:00:01.000Z" data-end="2026-12-03T07:00:02.000Z" data-closed="true"/);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it('draws an empty journal without failing', () => {
    const svg = renderSvg(buildTimeline([{ node: 'a', live: false, source: 'x', knownUntil: T, entries: [] }]));
    expect(svg).toContain('</svg>');
  });
});

describe('--since', () => {
  const now = T;
  it('takes durations before now and ISO times; anything else names the option', () => {
    expect(parseSince('90s', now)).toBe(T - 90_000);
    expect(parseSince('15m', now)).toBe(T - 900_000);
    expect(parseSince('2h', now)).toBe(T - 7_200_000);
    expect(parseSince('2026-12-03T06:00:00Z', now)).toBe(T - 3_600_000);
    expect(() => parseSince('yesterday', now)).toThrow(/--since 'yesterday': expected an ISO time/);
    expect(() => parseSince('12', now)).toThrow(/--since/);
  });
});
