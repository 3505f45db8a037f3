// PathMonitor's loss figure when the peer falls silent: the messages it
// should have sent count as lost, and the window says how long it covers.

import { describe, expect, it } from 'vitest';
import type { AuthKeys } from '../../src/config/types.js';
import { encode } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import { initEngine } from '../../src/node/engine.js';
import { PathMonitor } from '../../src/daemon/paths.js';

const keys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('k') }]]) };

describe('path loss while the peer is silent', () => {
  it('a path that has heard nothing for 11 s does not show 0% loss, nor a 60 s window it has not had', async () => {
    let t = 0;
    const engine = initEngine(
      { self: 'alpha', peer: 'beta', paths: ['bcast eth0'], keepaliveMs: 100, warntimeMs: 500, deadtimeMs: 1000, initdeadMs: 2000 },
      { self: 'alpha', autoFailback: 'off', groups: [], stopRetries: 1, stopRetryDelayMs: 1 },
      0, { held: new Set() },
    );
    const mon = new PathMonitor({ peer: 'beta', authkeys: keys, deadtimeMs: 1000, keepaliveMs: 100, now: () => t, engine: () => engine, log: () => undefined });
    // The transport is not under test: a path that sends nowhere.
    const path = mon.wrap({ name: 'bcast eth0', send: () => undefined, close: async () => undefined }, 'bcast');
    const deliver = mon.receiver(() => undefined);
    const status = (seq: number) => encode(buildStatus({
      status: 'active', deadtimeMs: 1000, src: 'beta', srcUuid: Buffer.alloc(16), seq, generation: 5, wallSeconds: 1, hold: [], yielding: [], failed: [],
    }), keys);
    for (let seq = 1; seq <= 50; seq++) {
      t = (seq - 1) * 100;
      deliver(status(seq), 'bcast eth0', '10.0.0.2');
    }
    t = 4900 + 2000;
    let loss = mon.snapshot()['bcast eth0']!.loss;
    expect(loss.received).toBe(50);
    // Two seconds of silence, one of them within the grace: 10 keepalives missing of 60.
    expect(loss.percent).toBeCloseTo(16.67, 1);
    expect(loss.windowS).toBe(7);

    t = 4900 + 11_000;
    loss = mon.snapshot()['bcast eth0']!.loss;
    expect(loss.percent).toBeCloseTo(66.67, 1);   // 100 missing of 150
    expect(loss.windowS).toBe(16);
    await path.close();
  });

  it('a path that opened a beat after the others lost nothing before its first datagram; a later gap still counts', async () => {
    let t = 0;
    const paths = ['bcast eth0', 'ucast eth1 10.0.1.2'];
    const engine = initEngine(
      { self: 'alpha', peer: 'beta', paths, keepaliveMs: 100, warntimeMs: 500, deadtimeMs: 1000, initdeadMs: 2000 },
      { self: 'alpha', autoFailback: 'off', groups: [], stopRetries: 1, stopRetryDelayMs: 1 },
      0, { held: new Set() },
    );
    const mon = new PathMonitor({ peer: 'beta', authkeys: keys, deadtimeMs: 1000, keepaliveMs: 100, now: () => t, engine: () => engine, log: () => undefined });
    const wrapped = paths.map((name) => mon.wrap({ name, send: () => undefined, close: async () => undefined }, name.startsWith('bcast') ? 'bcast' : 'ucast'));
    const deliver = mon.receiver(() => undefined);
    const status = (seq: number) => encode(buildStatus({
      status: 'active', deadtimeMs: 1000, src: 'beta', srcUuid: Buffer.alloc(16), seq, generation: 5, wallSeconds: 1, hold: [], yielding: [], failed: [],
    }), keys);
    for (let seq = 1; seq <= 30; seq++) {
      t = (seq - 1) * 100;
      deliver(status(seq), 'ucast eth1 10.0.1.2', '10.0.1.2');
      if (seq >= 3 && seq !== 20) deliver(status(seq), 'bcast eth0', '10.0.0.2');   // opened at seq 3; seq 20 lost
    }
    t = 2900 + 1000;
    const snap = mon.snapshot();
    expect(snap['ucast eth1 10.0.1.2']!.loss.percent).toBe(0);
    // seqs 3..30 were due on bcast once it carried its first; 20 is missing: 1 of 28.
    expect(snap['bcast eth0']!.loss.percent).toBeCloseTo(3.6, 1);
    await Promise.all(wrapped.map((x) => x.close()));
  });
});
