// tandem run with its state dir on a read-only file system: the message names
// the option, the path and the cause (Node's recursive mkdir says ENOENT
// there, which is what tandem used to print). Needs root for the mount.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { need } from '../helpers/tools.js';

beforeAll(() => need('mount'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let work = '';
let ro = '';
let mounted = false;

describe('run: a state dir on a read-only file system', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'tandem-run-dirs-'));
    const cfg = join(work, 'cfg');
    mkdirSync(cfg);
    writeFileSync(join(cfg, 'ha.cf'), 'keepalive 1\ndeadtime 10\nbcast lo\nnode alpha beta\n');
    writeFileSync(join(cfg, 'authkeys'), 'auth 1\n1 sha256 run-dirs\n', { mode: 0o600 });
    writeFileSync(join(cfg, 'haresources'), 'alpha IPaddr2::10.0.0.5/24/lo\n');
    ro = join(work, 'ro');
    mkdirSync(join(ro));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tandem-ro', ro], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`mount a read-only tmpfs (needs root): ${m.stderr}`);
    mounted = true;
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [ro]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('says read-only, for a state dir to create and for one that exists', () => {
    const run = (stateDir: string) => spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), 'run', '-c', join(work, 'cfg'), '--node', 'alpha',
      '--run-dir', join(work, 'run'), '--state-dir', stateDir], { encoding: 'utf8', timeout: 30_000 });
    let r = run(join(ro, 'tandem/state'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tandem: --state-dir ${join(ro, 'tandem/state')}: the file system is read-only\n`);
    r = run(ro);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tandem: --state-dir ${ro}: cannot create files in it: the file system is read-only\n`);
  });
});
