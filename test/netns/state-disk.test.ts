// A full state disk must stop a takeover: "held" is written (fsync) before
// the VIP goes up, or the VIP does not go up. Two real daemons in network
// namespaces; beta's state dir is a real 1 MiB tmpfs, filled up.
// Traffic stays inside the namespaces this file creates (prefix tdsd, 10.231.4.x, 10.232.4.x).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Pair } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';

const NET = '10.231.4';
const p = new Pair({
  prefix: 'tdsd', net: NET, workDir: join(tmpdir(), 'tandem-state-disk'), autoFailback: 'off',
  // A second heartbeat path on a link of its own, so a path can flap (and journal) while the peer stays up.
  extraHaCf: { alpha: ['bcast eth1'], beta: ['bcast eth1'] },
});
const stateDir = p.stateDir('beta');
const filler = join(stateDir, 'filler');
const log = () => { try { return readFileSync(p.logFile('beta'), 'utf8'); } catch { return ''; } };

/** Bytes the newest LevelDB log can still take without a new page of the (full) tmpfs. */
function logSlack(): number {
  const logs = readdirSync(stateDir).filter((n) => n.endsWith('.log')).sort();
  const st = statSync(join(stateDir, logs.at(-1)!));
  return st.blocks * 512 - st.size;
}

/** Cut beta's second path for longer than deadtime, then heal it: a path-down and a path-up, each journaled. */
async function flapSecondPath(): Promise<void> {
  await sh('ip', ['-n', p.ns.beta, 'link', 'set', 'eth1', 'down']);
  await sleep(500);
  await sh('ip', ['-n', p.ns.beta, 'link', 'set', 'eth1', 'up']);
  await sleep(600);
}

describe.sequential('a full state disk', () => {
  beforeAll(async () => {
    await p.setup();
    await sh('ip', ['link', 'add', 'eth1', 'netns', p.ns.alpha, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', p.ns.beta]);
    for (const [node, ip] of [['alpha', '10.232.4.1'], ['beta', '10.232.4.2']] as const) {
      await sh('ip', ['-n', p.ns[node], 'addr', 'add', `${ip}/24`, 'brd', '+', 'dev', 'eth1']);
      await sh('ip', ['-n', p.ns[node], 'link', 'set', 'eth1', 'up']);
    }
    mkdirSync(stateDir, { recursive: true });
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tdsd-state', stateDir]);
    p.startTandem('alpha');
    await waitFor('alpha to hold the VIP', async () => ((await p.holdsVip('alpha')) ? true : undefined), 20_000);
    p.startTandem('beta');
    await p.waitForStatus('beta', 'alpha heard on both paths', (s) =>
      s.nodes.find((n) => n.name === 'alpha')?.state === 'up' && s.paths.length === 2 && s.paths.every((x) => x.state === 'up'));
  }, 120_000);

  afterAll(async () => {
    await p.cleanup().catch(() => undefined);
    await sh('umount', ['-l', stateDir], { allowFail: true });
    rmSync(join(tmpdir(), `tandem-state-disk-${process.pid}`), { recursive: true, force: true });
  });

  it('refuses the takeover while "held" cannot be written, keeps heartbeating, and takes over once it can', async () => {
    // Fill the disk, then let beta's own journal use up what its log file had left.
    await sh('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { allowFail: true });
    for (let i = 0; i < 40 && logSlack() > 200 && !/No space left on device/.test(log()); i++) await flapSecondPath();
    expect(logSlack() <= 200 || /No space left on device/.test(log())).toBe(true);

    // alpha loses power: beta must take over, but cannot record that it holds the group.
    await p.powerOff('alpha');
    await p.waitForStatus('beta', 'alpha dead', (s) => s.nodes.find((n) => n.name === 'alpha')?.state === 'dead', 5000);
    await sleep(3000);   // several retries
    try {
      expect(await p.holdsVip('beta')).toBe(false);
      const s = await p.status('beta');
      expect(s.groups[0]?.local.phase).not.toMatch(/starting|running/);
      expect(s.groups[0]?.holder).not.toBe('beta');
      expect(log()).toMatch(new RegExp(`not started: the hold could not be recorded durably \\(tandem state dir ${stateDir}.*No space left on device`));
      // Still alive and sending.
      const sent = s.counters.sent as number;
      await sleep(500);
      expect((await p.status('beta')).counters.sent as number).toBeGreaterThan(sent + 2);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- beta ---\n${log().split('\n').slice(-30).join('\n')}`);
    }

    // Space again: the next retry records the hold, then the VIP goes up.
    rmSync(filler);
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    expect(log()).toMatch(/writes work again/);

    // The hold is durable now: a crash and restart remembers it and keeps the group.
    await p.crashTandem('beta');
    p.startTandem('beta');
    await p.waitForStatus('beta', 'g1 running again', (s) => s.groups[0]?.local.phase === 'running', 10_000);
    expect(log()).toMatch(/held before restart: /);
    expect(await p.holdsVip('beta')).toBe(true);
  }, 120_000);
});
