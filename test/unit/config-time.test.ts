import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { MAX_TIME_MS, parseTime } from '../../src/config/time.js';
import { UserError } from '../../src/util/errors.js';

function errorOf(value: string): UserError {
  try {
    parseTime(value);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error(`parseTime('${value}') did not throw`);
}

describe('parseTime (Heartbeat cl_get_msec syntax)', () => {
  it.each([
    ['1', 1000],
    ['30', 30000],
    ['1.5', 1500],
    ['.5', 500],
    ['2.', 2000],
    ['0', 0],
    ['0.001', 1],
    ['100ms', 100],
    ['100MS', 100],
    ['2.5ms', 3],          // rounds half up like Heartbeat (x + 0.5, truncated)
    ['100msec', 100],
    ['1000000us', 1000],
    ['1000usec', 1],
    ['499us', 0],
    ['500us', 1],
    ['501us', 1],
    ['1500US', 2],
    ['100 ms', 100],       // Heartbeat allows blanks before the unit
    ['  7  ', 7000],
    ['2147483647ms', MAX_TIME_MS],
  ])('%s -> %d ms', (input, ms) => {
    expect(parseTime(input)).toBe(ms);
  });

  it.each([
    ['2s', 'use 2 for seconds or 2000ms'],
    ['1.5s', 'use 1.5 for seconds or 1500ms'],
    ['10 sec', 'use 10 for seconds or 10000ms'],
    ['3seconds', 'use 3 for seconds or 3000ms'],
    ['2m', 'use 120 for seconds or 120000ms'],
    ['0.5min', 'use 30 for seconds or 30000ms'],
    ['1h', 'use 3600 for seconds or 3600000ms'],
  ])('rejects the habitual unit in %s and says what to write', (input, advice) => {
    const e = errorOf(input);
    expect(e.message).toContain(`invalid time '${input}'`);
    expect(e.message).toContain('a bare number means seconds');
    expect(e.message).toContain(advice);
  });

  it.each(['', 'abc', 'ms', '1e3', '0x10', '1ms2', '1.2.3', '1,5', 'NaN', 'Infinity', '5ns'])(
    'rejects %j with the syntax summary',
    (input) => {
      expect(errorOf(input).message).toMatch(
        /^invalid time '.*': expected seconds as a plain number \(e\.g\. 2 or 0\.5\), or a number with ms or us/,
      );
    },
  );

  it('rejects negative times explicitly', () => {
    expect(errorOf('-1').message).toBe("invalid time '-1': times cannot be negative");
    expect(errorOf('-5ms').message).toBe("invalid time '-5ms': times cannot be negative");
  });

  it('rejects times Node timers cannot represent', () => {
    expect(errorOf('2147483648ms').message).toBe(
      "time '2147483648ms' is too large (at most 2147483647ms, about 24.8 days)",
    );
    expect(errorOf('2147484').message).toContain('too large');
    expect(errorOf('9'.repeat(400)).message).toContain('too large');
  });

  it('round-trips whole milliseconds and whole seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME_MS }), (ms) => {
        expect(parseTime(`${ms}ms`)).toBe(ms);
        expect(parseTime(`${ms * 1000}us`)).toBe(ms);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Math.floor(MAX_TIME_MS / 1000) }), (s) => {
        expect(parseTime(String(s))).toBe(s * 1000);
      }),
    );
  });

  it('either returns whole milliseconds in range or throws a UserError, for any input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.stringMatching(/^-?[0-9]{0,12}(\.[0-9]{0,4})?\s?(ms|us|usec|msec|s|m|h|MS|x)?$/),
        ),
        (input) => {
          try {
            const ms = parseTime(input);
            expect(Number.isInteger(ms)).toBe(true);
            expect(ms).toBeGreaterThanOrEqual(0);
            expect(ms).toBeLessThanOrEqual(MAX_TIME_MS);
          } catch (e) {
            expect(e).toBeInstanceOf(UserError);
          }
        },
      ),
    );
  });
});
