// The Prometheus side of src/daemon/metrics.ts, loaded at the first scrape:
// prom-client's registry, filled from a status report and from the plain
// counters and histograms the daemon kept meanwhile.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { LatencyHistogram } from '../util/histogram.js';
import type { StatusReport } from './status.js';

const COUNTER_LABELS = {
  transitions: ['group', 'phase', 'code'],
  failovers: ['group', 'code'],
  fences: ['target', 'device', 'result'],
  peerDeaths: ['reason'],
  pathChanges: ['path', 'state'],
} as const;

const LATENESS = 'tandem_heartbeat_lateness_seconds';

/** What the heartbeat path and the transitions recorded since start (src/daemon/metrics.ts keeps it). */
export interface MetricsData {
  lateness: { received: LatencyHistogram; timer: LatencyHistogram };
  /** Counter name -> label values joined by NUL -> count. */
  counters: Map<string, Map<string, number>>;
}

export class Renderer {
  private readonly registry = new Registry();
  private readonly scraped: Array<Gauge<string> | Counter<string>> = [];
  private readonly g: ReturnType<Renderer['gauges']>;
  private readonly counters: Record<keyof typeof COUNTER_LABELS, Counter<string>>;
  private lateness?: MetricsData['lateness'];

  constructor(private readonly labels: { node: string; peer: string; cluster: string }) {
    const r = [this.registry];
    const C = (name: string, help: string, key: keyof typeof COUNTER_LABELS) =>
      new Counter({ name, help, labelNames: [...COUNTER_LABELS[key]], registers: r });
    this.counters = {
      transitions: C('tandem_group_transitions_total', 'Group phase changes on this node, by new phase and reason code', 'transitions'),
      failovers: C('tandem_failovers_total', 'Groups taken over by this node from its peer (peer dead/left/failed it, or quorum gave it here), by reason code', 'failovers'),
      fences: C('tandem_fence_attempts_total', 'Fencing attempts by this node, by target, device and result (ok, failed, operator, stale)', 'fences'),
      peerDeaths: C('tandem_peer_deaths_total', 'Times the peer was declared dead, by reason (silent, initdead, left)', 'peerDeaths'),
      pathChanges: C('tandem_path_transitions_total', 'Heartbeat path state changes, by path and new state', 'pathChanges'),
    };
    // Recorded on the heartbeat path into fixed arrays; only exported here.
    const latenessHelp = 'received: how much later than keepalive each new heartbeat from the peer arrived; timer: how late the send-and-judge timer ran after its deadline';
    this.registry.registerMetric({
      name: LATENESS, type: 'histogram', aggregator: 'sum', help: latenessHelp,
      // The registry prints HELP from what get() returns.
      get: async () => ({ name: LATENESS, help: latenessHelp, type: 'histogram', aggregator: 'sum', values: this.latenessValues() }),
      reset: () => undefined,
    } as unknown as Parameters<Registry['registerMetric']>[0]);
    this.g = this.gauges(r);
    // process_cpu_seconds_total, memory, and nodejs_eventloop_lag_* (perf_hooks.monitorEventLoopDelay), from the first scrape on.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 50 });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.registry.clear();
  }

  private latenessValues() {
    const out: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [kind, h] of Object.entries(this.lateness ?? {}) as Array<[string, LatencyHistogram]>) {
      const cum = h.cumulative();
      h.coarseBoundsMs.forEach((ms, i) => out.push({ labels: { le: ms / 1000, kind }, value: cum[i]!, metricName: `${LATENESS}_bucket` }));
      out.push({ labels: { le: '+Inf', kind }, value: h.count, metricName: `${LATENESS}_bucket` });
      out.push({ labels: { kind }, value: h.sumMs / 1000, metricName: `${LATENESS}_sum` });
      out.push({ labels: { kind }, value: h.count, metricName: `${LATENESS}_count` });
    }
    return out;
  }

  private gauges(r: Registry[]) {
    const G = (name: string, help: string, labelNames: string[] = []) => {
      const m = new Gauge({ name, help, labelNames, registers: r });
      this.scraped.push(m);
      return m;
    };
    const C = (name: string, help: string, labelNames: string[] = []) => {
      const m = new Counter({ name, help, labelNames, registers: r });
      this.scraped.push(m);
      return m;
    };
    return {
      info: G('tandem_info', 'Always 1; labels name this node, its peer and the cluster', ['node', 'peer', 'cluster']),
      generation: G('tandem_generation', 'This node\'s generation (a new one on every start)'),
      peerGeneration: G('tandem_peer_generation', 'The peer\'s generation as last heard (absent before it is heard)'),
      node: G('tandem_node_state', '1 for the node\'s current state (this node: init, active, stopping; peer: unknown, up, dead)', ['node', 'state']),
      peerUp: G('tandem_peer_up', '1 while the peer is heard (alive), else 0'),
      pathUp: G('tandem_path_up', '1 while the heartbeat path is up, else 0', ['path']),
      pathLoss: G('tandem_path_loss_ratio', 'Share of the peer\'s heartbeats lost on the path over its loss window (status\'s loss, 0..1); absent until known', ['path']),
      pathLost: C('tandem_path_lost_heartbeats_total', 'Heartbeats from the peer missing on the path (seq gaps) since start', ['path']),
      pathRecv: C('tandem_path_received_heartbeats_total', 'Fresh heartbeats from the peer on the path since start', ['path']),
      pathLatency: G('tandem_path_latency_seconds', 'One-way latency estimate on the path (median RTT/2); absent until measured', ['path']),
      sent: C('tandem_heartbeats_sent_total', 'Heartbeat messages sent (each goes out on every path)'),
      received: C('tandem_heartbeats_received_total', 'Authentic heartbeat messages received from the peer, on all paths'),
      dropped: C('tandem_dropped_datagrams_total', 'Datagrams dropped, by reason (auth, malformed, ignored, own, spoofed, filtered, replay, foreign, jump, unconfirmed)', ['reason']),
      holder: G('tandem_group_holder', '1 for the node that holds the group as seen here (node="none" when nobody, "both" after a partition)', ['group', 'node']),
      held: G('tandem_group_held', '1 while this node holds the group (starting, running, stopping, recovering, stop-failed)', ['group']),
      phase: G('tandem_group_phase', '1 for the group\'s current phase on this node', ['group', 'phase']),
      quorum: G('tandem_quorum', '1 while this node has quorum (hears its peer, or holds a lease, or reaches a ping target), 0 without; absent when no quorum is configured'),
      decision: G('tandem_quorum_decision', '1 for the group\'s current quorum decision code (docs/quorum.md)', ['group', 'code']),
      lease: G('tandem_quorum_lease', '1 for the group\'s current lease status (idle, requesting, held, denied); absent without an arbiter', ['group', 'status']),
      leaseValid: G('tandem_quorum_lease_valid_seconds', 'How long the held lease stays valid by the local deadline; 0 when not held', ['group']),
      fencingWaiting: G('tandem_fencing_waiting', '1 while the peer is dead but its groups wait for fencing; absent without fencing'),
      authMismatch: G('tandem_authkeys_mismatch', '1 while heartbeat-shaped packets from the peer\'s addresses fail authentication and no authentic one arrives (authkeys differ?)'),
    };
  }

  async render(r: StatusReport, data: MetricsData): Promise<string> {
    const g = this.g;
    for (const m of this.scraped) m.reset();
    for (const [name, c] of Object.entries(this.counters)) {
      c.reset();
      const names = COUNTER_LABELS[name as keyof typeof COUNTER_LABELS];
      for (const [k, n] of data.counters.get(name) ?? []) {
        const v = k.split('\0');
        c.inc(Object.fromEntries(names.map((l, i) => [l, v[i] ?? ''])), n);
      }
    }
    this.lateness = data.lateness;
    g.info.set({ ...this.labels }, 1);
    g.generation.set(r.generation);
    const me = r.nodes.find((n) => n.self);
    const peer = r.nodes.find((n) => !n.self);
    for (const n of r.nodes) g.node.set({ node: n.name, state: String(n.state) }, 1);
    if (peer?.generation !== null && peer?.generation !== undefined) g.peerGeneration.set(peer.generation);
    g.peerUp.set(peer?.state === 'up' ? 1 : 0);
    for (const p of r.paths) {
      g.pathUp.set({ path: p.name }, p.state === 'up' ? 1 : 0);
      if (p.loss) {
        if (p.loss.percent !== null) g.pathLoss.set({ path: p.name }, p.loss.percent / 100);
        g.pathLost.inc({ path: p.name }, p.loss.lost);
        g.pathRecv.inc({ path: p.name }, p.loss.received);
      }
      if (p.latency?.oneWayMs !== null && p.latency?.oneWayMs !== undefined) g.pathLatency.set({ path: p.name }, p.latency.oneWayMs / 1000);
    }
    g.sent.inc(r.counters.sent);
    g.received.inc(r.counters.received);
    for (const [reason, n] of Object.entries(r.counters.dropped)) g.dropped.inc({ reason }, n ?? 0);
    for (const grp of r.groups) {
      const group = grp.label ?? grp.name;
      g.holder.set({ group, node: grp.holder ?? 'none' }, 1);
      g.held.set({ group }, me?.holds.includes(grp.name) ? 1 : 0);
      g.phase.set({ group, phase: grp.local.phase }, 1);
    }
    if (r.quorum) {
      g.quorum.set(r.quorum.quorum ? 1 : 0);
      for (const q of r.quorum.groups) {
        const group = q.label ?? q.name;
        g.decision.set({ group, code: q.code }, 1);
        if (q.lease) {
          g.lease.set({ group, status: q.lease.status }, 1);
          g.leaseValid.set({ group }, (q.lease.validForMs ?? 0) / 1000);
        }
      }
    }
    if (r.fencing) g.fencingWaiting.set(r.fencing.waiting ? 1 : 0);
    g.authMismatch.set(r.auth?.mismatch ? 1 : 0);
    return this.registry.metrics();
  }
}
