// From the journals of one or both nodes to lanes of intervals and markers:
// who held which group when, each heartbeat path's state, deaths, fences,
// lease and quorum changes. Pure: the caller passes the journals and the
// instant each one is known up to.
//
// Times are each node's wall clock as written in its journal; two nodes are
// placed on one axis as they are, so a clock offset between them shifts one
// node's lanes by that offset (docs/timeline.md).

import type { JournalEntry } from '../state/store.js';

export interface NodeJournal {
  node: string;
  entries: JournalEntry[];
  /** Wall-clock ms up to which this journal is complete: the export time of a running daemon, else its last entry. */
  knownUntil: number;
  /** True when read from a running daemon: what it holds now is known up to knownUntil. */
  live: boolean;
  source: string;
}

export type SegmentKind = 'daemon' | 'hold' | 'path' | 'unknown';

export interface Segment {
  kind: SegmentKind;
  node: string;
  lane: string;
  start: number;
  end: number;
  /** hold: the group's phase; path: up/down; daemon: running; unknown: what was open. */
  state: string;
  reason?: string;
  /** The journal entry that opened it (index into its node's entries). */
  entry: number;
  /** Closed by an entry (true) or by the end of what is known (false). */
  closed: boolean;
}

export type MarkerKind = 'start' | 'stop' | 'peer-up' | 'death' | 'fence' | 'lease' | 'quorum' | 'alert';

export interface Marker {
  kind: MarkerKind;
  node: string;
  lane: string;
  at: number;
  detail: string;
  entry: number;
}

export interface Lane {
  id: string;
  node: string;
  label: string;
}

export interface Timeline {
  t0: number;
  t1: number;
  lanes: Lane[];
  segments: Segment[];
  markers: Marker[];
  nodes: Array<{ node: string; source: string; live: boolean; knownUntil: number; entries: number }>;
}

// Phases in which a node holds (may run) a group: resources/machine.ts HELD.
const HELD = new Set(['starting', 'running', 'stopping', 'stop-failed', 'recovering']);

const MARKER_OF: Record<string, MarkerKind> = {
  start: 'start', stop: 'stop', 'peer-up': 'peer-up', 'peer-dead': 'death',
  fence: 'fence', fencing: 'fence', 'fence-alert': 'fence', lease: 'lease', quorum: 'quorum', alert: 'alert',
};

/** Group name from an entry: the structured field, or the text of entries written before it existed. */
function groupOf(e: JournalEntry): string | undefined {
  return e.group ?? e.detail.match(/^group (\S+): /)?.[1];
}
function phaseOf(e: JournalEntry): string | undefined {
  return e.phase ?? e.detail.match(/^group \S+: (\S+) \(/)?.[1];
}
function pathOf(e: JournalEntry): string | undefined {
  return e.path ?? e.detail.match(/ (?:up|down): (.+)$/)?.[1];
}

export function buildTimeline(journals: NodeJournal[], opts: { sinceMs?: number } = {}): Timeline {
  const lanes = new Map<string, Lane>();
  const segments: Segment[] = [];
  const markers: Marker[] = [];
  const lane = (node: string, key: string, label: string) => {
    const id = `${node}/${key}`;
    if (!lanes.has(id)) lanes.set(id, { id, node, label });
    return id;
  };
  let tMin = Infinity;
  let tMax = -Infinity;

  for (const j of journals) {
    const node = j.node;
    lane(node, 'daemon', `${node}: daemon`);
    // One open interval per lane; a 'start' entry (the daemon began again) or the end of the journal closes them.
    const open = new Map<string, Segment>();
    let last = -Infinity;      // time of the newest entry so far, kept non-decreasing (a clock stepped back pins to it)
    const close = (laneId: string, at: number, closed: boolean) => {
      const s = open.get(laneId);
      if (!s) return;
      s.end = Math.max(at, s.start);
      s.closed = closed;
      segments.push(s);
      open.delete(laneId);
    };
    const openSeg = (s: Omit<Segment, 'end' | 'closed'>) => open.set(s.lane, { ...s, end: s.start, closed: false });
    // The daemon stopped without a 'stop' entry (crash, power loss, kill -9) after its newest entry: what it
    // held, and its paths, are unknown from then on until it starts again or the picture ends.
    const unknownFrom = (from: number, to: number, entry: number) => {
      for (const s of [...open.values()]) {
        const was = `${s.kind} ${s.state}`;
        close(s.lane, from, false);
        if (s.kind === 'daemon') continue;
        segments.push({ kind: 'unknown', node, lane: s.lane, start: from, end: Math.max(to, from), state: was, entry, closed: to !== Infinity });
      }
    };
    j.entries.forEach((e, i) => {
      const parsed = Date.parse(e.at);
      if (!Number.isFinite(parsed)) return;
      const at = Math.max(parsed, last);
      const mk = MARKER_OF[e.kind];
      if (e.kind === 'start') {
        if (open.size) unknownFrom(last, at, i);
        openSeg({ kind: 'daemon', node, lane: lane(node, 'daemon', `${node}: daemon`), start: at, state: 'running', entry: i });
      } else if (e.kind === 'stop') {
        for (const id of [...open.keys()]) close(id, at, true);
      } else if (e.kind === 'group') {
        const g = groupOf(e);
        const phase = phaseOf(e);
        if (g && phase) {
          const id = lane(node, `hold/${g}`, `${node}: holds ${g}`);
          close(id, at, true);
          if (HELD.has(phase)) openSeg({ kind: 'hold', node, lane: id, start: at, state: phase, ...(e.reason ? { reason: e.reason } : {}), entry: i });
        }
      } else if (e.kind === 'path-up' || e.kind === 'path-down') {
        const p = pathOf(e);
        if (p) {
          const id = lane(node, `path/${p}`, `${node}: path ${p}`);
          close(id, at, true);
          openSeg({ kind: 'path', node, lane: id, start: at, state: e.kind === 'path-up' ? 'up' : 'down', entry: i });
        }
      }
      if (mk && mk !== 'start' && mk !== 'stop') {
        markers.push({ kind: mk, node, lane: lane(node, 'events', `${node}: events`), at, detail: e.detail, entry: i });
      } else if (mk) {
        markers.push({ kind: mk, node, lane: lane(node, 'daemon', `${node}: daemon`), at, detail: e.detail, entry: i });
      }
      last = at;
      tMin = Math.min(tMin, at);
      tMax = Math.max(tMax, at);
    });
    const lastIsStop = j.entries.at(-1)?.kind === 'stop';
    if (j.live) {
      const until = Math.max(j.knownUntil, last);
      for (const id of [...open.keys()]) close(id, until, false);
      tMax = Math.max(tMax, until);
    } else if (!lastIsStop && open.size) {
      unknownFrom(last, Infinity, j.entries.length - 1);
    }
  }

  const t1 = Number.isFinite(tMax) ? tMax : Date.now();
  const since = opts.sinceMs;
  let t0 = Number.isFinite(tMin) ? tMin : t1;
  if (since !== undefined && Number.isFinite(since)) t0 = since;
  const kept: Segment[] = [];
  for (const s of segments) {
    if (s.end === Infinity) s.end = t1;
    if (s.end < t0) continue;
    kept.push(s.start < t0 ? { ...s, start: t0 } : s);
  }
  return {
    t0, t1: Math.max(t1, t0),
    lanes: [...lanes.values()].sort((a, b) => laneOrder(a) - laneOrder(b) || cmp(laneKey(a), laneKey(b)) || cmp(a.node, b.node)),
    segments: kept.sort((a, b) => a.start - b.start),
    markers: markers.filter((m) => m.at >= t0).sort((a, b) => a.at - b.at),
    nodes: journals.map((j) => ({ node: j.node, source: j.source, live: j.live, knownUntil: j.knownUntil, entries: j.entries.length })),
  };
}

/** Holds first (the question is "who held what"), then paths, events, daemons; nodes together within each. */
const laneKey = (l: Lane) => l.id.slice(l.node.length + 1);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function laneOrder(l: Lane): number {
  const key = laneKey(l);
  if (key.startsWith('hold/')) return 0;
  if (key.startsWith('path/')) return 1;
  if (key === 'events') return 2;
  return 3;
}
