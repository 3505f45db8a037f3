// The no_accept filter's nftables text (src/net/nft.ts): the exact batch,
// one form for replace and remove, and nothing unquotable written into it.
// test/netns/vrrp-noaccept.test.ts loads it into a kernel.

import { describe, expect, it } from 'vitest';
import { hasNftTable, nftBatch } from '../../src/net/nft.js';

describe('nftBatch', () => {
  it('no entries: the table goes (created first, so the delete cannot fail on a host without it)', () => {
    expect(nftBatch([])).toBe('table inet tandem_vrrp {}\ndelete table inet tandem_vrrp\n');
  });

  it('replaces the whole table in one batch: IPv4, IPv6 and link-local sets, input and output at priority filter - 1, ND let through', () => {
    const b = nftBatch([
      { ip: '10.0.0.9', nic: 'eth0', owner: 'vrrp:VI_1' },
      { ip: '2001:DB8:0:0::10', nic: 'eth0', owner: 'vrrp:VI_1' },
      { ip: 'fe80::99', nic: 'eth1', owner: 'vrrp:VI_6' },
      { ip: '10.0.0.10', nic: 'eth0', owner: 'vrrp:VI_2' },
    ]);
    expect(b).toBe([
      'table inet tandem_vrrp {}',
      'delete table inet tandem_vrrp',
      'table inet tandem_vrrp {',
      '\tset vips4 {', '\t\ttype ipv4_addr', '\t\telements = { 10.0.0.10 comment "vrrp:VI_2", 10.0.0.9 comment "vrrp:VI_1" }', '\t}',
      '\tset vips6 {', '\t\ttype ipv6_addr', '\t\telements = { 2001:db8::10 comment "vrrp:VI_1" }', '\t}',
      '\tset vips6_ll {', '\t\ttype ipv6_addr . ifname', '\t\telements = { fe80::99 . "eth1" comment "vrrp:VI_6" }', '\t}',
      '\tchain in {', '\t\ttype filter hook input priority filter - 1; policy accept;',
      '\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
      '\t\tip daddr @vips4 drop', '\t\tip6 daddr @vips6 drop', '\t\tip6 daddr . iifname @vips6_ll drop', '\t}',
      '\tchain out {', '\t\ttype filter hook output priority filter - 1; policy accept;',
      '\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
      '\t\tip saddr @vips4 drop', '\t\tip6 saddr @vips6 drop', '\t\tip6 saddr . oifname @vips6_ll drop', '\t}',
      '}', '',
    ].join('\n'));
  });

  it('equal states give equal text whatever the order; an empty family has a set without elements', () => {
    const a = { ip: '10.0.0.1', nic: 'eth0', owner: 'vrrp:A' };
    const c = { ip: '10.0.0.2', nic: 'eth0', owner: 'vrrp:B' };
    expect(nftBatch([a, c])).toBe(nftBatch([c, a]));
    expect(nftBatch([a])).toContain('\tset vips6 {\n\t\ttype ipv6_addr\n\t}');
  });

  it('an owner name that cannot be quoted gets no comment; a bad address or link-local interface name is refused', () => {
    expect(nftBatch([{ ip: '10.0.0.1', nic: 'eth0', owner: 'vrrp:a"b; flush ruleset' }])).toContain('elements = { 10.0.0.1 }');
    expect(() => nftBatch([{ ip: '10.0.0.1; flush ruleset', nic: 'eth0', owner: 'x' }])).toThrow(/not an IP address/);
    expect(() => nftBatch([{ ip: 'fe80::1', nic: 'e"th0', owner: 'x' }])).toThrow(/interface name/);
  });

  it('hasNftTable reads `nft list tables` output', () => {
    expect(hasNftTable('table ip keepalived\ntable inet tandem_vrrp\n')).toBe(true);
    expect(hasNftTable('table inet tandem_vrrp_x\ntable ip tandem_vrrp\n')).toBe(false);
  });
});
