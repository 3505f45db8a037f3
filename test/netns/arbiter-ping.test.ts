// Ping nodes for quorum over real ICMP (raw socket) between two namespaces:
//
//   [P: eth0 10.215.1.1] --veth-- [T: eth0 10.215.1.2, 10.215.1.3]
//
// ping 10.215.1.2 (answers), ping 10.215.1.99 (nobody), ping_group gw
// 10.215.1.98 10.215.1.3 (one member answers). A raw socket works on the
// namespace of the process that opens it, so the pinger runs in a child
// started with `ip netns exec P`, built from dist/ by the global setup.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupPrefix, createNetns, createVeth, destroyNetns, netnsName, nsExec, sh } from '../helpers/netns.js';
import { need } from '../helpers/tools.js';

beforeAll(() => need('ip', 'ping'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'tdq';
const P = netnsName(PREFIX, 'p');
const T = netnsName(PREFIX, 't');
const INTERVAL = 100;
const DEADPING = 600;

interface Change { at: number; kind: string; name: string; status: string; reach: { up: number; total: number } }
interface StatsMsg { stats: Array<{ name: string; status: string; addrs: Array<{ addr: string; sent: number; received: number; lost: number; lossPct: number | null; rttMs: { min: number | null; avg: number | null; max: number | null } }> }>; foreign: number; ignored: number; reach: { up: number; total: number } }

const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;   // CLOCK_MONOTONIC, shared with the child

const DRIVER = `
import { createInterface } from 'node:readline';
const { IcmpPinger } = await import(process.argv[1]);
const ms = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const p = IcmpPinger.open({
  targets: JSON.parse(process.argv[2]), intervalMs: ${INTERVAL}, deadpingMs: ${DEADPING}, upAfter: 2,
  onChange: (c) => out({ change: { at: ms(), ...c } }),
  onError: (m) => out({ error: m }),
});
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'stats') out({ stats: p.stats(), foreign: p.foreign, ignored: p.ignored, reach: p.reach() });
  if (l === 'exit') { p.close(); process.exit(0); }
});
out({ ready: true });
`;

class Pinger {
  readonly changes: Change[] = [];
  private statsWaiters: Array<(s: StatsMsg) => void> = [];
  stderr = '';
  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { change?: Change; stats?: unknown; error?: string };
      if (m.change) this.changes.push(m.change);
      if (m.stats) this.statsWaiters.shift()?.(m as StatsMsg);
      if (m.error) this.stderr += m.error + '\n';
    });
    proc.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }
  stats(): Promise<StatsMsg> {
    return new Promise((r) => {
      this.statsWaiters.push(r);
      this.proc.stdin.write('stats\n');
    });
  }
  async waitFor(what: string, pred: (c: Change) => boolean, after: number, timeoutMs: number): Promise<Change> {
    const end = nowMs() + timeoutMs;
    for (;;) {
      const hit = this.changes.find((c) => c.at >= after && pred(c));
      if (hit) return hit;
      if (this.proc.exitCode !== null) throw new Error(`pinger exited: ${this.stderr}`);
      if (nowMs() > end) throw new Error(`timed out waiting for ${what}; changes: ${JSON.stringify(this.changes)}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe.sequential('ICMP ping nodes in a namespace pair', () => {
  let pinger: Pinger | undefined;
  let startedAt = 0;

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);
    await createNetns(P);
    await createNetns(T);
    await createVeth({ ns: P, ifname: 'eth0', cidr: '10.215.1.1/24' }, { ns: T, ifname: 'eth0', cidr: '10.215.1.2/24' });
    await sh('ip', ['-n', T, 'addr', 'add', '10.215.1.3/24', 'dev', 'eth0']);
    const targets = [
      { name: '10.215.1.2', addrs: ['10.215.1.2'] },
      { name: '10.215.1.99', addrs: ['10.215.1.99'] },
      { name: 'gw', addrs: ['10.215.1.98', '10.215.1.3'] },
    ];
    startedAt = nowMs();
    const proc = spawn('ip', ['netns', 'exec', P, process.execPath, '--input-type=module', '-e', DRIVER,
      join(ROOT, 'dist/src/ping/icmp.js'), JSON.stringify(targets)]);
    pinger = new Pinger(proc);
  }, 60_000);

  afterAll(async () => {
    pinger?.proc.kill('SIGKILL');
    await destroyNetns(P);
    await destroyNetns(T);
  });

  it('reachable, unreachable and ping-group targets settle as expected, with RTT and loss figures', async () => {
    const p = pinger!;
    const up = await p.waitFor('10.215.1.2 up', (c) => c.kind === 'target-status' && c.name === '10.215.1.2' && c.status === 'up', startedAt, 5000);
    const gw = await p.waitFor('gw up', (c) => c.kind === 'target-status' && c.name === 'gw' && c.status === 'up', startedAt, 5000);
    const down = await p.waitFor('10.215.1.99 down', (c) => c.kind === 'target-status' && c.name === '10.215.1.99' && c.status === 'down', startedAt, 5000);
    // Up after two answers (one interval apart), down after deadping without one.
    expect(up.at - startedAt).toBeLessThan(INTERVAL * 2 + 500);
    expect(down.at - startedAt).toBeGreaterThanOrEqual(DEADPING - 50);
    expect(gw.at).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1000));
    const s = await p.stats();
    expect(s.reach).toEqual({ up: 2, total: 3 });
    const a2 = s.stats.find((t) => t.name === '10.215.1.2')!.addrs[0]!;
    expect(a2.received).toBeGreaterThan(5);
    expect(a2.lossPct).toBe(0);
    expect(a2.rttMs.min).toBeGreaterThan(0);
    expect(a2.rttMs.max).toBeLessThan(50);
    const a99 = s.stats.find((t) => t.name === '10.215.1.99')!.addrs[0]!;
    expect(a99.received).toBe(0);
    expect(a99.lost).toBeGreaterThan(0);
    const g = s.stats.find((t) => t.name === 'gw')!;
    expect(g.addrs.map((x) => [x.addr, x.received > 0])).toEqual([['10.215.1.98', false], ['10.215.1.3', true]]);
    console.log(`[ping] up after ${(up.at - startedAt).toFixed(0)} ms, unreachable down after ${(down.at - startedAt).toFixed(0)} ms; ` +
      `RTT to 10.215.1.2 min/avg/max ${a2.rttMs.min}/${a2.rttMs.avg}/${a2.rttMs.max} ms over ${a2.received} replies`);
  });

  it('echo replies meant for another pinger on the host are seen by the raw socket and ignored', async () => {
    const p = pinger!;
    const before = await p.stats();
    await nsExec(P, 'ping', ['-c', '5', '-i', '0.2', '-W', '1', '10.215.1.2']);
    const after = await p.stats();
    expect(after.foreign - before.foreign).toBeGreaterThanOrEqual(5);
    const b = before.stats.find((t) => t.name === '10.215.1.2')!.addrs[0]!;
    const a = after.stats.find((t) => t.name === '10.215.1.2')!.addrs[0]!;
    // Our counts moved only by our own probes: never more answers than probes.
    expect(a.received - b.received).toBeLessThanOrEqual(a.sent - b.sent);
    expect(a.lossPct).toBe(0);
  });

  it('a target that stops answering goes down after deadping, and comes back after two answers', async () => {
    const p = pinger!;
    const cut = nowMs();
    await sh('ip', ['-n', T, 'link', 'set', 'eth0', 'down']);
    const down = await p.waitFor('10.215.1.2 down', (c) => c.name === '10.215.1.2' && c.kind === 'target-status' && c.status === 'down', cut, 5000);
    const gwDown = await p.waitFor('gw down', (c) => c.name === 'gw' && c.kind === 'target-status' && c.status === 'down', cut, 5000);
    expect(down.reach.up).toBeLessThanOrEqual(1);
    // The two targets go down in either order, possibly in one tick (the same
    // ms): the later change in the pinger's order says nothing is reachable.
    expect((p.changes.indexOf(down) > p.changes.indexOf(gwDown) ? down : gwDown).reach).toEqual({ up: 0, total: 3 });
    // Down no sooner than deadping after the cut minus one interval (the last answer came before the cut).
    expect(down.at - cut).toBeGreaterThanOrEqual(DEADPING - INTERVAL - 20);
    expect(down.at - cut).toBeLessThan(DEADPING + 400);
    const restore = nowMs();
    await sh('ip', ['-n', T, 'link', 'set', 'eth0', 'up']);
    const up = await p.waitFor('10.215.1.2 up again', (c) => c.name === '10.215.1.2' && c.kind === 'target-status' && c.status === 'up', restore, 5000);
    expect(up.at).toBeGreaterThan(restore);   // (that it takes two answers is checked in the unit test)
    console.log(`[ping] link cut: down after ${(down.at - cut).toFixed(0)} ms (deadping ${DEADPING}); link back: up after ${(up.at - restore).toFixed(0)} ms`);
  });
});
