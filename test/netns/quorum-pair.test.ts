// Quorum in a running pair: two tandem daemons and a real arbiter (tandem's
// own, `tandem arbiter`, or etcd from /usr/bin/etcd) in a third namespace on
// the client's bridge (Pair's `arbiter` option).
//
// How links are cut: nftables inside ONE node's namespace. "Heartbeat cut"
// drops UDP port 694 only, so both nodes still reach the arbiter; "isolated"
// drops everything but loopback, so the node reaches neither its peer nor
// the arbiter. Through each episode both nodes' VIP state is sampled every
// ~50 ms, and `ip -ts monitor address` in each namespace timestamps the VIP
// leaving one node and arriving on the other.
//
// Traffic stays inside the namespaces this file creates (prefix tdqa, 10.219.x).
// Needs root, nftables, socat, and /usr/bin/etcd for the etcd half.

import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pair, type NodeName, type StatusJson } from '../../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, 'nft'));

const PREFIX = 'tdqa';
const other = (n: NodeName): NodeName => (n === 'alpha' ? 'beta' : 'alpha');

/** The quorum part of `tandem status --json` (docs/status.md). */
interface QuorumJson {
  quorum: boolean;
  why: string;
  mutual: boolean;
  groups: Array<{ name: string; code: string; hold: string; take: string; lease: { status: string; holder: string | null } | null }>;
}
type Status = StatusJson & { quorum: QuorumJson | null };
const status = (p: Pair, n: NodeName) => p.status(n) as Promise<Status>;
const peerState = (s: Status) => s.nodes.find((x) => !x.self)?.state;

function logs(p: Pair): string {
  const tail = (f: string) => { try { return readFileSync(f, 'utf8').split('\n').slice(-40).join('\n'); } catch { return ''; } };
  return [...(['alpha', 'beta'] as const).map((n) => `--- ${n} ---\n${tail(p.logFile(n))}`), `--- arbiter ---\n${tail(p.arbiterLog())}`].join('\n');
}

async function withLogs<T>(p: Pair, body: () => Promise<T>): Promise<T> {
  try { return await body(); } catch (e) { throw new Error(`${(e as Error).message}\n${logs(p)}`); }
}

/** nftables in `node`'s namespace: 'heartbeat' drops UDP 694 both ways; 'all' drops everything but loopback. */
async function cut(p: Pair, node: NodeName, what: 'heartbeat' | 'all'): Promise<void> {
  const match = what === 'heartbeat' ? 'udp dport 694 drop;' : 'meta iif != lo drop;';
  const matchOut = what === 'heartbeat' ? 'udp dport 694 drop;' : 'meta oif != lo drop;';
  const rules = `table inet ${PREFIX} {
  chain in { type filter hook input priority 0; ${match} }
  chain out { type filter hook output priority 0; ${matchOut} }
}`;
  const f = join(p.dir(node), 'cut.nft');
  writeFileSync(f, rules);
  await sh('ip', ['netns', 'exec', p.ns[node], 'nft', '-f', f]);
}

async function heal(p: Pair, node: NodeName): Promise<void> {
  await sh('ip', ['netns', 'exec', p.ns[node], 'nft', 'delete', 'table', 'inet', PREFIX], { allowFail: true });
}

interface Sample { at: number; alpha: boolean; beta: boolean }

/** Samples both nodes' VIP state every ~50 ms in the background until stop(). */
class Sampler {
  private done = false;
  private readonly run: Promise<Sample[]>;
  constructor(p: Pair) {
    this.run = sampleUntil(p, () => this.done, 120_000);
  }
  stop(): Promise<Sample[]> {
    this.done = true;
    return this.run;
  }
}

/** Both nodes' VIP state every ~50 ms until `stop()` says so (or maxMs). */
async function sampleUntil(p: Pair, stop: (s: Sample[]) => boolean, maxMs: number): Promise<Sample[]> {
  const out: Sample[] = [];
  const end = performance.now() + maxMs;
  while (performance.now() < end) {
    const at = performance.now();
    const [alpha, beta] = await Promise.all([p.holdsVip('alpha'), p.holdsVip('beta')]);
    out.push({ at, alpha, beta });
    if (stop(out)) break;
    await sleep(Math.max(0, 50 - (performance.now() - at)));
  }
  return out;
}

/** Both daemons up and hearing each other, `active` running the group with its lease held. */
async function formed(p: Pair, active: NodeName, timeoutMs = 20_000): Promise<void> {
  await p.waitForStatus(active, `${active} running the group with its lease`, (s) => {
    const q = (s as Status).quorum;
    return s.groups[0]?.local.phase === 'running' && peerState(s as Status) === 'up' && q?.mutual === true && q.groups[0]?.lease?.status === 'held';
  }, timeoutMs);
  await p.waitForStatus(other(active), `${other(active)} standby hearing ${active}`, (s) =>
    peerState(s as Status) === 'up' && (s as Status).quorum?.mutual === true && s.groups[0]?.holder === active && s.groups[0]?.local.phase === 'stopped', timeoutMs);
}

async function holder(p: Pair): Promise<NodeName | undefined> {
  for (const n of ['alpha', 'beta'] as const) if (await p.holdsVip(n)) return n;
  return undefined;
}

/** Figures for the report (and bench/arbiter.ts prints its own). */
const figures: string[] = [];

function suite(kind: 'tandem' | 'etcd', net: string) {
  describe.sequential(`quorum pair with ${kind === 'tandem' ? "tandem's arbiter" : 'etcd'}`, () => {
    beforeAll(() => { if (kind === 'etcd') need('etcd'); });
    const p = new Pair({
      prefix: PREFIX, net, workDir: join(tmpdir(), `tandem-quorum-${kind}`), autoFailback: 'off', arbiter: kind,
      // deadtime 300 ms: default lease TTL 2 s, safety 200 ms
    });

    beforeAll(async () => {
      try {
        await p.setup();
        p.startTandem('alpha');
        p.startTandem('beta');
        await withLogs(p, () => formed(p, 'alpha'));
      } catch (e) {
        await p.cleanup();
        throw e;
      }
    }, 90_000);

    afterAll(async () => {
      await p.stopTandem('alpha').catch(() => undefined);
      await p.stopTandem('beta').catch(() => undefined);
      await p.cleanup();
    }, 60_000);

    it('status shows quorum yes, the arbiter and the lease', async () => {
      const s = await status(p, 'alpha');
      expect(s.quorum).toMatchObject({ quorum: true, mutual: true });
      expect(s.quorum?.groups[0]?.lease?.status).toBe('held');
      const text = await sh(process.execPath, [join(process.cwd(), 'bin', 'tandem'), 'status', '--run-dir', p.runDir('alpha')]);
      expect(text).toMatch(/QUORUM: yes \(hearing beta both ways\)/);
      expect(text).toMatch(/lease held/);
    });

    it('heartbeat cut, both reach the arbiter: exactly one node holds the group at every instant', () => withLogs(p, async () => {
      const active = (await holder(p))!;
      const standby = other(active);
      await formed(p, active);
      const t0 = performance.now();
      await cut(p, standby, 'heartbeat');
      try {
        // Sampled through the whole episode: until both have declared each
        // other dead and the standby has been refused, then 2.5 s more.
        const sampler = new Sampler(p);
        const refused = await p.waitForStatus(standby, `${standby} declares ${active} dead and is refused the lease`, (s) =>
          peerState(s as Status) === 'dead' && (s as Status).quorum?.groups[0]?.lease?.status === 'denied', 10_000) as Status;
        await sleep(2500);
        const samples = await sampler.stop();
        expect(refused.quorum?.quorum).toBe(false);
        expect(refused.quorum?.groups[0]?.lease?.holder).toBe(active);
        const a = await status(p, active);
        expect(peerState(a)).toBe('dead');
        expect(a.quorum?.quorum).toBe(true);
        expect(a.groups[0]?.local.phase).toBe('running');
        for (const x of samples) {
          expect({ at: Math.round(x.at - t0), [active]: x[active], [standby]: x[standby] }).toEqual({ at: Math.round(x.at - t0), [active]: true, [standby]: false });
        }
        expect(samples.length).toBeGreaterThan(40);
        figures.push(`${kind} scenario 1 (heartbeat cut): ${active} kept the group throughout; ${samples.length} samples, 0 with two holders or none`);
      } finally {
        await heal(p, standby);
      }
      await formed(p, active);
    }), 60_000);

    it('active node cut off from everything: it releases within its lease, the standby takes over only after', () => withLogs(p, async () => {
      const active = (await holder(p))!;
      const standby = other(active);
      await formed(p, active);
      const vipRe = new RegExp(`inet ${p.vip.replace(/\./g, '\\.')}/`);
      const watch = {
        [active]: new LineWatcher('ip', ['-n', p.ns[active], '-ts', 'monitor', 'address']),
        [standby]: new LineWatcher('ip', ['-n', p.ns[standby], '-ts', 'monitor', 'address']),
      } as Record<NodeName, LineWatcher>;
      try {
        await sleep(300);   // the monitors are listening
        const t0 = performance.now();
        await cut(p, active, 'all');
        const samples = await sampleUntil(p, (s) => {
          const last = s[s.length - 1]!;
          return last[standby] && s.filter((x) => x[standby]).length > 10;
        }, 15_000);
        const gone = await watch[active].first(new RegExp(`^\\[.*\\]\\s*Deleted .*${vipRe.source}`), t0, 1000);
        const came = await watch[standby].first(new RegExp(`^\\[.*\\]\\s*(?!Deleted).*${vipRe.source}`), t0, 1000);
        expect(gone, `${active} removed the VIP`).toBeDefined();
        expect(came, `${standby} added the VIP`).toBeDefined();
        const releasedMs = gone!.at - t0;
        const takenMs = came!.at - t0;
        // Within its lease: the default TTL is 2 s (deadtime 300 ms).
        expect(releasedMs).toBeLessThan(2000);
        expect(takenMs).toBeGreaterThan(releasedMs);
        for (const x of samples) expect(x.alpha && x.beta, `both held the VIP at +${Math.round(x.at - t0)} ms`).toBe(false);
        figures.push(`${kind} scenario 2 (active isolated): released at +${Math.round(releasedMs)} ms, standby took over at +${Math.round(takenMs)} ms (gap ${Math.round(takenMs - releasedMs)} ms)`);
        const s = await status(p, active);   // its control socket is local: still answers
        expect(s.quorum?.quorum).toBe(false);
        expect(s.groups[0]?.local.phase).toBe('stopped');
      } finally {
        watch[active].stop();
        watch[standby].stop();
        await heal(p, active);
      }
      await formed(p, standby);
    }), 60_000);

    it('arbiter down while the nodes hear each other: nothing moves; restarted: grants recovered', () => withLogs(p, async () => {
      const active = (await holder(p))!;
      const standby = other(active);
      await formed(p, active);
      const t0 = performance.now();
      await p.stopArbiter('SIGKILL');
      try {
        const samples = await sampleUntil(p, () => performance.now() - t0 > 4000, 6000);
        for (const x of samples) {
          expect({ at: Math.round(x.at - t0), [active]: x[active], [standby]: x[standby] }).toEqual({ at: Math.round(x.at - t0), [active]: true, [standby]: false });
        }
        const s = await status(p, active);
        expect(s.quorum?.quorum).toBe(true);
        expect(s.quorum?.groups[0]?.lease?.status).not.toBe('held');   // its TTL (2 s) ran out unrenewed
        expect(s.groups[0]?.local.phase).toBe('running');
      } finally {
        await p.startArbiter();
      }
      const t1 = performance.now();
      await p.waitForStatus(active, `${active} holds its lease again`, (s) => (s as Status).quorum?.groups[0]?.lease?.status === 'held', 15_000);
      figures.push(`${kind} scenario 3 (arbiter down): group stayed on ${active}; lease held again ${Math.round(performance.now() - t1)} ms after the arbiter was back`);
      await formed(p, active);
    }), 60_000);

    it('graceful stop of the active node: it releases its leases leaving, the standby takes over', () => withLogs(p, async () => {
      const active = (await holder(p))!;
      const standby = other(active);
      await formed(p, active);
      const t0 = performance.now();
      expect(await p.stopTandem(active)).toBe(0);
      await waitFor(`${standby} to hold the VIP`, async () => ((await p.holdsVip(standby)) ? true : undefined), 10_000, 20);
      const ms = performance.now() - t0;
      expect(await p.holdsVip(active)).toBe(false);
      const s = await status(p, standby);
      expect(s.quorum?.groups[0]?.lease?.status).toBe('held');
      figures.push(`${kind} graceful stop: ${standby} held the VIP ${Math.round(ms)} ms after SIGTERM to ${active}`);
      p.startTandem(active);
      await formed(p, standby);
    }), 60_000);
  });
}

/** nftables in the gateway's namespace: it stops answering `node` (its echo requests are dropped). */
async function gatewayDrops(p: Pair, node: NodeName, on: boolean): Promise<void> {
  const table = `${PREFIX}-${node}`;
  if (!on) {
    await sh('ip', ['netns', 'exec', p.gatewayNs, 'nft', 'delete', 'table', 'inet', table], { allowFail: true });
    return;
  }
  const f = join(p.dir(node), 'gw.nft');
  writeFileSync(f, `table inet ${table} {\n  chain in { type filter hook input priority 0; ip saddr ${p.ip[node]} drop; }\n}\n`);
  await sh('ip', ['netns', 'exec', p.gatewayNs, 'nft', '-f', f]);
}

/** The holders seen over time, with repeats and gaps (nobody) collapsed: ['alpha', 'beta'] is one move. */
function holders(samples: Sample[]): string[] {
  const seq: string[] = [];
  for (const x of samples) {
    const h = x.alpha && x.beta ? 'both' : x.alpha ? 'alpha' : x.beta ? 'beta' : undefined;
    if (h !== undefined && seq[seq.length - 1] !== h) seq.push(h);
  }
  return seq;
}

describe.sequential('quorum pair with a ping node (ipfail)', () => {
  const gw = '10.219.3.254';
  const lines = ['ping ' + gw, 'deadping 600ms', 'ipfail_delay 2'];
  const p = new Pair({
    prefix: PREFIX, net: '10.219.3', workDir: join(tmpdir(), 'tandem-quorum-ping'), autoFailback: 'off', gateway: true,
    extraHaCf: { alpha: lines, beta: lines },
  });
  const reachOf = (s: Status) => (s.quorum as unknown as { reach: { up: number; total: number } | null } | null)?.reach;

  beforeAll(async () => {
    try {
      await p.setup();
      p.startTandem('alpha');
      p.startTandem('beta');
      for (const n of ['alpha', 'beta'] as const) {
        await withLogs(p, () => p.waitForStatus(n, `${n} hearing its peer and reaching the gateway`, (s) =>
          peerState(s as Status) === 'up' && reachOf(s as Status)?.up === 1 && s.groups[0]?.holder === 'alpha', 20_000));
      }
    } catch (e) {
      await p.cleanup();
      throw e;
    }
  }, 90_000);

  afterAll(async () => {
    await p.stopTandem('alpha').catch(() => undefined);
    await p.stopTandem('beta').catch(() => undefined);
    await p.cleanup();
  }, 60_000);

  it('the active node loses its gateway: the group moves once and does not bounce while the gateway flaps', () => withLogs(p, async () => {
    const sampler = new Sampler(p);
    const t0 = performance.now();
    let samples: Sample[] = [];
    try {
      await gatewayDrops(p, 'alpha', true);
      await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 15_000, 50);
      const movedMs = performance.now() - t0;
      const s = await status(p, 'alpha');
      expect(s.quorum?.groups[0]?.code).toBe('ipfail-handover');
      // Flapping: alpha's gateway comes back and goes away again (shorter and
      // longer than ipfail_delay), and beta's drops out once, briefly.
      for (const ms of [1200, 2500, 800]) {
        await gatewayDrops(p, 'alpha', false);
        await sleep(ms);
        await gatewayDrops(p, 'alpha', true);
        await sleep(ms);
      }
      await gatewayDrops(p, 'beta', true);
      await sleep(900);
      await gatewayDrops(p, 'beta', false);
      await gatewayDrops(p, 'alpha', false);
      await sleep(3000);
      samples = await sampler.stop();
      expect(holders(samples)).toEqual(['alpha', 'beta']);
      figures.push(`ping/ipfail: alpha lost its gateway; group on beta ${Math.round(movedMs)} ms later (deadping 600 ms + ipfail_delay 2 s); ${samples.length} samples through ${Math.round((performance.now() - t0) / 1000)} s of flapping, one move`);
    } finally {
      await sampler.stop();
      await gatewayDrops(p, 'alpha', false);
      await gatewayDrops(p, 'beta', false);
    }
  }), 90_000);
});

suite('tandem', '10.219.1');
suite('etcd', '10.219.2');

afterAll(() => {
  if (figures.length) process.stderr.write(`quorum-pair figures:\n  ${figures.join('\n  ')}\n`);
});
