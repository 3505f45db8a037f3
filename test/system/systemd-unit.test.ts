// The shipped systemd units pass `systemd-analyze verify` (offline: no
// running systemd is needed), and the verification would catch a broken one.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { need } from '../helpers/tools.js';

const ROOT = resolve(__dirname, '../..');
const UNITS = ['tandem.service', 'tandem-arbiter.service'];


/** systemd-analyze verify of the shipped unit files, unchanged, in a scratch root that has systemd's own units and a /usr/bin/tandem. */
function verify(units: Record<string, string>): { status: number | null; out: string } {
  need('/usr/bin/systemd-analyze');
  const root = mkdtempSync(join(tmpdir(), 'tandem-unit-root-'));
  try {
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/tandem'), `#!/bin/sh\nexec node ${join(ROOT, 'bin/tandem')} "$@"\n`, { mode: 0o755 });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const [name, text] of Object.entries(units)) writeFileSync(join(root, 'etc/systemd/system', name), text);
    // Documentation=man:... is checked too: point man(1) at the repository's pages.
    const r = spawnSync('/usr/bin/systemd-analyze', ['verify', `--root=${root}`, ...Object.keys(units)], {
      encoding: 'utf8', cwd: root, env: { ...process.env, MANPATH: join(ROOT, 'docs/man') }, timeout: 60_000,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('the shipped systemd units', () => {
  const shipped = Object.fromEntries(UNITS.map((u) => [u, readFileSync(join(ROOT, 'contrib/systemd', u), 'utf8')]));

  it('pass systemd-analyze verify without a single warning', () => {
    const r = verify(shipped);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('the check sees a broken unit (so a pass above means something)', () => {
    const broken = shipped['tandem.service']!.replace('Type=notify', 'Type=notfy').replace('KillMode=mixed', 'KillMode=mixed\nWatchdogSecs=5');
    const r = verify({ 'tandem.service': broken });
    expect(r.out).toMatch(/Failed to parse service type.*notfy/);
    expect(r.out).toMatch(/Unknown key 'WatchdogSecs'/);
  });

  it('ask for notify with a watchdog well over twice the default keepalive', () => {
    const u = shipped['tandem.service']!;
    expect(u).toMatch(/^Type=notify$/m);
    expect(u).toMatch(/^WatchdogSec=10s$/m);
    expect(u).toMatch(/^KillMode=mixed$/m);
  });
});

