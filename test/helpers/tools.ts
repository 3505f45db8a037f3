// The system tools the tests drive, and the Debian package each comes from.
// A test that needs one calls need() first, so a machine without it fails
// with the package to install instead of a timeout or an ENOENT deep inside.
// .ci/run installs exactly these packages; README lists them.

import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Tool (a command, or an absolute path for a file that is not on PATH) -> Debian package. */
export const TOOL_PACKAGES = {
  ip: 'iproute2',
  ss: 'iproute2',
  socat: 'socat',
  ping: 'iputils-ping',
  nft: 'nftables',
  tcpdump: 'tcpdump',
  ipmi_sim: 'openipmi',
  ipmitool: 'ipmitool',
  fence_ipmilan: 'fence-agents',
  '/usr/lib/stonith/plugins/external/ipmi': 'cluster-glue',
  etcd: 'etcd-server',
  mount: 'mount',
  '/usr/libexec/heartbeat/heartbeat': 'heartbeat',
  '/usr/sbin/keepalived': 'keepalived',
  '/usr/bin/chromium': 'chromium',
  '/usr/bin/systemd-analyze': 'systemd',
  '/usr/bin/man': 'man-db',
  groff: 'groff-base',
  '/usr/bin/python3': 'python3',
  // The IPVS kernel tests: a qemu guest (lab/kvm.ts) with Debian's kernel,
  // busybox as its init, xz to cut the vmlinux out of the bzImage, ipvsadm
  // as the independent reader of what tandem programmed.
  'qemu-system-x86_64': 'qemu-system-x86',
  '/bin/busybox': 'busybox-static',
  xz: 'xz-utils',
  ipvsadm: 'ipvsadm',
  openssl: 'openssl',
  dnsmasq: 'dnsmasq-base',
  '/usr/lib/python3/dist-packages/aiosmtpd': 'python3-aiosmtpd',
  '/usr/lib/ocf/resource.d/heartbeat/Dummy': 'resource-agents',
  '/usr/lib/ocf/resource.d/heartbeat/IPaddr2': 'resource-agents',
} as const;

export type Tool = keyof typeof TOOL_PACKAGES;

// Root's PATH normally has the sbin directories; a test runner's may not.
const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The path of an executable tool, or undefined. */
export function findTool(tool: string): string | undefined {
  const candidates = isAbsolute(tool)
    ? [tool]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH].map((d) => join(d, tool));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch { /* next */ }
  }
  return undefined;
}

/** The failure a missing tool gives: names the Debian package and the command that installs it. */
export function missingToolMessage(tool: string, pkg: string): string {
  return `needs Debian package ${pkg} (apt-get install ${pkg}): ${isAbsolute(tool) ? tool : `'${tool}'`} not found`;
}

/** Throws, naming the packages, unless every [tool, package] is installed. */
export function needTools(tools: Array<[string, string]>): void {
  const missing = tools.filter(([t]) => !findTool(t)).map(([t, pkg]) => missingToolMessage(t, pkg));
  if (missing.length) throw new Error(missing.join('; '));
}

/** Throws, naming the package, unless every tool is installed. Call it in beforeAll. */
export function need(...tools: Tool[]): void {
  needTools(tools.map((t) => [t, TOOL_PACKAGES[t]]));
}

/** What lab/pair.ts runs in its namespaces: the service, the client's probes, the arbiter wait. */
export const PAIR_TOOLS: Tool[] = ['ip', 'ss', 'socat', 'ping'];
