// `tandem reload` and SIGHUP on a running pair: the new configuration is
// applied as a difference. A VIP whose group did not change never leaves
// its interface (watched with `ip monitor address` in the node's
// namespace); a changed one moves; a broken file is refused with every
// FILE:LINE problem while the old configuration keeps running; a change
// that only a restart can apply is reported as such.

import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair, type NodeName } from '../../lab/pair.js';
import { LineWatcher, sleep, waitFor } from '../../lab/sh.js';
import { runTandem as tandem, vipsOf } from '../helpers/tandem-cli.js';

const NET = '10.231.3';
const vipLine = (last: number) => `alpha IPaddr2::${NET}.${last}/24/eth0::arp_count=1`;

describe.sequential('reload', () => {
  const p = new Pair({ prefix: 'tdrl', net: NET, workDir: join(tmpdir(), 'tandem-reload') });
  const monitors: Partial<Record<NodeName, LineWatcher>> = {};
  const log = (n: NodeName) => readFileSync(p.logFile(n), 'utf8');
  const vips = (n: NodeName) => vipsOf(p, NET, n);
  const writeResources = (lines: string[]) => {
    for (const n of ['alpha', 'beta'] as const) writeFileSync(join(p.configDir(n), 'haresources'), lines.join('\n') + '\n');
  };
  /** Address changes on a node's eth0 since the monitor started, for the VIPs (.100 and up). */
  const changes = (n: NodeName) => monitors[n]!.lines.map((l) => l.line).filter((l) => new RegExp(`inet ${NET.replace(/\./g, '\\.')}\\.1\\d\\d/`).test(l));

  beforeAll(async () => {
    await p.setup();
    writeResources([vipLine(100), vipLine(101)]);
    p.startTandem('alpha');
    p.startTandem('beta');
    await waitFor('alpha to hold both VIPs', async () => ((await vips('alpha')).length === 2 ? true : undefined), 20_000);
    await p.waitForStatus('beta', 'alpha up', (s) => s.nodes.find((n) => n.name === 'alpha')?.state === 'up');
    for (const n of ['alpha', 'beta'] as const) {
      monitors[n] = new LineWatcher('ip', ['netns', 'exec', p.ns[n], 'ip', 'monitor', 'address']);
    }
    await sleep(500);
  }, 120_000);
  afterAll(async () => {
    for (const m of Object.values(monitors)) m?.child.kill();
    await p.cleanup();
  });

  it('applies a difference: the unchanged VIP never leaves, the changed one moves', async () => {
    expect(await vips('alpha')).toEqual([`${NET}.100`, `${NET}.101`]);
    writeResources([vipLine(100), vipLine(102)]);
    const rb = await tandem(['reload', '--run-dir', p.runDir('beta')]);
    expect(rb.code, rb.err).toBe(0);
    const ra = await tandem(['reload', '--run-dir', p.runDir('alpha')]);
    expect(ra.code, ra.err).toBe(0);
    expect(ra.out).toContain(`applied: group IPaddr2::${NET}.101/24/eth0::arp_count=1: removed`);
    expect(ra.out).toContain(`applied: group IPaddr2::${NET}.102/24/eth0::arp_count=1: added`);
    await waitFor('alpha to move .101 to .102', async () => (JSON.stringify(await vips('alpha')) === JSON.stringify([`${NET}.100`, `${NET}.102`]) ? true : undefined), 10_000);
    await sleep(1500);
    expect(await vips('alpha')).toEqual([`${NET}.100`, `${NET}.102`]);
    expect(await vips('beta')).toEqual([]);
    const a = changes('alpha');
    // .100 was never deleted nor added again; .101 went, .102 came.
    expect(a.filter((l) => l.includes(`${NET}.100/`))).toEqual([]);
    expect(a.some((l) => l.startsWith('Deleted') && l.includes(`${NET}.101/`))).toBe(true);
    expect(a.some((l) => !l.startsWith('Deleted') && l.includes(`${NET}.102/`))).toBe(true);
    expect(changes('beta')).toEqual([]);
    expect(log('alpha')).toMatch(/reload \(tandem reload\): .*1 group\(s\) unchanged, untouched/);
    const s = await p.status('alpha');
    expect(s.groups.map((g) => g.name).sort()).toEqual([`IPaddr2::${NET}.100/24/eth0::arp_count=1`, `IPaddr2::${NET}.102/24/eth0::arp_count=1`]);
  });

  it('SIGHUP with a broken file keeps the old configuration running and logs every FILE:LINE', async () => {
    const before = log('alpha').length;
    const seen = monitors.alpha!.lines.length;
    writeResources([vipLine(100), `gamma IPaddr2::${NET}.103/24/eth0`, `alpha IPaddr2::${NET}.999/24/eth0`]);
    process.kill(p.procs.alpha!.pid!, 'SIGHUP');
    const file = join(p.configDir('alpha'), 'haresources');
    await waitFor('the refusal', async () => (log('alpha').slice(before).includes('refused') ? true : undefined), 5000);
    const text = log('alpha').slice(before);
    expect(text).toMatch(/reload \(SIGHUP\) refused; still running the previous configuration/);
    expect(text).toContain(`${file}:2:`);
    expect(text).toContain(`${file}:3:`);
    // `tandem reload` says the same and fails.
    const r = await tandem(['reload', '--run-dir', p.runDir('alpha')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:2:`);
    expect(r.err).toContain(`${file}:3:`);
    expect(r.err).toMatch(/reload refused; the daemon keeps running its previous configuration/);
    await sleep(1000);
    expect(p.procs.alpha!.exitCode).toBeNull();
    expect(await vips('alpha')).toEqual([`${NET}.100`, `${NET}.102`]);
    expect(monitors.alpha!.lines.slice(seen).filter((l) => l.line.includes(`inet ${NET}.1`))).toEqual([]);
    expect((await p.status('alpha')).groups).toHaveLength(2);
  });

  it('reports what only a restart can change, and keeps running on the old value', async () => {
    writeResources([vipLine(100), vipLine(102)]);
    const hacf = join(p.configDir('alpha'), 'ha.cf');
    writeFileSync(hacf, readFileSync(hacf, 'utf8').replace(/^warntime .*$/m, 'warntime 250ms'));
    const r = await tandem(['reload', '--run-dir', p.runDir('alpha')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/needs a restart: .*ha\.cf: warntime changed \(200 -> 250\): needs a restart; the old value stays in force/);
    expect(r.out).toContain('nothing to apply');
    expect(log('alpha')).toMatch(/WARN .*reload: .*warntime changed/);
    await sleep(1000);
    expect((await p.status('beta')).nodes.find((n) => n.name === 'alpha')?.state).toBe('up');
    expect(await vips('alpha')).toEqual([`${NET}.100`, `${NET}.102`]);
  });

  it('a group whose resources changed is released with the old ones and taken again with the new ones; the others stay', async () => {
    const ip = (last: number) => `IPaddr2::${NET}.${last}/24/eth0::arp_count=1`;
    writeResources([vipLine(100), vipLine(102), `alpha ${ip(105)} ${ip(106)}`]);
    expect((await tandem(['reload', '--run-dir', p.runDir('beta')])).code).toBe(0);
    expect((await tandem(['reload', '--run-dir', p.runDir('alpha')])).code).toBe(0);
    await waitFor('alpha to take the added group', async () => ((await vips('alpha')).length === 4 ? true : undefined), 10_000);
    const seen = monitors.alpha!.lines.length;
    writeResources([vipLine(100), vipLine(102), `alpha ${ip(105)} ${ip(107)}`]);
    expect((await tandem(['reload', '--run-dir', p.runDir('beta')])).code).toBe(0);
    const r = await tandem(['reload', '--run-dir', p.runDir('alpha')]);
    expect(r.out).toContain(`applied: group ${ip(105)}: resources changed (released, then taken again by the usual rules)`);
    const want = JSON.stringify([`${NET}.100`, `${NET}.102`, `${NET}.105`, `${NET}.107`]);
    await waitFor('the new definition to run', async () => (JSON.stringify(await vips('alpha')) === want ? true : undefined), 10_000);
    await sleep(1000);
    const lines = monitors.alpha!.lines.slice(seen).map((l) => l.line);
    expect(lines.filter((l) => l.includes(`${NET}.100/`) || l.includes(`${NET}.102/`))).toEqual([]);
    expect(lines.some((l) => l.startsWith('Deleted') && l.includes(`${NET}.106/`))).toBe(true);
    expect(lines.some((l) => l.startsWith('Deleted') && l.includes(`${NET}.105/`))).toBe(true);
    expect(lines.some((l) => !l.startsWith('Deleted') && l.includes(`${NET}.105/`))).toBe(true);
    expect(await vips('beta')).toEqual([]);
  });
});
