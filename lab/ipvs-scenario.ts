// The IPVS kernel test's scenario, shared by the guest side (lab/ipvs-guest.ts)
// and the assertions on the host (test/netns/ipvs-kernel.test.ts).

import type { IpvsDesiredService } from '../src/net/ipvs-reconcile.js';
import type { IpvsService } from '../src/net/ipvs-codec.js';

export const VIP = '10.180.0.100';
export const RS1 = '10.180.2.11';
export const RS2 = '10.180.3.12';
export const CONNECTIONS = 30;

export const WEB: IpvsService = { family: 4, protocol: 'tcp', address: VIP, port: 80, scheduler: 'wrr' };
export const DNS: IpvsService = { family: 4, protocol: 'udp', address: VIP, port: 53, scheduler: 'rr', persistence: 300, netmask: 24 };
export const MARK: IpvsService = { family: 4, fwmark: 7, scheduler: 'sh', persistence: 60 };
/** Not tandem's: added with ipvsadm, as an operator would. */
export const FOREIGN = { args: ['-A', '-t', '10.180.0.200:443', '-s', 'rr'], line: 'TCP  10.180.0.200:443 rr' };

export const DESIRED: IpvsDesiredService[] = [
  { service: WEB, dests: [{ address: RS1, port: 8080, forward: 'masq', weight: 2 }, { address: RS2, port: 8080, forward: 'masq', weight: 1 }] },
  { service: DNS, dests: [{ address: RS1, port: 53, forward: 'route', weight: 1, upperThreshold: 100, lowerThreshold: 10 }] },
  { service: MARK, dests: [{ address: RS2, port: 0, forward: 'tunnel', weight: 3 }] },
];

