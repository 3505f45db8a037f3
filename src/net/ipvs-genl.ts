// IPVS I/O: the kernel's `IPVS` generic-netlink family on tandem-native's
// netlink socket (the same request socket code as rtnetlink: sequence
// numbers, acknowledgements read within the call, one dump at a time). The
// messages and the reconciliation plan are ipvs.ts. Resolving the family
// loads ip_vs on a kernel that has it as a module; on one without IPVS the
// family is not there and open() says so (the caller uses nftables).

import { NetlinkError, nativeTransport, RtnlSocket } from './netlink.js';
import {
  decodeDest, decodeFamilyId, decodeService, encodeDumpDests, encodeDumpServices, encodeGetFamily, encodeOp, IPVS_GENL_NAME, ipvsKey,
  type IpvsDest, type IpvsOp, type IpvsService,
} from './ipvs.js';
import { UserError } from '../util/errors.js';

const NETLINK_GENERIC = 16;

export class IpvsGenl {
  private constructor(private readonly rt: RtnlSocket, readonly family: number) {}

  /** The IPVS family on a new socket, or undefined when this kernel has no IPVS (ENOENT). */
  static async open(): Promise<IpvsGenl | undefined> {
    const rt = new RtnlSocket((onReadable) => nativeTransport(NETLINK_GENERIC, onReadable));
    try {
      const seq = rt.nextSeq();
      const parts = await rt.send([{ seq, bytes: encodeGetFamily(IPVS_GENL_NAME, seq), dump: true }])[0]!;
      const id = parts.map((p) => decodeFamilyId(p.body)).find((x) => x !== undefined);
      if (id === undefined) throw new NetlinkError('the kernel answered GETFAMILY IPVS without a family id');
      return new IpvsGenl(rt, id);
    } catch (e) {
      rt.close(new NetlinkError('closed'));
      if (e instanceof NetlinkError && e.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  close(): void {
    this.rt.close(new NetlinkError('IPVS socket closed while a request was in progress'));
  }

  /** Every service the kernel has, with its destinations and counters. */
  async read(): Promise<Array<{ service: IpvsService; dests: IpvsDest[] }>> {
    const parts = await this.rt.dump((seq) => encodeDumpServices(this.family, seq));
    const out: Array<{ service: IpvsService; dests: IpvsDest[] }> = [];
    for (const p of parts) {
      const service = decodeService(p.body);
      if (!service) continue;
      const dparts = await this.rt.dump((seq) => encodeDumpDests(this.family, service, seq));
      out.push({ service, dests: dparts.map((d) => decodeDest(d.body, service.family)).filter((d): d is IpvsDest => d !== undefined) });
    }
    return out;
  }

  /** The requests in order, in one sendmsg; the first refused one throws, naming it and the kernel's errno. */
  async apply(ops: IpvsOp[]): Promise<void> {
    if (ops.length === 0) return;
    const msgs = ops.map((op) => { const seq = this.rt.nextSeq(); return { seq, bytes: encodeOp(this.family, op, seq), dump: false }; });
    const results = await Promise.allSettled(this.rt.send(msgs));
    const bad = results.findIndex((r) => r.status === 'rejected');
    if (bad >= 0) {
      const op = ops[bad]!;
      const err = (results[bad] as PromiseRejectedResult).reason as Error;
      throw new UserError(`IPVS ${op.cmd} ${ipvsKey(op.service)}${'dest' in op ? ` -> ${op.dest.addr}:${op.dest.port}` : ''}: ${err.message}`);
    }
  }
}
