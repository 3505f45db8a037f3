// The timeline as one self-contained SVG file (no script, no external
// resource), for a post-mortem. Every drawn interval and marker carries its
// facts as data-* attributes (node, lane, kind, state, ISO start/end) and a
// <title> with the journal text, so the picture can be checked against the
// journal and read in a browser by hovering.

import type { Lane, Marker, Segment, Timeline } from './model.js';

const W = 1200;            // total width
const LABEL = 230;         // label column
const RIGHT = 20;
const LANE_H = 22;
const TOP = 78;            // title, caveat and axis above the lanes
const MIN_W = 2;           // an interval of zero length still shows

const COLOURS: Record<string, string> = {
  'hold:running': '#2e7d32', 'hold:starting': '#81c784', 'hold:stopping': '#ffb74d',
  'hold:stop-failed': '#c62828', 'hold:recovering': '#9575cd',
  'path:up': '#64b5f6', 'path:down': '#e57373', 'daemon:running': '#b0bec5',
};
const MARKER_COLOURS: Record<string, string> = {
  start: '#37474f', stop: '#37474f', 'peer-up': '#1565c0', death: '#b71c1c',
  fence: '#6a1b9a', lease: '#00838f', quorum: '#ef6c00', alert: '#d50000',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (ms: number) => new Date(ms).toISOString();

export function renderSvg(t: Timeline, opts: { title?: string } = {}): string {
  const span = Math.max(1, t.t1 - t.t0);
  const plotW = W - LABEL - RIGHT;
  const x = (ms: number) => LABEL + ((Math.min(Math.max(ms, t.t0), t.t1) - t.t0) / span) * plotW;
  const laneY = new Map<string, number>(t.lanes.map((l, i) => [l.id, TOP + i * LANE_H]));
  const height = TOP + t.lanes.length * LANE_H + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" ` +
    `font-family="sans-serif" font-size="11" data-t0="${iso(t.t0)}" data-t1="${iso(t.t1)}">`);
  out.push(`<title>${esc(opts.title ?? 'tandem timeline')}</title>`);
  out.push('<defs><pattern id="unknown" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
    '<rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9e9e9e" stroke-width="2"/></pattern></defs>');
  out.push(`<rect x="0" y="0" width="${W}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="8" y="16" font-size="14" font-weight="bold">${esc(opts.title ?? 'tandem timeline')}: ${esc(iso(t.t0))} to ${esc(iso(t.t1))} (UTC)</text>`);
  const srcs = t.nodes.map((n) => `${n.node} from ${n.source}${n.live ? ' (running)' : ''}, ${n.entries} entries`).join('; ');
  out.push(`<text x="8" y="32" fill="#424242">${esc(srcs)}</text>`);
  out.push(`<text x="8" y="46" fill="#757575">Times are each node's wall clock; an offset between the nodes' clocks shifts one node's lanes by that much. Hatched: not known (the daemon stopped without a record).</text>`);

  // Axis: about eight ticks at a round step.
  const step = niceStep(span / 8);
  const axisY = TOP - 6;
  out.push(`<g class="axis">`);
  for (let tick = Math.ceil(t.t0 / step) * step; tick <= t.t1; tick += step) {
    const tx = x(tick).toFixed(1);
    out.push(`<line x1="${tx}" y1="${axisY}" x2="${tx}" y2="${TOP + t.lanes.length * LANE_H}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${tx}" y="${axisY - 4}" text-anchor="middle" fill="#616161">${esc(tickLabel(tick, step))}</text>`);
  }
  out.push('</g>');

  t.lanes.forEach((l: Lane, i) => {
    const y = TOP + i * LANE_H;
    out.push(`<g class="lane" data-lane="${esc(l.id)}" data-node="${esc(l.node)}">` +
      `<rect x="0" y="${y}" width="${W}" height="${LANE_H}" fill="${i % 2 ? '#fafafa' : '#f5f5f5'}"/>` +
      `<text x="8" y="${y + 15}">${esc(l.label)}</text></g>`);
  });

  for (const s of t.segments) {
    const y = laneY.get(s.lane);
    if (y === undefined) continue;
    const x0 = x(s.start);
    const w = Math.max(MIN_W, x(s.end) - x0);
    const fill = s.kind === 'unknown' ? 'url(#unknown)' : COLOURS[`${s.kind}:${s.state}`] ?? '#bdbdbd';
    const h = s.kind === 'daemon' ? 6 : 14;
    const what = s.kind === 'unknown' ? `unknown (was ${s.state}): no record from ${s.node}` : `${s.kind} ${s.state}${s.reason ? ` (${s.reason})` : ''}`;
    out.push(`<rect class="seg" data-kind="${s.kind}" data-node="${esc(s.node)}" data-lane="${esc(s.lane)}" data-state="${esc(s.state)}" ` +
      `data-start="${iso(s.start)}" data-end="${iso(s.end)}" data-closed="${s.closed}" data-entry="${s.entry}" ` +
      `x="${x0.toFixed(2)}" y="${y + (LANE_H - h) / 2}" width="${w.toFixed(2)}" height="${h}" fill="${fill}"` +
      `${s.closed ? '' : ' stroke="#424242" stroke-dasharray="3,2"'}>` +
      `<title>${esc(`${s.node}: ${what}, ${iso(s.start)} to ${iso(s.end)}${s.closed ? '' : ' (end not recorded)'}`)}</title></rect>`);
  }

  for (const m of t.markers) {
    const y = laneY.get(m.lane);
    if (y === undefined) continue;
    const mx = x(m.at);
    const c = MARKER_COLOURS[m.kind] ?? '#000000';
    const cy = y + LANE_H / 2;
    // A diamond for deaths and fences (the things a post-mortem looks for first), a bar otherwise.
    const shape = m.kind === 'death' || m.kind === 'fence' || m.kind === 'alert'
      ? `<path d="M${(mx - 6).toFixed(2)} ${cy} L${mx.toFixed(2)} ${cy - 7} L${(mx + 6).toFixed(2)} ${cy} L${mx.toFixed(2)} ${cy + 7} Z" fill="${c}"/>`
      : `<rect x="${(mx - 1.5).toFixed(2)}" y="${y + 3}" width="3" height="${LANE_H - 6}" fill="${c}"/>`;
    out.push(`<g class="marker" data-kind="${m.kind}" data-node="${esc(m.node)}" data-lane="${esc(m.lane)}" data-at="${iso(m.at)}" data-entry="${m.entry}">` +
      `${shape}<title>${esc(`${m.node} ${iso(m.at)}: ${m.detail}`)}</title></g>`);
  }

  // Legend.
  const ly = TOP + t.lanes.length * LANE_H + 22;
  const legend: Array<[string, string]> = [
    ['running', COLOURS['hold:running']!], ['starting', COLOURS['hold:starting']!], ['stopping', COLOURS['hold:stopping']!],
    ['recovering', COLOURS['hold:recovering']!], ['path up', COLOURS['path:up']!], ['path down', COLOURS['path:down']!],
    ['death', MARKER_COLOURS.death!], ['fence', MARKER_COLOURS.fence!], ['lease', MARKER_COLOURS.lease!], ['quorum', MARKER_COLOURS.quorum!],
  ];
  out.push('<g class="legend">');
  legend.forEach(([name, colour], i) => {
    const lx = 8 + i * 112;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${colour}"/><text x="${lx + 16}" y="${ly}">${esc(name)}</text>`);
  });
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000];
  return steps.find((s) => s >= raw) ?? Math.ceil(raw / 86_400_000) * 86_400_000;
}

function tickLabel(ms: number, step: number): string {
  const s = iso(ms);   // 2026-12-03T07:15:02.345Z
  if (step >= 86_400_000) return s.slice(0, 10);
  if (step >= 1000) return s.slice(11, 19);
  return s.slice(11, 23);
}

export type { Segment, Marker };
