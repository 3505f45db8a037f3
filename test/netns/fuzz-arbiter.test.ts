// A real `tandem arbiter` process, in a namespace of its own, under random,
// mutated, replayed, forged, oversize and authentic-but-malformed datagrams.
// A legitimate client holds a group first; afterwards the process is the
// same one, the holder still renews, the other node is still refused, and
// stderr holds no stack trace.
//
// Each packet is accounted for: the test classifies every datagram it
// sends with the protocol's own decoder and the arbiter's replay rule, then
//   - every authentic fresh request gets exactly one reply, nothing else does;
//   - every replay is in the log: an "ignored request" debug line, or
//     counted in one ("N similar suppressed"), at most one line a second;
//   - the arbiter's own counters (the stats line it logs on SIGUSR1) grew by
//     exactly the auth failures, malformed datagrams, replays and fresh
//     requests sent, and granted nothing;
//   - the namespace's UDP RcvbufErrors did not move, so the kernel dropped
//     none of them before the arbiter saw them.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthKeys, AuthMethod } from '../../src/config/types.js';
import { digest } from '../../src/heartbeat/auth.js';
import { decodeMessage, encodeMessage, ProtocolError, type ArbiterReply, type ArbiterRequest } from '../../src/quorum/protocol.js';
import { cleanupPrefix, createNetns, destroyNetns, netnsName, nsExec, waitFor } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

beforeAll(() => need('ip', 'ss'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM = join(ROOT, 'bin/tandem');
const EXCHANGE = join(ROOT, 'test/netns/fuzz-exchange.mjs');
const PREFIX = 'tdfa';
const NS = netnsName(PREFIX, 'r');
const HOST = '127.0.0.1';
const PORT = 7610;
const SECRET = 'fuzz-arbiter-secret';
const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha256', key: Buffer.from(SECRET) }]]) };
const TTL = 20_000;   // long enough that nothing expires while the fuzz runs
const SEED = 20261201;

/** Signs arbitrary body bytes the way encodeMessage does (checked against it below). */
function signRaw(body: Buffer, method: AuthMethod = 'sha256', secret = SECRET, index = 1): Buffer {
  const mac = digest(method, Buffer.from(secret), Buffer.concat([Buffer.from('tandem-quorum-v1\n'), body]));
  return Buffer.concat([Buffer.from(`TQ1 ${index} ${mac}\n`, 'latin1'), body]);
}
const signObj = (o: unknown) => signRaw(Buffer.from(JSON.stringify(o), 'utf8'));

const req = (o: Partial<ArbiterRequest> & { node: string; gen: number; seq: number }): ArbiterRequest => ({
  t: 'req', op: 'acquire', cluster: 'c1', group: 'vip', ttlMs: TTL, graceMs: 0,
  holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1, ...o,
});

type Verdict = 'auth' | 'malformed' | 'replay' | 'fresh';

/** What the arbiter must make of each datagram, in sending order: its decoder, then its replay rule. */
class Oracle {
  // The arbiter's rule: (gen, seq) above the last taken for that node and group; an older generation than the node's newest never.
  private readonly nonces = new Map<string, { gen: number; seq: number }>();
  private readonly gens = new Map<string, number>();
  classify(buf: Buffer): { verdict: Verdict; req?: ArbiterRequest } {
    let msg;
    try {
      msg = decodeMessage(buf, KEYS).msg;
    } catch (e) {
      if (e instanceof ProtocolError) return { verdict: e.reason };
      throw e;
    }
    if (msg.t !== 'req') return { verdict: 'malformed' };
    const nk = JSON.stringify([msg.cluster, msg.node]);
    const k = JSON.stringify([msg.cluster, msg.node, msg.group]);
    const last = this.nonces.get(k);
    if (msg.gen < (this.gens.get(nk) ?? 0)) return { verdict: 'replay' };
    if (last && (msg.gen < last.gen || (msg.gen === last.gen && msg.seq <= last.seq))) return { verdict: 'replay' };
    this.nonces.set(k, { gen: msg.gen, seq: msg.seq });
    this.gens.set(nk, msg.gen);
    return { verdict: 'fresh', req: msg };
  }
}

interface Exchange { sent: number; errors: string[]; replies: ArbiterReply[] }

/** Sends the datagrams from one socket inside the namespace and collects what comes back. */
function exchange(packets: Buffer[], waitMs = 300): Promise<Exchange> {
  return new Promise((res, rej) => {
    const child = execFile('ip', ['netns', 'exec', NS, process.execPath, EXCHANGE, HOST, String(PORT), String(waitMs)],
      { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) return rej(new Error(`fuzz-exchange: ${err.message} ${stderr}`));
        const out = JSON.parse(stdout) as { sent: number; errors: string[]; replies: string[] };
        res({ ...out, replies: out.replies.map((b) => decodeMessage(Buffer.from(b, 'base64'), KEYS).msg as ArbiterReply) });
      });
    child.stdin!.end(packets.map((b) => `=${b.toString('base64')}`).join('\n') + '\n');
  });
}

async function udpRcvbufErrors(): Promise<number> {
  const { stdout } = await nsExec(NS, 'cat', ['/proc/net/snmp']);
  const [head, vals] = stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  return Number(vals!.split(/\s+/)[head!.split(/\s+/).indexOf('RcvbufErrors')]);
}

const STACK = /^\s+at |\b(TypeError|ReferenceError|RangeError|SyntaxError)\b|internal error|Uncaught/m;

describe.sequential('tandem arbiter under hostile datagrams', () => {
  let work = '';
  let proc: ChildProcess | undefined;
  let stderr = '';
  let stdout = '';
  const oracle = new Oracle();
  let seqA = 0;
  let seqB = 0;
  const sentLegit: Buffer[] = [];

  /** Sends legitimate requests (recorded with the oracle) and returns their replies. */
  async function legit(...reqs: ArbiterRequest[]): Promise<ArbiterReply[]> {
    const bufs = reqs.map((r) => encodeMessage(r, KEYS));
    for (const b of bufs) expect(oracle.classify(b).verdict).toBe('fresh');
    sentLegit.push(...bufs);
    return (await exchange(bufs)).replies;
  }
  const alphaRenew = () => req({ node: 'alpha', gen: 100, seq: ++seqA, holds: true, peerHeard: true });
  const betaAsk = () => req({ node: 'beta', gen: 200, seq: ++seqB });

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);
    work = mkdtempSync(join(tmpdir(), 'tandem-fuzz-arbiter-'));
    const keysFile = join(work, 'arbiter.keys');
    writeFileSync(keysFile, `auth 1\n1 sha256 ${SECRET}\n`, { mode: 0o600 });
    chmodSync(keysFile, 0o600);
    await createNetns(NS);
    // `ip netns exec` execs: proc.pid is the arbiter itself.
    proc = spawn('ip', ['netns', 'exec', NS, process.execPath, TANDEM, 'arbiter', '--listen', `${HOST}:${PORT}`,
      '--state-dir', join(work, 'state'), '--keys', keysFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    await waitFor('the arbiter to listen', async () => {
      if (proc!.exitCode !== null) throw new Error(`arbiter exited ${proc!.exitCode}: ${stderr}`);
      return stderr.includes('listening on') ? true : undefined;
    }, 15_000);
  }, 60_000);

  afterAll(async () => {
    try {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((r) => proc!.once('exit', () => r()));
        proc.kill('SIGKILL');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      }
    } finally {
      await destroyNetns(NS);
      if (work) rmSync(work, { recursive: true, force: true });
    }
  });

  it('signs raw bodies exactly as the protocol does', () => {
    const r = req({ node: 'x', gen: 1, seq: 1 });
    expect(signObj(r).equals(encodeMessage(r, KEYS))).toBe(true);
  });

  it('a legitimate client holds the group and the other node is refused', async () => {
    const [a] = await legit(alphaRenew());
    expect(a).toMatchObject({ node: 'alpha', outcome: 'granted', ttlMs: TTL });
    const [b] = await legit(betaAsk());
    expect(b).toMatchObject({ node: 'beta', outcome: 'denied', holder: 'alpha' });
    const [a2] = await legit(alphaRenew());
    expect(a2).toMatchObject({ node: 'alpha', outcome: 'granted' });
  });

  it('stays up, answers exactly the authentic fresh requests, logs every replay and changes no grant', async () => {
    const pid = proc!.pid!;
    const t0 = performance.now();
    // Mutation bases are all requests the arbiter has already seen (or stale
    // ones): a mutation that happens to leave one intact is a replay, never
    // a fresh request that could move alpha's grant.
    const staleRelease = encodeMessage(req({ node: 'alpha', gen: 100, seq: 1, op: 'release', leaving: true }), KEYS);
    const bases = [...sentLegit, staleRelease];

    // 1. random bytes of random lengths
    const random = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 1500 }), { seed: SEED, numRuns: 300 }).map((a) => Buffer.from(a));

    // 2. mutations of valid signed requests
    const mutated = fc.sample(fc.tuple(
      fc.nat(bases.length - 1), fc.constantFrom('flip', 'cut', 'extend', 'swap', 'insert', 'overwrite'),
      fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }),
    ), { seed: SEED + 1, numRuns: 300 }).map(([bi, how, i, j, bytes]) => {
      const b = Buffer.from(bases[bi]!);
      const at = i % b.length;
      switch (how) {
        case 'flip': b[at]! ^= 1 << (j % 8); return b;
        case 'cut': return b.subarray(0, at);
        case 'extend': return Buffer.concat([b, Buffer.from(bytes)]);
        case 'swap': { const k = j % b.length; [b[at], b[k]] = [b[k]!, b[at]!]; return b; }
        case 'insert': return Buffer.concat([b.subarray(0, at), Buffer.from(bytes), b.subarray(at)]);
        case 'overwrite': Buffer.from(bytes).copy(b, at); return b;
      }
    });

    // 3. replays: the exact bytes seen before, and re-signed requests not above the last (gen, seq)
    const replays = [
      ...Array.from({ length: 10 }, () => sentLegit).flat(),
      staleRelease,
      encodeMessage(req({ node: 'alpha', gen: 100, seq: 2, op: 'release', leaving: true }), KEYS),
      encodeMessage(req({ node: 'alpha', gen: 99, seq: 999_999, op: 'release' }), KEYS),
      encodeMessage(req({ node: 'alpha', gen: 0, seq: 1 }), KEYS),
      encodeMessage(req({ node: 'beta', gen: 200, seq: 1, holds: true, peerHeard: true }), KEYS),
      encodeMessage(req({ node: 'beta', gen: 199, seq: 50, holds: true }), KEYS),
    ];

    // 4. signed with a wrong key, or naming a key index the arbiter does not have
    const wrongKey = fc.sample(fc.tuple(
      fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom<AuthMethod>('md5', 'sha1', 'sha256'),
      fc.constantFrom(0, 1, 1, 1, 2, 9, 42, 99), fc.integer({ min: 1000, max: 1_000_000 }), fc.boolean(),
    ), { seed: SEED + 2, numRuns: 100 }).map(([secret, method, index, seq, release], n) => {
      const body = req({ node: n % 2 ? 'alpha' : 'beta', gen: 100 + (n % 2 ? 0 : 100), seq, op: release ? 'release' : 'acquire', leaving: release, holds: true });
      // every eighth one: the right secret under an index that does not exist
      return n % 8 === 7 ? signRaw(Buffer.from(JSON.stringify(body)), 'sha256', SECRET, index === 1 ? 3 : index)
        : signRaw(Buffer.from(JSON.stringify(body)), method, Buffer.from(secret).toString('latin1'), index);
    });

    // 5. oversize: authentic over the 1400-byte limit, random up to 64 KiB;
    //    and an authentic one of exactly 1400 bytes, which is fine
    const padded = (size: number, seq: number) => {
      const o = { ...req({ node: 'mallory', gen: 7, seq }), pad: '' };
      o.pad = 'x'.repeat(size - signObj(o).length);
      const b = signObj(o);
      expect(b.length).toBe(size);
      return b;
    };
    const oversize = [
      padded(1400, 1), padded(1401, 2), padded(1500, 3), padded(9000, 4), padded(65_000, 5),
      ...fc.sample(fc.integer({ min: 1401, max: 65_000 }), { seed: SEED + 3, numRuns: 15 }).map((n) => Buffer.alloc(n, n & 0xff)),
    ];

    // 6. authentic bodies with bad fields, by hand and generated
    const good = req({ node: 'mallory', gen: 8, seq: 1 });
    const handBad: Buffer[] = [
      ...['', '{', '[]', 'null', '5', '"req"', 'true', '{}', '{"t":"req"}', '['.repeat(600) + ']'.repeat(600)].map((s) => signRaw(Buffer.from(s))),
      signRaw(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])),                                           // not UTF-8
      signRaw(Buffer.from(`{"__proto__":${JSON.stringify(good)}}`)),
      signRaw(Buffer.from(`${JSON.stringify(good).slice(0, -1)},"t":"rep"}`)),                 // duplicate key, last wins
      signObj({ t: 'rep', cluster: 'c1', node: 'alpha', group: 'vip', gen: 100, seq: 99, outcome: 'granted', ttlMs: TTL }),
      ...([
        { t: 'REQ' }, { op: 'grab' }, { op: null }, { cluster: '' }, { cluster: 'c/1' }, { cluster: 'x'.repeat(65) }, { node: '../alpha' },
        { node: 'alpha\n' }, { node: '.alpha' }, { node: 5 }, { group: '' }, { group: 'v ip' }, { group: 'x'.repeat(201) },
        { group: 'vïp' }, { gen: -1 }, { gen: 1.5 }, { gen: 2 ** 60 }, { gen: '100' }, { seq: 0 }, { seq: -3 }, { seq: null },
        { ttlMs: 0 }, { ttlMs: 86_400_001 }, { graceMs: -1 }, { holds: 'true' }, { peerHeard: 1 }, { peerHolds: null },
        { reach: 2, reachTotal: 1 }, { reach: 10_001, reachTotal: 10_001 }, { leaving: 'yes' }, { ttlMs: 1e400 },
      ] as Record<string, unknown>[]).map((patch) => signObj({ ...good, ...patch })),
      ...(['t', 'op', 'cluster', 'node', 'group', 'gen', 'seq', 'ttlMs', 'graceMs', 'holds', 'peerHeard', 'peerHolds', 'reach', 'reachTotal'] as const)
        .map((k) => { const o: Record<string, unknown> = { ...good }; delete o[k]; return signObj(o); }),
    ];
    const either = <T>(ok: fc.Arbitrary<T>, bad: unknown[]) => fc.oneof({ weight: 12, arbitrary: ok }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
    const generated = fc.sample(fc.record({
      t: either(fc.constant('req'), ['rep', 'Req', '', null, 1]),
      op: either(fc.constantFrom('acquire', 'release'), ['take', '', 0]),
      cluster: either(fc.constant('c1'), ['', 'c 1', 'c1/x', '-c1', 7]),
      // never alpha or beta: a key holder naming them could legitimately
      // move their request counters, which is not what this test is about
      node: either(fc.constantFrom('mallory', 'm-2', 'eve.3'), ['', 'a b', 'ä', '_x', null]),
      group: either(fc.constant('vip'), ['', 'a b', '\u0000', 'é']),
      // mostly the current generation, now and then an older (stale) one;
      // 'next' becomes a sequence number above all earlier ones
      gen: either(fc.oneof({ weight: 8, arbitrary: fc.constant(1000) }, { weight: 1, arbitrary: fc.nat(999) }), [-1, 0.5, '1', Number.MAX_SAFE_INTEGER + 2]),
      seq: either(fc.constant('next'), [0, -1, 1.25, false]),
      ttlMs: either(fc.integer({ min: 1, max: 86_400_000 }), [0, -5, 86_400_001, '1000']),
      graceMs: either(fc.nat(86_400_000), [-1, 86_400_001, []]),
      holds: either(fc.boolean(), [0, 'false', null]),
      peerHeard: either(fc.boolean(), [1, {}]),
      peerHolds: either(fc.boolean(), ['no']),
      reach: either(fc.nat(3), [-1, 10_001, 0.1]),
      reachTotal: either(fc.integer({ min: 3, max: 10 }), [-2, 10_001]),
      leaving: fc.option(either(fc.boolean(), ['y', 2]), { nil: undefined }),
    }), { seed: SEED + 4, numRuns: 160 }).map((o, n) => signObj({ ...o, seq: o.seq === 'next' ? n + 1 : o.seq }));

    const packets = [...random, ...mutated, ...replays, ...wrongKey, ...oversize, ...handBad, ...generated];
    const verdicts = packets.map((b) => oracle.classify(b));
    const count = (v: Verdict) => verdicts.filter((x) => x.verdict === v).length;
    const fresh = verdicts.filter((x) => x.verdict === 'fresh').map((x) => x.req!);
    // None of the hostile packets may be authentic and fresh for alpha or beta.
    expect(fresh.filter((r) => r.node === 'alpha' || r.node === 'beta')).toEqual([]);
    expect(count('replay')).toBeGreaterThanOrEqual(replays.length);
    expect(count('auth')).toBeGreaterThan(300);
    expect(count('malformed')).toBeGreaterThan(300);
    expect(fresh.length).toBeGreaterThan(20);

    const before = await arbiterStats();
    const logBefore = stderr.length;
    const lostBefore = await udpRcvbufErrors();
    const out = await exchange(packets, 1000);
    expect(out.errors).toEqual([]);
    expect(out.sent).toBe(packets.length);
    expect(await udpRcvbufErrors()).toBe(lostBefore);

    // Exactly the authentic fresh requests were answered, once each, and no
    // answer gave anyone the group alpha holds.
    const key = (r: { cluster: string; node: string; gen: number; seq: number }) => `${r.cluster}/${r.node}/${r.gen}/${r.seq}`;
    expect(out.replies.map(key).sort()).toEqual(fresh.map(key).sort());
    for (const r of out.replies) {
      const q = fresh.find((f) => key(f) === key(r))!;
      if (q.op === 'release') expect(r.outcome).toBe('released');
      else expect(r).toMatchObject({ outcome: 'denied', holder: 'alpha' });
    }

    // The log: every replay shown or counted (the rate limit reports what it
    // held back within a second), warnings for the rest, no stack.
    const replaysLogged = () => stderr.slice(logBefore).split('\n').filter((l) => /ignored request /.test(l))
      .reduce((n, l) => n + 1 + Number(/(\d+) similar suppressed/.exec(l)?.[1] ?? 0) - (/similar suppressed in the last/.test(l) ? 1 : 0), 0);
    await waitFor('every replay in the log', async () => (replaysLogged() === count('replay') ? true : undefined), 3000).catch(() => undefined);
    expect(replaysLogged()).toBe(count('replay'));
    const log = stderr.slice(logBefore);
    expect(log).toMatch(/WARN +dropped datagram from 127\.0\.0\.1:\d+: /);
    expect(log).not.toMatch(/granted vip/);
    expect(stderr).not.toMatch(STACK);
    expect(stdout).toBe('');

    // Its own counters saw every datagram, classified as the oracle did.
    const after = await arbiterStats();
    const delta = (k: string) => after[k]! - before[k]!;
    expect({
      auth: delta('auth'), malformed: delta('malformed'), replays: delta('replays'), requests: delta('requests'), granted: delta('granted'),
    }).toEqual({ auth: count('auth'), malformed: count('malformed'), replays: count('replay'), requests: fresh.length, granted: 0 });

    // The same process, and the grant is as it was.
    expect(proc!.exitCode).toBeNull();
    expect(proc!.pid).toBe(pid);
    expect((await nsExec(NS, 'ss', ['-Hlunp', `sport = :${PORT}`])).stdout).toContain(`pid=${pid},`);
    const [a] = await legit(alphaRenew());
    expect(a).toMatchObject({ node: 'alpha', outcome: 'granted', ttlMs: TTL });
    const [b] = await legit(betaAsk());
    expect(b).toMatchObject({ node: 'beta', outcome: 'denied', holder: 'alpha' });
    console.log(`[fuzz-arbiter] ${packets.length} datagrams (${count('auth')} auth, ${count('malformed')} malformed, ` +
      `${count('replay')} replays, ${fresh.length} authentic fresh, all answered) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      `${log.match(/dropped datagram/g)?.length ?? 0} rate-limited drop warnings`);
  });

  /** Asks the arbiter for its counters (SIGUSR1) and reads the line it logs. */
  async function arbiterStats(): Promise<Record<string, number>> {
    const from = stderr.length;
    proc!.kill('SIGUSR1');
    const line = await waitFor('arbiter stats line', async () => /stats: (.*)\n/.exec(stderr.slice(from))?.[1], 3000);
    const out: Record<string, number> = {};
    for (const m of line.matchAll(/([a-z]+) (\d+)/g)) out[m[1]!] = Number(m[2]);
    return out;
  }

  it('stops cleanly on SIGTERM', async () => {
    const code = await new Promise<number | null>((r) => { proc!.once('exit', (c) => r(c)); proc!.kill('SIGTERM'); });
    expect(code).toBe(0);
    expect(stderr).not.toMatch(STACK);
  });
});
