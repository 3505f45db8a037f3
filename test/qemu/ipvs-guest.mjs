// Runs inside the qemu guest (lab/qemu/kvm-run.sh), as root, on a Debian
// kernel with IPVS: tandem's LVS over generic netlink. Namespaces: client c
// (10.160.21.2) -> director d (10.160.21.1, VIP 10.160.21.100, `tandem run
// -f`) -> real servers r1, r2 (10.160.22.11/12, python http.server) on a
// bridge. Prints one JSON line per step: {"step":..., ...}; exits 0 when it
// got through (the host's test judges what it printed).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WORK = '/tmp/ipvs-guest';
const VIP = '10.160.21.100';
const RS = { r1: '10.160.22.11', r2: '10.160.22.12' };
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
const ns = (n, cmd, args) => sh('ip', ['netns', 'exec', n, cmd, ...args]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v !== undefined) return v; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

mkdirSync(WORK, { recursive: true });
for (const n of ['c', 'd', 'r1', 'r2']) { sh('ip', ['netns', 'add', n]); sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']); }
sh('ip', ['link', 'add', 'c0', 'netns', 'c', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'd']);
sh('ip', ['-n', 'c', 'addr', 'add', '10.160.21.2/24', 'dev', 'c0']); sh('ip', ['-n', 'c', 'link', 'set', 'c0', 'up']);
sh('ip', ['-n', 'c', 'route', 'add', 'default', 'via', '10.160.21.1']);
sh('ip', ['-n', 'd', 'addr', 'add', '10.160.21.1/24', 'dev', 'eth0']); sh('ip', ['-n', 'd', 'addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
sh('ip', ['-n', 'd', 'link', 'set', 'eth0', 'up']);
sh('ip', ['-n', 'd', 'link', 'add', 'br0', 'type', 'bridge']); sh('ip', ['-n', 'd', 'addr', 'add', '10.160.22.1/24', 'dev', 'br0']); sh('ip', ['-n', 'd', 'link', 'set', 'br0', 'up']);
ns('d', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
const servers = [];
for (const r of ['r1', 'r2']) {
  sh('ip', ['link', 'add', `p${r}`, 'netns', 'd', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', r]);
  sh('ip', ['-n', 'd', 'link', 'set', `p${r}`, 'master', 'br0']); sh('ip', ['-n', 'd', 'link', 'set', `p${r}`, 'up']);
  sh('ip', ['-n', r, 'addr', 'add', `${RS[r]}/24`, 'dev', 'eth0']); sh('ip', ['-n', r, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', r, 'route', 'add', 'default', 'via', '10.160.22.1']);
  mkdirSync(join(WORK, r), { recursive: true });
  writeFileSync(join(WORK, r, 'index.html'), `${r}\n`);
  servers.push(spawn('ip', ['netns', 'exec', r, '/usr/bin/python3', '-m', 'http.server', '80', '--bind', RS[r], '--directory', join(WORK, r)], { stdio: 'ignore' }));
}
writeFileSync(join(WORK, 'keepalived.conf'), [
  'global_defs {', '  router_id guest', '}',
  `virtual_server ${VIP} 80 {`, '  delay_loop 1', '  lb_algo wrr', '  lb_kind NAT', '  protocol TCP', '  persistence_timeout 0',
  `  real_server ${RS.r1} 80 {`, '    weight 2', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }',
  `  real_server ${RS.r2} 80 {`, '    weight 1', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }',
  '}',
  'virtual_server fwmark 1 {', '  delay_loop 1', '  lb_algo sh', '  lb_kind NAT', '  persistence_timeout 30', '  persistence_granularity 255.255.255.0',
  `  real_server ${RS.r1} {`, '    TCP_CHECK {', '      connect_port 80', '    }', '  }',
  `  real_server ${RS.r2} {`, '    TCP_CHECK {', '      connect_port 80', '    }', '  }',
  '}', '',
].join('\n').replace('  persistence_timeout 0\n', ''));

let daemon;
function startDaemon() {
  const log = openSync(join(WORK, 'd.log'), 'a');
  daemon = spawn('ip', ['netns', 'exec', 'd', process.execPath, join(ROOT, 'bin/tandem'), 'run', '-f', join(WORK, 'keepalived.conf'), '--run-dir', join(WORK, 'run')], { stdio: ['ignore', log, log] });
}
// The control socket is a unix socket (not per namespace): asked from here, no Node start per question (slow under TCG).
const { request } = await import(join(ROOT, 'dist/src/control/socket.js'));
const status = async () => (await request(join(WORK, 'run'), { cmd: 'status' })).lvs;
/** ipvsadm -Ln as data: services with their destinations (the weights and forwarding). */
function ipvsadm() {
  const lines = ns('d', 'ipvsadm', ['-Ln']).split('\n').slice(3).filter(Boolean);
  const svcs = [];
  for (const l of lines) {
    const w = l.trim().split(/\s+/);
    if (w[0] === '->') svcs.at(-1).dests.push(`${w[1]} ${w[2]} ${w[3]}`);
    else svcs.push({ service: `${w[0]} ${w[1]} ${w[2]}${w[3] ? ` ${w.slice(3).join(' ')}` : ''}`, dests: [] });
  }
  return svcs;
}
/** n requests from the client, each on its own connection (one Python process: Node starts slowly under TCG). */
function traffic(n) {
  const py = `import json, urllib.request
counts, failed = {}, 0
for i in range(${n}):
    try:
        b = urllib.request.urlopen('http://${VIP}/', timeout=2).read().decode().strip()
        counts[b] = counts.get(b, 0) + 1
    except Exception:
        failed += 1
print(json.dumps({'counts': counts, 'failed': failed}))`;
  return JSON.parse(ns('c', '/usr/bin/python3', ['-c', py]));
}

try {
  startDaemon();
  const st = await waitFor('the real servers checked and up', async () => { const s = await status(); return s.services.every((v) => v.realServers.every((r) => r.state === 'up' && r.checks[0].runs > 0)) ? s : undefined; });
  out({ step: 'programmed', backend: st.backend, ipvsadm: ipvsadm(), tandem: st.services[0].realServers.map((r) => `${r.address} ${r.weight}`) });
  out({ step: 'traffic', ...traffic(30) });
  await sleep(2500);   // IPVS's estimator copies the counters every ~2 s
  out({ step: 'counters', tandem: (await status()).services[0].realServers.map((r) => r.connections) });
  // A crash: the services stay in the kernel. Meanwhile someone changes a weight, adds a destination and a service of their own.
  daemon.kill('SIGKILL');
  await waitFor('the daemon gone', () => (daemon.exitCode !== null || daemon.signalCode !== null ? true : undefined));
  ns('d', 'ipvsadm', ['-e', '-t', `${VIP}:80`, '-r', `${RS.r2}:80`, '-m', '-w', '9']);
  ns('d', 'ipvsadm', ['-a', '-t', `${VIP}:80`, '-r', '10.160.22.99:80', '-m', '-w', '1']);
  ns('d', 'ipvsadm', ['-A', '-t', '10.160.21.200:80', '-s', 'rr']);
  out({ step: 'after-crash', ipvsadm: ipvsadm() });
  startDaemon();
  await waitFor('restarted', async () => { const s = await status(); return s.services.every((v) => v.realServers.every((r) => r.state === 'up' && r.checks[0].runs > 0)) ? s : undefined; });
  out({ step: 'reconciled', ipvsadm: ipvsadm() });
  out({ step: 'traffic-after-restart', ...traffic(30) });
  daemon.kill('SIGTERM');
  await waitFor('stopped', () => (daemon.exitCode !== null ? true : undefined), 15000);
  out({ step: 'stopped', ipvsadm: ipvsadm() });
} catch (e) {
  out({ step: 'error', message: e.message, log: (() => { try { return readFileSync(join(WORK, 'd.log'), 'utf8'); } catch { return ''; } })() });
  process.exitCode = 1;
} finally {
  for (const s of servers) s.kill('SIGKILL');
  daemon?.kill('SIGKILL');
}
