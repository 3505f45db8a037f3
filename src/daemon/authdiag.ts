// "authkeys differ?": the peer's address keeps sending heartbeat-shaped
// datagrams that claim to come from the peer and fail authentication, while
// nothing authentic arrives from it. Without this, a key mismatch looks like
// a dead peer (issue 11). A diagnosis only: it changes no decision, since the
// evidence is unauthenticated and anyone on the segment could fake it.
// Time is an input; memory is bounded (at most MAX_KEPT failures kept).

const MAX_KEPT = 64;

export interface AuthDiagView {
  suspected: boolean;
  /** Failed datagrams claiming the peer within the window. */
  packets: number;
  /** Their source addresses (at most 4). */
  sources: string[];
  windowMs: number;
  message: string | null;
}

export class AuthDiag {
  private failures: Array<{ at: number; from: string }> = [];
  private lastAuthentic = -Infinity;
  private active = false;

  /**
   * @param windowMs how far back to look (a deadtime or more: the peer is dead by then if this is all it sends)
   * @param minPackets failures within the window needed to suspect a key mismatch
   */
  constructor(private readonly peer: string, readonly windowMs: number, private readonly minPackets = 3) {}

  /** A datagram that failed authentication; `claimsPeer` when its bytes name the peer as the sender. Returns 'raised' on the transition. */
  onAuthFailure(from: string, claimsPeer: boolean, now: number): 'raised' | undefined {
    if (!claimsPeer) return undefined;
    this.failures.push({ at: now, from });
    if (this.failures.length > MAX_KEPT) this.failures.splice(0, this.failures.length - MAX_KEPT);
    return this.update(now) === 'raised' ? 'raised' : undefined;
  }

  /** An authentic, fresh message from the peer. Returns 'cleared' on the transition. */
  onAuthentic(now: number): 'cleared' | undefined {
    this.lastAuthentic = now;
    return this.update(now) === 'cleared' ? 'cleared' : undefined;
  }

  private recent(now: number) {
    return this.failures.filter((f) => now - f.at <= this.windowMs);
  }

  private update(now: number): 'raised' | 'cleared' | undefined {
    const was = this.active;
    this.active = this.recent(now).length >= this.minPackets && now - this.lastAuthentic > this.windowMs;
    if (this.active && !was) return 'raised';
    if (!this.active && was) return 'cleared';
    return undefined;
  }

  view(now: number): AuthDiagView {
    const recent = this.recent(now);
    const suspected = recent.length >= this.minPackets && now - this.lastAuthentic > this.windowMs;
    const sources = [...new Set(recent.map((f) => f.from))].slice(0, 4);
    return {
      suspected, packets: recent.length, sources, windowMs: this.windowMs,
      message: suspected
        ? `authkeys differ? ${recent.length >= MAX_KEPT ? `${MAX_KEPT}+` : recent.length} heartbeat-shaped packet(s) from ${sources.join(', ')} claiming to be ${this.peer} ` +
          `failed authentication in the last ${Math.round(this.windowMs / 1000)} s, and nothing authentic came from ${this.peer}: ` +
          `compare the authkeys fingerprints ('tandem status') on both nodes`
        : null,
    };
  }
}

/**
 * Does this datagram name `node` as its sender? Checked on the raw bytes of a
 * datagram that failed authentication (its fields are never parsed): the
 * netstring field `(0)src=NODE` or a classic `src=NODE` line.
 */
export function claimsSender(buf: Buffer, node: string): boolean {
  return buf.includes(`:(0)src=${node},`, 0, 'utf8') || buf.includes(`\nsrc=${node}\n`, 0, 'utf8');
}
