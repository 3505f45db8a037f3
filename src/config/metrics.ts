// The `metrics` ha.cf keyword (tandem extension): where the Prometheus
// endpoint listens, or `off`. Absent = on, on 127.0.0.1 only (docs/metrics.md).

import type { MetricsSetting } from './types.js';

export type { MetricsSetting };

/**
 * 9694: Heartbeat's port 694 behind the 9 of the range Prometheus exporters
 * use (9100-9999), easy to remember beside udpport 694 and away from the
 * common ones (9090 Prometheus, 9093 Alertmanager, 9100 node_exporter).
 */
export const DEFAULT_METRICS_PORT = 9694;
export const DEFAULT_METRICS_HOST = '127.0.0.1';


/** Parses the value of a `metrics` line: `off`, `HOST:PORT` (an IPv4 or [IPv6] literal) or `PORT`. */
export function parseMetricsValue(v: string): { host: string; port: number } | 'off' | { error: string } {
  if (v === 'off' || v === 'no' || v === 'false') return 'off';
  const bad = { error: `'metrics' must be off, PORT or ADDRESS:PORT with a numeric IPv4 or [IPv6] address, e.g. ${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT} (got '${v}')` };
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/.exec(v) ?? /^()()(\d{1,5})$/.exec(v);
  if (!m) return bad;
  const host = m[1] || m[2] || DEFAULT_METRICS_HOST;
  if (m[1] && m[1].split('.').some((o) => Number(o) > 255)) return bad;
  if (m[2] && !validIpv6(m[2])) return bad;
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) return { error: `'metrics' port ${m[3]} must be from 1 to 65535` };
  return { host, port };
}

/** Where to listen, or undefined for off; the default when ha.cf has no metrics line. */
export function metricsListen(s: MetricsSetting | undefined): { host: string; port: number } | undefined {
  if (!s) return { host: DEFAULT_METRICS_HOST, port: DEFAULT_METRICS_PORT };
  return s.off ? undefined : { host: s.host, port: s.port };
}

/** WHATWG URL parsing checks an IPv6 literal exactly, without node:net (this module stays pure). */
function validIpv6(h: string): boolean {
  try {
    return new URL(`http://[${h}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}
