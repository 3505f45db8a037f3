// npm run bench:fencing — crash-to-VIP with fencing on.
//
// A pair with a power switch per node (ipmi_sim, Pair's `fencing` option,
// built-in ipmi type). A "crash" is a power loss of the holder: its link
// goes down and its processes are SIGKILLed (its switch still reads on).
// The survivor then needs deadtime, then fence_delay (it held fewer groups,
// so it waits in case the other is alive and shooting first), then the
// fence (power off, confirmed by a status read), then the takeover.
//   vip_ms  from just before the link goes down until the survivor's kernel
//           reports the VIP (ip -ts monitor in its namespace)
// The crashed node is then powered on through its switch (which boots its
// tandem) and rejoins as standby before the next run hits the new holder.
//
// Usage: npm run bench:fencing -- [--runs N] [--fence-delay SECONDS]

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair, type NodeName } from '../lab/pair.js';
import { LineWatcher, sleep, waitFor } from '../lab/sh.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const runs = Math.max(1, parseInt(arg('runs', '10'), 10));
// ipmi timeout=4 s is the least that fits two ipmitool calls (-N 1 -R 1);
// fence_delay may not be shorter than the longest device timeout plus
// keepalive plus 100 ms.
const fenceDelay = arg('fence-delay', '4200ms');

const other = (n: NodeName): NodeName => (n === 'alpha' ? 'beta' : 'alpha');
const wallNow = () => performance.timeOrigin + performance.now();

async function formed(pair: Pair, active: NodeName): Promise<void> {
  await pair.waitForStatus(other(active), `${other(active)} standby, hearing ${active}`, (s) =>
    s.nodes.find((n) => !n.self)?.state === 'up' && s.groups[0]?.holder === active && s.groups[0]?.local.phase === 'stopped', 20_000);
}

async function main(): Promise<void> {
  const pair = new Pair({
    prefix: 'tdfpbn', net: '10.218.9', workDir: join(tmpdir(), 'tandem-bench-fencing'),
    keepalive: '100ms', warntime: '200ms', deadtime: '300ms', initdead: '1', autoFailback: 'off',
    fencing: {
      stonithHost: (t, sw) => `stonith_host * ipmi ${sw.stonithParams(t, ['timeout=4']).join(' ')}`,
      extra: [`fence_delay ${fenceDelay}`, 'fence_check_interval 60'],
    },
  });
  const vipMs: number[] = [];
  try {
    await pair.setup();
    pair.startNode('alpha');
    pair.startNode('beta');
    await waitFor('the VIP on alpha', async () => ((await pair.holdsVip('alpha')) ? true : undefined), 30_000, 50);
    await formed(pair, 'alpha');
    let holder: NodeName = 'alpha';
    for (let i = 0; i < runs; i++) {
      const survivor = other(holder);
      const mon = new LineWatcher('env', ['TZ=UTC', 'ip', '-ts', '-n', pair.ns[survivor], 'monitor', 'address']);
      await sleep(300);
      const t0mono = performance.now();
      const t0wall = wallNow();
      await pair.powerOff(holder);
      const vip = await mon.first(new RegExp(`inet ${pair.vip.replace(/\./g, '\\.')}/`), t0mono, 30_000);
      mon.stop();
      if (!vip) throw new Error(`run ${i + 1}: the VIP never reached ${survivor}`);
      const ts = vip.line.match(/^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]/);
      const ms = ts ? Date.parse(`${ts[1]!.slice(0, 23)}Z`) + parseInt(ts[1]!.slice(23, 26).padEnd(3, '0'), 10) / 1000 - t0wall : vip.at - t0mono;
      const sw = pair.power[holder]!;
      if (sw.power() !== 'off') throw new Error(`run ${i + 1}: ${survivor} took the VIP but ${holder}'s switch reads ${sw.power()}`);
      vipMs.push(ms);
      console.log(`  run ${i + 1}: crashed ${holder}, vip_ms=${ms.toFixed(0)}`);
      // Power the fenced node on: its switch boots it; it rejoins as standby.
      await sw.ipmitool('chassis', 'power', 'on');
      await formed(pair, survivor);
      holder = survivor;
    }
  } finally {
    await pair.cleanup();
  }
  const s = [...vipMs].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  console.log(`\ncrash-to-VIP with fencing (ipmi via ipmi_sim; keepalive 100ms, deadtime 300ms, fence_delay ${fenceDelay}), n=${s.length}:`);
  console.log(`  median ${med.toFixed(0)} ms   min ${s[0]!.toFixed(0)} ms   max ${s.at(-1)!.toFixed(0)} ms`);
}

main().catch((e: Error) => {
  console.error(`bench:fencing: ${e.message}`);
  process.exit(1);
});
