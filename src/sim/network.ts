// The heartbeat paths between the two simulated hosts. Each path has a
// healthy behaviour of its own (latency, jitter, occasional duplicates and
// reordering) and fault episodes layered on top per direction: cut, loss,
// extra delay, duplication. A partition is a cut of every path.

import type { NetSpec, NodeIx, PathParams } from './scenario.js';
import type { Rng } from './rng.js';

export interface Delivery {
  delayMs: number;
}

export class Network {
  private readonly active = new Map<number, NetSpec>();
  /** The latest arrival of a packet an episode delayed: until then old packets may still turn up. */
  private impairedUntil = 0;

  constructor(readonly paths: readonly PathParams[], private readonly rng: Rng) {}

  start(id: number, spec: NetSpec): boolean {
    if (this.active.has(id)) return false;
    this.active.set(id, spec);
    return true;
  }

  stop(id: number): boolean {
    return this.active.delete(id);
  }

  healAll(): void {
    this.active.clear();
  }

  /** What becomes of one packet sent by `from` on path `path`: [] when lost. */
  transmit(from: NodeIx, path: number, now: number): Delivery[] {
    const base = this.paths[path]!;
    let loss = 0;
    let dup = base.dup;
    let extraMax = 0;
    for (const s of this.active.values()) {
      if (!s.paths.includes(path) || !s.dirs.includes(from)) continue;
      if (s.kind === 'cut') return [];
      if (s.kind === 'loss') loss = 1 - (1 - loss) * (1 - s.p);
      if (s.kind === 'dup') dup = Math.max(dup, s.p);
      if (s.kind === 'slow') extraMax = Math.max(extraMax, s.extraMs);
    }
    if (this.rng.chance(loss)) return [];
    const copies = this.rng.chance(dup) ? 2 : 1;
    const out: Delivery[] = [];
    for (let i = 0; i < copies; i++) {
      let d = base.delayMs + this.rng.int(0, base.jitterMs);
      if (this.rng.chance(base.reorder)) d += this.rng.int(1, base.reorderMs);
      if (extraMax > 0) {
        d += this.rng.int(0, extraMax);
        this.impairedUntil = Math.max(this.impairedUntil, now + d);
      }
      out.push({ delayMs: d });
    }
    return out;
  }

  /** A path with no episode on it in either direction: it delivers every packet within its healthy delay. */
  anyPerfectPath(): boolean {
    for (let i = 0; i < this.paths.length; i++) {
      let clean = true;
      for (const s of this.active.values()) {
        if (s.kind !== 'dup' && s.paths.includes(i)) { clean = false; break; }
      }
      if (clean) return true;
    }
    return false;
  }

  /** Every path cut in both directions (by any mix of episodes): neither node hears the other. */
  fullCut(): boolean {
    for (let i = 0; i < this.paths.length; i++) {
      for (const from of [0, 1] as const) {
        let cut = false;
        for (const s of this.active.values()) {
          if (s.kind === 'cut' && s.paths.includes(i) && s.dirs.includes(from)) { cut = true; break; }
        }
        if (!cut) return false;
      }
    }
    return true;
  }

  /** No episode active and no delayed packet still in flight. */
  quiet(now: number): boolean {
    return this.active.size === 0 && now >= this.impairedUntil;
  }
}
