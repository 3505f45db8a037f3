import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { parseAuthKeys } from '../../src/config/authkeys.js';
import { parseHaCf } from '../../src/config/hacf.js';
import { parseHaResources } from '../../src/config/haresources.js';
import { formatIssue, loadConfig, sortIssues } from '../../src/config/load.js';

const root = mkdtempSync(join(tmpdir(), 'tandem-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory with the given files; `modes` overrides the default 0600/0644. */
function configDir(files: Record<string, string>, modes: Record<string, number> = {}): string {
  const dir = join(root, `c${++counter}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    chmodSync(path, modes[name] ?? (name === 'authkeys' ? 0o600 : 0o644));
  }
  return dir;
}

function emptyInitDir(): string {
  const dir = join(root, `init${++counter}`);
  mkdirSync(dir);
  return dir;
}

// The pair measured in the reference notes (heartbeat-wire.txt header).
const HACF = [
  '# hbA/hbB in netns, as captured in the reference notes', // 1
  'udpport   694',                                           // 2
  'bcast     eth0',                                          // 3
  'keepalive 100ms',                                         // 4
  'deadtime  300ms',                                         // 5
  'warntime  200ms',                                         // 6
  'initdead  2000ms',                                        // 7
  'auto_failback off',                                       // 8
  'node      hbA hbB',                                       // 9
  '',
].join('\n');
const AUTHKEYS = 'auth 1\n1 sha1 s3cret\n';
const HARESOURCES = 'hbA IPaddr2::10.77.0.100/24/eth0 hbdummy\n';
const HBDUMMY = '#!/bin/sh\nexit 0\n';

describe('loadConfig', () => {
  it('loads a complete directory into a Config', () => {
    const dir = configDir(
      { 'ha.cf': HACF, authkeys: AUTHKEYS, haresources: HARESOURCES, 'resource.d/hbdummy': HBDUMMY },
      { 'resource.d/hbdummy': 0o755 },
    );
    const { config, issues } = loadConfig(dir, { initDir: emptyInitDir() });
    expect(issues).toEqual([]);
    expect(config?.dir).toBe(dir);
    expect(config?.hacf).toMatchObject({
      file: join(dir, 'ha.cf'),
      nodes: ['hba', 'hbb'],
      media: [{ kind: 'bcast', iface: 'eth0', port: 694, line: 3 }],
      keepaliveMs: 100,
      deadtimeMs: 300,
      warntimeMs: 200,
      initdeadMs: 2000,
      autoFailback: 'off',
    });
    expect(config?.authkeys.sendIndex).toBe(1);
    expect(config?.authkeys.keys.get(1)).toEqual({ index: 1, method: 'sha1', key: Buffer.from('s3cret') });
    expect(config?.groups).toEqual([
      {
        name: 'IPaddr2::10.77.0.100/24/eth0',
        preferredNode: 'hba',
        line: 1,
        resources: [
          { spec: 'IPaddr2::10.77.0.100/24/eth0', agent: 'IPaddr2', args: ['10.77.0.100/24/eth0'] },
          { spec: 'hbdummy', agent: 'hbdummy', args: [] },
        ],
      },
    ]);
  });

  it('reports each missing file at line 0', () => {
    const dir = configDir({});
    const { config, issues } = loadConfig(dir);
    expect(config).toBeUndefined();
    expect(issues.map(formatIssue)).toEqual([
      `${join(dir, 'authkeys')}: cannot read: no such file or directory (ENOENT)`,
      `${join(dir, 'ha.cf')}: cannot read: no such file or directory (ENOENT)`,
      `${join(dir, 'haresources')}: cannot read: no such file or directory (ENOENT)`,
    ]);
  });

  it('refuses an authkeys file readable by others unless the check is turned off', () => {
    const files = { 'ha.cf': HACF, authkeys: AUTHKEYS, haresources: '' };
    const dir = configDir(files, { authkeys: 0o644 });
    const authFile = join(dir, 'authkeys');
    expect(loadConfig(dir).issues.map(formatIssue)).toEqual([
      `${authFile}: authkeys must not be accessible by group or others (mode 0644); run chmod 600 ${authFile}`,
    ]);
    const unchecked = loadConfig(dir, { checkMode: false });
    expect(unchecked.issues).toEqual([]);
    expect(unchecked.config?.groups).toEqual([]);
  });

  describe('script agents', () => {
    const base = { 'ha.cf': HACF, authkeys: AUTHKEYS };

    it('reports an agent found nowhere, at the group line', () => {
      const dir = configDir({ ...base, haresources: '# groups\nhba 10.77.0.100 \\\n  apache\n' });
      const initDir = emptyInitDir();
      // resource-agents on the test host has an OCF 'apache': look elsewhere.
      const ocfRoot = emptyInitDir();
      const res = join(dir, 'haresources');
      expect(loadConfig(dir, { initDir, ocfRoot }).issues.map(formatIssue)).toEqual([
        `${res}:2: resource agent 'apache' not found: no ${join(dir, 'resource.d', 'apache')}, ${join(initDir, 'apache')} or ${join(ocfRoot, 'resource.d', 'heartbeat', 'apache')}`,
      ]);
    });

    it('reports a script that is not executable', () => {
      const dir = configDir(
        { ...base, haresources: HARESOURCES, 'resource.d/hbdummy': HBDUMMY },
        { 'resource.d/hbdummy': 0o644 },
      );
      const script = join(dir, 'resource.d', 'hbdummy');
      expect(loadConfig(dir, { initDir: emptyInitDir() }).issues.map(formatIssue)).toEqual([
        `${join(dir, 'haresources')}:1: resource agent 'hbdummy' cannot be run: ${script} is not executable (chmod 755 ${script})`,
      ]);
    });

    it('reports a directory where the script should be', () => {
      const dir = configDir({ ...base, haresources: 'hbb web\n' });
      mkdirSync(join(dir, 'resource.d', 'web'), { recursive: true });
      const initDir = emptyInitDir();
      expect(loadConfig(dir, { initDir }).issues.map(formatIssue)).toEqual([
        `${join(dir, 'haresources')}:1: resource agent 'web' cannot be run: ${join(dir, 'resource.d', 'web')} is not a regular file`,
      ]);
    });

    it('falls back to the init directory, like Heartbeat', () => {
      const initDir = emptyInitDir();
      writeFileSync(join(initDir, 'apache'), HBDUMMY, { mode: 0o755 });
      const dir = configDir(
        { ...base, haresources: 'hba apache\nhbb 10.77.0.101 apache2\n', 'resource.d/apache2': HBDUMMY },
        { 'resource.d/apache2': 0o644 },
      );
      writeFileSync(join(initDir, 'apache2'), HBDUMMY, { mode: 0o755 });
      const { config, issues } = loadConfig(dir, { initDir });
      expect(issues).toEqual([]);
      expect(config?.groups.map((g) => g.name)).toEqual(['apache', '10.77.0.101']);
    });

    it('does not look for the built-in address agents on disk', () => {
      const dir = configDir({ ...base, haresources: 'hba IPaddr2::10.77.0.100/24/eth0 10.77.0.101\n' });
      expect(loadConfig(dir, { initDir: emptyInitDir() }).issues).toEqual([]);
    });
  });

  it('reports issues from all files, sorted by file then line', () => {
    const dir = configDir(
      {
        'ha.cf': 'node a b\nkeepalive 2s\nbcast eth0\nbogus\n',
        authkeys: 'auth 2\n1 sha1 x\n',
        haresources: 'zed apache\n',
      },
      { authkeys: 0o640 },
    );
    const initDir = emptyInitDir();
    const ocfRoot = emptyInitDir();
    const out = loadConfig(dir, { initDir, ocfRoot }).issues.map(formatIssue);
    const ak = join(dir, 'authkeys');
    const hc = join(dir, 'ha.cf');
    const hr = join(dir, 'haresources');
    expect(out).toEqual([
      `${ak}: authkeys must not be accessible by group or others (mode 0640); run chmod 600 ${ak}`,
      `${ak}:1: 'auth 2' names key index 2, which is not defined in this file`,
      `${hc}:2: 'keepalive': invalid time '2s': 's' is not a unit in Heartbeat time syntax (a bare number means seconds); use 2 for seconds or 2000ms`,
      `${hc}:4: unknown directive 'bogus'`,
      // ha.cf has errors, but its node line is fine: 'zed' is still judged,
      // and the agent lookup still runs.
      `${hr}:1: preferred node 'zed' is not a node in ha.cf (nodes: a, b)`,
      `${hr}:1: resource agent 'apache' not found: no ${join(dir, 'resource.d', 'apache')}, ${join(initDir, 'apache')} or ${join(ocfRoot, 'resource.d', 'heartbeat', 'apache')}`,
    ]);
  });

  it('checks preferred nodes against ha.cf when ha.cf is valid', () => {
    const dir = configDir({ 'ha.cf': HACF, authkeys: AUTHKEYS, haresources: '\n\nnode1 10.77.0.100\n' });
    expect(loadConfig(dir).issues.map(formatIssue)).toEqual([
      `${join(dir, 'haresources')}:3: preferred node 'node1' is not a node in ha.cf (nodes: hba, hbb)`,
    ]);
  });
});

describe('formatIssue and sortIssues', () => {
  it('formats FILE:LINE: message, and FILE: message for line 0', () => {
    expect(formatIssue({ file: 'etc/ha.cf', line: 12, message: 'boom' })).toBe('etc/ha.cf:12: boom');
    expect(formatIssue({ file: 'etc/authkeys', line: 0, message: 'cannot read: x' })).toBe('etc/authkeys: cannot read: x');
  });

  it('sorts by file, then line, keeping the order of same-line issues', () => {
    const issues = [
      { file: 'b', line: 2, message: 'b2' },
      { file: 'a', line: 5, message: 'a5-first' },
      { file: 'b', line: 0, message: 'b0' },
      { file: 'a', line: 5, message: 'a5-second' },
      { file: 'a', line: 1, message: 'a1' },
    ];
    expect(sortIssues(issues).map((i) => i.message)).toEqual(['a1', 'a5-first', 'a5-second', 'b0', 'b2']);
  });
});

describe('examples from the reference notes', () => {
  it('parses the mcast example line and the fastest measured timing', () => {
    const text = [
      'node hbA hbB',
      'mcast eth0 239.0.0.1 694 1 0',
      'ucast eth0 10.77.0.1',
      'ucast eth0 10.77.0.2',
      'keepalive 20ms',
      'deadtime 100ms',
      'warntime 60ms',
      'initdead 2000ms',
    ].join('\n');
    const { config, issues } = parseHaCf(text, 'ha.cf');
    expect(issues).toEqual([]);
    expect(config?.media.map((m) => m.kind)).toEqual(['mcast', 'ucast', 'ucast']);
  });

  it('parses the authkeys example (its inline annotations removed, see below)', () => {
    const text = 'auth 1\n1 sha1 SomeSecret\n2 md5 Other\n3 crc\n';
    const { keys, issues } = parseAuthKeys(text, 'authkeys');
    expect(issues).toEqual([]);
    expect(keys?.sendIndex).toBe(1);
    expect([...(keys?.keys.values() ?? [])].map((k) => [k.index, k.method, k.key.toString()])).toEqual([
      [1, 'sha1', 'SomeSecret'],
      [2, 'md5', 'Other'],
      [3, 'crc', ''],
    ]);
  });

  it('does not silently strip the annotations from the verbatim authkeys example', () => {
    // The notes annotate key lines with "# ..."; after a key that would be
    // key material, so both annotated key lines are errors.
    const verbatim = [
      'auth 1            # index used for SENDING (exactly one auth line)',
      '1 sha1 SomeSecret # index method key   (key = rest of line, used literally as HMAC key bytes)',
      '2 md5 Other',
      '3 crc             # crc takes no key',
    ].join('\n');
    expect(parseAuthKeys(verbatim, 'authkeys').issues.map(formatIssue)).toEqual([
      "authkeys:2: the sha1 key contains blanks: Heartbeat would use only 'SomeSecret'; write the key as one word (or put a comment on its own line)",
      'authkeys:4: auth method crc takes no key (crc is an unkeyed checksum, not authentication)',
    ]);
  });

  it('parses both haresources examples', () => {
    const text = [
      'hbA IPaddr2::10.77.0.100/24/eth0 hbdummy',
      'node1 10.0.0.5 Filesystem::/dev/drbd0::/data::ext3 apache     # bare IP == IPaddr::IP',
    ].join('\n');
    const { groups, issues } = parseHaResources(text, 'haresources', undefined);
    expect(issues).toEqual([]);
    expect(groups?.map((g) => [g.preferredNode, g.name, g.resources.map((r) => r.agent)])).toEqual([
      ['hba', 'IPaddr2::10.77.0.100/24/eth0', ['IPaddr2', 'hbdummy']],
      ['node1', '10.0.0.5', ['IPaddr', 'Filesystem', 'apache']],
    ]);
  });
});
