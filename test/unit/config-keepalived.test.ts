// keepalived.conf: the lexer (comments, braces, quotes, include), the VRRP
// model and its checks, script security, and `tandem check-config -f` /
// `run -f` as an operator runs them.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { KA_LIMITS, lexKeepalived, tokenizeLine, type KaReader } from '../../src/config/keepalived-lexer.js';
import { formatKaIssue, KEEPALIVED_KEYWORD_TABLES, loadKeepalived, realScriptHost } from '../../src/config/keepalived.js';
import { VRRP_KEYWORD_TABLES } from '../../src/vrrp/config.js';
import { LVS_KEYWORD_TABLES } from '../../src/lvs/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'tandem-ka-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** Files under a fresh directory; returns the directory. */
function files(map: Record<string, string>, modes: Record<string, number> = {}): string {
  const dir = join(work, `d${++n}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(map)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    chmodSync(p, modes[name] ?? 0o644);
  }
  return dir;
}

/** In-memory files for the lexer alone. */
function memReader(map: Record<string, string>): KaReader {
  return {
    read: (p) => (p in map ? { text: map[p]! } : { error: 'no such file or directory (ENOENT)' }),
    glob: (pattern) => {
      const rx = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
      return Object.keys(map).filter((k) => rx.test(k)).sort();
    },
    real: (p) => p,
  };
}

// keepalived -t, and tandem with it, refuses an interface this host does not have: the tests
// that check against the real host use one it has.
const HOST_IF = readdirSync('/sys/class/net').sort().find((n) => n !== 'lo') ?? 'missing-if';
const onHost = (text: string) => text.replaceAll('eth0', HOST_IF);

const VI = (extra = '', name = 'VI_1', vrid = 51, vip = '10.0.0.5/24') =>
  `vrrp_instance ${name} {\n  interface eth0\n  virtual_router_id ${vrid}\n  virtual_ipaddress {\n    ${vip}\n  }\n${extra}}\n`;

function load(text: string, extraFiles: Record<string, string> = {}) {
  const dir = files({ 'keepalived.conf': text, ...extraFiles });
  const file = join(dir, 'keepalived.conf');
  const r = loadKeepalived(file, { host: null });
  const at = (i: { file: string; line: number; message: string; severity: string }) => `${i.file.slice(dir.length + 1)}:${i.line}: ${i.severity}: ${i.message}`;
  return { ...r, dir, shown: r.issues.map(at), errors: r.issues.filter((i) => i.severity === 'error').map(at) };
}

describe('keepalived.conf lexer', () => {
  it('comments start at ! or # anywhere outside quotes; quotes keep blanks and comment characters', () => {
    expect(tokenizeLine('  auth_pass abc#def ! rest').tokens.map((t) => t.text)).toEqual(['auth_pass', 'abc']);
    expect(tokenizeLine('script "/bin/sh -c \'test -e /x\' # not a comment"').tokens.map((t) => t.text))
      .toEqual(['script', "/bin/sh -c 'test -e /x' # not a comment"]);
    expect(tokenizeLine('virtual_ipaddress{10.0.0.5/24}').tokens.map((t) => t.text)).toEqual(['virtual_ipaddress', '{', '10.0.0.5/24', '}']);
    expect(tokenizeLine('script "/bin/true').error).toMatch(/quoted string is not closed/);
  });

  it('a block opens at the end of its line or on the next line, or opens and closes on one line; every node keeps FILE:LINE', () => {
    const r = lexKeepalived('/k.conf', memReader({
      '/k.conf': 'vrrp_instance VI_1\n{\n  virtual_ipaddress { 10.0.0.5/24 dev eth0 }\n  ! comment\n  state BACKUP\n}\n',
    }));
    expect(r.issues).toEqual([]);
    const vi = r.nodes[0]!;
    expect(vi).toMatchObject({ directive: 'vrrp_instance', args: ['VI_1'], line: 1, file: '/k.conf' });
    expect(vi.block!.map((d) => [d.directive, d.line])).toEqual([['virtual_ipaddress', 3], ['state', 5]]);
    expect(vi.block![0]!.block).toEqual([{ directive: '10.0.0.5/24', args: ['dev', 'eth0'], line: 3, file: '/k.conf' }]);
  });

  it('refuses two block levels opened on one line, as keepalived does, and unbalanced braces at their lines', () => {
    const two = lexKeepalived('/k.conf', memReader({ '/k.conf': 'virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 { TCP_CHECK { } }\n}\n' }));
    expect(two.issues.map((i) => `${i.line}: ${i.message}`)).toEqual([expect.stringMatching(/^2: unexpected '\{': a block opened on this line cannot open another/)]);
    const extra = lexKeepalived('/k.conf', memReader({ '/k.conf': 'global_defs {\n}\n}\n' }));
    expect(extra.issues.map((i) => `${i.line}: ${i.message}`)).toEqual(["3: extra '}': no block is open"]);
    const open = lexKeepalived('/k.conf', memReader({ '/k.conf': 'global_defs {\n  router_id a\n' }));
    expect(open.issues.map((i) => `${i.line}: ${i.message}`)).toEqual(["1: '{' of 'global_defs' is never closed (missing '}')"]);
  });

  it('include is textual, relative to the including file, globs in sorted order; a glob matching nothing is fine', () => {
    const r = lexKeepalived('/etc/ka/k.conf', memReader({
      '/etc/ka/k.conf': 'include conf.d/*.conf\ninclude none.d/*.conf\n',
      '/etc/ka/conf.d/20-b.conf': 'vrrp_instance B {\n  include ../common.inc\n}\n',
      '/etc/ka/conf.d/10-a.conf': 'vrrp_instance A {\n}\n',
      '/etc/ka/common.inc': '\n  priority 90\n',
    }));
    expect(r.issues).toEqual([]);
    expect(r.files).toEqual(['/etc/ka/k.conf', '/etc/ka/conf.d/10-a.conf', '/etc/ka/conf.d/20-b.conf', '/etc/ka/common.inc']);
    expect(r.nodes.map((d) => d.args[0])).toEqual(['A', 'B']);
    expect(r.nodes[1]!.block).toEqual([{ directive: 'priority', args: ['90'], line: 2, file: '/etc/ka/common.inc' }]);
  });

  it('refuses a missing include, an include cycle, includes too deep, and a file too large, at the include line', () => {
    const missing = lexKeepalived('/k.conf', memReader({ '/k.conf': '\ninclude /nope.conf\n' }));
    expect(missing.issues.map((i) => `${i.file}:${i.line}: ${i.message}`)).toEqual(['/k.conf:2: include /nope.conf: cannot read: no such file or directory (ENOENT)']);
    const cycle = lexKeepalived('/a.conf', memReader({ '/a.conf': 'include b.conf\n', '/b.conf': '\ninclude a.conf\n' }));
    expect(cycle.issues.map((i) => `${i.file}:${i.line}: ${i.message}`)).toEqual(['/b.conf:2: include cycle: /a.conf -> /b.conf -> /a.conf']);
    const chain: Record<string, string> = {};
    for (let i = 0; i < 20; i++) chain[`/f${i}.conf`] = `include f${i + 1}.conf\n`;
    chain['/f20.conf'] = '';
    const deep = lexKeepalived('/f0.conf', memReader(chain));
    expect(deep.issues.map((i) => i.message)).toEqual([`includes nested deeper than ${KA_LIMITS.includeDepth}`]);
    const big = lexKeepalived('/k.conf', memReader({ '/k.conf': 'include big.conf\n', '/big.conf': '!'.repeat(KA_LIMITS.fileBytes + 1) }));
    expect(big.issues.map((i) => `${i.file}:${i.line}: ${i.message}`)).toEqual([`/big.conf:0: is larger than ${KA_LIMITS.fileBytes} bytes; not read`]);
  });

  it('reads real files: a relative top file, globs and nested relative includes', () => {
    const dir = files({ 'main.conf': 'include d/*.conf\n', 'd/1.conf': 'include ../x.inc\n', 'x.inc': 'global_defs {\n  router_id r1\n}\n' });
    const r = loadKeepalived(join(dir, 'main.conf'), { host: null });
    expect(r.issues).toEqual([]);
    expect(r.config?.routerId).toBe('r1');
    expect(r.config?.files.map((f) => f.slice(dir.length + 1))).toEqual(['main.conf', 'd/1.conf', 'x.inc']);
  });
});

describe('keepalived.conf VRRP model', () => {
  it("applies keepalived's defaults", () => {
    const r = load(VI() + VI('  state MASTER\n', 'VI_2', 52, '10.0.0.6/24'));
    expect(r.shown).toEqual([]);
    const [a, b] = r.config!.vrrp.instances;
    expect(a).toMatchObject({
      name: 'VI_1', line: 1, initialState: 'BACKUP', interface: 'eth0', vrid: 51, priority: 100, addressOwner: false, advertMs: 1000,
      version: 2, family: 4, preempt: true, preemptDelayMs: 0, mcastGroup: '224.0.0.18', accept: true, strict: false,
      garp: { masterDelayMs: 5000, masterRepeat: 5, masterRefreshMs: 0, masterRefreshRepeat: 1 },
      vips: [{ address: '10.0.0.5', prefix: 24, family: 4, dev: 'eth0', line: 5 }],
    });
    // No priority line with state MASTER: keepalived makes it the address owner.
    expect(b).toMatchObject({ initialState: 'MASTER', priority: 255, addressOwner: true });
  });

  it('reads every supported keyword into the typed model', () => {
    const r = load([
      'global_defs {',                                      // 1
      '  router_id lb1',                                    // 2
      '  vrrp_version 3',                                   // 3
      '  vrrp_mcast_group4 224.0.0.78',                     // 4
      '  vrrp_garp_master_repeat 2',                        // 5
      '}',                                                  // 6
      'vrrp_script chk {',                                  // 7
      '  user nobody',                                      // 8
      '  script "/usr/bin/test -e \'/run/x y.pid\'"',       // 9
      '  interval 2',                                       // 10
      '  timeout 1',                                        // 11
      '  weight -20 reverse',                               // 12
      '  fall 3',                                           // 13
      '  rise 2',                                           // 14
      '  init_fail',                                        // 15
      '}',                                                  // 16
      'vrrp_track_file tf {',                               // 17
      '  file /run/ka-prio',                                // 18
      '  weight 5',                                         // 19
      '}',                                                  // 20
      'vrrp_instance V {',                                  // 21
      '  interface eth0',                                   // 22
      '  virtual_router_id 9',                              // 23
      '  priority 150',                                     // 24
      '  advert_int 0.05',                                  // 25
      '  nopreempt',                                        // 26
      '  preempt_delay 2.5',                                // 27
      '  virtual_ipaddress {',                              // 28
      '    10.0.0.5/24 dev eth1 label eth1:v scope link brd 10.0.0.255', // 29
      '  }',                                                // 30
      '  virtual_ipaddress_excluded {',                     // 31
      '    2001:DB8::1/64',                                 // 32
      '  }',                                                // 33
      '  virtual_routes {',                                 // 34
      '    10.9.0.0/16 via 10.0.0.1 dev eth0 metric 5',     // 35
      '  }',                                                // 36
      '  track_interface {',                                // 37
      '    eth1 weight -10',                                // 38
      '    eth2',                                           // 39
      '  }',                                                // 40
      '  track_script {',                                   // 41
      '    chk weight 30',                                  // 42
      '  }',                                                // 43
      '  track_file {',                                     // 44
      '    tf',                                             // 45
      '  }',                                                // 46
      '  notify_master "/usr/local/bin/up arg" root',       // 47
      '  notify /usr/local/bin/notify',                     // 48
      '  garp_master_refresh 60',                           // 49
      '}',                                                  // 50
    ].join('\n'));
    expect(r.shown).toEqual([]);
    const v = r.config!.vrrp;
    expect(r.config!.routerId).toBe('lb1');
    expect(v.scripts).toEqual([{
      name: 'chk', file: expect.any(String), line: 7, intervalMs: 2000, timeoutMs: 1000, weight: -20, reverse: true, fall: 3, rise: 2, initFail: true,
      script: { file: expect.any(String), line: 9, command: "/usr/bin/test -e '/run/x y.pid'", argv: ['/usr/bin/test', '-e', '/run/x y.pid'], user: { name: 'nobody' } },
    }]);
    expect(v.trackFiles).toMatchObject([{ name: 'tf', path: '/run/ka-prio', weight: 5, line: 17 }]);
    expect(v.instances[0]).toMatchObject({
      version: 3, advertMs: 50, priority: 150, preempt: false, preemptDelayMs: 2500, mcastGroup: '224.0.0.78',
      vips: [{ address: '10.0.0.5', prefix: 24, dev: 'eth1', label: 'eth1:v', scope: 'link', brd: '10.0.0.255', line: 29 }],
      excludedVips: [{ address: '2001:db8::1', prefix: 64, family: 6, dev: 'eth0', line: 32 }],
      routes: [{ to: '10.9.0.0/16', via: '10.0.0.1', dev: 'eth0', metric: 5, family: 4, line: 35 }],
      trackInterfaces: [{ name: 'eth1', weight: -10, reverse: false, line: 38 }, { name: 'eth2', reverse: false, line: 39 }],
      trackScripts: [{ name: 'chk', weight: 30, reverse: false, line: 42 }],
      trackFiles: [{ name: 'tf', reverse: false, line: 45 }],
      notify: {
        master: { command: '/usr/local/bin/up arg', argv: ['/usr/local/bin/up', 'arg'], user: { name: 'root' }, line: 47 },
        any: { command: '/usr/local/bin/notify', line: 48 },
      },
      garp: { masterDelayMs: 5000, masterRepeat: 2, masterRefreshMs: 60000, masterRefreshRepeat: 1 },
    });
  });

  it('IPv6 instances are VRRPv3 on ff02::12; unicast instances have no multicast group; PASS keeps 8 bytes', () => {
    const r = load(VI('', 'V6', 60, '2001:db8::10/64') + VI('  unicast_src_ip 10.0.0.1\n  unicast_peer {\n    10.0.0.2\n  }\n  authentication {\n    auth_type PASS\n    auth_pass 01234567\n  }\n', 'U', 61));
    expect(r.shown).toEqual([]);
    const [v6, u] = r.config!.vrrp.instances;
    expect(v6).toMatchObject({ version: 3, family: 6, mcastGroup: 'ff02::12' });
    expect(u).toMatchObject({ unicastSrc: '10.0.0.1', unicastPeers: [{ address: '10.0.0.2', line: 16 }], authPass: '01234567' });
    expect(u!.mcastGroup).toBeUndefined();
  });

  it('auth_pass longer than 8 bytes is an error (keepalived truncates it, and -t fails); auth_pass alone means no authentication', () => {
    expect(load(VI('  authentication {\n    auth_type PASS\n    auth_pass 0123456789\n  }\n')).errors)
      .toEqual(['keepalived.conf:9: error: auth_pass is longer than 8 bytes; VRRPv2 carries 8: shorten it (on every node)']);
    const r = load(VI('  authentication {\n    auth_pass 0123\n  }\n'));
    expect(r.shown).toEqual(['keepalived.conf:7: warning: (VI_1) authentication without auth_type: no authentication is used (as in keepalived)']);
    expect(r.config!.vrrp.instances[0]!.authPass).toBeUndefined();
  });

  it('advert_int out of range is an error at its line (keepalived silently uses 1 s or rounds)', () => {
    for (const [version, value] of [['2', '0.5'], ['2', '256'], ['2', '0'], ['3', '0.005'], ['3', '40.96'], ['3', '0.015'], ['3', 'fast']]) {
      const r = load(VI(`  version ${version}\n  advert_int ${value}\n`));
      expect(r.errors, `v${version} ${value}`).toEqual([expect.stringMatching(/^keepalived\.conf:8: error: .*advert_int/)]);
      expect(r.config).toBeUndefined();
    }
    expect(load(VI('  version 3\n  advert_int 40.95\n')).config?.vrrp.instances[0]?.advertMs).toBe(40950);
    expect(load(VI('  version 3\n  advert_int 0.01\n')).config?.vrrp.instances[0]?.advertMs).toBe(10);
    expect(load(VI('  advert_int 255\n')).config?.vrrp.instances[0]?.advertMs).toBe(255_000);
  });

  it('vrrp_rt_priority 1..99 is the main thread\'s real-time priority; out of range is an error at its line', () => {
    const c = load(`global_defs {\n  vrrp_rt_priority 50\n}\n${VI()}`).config?.vrrp.rtPriority;
    expect(c).toMatchObject({ priority: 50, line: 2 });
    expect(load(VI()).config?.vrrp.rtPriority).toBeUndefined();
    for (const v of ['0', '100', 'high']) {
      const r = load(`global_defs {\n  vrrp_rt_priority ${v}\n}\n${VI()}`);
      expect(r.errors, v).toEqual([expect.stringMatching(/^keepalived\.conf:2: error: .*vrrp_rt_priority|^keepalived\.conf:2: error: .*1 to 99/)]);
    }
  });

  it('vrrp_priority and checker_priority are nice values, -20..19, for the main thread and the checker worker; out of range is an error at its line', () => {
    const c = load(`global_defs {\n  vrrp_priority -5\n  checker_priority 12\n}\n${VI()}`);
    expect(c.shown).toEqual([]);
    expect(c.config?.vrrp.nice).toMatchObject({ nice: -5, line: 2 });
    expect(c.config?.lvs.checkerNice).toMatchObject({ nice: 12, line: 3 });
    expect(load(VI()).config?.vrrp.nice).toBeUndefined();
    expect(load(VI()).config?.lvs.checkerNice).toBeUndefined();
    for (const k of ['vrrp_priority', 'checker_priority']) {
      for (const v of ['-21', '20', 'low']) {
        const r = load(`global_defs {\n  ${k} ${v}\n}\n${VI()}`);
        expect(r.errors, `${k} ${v}`).toEqual([expect.stringMatching(new RegExp(`^keepalived\\.conf:2: error: .*(${k}|-20 to 19)`))]);
      }
    }
  });

  it('reports every problem in one run, each at its line', () => {
    const r = load([
      'global_defs {',                         // 1
      '  vrrp_strict',                         // 2
      '}',                                     // 3
      'vrrp_sync_group G {',                   // 4
      '  group {',                             // 5
      '    A',                                 // 6
      '    NOPE',                              // 7
      '  }',                                   // 8
      '}',                                     // 9
      'vrrp_sync_group H {',                   // 10
      '  group {',                             // 11
      '    A',                                 // 12
      '    B',                                 // 13
      '  }',                                   // 14
      '}',                                     // 15
      'vrrp_instance A {',                     // 16
      '  interface eth0',                      // 17
      '  virtual_router_id 256',               // 18
      '  priority 0',                          // 19
      '  virtual_ipaddress {',                 // 20
      '    10.0.0.5/24',                       // 21
      '    2001:db8::5',                       // 22
      '  }',                                   // 23
      '  track_script {',                      // 24
      '    missing',                           // 25
      '  }',                                   // 26
      '}',                                     // 27
      'vrrp_instance B {',                     // 28
      '  interface eth0',                      // 29
      '  virtual_router_id 7',                 // 30
      '  preempt_delay 10',                    // 31
      '  authentication {',                    // 32
      '    auth_type AH',                      // 33
      '    auth_pass x',                       // 34
      '  }',                                   // 35
      '  virtual_ipaddress {',                 // 36
      '    10.0.0.6/24',                       // 37
      '  }',                                   // 38
      '  unicast_peer {',                      // 39
      '    2001:db8::9',                       // 40
      '  }',                                   // 41
      '  use_vmac',                            // 42
      '  bogus_keyword 1',                     // 43
      '}',                                     // 44
      'vrrp_instance C {',                     // 45
      '  interface eth0',                      // 46
      '  virtual_router_id 7',                 // 47
      '  virtual_ipaddress {',                 // 48
      '    10.0.0.7/24',                       // 49
      '  }',                                   // 50
      '}',                                     // 51
      'vrrp_instance D {',                     // 52
      '  interface eth0',                      // 53
      '  virtual_router_id 7',                 // 54
      '  version 2',                           // 55
      '  virtual_ipaddress {',                 // 56
      '    2001:db8::7/64',                    // 57
      '  }',                                   // 58
      '}',                                     // 59
    ].join('\n'));
    const lines = r.shown.map((s) => s.replace(/^keepalived\.conf:/, '').replace(/: (error|warning): .*$/, ' $1'));
    expect(lines).toEqual([
      '7 error',      // NOPE not defined
      '12 error',     // A in two groups
      '16 error',     // A: no virtual_router_id (256 refused)
      '18 error',     // 256
      '19 error',     // priority 0
      '22 error',     // mixed family
      '25 error',     // track_script missing
      '31 error',     // preempt_delay under vrrp_strict
      '33 error',     // AH
      '40 error',     // unicast peer family
      '42 warning',   // use_vmac: known, not implemented
      '43 error',     // unknown keyword
      '55 error',     // v2 with IPv6
    ]);
    expect(r.shown.find((s) => s.startsWith('keepalived.conf:43:'))).toBe("keepalived.conf:43: error: unknown keyword 'bogus_keyword' in vrrp_instance");
    expect(r.shown.find((s) => s.startsWith('keepalived.conf:42:'))).toBe("keepalived.conf:42: warning: 'use_vmac' is not implemented by tandem; ignored");
  });

  it('the same VRID on one interface is fine for the other family and on another interface', () => {
    const r = load(VI() + VI('', 'B', 51, '2001:db8::5/64') + VI('  interface eth1\n', 'C', 51, '10.0.1.5/24').replace('  interface eth0\n', ''));
    expect(r.errors).toEqual([]);
  });

  it('a keyword keepalived knows and tandem does not implement is a warning at its line, in every block', () => {
    const r = load('global_defs {\n  notification_email {\n    a@b\n  }\n  enable_snmp_vrrp\n}\n' + VI('  smtp_alert\n') + 'static_routes {\n  10.0.0.0/8 via 10.0.0.1\n}\nvirtual_server 10.0.0.5 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  hashed\n  real_server 10.0.0.6 80 {\n    smtp_alert\n  }\n}\n');
    expect(r.errors).toEqual([]);
    expect(r.shown.map((s) => s.replace(/: warning: .*/, ''))).toEqual(['keepalived.conf:2', 'keepalived.conf:5', 'keepalived.conf:13', 'keepalived.conf:15', 'keepalived.conf:22', 'keepalived.conf:24']);
    expect(r.config!.lvs.services.map((v) => [v.name, v.line, v.realServers.length])).toEqual([['10.0.0.5:80 TCP', 18, 1]]);
  });

  it('refuses, as keepalived -t does: nopreempt with priority 255, a route without dev, VRRP on lo', () => {
    const r = load(VI('  state MASTER\n  nopreempt\n') + VI('  virtual_routes {\n    default via 10.0.0.1\n    10.8.0.0/16 via 10.0.0.1 no_track\n  }\n', 'B', 52).replace('interface eth0', 'interface lo'));
    expect(r.errors.map((e) => e.replace(/: error: .*/, ''))).toEqual(['keepalived.conf:1', 'keepalived.conf:11', 'keepalived.conf:17']);
    expect(r.errors[0]).toMatch(/nopreempt cannot go with priority 255/);
    expect(r.errors[1]).toMatch(/loopback/);
    expect(r.errors[2]).toMatch(/virtual route default: no 'dev IF'/);
  });

  it('a blackhole/unreachable/prohibit route needs no dev (the kernel takes none; keepalived -t accepts it untracked)', () => {
    const r = load(VI('  virtual_routes {\n    blackhole 10.2.0.0/16\n    unreachable 10.3.0.0/16 table 300\n    prohibit default\n    10.4.0.0/16 via 10.0.0.1\n  }\n'));
    expect(r.errors).toEqual([`keepalived.conf:11: error: virtual route 10.4.0.0/16: no 'dev IF' to track it by; add dev, or no_track`]);
    const ok = load(VI('  virtual_routes {\n    blackhole 10.2.0.0/16\n    unreachable 10.3.0.0/16 table 300\n    prohibit default\n  }\n'));
    expect(ok.errors).toEqual([]);
    expect(ok.config!.vrrp.instances[0]!.routes.map((x) => [x.type, x.to, x.table, x.line])).toEqual([
      ['blackhole', '10.2.0.0/16', undefined, 8], ['unreachable', '10.3.0.0/16', 300, 9], ['prohibit', 'default', undefined, 10],
    ]);
  });

  it('a route scope the kernel has no number for is a warning at its line (run logs it and adds the others)', () => {
    const r = load(VI('  virtual_routes {\n    10.2.0.0/16 dev eth0 scope planet\n    10.3.0.0/16 dev eth0 scope 200\n    10.4.0.0/16 dev eth0 scope host\n  }\n'));
    expect(r.errors).toEqual([]);
    expect(r.shown).toEqual([`keepalived.conf:8: warning: virtual route: scope 'planet' is not global, site, link, host, nowhere or 0 to 255; tandem run will not add this route`]);
  });

  it('virtual address options as keepalived reads them: brd + derives the broadcast, IPv6 takes no scope, peer is reported', () => {
    const r = load(VI('  virtual_ipaddress_excluded {\n    10.0.0.16/24 brd +\n    10.0.0.17/32 brd -\n    10.0.0.18 peer 10.0.0.19\n    2001:db8::1/64 scope link\n  }\n'));
    expect(r.shown).toEqual([
      "keepalived.conf:10: warning: virtual address 10.0.0.18: 'peer' is not implemented by tandem; ignored",
      'keepalived.conf:11: error: virtual address 2001:db8::1: an IPv6 address takes no scope but global (it follows from the address)',
    ]);
    const ok = load(VI('  virtual_ipaddress_excluded {\n    10.0.0.16/24 brd +\n    10.0.0.17/32 brd -\n    2001:db8::2/64 scope global\n  }\n'));
    expect(ok.config!.vrrp.instances[0]!.excludedVips.map((v) => v.brd)).toEqual(['10.0.0.255', undefined, undefined]);
  });

  it('refuses more addresses than one advert carries (keepalived -t too), at the first one too many', () => {
    const v4 = Array.from({ length: 256 }, (_, k) => `10.1.${k >> 8}.${k & 255}/32`).join('\n    ');
    expect(load(VI('', 'A', 1, v4)).errors).toEqual([expect.stringMatching(/^keepalived\.conf:260: error: \(A\) virtual_ipaddress lists 256 addresses; one advert carries at most 255 IPv4/)]);
    expect(load(VI('', 'A', 1, v4.split('\n').slice(1).join('\n'))).errors).toEqual([]);
    const v6 = Array.from({ length: 90 }, (_, k) => `2001:db8::${(k + 1).toString(16)}/128`).join('\n    ');
    expect(load(VI('', 'B', 1, v6)).errors).toEqual([expect.stringMatching(/^keepalived\.conf:94: error: \(B\) .* at most 89 IPv6/)]);
  });

  it('every interface an instance names must exist on the host, as keepalived -t requires', () => {
    const dir = files({ 'k.conf': VI('  track_interface {\n    eth9\n  }\n  virtual_routes {\n    10.8.0.0/16 via 10.0.0.1 dev eth8\n  }\n') });
    const host = { ...realScriptHost, interfaces: () => new Set(['eth0']) };
    const r = loadKeepalived(join(dir, 'k.conf'), { host });
    expect(r.issues.map((i) => `${i.line}: ${i.message}`)).toEqual([
      '8: (VI_1) track_interface: interface eth9 does not exist on this host (keepalived -t refuses it too)',
      '11: (VI_1) dev of route 10.8.0.0/16: interface eth8 does not exist on this host (keepalived -t refuses it too)',
    ]);
  });

  it('a track_file other users could write, or create while it is missing, is warned about at its line (keepalived accepts it)', () => {
    const host = { ...realScriptHost, interfaces: () => new Set(['eth0']) };
    const dir = files({ 'safe': '0\n', 'loose': '0\n' }, { 'loose': 0o666 });
    const missing = `/tmp/tandem-track-${process.pid}-missing`;
    const conf = (path: string) => `vrrp_track_file tf {\n  file ${path}\n}\n` + VI('  track_file {\n    tf\n  }\n');
    const shown = (path: string) => {
      writeFileSync(join(dir, 'k.conf'), conf(path));
      const r = loadKeepalived(join(dir, 'k.conf'), { host });
      return r.issues.map((i) => `${i.line}: ${i.severity}: ${i.message}`);
    };
    expect(shown(join(dir, 'safe'))).toEqual([]);
    expect(shown(join(dir, 'loose'))).toEqual([expect.stringMatching(/^1: warning: vrrp_track_file tf: .*loose must not be writable by group or others \(mode 0666\).*: any local user who can do so sets the priority/)]);
    expect(shown(missing)).toEqual([`1: warning: vrrp_track_file tf: ${missing} does not exist, and directory /tmp (mode 1777) lets other users create it: any local user who can do so sets the priority of the instances that track it`]);
  });

  it('messages never carry raw control characters', () => {
    const r = load('vrrp_instance "A\u001b[2J" {\n  bo\u0007gus\n}\n');
    for (const s of r.shown) expect(s).not.toMatch(/[\u0000-\u001f]/);
    expect(r.shown.join('\n')).toContain('\\x1b[2J');
  });
});

describe('keepalived.conf script security (enable_script_security)', () => {
  const SAFE = '#!/bin/sh\nexit 0\n';
  const conf = (script: string, global = '  enable_script_security\n  script_user root\n') =>
    `global_defs {\n${global}}\nvrrp_script chk {\n  script "${script} --flag"\n}\n` + VI(`  track_script {\n    chk\n  }\n  notify_backup ${script}\n`);

  function check(text: string, dir: string) {
    writeFileSync(join(dir, 'keepalived.conf'), onHost(text));
    const r = loadKeepalived(join(dir, 'keepalived.conf'));
    return { ...r, shown: r.issues.map((i) => `${i.line}: ${i.severity}: ${i.message}`) };
  }

  it('accepts a root-owned script in root-owned directories and records whom it runs as', () => {
    const dir = files({ 'bin/chk.sh': SAFE }, { 'bin/chk.sh': 0o755 });
    chmodSync(join(dir, 'bin'), 0o755);
    const r = check(conf(join(dir, 'bin/chk.sh')), dir);
    expect(r.shown).toEqual([]);
    expect(r.config!.vrrp.scripts[0]!.script).toMatchObject({ path: join(dir, 'bin/chk.sh'), user: { name: 'root' }, uid: 0, gid: 0 });
  });

  it('script_user is honoured, and a per-script user wins over it', () => {
    const dir = files({ 'bin/chk.sh': SAFE }, { 'bin/chk.sh': 0o755 });
    chmodSync(join(dir, 'bin'), 0o755);
    const text = conf(join(dir, 'bin/chk.sh'), '  enable_script_security\n  script_user nobody\n').replace('  notify_backup', '  notify_backup');
    const r = check(text.replace(`notify_backup ${join(dir, 'bin/chk.sh')}`, `notify_backup "${join(dir, 'bin/chk.sh')}" root`), dir);
    expect(r.shown).toEqual([]);
    expect(r.config!.vrrp.scripts[0]!.script).toMatchObject({ user: { name: 'nobody' }, uid: 65534 });
    expect(r.config!.vrrp.instances[0]!.notify.backup).toMatchObject({ user: { name: 'root' }, uid: 0 });
  });

  it('refuses a script in a directory others can write, and a script group or others can write, at each line', () => {
    const dir = files({ 'open/chk.sh': SAFE, 'bin/loose.sh': SAFE }, { 'open/chk.sh': 0o755, 'bin/loose.sh': 0o775 });
    chmodSync(join(dir, 'open'), 0o777);
    chmodSync(join(dir, 'bin'), 0o755);
    const r = check(conf(join(dir, 'open/chk.sh')).replace(/notify_backup .*/, `notify_backup ${join(dir, 'bin/loose.sh')}`), dir);
    expect(r.shown).toEqual([
      `6: error: vrrp_script chk: unsafe script (enable_script_security): directory ${join(dir, 'open')} is writable by others (mode 0777), who can replace ${join(dir, 'open/chk.sh')}; run chmod go-w ${join(dir, 'open')}`,
      `17: error: vrrp_instance VI_1 notify_backup: unsafe script (enable_script_security): ${join(dir, 'bin/loose.sh')} must not be writable by group or others (mode 0775): it runs as root; run chmod go-w ${join(dir, 'bin/loose.sh')}`,
    ]);
    expect(r.config).toBeUndefined();
  });

  it('refuses scripts without enable_script_security (keepalived -t exits 6), an unknown user, and a missing program', () => {
    const dir = files({});
    expect(check(conf('/bin/true', ''), dir).shown).toEqual([
      expect.stringMatching(/^4: error: vrrp_script chk runs a script, but global_defs has no enable_script_security/),
    ]);
    expect(check(conf('/bin/true', '  enable_script_security\n  script_user no-such-user-x\n'), dir).shown).toEqual([
      "6: error: vrrp_script chk: cannot run as script_user: user 'no-such-user-x' does not exist on this host",
      "17: error: vrrp_instance VI_1 notify_backup: cannot run as script_user: user 'no-such-user-x' does not exist on this host",
    ]);
    expect(check(conf('/nonexistent/chk'), dir).shown).toEqual([
      "6: error: vrrp_script chk: cannot run '/nonexistent/chk': /nonexistent/chk does not exist",
      "17: error: vrrp_instance VI_1 notify_backup: cannot run '/nonexistent/chk': /nonexistent/chk does not exist",
    ]);
    // A vrrp_script nothing tracks never runs: keepalived -t does not count it, nor does tandem.
    expect(check('vrrp_script idle {\n  script /nonexistent/x\n}\n' + VI(), dir).shown).toEqual([]);
    // A bare name is looked up in PATH, as keepalived does.
    expect(check(conf('true'), dir).config!.vrrp.scripts[0]!.script!.path).toMatch(/\/true$/);
  });
});

describe('keepalived.conf file modes', () => {
  it('a file others can write, included or not, is refused: it decides what runs as root', () => {
    const dir = files({ 'k.conf': onHost(VI()) + 'include conf.d/*.conf\n', 'conf.d/x.conf': '' }, { 'conf.d/x.conf': 0o666 });
    chmodSync(join(dir, 'conf.d'), 0o755);
    const r = loadKeepalived(join(dir, 'k.conf'));
    expect(r.issues.map((i) => `${i.file.slice(dir.length + 1)}:${i.line}: ${i.message}`)).toEqual([
      `conf.d/x.conf:0: must not be writable by group or others (mode 0666): it decides what runs as root; run chmod go-w ${join(dir, 'conf.d/x.conf')}`,
    ]);
    chmodSync(join(dir, 'conf.d/x.conf'), 0o644);
    expect(loadKeepalived(join(dir, 'k.conf')).issues).toEqual([]);
  });
});

describe('tandem check-config -f / run -f', () => {
  const TANDEM = join(ROOT, 'bin/tandem');
  const tandem = (args: string[], cwd = work) => {
    const r = spawnSync(process.execPath, [TANDEM, ...args], { cwd, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('prints FILE:LINE: message for every problem and exits non-zero; warnings alone pass', () => {
    const dir = files({ 'k.conf': onHost(VI('  priority 300\n  use_vmac\n  bogus\n')) });
    const r = tandem(['check-config', '-f', join(dir, 'k.conf')]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `${join(dir, 'k.conf')}:7: 'priority' must be a whole number from 1 to 255 (got '300')`,
      `${join(dir, 'k.conf')}:8: warning: 'use_vmac' is not implemented by tandem; ignored`,
      `${join(dir, 'k.conf')}:9: unknown keyword 'bogus' in vrrp_instance`,
    ]);
    const ok = tandem(['check-config', '-f', 'k2.conf'], files({ 'k2.conf': onHost(VI('  use_vmac\n')) }));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('k2.conf: configuration is valid (1 warning above)\n');
    expect(ok.stderr).toBe("k2.conf:7: warning: 'use_vmac' is not implemented by tandem; ignored\n");
  });

  it('with -c DIR and -f FILE checks both, and refuses an address claimed by a haresources group and a vrrp_instance at both lines', () => {
    const dir = files({
      'ha.d/ha.cf': 'keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha beta\n',
      'ha.d/authkeys': 'auth 1\n1 sha256 k\n',
      'ha.d/haresources': '\nalpha IPaddr2::10.0.0.5/24/eth0\n',
      'k.conf': onHost(VI('', 'VI_1', 51, '10.0.0.5/24')),
    }, { 'ha.d/authkeys': 0o600 });
    const r = tandem(['check-config', '-c', join(dir, 'ha.d'), '-f', join(dir, 'k.conf')]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean).sort()).toEqual([
      `${join(dir, 'ha.d/haresources')}:2: 10.0.0.5 of group IPaddr2::10.0.0.5/24/eth0 is also a virtual address of vrrp_instance VI_1 (${join(dir, 'k.conf')}:5); an address has one owner`,
      `${join(dir, 'k.conf')}:5: 10.0.0.5 of vrrp_instance VI_1 is also managed by haresources group IPaddr2::10.0.0.5/24/eth0 (${join(dir, 'ha.d/haresources')}:2); an address has one owner`,
    ].sort());
    writeFileSync(join(dir, 'k.conf'), onHost(VI('', 'VI_1', 51, '10.0.0.6/24')));
    const ok = tandem(['check-config', '-c', join(dir, 'ha.d'), '-f', join(dir, 'k.conf')]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('run -c DIR -f FILE says at their lines that vrrp_rt_priority and vrrp_priority give way to ha.cf\'s realtime', () => {
    const dir = files({
      'ha.d/ha.cf': 'keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha beta\n',
      'ha.d/authkeys': 'auth 1\n1 sha256 k\n',
      'ha.d/haresources': '\nalpha IPaddr2::10.0.0.5/24/eth0\n',
      'k.conf': onHost(`global_defs {\n  vrrp_rt_priority 20\n  vrrp_priority -5\n}\n${VI('', 'VI_1', 51, '10.0.0.6/24')}`),
    }, { 'ha.d/authkeys': 0o600 });
    // A node ha.cf does not name: refused at start, after the file has been read, so nothing runs.
    const r = tandem(['run', '-c', join(dir, 'ha.d'), '-f', join(dir, 'k.conf'), '--node', 'gamma', '--state-dir', join(dir, 's'), '--run-dir', join(dir, 'r')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'k.conf')}:2: warning: 'vrrp_rt_priority' is ignored with a Heartbeat directory (-c)`);
    expect(r.stderr).toContain(`${join(dir, 'k.conf')}:3: warning: 'vrrp_priority' is ignored with a Heartbeat directory (-c)`);
  });

  it('run -f reads the file through the same parser and refuses a bad one at its lines', () => {
    const bad = files({ 'k.conf': onHost(VI('  state PRIMARY\n')) });
    const r1 = tandem(['run', '-f', join(bad, 'k.conf'), '--state-dir', join(bad, 's'), '--run-dir', join(bad, 'r')]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain(`${join(bad, 'k.conf')}:7: state must be MASTER or BACKUP (got 'PRIMARY')`);
    expect(r1.stderr).toContain('is not valid; nothing started');
    // virtual_routes and vrrp_strict run (test/netns/vrrp-routes.test.ts, vrrp-noaccept.test.ts): nothing check-config accepts is refused by run.
  });
});

describe('keepalived keyword tables', () => {
  it('no table names a keyword twice (a later entry would silently replace the earlier one)', () => {
    for (const [block, table] of Object.entries({ ...VRRP_KEYWORD_TABLES, ...KEEPALIVED_KEYWORD_TABLES, ...LVS_KEYWORD_TABLES })) {
      const names = table.flatMap((k) => [k.name, ...(k.aliases ?? [])]);
      expect(names.filter((x, i) => names.indexOf(x) !== i), block).toEqual([]);
    }
  });
});

describe('formatKaIssue', () => {
  it('FILE:LINE: message, warnings marked, whole-file problems without a line', () => {
    expect(formatKaIssue({ file: 'k', line: 3, message: 'm', severity: 'error' })).toBe('k:3: m');
    expect(formatKaIssue({ file: 'k', line: 3, message: 'm', severity: 'warning' })).toBe('k:3: warning: m');
    expect(formatKaIssue({ file: 'k', line: 0, message: 'm', severity: 'error' })).toBe('k: m');
  });
});
