// Fencing's use of the one runner (src/agents/runner.ts): a fence tool gets
// an absolute deadline (its device's timeout covers every call of one fence),
// SIGKILL at once when it is reached (a tool ignoring SIGTERM must not stretch
// a fence), and nothing it started may outlive it (a stray ipmitool could
// still switch the power after the fence has been reported).

import { runChild, type RunResult } from '../agents/runner.js';

export type { RunResult } from '../agents/runner.js';

export interface RunOptions {
  env: Record<string, string>;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null, so nothing can prompt. */
  input?: string;
  /** Absolute performance.now() instant at which the process group is killed. */
  deadline: number;
  signal?: AbortSignal;
}

/** Never rejects: every failure is described in the result. */
export function runBounded(path: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return runChild({
    path, args, env: opts.env, timeoutMs: Math.max(0, opts.deadline - performance.now()),
    killGraceMs: 0, killGroupOnExit: true,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
