// What to change so the kernel's IPVS table holds exactly the desired
// virtual services and real servers. Pure: it compares the desired set with
// what the kernel listed and returns the minimal ordered list of changes.
//
// After a restart (or a crash) the kernel still holds what the previous run
// programmed: a service that matches is adopted as it is (no change, no
// connection lost), one that differs is edited in place, never added a
// second time; real servers nobody wants any more are removed. Services the
// desired set does not name are someone else's (an operator's ipvsadm, a
// second daemon) and are left alone, unless the caller says it owned them
// (`alsoOwned`: what its previous configuration held), then they go.
//
// Order: owned services that are no longer wanted first; then, per desired
// service in the caller's order, the service (added or edited), its real
// servers added or edited, and only then its leftover real servers removed,
// so a service being changed never has fewer servers than either its old
// or its new set.

import {
  destId, destText, serviceKeyId, serviceKeyOf, serviceKeyText,
  type IpvsDest, type IpvsDestState, type IpvsService, type IpvsServiceKey, type IpvsServiceState,
} from './ipvs-codec.js';

export interface IpvsDesiredService {
  service: IpvsService;
  dests: IpvsDest[];
}

export interface IpvsKernelService {
  service: IpvsServiceState;
  dests: IpvsDestState[];
}

export interface IpvsPlanOptions {
  /** Services this daemon programmed before (its previous configuration): removed when no longer desired. */
  alsoOwned?: IpvsServiceKey[];
}

export type IpvsChange =
  | { op: 'add-service' | 'edit-service'; service: IpvsService }
  | { op: 'del-service'; service: IpvsServiceKey }
  | { op: 'add-dest' | 'edit-dest'; service: IpvsServiceKey; dest: IpvsDest }
  | { op: 'del-dest'; service: IpvsServiceKey; dest: { address: string; port: number } };

export class IpvsPlanError extends Error {}

/** The service as the kernel would hold it, for comparison: defaults filled in (the kernel's own HASHED flag is not compared). */
function serviceShape(s: IpvsService | IpvsServiceState): string {
  const persistent = s.persistence !== undefined;
  return JSON.stringify([
    s.scheduler,
    persistent ? s.persistence : null,
    s.netmask ?? (s.family === 4 ? 32 : 128),
    s.onePacket === true,
    s.schedFlags ?? 0,
  ]);
}

function destShape(d: IpvsDest | IpvsDestState): string {
  return JSON.stringify([d.forward, d.weight, d.upperThreshold ?? 0, d.lowerThreshold ?? 0]);
}

/** The minimal ordered changes that make `kernel` hold `desired`. Throws IpvsPlanError on a desired set that names a service or a real server twice. */
export function planIpvs(desired: IpvsDesiredService[], kernel: IpvsKernelService[], opts: IpvsPlanOptions = {}): IpvsChange[] {
  const wanted = new Map<string, IpvsDesiredService>();
  for (const d of desired) {
    const id = serviceKeyId(d.service);
    if (wanted.has(id)) throw new IpvsPlanError(`virtual service ${serviceKeyText(d.service)} is given twice`);
    wanted.set(id, d);
    const seen = new Set<string>();
    for (const r of d.dests) {
      const rid = destId(r);
      if (seen.has(rid)) throw new IpvsPlanError(`real server ${destText(r)} is given twice in ${serviceKeyText(d.service)}`);
      seen.add(rid);
    }
  }
  const held = new Map<string, IpvsKernelService>();
  for (const k of kernel) held.set(serviceKeyId(k.service), k);

  const changes: IpvsChange[] = [];
  const owned = new Set((opts.alsoOwned ?? []).map(serviceKeyId));
  for (const k of kernel) {
    const id = serviceKeyId(k.service);
    if (owned.has(id) && !wanted.has(id)) changes.push({ op: 'del-service', service: serviceKeyOf(k.service) });
  }
  for (const [id, d] of wanted) {
    const key = serviceKeyOf(d.service);
    const have = held.get(id);
    if (!have) {
      changes.push({ op: 'add-service', service: d.service });
      for (const r of d.dests) changes.push({ op: 'add-dest', service: key, dest: r });
      continue;
    }
    if (serviceShape(have.service) !== serviceShape(d.service)) changes.push({ op: 'edit-service', service: d.service });
    const current = new Map(have.dests.map((r) => [destId(r), r]));
    for (const r of d.dests) {
      const cur = current.get(destId(r));
      if (!cur) changes.push({ op: 'add-dest', service: key, dest: r });
      else if (destShape(cur) !== destShape(r)) changes.push({ op: 'edit-dest', service: key, dest: r });
    }
    const keep = new Set(d.dests.map(destId));
    for (const r of have.dests) {
      if (!keep.has(destId(r))) changes.push({ op: 'del-dest', service: key, dest: { address: r.address, port: r.port } });
    }
  }
  return changes;
}
