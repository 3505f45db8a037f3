// The demo's failover timeline. Its events come from two clocks read at
// different moments (beta's log lines, stamped when logged; the kernel's VIP
// and the client's replies, stamped when the watcher read them), so they are
// printed in time order, not in the order they were collected.

export interface TimelineEvent {
  atMs: number;   // from the power loss
  text: string;
}

/** One line per event, earliest first; events at the same time keep their order. */
export function formatTimeline(events: TimelineEvent[]): string[] {
  return events
    .map((e, i) => ({ ...e, i }))
    .sort((a, b) => a.atMs - b.atMs || a.i - b.i)
    .map((e) => `  +${e.atMs.toFixed(0).padStart(5)} ms  ${e.text}`);
}
