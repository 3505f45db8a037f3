// LVS on IPVS, the daemon end to end, inside the qemu guest (run by
// lab/ipvs-guest.ts after its client checks, in the same boot): `tandem run
// -f` with the nftables test's services (test/netns/lvs-nft.test.ts) finds
// IPVS in this kernel and programs it over generic netlink. It observes
// only; test/netns/ipvs-kernel.test.ts judges what it returns.
//
// Namespaces (prefix tdlg, 10.170.0.0/16, inside the guest): tdlgc the
// client (10.170.1.2 and .3), tdlgd the director (tandem; VIPs
// 10.170.1.100 and .101 on eth0, a bridge to the servers), tdlgr1..3 the
// real servers and tdlgsy the sorry server, each a busybox httpd answering
// its own name (busybox: a static binary, no seconds of library loading
// under TCG) and routing its replies back through the director (NAT).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../src/control/socket.js';
import type { LvsStatus } from '../src/lvs/service.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WORK = '/tmp/tdlg';
export const LVS_VIP = '10.170.1.100';
export const LVS_VIP2 = '10.170.1.101';
export const LVS_RS = { r1: '10.170.2.11', r2: '10.170.2.12', r3: '10.170.2.13', sy: '10.170.2.99' } as const;
type Rs = keyof typeof LVS_RS;
const NS = { c: 'tdlgc', d: 'tdlgd', r1: 'tdlgr1', r2: 'tdlgr2', r3: 'tdlgr3', sy: 'tdlgsy' } as const;
/** The fwmark service's clients: the route to VIP2 picks the source address. */
export const LVS_CLIENTS = ['10.170.1.2', '10.170.1.3'] as const;

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
const ipBatch = (args: string[], lines: string[]): void => {
  execFileSync('ip', [...args, '-batch', '-'], { input: lines.join('\n') + '\n', timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function lvsGuestConf(): string {
  const http = (rs: string, w: number) => [
    `  real_server ${rs} 80 {`, `    weight ${w}`,
    '    HTTP_GET {', '      url {', '        path /health.html', '        status_code 200', '      }', '      connect_timeout 2', '      retry 1', '      delay_before_retry 0.5', '    }', '  }',
  ];
  const tcp443 = (rs: string) => [`  real_server ${rs} {`, '    TCP_CHECK {', '      connect_port 443', '      connect_timeout 2', '    }', '  }'];
  return [
    '! written by lab/lvs-guest.ts',
    'global_defs {', '  router_id tdlg', '}',
    `virtual_server ${LVS_VIP} 80 {`, '  delay_loop 1', '  lb_algo wrr', '  lb_kind NAT', '  protocol TCP', `  sorry_server ${LVS_RS.sy} 80`,
    ...http(LVS_RS.r1, 2), ...http(LVS_RS.r2, 1), ...http(LVS_RS.r3, 1),
    '}',
    'virtual_server fwmark 1 {', '  delay_loop 1', '  lb_algo rr', '  lb_kind NAT', '  persistence_timeout 30',
    ...tcp443(LVS_RS.r1), ...tcp443(LVS_RS.r2), ...tcp443(LVS_RS.r3),
    '}', '',
  ].join('\n');
}

function topology(): ChildProcess[] {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const servers = Object.keys(LVS_RS) as Rs[];
  ipBatch([], [
    ...Object.values(NS).map((n) => `netns add ${n}`),
    `link add eth0 netns ${NS.c} type veth peer name eth0 netns ${NS.d}`,
    ...servers.map((r) => `link add p${r} netns ${NS.d} type veth peer name eth0 netns ${NS[r]}`),
  ]);
  ipBatch(['-n', NS.c], [
    ...LVS_CLIENTS.map((a) => `addr add ${a}/24 dev eth0`), 'link set eth0 up', 'link set lo up', 'route add default via 10.170.1.1',
  ]);
  ipBatch(['-n', NS.d], [
    'addr add 10.170.1.1/24 dev eth0', `addr add ${LVS_VIP}/32 dev eth0`, `addr add ${LVS_VIP2}/32 dev eth0`, 'link set eth0 up', 'link set lo up',
    'link add br0 type bridge', 'addr add 10.170.2.1/24 dev br0', 'link set br0 up',
    ...servers.flatMap((r) => [`link set p${r} master br0`, `link set p${r} up`]),
  ]);
  for (const r of servers) {
    ipBatch(['-n', NS[r]], [`addr add ${LVS_RS[r]}/24 dev eth0`, 'link set eth0 up', 'link set lo up', 'route add default via 10.170.2.1']);
  }
  sh('ip', 'netns', 'exec', NS.d, '/bin/busybox', 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // The fwmark service's mark: ports 80 and 443 of the second VIP, as an administrator sets it.
  execFileSync('ip', ['netns', 'exec', NS.d, 'nft', '-f', '-'], {
    input: `table ip tdlg_mark {\n chain pre {\n  type filter hook prerouting priority mangle; policy accept;\n  ip daddr ${LVS_VIP2} tcp dport { 80, 443 } meta mark set 1\n }\n}\n`,
    timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe'],
  });
  const procs: ChildProcess[] = [];
  for (const r of servers) {
    const dir = join(WORK, r);
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), `${r === 'sy' ? 'sorry' : r}\n`);
    writeFileSync(join(dir, 'health.html'), 'ok\n');
    for (const port of r === 'sy' ? [80] : [80, 443]) {
      procs.push(spawn('ip', ['netns', 'exec', NS[r], '/bin/busybox', 'httpd', '-f', '-p', `${LVS_RS[r]}:${port}`, '-h', dir], { stdio: 'ignore' }));
    }
  }
  return procs;
}

export interface LvsTraffic { counts: Record<string, number>; failed: number }

/**
 * n requests from the client, one connection each, one after the other
 * (wrr's order is then exact), in one bash: no exec per request. Each
 * answer's last line is the server's name.
 */
function traffic(n: number, url: { vip?: string; ports?: number[] } = {}): LvsTraffic {
  const vip = url.vip ?? LVS_VIP;
  const ports = (url.ports ?? [80]).join(' ');
  const script = `ports=(${ports}); for ((i = 0; i < ${n}; i++)); do
    p=\${ports[i % \${#ports[@]}]}; last=FAILED
    if exec 3<>/dev/tcp/${vip}/$p 2>/dev/null; then
      printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3
      while IFS= read -r -t 5 line <&3; do last=$line; done
      exec 3<&- 3>&-
    fi
    echo "$last"
  done`;
  const r = execFileSync('ip', ['netns', 'exec', NS.c, 'bash', '-c', script], { encoding: 'utf8', timeout: 120_000 });
  const counts: Record<string, number> = {};
  let failed = 0;
  const lines = r.split('\n').filter(Boolean);
  for (const who of lines) {
    if (who === 'FAILED' || !/^(r[123]|sorry)$/.test(who)) failed++;
    else counts[who] = (counts[who] ?? 0) + 1;
  }
  return { counts, failed: failed + Math.max(0, n - lines.length) };
}

/** ipvsadm -Ln in the director: each service's line and its real servers (address, forwarding, weight), sorted. */
function ipvsadm(): string[][] {
  const out: string[][] = [];
  for (const raw of sh('ip', 'netns', 'exec', NS.d, 'ipvsadm', '-Ln').split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (/^(TCP|UDP|SCTP|FWM) /.test(line)) out.push([line]);
    else if (line.startsWith('-> ') && !line.startsWith('-> RemoteAddress') && out.length) out[out.length - 1]!.push(line.split(' ').slice(0, 4).join(' '));
  }
  return out.map(([head, ...dests]) => [head!, ...dests.sort()]).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/**
 * Builds the namespaces and starts the daemon, then returns the rest of the
 * run: the caller does other work while the daemon starts (seconds under
 * TCG: Node, the CLI, the checker worker), then awaits the returned step.
 */
export function lvsOnIpvs(): (phase: (name: string) => void) => Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const t0 = performance.now();
  const runDir = join(WORK, 'run');
  let daemon: ChildProcess | undefined;
  const start = (): void => {
    const log = openSync(join(WORK, 'd.log'), 'a');
    daemon = spawn('ip', ['netns', 'exec', NS.d, process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', join(WORK, 'keepalived.conf'), '--run-dir', runDir], { stdio: ['ignore', log, log] });
    closeSync(log);
  };
  let procs: ChildProcess[] = [];
  let failedToStart: unknown;
  try {
    procs = topology();
    writeFileSync(join(WORK, 'keepalived.conf'), lvsGuestConf());
    start();
  } catch (e) {
    failedToStart = e;
  }
  return (phase) => rest(phase);

  async function rest(phase: (name: string) => void): Promise<Record<string, unknown>> {
    const log = (): string => { try { return readFileSync(join(WORK, 'd.log'), 'utf8').slice(-4000); } catch { return ''; } };
    // The control socket is a unix socket in the file system: asked from here, no Node start per question (slow under TCG).
    const status = async (): Promise<LvsStatus> => ((await request(runDir, { cmd: 'status' }, 10_000)) as { lvs: LvsStatus }).lvs;
    const waitFor = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
      const end = Date.now() + ms;
      for (;;) {
        try { const v = await fn(); if (v !== undefined) return v; } catch { /* not yet */ }
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; director log:\n${log()}`);
        await sleep(100);
      }
    };
    const allUp = async (): Promise<LvsStatus | undefined> => {
      const s = await status();
      return s.services.every((v) => v.realServers.every((r) => r.state === 'up' && r.checks.every((c) => c.runs > 0))) ? s : undefined;
    };
    const health = (r: Rs): string => join(WORK, r, 'health.html');
    const rsState = (s: LvsStatus, r: Rs) => s.services[0]!.realServers.find((x) => x.address.startsWith(`${LVS_RS[r]}:`))!.state;
    try {
      if (failedToStart) throw failedToStart;
      const first = await waitFor('every real server checked and up', allUp);
      out.upAfterMs = Math.round(performance.now() - t0);
      phase('lvs: daemon up (after the client checks)');
      out.programmed = { backend: first.backend, ipvsadm: ipvsadm() };

      // wrr 2:1:1, counted at the servers and by IPVS (the estimator copies its totals every ~2 s).
      out.traffic = traffic(100);
      out.counted = await waitFor('IPVS counted the connections', async () => {
        const c = (await status()).services[0]!.realServers.map((r) => r.connections);
        return c.reduce((a, b) => a + b, 0) >= 100 ? c : undefined;
      }, 15_000);
      phase('lvs: traffic');

      // The status says a verdict as soon as the pool has it; the kernel
      // follows a moment later (one genl apply): wait for the table too.
      const web = (t: string[][]): string[] => t.find((x) => x[0]!.startsWith(`TCP ${LVS_VIP}:80 `)) ?? [];
      const has = (t: string[][], r: Rs): boolean => web(t).some((l) => l.startsWith(`-> ${LVS_RS[r]}:80 `));
      const table = (what: string, ok: (t: string[][]) => boolean): Promise<string[][]> =>
        waitFor(`IPVS: ${what}`, async () => { const t = ipvsadm(); return ok(t) ? t : undefined; }, 15_000);

      // A failed check takes r2 out of IPVS; its return brings it back.
      const failAt = Date.now();
      unlinkSync(health('r2'));
      await waitFor('r2 down', async () => (rsState(await status(), 'r2') === 'down' ? true : undefined), 30_000);
      const afterMs = Date.now() - failAt;
      out.failed = { afterMs, ipvsadm: await table('r2 out', (t) => !has(t, 'r2')), traffic: traffic(30) };
      writeFileSync(health('r2'), 'ok\n');
      await waitFor('r2 up', async () => (rsState(await status(), 'r2') === 'up' ? true : undefined), 30_000);
      out.healed = { ipvsadm: await table('r2 back', (t) => has(t, 'r2')), traffic: traffic(40) };
      phase('lvs: failure and return');

      // Every real server down: the sorry server stands alone in the service.
      for (const r of ['r1', 'r2', 'r3'] as const) unlinkSync(health(r));
      await waitFor('quorum lost', async () => ((await status()).services[0]!.quorum.up ? undefined : true), 30_000);
      out.sorry = { ipvsadm: await table('the sorry server in', (t) => has(t, 'sy')), traffic: traffic(10) };
      for (const r of ['r1', 'r2', 'r3'] as const) writeFileSync(health(r), 'ok\n');
      // Quorum returns with the first server back: wait for all three.
      await waitFor('quorum back, every real server up', async () => { const v = (await status()).services[0]!; return v.quorum.up && v.realServers.every((r) => r.state === 'up') ? true : undefined; }, 30_000);
      out.sorryBack = { ipvsadm: await table('the real servers back', (t) => has(t, 'r1') && has(t, 'r2') && has(t, 'r3')) };
      phase('lvs: sorry server');

      // fwmark 1 (ports 80 and 443 of VIP2) with persistence: each client on one server, by its source address.
      const persist: LvsTraffic[] = [];
      for (const src of LVS_CLIENTS) {
        sh('ip', '-n', NS.c, 'route', 'replace', `${LVS_VIP2}/32`, 'via', '10.170.1.1', 'dev', 'eth0', 'src', src);
        persist.push(traffic(20, { vip: LVS_VIP2, ports: [80, 443] }));
      }
      out.persistence = persist;
      phase('lvs: fwmark persistence');

      // A crash leaves the services in the kernel; meanwhile someone edits them and adds one of their own.
      daemon!.kill('SIGKILL');
      await waitFor('the daemon gone', async () => (daemon!.exitCode !== null || daemon!.signalCode !== null ? true : undefined), 10_000);
      const d = (...args: string[]) => sh('ip', 'netns', 'exec', NS.d, 'ipvsadm', ...args);
      d('-e', '-t', `${LVS_VIP}:80`, '-r', `${LVS_RS.r2}:80`, '-m', '-w', '9');
      d('-a', '-t', `${LVS_VIP}:80`, '-r', '10.170.2.50:80', '-m', '-w', '1');
      d('-A', '-t', '10.170.1.200:80', '-s', 'rr');
      out.afterCrash = { ipvsadm: ipvsadm() };
      start();
      // The control socket answers once the services are programmed (reconciled), before any check has run.
      await waitFor('restarted', async () => (await status()).backend);
      out.reconciled = { ipvsadm: ipvsadm(), traffic: traffic(40) };
      phase('lvs: crash and restart');

      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon!.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      out.stopped = { exit: daemon!.exitCode, ipvsadm: ipvsadm() };
      phase('lvs: stop');
    } catch (e) {
      out.error = e instanceof Error ? e.message : String(e);
    } finally {
      if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      for (const p of procs) p.kill('SIGKILL');
    }
    return out;
  }
}
