// The nftables balancer's batches (src/net/lvs-nft.ts) and the pool machine
// that decides what goes in them (src/lvs/pool.ts). The kernel's side is
// test/netns/lvs-nft.test.ts.

import { describe, expect, it } from 'vitest';
import { lvsNftBatch, parseLvsCounters, slotSequence, type LvsKernelService } from '../../src/net/lvs-nft.js';
import { loadKeepalived } from '../../src/config/keepalived.js';
import { kernelServices, newPoolState, poolStep } from '../../src/lvs/pool.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const svc = (o: Partial<LvsKernelService> = {}): LvsKernelService => ({
  id: 's0', name: '10.160.1.100:80 TCP', family: 4, protocol: 'tcp', sched: 'wrr', match: [{ kind: 'addr', ip: '10.160.1.100', port: 80 }],
  dests: [
    { id: 'd0', ip: '10.160.2.11', port: 8080, weight: 2, active: true, fwd: 'nat' },
    { id: 'd1', ip: '10.160.2.12', port: 8080, weight: 1, active: true, fwd: 'nat' },
    { id: 'd2', ip: '10.160.2.13', port: 8080, weight: 1, active: true, fwd: 'nat' },
  ],
  ...o,
});

describe('nftables balancer batches', () => {
  it('slots: weights reduced by their divisor and interleaved; capped at 256', () => {
    expect(slotSequence([{ weight: 4, v: 'a' }, { weight: 2, v: 'b' }, { weight: 2, v: 'c' }])).toEqual(['a', 'b', 'c', 'a']);
    expect(slotSequence([{ weight: 0, v: 'a' }, { weight: 3, v: 'b' }])).toEqual(['b']);
    expect(slotSequence([{ weight: 1000, v: 'a' }, { weight: 1, v: 'b' }]).length).toBeLessThanOrEqual(257);
  });

  it('the first batch replaces the table whole; later ones refill chains and maps in one transaction, flushing the persistence of a server that left', () => {
    const first = lvsNftBatch([svc({ persistence: { timeoutS: 30, prefixLen: 24 } })]);
    expect(first.split('\n').slice(0, 3)).toEqual(['table ip tandem_lvs {}', 'delete table ip tandem_lvs', 'table ip tandem_lvs {']);
    expect(first).toContain('add element ip tandem_lvs s0_slots { 0 : 10.160.2.11 . 8080, 1 : 10.160.2.12 . 8080, 2 : 10.160.2.13 . 8080, 3 : 10.160.2.11 . 8080 }');
    expect(first).toContain('add rule ip tandem_lvs s0 meta l4proto tcp dnat ip addr . port to numgen inc mod 4 map @s0_slots');
    expect(first).toContain('add rule ip tandem_lvs s0 ip saddr & 255.255.255.0 @s0_p_d0 meta l4proto tcp dnat ip to 10.160.2.11:8080');
    expect(first).toContain('\tset s0_p_d1 { type ipv4_addr; size 65536; flags dynamic,timeout; timeout 30s; }');
    expect(first).toContain('add rule ip tandem_lvs post meta l4proto tcp ct original ip daddr 10.160.1.100 ct original proto-dst 80 ip daddr 10.160.2.11 tcp dport 8080 counter name s0_c_d0 update @s0_p_d0 { ip saddr & 255.255.255.0 }');
    const prev = svc({ persistence: { timeoutS: 30, prefixLen: 24 } });
    const next = svc({ persistence: { timeoutS: 30, prefixLen: 24 } });
    next.dests[1]!.active = false;
    const refill = lvsNftBatch([next], [prev]);
    expect(refill).not.toContain('delete table');
    expect(refill).toContain('flush set ip tandem_lvs s0_p_d1');
    expect(refill).toContain('add element ip tandem_lvs s0_slots { 0 : 10.160.2.11 . 8080, 1 : 10.160.2.13 . 8080, 2 : 10.160.2.11 . 8080 }');
    expect(refill).not.toContain('@s0_p_d1 meta');
    // No services: no table.
    expect(lvsNftBatch([])).toBe('table ip tandem_lvs {}\ndelete table ip tandem_lvs\n');
  });

  it('fwmark services keep the packet\'s port; sh hashes the client; the sorry server takes everything while it has a weight', () => {
    const fw = lvsNftBatch([svc({ match: [{ kind: 'fwmark', mark: 1 }], sched: 'sh', dests: svc().dests.map((d) => ({ ...d, port: 0 })) })]);
    expect(fw).toContain('add rule ip tandem_lvs pre meta mark 1 jump s0');
    expect(fw).toContain('add rule ip tandem_lvs s0 dnat ip to jhash ip saddr mod 3 map @s0_slots');
    const sorry = lvsNftBatch([svc({ dests: [...svc().dests.map((d) => ({ ...d, active: false })), { id: 'sorry', ip: '10.160.2.99', port: 80, weight: 1, active: true, fwd: 'nat' }] })]);
    expect(sorry).toContain('add element ip tandem_lvs s0_slots { 0 : 10.160.2.99 . 80 }');
  });

  it('refuses what it cannot carry out, naming the service', () => {
    expect(() => lvsNftBatch([svc({ dests: [{ ...svc().dests[0]!, fwd: 'dr' }] })])).toThrow(/lb_kind DR is not carried out by the nftables balancer/);
    expect(() => lvsNftBatch([svc({ family: 6 })])).toThrow(/IPv4 services only/);
  });

  it('reads the counters back from nft -j', () => {
    const j = '{"nftables": [{"metainfo": {}}, {"counter": {"family": "ip", "name": "s0_c_d0", "table": "tandem_lvs", "handle": 5, "packets": 7, "bytes": 420}}]}';
    expect([...parseLvsCounters(j)]).toEqual([['s0_c_d0', { packets: 7, bytes: 420 }]]);
    expect(parseLvsCounters('not json').size).toBe(0);
  });
});

const work = mkdtempSync(join(tmpdir(), 'tandem-pool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('pool machine', () => {
  const file = join(work, 'k.conf');
  writeFileSync(file, `virtual_server 10.160.1.100 80 {
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  quorum 3
  hysteresis 1
  sorry_server 10.160.2.99 80
  real_server 10.160.2.11 80 {
    weight 2
    inhibit_on_failure
    TCP_CHECK {
    }
  }
  real_server 10.160.2.12 80 {
    weight 2
    TCP_CHECK {
    }
    HTTP_GET {
      url {
        path /
      }
    }
  }
}
`);
  const cfg = loadKeepalived(file, { host: null }).config!.lvs;

  it('a server is alive while all its checkers are up; inhibit_on_failure keeps it at weight 0; quorum with hysteresis; the sorry server takes over', () => {
    const { state, checks } = newPoolState(cfg, 0);
    expect(checks.map((c) => c.id)).toEqual([0, 1, 2]);
    expect(state.services[0]!.quorum).toBe(true);
    const dests = () => kernelServices(state)[0]!.dests.map((d) => `${d.id}:${d.active ? d.weight : '-'}`);
    expect(dests()).toEqual(['d0:2', 'd1:2', 'sorry:-']);
    // One of d1's two checkers down: d1 is down, alive weight 2 < quorum 3 - hysteresis 1? No: 2 >= 2 keeps quorum.
    expect(poolStep(state, { kind: 'verdict', check: 2, up: false, reason: '/: HTTP 500' }, 10).map((e) => e.kind)).toEqual(['log', 'program']);
    expect(dests()).toEqual(['d0:2', 'd1:-', 'sorry:-']);
    expect(state.services[0]!.quorum).toBe(true);
    const fx = poolStep(state, { kind: 'verdict', check: 0, up: false, reason: 'connection refused' }, 20);
    expect(fx.filter((e) => e.kind === 'log').map((e) => e.kind === 'log' && e.message)).toEqual([
      '10.160.1.100:80 TCP: real server 10.160.2.11:80: down (connection refused); weight 0 (inhibit_on_failure)',
      '10.160.1.100:80 TCP: quorum lost (alive weight 0, quorum 3, hysteresis 1); sorry server 10.160.2.99 takes new connections',
    ]);
    expect(dests()).toEqual(['d0:0', 'd1:-', 'sorry:1']);
    // Back up: 4 >= quorum 3 + hysteresis 1.
    poolStep(state, { kind: 'verdict', check: 0, up: true, reason: 'connected' }, 30);
    expect(state.services[0]!.quorum).toBe(false);
    poolStep(state, { kind: 'verdict', check: 2, up: true, reason: '/: HTTP 200' }, 40);
    expect(state.services[0]!.quorum).toBe(true);
    expect(dests()).toEqual(['d0:2', 'd1:2', 'sorry:-']);
  });
});
