// Who may change what tandem trusts (keepalived's enable_script_security):
// authkeys, ha.cf, haresources, the resource scripts, the notify program,
// fence agents and plugins and the arbiter's key file, and every directory
// above each of them, are root's and not writable by others. Each refusal
// names the file and the command that fixes it; the setups the test suite
// and the lab use (root's files, 0600/0644, in 0700/0755 directories under
// the sticky /tmp) pass.
//
// Needs root (it chowns files to nobody, uid 65534), which the suite has.

import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadArbiterKeys } from '../../arbiter/server.js';
import { formatIssue, loadConfig } from '../../src/config/load.js';
import { parseStonithHost } from '../../src/config/stonith.js';
import { main } from '../../src/cli/main.js';

const NOBODY = 65534;
const root = mkdtempSync(join(tmpdir(), 'tandem-config-security-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HACF = 'udpport 694\nbcast eth0\nkeepalive 100ms\ndeadtime 300ms\nwarntime 200ms\ninitdead 2000ms\nnode alpha beta\n';
const AUTHKEYS = 'auth 1\n1 sha256 s3cret\n';
const SCRIPT = '#!/bin/sh\nexit 0\n';

let counter = 0;
/** A config dir (mode `dirMode`) with ha.cf 0644, authkeys 0600, haresources 0644 and resource.d/web 0755. */
function configDir(opts: { dirMode?: number; hacf?: string; parent?: string } = {}): string {
  const dir = join(opts.parent ?? root, `c${++counter}`);
  mkdirSync(dir);
  chmodSync(dir, opts.dirMode ?? 0o755);
  writeFileSync(join(dir, 'ha.cf'), opts.hacf ?? HACF);
  chmodSync(join(dir, 'ha.cf'), 0o644);
  writeFileSync(join(dir, 'authkeys'), AUTHKEYS);
  chmodSync(join(dir, 'authkeys'), 0o600);
  writeFileSync(join(dir, 'haresources'), 'alpha 10.77.0.100 web\n');
  chmodSync(join(dir, 'haresources'), 0o644);
  mkdirSync(join(dir, 'resource.d'));
  chmodSync(join(dir, 'resource.d'), 0o755);
  writeFileSync(join(dir, 'resource.d', 'web'), SCRIPT);
  chmodSync(join(dir, 'resource.d', 'web'), 0o755);
  return dir;
}

function emptyInitDir(): string {
  const d = join(root, `init${++counter}`);
  mkdirSync(d);
  return d;
}

const issues = (dir: string, initDir = emptyInitDir()) => loadConfig(dir, { initDir }).issues.map(formatIssue);

describe('configuration files and directories: what passes', () => {
  it('root-owned 0600/0644 files in a 0700 or 0755 directory under the sticky /tmp pass', () => {
    for (const dirMode of [0o700, 0o755, 0o750]) {
      expect(issues(configDir({ dirMode }))).toEqual([]);
    }
  });

  it('a group-writable file or directory of root\'s group (gid 0) passes, as in keepalived', () => {
    const dir = configDir();
    chmodSync(join(dir, 'ha.cf'), 0o664);
    chmodSync(dir, 0o775);
    expect(issues(dir)).toEqual([]);
  });

  it('a world-writable directory with the sticky bit (like /tmp) passes', () => {
    const sticky = join(root, `sticky${++counter}`);
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    expect(issues(configDir({ parent: sticky }))).toEqual([]);
  });

  it('checkMode: false skips every ownership and mode check', () => {
    const dir = configDir();
    chmodSync(join(dir, 'ha.cf'), 0o666);
    chownSync(join(dir, 'authkeys'), NOBODY, NOBODY);
    expect(loadConfig(dir, { initDir: emptyInitDir(), checkMode: false }).issues).toEqual([]);
  });
});

describe('configuration files and directories: what is refused, naming the file and the fix', () => {
  it('authkeys owned by another user, even with mode 0600', () => {
    const dir = configDir();
    const f = join(dir, 'authkeys');
    chownSync(f, NOBODY, NOBODY);
    expect(issues(dir)).toEqual([`${f}: must be owned by root (owner uid is ${NOBODY}); run chown root: ${f}`]);
  });

  it('world-writable ha.cf and haresources', () => {
    const dir = configDir();
    for (const name of ['ha.cf', 'haresources']) chmodSync(join(dir, name), 0o666);
    expect(issues(dir)).toEqual([
      `${join(dir, 'ha.cf')}: must not be writable by group or others (mode 0666): it decides what runs as root; run chmod go-w ${join(dir, 'ha.cf')}`,
      `${join(dir, 'haresources')}: must not be writable by group or others (mode 0666): it decides what runs as root; run chmod go-w ${join(dir, 'haresources')}`,
    ]);
  });

  it('ha.cf owned by another user, or group-writable by a group other than root\'s', () => {
    const dir = configDir();
    const f = join(dir, 'ha.cf');
    chownSync(f, NOBODY, 0);
    expect(issues(dir)).toEqual([`${f}: must be owned by root (owner uid is ${NOBODY}); run chown root: ${f}`]);
    chownSync(f, 0, NOBODY);
    chmodSync(f, 0o664);
    expect(issues(dir)).toEqual([`${f}: must not be writable by group or others (mode 0664): it decides what runs as root; run chmod go-w ${f}`]);
  });

  it('a config directory writable by others, or owned by another user: every file in it is refused, naming the directory', () => {
    const dir = configDir();
    chmodSync(dir, 0o777);
    const out = issues(dir);
    for (const name of ['authkeys', 'ha.cf', 'haresources']) {
      expect(out).toContain(`${join(dir, name)}: directory ${dir} is writable by others (mode 0777), who can replace ${join(dir, name)}; run chmod go-w ${dir}`);
    }
    chmodSync(dir, 0o755);
    chownSync(dir, NOBODY, NOBODY);
    expect(issues(dir)).toContain(`${join(dir, 'ha.cf')}: directory ${dir} is owned by uid ${NOBODY}, who can replace ${join(dir, 'ha.cf')}; run chown root: ${dir}`);
  });

  it('a directory further up the path is checked too', () => {
    const parent = join(root, `open${++counter}`);
    mkdirSync(parent);
    chmodSync(parent, 0o757);
    const dir = configDir({ parent });
    expect(issues(dir)).toContain(`${join(dir, 'ha.cf')}: directory ${parent} is writable by others (mode 0757), who can replace ${join(dir, 'ha.cf')}; run chmod go-w ${parent}`);
  });

  it('a config directory reached through a symlink: the real path is checked as well', () => {
    const open = join(root, `open${++counter}`);
    mkdirSync(open);
    chmodSync(open, 0o777);
    const real = configDir({ parent: open });
    const link = join(root, `link${++counter}`);
    symlinkSync(real, link);
    expect(issues(link)).toContain(`${join(link, 'ha.cf')}: directory ${open} is writable by others (mode 0777), who can replace ${join(link, 'ha.cf')}; run chmod go-w ${open}`);
  });

  it('a resource script run as root: world-writable, owned by another user, or in an open resource.d', () => {
    const dir = configDir();
    const script = join(dir, 'resource.d', 'web');
    const line = `${join(dir, 'haresources')}:1: resource agent 'web' cannot be trusted: `;
    chmodSync(script, 0o777);
    expect(issues(dir)).toEqual([`${line}${script} must not be writable by group or others (mode 0777): it runs as root; run chmod go-w ${script}`]);
    chmodSync(script, 0o755);
    chownSync(script, NOBODY, NOBODY);
    expect(issues(dir)).toEqual([`${line}${script} must be owned by root (owner uid is ${NOBODY}); run chown root: ${script}`]);
    chownSync(script, 0, 0);
    chmodSync(join(dir, 'resource.d'), 0o777);
    expect(issues(dir)).toEqual([`${line}directory ${join(dir, 'resource.d')} is writable by others (mode 0777), who can replace ${script}; run chmod go-w ${join(dir, 'resource.d')}`]);
  });

  it('an LSB init script found in the init directory, in a directory others can write', () => {
    const dir = configDir();
    writeFileSync(join(dir, 'haresources'), 'alpha 10.77.0.100 apache\n');
    const initDir = emptyInitDir();
    writeFileSync(join(initDir, 'apache'), SCRIPT, { mode: 0o755 });
    expect(issues(dir, initDir)).toEqual([]);
    chmodSync(initDir, 0o777);
    expect(issues(dir, initDir)).toEqual([`${join(dir, 'haresources')}:1: resource agent 'apache' cannot be trusted: directory ${initDir} is writable by others (mode 0777), who can replace ${join(initDir, 'apache')}; run chmod go-w ${initDir}`]);
  });

  it('the notify program', () => {
    const prog = join(root, `notify${++counter}`);
    writeFileSync(prog, SCRIPT);
    chmodSync(prog, 0o755);
    const dir = configDir({ hacf: `${HACF}notify ${prog}\n` });
    expect(issues(dir)).toEqual([]);
    chmodSync(prog, 0o777);
    expect(issues(dir)).toEqual([`${join(dir, 'ha.cf')}:8: notify: ${prog} must not be writable by group or others (mode 0777): it runs as root; run chmod go-w ${prog}`]);
  });

  it('a fence plugin or agent that others can change', () => {
    const plugins = join(root, `plugins${++counter}`);
    mkdirSync(plugins);
    writeFileSync(join(plugins, 'tdfsec'), SCRIPT, { mode: 0o755 });
    writeFileSync(join(plugins, 'fence_tdfsec'), SCRIPT, { mode: 0o755 });
    const parse = (line: string) => parseStonithHost(line.split(' '), '/etc/ha.d/ha.cf', 3, ['alpha', 'beta'], { pluginDir: plugins }).issues.map(formatIssue);
    expect(parse('* external/tdfsec target=beta')).toEqual([]);
    expect(parse('* fence_tdfsec target=beta')).toEqual([]);
    chmodSync(join(plugins, 'tdfsec'), 0o777);
    chownSync(join(plugins, 'fence_tdfsec'), NOBODY, NOBODY);
    expect(parse('* external/tdfsec target=beta')).toEqual([
      `/etc/ha.d/ha.cf:3: external plugin: ${join(plugins, 'tdfsec')} must not be writable by group or others (mode 0777): it runs as root; run chmod go-w ${join(plugins, 'tdfsec')}`,
    ]);
    expect(parse('* fence_tdfsec target=beta')).toEqual([
      `/etc/ha.d/ha.cf:3: fence agent: ${join(plugins, 'fence_tdfsec')} must be owned by root (owner uid is ${NOBODY}); run chown root: ${join(plugins, 'fence_tdfsec')}`,
    ]);
  });

  it("the arbiter's key file", () => {
    const f = join(root, `arbiter${++counter}.keys`);
    writeFileSync(f, AUTHKEYS, { mode: 0o600 });
    expect(loadArbiterKeys(f).sendIndex).toBe(1);
    chownSync(f, NOBODY, NOBODY);
    expect(() => loadArbiterKeys(f)).toThrow(`${f}: must be owned by root (owner uid is ${NOBODY}); run chown root: ${f}`);
  });

  it('check-config prints the refusal and exits 1', async () => {
    const dir = configDir();
    chmodSync(join(dir, 'ha.cf'), 0o646);
    let err = '';
    const spy = (s: string | Uint8Array) => { err += String(s); return true; };
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = spy as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['check-config', '-c', dir, '--init-dir', emptyInitDir()]);
    } finally {
      process.stderr.write = orig;
    }
    expect(code).toBe(1);
    expect(err).toBe(`${join(dir, 'ha.cf')}: must not be writable by group or others (mode 0646): it decides what runs as root; run chmod go-w ${join(dir, 'ha.cf')}\n`);
  });
});
