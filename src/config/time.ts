// Heartbeat's time syntax (cl_get_msec): a bare number is SECONDS, and the
// only units are ms and us/usec. "2s" is NOT accepted; Heartbeat rejects it
// without saying why, so tandem names the problem and the fix instead.

import { UserError } from '../util/errors.js';

const TIME_RE = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|msec|us|usec)?$/i;

// Units people write by habit, mapped to seconds so the error can print the
// equivalent value in the syntax that works.
const HABIT_UNITS: ReadonlyArray<[RegExp, number]> = [
  [/^(s|sec|secs|second|seconds)$/i, 1],
  [/^(m|min|mins|minute|minutes)$/i, 60],
  [/^(h|hr|hrs|hour|hours)$/i, 3600],
];

/**
 * Largest accepted time. Node's timers treat anything above 2^31-1 ms as 1 ms,
 * so a larger deadtime would silently turn into an instant timeout.
 */
export const MAX_TIME_MS = 2 ** 31 - 1;

/** Trims float noise (0.1*3) so suggestions read like what a person types. */
function tidy(n: number): string {
  return String(Number(n.toPrecision(12)));
}

/**
 * Parses a Heartbeat time value and returns whole milliseconds, rounded to
 * nearest like Heartbeat (499us -> 0, 500us -> 1). Throws UserError with a
 * message that says how to write the value correctly.
 */
export function parseTime(value: string): number {
  const text = value.trim();
  const m = TIME_RE.exec(text);
  if (!m) throw new UserError(timeSyntaxMessage(text));
  const num = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const ms = unit === '' ? num * 1000 : unit.startsWith('m') ? num : num / 1000;
  const rounded = Math.floor(ms + 0.5);
  if (!Number.isFinite(rounded) || rounded > MAX_TIME_MS) {
    throw new UserError(`time '${text}' is too large (at most ${MAX_TIME_MS}ms, about 24.8 days)`);
  }
  return rounded;
}

function timeSyntaxMessage(text: string): string {
  if (text.startsWith('-')) return `invalid time '${text}': times cannot be negative`;
  const habit = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]+)$/i.exec(text);
  if (habit) {
    const num = Number(habit[1]);
    const unit = habit[2] ?? '';
    for (const [re, seconds] of HABIT_UNITS) {
      if (re.test(unit)) {
        const secs = num * seconds;
        return (
          `invalid time '${text}': '${unit}' is not a unit in Heartbeat time syntax ` +
          `(a bare number means seconds); use ${tidy(secs)} for seconds or ${tidy(secs * 1000)}ms`
        );
      }
    }
  }
  return (
    `invalid time '${text}': expected seconds as a plain number (e.g. 2 or 0.5), ` +
    `or a number with ms or us (e.g. 2000ms, 500us)`
  );
}

/**
 * Pacemaker's and OCF meta-data's time form, used by haresources' `op` and
 * `meta` settings: "20s", "2min", "500ms", "1h", a bare number of seconds.
 * Undefined when it is none of those.
 */
export function parseOpTime(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|m|min|h|hr)?\s*$/i.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const f = unit.startsWith('ms') ? 1 : unit.startsWith('s') ? 1000 : unit.startsWith('m') ? 60_000 : 3_600_000;
  const ms = Math.round(n * f);
  return ms <= MAX_TIME_MS ? ms : undefined;
}
