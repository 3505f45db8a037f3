// What an operator may know of the fencing policy: plain, frozen data built
// fresh from the state (node/view.ts says why readers hold no state).

import { mayTakeOver, type FencePhase, type FencingState } from './policy.js';

export interface FenceDeviceView {
  readonly device: string;
  readonly checking: boolean;
  /** The newest status check; null before the first one finished. */
  readonly lastCheck: { readonly msAgo: number; readonly ok: boolean; readonly error: string | null } | null;
}

export interface FencingView {
  readonly peer: string;
  readonly phase: FencePhase;
  /** The policy allows the dead peer's groups to start here (fenced, left, operator, no device, or by failure policy). */
  readonly mayTakeOver: boolean;
  /** The policy's own words for its phase. */
  readonly reason: string;
  /** Failed rounds in this episode. */
  readonly failedRounds: number;
  readonly fenceDelayMs: number;
  /** The device the current round uses (the one in flight, if any). */
  readonly device: string | null;
  /** The fence in flight; null when none. */
  readonly inFlight: { readonly device: string | null; readonly msAgo: number; readonly stale: boolean } | null;
  /** The next fence (after fence_delay or a back-off), from now, unrounded; null when none is scheduled. */
  readonly nextFenceInMs: number | null;
  /** Errors of the last failed round. */
  readonly roundErrors: readonly string[];
  readonly devices: readonly FenceDeviceView[];
}

export function fencingView(f: FencingState, now: number): FencingView {
  const label = (i: number | undefined) => (i === undefined ? null : f.cfg.devices[i] ?? null);
  const fl = f.inflight;
  return Object.freeze({
    peer: f.cfg.peer,
    phase: f.phase,
    mayTakeOver: mayTakeOver(f),
    reason: f.reason,
    failedRounds: f.rounds,
    fenceDelayMs: f.cfg.fenceDelayMs,
    device: label(fl?.device ?? f.device),
    inFlight: fl ? Object.freeze({ device: label(fl.device), msAgo: now - fl.startedAt, stale: fl.stale }) : null,
    nextFenceInMs: f.fenceAt === undefined ? null : f.fenceAt - now,
    roundErrors: Object.freeze([...f.roundErrors]),
    devices: Object.freeze(f.cfg.devices.map((device, idx) => {
      const c = f.checks[idx];
      return Object.freeze({
        device,
        checking: c?.checking ?? false,
        lastCheck: c?.lastCheckedAt === undefined ? null : Object.freeze({ msAgo: now - c.lastCheckedAt, ok: c.ok ?? false, error: c.lastError ?? null }),
      });
    })),
  });
}
