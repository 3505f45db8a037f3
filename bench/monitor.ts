// npm run bench:monitor — how fast a dead service is noticed and recovered
// (issue 16): tandem's resource monitor, keepalived's vrrp_script at the same
// interval, and Heartbeat 3.0.6, in the lab's namespace pair.
//
// The service is the same on every implementation: a socat listener on the
// VIP with a pid file, started by a script. Each run SIGKILLs it on the node
// that serves it, at a random point of the check interval (t0 just before
// the kill), and times, from log lines stamped
// as they arrive (`tail -F` of each daemon's log, no polling):
//   - detection: t0 → the daemon says the check failed (tandem: "monitor
//     websvc: not-running"; keepalived: "VRRP_Script(chk_websvc) failed");
//   - restarted (tandem, migration-threshold high): t0 → the group running
//     again on the same node ("restarted in place");
//   - moved (tandem with migration-threshold=1; keepalived, whose FAULT
//     state is its only answer): t0 → the peer runs the group / holds the VIP.
// Heartbeat 3.0.6 runs no monitor: the service is killed and the pair watched
// for --watch-s seconds; the row says whether anything happened (it does not).
//
// Usage: npm run bench:monitor -- [--runs 5] [--interval 1] [--impl tandem,keepalived,heartbeat] [--watch-s 5]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEEPALIVED_BIN, KeepalivedPair } from '../lab/keepalived.js';
import { Pair, type NodeName } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';
import { benchUsage, parseBenchArgs } from './args.js';

const USAGE = 'usage: npm run bench:monitor -- [--runs 5] [--interval 1] [--impl tandem,keepalived,heartbeat] [--watch-s 5]';
const OPTIONS = ['runs', 'interval', 'impl', 'watch-s'];
type Impl = 'tandem' | 'keepalived' | 'heartbeat';

const usage = (msg: string): never => benchUsage('bench:monitor', USAGE, msg);
const parseArgs = (argv: string[]): Map<string, string> => parseBenchArgs('bench:monitor', USAGE, OPTIONS, argv);

const other = (n: NodeName): NodeName => (n === 'alpha' ? 'beta' : 'alpha');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (xs: number[]): string => (xs.length ? `${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})` : '-');

/**
 * The service script: LSB status codes; the same for every implementation.
 * `bind` is the VIP where the HA daemon starts the service with the VIP
 * (tandem, Heartbeat); keepalived does not start services: there it runs on
 * both nodes on every address (0.0.0.0), as keepalived users run theirs.
 */
function serviceScript(pidFile: string, bind: string, node: NodeName): string {
  // A killed service stays a zombie until it is reaped, and this machine's
  // PID 1 (a container's process manager) reaps orphans only every second or
  // so; kill -0 would call the zombie running. up() reads its state instead,
  // so the figures are the daemon's, not the reaper's.
  return `#!/bin/sh
PIDF=${pidFile}
up() { [ -f $PIDF ] && kill -0 $(cat $PIDF) 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' /proc/$(cat $PIDF)/status 2>/dev/null; }
case "$1" in
  start)
    if up; then exit 0; fi
    setsid socat TCP-LISTEN:7000,bind=${bind},reuseaddr,fork SYSTEM:'echo ${node}' </dev/null >/dev/null 2>&1 &
    echo $! > $PIDF; exit 0 ;;
  stop)
    if [ -f $PIDF ]; then kill $(cat $PIDF) 2>/dev/null; rm -f $PIDF; fi; exit 0 ;;
  status)
    [ -f $PIDF ] || exit 3
    up && exit 0
    exit 1 ;;
esac
exit 2
`;
}

const pidOf = (file: string): number | undefined => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return n > 0 && existsSync(`/proc/${n}`) ? n : undefined;
  } catch {
    return undefined;
  }
};

interface Result { detect: number[]; restarted: number[]; moved: number[]; note?: string }

async function benchTandem(runs: number, intervalS: number, threshold: number, prefix: string, net: string): Promise<Result> {
  const p = new Pair({ prefix, net, workDir: join(tmpdir(), `tandem-bench-monitor-${threshold}`), autoFailback: 'off', keepalive: '200ms', warntime: '1', deadtime: '2', initdead: '2' });
  const res: Result = { detect: [], restarted: [], moved: [] };
  const watchers: LineWatcher[] = [];
  try {
    await p.setup();
    for (const n of ['alpha', 'beta'] as const) {
      writeFileSync(join(p.configDir(n), 'resource.d', 'websvc'), serviceScript(join(p.dir(n), 'websvc.pid'), p.vip, n), { mode: 0o755 });
      writeFileSync(join(p.configDir(n), 'haresources'),
        `alpha IPaddr2::${p.vip}/24/eth0::arp_count=1 websvc op monitor interval=${intervalS}s timeout=${intervalS}s meta migration-threshold=${threshold}\n`);
    }
    p.startTandem('alpha');
    p.startTandem('beta');
    const logs = { alpha: new LineWatcher('tail', ['-F', '-n0', p.logFile('alpha')]), beta: new LineWatcher('tail', ['-F', '-n0', p.logFile('beta')]) };
    watchers.push(logs.alpha, logs.beta);
    let holder: NodeName = 'alpha';
    await p.waitForStatus('alpha', 'alpha running the group', (s) => s.groups[0]?.local.phase === 'running' && s.nodes.some((x) => !x.self && x.state === 'up'), 30_000);
    for (let i = 0; i < runs; i++) {
      // Steady: at least one good check since the last recovery.
      await p.waitForStatus(holder, 'a good check', (s) => (s as unknown as { groups: Array<{ monitors: Array<{ last: { result: string } | null }> }> }).groups[0]!.monitors[0]?.last?.result === 'running', 20_000);
      // The kill lands at a random point of the check interval, as a crash would (not just after a check).
      await sleep(Math.random() * intervalS * 1000);
      const pid = pidOf(join(p.dir(holder), 'websvc.pid'));
      if (!pid) throw new Error(`tandem run ${i + 1}: no service on ${holder}`);
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      const det = await logs[holder].first(/monitor websvc: not-running/, t0, 5 * intervalS * 1000 + 5000);
      if (!det) throw new Error(`tandem run ${i + 1}: no monitor failure logged on ${holder}`);
      res.detect.push(det.at - t0);
      if (threshold > 1) {
        const back = await logs[holder].first(/: running \(resource \d+ restarted in place/, t0, 15_000);
        if (!back) throw new Error(`tandem run ${i + 1}: not restarted in place`);
        res.restarted.push(back.at - t0);
      } else {
        const peer = other(holder);
        const moved = await logs[peer].first(/group .*: running \(/, t0, 20_000);
        if (!moved) throw new Error(`tandem run ${i + 1}: ${peer} never ran the group`);
        res.moved.push(moved.at - t0);
        // The failed node is cleaned up so that the group can move back on the next run.
        await sh(process.execPath, [join(process.cwd(), 'bin', 'tandem'), 'cleanup', `IPaddr2::${p.vip}/24/eth0::arp_count=1`, '--run-dir', p.runDir(holder)], { allowFail: true });
        holder = peer;
      }
    }
  } finally {
    for (const w of watchers) w.stop();
    await p.cleanup();
  }
  return res;
}

async function benchKeepalived(runs: number, intervalS: number, prefix: string, net: string): Promise<Result> {
  if (!existsSync(KEEPALIVED_BIN)) return { detect: [], restarted: [], moved: [], note: `not installed (${KEEPALIVED_BIN}; apt-get install keepalived)` };
  const pair = new KeepalivedPair({ prefix, net, workDir: join(tmpdir(), 'tandem-bench-monitor-ka'), advertInt: 1, preempt: false });
  const res: Result = { detect: [], restarted: [], moved: [], note: 'no restart in place: a failing vrrp_script puts the instance in FAULT, the VIP moves (the service runs on both nodes; keepalived starts none)' };
  const watchers: LineWatcher[] = [];
  try {
    await pair.setup();
    for (const n of ['alpha', 'beta'] as const) {
      const pidFile = join(pair.dir(n), 'websvc.pid');
      const script = join(pair.dir(n), 'websvc');
      writeFileSync(script, serviceScript(pidFile, '0.0.0.0', n), { mode: 0o755 });
      const conf = readFileSync(pair.configFile(n), 'utf8')
        .replace('global_defs {', 'global_defs {\n    enable_script_security\n    script_user root')
        .replace('vrrp_instance VI_1 {', `vrrp_script chk_websvc {\n    script "${script} status"\n    interval ${intervalS}\n    timeout ${intervalS}\n    fall 1\n    rise 1\n}\nvrrp_instance VI_1 {\n    track_script {\n        chk_websvc\n    }`);
      writeFileSync(pair.configFile(n), conf);
      await sh('ip', ['netns', 'exec', pair.ns[n], script, 'start']);
    }
    pair.startNode('alpha');
    await waitFor('keepalived: alpha MASTER', async () => ((await pair.holdsVip('alpha')) ? true : undefined), 20_000, 20);
    pair.startNode('beta');
    const logs = { alpha: new LineWatcher('tail', ['-F', '-n0', pair.logFile('alpha')]), beta: new LineWatcher('tail', ['-F', '-n0', pair.logFile('beta')]) };
    watchers.push(logs.alpha, logs.beta);
    let holder: NodeName = 'alpha';
    for (let i = 0; i < runs; i++) {
      await waitFor('keepalived: the holder has the VIP', async () => ((await pair.holdsVip(holder)) ? true : undefined), 20_000, 20);
      // The other node's script must be good again (rise 1), or it cannot take over.
      await sleep((3 + Math.random()) * intervalS * 1000);
      const pid = pidOf(join(pair.dir(holder), 'websvc.pid'))!;
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      const det = await logs[holder].first(/VRRP_Script\(chk_websvc\) failed/, t0, 5 * intervalS * 1000 + 5000);
      if (!det) throw new Error(`keepalived run ${i + 1}: no script failure logged`);
      res.detect.push(det.at - t0);
      const peer = other(holder);
      const moved = await logs[peer].first(/Entering MASTER STATE/, t0, 20_000);
      if (!moved) throw new Error(`keepalived run ${i + 1}: ${peer} never became MASTER`);
      res.moved.push(moved.at - t0);
      // The killed service comes back (as an operator or systemd would bring it back), so that node can take the VIP on the next run.
      await sh('ip', ['netns', 'exec', pair.ns[holder], join(pair.dir(holder), 'websvc'), 'start']);
      holder = peer;
    }
  } finally {
    for (const w of watchers) w.stop();
    await pair.cleanup();
  }
  return res;
}

async function benchHeartbeat(watchS: number, prefix: string, net: string): Promise<Result> {
  if (!existsSync('/usr/libexec/heartbeat/heartbeat')) return { detect: [], restarted: [], moved: [], note: 'not installed (apt-get install heartbeat)' };
  const p = new Pair({ prefix, net, workDir: join(tmpdir(), 'tandem-bench-monitor-hb'), impl: 'heartbeat', initdead: '2' });
  try {
    await p.setup();
    p.startNode('alpha');
    p.startNode('beta');
    const pidFile = join(p.dir('alpha'), 'labsvc.pid');
    await waitFor('heartbeat: the service up on alpha', async () => (pidOf(pidFile) ? true : undefined), 60_000, 100);
    const pid = pidOf(pidFile)!;
    process.kill(pid, 'SIGKILL');
    await sleep(watchS * 1000);
    const restarted = pidOf(pidFile) !== undefined;
    const moved = await p.holdsVip('beta');
    return {
      detect: [], restarted: [], moved: [],
      note: restarted || moved
        ? `something reacted within ${watchS} s (restarted: ${restarted}, moved: ${moved})`
        : `never detects: ${watchS} s after the kill the service is still dead, nothing restarted or moved (Heartbeat v1 resources are not monitored)`,
    };
  } finally {
    await p.cleanup();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runs = Number(args.get('runs') ?? 5);
  const intervalS = Number(args.get('interval') ?? 1);
  const watchS = Number(args.get('watch-s') ?? 5);
  if (!Number.isInteger(runs) || runs < 1) usage('--runs must be a whole number >= 1');
  if (!Number.isInteger(intervalS) || intervalS < 1) usage('--interval must be whole seconds >= 1 (keepalived\'s vrrp_script interval is in seconds)');
  const impls = (args.get('impl') ?? 'tandem,keepalived,heartbeat').split(',') as Impl[];
  for (const i of impls) if (!['tandem', 'keepalived', 'heartbeat'].includes(i)) usage(`unknown --impl '${i}'`);
  if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
  const rows: Array<[string, Result]> = [];
  if (impls.includes('tandem')) {
    rows.push(['tandem (restart in place)', await benchTandem(runs, intervalS, 1000, 'tdsab', '10.150.11')]);
    rows.push(['tandem (migration-threshold=1: move)', await benchTandem(runs, intervalS, 1, 'tdsac', '10.150.12')]);
  }
  if (impls.includes('keepalived')) rows.push([`keepalived vrrp_script interval ${intervalS}`, await benchKeepalived(runs, intervalS, 'tdsak', '10.150.13')]);
  if (impls.includes('heartbeat')) rows.push(['Heartbeat 3.0.6', await benchHeartbeat(watchS, 'tdsah', '10.150.14')]);
  console.log(`\nservice killed → monitor failure → recovered; check interval ${intervalS} s (median, min, max)`);
  for (const [name, r] of rows) {
    console.log(`\n${name}`);
    console.log(`  detection (kill → check failed):   ${fmt(r.detect)}`);
    console.log(`  restarted (kill → running again):  ${fmt(r.restarted)}`);
    console.log(`  moved (kill → the peer runs it):   ${fmt(r.moved)}`);
    if (r.note) console.log(`  note: ${r.note}`);
  }
}

main().catch((e: unknown) => {
  console.error(`bench:monitor: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
