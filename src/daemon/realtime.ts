// Heartbeat's `realtime` and `rtprio`: the thread that sends and judges
// heartbeats runs SCHED_FIFO, so a busy machine (a backup, a build, a
// runaway service) does not delay heartbeats into a false failover, and
// what that thread executes stays in RAM, so a machine short of memory
// does not page it out.
//
// Only Node's main thread is raised (Linux policy is per thread), and
// children start with the normal policy again (SCHED_RESET_ON_FORK in the
// addon): resource scripts and the services they start must not run
// real-time. Memory is locked selectively, not with mlockall as Heartbeat
// does: V8 gives heap and code pages back with mprotect(PROT_NONE) +
// madvise(MADV_DONTNEED), which fails with EINVAL on locked pages, and V8
// aborts (CHECK in OS::SetPermissions, SIGTRAP) once its heap shrinks:
// seen on Node 20 with every mlockall flag set (MCL_FUTURE alone included).
// The addon's lockCode() locks the program files' mappings (node, shared
// libraries, addons) and the main stack, never anonymous (V8) memory.

import { getPriority, setPriority } from 'node:os';
import native from 'tandem-native';

export interface Scheduling {
  /** What the thread runs with now, e.g. "SCHED_FIFO 50" or "SCHED_OTHER". */
  policy: string;
  /** Set when `realtime on` could not be applied: the system's reason. */
  refused?: string;
  /** With `realtime on`: the code locked in memory, or why not. */
  memoryLock?: MemoryLock;
}

export interface MemoryLock {
  /** Mappings locked (0 when refused). */
  regions: number;
  /** Their size: what VmLck and RLIMIT_MEMLOCK count, not what is resident (pages are locked as they are touched). */
  bytes: number;
  /** Set when the system refused: its reason. Nothing is locked then. */
  refused?: string;
}

export function applyRealtime(h: { realtime: boolean; rtprio: number }): Scheduling {
  if (!h.realtime) return { policy: current() };
  const memoryLock = lockCode();
  try {
    native.setRealtime(h.rtprio);
  } catch (e) {
    return { policy: current(), refused: explain((e as Error).message, h.rtprio), memoryLock };
  }
  return { policy: current(), memoryLock };
}

/**
 * keepalived's vrrp_priority: the normal policy at this nice value, for the calling (main) thread only — Linux nice
 * is per thread, and setpriority(PRIO_PROCESS, 0) applies to the caller. Children inherit it, as keepalived's do.
 */
export function applyNice(nice: number): Scheduling {
  try {
    setPriority(0, nice);
  } catch (e) {
    return { policy: current(), refused: explainNice((e as Error).message, nice) };
  }
  return { policy: current() };
}

function lockCode(): MemoryLock {
  try {
    const { regions, bytes } = native.lockCode();
    return { regions, bytes };
  } catch (e) {
    return { regions: 0, bytes: 0, refused: explainLock((e as Error).message) };
  }
}

/** Whole MiB, rounded up: what a limit must be set to. */
export const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);

function current(): string {
  const [policy, prio] = native.schedPolicy();
  if (policy === 'fifo' || policy === 'rr') return `SCHED_${policy.toUpperCase()} ${prio}`;
  const nice = getPriority(0);
  return nice === 0 ? `SCHED_${policy.toUpperCase()}` : `SCHED_${policy.toUpperCase()} nice ${nice}`;
}

function explain(err: string, prio: number): string {
  if (/not permitted/i.test(err)) {
    return `${err} (needs CAP_SYS_NICE, or 'ulimit -r' of at least ${prio}; in a container, the runtime may withhold both, and a cgroup without real-time runtime refuses it too)`;
  }
  return err;
}

function explainNice(err: string, nice: number): string {
  return /denied|not permitted/i.test(err) ? `${err} (a nice of ${nice} needs CAP_SYS_NICE, or 'ulimit -e' of at least ${20 - nice})` : err;
}

function explainLock(err: string): string {
  if (/not permitted|cannot allocate memory/i.test(err)) {
    const kib = Number(err.match(/ of (\d+) KiB/)?.[1] ?? NaN);
    const need = Number.isFinite(kib) ? ` of at least ${mib(kib * 1024)} MB` : '';
    return `${err} (needs CAP_IPC_LOCK, or 'ulimit -l'${need}: LimitMEMLOCK= in the systemd unit)`;
  }
  return err;
}
