// Driving a NodeEngine in unit tests the way the daemon's agents would.

import { engineStep, type EngineAction, type EngineState } from '../../src/node/engine.js';

/** Runs every op the engine asks for as a success, as the daemon's agents would; returns all actions, the ops' own included. */
export function runOps(e: EngineState, acts: EngineAction[], now: number): EngineAction[] {
  const all = [...acts];
  let pending = acts;
  while (pending.length) {
    const next: EngineAction[] = [];
    for (const a of pending) if (a.kind === 'op') next.push(...engineStep(e, { kind: 'op-done', group: a.group, op: a.op, index: a.index, ok: true }, now));
    all.push(...next);
    pending = next;
  }
  return all;
}
