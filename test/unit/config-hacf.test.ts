import { describe, expect, it } from 'vitest';

import { parseHaCf } from '../../src/config/hacf.js';
import { formatIssue } from '../../src/config/load.js';

const F = '/etc/tandem/ha.cf';

/** Issues as the operator sees them. */
function errors(text: string): string[] {
  const { config, issues } = parseHaCf(text, F);
  if (issues.length > 0) expect(config).toBeUndefined();
  return issues.map(formatIssue);
}

/** A valid two-node file to which test cases append lines. */
const BASE = ['node alpha beta', 'bcast eth0'];
function withBase(...lines: string[]): string {
  return [...BASE, ...lines].join('\n') + '\n';
}

describe('parseHaCf: valid files', () => {
  it('parses every implemented directive into the model', () => {
    const text = [
      '# tandem pair',                          // 1
      'cluster   web',                          // 2
      'node      hbA hbB',                      // 3
      'udpport   700',                          // 4
      'bcast     eth0 eth1',                    // 5
      'ucast     eth2 10.0.0.2   # the peer',   // 6
      'mcast     eth3 239.0.0.1 694 1 0',       // 7
      'keepalive 500ms',                        // 8
      'deadtime  5',                            // 9
      'warntime  2',                            // 10
      'initdead  20',                           // 11
      'auto_failback on',                       // 12
      'logfile /var/log/tandem.log',            // 13
      'debugfile /var/log/tandem-debug.log',    // 14
      'logfacility local0',                     // 15
      'debug 2',                                // 16
      'realtime off',                           // 17
      'rtprio 20',                              // 18
      '',
    ].join('\n');
    const { config, issues } = parseHaCf(text, F);
    expect(issues).toEqual([]);
    expect(config).toEqual({
      file: F,
      cluster: 'web',
      nodes: ['hba', 'hbb'],
      media: [
        { kind: 'bcast', iface: 'eth0', port: 700, line: 5 },
        { kind: 'bcast', iface: 'eth1', port: 700, line: 5 },
        { kind: 'ucast', iface: 'eth2', peer: '10.0.0.2', port: 700, line: 6 },
        { kind: 'mcast', iface: 'eth3', group: '239.0.0.1', port: 694, ttl: 1, loop: false, line: 7 },
      ],
      udpport: 700,
      keepaliveMs: 500,
      deadtimeMs: 5000,
      warntimeMs: 2000,
      initdeadMs: 20000,
      autoFailback: 'on',
      logfile: '/var/log/tandem.log',
      debugfile: '/var/log/tandem-debug.log',
      logfacility: 'local0',
      debug: 2,
      realtime: false,
      rtprio: 20,
    });
  });

  it("applies Heartbeat's defaults", () => {
    const { config } = parseHaCf('node a b\nbcast eth0\n', F);
    expect(config).toEqual({
      file: F,
      cluster: 'linux-ha',
      nodes: ['a', 'b'],
      media: [{ kind: 'bcast', iface: 'eth0', port: 694, line: 2 }],
      udpport: 694,
      keepaliveMs: 1000,
      deadtimeMs: 30000,
      warntimeMs: 15000,
      initdeadMs: 30000,
      autoFailback: 'legacy',
      debug: 0,
      realtime: true,
      rtprio: 50,
    });
    expect(config).not.toHaveProperty('logfile');
    expect(config).not.toHaveProperty('logfacility');
  });

  it.each([
    ['5', 12000],       // deadtime < 6 s: 12 s
    ['5999ms', 12000],
    ['6', 12000],       // 6..10 s: twice deadtime
    ['8', 16000],
    ['10', 20000],
    ['10001ms', 10001], // above 10 s: equal to deadtime
    ['60', 60000],
  ])('defaults initdead from deadtime %s to %d ms', (deadtime, initdead) => {
    const { config } = parseHaCf(withBase(`deadtime ${deadtime}`), F);
    expect(config?.initdeadMs).toBe(initdead);
  });

  it('defaults warntime to half the deadtime, rounded down', () => {
    expect(parseHaCf(withBase('deadtime 3001ms'), F).config?.warntimeMs).toBe(1500);
  });

  it('lower-cases node names, accepts several node lines and comma-separated names', () => {
    expect(parseHaCf('node NodeA\nnode nodeB\nbcast eth0\n', F).config?.nodes).toEqual(['nodea', 'nodeb']);
    expect(parseHaCf('node a,b\nbcast eth0\n', F).config?.nodes).toEqual(['a', 'b']);
  });

  it('ignores a UTF-8 byte order mark', () => {
    expect(parseHaCf('\uFEFFnode a b\nbcast eth0\n', F).issues).toEqual([]);
  });

  it('drops comments anywhere on a line and tolerates CRLF, tabs and blank lines', () => {
    const text = '# header\r\n\r\n\tnode a b # the pair\r\nbcast\teth0\r\nkeepalive 2 # seconds\r\n';
    const { config, issues } = parseHaCf(text, F);
    expect(issues).toEqual([]);
    expect(config?.keepaliveMs).toBe(2000);
  });

  it.each([
    ['nice_failback on', 'off'],
    ['nice_failback off', 'legacy'],
    ['auto_failback legacy', 'legacy'],
    ['auto_failback off', 'off'],
    ['auto_failback yes', 'on'],        // Heartbeat reads booleans with cl_str_to_boolean
    ['auto_failback LEGACY', 'legacy'],
    ['nice_failback on\nauto_failback off', 'off'], // agreeing settings are not a conflict
  ])('%s -> auto_failback %s', (lines, mode) => {
    expect(parseHaCf(withBase(lines), F).config?.autoFailback).toBe(mode);
  });

  it('accepts logfacility none and the timings measured in the reference runs', () => {
    expect(parseHaCf(withBase('logfacility none'), F).config?.logfacility).toBe('none');
    const fast = withBase('keepalive 20ms', 'deadtime 100ms', 'warntime 60ms', 'initdead 2000ms');
    expect(parseHaCf(fast, F).issues).toEqual([]);
  });

  it('allows udpport after mcast lines (udpport does not apply to mcast)', () => {
    const text = 'node a b\nmcast eth0 239.0.0.1 694 1 0\nudpport 700\n';
    const { config, issues } = parseHaCf(text, F);
    expect(issues).toEqual([]);
    expect(config?.udpport).toBe(700);
    expect(config?.media[0]).toMatchObject({ kind: 'mcast', port: 694 });
  });
});

describe('parseHaCf: errors name the file and line', () => {
  it('reports unknown directives', () => {
    expect(errors(withBase('frobnicate 1'))).toEqual([`${F}:3: unknown directive 'frobnicate'`]);
    expect(errors(withBase('Keepalive 2'))).toEqual([
      `${F}:3: unknown directive 'Keepalive' (directives are lower-case: 'keepalive')`,
    ]);
  });

  const heartbeatOnly = [
    'mcast6', 'ucast6', 'hopfudge', 'hbaping',
    'respawn', 'failfast', 'apiauth', 'stonith', 'watchdog', 'use_logd',
    'conn_logd_time', 'syslogmsgfmt', 'memreserve', 'coredumps', 'coreroot',
    'hbgenmethod', 'uuidfrom', 'autojoin', 'msgfmt', 'compression', 'compression_threshold',
    'traditional_compression', 'max_rexmit_delay', 'log_badpack', 'pacemaker', 'crm',
    'crm_daemon_dir', 'crmd_spawns_pengine', 'record_config_changes', 'record_pengine_inputs',
    'enable_config_writes', 'env', 'use_apphbd', 'quorum_server', 'normalpoll',
    // comm plugins and the bcast alias that Heartbeat 3.0.6 also knows
    'ping6', 'rds', 'udp',
  ];
  it.each(heartbeatOnly)('says %s is a Heartbeat directive tandem does not support yet', (d) => {
    expect(errors(withBase(`${d} something`))).toEqual([
      `${F}:3: '${d}' is a Heartbeat directive tandem does not support yet`,
    ]);
  });

  it('collects every error instead of stopping at the first', () => {
    const text = [
      'node a b',           // 1
      'keepalive 2s',       // 2
      'bcast eth0',         // 3
      'stonith x y',        // 4
      'debug 999',          // 5
      'bogus',              // 6
      'logfacility kernel', // 7
    ].join('\n');
    expect(errors(text)).toEqual([
      `${F}:2: 'keepalive': invalid time '2s': 's' is not a unit in Heartbeat time syntax (a bare number means seconds); use 2 for seconds or 2000ms`,
      `${F}:4: 'stonith' is a Heartbeat directive tandem does not support yet`,
      `${F}:5: 'debug' must be a number from 0 to 255 (got '999')`,
      `${F}:6: unknown directive 'bogus'`,
      `${F}:7: 'logfacility' 'kernel' is not a syslog facility (use none, daemon, local0..local7, auth, authpriv, cron, ftp, kern, lpr, mail, news, syslog, user, uucp)`,
    ]);
  });

  describe('nodes', () => {
    it('requires exactly two', () => {
      expect(errors('bcast eth0\n')).toEqual([
        `${F}: no 'node' line: declare the two nodes, e.g. 'node alpha beta' (names as 'uname -n' prints them)`,
      ]);
      expect(errors('bcast eth0\nnode solo\n')).toEqual([
        `${F}:2: only one node declared ('solo'); tandem needs exactly 2 nodes`,
      ]);
      expect(errors('node a b\nbcast eth0\nnode c d\n')).toEqual([
        `${F}:3: tandem manages two-node pairs: 'c' is a third node (already have 'a' and 'b')`,
      ]);
    });

    it('rejects duplicates after lower-casing, and bad names', () => {
      expect(errors('node alpha\nbcast eth0\nnode ALPHA beta\n')).toEqual([
        `${F}:3: duplicate node 'alpha' (already declared at line 1)`,
      ]);
      expect(errors(withBase('node'))).toContainEqual(`${F}:3: 'node' needs at least one node name`);
      // Only the name error: a count complaint on top would be noise.
      expect(errors('node b/c\nbcast eth0\n')).toEqual([
        `${F}:1: node name 'b/c' may only contain letters, digits, ".", "_" and "-", starting with a letter or digit`,
      ]);
      expect(errors('node a b/c\nbcast eth0\n')).toContainEqual(
        `${F}:1: node name 'b/c' may only contain letters, digits, ".", "_" and "-", starting with a letter or digit`,
      );
    });
  });

  describe('media', () => {
    it('requires at least one', () => {
      expect(errors('node a b\n')).toEqual([
        `${F}: no heartbeat media: add at least one bcast, ucast, mcast or serial line`,
      ]);
    });

    it('validates ucast', () => {
      expect(errors(withBase('ucast eth1'))).toEqual([
        `${F}:3: 'ucast' takes an interface and a peer IPv4 address (ucast IF IP), got 1 values`,
      ]);
      expect(errors(withBase('ucast eth1 peer.example.com'))).toEqual([
        `${F}:3: 'ucast' peer 'peer.example.com' is not an IPv4 address`,
      ]);
      expect(errors(withBase('ucast eth1 10.0.0.256'))).toEqual([
        `${F}:3: 'ucast' peer '10.0.0.256' is not an IPv4 address`,
      ]);
      expect(errors(withBase('ucast eth1 010.0.0.1'))).toEqual([
        `${F}:3: 'ucast' peer '010.0.0.1' is not an IPv4 address`,
      ]);
      expect(errors(withBase('ucast eth1 239.1.1.1'))).toEqual([
        `${F}:3: 'ucast' peer 239.1.1.1 is a multicast address; use the peer's own address`,
      ]);
      expect(errors(withBase('ucast eth1/2 10.0.0.1'))).toEqual([
        `${F}:3: 'ucast' interface name 'eth1/2' contains '/', ':' or whitespace`,
      ]);
    });

    it('validates every mcast field', () => {
      expect(errors(withBase('mcast eth0 239.0.0.1 694 1'))).toEqual([
        `${F}:3: 'mcast' takes 5 values (mcast IF GROUP PORT TTL LOOP, e.g. mcast eth0 239.0.0.1 694 1 0), got 4`,
      ]);
      expect(errors(withBase('mcast eth0 10.0.0.1 0 0 2'))).toEqual([
        `${F}:3: 'mcast' group '10.0.0.1' is not an IPv4 multicast address (224.0.0.0/4)`,
        `${F}:3: 'mcast' port '0' must be a number from 1 to 65535`,
        `${F}:3: 'mcast' ttl '0' must be a number from 1 to 255`,
        `${F}:3: 'mcast' loop '2' must be 0 or 1`,
      ]);
      expect(errors(withBase('mcast eth0 240.0.0.1 65536 256 1'))).toEqual([
        `${F}:3: 'mcast' group '240.0.0.1' is not an IPv4 multicast address (224.0.0.0/4)`,
        `${F}:3: 'mcast' port '65536' must be a number from 1 to 65535`,
        `${F}:3: 'mcast' ttl '256' must be a number from 1 to 255`,
      ]);
      expect(errors(withBase('mcast eth0 224.0.0.1 65535 255 1'))).toEqual([]);
    });

    it('validates bcast interfaces and rejects duplicate media', () => {
      expect(errors(withBase('bcast'))).toEqual([`${F}:3: 'bcast' needs at least one interface name`]);
      expect(errors(withBase('bcast averyveryverylong0'))).toEqual([
        `${F}:3: 'bcast' interface name 'averyveryverylong0' is longer than 15 characters`,
      ]);
      expect(errors(withBase('bcast eth1 eth0'))).toEqual([
        `${F}:3: duplicate medium 'bcast eth0' (already at line 2)`,
      ]);
      expect(errors(withBase('ucast eth1 10.0.0.2', 'ucast eth1 10.0.0.2'))).toEqual([
        `${F}:4: duplicate medium 'ucast eth1 10.0.0.2' (already at line 3)`,
      ]);
    });
  });

  describe('udpport', () => {
    it('must precede bcast and ucast lines', () => {
      expect(errors('node a b\nbcast eth0\nudpport 700\n')).toEqual([
        `${F}:3: 'udpport' must precede media statements (bcast/ucast at line 2 would not use it); move it above them`,
      ]);
      expect(errors('node a b\nudpport 700\nucast eth0 10.0.0.2\nudpport 701\n')).toEqual([
        `${F}:4: 'udpport' must precede media statements (bcast/ucast at line 3 would not use it); move it above them`,
      ]);
    });

    it('must be a port number given once', () => {
      expect(errors('udpport 0\n' + withBase())).toEqual([`${F}:1: 'udpport' '0' must be a number from 1 to 65535`]);
      expect(errors('udpport 65536\n' + withBase())).toEqual([
        `${F}:1: 'udpport' '65536' must be a number from 1 to 65535`,
      ]);
      expect(errors('udpport ha\n' + withBase())).toEqual([`${F}:1: 'udpport' 'ha' must be a number from 1 to 65535`]);
      expect(errors('udpport 1\nudpport 2\n' + withBase())).toEqual([
        `${F}:2: 'udpport' is given more than once (first at line 1)`,
      ]);
    });
  });

  describe('timing', () => {
    it('rejects repeated, malformed and zero times', () => {
      expect(errors(withBase('keepalive 1', 'keepalive 2'))).toEqual([
        `${F}:4: 'keepalive' is given more than once (first at line 3)`,
      ]);
      expect(errors(withBase('deadtime 10 20'))).toEqual([
        `${F}:3: 'deadtime' takes exactly one value (a time: seconds, or Nms), got 2`,
      ]);
      expect(errors(withBase('keepalive 0'))).toEqual([`${F}:3: 'keepalive' must be greater than zero (got '0')`]);
      expect(errors(withBase('warntime 499us'))).toEqual([
        `${F}:3: 'warntime' must be greater than zero (got '499us')`,
      ]);
      expect(errors(withBase('initdead 1min'))).toEqual([
        `${F}:3: 'initdead': invalid time '1min': 'min' is not a unit in Heartbeat time syntax (a bare number means seconds); use 60 for seconds or 60000ms`,
      ]);
    });

    it('requires deadtime > 2 x keepalive, reported at the deadtime line', () => {
      expect(errors(withBase('keepalive 1', 'deadtime 2'))).toEqual([
        `${F}:4: deadtime (2000 ms) must be more than twice keepalive (1000 ms)`,
      ]);
      expect(errors(withBase('deadtime 2001ms'))).toEqual([]);
      // With the default deadtime the keepalive line is what made it wrong.
      expect(errors(withBase('keepalive 15'))).toEqual([
        `${F}:3: deadtime (30 s) must be more than twice keepalive (15 s)`,
      ]);
    });

    it('requires initdead >= deadtime', () => {
      expect(errors(withBase('deadtime 60', 'initdead 30'))).toEqual([
        `${F}:4: initdead (30 s) must be at least deadtime (60 s)`,
      ]);
      expect(errors(withBase('initdead 30'))).toEqual([]);
    });

    it('requires keepalive < warntime < deadtime', () => {
      expect(errors(withBase('warntime 30'))).toEqual([
        `${F}:3: warntime (30 s) must be less than deadtime (30 s)`,
      ]);
      expect(errors(withBase('keepalive 2', 'warntime 2'))).toEqual([
        `${F}:4: warntime (2000 ms) must be more than keepalive (2000 ms)`,
      ]);
      expect(errors(withBase('keepalive 2', 'warntime 2001ms'))).toEqual([]);
    });

    it('does not pile relation errors on top of a malformed time', () => {
      expect(errors(withBase('keepalive 20', 'deadtime 5s', 'warntime 40'))).toEqual([
        `${F}:4: 'deadtime': invalid time '5s': 's' is not a unit in Heartbeat time syntax (a bare number means seconds); use 5 for seconds or 5000ms`,
      ]);
    });
  });

  describe('failback and the rest', () => {
    it('validates auto_failback and nice_failback', () => {
      expect(errors(withBase('auto_failback sometimes'))).toEqual([
        `${F}:3: 'auto_failback' must be on, off or legacy (got 'sometimes')`,
      ]);
      expect(errors(withBase('nice_failback legacy'))).toEqual([
        `${F}:3: 'nice_failback' must be on or off (got 'legacy'); it is deprecated, prefer auto_failback`,
      ]);
      expect(errors(withBase('auto_failback on', 'nice_failback on'))).toEqual([
        `${F}:4: nice_failback (line 4, meaning auto_failback off) conflicts with auto_failback on (line 3); keep only auto_failback`,
      ]);
      expect(errors(withBase('auto_failback on', 'auto_failback off'))).toEqual([
        `${F}:4: 'auto_failback' is given more than once (first at line 3)`,
      ]);
    });

    it('validates cluster, log settings and debug', () => {
      expect(errors(withBase('cluster'))).toEqual([`${F}:3: 'cluster' takes exactly one value (a name), got 0`]);
      expect(errors(withBase('logfile ha.log'))).toEqual([
        `${F}:3: 'logfile' must be an absolute path (got 'ha.log')`,
      ]);
      expect(errors(withBase('debugfile /a /b'))).toEqual([
        `${F}:3: 'debugfile' takes exactly one value (a path), got 2`,
      ]);
      expect(errors(withBase('debug -1'))).toEqual([`${F}:3: 'debug' must be a number from 0 to 255 (got '-1')`]);
      expect(errors(withBase('debug 255'))).toEqual([]);
      expect(errors(withBase('logfacility daemon'))).toEqual([]);
    });
  });

  describe('realtime and rtprio', () => {
    it('default to on at priority 50 (halfway, as Heartbeat), and take its spellings', () => {
      const base = parseHaCf('node a b\nbcast eth0\n', F).config!;
      expect(base).toMatchObject({ realtime: true, rtprio: 50 });
      expect(parseHaCf('node a b\nbcast eth0\nrealtime off\nrtprio 7\n', F).config).toMatchObject({ realtime: false, rtprio: 7 });
      expect(parseHaCf('node a b\nbcast eth0\nrealtime yes\n', F).config).toMatchObject({ realtime: true });
    });

    it('refuses values the scheduler would not take, at their line', () => {
      expect(errors(withBase('rtprio 0'))).toEqual([`${F}:3: 'rtprio' must be a number from 1 to 99 (SCHED_FIFO priorities; got '0')`]);
      expect(errors(withBase('rtprio 100'))).toEqual([`${F}:3: 'rtprio' must be a number from 1 to 99 (SCHED_FIFO priorities; got '100')`]);
      expect(errors(withBase('realtime maybe'))).toEqual([`${F}:3: 'realtime' must be on or off (got 'maybe')`]);
      expect(errors(withBase('realtime'))).toEqual([`${F}:3: 'realtime' takes exactly one value (on or off), got 0`]);
    });
  });

  describe('serial, baud and notify', () => {
    it('takes several devices per line and several lines, at 19200 baud unless a baud line comes first', () => {
      const { config, issues } = parseHaCf('node a b\nserial /dev/ttyS0 /dev/ttyS1\nserial /dev/ttyUSB0\n', F);
      expect(issues).toEqual([]);
      expect(config?.serial).toEqual([
        { kind: 'serial', device: '/dev/ttyS0', baud: 19200, line: 2 },
        { kind: 'serial', device: '/dev/ttyS1', baud: 19200, line: 2 },
        { kind: 'serial', device: '/dev/ttyUSB0', baud: 19200, line: 3 },
      ]);
      expect(config?.media).toEqual([]);
      for (const rate of [19200, 38400, 57600, 115200]) {
        expect(parseHaCf(`node a b\nbaud ${rate}\nserial /dev/ttyS0\n`, F).config?.serial?.[0]?.baud).toBe(rate);
      }
    });

    it('a file without serial lines has no serial or notify in its model', () => {
      const { config } = parseHaCf(withBase('baud 38400'), F);
      expect(config).not.toHaveProperty('serial');
      expect(config).not.toHaveProperty('notify');
    });

    it('keeps several UDP media on several interfaces as separate paths beside serial', () => {
      const { config, issues } = parseHaCf([
        'node a b', 'bcast eth0 eth1', 'ucast eth2 10.0.0.2', 'ucast eth2 10.0.0.1', 'mcast eth3 239.0.0.1 694 1 0', 'baud 115200', 'serial /dev/ttyS0',
      ].join('\n'), F);
      expect(issues).toEqual([]);
      expect(config?.media.map((m) => `${m.kind} ${m.iface}`)).toEqual(['bcast eth0', 'bcast eth1', 'ucast eth2', 'ucast eth2', 'mcast eth3']);
      expect(config?.serial).toEqual([{ kind: 'serial', device: '/dev/ttyS0', baud: 115200, line: 7 }]);
    });

    it('rejects a baud line after a serial line, at the baud line', () => {
      expect(errors('node a b\nserial /dev/ttyS0\nbaud 115200\n')).toEqual([
        `${F}:3: 'baud' must precede the serial lines it applies to (serial at line 2 would not use it); move it above them`,
      ]);
    });

    it('validates baud', () => {
      expect(errors(withBase('baud 9600'))).toEqual([`${F}:3: 'baud' must be one of 19200, 38400, 57600, 115200 (got '9600')`]);
      expect(errors(withBase('baud fast'))).toEqual([`${F}:3: 'baud' must be one of 19200, 38400, 57600, 115200 (got 'fast')`]);
      expect(errors(withBase('baud'))).toEqual([`${F}:3: 'baud' takes exactly one value (a bit rate: 19200, 38400, 57600, 115200), got 0`]);
      expect(errors(withBase('baud 19200 38400'))).toEqual([`${F}:3: 'baud' takes exactly one value (a bit rate: 19200, 38400, 57600, 115200), got 2`]);
      expect(errors(withBase('baud 19200', 'baud 38400'))).toEqual([`${F}:4: 'baud' is given more than once (first at line 3)`]);
    });

    it('validates serial devices', () => {
      expect(errors(withBase('serial'))).toEqual([`${F}:3: 'serial' needs at least one device, e.g. 'serial /dev/ttyS0'`]);
      expect(errors(withBase('serial ttyS0'))).toEqual([`${F}:3: 'serial' device 'ttyS0' must be an absolute path, e.g. /dev/ttyS0`]);
      expect(errors(withBase('serial /dev/ttyS0', 'serial /dev/ttyS1 /dev/ttyS0'))).toEqual([
        `${F}:4: duplicate medium 'serial /dev/ttyS0' (already at line 3)`,
      ]);
      expect(errors(withBase('serial /dev/ttyS0 /dev/ttyS0'))).toEqual([
        `${F}:3: duplicate medium 'serial /dev/ttyS0' (already at line 3)`,
      ]);
    });

    it('a serial line alone is a heartbeat medium', () => {
      expect(errors('node a b\nserial /dev/ttyS0\n')).toEqual([]);
      // an invalid serial line is reported itself, not as "no media"
      expect(errors('node a b\nserial dev\n')).toEqual([`${F}:2: 'serial' device 'dev' must be an absolute path, e.g. /dev/dev`]);
    });

    it('takes one absolute notify program', () => {
      expect(parseHaCf(withBase('notify /usr/local/bin/page-oncall'), F).config?.notify).toEqual({ command: '/usr/local/bin/page-oncall', line: 3 });
      expect(errors(withBase('notify page-oncall'))).toEqual([`${F}:3: 'notify' must be an absolute path (got 'page-oncall')`]);
      expect(errors(withBase('notify'))).toEqual([`${F}:3: 'notify' takes exactly one value (the absolute path of a program), got 0`]);
      expect(errors(withBase('notify /a', 'notify /b'))).toEqual([`${F}:4: 'notify' is given more than once (first at line 3)`]);
    });
  });
});

describe('parseHaCf: fencing directives go to parseFencing', () => {
  const NO_FILES = { checkFiles: false };
  const ipmi = (target: string) => `stonith_host * ipmi target=${target} host=10.0.0.9 user=admin passfile=/etc/ha.d/${target}.ipmi cipher=3`;

  it('builds HaCf.fencing from stonith_host lines and the fence_* settings', () => {
    const { config, issues } = parseHaCf(withBase(ipmi('alpha'), ipmi('beta'), 'fence_delay 7', 'fence_failure_policy takeover', 'fence_retry 1 8'), F, NO_FILES);
    expect(issues).toEqual([]);
    expect(config?.fencing?.devices.map((d) => [d.type, d.target, d.line])).toEqual([['ipmi', 'alpha', 3], ['ipmi', 'beta', 4]]);
    expect(config?.fencing).toMatchObject({ fenceDelayMs: 7000, failurePolicy: 'takeover', retryMs: 1000, retryMaxMs: 8000, waitForAll: true });
  });

  it('has no fencing without a stonith_host line', () => {
    expect(parseHaCf(withBase(), F).config?.fencing).toBeUndefined();
    expect(parseHaCf(withBase('fence_delay 7'), F, NO_FILES).config?.fencing).toBeUndefined();
  });

  it('reports the fencing parser\'s errors at their ha.cf line, beside the others', () => {
    const e = parseHaCf(withBase('bogus', ipmi('alpha'), 'fence_failure_policy maybe'), F, NO_FILES).issues.map(formatIssue);
    expect(e[0]).toBe(`${F}:3: unknown directive 'bogus'`);
    expect(e[1]).toMatch(/^\/etc\/tandem\/ha.cf:5: 'fence_failure_policy' must be wait/);
    // only beta can be fenced: alpha has no device for its peer
    const one = parseHaCf(withBase(ipmi('alpha')), F, NO_FILES);
    expect(one.config).toBeUndefined();
    expect(one.issues.map(formatIssue)).toEqual([expect.stringMatching(/^\/etc\/tandem\/ha.cf:3: no stonith_host lets 'alpha' fence 'beta'/)]);
  });

  it('still refuses Heartbeat\'s stonith directive (its own config file format)', () => {
    expect(errors(withBase('stonith baytech /etc/ha.d/conf/stonith.baytech'))).toEqual([
      `${F}:3: 'stonith' is a Heartbeat directive tandem does not support yet`,
    ]);
  });
});

describe('parseHaCf: quorum directives (docs/quorum.md)', () => {
  it('has no quorum without any quorum directive', () => {
    expect(parseHaCf(withBase(), F).config?.quorum).toBeUndefined();
  });

  it('parses ping, ping_group, deadping, ipfail and the arbiter with its defaults from deadtime', () => {
    const { config, issues } = parseHaCf(withBase('deadtime 3', 'ping 10.0.0.254 10.0.1.254', 'ping_group gw 10.0.2.1 10.0.2.2', 'arbiter 192.0.2.9:7610'), F);
    expect(issues).toEqual([]);
    expect(config?.quorum).toEqual({
      ping: ['10.0.0.254', '10.0.1.254'], pingGroups: [{ name: 'gw', addrs: ['10.0.2.1', '10.0.2.2'] }],
      deadpingMs: 3000, ipfail: { enabled: true, delayMs: 5000, dwellMs: 60_000 },
      arbiter: { kind: 'arbiter', address: '192.0.2.9:7610' }, arbiterTtlMs: 6000, arbiterSafetyMs: 500,
    });
  });

  it('takes explicit values, etcd endpoint lists, and ipfail off', () => {
    const { config, issues } = parseHaCf(withBase(
      'ping 10.0.0.254', 'deadping 800ms', 'ipfail off', 'ipfail_delay 2', 'ipfail_dwell 30',
      'arbiter etcd://10.0.0.9:2379,10.0.0.10:2379/ha', 'arbiter_ttl 4', 'arbiter_safety 300ms',
    ), F);
    expect(issues).toEqual([]);
    expect(config?.quorum).toMatchObject({
      deadpingMs: 800, ipfail: { enabled: false, delayMs: 2000, dwellMs: 30_000 },
      arbiter: { kind: 'etcd', url: 'etcd://10.0.0.9:2379,10.0.0.10:2379/ha' }, arbiterTtlMs: 4000, arbiterSafetyMs: 300,
    });
    expect(parseHaCf(withBase('arbiter 10.0.0.9:7610', 'arbiter_keys /etc/tandem/arbiter.keys'), F).config?.quorum?.arbiterKeys)
      .toBe('/etc/tandem/arbiter.keys');
  });

  it('reports each bad quorum line as FILE:LINE', () => {
    expect(errors(withBase(
      'ping 10.0.0.300',                 // 3
      'ping_group gw',                   // 4
      'deadping 2s',                     // 5
      'ipfail maybe',                    // 6
      'arbiter nowhere',                 // 7
      'arbiter_ttl 0',                   // 8
      'ping 224.0.0.1',                  // 9
      'ping 10.0.0.1 10.0.0.1',          // 10
      'arbiter_keys relative.keys',      // 11
    ))).toEqual([
      `${F}:3: 'ping' address '10.0.0.300' is not an IPv4 address`,
      `${F}:4: 'ping_group' takes a name and at least one IPv4 address (ping_group NAME IP...)`,
      expect.stringMatching(/^\/etc\/tandem\/ha.cf:5: 'deadping': /),
      `${F}:6: 'ipfail' must be on or off (got 'maybe')`,
      `${F}:7: arbiter address 'nowhere': expected HOST:PORT, e.g. 192.0.2.9:7610`,
      `${F}:8: 'arbiter_ttl' must be greater than zero (got '0')`,
      `${F}:9: 'ping' address 224.0.0.1 is a multicast address`,
      `${F}:10: ping target 10.0.0.1 is already given at line 10`,
      `${F}:11: 'arbiter_keys' takes the absolute path of an authkeys-format file`,
    ]);
  });

  it('refuses settings that cannot work together', () => {
    expect(errors(withBase('ipfail on'))).toEqual([`${F}:3: 'ipfail on' needs at least one ping or ping_group target`]);
    expect(errors(withBase('arbiter_ttl 10'))).toEqual([`${F}:3: 'arbiter_ttl' has no effect without an 'arbiter' line`]);
    expect(errors(withBase('ipfail_delay 10'))).toEqual([`${F}:3: 'ipfail_delay' has no effect without a ping or ping_group target`]);
    expect(errors(withBase('arbiter etcd://10.0.0.9:2379/t', 'arbiter_ttl 2500ms'))).toEqual([
      `${F}:4: 'arbiter_ttl' with etcd must be whole seconds, at least 2 (got 2500 ms)`,
    ]);
    expect(errors(withBase('arbiter 10.0.0.9:7610', 'arbiter_ttl 1', 'arbiter_safety 1'))).toEqual([
      expect.stringMatching(/^\/etc\/tandem\/ha.cf:5: arbiter lease: safetyMs/),
    ]);
    expect(errors(withBase('arbiter 10.0.0.9:7610', 'arbiter 10.0.0.9:7611'))).toEqual([
      `${F}:4: 'arbiter' is given more than once (first at line 3)`,
    ]);
  });

  it('escapes control characters a quorum line echoes, as every other ha.cf message does', () => {
    // An escape sequence in ha.cf must not reach the terminal of whoever runs check-config.
    expect(errors(withBase('ping 10.0.0.\x1b[2J', 'arbiter etcd://\x07'))).toEqual([
      `${F}:3: 'ping' address '10.0.0.\\x1b[2J' is not an IPv4 address`,
      `${F}:4: arbiter 'etcd://\\x07': '\\x07' is not HOST:PORT`,
    ]);
  });
});
