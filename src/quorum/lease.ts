// The client side of one group's lease with an arbiter (tandem's own or
// etcd), as a pure state machine: time comes in as `now` (monotonic ms),
// requests go out as actions, replies come back as events.
//
// The safety rule: a grant's reply says "TTL ms", measured by the arbiter
// from when it RECEIVED the request. The client starts its own countdown
// from when it SENT that request (never later than the arrival), shortens
// it by the drift margin and a safety allowance, and reports the lease lost
// at that local deadline, whether or not any reply or error ever arrives.
// So it stops before the arbiter can consider the lease expired, as long as
// neither clock runs off by more than the margin (docs/quorum.md has the
// argument). A stalled network, a hung arbiter or a silently stuck
// keep-alive cannot stretch the deadline.

export interface LeaseConfig {
  group: string;
  ttlMs: number;            // the TTL asked for; the arbiter's reply decides
  renewFraction: number;    // renew once this fraction of the granted TTL has passed since the request was sent
  driftMargin: number;      // fraction of the TTL given up to clock-rate error (>= 2x the worst rate error)
  safetyMs: number;         // further allowance: reply latency, timer lateness, time to stop the group
  retryMs: number;          // resend an unanswered request after this long
}

export type LeaseStatus =
  | 'idle'          // not wanted
  | 'requesting'    // wanted, no valid lease, waiting for an answer
  | 'held'          // valid until `deadline`
  | 'denied';       // wanted, the arbiter said no; asking again at `nextSendAt`

export interface LeaseState {
  readonly cfg: LeaseConfig;
  want: boolean;
  status: LeaseStatus;
  deadline?: number;        // local monotonic instant the lease counts as lost
  heldSince?: number;
  grantedTtlMs?: number;
  attempt: number;          // last request number sent
  lastGrantedAttempt: number;
  outstanding: Array<{ attempt: number; sentAt: number }>;
  nextSendAt: number;       // next request (first, retry or renewal); Infinity when none is due
  holder?: string;          // who the arbiter said holds it, after a denial
  reason: string;           // why the status is what it is (for status output)
}

export type LeaseEvent =
  | { kind: 'tick' }
  | { kind: 'want'; want: boolean }
  | { kind: 'granted'; attempt: number; ttlMs: number }
  | { kind: 'denied'; attempt: number; reason: string; holder?: string; retryInMs?: number };

export type LeaseAction =
  | { kind: 'send-request'; group: string; attempt: number; renew: boolean }
  | { kind: 'send-release'; group: string }
  | { kind: 'lease-held'; group: string; until: number }
  | { kind: 'lease-lost'; group: string; reason: string };   // stop the group now

/** What decide.ts and status output need to know about a lease. */
export interface LeaseView {
  status: LeaseStatus;
  since?: number;           // held continuously since (local monotonic ms)
  until?: number;
  holder?: string;
  reason: string;
}

// Keep a few unanswered requests: a late reply to an earlier one is still
// valid evidence (its own, earlier send time is used).
const MAX_OUTSTANDING = 16;

/** Problems with the numbers, each naming the field; empty when the config is usable. */
export function leaseConfigProblems(c: LeaseConfig): string[] {
  const p: string[] = [];
  if (!(c.ttlMs > 0)) p.push(`ttlMs: ${c.ttlMs} must be positive`);
  if (!(c.driftMargin >= 0 && c.driftMargin < 0.5)) p.push(`driftMargin: ${c.driftMargin} must be in [0, 0.5)`);
  if (!(c.safetyMs > 0)) p.push(`safetyMs: ${c.safetyMs} must be positive (the client must stop strictly before the arbiter's expiry)`);
  if (!(c.retryMs > 0)) p.push(`retryMs: ${c.retryMs} must be positive`);
  if (!(c.renewFraction > 0 && c.renewFraction < 1)) p.push(`renewFraction: ${c.renewFraction} must be between 0 and 1`);
  const usable = c.ttlMs * (1 - c.driftMargin) - c.safetyMs;
  if (usable <= 0) {
    p.push(`safetyMs: ${c.safetyMs} ms plus the drift margin leaves nothing of the ${c.ttlMs} ms TTL`);
  } else if (c.ttlMs * c.renewFraction + c.retryMs >= usable) {
    p.push(`renewFraction: renewing at ${Math.round(c.ttlMs * c.renewFraction)} ms leaves no room for a retry (${c.retryMs} ms) before the local deadline at ${Math.round(usable)} ms; lower renewFraction or retryMs, or raise ttlMs`);
  }
  return p;
}

/**
 * Defaults from the heartbeat timing: the TTL must cover the peer's
 * detection time so a lost holder is replaced soon after it is declared
 * dead, and whole seconds suit etcd (its TTLs are integral, minimum 2 s).
 */
export function defaultLeaseConfig(group: string, deadtimeMs: number): LeaseConfig {
  const ttlMs = Math.max(2000, Math.ceil((2 * deadtimeMs) / 1000) * 1000);
  return {
    group, ttlMs, renewFraction: 1 / 3, driftMargin: 0.01,
    safetyMs: Math.min(500, Math.round(ttlMs / 10)),
    retryMs: Math.max(100, Math.round(ttlMs / 10)),
  };
}

/**
 * Each group's lease as ha.cf's arbiter_ttl and arbiter_safety give it: the
 * one derivation, used by the daemon and by the simulator's nodes.
 */
export function groupLeaseConfigs(groups: readonly string[], deadtimeMs: number, ttlMs: number, safetyMs: number): LeaseConfig[] {
  return groups.map((g) => ({ ...defaultLeaseConfig(g, deadtimeMs), ttlMs, safetyMs, retryMs: Math.max(100, Math.round(ttlMs / 10)) }));
}

/** The local instant a grant for a request sent at `sentAt` stops counting. */
export function localExpiry(cfg: LeaseConfig, sentAt: number, ttlMs: number): number {
  return sentAt + ttlMs * (1 - cfg.driftMargin) - cfg.safetyMs;
}

export function initLease(cfg: LeaseConfig): LeaseState {
  return {
    cfg, want: false, status: 'idle', attempt: 0, lastGrantedAttempt: 0, outstanding: [],
    nextSendAt: Infinity, reason: 'not wanted',
  };
}

export function leaseView(s: LeaseState): LeaseView {
  return {
    status: s.status, reason: s.reason,
    ...(s.status === 'held' && s.deadline !== undefined ? { until: s.deadline } : {}),
    ...(s.status === 'held' && s.heldSince !== undefined ? { since: s.heldSince } : {}),
    ...(s.holder !== undefined ? { holder: s.holder } : {}),
  };
}

export function leaseStep(s: LeaseState, ev: LeaseEvent, now: number): LeaseAction[] {
  const out: LeaseAction[] = [];
  const g = s.cfg.group;
  // The deadline comes first, before any event is looked at: a process that
  // was frozen past it must give up before it acts on anything it receives.
  expire(s, now, out);

  switch (ev.kind) {
    case 'tick':
      break;
    case 'want':
      if (ev.want === s.want) break;
      s.want = ev.want;
      if (!ev.want) {
        // Tell the arbiter even when no grant is known: a reply may be in
        // flight, and an explicit release lets the other node in at once.
        if (s.status === 'held' || s.outstanding.length > 0 || s.status === 'requesting') out.push({ kind: 'send-release', group: g });
        s.status = 'idle';
        s.deadline = undefined;
        s.heldSince = undefined;
        s.outstanding = [];
        s.holder = undefined;
        s.nextSendAt = Infinity;
        s.reason = 'not wanted';
      } else {
        s.status = 'requesting';
        s.reason = 'asking';
        s.nextSendAt = now;
      }
      break;
    case 'granted': {
      const i = s.outstanding.findIndex((o) => o.attempt === ev.attempt);
      if (!s.want) {
        out.push({ kind: 'send-release', group: g });   // a grant we no longer want blocks the peer
        break;
      }
      if (i < 0) break;   // unknown or too old to judge: its send time is gone
      const { sentAt } = s.outstanding[i]!;
      s.outstanding.splice(0, i + 1);
      const until = localExpiry(s.cfg, sentAt, ev.ttlMs);
      if (until <= now) break;   // arrived too late to be of use
      if (ev.attempt < s.lastGrantedAttempt) break;
      s.lastGrantedAttempt = ev.attempt;
      s.grantedTtlMs = ev.ttlMs;
      s.holder = undefined;
      s.deadline = s.status === 'held' && s.deadline !== undefined ? Math.max(s.deadline, until) : until;
      if (s.status !== 'held') {
        s.status = 'held';
        s.heldSince = now;
        out.push({ kind: 'lease-held', group: g, until: s.deadline });
      }
      s.reason = 'granted';
      s.nextSendAt = sentAt + ev.ttlMs * s.cfg.renewFraction;
      break;
    }
    case 'denied': {
      const i = s.outstanding.findIndex((o) => o.attempt === ev.attempt);
      // A denial older than our latest grant is stale (reordered datagrams).
      if (!s.want || ev.attempt <= s.lastGrantedAttempt || i < 0) break;
      s.outstanding.splice(0, i + 1);
      if (s.status === 'held') {
        out.push({ kind: 'lease-lost', group: g, reason: `renewal refused: ${ev.reason}` });
        s.deadline = undefined;
        s.heldSince = undefined;
      }
      s.status = 'denied';
      s.reason = ev.reason;
      if (ev.holder !== undefined) s.holder = ev.holder; else s.holder = undefined;
      const wait = Math.min(Math.max(ev.retryInMs ?? s.cfg.retryMs, s.cfg.retryMs / 2), s.cfg.ttlMs);
      s.nextSendAt = now + wait;
      break;
    }
  }

  if (s.want && now >= s.nextSendAt) {
    s.attempt += 1;
    s.outstanding.push({ attempt: s.attempt, sentAt: now });
    if (s.outstanding.length > MAX_OUTSTANDING) s.outstanding.shift();
    out.push({ kind: 'send-request', group: g, attempt: s.attempt, renew: s.status === 'held' });
    s.nextSendAt = now + s.cfg.retryMs;
  }
  return out;
}

/** The earliest instant at which leaseStep(tick) has something to do. */
export function leaseDeadline(s: LeaseState): number {
  let t = s.want ? s.nextSendAt : Infinity;
  if (s.status === 'held' && s.deadline !== undefined) t = Math.min(t, s.deadline);
  return t;
}

function expire(s: LeaseState, now: number, out: LeaseAction[]): void {
  if (s.status !== 'held' || s.deadline === undefined || now < s.deadline) return;
  s.status = s.want ? 'requesting' : 'idle';
  s.deadline = undefined;
  s.heldSince = undefined;
  s.reason = 'no renewal acknowledged before the local deadline';
  out.push({ kind: 'lease-lost', group: s.cfg.group, reason: s.reason });
  if (s.want && s.nextSendAt > now) s.nextSendAt = now;
}
