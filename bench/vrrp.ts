// npm run bench:vrrp — VRRP failover on a power loss of the master, for
// `tandem run -f keepalived.conf` and keepalived 2.2.7 running the same
// keepalived.conf pair in the same harness (issue 14).
//
// The pair is lab/keepalived.ts: alpha (priority 150) and beta (100), VRRPv3,
// unicast adverts, one VIP NET.100/24 on eth0, preemption on, a client on the
// bridge between them. For each advert_int and implementation one pair is
// set up and crashed --runs times; alpha is always the one that dies:
//   - alpha holds the VIP alone and the client's pings reach it;
//   - power loss of alpha (lab powerOff: every process of its namespace
//     SIGSTOPped, its link downed, all SIGKILLed: no priority-0 goodbye);
//     t0 is taken just before the first SIGSTOP;
//   - crash → VIP: until beta's kernel reports the VIP, from `ip -ts monitor
//     address` in beta's namespace (an event stamped by `ip` when it reads it
//     from the netlink socket, microsecond resolution; not polled);
//   - crash → client-reachable: until the client's first echo reply from the
//     VIP received after alpha's link is down, so it can only be beta's
//     (`ping -D -i 0.002`: 2 ms resolution, the kernel's receive stamp);
//   - alpha is powered on again (a reboot: its own address only) and
//     preempts; the next run starts once it holds the VIP alone again.
//   - last advert → VIP: from alpha's last advert (tcpdump --immediate-mode
//     in beta's namespace, the kernel's receive stamp) to the VIP, the same
//     takeover without the crash's phase: alpha's last advert came up to one
//     advert_int before the crash, uniformly, which spreads crash → VIP over
//     a whole interval (10 ms at 0.01) and makes medians of a few dozen runs
//     differ by a millisecond or two between identical implementations.
// A run in which beta's kernel reports the VIP before t0 (beta took over
// while alpha was up: it missed alpha's adverts for Master_Down_Interval)
// is not timed; it is counted in the table's "false takeovers" column.
// Beta takes over Master_Down_Interval = 3 x advert_int + (256-100)/256 x
// advert_int after alpha's last advert (RFC 5798), for both implementations.
//
// Usage: npm run bench:vrrp -- [--runs 5] [--advert 0.1,0.01] [--impl tandem,keepalived] [--json FILE]
//        [--prefix tdvb] [--net 10.241]

import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEEPALIVED_BIN, KeepalivedPair, type VrrpImpl } from '../lab/keepalived.js';
import { LineWatcher, sleep, waitFor } from '../lab/sh.js';
import { benchUsage, parseBenchArgs } from './args.js';

const IMPLS: VrrpImpl[] = ['tandem', 'keepalived'];
const USAGE = 'usage: npm run bench:vrrp -- [--runs 5] [--advert 0.1,0.01] [--impl tandem,keepalived] [--json FILE] [--prefix tdvb] [--net 10.241]';
const OPTIONS = ['runs', 'advert', 'impl', 'json', 'prefix', 'net'];

const usage = (msg: string): never => benchUsage('bench:vrrp', USAGE, msg);
const parseArgs = (argv: string[]): Map<string, string> => parseBenchArgs('bench:vrrp', USAGE, OPTIONS, argv);

interface Run { vipMs: number; reachMs: number; fromAdvertMs: number }
interface Row { impl: VrrpImpl; advertInt: number; runs: Run[]; falseTakeovers: number }

const live: KeepalivedPair[] = [];
const watchers: LineWatcher[] = [];
const wallNow = () => performance.timeOrigin + performance.now();

/** beta's Master_Down_Interval at priority 100 (RFC 5798), ms. */
const masterDownMs = (advertInt: number) => (3 * advertInt + ((256 - 100) / 256) * advertInt) * 1000;

/** `[2026-12-03T21:10:00.123456]` (ip -ts, TZ=UTC) as wall-clock ms with the microseconds kept. */
function ipTimestampMs(line: string): number | undefined {
  const ts = line.match(/^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\]/);
  if (!ts) return undefined;
  return Date.parse(`${ts[1]}Z`) + parseFloat(`0.${ts[2]}`) * 1000;
}

async function soleHolderAlpha(pair: KeepalivedPair, timeoutMs: number): Promise<void> {
  await waitFor(`${pair.impl}: the VIP on alpha alone`, async () => ((await pair.holdsVip('alpha')) && !(await pair.holdsVip('beta')) ? true : undefined), timeoutMs, 20);
}

async function measure(impl: VrrpImpl, advertInt: number, runs: number, prefix: string, net: string): Promise<Row> {
  const pair = new KeepalivedPair({ prefix, net, workDir: join(tmpdir(), `tandem-bench-vrrp-${impl}`), advertInt, impl });
  live.push(pair);
  const row: Row = { impl, advertInt, runs: [], falseTakeovers: 0 };
  // An address added (ip monitor prints removals as "Deleted ...").
  const vipRe = new RegExp(`^\\[[^\\]]+\\]\\s*(?!Deleted)\\S.* inet ${pair.vip.replace(/\./g, '\\.')}/`);
  try {
    await pair.setup();
    pair.startNode('alpha');
    pair.startNode('beta');
    for (let i = 0; i < runs; i++) {
      await soleHolderAlpha(pair, 30_000);
      // Steady state: beta has heard alpha for a while and the client's ARP entry points at alpha.
      await sleep(Math.max(500, 10 * advertInt * 1000));
      await waitFor(`${impl}: the client reaching the VIP on alpha`, async () => ((await pair.clientPing()) ? true : undefined), 5000, 20);
      const mon = new LineWatcher('env', ['TZ=UTC', 'ip', '-ts', '-n', pair.ns.beta, 'monitor', 'address']);
      const ping = new LineWatcher('ip', ['netns', 'exec', pair.ns.client, 'ping', '-D', '-n', '-i', '0.002', pair.vip]);
      // Immediate mode: without it tcpdump hands packets over in batches, and the last ones were lost at stop().
      const adverts = new LineWatcher('ip', ['netns', 'exec', pair.ns.beta, 'tcpdump', '--immediate-mode', '-i', 'eth0', '-n', '-tt', '-l', '-p', `ip proto 112 and src ${pair.ip.alpha}`]);
      watchers.push(mon, ping, adverts);
      await sleep(300);   // both watchers running, pings answered by alpha
      if (!ping.lines.some((l) => / bytes from /.test(l.line))) throw new Error(`${impl} run ${i + 1}: the client's pings to the VIP get no answer before the crash`);
      if (await pair.holdsVip('beta')) throw new Error(`${impl} run ${i + 1}: the VIP is on beta before the crash`);
      const pids = await pair.namespacePids('alpha');
      const t0mono = performance.now();
      const t0 = wallNow();
      // Replies count from the link going down, not from the end of powerOff (which waits for the processes to exit).
      const downAt = await pair.powerOff('alpha', pids);
      const vip = await mon.first(vipRe, 0, 15_000);
      if (!vip) throw new Error(`${impl} run ${i + 1}: the VIP never reached beta (logs in ${pair.dir('beta')})`);
      const stampAt = ipTimestampMs(vip.line);
      if (stampAt !== undefined && stampAt < t0) {
        // Beta took the VIP while alpha was still up: a false takeover, not a failover to time.
        for (const w of [mon, ping, adverts]) { w.stop(); watchers.splice(watchers.indexOf(w), 1); }
        row.falseTakeovers++;
        console.log(`  ${impl} advert_int ${advertInt} run ${i + 1}: beta took the VIP ${(t0 - stampAt).toFixed(1)} ms BEFORE the crash (alpha still up): a false takeover, not timed`);
        if (i + 1 < runs) await pair.powerOn('alpha');
        continue;
      }
      let reachMs = NaN;
      for (let waited = 0; waited < 5000 && Number.isNaN(reachMs); waited += 10) {
        for (const l of ping.lines) {
          const m = l.line.match(/^\[(\d+\.\d+)\] \d+ bytes from/);
          if (m && parseFloat(m[1]!) * 1000 > downAt) { reachMs = parseFloat(m[1]!) * 1000 - t0; break; }
        }
        if (Number.isNaN(reachMs)) await sleep(10);
      }
      for (const w of [mon, ping, adverts]) { w.stop(); watchers.splice(watchers.indexOf(w), 1); }
      const lastAdvert = adverts.lines.map((l) => l.line.match(/^(\d+\.\d+) IP /)).filter((m): m is RegExpMatchArray => !!m)
        .map((m) => parseFloat(m[1]!) * 1000).filter((t) => t <= t0).at(-1);
      const run: Run = { vipMs: stampAt !== undefined ? stampAt - t0 : vip.at - t0mono, reachMs, fromAdvertMs: lastAdvert !== undefined && stampAt !== undefined ? stampAt - lastAdvert : NaN };
      row.runs.push(run);
      console.log(`  ${impl} advert_int ${advertInt} run ${i + 1}: crash → VIP ${run.vipMs.toFixed(1)} ms, crash → client-reachable ${Number.isNaN(reachMs) ? 'n/a (no reply within 5 s)' : `${reachMs.toFixed(1)} ms`}, last advert → VIP ${Number.isNaN(run.fromAdvertMs) ? 'n/a' : `${run.fromAdvertMs.toFixed(2)} ms`}`);
      if (i + 1 < runs) await pair.powerOn('alpha');
    }
    return row;
  } finally {
    await pair.cleanup();
    live.splice(live.indexOf(pair), 1);
  }
}

function median(xs: number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

function stats(xs: number[], digits = 0): string {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return 'n/a';
  const missing = xs.length - v.length;
  return `${median(v).toFixed(digits)} / ${v[0]!.toFixed(digits)} / ${v[v.length - 1]!.toFixed(digits)}${missing ? ` (${missing} n/a)` : ''}`;
}

function printTable(rows: Row[]): void {
  console.log('\nVRRP failover, power loss of the master (alpha), VRRPv3 unicast, same keepalived.conf pair (ms: median / min / max)');
  console.log('advert_int  Master_Down  impl        crash → VIP          crash → client-reachable   last advert → VIP      n   false takeovers');
  for (const r of rows) {
    console.log(`${String(r.advertInt).padEnd(11)} ${`${masterDownMs(r.advertInt).toFixed(1)}`.padEnd(12)} ${r.impl.padEnd(11)} ${stats(r.runs.map((x) => x.vipMs)).padEnd(20)} ${stats(r.runs.map((x) => x.reachMs)).padEnd(26)} ${stats(r.runs.map((x) => x.fromAdvertMs), 2).padEnd(22)} ${String(r.runs.length).padEnd(3)} ${r.falseTakeovers}`);
  }
  const adverts = [...new Set(rows.map((r) => r.advertInt))];
  const pairs = adverts.map((a) => [a, rows.find((r) => r.advertInt === a && r.impl === 'tandem'), rows.find((r) => r.advertInt === a && r.impl === 'keepalived')] as const);
  if (!pairs.some(([, t, k]) => t && k)) return;
  console.log('\ntandem not slower than keepalived at equal settings (medians):');
  for (const [a, t, k] of pairs) {
    if (!t || !k) continue;
    for (const [what, pick, digits] of [['crash → VIP', (x: Run) => x.vipMs, 0], ['crash → client-reachable', (x: Run) => x.reachMs, 0], ['last advert → VIP', (x: Run) => x.fromAdvertMs, 2]] as const) {
      const tm = median(t.runs.map(pick));
      const km = median(k.runs.map(pick));
      const verdict = Number.isNaN(tm) || Number.isNaN(km) ? 'n/a' : tm <= km ? 'PASS' : 'FAIL';
      console.log(`  advert_int ${String(a).padEnd(5)} ${what.padEnd(25)} tandem ${tm.toFixed(digits)} ms <= keepalived ${km.toFixed(digits)} ms   ${verdict}`);
    }
  }
}

async function cleanupAll(): Promise<void> {
  for (const w of watchers.splice(0)) w.stop();
  await Promise.all(live.map((p) => p.cleanup().catch(() => undefined)));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runsText = args.get('runs') ?? '5';
  if (!/^\d+$/.test(runsText) || Number(runsText) < 1 || Number(runsText) > 1000) usage(`--runs must be a whole number from 1 to 1000, not '${runsText}'`);
  const runs = Number(runsText);
  const adverts = (args.get('advert') ?? '0.1,0.01').split(',').map((t) => {
    const a = Number(t);
    const cs = Math.round(a * 100);
    // VRRPv3 carries the interval in centiseconds, 1..4095 (RFC 5798 §5.2.7).
    if (t.trim() === '' || !Number.isFinite(a) || cs < 1 || cs > 4095 || Math.abs(cs - a * 100) > 1e-6) usage(`--advert: '${t}' is not a VRRPv3 advert_int (0.01..40.95 s in 10 ms steps)`);
    return a;
  });
  if (adverts.length > 10) usage(`--advert: at most 10 values, not ${adverts.length}`);
  const impls = (args.get('impl') ?? IMPLS.join(',')).split(',').map((i) => {
    if (!IMPLS.includes(i as VrrpImpl)) usage(`--impl: '${i}' is not one of ${IMPLS.join(', ')}`);
    return i as VrrpImpl;
  });
  const prefix = args.get('prefix') ?? 'tdvb';
  if (!/^[a-z][a-z0-9]{0,6}$/.test(prefix)) usage(`--prefix must be 1..7 lower-case letters or digits starting with a letter, not '${prefix}'`);
  const net = args.get('net') ?? '10.241';
  if (!/^(\d{1,3})\.(\d{1,3})$/.test(net) || net.split('.').some((o) => Number(o) > 255)) usage(`--net must be the first two octets of an IPv4 network, e.g. 10.241, not '${net}'`);
  const json = args.get('json');
  if (impls.includes('keepalived') && !existsSync(KEEPALIVED_BIN)) {
    console.error(`bench:vrrp: keepalived is not installed (${KEEPALIVED_BIN}; apt-get install keepalived)`);
    process.exit(1);
  }
  const onSignal = (sig: string) => {
    console.error(`bench:vrrp: ${sig}: cleaning up`);
    void cleanupAll().then(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  const rows: Row[] = [];
  let idx = 1;
  for (const a of adverts) {
    for (const impl of impls) {
      console.log(`${impl}, advert_int ${a} (Master_Down_Interval ${masterDownMs(a).toFixed(1)} ms), ${runs} run${runs > 1 ? 's' : ''}`);
      // A letter, not a number, after the prefix: lab prefixes are matched as
      // PREFIX<pid>, and 'tdvb1' would also match the namespaces of 'tdvb12'.
      rows.push(await measure(impl, a, runs, `${prefix}${String.fromCharCode(96 + idx)}`, `${net}.${idx}`));
      idx++;
    }
  }
  printTable(rows);
  if (json) writeFileSync(json, JSON.stringify(rows, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench:vrrp: ${e.message}`);
  void cleanupAll().then(() => process.exit(1));
});
