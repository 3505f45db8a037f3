// Random and mutated packets fired at two running daemons: they stay up,
// count every packet, and nothing about the pair changes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { Pair, type StatusJson } from '../../lab/pair.js';
import { waitFor } from '../../lab/sh.js';
import { encode, field } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';
import type { Field } from '../../src/heartbeat/types.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS));

const SENDER = resolve(__dirname, 'fuzz-sender.mjs');
const labKeys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('lab-secret') }]]) };

function send(p: Pair, dest: string, packets: Buffer[]): Promise<number> {
  return new Promise((res, rej) => {
    const child = execFile('ip', ['netns', 'exec', p.ns.client, process.execPath, SENDER, dest, '694'], { timeout: 60_000 }, (err, stdout) => {
      if (err) rej(err); else res(Number(stdout.trim()));
    });
    child.stdin!.end(packets.map((b) => `=${b.toString('base64')}`).join('\n') + '\n');
  });
}

/** The namespace's count of datagrams the kernel dropped for a full socket buffer. */
async function udpRcvbufErrors(ns: string): Promise<number> {
  const snmp = await new Promise<string>((res, rej) => execFile('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], (e, out) => (e ? rej(e) : res(out))));
  const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const i = head!.split(/\s+/).indexOf('RcvbufErrors');
  return Number(vals!.split(/\s+/)[i]);
}

const droppedTotal = (s: StatusJson) => Object.values(s.counters.dropped).reduce((a, b) => a + b, 0);

describe.sequential('daemon under random and mutated packets', () => {
  const p = new Pair({ prefix: 'tdfz', net: '10.217.1', workDir: join(tmpdir(), 'tandem-fuzz') });
  beforeAll(async () => {
    await p.setup();
    p.startNode('alpha');
    p.startNode('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('counts every packet, stays up and changes nothing', async () => {
    const before = { alpha: await p.status('alpha'), beta: await p.status('beta') };
    const gen = { alpha: before.beta.nodes.find((n) => n.name === 'alpha')!.generation!, beta: before.alpha.nodes.find((n) => n.name === 'beta')!.generation! };
    const valid = encode(buildStatus({
      status: 'active', deadtimeMs: 300, src: 'alpha', srcUuid: Buffer.alloc(16, 1), seq: 1, generation: gen.alpha,
      wallSeconds: 1, hold: [], yielding: [], failed: [],
    }), labKeys);
    const seed = 20261123;
    // 1. random bytes, 2. valid packets with random byte edits, truncations and splices,
    // 3. authentic packets whose fields are wrong in ways only a key holder could send.
    const random = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 1500 }), { seed, numRuns: 300 }).map((a) => Buffer.from(a));
    const mutated = fc.sample(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length), fc.constantFrom('flip', 'cut', 'splice')),
      { seed: seed + 1, numRuns: 300 }).map(([at, byte, len, how]) => {
      const b = Buffer.from(valid);
      if (how === 'flip') { b[at] = byte === b[at] ? (byte + 1) & 255 : byte; return b; }
      if (how === 'cut') return b.subarray(0, Math.min(at, len));
      return Buffer.concat([b.subarray(0, at), Buffer.from([byte, byte, byte]), b.subarray(at)]);
    });
    const authentic = (fields: Field[]) => encode(fields, labKeys);
    const hostile = [
      authentic([field('t', 'status'), field('src', 'alpha'), field('seq', 'zz'), field('hg', '1')]),        // seq not hex
      authentic([field('t', 'status'), field('src', 'alpha'), field('seq', '5'), field('hg', gen.alpha.toString(16))]), // no st
      authentic([field('src', 'alpha'), field('seq', '5')]),                                                  // no t
      authentic([field('t', 'NS_ackmsg'), field('src', 'alpha'), field('ackseq', '3')]),                     // a type we ignore
      authentic([field('t', 'status'), field('st', 'active'), field('src', 'mallory'), field('seq', '1'), field('hg', '1')]),
      authentic([field('t', 'status'), field('st', 'active'), field('src', 'alpha'), field('seq', '1'), field('hg', (gen.alpha - 1).toString(16))]),
      authentic([field('t', 'status'), field('st', 'active'), field('src', 'alpha'), field('seq', '1'), field('hg', gen.alpha.toString(16))]),
    ];
    const packets = [...random, ...mutated, ...hostile];
    const rcvbufBefore = { alpha: await udpRcvbufErrors(p.ns.alpha), beta: await udpRcvbufErrors(p.ns.beta) };
    const broadcast = p.vip.replace(/\.\d+$/, '.255');
    expect(await send(p, broadcast, packets)).toBe(packets.length);

    for (const node of ['alpha', 'beta'] as const) {
      const after = await p.waitForStatus(node, 'every packet counted', (s) => droppedTotal(s) - droppedTotal(before[node]) >= packets.length, 10_000);
      // Each packet lands in exactly one drop counter. `own` also counts our
      // own broadcast heartbeats coming back, so it is left out of the sum.
      const delta = droppedTotal(after) - droppedTotal(before[node]) - (after.counters.dropped.own! - before[node].counters.dropped.own!);
      const lost = (await udpRcvbufErrors(p.ns[node])) - rcvbufBefore[node];
      expect(lost).toBe(0);   // otherwise the kernel dropped some before the daemon saw them
      const diff = Object.fromEntries(Object.entries(after.counters.dropped).map(([k, v]) => [k, v - (before[node].counters.dropped[k] ?? 0)]));
      expect(delta, JSON.stringify(diff)).toBe(packets.length);
      expect(p.procs[node]?.exitCode).toBeNull();
      const peer = node === 'alpha' ? 'beta' : 'alpha';
      expect(after.nodes.find((n) => n.name === peer)).toMatchObject({ state: 'up', generation: gen[peer] });
      expect(after.groups[0]?.holder).toBe('alpha');
    }
    expect(await p.holdsVip('alpha')).toBe(true);
    expect(await p.holdsVip('beta')).toBe(false);
  });
});
