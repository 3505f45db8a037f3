// The LVS virtual services as IPVS wants them (pure): what the kernel is
// asked to balance (LvsKernelService, the same for both backends) becomes
// IPVS services and real servers for the IPVS backend (ipvs.ts IpvsBackend,
// whose plan, ipvs-reconcile.ts, adopts what a crashed daemon left).
//
// Each address of a service (each member of a group) is one IPVS service;
// a fwmark is one too, without protocol. A server out of the balancer
// (`active` false) is not there; the sorry server, while it has a weight
// (quorum lost), stands alone in the service, as in keepalived. A real
// server's uthreshold/lthreshold become IPVS's connection limits.

import { parseIp } from './addr.js';
import type { IpvsDest, IpvsForward, IpvsService } from './ipvs-codec.js';
import type { IpvsDesiredService } from './ipvs-reconcile.js';
import type { LvsDest, LvsKernelService } from './lvs-nft.js';

const FORWARD: Record<LvsDest['fwd'], IpvsForward> = { nat: 'masq', dr: 'route', tun: 'tunnel' };

/** One IPVS service of a kernel service, and which of its LvsDest ids each real server is (for the counters). */
export interface LvsIpvsService extends IpvsDesiredService {
  ids: string[];
}

export function lvsIpvsServices(s: LvsKernelService): LvsIpvsService[] {
  const inKernel = s.dests.filter((d) => d.active);
  const sorry = inKernel.find((d) => d.id === 'sorry' && d.weight > 0);
  const chosen: LvsDest[] = sorry ? [sorry] : inKernel;
  const options = {
    scheduler: s.sched,
    ...(s.persistence ? { persistence: s.persistence.timeoutS, netmask: s.persistence.prefixLen } : {}),
  };
  return s.match.map((m) => {
    const service: IpvsService = m.kind === 'fwmark'
      ? { family: s.family, fwmark: m.mark, ...options }
      : { family: s.family, protocol: s.protocol, address: parseIp(m.ip)!.text, port: m.port, ...options };
    // A real server without a port takes the service's (a fwmark service keeps 0: the packet's own).
    const port = (d: LvsDest): number => (d.port === 0 && m.kind === 'addr' ? m.port : d.port);
    const dests: IpvsDest[] = chosen.map((d) => ({
      address: parseIp(d.ip)!.text, port: port(d), forward: FORWARD[d.fwd], weight: d.weight,
      ...(d.upperThreshold ? { upperThreshold: d.upperThreshold } : {}),
      ...(d.lowerThreshold ? { lowerThreshold: d.lowerThreshold } : {}),
    }));
    return { service, dests, ids: chosen.map((d) => d.id) };
  });
}
