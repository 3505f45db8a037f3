// The arbiter service and the node-side client over loopback, with real
// LevelDB: who gets a group, the holder stopping before the arbiter's
// expiry when it loses contact, replay and forgery rejection, and a kill -9
// of the arbiter process that must not make it forget a grant.
//
// The kill -9 case needs the arbiter as a separate plain-node process, so
// this file compiles arbiter/ (and what it imports) into a private temp dir.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runArbiter, type ArbiterHandle } from '../../arbiter/server.js';
import type { AuthKeys } from '../../src/config/types.js';
import { ArbiterClient } from '../../src/quorum/arbiter-client.js';
import type { RequestContext } from '../../src/quorum/backend.js';
import { LeaseDriver, type LeaseDriverEvent } from '../../src/quorum/driver.js';
import type { LeaseConfig } from '../../src/quorum/lease.js';
import { decodeMessage, encodeMessage, type ArbiterReply, type ArbiterRequest } from '../../src/quorum/protocol.js';
import { UserError } from '../../src/util/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'arbiter-test-secret';
const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha256', key: Buffer.from(SECRET) }]]) };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const quiet = () => undefined;

let work = '';
function keysFile(name: string, text: string, mode = 0o600): string {
  const f = join(work, name);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode);
  return f;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A node's lease stack as the daemon will run it: real UDP client, lease machines, timers. */
class Node {
  readonly events: Array<LeaseDriverEvent & { at: number }> = [];
  readonly driver: LeaseDriver;
  client!: ArbiterClient;
  constructor(readonly name: string, lease: Omit<LeaseConfig, 'group'>, groups = ['vip']) {
    this.driver = new LeaseDriver({
      leases: groups.map((group) => ({ group, ...lease })),
      onEvent: (ev) => this.events.push({ ...ev, at: performance.now() }),
    });
  }
  async open(port: number, generation: number, cluster = 'c1'): Promise<this> {
    this.client = await ArbiterClient.open({
      address: `127.0.0.1:${port}`, cluster, node: this.name, generation, keys: KEYS,
      onReply: (r) => this.driver.onReply(r),
    });
    this.driver.attach(this.client);
    return this;
  }
  want(ctx: Partial<RequestContext>, group = 'vip'): void {
    this.driver.update(group, true, { holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1, graceMs: 300, ...ctx });
  }
  heldAt(after = 0): number | undefined {
    return this.events.find((e) => e.kind === 'lease-held' && e.at >= after)?.at;
  }
  lostAt(after = 0): number | undefined {
    return this.events.find((e) => e.kind === 'lease-lost' && e.at >= after)?.at;
  }
  async close(): Promise<void> {
    this.driver.close();
    await this.client?.close();
  }
}

/** A bare UDP socket speaking the protocol, to control sequence numbers and replay bytes. */
class Raw {
  private readonly sock: Socket = createSocket('udp4');
  private readonly replies: ArbiterReply[] = [];
  constructor(private readonly port: number) {
    this.sock.on('message', (b) => {
      try { this.replies.push(decodeMessage(b, KEYS).msg as ArbiterReply); } catch { /* counted by nobody */ }
    });
  }
  async bind(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    return this;
  }
  sendBytes(buf: Buffer): void {
    this.sock.send(buf, this.port, '127.0.0.1');
  }
  /** Sends and waits for the reply with that seq; undefined if none within waitMs. */
  async ask(buf: Buffer, seq: number, waitMs = 400): Promise<ArbiterReply | undefined> {
    this.sendBytes(buf);
    const end = performance.now() + waitMs;
    while (performance.now() < end) {
      const i = this.replies.findIndex((r) => r.seq === seq);
      if (i >= 0) return this.replies.splice(i, 1)[0];
      await sleep(5);
    }
    return undefined;
  }
  close(): void { this.sock.close(); }
}

const req = (o: Partial<ArbiterRequest> & { node: string; gen: number; seq: number }): ArbiterRequest => ({
  t: 'req', op: 'acquire', cluster: 'c1', group: 'vip', ttlMs: 2000, graceMs: 0,
  holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1, ...o,
});

const LEASE = { ttlMs: 1500, renewFraction: 1 / 3, driftMargin: 0.01, safetyMs: 100, retryMs: 150 };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tdq-arbiter-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('arbiter start-up errors', () => {
  it('refuses a key file others can read, names FILE:LINE for a broken one, and refuses crc', async () => {
    const open = keysFile('open.keys', `auth 1\n1 sha256 ${SECRET}\n`, 0o644);
    const e1 = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's1'), keysFile: open, log: quiet }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UserError);
    expect((e1 as Error).message).toBe(`${open}: authkeys must not be accessible by group or others (mode 0644); run chmod 600 ${open}`);
    const broken = keysFile('broken.keys', 'auth 1\n1 sha256\n');
    const e2 = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's1'), keysFile: broken, log: quiet }).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe(`${broken}:2: auth method sha256 needs a key after the method name`);
    const crc = keysFile('crc.keys', 'auth 1\n1 crc\n');
    const e3 = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's1'), keysFile: crc, log: quiet }).catch((e: unknown) => e);
    expect((e3 as Error).message).toMatch(/selects a crc key; the arbiter needs md5, sha1 or sha256/);
    const missing = join(work, 'nope.keys');
    const e4 = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's1'), keysFile: missing, log: quiet }).catch((e: unknown) => e);
    expect((e4 as Error).message).toMatch(new RegExp(`^${missing}: cannot check permissions: no such file or directory`));
    const good = keysFile('good.keys', `auth 1\n1 sha256 ${SECRET}\n`);
    const e5 = await runArbiter({ listen: '0.0.0.0', stateDir: join(work, 's1'), keysFile: good, log: quiet }).catch((e: unknown) => e);
    expect((e5 as Error).message).toBe("--listen '0.0.0.0': expected HOST:PORT, e.g. 0.0.0.0:7610 or [::]:7610");
  });

  it('one arbiter per state dir, and one per port', async () => {
    const good = keysFile('good2.keys', `auth 1\n1 sha256 ${SECRET}\n`);
    const a = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's2'), keysFile: good, log: quiet });
    try {
      const e = await runArbiter({ listen: '127.0.0.1:0', stateDir: join(work, 's2'), keysFile: good, log: quiet }).catch((x: unknown) => x);
      expect((e as Error).message).toBe(`arbiter state dir ${join(work, 's2')} is in use by another arbiter process (one arbiter per state dir)`);
      const e2 = await runArbiter({ listen: `127.0.0.1:${a.address.port}`, stateDir: join(work, 's3'), keysFile: good, log: quiet }).catch((x: unknown) => x);
      expect((e2 as Error).message).toBe(`--listen 127.0.0.1:${a.address.port}: address already in use`);
    } finally {
      await a.close();
    }
  });
});

describe.sequential('arbiter and clients over loopback', () => {
  let arb: ArbiterHandle;
  const logs: string[] = [];
  beforeAll(async () => {
    arb = await runArbiter({
      listen: '127.0.0.1:0', stateDir: join(work, 'state'), keysFile: keysFile('arb.keys', `auth 1\n1 sha256 ${SECRET}\n`),
      log: (l, m) => logs.push(`${l} ${m}`),
    });
  });
  afterAll(async () => { await arb?.close(); });

  it('grants the group to the node running it, refuses the other, and the holder stops before the arbiter expiry when cut off', async () => {
    const alpha = await new Node('alpha', LEASE).open(arb.address.port, 10);
    const beta = await new Node('beta', LEASE).open(arb.address.port, 20);
    try {
      alpha.want({ holds: true, peerHeard: true });
      await until('alpha to hold the lease', () => alpha.heldAt());
      // The partition: beta no longer hears alpha and asks too.
      beta.want({ holds: false, peerHeard: false, graceMs: 300 });
      await until('beta to be refused', () => (beta.driver.view('vip')?.status === 'denied' ? true : undefined));
      expect(beta.driver.view('vip')).toMatchObject({ status: 'denied', holder: 'alpha', reason: 'held by alpha' });
      await sleep(1200);   // several renewals: alpha keeps it
      expect(alpha.driver.view('vip')?.status).toBe('held');
      expect(beta.heldAt()).toBeUndefined();

      // Cut alpha off right after a renewal was answered: its requests no
      // longer leave (its socket is closed), its lease machine keeps running.
      await until('alpha\'s latest renewal to be answered', () => (alpha.driver.history.at(-1)!.what === 'granted' ? true : undefined), 2000);
      const lastSent = alpha.driver.history.filter((h) => h.what === 'request').at(-1)!.at;
      const grant = arb.stats().grants.find((g) => g.cluster === 'c1' && g.group === 'vip')!;
      const arbiterExpiry = performance.now() + grant.remainingMs;   // no earlier than this
      const cutAt = performance.now();
      await alpha.client.close();   // marks it closed synchronously: nothing more is sent
      const lost = await until('alpha to declare the lease lost', () => alpha.lostAt(cutAt), 5000);
      const gained = await until('beta to get the lease', () => beta.heldAt(cutAt), 5000);
      expect(lost).toBeLessThan(arbiterExpiry);
      expect(lost).toBeLessThan(gained);
      expect(gained - lastSent).toBeGreaterThanOrEqual(LEASE.ttlMs);
      console.log(`[arbiter] ttl ${LEASE.ttlMs} ms: alpha's last request at 0; alpha stopped at +${(lost - lastSent).toFixed(0)} ms, ` +
        `arbiter expiry >= +${(arbiterExpiry - lastSent).toFixed(0)} ms, beta held at +${(gained - lastSent).toFixed(0)} ms ` +
        `(margin before expiry ${(arbiterExpiry - lost).toFixed(0)} ms)`);
      expect(logs.some((l) => l.includes('granted vip to beta'))).toBe(true);
    } finally {
      await alpha.close();
      await beta.close();
    }
  });

  it('a holder that shuts down hands the group on at once', async () => {
    const alpha = await new Node('alpha', LEASE, ['g2']).open(arb.address.port, 30);
    const beta = await new Node('beta', LEASE, ['g2']).open(arb.address.port, 40);
    try {
      alpha.want({ holds: true }, 'g2');
      await until('alpha to hold g2', () => alpha.heldAt());
      beta.want({ holds: false, graceMs: 5000 }, 'g2');
      await until('beta refused', () => (beta.driver.view('g2')?.status === 'denied' ? true : undefined));
      const t0 = performance.now();
      alpha.driver.releaseAll({ leaving: true });
      const gained = await until('beta to get g2', () => beta.heldAt(t0), 3000);
      // beta asks again when told (a quarter TTL at most), not after the 5 s grace.
      expect(gained - t0).toBeLessThan(LEASE.ttlMs / 4 + 200);
      console.log(`[arbiter] graceful hand-over: beta held g2 ${(gained - t0).toFixed(0)} ms after alpha released it`);
    } finally {
      await alpha.close();
      await beta.close();
    }
  });

  it('replays, forgeries and replies sent to it get no answer and change nothing; clusters are separate', async () => {
    const raw = await new Raw(arb.address.port).bind();
    try {
      // (group g3: the earlier tests' nodes vanished without releasing vip)
      const before = arb.stats();
      const first = encodeMessage(req({ node: 'mallory-victim', group: 'g3', gen: 5, seq: 7, holds: true }), KEYS);
      expect(await raw.ask(first, 7)).toMatchObject({ outcome: 'granted', node: 'mallory-victim' });
      expect(await raw.ask(first, 7, 300)).toBeUndefined();   // byte-for-byte replay
      expect(await raw.ask(encodeMessage(req({ node: 'mallory-victim', group: 'g3', gen: 5, seq: 6 }), KEYS), 6, 300)).toBeUndefined();
      expect(await raw.ask(encodeMessage(req({ node: 'mallory-victim', group: 'g3', gen: 4, seq: 99 }), KEYS), 99, 300)).toBeUndefined();
      const forgedKeys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha256', key: Buffer.from('guess') }]]) };
      expect(await raw.ask(encodeMessage(req({ node: 'mallory-victim', group: 'g3', gen: 9, seq: 1, op: 'release' }), forgedKeys), 1, 300)).toBeUndefined();
      const reflected: ArbiterReply = { t: 'rep', cluster: 'c1', node: 'x', group: 'vip', gen: 1, seq: 1, outcome: 'granted', ttlMs: 1 };
      raw.sendBytes(encodeMessage(reflected, KEYS));
      raw.sendBytes(Buffer.from('garbage'));
      await sleep(100);
      const after = arb.stats();
      expect(after.replays - before.replays).toBe(3);
      expect(after.auth - before.auth).toBe(1);
      expect(after.malformed - before.malformed).toBe(2);
      // The forged release changed nothing: the grant is still there.
      expect(after.grants.find((g) => g.node === 'mallory-victim')).toBeDefined();
      // Same group name in another cluster is another group.
      expect(await raw.ask(encodeMessage(req({ cluster: 'c2', node: 'other', gen: 1, seq: 1, holds: true }), KEYS), 1)).toMatchObject({ outcome: 'granted', cluster: 'c2' });
    } finally {
      raw.close();
    }
  });
});

describe.sequential('arbiter process killed with SIGKILL', () => {
  let dist = '';
  let proc: ChildProcess | undefined;
  const stateDir = () => join(work, 'killed-state');

  beforeAll(() => {
    // Compile arbiter/ and its imports to plain JS in a private dir.
    dist = join(work, 'dist');
    mkdirSync(dist, { recursive: true });
    writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { outDir: dist, rootDir: ROOT, sourceMap: false, typeRoots: [join(ROOT, 'node_modules/@types')] },
      include: [join(ROOT, 'arbiter/server.ts')],
    }));
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(work, 'tsconfig.json')], { stdio: 'pipe' });
    } catch (e) {
      const err = e as { stdout?: Buffer };
      throw new Error(`compiling arbiter/ failed:\n${err.stdout?.toString() ?? ''}`);
    }
    writeFileSync(join(dist, 'package.json'), '{"type":"module"}\n');
    symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  }, 60_000);

  afterAll(() => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });

  function start(port: number): Promise<{ port: number }> {
    const keys = keysFile('killed.keys', `auth 1\n1 sha256 ${SECRET}\n`);
    const script = `
      const { runArbiter } = await import(${JSON.stringify(join(dist, 'arbiter/server.js'))});
      const h = await runArbiter({ listen: '127.0.0.1:${port}', stateDir: ${JSON.stringify(stateDir())}, keysFile: ${JSON.stringify(keys)}, log: () => {} });
      process.stdout.write(JSON.stringify({ port: h.address.port }) + '\\n');`;
    proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    return new Promise((resolve, reject) => {
      proc!.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { port: number }));
      proc!.once('exit', (code) => reject(new Error(`arbiter exited (${code}): ${err}`)));
    });
  }

  async function kill9(): Promise<void> {
    const p = proc!;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }

  it('after a restart, the grant stays exclusive for a full TTL and request counters are remembered', async () => {
    const { port } = await start(0);
    const raw = await new Raw(port).bind();
    try {
      const TTL = 2000;
      const grantReq = encodeMessage(req({ node: 'alpha', gen: 1, seq: 1, holds: true, ttlMs: TTL }), KEYS);
      expect(await raw.ask(grantReq, 1)).toMatchObject({ outcome: 'granted', ttlMs: TTL });
      await kill9();
      const restartAt = performance.now();
      await start(port);
      // The replayed request from before the crash gets nothing.
      expect(await raw.ask(grantReq, 1, 300)).toBeUndefined();
      // beta asks every 100 ms; it must not get the group before restart + TTL.
      let seq = 0;
      let grantedAt: number | undefined;
      let firstDenial: ArbiterReply | undefined;
      while (grantedAt === undefined && performance.now() - restartAt < TTL + 3000) {
        seq += 1;
        const r = await raw.ask(encodeMessage(req({ node: 'beta', gen: 1, seq, ttlMs: TTL }), KEYS), seq, 300);
        if (r?.outcome === 'granted') grantedAt = performance.now();
        else firstDenial ??= r;
        await sleep(100);
      }
      expect(firstDenial).toMatchObject({ outcome: 'denied', holder: 'alpha' });
      expect(grantedAt).toBeDefined();
      expect(grantedAt! - restartAt).toBeGreaterThanOrEqual(TTL);
      console.log(`[arbiter] kill -9 + restart: beta granted ${(grantedAt! - restartAt).toFixed(0)} ms after the restart began (TTL ${TTL} ms)`);
    } finally {
      raw.close();
      await kill9();
    }
  });
});
