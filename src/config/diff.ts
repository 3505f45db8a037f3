// What a reload (`tandem reload`, SIGHUP) changes: the difference between
// the configuration the daemon runs and a freshly loaded one. Pure.
//
// Applied at run time: resource groups (added, removed, changed),
// auto_failback, debug, and the authkeys. Everything else in ha.cf shapes
// sockets, timers or adapters opened at start (nodes, media, udpport,
// timing, fencing, quorum): a change there is reported as needing a
// restart, and the old value stays in force until then.

import type { AuthKeys, Config, HaCf, ResourceGroup } from './types.js';

export interface ConfigDiff {
  added: ResourceGroup[];
  removed: ResourceGroup[];
  /** Same name, different resources: released, then taken again by the usual rules. */
  changed: ResourceGroup[];
  /** Same resources, only the preferred node differs: applied in place, nothing is stopped. */
  preferred: ResourceGroup[];
  unchanged: string[];
  authkeys: boolean;
  autoFailback?: { from: string; to: string };
  debug?: { from: number; to: number };
  /** One line per change that needs a restart, e.g. "ha.cf: keepalive changed (100 -> 200)". */
  restart: string[];
}

/** ha.cf settings applied at run time; every other key needs a restart. */
const RUNTIME_KEYS: ReadonlySet<keyof HaCf> = new Set(['file', 'autoFailback', 'debug']);

/** JSON with line numbers left out (moving a line changes nothing) and Maps/Buffers made comparable. */
function canon(v: unknown): string {
  return JSON.stringify(v, (k, x: unknown) => {
    if (k === 'line') return undefined;
    if (x instanceof Map) return [...x.entries()];
    if (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      return Buffer.from((x as { data: number[] }).data).toString('hex');
    }
    return x;
  }) ?? 'undefined';
}

function show(v: unknown): string {
  const s = canon(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const KEY_NAMES: Partial<Record<keyof HaCf, string>> = {
  nodes: 'node', media: 'bcast/ucast/mcast', serial: 'serial/baud', udpport: 'udpport', keepaliveMs: 'keepalive',
  deadtimeMs: 'deadtime', warntimeMs: 'warntime', initdeadMs: 'initdead', logfile: 'logfile', debugfile: 'debugfile',
  logfacility: 'logfacility', notify: 'notify', fencing: 'stonith_host/fencing', quorum: 'ping/arbiter/quorum', cluster: 'cluster',
  vrrpGuard: 'vrrp_guard',
};

function sameKeys(a: AuthKeys, b: AuthKeys): boolean {
  return canon(a) === canon(b);
}

export function diffConfig(old: Config, next: Config): ConfigDiff {
  const d: ConfigDiff = { added: [], removed: [], changed: [], preferred: [], unchanged: [], authkeys: false, restart: [] };
  const file = next.hacf.file;
  const keys = new Set([...Object.keys(old.hacf), ...Object.keys(next.hacf)] as Array<keyof HaCf>);
  for (const k of keys) {
    if (RUNTIME_KEYS.has(k)) continue;
    const a = old.hacf[k];
    const b = next.hacf[k];
    if (canon(a) === canon(b)) continue;
    d.restart.push(`${file}: ${KEY_NAMES[k] ?? k} changed (${show(a)} -> ${show(b)}): needs a restart; the old value stays in force`);
  }
  if (old.hacf.autoFailback !== next.hacf.autoFailback) d.autoFailback = { from: old.hacf.autoFailback, to: next.hacf.autoFailback };
  if (old.hacf.debug !== next.hacf.debug) d.debug = { from: old.hacf.debug, to: next.hacf.debug };
  d.authkeys = !sameKeys(old.authkeys, next.authkeys);

  const before = new Map(old.groups.map((g) => [g.name, g]));
  const after = new Map(next.groups.map((g) => [g.name, g]));
  for (const g of next.groups) {
    const o = before.get(g.name);
    if (!o) d.added.push(g);
    else if (canon(o.resources) !== canon(g.resources)) d.changed.push(g);
    else if (o.preferredNode !== g.preferredNode) d.preferred.push(g);
    else d.unchanged.push(g.name);
  }
  for (const g of old.groups) if (!after.has(g.name)) d.removed.push(g);
  return d;
}

/** Does the reload change the set of group names (which quorum's per-group leases cannot follow at run time)? */
export function groupSetChanges(d: ConfigDiff): boolean {
  return d.added.length > 0 || d.removed.length > 0;
}
