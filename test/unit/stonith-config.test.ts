// stonith_host and the fencing directives: every accepted form and every
// error, as the operator sees it (FILE:LINE: message).

import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatIssue } from '../../src/config/load.js';
import {
  DEFAULT_AGENT_TIMEOUT_MS, DEFAULT_IPMI_TIMEOUT_MS, FENCE_DELAY_MARGIN_MS, FENCING_DIRECTIVES, SYSTEM_EXTERNAL_DIR,
  deviceLabel, parseFencing, parseStonithHost, type FencingLine,
} from '../../src/config/stonith.js';

const F = '/etc/tandem/ha.cf';
const NODES = ['alpha', 'beta'];
// Made at load time: the it.each tables below are built from these paths.
const dir = mkdtempSync(join(tmpdir(), 'tdf-cfg-'));
const pass = join(dir, 'beta.pass');        // 0600
const loose = join(dir, 'loose.pass');      // 0644
const plugins = join(dir, 'plugins');

beforeAll(() => {
  writeFileSync(pass, 'secret\n', { mode: 0o600 });
  writeFileSync(loose, 'secret\n');
  chmodSync(loose, 0o644);
  writeFileSync(join(dir, 'empty.pass'), '', { mode: 0o600 });
  mkdirSync(plugins);
  writeFileSync(join(plugins, 'fence_tdfok'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(plugins, 'tdfplug'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(plugins, 'noexec'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  writeFileSync(join(dir, 'pwscript'), '#!/bin/sh\necho secret\n', { mode: 0o700 });
  writeFileSync(join(dir, 'pwscript-open'), '#!/bin/sh\necho secret\n', { mode: 0o777 });
  chmodSync(join(dir, 'pwscript-open'), 0o777);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (s: string, n = 7): ReturnType<typeof parseStonithHost> =>
  parseStonithHost(s.split(/\s+/).slice(1), F, n, NODES, { pluginDir: plugins });
const errs = (s: string, n = 7): string[] => {
  const r = line(s, n);
  if (r.issues.length > 0) expect(r.device).toBeUndefined();
  return r.issues.map(formatIssue);
};
const ipmiLine = (extra = ''): string => `stonith_host * ipmi target=beta host=10.0.0.12 user=admin passfile=${pass} ${extra}`.trim();

describe('stonith_host ipmi', () => {
  it('parses a full line with defaults', () => {
    const r = line(ipmiLine());
    expect(r.issues).toEqual([]);
    expect(r.device).toEqual({
      type: 'ipmi', from: '*', target: 'beta', file: F, line: 7, host: '10.0.0.12', port: 623, user: 'admin', passfile: pass,
      interface: 'lanplus', cipher: 3, privlvl: 'ADMINISTRATOR', ipmitoolTimeoutS: 1, retries: 1, powerWaitMs: 0,
      timeoutMs: DEFAULT_IPMI_TIMEOUT_MS,
    });
    expect(deviceLabel(r.device!)).toBe('ipmi beta via 10.0.0.12:623 (ha.cf:7)');
  });

  it('takes every option, node names case-insensitively', () => {
    const r = line(`stonith_host ALPHA ipmi target=Beta host=bmc-b.example port=6230 user=root passfile=${pass} ` +
      'interface=lan cipher=17 privlvl=operator timeout=12 ipmitool_timeout=2 retries=2 power_wait=500ms');
    expect(r.issues).toEqual([]);
    expect(r.device).toMatchObject({
      from: 'alpha', target: 'beta', host: 'bmc-b.example', port: 6230, interface: 'lan', cipher: 17, privlvl: 'OPERATOR',
      timeoutMs: 12_000, ipmitoolTimeoutS: 2, retries: 2, powerWaitMs: 500,
    });
  });

  it.each([
    ['stonith_host * ipmi', "needs|takes a node (or *), a device type and key=value"],
    [ipmiLine().replace('target=beta ', ''), 'missing target=<node>'],
    [ipmiLine().replace('target=beta', 'target=gamma'), "target 'gamma' is not a node of this pair (alpha, beta)"],
    [ipmiLine().replace('*', 'beta'), "node 'beta' cannot fence itself"],
    [ipmiLine().replace('*', 'gamma'), "node 'gamma' is not a node of this pair"],
    [ipmiLine().replace('host=10.0.0.12 ', ''), 'missing host=<BMC address>'],
    [ipmiLine().replace('10.0.0.12', '10.0.0.256'), "host '10.0.0.256' is not an IPv4 address or host name"],
    [ipmiLine().replace('user=admin ', ''), 'missing user=<BMC user name>'],
    [ipmiLine().replace(`passfile=${pass}`, ''), 'missing passfile=<file with the BMC password>'],
    [ipmiLine().replace(`passfile=${pass}`, 'passfile=beta.pass'), "passfile 'beta.pass' must be an absolute path"],
    [ipmiLine().replace(pass, loose), `passfile: ${loose} must be readable by root only (mode 0644); run chmod 600 ${loose}`],
    [ipmiLine().replace(pass, join(dir, 'missing')), `passfile: cannot use ${join(dir, 'missing')}: no such file`],
    [ipmiLine().replace(pass, join(dir, 'empty.pass')), `passfile: ${join(dir, 'empty.pass')} is empty`],
    [ipmiLine().replace(pass, dir), `passfile: ${dir} is not a regular file`],
    [ipmiLine('port=0'), "port '0' must be a whole number from 1 to 65535"],
    [ipmiLine('cipher=18'), "cipher '18' must be a whole number from 0 to 17"],
    [ipmiLine('interface=open'), "interface 'open' must be lanplus (IPMI 2.0) or lan (IPMI 1.5)"],
    [ipmiLine('privlvl=god'), "privlvl 'god' must be one of CALLBACK, USER, OPERATOR, ADMINISTRATOR"],
    [ipmiLine('retries=0'), "retries '0' must be a whole number from 1 to 10 (0 is refused: ipmitool treats -R 0 as its default"],
    [ipmiLine('timeout=2s'), "timeout: invalid time '2s'"],
    [ipmiLine('timeout=50ms'), 'timeout=50ms must be from 100ms to 600s'],
    [ipmiLine('timeout=3'), 'timeout 3s is too short for ipmitool_timeout=1 retries=1: one unanswered call takes about 2s and a fence needs two'],
    [ipmiLine('password=x'), "unknown ipmi parameter 'password'"],
    [ipmiLine('bogus=1'), "unknown ipmi parameter 'bogus'"],
    [ipmiLine('user=root'), "parameter 'user' is given more than once"],
    [ipmiLine('10.0.0.12'), "parameter '10.0.0.12' is not key=value (Heartbeat's positional form is not accepted"],
    [ipmiLine('=x'), "parameter '=x' is not key=value"],
    [ipmiLine('9x=1'), "parameter name '9x' may only contain"],
    [ipmiLine('host2=a%zz'), "parameter 'host2': '%' must start an escape of two hex digits"],
    [ipmiLine(`user2=@${pass}`), "ipmi parameter 'user2' cannot come from a file"],
    [ipmiLine('user2=a%0Aaction=on'), "parameter 'user2' must not contain control characters"],
    [ipmiLine('PATH=/tmp'), "parameter name 'PATH' is reserved"],
    [ipmiLine('LD_PRELOAD=/x.so'), "parameter name 'LD_PRELOAD' is reserved"],
  ])('%s -> %s', (text, message) => {
    const out = errs(text);
    expect(out.length).toBeGreaterThan(0);
    const re = new RegExp(message.split('|').map((m) => m.replace(/[.*+?^${}()[\]\\]/g, '\\$&')).join('|'));
    expect(out.some((e) => e.startsWith(`${F}:7: `) && re.test(e)), out.join('\n')).toBe(true);
  });

  it('reports several problems of one line together', () => {
    const out = errs('stonith_host * ipmi target=beta port=x cipher=99', 12);
    expect(out).toEqual([
      `${F}:12: missing host=<BMC address>`,
      `${F}:12: port 'x' must be a whole number from 1 to 65535`,
      `${F}:12: missing user=<BMC user name>`,
      `${F}:12: missing passfile=<file with the BMC password> (ipmitool reads it with -f; passwords are never written in ha.cf)`,
      `${F}:12: cipher '99' must be a whole number from 0 to 17`,
    ]);
  });

  it('skips file checks when asked (check-config on another host)', () => {
    const r = parseStonithHost(ipmiLine().replace(pass, '/nonexistent/pass').split(' ').slice(1), F, 3, NODES, { checkFiles: false });
    expect(r.issues).toEqual([]);
  });

  it('refuses a secret file owned by someone else', () => {
    const r = parseStonithHost(ipmiLine().split(' ').slice(1), F, 3, NODES, { secretOwners: [4242] });
    expect(r.issues.map(formatIssue)).toEqual([`${F}:3: passfile: ${pass} must be owned by root (owner uid is 0); run chown root: ${pass}`]);
  });
});

describe('stonith_host fence_<agent>', () => {
  it('keeps agent parameters in order, percent-decoded, with files as references', () => {
    const r = line(`stonith_host alpha fence_tdfok target=beta ip=10.0.0.12 lanplus=1 username=admin passfile=${pass} ` +
      `login=a%20b%2Cc%25 community=@${pass} timeout=8`);
    expect(r.issues).toEqual([]);
    expect(r.device).toEqual({
      type: 'fence', from: 'alpha', target: 'beta', file: F, line: 7, agent: 'fence_tdfok', dirs: [plugins, '/usr/sbin', '/usr/bin'],
      timeoutMs: 8000, passfile: pass,
      params: [['ip', { text: '10.0.0.12' }], ['lanplus', { text: '1' }], ['username', { text: 'admin' }], ['login', { text: 'a b,c%' }], ['community', { file: pass }]],
    });
  });

  it.each([
    ['stonith_host * fence_tdfok target=beta password=hunter2', 'password= must not hold a secret in ha.cf'],
    ['stonith_host * fence_tdfok target=beta passwd=hunter2', 'passwd= must not hold a secret in ha.cf'],
    ['stonith_host * fence_tdfok target=beta snmp_priv_passwd=x', 'snmp_priv_passwd= must not hold a secret'],
    [`stonith_host * fence_tdfok target=beta passfile=${pass} password=@${pass}`, 'give the password once: passfile= and password= are both set'],
    ['stonith_host * fence_tdfok target=beta action=off', "parameter 'action' is set by tandem"],
    ['stonith_host * fence_tdfok target=beta nodename=beta', "parameter 'nodename' is set by tandem"],
    ['stonith_host * fence_tdfok target=beta passfile=rel', 'passfile must be an absolute path'],
    [`stonith_host * fence_tdfok target=beta password=@${loose}`, `password: ${loose} must be readable by root only (mode 0644)`],
    ['stonith_host * fence_tdfok target=beta password=@rel/x', "parameter 'password': '@rel/x' must name an absolute path"],
    [`stonith_host * fence_tdfok target=beta password_script=${dir}/pwscript-open`, `password_script: ${dir}/pwscript-open must not be writable by group or others`],
    ['stonith_host * fence_tdfnope target=beta', `fence agent 'fence_tdfnope' not found: no executable in ${'PLUGINS'}, /usr/sbin, /usr/bin (Debian: apt-get install fence-agents)`],
    ['stonith_host * fence_tdf/../x target=beta', "fence agent name 'fence_tdf/../x' is not a plain file name"],
    ['stonith_host * fence_tdfok target=beta timeout=x', "timeout: invalid time 'x'"],
  ])('%s -> %s', (text, message) => {
    const out = errs(text);
    const m = message.replace('PLUGINS', plugins);
    expect(out.some((e) => e.startsWith(`${F}:7: `) && e.includes(m)), out.join('\n')).toBe(true);
  });

  it('accepts a root-only password_script', () => {
    expect(errs(`stonith_host * fence_tdfok target=beta password_script=${dir}/pwscript`)).toEqual([]);
  });
});

describe('stonith_host external/<plugin>', () => {
  it('looks in the plugin dir, then cluster-glue\'s', () => {
    const r = line('stonith_host * external/tdfplug target=beta hostname=beta ipaddr=10.0.0.12 interface=lanplus%20-C%203');
    expect(r.issues).toEqual([]);
    expect(r.device).toMatchObject({
      type: 'external', plugin: 'tdfplug', dirs: [plugins, SYSTEM_EXTERNAL_DIR], timeoutMs: DEFAULT_AGENT_TIMEOUT_MS,
      params: [['hostname', { text: 'beta' }], ['ipaddr', { text: '10.0.0.12' }], ['interface', { text: 'lanplus -C 3' }]],
    });
  });

  it('accepts a password given as the path of a root-only file (external/ipmi passwd_method=file)', () => {
    const r = parseStonithHost(['*', 'external/ipmi', 'target=beta', 'hostname=beta', 'ipaddr=10.0.0.12', 'userid=admin',
      'passwd_method=file', `passwd=${pass}`], F, 4, NODES);
    expect(r.issues).toEqual([]);
  });

  it.each([
    ['stonith_host * external/tdfplug target=beta passwd=hunter2', 'passwd= must not hold a secret in ha.cf'],
    [`stonith_host * external/tdfplug target=beta passwd=${loose}`, `passwd: ${loose} must be readable by root only`],
    ['stonith_host * external/tdfnope target=beta', `external plugin 'tdfnope' not found: no executable in PLUGINS, ${SYSTEM_EXTERNAL_DIR}`],
    ['stonith_host * external/noexec target=beta', `PLUGINS/noexec is not executable`],
    ['stonith_host * external/ target=beta', "external plugin name '' is not a plain file name"],
    ['stonith_host * ssh target=beta', "cluster-glue plugin 'ssh' is a compiled plugin tandem cannot load; use ipmi, a fence_* agent or an external/* plugin (external/ssh)"],
    ['stonith_host * ipmilan target=beta', '(ipmi or fence_ipmilan replace it)'],
    ['stonith_host * apc target=beta', "unknown stonith device type 'apc': use ipmi, fence_<agent> (fence-agents) or external/<plugin> (cluster-glue)"],
  ])('%s -> %s', (text, message) => {
    const out = errs(text);
    const m = message.replace('PLUGINS', plugins);
    expect(out.some((e) => e.startsWith(`${F}:7: `) && e.includes(m)), out.join('\n')).toBe(true);
  });
});

describe('parseFencing: the directives together', () => {
  const lines = (...ls: string[]): FencingLine[] => ls.map((l, i) => {
    const [directive = '', ...args] = l.split(/\s+/);
    return { directive, args, line: i + 1 };
  });
  const both = [
    `stonith_host alpha ipmi target=beta host=10.0.0.12 user=admin passfile=${pass}`,
    `stonith_host beta ipmi target=alpha host=10.0.0.11 user=admin passfile=${pass}`,
  ];
  const all = (...ls: string[]): string[] => parseFencing(lines(...ls), F, NODES, { pluginDir: plugins }).issues.map(formatIssue);

  it('every directive is listed for hacf.ts to route here', () => {
    expect([...FENCING_DIRECTIVES].sort()).toEqual(['fence_check_interval', 'fence_delay', 'fence_failure_policy', 'fence_retry',
      'fence_wait_for_all', 'stonith_host', 'stonith_plugin_dir']);
  });

  it('defaults: wait, wait_for_all, delay = slowest device timeout + margin', () => {
    const r = parseFencing(lines(...both), F, NODES);
    expect(r.issues).toEqual([]);
    expect(r.config).toMatchObject({
      failurePolicy: 'wait', waitForAll: true, checkIntervalMs: 300_000, retryMs: 2000, retryMaxMs: 60_000,
      fenceDelayMs: DEFAULT_IPMI_TIMEOUT_MS + FENCE_DELAY_MARGIN_MS,
    });
    expect(r.config!.devices.map((d) => `${d.from}->${d.target}`)).toEqual(['alpha->beta', 'beta->alpha']);
  });

  it('no stonith_host: no devices, no fencing', () => {
    const r = parseFencing([], F, NODES);
    expect(r.config).toMatchObject({ devices: [], fenceDelayMs: 0 });
  });

  it('reads every directive, and the plugin dir wherever it is written', () => {
    const r = parseFencing(lines(
      'stonith_host * external/tdfplug target=beta',
      'stonith_host * external/tdfplug target=alpha timeout=30',
      'fence_delay 40',
      'fence_failure_policy takeover',
      'fence_check_interval 0',
      'fence_retry 500ms 10',
      'fence_wait_for_all off',
      `stonith_plugin_dir ${plugins}`,
    ), F, NODES);
    expect(r.issues).toEqual([]);
    expect(r.config).toMatchObject({
      fenceDelayMs: 40_000, failurePolicy: 'takeover', checkIntervalMs: 0, retryMs: 500, retryMaxMs: 10_000, waitForAll: false, pluginDir: plugins,
    });
  });

  it.each([
    [['fence_delay 1', ...both], '1: fence_delay (1s) must be at least the longest device timeout (5s, stonith_host at line 2)'],
    [['fence_delay', ...both], "1: 'fence_delay' takes exactly one value (a time: seconds, or Nms), got 0"],
    [['fence_delay 5s', ...both], "1: 'fence_delay': invalid time '5s'"],
    [['fence_failure_policy shoot', ...both], "1: 'fence_failure_policy' must be wait (take nothing over until the peer is confirmed off) or takeover (got 'shoot')"],
    [['fence_check_interval 10ms', ...both], "1: 'fence_check_interval' must be 0 (never) or at least 1 s"],
    [['fence_retry 10 2', ...both], "1: 'fence_retry' longest delay (2s) is shorter than the first (10s)"],
    [['fence_retry', ...both], "1: 'fence_retry' takes the first retry delay and optionally the longest one"],
    [['fence_retry 10ms', ...both], "1: 'fence_retry' must be at least 100ms"],
    [['fence_wait_for_all maybe', ...both], "1: 'fence_wait_for_all' must be on or off (got 'maybe')"],
    [['stonith_plugin_dir rel', ...both], "1: 'stonith_plugin_dir' must be an absolute path (got 'rel')"],
    [['fence_delay 10', 'fence_delay 20', ...both], "2: 'fence_delay' is given more than once (first at line 1)"],
    [[both[0]!], "1: no stonith_host lets 'beta' fence 'alpha' (add e.g. 'stonith_host beta ... target=alpha ...'); both nodes need a device for their peer"],
    [['stonith_host * ipmi target=alpha host=10.0.0.11 user=admin passfile=PASS'.replace('PASS', pass), both[1]!],
      "1: no stonith_host lets 'alpha' fence 'beta'"],
    [['stonith_host * ipmi target=beta', ...both], '1: missing host=<BMC address>'],
  ])('%j -> %s', (ls, message) => {
    const out = all(...ls);
    expect(out.some((e) => e.startsWith(`${F}:`) && e.includes(message)), out.join('\n')).toBe(true);
  });

  it('a fence_delay that covers every device timeout plus the death-declaration skew is accepted', () => {
    expect(all('fence_delay 5100ms', ...both)).toEqual([]);
    // Found by the simulator (seed 42): with fence_delay = the timeout the standby can shoot
    // the active node, because the two declare each other dead up to a keepalive + a hop apart.
    expect(all('fence_delay 5', ...both).join('\n')).toMatch(/fence_delay \(5s\) must be at least the longest device timeout \(5s.*plus keepalive and 100 ms/);
    const r = parseFencing(lines('fence_delay 5599ms', ...both), F, NODES, { keepaliveMs: 500 });
    expect(r.issues.map(formatIssue).join('\n')).toContain('plus keepalive and 100 ms (5600ms)');
    expect(parseFencing(lines('fence_delay 5600ms', ...both), F, NODES, { keepaliveMs: 500 }).issues).toEqual([]);
    // The default covers a keepalive longer than its 2 s margin.
    expect(parseFencing(lines(...both), F, NODES, { keepaliveMs: 3000 }).config?.fenceDelayMs).toBe(5000 + 3100);
  });
});
