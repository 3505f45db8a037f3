// The node's side of tandem's arbiter protocol over UDP: one datagram per
// request, answers matched by the (generation, sequence) pair they echo.
// Nothing here decides anything; lease.ts does, including what to do when
// no answer comes.

import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { AuthKeys } from '../config/types.js';
import { UserError } from '../util/errors.js';
import type { BackendReply, BackendRequest, LeaseBackend } from './backend.js';
import { parseArbiterAddress } from './endpoints.js';
import { decodeMessage, encodeMessage, groupProblem, isAuthenticating, nameProblem, ProtocolError, type ArbiterRequest } from './protocol.js';

export interface ArbiterClientOptions {
  address: string;          // "host:port" (a host name is resolved on every send), "[v6]:port"
  cluster: string;
  node: string;
  generation: number;       // the daemon's generation: bumped and fsynced at every start
  keys: AuthKeys;           // its sending key must not be crc
  onReply: (r: BackendReply) => void;
  /** `kind`: what went wrong, so the caller can rate-limit each kind on its own. */
  onWarn?: (msg: string, kind: string) => void;
}

// Answers to requests older than this many sends are no longer matched.
const PENDING_KEEP = 1024;

// Shared by every client in this process: the generation is per daemon
// start, so a second client (say, after a configuration reload) must go on
// counting, or the arbiter would take its requests for replays.
let lastSeq = 0;

export { parseArbiterAddress };

export class ArbiterClient implements LeaseBackend {
  readonly kind = 'arbiter' as const;
  readonly target: string;
  private readonly socket: Socket;
  private readonly host: string;
  private readonly port: number;
  private readonly pending = new Map<number, { group: string; attempt: number }>();
  private closed = false;
  /** Datagrams that were not an authentic answer to one of our requests. */
  readonly dropped = { auth: 0, malformed: 0, unmatched: 0 };

  private constructor(private readonly o: ArbiterClientOptions) {
    const { host, port } = parseArbiterAddress(o.address);
    this.host = host;
    this.port = port;
    this.target = o.address;
    this.socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
    this.socket.on('message', (buf) => this.onDatagram(buf));
    this.socket.on('error', (e) => this.warn('socket', `arbiter ${this.target}: ${e.message}`));
  }

  static async open(o: ArbiterClientOptions): Promise<ArbiterClient> {
    for (const [field, v] of [['cluster', o.cluster], ['node', o.node]] as const) {
      const p = nameProblem(v);
      if (p) throw new UserError(`arbiter: ${field} '${v}' ${p}`);
    }
    const send = o.keys.keys.get(o.keys.sendIndex);
    if (!send || !isAuthenticating(send.method)) {
      throw new UserError(`arbiter: the sending key (auth ${o.keys.sendIndex}) must be sha256, sha1 or md5; crc authenticates nothing`);
    }
    if (!Number.isSafeInteger(o.generation) || o.generation < 0) throw new UserError(`arbiter: generation ${o.generation} is not a non-negative integer`);
    const c = new ArbiterClient(o);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('error', reject);
      c.socket.bind(0, () => { c.socket.off('error', reject); resolve(); });
    });
    return c;
  }

  request(r: BackendRequest): void {
    this.send({
      t: 'req', op: 'acquire', cluster: this.o.cluster, node: this.o.node, group: r.group,
      gen: this.o.generation, seq: 0, ttlMs: Math.max(1, Math.round(r.ttlMs)), graceMs: Math.max(0, Math.round(r.graceMs)),
      holds: r.holds, peerHeard: r.peerHeard, peerHolds: r.peerHolds, reach: r.reach, reachTotal: r.reachTotal,
    }, r.attempt);
  }

  release(group: string, opts: { leaving: boolean }): void {
    this.send({
      t: 'req', op: 'release', cluster: this.o.cluster, node: this.o.node, group,
      gen: this.o.generation, seq: 0, ttlMs: 1, graceMs: 0,
      holds: false, peerHeard: false, peerHolds: false, reach: 0, reachTotal: 0,
      ...(opts.leaving ? { leaving: true } : {}),
    }, undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  private send(req: ArbiterRequest, attempt: number | undefined): void {
    if (this.closed) return;
    const gp = groupProblem(req.group);
    if (gp) {
      this.warn('group', `arbiter: group name '${req.group}' ${gp}; not sent`);
      return;
    }
    lastSeq += 1;
    req.seq = lastSeq;
    if (attempt !== undefined) {
      this.pending.set(req.seq, { group: req.group, attempt });
      if (this.pending.size > PENDING_KEEP) this.pending.delete(this.pending.keys().next().value!);
    }
    let buf: Buffer;
    try {
      buf = encodeMessage(req, this.o.keys);
    } catch (e) {
      this.warn('encode', `arbiter: ${(e as Error).message}`);
      return;
    }
    // Errors (no route, DNS) only cost this attempt; the lease machine retries.
    this.socket.send(buf, this.port, this.host, (err) => {
      if (err) this.warn('send', `arbiter ${this.target}: send failed: ${err.message}`);
    });
  }

  private onDatagram(buf: Buffer): void {
    let msg;
    try {
      msg = decodeMessage(buf, this.o.keys).msg;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      if (e.reason === 'auth') this.dropped.auth += 1; else this.dropped.malformed += 1;
      this.warn(`drop:${e.reason}`, `arbiter ${this.target}: dropped answer: ${e.message}`);
      return;
    }
    // Only an answer to our own outstanding request counts; a request
    // reflected back at us, or an old answer replayed, does not.
    if (msg.t !== 'rep' || msg.cluster !== this.o.cluster || msg.node !== this.o.node || msg.gen !== this.o.generation) {
      this.dropped.unmatched += 1;
      return;
    }
    if (msg.outcome === 'released') return;
    const p = this.pending.get(msg.seq);
    if (!p || p.group !== msg.group) {
      this.dropped.unmatched += 1;
      return;
    }
    this.pending.delete(msg.seq);
    if (msg.outcome === 'granted') {
      this.o.onReply({ group: p.group, attempt: p.attempt, outcome: 'granted', ttlMs: msg.ttlMs! });
    } else {
      this.o.onReply({
        group: p.group, attempt: p.attempt, outcome: 'denied', reason: msg.reason ?? 'denied',
        ...(msg.holder !== undefined ? { holder: msg.holder } : {}),
        ...(msg.retryInMs !== undefined ? { retryInMs: msg.retryInMs } : {}),
      });
    }
  }

  // Not limited here: the daemon's log limits each kind (KeyedRateLimiter).
  private warn(kind: string, msg: string): void {
    this.o.onWarn?.(msg, `arbiter:${kind}`);
  }
}
