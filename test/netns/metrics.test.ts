// Metrics and `tandem status --watch` on a real pair. /metrics is scraped
// over real HTTP from inside a node's namespace (Node's fetch run with `ip
// netns exec`), across a real failure: alpha's daemon is killed, beta sees
// the path go down, declares alpha dead and takes the group over, and its
// metrics and status say so, with the reason. The endpoint listens on
// 127.0.0.1 by default: the peer's namespace cannot reach it.
// Namespaces tdmx*, addresses 10.236.1.x.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, REPO_ROOT, type NodeName } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS));

const NET = '10.236.1';
const TANDEM = join(REPO_ROOT, 'bin', 'tandem');
const VIP = `${NET}.100`;

/** GET url from inside namespace ns with Node's fetch: the body, or the error's code. */
async function fetchIn(ns: string, url: string): Promise<{ status?: number; text?: string; error?: string }> {
  const js = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) })
    .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() })))
    .catch((e) => process.stdout.write(JSON.stringify({ error: String(e.cause?.code ?? e.name) })))`;
  return JSON.parse(await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', js])) as { status?: number; text?: string; error?: string };
}

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.sequential('metrics and status --watch on a pair', () => {
  const p = new Pair({ prefix: 'tdmx', net: NET, workDir: join(tmpdir(), 'tandem-metrics') });
  const scrape = async (n: NodeName) => {
    const r = await fetchIn(p.ns[n], 'http://127.0.0.1:9694/metrics');
    if (r.status !== 200 || r.text === undefined) throw new Error(`${n}: scrape failed: ${JSON.stringify(r)}`);
    return r.text;
  };
  const logs = () => (['alpha', 'beta'] as const).map((n) => `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').slice(-30).join('\n')}`).join('\n');

  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    await p.waitForStatus('alpha', 'group running on alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running');
    await p.waitForStatus('beta', 'alpha up at beta', (s) => s.nodes.find((n) => n.name === 'alpha')?.state === 'up');
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('scrapes both nodes over HTTP in their namespaces; the figures match the pair', async () => {
    await sleep(500);   // a few keepalives: the lateness histogram has samples
    const a = await scrape('alpha');
    const b = await scrape('beta');
    const gen = (await p.status('alpha')).generation;
    expect(sample(a, 'tandem_generation')).toBe(gen);
    expect(sample(b, 'tandem_peer_generation')).toBe(gen);
    expect(sample(a, 'tandem_peer_up')).toBe(1);
    expect(sample(b, 'tandem_path_up{path="bcast eth0"}')).toBe(1);
    expect(sample(a, `tandem_group_holder{group="${VIP}",node="alpha"}`)).toBe(1);
    expect(sample(b, `tandem_group_holder{group="${VIP}",node="alpha"}`)).toBe(1);
    expect(sample(a, `tandem_group_held{group="${VIP}"}`)).toBe(1);
    expect(sample(b, `tandem_group_held{group="${VIP}"}`)).toBe(0);
    // alpha started it as its preferred node; nobody failed over.
    expect(sample(a, `tandem_group_transitions_total{group="${VIP}",phase="starting",code="preferred"}`)).toBe(1);
    expect(a).not.toContain('tandem_failovers_total{');
    expect(sample(b, 'tandem_heartbeat_lateness_seconds_count{kind="received"}')).toBeGreaterThan(3);
    expect(sample(b, 'tandem_heartbeat_lateness_seconds_count{kind="timer"}')).toBeGreaterThan(3);
    expect(sample(b, 'tandem_heartbeats_received_total')).toBeGreaterThan(3);
    expect(b).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(b).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it('listens on 127.0.0.1 only by default: not reachable from the peer\'s namespace', async () => {
    const listening = await sh('ip', ['netns', 'exec', p.ns.alpha, 'ss', '-Hltn', 'sport = :9694']);
    expect(listening.trim().split('\n').map((l) => l.trim().split(/\s+/)[3])).toEqual(['127.0.0.1:9694']);
    expect(await fetchIn(p.ns.beta, `http://${p.ip.alpha}:9694/metrics`)).toEqual({ error: 'ECONNREFUSED' });
    expect(await fetchIn(p.ns.client, `http://${p.ip.alpha}:9694/metrics`)).toEqual({ error: 'ECONNREFUSED' });
    expect((await fetchIn(p.ns.alpha, 'http://127.0.0.1:9694/')).status).toBe(404);
  });

  it('status --watch 0.2 prints successive snapshots, survives the daemon going away and coming back, and exits 0 on SIGINT', async () => {
    // Watch alpha: it is killed and started again while the watch runs.
    const w = spawn(process.execPath, [TANDEM, 'status', '--watch', '0.2', '--run-dir', p.runDir('alpha')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((r) => w.on('exit', (code) => r(code)));
    await waitFor('three snapshots', async () => (out.split('\n=== ').length >= 3 ? true : undefined), 5000);
    const t0 = Date.now();

    // The real event: alpha's daemon dies (kill -9). beta's path goes down, alpha is declared dead, the group moves.
    await p.crashTandem('alpha');
    await waitFor('the watch to say the daemon is not answering', async () => (out.includes('daemon not answering since') ? true : undefined), 5000);
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    const b = await scrape('beta');
    expect(sample(b, 'tandem_peer_up'), logs()).toBe(0);
    expect(sample(b, 'tandem_path_up{path="bcast eth0"}')).toBe(0);
    expect(sample(b, 'tandem_path_transitions_total{path="bcast eth0",state="down"}')).toBe(1);
    expect(sample(b, 'tandem_peer_deaths_total{reason="silent"}')).toBe(1);
    expect(sample(b, `tandem_failovers_total{group="${VIP}",code="peer-dead"}`)).toBe(1);
    expect(sample(b, `tandem_group_transitions_total{group="${VIP}",phase="starting",code="peer-dead"}`)).toBe(1);
    expect(sample(b, `tandem_group_holder{group="${VIP}",node="beta"}`)).toBe(1);
    expect(sample(b, 'tandem_node_state{node="alpha",state="dead"}')).toBe(1);
    // status says why, in the engine's words.
    const text = await sh(process.execPath, [TANDEM, 'status', '--run-dir', p.runDir('beta')]);
    expect(text).toMatch(/^ {4}moved to beta [\d.]+ (ms|s) ago: alpha declared dead \(silent on every path for \d+ ms\)$/m);
    const json = await p.status('beta');
    expect((json.groups[0] as unknown as { transition: unknown }).transition).toMatchObject({ change: 'moved-here', node: 'beta', code: 'peer-dead' });

    // alpha comes back: the watch picks it up again.
    const before = out.length;
    p.startTandem('alpha');
    await waitFor('the watch to show alpha again', async () => (/RESOURCE GROUPS/.test(out.slice(before)) ? true : undefined), 15_000);
    await sleep(300);
    w.kill('SIGINT');
    expect(await exited).toBe(0);

    // Non-TTY: snapshots separated by a blank line and a timestamp header, about 0.2 s apart.
    const snaps = out.split(/\n(?==== )/);
    expect(snaps.length).toBeGreaterThanOrEqual(6);
    const stamps = snaps.map((s) => /^=== (\S+) ===\n/.exec(s)?.[1]);
    expect(stamps.every((s) => s !== undefined && !Number.isNaN(Date.parse(s)))).toBe(true);
    expect(out.split('\n=== ').length).toBe(snaps.length);   // every header after the first follows a blank line
    const gaps = stamps.slice(1).map((s, i) => Date.parse(s!) - Date.parse(stamps[i]!));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(150);
    const down = snaps.filter((s) => s.includes('daemon not answering since'));
    expect(down.length).toBeGreaterThan(0);
    // The same "since" on every such line: when it stopped answering, not when it was asked.
    expect(new Set(down.map((s) => /since (\S+) /.exec(s)?.[1])).size).toBe(1);
    expect(snaps.at(-1)).toContain('RESOURCE GROUPS');
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 90_000);
});
