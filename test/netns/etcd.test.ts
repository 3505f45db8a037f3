// The etcd backend against a real etcd (Debian's etcd-server, /usr/bin/etcd)
// started on loopback with random ports and a temp data dir: two nodes
// contend for one group key, a holder that stops renewing is replaced only
// after the TTL, and a frozen etcd (SIGSTOP) makes the holder give the group
// up by its own deadline, before etcd's TTL can run out.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestContext } from '../../src/quorum/backend.js';
import { LeaseDriver, type LeaseDriverEvent } from '../../src/quorum/driver.js';
import { EtcdBackend, parseEtcdUrl } from '../../src/quorum/etcd.js';
import { localExpiry, type LeaseConfig } from '../../src/quorum/lease.js';
import { UserError } from '../../src/util/errors.js';
import { missingToolMessage, need, TOOL_PACKAGES } from '../helpers/tools.js';

const ETCD = '/usr/bin/etcd';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TTL = 2000;   // etcd's minimum; whole seconds
const LEASE: Omit<LeaseConfig, 'group'> = { ttlMs: TTL, renewFraction: 1 / 3, driftMargin: 0.01, safetyMs: 200, retryMs: 200 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

class Etcd {
  proc?: ChildProcess;
  dir = '';
  client = '';
  log = '';

  async start(): Promise<void> {
    if (!existsSync(ETCD)) throw new Error(NOT_INSTALLED);
    this.dir = mkdtempSync(join(tmpdir(), 'tdq-etcd-'));
    const cport = await freePort();
    const pport = await freePort();
    this.client = `http://127.0.0.1:${cport}`;
    const peer = `http://127.0.0.1:${pport}`;
    this.proc = spawn(ETCD, [
      '--name', 'tdq1', '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.client, '--advertise-client-urls', this.client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `tdq1=${peer}`, '--initial-cluster-state', 'new',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000); });
    const exited = new Promise<never>((_, rej) => this.proc!.once('exit', (c) => rej(new Error(`etcd exited (${c}): ${this.log}`))));
    await Promise.race([exited, until('etcd to be healthy', async () => {
      const r = await fetch(`${this.client}/health`).then((x) => x.json() as Promise<{ health?: string }>).catch(() => undefined);
      return r?.health === 'true' ? true : undefined;
    }, 20_000)]);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const r = await fetch(`${this.client}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return (await r.json()) as T;
  }

  async keyValue(key: string): Promise<string | undefined> {
    const r = await this.post<{ kvs?: Array<{ value?: string }> }>('/v3/kv/range', { key: Buffer.from(key).toString('base64') });
    const v = r.kvs?.[0]?.value;
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString();
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await gone;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

class Node {
  readonly events: Array<LeaseDriverEvent & { at: number }> = [];
  readonly driver: LeaseDriver;
  readonly backend: EtcdBackend;
  readonly warnings: string[] = [];
  constructor(readonly name: string, url: string) {
    this.driver = new LeaseDriver({ leases: [{ group: 'vip', ...LEASE }], onEvent: (ev) => this.events.push({ ...ev, at: performance.now() }) });
    this.backend = EtcdBackend.open({
      url, cluster: 'c1', node: name, requestTimeoutMs: 500,
      onReply: (r) => this.driver.onReply(r), onWarn: (m) => this.warnings.push(m),
    });
    this.driver.attach(this.backend);
  }
  want(ctx: Partial<RequestContext> = {}): void {
    this.driver.update('vip', true, { holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1, graceMs: 0, ...ctx });
  }
  held(): boolean {
    return this.driver.view('vip')?.status === 'held';
  }
  firstAt(kind: LeaseDriverEvent['kind'], after = 0): number | undefined {
    return this.events.find((e) => e.kind === kind && e.at >= after)?.at;
  }
  /** Send time of the request whose grant set the current deadline (the last request before the last grant). */
  lastGrantedSend(): number {
    const h = this.driver.history;
    const g = h.map((x) => x.what).lastIndexOf('granted');
    const r = h.slice(0, g).map((x) => x.what).lastIndexOf('request');
    return h[r]!.at;
  }
  async crash(): Promise<void> {
    this.driver.close();
    await this.backend.close();
  }
}

const NOT_INSTALLED = missingToolMessage(ETCD, TOOL_PACKAGES.etcd);

// Its own test, so a missing etcd shows up as a failed test, not only as a failed hook.
it('etcd-server is installed', () => {
  need('etcd');
});

describe('etcd URL parsing', () => {
  it('accepts endpoints and a prefix, and names the bad part otherwise', () => {
    expect(parseEtcdUrl('etcd://10.0.0.9:2379/tandem')).toEqual({ endpoints: ['http://10.0.0.9:2379'], prefix: '/tandem' });
    expect(parseEtcdUrl('etcd://a:1,b:2')).toEqual({ endpoints: ['http://a:1', 'http://b:2'], prefix: '/tandem' });
    expect(() => parseEtcdUrl('http://a:1/x')).toThrow(UserError);
    expect(() => parseEtcdUrl('etcd://a/x')).toThrow("arbiter 'etcd://a/x': 'a' is not HOST:PORT");
  });
});

describe.sequential('etcd backend against a real etcd', () => {
  const etcd = new Etcd();
  const nodes: Node[] = [];
  let url = '';
  const node = (name: string) => {
    const n = new Node(name, url);
    nodes.push(n);
    return n;
  };

  beforeAll(async () => {
    await etcd.start();
    url = `etcd://${etcd.client.replace('http://', '')}/tdq`;
  }, 60_000);
  afterAll(async () => {
    for (const n of nodes) await n.crash().catch(() => undefined);
    await etcd.stop();
  });

  it('Debian 12 etcd 3.4 serves the gateway at /v3 and /v3beta (not /v3alpha); the backend picks /v3', async () => {
    const version = await fetch(`${etcd.client}/version`).then((r) => r.json() as Promise<{ etcdserver: string }>);
    expect(version.etcdserver).toMatch(/^3\.4\./);
    for (const p of ['/v3', '/v3beta']) {
      const r = await fetch(`${etcd.client}${p}/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('x').toString('base64') }) });
      expect(r.status).toBe(200);
    }
    expect((await fetch(`${etcd.client}/v3alpha/kv/range`, { method: 'POST', body: '{}' })).status).toBe(404);
    const a = node('probe');
    a.want();
    await until('probe to hold', () => (a.held() ? true : undefined));
    expect(a.backend.apiPrefix).toBe('/v3');
    a.driver.releaseAll({ leaving: true });
    await until('the key to be deleted by the revoke', async () => ((await etcd.keyValue('/tdq/c1/vip')) === undefined ? true : undefined));
  });

  it('two nodes contend for one group key: exactly one holds it, and the key names it', async () => {
    const alpha = node('alpha');
    const beta = node('beta');
    alpha.want();
    beta.want();
    const first = await until('someone to hold', () => (alpha.held() || beta.held() ? true : undefined));
    expect(first).toBe(true);
    for (let i = 0; i < 60; i++) {   // 3 s of renewals
      expect(alpha.held() && beta.held()).toBe(false);
      await sleep(50);
    }
    const holder = alpha.held() ? alpha : beta;
    const other = holder === alpha ? beta : alpha;
    expect(holder.held()).toBe(true);
    expect(other.driver.view('vip')).toMatchObject({ status: 'denied', holder: holder.name });
    expect(await etcd.keyValue('/tdq/c1/vip')).toBe(holder.name);

    // The holder's keep-alive stops (process gone, nothing revoked): the other gets it only after the TTL.
    const lastSent = holder.driver.history.filter((h) => h.what === 'request').at(-1)!.at;
    await holder.crash();
    const gained = await until('the other node to get it', () => other.firstAt('lease-held'), 10_000);
    expect(gained - lastSent).toBeGreaterThanOrEqual(TTL);
    expect(await etcd.keyValue('/tdq/c1/vip')).toBe(other.name);
    console.log(`[etcd] holder's keep-alive stopped: ${other.name} held the key ${(gained - lastSent).toFixed(0)} ms after the holder's last keep-alive was sent (TTL ${TTL} ms)`);
    other.driver.releaseAll({ leaving: true });
    await until('release', async () => ((await etcd.keyValue('/tdq/c1/vip')) === undefined ? true : undefined));
    await other.crash();
  });

  it('etcd frozen with SIGSTOP: the holder releases by its own deadline, before etcd\'s TTL from its last keep-alive', async () => {
    const alpha = node('alpha2');
    const beta = node('beta2');
    alpha.want({ holds: true });
    await until('alpha2 to hold', () => (alpha.held() ? true : undefined));
    beta.want();
    await until('beta2 refused', () => (beta.driver.view('vip')?.status === 'denied' ? true : undefined));
    await sleep(1000);
    const frozenAt = performance.now();
    etcd.signal('SIGSTOP');
    try {
      const lost = await until('alpha2 to give the lease up', () => alpha.firstAt('lease-lost', frozenAt), 5000);
      const sent = alpha.lastGrantedSend();
      // etcd counts the TTL from when it received that keep-alive, which is after it was sent.
      const etcdExpiry = sent + TTL;
      expect(lost).toBeLessThan(etcdExpiry);
      expect(lost).toBeGreaterThanOrEqual(localExpiry({ group: 'vip', ...LEASE }, sent, TTL) - 1);
      expect(alpha.warnings.join('\n')).toMatch(/aborted|timeout/i);
      console.log(`[etcd] SIGSTOP at +${(frozenAt - sent).toFixed(0)} ms after the last acknowledged keep-alive was sent; ` +
        `holder released at +${(lost - sent).toFixed(0)} ms, etcd's TTL ends no earlier than +${TTL} ms (margin ${(etcdExpiry - lost).toFixed(0)} ms)`);
      await sleep(Math.max(0, etcdExpiry + 300 - performance.now()));
      expect(beta.held()).toBe(false);   // nobody can get anything from a frozen etcd
    } finally {
      etcd.signal('SIGCONT');
    }
    const resumedAt = performance.now();
    // etcd refuses to renew an expired lease, so alpha2 cannot simply carry
    // on: both now ask afresh and exactly one wins the key.
    const gained = await until('someone to hold the key after etcd resumed', () => beta.firstAt('lease-held', resumedAt) ?? alpha.firstAt('lease-held', resumedAt), 10_000);
    for (let i = 0; i < 20; i++) {
      expect(alpha.held() && beta.held()).toBe(false);
      await sleep(50);
    }
    const winner = alpha.held() ? alpha : beta;
    expect(winner.held()).toBe(true);
    expect(await etcd.keyValue('/tdq/c1/vip')).toBe(winner.name);
    console.log(`[etcd] after SIGCONT: ${winner.name} held the key ${(gained - resumedAt).toFixed(0)} ms later`);
  });
});
