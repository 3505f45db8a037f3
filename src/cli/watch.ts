// `tandem status --watch [SECONDS]`: the status, refreshed in place. On a
// terminal it redraws the screen; into a pipe or file it prints successive
// snapshots, each after a blank line and a timestamp. A daemon that stops
// answering is shown as such and picked up again when it returns; SIGINT or
// SIGTERM end it with exit 0 and the terminal as it was.

import { InvalidArgumentError } from 'commander';

export const WATCH_DEFAULT_S = 1;
const WATCH_MIN_S = 0.1;
const WATCH_MAX_S = 3600;

/** The --watch value: seconds between refreshes, 0.1 to 3600 (commander turns the error into one line). */
export function parseWatchInterval(value: string): number {
  const v = value.trim();
  const n = /^\d+(\.\d+)?$/.test(v) || /^\.\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < WATCH_MIN_S || n > WATCH_MAX_S) {
    throw new InvalidArgumentError(`'${value}' is not a number of seconds from ${WATCH_MIN_S} to ${WATCH_MAX_S}`);
  }
  return n;
}

export interface WatchOptions {
  intervalS: number;
  /** One snapshot as text; throws when the daemon does not answer. */
  snapshot: () => Promise<string>;
  out: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean };
  now?: () => Date;
}

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** Runs until SIGINT or SIGTERM; resolves 0. */
export async function watch(o: WatchOptions): Promise<number> {
  const tty = o.out.isTTY === true;
  const now = o.now ?? (() => new Date());
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  let done = false;
  const onSignal = () => { done = true; stop(); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (tty) o.out.write(HIDE_CURSOR);
  let lastGood: string | undefined;
  let failingSince: Date | undefined;
  let first = true;
  try {
    let next = Date.now();
    while (!done) {
      const at = now();
      let body: string;
      // A signal does not wait for a slow answer (the request gives up after its own timeout).
      const got = await Promise.race([
        o.snapshot().then((text) => ({ text }), (e: Error) => ({ error: e.message })),
        stopped.then(() => undefined),
      ]);
      if (!got || done) break;
      if ('text' in got) {
        failingSince = undefined;
        lastGood = got.text;
        body = got.text;
      } else {
        failingSince ??= at;
        const line = `daemon not answering since ${failingSince.toISOString()} (${got.error}); trying again every ${o.intervalS} s\n`;
        // On a screen the last good picture stays below the line, marked old; a log gets the line alone.
        body = tty && lastGood ? `${line}\nlast answer before that:\n${lastGood}` : line;
      }
      if (tty) o.out.write(`${CLEAR}${at.toISOString()}  (every ${o.intervalS} s; Ctrl-C ends)\n\n${body}`);
      else o.out.write(`${first ? '' : '\n'}=== ${at.toISOString()} ===\n${body}`);
      first = false;
      // Absolute schedule: a slow answer does not push later snapshots back.
      next += o.intervalS * 1000;
      const wait = Math.max(0, next - Date.now());
      if (wait === 0) next = Date.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((r) => { timer = setTimeout(r, wait); })]);
      clearTimeout(timer);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (tty) o.out.write(SHOW_CURSOR);
  }
  return 0;
}
