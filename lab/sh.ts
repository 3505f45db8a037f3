// Small process helpers for the network-namespace lab.

import { execFile, spawn, type ChildProcess } from 'node:child_process';

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
        return;
      }
      resolve(stdout);
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined; throws with `what` after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** A long-running child whose stdout lines are timestamped on arrival (monotonic ms). */
export class LineWatcher {
  readonly lines: Array<{ at: number; line: string }> = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  readonly child: ChildProcess;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      const at = performance.now();
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push({ at, line: this.buf.slice(0, nl) });
        this.buf = this.buf.slice(nl + 1);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** First line after `since` matching `re`, waiting up to timeoutMs. */
  async first(re: RegExp, since: number, timeoutMs: number): Promise<{ at: number; line: string } | undefined> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => l.at >= since && re.test(l.line));
      if (hit) return hit;
      const left = end - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
