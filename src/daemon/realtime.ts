// Heartbeat's `realtime` and `rtprio`: the thread that sends and judges
// heartbeats runs SCHED_FIFO, so a busy machine (a backup, a build, a
// runaway service) does not delay heartbeats into a false failover.
//
// Only Node's main thread is raised (Linux policy is per thread), and
// children start with the normal policy again (SCHED_RESET_ON_FORK in the
// addon): resource scripts and the services they start must not run
// real-time. Memory is not locked: V8 aborts when it gives back code pages
// that are locked (madvise(MADV_DONTNEED) fails with EINVAL on them), seen
// with mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) on Node 20.

import native from 'tandem-native';

export interface Scheduling {
  /** What the thread runs with now, e.g. "SCHED_FIFO 50" or "SCHED_OTHER". */
  policy: string;
  /** Set when `realtime on` could not be applied: the system's reason. */
  refused?: string;
}

export function applyRealtime(h: { realtime: boolean; rtprio: number }): Scheduling {
  if (h.realtime) {
    try {
      native.setRealtime(h.rtprio);
    } catch (e) {
      return { policy: current(), refused: explain((e as Error).message, h.rtprio) };
    }
  }
  return { policy: current() };
}

function current(): string {
  const [policy, prio] = native.schedPolicy();
  return policy === 'fifo' || policy === 'rr' ? `SCHED_${policy.toUpperCase()} ${prio}` : `SCHED_${policy.toUpperCase()}`;
}

function explain(err: string, prio: number): string {
  if (/not permitted/i.test(err)) {
    return `${err} (needs CAP_SYS_NICE, or 'ulimit -r' of at least ${prio}; in a container, the runtime may withhold both, and a cgroup without real-time runtime refuses it too)`;
  }
  return err;
}
