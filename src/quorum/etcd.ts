// etcd as the arbiter (`arbiter etcd://host:2379/tandem`), spoken through
// etcd's v3 HTTP/JSON gateway with Node's fetch, so no client library.
//
// A group is held while this node's etcd lease is attached to the key
// <prefix>/<cluster>/<group>. Acquiring = grant a lease, then a transaction
// "if the key was never created, put it with our lease". Renewing = one
// keep-alive, then a check that the key is still ours. When the lease ends
// (expiry, revoke) etcd deletes the key and the other node's transaction
// can succeed.
//
// etcd's own view of expiry is never trusted on this side: a keep-alive can
// stall without an error (observed: etcd frozen, the client noticed only
// after the server could already have expired the lease). The lease machine
// (lease.ts) keeps the local deadline from the send time of each request;
// this file only reports the answers it gets, and none when it gets none.
//
// Gateway prefix: etcd 3.2 serves /v3alpha, 3.3 /v3beta (and /v3alpha), 3.4
// /v3 and /v3beta (Debian 12's 3.4.23 answers both; /v3alpha is 404), 3.5+
// only /v3. The prefix is chosen from GET /version on first contact.

import { UserError } from '../util/errors.js';
import type { BackendReply, BackendRequest, LeaseBackend } from './backend.js';
import { parseEtcdUrl } from './endpoints.js';
import { groupProblem, nameProblem } from './protocol.js';

export interface EtcdOptions {
  url: string;              // etcd://host:port[,host:port...]/prefix
  cluster: string;
  node: string;
  onReply: (r: BackendReply) => void;
  onWarn?: (msg: string) => void;
  requestTimeoutMs?: number;   // per HTTP call; default 1000
}

export { parseEtcdUrl };

interface Kv {
  key?: string;
  value?: string;
  lease?: string;
  create_revision?: string;
  mod_revision?: string;
}

class EtcdHttpError extends Error {
  override readonly name = 'EtcdHttpError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

interface GroupSlot {
  leaseId?: string;
  busy: boolean;
  epoch: number;            // bumped by release(): an answer from before it is void
}

export class EtcdBackend implements LeaseBackend {
  readonly kind = 'etcd' as const;
  readonly target: string;
  private readonly endpoints: string[];
  private readonly prefix: string;
  private current = 0;
  private api?: string;     // '/v3', '/v3beta' or '/v3alpha' for the current endpoint
  private readonly slots = new Map<string, GroupSlot>();
  private readonly abort = new AbortController();
  private closed = false;
  private lastWarn = 0;
  private readonly timeoutMs: number;

  private constructor(private readonly o: EtcdOptions) {
    const { endpoints, prefix } = parseEtcdUrl(o.url);
    this.endpoints = endpoints;
    this.prefix = prefix;
    this.target = `etcd ${endpoints.join(',')} ${prefix}`;
    this.timeoutMs = o.requestTimeoutMs ?? 1000;
  }

  /** Checks the options only: etcd may be down when the node starts, and the node must run anyway. */
  static open(o: EtcdOptions): EtcdBackend {
    for (const [field, v] of [['cluster', o.cluster], ['node', o.node]] as const) {
      const p = nameProblem(v);
      if (p) throw new UserError(`arbiter etcd: ${field} '${v}' ${p}`);
    }
    return new EtcdBackend(o);
  }

  /** The etcd key for a group. */
  key(group: string): string {
    return `${this.prefix}/${this.o.cluster}/${group}`;
  }

  /** The gateway prefix in use ('/v3', '/v3beta', '/v3alpha'), once etcd has been reached. */
  get apiPrefix(): string | undefined {
    return this.api;
  }

  request(r: BackendRequest): void {
    if (this.closed) return;
    const gp = groupProblem(r.group);
    if (gp) {
      this.warn(`etcd: group name '${r.group}' ${gp}; not sent`);
      return;
    }
    const slot = this.slot(r.group);
    // One call chain per group at a time: if etcd hangs, requests must not
    // pile up. The machine still holds the older attempt and its send time.
    if (slot.busy) return;
    slot.busy = true;
    const epoch = slot.epoch;
    this.acquireOrRenew(r, slot, epoch)
      .then((reply) => {
        if (this.closed) return;
        if (slot.epoch !== epoch) {
          // Released while this was in flight: whatever it obtained goes back.
          if (slot.leaseId !== undefined) void this.revoke(slot.leaseId, slot);
          return;
        }
        if (reply) this.o.onReply(reply);
      }, (e: Error) => this.warn(`etcd ${this.endpoints[this.current]}: ${e.message}`))
      .finally(() => { slot.busy = false; });
  }

  release(group: string, _opts: { leaving: boolean }): void {
    const slot = this.slot(group);
    slot.epoch += 1;
    const id = slot.leaseId;
    slot.leaseId = undefined;
    // Revoking deletes the key at once, so the peer need not wait out the TTL.
    if (id !== undefined && !this.closed) {
      this.call('/lease/revoke', { ID: id }).catch((e: Error) => this.warn(`etcd: revoke of ${group}: ${e.message}`));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
  }

  private slot(group: string): GroupSlot {
    let s = this.slots.get(group);
    if (!s) this.slots.set(group, (s = { busy: false, epoch: 0 }));
    return s;
  }

  private async acquireOrRenew(r: BackendRequest, slot: GroupSlot, epoch: number): Promise<BackendReply | undefined> {
    const key = b64(this.key(r.group));
    const me = this.o.node;
    const base = { group: r.group, attempt: r.attempt };
    if (slot.leaseId !== undefined) {
      const id = slot.leaseId;
      const ka = await this.call<{ result?: { TTL?: string } }>('/lease/keepalive', { ID: id });
      const ttl = Number(ka.result?.TTL ?? 0);
      if (!(ttl > 0)) {
        if (slot.leaseId === id) slot.leaseId = undefined;
        return { ...base, outcome: 'denied', reason: 'etcd lease expired', retryInMs: 0 };
      }
      const kv = await this.range(key);
      if (kv?.lease === id) return { ...base, outcome: 'granted', ttlMs: ttl * 1000 };
      if (!kv) {
        // Deleted behind our back (an operator?): take it again with the same lease.
        if (await this.createWithLease(key, id)) return { ...base, outcome: 'granted', ttlMs: ttl * 1000 };
      }
      const holder = unb64((kv ?? (await this.range(key)))?.value);
      await this.revoke(id, slot);
      return { ...base, outcome: 'denied', reason: `key ${this.key(r.group)} belongs to ${holder || 'another lease'}`, ...(holder ? { holder } : {}) };
    }

    const grant = await this.call<{ ID?: string; TTL?: string; error?: string }>('/lease/grant', { TTL: Math.max(1, Math.ceil(r.ttlMs / 1000)) });
    const id = grant.ID;
    const ttl = Number(grant.TTL ?? 0);
    if (!id || !(ttl > 0)) throw new Error(`lease grant returned no lease: ${JSON.stringify(grant).slice(0, 200)}`);
    if (slot.epoch !== epoch || this.closed) {
      await this.call('/lease/revoke', { ID: id }).catch(() => undefined);
      return undefined;
    }
    slot.leaseId = id;
    const txn = await this.call<{ succeeded?: boolean; responses?: Array<{ response_range?: { kvs?: Kv[] } }> }>('/kv/txn', {
      compare: [{ key, target: 'CREATE', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(me), lease: id } }],
      failure: [{ request_range: { key } }],
    });
    if (txn.succeeded) return { ...base, outcome: 'granted', ttlMs: ttl * 1000 };
    const kv = txn.responses?.[0]?.response_range?.kvs?.[0];
    const holder = unb64(kv?.value);
    if (kv && holder === me && kv.mod_revision) {
      // Our own key from before a restart: move it onto the new lease, but
      // only if nobody touched it in between.
      const moved = await this.call<{ succeeded?: boolean }>('/kv/txn', {
        compare: [{ key, target: 'MOD', mod_revision: kv.mod_revision }],
        success: [{ request_put: { key, value: b64(me), lease: id } }],
      });
      if (moved.succeeded) return { ...base, outcome: 'granted', ttlMs: ttl * 1000 };
    }
    await this.revoke(id, slot);
    let retryInMs: number | undefined;
    if (kv?.lease) {
      const ttlLeft = await this.call<{ TTL?: string }>('/lease/timetolive', { ID: kv.lease }).catch(() => undefined);
      const left = Number(ttlLeft?.TTL ?? NaN);
      if (left > 0) retryInMs = left * 1000;
    }
    return {
      ...base, outcome: 'denied', reason: `held by ${holder || 'another lease'} in etcd`,
      ...(holder ? { holder } : {}), ...(retryInMs !== undefined ? { retryInMs } : {}),
    };
  }

  private async createWithLease(key: string, id: string): Promise<boolean> {
    const txn = await this.call<{ succeeded?: boolean }>('/kv/txn', {
      compare: [{ key, target: 'CREATE', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(this.o.node), lease: id } }],
    });
    return txn.succeeded === true;
  }

  private async range(key: string): Promise<Kv | undefined> {
    const r = await this.call<{ kvs?: Kv[] }>('/kv/range', { key });
    return r.kvs?.[0];
  }

  private async revoke(id: string, slot: GroupSlot): Promise<void> {
    if (slot.leaseId === id) slot.leaseId = undefined;
    await this.call('/lease/revoke', { ID: id }).catch(() => undefined);
  }

  /** One gateway call on the current endpoint; on a network failure the next call uses the next endpoint. */
  private async call<T>(path: string, body: unknown): Promise<T> {
    const endpoint = this.endpoints[this.current]!;
    try {
      const api = this.api ?? (await this.detectApi(endpoint));
      return await this.post<T>(`${endpoint}${api}${path}`, body);
    } catch (e) {
      if (!(e instanceof EtcdHttpError)) {
        this.current = (this.current + 1) % this.endpoints.length;
        if (this.endpoints.length > 1) this.api = undefined;
      }
      throw e;
    }
  }

  private async detectApi(endpoint: string): Promise<string> {
    const res = await fetch(`${endpoint}/version`, { signal: this.signal() });
    const v = (await res.json().catch(() => ({}))) as { etcdserver?: string };
    const m = /^(\d+)\.(\d+)/.exec(v.etcdserver ?? '');
    let api = '/v3';
    if (m) {
      const major = Number(m[1]);
      const minor = Number(m[2]);
      if (major === 3 && minor <= 2) api = '/v3alpha';
      else if (major === 3 && minor === 3) api = '/v3beta';
    }
    this.api = api;
    return api;
  }

  private async post<T>(url: string, body: unknown): Promise<T> {
    const res = await fetch(url, {
      method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: this.signal(),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EtcdHttpError(res.status, `${url}: HTTP ${res.status}: ${text.slice(0, 120).trim()}`);
    }
    if (!res.ok) {
      const msg = (json as { message?: string; error?: string }).message ?? (json as { error?: string }).error ?? text.slice(0, 120);
      throw new EtcdHttpError(res.status, `${url}: HTTP ${res.status}: ${msg}`);
    }
    return json as T;
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]);
  }

  private warn(msg: string): void {
    const t = Date.now();
    if (t - this.lastWarn < 1000) return;
    this.lastWarn = t;
    this.o.onWarn?.(msg);
  }
}
