// npm run bench:failover — crash-to-VIP and crash-to-client-reachable, for
// tandem, Debian's Heartbeat 3.0.6 and keepalived 2.2.7 in the same harness.
//
// A "crash" is a power loss: the holder's link goes down and every process
// in its namespace is SIGKILLed. t0 is taken just before the link goes down.
//   vip_ms   until the survivor's kernel reports the VIP (ip -ts monitor, in its namespace)
//   reach_ms until the client gets the first echo reply from the VIP (ping -D every 10 ms)
// The crashed node is powered on again and given initdead + 0.5 s before the
// next run, and the next crash hits whoever holds the VIP then.
//
// keepalived (lab/keepalived.ts: VRRPv3, unicast, alpha at the higher
// priority, preempt) has no keepalive/deadtime: a setting maps to advert_int
// = keepalive (0.1 s for 100 ms, 0.02 for 20 ms, 0.01 for 10 ms); its
// Master_Down_Interval is 3 x advert_int + skew. A crash is a power loss as
// for the others (lab/keepalived.ts: every process SIGSTOPped, link down,
// then SIGKILLed, so no goodbye advert). As alpha
// preempts when it comes back, the next crash hits whoever holds the VIP.
// Heartbeat is not run at 10 ms (its dead-node check is polled every 250 ms).
//
// mixed (issue 17): tandem on alpha, Heartbeat on beta, one pair; the crash
// alternates between them, so half the runs have a tandem survivor and half
// a Heartbeat survivor, printed as two rows (mixed/tandem, mixed/hb: the
// survivor's daemon). auto_failback off, as for the others. Its anchor, a
// pair of Heartbeat nodes, is measured in the same run.
//
// Usage: npm run bench:failover -- [--runs N] [--impl tandem|heartbeat|keepalived|mixed|both|all] [--json FILE]
//   both = tandem and heartbeat (as before); all = tandem, heartbeat and keepalived; mixed = heartbeat and mixed

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEEPALIVED_BIN, KeepalivedPair } from '../lab/keepalived.js';
import { Pair, type NodeName } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';

interface Setting { label: string; keepalive: string; deadtime: string; warntime: string; initdead: string }
const SETTINGS: Setting[] = [
  { label: 'keepalive 100ms / deadtime 300ms', keepalive: '100ms', deadtime: '300ms', warntime: '200ms', initdead: '2' },
  { label: 'keepalive 20ms / deadtime 100ms', keepalive: '20ms', deadtime: '100ms', warntime: '60ms', initdead: '2' },
  { label: 'keepalive 10ms / deadtime 30ms', keepalive: '10ms', deadtime: '30ms', warntime: '20ms', initdead: '2' },
];
type Impl = 'tandem' | 'heartbeat' | 'keepalived' | 'mixed';

/** keepalived's advert_int for a setting: its keepalive, in seconds. */
const advertInt = (s: Setting) => parseFloat(s.keepalive) / 1000;
const settingLabel = (impl: Impl, s: Setting) => (impl === 'keepalived' ? `advert_int ${advertInt(s)} (for ${s.keepalive})` : s.label);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const wallNow = () => performance.timeOrigin + performance.now();

interface Run { vipMs: number; reachMs: number; killed: NodeName }

async function measure(impl: Impl, s: Setting, runs: number, idx: number): Promise<Run[]> {
  const common = { prefix: `tdb${idx}`, net: `10.212.${idx}`, workDir: join(tmpdir(), `tandem-bench-${impl}-${idx}`) };
  const pair = impl === 'keepalived'
    ? new KeepalivedPair({ ...common, advertInt: advertInt(s) })
    : new Pair({
      ...common, keepalive: s.keepalive, deadtime: s.deadtime, warntime: s.warntime, initdead: s.initdead,
      autoFailback: 'off', media: 'bcast', impl: impl === 'mixed' ? 'tandem' : impl, ...(impl === 'mixed' ? { heartbeatNodes: ['beta' as const] } : {}),
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
      console.log(`  ${impl} ${settingLabel(impl, s)} run ${i + 1}: killed=${holder} vip_ms=${run.vipMs.toFixed(0)} reach_ms=${Number.isNaN(reachMs) ? 'n/a' : reachMs.toFixed(0)}`);
      await pair.powerOn(holder);
      await sleep(initdeadMs + 500);
      holder = impl === 'keepalived' ? await soleHolder(pair) : survivor;
    }
  } finally {
    for (const w of watchers) w.stop();
    await pair.cleanup();
  }
  return results;
}

/** The node that alone holds the VIP (keepalived's alpha preempts when it is back). */
async function soleHolder(pair: { holdsVip(node: NodeName): Promise<boolean> }): Promise<NodeName> {
  return waitFor('a single VIP holder', async () => {
    const a = await pair.holdsVip('alpha');
    const b = await pair.holdsVip('beta');
    return a !== b ? (a ? 'alpha' : 'beta') : undefined;
  }, 10_000, 50);
}

function stats(xs: number[]): string {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return 'n/a';
  const med = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return `${med.toFixed(0)} / ${v[0]!.toFixed(0)} / ${v[v.length - 1]!.toFixed(0)}`;
}

async function main(): Promise<void> {
  const runs = Math.max(1, parseInt(arg('runs', '5'), 10));
  const implArg = arg('impl', 'both');
  // mixed runs with its anchor, a pair of Heartbeat nodes, in the same run.
  const impls: Impl[] = implArg === 'both' ? ['tandem', 'heartbeat'] : implArg === 'all' ? ['tandem', 'heartbeat', 'keepalived']
    : implArg === 'mixed' ? ['heartbeat', 'mixed']
    : (['tandem', 'heartbeat', 'keepalived'] as readonly Impl[]).includes(implArg as Impl) ? [implArg as Impl] : [];
  if (impls.length === 0) {
    console.error(`bench:failover: --impl '${implArg}' is not one of tandem, heartbeat, keepalived, mixed, both, all`);
    process.exit(2);
  }
  if (impls.includes('heartbeat') || impls.includes('mixed')) {
    const hb = await sh('sh', ['-c', 'test -x /usr/libexec/heartbeat/heartbeat && echo yes'], { allowFail: true });
    if (!hb.includes('yes')) {
      if (impls.includes('mixed')) {
        console.error('bench:failover: --impl mixed needs Heartbeat (apt-get install heartbeat)');
        process.exit(2);
      }
      console.error('Heartbeat is not installed (apt-get install heartbeat); measuring tandem only');
      impls.splice(impls.indexOf('heartbeat'), 1);
    }
  }
  if (impls.includes('keepalived') && !(await sh('sh', ['-c', `test -x ${KEEPALIVED_BIN} && echo yes`], { allowFail: true })).includes('yes')) {
    console.error('keepalived is not installed (apt-get install keepalived); not measured');
    impls.splice(impls.indexOf('keepalived'), 1);
  }
  const table: Array<{ impl: string; setting: string; anchorSetting?: string; runs: Run[] }> = [];
  let idx = 1;
  for (const s of SETTINGS) {
    for (const impl of impls) {
      // Heartbeat's 250 ms dead-node poll makes a 10 ms keepalive meaningless (and slow to run).
      if ((impl === 'heartbeat' || impl === 'mixed') && parseFloat(s.keepalive) < 20) { idx++; continue; }
      console.log(`${impl}, ${settingLabel(impl, s)}, ${runs} runs`);
      if (impl === 'mixed') {
        // Alternating crashes: at least `runs` with each daemon as the survivor.
        const all = await measure(impl, s, runs * 2, idx++);
        table.push({ impl: 'mixed/tandem', setting: s.label, runs: all.filter((r) => r.killed === 'beta') });
        table.push({ impl: 'mixed/hb', setting: s.label, runs: all.filter((r) => r.killed === 'alpha') });
        continue;
      }
      table.push({
        impl, setting: s.label, ...(impl === 'keepalived' ? { anchorSetting: `advert_int ${advertInt(s)}` } : {}),
        runs: await measure(impl, s, runs, idx++),
      });
    }
  }
  console.log('\nfailover, power loss of the active node (ms, median / min / max)');
  if (impls.includes('keepalived')) console.log('keepalived runs VRRPv3 unicast with advert_int = the setting\'s keepalive (Master_Down = 3 x advert_int + skew)');
  if (impls.includes('mixed')) console.log('mixed: tandem on alpha, Heartbeat on beta; mixed/tandem = a tandem survivor (Heartbeat crashed), mixed/hb = a Heartbeat survivor');
  console.log('impl         setting                              crash-to-VIP        crash-to-client-reachable   n');
  for (const r of table) {
    const label = r.anchorSetting ? `${r.setting.split(' / ')[0]} -> ${r.anchorSetting}` : r.setting;
    console.log(`${r.impl.padEnd(12)} ${label.padEnd(36)} ${stats(r.runs.map((x) => x.vipMs)).padEnd(19)} ${stats(r.runs.map((x) => x.reachMs)).padEnd(27)} ${r.runs.length}`);
  }
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify(table, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench:failover: ${e.message}`);
  process.exit(1);
});
