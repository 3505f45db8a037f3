// npm run demo — a two-node pair and a client in network namespaces on this
// machine; the active node loses power and the timeline of the failover is
// printed. Needs root (network namespaces) and nothing else of the user's.

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pair } from '../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../lab/sh.js';
import { formatTimeline, type TimelineEvent } from '../lab/timeline.js';

const pair = new Pair({
  prefix: 'tdemo', net: '10.213.1', workDir: join(tmpdir(), 'tandem-demo'),
  keepalive: '100ms', warntime: '200ms', deadtime: '300ms', initdead: '2', autoFailback: 'off', media: 'bcast',
});

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo creates network namespaces: run it as root');
  for (const tool of ['ip', 'socat', 'ping']) {
    const ok = await sh('sh', ['-c', `command -v ${tool}`], { allowFail: true });
    if (!ok.trim()) throw new Error(`the demo needs '${tool}' (Debian: apt-get install iproute2 socat iputils-ping)`);
  }
  console.log('tandem demo: alpha and beta share the VIP', pair.vip, '; a client watches it.');
  console.log('  ha.cf: keepalive 100ms, deadtime 300ms, bcast eth0, auto_failback off\n');
  await pair.setup();
  pair.startNode('alpha');
  pair.startNode('beta');
  await waitFor('alpha to take the VIP', async () => ((await pair.holdsVip('alpha')) ? true : undefined), 20_000);
  await pair.waitForStatus('beta', 'alpha heard', (s) => s.nodes.some((n) => n.name === 'alpha' && n.state === 'up'));
  console.log(`alpha holds the VIP; the service answers "${await pair.askService()}"; client's ARP entry: ${await pair.clientNeighbourMac()} (alpha is ${pair.mac.alpha})\n`);
  console.log((await sh(process.execPath, [join(process.cwd(), 'bin', 'tandem'), 'status', '--run-dir', pair.runDir('beta')])).replace(/^/gm, '  '));

  const mon = new LineWatcher('ip', ['-n', pair.ns.beta, 'monitor', 'address']);
  const ping = new LineWatcher('ip', ['netns', 'exec', pair.ns.client, 'ping', '-n', '-i', '0.01', pair.vip]);
  await sleep(500);
  const logStart = readFileSync(pair.logFile('beta'), 'utf8').length;
  console.log('pulling the plug on alpha (link down + kill -9 of everything in its namespace)...');
  const t0 = performance.now();
  const wall0 = Date.now();
  await pair.powerOff('alpha');
  const vip = await mon.first(new RegExp(`inet ${pair.vip.replace(/\./g, '\\.')}/`), t0, 10_000);
  const replyAfter = await ping.first(/bytes from/, performance.now(), 5000);
  await waitFor('the service on beta', async () => ((await pair.askService()) === 'beta' ? true : undefined), 10_000);
  const served = performance.now();
  mon.stop(); ping.stop();

  console.log('\ntimeline (from the power loss):');
  const events: TimelineEvent[] = [{ atMs: 0, text: 'alpha loses power' }];
  const lines = readFileSync(pair.logFile('beta'), 'utf8').slice(logStart).split('\n').filter(Boolean);
  for (const l of lines) {
    const at = Date.parse(l.slice(0, 24)) - wall0;
    if (at >= 0 && at < 5000) events.push({ atMs: at, text: `beta: ${l.slice(25).replace(/^beta \w+\s+/, '')}` });
  }
  if (vip) events.push({ atMs: vip.at - t0, text: 'kernel on beta reports the VIP' });
  if (replyAfter) events.push({ atMs: replyAfter.at - t0, text: 'client gets echo replies from the VIP again' });
  events.push({ atMs: served - t0, text: `client's TCP connection answered by "${await pair.askService()}"` });
  for (const line of formatTimeline(events)) console.log(line);
  console.log(`\nclient's ARP entry for the VIP is now ${await pair.clientNeighbourMac()} (beta is ${pair.mac.beta}): moved by gratuitous ARP.`);

  console.log('\npowering alpha back on: with auto_failback off it rejoins as standby...');
  await pair.powerOn('alpha');
  await pair.waitForStatus('alpha', 'beta heard', (s) => s.nodes.some((n) => n.name === 'beta' && n.state === 'up'));
  await sleep(1000);
  console.log(`VIP on alpha: ${await pair.holdsVip('alpha')}, on beta: ${await pair.holdsVip('beta')}\n`);
}

let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await pair.cleanup();
}
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

main().then(
  async () => { await cleanup(); console.log('demo finished; namespaces removed.'); },
  async (e: Error) => { await cleanup(); console.error(`demo: ${e.message}`); process.exit(1); },
);
