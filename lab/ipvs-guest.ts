// Run inside the qemu guest (lab/kvm.ts) by test/netns/ipvs-kernel.test.ts:
// drives the kernel's IPVS through tandem's own client and gathers what
// the kernel, ipvsadm and real traffic show. It only observes and prints
// one JSON object; the test on the host does every assertion, so a failure
// is reported there with the data beside it.
//
// The guest's root network namespace is the director. Namespaces (prefix
// tdip, 10.180.0.0/16): tdipc the client 10.180.1.2, tdipr1 10.180.2.11 and
// tdipr2 10.180.3.12 the real servers (busybox nc, each counting its own
// connections), routed back through the director (NAT).

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { IpvsBackend, IpvsClient } from '../src/net/ipvs.js';
import { CONNECTIONS, DESIRED, DNS, FOREIGN, RS1, RS2, VIP, WEB } from './ipvs-scenario.js';

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
const ns = (name: string, ...args: string[]): string => sh('ip', 'netns', 'exec', name, ...args);

/**
 * The namespaces, their links and routes in four `ip -batch` runs (an exec
 * costs a quarter of a second under TCG on a busy machine), and a server
 * in each real server's namespace.
 */
function topology(): ChildProcess[] {
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  const links: Array<[string, string, string, string]> = [
    ['tdipc', 'tdipc0', '10.180.1.1/24', '10.180.1.2/24'],
    ['tdipr1', 'tdipr10', '10.180.2.1/24', `${RS1}/24`],
    ['tdipr2', 'tdipr20', '10.180.3.1/24', `${RS2}/24`],
  ];
  const batch = (args: string[], lines: string[]): void => {
    execFileSync('ip', [...args, '-batch', '-'], { input: lines.join('\n') + '\n', timeout: 20_000, stdio: ['pipe', 'pipe', 'pipe'] });
  };
  batch([], [
    ...links.flatMap(([name, dev, here]) => [
      `netns add ${name}`,
      `link add ${dev} type veth peer name eth0 netns ${name}`,
      `addr add ${here} dev ${dev}`,
      `link set ${dev} up`,
    ]),
    // IPVS takes connections to the VIP on their way in to this host.
    `addr add ${VIP}/32 dev tdipc0`,
  ]);
  for (const [name, , here, there] of links) {
    batch(['-n', name], [`addr add ${there} dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${here.split('/')[0]}`]);
  }
  // busybox nc, static, forks the answering script per connection: socat
  // would load its shared libraries for seconds under TCG first.
  return [['tdipr1', 'rs1'], ['tdipr2', 'rs2']].map(([name, tag]) => {
    const script = `/tmp/tdip-${tag}.sh`;
    writeFileSync(script, `#!/bin/busybox sh\necho ${tag}\necho hit >> /tmp/tdip-${tag}.hits\n`, { mode: 0o755 });
    return spawn('ip', ['netns', 'exec', name!, '/bin/busybox', 'nc', '-ll', '-p', '8080', '-e', script], { stdio: 'ignore' });
  });
}

/** Until the server listens, read from its own /proc (its network namespace's TCP table): no exec per probe. */
async function waitListening(server: ChildProcess): Promise<void> {
  for (let i = 0; i < 400; i++) {
    let table = '';
    // busybox nc listens on the IPv6 wildcard (tcp6), others on IPv4's.
    for (const f of ['tcp', 'tcp6']) {
      try { table += readFileSync(`/proc/${server.pid}/net/${f}`, 'utf8'); } catch { /* not started yet */ }
    }
    if (/^\s*\d+: 0+:1F90 0+:0000 0A /m.test(table)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the server (pid ${server.pid}) never listened on :8080`);
}

/**
 * n connections from the client namespace, one after the other (wrr's
 * order is then exact), each reading the one line its real server writes.
 * bash's /dev/tcp makes them all in one process: no exec per connection.
 */
function connections(n: number): { answers: Record<string, number>; failed: number } {
  const script = `for ((i = 0; i < ${n}; i++)); do
    if exec 3<>/dev/tcp/${VIP}/80 && read -r -t 5 who <&3; then echo "$who"; else echo FAILED; fi
    exec 3<&- 3>&-
  done`;
  const r = spawnSync('ip', ['netns', 'exec', 'tdipc', 'bash', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  const answers: Record<string, number> = {};
  let failed = 0;
  const lines = (r.stdout ?? '').split('\n').filter(Boolean);
  for (const who of lines) {
    if (who === 'FAILED') failed++;
    else answers[who] = (answers[who] ?? 0) + 1;
  }
  return { answers, failed: failed + Math.max(0, n - lines.length) };
}

function hits(tag: string): number {
  try { return readFileSync(`/tmp/tdip-${tag}.hits`, 'utf8').split('\n').filter(Boolean).length; } catch { return 0; }
}

async function errorOf(p: Promise<unknown>): Promise<{ message: string; code?: string } | null> {
  try {
    await p;
    return null;
  } catch (e) {
    const err = e as Error & { code?: string };
    return err.code === undefined ? { message: err.message } : { message: err.message, code: err.code };
  }
}

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { kernel: sh('uname', '-r').trim() };
  const t0 = performance.now();
  const phases: Record<string, number> = {};
  let last = t0;
  const phase = (name: string): void => { const now = performance.now(); phases[name] = Math.round(now - last); last = now; };
  out.phases = phases;

  // 1. Programmed through tandem's client, read back by genl dump and by ipvsadm.
  const first = await IpvsBackend.open();
  out.info = await first.info();
  out.firstApply = await first.apply(DESIRED);
  out.readBack = await first.read();
  out.ipvsadmAfterApply = sh('ipvsadm', '-Ln');
  out.reapply = (await first.apply(DESIRED)).changes;

  phase('program and read back');
  // Errors as the kernel gives them, worded by the client.
  const c = await IpvsClient.open();
  out.duplicate = await errorOf(c.addService(WEB));
  out.unknownScheduler = await errorOf(c.addService({ family: 4, protocol: 'tcp', address: VIP, port: 81, scheduler: 'nosuch' }));
  out.missingDest = await errorOf(c.delDest(WEB, { address: '10.180.9.9', port: 1 }));
  out.missingService = await errorOf(c.delService({ family: 4, protocol: 'tcp', address: '10.180.9.9', port: 1 }));

  // 2. Traffic through the VIP: wrr 2:1, counted at the real servers.
  const servers = topology();
  try {
    for (const srv of servers) await waitListening(srv);
    phase('namespaces and servers');
    out.traffic = { ...connections(CONNECTIONS), hits: { rs1: hits('rs1'), rs2: hits('rs2') } };
    phase('traffic');
    // The kernel copies its counters from the estimator's totals every 2 s:
    // wait until they hold every connection, then read them both ways.
    const webStats = async () => (await first.read()).find((k) => k.service.protocol === 'tcp' && k.service.port === 80);
    for (const end = Date.now() + 20_000; ;) {
      const w = await webStats();
      if ((w?.service.stats?.conns ?? 0) >= CONNECTIONS || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    out.statsGenl = await webStats();
    out.statsIpvsadm = sh('ipvsadm', '-Ln', '--stats', '--exact');
    out.statsGenlAfter = await webStats();
    phase('statistics');

    // 3. A crash leaves the table behind, with changes made meanwhile: a
    // stray real server and a changed weight in an owned service, an owned
    // service the new configuration drops, and an operator's own service.
    first.close();
    await c.addDest(WEB, { address: '10.180.2.13', port: 8080, forward: 'masq', weight: 1 });
    await c.editDest(WEB, { address: RS2, port: 8080, forward: 'masq', weight: 5 });
    sh('ipvsadm', ...FOREIGN.args);
    out.beforeRestart = sh('ipvsadm', '-Ln');
    const second = await IpvsBackend.open();
    const desired = DESIRED.filter((d) => d.service !== DNS);
    out.restartApply = await second.apply(desired, { alsoOwned: [DNS] });
    out.afterRestart = await second.read();
    out.ipvsadmAfterRestart = sh('ipvsadm', '-Ln');
    out.restartReapply = (await second.apply(desired, { alsoOwned: [DNS] })).changes;
    const before = { rs1: hits('rs1'), rs2: hits('rs2') };
    const again = connections(6);
    out.trafficAfterRestart = { ...again, hits: { rs1: hits('rs1') - before.rs1, rs2: hits('rs2') - before.rs2 } };
    second.close();
    phase('restart');

    await c.flush();
    out.afterFlush = await c.services();
    out.ipvsadmAfterFlush = sh('ipvsadm', '-Ln');
    c.close();
  } finally {
    for (const s of servers) s.kill();
  }
  out.guestMs = Math.round(performance.now() - t0);
  return out;
}

main().then((o) => {
  process.stdout.write(JSON.stringify(o) + '\n');
  process.exit(0);
}, (e: unknown) => {
  process.stderr.write(`ipvs-guest: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
