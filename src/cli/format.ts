// Human-readable `tandem status`.

import type { PathEntry, StatusReport } from '../daemon/status.js';
import { formatAge, formatDuration } from '../util/duration.js';

const dur = formatDuration;
const ms = (v: number | null) => (v === null ? 'never' : `${dur(v)} ago`);

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  lines.push(`cluster ${r.cluster}: node ${r.node}, generation ${r.generation}, started ${r.startedAt}`);
  const sched = r.timing.scheduling;
  lines.push(`timing: keepalive ${dur(r.timing.keepaliveMs)}, deadtime ${dur(r.timing.deadtimeMs)}, auto_failback ${r.timing.autoFailback}` +
    (sched ? `, scheduling ${sched.policy}${sched.refused ? ' (realtime refused)' : ''}` : '') +
    (sched?.memoryLock ? (sched.memoryLock.refused ? ', memory lock refused' : `, code locked ${Math.ceil(sched.memoryLock.bytes / 2 ** 20)} MB`) : ''));
  const late = r.timing.sendLateness;
  const loop = r.timing.eventLoopDelay;
  if (late?.samples || loop) {
    const f = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v} ms`);
    lines.push(`  heartbeat timer late: p50 ${f(late?.p50Ms)}, p99 ${f(late?.p99Ms)}, max ${f(late?.maxMs)}` +
      (loop ? `; event loop delay: p50 ${f(loop.p50Ms)}, p99 ${f(loop.p99Ms)}, max ${f(loop.maxMs)}` : ''));
  }
  if (r.auth) lines.push(`authkeys: auth ${r.auth.sendIndex}, fingerprint ${r.auth.fingerprint}${r.auth.insecureAllowed ? ' (allow_insecure_authkeys: forgeable)' : ''}`);
  if (r.auth?.mismatch) lines.push(`!! ${r.auth.mismatch.message}`);
  lines.push('');
  lines.push('NODES');
  const label = (g: string) => r.groups.find((x) => x.name === g)?.label ?? g;
  for (const n of r.nodes) {
    const holds = n.holds.length ? n.holds.map(label).join(', ') : '-';
    // state says whether the node is alive (the daemon's own "active" is
    // Heartbeat's word for that); the role says whether it holds anything.
    const alive = n.self && n.state === 'active' ? 'up' : String(n.state);
    const role = alive === 'up' ? (n.holds.length ? 'active' : 'standby') : '';
    lines.push(`  ${n.name.padEnd(16)} ${alive.padEnd(8)} ${role.padEnd(7)} ${n.self ? '(this node)' : `last heard ${ms(n.lastHeardMsAgo)}`}  holds: ${holds}`);
  }
  lines.push('');
  lines.push('HEARTBEAT PATHS');
  for (const p of r.paths) lines.push(...formatPath(p));
  lines.push('');
  lines.push('RESOURCE GROUPS');
  for (const g of r.groups) {
    lines.push(`  ${g.label ?? g.name}  (preferred ${g.preferredNode})`);
    const since = g.holderSinceMsAgo === null || g.holderSinceMsAgo === undefined ? '' : ` for ${formatAge(g.holderSinceMsAgo)}`;
    lines.push(`    holder: ${g.holder ?? 'nobody'}${g.holder ? since : ''}; here: ${g.local.phase}${g.local.lastError ? ` (last error: ${g.local.lastError})` : ''}${g.handover ? `; handed over ${g.handover} (standby/takeover)` : ''}`);
    const why = g.transition ? transitionLine(g.transition, g.holder) : null;
    if (why) lines.push(`    ${why}`);
    lines.push(`    resources: ${g.resources.join(' ')}`);
    for (const m of g.monitors ?? []) lines.push(`    ${monitorLine(m)}`);
  }
  if (r.fencing) {
    const f = r.fencing;
    lines.push('');
    lines.push(`FENCING (peer ${f.peer}: ${f.phase}${f.waiting ? `; WAITING: ${f.waitingReason}` : ''})`);
    for (const d of f.devices) {
      const c = d.lastCheck;
      lines.push(`  ${d.device}: ${c === null ? 'not checked yet' : `${c.ok ? 'ok' : `FAILING: ${c.error ?? 'check failed'}`} (checked ${ms(c.msAgo)})`}`);
    }
    if (f.history.length === 0) lines.push('  history: none');
    for (const h of f.history) {
      lines.push(`  ${h.at}  ${h.by} -> ${h.target} ${h.action} via ${h.device}: ${h.result} (${dur(h.durationMs)})${h.error ? `: ${h.error}` : ''}`);
    }
  }
  if (r.quorum) {
    const q = r.quorum;
    lines.push('');
    lines.push(`QUORUM: ${q.quorum ? 'yes' : 'NO'} (${q.why})`);
    if (q.summary) lines.push(`  ${q.summary}`);
    if (q.arbiter) lines.push(`  arbiter: ${q.arbiter.kind} ${q.arbiter.target ?? ''}`);
    if (q.ipfail.enabled) lines.push(`  ipfail: on, connectivity ${q.connectivity}; delay ${dur(q.ipfail.delayMs)}, dwell ${dur(q.ipfail.dwellMs)}`);
    for (const t of q.ping) {
      lines.push(`  ping ${t.name}: ${t.status} (changed ${ms(t.sinceMsAgo)})`);
      for (const a of t.addrs) {
        lines.push(`    ${a.addr.padEnd(15)} ${a.status.padEnd(7)} sent ${a.sent} received ${a.received} loss ${a.lossPct === null ? '-' : `${a.lossPct}%`}  rtt min/avg/max ${[a.rttMs.min, a.rttMs.avg, a.rttMs.max].map((v) => (v === null ? '-' : String(v))).join('/')} ms`);
      }
    }
    for (const g of q.groups) {
      const l = g.lease;
      const lease = l === null ? '' : `; lease ${l.status}${l.status === 'held' ? ` (valid ${l.validForMs === null ? '-' : dur(l.validForMs)} more)` : ` (${l.reason}${l.holder ? `, holder ${l.holder}` : ''})`}`;
      lines.push(`  ${g.label ?? g.name}: ${g.code} (hold ${g.hold}, take ${g.take})${lease}`);
      if (g.reason) lines.push(`    ${g.reason}`);
    }
  }
  const d = r.counters.dropped;
  lines.push('');
  lines.push(`packets: sent ${r.counters.sent}, received ${r.counters.received}; dropped: auth ${d.auth}, malformed ${d.malformed}, replay ${d.replay}, unconfirmed ${d.unconfirmed ?? 0}, generation jump ${d.jump ?? 0}, foreign ${d.foreign}, spoofed ${d.spoofed}, ignored ${d.ignored}, filtered ${d.filtered ?? 0}`);
  return lines.join('\n') + '\n';
}

const num = (v: number | null | undefined, unit: string) => (v === null || v === undefined ? '-' : `${v} ${unit}`);

function formatPath(p: PathEntry): string[] {
  const out: string[] = [];
  out.push(`  ${p.name.padEnd(32)} -> ${p.peer}  ${p.state.padEnd(4)}  last heard ${ms(p.lastHeardMsAgo)}  accepted ${p.accepted}  stale ${p.stale}`);
  if (p.loss && p.latency) {
    const loss = p.loss.percent === null ? '-' : `${p.loss.percent}%`;
    const lat = p.latency.oneWayMs === null
      ? 'latency -'
      : `latency ${p.latency.oneWayMs} ms (p90 ${num(p.latency.p90Ms, 'ms')}, max ${num(p.latency.maxMs, 'ms')}; RTT/2 of ${p.latency.samples})`;
    out.push(`      ${p.packetsPerSec ?? 0} pkt/s in, ${p.sent ?? 0} sent; loss ${loss} over ${p.loss.windowS} s (${p.loss.lost} lost since start); ${lat}`);
  }
  const s = p.serial;
  if (s) {
    const state = s.state === 'open' ? 'open' : `${s.state}${s.downSinceMsAgo !== null ? ` for ${ms(s.downSinceMsAgo).replace(' ago', '')}` : ''}`;
    const rej = Object.entries(s.rx.rejected).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    out.push(`      ${s.device} ${s.baud} baud: ${state}${s.state !== 'open' && s.lastError ? ` (${s.lastError})` : ''}; opened ${s.opens}x`);
    out.push(`      frames in ${s.rx.frames}, rejected: ${rej}; frames out ${s.tx.frames}, queue drops ${s.tx.queueDrops}, not sent while away ${s.tx.offline}`);
  }
  return out;
}

type Transition = NonNullable<StatusReport['groups'][number]['transition']>;

/**
 * "Why" in one line: the verb from the kind of change, the reason as the
 * engine gave it with the transition (never re-derived here).
 */
export function transitionLine(t: Transition, holder: string | null): string {
  const when = t.msAgo === null ? '' : ` ${formatAge(t.msAgo)} ago`;
  const because = t.reason ? `: ${t.reason}` : '';
  switch (t.change) {
    case 'started': return `started here${when}${because}`;
    case 'moved-here': return `moved to ${t.node ?? 'this node'}${when}${because}`;
    case 'moved-to-peer': return `moved to ${holder ?? 'the peer'}${when}${because}`;
    case 'held-by-peer': return `started on ${t.node ?? holder ?? 'the peer'}${when} (its reason is in ${t.node ?? 'the peer'}'s status and journal)`;
    case 'stopping': return `stopping here (began${when})${because}`;
    case 'failed': return `failed here${when}${because}`;
    case 'stop-failed': return `stop failed here${when}${because}`;
    default: return `stopped${when}${because}`;
  }
}

type MonitorEntry = NonNullable<StatusReport['groups'][number]['monitors']>[number];

/** `monitor nginx (every 10s): running 3s ago; fail count 1 of 3; next check in 7s`. */
export function monitorLine(m: MonitorEntry): string {
  const last = m.last ? `${m.last.result === 'running' ? 'running' : `${m.last.result.toUpperCase()} (${m.last.detail})`} ${ms(m.last.msAgo)}` : 'not checked yet';
  const next = m.checking ? 'checking now' : m.nextCheckInMs === null ? 'not scheduled (not running here)' : `next check in ${formatAge(m.nextCheckInMs)}`;
  return `monitor ${m.resource} (every ${dur(m.intervalMs)}, timeout ${dur(m.timeoutMs)}): ${last}; fail count ${m.failCount} of ${m.migrationThreshold}; ${next}`;
}
