// ha.cf's `vrrp_guard` (src/config/vrrp-guard.ts): the directive alone, its
// names against a real keepalived.conf (resolveVrrpGuard), and
// `tandem check-config` / `run` with -c DIR, with and without -f FILE, as an
// operator runs them.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { parseHaCf } from '../../src/config/hacf.js';
import { formatIssue } from '../../src/config/load.js';
import { loadKeepalived } from '../../src/config/keepalived.js';
import type { KaReader } from '../../src/config/keepalived-lexer.js';
import { diffConfig } from '../../src/config/diff.js';
import type { Config } from '../../src/config/types.js';
import { resolveVrrpGuard, vrrpGuardWithoutFile } from '../../src/config/vrrp-guard.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'tandem-vguard-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const F = '/etc/ha.d/ha.cf';
const BASE = ['node alpha beta', 'bcast eth0'];   // lines 1-2
const hacf = (...lines: string[]): string => [...BASE, ...lines].join('\n') + '\n';
const parse = (...lines: string[]) => parseHaCf(hacf(...lines), F);
const errors = (...lines: string[]): string[] => {
  const r = parse(...lines);
  expect(r.config).toBeUndefined();
  return r.issues.map(formatIssue);
};

const NOTHING = `${F}:3: vrrp_guard needs something to guard with: an arbiter, ping nodes or fencing (stonith_host) in ha.cf`;

describe('vrrp_guard in ha.cf alone', () => {
  it('names accumulate over lines, each with its line; the model is absent without the directive', () => {
    const r = parse('arbiter 192.0.2.10:7610', 'vrrp_guard VI_1, VG_1', 'vrrp_guard VI_9');
    expect(r.issues).toEqual([]);
    expect(r.config!.vrrpGuard).toEqual({ names: [{ name: 'VI_1', line: 4 }, { name: 'VG_1', line: 4 }, { name: 'VI_9', line: 5 }] });
    const none = parse('arbiter 192.0.2.10:7610');
    expect(none.issues).toEqual([]);
    expect(none.config).not.toHaveProperty('vrrpGuard');
  });

  it("'all' is kept with its line", () => {
    const r = parse('ping 192.0.2.1', 'vrrp_guard all');
    expect(r.issues).toEqual([]);
    expect(r.config!.vrrpGuard).toEqual({ all: { line: 4 }, names: [] });
  });

  it.each([
    ['an arbiter', ['arbiter 192.0.2.10:7610']],
    ['an etcd arbiter', ['arbiter etcd://192.0.2.10:2379,192.0.2.11:2379/tandem']],
    ['ping nodes', ['ping 192.0.2.1']],
    ['a ping group', ['ping_group gw 192.0.2.1 192.0.2.2']],
  ])('%s anywhere in the file is something to guard with', (_what, lines) => {
    const after = parse('vrrp_guard VI_1', ...lines);
    expect(after.issues).toEqual([]);
    expect(after.config!.vrrpGuard).toEqual({ names: [{ name: 'VI_1', line: 3 }] });
    expect(parse(...lines, 'vrrp_guard VI_1').issues).toEqual([]);
  });

  it('fencing (stonith_host) is something to guard with', () => {
    const pass = join(work, 'bmc.pass');
    writeFileSync(pass, 'secret\n', { mode: 0o600 });
    const r = parse('vrrp_guard VI_1',
      `stonith_host * ipmi target=beta host=10.0.0.12 user=admin passfile=${pass}`,
      `stonith_host * ipmi target=alpha host=10.0.0.11 user=admin passfile=${pass}`);
    expect(r.issues.map(formatIssue)).toEqual([]);
    expect(r.config!.fencing).toBeDefined();
    expect(r.config!.vrrpGuard).toEqual({ names: [{ name: 'VI_1', line: 3 }] });
  });

  it('without an arbiter, ping nodes or stonith_host it is an error at the vrrp_guard line', () => {
    expect(errors('vrrp_guard VI_1')).toEqual([NOTHING]);
    expect(errors('vrrp_guard all')).toEqual([NOTHING]);
    // Other quorum and fencing lines decide nothing by themselves.
    expect(errors('vrrp_guard VI_1', 'ipfail off')).toEqual([NOTHING]);
    expect(errors('vrrp_guard VI_1', 'fence_delay 5')).toContain(NOTHING);
  });

  it('a name given twice is an error at the second line, on another line or the same one', () => {
    expect(errors('ping 192.0.2.1', 'vrrp_guard VI_1 VI_2', 'vrrp_guard VI_3', 'vrrp_guard VI_2')).toEqual([
      `${F}:6: vrrp_guard: VI_2 is already given at line 4`,
    ]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard VI_1 VI_1')).toEqual([`${F}:4: vrrp_guard: VI_1 is already given at line 4`]);
  });

  it("'all' mixed with names on one line is an error, and so is 'all' beside names or twice", () => {
    expect(errors('ping 192.0.2.1', 'vrrp_guard all VI_1')).toEqual([`${F}:4: 'vrrp_guard all' guards every unit and takes no names besides (got 'all VI_1')`]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard VI_1 all')).toEqual([`${F}:4: 'vrrp_guard all' guards every unit and takes no names besides (got 'VI_1 all')`]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard all', 'vrrp_guard all')).toEqual([`${F}:5: 'vrrp_guard all' is already given at line 4`]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard all', 'vrrp_guard VI_1')).toEqual([`${F}:5: vrrp_guard: 'vrrp_guard all' at line 4 already guards every unit`]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard VI_1', 'vrrp_guard all')).toEqual([`${F}:5: 'vrrp_guard all' after names (line 4): say either all or names`]);
  });

  it('no argument is an error', () => {
    expect(errors('ping 192.0.2.1', 'vrrp_guard')).toEqual([`${F}:4: 'vrrp_guard' needs the vrrp_instance or vrrp_sync_group names to guard, or 'all'`]);
    expect(errors('ping 192.0.2.1', 'vrrp_guard   # VI_1 commented out')).toEqual([`${F}:4: 'vrrp_guard' needs the vrrp_instance or vrrp_sync_group names to guard, or 'all'`]);
  });

  it('control characters in a name are shown escaped', () => {
    const r = parseHaCf(hacf('ping 192.0.2.1', 'vrrp_guard A\u001b[2J', 'vrrp_guard A\u001b[2J'), F);
    expect(r.issues.map(formatIssue)).toEqual([`${F}:5: vrrp_guard: A\\x1b[2J is already given at line 4`]);
  });

  it('without -f FILE the lines guard nothing: one warning per line, FILE:LINE', () => {
    const r = parse('ping 192.0.2.1', 'vrrp_guard VI_1', 'vrrp_guard VG_1 VI_2');
    expect(vrrpGuardWithoutFile(r.config!)).toEqual([
      `${F}:4: warning: vrrp_guard has no effect without -f FILE (the keepalived.conf whose units it guards)`,
      `${F}:5: warning: vrrp_guard has no effect without -f FILE (the keepalived.conf whose units it guards)`,
    ]);
    expect(vrrpGuardWithoutFile(parse('ping 192.0.2.1').config!)).toEqual([]);
  });

  it('a reload that changes vrrp_guard says it needs a restart, naming the directive; moving the line does not', () => {
    const cfg = (...lines: string[]): Config => ({ dir: '/etc/ha.d', hacf: parse('ping 192.0.2.1', ...lines).config!, authkeys: {} as Config['authkeys'], groups: [] });
    expect(diffConfig(cfg('vrrp_guard VI_1'), cfg('vrrp_guard VI_1 VI_2')).restart).toEqual([
      `${F}: vrrp_guard changed ({"names":[{"name":"VI_1"}]} -> {"names":[{"name":"VI_1"},{"name":"VI_2"}]}): needs a restart; the old value stays in force`,
    ]);
    expect(diffConfig(cfg('vrrp_guard VI_1'), cfg('', 'vrrp_guard VI_1')).restart).toEqual([]);
  });
});

// ---- against a keepalived.conf -------------------------------------------------

const KA = '/etc/keepalived/keepalived.conf';
const KA_TEXT = [
  'vrrp_instance VI_1 {',           // 1
  '  interface eth0',
  '  virtual_router_id 51',
  '  virtual_ipaddress { 10.0.0.5/24 }',
  '}',
  'vrrp_instance VI_2 {',           // 6
  '  interface eth0',
  '  virtual_router_id 52',
  '  virtual_ipaddress { 10.0.0.6/24 }',
  '}',
  'vrrp_instance VI_3 {',           // 11
  '  interface eth0',
  '  virtual_router_id 53',
  '  virtual_ipaddress { 10.0.0.7/24 }',
  '}',
  'vrrp_instance VI_4 {',           // 16
  '  interface eth0',
  '  virtual_router_id 54',
  '  virtual_ipaddress { 10.0.0.8/24 }',
  '}',
  'vrrp_sync_group VG_1 {',         // 21
  '  group {',
  '    VI_2',
  '    VI_3',
  '  }',
  '}',
  '',
].join('\n');

function vrrpOf(text: string) {
  const reader: KaReader = {
    read: (p) => (p === KA ? { text } : { error: 'no such file or directory (ENOENT)' }),
    glob: () => [],
    real: (p) => p,
  };
  const r = loadKeepalived(KA, { reader, host: null });
  expect(r.issues).toEqual([]);
  return r.config!.vrrp;
}

describe('resolveVrrpGuard: ha.cf names against the keepalived.conf', () => {
  const vrrp = vrrpOf(KA_TEXT);
  const guard = (...lines: string[]) => resolveVrrpGuard(parse('ping 192.0.2.1', ...lines).config!, vrrp, KA);

  it('a standalone vrrp_instance and a vrrp_sync_group (one unit for all its members), in vrrp_guard order', () => {
    expect(guard('vrrp_guard VG_1', 'vrrp_guard VI_4')).toEqual({
      units: [
        { unit: 'VG_1', kind: 'sync-group', members: ['VI_2', 'VI_3'], line: 4 },
        { unit: 'VI_4', kind: 'instance', members: ['VI_4'], line: 5 },
      ],
      problems: [],
      issues: [],
    });
  });

  it("'all' is every standalone instance, then every sync group", () => {
    expect(guard('vrrp_guard all').units).toEqual([
      { unit: 'VI_1', kind: 'instance', members: ['VI_1'], line: 4 },
      { unit: 'VI_4', kind: 'instance', members: ['VI_4'], line: 4 },
      { unit: 'VG_1', kind: 'sync-group', members: ['VI_2', 'VI_3'], line: 4 },
    ]);
  });

  it('an unknown name is an error at its ha.cf line, naming the keepalived file', () => {
    const r = guard('vrrp_guard VI_1 VI_7', 'vrrp_guard vi_4');
    expect(r.problems).toEqual([
      `${F}:4: vrrp_guard: no vrrp_instance or vrrp_sync_group VI_7 in ${KA}`,
      `${F}:5: vrrp_guard: no vrrp_instance or vrrp_sync_group vi_4 in ${KA}`,
    ]);
    expect(r.units.map((u) => u.unit)).toEqual(['VI_1']);
  });

  it('a member of a sync group is refused: the group moves as one, so it is guarded as one', () => {
    expect(guard('vrrp_guard VI_1', 'vrrp_guard VI_3').problems).toEqual([
      `${F}:5: vrrp_guard: VI_3 is a member of vrrp_sync_group VG_1: guard the group (vrrp_guard VG_1)`,
    ]);
  });

  it('a name that is both a standalone instance and a sync group is refused as ambiguous', () => {
    const both = vrrpOf(KA_TEXT.replace('vrrp_instance VI_4 {', 'vrrp_instance VG_1 {'));
    const r = resolveVrrpGuard(parse('ping 192.0.2.1', 'vrrp_guard VG_1').config!, both, KA);
    expect(r.problems).toEqual([`${F}:4: vrrp_guard: VG_1 is both a vrrp_instance (${KA}:16) and a vrrp_sync_group (${KA}:21) in ${KA}; rename one`]);
    expect(r.units).toEqual([]);
  });

  it('no vrrp_guard line: nothing guarded, no problem', () => {
    expect(resolveVrrpGuard(parse('ping 192.0.2.1').config!, vrrp, KA)).toEqual({ units: [], problems: [], issues: [] });
  });
});

// ---- the command line ------------------------------------------------------------

describe('tandem check-config / run with vrrp_guard', () => {
  const TANDEM = join(ROOT, 'bin/tandem');
  const tandem = (args: string[]) => {
    const r = spawnSync(process.execPath, [TANDEM, ...args], { cwd: work, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  // keepalived -t (and tandem) refuse an interface this host does not have.
  const HOST_IF = readdirSync('/sys/class/net').sort().find((x) => x !== 'lo') ?? 'missing-if';
  let n = 0;
  /** ha.d/{ha.cf,authkeys,haresources} and k.conf under a fresh directory. */
  function pair(guardLines: string[]): { ha: string; ka: string; hacfPath: string } {
    const dir = join(work, `p${++n}`);
    mkdirSync(join(dir, 'ha.d'), { recursive: true });
    writeFileSync(join(dir, 'ha.d/ha.cf'), ['keepalive 1', 'deadtime 10', 'bcast lo', 'node alpha beta', 'ping 192.0.2.1', ...guardLines].join('\n') + '\n', { mode: 0o644 });
    writeFileSync(join(dir, 'ha.d/authkeys'), 'auth 1\n1 sha256 k\n', { mode: 0o600 });
    writeFileSync(join(dir, 'ha.d/haresources'), '\n', { mode: 0o644 });
    writeFileSync(join(dir, 'k.conf'), KA_TEXT.replaceAll('eth0', HOST_IF), { mode: 0o644 });
    return { ha: join(dir, 'ha.d'), ka: join(dir, 'k.conf'), hacfPath: join(dir, 'ha.d/ha.cf') };
  }

  it('check-config -c DIR -f FILE: unknown names and sync-group members fail at their ha.cf lines, exit 1', () => {
    const p = pair(['vrrp_guard VI_1 VI_9', 'vrrp_guard VI_2']);
    const r = tandem(['check-config', '-c', p.ha, '-f', p.ka]);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `${p.hacfPath}:6: vrrp_guard: no vrrp_instance or vrrp_sync_group VI_9 in ${p.ka}`,
      `${p.hacfPath}:7: vrrp_guard: VI_2 is a member of vrrp_sync_group VG_1: guard the group (vrrp_guard VG_1)`,
    ]);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
  });

  it('check-config -c DIR -f FILE: names that resolve pass, exit 0, no warning', () => {
    const p = pair(['vrrp_guard VI_1 VG_1', 'vrrp_guard VI_4']);
    const r = tandem(['check-config', '-c', p.ha, '-f', p.ka]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${p.ka} and ${p.ha}: configuration is valid\n`);
    expect(r.code).toBe(0);
  });

  it('check-config -c DIR alone: a warning at each vrrp_guard line, exit 0', () => {
    const p = pair(['vrrp_guard all']);
    const r = tandem(['check-config', '-c', p.ha]);
    expect(r.stderr).toBe(`${p.hacfPath}:6: warning: vrrp_guard has no effect without -f FILE (the keepalived.conf whose units it guards)\n`);
    expect(r.stdout).toBe(`${p.ha}: configuration is valid (1 warning above)\n`);
    expect(r.code).toBe(0);
  });

  it('check-config -c DIR: no arbiter, ping or stonith_host is an error at the vrrp_guard line, exit 1', () => {
    const p = pair(['vrrp_guard VI_1']);
    const text = ['keepalive 1', 'deadtime 10', 'bcast lo', 'node alpha beta', 'vrrp_guard VI_1', ''].join('\n');
    writeFileSync(p.hacfPath, text);
    const r = tandem(['check-config', '-c', p.ha, '-f', p.ka]);
    expect(r.stderr).toBe(`${p.hacfPath}:5: vrrp_guard needs something to guard with: an arbiter, ping nodes or fencing (stonith_host) in ha.cf\n`);
    expect(r.code).toBe(1);
  });

  it('run -c DIR without -f: the warning, and start-up goes on past the configuration', () => {
    const p = pair(['vrrp_guard VI_1']);
    // A node name ha.cf does not list stops it at the next step, before anything is opened.
    const r = tandem(['run', '-c', p.ha, '--node', 'gamma', '--state-dir', join(work, `s${n}`), '--run-dir', join(work, `r${n}`)]);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `${p.hacfPath}:6: warning: vrrp_guard has no effect without -f FILE (the keepalived.conf whose units it guards)`,
      `tandem: this node is 'gamma', but ha.cf lists nodes alpha, beta; use --node NAME or fix the node line`,
    ]);
    expect(r.code).toBe(1);
  });

  it('run -c DIR -f FILE refuses to start with the same FILE:LINE messages', () => {
    const p = pair(['vrrp_guard VI_1 VI_9', 'vrrp_guard VI_2']);
    // --node gamma: were the check missing, start-up would stop at the node name instead of
    // running VRRP on this host's interface.
    const r = tandem(['run', '-c', p.ha, '-f', p.ka, '--node', 'gamma', '--state-dir', join(work, `s${n}`), '--run-dir', join(work, `r${n}`)]);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `${p.hacfPath}:6: vrrp_guard: no vrrp_instance or vrrp_sync_group VI_9 in ${p.ka}`,
      `${p.hacfPath}:7: vrrp_guard: VI_2 is a member of vrrp_sync_group VG_1: guard the group (vrrp_guard VG_1)`,
      `tandem: configuration in ${p.ka} and ${p.ha} is not valid; nothing started`,
    ]);
    expect(r.code).toBe(1);
  });
});
