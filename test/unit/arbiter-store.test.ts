// The arbiter's LevelDB store keeps a request counter per node and group,
// so a restart does not turn the per-group replay rule back into a per-node
// one, and it still reads the per-node counters an older arbiter wrote.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { arbiterStep, initArbiter, type ArbiterAction } from '../../arbiter/machine.js';
import { ArbiterStore } from '../../arbiter/store.js';
import type { ArbiterRequest } from '../../src/quorum/protocol.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const req = (group: string, seq: number, gen = 4): ArbiterRequest => ({
  t: 'req', op: 'acquire', cluster: 'c1', node: 'alpha', group, gen, seq,
  ttlMs: 3000, graceMs: 0, holds: true, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1,
});
const answered = (acts: ArbiterAction[]) => acts.some((a) => a.kind === 'reply');

describe('arbiter store: request counters', () => {
  it('keeps one counter per group across a restart, and reads an old per-node counter as a floor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-arbiter-store-'));
    dirs.push(dir);
    let store = await ArbiterStore.open(dir);
    let s = initArbiter(await store.load(() => undefined), 0);
    // g2's request (seq 2) reaches the arbiter before g1's (seq 1): both count.
    for (const r of [req('g2', 2), req('g1', 1)]) {
      const acts = arbiterStep(s, { kind: 'request', from: 'x:1', req: r }, 0);
      expect(answered(acts)).toBe(true);
      for (const a of acts) if (a.kind === 'persist') await store.write(a.ops);
    }
    // What an arbiter from before per-group counters wrote (no group): a floor for every group.
    await store.write([{ type: 'put-nonce', rec: { cluster: 'c1', node: 'beta', gen: 9, seq: 40 } }]);
    await store.close();

    store = await ArbiterStore.open(dir);
    const loaded = await store.load((m) => { throw new Error(m); });
    await store.close();
    expect(loaded.nonces.filter((n) => n.node === 'alpha').map((n) => [n.group, n.seq]).sort()).toEqual([['g1', 1], ['g2', 2]]);
    s = initArbiter(loaded, 0);
    const ask = (r: ArbiterRequest) => answered(arbiterStep(s, { kind: 'request', from: 'x:1', req: r }, 1));
    // Replays of either group's last request get nothing after the restart...
    expect(ask(req('g1', 1))).toBe(false);
    expect(ask(req('g2', 2))).toBe(false);
    // ...while g1's next request counts though it is below g2's last.
    expect(ask(req('g1', 2))).toBe(true);
    expect(ask({ ...req('g5', 40, 9), node: 'beta' })).toBe(false);
    expect(ask({ ...req('g5', 41, 9), node: 'beta' })).toBe(true);
  });
});
