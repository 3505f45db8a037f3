// Human-readable `tandem status`.

import type { StatusReport } from '../daemon/status.js';

const ms = (v: number | null) => (v === null ? 'never' : v < 10_000 ? `${v} ms ago` : `${Math.round(v / 1000)} s ago`);

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  lines.push(`cluster ${r.cluster}: node ${r.node}, generation ${r.generation}, started ${r.startedAt}`);
  lines.push(`timing: keepalive ${r.timing.keepaliveMs} ms, deadtime ${r.timing.deadtimeMs} ms, auto_failback ${r.timing.autoFailback}`);
  lines.push('');
  lines.push('NODES');
  for (const n of r.nodes) {
    const holds = n.holds.length ? n.holds.join(', ') : '-';
    lines.push(`  ${n.name.padEnd(16)} ${String(n.state).padEnd(8)} ${n.self ? '(this node)' : `last heard ${ms(n.lastHeardMsAgo)}`}  holds: ${holds}`);
  }
  lines.push('');
  lines.push('HEARTBEAT PATHS');
  for (const p of r.paths) {
    lines.push(`  ${p.name.padEnd(32)} -> ${p.peer}  ${p.state.padEnd(4)}  last heard ${ms(p.lastHeardMsAgo)}  accepted ${p.accepted}  stale ${p.stale}`);
  }
  lines.push('');
  lines.push('RESOURCE GROUPS');
  for (const g of r.groups) {
    lines.push(`  ${g.name}  (preferred ${g.preferredNode})`);
    lines.push(`    holder: ${g.holder ?? 'none'}; here: ${g.local.phase}${g.local.lastError ? ` (last error: ${g.local.lastError})` : ''}`);
    lines.push(`    resources: ${g.resources.join(' ')}`);
  }
  const d = r.counters.dropped;
  lines.push('');
  lines.push(`packets: sent ${r.counters.sent}, received ${r.counters.received}; dropped: auth ${d.auth}, malformed ${d.malformed}, replay ${d.replay}, foreign ${d.foreign}, ignored ${d.ignored}`);
  return lines.join('\n') + '\n';
}
