// check-config and IPv6 VIPs / address ownership, through the real command:
// two groups naming one address are refused with both lines, whatever the
// spelling; bad IPv6 VIPs get FILE:LINE errors.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let work = '';

function checkConfig(name: string, haresources: string): { code: number | null; stderr: string; dir: string } {
  const d = join(work, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'ha.cf'), 'keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha beta\n');
  writeFileSync(join(d, 'authkeys'), 'auth 1\n1 sha256 net-config\n', { mode: 0o600 });
  chmodSync(join(d, 'authkeys'), 0o600);
  writeFileSync(join(d, 'haresources'), haresources);
  const env = { ...process.env };
  delete env.TANDEM_DEBUG;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), 'check-config', '-c', d], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, dir: d };
}

beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'tandem-net-config-')); });
afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

describe('check-config: one owner per address', () => {
  it('two groups naming the same IPv4 address: refused, naming both lines', () => {
    const r = checkConfig('v4', [
      'alpha IPaddr2::10.236.9.5/24/lo',          // 1
      '# a comment',                              // 2
      'beta IPaddr::10.236.9.5/24/lo',            // 3
      '',
    ].join('\n'));
    expect(r.code).toBe(1);
    const f = join(r.dir, 'haresources');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${f}:3: 10.236.9.5/24 is already claimed by group 'IPaddr2::10.236.9.5/24/lo' at ${f}:1`,
    ]);
  });

  it('two groups naming the same IPv6 address spelled differently: refused, naming both lines', () => {
    const r = checkConfig('v6', [
      'alpha IPv6addr::fd00:236:9:0:0:0:0:5/64/lo',
      'beta IPaddr2::FD00:0236:9:0:0:0:0:0005/64/lo::arp_count=2',
      '',
    ].join('\n'));
    expect(r.code).toBe(1);
    const f = join(r.dir, 'haresources');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${f}:2: fd00:236:9::5/64 is already claimed by group 'IPv6addr::fd00:236:9:0:0:0:0:5/64/lo' at ${f}:1`,
    ]);
  });

  it('a dual-stack group passes', () => {
    const r = checkConfig('dual', 'alpha IPaddr2::10.236.9.6/24/lo IPv6addr::fd00:236:9:0:0:0:0:6/64/lo\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('bad IPv6 address, prefix or interface: FILE:LINE errors', () => {
    const r = checkConfig('bad6', [
      'alpha IPv6addr::fd00:236:9::7/64/lo',
      'alpha IPv6addr::fd00:236:9:0:0:0:0:8/200/lo',
      'beta IPv6addr::fd00:236:9:0:0:0:0:9/64/bad/name',
      'beta IPv6addr::fd00:236:9:0:0:0:0:zz/64/lo',
      '',
    ].join('\n'));
    expect(r.code).toBe(1);
    const f = join(r.dir, 'haresources');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^${f}:1: resource 'IPv6addr::fd00:236:9::7/64/lo': .*cannot be written with "::" in haresources`));
    expect(lines[1]).toBe(`${f}:2: resource 'IPv6addr::fd00:236:9:0:0:0:0:8/200/lo': prefix length "200" is not in 1..128`);
    expect(lines[2]).toMatch(new RegExp(`^${f}:3: resource .*too many "/" fields`));
    expect(lines[3]).toBe(`${f}:4: resource 'IPv6addr::fd00:236:9:0:0:0:0:zz/64/lo': "fd00:236:9:0:0:0:0:zz" is not an IPv6 address`);
  });
});
