// tandem's verdict on keepalived.conf files is keepalived's: every file of
// the corpus (test/fixtures/keepalived/) goes through `keepalived -t` (2.2.7,
// Debian) and through tandem's parser, and both must accept it or both refuse
// it, except where a file says `! deliberate:` (tandem refuses what
// keepalived runs; docs/keepalived-conf.md). keepalived -t checks that the
// interfaces exist, so it runs in a private network namespace (unshare -n,
// root) holding eth0 and eth1.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadKeepalived, realScriptHost } from '../../src/config/keepalived.js';
import { need } from '../helpers/tools.js';

const DIR = resolve(__dirname, '../fixtures/keepalived');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.conf')).sort();

function keepalivedVerdict(file: string): { rc: number; out: string } {
  const script = 'ip link add eth0 type veth peer name eth1 >/dev/null && exec keepalived -t -l -n -f "$0"';
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script, file], { cwd: DIR, encoding: 'utf8', timeout: 20_000 });
  return { rc: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('keepalived.conf: tandem check-config agrees with keepalived -t', () => {
  it('the corpus has accepted, refused and deliberately different files', () => {
    const kinds = FILES.map((f) => readFileSync(join(DIR, f), 'utf8'));
    expect(kinds.filter((t) => t.includes('! deliberate:')).length).toBeGreaterThanOrEqual(3);
    expect(kinds.filter((t) => t.includes('! expect-error:')).length).toBeGreaterThanOrEqual(15);
    expect(kinds.filter((t) => !t.includes('! expect-error:')).length).toBeGreaterThanOrEqual(6);
  });

  for (const f of FILES) {
    it(f, () => {
      need('/usr/sbin/keepalived', 'ip');
      const text = readFileSync(join(DIR, f), 'utf8');
      const ka = keepalivedVerdict(f);
      // tandem checks interfaces against the host, as keepalived -t does: give it keepalived's.
      // File modes are tandem's own rule (keepalived does not check them): not compared here.
      const t = loadKeepalived(join(DIR, f), { host: { ...realScriptHost, interfaces: () => new Set(['lo', 'eth0', 'eth1']) }, checkMode: false });
      const errors = t.issues.filter((i) => i.severity === 'error');
      const shown = t.issues.map((i) => `${i.file.slice(DIR.length + 1)}:${i.line}: ${i.severity}: ${i.message}`).join('\n');
      const deliberate = text.includes('! deliberate:');
      if (deliberate) {
        expect(ka.rc, `keepalived -t now refuses ${f}:\n${ka.out}`).toBe(0);
        expect(errors.length, `tandem accepts ${f}`).toBeGreaterThan(0);
      } else {
        expect(errors.length === 0, `keepalived -t exit ${ka.rc}:\n${ka.out}\ntandem:\n${shown}`).toBe(ka.rc === 0);
      }
      for (const m of text.matchAll(/^! expect-error: (\d+)$/gm)) {
        expect(errors.map((e) => e.line), shown).toContain(Number(m[1]));
      }
      // No error, no config; an accepted file yields its model.
      expect(t.config === undefined).toBe(errors.length > 0);
    });
  }
});
