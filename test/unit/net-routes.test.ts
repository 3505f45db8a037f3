// Routes as rtnetlink bytes (what keepalived's virtual_routes become) and
// a virtual_routes line as the network core takes it. The kernel's side of
// the same messages is test/netns/vrrp-routes.test.ts.

import { describe, expect, it } from 'vitest';
import { routeText } from '../../src/net/core.js';
import { Netlink } from '../../src/net/netlink.js';
import { decodeRoute, encodeRoute, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNREACHABLE, RTPROT_KEEPALIVED, RT_SCOPE_HOST } from '../../src/net/rtnetlink.js';
import { routeSpec } from '../../src/vrrp/service.js';
import type { VrrpRouteSpec } from '../../src/vrrp/config.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const v4 = (s: string) => Buffer.from(s.split('.').map(Number));

describe('encodeRoute', () => {
  it('a blackhole in a table above 255: type 6, no gateway or device, rtm_table 0 and the table in RTA_TABLE', () => {
    const b = encodeRoute('add', { dst: v4('10.2.0.0'), dstLen: 16, table: 300, type: RTN_BLACKHOLE, protocol: RTPROT_KEEPALIVED }, 7);
    expect(b.toString('hex')).toBe(hex(`
      2c000000 1800 0506 07000000 00000000
      02 10 00 00 00 12 00 06 00000000
      0800 0100 0a020000
      0800 0f00 2c010000`).toString('hex'));
  });

  it('via a gateway, out of a device, with a source, metric and table: universe scope, every attribute', () => {
    const b = encodeRoute('add', { dst: v4('10.1.0.0'), dstLen: 16, gateway: v4('10.0.0.1'), oif: 3, metric: 5, table: 100, prefsrc: v4('10.0.0.100') }, 1);
    expect(b.toString('hex')).toBe(hex(`
      4c000000 1800 0506 01000000 00000000
      02 10 00 00 64 04 00 01 00000000
      0800 0100 0a010000
      0800 0f00 64000000
      0800 0500 0a000001
      0800 0400 03000000
      0800 0600 05000000
      0800 0700 0a000064`).toString('hex'));
  });

  it('a device route without a gateway is link scope; an explicit scope wins', () => {
    const link = encodeRoute('add', { dst: v4('10.3.0.0'), dstLen: 16, oif: 2 }, 1);
    expect(link[16 + 6]).toBe(253);
    const host = encodeRoute('add', { dst: v4('10.3.0.0'), dstLen: 16, oif: 2, scope: RT_SCOPE_HOST }, 1);
    expect(host[16 + 6]).toBe(254);
    for (const type of [RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT]) {
      const t = encodeRoute('add', { dst: v4('10.3.0.0'), dstLen: 16, type }, 1);
      expect([t[16 + 6], t[16 + 7]]).toEqual([0, type]);
    }
  });

  it('a default route carries no RTA_DST, in either family', () => {
    const d4 = encodeRoute('add', { dst: Buffer.alloc(4), dstLen: 0, gateway: v4('10.0.0.1') }, 2);
    expect(d4.toString('hex')).toBe(hex(`
      2c000000 1800 0506 02000000 00000000
      02 00 00 00 fe 04 00 01 00000000
      0800 0f00 fe000000
      0800 0500 0a000001`).toString('hex'));
    const d6 = encodeRoute('add', { dst: Buffer.alloc(16), dstLen: 0, type: RTN_UNREACHABLE }, 2);
    expect(d6.toString('hex')).toBe(hex(`
      24000000 1800 0506 02000000 00000000
      0a 00 00 00 fe 04 00 07 00000000
      0800 0f00 fe000000`).toString('hex'));
  });

  it('a delete names type, gateway, device and source so only that route matches; protocol only when asked', () => {
    const b = encodeRoute('del', { dst: v4('10.1.0.0'), dstLen: 16, gateway: v4('10.0.0.1'), oif: 3 }, 9);
    expect(b.toString('hex')).toBe(hex(`
      3c000000 1900 0500 09000000 00000000
      02 10 00 00 fe 00 ff 01 00000000
      0800 0100 0a010000
      0800 0f00 fe000000
      0800 0500 0a000001
      0800 0400 03000000`).toString('hex'));
    const marked = encodeRoute('del', { dst: v4('10.2.0.0'), dstLen: 16, type: RTN_BLACKHOLE, protocol: RTPROT_KEEPALIVED }, 9);
    expect([marked[16 + 5], marked[16 + 6], marked[16 + 7]]).toEqual([18, 255, 6]);
  });

  it('decodeRoute reads back the source address and a table above 255', () => {
    const b = encodeRoute('add', { dst: v4('10.4.0.0'), dstLen: 16, oif: 2, table: 300, prefsrc: v4('10.0.0.100') }, 1);
    expect(decodeRoute(b.subarray(16))).toMatchObject({ family: 4, dst: '10.4.0.0', dstLen: 16, table: 300, oif: 2, prefsrc: '10.0.0.100', scope: 253, type: 1 });
  });
});

describe('Netlink.route refuses before the kernel sees it', () => {
  it('host bits in the prefix, a gateway or device on a blackhole, a gateway of the other family, a scope out of range', async () => {
    const nl = Netlink.open();
    try {
      await expect(nl.route('add', { dst: '10.1.0.5', dstLen: 16 })).rejects.toThrow('10.1.0.5/16 has host bits set (the network is 10.1.0.0/16)');
      await expect(nl.route('add', { dst: 'fd00:1::5', dstLen: 32 })).rejects.toThrow('fd00:1::5/32 has host bits set (the network is fd00:1::/32)');
      await expect(nl.route('add', { dst: '10.2.0.0', dstLen: 16, type: 'blackhole', gateway: '10.0.0.1' })).rejects.toThrow('a blackhole route (10.2.0.0/16) takes no gateway and no device');
      await expect(nl.route('add', { dst: '0.0.0.0', dstLen: 0, type: 'prohibit', ifname: 'lo' })).rejects.toThrow('a prohibit route (default) takes no gateway and no device');
      await expect(nl.route('add', { dst: '10.2.0.0', dstLen: 16, gateway: 'fd00::1' })).rejects.toThrow('gateway "fd00::1" is not an IPv4 address');
      await expect(nl.route('add', { dst: '10.2.0.0', dstLen: 16, src: 'x' })).rejects.toThrow('source "x" is not an IPv4 address');
      await expect(nl.route('add', { dst: '10.2.0.0', dstLen: 16, scope: 256 })).rejects.toThrow('route 10.2.0.0/16: scope 256 is out of range (0 to 255)');
    } finally {
      nl.close();
    }
  });
});

describe('a virtual_routes line for the network core', () => {
  const at = { file: 'k.conf', line: 9 };
  const r = (o: Partial<VrrpRouteSpec>): VrrpRouteSpec => ({ ...at, to: '10.1.0.0/16', family: 4, ...o });

  it('maps keepalived words: default, a bare address as a host route, via, src, dev, metric, table, scope names', () => {
    expect(routeSpec(r({ to: 'default', via: '10.0.0.1', table: 100 }))).toEqual({ dst: '0.0.0.0', dstLen: 0, gateway: '10.0.0.1', table: 100 });
    expect(routeSpec(r({ to: 'default', family: 6, type: 'blackhole' }))).toEqual({ dst: '::', dstLen: 0, type: 'blackhole' });
    expect(routeSpec(r({ to: '10.1.2.3' }))).toEqual({ dst: '10.1.2.3', dstLen: 32 });
    expect(routeSpec(r({ src: '10.0.0.100', dev: 'eth1', metric: 5, scope: 'link' }))).toEqual({ dst: '10.1.0.0', dstLen: 16, src: '10.0.0.100', ifname: 'eth1', metric: 5, scope: 253 });
    expect(routeSpec(r({ scope: '200' }))).toMatchObject({ scope: 200 });
  });

  it('a blackhole names no device to the kernel (its dev is only what keepalived would track)', () => {
    expect(routeSpec(r({ type: 'blackhole', dev: 'eth0' }))).toEqual({ dst: '10.1.0.0', dstLen: 16, type: 'blackhole' });
  });

  it('a scope word the kernel has no number for is a reason, not a route', () => {
    expect(routeSpec(r({ scope: 'planet' }))).toMatch(/scope 'planet' is not global, site, link, host, nowhere or 0 to 255/);
    expect(routeSpec(r({ scope: '256' }))).toMatch(/scope '256'/);
  });

  it('routeText writes the route as ip route does', () => {
    expect(routeText({ dst: '10.2.0.0', dstLen: 16, type: 'blackhole', table: 300 })).toBe('blackhole 10.2.0.0/16 table 300');
    expect(routeText({ dst: '0.0.0.0', dstLen: 0, gateway: '10.0.0.1', ifname: 'eth0', src: '10.0.0.100', metric: 5 })).toBe('default via 10.0.0.1 dev eth0 src 10.0.0.100 metric 5');
  });
});
