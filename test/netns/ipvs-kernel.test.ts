// The kernel's IPVS driven by tandem's generic netlink client, in a qemu
// guest booting Debian's stock kernel (this machine's kernel has no IPVS):
// ONE boot runs lab/ipvs-guest.js, which programs services, sends traffic
// through a VIP in network namespaces (prefix tdip, 10.180.0.0/16, inside
// the guest: nothing is created on the host) and restarts the client over
// a table with leftovers; this file checks what it observed.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInGuest, type GuestRun } from '../../lab/kvm.js';
import { CONNECTIONS, DESIRED, DNS, FOREIGN, RS1, RS2, WEB } from '../../lab/ipvs-scenario.js';
import type { IpvsApplyResult } from '../../src/net/ipvs.js';
import type { IpvsChange, IpvsDesiredService, IpvsKernelService } from '../../src/net/ipvs-reconcile.js';
import type { IpvsInfo, IpvsStats } from '../../src/net/ipvs-codec.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Traffic { answers: Record<string, number>; failed: number; hits: Record<string, number> }
interface Failure { message: string; code?: string }
interface Observed {
  kernel: string;
  info: IpvsInfo;
  firstApply: IpvsApplyResult;
  readBack: IpvsKernelService[];
  ipvsadmAfterApply: string;
  reapply: IpvsChange[];
  duplicate: Failure | null;
  unknownScheduler: Failure | null;
  missingDest: Failure | null;
  missingService: Failure | null;
  traffic: Traffic;
  statsGenl: IpvsKernelService;
  statsIpvsadm: string;
  statsGenlAfter: IpvsKernelService;
  beforeRestart: string;
  restartApply: IpvsApplyResult;
  afterRestart: IpvsKernelService[];
  ipvsadmAfterRestart: string;
  restartReapply: IpvsChange[];
  trafficAfterRestart: Traffic;
  afterFlush: unknown[];
  ipvsadmAfterFlush: string;
  guestMs: number;
  phases: Record<string, number>;
}

let run: GuestRun;
let seen: Observed;

/** A service and its real servers as ipvsadm -Ln prints them, whitespace collapsed, real servers sorted. */
function ipvsadmLines(d: { service: IpvsDesiredService['service']; dests: Array<{ address: string; port: number; forward: string; weight: number }> }): string[] {
  const s = d.service;
  const head = s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${s.address}:${s.port}`;
  let line = `${head} ${s.scheduler}`;
  if (s.persistence !== undefined) line += ` persistent ${s.persistence}`;
  if (s.netmask !== undefined && s.netmask !== 32) line += ` mask ${maskText(s.netmask)}`;
  const fwd: Record<string, string> = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel', local: 'Local', bypass: 'Bypass' };
  return [line, ...d.dests.map((r) => `-> ${r.address}:${r.port} ${fwd[r.forward] ?? r.forward} ${r.weight}`).sort()];
}

function maskText(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}

/** ipvsadm -Ln's services, each as its own lines (real servers without connection counts, sorted). */
function parseIpvsadm(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (/^(TCP|UDP|SCTP|FWM) /.test(line)) out.push([line]);
    else if (line.startsWith('-> ') && out.length && !line.startsWith('-> RemoteAddress')) out[out.length - 1]!.push(line.split(' ').slice(0, 4).join(' '));
  }
  return out.map(([head, ...dests]) => [head!, ...dests.sort()]).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** What the kernel listed, in the same form. */
function kernelLines(k: IpvsKernelService[]): string[][] {
  return k.map(({ service, dests }) => ipvsadmLines({ service, dests })).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

const expected = (d: IpvsDesiredService[]): string[][] => d.map(ipvsadmLines).sort((a, b) => a[0]!.localeCompare(b[0]!));

describe('IPVS in a qemu guest, through tandem\'s generic netlink client', () => {
  beforeAll(async () => {
    need('qemu-system-x86_64', '/bin/busybox', 'xz', 'ipvsadm', 'ip');
    run = await runInGuest([process.execPath, join(ROOT, 'dist/lab/ipvs-guest.js')], { timeoutMs: 240_000, cwd: ROOT });
    process.stdout.write(`ipvs-kernel: one ${run.accel} boot, ${(run.wallMs / 1000).toFixed(1)} s wall\n`);
    if (run.code !== 0) throw new Error(`the guest run failed (exit ${run.code}):\n${run.stderr}`);
    seen = JSON.parse(run.stdout) as Observed;
    process.stdout.write(`ipvs-kernel: in the guest ${seen.guestMs} ms: ${JSON.stringify(seen.phases)}\n`);
  }, 300_000);

  it('the guest runs Debian\'s kernel with IPVS, resolved through nlctrl', () => {
    expect(seen.kernel).toMatch(/-amd64$/);
    expect(seen.info.version).toMatch(/^1\.\d+\.\d+$/);
    expect(seen.info.connTabSize).toBeGreaterThan(0);
  });

  it('programmed services are read back equal, by genl dump and by ipvsadm -Ln', () => {
    expect(seen.firstApply.failures).toEqual([]);
    expect(seen.firstApply.changes.map((c) => c.op)).toEqual(['add-service', 'add-dest', 'add-dest', 'add-service', 'add-dest', 'add-service', 'add-dest']);
    expect(kernelLines(seen.readBack)).toEqual(expected(DESIRED));
    expect(parseIpvsadm(seen.ipvsadmAfterApply)).toEqual(expected(DESIRED));
    // Fields ipvsadm -Ln does not print: thresholds, from the dump.
    const dns = seen.readBack.find((k) => k.service.protocol === 'udp')!;
    expect(dns.dests[0]).toMatchObject({ upperThreshold: 100, lowerThreshold: 10 });
    expect(dns.service).toMatchObject({ persistence: 300, netmask: 24 });
    // Applying the same set again changes nothing.
    expect(seen.reapply).toEqual([]);
  });

  it('the kernel\'s refusals come back as clear errors', () => {
    expect(seen.duplicate).toEqual({ code: 'EEXIST', message: `virtual service TCP ${WEB.address}:80 already exists` });
    expect(seen.unknownScheduler).toEqual({ code: 'ENOENT', message: 'scheduler "nosuch" is not available in this kernel (no ip_vs_nosuch module)' });
    expect(seen.missingDest).toEqual({ code: 'ENOENT', message: `real server 10.180.9.9:1 is not in TCP ${WEB.address}:80` });
    expect(seen.missingService).toEqual({ code: 'ESRCH', message: 'virtual service TCP 10.180.9.9:1 does not exist' });
  });

  it('traffic through the VIP is balanced wrr 2:1, counted at the real servers', () => {
    const t = seen.traffic;
    expect(t.failed).toBe(0);
    // wrr is deterministic: weights 2 and 1 over 30 connections in a row.
    expect(t.hits).toEqual({ rs1: (CONNECTIONS * 2) / 3, rs2: CONNECTIONS / 3 });
    expect(t.answers).toEqual(t.hits);
  });

  it('statistics read back by genl equal ipvsadm --stats: every connection, packet and byte', () => {
    const { service, dests } = seen.statsGenl;
    const counters = (s: IpvsStats | undefined) => (s ? [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes] : []);
    // No traffic meanwhile: the counters hold still (the rates decay on their own).
    expect(counters(seen.statsGenlAfter.service.stats)).toEqual(counters(service.stats));
    expect(service.stats!.conns).toBe(CONNECTIONS);
    expect(Object.fromEntries(dests.map((d) => [d.address, d.stats!.conns]))).toEqual({ [RS1]: (CONNECTIONS * 2) / 3, [RS2]: CONNECTIONS / 3 });
    expect(service.stats!.inPackets).toBeGreaterThanOrEqual(CONNECTIONS * 3);
    // ipvsadm -Ln --stats --exact: Conns InPkts OutPkts InBytes OutBytes per service and real server.
    const rows = new Map<string, number[]>();
    for (const line of seen.statsIpvsadm.split('\n')) {
      const m = /^\s*(?:TCP|->)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
      if (m) rows.set(m[1]!, m.slice(2).map(Number));
    }
    expect(rows.get(`${WEB.address}:80`)).toEqual(counters(service.stats));
    for (const d of dests) expect(rows.get(`${d.address}:${d.port}`), d.address).toEqual(counters(d.stats));
  });

  it('a second client over a crashed one\'s table adopts what matches, fixes what differs, removes leftovers, duplicates nothing', () => {
    // The table the second client found: a stray real server, a changed weight, the dropped DNS service, an operator's service.
    expect(seen.beforeRestart).toMatch(/10\.180\.2\.13:8080/);
    expect(seen.restartApply.failures).toEqual([]);
    expect(seen.restartApply.changes).toEqual([
      { op: 'del-service', service: { family: 4, protocol: 'udp', address: DNS.address, port: 53 } },
      { op: 'edit-dest', service: { family: 4, protocol: 'tcp', address: WEB.address, port: 80 }, dest: { address: RS2, port: 8080, forward: 'masq', weight: 1 } },
      { op: 'del-dest', service: { family: 4, protocol: 'tcp', address: WEB.address, port: 80 }, dest: { address: '10.180.2.13', port: 8080 } },
    ]);
    const want = [...expected(DESIRED.filter((d) => d.service !== DNS)), [FOREIGN.line.replace(/\s+/g, ' ')]].sort((a, b) => a[0]!.localeCompare(b[0]!));
    expect(kernelLines(seen.afterRestart)).toEqual(want);
    expect(parseIpvsadm(seen.ipvsadmAfterRestart)).toEqual(want);
    expect(seen.ipvsadmAfterRestart.match(/TCP\s+10\.180\.0\.100:80\b/g)).toHaveLength(1);
    // Adopted, not recreated: the connections made before the restart are still counted on its real servers.
    const web = seen.afterRestart.find((k) => k.service.port === 80)!;
    expect(web.dests.reduce((n, d) => n + d.activeConns + d.inactiveConns, 0)).toBeGreaterThan(0);
    expect(seen.restartReapply).toEqual([]);
    expect(seen.trafficAfterRestart).toEqual({ answers: { rs1: 4, rs2: 2 }, failed: 0, hits: { rs1: 4, rs2: 2 } });
  });

  it('FLUSH empties the table', () => {
    expect(seen.afterFlush).toEqual([]);
    expect(parseIpvsadm(seen.ipvsadmAfterFlush)).toEqual([]);
  });
});
