// What a new operator meets in the first hour, through bin/tandem as a
// process: check-config reports every problem in one run (and, with --host,
// what only `run` used to find), --version, -c defaulting to /etc/ha.d, and
// run/state directory errors that name the option, the path and the cause.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM = join(ROOT, 'bin/tandem');
let work = '';

function tandem(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.TANDEM_DEBUG;
  const r = spawnSync(process.execPath, [TANDEM, ...args], { cwd: work, env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A config dir with these files (authkeys valid and 0600 unless given). */
function configDir(name: string, files: { hacf: string; haresources: string; authkeys?: string; scripts?: string[] }): string {
  const d = join(work, name);
  mkdirSync(join(d, 'resource.d'), { recursive: true });
  writeFileSync(join(d, 'ha.cf'), files.hacf);
  writeFileSync(join(d, 'authkeys'), files.authkeys ?? 'auth 1\n1 sha256 first-hour\n', { mode: 0o600 });
  chmodSync(join(d, 'authkeys'), 0o600);
  writeFileSync(join(d, 'haresources'), files.haresources);
  for (const s of files.scripts ?? []) writeFileSync(join(d, 'resource.d', s), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return d;
}

const GOOD_HACF = 'keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha beta\n';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tandem-first-hour-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('check-config reports every problem in one run', () => {
  it('a syntax error in haresources does not hide the missing scripts of the other lines', () => {
    const d = configDir('res-syntax', {
      hacf: GOOD_HACF,
      haresources: 'alpha IPaddr2::10.0.0.5/99/lo web\nbeta IPaddr2::10.0.0.6/24/lo nosuchscript\nalpha db\n',
      scripts: ['web'],
    });
    const r = tandem(['check-config', '-c', d, '--init-dir', join(work, 'no-init')]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${d}/haresources:1: .*netmask '/99'`));
    expect(lines[1]).toBe(`${d}/haresources:2: resource agent 'nosuchscript' not found: no ${d}/resource.d/nosuchscript, ${join(work, 'no-init')}/nosuchscript or /usr/lib/ocf/resource.d/heartbeat/nosuchscript`);
    expect(lines[2]).toBe(`${d}/haresources:3: resource agent 'db' not found: no ${d}/resource.d/db, ${join(work, 'no-init')}/db or /usr/lib/ocf/resource.d/heartbeat/db`);
  });

  it("an ha.cf error does not hide haresources' unknown node", () => {
    const d = configDir('hacf-error', {
      hacf: 'keepalive banana\ndeadtime 10\nbcast lo\nnode alpha beta\n',
      haresources: 'gamma IPaddr2::10.0.0.5/24/lo\n',
    });
    const r = tandem(['check-config', '-c', d]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${d}/ha\\.cf:1: .*banana`, 'm'));
    expect(r.stderr).toContain(`${d}/haresources:1: preferred node 'gamma' is not a node in ha.cf (nodes: alpha, beta)`);
  });
});

describe('check-config --host: what only run used to find', () => {
  const missing = 'tdnoif9';   // no such interface here
  it('names the interface, the node name and the IPaddr interface that this machine lacks, with FILE:LINE', () => {
    expect(networkInterfaces()[missing]).toBeUndefined();
    const d = configDir('host', {
      hacf: `keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha beta\nbcast ${missing}\n`,
      haresources: `alpha IPaddr2::10.0.0.5/24/${missing}\n`,
    });
    // Without --host the files alone are valid, as before.
    expect(tandem(['check-config', '-c', d]).code).toBe(0);
    const r = tandem(['check-config', '-c', d, '--host', '--node', 'gamma']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${d}/ha.cf: this host is 'gamma' (--node), but the node line lists alpha, beta; run with --node NAME or fix the node line`,
      expect.stringMatching(new RegExp(`^${d}/ha\\.cf:6: bcast ${missing}: interface ${missing} does not exist on this host \\(interfaces: .*lo.*\\)$`)),
      `${d}/haresources:1: resource 'IPaddr2::10.0.0.5/24/${missing}': interface ${missing} does not exist on this host`,
    ]);
    const ok = configDir('host-ok', { hacf: GOOD_HACF, haresources: 'alpha IPaddr2::10.0.0.5/24/lo\n' });
    const good = tandem(['check-config', '-c', ok, '--host', '--node', 'alpha']);
    expect(good.stderr).toBe('');
    expect(good.stdout).toBe(`${ok}: configuration is valid for this host\n`);
  });

  it('run names ha.cf:LINE for an interface this machine lacks', () => {
    const d = configDir('run-noif', {
      // The missing interface comes first, so no socket is bound before it fails.
      hacf: `keepalive 1\ndeadtime 10\nudpport 39694\nnode alpha beta\nbcast ${missing}\nbcast lo\n`,
      haresources: 'alpha IPaddr2::10.0.0.5/24/lo\n',
    });
    const r = tandem(['run', '-c', d, '--node', 'alpha', '--state-dir', join(work, 'noif-state'), '--run-dir', join(work, 'noif-run')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^tandem: ${d}/ha\\.cf:5: interface ${missing} does not exist$`, 'm'));
  });
});

describe('CLI basics', () => {
  it('--version prints the package version', () => {
    const r = tandem(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('-c defaults to /etc/ha.d, as for Heartbeat', () => {
    const r = tandem(['check-config']);
    // Whatever this machine's /etc/ha.d holds, that is the directory read.
    expect(r.stdout + r.stderr).toMatch(/^\/etc\/ha\.d(\/[a-z.]+)?: /m);
    expect(r.stdout + r.stderr).not.toMatch(/required option/);
  });
});

describe('run: directory errors name the option, the path and the cause', () => {
  it('a run dir that is a file, and a state dir under a file', () => {
    const d = configDir('dirs', { hacf: GOOD_HACF, haresources: 'alpha IPaddr2::10.0.0.5/24/lo\n' });
    const file = join(work, 'a-file');
    writeFileSync(file, 'x\n');
    let r = tandem(['run', '-c', d, '--node', 'alpha', '--run-dir', file, '--state-dir', join(work, 'st1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tandem: --run-dir ${file}: exists and is not a directory\n`);
    r = tandem(['run', '-c', d, '--node', 'alpha', '--run-dir', join(work, 'rd2'), '--state-dir', join(file, 'state')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tandem: --state-dir ${join(file, 'state')}: ${file} is a file, not a directory\n`);
  });
});
