// The PathMonitor on a real serial path (serialport over a socat pty pair)
// beside a real engine: echo-based latency, per-path seq-gap loss, peer
// restarts, and the notify hook on path transitions.

import { afterAll, describe, expect, it, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthKeys, SerialMedium } from '../../src/config/types.js';
import { decode, encode } from '../../src/heartbeat/codec.js';
import { buildStatus, parseHeader, parseStatus } from '../../src/heartbeat/messages.js';
import { engineStep, initEngine, type EngineState } from '../../src/node/engine.js';
import { PathMonitor, type MonitoredPath } from '../../src/daemon/paths.js';
import { OutgoingDatagram } from '../../src/node/wire.js';
import { openSerialPath } from '../../src/transport/serial.js';
import { UserError } from '../../src/util/errors.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { need } from '../helpers/tools.js';

beforeAll(() => need('socat'));

const dir = mkdtempSync(join(tmpdir(), 'tandem-pathmon-'));
const keys: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('k') }]]) };
const DEADTIME = 300;
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

interface Node { engine: EngineState; mon: PathMonitor; path: MonitoredPath; send: (seq: number, generation: number) => void; logs: string[] }

async function node(self: string, peer: string, device: string, notify?: string): Promise<Node> {
  const name = `serial ${device}`;
  const engine = initEngine(
    { self, peer, paths: [name], keepaliveMs: 50, warntimeMs: 150, deadtimeMs: DEADTIME, initdeadMs: 2000 },
    { self, autoFailback: 'off', groups: [], stopRetries: 1, stopRetryDelayMs: 1 },
    performance.now(), { held: new Set() },
  );
  const logs: string[] = [];
  const mon = new PathMonitor({
    peer, authkeys: keys, deadtimeMs: DEADTIME, now: () => performance.now(), engine: () => engine,
    log: (l, m) => logs.push(`${l} ${m}`), env: { TANDEM_NODE: self, TANDEM_PEER: peer }, pollTransitionsMs: 100,
    ...(notify ? { notify: { command: notify, line: 9, file: '/etc/ha.d/ha.cf' } } : {}),
  });
  // What the daemon does with a datagram, minus resources: the engine judges the path.
  const deliver = mon.receiver((buf, path) => {
    const f = decode(buf, keys);
    const h = parseHeader(f);
    const st = parseStatus(f);
    engineStep(engine, { kind: 'heard', path, src: h.src, generation: h.generation!, seq: h.seq!, report: { status: st.status, hold: [], yielding: [], failed: [] } }, performance.now());
  });
  const medium: SerialMedium = { kind: 'serial', device, baud: 115200, line: 3 };
  const path = mon.wrap(await openSerialPath(medium, deliver), 'serial');
  cleanups.push(() => path.close());
  const send = (seq: number, generation: number) => path.send(new OutgoingDatagram(buildStatus({
    status: 'active', deadtimeMs: DEADTIME, src: self, srcUuid: Buffer.alloc(16), seq, generation, wallSeconds: 1, hold: [], yielding: [], failed: [],
  }), keys, { generation, seq }));
  return { engine, mon, path, send, logs };
}

describe('PathMonitor over a serial line', () => {
  it('measures latency by echo, counts seq gaps per path, resets on a peer restart, and runs notify on transitions', async () => {
    const A = join(dir, 'A');
    const B = join(dir, 'B');
    const cable = spawn('socat', [`pty,raw,echo=0,link=${A}`, `pty,raw,echo=0,link=${B}`], { stdio: 'ignore' });
    cleanups.push(() => { cable.kill('SIGKILL'); });
    await waitFor('ptys', async () => (existsSync(A) && existsSync(B) ? true : undefined), 5000, 10);
    const script = join(dir, 'notify.sh');
    const out = join(dir, 'notify.out');
    writeFileSync(script, `#!/bin/sh\necho "$1|$2|$TANDEM_NODE|$TANDEM_PEER|$TANDEM_EVENT" >> ${out}\n`);
    chmodSync(script, 0o755);

    const a = await node('alpha', 'beta', A);
    const b = await node('beta', 'alpha', B, script);
    const skipped = new Set([8, 9, 10]);
    // beta sends five times less often, so its echoes carry holds of up to
    // 100 ms: a latency figure that forgot to subtract them would show it.
    for (let seq = 1; seq <= 30; seq++) {
      if (!skipped.has(seq)) a.send(seq, 100);
      if (seq % 5 === 0) b.send(seq / 5, 200);
      await sleep(20);
    }
    // Seqs younger than min(1 s, deadtime) are not judged yet; let them age.
    await sleep(DEADTIME + 50);
    const atB = b.mon.snapshot()[`serial ${B}`]!;
    expect(atB.loss).toMatchObject({ received: 27, lost: 3 });
    expect(atB.loss.percent).toBe(10);                     // 3 of seqs 1..30 never came
    expect(atB.kind).toBe('serial');
    expect(atB.serial?.rx.frames).toBe(27);
    // Both directions carry echoes; a pty round trip is a few ms at most.
    const atA = a.mon.snapshot()[`serial ${A}`]!;
    expect(atB.latency.samples).toBeGreaterThan(20);
    expect(atA.latency.samples).toBeGreaterThanOrEqual(5);
    for (const s of [atB, atA]) {
      expect(s.latency.oneWayMs).toBeGreaterThanOrEqual(0);
      expect(s.latency.oneWayMs).toBeLessThan(20);
      expect(s.latency.rttMs).toBeGreaterThanOrEqual(0);
    }
    expect(atA.loss).toMatchObject({ received: 6, lost: 0, percent: 0 });

    // The path came up at beta: notify ran.
    await waitFor('path-up notify', async () => (existsSync(out) ? true : undefined), 3000);
    // Silence: the engine takes the path down at its deadline; the hook follows.
    engineStep(b.engine, { kind: 'tick' }, performance.now());
    expect(b.engine.m.paths[`serial ${B}`]!.up).toBe(false);
    await waitFor('path-down notify', async () => (readFileSync(out, 'utf8').includes('path-down') ? true : undefined), 3000);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual([
      `path-up|serial ${B}|beta|alpha|path-up`,
      `path-down|serial ${B}|beta|alpha|path-down`,
    ]);

    // alpha restarts: new generation, seqs start over; no gap is charged for that.
    for (let seq = 1; seq <= 5; seq++) {
      a.send(seq, 101);
      await sleep(20);
    }
    await sleep(100);
    expect(b.mon.snapshot()[`serial ${B}`]!.loss).toMatchObject({ received: 32, lost: 3 });
    expect(b.engine.m.paths[`serial ${B}`]!.up).toBe(true);
    expect(b.logs.filter((l) => l.startsWith('warn'))).toEqual([]);
  });

  it('refuses a notify program that cannot run, naming the ha.cf line', () => {
    const engine = () => undefined;
    const mk = (command: string) => new PathMonitor({ peer: 'b', authkeys: keys, deadtimeMs: 1000, now: () => 0, engine, log: () => undefined, notify: { command, line: 12, file: '/etc/ha.d/ha.cf' } });
    expect(() => mk(join(dir, 'nope'))).toThrow(new UserError(`/etc/ha.d/ha.cf:12: notify ${join(dir, 'nope')} is not an executable file`));
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'echo\n', { mode: 0o644 });
    expect(() => mk(plain)).toThrow(/ha.cf:12: notify .*plain is not an executable file/);
    expect(() => mk(dir)).toThrow(/is not an executable file/);
  });
});
