// Prometheus metrics (prom-client) over a small, bounded HTTP server
// (docs/metrics.md). The heartbeat path only bumps counters and observes the
// lateness histogram (a few array writes); everything else is read from the
// status report when a scrape asks for it, so an idle endpoint costs nothing.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isTakeover, type GroupPhase, type ReasonCode } from '../resources/view.js';
import type { StatusReport } from './status.js';
import { UserError } from '../util/errors.js';

/** Concurrent connections the endpoint accepts; more are refused by the kernel backlog / closed. */
export const METRICS_MAX_CONNECTIONS = 8;
/** A request must be complete within this (headers and all). */
export const METRICS_REQUEST_TIMEOUT_MS = 5000;
/**
 * A scrape within this long of the last rendering gets that text again: the
 * rendering (~2.5 ms) runs on the daemon's loop, and anyone on the host can
 * connect, so a client scraping in a loop must not take the loop from the
 * heartbeats.
 */
export const METRICS_MIN_RENDER_INTERVAL_MS = 1000;
/** Requests per second answered at all; more get 429 at once (a token bucket, burst of the same size). */
export const METRICS_MAX_REQUESTS_PER_S = 20;

const LATENESS_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface MetricsOptions {
  host: string;
  port: number;
  /** Where the setting came from, for errors: `ha.cf:12: metrics` or `metrics (default)`. */
  origin: string;
  keepaliveMs: number;
  /** The status report, built when a scrape comes (not before). */
  report: () => StatusReport;
  labels: { node: string; peer: string; cluster: string };
  /** Tests: 0 renders every scrape. */
  minRenderIntervalMs?: number;
}

export class Metrics {
  readonly registry = new Registry();
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly report: () => StatusReport;
  private readonly keepaliveMs: number;
  /** Bound children: the hot path does no label lookup. */
  private readonly lateRecv;
  private readonly lateTimer;
  private lastNewHeartbeat?: number;
  private readonly transitions;
  private readonly failovers;
  private readonly fences;
  private readonly peerDeaths;
  private readonly pathChanges;
  /** Set from the status report on each scrape. */
  private readonly scraped: Array<Gauge<string> | Counter<string>> = [];
  private readonly g: ReturnType<Metrics['gauges']>;
  /** Renderings done (a cached answer does not count). */
  scrapes = 0;
  private cached?: { at: number; text: string };
  private tokens = METRICS_MAX_REQUESTS_PER_S;
  private tokensAt = performance.now();

  constructor(private readonly o: MetricsOptions) {
    this.report = o.report;
    this.keepaliveMs = o.keepaliveMs;
    const r = [this.registry];
    const late = new Histogram({
      name: 'tandem_heartbeat_lateness_seconds',
      help: 'received: how much later than keepalive each new heartbeat from the peer arrived; timer: how late the send-and-judge timer ran after its deadline',
      labelNames: ['kind'], buckets: LATENESS_BUCKETS_S, registers: r,
    });
    this.lateRecv = late.labels('received');
    this.lateTimer = late.labels('timer');
    this.transitions = new Counter({ name: 'tandem_group_transitions_total', help: 'Group phase changes on this node, by new phase and reason code', labelNames: ['group', 'phase', 'code'], registers: r });
    this.failovers = new Counter({ name: 'tandem_failovers_total', help: 'Groups taken over by this node from its peer (peer dead/left/failed it, or quorum gave it here), by reason code', labelNames: ['group', 'code'], registers: r });
    this.fences = new Counter({ name: 'tandem_fence_attempts_total', help: 'Fencing attempts by this node, by target, device and result (ok, failed, operator, stale)', labelNames: ['target', 'device', 'result'], registers: r });
    this.peerDeaths = new Counter({ name: 'tandem_peer_deaths_total', help: 'Times the peer was declared dead, by reason (silent, initdead, left)', labelNames: ['reason'], registers: r });
    this.pathChanges = new Counter({ name: 'tandem_path_transitions_total', help: 'Heartbeat path state changes, by path and new state', labelNames: ['path', 'state'], registers: r });
    this.g = this.gauges(r);
    // process_cpu_seconds_total, memory, and nodejs_eventloop_lag_* (perf_hooks.monitorEventLoopDelay, 10 ms resolution).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 50 });
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

  // --- the heartbeat path: cheap updates only ---------------------------------------

  /** A new heartbeat (higher seq) from the peer was accepted at `now` (ms, monotonic). */
  heartbeat(now: number): void {
    const prev = this.lastNewHeartbeat;
    this.lastNewHeartbeat = now;
    if (prev !== undefined) this.lateRecv.observe(Math.max(0, now - prev - this.keepaliveMs) / 1000);
  }

  /** The peer went away: the next heartbeat's gap is not lateness. */
  peerGone(reason: string): void {
    this.lastNewHeartbeat = undefined;
    this.peerDeaths.inc({ reason });
  }

  /** The engine's timer ran `lateMs` after its deadline. */
  timer(lateMs: number): void {
    this.lateTimer.observe(Math.max(0, lateMs) / 1000);
  }

  // --- transitions (not per packet) --------------------------------------------------

  transition(group: string, phase: GroupPhase, code: ReasonCode): void {
    this.transitions.inc({ group, phase, code });
    if (phase === 'starting' && isTakeover(code)) this.failovers.inc({ group, code });
  }

  path(path: string, state: 'up' | 'down'): void {
    this.pathChanges.inc({ path, state });
  }

  fence(target: string, device: string, result: string): void {
    this.fences.inc({ target, device, result });
  }

  // --- scrape ------------------------------------------------------------------------

  /** Sets every scraped gauge from a fresh status report, then renders the registry. */
  async render(): Promise<string> {
    const now = performance.now();
    const c = this.cached;
    if (c && now - c.at < (this.o.minRenderIntervalMs ?? METRICS_MIN_RENDER_INTERVAL_MS)) return c.text;
    const text = await this.renderNow();
    this.cached = { at: now, text };
    return text;
  }

  private async renderNow(): Promise<string> {
    this.scrapes += 1;
    const r = this.report();
    const g = this.g;
    for (const m of this.scraped) m.reset();
    g.info.set({ ...this.o.labels }, 1);
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

  /** Listens; a taken or foreign address is a clear error naming the keyword and the address. */
  async listen(): Promise<void> {
    const server = createServer({
      requestTimeout: METRICS_REQUEST_TIMEOUT_MS, headersTimeout: METRICS_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: 2000, maxHeaderSize: 8192,
    }, (req, res) => this.handle(req, res));
    server.maxConnections = METRICS_MAX_CONNECTIONS;
    server.maxRequestsPerSocket = 100;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.setTimeout(METRICS_REQUEST_TIMEOUT_MS * 2, () => s.destroy());
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (_e, s: Socket) => { if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else s.destroy(); });
    const addr = this.o.host.includes(':') ? `[${this.o.host}]:${this.o.port}` : `${this.o.host}:${this.o.port}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EADDRINUSE' ? 'the address is already in use (another tandem, or another exporter?)'
          : e.code === 'EADDRNOTAVAIL' ? 'it is not an address of this host'
          : e.code === 'EACCES' ? 'permission denied (ports below 1024 need root)'
          : e.message;
        reject(new UserError(`${this.o.origin}: cannot listen on ${addr} for metrics: ${why}; set 'metrics ADDRESS:PORT' or 'metrics off' in ha.cf`));
      });
      server.listen({ host: this.o.host, port: this.o.port, exclusive: true }, () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const close = (code: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', ...headers });
      res.end(text);
    };
    // No request body is read, ever: one that announces one is refused, whatever the path.
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')) {
      close(413, 'tandem metrics: no request body is accepted\n');
      req.socket.destroy();
      return;
    }
    const now = performance.now();
    this.tokens = Math.min(METRICS_MAX_REQUESTS_PER_S, this.tokens + ((now - this.tokensAt) / 1000) * METRICS_MAX_REQUESTS_PER_S);
    this.tokensAt = now;
    if (this.tokens < 1) return close(429, 'tandem metrics: too many requests\n', { 'Retry-After': '1' });
    this.tokens -= 1;
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return close(404, 'tandem metrics: only /metrics is served\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return close(405, 'tandem metrics: only GET\n', { Allow: 'GET, HEAD' });
    this.render().then((text) => {
      res.writeHead(200, { 'Content-Type': this.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (e: Error) => close(500, `tandem metrics: ${e.message}\n`));
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.registry.clear();
    if (!s) return;
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
