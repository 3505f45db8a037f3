// Fencing in a running pair: two tandem daemons, each with a real power
// switch (OpenIPMI's ipmi_sim, lab/ipmi.ts) whose "power off" kills every
// process of its node and downs its link, and whose "power on" brings the
// link back and boots tandem again (Pair's `fencing` option).
//
// How the heartbeat is cut: nftables drops UDP port 694 (in and out) inside
// ONE node's namespace. Both nodes stay alive and the client still reaches
// both (downing the link would cut the client off too, and look like a
// crash to it), and each node still reaches the switch it fences through,
// which runs in its own namespace on 127.0.0.1:623, as a BMC on a separate
// management network would.
//
// Traffic stays inside the namespaces this file creates (prefix tdfp, 10.218.x).
// Needs root and Debian's openipmi, ipmitool, fence-agents, cluster-glue, nftables.

import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pair, type NodeName, type PairFencing, type StatusJson } from '../../lab/pair.js';
import type { IpmiSim } from '../../lab/ipmi.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { PID_NAME } from '../../src/control/socket.js';
import { need, PAIR_TOOLS } from '../helpers/tools.js';

beforeAll(() => need(...PAIR_TOOLS, 'nft', 'ipmi_sim', 'ipmitool', 'fence_ipmilan'));

const PREFIX = 'tdfp';
const other = (n: NodeName): NodeName => (n === 'alpha' ? 'beta' : 'alpha');

/** The fencing part of `tandem status --json` (docs/status.md). */
interface FencingJson {
  peer: string;
  phase: string;
  waiting: boolean;
  waitingReason: string | null;
  devices: Array<{ device: string; lastCheck: { ok: boolean; error: string | null } | null }>;
  history: Array<{ by: string; target: string; device: string; result: string; durationMs: number; error?: string }>;
}
type Status = StatusJson & { fencing: FencingJson | null; recentEvents: Array<{ kind: string; detail: string }> };

const status = (p: Pair, n: NodeName) => p.status(n) as Promise<Status>;
const peerState = (s: Status) => s.nodes.find((x) => !x.self)?.state;

function logs(p: Pair): string {
  return (['alpha', 'beta'] as const).map((n) => {
    try { return `--- ${n} ---\n${readFileSync(p.logFile(n), 'utf8').split('\n').slice(-30).join('\n')}`; } catch { return ''; }
  }).join('\n');
}

/** Runs `body`; on failure, the error carries the nodes' last log lines. */
async function withLogs<T>(p: Pair, body: () => Promise<T>): Promise<T> {
  try { return await body(); } catch (e) { throw new Error(`${(e as Error).message}\n${logs(p)}`); }
}

async function cutHeartbeat(p: Pair, ns: NodeName): Promise<void> {
  const rules = `table inet ${PREFIX} {
  chain in { type filter hook input priority 0; udp dport 694 drop; }
  chain out { type filter hook output priority 0; udp dport 694 drop; }
}`;
  const f = join(p.dir(ns), 'cut.nft');
  writeFileSync(f, rules);
  await sh('ip', ['netns', 'exec', p.ns[ns], 'nft', '-f', f]);
}

async function healHeartbeat(p: Pair, ns: NodeName): Promise<void> {
  await sh('ip', ['netns', 'exec', p.ns[ns], 'nft', 'delete', 'table', 'inet', PREFIX], { allowFail: true });
}

async function holder(p: Pair): Promise<NodeName | undefined> {
  for (const n of ['alpha', 'beta'] as const) if (await p.holdsVip(n)) return n;
  return undefined;
}

/** Both daemons up, each hearing the other, `active` running the group, both devices checked ok. */
async function formed(p: Pair, active: NodeName, timeoutMs = 15_000): Promise<void> {
  const standby = other(active);
  await p.waitForStatus(active, `${active} running the group, ${standby} up`, (s) =>
    s.groups[0]?.holder === active && s.groups[0]?.local.phase === 'running' && peerState(s as Status) === 'up', timeoutMs);
  await p.waitForStatus(standby, `${standby} standby, ${active} up, its device checked`, (s) => {
    const st = s as Status;
    return peerState(st) === 'up' && st.groups[0]?.holder === active && st.groups[0]?.local.phase === 'stopped' &&
      st.fencing?.devices.every((d) => d.lastCheck?.ok) === true;
  }, timeoutMs);
}

const daemonPid = (p: Pair, n: NodeName) => parseInt(readFileSync(join(p.runDir(n), PID_NAME), 'utf8'), 10);
/** A zombie counts as dead: a daemon the switch started has no parent here to reap it. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Graceful stop of `node` (started by the test or by its switch's power-on), then start it again. */
async function restartDaemon(p: Pair, node: NodeName): Promise<void> {
  const pid = daemonPid(p, node);
  process.kill(pid, 'SIGTERM');
  await waitFor(`${node}'s daemon to exit`, async () => (alive(pid) ? undefined : true), 10_000);
  p.startTandem(node);
}

/**
 * Cut every heartbeat path with both nodes alive (nftables in `cutIn`'s
 * namespace) and check the outcome: `active` fenced the other, which is now
 * powered off; `active` still holds the group and serves the client.
 */
async function splitBrainRound(p: Pair, active: NodeName, cutIn: NodeName): Promise<number> {
  const loser = other(active);
  const t0 = Date.now();
  await cutHeartbeat(p, cutIn);
  const loserSwitch = p.power[loser]!;
  await waitFor(`${loser} powered off by ${active}`, async () => (loserSwitch.power() === 'off' ? true : undefined), 6000);
  const ms = Date.now() - t0;
  // The winner's takeover gate opened (confirmed off); nothing moved.
  // The fence's history record is written to the state store after the phase changes (CI: status read in between).
  const s = await p.waitForStatus(active, `${active} past fencing, its record written`,
    (x) => (x as Status).fencing?.phase === 'fenced' && (x as Status).fencing?.history.at(-1)?.target === loser, 5000) as Status;
  expect(s.groups[0]?.holder).toBe(active);
  expect(s.groups[0]?.local.phase).toBe('running');
  expect(peerState(s)).toBe('dead');
  expect(s.fencing?.history.at(-1)).toMatchObject({ by: active, target: loser, result: 'ok' });
  expect(p.power[active]!.power()).toBe('on');
  expect(await p.holdsVip(active)).toBe(true);
  expect(await p.askService()).toBe(active);
  // The loser is dead: its daemon is gone (its namespace still hosts the winner's switch).
  expect(alive(daemonPid(p, loser))).toBe(false);
  return ms;
}

/** Heal the cut and power the fenced node on through its switch; it boots and rejoins as standby. */
async function powerBackOn(p: Pair, active: NodeName, cutIn: NodeName): Promise<void> {
  await healHeartbeat(p, cutIn);
  const loser = other(active);
  await p.power[loser]!.ipmitool('chassis', 'power', 'on');
  await formed(p, active);
}

function notifyScript(dir: string): { path: string; out: string } {
  const path = join(dir, 'notify.sh');
  const out = join(dir, 'notify.out');
  writeFileSync(path, `#!/bin/sh\nprintf '%s %s\\n' "$1" "$2" >> ${out}\n`, { mode: 0o755 });
  chmodSync(path, 0o755);
  return { path, out };
}

describe.sequential('fencing pair (ipmi): split brain, unreachable device, power on again', () => {
  const work = join(tmpdir(), 'tandem-fencing-pair');
  const notifyDir = `${work}-notify-${process.pid}`;
  mkdirSync(notifyDir, { recursive: true });
  const notify = notifyScript(notifyDir);
  const p = new Pair({
    prefix: PREFIX, net: '10.218.1', workDir: work,
    // ipmi: timeout 4 s is the least that fits two ipmitool calls (-N 1 -R 1); fence_delay must cover it
    // plus keepalive (100 ms) and 100 ms.
    fencing: {
      stonithHost: (t, sw) => `stonith_host * ipmi ${sw.stonithParams(t, ['timeout=4']).join(' ')}`,
      extra: ['fence_delay 4200ms', 'fence_retry 500ms 1', 'fence_check_interval 60'],
    },
    extraHaCf: { alpha: [`notify ${notify.path}`], beta: [`notify ${notify.path}`] },
  });
  const raceMs: number[] = [];

  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await withLogs(p, () => formed(p, 'alpha', 20_000));
  }, 60_000);
  afterAll(async () => {
    await p.cleanup();
    rmSync(notifyDir, { recursive: true, force: true });
    if (raceMs.length) {
      const s = [...raceMs].sort((a, b) => a - b);
      console.log(`split brain, cut to loser off (ms): min ${s[0]} median ${s[Math.floor(s.length / 2)]} max ${s.at(-1)} (n=${s.length})`);
    }
  });

  it('status shows both devices checked and nobody waiting', async () => {
    for (const n of ['alpha', 'beta'] as const) {
      const s = await status(p, n);
      expect(s.fencing).toMatchObject({ peer: other(n), phase: 'idle', waiting: false, waitingReason: null, history: [] });
      expect(s.fencing!.devices).toHaveLength(1);
      expect(s.fencing!.devices[0]!.device).toContain(`ipmi ${other(n)}`);
    }
    const text = await sh(process.execPath, [join(process.cwd(), 'bin', 'tandem'), 'status', '--run-dir', p.runDir('alpha')]);
    expect(text).toMatch(/FENCING \(peer beta: idle\)/);
    expect(text).not.toContain('tdf-lab-secret');
  });

  it('every heartbeat path cut, both alive: the ACTIVE node fences the other and keeps the groups, 20 times', async () => {
    await withLogs(p, async () => {
      // 10 rounds with alpha active, then 10 with beta active: the holder
      // wins, not the tie-break (alpha is first on the node line) and not a
      // static per-node delay. The cut alternates between the namespaces.
      for (let round = 0; round < 20; round++) {
        const active: NodeName = round < 10 ? 'alpha' : 'beta';
        if ((await holder(p)) !== active) {
          // Hand the group over: a graceful stop of the holder, which then comes back as standby.
          const was = other(active);
          await restartDaemon(p, was);
          await formed(p, active);
        }
        const cutIn: NodeName = round % 2 === 0 ? 'alpha' : 'beta';
        raceMs.push(await splitBrainRound(p, active, cutIn));
        await powerBackOn(p, active, cutIn);
      }
    });
  }, 150_000);

  it('the fenced node, powered on again, rejoined as standby without fencing anyone', async () => {
    // The last round: beta fenced alpha; alpha was powered on and rejoined.
    // Give a shot every chance to happen: longer than deadtime + fence_delay.
    const alphaEventsBefore = p.power.beta!.events().filter((e) => e.includes('POWER OFF')).length;
    await sleep(4500);
    const a = await status(p, 'alpha');
    expect(peerState(a)).toBe('up');
    expect(a.groups[0]).toMatchObject({ holder: 'beta', local: { phase: 'stopped' } });
    expect(a.fencing).toMatchObject({ phase: 'idle', waiting: false });
    expect(a.fencing!.history.filter((h) => h.by === 'alpha' && h.result !== 'stale').map((h) => h.target)).toEqual(
      // alpha's own fences (earlier rounds, as the active node) target beta; none since it came back
      a.fencing!.history.filter((h) => h.by === 'alpha').map((h) => h.target));
    expect(p.power.beta!.power()).toBe('on');
    expect(p.power.beta!.events().filter((e) => e.includes('POWER OFF')).length).toBe(alphaEventsBefore);
    expect(p.power.alpha!.power()).toBe('on');
    expect(await p.askService()).toBe('beta');
  });

  it('the fence device unreachable: no takeover, an alert in log, journal and notify hook; fenced once it answers', async () => {
    await withLogs(p, async () => {
      const active = (await holder(p))!;
      const standby = other(active);
      const sw: IpmiSim = p.power[active]!;   // the switch the standby fences the active node through
      sw.freeze();
      try {
        await p.powerOff(active);   // the active node dies; its switch does not answer
        const s = await p.waitForStatus(standby, 'a failed fencing round', (x) => {
          const f = (x as Status).fencing;
          return f?.phase === 'backoff' || (f?.history.some((h) => h.result === 'failed') ?? false);
        }, 15_000) as Status;
        expect(s.fencing!.waiting).toBe(true);
        expect(s.fencing!.waitingReason).toMatch(/fenc/);
        // Past fence_delay and a failed round: still nothing taken over.
        await sleep(1500);
        const s2 = await status(p, standby);
        expect(peerState(s2)).toBe('dead');
        expect(s2.groups[0]?.local.phase).toBe('stopped');
        expect(await p.holdsVip(standby)).toBe(false);
        expect(s2.fencing!.waiting).toBe(true);
        expect(s2.recentEvents.some((e) => e.kind === 'fence-alert' && e.detail.includes(`fencing ${active} failed`))).toBe(true);
        expect(readFileSync(p.logFile(standby), 'utf8')).toMatch(new RegExp(`ERROR.*fencing ${active} failed|fencing ${active} failed`));
        await waitFor('the notify hook to get the alert', async () =>
          (existsSync(notify.out) && readFileSync(notify.out, 'utf8').includes(`fence-alert fencing ${active} failed`) ? true : undefined), 5000);
      } finally {
        sw.thaw();
      }
      // The switch answers again: the next round fences, then the standby takes over.
      await waitFor(`${standby} to take the VIP`, async () => ((await p.holdsVip(standby)) ? true : undefined), 15_000);
      expect(sw.power()).toBe('off');
      await waitFor('the service on the survivor', async () => ((await p.askService()) === standby ? true : undefined), 5000);
      const s3 = await status(p, standby);
      expect(s3.fencing!.history.at(-1)).toMatchObject({ by: standby, target: active, result: 'ok' });
      expect(s3.fencing!.history.some((h) => h.target === active && h.result === 'failed')).toBe(true);
      const text = await sh(process.execPath, [join(process.cwd(), 'bin', 'tandem'), 'status', '--run-dir', p.runDir(standby)]);
      expect(text).toContain(`-> ${active} off via`);
    });
  }, 60_000);

  it('tandem fence NODE by hand: status, power on (the node boots and rejoins), a failure exits 1', async () => {
    await withLogs(p, async () => {
      const survivor = (await holder(p))!;
      const fenced = other(survivor);
      expect(p.power[fenced]!.power()).toBe('off');
      const st = await tandemFence(p, survivor, [fenced, '--action', 'status']);
      expect(st).toMatchObject({ code: 0, err: '' });
      expect(st.out).toMatch(new RegExp(`ipmi ${fenced} via 127.0.0.1:623 .*: status ok; power off`));
      // The daemon on this host holds the state dir: printed, not recorded.
      const on = await tandemFence(p, survivor, [fenced, '--action', 'on']);
      expect(on.code).toBe(0);
      expect(on.out).toMatch(/: on ok; power on \(confirmed by status\)/);
      expect(on.out).toMatch(/not recorded in the fencing history: .*in use by another tandem process/);
      await formed(p, survivor);
      // A device that does not answer: one clear line per device, exit 1, no stack trace.
      p.power[fenced]!.freeze();
      try {
        const bad = await tandemFence(p, survivor, [fenced, '--action', 'status']);
        expect(bad.code).toBe(1);
        expect(bad.out).toMatch(/: status FAILED: /);
        expect(bad.out + bad.err).not.toMatch(/\n\s+at /);
        expect(bad.out + bad.err).not.toContain('tdf-lab-secret');
      } finally {
        p.power[fenced]!.thaw();
      }
      const unknown = await tandemFence(p, survivor, ['gamma']);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toBe("tandem: 'gamma' is not a node of this pair (alpha, beta)\n");
    });
  }, 60_000);
});

/** `tandem fence ...` run on `on`'s host (its namespace, where the peer's switch answers); never throws. */
async function tandemFence(p: Pair, on: NodeName, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', p.ns[on], process.execPath, join(process.cwd(), 'bin', 'tandem'), 'fence', ...args,
      '-c', p.configDir(on), '--state-dir', p.stateDir(on)], { timeout: 30_000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err });
    });
  });
}

// The same split brain through the other device types.
// [label, namespace prefix, net, fencing, what the device label in the history starts with]
const TYPES: Array<[string, string, string, PairFencing, string]> = [
  ['ipmi (built in)', 'tdfpb', '10.218.2', {}, 'ipmi beta via 127.0.0.1:623'],
  ['fence_ipmilan (power_wait=0, timeout=5)', 'tdfpc', '10.218.3', {
    stonithHost: (t, sw) => `stonith_host * fence_ipmilan target=${t} ip=127.0.0.1 ipport=${sw.port} lanplus=1 cipher=3 ` +
      `username=${sw.user} passfile=${sw.passfile} power_wait=0 timeout=5`,
    extra: ['fence_delay 5200ms'],
  }, 'fence_ipmilan beta'],
  ['external/ipmi (cluster-glue)', 'tdfpd', '10.218.4', {
    stonithHost: (t, sw) => `stonith_host * external/ipmi target=${t} hostname=${t} ipaddr=127.0.0.1 userid=${sw.user} ` +
      `passwd_method=file passwd=${sw.passfile} interface=lanplus%20-C%203%20-p%20${sw.port} timeout=5`,
    extra: ['fence_delay 5200ms'],
  }, 'external/ipmi beta'],
];

describe.each(TYPES)('split brain fenced through %s', (_label, prefix, net, fencing, device) => {
  const p = new Pair({ prefix, net, workDir: join(tmpdir(), `tandem-fencing-${net.split('.')[2]}`), fencing });
  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
    await withLogs(p, () => formed(p, 'alpha', 20_000));
  }, 60_000);
  afterAll(async () => { await p.cleanup(); });

  it('the active node fences the standby and keeps the groups; the standby comes back as standby', async () => {
    await withLogs(p, async () => {
      await splitBrainRound(p, 'alpha', 'beta');
      const s = await status(p, 'alpha');
      expect(s.fencing!.history.at(-1)!.device.startsWith(device)).toBe(true);
      await powerBackOn(p, 'alpha', 'beta');
    });
  }, 60_000);
});
