// `tandem status` for a daemon that runs a keepalived.conf's VRRP instances:
// one line per instance (and sync group), what an operator asks first:
// who is master, at what priority, and why not here.

import type { VrrpStatusReport } from '../daemon/vrrp-daemon.js';
import type { LvsStatus } from '../lvs/service.js';

const secs = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

export function formatVrrpStatus(r: VrrpStatusReport): string {
  // A daemon from before the field was added has no scheduling to show.
  const s = r.scheduling as VrrpStatusReport['scheduling'] | undefined;
  const sched = s?.refused ? `; real-time scheduling refused: ${s.refused}` : s && s.policy !== 'SCHED_OTHER' ? `; main thread ${s.policy}` : '';
  return `node ${r.node}: VRRP instances of ${r.file}${sched}\n${lines(r.vrrp).join('\n')}\n${r.lvs ? formatLvs(r.lvs) : ''}`;
}

/** Virtual services: one line per service, one per real server (state, weight, connections, why), its checkers' last results. */
export function formatLvs(l: LvsStatus): string {
  const out = [`\nVirtual services (${l.backend}; ${l.checks.attempts} checks run, ${l.checks.inFlight} running${l.checks.nice !== null ? `, checker thread at nice ${l.checks.nice}` : ''}):`];
  if (l.programError) out.push(`  the kernel refused the last change: ${l.programError}`);
  for (const v of l.services) {
    const q = v.quorum;
    const sorry = v.sorry ? `; sorry server ${v.sorry.address} ${v.sorry.active ? `ACTIVE (${v.sorry.connections} connections)` : 'standing by'}` : '';
    out.push(`  ${v.name} ${v.scheduler} ${v.kind}${v.persistenceS ? `, persistence ${v.persistenceS} s` : ''}: quorum ${q.up ? 'up' : 'DOWN'} for ${secs(q.forMs)} (alive weight ${q.aliveWeight}, needs ${q.needed})${sorry}`);
    for (const r of v.realServers) {
      const w = r.weight === r.configuredWeight ? `weight ${r.weight}` : `weight ${r.weight} (configured ${r.configuredWeight})`;
      out.push(`    ${r.address.padEnd(21)} ${(r.state === 'up' ? 'up' : 'DOWN').padEnd(4)} for ${secs(r.forMs)}, ${w}, ${r.connections} connections; ${r.reason}`);
      for (const c of r.checks) {
        const last = c.last ? `${c.last.ok ? 'ok' : 'FAILED'} ${secs(c.last.agoMs)} ago: ${c.last.reason}` : 'not run yet';
        out.push(`      ${c.type.padEnd(10)} ${c.up ? 'up' : 'down'}, ${c.runs} runs, last ${last}${c.suspended ? '; paused: this node does not hold the address (ha_suspend)' : ''}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

/** The VRRP part of a Heartbeat daemon's status (`run -c DIR -f FILE`). */
export function formatVrrpSection(v: VrrpStatusReport['vrrp'] & { file?: string }): string {
  return `\nVRRP instances${v.file ? ` of ${v.file}` : ''}:\n${lines(v).join('\n')}\n`;
}

function lines(v: VrrpStatusReport['vrrp']): string[] {
  const out: string[] = [];
  for (const g of v.groups) out.push(`  sync group ${g.name}: ${g.state} for ${secs(g.forMs)} (${g.members.map((m) => m.name).join(', ')})`);
  for (const i of v.instances) {
    const head = `  ${i.name.padEnd(12)} VRID ${String(i.vrid).padEnd(3)} v${i.version} ${i.state.padEnd(6)} for ${secs(i.forMs)}, priority ${i.priority}${i.priority !== i.basePriority ? ` (base ${i.basePriority})` : ''}, advert ${i.advertIntervalMs} ms`;
    const why: string[] = [];
    if (i.master) why.push(`master ${i.master.address} at priority ${i.master.priority}, heard ${secs(i.master.agoMs)} ago`);
    if (i.masterDownInMs !== null && !i.held) why.push(`master down in ${secs(i.masterDownInMs)}`);
    for (const f of i.faults) why.push(`fault: ${f.source}: ${f.reason}`);
    if (i.claiming) why.push('claiming (adverts without the VIPs) until the guard allows MASTER');
    if (!i.guard.allowed) why.push(`guard: ${i.guard.reason}`);
    else if (i.guard.reason !== 'no guard configured' && i.state === 'MASTER') why.push(`guard: ${i.guard.reason}`);
    if (!i.sync.allowed) why.push(i.sync.reason);
    out.push(why.length ? `${head}; ${why.join('; ')}` : head);
  }
  return out;
}
