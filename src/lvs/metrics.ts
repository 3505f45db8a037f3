// The virtual services in Prometheus' text format (pure): what `tandem
// status --json` says under `lvs`, as gauges and counters per service and
// real server (docs/metrics.md).

import type { LvsStatus } from './service.js';

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>): string => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;

export function renderLvsMetrics(s: LvsStatus, node: string): string {
  const families = new Map<string, { help: string; type: 'gauge' | 'counter'; rows: string[] }>();
  const put = (name: string, type: 'gauge' | 'counter', help: string, l: Record<string, string>, v: number): void => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help, type, rows: [] }));
    f.rows.push(`${name}${labels({ node, ...l })} ${v}`);
  };
  put('tandem_lvs_check_attempts_total', 'counter', 'Health check attempts run by the checker worker since start', { backend: s.backend }, s.checks.attempts);
  put('tandem_lvs_checks_in_flight', 'gauge', 'Health check attempts running now', {}, s.checks.inFlight);
  put('tandem_lvs_program_failing', 'gauge', '1 while the kernel refuses the balancer\'s last change', {}, s.programError ? 1 : 0);
  for (const v of s.services) {
    const sl = { service: v.name };
    put('tandem_lvs_service_quorum_up', 'gauge', 'Whether the virtual service has quorum (alive weight reaches quorum)', sl, v.quorum.up ? 1 : 0);
    put('tandem_lvs_service_alive_weight', 'gauge', 'Sum of the weights of the alive real servers', sl, v.quorum.aliveWeight);
    if (v.sorry) {
      put('tandem_lvs_sorry_server_active', 'gauge', 'Whether the sorry server takes the new connections', { ...sl, sorry_server: v.sorry.address }, v.sorry.active ? 1 : 0);
      put('tandem_lvs_sorry_server_connections_total', 'counter', 'New connections sent to the sorry server (kernel counter)', { ...sl, sorry_server: v.sorry.address }, v.sorry.connections);
    }
    for (const r of v.realServers) {
      const rl = { ...sl, real_server: r.address };
      put('tandem_lvs_real_server_up', 'gauge', 'Whether the real server passes all its checks', rl, r.state === 'up' ? 1 : 0);
      put('tandem_lvs_real_server_weight', 'gauge', 'The real server\'s weight in the kernel (0: takes no new connections)', rl, r.weight);
      put('tandem_lvs_real_server_connections_total', 'counter', 'New connections sent to the real server (kernel counter)', rl, r.connections);
      r.checks.forEach((c, i) => {
        const cl = { ...rl, checker: `${c.type}#${i}` };
        put('tandem_lvs_check_up', 'gauge', 'Whether the checker says up', cl, c.up ? 1 : 0);
        if (c.last) put('tandem_lvs_check_last_ok', 'gauge', 'Whether the checker\'s last attempt passed', cl, c.last.ok ? 1 : 0);
      });
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.rows);
  return `${out.join('\n')}\n`;
}
