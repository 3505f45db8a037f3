// node dist/bench/vrrp-wake.js — how promptly a VRRP backup acts when its
// Master_Down_Interval runs out, for `tandem run -f keepalived.conf` and
// keepalived 2.2.7 on the same pair (lab/keepalived.ts), one pair at a time.
//
// Crash → VIP (npm run bench:vrrp) includes where the crash fell within the
// master's advert interval, a uniform spread of one advert_int that hides a
// millisecond. This takes it out: tcpdump in beta's namespace stamps alpha's
// last advert that beta received and beta's own first advert as master, both
// with beta's kernel clock; gap - Master_Down_Interval is the backup's timer
// wake-up plus its work up to the first advert.
//
// Usage: node dist/bench/vrrp-wake.js [--runs 10] [--advert 0.01] [--impl tandem,keepalived]

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeepalivedPair, type VrrpImpl } from '../lab/keepalived.js';
import { LineWatcher, sleep, waitFor } from '../lab/sh.js';

const USAGE = 'usage: node dist/bench/vrrp-wake.js [--runs 10] [--advert 0.01] [--impl tandem,keepalived]';
const live: KeepalivedPair[] = [];
const watchers: LineWatcher[] = [];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

/** `ip -ts monitor` stamps ("[2026-12-04T00:41:12.123456]", the host's local time, UTC here) as epoch ms. */
function monitorStamp(line: string): number | undefined {
  const m = line.match(/^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\]/);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}Z`);
  return Number.isNaN(whole) ? undefined : whole + Number(`0.${m[2]}`) * 1000;
}

const addGaps = new Map<VrrpImpl, number[]>();
const garpGaps = new Map<VrrpImpl, number[]>();

async function measure(impl: VrrpImpl, advertInt: number, runs: number): Promise<number[]> {
  const pair = new KeepalivedPair({ prefix: 'tdwq', net: '10.249.1', workDir: join(tmpdir(), `tandem-bench-vrrp-wake-${impl}`), advertInt, impl });
  live.push(pair);
  const masterDown = (3 * advertInt + ((256 - 100) / 256) * advertInt) * 1000;
  const gaps: number[] = [];
  try {
    await pair.setup();
    pair.startNode('alpha');
    pair.startNode('beta');
    for (let i = 0; i < runs; i++) {
      await waitFor(`${impl}: the VIP on alpha alone`, async () => ((await pair.holdsVip('alpha')) && !(await pair.holdsVip('beta')) ? true : undefined), 30_000, 20);
      await sleep(Math.max(500, 10 * advertInt * 1000));
      const cap = new LineWatcher('ip', ['netns', 'exec', pair.ns.beta, 'tcpdump', '-i', 'eth0', '-n', '-tt', '-l', '-p', 'ip proto 112 or arp']);
      watchers.push(cap);
      // The VIP's arrival on beta, stamped by the kernel's event, to split beta's work: timer -> first advert -> VIP.
      const mon = new LineWatcher('ip', ['-n', pair.ns.beta, '-ts', 'monitor', 'address']);
      watchers.push(mon);
      await sleep(500);
      const pids = await pair.namespacePids('alpha');
      await pair.powerOff('alpha', pids);
      await waitFor(`${impl}: the VIP on beta`, async () => ((await pair.holdsVip('beta')) ? true : undefined), 10_000, 10);
      await sleep(100);
      cap.stop();
      mon.stop();
      watchers.splice(watchers.indexOf(cap), 1);
      watchers.splice(watchers.indexOf(mon), 1);
      const added = mon.lines.map((l) => l.line).filter((l) => !l.includes('Deleted') && l.includes(`${pair.vip}/`)).map(monitorStamp).find((t) => t !== undefined);
      const pkts = cap.lines.map((l) => l.line.match(/^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+) > /)).filter((m): m is RegExpMatchArray => !!m)
        .map((m) => ({ t: parseFloat(m[1]!) * 1000, src: m[2]! }));
      const firstBeta = pkts.findIndex((p) => p.src === pair.ip.beta);
      const lastAlpha = firstBeta > 0 ? pkts.slice(0, firstBeta).reverse().find((p) => p.src === pair.ip.alpha) : undefined;
      if (firstBeta < 0 || !lastAlpha) {
        console.log(`  ${impl} run ${i + 1}: no advert pair captured (${pkts.length} packets), not timed`);
      } else {
        const gap = pkts[firstBeta]!.t - lastAlpha.t;
        gaps.push(gap - masterDown);
        const toVip = added !== undefined ? added - pkts[firstBeta]!.t : undefined;
        if (toVip !== undefined) addGaps.set(impl, [...(addGaps.get(impl) ?? []), toVip]);
        // The first gratuitous ARP for the VIP beta sent (tcpdump: "ARP, Request who-has VIP tell VIP" or "Reply VIP is-at").
        const garp = cap.lines.map((l) => l.line).filter((l) => / ARP, /.test(l) && l.includes(pair.vip)).map((l) => parseFloat(l) * 1000)
          .find((t) => t >= pkts[firstBeta]!.t);
        const toGarp = garp !== undefined && added !== undefined ? garp - added : undefined;
        if (toGarp !== undefined) garpGaps.set(impl, [...(garpGaps.get(impl) ?? []), toGarp]);
        console.log(`  ${impl} run ${i + 1}: alpha's last advert → beta's first ${gap.toFixed(2)} ms (Master_Down ${masterDown.toFixed(1)} + ${(gap - masterDown).toFixed(2)})` +
          `; beta's first advert → VIP added ${toVip !== undefined ? `${toVip.toFixed(2)} ms` : 'not seen'}` +
          `; VIP added → first gratuitous ARP ${toGarp !== undefined ? `${toGarp.toFixed(2)} ms` : 'not seen'}`);
      }
      if (i + 1 < runs) await pair.powerOn('alpha');
    }
    return gaps;
  } finally {
    for (const w of watchers.splice(0)) w.stop();
    await pair.cleanup();
    live.splice(live.indexOf(pair), 1);
  }
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '10'));
  const advert = Number(arg('advert', '0.01'));
  const impls = arg('impl', 'tandem,keepalived').split(',') as VrrpImpl[];
  if (!(runs >= 1 && runs <= 200) || !(advert >= 0.01 && advert <= 40.95) || impls.some((i) => i !== 'tandem' && i !== 'keepalived')) {
    console.error(USAGE);
    process.exit(2);
  }
  const rows: Array<[VrrpImpl, number[]]> = [];
  for (const impl of impls) rows.push([impl, await measure(impl, advert, runs)]);
  console.log(`\nbeyond Master_Down_Interval until beta's first advert (ms; beta's tcpdump stamps; advert_int ${advert})`);
  console.log('impl        n    median    min      max');
  for (const [impl, g] of rows) {
    const v = [...g].sort((a, b) => a - b);
    const med = v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN;
    console.log(`${impl.padEnd(11)} ${String(v.length).padEnd(4)} ${med.toFixed(2).padStart(7)} ${(v[0] ?? NaN).toFixed(2).padStart(7)} ${(v[v.length - 1] ?? NaN).toFixed(2).padStart(8)}`);
  }
  for (const [title, gaps] of [
    ["beta's first advert → its VIP added (ms; tcpdump and ip -ts monitor stamps, both the host clock)", addGaps],
    ["beta's VIP added → its first gratuitous ARP for it (ms)", garpGaps],
  ] as const) {
  console.log(`\n${title}`);
  console.log('impl        n    median    min      max');
  for (const [impl] of rows) {
    const v = [...(gaps.get(impl) ?? [])].sort((a, b) => a - b);
    const med = v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN;
    console.log(`${impl.padEnd(11)} ${String(v.length).padEnd(4)} ${med.toFixed(2).padStart(7)} ${(v[0] ?? NaN).toFixed(2).padStart(7)} ${(v[v.length - 1] ?? NaN).toFixed(2).padStart(8)}`);
  }
  }
}

const bail = async (e: unknown): Promise<never> => {
  console.error(`bench vrrp-wake: ${e instanceof Error ? e.message : String(e)}`);
  for (const w of watchers.splice(0)) w.stop();
  await Promise.all(live.map((p) => p.cleanup().catch(() => undefined)));
  process.exit(1);
};
process.on('SIGINT', () => void bail(new Error('interrupted')));
main().catch(bail);
