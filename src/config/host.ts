// What `tandem check-config --host` adds to the file checks: does this
// configuration fit THIS machine? The node name, every heartbeat interface,
// serial device and IPaddr interface, each reported as FILE:LINE like the
// file checks, so what only `run` (or a 3 a.m. takeover) would find shows up
// in one check-config run.

import { join } from 'node:path';
import { BUILTIN_AGENTS } from './haresources.js';
import { parseIpAddrArgs } from '../agents/ipaddr.js';
import type { Config, ConfigIssue } from './types.js';
import { localHostFacts, type HostFacts } from './files.js';

export { localHostFacts, type HostFacts };

const u32 = (ip: string): number => ip.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

/**
 * Host issues for a configuration the file checks accepted. `node` is this
 * node's name (uname -n or --node); `nodeSource` says where it came from.
 */
export function checkHost(config: Config, node: string, nodeSource: string, facts: HostFacts = localHostFacts()): ConfigIssue[] {
  const h = config.hacf;
  const issues: ConfigIssue[] = [];
  if (!h.nodes.includes(node)) {
    issues.push({ file: h.file, line: 0, message: `this host is '${node}' (${nodeSource}), but the node line lists ${h.nodes.join(', ')}; run with --node NAME or fix the node line` });
  }
  const own = new Set<string>();
  for (const list of facts.interfaces.values()) for (const a of list) own.add(a.address);
  let reachesPeer = false;
  for (const m of h.media) {
    const name = m.kind === 'ucast' ? `ucast ${m.iface} ${m.peer}` : `${m.kind} ${m.iface}`;
    if (m.kind === 'ucast' && own.has(m.peer)) continue;   // this host's own line in a shared ha.cf
    reachesPeer = true;
    const addrs = facts.interfaces.get(m.iface);
    if (!addrs) issues.push({ file: h.file, line: m.line, message: `${name}: interface ${m.iface} does not exist on this host (interfaces: ${[...facts.interfaces.keys()].join(', ')})` });
    else if (addrs.length === 0) issues.push({ file: h.file, line: m.line, message: `${name}: interface ${m.iface} has no IPv4 address` });
  }
  for (const s of h.serial ?? []) {
    reachesPeer = true;
    const d = facts.device(s.device);
    if (d === 'other') issues.push({ file: h.file, line: s.line, message: `serial ${s.device} is not a character device (a tty such as /dev/ttyS0 is needed)` });
    else if (d !== 'char') issues.push({ file: h.file, line: s.line, message: `serial ${s.device}: ${d}` });
  }
  if (!reachesPeer && (h.media.length > 0 || (h.serial ?? []).length > 0)) {
    issues.push({ file: h.file, line: 0, message: 'no heartbeat medium reaches the peer (every ucast line names an address of this host)' });
  }
  const resFile = join(config.dir, 'haresources');
  for (const g of config.groups) {
    for (const r of g.resources) {
      if (!BUILTIN_AGENTS.has(r.agent)) continue;
      let p;
      try { p = parseIpAddrArgs(r); } catch { continue; }   // the file checks report it
      if (p.nic) {
        if (!facts.interfaces.has(p.nic)) issues.push({ file: resFile, line: g.line, message: `resource '${r.spec}': interface ${p.nic} does not exist on this host` });
        continue;
      }
      // IPv6 without an interface: placed at start (the host facts are IPv4 only).
      if (p.family === 6) continue;
      // No interface given: like Heartbeat's findif, one whose subnet holds the address must exist.
      const ip = u32(p.ip);
      const found = [...facts.interfaces.values()].some((list) => list.some((a) => {
        const mask = u32(a.netmask);
        return mask !== 0 && (u32(a.address) & mask) === (ip & mask);
      }));
      if (!found) issues.push({ file: resFile, line: g.line, message: `resource '${r.spec}': no interface on this host has a subnet holding ${p.ip}; name the interface (${r.agent}::${p.ip}/CIDR/NIC)` });
    }
  }
  return issues;
}
