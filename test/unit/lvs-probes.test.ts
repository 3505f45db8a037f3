// The health checks against real servers on loopback: TCP, HTTP (status
// codes, digest, virtualhost), HTTPS with a self-signed certificate
// (openssl), MISC_CHECK scripts (exit codes, misc_dynamic, timeout), SMTP
// (aiosmtpd, Debian's python3-aiosmtpd) and DNS (dnsmasq); then the worker:
// verdicts from checks run off the main thread.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createTcp, type AddressInfo } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/lvs/probes.js';
import { CHECKER_NICE, CheckerPool, type CheckChange } from '../../src/lvs/checkers.js';
import type { CheckerSpec } from '../../src/lvs/config.js';
import { need } from '../helpers/tools.js';
import { waitFor } from '../helpers/netns.js';

const work = mkdtempSync(join(tmpdir(), 'tandem-probes-'));
const servers: Array<Server | ReturnType<typeof createTcp>> = [];
const procs: ChildProcess[] = [];
const ports: Record<string, number> = {};
const BODY = 'hello from rs1\n';
const hosts: string[] = [];

const spec = (o: Partial<CheckerSpec>): CheckerSpec => ({
  file: 'k', line: 1, type: 'TCP_CHECK', ip: '127.0.0.1', port: 1, connectTimeoutMs: 1000, retry: 0, delayBeforeRetryMs: 100,
  warmupMs: 0, delayLoopMs: 200, alpha: false, urls: [], httpVersion: '1.0', heloName: 'tandem-test', dns: { type: 'A', name: 'www.example.com' }, ...o,
});

const listen = (s: Server | ReturnType<typeof createTcp>): Promise<number> => new Promise((r) => {
  servers.push(s);
  s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port));
});

function freePort(): Promise<number> {
  return new Promise((r) => { const s = createTcp(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => r(p)); }); });
}

beforeAll(async () => {
  need('openssl', 'dnsmasq', '/usr/bin/python3', '/usr/lib/python3/dist-packages/aiosmtpd');
  ports.tcp = await listen(createTcp((c) => c.destroy()));
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    hosts.push(req.headers.host ?? '');
    if (req.url === '/index.html') res.end(BODY);
    else { res.statusCode = req.url === '/moved' ? 301 : 500; res.end('no'); }
  };
  ports.http = await listen(createHttp(handler));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tandem-test',
    '-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  ports.https = await listen(createHttps({ key: readFileSync(join(work, 'key.pem')), cert: readFileSync(join(work, 'cert.pem')) }, handler));
  ports.smtp = await freePort();
  procs.push(spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${ports.smtp}`], { stdio: 'ignore' }));
  ports.dns = await freePort();
  procs.push(spawn('dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1',
    `--port=${ports.dns}`, '--address=/www.example.com/10.160.0.80', `--pid-file=${join(work, 'dnsmasq.pid')}`, '--user=root'], { stdio: 'ignore' }));
  await waitFor('aiosmtpd and dnsmasq answering', async () => {
    const s = await probe(spec({ type: 'SMTP_CHECK', port: ports.smtp! }));
    const d = await probe(spec({ type: 'DNS_CHECK', port: ports.dns!, connectTimeoutMs: 200 }));
    return s.ok && d.ok ? true : undefined;
  }, 10_000, 100);
}, 20_000);

afterAll(() => {
  for (const s of servers) s.close();
  for (const p of procs) p.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('health checks against real servers', () => {
  it('TCP_CHECK: connected, or why not', async () => {
    expect(await probe(spec({ port: ports.tcp! }))).toEqual({ ok: true, reason: 'connected' });
    expect(await probe(spec({ port: await freePort() }))).toEqual({ ok: false, reason: 'connection refused' });
  });

  it('HTTP_GET: status codes (default 2xx), digest, virtualhost; SSL_GET over TLS with a self-signed certificate', async () => {
    const md5 = createHash('md5').update(BODY).digest('hex');
    const url = (path: string, o: Partial<CheckerSpec['urls'][number]> = {}) => ({ file: 'k', line: 1, path, statusCodes: [], ...o });
    expect(await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/index.html', { digest: md5 })], virtualhost: 'www.example.com' })))
      .toEqual({ ok: true, reason: '/index.html: HTTP 200, digest matches' });
    expect(hosts.at(-1)).toBe('www.example.com');
    expect(await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/index.html', { digest: '0'.repeat(32) })] })))
      .toEqual({ ok: false, reason: `/index.html: digest ${md5}, expected ${'0'.repeat(32)}` });
    expect(hosts.at(-1)).toBe(`127.0.0.1:${ports.http}`);
    expect((await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/broken')] }))).reason).toBe('/broken: HTTP 500');
    expect((await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/moved')] }))).ok).toBe(false);
    expect((await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/moved', { statusCodes: [[300, 302]] })] }))).ok).toBe(true);
    // Every url must pass.
    expect((await probe(spec({ type: 'HTTP_GET', port: ports.http!, urls: [url('/index.html'), url('/broken')] }))).ok).toBe(false);
    expect(await probe(spec({ type: 'SSL_GET', port: ports.https!, urls: [url('/index.html', { digest: md5 })] })))
      .toEqual({ ok: true, reason: '/index.html: HTTP 200, digest matches' });
    expect((await probe(spec({ type: 'SSL_GET', port: ports.http!, urls: [url('/index.html')] }))).ok).toBe(false);
  });

  it('MISC_CHECK: exit 0 up, 1 down, misc_dynamic 2..255 up with weight code - 2, a timeout is down', async () => {
    const misc = (cmd: string[], dynamic = false, timeoutMs = 2000) => spec({ type: 'MISC_CHECK', misc: { command: { file: 'k', line: 1, command: cmd.join(' '), argv: cmd }, timeoutMs, dynamic } });
    expect(await probe(misc(['/bin/true']))).toEqual({ ok: true, reason: 'exit 0' });
    expect(await probe(misc(['/bin/false']))).toEqual({ ok: false, reason: 'exit 1' });
    expect(await probe(misc(['/bin/sh', '-c', 'exit 7'], true))).toEqual({ ok: true, reason: 'exit 7: weight 5', weight: 5 });
    expect(await probe(misc(['/bin/sh', '-c', 'exit 7']))).toEqual({ ok: false, reason: 'exit 7' });
    expect(await probe(misc(['/bin/sleep', '5'], false, 300))).toEqual({ ok: false, reason: 'timed out after 0.3 s' });
  });

  it('SMTP_CHECK against aiosmtpd; DNS_CHECK against dnsmasq', async () => {
    expect(await probe(spec({ type: 'SMTP_CHECK', port: ports.smtp! }))).toEqual({ ok: true, reason: '220, HELO 250' });
    expect(await probe(spec({ type: 'SMTP_CHECK', port: ports.http!, connectTimeoutMs: 300 }))).toMatchObject({ ok: false });
    expect(await probe(spec({ type: 'DNS_CHECK', port: ports.dns! }))).toEqual({ ok: true, reason: 'A www.example.com: NOERROR, 1 answers' });
    expect(await probe(spec({ type: 'DNS_CHECK', port: await freePort(), connectTimeoutMs: 300 }))).toMatchObject({ ok: false });
  });

  it('the worker runs the checks and posts only changes: a server that stops answering goes down, and comes back', async () => {
    const changes: CheckChange[] = [];
    const tcp = createTcp((c) => c.destroy());
    const port = await new Promise<number>((r) => tcp.listen(0, '127.0.0.1', () => r((tcp.address() as AddressInfo).port)));
    const pool = new CheckerPool([{ id: 1, spec: spec({ port, delayLoopMs: 100, retry: 1, delayBeforeRetryMs: 50 }) }, { id: 2, spec: spec({ port: ports.tcp! }) }],
      (c) => changes.push(...c), (e) => { throw e; });
    try {
      await waitFor('first checks', async () => { const st = await pool.status(); return st.checks.length === 2 && st.checks.every((c) => c.runs > 0) ? true : undefined; }, 5000, 50);
      expect(changes).toEqual([]);
      tcp.close();
      await waitFor('down', async () => (changes.length ? true : undefined), 5000, 20);
      expect(changes).toEqual([{ id: 1, up: false, ok: false, reason: 'connection refused' }]);
      const st = await pool.status();
      expect(st.checks.find((c) => c.id === 1)).toMatchObject({ up: false, last: { ok: false, reason: 'connection refused' } });
      expect(st.checks.find((c) => c.id === 2)).toMatchObject({ up: true, last: { ok: true, reason: 'connected' } });
      const again = createTcp((c) => c.destroy());
      await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
      servers.push(again);
      await waitFor('up again', async () => (changes.length > 1 ? true : undefined), 5000, 20);
      expect(changes[1]).toEqual({ id: 1, up: true, ok: true, reason: 'connected' });
    } finally {
      await pool.stop();
    }
  });

  it('the worker thread runs below the main thread: nice 10 by default, checker_priority\'s when given; the main thread is untouched', async () => {
    const before = getPriority(0);
    for (const [opts, nice] of [[{}, CHECKER_NICE], [{ nice: 15 }, 15]] as const) {
      const pool = new CheckerPool([{ id: 1, spec: spec({ port: ports.tcp! }) }], () => undefined, (e) => { throw e; }, opts);
      try {
        expect((await pool.status()).nice).toBe(nice);
        expect(getPriority(0)).toBe(before);
      } finally {
        await pool.stop();
      }
    }
    expect(CHECKER_NICE).toBe(10);
  });
});
