// The fencing building blocks, and the small glue the daemon needs between
// the pure policy (policy.ts) and the devices (devices.ts): run a policy
// action, get back the event to feed into the policy.

import type { StonithDevice } from '../config/types.js';
import { checkDevice, fence, type FenceContext } from './devices.js';
import type { FenceRecord } from './history.js';
import type { FenceRecordDraft, FencingAction, FencingEvent } from './policy.js';

export * from './devices.js';
export * from './history.js';
export * from './policy.js';

/**
 * Carries out a `fence` or `check` action from fencingStep() on
 * `devices` (the list fencingPolicyConfig() returned) and resolves to the
 * event to feed back; other actions resolve to undefined. Never rejects.
 */
export async function runDeviceAction(
  a: FencingAction, devices: readonly StonithDevice[], signal?: AbortSignal, ctx?: FenceContext,
): Promise<FencingEvent | undefined> {
  if (a.kind === 'fence') {
    const d = devices[a.device];
    // Belt and braces: a device is only ever used on the node it names.
    if (!d || d.target !== a.target) {
      return { kind: 'fence-done', id: a.id, ok: false, error: `device ${a.device} is not a device for ${a.target}` };
    }
    const r = await fence(d, 'off', signal, ctx);
    return { kind: 'fence-done', id: a.id, ok: r.ok, ...(r.error ? { error: r.error } : {}) };
  }
  if (a.kind === 'check') {
    const d = devices[a.device];
    if (!d) return { kind: 'check-done', device: a.device, ok: false, error: 'no such device' };
    const r = await checkDevice(d, signal, ctx);
    return { kind: 'check-done', device: a.device, ok: r.ok, ...(r.error ? { error: r.error } : {}) };
  }
  return undefined;
}

/** A history record from a policy `record` action; `now` is the wall clock when the action came out. */
export function historyRecord(draft: FenceRecordDraft, by: string, now: Date = new Date()): FenceRecord {
  // Whole milliseconds: the record is logged, stored and shown as is.
  const durationMs = Math.max(0, Math.round(draft.durationMs));
  return {
    at: new Date(now.getTime() - durationMs).toISOString(),
    by, target: draft.target, device: draft.device, action: draft.action, reason: draft.reason,
    result: draft.result, durationMs, attempt: draft.attempt,
    ...(draft.error ? { error: draft.error } : {}),
  };
}
