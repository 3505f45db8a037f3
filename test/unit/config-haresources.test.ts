import { describe, expect, it } from 'vitest';

import { parseHaResources, parseResourceSpec } from '../../src/config/haresources.js';
import { formatIssue } from '../../src/config/load.js';

const F = '/etc/tandem/haresources';
const NODES = ['hba', 'hbb'];

function errors(text: string, nodes: string[] | undefined = NODES): string[] {
  const { groups, issues } = parseHaResources(text, F, nodes);
  if (issues.length > 0) expect(groups).toBeUndefined();
  return issues.map(formatIssue);
}

describe('parseHaResources: valid files', () => {
  it('parses groups, agents and arguments', () => {
    const text = [
      '# v1 resource groups',
      'hbA IPaddr2::10.77.0.100/24/eth0 hbdummy',
      '',
      'hbb 10.0.0.5 Filesystem::/dev/drbd0::/data::ext3 apache',
    ].join('\n');
    const { groups, issues } = parseHaResources(text, F, NODES);
    expect(issues).toEqual([]);
    expect(groups).toEqual([
      {
        name: 'IPaddr2::10.77.0.100/24/eth0',
        preferredNode: 'hba',
        line: 2,
        resources: [
          { spec: 'IPaddr2::10.77.0.100/24/eth0', agent: 'IPaddr2', args: ['10.77.0.100/24/eth0'] },
          { spec: 'hbdummy', agent: 'hbdummy', args: [] },
        ],
      },
      {
        name: '10.0.0.5',
        preferredNode: 'hbb',
        line: 4,
        resources: [
          { spec: '10.0.0.5', agent: 'IPaddr', args: ['10.0.0.5'] },
          { spec: 'Filesystem::/dev/drbd0::/data::ext3', agent: 'Filesystem', args: ['/dev/drbd0', '/data', 'ext3'] },
          { spec: 'apache', agent: 'apache', args: [] },
        ],
      },
    ]);
  });

  it('joins backslash continuations and numbers the group by its first line', () => {
    const text = [
      '# comment',              // 1
      'hba 10.0.0.5/24/eth0 \\', // 2
      '    Filesystem::/dev/sdb1::/srv \\  ', // 3 (blanks after the backslash are tolerated)
      '    apache',              // 4
      'hbb mysql',               // 5
    ].join('\n');
    const { groups, issues } = parseHaResources(text, F, NODES);
    expect(issues).toEqual([]);
    expect(groups?.map((g) => [g.line, g.name, g.resources.map((r) => r.spec)])).toEqual([
      [2, '10.0.0.5/24/eth0', ['10.0.0.5/24/eth0', 'Filesystem::/dev/sdb1::/srv', 'apache']],
      [5, 'mysql', ['mysql']],
    ]);
  });

  it('treats a token starting with # as a comment, and a backslash inside it as text', () => {
    const text = 'hba apache # web server \\\nhbb mysql\n';
    const { groups } = parseHaResources(text, F, NODES);
    expect(groups?.map((g) => g.resources.map((r) => r.spec))).toEqual([['apache'], ['mysql']]);
    expect(parseHaResources('hba Filesystem::/dev/sdb1::/mnt#1\n', F, NODES).groups?.[0]?.resources[0]?.args).toEqual([
      '/dev/sdb1',
      '/mnt#1',
    ]);
  });

  it('accepts an empty file and skips the node check without a node list', () => {
    expect(parseHaResources('# nothing yet\n\n', F, NODES)).toEqual({ groups: [], issues: [], parsed: [] });
    expect(parseHaResources('node1 apache\n', F, undefined).issues).toEqual([]);
  });

  it.each([
    'IPaddr2::10.0.0.5',
    'IPaddr2::10.0.0.5/32',
    'IPaddr2::10.0.0.5/1/eth0',
    'IPaddr2::10.0.0.5/24/eth0/10.0.0.255',
    'IPaddr2::10.0.0.5/24/eth0::arp_count=3::arp_interval=100',
    'IPaddr::10.0.0.5/255.255.255.0/eth0:0',
    'IPaddr::10.0.0.5/eth0',
    'IPaddr2::10.0.0.5//eth0',
    'IPaddr2::10.0.0.5/24/br-lan.10',
    '192.168.1.10/24/eth0/192.168.1.255',
  ])('accepts the address resource %s', (spec) => {
    expect(errors(`hba ${spec}\n`)).toEqual([]);
  });
});

describe('parseHaResources: errors name the file and line', () => {
  it('checks the preferred node against ha.cf', () => {
    expect(errors('hbc apache\n')).toEqual([`${F}:1: preferred node 'hbc' is not a node in ha.cf (nodes: hba, hbb)`]);
    expect(errors('hb/a apache\n')).toEqual([
      `${F}:1: preferred node 'hb/a' may only contain letters, digits, ".", "_" and "-", starting with a letter or digit`,
    ]);
  });

  it('rejects a group without resources', () => {
    expect(errors('hba apache\n\nhbb\n')).toEqual([`${F}:3: group for node 'hbb' lists no resources`]);
    expect(errors('hba \\\n\nhbb x\n')).toEqual([`${F}:1: group for node 'hba' lists no resources`]);
  });

  it('rejects the same resource in two groups or twice in one', () => {
    const text = [
      'hba 10.0.0.5 apache',        // 1
      'hbb \\',                      // 2
      '  mysql apache',              // 3
      'hbb IPaddr::10.0.0.5',        // 4  same resource as the bare address
      'hba nginx nginx',             // 5
    ].join('\n');
    expect(errors(text)).toEqual([
      `${F}:2: resource 'apache' is already in group '10.0.0.5' (line 1)`,
      `${F}:4: resource 'IPaddr::10.0.0.5' is already in group '10.0.0.5' (line 1)`,
      `${F}:5: resource 'nginx' appears twice in this group`,
    ]);
  });

  it('rejects two resources for one address', () => {
    expect(errors('hba IPaddr2::10.0.0.5/24/eth0\nhbb IPaddr::10.0.0.5/24\n')).toEqual([
      `${F}:2: 10.0.0.5/24 is already claimed by group 'IPaddr2::10.0.0.5/24/eth0' at ${F}:1`,
    ]);
  });

  it.each([
    ['::x', "resource '::x' has no agent name before '::'"],
    ['apache::', "resource 'apache::' has an empty argument (check for ':::' or a trailing '::')"],
    ['Filesystem::/dev/sdb1::::/srv', "resource 'Filesystem::/dev/sdb1::::/srv' has an empty argument (check for ':::' or a trailing '::')"],
    ['..', "resource agent '..' must be a plain file name (letters, digits, '_', '.', '+', '@', '-'), ocf:PROVIDER:TYPE or systemd:UNIT"],
    ['bin/sh::x', "resource agent 'bin/sh' must be a plain file name (letters, digits, '_', '.', '+', '@', '-'), ocf:PROVIDER:TYPE or systemd:UNIT"],
    ['IPaddr2', "resource 'IPaddr2': IPaddr2 needs an address, e.g. IPaddr2::10.0.0.5/24/eth0"],
    ['10.0.0.300', "resource '10.0.0.300': '10.0.0.300' is not an IPv4 address"],
    ['IPaddr2::vip.example.com', "resource 'IPaddr2::vip.example.com': 'vip.example.com' is not an IPv4 address"],
    ['IPaddr2::224.0.0.5', "resource 'IPaddr2::224.0.0.5': 224.0.0.5 is a multicast address and cannot be a service address"],
    ['IPaddr2::10.0.0.5/0', "resource 'IPaddr2::10.0.0.5/0': netmask '/0' must be a prefix length from 1 to 32"],
    ['IPaddr2::10.0.0.5/33/eth0', "resource 'IPaddr2::10.0.0.5/33/eth0': netmask '/33' must be a prefix length from 1 to 32"],
    ['IPaddr::10.0.0.5/255.0.255.0', "resource 'IPaddr::10.0.0.5/255.0.255.0': '255.0.255.0' is not a valid netmask"],
    ['IPaddr2::10.0.0.5/x24/eth0', "resource 'IPaddr2::10.0.0.5/x24/eth0': netmask 'x24' must be a prefix length from 1 to 32 or a dotted netmask"],
    ['IPaddr2::10.0.0.5/24/averyveryverylong0', "resource 'IPaddr2::10.0.0.5/24/averyveryverylong0': interface name 'averyveryverylong0' is longer than 15 characters"],
    ['IPaddr2::10.0.0.5/24/et$h0', `resource 'IPaddr2::10.0.0.5/24/et$h0': interface name 'et$h0' may only contain letters, digits, "_", ".", "@" and "-"`],
    ['IPaddr::10.0.0.5/24/eth0:', "resource 'IPaddr::10.0.0.5/24/eth0:': interface label 'eth0:' must be DEVICE:LABEL within 15 characters"],
    ['IPaddr2::10.0.0.5/24/eth0/10.0.0.2555', "resource 'IPaddr2::10.0.0.5/24/eth0/10.0.0.2555': broadcast '10.0.0.2555' is not an IPv4 address"],
    ['IPaddr2::10.0.0.5/24/eth0/10.0.0.255/x', "resource 'IPaddr2::10.0.0.5/24/eth0/10.0.0.255/x': '10.0.0.5/24/eth0/10.0.0.255/x' has too many '/' fields (IP/cidr/nic/broadcast at most)"],
    ['IPaddr2::10.0.0.5::lvs_support=true', "resource 'IPaddr2::10.0.0.5::lvs_support=true': unknown argument 'lvs_support=true' (after the address only arp_count=N and arp_interval=MS are accepted)"],
    ['IPaddr2::10.0.0.5::eth0', "resource 'IPaddr2::10.0.0.5::eth0': unknown argument 'eth0' (after the address only arp_count=N and arp_interval=MS are accepted)"],
    ['IPaddr2::10.0.0.5::arp_count=0', "resource 'IPaddr2::10.0.0.5::arp_count=0': arp_count must be a whole number from 1 to 1000 (got '0')"],
    ['IPaddr2::10.0.0.5::arp_interval=fast', "resource 'IPaddr2::10.0.0.5::arp_interval=fast': arp_interval must be a whole number from 1 to 60000 (milliseconds) (got 'fast')"],
    ['IPaddr2::10.0.0.5::arp_count=2::arp_count=3', "resource 'IPaddr2::10.0.0.5::arp_count=2::arp_count=3': arp_count is given twice"],
  ])('rejects %s', (spec, message) => {
    expect(errors(`# group\nhba ${spec}\n`)).toEqual([`${F}:2: ${message}`]);
  });

  it('collects errors from every group, at each group first line', () => {
    const text = [
      'hba ::x \\',          // 1
      '   IPaddr2::1.2.3',   // 2
      'hbc apache',          // 3
      'hbb',                 // 4
    ].join('\n');
    expect(errors(text)).toEqual([
      `${F}:1: resource '::x' has no agent name before '::'`,
      `${F}:1: resource 'IPaddr2::1.2.3': '1.2.3' is not an IPv4 address`,
      `${F}:3: preferred node 'hbc' is not a node in ha.cf (nodes: hba, hbb)`,
      `${F}:4: group for node 'hbb' lists no resources`,
    ]);
  });
});

describe('parseResourceSpec', () => {
  it('returns the resource or the reason', () => {
    expect(parseResourceSpec('OCF::apache::web1')).toEqual({ spec: 'OCF::apache::web1', agent: 'OCF', args: ['apache', 'web1'] });
    expect(parseResourceSpec('IPaddr2::10.1.1.1/eth0/24')).toBe(
      "resource 'IPaddr2::10.1.1.1/eth0/24': netmask 'eth0' must be a prefix length from 1 to 32 or a dotted netmask",
    );
  });
});
