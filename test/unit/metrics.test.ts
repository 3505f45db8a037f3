// The metrics endpoint's configuration and bounds, and `tandem status
// --watch` option parsing. The pair-level behaviour (scraped over real HTTP
// inside a node's namespace across a failover) is test/netns/metrics.test.ts.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createTcpServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWatchInterval, watch } from '../../src/cli/watch.js';
import { parseHaCf } from '../../src/config/hacf.js';
import { metricsListen } from '../../src/config/metrics.js';
import { Metrics, METRICS_MAX_CONNECTIONS, METRICS_MAX_REQUESTS_PER_S } from '../../src/daemon/metrics.js';
import type { StatusReport } from '../../src/daemon/status.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'tandem-metrics-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BASE = 'keepalive 1\ndeadtime 10\nbcast lo\nnode mx1 mx2\n';

describe('ha.cf metrics', () => {
  it('is on by default, on 127.0.0.1:9694 only', () => {
    const r = parseHaCf(BASE, 'ha.cf');
    expect(r.issues).toEqual([]);
    expect(r.config!.metrics).toBeUndefined();
    expect(metricsListen(r.config!.metrics)).toEqual({ host: '127.0.0.1', port: 9694 });
  });

  it('takes off, PORT, IPv4:PORT and [IPv6]:PORT', () => {
    const one = (v: string) => {
      const r = parseHaCf(`${BASE}metrics ${v}\n`, 'ha.cf');
      expect(r.issues).toEqual([]);
      return metricsListen(r.config!.metrics);
    };
    expect(one('off')).toBeUndefined();
    expect(one('9700')).toEqual({ host: '127.0.0.1', port: 9700 });
    expect(one('10.1.2.3:9100')).toEqual({ host: '10.1.2.3', port: 9100 });
    expect(one('0.0.0.0:9694')).toEqual({ host: '0.0.0.0', port: 9694 });
    expect(one('[::1]:9694')).toEqual({ host: '::1', port: 9694 });
  });

  it('names the line of a bad value, a second line, or a missing value', () => {
    const issues = (lines: string) => parseHaCf(`${BASE}${lines}`, 'ha.cf').issues.map((i) => `${i.line}: ${i.message}`);
    expect(issues('metrics localhost:9694\n')).toEqual([
      "5: 'metrics' must be off, PORT or ADDRESS:PORT with a numeric IPv4 or [IPv6] address, e.g. 127.0.0.1:9694 (got 'localhost:9694')",
    ]);
    expect(issues('metrics 127.0.0.1:0\n')).toEqual(["5: 'metrics' port 0 must be from 1 to 65535"]);
    expect(issues('metrics 127.0.0.1:70000\n')).toEqual(["5: 'metrics' port 70000 must be from 1 to 65535"]);
    expect(issues('metrics 300.0.0.1:9694\n')[0]).toMatch(/^5: 'metrics' must be off, PORT or ADDRESS:PORT/);
    expect(issues('metrics [1::2::3]:9694\n')[0]).toMatch(/^5: 'metrics' must be off, PORT or ADDRESS:PORT/);
    expect(issues('metrics [fe80::1%eth0]:9694\n')[0]).toMatch(/^5: 'metrics' must be off, PORT or ADDRESS:PORT/);
    expect(issues('metrics\n')).toEqual(["5: 'metrics' takes exactly one value (off or ADDRESS:PORT), got 0"]);
    expect(issues('metrics off\nmetrics 9700\n')).toEqual(["6: 'metrics' is given more than once (first at line 5)"]);
  });

  it('check-config prints ha.cf:LINE for it', () => {
    const d = join(work, 'cc');
    mkdirSync(d);
    writeFileSync(join(d, 'ha.cf'), `${BASE}metrics 127.0.0.1:99999\n`);
    writeFileSync(join(d, 'authkeys'), 'auth 1\n1 sha256 metrics\n', { mode: 0o600 });
    writeFileSync(join(d, 'haresources'), 'mx1 10.0.0.5\n');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), 'check-config', '-c', d], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${join(d, 'ha.cf')}:5: 'metrics' port 99999 must be from 1 to 65535\n`);
  });

  it('run: a port in use is one clear line naming the keyword, the line and the address, not a crash', async () => {
    const busy = createTcpServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const d = join(work, 'busy');
      mkdirSync(d);
      writeFileSync(join(d, 'ha.cf'), `${BASE}metrics 127.0.0.1:${port}\n`);
      writeFileSync(join(d, 'authkeys'), 'auth 1\n1 sha256 metrics\n', { mode: 0o600 });
      writeFileSync(join(d, 'haresources'), 'mx1 IPaddr2::10.0.0.5/24/lo\n');
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), 'run', '-c', d, '--node', 'mx1',
        '--state-dir', join(work, 'busy-state'), '--run-dir', join(work, 'busy-run')], { encoding: 'utf8', timeout: 30_000 });
      // The state dir is new: its one INFO line comes first; the error is the last line, alone.
      expect(r.stderr.split('\n').filter((l) => l && !/ INFO  state dir .* is new/.test(l)).join('\n') + '\n').toBe(`tandem: ${join(d, 'ha.cf')}:5: metrics: cannot listen on 127.0.0.1:${port} for metrics: the address is already in use (another tandem, or another exporter?); set 'metrics ADDRESS:PORT' or 'metrics off' in ha.cf\n`);
      expect(r.status).toBe(1);
    } finally {
      busy.close();
    }
  });
});

describe('tandem status --watch SECONDS', () => {
  it('takes 0.1 to 3600 seconds', () => {
    expect(parseWatchInterval('1')).toBe(1);
    expect(parseWatchInterval('0.2')).toBe(0.2);
    expect(parseWatchInterval('.5')).toBe(0.5);
    expect(parseWatchInterval('3600')).toBe(3600);
    for (const bad of ['0', '0.05', '-1', 'abc', '', '1e3', '5s', 'Infinity', 'NaN', '3601', '0x10']) {
      expect(() => parseWatchInterval(bad), bad).toThrow(`'${bad}' is not a number of seconds from 0.1 to 3600`);
    }
  });

  it('a bad value is one line on stderr and exit 2; no daemon is asked', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), 'status', '--watch', 'soon', '--run-dir', join(work, 'none')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("error: option '--watch [seconds]' argument 'soon' is invalid. 'soon' is not a number of seconds from 0.1 to 3600\n");
    expect(r.stdout).toBe('');
  });
});

describe('watch() on a terminal', () => {
  it('redraws in place with the cursor hidden, shows a daemon that stopped answering, and restores the cursor on SIGINT with 0', async () => {
    const writes: string[] = [];
    const out = { isTTY: true, write: (x: string) => { writes.push(x); return true; } };
    let n = 0;
    const snapshot = async () => {
      n += 1;
      if (n === 2 || n === 3) throw new Error('cannot reach the daemon');
      return `snapshot ${n}\n`;
    };
    const listeners = process.listenerCount('SIGINT');
    const done = watch({ intervalS: 0.1, snapshot, out });
    await new Promise((r) => setTimeout(r, 450));
    process.emit('SIGINT');
    expect(await done).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(listeners);
    expect(writes[0]).toBe('\x1b[?25l');
    expect(writes.at(-1)).toBe('\x1b[?25h');
    const frames = writes.slice(1, -1);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    for (const f of frames) expect(f.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(frames[0]).toMatch(/\(every 0\.1 s; Ctrl-C ends\)\n\nsnapshot 1\n$/);
    // Not answering: the line, and the last good picture below it, marked.
    expect(frames[1]).toMatch(/daemon not answering since (\S+) \(cannot reach the daemon\); trying again every 0\.1 s\n\nlast answer before that:\nsnapshot 1\n$/);
    const since = (f: string) => /since (\S+) /.exec(f)?.[1];
    expect(since(frames[2]!)).toBe(since(frames[1]!));
    expect(frames[3]).toMatch(/\n\nsnapshot 4\n$/);
  });
});

/** A minimal report: the endpoint's bounds do not depend on its content. */
const REPORT = {
  generation: 7, nodes: [{ name: 'mx1', self: true, state: 'active', holds: [] }, { name: 'mx2', self: false, state: 'up', generation: 9, holds: [] }],
  paths: [{ name: 'bcast lo', state: 'up', loss: { received: 10, lost: 1, percent: 10, windowS: 60 }, latency: { oneWayMs: 0.2 } }],
  counters: { sent: 5, received: 10, dropped: { auth: 3, malformed: 0 } }, groups: [], quorum: null, fencing: null, auth: null,
} as unknown as StatusReport;

describe('the metrics endpoint', () => {
  let m: Metrics;
  let port = 0;
  beforeAll(async () => {
    m = new Metrics({ host: '127.0.0.1', port: 0, origin: 'test', keepaliveMs: 100, report: () => REPORT, labels: { node: 'mx1', peer: 'mx2', cluster: 'c' }, minRenderIntervalMs: 0 });
    await m.listen();
    port = m.address!.port;
  });
  afterAll(() => m.close());

  const http = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; text: string; headers: Record<string, unknown> }>((res, rej) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (r) => {
        let text = '';
        r.on('data', (d: Buffer) => { text += d.toString(); });
        r.on('end', () => res({ status: r.statusCode!, text, headers: r.headers }));
      });
      req.on('error', rej);
      req.end(body);
    });

  it('serves GET /metrics in the Prometheus text format, rendered per scrape', async () => {
    const before = m.scrapes;
    const r = await http('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toContain('tandem_path_up{path="bcast lo"} 1');
    expect(r.text).toContain('tandem_path_loss_ratio{path="bcast lo"} 0.1');
    expect(r.text).toContain('tandem_path_lost_heartbeats_total{path="bcast lo"} 1');
    expect(r.text).toContain('tandem_dropped_datagrams_total{reason="auth"} 3');
    expect(r.text).toContain('tandem_generation 7');
    expect(r.text).toContain('tandem_peer_generation 9');
    expect(r.text).toContain('tandem_info{node="mx1",peer="mx2",cluster="c"} 1');
    expect(r.text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(m.scrapes).toBe(before + 1);
  });

  it('counts on the heartbeat path without rendering: lateness, transitions, failovers', async () => {
    const before = m.scrapes;
    m.heartbeat(1000);
    m.heartbeat(1100);    // on time
    m.heartbeat(1350);    // 150 ms late
    m.timer(3);
    m.transition('10.0.0.5', 'starting', 'peer-dead');
    m.transition('10.0.0.5', 'running', 'peer-dead');
    m.transition('10.0.0.6', 'starting', 'preferred');
    expect(m.scrapes).toBe(before);
    const t = (await http('GET', '/metrics')).text;
    expect(t).toContain('tandem_heartbeat_lateness_seconds_count{kind="received"} 2');
    expect(t).toContain('tandem_heartbeat_lateness_seconds_bucket{le="0.1",kind="received"} 1');
    expect(t).toContain('tandem_heartbeat_lateness_seconds_bucket{le="0.25",kind="received"} 2');
    expect(t).toContain('tandem_heartbeat_lateness_seconds_count{kind="timer"} 1');
    expect(t).toMatch(/^# HELP tandem_heartbeat_lateness_seconds received: how much later/m);
    expect(t).toContain('# TYPE tandem_heartbeat_lateness_seconds histogram');
    expect(t).toContain('tandem_failovers_total{group="10.0.0.5",code="peer-dead"} 1');
    expect(t).not.toContain('tandem_failovers_total{group="10.0.0.6"');
    expect(t).toContain('tandem_group_transitions_total{group="10.0.0.6",phase="starting",code="preferred"} 1');
  });

  it('serves nothing else: other paths 404, other methods 405, a body 413', async () => {
    expect((await http('GET', '/')).status).toBe(404);
    expect((await http('GET', '/metrics/../debug')).status).toBe(404);
    const post = await http('POST', '/metrics');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await http('DELETE', '/metrics')).status).toBe(405);
    await expect(http('GET', '/metrics', 'x'.repeat(10), { 'Content-Length': '10' })).resolves.toMatchObject({ status: 413 });
  });

  it('a client scraping in a loop cannot take the daemon\'s loop: one rendering per second, 429 past the request budget', async () => {
    const busy = new Metrics({ host: '127.0.0.1', port: 0, origin: 'test', keepaliveMs: 100, report: () => REPORT, labels: { node: 'mx1', peer: 'mx2', cluster: 'c' } });
    await busy.listen();
    const get = () => new Promise<number>((res, rej) => {
      request({ host: '127.0.0.1', port: busy.address!.port, path: '/metrics', agent: false }, (r) => { r.resume(); r.on('end', () => res(r.statusCode!)); }).on('error', rej).end();
    });
    try {
      const codes: number[] = [];
      for (let i = 0; i < METRICS_MAX_REQUESTS_PER_S + 10; i++) codes.push(await get());
      expect(busy.scrapes).toBe(1);   // rendered once; the rest got the same text
      expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(METRICS_MAX_REQUESTS_PER_S);
      expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await get()).toBe(200);
      expect(busy.scrapes).toBe(2);
    } finally {
      await busy.close();
    }
  });

  it('is bounded: at most METRICS_MAX_CONNECTIONS connections at once; an idle one does not keep a slot', async () => {
    const socks = Array.from({ length: METRICS_MAX_CONNECTIONS + 4 }, () => connect(port, '127.0.0.1'));
    const closed = await Promise.all(socks.map((s) => new Promise<boolean>((r) => {
      s.on('error', () => r(true));
      s.on('close', () => r(true));
      setTimeout(() => r(false), 500);
    })));
    // The connections past the limit are closed at once; the rest stay open (idle, no request yet).
    expect(closed.filter(Boolean).length).toBe(4);
    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await http('GET', '/metrics')).status).toBe(200);
  });
});
