// npm run bench:flood — junk at the standby's heartbeat port: the rate at
// which the standby first declares its live peer dead, and the CPU it spends
// on the junk, for tandem and for Debian's Heartbeat 3.0.6 in the same
// harness and settings (bcast, keepalive 100 ms, deadtime 300 ms).
//
// alpha holds the VIP; beta is the standby. From the client's namespace,
// bench/junk-sender.c (compiled with gcc on first use) sends 300-byte UDP
// datagrams to beta's address, port 694, at a rate that grows every step
// (1k, 2k, 5k, 10k, 20k, ... datagrams/s). A step lasts --step-s seconds (default
// 30) or until beta declares alpha dead; the first rate with a false death
// ends the ladder. Attacks (--attack, default random):
//   random  random bytes from the client's own address (the attack of issue 10)
//   frame   "###\n" ... "," from a forged source: alpha's address
//   forged  a well-framed message with a random digest from alpha's address:
//           only the HMAC can refuse it
//
// CPU: utime + stime of the daemon's processes in beta's namespace (tandem:
// the daemon; Heartbeat: its master, read and write processes; not resource
// scripts), per step (up to a death), minus the same over an idle period,
// scaled to 10k junk datagrams/s, in percent of one core. Kernel drops: Udp RcvbufErrors in beta's namespace.
//
// Why a C sender: Node's dgram has no sendmmsg and spends microseconds of
// JavaScript per datagram; a Node sender tops out where the interesting rates
// begin and takes the CPU from the daemons under test. The compiler is
// already needed for tandem's own native addon.
//
// Usage: npm run bench:flood -- [--impl tandem|heartbeat|both] [--attack random|frame|forged|all]
//                               [--step-s S] [--max-rate R] [--json FILE]

import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';
import { junkSender, sendJunk, type JunkMode } from '../lab/junk.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const ATTACKS: Record<JunkMode, string> = {
  random: 'random bytes from another host',
  frame: "framed junk forging alpha's address",
  forged: "forged-digest messages forging alpha's address",
};
/** 1-2-5 series: a rate ladder fine enough at the bottom for Heartbeat, short enough at the top for tandem. */
const RATES = [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 400_000];
const DAEMON_COMM = new Set(['node', 'tandem', 'heartbeat']);
const DEAD: Record<'tandem' | 'heartbeat', RegExp> = {
  tandem: /node alpha is dead|node alpha not heard within initdead/,
  heartbeat: /node alpha: is dead/,
};

interface Step { rate: number; achieved: number; deathAfterMs: number | null; cpuPer10k: number | null; kernelDropPct: number; vipOnStandby: boolean }
interface Result { impl: 'tandem' | 'heartbeat'; attack: JunkMode; steps: Step[] }

/** CPU seconds so far of each process in `ns`. */
async function cpuByPid(ns: string): Promise<Map<string, number>> {
  const tick = 100;   // USER_HZ
  const out = new Map<string, number>();
  for (const pid of (await sh('ip', ['netns', 'pids', ns], { allowFail: true })).split('\n').filter(Boolean)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!DAEMON_COMM.has(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) continue;
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) / tick);
    } catch { /* exited */ }
  }
  return out;
}

function cpuDelta(a: Map<string, number>, b: Map<string, number>): number {
  let s = 0;
  for (const [pid, t] of b) s += t - (a.get(pid) ?? 0);
  return s;
}

async function rcvbufErrors(ns: string): Promise<number> {
  const snmp = await sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']);
  const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  return Number(vals!.split(/\s+/)[head!.split(/\s+/).indexOf('RcvbufErrors')]);
}

async function udpIn(ns: string): Promise<number> {
  const snmp = await sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']);
  const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const h = head!.split(/\s+/);
  const v = vals!.split(/\s+/);
  return Number(v[h.indexOf('InDatagrams')]) + Number(v[h.indexOf('RcvbufErrors')]);
}

async function measure(impl: 'tandem' | 'heartbeat', attack: JunkMode, idx: number, stepS: number, maxRate: number): Promise<Result> {
  const pair = new Pair({
    prefix: `tdfb${idx}`, net: `10.226.${idx}`, workDir: join(tmpdir(), `tandem-bench-flood-${impl}-${idx}`),
    keepalive: '100ms', warntime: '200ms', deadtime: '300ms', initdead: '2', autoFailback: 'off', media: 'bcast', impl,
  });
  const steps: Step[] = [];
  let vip: LineWatcher | undefined;
  try {
    await pair.setup();
    pair.startNode('alpha');
    pair.startNode('beta');
    // Heartbeat waits RQSTDELAY (10 s) before its first acquisition.
    await waitFor('the VIP on alpha', async () => ((await pair.holdsVip('alpha')) ? true : undefined), 60_000, 100);
    await sleep(3000);
    const ns = pair.ns.beta;
    // Idle CPU: heartbeats only.
    const idle0 = await cpuByPid(ns);
    const idleT0 = performance.now();
    await sleep(5000);
    const idlePerS = cpuDelta(idle0, await cpuByPid(ns)) / ((performance.now() - idleT0) / 1000);
    vip = new LineWatcher('ip', ['-n', ns, 'monitor', 'address']);
    for (const rate of RATES.filter((r) => r <= maxRate)) {
      const logFrom = readFileSync(pair.logFile('beta'), 'utf8').length;
      const vipFrom = vip.lines.length;
      const cpu0 = await cpuByPid(ns);
      const drops0 = await rcvbufErrors(ns);
      const in0 = await udpIn(ns);
      const t0 = performance.now();
      let deathAt: number | null = null;
      const stop = new AbortController();
      const sending = sendJunk({
        ns: pair.ns.client, dst: pair.ip.beta, rate, durationMs: stepS * 1000, mode: attack, signal: stop.signal,
        ...(attack === 'random' ? {} : { spoof: pair.ip.alpha }),
      });
      let done = false;
      void sending.finally(() => { done = true; });
      while (!done) {
        await sleep(50);
        const log = readFileSync(pair.logFile('beta'), 'utf8').slice(logFrom);
        if (DEAD[impl].test(log)) { deathAt = performance.now() - t0; break; }
      }
      // A death ends the step (and the ladder) at once.
      if (deathAt !== null) stop.abort();
      const elapsedS = (performance.now() - t0) / 1000;
      const cpu = cpuDelta(cpu0, await cpuByPid(ns)) - idlePerS * elapsedS;
      const arrived = (await udpIn(ns)) - in0;
      const drops = (await rcvbufErrors(ns)) - drops0;
      const sent = await sending;
      const achieved = deathAt === null ? sent / stepS : arrived / elapsedS;
      const step: Step = {
        rate, achieved: Math.round(achieved), deathAfterMs: deathAt === null ? null : Math.round(deathAt),
        cpuPer10k: achieved > 0 ? Math.max(0, (100 * cpu / elapsedS) / (achieved / 10_000)) : null,
        kernelDropPct: arrived > 0 ? (100 * drops) / arrived : 0,
        vipOnStandby: vip.lines.slice(vipFrom).some((l) => l.line.includes(` ${pair.vip}/`) && !l.line.startsWith('Deleted')),
      };
      steps.push(step);
      console.log(`  ${impl} ${attack} ${(rate / 1000).toFixed(1)}k/s (sent ${(step.achieved / 1000).toFixed(1)}k/s): ` +
        (deathAt === null ? `no false death in ${stepS} s` : `alpha declared dead after ${(deathAt / 1000).toFixed(1)} s`) +
        `; cpu ${step.cpuPer10k === null ? '-' : `${step.cpuPer10k.toFixed(1)} % of a core per 10k/s`}; kernel drops ${step.kernelDropPct.toFixed(1)} %` +
        (step.vipOnStandby ? '; VIP added on the standby' : ''));
      if (deathAt !== null) break;
      if (achieved < 0.8 * rate) {
        console.log(`  (the sender reached only ${(achieved / 1000).toFixed(1)}k/s of ${(rate / 1000).toFixed(0)}k/s on this machine: stopping here)`);
        break;
      }
      await sleep(2000);
    }
  } finally {
    vip?.stop();
    await pair.cleanup();
  }
  return { impl, attack, steps };
}

function summary(r: Result): string {
  const death = r.steps.find((s) => s.deathAfterMs !== null);
  const survived = r.steps.filter((s) => s.deathAfterMs === null);
  const best = survived.length ? Math.max(...survived.map((s) => s.achieved)) : 0;
  const first = death ? `${(death.rate / 1000).toFixed(0)}k/s (after ${(death.deathAfterMs! / 1000).toFixed(1)} s)` : `none up to ${(best / 1000).toFixed(0)}k/s`;
  // CPU per 10k/s: at the 10k/s step, or the highest step below it that the daemon reached.
  const at = r.steps.filter((s) => s.rate <= 10_000 && s.cpuPer10k !== null).pop();
  const cpu = at ? `${at.cpuPer10k!.toFixed(1)} % (at ${at.rate / 1000}k/s)` : 'n/a';
  const drops = survived.length ? `${survived[survived.length - 1]!.kernelDropPct.toFixed(1)} %` : 'n/a';
  return `${r.impl.padEnd(10)} ${first.padEnd(28)} ${(best ? `${(best / 1000).toFixed(0)}k/s` : '-').padEnd(17)} ${cpu.padEnd(24)} ${drops}`;
}

async function main(): Promise<void> {
  const implArg = arg('impl', 'both');
  const impls = (implArg === 'both' ? ['tandem', 'heartbeat'] : [implArg]) as Array<'tandem' | 'heartbeat'>;
  const attackArg = arg('attack', 'random');
  const attacks = (attackArg === 'all' ? Object.keys(ATTACKS) : [attackArg]) as JunkMode[];
  for (const a of attacks) if (!(a in ATTACKS)) throw new Error(`--attack must be random, frame, forged or all (got ${a})`);
  const stepS = Math.max(1, Number(arg('step-s', '30')));
  const maxRate = Math.max(RATES[0]!, Number(arg('max-rate', String(RATES[RATES.length - 1]))));
  if (impls.includes('heartbeat')) {
    const hb = await sh('sh', ['-c', 'test -x /usr/libexec/heartbeat/heartbeat && echo yes'], { allowFail: true });
    if (!hb.includes('yes')) {
      console.error('Heartbeat is not installed (apt-get install heartbeat); measuring tandem only');
      impls.splice(impls.indexOf('heartbeat'), 1);
    }
  }
  await junkSender();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`flood bench: bcast, keepalive 100 ms, deadtime 300 ms, 300-byte datagrams, ${stepS} s per rate; load average before: ${load}`);
  const results: Result[] = [];
  let idx = 1;
  for (const attack of attacks) {
    for (const impl of impls) {
      console.log(`${impl}, ${ATTACKS[attack]}`);
      results.push(await measure(impl, attack, idx++, stepS, maxRate));
    }
  }
  console.log(`\njunk at the standby's heartbeat port: first rate at which the standby declares the live active dead within ${stepS} s`);
  for (const attack of attacks) {
    console.log(`\nattack: ${ATTACKS[attack]}`);
    console.log('impl       first false death at         highest survived  CPU per 10k junk/s      kernel drops at highest survived');
    for (const r of results.filter((x) => x.attack === attack)) console.log(summary(r));
  }
  console.log('\nCPU: % of one core over the idle baseline, the standby daemon\'s processes (up to a false death). Heartbeat runs its processes SCHED_RR (realtime); tandem runs at normal priority.');
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench:flood: ${e.message}`);
  process.exit(1);
});
