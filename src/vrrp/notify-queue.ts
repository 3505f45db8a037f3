// Notify scripts run one at a time, in the order the transitions happened,
// and apart from them: a takeover's gratuitous ARPs and routes do not wait
// for a notify_master script that restarts a service. A key (an instance or
// a sync group) has at most one run waiting; a newer one replaces it, so a
// flapping instance with a slow script does not queue one run per flap,
// and its script still sees the state it ended in.

export class NotifyQueue {
  private readonly waiting: Array<{ key: string; run: () => Promise<void> }> = [];
  private busy = false;
  private idle: Array<() => void> = [];

  constructor(private readonly onReplaced?: (key: string) => void) {}

  push(key: string, run: () => Promise<void>): void {
    const i = this.waiting.findIndex((w) => w.key === key);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.onReplaced?.(key);
    }
    this.waiting.push({ key, run });
    this.next();
  }

  /** Resolves once nothing runs or waits. */
  whenIdle(): Promise<void> {
    if (!this.busy && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private next(): void {
    if (this.busy) return;
    const w = this.waiting.shift();
    if (!w) {
      for (const f of this.idle.splice(0)) f();
      return;
    }
    this.busy = true;
    // A run reports its own failures; one that throws must not stop the queue.
    void w.run().catch(() => undefined).finally(() => {
      this.busy = false;
      this.next();
    });
  }
}
