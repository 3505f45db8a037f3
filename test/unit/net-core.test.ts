// The network core's pure parts: addresses, rtnetlink bytes, announcement
// frames, the owner registry and the VIP argument forms.

import { describe, expect, it } from 'vitest';
import { canonicalIp, formatIPv6, parseIPv6 } from '../../src/net/addr.js';
import { buildUnsolicitedNa, icmpv6Checksum, NA_FRAME_LEN } from '../../src/net/frames.js';
import { decodeEvent } from '../../src/net/netlink.js';
import { AddressRegistry } from '../../src/net/registry.js';
import {
  IFA_F_NODAD, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, RTM_DELADDR, RTM_NEWADDR, RTM_NEWLINK,
  decodeAddr, decodeError, decodeLink, encodeAddr, encodeDump, encodeLinkUp, encodeMessage, parseAttrs, splitMessages, RTM_GETADDR,
} from '../../src/net/rtnetlink.js';
import { parseVipArgs, placeVip, type VipSpec } from '../../src/net/vip.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('IPv6 text', () => {
  it.each([
    ['2001:db8:0:0:0:0:0:10', '2001:db8::10'],
    ['2001:DB8:0000:0:0:0:0:0010', '2001:db8::10'],
    ['fd00:236:1::100', 'fd00:236:1::100'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],        // longest run wins
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],       // first of two equal runs
    ['2001:db8:1:2:3:4:5:0', '2001:db8:1:2:3:4:5:0'],    // one zero group is not compressed
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ])('%s -> %s', (text, want) => {
    expect(formatIPv6(parseIPv6(text)!)).toBe(want);
    expect(canonicalIp(text)).toBe(want);
  });

  it.each(['2001:db8::1::2', '2001:db8:0:0:0:0:0:0:1', '2001:db8:0:0:0:0:10', 'fe80::1%eth0', '12345::', 'g::1', '1.2.3'])('refuses %s', (t) => {
    expect(parseIPv6(t)).toBeUndefined();
  });
});

describe('unsolicited neighbour advertisement', () => {
  // Captured from Linux 6.x itself (its ndisc_send_unsol_na, enabled by
  // net.ipv6.conf.x0.ndisc_notify=1) on a veth in a namespace:
  //   ip netns exec Y tcpdump -i y0 -w na.pcap 'icmp6 and ip6[40]=136'
  //   ip -n X addr add 2001:db8:0:0:0:0:0:11/64 dev x0; tcpdump -r na.pcap -xx
  const mac = hex('02005e100001');
  const kernel = [
    ['2001:db8::11', `3333 0000 0001 0200 5e10 0001 86dd 6000
      0000 0020 3aff 2001 0db8 0000 0000 0000
      0000 0000 0011 ff02 0000 0000 0000 0000
      0000 0000 0001 8800 9afa 2000 0000 2001
      0db8 0000 0000 0000 0000 0000 0011 0201
      0200 5e10 0001`],
    ['fe80::5eff:fe10:1', `3333 0000 0001 0200 5e10 0001 86dd 6000
      0000 0020 3aff fe80 0000 0000 0000 0000
      5eff fe10 0001 ff02 0000 0000 0000 0000
      0000 0000 0001 8800 3f6a 2000 0000 fe80
      0000 0000 0000 0000 5eff fe10 0001 0201
      0200 5e10 0001`],
  ] as const;

  it.each(kernel)('for %s is byte for byte what the kernel sends', (ip, bytes) => {
    expect(buildUnsolicitedNa(mac, ip).toString('hex')).toBe(hex(bytes).toString('hex'));
  });

  it('has the RFC 4861 layout', () => {
    const f = buildUnsolicitedNa(hex('020000000002'), '2001:db8:0:0:0:0:0:10');
    expect(f.length).toBe(NA_FRAME_LEN);
    expect(f.subarray(0, 6).toString('hex')).toBe('333300000001');             // to all nodes
    expect(f.subarray(6, 12).toString('hex')).toBe('020000000002');
    expect(f.readUInt16BE(12)).toBe(0x86dd);
    expect(f[14]! >> 4).toBe(6);
    expect(f.readUInt16BE(18)).toBe(32);                                      // payload: NA 24 + option 8
    expect(f[20]).toBe(58);                                                   // ICMPv6
    expect(f[21]).toBe(255);                                                  // hop limit (receivers drop anything else)
    expect(formatIPv6(f.subarray(22, 38))).toBe('2001:db8::10');              // source = the VIP
    expect(formatIPv6(f.subarray(38, 54))).toBe('ff02::1');
    expect(f[54]).toBe(136);                                                  // neighbour advertisement
    expect(f[55]).toBe(0);
    expect(f[58]! & 0x80).toBe(0);                                            // Router clear
    expect(f[58]! & 0x40).toBe(0);                                            // Solicited clear (multicast)
    expect(f[58]! & 0x20).toBe(0x20);                                         // Override set
    expect(formatIPv6(f.subarray(62, 78))).toBe('2001:db8::10');              // target = the VIP
    expect([f[78], f[79]]).toEqual([2, 1]);                                   // target link-layer address option
    expect(f.subarray(80, 86).toString('hex')).toBe('020000000002');
    // The checksum verifies: summing over the message with it in place gives 0.
    const icmp = f.subarray(54);
    expect(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), icmp)).toBe(icmp.readUInt16BE(2));
  });

  it('refuses what is not an IPv6 address or a MAC', () => {
    expect(() => buildUnsolicitedNa(mac, '10.0.0.1')).toThrow(/not an IPv6/);
    expect(() => buildUnsolicitedNa(Buffer.alloc(5), '2001:db8::1')).toThrow(/6 bytes/);
  });
});

describe('rtnetlink encoding', () => {
  it('RTM_NEWADDR for an IPv6 VIP: create-exclusive, acknowledged, without DAD', () => {
    const vip = parseIPv6('2001:db8::10')!;
    const m = encodeAddr('add', { index: 7, address: vip, prefixLen: 64, flags: IFA_F_NODAD }, 0x01020304);
    // nlmsghdr (host order, little-endian)
    expect(m.readUInt32LE(0)).toBe(m.length);
    expect(m.length).toBe(16 + 8 + (4 + 16) * 2 + (4 + 4));
    expect(m.readUInt16LE(4)).toBe(RTM_NEWADDR);
    expect(m.readUInt16LE(6)).toBe(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    expect(m.readUInt32LE(8)).toBe(0x01020304);
    expect(m.readUInt32LE(12)).toBe(0);
    // ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, universe scope, ifindex 7
    expect([...m.subarray(16, 20)]).toEqual([10, 64, 2, 0]);
    expect(m.readUInt32LE(20)).toBe(7);
    const attrs = parseAttrs(m, 24);
    expect(attrs.get(2)?.equals(vip)).toBe(true);          // IFA_LOCAL
    expect(attrs.get(1)?.equals(vip)).toBe(true);          // IFA_ADDRESS
    expect(attrs.get(8)?.readUInt32LE(0)).toBe(IFA_F_NODAD); // IFA_FLAGS
  });

  it('RTM_NEWADDR for IPv4 with broadcast and label; RTM_DELADDR; link up; dump', () => {
    const m = encodeAddr('add', { index: 3, address: hex('0aec0164'), prefixLen: 24, broadcast: hex('0aec01ff'), label: 'eth0:1' }, 9);
    expect([...m.subarray(16, 20)]).toEqual([2, 24, 0, 0]);
    const a = parseAttrs(m, 24);
    expect(a.get(4)?.toString('hex')).toBe('0aec01ff');
    expect(a.get(3)?.toString()).toBe('eth0:1\0');
    expect(a.has(8)).toBe(false);
    // attributes are padded to 4 bytes: "eth0:1\0" is 7 -> 8
    expect(m.length).toBe(16 + 8 + 8 + 8 + 8 + 12);

    const d = encodeAddr('del', { index: 3, address: hex('0aec0164'), prefixLen: -1 }, 10);
    expect(d.readUInt16LE(4)).toBe(RTM_DELADDR);
    expect(d.readUInt16LE(6)).toBe(NLM_F_REQUEST | NLM_F_ACK);
    expect([...parseAttrs(d, 24).keys()]).toEqual([2]);    // local only: any prefix matches

    const up = encodeLinkUp(4, true, 11);
    expect(up.readUInt16LE(4)).toBe(RTM_NEWLINK);
    expect(up.readInt32LE(20)).toBe(4);
    expect(up.readUInt32LE(24)).toBe(1);                   // IFF_UP set...
    expect(up.readUInt32LE(28)).toBe(1);                   // ...and only IFF_UP changed

    const dump = encodeDump(RTM_GETADDR, 0, 12);
    expect(dump.readUInt16LE(6)).toBe(NLM_F_REQUEST | 0x300);
  });

  it('splits a datagram of several replies and reads acks, errors and the end of a dump', () => {
    const ack = encodeMessage(NLMSG_ERROR, 0, 5, Buffer.alloc(20));
    const errBody = Buffer.alloc(20);
    errBody.writeInt32LE(-17, 0);                          // -EEXIST
    const err = encodeMessage(NLMSG_ERROR, 0, 6, errBody);
    const done = encodeMessage(NLMSG_DONE, 2, 7, Buffer.alloc(4));
    const msgs = splitMessages(Buffer.concat([ack, err, done, Buffer.from([1, 2, 3])]));
    expect(msgs.map((m) => [m.type, m.seq])).toEqual([[NLMSG_ERROR, 5], [NLMSG_ERROR, 6], [NLMSG_DONE, 7]]);
    expect(decodeError(msgs[0]!.body)).toBe(0);
    expect(decodeError(msgs[1]!.body)).toBe(17);
    // A length field pointing past the end stops the split instead of reading beyond it.
    const bad = Buffer.from(ack);
    bad.writeUInt32LE(1000, 0);
    expect(splitMessages(bad)).toEqual([]);
  });

  it('decodes address and link messages (what dumps and events carry)', () => {
    const vip = parseIPv6('fd00:236:1::100')!;
    const add = encodeAddr('add', { index: 9, address: vip, prefixLen: 64, flags: IFA_F_NODAD }, 1);
    expect(decodeAddr(add.subarray(16))).toEqual({ family: 6, index: 9, prefixLen: 64, flags: IFA_F_NODAD, scope: 0, address: 'fd00:236:1::100' });
    const ev = decodeEvent({ type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0, body: add.subarray(16) });
    expect(ev).toEqual({ kind: 'address', op: 'add', index: 9, family: 6, address: 'fd00:236:1::100', prefixLen: 64, secondary: false });

    const info = Buffer.alloc(16);
    info.writeInt32LE(4, 4);
    info.writeUInt32LE(0x1 | 0x2 | 0x1000, 8);             // UP, BROADCAST, MULTICAST; no RUNNING, no LOWER_UP
    const name = Buffer.from('veth0\0\0\0');
    const attr = Buffer.alloc(4);
    attr.writeUInt16LE(4 + 6, 0);
    attr.writeUInt16LE(3, 2);                               // IFLA_IFNAME
    const body = Buffer.concat([info, attr, name]);
    expect(decodeLink(body)).toMatchObject({ index: 4, name: 'veth0', up: true, running: false, carrier: false });
    expect(decodeEvent({ type: RTM_NEWLINK, flags: 0, seq: 0, pid: 0, body })).toEqual({
      kind: 'link', index: 4, name: 'veth0', up: true, running: false, carrier: false, loopback: false, noarp: false, removed: false,
    });
  });
});

describe('address registry', () => {
  it('one owner per address; a second claim names both; release frees it', () => {
    const r = new AddressRegistry();
    expect(r.claim('10.0.0.5', "group 'A'", 'haresources:1')).toEqual({ ok: true });
    expect(r.claim('10.0.0.5', "group 'A'")).toEqual({ ok: true });       // the same owner again
    const c = r.claim('10.0.0.5', "group 'B'", 'haresources:3', '10.0.0.5/24');
    expect(c.ok).toBe(false);
    if (!c.ok) {
      expect(c.holder.owner).toBe("group 'A'");
      expect(c.message).toBe("10.0.0.5/24 is already claimed by group 'A' at haresources:1");
    }
    expect(r.release('10.0.0.5', "group 'B'")).toBe(false);               // not B's to give up
    expect(r.holderOf('10.0.0.5')?.owner).toBe("group 'A'");
    expect(r.release('10.0.0.5', "group 'A'")).toBe(true);
    expect(r.claim('10.0.0.5', "group 'B'")).toEqual({ ok: true });
  });

  it('keys IPv6 by its canonical form, so two spellings are one address', () => {
    const r = new AddressRegistry();
    r.claim('2001:db8:0:0:0:0:0:10', 'vrrp VI_1');
    const c = r.claim('2001:DB8::0010', "group 'web'");
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.message).toBe('2001:DB8::0010 is already claimed by vrrp VI_1');
    r.releaseOwner('vrrp VI_1');
    expect(r.claims()).toEqual([]);
  });
});

describe('VIP arguments', () => {
  it('IPv6addr and IPaddr2 take IPv6 written without "::"', () => {
    expect(parseVipArgs('IPv6addr', ['2001:db8:0:0:0:0:0:10/64/eth0'])).toEqual({
      family: 6, ip: '2001:db8::10', prefixLen: 64, nic: 'eth0', arpCount: 5, arpIntervalMs: 200,
    });
    expect(parseVipArgs('IPaddr2', ['fd00:236:0:0:0:0:0:100/64/eth0', 'arp_count=2', 'arp_interval=50']))
      .toMatchObject({ family: 6, ip: 'fd00:236::100', arpCount: 2, arpIntervalMs: 50 });
    expect(parseVipArgs('IPv6addr', ['2001:db8:0:0:0:0:0:10/eth1'])).toMatchObject({ nic: 'eth1' });
    expect(parseVipArgs('IPv6addr', ['2001:db8:0:0:0:0:0:10'])).toEqual({ family: 6, ip: '2001:db8::10', arpCount: 5, arpIntervalMs: 200 });
  });

  it.each([
    [['2001:db8', '10/64/eth0'], /cannot be written with "::" in haresources.*all eight groups/],
    [['2001:db8:0:0:0:0:0:10/129/eth0'], /prefix length "129" is not in 1\.\.128/],
    [['2001:db8:0:0:0:0:0:10/64/eth0:1'], /no interface label/],
    [['2001:db8:0:0:0:0:0:10/64/eth0/x'], /too many "\/" fields/],
    [['fe80:0:0:0:0:0:0:1/64/eth0'], /link-local address and cannot be a service address/],
    [['ff02:0:0:0:0:0:0:1/64/eth0'], /multicast/],
    [['10.0.0.5/24/eth0'], /not an IPv6 address \(IPv4 addresses go to IPaddr2\)/],
    [['2001:db8:0:0:0:0:0:10/64/eth0', 'bogus=1'], /unknown argument "bogus=1"/],
  ])('IPv6addr %j is refused', (args, why) => {
    expect(parseVipArgs('IPv6addr', args)).toMatch(why);
  });

  it('findif places an IPv6 VIP by its global subnet, never by link-local', () => {
    const spec = parseVipArgs('IPv6addr', ['fd00:236:1:0:0:0:0:100']) as VipSpec;
    const ifs = [
      { name: 'lo', index: 1, loopback: true, addresses: [{ family: 6 as const, address: '::1', prefixLen: 128, secondary: false }] },
      { name: 'eth0', index: 2, loopback: false, addresses: [
        { family: 6 as const, address: 'fe80::1', prefixLen: 64, secondary: false },
        { family: 4 as const, address: '10.236.1.1', prefixLen: 24, secondary: false },
      ] },
      { name: 'eth1', index: 3, loopback: false, addresses: [{ family: 6 as const, address: 'fd00:236:1::1', prefixLen: 64, secondary: false }] },
    ];
    const p = placeVip(spec, ifs, 'x');
    expect(typeof p === 'string' ? p : [p.nic.name, p.prefixLen, p.broadcast]).toEqual(['eth1', 64, undefined]);
    const none = placeVip(parseVipArgs('IPv6addr', ['fd00:999:0:0:0:0:0:1']) as VipSpec, ifs, 'IPv6addr::fd00:999:0:0:0:0:0:1/64/eth0');
    expect(none).toBe('no interface has an IPv6 subnet containing fd00:999::1, so there is no interface to put it on; name one explicitly, e.g. IPv6addr::fd00:999:0:0:0:0:0:1/64/eth0');
  });
});
