// Issue 14's split-brain guard for VRRP, in namespaces: two tandem daemons in
// `run -c DIR -f FILE` mode (a Heartbeat-style pair with no haresources
// groups, plus one keepalived.conf vrrp_instance, v3, advert_int 0.1,
// priorities 150/100) and tandem's own arbiter in a third namespace (lab/pair.ts,
// arbiter option). ha.cf says `vrrp_guard all`.
//
// What counts is the VIP: both namespaces' local routes are read every 20 ms
// (holdsVip), each daemon's VRRP state beside them through its control
// socket, and `ip -ts monitor address` in each namespace stamps every add and
// delete, so an overlap shorter than a sample still shows.
// Links are cut with nftables inside one node's namespace: "from the peer"
// drops every packet but loopback and the arbiter's (VRRP adverts,
// heartbeats); "isolated" drops every packet but loopback.
//
// TANDEM_TEST_NO_GUARD=1 leaves vrrp_guard out everywhere, to see each case
// fail without the guard (the graceful stop then fails only on its lease).
//
// Prefix tdvg, addresses 10.251.1.0/24. Needs root, nftables, socat.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pair, type NodeName, type StatusJson } from '../../lab/pair.js';
import { LineWatcher, sh, sleep, waitFor } from '../../lab/sh.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';
import { request } from '../../src/control/socket.js';

const PREFIX = 'tdvg';
const NODES = ['alpha', 'beta'] as const;
const PRIORITY: Record<NodeName, number> = { alpha: 150, beta: 100 };

interface VrrpInstanceJson { name: string; state: string; claiming: boolean; guard: { allowed: boolean; reason: string } }
type Status = StatusJson & { vrrp?: { instances: VrrpInstanceJson[] } };

const p = new Pair({ prefix: PREFIX, net: '10.251.1', workDir: join(tmpdir(), 'tandem-vrrp-guard'), arbiter: 'tandem' });
const kaFile = (n: NodeName) => join(p.dir(n), 'keepalived.conf');

function keepalivedConf(n: NodeName): string {
  return [
    '! written by test/netns/vrrp-guard.test.ts',
    'global_defs {', `    router_id ${n}`, '    vrrp_version 3', '}',
    'vrrp_instance VI_1 {',
    '    state BACKUP', '    interface eth0', '    virtual_router_id 51', `    priority ${PRIORITY[n]}`, '    advert_int 0.1',
    '    virtual_ipaddress {', `        ${p.vip}/24 dev eth0`, '    }',
    '}', '',
  ].join('\n');
}

/** ha.cf as the lab writes it (with the arbiter), plus `vrrp_guard all` or not; no haresources groups. */
function configure(guard: boolean): void {
  for (const n of NODES) {
    p.writeConfig(n);
    const hacf = readFileSync(p.haCfPath(n), 'utf8');
    writeFileSync(p.haCfPath(n), guard && !process.env.TANDEM_TEST_NO_GUARD ? hacf.replace(/^node /m, 'vrrp_guard all\nnode ') : hacf);
    writeFileSync(join(p.configDir(n), 'haresources'), '');
    writeFileSync(kaFile(n), keepalivedConf(n));
  }
}

const start = (n: NodeName) => p.startTandem(n, ['-f', kaFile(n)]);

async function stopBoth(): Promise<void> {
  for (const n of NODES) await p.stopTandem(n).catch(() => p.crashTandem(n).catch(() => undefined));
  for (const n of NODES) p.procs[n] = undefined;
  // A daemon killed without its goodbye leaves its VIP; the next case starts clean.
  for (const n of NODES) await sh('ip', ['-n', p.ns[n], 'addr', 'del', `${p.vip}/24`, 'dev', 'eth0'], { allowFail: true });
}

function logs(): string {
  const tail = (f: string) => { try { return readFileSync(f, 'utf8').split('\n').slice(-50).join('\n'); } catch { return ''; } };
  return [...NODES.map((n) => `--- ${n} ---\n${tail(p.logFile(n))}`), `--- arbiter ---\n${tail(p.arbiterLog())}`].join('\n');
}

async function withLogs<T>(body: () => Promise<T>): Promise<T> {
  try { return await body(); } catch (e) { throw new Error(`${(e as Error).message}\n${logs()}`); }
}

const status = (n: NodeName) => p.status(n) as Promise<Status>;
const vi1 = (s: Status) => s.vrrp?.instances.find((i) => i.name === 'VI_1');

/** nftables in `n`'s namespace: 'peer' drops all but loopback and the arbiter; 'all' drops all but loopback. */
async function cut(n: NodeName, what: 'peer' | 'all'): Promise<void> {
  const keep = what === 'peer' ? ` ip saddr != ${p.arbiterIp}` : '';
  const keepOut = what === 'peer' ? ` ip daddr != ${p.arbiterIp}` : '';
  const rules = `table inet ${PREFIX} {
  chain in { type filter hook input priority 0; meta iif != lo meta nfproto ipv6 drop; meta iif != lo${keep} drop; }
  chain out { type filter hook output priority 0; meta oif != lo meta nfproto ipv6 drop; meta oif != lo${keepOut} drop; }
}`;
  const f = join(p.dir(n), 'cut.nft');
  writeFileSync(f, rules);
  await sh('ip', ['netns', 'exec', p.ns[n], 'nft', '-f', f]);
}

async function heal(n: NodeName): Promise<void> {
  await sh('ip', ['netns', 'exec', p.ns[n], 'nft', 'delete', 'table', 'inet', PREFIX], { allowFail: true });
}

interface Sample { at: number; alpha: boolean; beta: boolean }
/** The VRRP state of VI_1 on each daemon ('-' when it did not answer), read through its control socket. */
interface StateSample { at: number; alpha: string; beta: string }

/**
 * A process parked in each node's namespace: /proc/PID/net/fib_trie is that
 * namespace's routing tables, where the kernel adds and removes an address's
 * /32 local route with the address itself. Reading it in-process costs well
 * under a millisecond, so 20 ms samples hold on a loaded 2-core machine
 * (spawning `ip` twice per sample does not: gaps of 500 ms were seen).
 */
const parked: Partial<Record<NodeName, ChildProcess>> = {};

async function park(): Promise<void> {
  for (const n of NODES) {
    const c = parked[n] = spawn('ip', ['netns', 'exec', p.ns[n], 'sleep', '100000'], { stdio: 'ignore' });
    await waitFor(`a process parked in ${n}'s namespace`, async () => (readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim() === 'sleep' ? true : undefined), 5000, 10);
  }
}

function holdsVip(n: NodeName): boolean {
  const trie = readFileSync(`/proc/${parked[n]!.pid}/net/fib_trie`, 'utf8');
  return new RegExp(`\\|-- ${p.vip.replace(/\./g, '\\.')}\\n\\s*/32 host LOCAL`).test(trie);
}

/** VI_1's state on n, straight from the control socket `tandem status` uses. */
async function vrrpState(n: NodeName): Promise<string> {
  try {
    const r = await request(p.runDir(n), { cmd: 'status' }, 1000) as Status;
    const i = vi1(r);
    return i ? `${i.state}${i.claiming ? '/claiming' : ''}` : '-';
  } catch {
    return '-';
  }
}

/**
 * Samples both nodes every 20 ms (an absolute schedule: a late sample does
 * not push the next one back) until `done` or maxMs: the VIP, and beside it
 * (its own loop, as fast as the control sockets answer, at most every 20 ms)
 * each daemon's VRRP state.
 */
async function sample(done: (s: Sample[]) => boolean, maxMs: number): Promise<Sample[] & { states: StateSample[] }> {
  const out: Sample[] = [];
  const states: StateSample[] = [];
  const t0 = performance.now();
  let over = false;
  const stateLoop = (async () => {
    while (!over) {
      const at = performance.now();
      const [alpha, beta] = await Promise.all([vrrpState('alpha'), vrrpState('beta')]);
      states.push({ at, alpha, beta });
      await sleep(Math.max(0, 20 - (performance.now() - at)));
    }
  })();
  for (let k = 1; ; k++) {
    const at = performance.now();
    out.push({ at, alpha: holdsVip('alpha'), beta: holdsVip('beta') });
    if (done(out) || at - t0 >= maxMs) break;
    await sleep(Math.max(0, t0 + k * 20 - performance.now()));
  }
  over = true;
  await stateLoop;
  return Object.assign(out, { states });
}

const both = (s: Sample[]) => s.filter((x) => x.alpha && x.beta);
const bothMaster = (s: StateSample[]) => s.filter((x) => x.alpha.startsWith('MASTER') && x.beta.startsWith('MASTER'));
const gaps = (s: Array<{ at: number }>) => s.slice(1).reduce((m, x, i) => Math.max(m, x.at - s[i]!.at), 0);
const rate = (s: Sample[] & { states: StateSample[] }) => `${s.length} VIP samples (largest gap ${ms(gaps(s))}), ${s.states.length} state samples (largest gap ${ms(gaps(s.states))})`;

/** ip's `-ts` stamp (local time, microseconds) in ms: Date.parse keeps only milliseconds, and a preemption's add and delete can share one. */
function stampMs(ts: string): number {
  const m = /^(.*\.\d{3})(\d*)$/.exec(ts);
  return m ? Date.parse(m[1]!) + Number(`0.${m[2] || '0'}`) : Date.parse(ts);
}

/** `ip -ts monitor address` in each node's namespace: every add and delete of the VIP, with ip's timestamps (ms to the µs, one clock). */
class VipMonitor {
  private readonly w: Record<NodeName, LineWatcher>;
  constructor() {
    this.w = { alpha: new LineWatcher('ip', ['-n', p.ns.alpha, '-ts', 'monitor', 'address']), beta: new LineWatcher('ip', ['-n', p.ns.beta, '-ts', 'monitor', 'address']) };
  }
  /** Ready once both print: an address added and deleted on lo. */
  async ready(): Promise<void> {
    for (const n of NODES) {
      const t0 = performance.now();
      await sh('ip', ['-n', p.ns[n], 'addr', 'add', '127.0.0.99/8', 'dev', 'lo']);
      await sh('ip', ['-n', p.ns[n], 'addr', 'del', '127.0.0.99/8', 'dev', 'lo']);
      if (!(await this.w[n].first(/127\.0\.0\.99\//, t0, 3000))) throw new Error(`ip monitor in ${n} prints nothing`);
    }
  }
  /** The VIP's events on node n, in order: [time ms, added?]. */
  events(n: NodeName): Array<{ t: number; added: boolean }> {
    const vip = new RegExp(`^\\[([^\\]]+)\\]\\s*(Deleted )?.*inet ${p.vip.replace(/\./g, '\\.')}/`);
    const out: Array<{ t: number; added: boolean }> = [];
    for (const { line } of this.w[n].lines) {
      const m = vip.exec(line);
      if (m) out.push({ t: stampMs(m[1]!), added: !m[2] });
    }
    return out;
  }
  /** Intervals (ms, ip's clock) in which both nodes held the VIP, from the events; `held0` is who held it when the monitors started. */
  overlaps(held0: Record<NodeName, boolean>): Array<{ from: number; to: number }> {
    const ev = NODES.flatMap((n) => this.events(n).map((e) => ({ ...e, n }))).sort((a, b) => a.t - b.t);
    const held = { ...held0 };
    const out: Array<{ from: number; to: number }> = [];
    let since: number | undefined = held.alpha && held.beta ? -Infinity : undefined;
    for (const e of ev) {
      held[e.n] = e.added;
      if (held.alpha && held.beta) since ??= e.t;
      else if (since !== undefined) { out.push({ from: since, to: e.t }); since = undefined; }
    }
    if (since !== undefined) out.push({ from: since, to: Infinity });
    return out;
  }
  stop(): void { for (const n of NODES) this.w[n].stop(); }
}

/** Both daemons running, `master` holding the VIP (under the guard: its lease) and the other BACKUP and hearing it, for a steady second. */
async function formed(master: NodeName, timeoutMs = 20_000): Promise<void> {
  const backup = master === 'alpha' ? 'beta' : 'alpha';
  await p.waitForStatus(master, `${master} VRRP MASTER`, (s) => vi1(s as Status)?.state === 'MASTER', timeoutMs);
  await p.waitForStatus(backup, `${backup} VRRP BACKUP, not claiming, hearing ${master}`, (s) => {
    const i = vi1(s as Status);
    return i?.state === 'BACKUP' && !i.claiming && s.nodes.find((x) => !x.self)?.state === 'up';
  }, timeoutMs);
  const steady = await sample(() => false, 1000);
  expect(steady.every((x) => x[master] && !x[backup]), `${master} alone holds the VIP`).toBe(true);
}

/** Figures for the report. */
const figures: string[] = [];
const ms = (v: number) => `${Math.round(v)} ms`;

/** Never two masters in the samples: neither the VIP on both nodes, nor both daemons saying MASTER. */
function neverBoth(s: Sample[] & { states: StateSample[] }, t0: number): void {
  const b = both(s);
  expect(b.length, `both held the VIP at ${b.slice(0, 5).map((x) => `+${ms(x.at - t0)}`).join(', ')}\n${logs()}`).toBe(0);
  const m = bothMaster(s.states);
  expect(m.length, `both daemons said MASTER at ${m.slice(0, 5).map((x) => `+${ms(x.at - t0)}`).join(', ')}\n${logs()}`).toBe(0);
}

describe.sequential('VRRP split-brain guard (run -c -f, vrrp_guard all, tandem arbiter)', () => {
  beforeAll(async () => {
    need(...PAIR_TOOLS, 'nft');
    try {
      await p.setup();
      await park();
    } catch (e) {
      await p.cleanup();
      throw e;
    }
  }, 60_000);

  afterAll(async () => {
    for (const n of NODES) await heal(n);
    await stopBoth();
    for (const n of NODES) parked[n]?.kill('SIGKILL');
    await p.cleanup();
    if (figures.length) console.log(`VRRP guard figures:\n  ${figures.join('\n  ')}`);
  }, 60_000);

  it('partitioned from each other, both reaching the arbiter: never two masters in 20 s (20 ms samples); one master soon after healing', async () => {
    configure(true);
    start('alpha');
    start('beta');
    await withLogs(() => formed('alpha'));
    const mon = new VipMonitor();
    try {
      await mon.ready();
      const t0 = performance.now();
      await cut('beta', 'peer');
      const s = await sample(() => false, 20_000);
      neverBoth(s, t0);
      expect(mon.overlaps({ alpha: true, beta: false }), logs()).toEqual([]);
      // No needless failover either: alpha keeps renewing its lease at the arbiter.
      expect(s.every((x) => x.alpha), logs()).toBe(true);
      // beta's master-down timer ran out long ago: it is held by the guard, claiming (its adverts are dropped by the cut).
      const sb = vi1(await status('beta'));
      expect(sb, logs()).toMatchObject({ state: 'BACKUP', claiming: true, guard: { allowed: false } });
      const claimedFrom = s.states.find((x) => x.beta === 'BACKUP/claiming');
      figures.push(`partition 20 s: ${rate(s)}; VIP on both in 0, MASTER on both in 0; alpha held the VIP in all; beta claiming from +${claimedFrom ? ms(claimedFrom.at - t0) : '?'} (${sb?.guard.reason})`);

      const h0 = performance.now();
      await heal('beta');
      const after = await sample((x) => x[x.length - 1]!.at - h0 > 1500, 5000);
      neverBoth(after, h0);
      const one = after.find((x, k) => after.slice(k).every((y) => y.alpha !== y.beta));
      expect(one, `exactly one master from some point after healing\n${logs()}`).toBeDefined();
      expect(one!.at - h0, logs()).toBeLessThan(1000);
      expect(mon.overlaps({ alpha: true, beta: false }), logs()).toEqual([]);
      await p.waitForStatus('beta', 'beta BACKUP, no longer claiming', (x) => vi1(x as Status)?.state === 'BACKUP' && vi1(x as Status)?.claiming === false, 2000)
        .catch((e: Error) => { throw new Error(`${e.message}\n${logs()}`); });
      figures.push(`after healing: exactly one master (${after[after.length - 1]!.alpha ? 'alpha' : 'beta'}) from +${ms(one!.at - h0)}; ${rate(after)}; never both`);
    } finally {
      mon.stop();
      await heal('beta');
      await stopBoth();
    }
  }, 60_000);

  it('without vrrp_guard the same cut gives two masters (the test above is not vacuous)', async () => {
    configure(false);
    start('alpha');
    start('beta');
    try {
      await withLogs(() => formed('alpha'));
      const t0 = performance.now();
      await cut('beta', 'peer');
      const s = await sample((x) => x[x.length - 1]!.alpha && x[x.length - 1]!.beta, 5000);
      expect(both(s).length, logs()).toBeGreaterThan(0);
      figures.push(`without vrrp_guard: both held the VIP from +${ms(both(s)[0]!.at - t0)} after the cut`);
    } finally {
      await heal('beta');
      await stopBoth();
    }
  }, 40_000);

  it('the master cut from the arbiter and the peer removes its VIP before the other node adds it', async () => {
    configure(true);
    start('alpha');
    start('beta');
    await withLogs(() => formed('alpha'));
    const mon = new VipMonitor();
    try {
      await mon.ready();
      const t0 = performance.now();
      const w0 = Date.now();
      await cut('alpha', 'all');
      const s = await sample((x) => x.filter((y) => y.beta).length > 10, 15_000);
      neverBoth(s, t0);
      const gone = mon.events('alpha').find((e) => !e.added);
      const came = mon.events('beta').find((e) => e.added);
      expect(gone, `alpha removed the VIP\n${logs()}`).toBeDefined();
      expect(came, `beta added the VIP\n${logs()}`).toBeDefined();
      expect(came!.t, `beta added it at ${came!.t}, alpha removed it at ${gone!.t}\n${logs()}`).toBeGreaterThan(gone!.t);
      expect(mon.overlaps({ alpha: true, beta: false }), logs()).toEqual([]);
      figures.push(`master isolated: alpha removed the VIP at +${ms(gone!.t - w0)}, beta added it at +${ms(came!.t - w0)} (gap ${ms(came!.t - gone!.t)}); ${rate(s)}; never both`);

      // Healed: alpha (150) preempts through its claims, beta gives way; never both.
      const h0 = performance.now();
      await heal('alpha');
      const back = await sample((x) => x.filter((y) => y.alpha && !y.beta).length > 25, 15_000);
      neverBoth(back, h0);
      expect(back[back.length - 1], logs()).toMatchObject({ alpha: true, beta: false });
      expect(mon.overlaps({ alpha: true, beta: false }), logs()).toEqual([]);
      const first = back.find((x) => x.alpha)!;
      figures.push(`isolation healed: alpha holds the VIP again at +${ms(first.at - h0)}; ${rate(back)}; never both`);
    } finally {
      mon.stop();
      await heal('alpha');
      await stopBoth();
    }
  }, 60_000);

  it('preemption under the guard: alpha (150) starting second takes over through claims; never both', async () => {
    configure(true);
    start('beta');
    await withLogs(() => p.waitForStatus('beta', 'beta VRRP MASTER', (s) => vi1(s as Status)?.state === 'MASTER', 20_000));
    const mon = new VipMonitor();
    try {
      await mon.ready();
      const t0 = performance.now();
      start('alpha');
      const s = await sample((x) => x.filter((y) => y.alpha && !y.beta).length > 25, 20_000);
      neverBoth(s, t0);
      expect(s[s.length - 1], logs()).toMatchObject({ alpha: true, beta: false });
      expect(mon.overlaps({ alpha: false, beta: true }), logs()).toEqual([]);
      const gone = mon.events('beta').find((e) => !e.added)!;
      const came = mon.events('alpha').find((e) => e.added)!;
      expect(came.t, logs()).toBeGreaterThan(gone.t);
      // Through claims: beta stepped down on hearing alpha's advert while alpha held no VIP (the overlap check above), and
      // alpha stayed BACKUP, claiming, until beta's lease was released and granted to it.
      expect(readFileSync(p.logFile('beta'), 'utf8'), logs()).toMatch(new RegExp(`VI_1: MASTER -> BACKUP \\(priority 100\\): advert from ${p.ip.alpha.replace(/\./g, '\\.')} with higher priority \\(150 > 100\\)`));
      const claimed = s.states.find((x) => x.alpha === 'BACKUP/claiming');
      expect(claimed, `alpha seen claiming (BACKUP, adverts without the VIP)\n${logs()}`).toBeDefined();
      const first = s.find((x) => x.alpha)!;
      figures.push(`preemption: alpha seen claiming at +${ms(claimed!.at - t0)}, holds the VIP from +${ms(first.at - t0)} after its start (beta removed it ${ms(came.t - gone.t)} before alpha added it); ${rate(s)}; never both`);
    } finally {
      mon.stop();
      await stopBoth();
    }
  }, 60_000);

  it('a graceful stop (SIGTERM) of the master: the other takes the VIP soon, never both', async () => {
    configure(true);
    start('alpha');
    start('beta');
    await withLogs(() => formed('alpha'));
    const mon = new VipMonitor();
    try {
      await mon.ready();
      const t0 = performance.now();
      const w0 = Date.now();
      const stopped = p.stopTandem('alpha');
      const s = await sample((x) => x.filter((y) => y.beta).length > 10, 10_000);
      await stopped;
      neverBoth(s, t0);
      expect(s[s.length - 1], logs()).toMatchObject({ alpha: false, beta: true });
      expect(mon.overlaps({ alpha: true, beta: false }), logs()).toEqual([]);
      const gone = mon.events('alpha').find((e) => !e.added)!;
      const came = mon.events('beta').find((e) => e.added)!;
      expect(came.t, logs()).toBeGreaterThan(gone.t);
      const first = s.find((x) => x.beta)!;
      // The lease is released as alpha leaves (after its VIP is off), and granted to beta: beta waits neither for the
      // lease's TTL (2 s) nor its safety margin.
      expect(first.at - t0, logs()).toBeLessThan(1000);
      const arb = readFileSync(p.arbiterLog(), 'utf8');
      const released = arb.lastIndexOf('alpha released vrrp:VI_1 (shutting down)');
      expect(released, logs()).toBeGreaterThan(-1);
      expect(arb.indexOf('granted vrrp:VI_1 to beta', released), logs()).toBeGreaterThan(released);
      figures.push(`graceful stop: alpha removed the VIP at +${ms(gone.t - w0)}, beta added it at +${ms(came.t - w0)} (first sample with it +${ms(first.at - t0)}); ${rate(s)}; never both`);
    } finally {
      mon.stop();
      await stopBoth();
    }
  }, 40_000);
});
