// `check-config -f FILE` and `run -f FILE`: a keepalived.conf alone, or with
// a Heartbeat directory, where an address claimed by both a haresources group
// and a vrrp_instance is refused at both lines (two owners would take it in
// turns), and ha.cf's vrrp_guard must name units of this file.

import { join } from 'node:path';

import { formatKaIssue, loadKeepalived, sortKaIssues, type KaIssue } from '../config/keepalived.js';
import { formatIssue, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import type { VrrpConfig } from '../vrrp/config.js';
import { canonicalIp } from '../net/addr.js';
import { resolveVrrpGuard } from '../config/vrrp-guard.js';

export interface KeepalivedCheck {
  ok: boolean;
  /** Every problem, FILE:LINE: message, errors and warnings. */
  lines: string[];
  warnings: number;
  instances: number;
  /** virtual_server blocks (LVS). */
  services: number;
}

const ADDRESS_AGENTS = new Set(['IPaddr', 'IPaddr2', 'IPv6addr']);

/** Addresses claimed by both sides, as issues at each line. */
export function sharedAddresses(ha: Config, vrrp: VrrpConfig): KaIssue[] {
  const claimed = new Map<string, { group: string; line: number }>();
  for (const g of ha.groups) {
    for (const res of g.resources) {
      if (!ADDRESS_AGENTS.has(res.agent)) continue;
      const ip = canonicalIp((res.args[0] ?? '').split('/')[0] ?? '');
      if (ip !== undefined && !claimed.has(ip)) claimed.set(ip, { group: g.name, line: g.line });
    }
  }
  const resFile = join(ha.dir, 'haresources');
  const out: KaIssue[] = [];
  for (const i of vrrp.instances) {
    for (const v of [...i.vips, ...i.excludedVips]) {
      const h = claimed.get(v.address);
      if (!h) continue;
      out.push({ file: v.file, line: v.line, severity: 'error', message: `${v.address} of vrrp_instance ${i.name} is also managed by haresources group ${h.group} (${resFile}:${h.line}); an address has one owner` });
      out.push({ file: resFile, line: h.line, severity: 'error', message: `${v.address} of group ${h.group} is also a virtual address of vrrp_instance ${i.name} (${v.file}:${v.line}); an address has one owner` });
    }
  }
  return out;
}

export function checkKeepalived(file: string, dir: string | undefined, initDir: string): KeepalivedCheck {
  const ka = loadKeepalived(file);
  const lines: string[] = [];
  let ok = ka.config !== undefined;
  let kaIssues = ka.issues;
  if (dir !== undefined) {
    const ha = loadConfig(dir, { initDir, checkMode: true });
    if (!ha.config || ha.issues.length) ok = false;
    for (const i of ha.issues) lines.push(formatIssue(i));
    if (ha.config && ka.config) {
      const shared = sharedAddresses(ha.config, ka.config.vrrp);
      // ha.cf's vrrp_guard names units of this file: checked here, so run refuses to start as check-config does.
      const guard = resolveVrrpGuard(ha.config.hacf, ka.config.vrrp, file).issues.map((i): KaIssue => ({ ...i, severity: 'error' }));
      if (shared.length || guard.length) ok = false;
      kaIssues = sortKaIssues([...kaIssues, ...shared, ...guard]);
    }
  }
  lines.push(...kaIssues.map(formatKaIssue));
  return { ok, lines, warnings: kaIssues.filter((i) => i.severity === 'warning').length, instances: ka.config?.vrrp.instances.length ?? 0, services: ka.config?.lvs.services.length ?? 0 };
}
