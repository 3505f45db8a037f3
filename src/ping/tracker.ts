// Reachability of ping nodes as a pure state machine: `now` is an input,
// probes go out as actions, replies come back as events. The ICMP adapter
// (icmp.ts) only moves packets.
//
// A target is one `ping IP` line or one `ping_group NAME IP...` line; a group
// is up while any member is up. Hysteresis per address: up after `upAfter`
// consecutive answered probes, down after `deadpingMs` without any answer,
// so one lost packet does not flip it and one lucky reply does not revive it.

export interface PingTargetSpec {
  name: string;             // the IP for `ping`, NAME for `ping_group`
  addrs: string[];
}

export interface TrackerConfig {
  targets: PingTargetSpec[];
  intervalMs: number;       // one probe per address per interval
  deadpingMs: number;       // no answer for this long: down
  upAfter: number;          // this many consecutive answers: up
  timeoutMs: number;        // an unanswered probe counts as lost after this
  window: number;           // loss and RTT figures cover the last N finished probes
}

export type AddrStatus = 'unknown' | 'up' | 'down';

interface Probe {
  seq: number;
  sentAt: number;
}

export interface AddrState {
  addr: string;
  status: AddrStatus;
  since: number;
  consecutive: number;      // answered probes since the last lost one
  lastReplyAt?: number;
  nextProbeAt: number;
  outstanding: Probe[];
  sent: number;
  received: number;
  lost: number;
  recent: Array<number | null>;   // RTT of each finished probe, null = lost (newest last)
}

export interface TargetState {
  name: string;
  addrs: string[];
  status: AddrStatus;
  since: number;
}

export interface TrackerState {
  readonly cfg: TrackerConfig;
  startedAt: number;
  seq: number;              // 16-bit ICMP sequence, shared by all addresses
  addrs: Map<string, AddrState>;
  targets: TargetState[];
  ignored: number;          // replies that matched no outstanding probe
}

export type TrackerEvent =
  | { kind: 'tick' }
  | { kind: 'reply'; addr: string; seq: number }
  | { kind: 'send-failed'; addr: string; seq: number; error: string };

export type TrackerAction =
  | { kind: 'probe'; addr: string; seq: number }
  | { kind: 'addr-status'; addr: string; status: AddrStatus; detail: string }
  | { kind: 'target-status'; target: string; status: AddrStatus; detail: string };

export interface Reach {
  up: number;
  total: number;
}

export interface TargetStats {
  name: string;
  status: AddrStatus;
  since: number;
  addrs: Array<{
    addr: string; status: AddrStatus; sent: number; received: number; lost: number;
    lossPct: number | null; rttMs: { last: number | null; min: number | null; avg: number | null; max: number | null };
  }>;
}

/** Problems with the numbers, naming the field; empty when usable. */
export function trackerConfigProblems(cfg: TrackerConfig): string[] {
  const p: string[] = [];
  if (cfg.targets.length === 0) p.push('targets: at least one ping node or ping_group is needed');
  const seen = new Set<string>();
  for (const t of cfg.targets) {
    if (t.addrs.length === 0) p.push(`targets: ${t.name} has no address`);
    if (seen.has(t.name)) p.push(`targets: ${t.name} is listed twice`);
    seen.add(t.name);
  }
  if (!(cfg.intervalMs >= 10)) p.push(`intervalMs: ${cfg.intervalMs} is below 10 ms`);
  if (!(cfg.deadpingMs > cfg.intervalMs)) p.push(`deadpingMs: ${cfg.deadpingMs} must exceed intervalMs (${cfg.intervalMs}), or one late reply marks the node dead`);
  if (!(Number.isInteger(cfg.upAfter) && cfg.upAfter >= 1)) p.push(`upAfter: ${cfg.upAfter} must be a whole number >= 1`);
  if (!(cfg.timeoutMs > 0)) p.push(`timeoutMs: ${cfg.timeoutMs} must be positive`);
  if (!(Number.isInteger(cfg.window) && cfg.window >= 1)) p.push(`window: ${cfg.window} must be a whole number >= 1`);
  return p;
}

export function initTracker(cfg: TrackerConfig, now: number): TrackerState {
  const addrs = new Map<string, AddrState>();
  for (const t of cfg.targets) {
    for (const a of t.addrs) {
      if (addrs.has(a)) continue;   // one address in two targets is probed once
      addrs.set(a, {
        addr: a, status: 'unknown', since: now, consecutive: 0, nextProbeAt: now, outstanding: [],
        sent: 0, received: 0, lost: 0, recent: [],
      });
    }
  }
  return {
    cfg, startedAt: now, seq: 0, addrs, ignored: 0,
    targets: cfg.targets.map((t) => ({ name: t.name, addrs: [...t.addrs], status: 'unknown', since: now })),
  };
}

export function trackerStep(s: TrackerState, ev: TrackerEvent, now: number): TrackerAction[] {
  const out: TrackerAction[] = [];
  if (ev.kind === 'reply') onReply(s, ev.addr, ev.seq, now);
  if (ev.kind === 'send-failed') {
    const a = s.addrs.get(ev.addr);
    const i = a ? a.outstanding.findIndex((p) => p.seq === ev.seq) : -1;
    if (a && i >= 0) {
      a.outstanding.splice(i, 1);
      finish(s, a, null);
    }
  }
  for (const a of s.addrs.values()) {
    // Expire unanswered probes first so a lost probe resets the streak
    // before the status is judged.
    while (a.outstanding.length > 0 && now - a.outstanding[0]!.sentAt >= s.cfg.timeoutMs) {
      a.outstanding.shift();
      finish(s, a, null);
    }
    judge(s, a, now, out);
    if (now >= a.nextProbeAt) {
      s.seq = (s.seq + 1) & 0xffff;
      a.outstanding.push({ seq: s.seq, sentAt: now });
      a.sent += 1;
      out.push({ kind: 'probe', addr: a.addr, seq: s.seq });
      // Keep the schedule anchored so a late timer does not stretch every
      // later interval; after a long stall start over from now.
      const next = a.nextProbeAt + s.cfg.intervalMs;
      a.nextProbeAt = next > now ? next : now + s.cfg.intervalMs;
    }
  }
  for (const t of s.targets) {
    const members = t.addrs.map((x) => s.addrs.get(x)!.status);
    const status: AddrStatus = members.includes('up') ? 'up' : members.every((m) => m === 'down') ? 'down' : 'unknown';
    if (status !== t.status) {
      t.status = status;
      t.since = now;
      const upOnes = t.addrs.filter((x) => s.addrs.get(x)!.status === 'up');
      out.push({
        kind: 'target-status', target: t.name, status,
        detail: status === 'up' ? `answering: ${upOnes.join(', ')}` : status === 'down' ? `no answer from ${t.addrs.join(', ')} for ${s.cfg.deadpingMs} ms` : 'not yet known',
      });
    }
  }
  return out;
}

/** The earliest instant at which trackerStep(tick) has something to do. */
export function trackerDeadline(s: TrackerState): number {
  let t = Infinity;
  for (const a of s.addrs.values()) {
    t = Math.min(t, a.nextProbeAt);
    if (a.outstanding.length > 0) t = Math.min(t, a.outstanding[0]!.sentAt + s.cfg.timeoutMs);
    if (a.status !== 'down') t = Math.min(t, (a.lastReplyAt ?? s.startedAt) + s.cfg.deadpingMs);
  }
  return t;
}

/** How many targets are up, out of how many configured. */
export function reach(s: TrackerState): Reach {
  return { up: s.targets.filter((t) => t.status === 'up').length, total: s.targets.length };
}

export function trackerStats(s: TrackerState): TargetStats[] {
  return s.targets.map((t) => ({
    name: t.name, status: t.status, since: t.since,
    addrs: t.addrs.map((x) => {
      const a = s.addrs.get(x)!;
      const rtts = a.recent.filter((r): r is number => r !== null);
      const round = (v: number) => Math.round(v * 1000) / 1000;
      const last = a.recent.length > 0 ? a.recent[a.recent.length - 1]! : null;
      return {
        addr: x, status: a.status, sent: a.sent, received: a.received, lost: a.lost,
        lossPct: a.recent.length ? round((100 * (a.recent.length - rtts.length)) / a.recent.length) : null,
        rttMs: {
          last: last === null ? null : round(last),
          min: rtts.length ? round(Math.min(...rtts)) : null,
          avg: rtts.length ? round(rtts.reduce((x2, y) => x2 + y, 0) / rtts.length) : null,
          max: rtts.length ? round(Math.max(...rtts)) : null,
        },
      };
    }),
  }));
}

function onReply(s: TrackerState, addr: string, seq: number, now: number): void {
  const a = s.addrs.get(addr);
  const i = a ? a.outstanding.findIndex((p) => p.seq === seq) : -1;
  // A reply for a probe we did not send to that address (another pinger on
  // the host, a duplicate, a spoof, or one already counted as lost) says
  // nothing about reachability.
  if (!a || i < 0) {
    s.ignored += 1;
    return;
  }
  const probe = a.outstanding[i]!;
  // Probes older than this one that are still open were lost in between:
  // replies come back in order on a path, so count them now.
  const older = a.outstanding.splice(0, i + 1).slice(0, -1);
  for (let k = 0; k < older.length; k++) finish(s, a, null);
  a.received += 1;
  a.lastReplyAt = now;
  a.consecutive += 1;
  finish(s, a, now - probe.sentAt, true);
}

function finish(s: TrackerState, a: AddrState, rtt: number | null, counted = false): void {
  if (rtt === null) {
    a.lost += 1;
    a.consecutive = 0;
  } else if (!counted) {
    a.received += 1;
  }
  a.recent.push(rtt);
  if (a.recent.length > s.cfg.window) a.recent.shift();
}

function judge(s: TrackerState, a: AddrState, now: number, out: TrackerAction[]): void {
  let status = a.status;
  if (a.status !== 'up' && a.consecutive >= s.cfg.upAfter) status = 'up';
  if (a.status !== 'down' && now - (a.lastReplyAt ?? s.startedAt) >= s.cfg.deadpingMs) status = 'down';
  if (status === a.status) return;
  a.status = status;
  a.since = now;
  out.push({
    kind: 'addr-status', addr: a.addr, status,
    detail: status === 'up' ? `${a.consecutive} answers in a row` : `no answer for ${s.cfg.deadpingMs} ms`,
  });
}
