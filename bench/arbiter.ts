// npm run bench:arbiter — time from a cut to a single holder, with an arbiter.
//
// A pair (keepalive 100 ms, deadtime 300 ms: lease TTL 2 s, safety 200 ms)
// and an arbiter in a third namespace on the client's bridge (Pair's
// `arbiter` option): tandem's own (`tandem arbiter`) and etcd (/usr/bin/etcd).
//   cut_ms       heartbeat cut (nftables drops UDP 694 in the standby's
//                namespace), both still reach the arbiter: from the cut until
//                the standby has declared the active node dead and been
//                refused the lease, i.e. the pair settled on one holder (the
//                active node, which never let go)
//   release_ms   the active node cut off from everything (nftables drops all
//                but loopback in its namespace): until its kernel drops the VIP
//   takeover_ms  same cut: until the standby's kernel adds the VIP (always
//                after release_ms; a run where it is not is reported and fails)
// VIP times come from `ip -ts monitor address` in each namespace.
//
// Usage: npm run bench:arbiter -- [--runs N] [--backend tandem|etcd|both]

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair, type NodeName, type StatusJson } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const runs = Math.max(1, parseInt(arg('runs', '5'), 10));
const which = arg('backend', 'both');
const TABLE = 'tdqab';
const other = (n: NodeName): NodeName => (n === 'alpha' ? 'beta' : 'alpha');

type Q = StatusJson & { quorum: { mutual: boolean; groups: Array<{ lease: { status: string } | null }> } | null };
const peerState = (s: StatusJson) => s.nodes.find((x) => !x.self)?.state;

async function cut(p: Pair, node: NodeName, what: 'heartbeat' | 'all'): Promise<void> {
  const [i, o] = what === 'heartbeat' ? ['udp dport 694 drop;', 'udp dport 694 drop;'] : ['meta iif != lo drop;', 'meta oif != lo drop;'];
  const f = join(p.dir(node), 'bench-cut.nft');
  writeFileSync(f, `table inet ${TABLE} {\n chain in { type filter hook input priority 0; ${i} }\n chain out { type filter hook output priority 0; ${o} }\n}\n`);
  await sh('ip', ['netns', 'exec', p.ns[node], 'nft', '-f', f]);
}
const heal = (p: Pair, node: NodeName) => sh('ip', ['netns', 'exec', p.ns[node], 'nft', 'delete', 'table', 'inet', TABLE], { allowFail: true });

async function formed(p: Pair, active: NodeName): Promise<void> {
  await p.waitForStatus(active, `${active} running with its lease`, (s) => {
    const q = (s as Q).quorum;
    return s.groups[0]?.local.phase === 'running' && q?.mutual === true && q.groups[0]?.lease?.status === 'held';
  }, 30_000);
  await p.waitForStatus(other(active), `${other(active)} standby`, (s) =>
    peerState(s) === 'up' && (s as Q).quorum?.mutual === true && s.groups[0]?.local.phase === 'stopped', 30_000);
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `median ${med.toFixed(0)} ms  min ${s[0]!.toFixed(0)} ms  max ${s.at(-1)!.toFixed(0)} ms`;
}

async function bench(kind: 'tandem' | 'etcd', net: string): Promise<string[]> {
  const p = new Pair({ prefix: 'tdqabn', net, workDir: join(tmpdir(), `tandem-bench-arbiter-${kind}`), autoFailback: 'off', arbiter: kind });
  const cutMs: number[] = [];
  const releaseMs: number[] = [];
  const takeoverMs: number[] = [];
  try {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await formed(p, 'alpha');
    let active: NodeName = 'alpha';
    const vip = new RegExp(`inet ${p.vip.replace(/\./g, '\\.')}/`);
    for (let i = 0; i < runs; i++) {
      const standby = other(active);
      // Scenario 1: heartbeat cut, arbiter reachable.
      let t0 = performance.now();
      await cut(p, standby, 'heartbeat');
      await waitFor(`${standby} refused`, async () => {
        const s = await p.status(standby) as Q;
        return peerState(s) === 'dead' && s.quorum?.groups[0]?.lease?.status === 'denied' ? true : undefined;
      }, 15_000, 20);
      cutMs.push(performance.now() - t0);
      if (!(await p.holdsVip(active)) || (await p.holdsVip(standby))) throw new Error(`${kind} run ${i + 1}: not exactly one holder after the heartbeat cut`);
      await heal(p, standby);
      await formed(p, active);
      // Scenario 2: the active node isolated.
      const mon = { [active]: new LineWatcher('ip', ['-n', p.ns[active], '-ts', 'monitor', 'address']), [standby]: new LineWatcher('ip', ['-n', p.ns[standby], '-ts', 'monitor', 'address']) } as Record<NodeName, LineWatcher>;
      await sleep(300);
      t0 = performance.now();
      await cut(p, active, 'all');
      const came = await mon[standby].first(new RegExp(`^\\[.*\\]\\s*(?!Deleted).*${vip.source}`), t0, 20_000);
      const gone = await mon[active].first(new RegExp(`Deleted .*${vip.source}`), t0, 1000);
      mon[active].stop();
      mon[standby].stop();
      if (!came || !gone) throw new Error(`${kind} run ${i + 1}: the VIP did not move (released: ${!!gone}, taken: ${!!came})`);
      if (came.at <= gone.at) throw new Error(`${kind} run ${i + 1}: ${standby} added the VIP before ${active} removed it`);
      releaseMs.push(gone.at - t0);
      takeoverMs.push(came.at - t0);
      console.log(`  ${kind} run ${i + 1}: cut_ms=${cutMs.at(-1)!.toFixed(0)} release_ms=${releaseMs.at(-1)!.toFixed(0)} takeover_ms=${takeoverMs.at(-1)!.toFixed(0)}`);
      await heal(p, active);
      await formed(p, standby);
      active = standby;
    }
  } finally {
    await p.stopTandem('alpha').catch(() => undefined);
    await p.stopTandem('beta').catch(() => undefined);
    await p.cleanup();
  }
  return [
    `${kind} (n=${runs}):`,
    `  heartbeat cut -> single holder settled:   ${stats(cutMs)}`,
    `  active isolated -> it drops the VIP:      ${stats(releaseMs)}`,
    `  active isolated -> standby has the VIP:   ${stats(takeoverMs)}`,
  ];
}

async function main(): Promise<void> {
  await Pair.removeStale('tdqabn');
  const out: string[] = [];
  if (which === 'tandem' || which === 'both') out.push(...await bench('tandem', '10.219.8'));
  if (which === 'etcd' || which === 'both') out.push(...await bench('etcd', '10.219.9'));
  console.log(`\ncut to single holder with an arbiter (keepalive 100 ms, deadtime 300 ms, lease TTL 2 s, safety 200 ms):`);
  for (const l of out) console.log(l);
}

main().catch((e: Error) => {
  console.error(`bench:arbiter: ${e.message}`);
  process.exit(1);
});
