// npm run bench:failover — crash-to-VIP and crash-to-client-reachable, for
// tandem and for Debian's Heartbeat 3.0.6 in the same harness and settings.
//
// A "crash" is a power loss: the holder's link goes down and every process
// in its namespace is SIGKILLed. t0 is taken just before the link goes down.
//   vip_ms   until the survivor's kernel reports the VIP (ip -ts monitor, in its namespace)
//   reach_ms until the client gets the first echo reply from the VIP (ping -D every 10 ms)
// The crashed node is powered on again and given initdead + 0.5 s before the
// next run, and the next crash hits whoever holds the VIP then.
//
// Usage: npm run bench:failover -- [--runs N] [--impl tandem|heartbeat|both] [--json FILE]

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair, type NodeName } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';

interface Setting { label: string; keepalive: string; deadtime: string; warntime: string; initdead: string }
const SETTINGS: Setting[] = [
  { label: 'keepalive 100ms / deadtime 300ms', keepalive: '100ms', deadtime: '300ms', warntime: '200ms', initdead: '2' },
  { label: 'keepalive 20ms / deadtime 100ms', keepalive: '20ms', deadtime: '100ms', warntime: '60ms', initdead: '2' },
];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const wallNow = () => performance.timeOrigin + performance.now();

interface Run { vipMs: number; reachMs: number; killed: NodeName }

async function measure(impl: 'tandem' | 'heartbeat', s: Setting, runs: number, idx: number): Promise<Run[]> {
  const pair = new Pair({
    prefix: `tdb${idx}`, net: `10.212.${idx}`, workDir: join(tmpdir(), `tandem-bench-${impl}-${idx}`),
    keepalive: s.keepalive, deadtime: s.deadtime, warntime: s.warntime, initdead: s.initdead,
    autoFailback: 'off', media: 'bcast', impl,
  });
  const initdeadMs = parseFloat(s.initdead) * 1000;
  const results: Run[] = [];
  const watchers: LineWatcher[] = [];
  try {
    await pair.setup();
    pair.startNode('alpha');
    pair.startNode('beta');
    // Heartbeat waits RQSTDELAY (10 s) before its first acquisition.
    await waitFor('the VIP on alpha', async () => ((await pair.holdsVip('alpha')) ? true : undefined), 60_000, 50);
    await sleep(initdeadMs + 500);
    let holder: NodeName = 'alpha';
    for (let i = 0; i < runs; i++) {
      const survivor: NodeName = holder === 'alpha' ? 'beta' : 'alpha';
      const mon = new LineWatcher('env', ['TZ=UTC', 'ip', '-ts', '-n', pair.ns[survivor], 'monitor', 'address']);
      const ping = new LineWatcher('ip', ['netns', 'exec', pair.ns.client, 'ping', '-D', '-n', '-i', '0.01', pair.vip]);
      watchers.push(mon, ping);
      await sleep(300);   // let both watchers settle
      const t0mono = performance.now();
      const t0wall = wallNow();
      await pair.powerOff(holder);
      const downAt = wallNow();
      const vip = await mon.first(new RegExp(`inet ${pair.vip.replace(/\./g, '\\.')}/`), t0mono, 15_000);
      if (!vip) throw new Error(`${impl} run ${i + 1}: the VIP never reached ${survivor}`);
      let reachMs = NaN;
      for (let waited = 0; waited < 5000 && Number.isNaN(reachMs); waited += 20) {
        for (const l of ping.lines) {
          const m = l.line.match(/^\[(\d+\.\d+)\] \d+ bytes from/);
          if (m && parseFloat(m[1]!) * 1000 > downAt) { reachMs = parseFloat(m[1]!) * 1000 - t0wall; break; }
        }
        if (Number.isNaN(reachMs)) await sleep(20);
      }
      mon.stop(); ping.stop();
      // ip -ts stamps each event when it reads it from the kernel, which is
      // closer to the truth than when the line reaches us through a pipe.
      const ts = vip.line.match(/^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]/);
      const vipMs = ts ? Date.parse(`${ts[1]!.slice(0, 23)}Z`) + (parseInt(ts[1]!.slice(23, 26).padEnd(3, '0'), 10) / 1000) - t0wall : vip.at - t0mono;
      const run = { vipMs, reachMs, killed: holder };
      results.push(run);
      console.log(`  ${impl} ${s.label} run ${i + 1}: killed=${holder} vip_ms=${run.vipMs.toFixed(0)} reach_ms=${Number.isNaN(reachMs) ? 'n/a' : reachMs.toFixed(0)}`);
      await pair.powerOn(holder);
      await sleep(initdeadMs + 500);
      holder = survivor;
    }
  } finally {
    for (const w of watchers) w.stop();
    await pair.cleanup();
  }
  return results;
}

function stats(xs: number[]): string {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return 'n/a';
  const med = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return `${med.toFixed(0)} / ${v[0]!.toFixed(0)} / ${v[v.length - 1]!.toFixed(0)}`;
}

async function main(): Promise<void> {
  const runs = Math.max(1, parseInt(arg('runs', '10'), 10));
  const implArg = arg('impl', 'both');
  const impls = (implArg === 'both' ? ['tandem', 'heartbeat'] : [implArg]) as Array<'tandem' | 'heartbeat'>;
  if (impls.includes('heartbeat')) {
    const hb = await sh('sh', ['-c', 'test -x /usr/libexec/heartbeat/heartbeat && echo yes'], { allowFail: true });
    if (!hb.includes('yes')) {
      console.error('Heartbeat is not installed (apt-get install heartbeat); measuring tandem only');
      impls.splice(impls.indexOf('heartbeat'), 1);
    }
  }
  const table: Array<{ impl: string; setting: string; runs: Run[] }> = [];
  let idx = 1;
  for (const s of SETTINGS) {
    for (const impl of impls) {
      console.log(`${impl}, ${s.label}, ${runs} runs`);
      table.push({ impl, setting: s.label, runs: await measure(impl, s, runs, idx++) });
    }
  }
  console.log('\nfailover, power loss of the active node (ms, median / min / max)');
  console.log('impl       setting                              crash-to-VIP        crash-to-client-reachable   n');
  for (const r of table) {
    console.log(`${r.impl.padEnd(10)} ${r.setting.padEnd(36)} ${stats(r.runs.map((x) => x.vipMs)).padEnd(19)} ${stats(r.runs.map((x) => x.reachMs)).padEnd(27)} ${r.runs.length}`);
  }
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify(table, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench:failover: ${e.message}`);
  process.exit(1);
});
