// The kernel's IPVS over generic netlink: virtual services and their real
// servers, in the caller's network namespace. The same request socket as
// rtnetlink's (netlink.ts RtnlSocket over tandem-native's nlOpen/nlSend/
// nlRecv), opened on NETLINK_GENERIC; the `IPVS` family id is looked up
// through nlctrl once per client. No ipvsadm is spawned. The messages are
// encoded and decoded in ipvs-codec.ts; what to change is decided in
// ipvs-reconcile.ts.

import { NetlinkError, RtnlSocket, nativeTransport } from './netlink.js';
import {
  IPVS_GENL_NAME, decodeDest, decodeFamily, decodeInfo, decodeService, destText, encodeDelService, encodeDest, encodeFlush,
  encodeGetDests, encodeGetFamily, encodeGetInfo, encodeGetServices, encodeNewService, encodeSetService, genlCommand,
  serviceKeyText, IPVS_CMD, IpvsCodecError,
  type IpvsDest, type IpvsDestState, type IpvsInfo, type IpvsService, type IpvsServiceKey, type IpvsServiceState,
} from './ipvs-codec.js';
import { planIpvs, type IpvsChange, type IpvsDesiredService, type IpvsKernelService, type IpvsPlanOptions } from './ipvs-reconcile.js';
import type { NlMessage } from './rtnetlink.js';

const NETLINK_GENERIC = 16;

export const NO_IPVS_MESSAGE = 'this kernel has no IPVS (CONFIG_IP_VS); use the nftables backend';

type Messages = Partial<Record<string, string>>;

const GENERIC: Messages = {
  EPERM: 'operation not permitted (needs root or CAP_NET_ADMIN)',
  EACCES: 'operation not permitted (needs root or CAP_NET_ADMIN)',
  EINVAL: 'the kernel rejected the request as invalid',
  ENOMEM: 'the kernel is out of memory',
};

function mapError(what: string, messages: Messages, e: unknown): NetlinkError {
  if (e instanceof IpvsCodecError) return new NetlinkError(`${what}: ${e.message}`);
  const code = e instanceof NetlinkError ? e.code : undefined;
  if (code !== undefined) {
    const specific = messages[code];
    if (specific !== undefined) return new NetlinkError(specific, code);
    return new NetlinkError(`${what} failed: ${GENERIC[code] ?? code} (${code})`, code);
  }
  return new NetlinkError(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
}

/** Requests to the kernel's IPVS: one socket, the family resolved once. Close it with close(). */
export class IpvsClient {
  private constructor(private readonly rt: RtnlSocket, readonly familyId: number) {}

  /**
   * Opens a generic netlink socket in the caller's network namespace and
   * resolves the IPVS family (the kernel loads ip_vs on that lookup where
   * it is a module). A kernel without IPVS is refused with NO_IPVS_MESSAGE.
   */
  static async open(): Promise<IpvsClient> {
    let rt: RtnlSocket;
    try {
      rt = new RtnlSocket((onReadable) => nativeTransport(NETLINK_GENERIC, onReadable));
    } catch (e) {
      throw new NetlinkError(`cannot open a generic netlink socket: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const seq = rt.nextSeq();
      const parts = await rt.send([{ seq, bytes: encodeGetFamily(IPVS_GENL_NAME, seq), dump: true }])[0]!;
      const fam = parts.map((m) => decodeFamily(m.body)).find((f) => f !== undefined);
      if (!fam) throw new NetlinkError('nlctrl answered the IPVS family lookup without a family id');
      return new IpvsClient(rt, fam.id);
    } catch (e) {
      rt.close(new NetlinkError('closed'));
      if (e instanceof NetlinkError && e.code === 'ENOENT') throw new NetlinkError(NO_IPVS_MESSAGE, 'ENOENT');
      throw mapError('looking up the IPVS generic netlink family', {}, e);
    }
  }

  get closed(): boolean {
    return this.rt.closed;
  }

  close(): void {
    this.rt.close(new NetlinkError('IPVS handle was closed while a request was in progress'));
  }

  /** sendmsg calls so far and the messages they carried. */
  counters(): { sendmsg: number; messages: number } {
    return { ...this.rt.counters };
  }

  async info(): Promise<IpvsInfo> {
    const parts = await this.request('reading IPVS information', (seq) => encodeGetInfo(this.familyId, seq), {}, true);
    const info = parts.map((m) => decodeInfo(m.body)).find((i) => i !== undefined);
    if (!info) throw new NetlinkError('the kernel answered GET_INFO without a version');
    return info;
  }

  /** Every virtual service in this network namespace, kernel order. */
  async services(): Promise<IpvsServiceState[]> {
    const parts = await this.dump('listing IPVS services', (seq) => encodeGetServices(this.familyId, seq));
    return parts.filter((m) => genlCommand(m.body) === IPVS_CMD.NEW_SERVICE).map((m) => decodeService(m.body)).filter((s): s is IpvsServiceState => s !== undefined);
  }

  /** The real servers of one service, kernel order (newest first). */
  async dests(svc: IpvsServiceKey): Promise<IpvsDestState[]> {
    const parts = await this.dump(`listing the real servers of ${serviceKeyText(svc)}`, (seq) => encodeGetDests(this.familyId, svc, seq), {
      ESRCH: `virtual service ${serviceKeyText(svc)} does not exist`,
    });
    return parts.filter((m) => genlCommand(m.body) === IPVS_CMD.NEW_DEST).map((m) => decodeDest(m.body, svc.family)).filter((d): d is IpvsDestState => d !== undefined);
  }

  /** Services with their real servers. */
  async read(): Promise<IpvsKernelService[]> {
    const out: IpvsKernelService[] = [];
    for (const s of await this.services()) out.push({ service: s, dests: await this.dests(s) });
    return out;
  }

  addService(s: IpvsService): Promise<void> {
    return this.ack(`adding virtual service ${serviceKeyText(s)}`, (seq) => encodeNewService(this.familyId, s, seq), serviceMessages(s, 'add'));
  }

  editService(s: IpvsService): Promise<void> {
    return this.ack(`changing virtual service ${serviceKeyText(s)}`, (seq) => encodeSetService(this.familyId, s, seq), serviceMessages(s, 'edit'));
  }

  delService(k: IpvsServiceKey): Promise<void> {
    return this.ack(`removing virtual service ${serviceKeyText(k)}`, (seq) => encodeDelService(this.familyId, k, seq), serviceMessages(k, 'del'));
  }

  addDest(svc: IpvsServiceKey, d: IpvsDest): Promise<void> {
    return this.ack(`adding real server ${destText(d)} to ${serviceKeyText(svc)}`, (seq) => encodeDest(this.familyId, 'new', svc, d, seq), destMessages(svc, d));
  }

  editDest(svc: IpvsServiceKey, d: IpvsDest): Promise<void> {
    return this.ack(`changing real server ${destText(d)} of ${serviceKeyText(svc)}`, (seq) => encodeDest(this.familyId, 'set', svc, d, seq), destMessages(svc, d));
  }

  delDest(svc: IpvsServiceKey, d: { address: string; port: number }): Promise<void> {
    // The kernel reads only the address and port of a destination to remove; the rest fills the required layout.
    const full: IpvsDest = { address: d.address, port: d.port, forward: 'route', weight: 0 };
    return this.ack(`removing real server ${destText(d)} from ${serviceKeyText(svc)}`, (seq) => encodeDest(this.familyId, 'del', svc, full, seq), destMessages(svc, d));
  }

  /** Removes every virtual service of this network namespace (ipvsadm -C). */
  flush(): Promise<void> {
    return this.ack('flushing the IPVS table', (seq) => encodeFlush(this.familyId, seq), {});
  }

  /**
   * The changes in ONE sendmsg, each acknowledged on its own and applied by
   * the kernel in order; one result per change. A failed change does not
   * stop the ones after it (a real server added to a service whose
   * creation failed fails by itself, with its own reason).
   */
  async run(changes: IpvsChange[]): Promise<Array<{ change: IpvsChange; error?: NetlinkError }>> {
    if (changes.length === 0) return [];
    const msgs: Array<{ seq: number; bytes: Buffer; dump: boolean }> = [];
    const results: Array<{ change: IpvsChange; error?: NetlinkError } | undefined> = [];
    for (const c of changes) {
      const seq = this.rt.nextSeq();
      try {
        msgs.push({ seq, bytes: this.encodeChange(c, seq), dump: false });
        results.push(undefined);
      } catch (e) {
        results.push({ change: c, error: mapError(changeText(c), {}, e) });
      }
    }
    const sent = msgs.length ? this.rt.send(msgs) : [];
    let k = 0;
    return Promise.all(results.map(async (r, i) => {
      if (r) return r;
      const c = changes[i]!;
      try {
        await sent[k++];
        return { change: c };
      } catch (e) {
        return { change: c, error: mapError(changeText(c), changeMessages(c), e) };
      }
    }));
  }

  private encodeChange(c: IpvsChange, seq: number): Buffer {
    switch (c.op) {
      case 'add-service': return encodeNewService(this.familyId, c.service, seq);
      case 'edit-service': return encodeSetService(this.familyId, c.service, seq);
      case 'del-service': return encodeDelService(this.familyId, c.service, seq);
      case 'add-dest': return encodeDest(this.familyId, 'new', c.service, c.dest, seq);
      case 'edit-dest': return encodeDest(this.familyId, 'set', c.service, c.dest, seq);
      case 'del-dest': return encodeDest(this.familyId, 'del', c.service, { ...c.dest, forward: 'route', weight: 0 }, seq);
    }
  }

  private async ack(what: string, build: (seq: number) => Buffer, messages: Messages): Promise<void> {
    await this.request(what, build, messages, false);
  }

  private async request(what: string, build: (seq: number) => Buffer, messages: Messages, collect: boolean): Promise<NlMessage[]> {
    if (this.rt.closed) throw new NetlinkError(`cannot do ${what}: the IPVS handle is closed`);
    const seq = this.rt.nextSeq();
    let bytes: Buffer;
    try {
      bytes = build(seq);
    } catch (e) {
      throw mapError(what, messages, e);
    }
    try {
      return await this.rt.send([{ seq, bytes, dump: collect }])[0]!;
    } catch (e) {
      throw mapError(what, messages, e);
    }
  }

  private async dump(what: string, build: (seq: number) => Buffer, messages: Messages = {}): Promise<NlMessage[]> {
    if (this.rt.closed) throw new NetlinkError(`cannot do ${what}: the IPVS handle is closed`);
    try {
      return await this.rt.dump(build);
    } catch (e) {
      throw mapError(what, messages, e);
    }
  }
}

function serviceMessages(k: IpvsServiceKey | IpvsService, op: 'add' | 'edit' | 'del'): Messages {
  const name = serviceKeyText(k);
  const m: Messages = { ESRCH: `virtual service ${name} does not exist` };
  if (op === 'add') m.EEXIST = `virtual service ${name} already exists`;
  if ('scheduler' in k && op !== 'del') {
    m.ENOENT = `scheduler "${k.scheduler}" is not available in this kernel (no ip_vs_${k.scheduler} module)`;
  }
  return m;
}

function destMessages(svc: IpvsServiceKey, d: { address: string; port: number }): Messages {
  return {
    ESRCH: `virtual service ${serviceKeyText(svc)} does not exist`,
    EEXIST: `real server ${destText(d)} is already in ${serviceKeyText(svc)}`,
    ENOENT: `real server ${destText(d)} is not in ${serviceKeyText(svc)}`,
  };
}

function changeMessages(c: IpvsChange): Messages {
  switch (c.op) {
    case 'add-service': return serviceMessages(c.service, 'add');
    case 'edit-service': return serviceMessages(c.service, 'edit');
    case 'del-service': return serviceMessages(c.service, 'del');
    default: return destMessages(c.service, c.dest);
  }
}

export function changeText(c: IpvsChange): string {
  switch (c.op) {
    case 'add-service': return `adding virtual service ${serviceKeyText(c.service)}`;
    case 'edit-service': return `changing virtual service ${serviceKeyText(c.service)}`;
    case 'del-service': return `removing virtual service ${serviceKeyText(c.service)}`;
    case 'add-dest': return `adding real server ${destText(c.dest)} to ${serviceKeyText(c.service)}`;
    case 'edit-dest': return `changing real server ${destText(c.dest)} of ${serviceKeyText(c.service)}`;
    case 'del-dest': return `removing real server ${destText(c.dest)} from ${serviceKeyText(c.service)}`;
  }
}

export interface IpvsApplyResult {
  /** The changes made, in order (empty: the kernel already matched). */
  changes: IpvsChange[];
  /** Changes the kernel refused, each with its reason; the others were made. */
  failures: Array<{ change: IpvsChange; error: NetlinkError }>;
}

/**
 * The IPVS backend's interface for the LVS subsystem: `apply(desired)`
 * makes the kernel hold exactly the desired services and real servers
 * (reading what it holds, then the minimal changes from planIpvs, in one
 * sendmsg); `read()` lists what it holds, with connection counts and
 * statistics. Services not desired and not named in `alsoOwned` are
 * someone else's and are left alone.
 */
export class IpvsBackend {
  private constructor(private readonly client: IpvsClient) {}

  static async open(): Promise<IpvsBackend> {
    return new IpvsBackend(await IpvsClient.open());
  }

  read(): Promise<IpvsKernelService[]> {
    return this.client.read();
  }

  async apply(desired: IpvsDesiredService[], opts: IpvsPlanOptions = {}): Promise<IpvsApplyResult> {
    const changes = planIpvs(desired, await this.client.read(), opts);
    const results = await this.client.run(changes);
    const failures = results.filter((r): r is { change: IpvsChange; error: NetlinkError } => r.error !== undefined);
    return { changes, failures };
  }

  info(): Promise<IpvsInfo> {
    return this.client.info();
  }

  close(): void {
    this.client.close();
  }
}
