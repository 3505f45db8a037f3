// Prometheus metrics over a small, bounded HTTP server (docs/metrics.md).
// The heartbeat path only records into plain counters and a fixed histogram
// (a few array writes); everything else is read from the status report when
// a scrape asks for it. prom-client is loaded at the first scrape
// (metrics-render.ts), so a daemon nobody scrapes neither holds nor runs it.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isTakeover, type GroupPhase, type ReasonCode } from '../resources/view.js';
import { LatencyHistogram } from '../util/histogram.js';
import type { MetricsData, Renderer } from './metrics-render.js';
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
  /** The status report, built when a scrape comes (not before); absent for a daemon without a Heartbeat pair (`run -f`). */
  report?: () => StatusReport;
  /** More text in the exposition format (the LVS services), appended per scrape. */
  extra?: () => Promise<string>;
  /** What to change when the address cannot be had. */
  hint?: string;
  labels: { node: string; peer: string; cluster: string };
  /** Tests: 0 renders every scrape. */
  minRenderIntervalMs?: number;
}

export class Metrics {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly keepaliveMs: number;
  private lastNewHeartbeat?: number;
  readonly data: MetricsData;
  private renderer?: Renderer;
  /** Renderings done (a cached answer does not count). */
  scrapes = 0;
  private cached?: { at: number; text: string; contentType: string };
  private tokens = METRICS_MAX_REQUESTS_PER_S;
  private tokensAt = performance.now();

  constructor(private readonly o: MetricsOptions) {
    this.keepaliveMs = o.keepaliveMs;
    const coarse = LATENESS_BUCKETS_S.map((s) => s * 1000);
    this.data = { lateness: { received: new LatencyHistogram(coarse), timer: new LatencyHistogram(coarse) }, counters: new Map() };
  }

  private count(name: string, ...labels: string[]): void {
    let m = this.data.counters.get(name);
    if (!m) this.data.counters.set(name, (m = new Map()));
    const k = labels.join('\0');
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  // --- the heartbeat path: cheap updates only ---------------------------------------

  /** A new heartbeat (higher seq) from the peer was accepted at `now` (ms, monotonic). */
  heartbeat(now: number): void {
    const prev = this.lastNewHeartbeat;
    this.lastNewHeartbeat = now;
    if (prev !== undefined) this.data.lateness.received.record(now - prev - this.keepaliveMs);
  }

  /** The peer went away: the next heartbeat's gap is not lateness. */
  peerGone(reason: string): void {
    this.lastNewHeartbeat = undefined;
    this.count('peerDeaths', reason);
  }

  /** The engine's timer ran `lateMs` after its deadline. */
  timer(lateMs: number): void {
    this.data.lateness.timer.record(lateMs);
  }

  // --- transitions (not per packet) --------------------------------------------------

  transition(group: string, phase: GroupPhase, code: ReasonCode): void {
    this.count('transitions', group, phase, code);
    if (phase === 'starting' && isTakeover(code)) this.count('failovers', group, code);
  }

  path(path: string, state: 'up' | 'down'): void {
    this.count('pathChanges', path, state);
  }

  fence(target: string, device: string, result: string): void {
    this.count('fences', target, device, result);
  }

  // --- scrape ------------------------------------------------------------------------

  /** The registry's text for a fresh status report (cached for the minimum interval). */
  async render(): Promise<string> {
    return (await this.rendered()).text;
  }

  private async rendered(): Promise<{ text: string; contentType: string }> {
    const now = performance.now();
    const c = this.cached;
    if (c && now - c.at < (this.o.minRenderIntervalMs ?? METRICS_MIN_RENDER_INTERVAL_MS)) return c;
    this.scrapes += 1;
    const extra = this.o.extra ? await this.o.extra() : '';
    if (!this.o.report) {
      this.cached = { at: now, text: extra, contentType: 'text/plain; version=0.0.4; charset=utf-8' };
      return this.cached;
    }
    this.renderer ??= new (await import('./metrics-render.js')).Renderer(this.o.labels);
    const text = await this.renderer.render(this.o.report(), this.data);
    this.cached = { at: now, text: text + extra, contentType: this.renderer.contentType };
    return this.cached;
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
        reject(new UserError(`${this.o.origin}: cannot listen on ${addr} for metrics: ${why}; ${this.o.hint ?? "set 'metrics ADDRESS:PORT' or 'metrics off' in ha.cf"}`));
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
    this.rendered().then(({ text, contentType }) => {
      res.writeHead(200, { 'Content-Type': contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (e: Error) => close(500, `tandem metrics: ${e.message}\n`));
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.renderer?.close();
    if (!s) return;
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
