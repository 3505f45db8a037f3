// Issue 10 item 2: crc keys and key lines besides the send key let a third
// party forge heartbeats; check-config and run (both loadConfig) refuse them
// unless ha.cf says allow_insecure_authkeys yes.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { formatIssue, loadConfig } from '../../src/config/load.js';
import { parseHaCf } from '../../src/config/hacf.js';

const root = mkdtempSync(join(tmpdir(), 'tandem-insecure-keys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HACF = 'bcast eth0\nkeepalive 100ms\ndeadtime 300ms\nwarntime 200ms\ninitdead 2000ms\nnode alpha beta\n';
let n = 0;
function dir(authkeys: string, hacfExtra = ''): string {
  const d = join(root, `c${++n}`);
  mkdirSync(d);
  writeFileSync(join(d, 'ha.cf'), HACF + hacfExtra);
  writeFileSync(join(d, 'authkeys'), authkeys);
  chmodSync(join(d, 'authkeys'), 0o600);
  writeFileSync(join(d, 'haresources'), '');
  return d;
}

describe('insecure authkeys', () => {
  it('refuses a crc send key at its line, naming the directive', () => {
    const d = dir('# keys\nauth 1\n1 crc\n');
    const r = loadConfig(d);
    expect(r.config).toBeUndefined();
    expect(r.issues.map(formatIssue)).toEqual([
      `${join(d, 'authkeys')}:3: key 1 (crc, used for sending) is an unkeyed checksum: anyone on the heartbeat network can forge heartbeats; use '1 sha256 KEY' (tandem authkeys generate), or accept the risk with 'allow_insecure_authkeys yes' in ha.cf`,
    ]);
  });

  it('refuses a leftover crc line and a leftover strong key beside a sha256 send key', () => {
    const d = dir('auth 1\n1 sha256 0123456789abcdef\n2 crc\n3 sha1 old\n');
    const f = join(d, 'authkeys');
    expect(loadConfig(d).issues.map(formatIssue)).toEqual([
      `${f}:3: key 2 (crc) is an unkeyed checksum that receivers accept: anyone on the heartbeat network can forge heartbeats; remove the line, or accept the risk with 'allow_insecure_authkeys yes' in ha.cf`,
      `${f}:4: key 3 (sha1) is not the send key (auth 1) but receivers accept it: a leftover key is a second way to forge heartbeats; remove the line, or accept the risk with 'allow_insecure_authkeys yes' in ha.cf`,
    ]);
  });

  it('accepts them with allow_insecure_authkeys yes, and a single strong key without it', () => {
    const d = dir('auth 1\n1 crc\n2 sha1 old\n', 'allow_insecure_authkeys yes\n');
    const r = loadConfig(d);
    expect(r.issues).toEqual([]);
    expect(r.config?.hacf.allowInsecureAuthkeys).toEqual({ line: 7 });
    expect(loadConfig(dir('auth 1\n1 sha256 0123456789abcdef\n')).issues).toEqual([]);
    const no = dir('auth 1\n1 crc\n', 'allow_insecure_authkeys no\n');
    expect(loadConfig(no).issues.map(formatIssue)).toHaveLength(1);
  });

  it('checks the directive value and that it is given once', () => {
    expect(parseHaCf(`${HACF}allow_insecure_authkeys maybe\n`, 'ha.cf').issues.map(formatIssue)).toEqual([
      "ha.cf:7: 'allow_insecure_authkeys' must be yes or no (got 'maybe')",
    ]);
    expect(parseHaCf(`${HACF}allow_insecure_authkeys yes\nallow_insecure_authkeys yes\n`, 'ha.cf').issues.map(formatIssue)).toEqual([
      "ha.cf:8: 'allow_insecure_authkeys' is given more than once (first at line 7)",
    ]);
  });
});
