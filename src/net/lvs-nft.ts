// The LVS virtual services as nftables (pure): the balancer for kernels
// without IPVS. One table `ip tandem_lvs`:
//
//   pre  (nat prerouting, dstnat) and out (nat output: the director's own
//        clients): each service's addresses (VIP . port, or fwmark) jump to
//        the service's chain;
//   sN   the service: clients held by persistence first (one timed set of
//        client networks per real server: `ip saddr & MASK @sN_pJ dnat to`
//        that server), then `numgen inc mod SLOTS map @sN_slots` (wrr/rr:
//        weights as slot counts, interleaved) or `jhash` (sh, dh, mh);
//   post (nat postrouting, srcnat): the first packet of each new connection,
//        per real server: a named counter (connections, read back for
//        status) and the persistence set refreshed.
//
// Every change is one `nft -f` batch, one kernel transaction: a packet sees
// the old balancer or the new one, never an empty map in between.
// Established connections keep their real server (conntrack holds the NAT
// binding); only new connections follow a change. The first batch of a
// daemon replaces whatever table a crashed one left; later batches flush and
// refill the chains and maps, keeping counters and the persistence of
// servers that stay.

import { parseIp } from './addr.js';

export const LVS_NFT_TABLE = 'ip tandem_lvs';

/** One real server (or the sorry server) of a kernel service. */
export interface LvsDest {
  /** Stable within its service ('d0', 'sorry'): names its counter and persistence set. */
  id: string;
  ip: string;
  /** 0: the packet's own port (fwmark services). */
  port: number;
  /** New connections are shared by weight; 0 takes none (quiesced), persistent clients still reach it. */
  weight: number;
  /** In the balancer at all (a failed server without inhibit_on_failure, a sorry server not needed, are not). */
  active: boolean;
  fwd: 'nat' | 'dr' | 'tun';
}

export type LvsMatch = { kind: 'addr'; ip: string; port: number } | { kind: 'fwmark'; mark: number };

/** What the kernel is asked to balance: the same for both backends (nftables, IPVS). */
export interface LvsKernelService {
  /** Stable name ('s0'). */
  id: string;
  /** Its name in the file, for logs and errors. */
  name: string;
  family: 4 | 6;
  match: LvsMatch[];
  protocol: 'tcp' | 'udp' | 'sctp';
  sched: string;
  /** Seconds and the client netmask length; absent: none. */
  persistence?: { timeoutS: number; prefixLen: number };
  dests: LvsDest[];
}

/** Slots in one service's map at most: weights are scaled down past this. */
export const MAX_SLOTS = 256;

const NAME = /^[a-z][a-z0-9_]{0,30}$/;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The slot sequence for these weights: each server `weight` slots (reduced
 * by their common divisor, scaled to at most MAX_SLOTS, at least one each),
 * interleaved as smooth weighted round robin does (2:1:1 is A B A C, not
 * A A B C), so a short run is already balanced.
 */
export function slotSequence<T>(servers: Array<{ weight: number; v: T }>): T[] {
  const live = servers.filter((s) => s.weight > 0);
  if (live.length === 0) return [];
  const g = live.reduce((a, s) => gcd(a, s.weight), 0);
  let w = live.map((s) => s.weight / g);
  const total = w.reduce((a, b) => a + b, 0);
  if (total > MAX_SLOTS) w = w.map((x) => Math.max(1, Math.floor((x * MAX_SLOTS) / total)));
  const n = w.reduce((a, b) => a + b, 0);
  const cur = w.map(() => 0);
  const out: T[] = [];
  for (let k = 0; k < n; k++) {
    let best = 0;
    for (let i = 0; i < w.length; i++) {
      cur[i]! += w[i]!;
      if (cur[i]! > cur[best]!) best = i;
    }
    cur[best]! -= n;
    out.push(live[best]!.v);
  }
  return out;
}

/** Which servers take new connections, and with what share, for a scheduler nftables can carry out. */
export function schedulerShares(sched: string, dests: LvsDest[]): Array<{ weight: number; v: LvsDest }> {
  const active = dests.filter((d) => d.active && d.weight > 0 && d.id !== 'sorry');
  if (sched === 'rr' || sched === 'sh' || sched === 'dh' || sched === 'mh') return active.map((d) => ({ weight: 1, v: d }));
  // Weighted failover and overflow: the highest weight takes everything while it is up.
  if (sched === 'fo' || sched === 'ovf') {
    const top = active.reduce<LvsDest | undefined>((b, d) => (!b || d.weight > b.weight ? d : b), undefined);
    return top ? [{ weight: 1, v: top }] : [];
  }
  // wrr; and lc, wlc, sed, nq, lblc, lblcr, which count connections nftables does not keep: their weights.
  return active.map((d) => ({ weight: d.weight, v: d }));
}

/** The servers that take new connections: the sorry server while it has a weight (quorum lost), else the real ones. */
function balanced(s: LvsKernelService): LvsDest[] {
  const sorry = s.dests.find((d) => d.id === 'sorry' && d.active && d.weight > 0);
  return sorry ? [sorry] : slotSequence(schedulerShares(s.sched, s.dests));
}

function checkNames(s: LvsKernelService): void {
  if (!NAME.test(s.id)) throw new Error(`service id ${JSON.stringify(s.id)} cannot name nft objects`);
  if (s.family !== 4) throw new Error(`${s.name}: the nftables balancer carries IPv4 services only`);
  for (const d of s.dests) {
    if (!NAME.test(d.id)) throw new Error(`destination id ${JSON.stringify(d.id)} cannot name nft objects`);
    if (parseIp(d.ip)?.family !== 4) throw new Error(`${s.name}: real server ${d.ip} is not an IPv4 address`);
    if (d.fwd !== 'nat') throw new Error(`${s.name}: lb_kind ${d.fwd.toUpperCase()} is not carried out by the nftables balancer (NAT only); use IPVS`);
  }
  for (const m of s.match) if (m.kind === 'addr' && parseIp(m.ip)?.family !== 4) throw new Error(`${s.name}: ${m.ip} is not an IPv4 address`);
}

const maskOf = (len: number): string => {
  const n = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
};

const target = (d: LvsDest, s: LvsKernelService): string => (d.port === 0 ? d.ip : `${d.ip} . ${d.port}`);
const proto = (s: LvsKernelService): string => s.protocol;
const hasPorts = (s: LvsKernelService): boolean => s.dests.every((d) => d.port !== 0);

function entryRules(s: LvsKernelService): string[] {
  return s.match.map((m) => (m.kind === 'fwmark' ? `meta mark ${m.mark} jump ${s.id}` : `ip daddr ${m.ip} ${proto(s)} dport ${m.port} jump ${s.id}`));
}

function serviceRules(s: LvsKernelService): string[] {
  const out: string[] = [];
  const l4 = `meta l4proto ${proto(s)}`;
  const dnat = (to: string): string => (hasPorts(s) ? `${l4} dnat ip addr . port to ${to}` : `dnat ip to ${to}`);
  if (s.persistence) {
    const mask = maskOf(s.persistence.prefixLen);
    for (const d of s.dests) {
      if (!d.active || d.id === 'sorry') continue;
      out.push(`ip saddr & ${mask} @${s.id}_p_${d.id} ${hasPorts(s) ? `${l4} dnat ip to ${d.ip}:${d.port}` : `dnat ip to ${d.ip}`}`);
    }
  }
  const n = balanced(s).length;
  if (n > 0) {
    const pick = s.sched === 'sh' || s.sched === 'mh' ? `jhash ip saddr mod ${n}` : s.sched === 'dh' ? `jhash ip daddr mod ${n}` : `numgen inc mod ${n}`;
    out.push(dnat(`${pick} map @${s.id}_slots`));
  }
  return out;
}

function postRules(s: LvsKernelService): string[] {
  const out: string[] = [];
  for (const d of s.dests) {
    const to = d.port === 0 ? `ip daddr ${d.ip}` : `ip daddr ${d.ip} ${proto(s)} dport ${d.port}`;
    const persist = s.persistence && d.id !== 'sorry' ? ` update @${s.id}_p_${d.id} { ip saddr & ${maskOf(s.persistence.prefixLen)} }` : '';
    for (const m of s.match) {
      const from = m.kind === 'fwmark' ? `meta mark ${m.mark}` : `meta l4proto ${proto(s)} ct original ip daddr ${m.ip} ct original proto-dst ${m.port}`;
      out.push(`${from} ${to} counter name ${s.id}_c_${d.id}${persist}`);
    }
  }
  return out;
}

function slotElements(s: LvsKernelService): string | undefined {
  const seq = balanced(s);
  if (seq.length === 0) return undefined;
  return seq.map((d, i) => `${i} : ${target(d, s)}`).join(', ');
}

/** The objects a set of services needs; equal shapes mean a batch can refill rather than rebuild. */
export function lvsShape(services: LvsKernelService[]): string {
  return services.map((s) => `${s.id}:${hasPorts(s) ? 'p' : 'a'}:${s.persistence ? `${s.persistence.timeoutS}` : '-'}:${s.dests.map((d) => d.id).join(',')}`).join(' ');
}

/**
 * The batch that makes the kernel's table balance `services` (none: no
 * table). `previous`: the services of the last batch that succeeded, when
 * the table's objects are the same shape (then counters and persistence
 * sets stay; the persistence of a server that left is flushed); undefined:
 * the table is replaced whole.
 */
export function lvsNftBatch(services: LvsKernelService[], previous?: LvsKernelService[]): string {
  for (const s of services) checkNames(s);
  const t = LVS_NFT_TABLE;
  const lines: string[] = [];
  if (services.length === 0) return `table ${t} {}\ndelete table ${t}\n`;
  const refill = previous !== undefined && lvsShape(previous) === lvsShape(services);
  if (!refill) {
    lines.push(`table ${t} {}`, `delete table ${t}`, `table ${t} {`);
    lines.push('\tchain pre { type nat hook prerouting priority dstnat; policy accept; }');
    lines.push('\tchain out { type nat hook output priority -100; policy accept; }');
    lines.push('\tchain post { type nat hook postrouting priority srcnat; policy accept; }');
    for (const s of services) {
      const value = hasPorts(s) ? 'ip daddr . tcp dport' : 'ip daddr';
      lines.push(`\tmap ${s.id}_slots { typeof numgen inc mod 1 : ${value}; }`);
      lines.push(`\tchain ${s.id} {}`);
      for (const d of s.dests) {
        lines.push(`\tcounter ${s.id}_c_${d.id} {}`);
        if (s.persistence && d.id !== 'sorry') {
          lines.push(`\tset ${s.id}_p_${d.id} { type ipv4_addr; size 65536; flags dynamic,timeout; timeout ${s.persistence.timeoutS}s; }`);
        }
      }
    }
    lines.push('}');
  } else {
    lines.push(`flush chain ${t} pre`, `flush chain ${t} out`, `flush chain ${t} post`);
    for (const s of services) {
      lines.push(`flush chain ${t} ${s.id}`, `flush map ${t} ${s.id}_slots`);
      const before = previous!.find((p) => p.id === s.id);
      if (!s.persistence) continue;
      for (const d of s.dests) {
        const was = before?.dests.find((x) => x.id === d.id);
        // A server that left: its clients choose again (persistent or not, it no longer answers).
        if (d.id !== 'sorry' && !d.active && was?.active) lines.push(`flush set ${t} ${s.id}_p_${d.id}`);
      }
    }
  }
  for (const s of services) {
    const els = slotElements(s);
    if (els) lines.push(`add element ${t} ${s.id}_slots { ${els} }`);
    for (const r of serviceRules(s)) lines.push(`add rule ${t} ${s.id} ${r}`);
    for (const r of entryRules(s)) lines.push(`add rule ${t} pre ${r}`, `add rule ${t} out ${r}`);
    for (const r of postRules(s)) lines.push(`add rule ${t} post ${r}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `nft -j list counters table ip tandem_lvs` as counter name -> packets (new connections) and bytes. */
export function parseLvsCounters(json: string): Map<string, { packets: number; bytes: number }> {
  const out = new Map<string, { packets: number; bytes: number }>();
  let doc: unknown;
  try { doc = JSON.parse(json); } catch { return out; }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const it of items) {
    const c = (it as { counter?: { name?: unknown; packets?: unknown; bytes?: unknown } }).counter;
    if (c && typeof c.name === 'string' && typeof c.packets === 'number' && typeof c.bytes === 'number') out.set(c.name, { packets: c.packets, bytes: c.bytes });
  }
  return out;
}

/** The counter of one destination of one service. */
export const lvsCounterName = (service: string, dest: string): string => `${service}_c_${dest}`;
