// The LVS services as IPVS services (src/net/lvs-ipvs.ts): what the IPVS
// backend asks the kernel for. The kernel's side runs in
// test/netns/ipvs-kernel.test.ts (a qemu guest).

import { describe, expect, it } from 'vitest';
import { serviceKeyText } from '../../src/net/ipvs-codec.js';
import { lvsIpvsServices } from '../../src/net/lvs-ipvs.js';
import type { LvsKernelService } from '../../src/net/lvs-nft.js';

describe('LVS services as IPVS services', () => {
  it('one IPVS service per address of a group; servers out of the balancer left out; the sorry server alone while it has a weight', () => {
    const k: LvsKernelService = {
      id: 's0', name: 'group G', family: 4, protocol: 'tcp', sched: 'wrr',
      match: [{ kind: 'addr', ip: '10.0.0.1', port: 80 }, { kind: 'addr', ip: '10.0.0.2', port: 8080 }],
      dests: [
        { id: 'd0', ip: '10.0.1.1', port: 0, weight: 2, active: true, fwd: 'nat' },
        { id: 'd1', ip: '10.0.1.2', port: 80, weight: 0, active: false, fwd: 'nat' },
        { id: 'sorry', ip: '10.0.1.9', port: 80, weight: 0, active: true, fwd: 'nat' },
      ],
    };
    const w = lvsIpvsServices(k);
    expect(w.map((x) => [serviceKeyText(x.service), x.ids, x.dests.map((d) => `${d.address}:${d.port} ${d.forward} ${d.weight}`)])).toEqual([
      ['TCP 10.0.0.1:80', ['d0', 'sorry'], ['10.0.1.1:80 masq 2', '10.0.1.9:80 masq 0']],
      // A real server without a port takes the address's.
      ['TCP 10.0.0.2:8080', ['d0', 'sorry'], ['10.0.1.1:8080 masq 2', '10.0.1.9:80 masq 0']],
    ]);
    expect(w[0]!.service).toEqual({ family: 4, protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr' });
    k.dests[2]!.weight = 1;
    expect(lvsIpvsServices(k)[0]!.ids).toEqual(['sorry']);
  });

  it('fwmark with persistence: no protocol, the granularity as a prefix, ports 0; DR and TUN forwarding; uthreshold/lthreshold as limits', () => {
    const k: LvsKernelService = {
      id: 's1', name: 'fwmark 1', family: 4, protocol: 'tcp', sched: 'sh', persistence: { timeoutS: 300, prefixLen: 24 },
      match: [{ kind: 'fwmark', mark: 1 }],
      dests: [{ id: 'd0', ip: '10.0.1.1', port: 0, weight: 1, active: true, fwd: 'dr' }, { id: 'd1', ip: '10.0.1.2', port: 0, weight: 3, active: true, fwd: 'tun', upperThreshold: 100, lowerThreshold: 10 }],
    };
    expect(lvsIpvsServices(k)).toEqual([{
      service: { family: 4, fwmark: 1, scheduler: 'sh', persistence: 300, netmask: 24 },
      dests: [{ address: '10.0.1.1', port: 0, forward: 'route', weight: 1 }, { address: '10.0.1.2', port: 0, forward: 'tunnel', weight: 3, upperThreshold: 100, lowerThreshold: 10 }],
      ids: ['d0', 'd1'],
    }]);
  });
});
