// The install the README documents: `npm pack`, then `npm install -g` of the
// tarball. Run as a fresh machine would: the npm configuration of this host
// without any `nodedir` setting (Debian's NodeSource package ships headers in
// /usr/include/node but sets no nodedir), and an empty node-gyp dev dir, so a
// header download would land there (and fail without internet access).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let work = '';
let prefix = '';
let env: NodeJS.ProcessEnv = {};

/** A copy of an npmrc without nodedir, so the test sees what a fresh machine sees. */
function withoutNodedir(file: string, out: string): string {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  writeFileSync(out, text.split('\n').filter((l) => !/^\s*nodedir\s*=/i.test(l)).join('\n'));
  return out;
}

describe('global install of the packed tarball', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'tandem-install-'));
    prefix = join(work, 'prefix');
    const npmGet = (key: string) => execFileSync('npm', ['config', 'get', key], { cwd: work, encoding: 'utf8' }).trim();
    env = { ...process.env };
    for (const k of Object.keys(env)) if (/^npm_config_nodedir$/i.test(k)) delete env[k];
    env.npm_config_userconfig = withoutNodedir(npmGet('userconfig'), join(work, 'user.npmrc'));
    env.npm_config_globalconfig = withoutNodedir(npmGet('globalconfig'), join(work, 'global.npmrc'));
    env.npm_config_devdir = join(work, 'node-gyp');
    mkdirSync(env.npm_config_devdir);
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs from the tarball without downloading Node headers; tandem --version and check-config run from PATH', () => {
    // dist/ is fresh: the global setup built it before any test file started.
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, env, stdio: 'pipe' });
    const tarball = join(work, `tandem-${VERSION}.tgz`);
    expect(existsSync(tarball)).toBe(true);

    const inst = spawnSync('npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { cwd: work, env, encoding: 'utf8', timeout: 150_000 });
    expect(inst.status, `npm install -g failed:\n${inst.stdout}\n${inst.stderr}`).toBe(0);
    // node-gyp would have put downloaded headers here.
    expect(readdirSync(env.npm_config_devdir!)).toEqual([]);
    const pkgDir = join(prefix, 'lib/node_modules/tandem');
    expect(existsSync(join(pkgDir, 'node_modules/tandem-native/build/Release/tandem_native.node'))).toBe(true);

    const path = `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`;
    const run = (args: string[]) => spawnSync('tandem', args, { cwd: work, env: { ...env, PATH: path }, encoding: 'utf8', timeout: 30_000 });
    // --version loads the whole CLI, the native addon included (static imports).
    const v = run(['--version']);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    expect(v.stdout).toBe(`${VERSION}\n`);

    const cfg = join(work, 'ha.d');
    mkdirSync(join(cfg, 'resource.d'), { recursive: true });
    writeFileSync(join(cfg, 'ha.cf'), 'node alpha beta\nbcast lo\nkeepalive 1\ndeadtime 10\n');
    writeFileSync(join(cfg, 'authkeys'), 'auth 1\n1 sha256 install-test\n', { mode: 0o600 });
    writeFileSync(join(cfg, 'haresources'), 'alpha IPaddr2::10.0.0.5/24/lo\n');
    const c = run(['check-config', '-c', cfg]);
    expect(c.stderr).toBe('');
    expect(c.stdout).toBe(`${cfg}: configuration is valid\n`);
    expect(c.status).toBe(0);
  }, 180_000);
});
