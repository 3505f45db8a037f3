// The arbiter's decisions as a pure state machine: authenticated requests
// and ticks come in with `now` (the arbiter's monotonic ms), replies and
// durable writes go out as actions. No sockets, no clock, no disk here.
//
// The invariant: a group of a cluster is granted to at most one node at a
// time. A grant is a lease: it lasts `ttlMs` from the moment the request
// arrived and is extended by each renewal from the same node. Every grant
// is written to disk before its reply leaves (the adapter orders that), and
// after a restart every grant on disk is assumed to run a full TTL from the
// restart, since nothing says how much of it was left.
//
// Who gets a free group: among the nodes asking for it (asked within half
// their TTL), prefer one that reaches some ping target over one that reaches none,
// then the one running the group now, then more reachable ping targets, then
// the lower node name. The winner gets it at once if it runs the group and
// has outside connectivity, or once every other node of its cluster has said
// it is shutting down; otherwise only after its grace time since it first
// asked, which gives a holder that lost its lease while it still heard its
// peer the time to notice the partition and stop (docs/quorum.md).

import type { ArbiterReply, ArbiterRequest } from '../src/quorum/protocol.js';
import type { Machine } from '../src/runtime/driver.js';

export interface ArbiterLimits {
  minTtlMs: number;
  maxTtlMs: number;
  maxGraceMs: number;
}

export const DEFAULT_LIMITS: ArbiterLimits = { minTtlMs: 500, maxTtlMs: 600_000, maxGraceMs: 600_000 };

/** What is kept on disk per grant: no times, they mean nothing after a restart. */
export interface GrantRecord {
  cluster: string;
  group: string;
  node: string;
  ttlMs: number;
}

/**
 * The newest request number taken from a node for one group. Records
 * written before the counters were per group have no `group`: they are a
 * floor for every group of that node.
 */
export interface NonceRecord {
  cluster: string;
  node: string;
  group?: string;
  gen: number;
  seq: number;
}

interface GenSeq { gen: number; seq: number }

/** Per node: its newest generation, and the newest (gen, seq) taken per group. */
interface NodeNonces {
  gen: number;
  floor?: GenSeq;
  groups: Map<string, GenSeq>;
}

export interface Grant {
  node: string;
  ttlMs: number;
  grantedAt: number;
  expiresAt: number;
}

interface Candidate {
  node: string;
  firstAt: number;          // start of this candidacy
  lastAt: number;
  ttlMs: number;
  graceMs: number;
  holds: boolean;
  peerHeard: boolean;
  reach: number;
  reachTotal: number;
}

export interface ArbiterCounters {
  requests: number;
  granted: number;          // new grants
  renewed: number;
  denied: number;
  released: number;
  expired: number;
  replays: number;
}

export interface ArbiterState {
  readonly limits: ArbiterLimits;
  grants: Map<string, Grant>;                     // cluster/group
  candidates: Map<string, Map<string, Candidate>>; // cluster/group -> node
  nonces: Map<string, NodeNonces>;                 // cluster/node
  left: Map<string, number>;                       // cluster/node -> generation that said it is leaving
  counters: ArbiterCounters;
}

export type StoreOp =
  | { type: 'put-grant'; rec: GrantRecord }
  | { type: 'del-grant'; cluster: string; group: string }
  | { type: 'put-nonce'; rec: NonceRecord };

export type ArbiterEvent =
  | { kind: 'request'; from: string; req: ArbiterRequest }
  | { kind: 'tick' };

export type ArbiterAction =
  | { kind: 'persist'; ops: StoreOp[] }                 // must be durable before any later reply is sent
  | { kind: 'reply'; to: string; reply: ArbiterReply }
  // `key`: the line is one per request, so the adapter rate-limits it under this key (its kind).
  | { kind: 'log'; level: 'info' | 'warn' | 'debug'; message: string; key?: string };

const key = (cluster: string, x: string) => `${cluster}/${x}`;

export function initArbiter(
  loaded: { grants: GrantRecord[]; nonces: NonceRecord[] }, now: number, limits: ArbiterLimits = DEFAULT_LIMITS,
): ArbiterState {
  const s: ArbiterState = {
    limits, grants: new Map(), candidates: new Map(), nonces: new Map(), left: new Map(),
    counters: { requests: 0, granted: 0, renewed: 0, denied: 0, released: 0, expired: 0, replays: 0 },
  };
  for (const g of loaded.grants) {
    // How much of the TTL was left when we stopped is unknown: assume all of it.
    s.grants.set(key(g.cluster, g.group), { node: g.node, ttlMs: g.ttlMs, grantedAt: now, expiresAt: now + g.ttlMs });
  }
  for (const n of loaded.nonces) {
    const nk = key(n.cluster, n.node);
    let rec = s.nonces.get(nk);
    if (!rec) s.nonces.set(nk, (rec = { gen: n.gen, groups: new Map() }));
    rec.gen = Math.max(rec.gen, n.gen);
    const v = { gen: n.gen, seq: n.seq };
    if (n.group === undefined) {
      if (!rec.floor || above(v, rec.floor)) rec.floor = v;
    } else {
      const cur = rec.groups.get(n.group);
      if (!cur || above(v, cur)) rec.groups.set(n.group, v);
    }
  }
  return s;
}

export function arbiterStep(s: ArbiterState, ev: ArbiterEvent, now: number): ArbiterAction[] {
  const out: ArbiterAction[] = [];
  if (ev.kind === 'tick') {
    prune(s, now, out);
    return out;
  }
  const req = ev.req;
  const nk = key(req.cluster, req.node);
  // Requests are numbered per node but checked per group: a node's requests
  // for different groups go out together and the network may reorder them;
  // checked per node, each overtaken one was dropped, and with renewals
  // of every group falling due at once, a lease could lose its renewal and
  // its retry that way and be given up while the arbiter was reachable
  // (simulator seeds 70010875, 91031149). Within a group the order is kept:
  // an acquire overtaken by its own release is still dropped.
  const rec = s.nonces.get(nk);
  const last = rec && (req.gen < rec.gen ? { gen: rec.gen, seq: Infinity } : newest(rec.groups.get(req.group), rec.floor));
  if (last && !above(req, last)) {
    // A replay, an old generation, or a duplicate the network made. Answering
    // would only help an attacker probe; the real sender has long had its answer.
    s.counters.replays += 1;
    out.push({ kind: 'log', level: 'debug', key: `replay:${nk}`, message: `${req.cluster}/${req.node}: ignored request ${req.gen}.${req.seq} for ${req.group} (not above ${last.gen}.${last.seq})` });
    return out;
  }
  s.counters.requests += 1;
  if (rec) {
    rec.gen = req.gen;
    rec.groups.set(req.group, { gen: req.gen, seq: req.seq });
  } else {
    s.nonces.set(nk, { gen: req.gen, groups: new Map([[req.group, { gen: req.gen, seq: req.seq }]]) });
  }
  const ops: StoreOp[] = [{ type: 'put-nonce', rec: { cluster: req.cluster, node: req.node, group: req.group, gen: req.gen, seq: req.seq } }];
  const leftGen = s.left.get(nk);
  if (leftGen !== undefined && req.gen > leftGen) s.left.delete(nk);

  const reply = req.op === 'release' ? release(s, req, now, ops, out) : acquire(s, req, now, ops, out);
  out.push({ kind: 'persist', ops });
  out.push({ kind: 'reply', to: ev.from, reply });
  return out;
}

/** The next instant a tick has work (a grant to expire). */
export function arbiterDeadline(s: ArbiterState): number {
  let t = Infinity;
  for (const g of s.grants.values()) t = Math.min(t, g.expiresAt);
  return t;
}

/** Stale candidacies are pruned only by ticks: one comes at least this often. */
export const PRUNE_EVERY_MS = 1000;

/** The machine as the runtime Driver runs it (arbiter/server.ts, the simulator). */
export interface ArbiterRun {
  readonly arb: ArbiterState;
  lastTickAt: number;
}

export const ARBITER_MACHINE: Machine<ArbiterRun, ArbiterEvent, ArbiterAction> = {
  step(r, e, now) {
    if (e.kind === 'tick') r.lastTickAt = now;
    return arbiterStep(r.arb, e, now);
  },
  // Expire grants on time (so status is right and the disk is tidied), and
  // tick at least every PRUNE_EVERY_MS to prune stale candidacies.
  deadline: (r) => Math.min(arbiterDeadline(r.arb), r.lastTickAt + PRUNE_EVERY_MS),
  tick: { kind: 'tick' },
};

export interface GrantView {
  cluster: string;
  group: string;
  node: string;
  ttlMs: number;
  remainingMs: number;
}

export function grantsView(s: ArbiterState, now: number): GrantView[] {
  const out: GrantView[] = [];
  for (const [k, g] of s.grants) {
    if (g.expiresAt <= now) continue;
    const i = k.indexOf('/');
    out.push({ cluster: k.slice(0, i), group: k.slice(i + 1), node: g.node, ttlMs: g.ttlMs, remainingMs: g.expiresAt - now });
  }
  return out.sort((a, b) => (a.cluster + a.group < b.cluster + b.group ? -1 : 1));
}

function clampTtl(s: ArbiterState, ms: number): number {
  return Math.min(Math.max(ms, s.limits.minTtlMs), s.limits.maxTtlMs);
}

function base(req: ArbiterRequest): Omit<ArbiterReply, 'outcome'> {
  return { t: 'rep', cluster: req.cluster, node: req.node, group: req.group, gen: req.gen, seq: req.seq };
}

function release(s: ArbiterState, req: ArbiterRequest, now: number, ops: StoreOp[], out: ArbiterAction[]): ArbiterReply {
  const gk = key(req.cluster, req.group);
  const g = s.grants.get(gk);
  s.candidates.get(gk)?.delete(req.node);
  if (req.leaving) s.left.set(key(req.cluster, req.node), req.gen);
  if (g && g.node === req.node) {
    s.grants.delete(gk);
    ops.push({ type: 'del-grant', cluster: req.cluster, group: req.group });
    s.counters.released += 1;
    out.push({ kind: 'log', level: 'info', key: `release:${gk}/${req.node}`, message: `${req.cluster}: ${req.node} released ${req.group}${req.leaving ? ' (shutting down)' : ''}` });
  }
  return { ...base(req), outcome: 'released' };
}

function acquire(s: ArbiterState, req: ArbiterRequest, now: number, ops: StoreOp[], out: ArbiterAction[]): ArbiterReply {
  const gk = key(req.cluster, req.group);
  const ttlMs = clampTtl(s, req.ttlMs);
  const graceMs = Math.min(req.graceMs, s.limits.maxGraceMs);
  let cands = s.candidates.get(gk);
  if (!cands) s.candidates.set(gk, (cands = new Map()));
  const prev = cands.get(req.node);
  const me: Candidate = {
    node: req.node, ttlMs, graceMs, holds: req.holds, peerHeard: req.peerHeard, reach: req.reach, reachTotal: req.reachTotal,
    // A node told to come back when a grant ends may stay away for up to a
    // TTL; only a longer silence ends its candidacy (and restarts its grace).
    firstAt: prev && now - prev.lastAt <= 2 * prev.ttlMs ? prev.firstAt : now,
    lastAt: now,
  };
  cands.set(req.node, me);
  for (const [n, c] of cands) if (now - c.lastAt > 2 * c.ttlMs) cands.delete(n);
  // Only nodes that keep asking count when choosing: a holder that crashed
  // stops renewing and must not keep winning with its last request.
  const live = [...cands.values()].filter((c) => c === me || now - c.lastAt <= c.ttlMs / 2);

  const deny = (reason: string, retryInMs: number, holder?: string): ArbiterReply => {
    s.counters.denied += 1;
    return { ...base(req), outcome: 'denied', reason, retryInMs: Math.max(0, Math.ceil(retryInMs)), ...(holder ? { holder } : {}) };
  };
  const grant = (fresh: boolean): ArbiterReply => {
    const g = fresh ? undefined : s.grants.get(gk);
    // A renewal never shortens what was already promised, and the disk keeps
    // the longest TTL promised, which a restart then grants in full.
    const keepTtl = Math.max(ttlMs, g?.ttlMs ?? 0);
    if (!g || g.ttlMs !== keepTtl) ops.push({ type: 'put-grant', rec: { cluster: req.cluster, group: req.group, node: req.node, ttlMs: keepTtl } });
    s.grants.set(gk, { node: req.node, ttlMs: keepTtl, grantedAt: g ? g.grantedAt : now, expiresAt: Math.max(now + ttlMs, g?.expiresAt ?? 0) });
    if (fresh) {
      s.counters.granted += 1;
      out.push({ kind: 'log', level: 'info', key: `grant:${gk}/${req.node}`, message: `${req.cluster}: granted ${req.group} to ${req.node} for ${ttlMs} ms` });
    } else {
      s.counters.renewed += 1;
    }
    return { ...base(req), outcome: 'granted', ttlMs };
  };

  const current = s.grants.get(gk);
  if (current && current.expiresAt > now) {
    if (current.node !== req.node) {
      // Ask again well before the expiry: the holder may release it early
      // (shutdown), and only a node that keeps asking stays a candidate.
      return deny(`held by ${current.node}`, Math.min(current.expiresAt - now, ttlMs / 4), current.node);
    }
    // The holder may keep it, unless it has lost every ping target while a
    // node that does not hear it still reaches some: that node can serve
    // clients and this one cannot.
    const challenger = live.find((c) => c.node !== req.node && !c.peerHeard && connected(c));
    if (!connected(me) && challenger) {
      out.push({ kind: 'log', level: 'info', key: `not-renewing:${gk}/${req.node}`, message: `${req.cluster}: not renewing ${req.group} for ${req.node}: it reaches no ping target, ${challenger.node} reaches ${challenger.reach}` });
      return deny(`this node reaches no ping target while ${challenger.node} reaches ${challenger.reach}`, current.expiresAt - now, req.node);
    }
    return grant(false);
  }
  if (current) {
    // Expired: forget it (the put of a new grant or this delete makes it durable).
    s.grants.delete(gk);
    s.counters.expired += 1;
    ops.push({ type: 'del-grant', cluster: req.cluster, group: req.group });
  }

  const best = live.sort(compare)[0]!;
  const retrySoon = Math.max(100, Math.min(1000, ttlMs / 4));
  if (best.node !== req.node) {
    return deny(`${best.node} is preferred (${preferenceReason(best, me)})`, retrySoon);
  }
  if (me.holds && connected(me)) return grant(true);
  if (othersLeft(s, req.cluster, req.node)) return grant(true);
  const waitEnd = me.firstAt + me.graceMs;
  if (now >= waitEnd) return grant(true);
  // Come back within half a TTL even if the grace is longer, to stay a live candidate.
  return deny(`waiting ${Math.ceil(waitEnd - now)} ms for a former holder to stop`, Math.min(waitEnd - now, ttlMs / 4));
}

function above(a: GenSeq, b: GenSeq): boolean {
  return a.gen > b.gen || (a.gen === b.gen && a.seq > b.seq);
}

function newest(a: GenSeq | undefined, b: GenSeq | undefined): GenSeq | undefined {
  if (!a) return b;
  if (!b) return a;
  return above(a, b) ? a : b;
}

function connected(c: { reach: number; reachTotal: number }): boolean {
  return c.reachTotal === 0 || c.reach > 0;
}

/** Sort order: the preferred candidate first. */
function compare(a: Candidate, b: Candidate): number {
  const conn = Number(connected(b)) - Number(connected(a));
  if (conn !== 0) return conn;
  const holds = Number(b.holds) - Number(a.holds);
  if (holds !== 0) return holds;
  if (a.reach !== b.reach) return b.reach - a.reach;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

function preferenceReason(best: Candidate, me: Candidate): string {
  if (connected(best) !== connected(me)) return 'it reaches a ping target';
  if (best.holds !== me.holds) return 'it runs the group';
  if (best.reach !== me.reach) return `it reaches ${best.reach} ping targets, this node ${me.reach}`;
  return 'tie broken by node name';
}

/** Every other node this arbiter knows in the cluster said, in its current generation, that it is shutting down. */
function othersLeft(s: ArbiterState, cluster: string, self: string): boolean {
  let others = 0;
  for (const [k, n] of s.nonces) {
    if (!k.startsWith(`${cluster}/`)) continue;
    const node = k.slice(cluster.length + 1);
    if (node === self) continue;
    others += 1;
    if (s.left.get(k) !== n.gen) return false;
  }
  return others > 0;
}

function prune(s: ArbiterState, now: number, out: ArbiterAction[]): void {
  const ops: StoreOp[] = [];
  for (const [k, g] of s.grants) {
    if (g.expiresAt > now) continue;
    s.grants.delete(k);
    s.counters.expired += 1;
    const i = k.indexOf('/');
    ops.push({ type: 'del-grant', cluster: k.slice(0, i), group: k.slice(i + 1) });
    out.push({ kind: 'log', level: 'info', message: `${k.slice(0, i)}: lease of ${g.node} on ${k.slice(i + 1)} expired` });
  }
  for (const [k, cands] of s.candidates) {
    for (const [n, c] of cands) if (now - c.lastAt > 2 * c.ttlMs) cands.delete(n);
    if (cands.size === 0) s.candidates.delete(k);
  }
  if (ops.length) out.push({ kind: 'persist', ops });
}
