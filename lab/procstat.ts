// What a daemon costs, read from /proc: CPU time and memory of a set of
// processes (an implementation's processes on one node), for the cost and
// load benchmarks.

import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { sh } from './sh.js';

const TICK_MS = 10;   // USER_HZ is 100 on Linux

/** utime + stime of a whole process (all its threads, living and exited), in ms; undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The scheduler's run time of the living threads of a process (ns precision, in ms); undefined once it is gone. */
export function runMs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
    }
    return ns / 1e6;
  } catch {
    return undefined;
  }
}

function kbField(file: string, field: string): number | undefined {
  try {
    const m = readFileSync(file, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS in kB. */
export const rssKb = (pid: number) => kbField(`/proc/${pid}/status`, 'VmRSS');
/** Pss (shared pages divided among their users) in kB. */
export const pssKb = (pid: number) => kbField(`/proc/${pid}/smaps_rollup`, 'Pss');

/** The executable of a process (resolved), or undefined. */
export function exeOf(pid: number): string | undefined {
  try { return readlinkSync(`/proc/${pid}/exe`); } catch { return undefined; }
}

/** The pids in a network namespace whose executable is `exe` (e.g. every heartbeat or keepalived process of a node). */
export async function pidsByExe(ns: string, exe: string): Promise<number[]> {
  const want = realpathSync(exe);
  const out = await sh('ip', ['netns', 'pids', ns], { allowFail: true });
  return out.split('\n').filter(Boolean).map(Number).filter((pid) => exeOf(pid) === want).sort((a, b) => a - b);
}

export interface Sample { at: number; cpuMs: Map<number, number>; runMs: Map<number, number> }

/** CPU counters of `pids` now. */
export function sample(pids: number[]): Sample {
  const s: Sample = { at: performance.now(), cpuMs: new Map(), runMs: new Map() };
  for (const pid of pids) {
    const c = cpuMs(pid);
    const r = runMs(pid);
    if (c !== undefined) s.cpuMs.set(pid, c);
    if (r !== undefined) s.runMs.set(pid, r);
  }
  return s;
}

/** CPU % of one core between two samples, summed over the processes present in both: from utime+stime, and from the scheduler's run time. */
export function cpuPercent(a: Sample, b: Sample): { stat: number; sched: number } {
  const wall = b.at - a.at;
  let stat = 0;
  let sched = 0;
  for (const [pid, c] of b.cpuMs) if (a.cpuMs.has(pid)) stat += c - a.cpuMs.get(pid)!;
  for (const [pid, r] of b.runMs) if (a.runMs.has(pid)) sched += r - a.runMs.get(pid)!;
  return { stat: (100 * stat) / wall, sched: (100 * sched) / wall };
}

/** Summed RSS and PSS of `pids`, in MB. */
export function memoryMb(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += rssKb(pid) ?? 0;
    pss += pssKb(pid) ?? 0;
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}
