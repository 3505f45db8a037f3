// The control socket of a running daemon (`RUN_DIR/tandem.sock`, one JSON
// request line in, one JSON reply line out) under random bytes, broken and
// truncated JSON, unknown commands, oversize requests, requests written a
// byte at a time, connections that close early and connections that stay
// idle. The daemon stays up, answers each complete request line with one
// reply line, leaks no descriptor, and `tandem status --json` reports the
// same node, role and groups afterwards.

import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type StatusJson } from '../../lab/pair.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS));

type How = 'read' | 'end' | 'destroy';

interface Outcome { reply?: string; closed: boolean; error?: string }

/** One connection: writes the chunks (gapMs apart), then waits for the reply, half-closes, or drops it. */
function talk(path: string, chunks: Buffer[], how: How, gapMs = 0, timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    let data = Buffer.alloc(0);
    let error: string | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      resolve({ ...(data.length ? { reply: data.toString('utf8') } : {}), closed, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    c.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); });
    c.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    c.on('close', () => finish(true));
    c.on('connect', async () => {
      for (const ch of chunks) {
        if (c.destroyed) break;
        c.write(ch);
        if (gapMs) await sleep(gapMs);
      }
      if (how === 'destroy') c.destroy();
      else if (how === 'end') c.end();
    });
  });
}

/** What the daemon must answer to the bytes of one connection: its request-line rules. */
function expected(payload: Buffer, how: How): 'status' | 'bad' | 'unknown' | 'none' | 'any' {
  if (how === 'destroy') return 'any';
  const text = payload.toString('utf8');
  const nl = text.indexOf('\n');
  if (text.length > 64 * 1024) return nl >= 0 && nl < 60 * 1024 ? 'any' : 'none';   // over the limit: dropped
  if (nl < 0) return 'none';
  let req: unknown;
  try {
    req = JSON.parse(text.slice(0, nl));
  } catch {
    return 'bad';
  }
  const cmd = (req as { cmd?: unknown } | null)?.cmd;
  if (typeof cmd !== 'string') return 'bad';
  return cmd === 'status' ? 'status' : 'unknown';
}

const STACK = /^\s+at |\b(TypeError|ReferenceError|RangeError|SyntaxError)\b|internal error|Uncaught/m;
const SEED = 20261202;
const STATUS = Buffer.from('{"cmd":"status"}\n');

/** The parts of status that must not move: who this is, its role, what it holds. */
function role(s: StatusJson) {
  const self = s.nodes.find((n) => n.self)!;
  return {
    node: s.node, generation: s.generation, state: self.state, holds: self.holds,
    peer: s.nodes.filter((n) => !n.self).map((n) => ({ name: n.name, state: n.state })),
    groups: s.groups.map((g) => ({ name: g.name, holder: g.holder, phase: g.local.phase })),
  };
}

const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

describe.sequential('daemon control socket under hostile clients', () => {
  const p = new Pair({ prefix: 'tdfc', net: '10.217.2', workDir: join(tmpdir(), 'tandem-fuzz-control') });
  const sock = () => join(p.runDir('alpha'), 'tandem.sock');

  beforeAll(async () => {
    await p.setup();
    p.startNode('alpha');   // alone: beta never starts, alpha takes the group after initdead
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    await p.waitForStatus('alpha', 'group running on alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running');
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('answers a request sent before the client half-closes (echo ... | socat)', async () => {
    // The regression: the daemon followed the client's FIN with its own at
    // once, so the asynchronous status reply was written after end and lost.
    const out = await talk(sock(), [STATUS], 'end');
    expect(out.closed).toBe(true);
    expect(JSON.parse(out.reply ?? 'null')).toMatchObject({ ok: true, result: { node: 'alpha' } });
  });

  it('stays up, answers every complete request line once, leaks nothing and changes nothing', async () => {
    const t0 = performance.now();
    const pid = p.procs.alpha!.pid!;
    expect(Number(readFileSync(join(p.runDir('alpha'), 'tandem.pid'), 'utf8'))).toBe(pid);
    const before = await p.status('alpha');
    const fdsBefore = fdCount(pid);
    const logBefore = readFileSync(p.logFile('alpha'), 'utf8').length;

    type Case = { chunks: Buffer[]; how: How; gapMs?: number; what: string };
    const cases: Case[] = [];
    const how = fc.constantFrom<How>('read', 'end', 'destroy');

    // 1. random bytes; a 'read' without a newline would wait forever, so those end instead
    for (const [bytes, h] of fc.sample(fc.tuple(fc.uint8Array({ maxLength: 4096 }), how), { seed: SEED, numRuns: 150 })) {
      const b = Buffer.from(bytes);
      cases.push({ chunks: [b], how: h === 'read' && !b.includes(0x0a) ? 'end' : h, what: 'random' });
    }
    // 2. a valid request truncated, bit-flipped, spliced or repeated
    const mutate = fc.tuple(fc.constantFrom('cut', 'flip', 'insert', 'twice', 'nonl'), fc.nat(STATUS.length - 1), fc.nat(255), how);
    for (const [m, at, byte, h] of fc.sample(mutate, { seed: SEED + 1, numRuns: 100 })) {
      let b = Buffer.from(STATUS);
      if (m === 'cut') b = b.subarray(0, at);
      else if (m === 'flip') b[at] = byte === b[at] ? (byte + 1) & 255 : byte;
      else if (m === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
      else if (m === 'twice') b = Buffer.concat([b, b]);
      else b = b.subarray(0, b.length - 1);
      cases.push({ chunks: [b], how: h === 'read' && !b.includes(0x0a) ? 'end' : h, what: `mutated-${m}` });
    }
    // 3. JSON that parses but is not a request, and JSON that does not parse
    for (const s of [
      'null', '[]', '5', '"status"', 'true', '{}', '{"cmd":5}', '{"cmd":null}', '{"cmd":["status"]}', '{"cmd":{"x":1}}',
      '{"CMD":"status"}', '{"__proto__":{"cmd":"status"}}', '{"cmd":"status"}}', '{"cmd":"status"', '{"cmd":"stat\\u0000us"}',
      '{"cmd":"status","cmd":7}', '', ' ', '\r', '{"cmd":"status"}\r', '\ufeff{"cmd":"status"}', '{"cmd":"\ud800"}',
      '['.repeat(20_000) + ']'.repeat(20_000), `{"cmd":"status","pad":"${'x'.repeat(60_000)}"}`, '{"cmd":"status"}\u2028',
    ]) {
      cases.push({ chunks: [Buffer.from(`${s}\n`)], how: 'read', what: 'json' });
    }
    // 4. unknown commands, random strings included
    for (const s of ['STATUS', 'status ', ' status', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'shutdown', 'x'.repeat(50_000)]) {
      cases.push({ chunks: [Buffer.from(`${JSON.stringify({ cmd: s })}\n`)], how: 'read', what: 'unknown' });
    }
    for (const s of fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { seed: SEED + 2, numRuns: 40 })) {
      cases.push({ chunks: [Buffer.from(`${JSON.stringify({ cmd: s, arg: s })}\n`)], how: 'read', what: 'unknown' });
    }
    // 5. oversize: no newline within the 64 KiB limit
    for (const n of [64 * 1024 + 1, 100_000, 300_000]) {
      cases.push({ chunks: [Buffer.alloc(n, 'a')], how: 'end', what: 'oversize' });
      cases.push({ chunks: [Buffer.concat([Buffer.alloc(n, '{'), Buffer.from('\n')])], how: 'read', what: 'oversize' });
    }
    // 6. slow and half-open clients
    for (let i = 0; i < 10; i++) {
      cases.push({ chunks: [...STATUS].map((x) => Buffer.from([x])), how: 'read', gapMs: 2, what: 'byte-at-a-time' });
      cases.push({ chunks: [], how: 'destroy', what: 'connect-close' });
      cases.push({ chunks: [], how: 'end', what: 'connect-end' });
      cases.push({ chunks: [STATUS], how: 'destroy', what: 'request-then-close' });
      cases.push({ chunks: [STATUS.subarray(0, 5)], how: 'destroy', what: 'partial-then-close' });
      cases.push({ chunks: [STATUS], how: 'read', what: 'status' });
      // a multi-byte character split across writes
      cases.push({ chunks: [Buffer.from('{"cmd":"st\xc3', 'latin1'), Buffer.from('\xa4tus"}\n', 'latin1')], how: 'read', gapMs: 5, what: 'split-utf8' });
    }

    // Idle connections stay open across the whole run.
    const idle = await Promise.all(Array.from({ length: 20 }, () => new Promise<net.Socket>((r) => {
      const c = net.connect(sock(), () => r(c));
      c.on('error', () => undefined);
    })));

    const results: Array<{ c: Case; out: Outcome }> = [];
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        results.push({ c, out: await talk(sock(), c.chunks, c.how, c.gapMs ?? 0) });
      }
    }));

    const tally: Record<string, number> = {};
    for (const { c, out } of results) {
      const want = expected(Buffer.concat(c.chunks), c.how);
      tally[want] = (tally[want] ?? 0) + 1;
      const ctx = `${c.what} ${c.how} ${JSON.stringify(Buffer.concat(c.chunks).toString('utf8').slice(0, 80))} -> ${JSON.stringify(out).slice(0, 200)}`;
      expect(out.closed, `the daemon kept the connection open: ${ctx}`).toBe(true);
      if (want === 'none') { expect(out.reply, ctx).toBeUndefined(); continue; }
      if (want === 'any' && out.reply === undefined) continue;
      // One JSON line, nothing after it.
      expect(out.reply ?? '(no reply)', ctx).toMatch(/^[^\n]*\n$/);
      const r = JSON.parse(out.reply!) as { ok: boolean; result?: { node?: string }; error?: string };
      if (want === 'status') expect(r, ctx).toMatchObject({ ok: true, result: { node: 'alpha' } });
      else if (want === 'bad') expect(r.error, ctx).toMatch(/^bad request: /);
      else if (want === 'unknown') expect(r.error, ctx).toMatch(/^unknown command '/);
      else expect(typeof r.ok, ctx).toBe('boolean');
      if (want !== 'status' && want !== 'any') expect(r.ok, ctx).toBe(false);
      if (c.what === 'split-utf8') expect(r.error).toBe("unknown command 'st\u00e4tus'");
    }

    // With 20 idle connections still open, the daemon answers.
    expect(role(await p.status('alpha'))).toEqual(role(before));
    for (const c of idle) c.destroy();

    // The same process, no descriptor left behind, nothing changed.
    expect(p.procs.alpha!.exitCode).toBeNull();
    expect(p.procs.alpha!.signalCode).toBeNull();
    await waitFor('descriptors back to where they were', async () => (fdCount(pid) <= fdsBefore ? true : undefined), 5000)
      .catch(() => expect(fdCount(pid)).toBeLessThanOrEqual(fdsBefore));
    const after = await p.status('alpha');
    expect(role(after)).toEqual(role(before));
    expect(await p.holdsVip('alpha')).toBe(true);
    const log = readFileSync(p.logFile('alpha'), 'utf8');
    expect(log.slice(logBefore)).not.toMatch(STACK);
    expect(log).not.toMatch(STACK);
    console.log(`[fuzz-control] ${cases.length} connections + 20 idle (${Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(', ')}) ` +
      `in ${((performance.now() - t0) / 1000).toFixed(1)} s; fds ${fdsBefore} -> ${fdCount(pid)}`);
  });
});
