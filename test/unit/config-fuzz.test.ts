// Property tests: whatever text an operator (or a bad merge) produces, the
// parsers return issues instead of throwing, every issue points at a line
// that exists, and a model is returned exactly when there are no issues.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { parseAuthKeys } from '../../src/config/authkeys.js';
import { lineCount } from '../../src/config/common.js';
import { parseHaCf } from '../../src/config/hacf.js';
import { parseHaResources } from '../../src/config/haresources.js';
import type { ConfigIssue } from '../../src/config/types.js';

const GOOD_HACF = [
  '# pair',
  'cluster web',
  'node hbA hbB',
  'udpport 694',
  'bcast eth0',
  'ucast eth1 10.0.0.2',
  'mcast eth2 239.0.0.1 694 1 0',
  'keepalive 500ms',
  'deadtime 5',
  'warntime 2',
  'initdead 20',
  'auto_failback on',
  'logfacility local0',
  'debug 1',
];
const GOOD_AUTHKEYS = ['# keys', 'auth 1', '1 sha256 0123456789abcdef', '2 sha1 s3cret', '3 crc'];
const GOOD_HARESOURCES = [
  '# groups',
  'hba IPaddr2::10.0.0.5/24/eth0 \\',
  '   Filesystem::/dev/drbd0::/data::ext3 apache',
  'hbb 10.0.0.6 mysql',
];

// Fragments that reach the parsers' interesting branches more often than
// uniform random text would.
const TOKENS = [
  'node', 'bcast', 'ucast', 'mcast', 'udpport', 'keepalive', 'deadtime', 'warntime', 'initdead',
  'auto_failback', 'nice_failback', 'cluster', 'logfile', 'logfacility', 'debug', 'stonith', 'auth',
  'crc', 'md5', 'sha1', 'sha256', 'IPaddr', 'IPaddr2', 'hba', 'hbb', 'eth0', 'eth0:0', '10.0.0.5',
  '10.0.0.5/24/eth0', '239.0.0.1', '999.1.1.1', '0', '1', '2', '15', '16', '65536', '2s', '100ms',
  '1.5', '-1', 'on', 'off', 'legacy', '::', 'a::b', '::', '#', '\\', 'arp_count=0', '/', ',', '',
];

const token = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TOKENS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);
const separator = fc.constantFrom(' ', '\t', '  ', ',', '');
const randomLine = fc
  .array(fc.tuple(token, separator), { maxLength: 8 })
  .map((parts) => parts.map(([t, s]) => t + s).join(''));
const lineEnding = fc.constantFrom('\n', '\r\n', '\\\n', '\r');

/** Random text built from config-ish tokens, with mixed line endings. */
const tokenText = fc
  .array(fc.tuple(randomLine, lineEnding), { maxLength: 25 })
  .map((ls) => ls.map(([l, e]) => l + e).join(''));

type Edit =
  | { op: 'delete'; at: number }
  | { op: 'duplicate'; at: number }
  | { op: 'insert'; at: number; line: string }
  | { op: 'replaceToken'; at: number; word: number; with: string }
  | { op: 'swap'; at: number; other: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), line: randomLine }),
  fc.record({ op: fc.constant('replaceToken' as const), at: fc.nat(), word: fc.nat(), with: token }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);

/** A valid file with a few random edits: close to real mistakes. */
function mutated(good: string[]): fc.Arbitrary<string> {
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    const lines = [...good];
    for (const e of edits) {
      const at = lines.length === 0 ? 0 : e.at % lines.length;
      switch (e.op) {
        case 'delete':
          lines.splice(at, 1);
          break;
        case 'duplicate':
          if (lines[at] !== undefined) lines.splice(at, 0, lines[at]!);
          break;
        case 'insert':
          lines.splice(at, 0, e.line);
          break;
        case 'replaceToken': {
          const words = (lines[at] ?? '').split(' ');
          if (words.length > 0) words[e.word % words.length] = e.with;
          lines[at] = words.join(' ');
          break;
        }
        case 'swap': {
          const other = lines.length === 0 ? 0 : e.other % lines.length;
          const a = lines[at];
          const b = lines[other];
          if (a !== undefined && b !== undefined) {
            lines[at] = b;
            lines[other] = a;
          }
          break;
        }
      }
    }
    return lines.join('\n') + '\n';
  });
}

function inputs(good: string[]): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), tokenText, mutated(good));
}

function expectWellFormed(issues: ConfigIssue[], file: string, text: string, modelPresent: boolean): void {
  const lines = lineCount(text);
  for (const i of issues) {
    expect(i.file).toBe(file);
    expect(Number.isInteger(i.line)).toBe(true);
    expect(i.line).toBeGreaterThanOrEqual(0);
    expect(i.line).toBeLessThanOrEqual(lines);
    expect(i.message.length).toBeGreaterThan(0);
    expect(i.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  }
  expect(modelPresent).toBe(issues.length === 0);
}

const RUNS = { numRuns: 400 };

describe('config parsers never throw and point at real lines', () => {
  it('ha.cf', () => {
    fc.assert(
      fc.property(inputs(GOOD_HACF), (text) => {
        const { config, issues } = parseHaCf(text, 'ha.cf');
        expectWellFormed(issues, 'ha.cf', text, config !== undefined);
      }),
      RUNS,
    );
  });

  it('authkeys, as text and as raw bytes', () => {
    fc.assert(
      fc.property(inputs(GOOD_AUTHKEYS), (text) => {
        const { keys, issues } = parseAuthKeys(text, 'authkeys');
        expectWellFormed(issues, 'authkeys', text, keys !== undefined);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const { keys, issues } = parseAuthKeys(buf, 'authkeys');
        expectWellFormed(issues, 'authkeys', buf.toString('latin1'), keys !== undefined);
      }),
      RUNS,
    );
  });

  it('haresources, with and without a node list', () => {
    fc.assert(
      fc.property(inputs(GOOD_HARESOURCES), fc.boolean(), (text, withNodes) => {
        const file = 'haresources';
        const { groups, issues } = parseHaResources(text, file, withNodes ? ['hba', 'hbb'] : undefined);
        expectWellFormed(issues, file, text, groups !== undefined);
        for (const g of groups ?? []) {
          expect(g.resources.length).toBeGreaterThan(0);
          expect(g.name).toBe(g.resources[0]!.spec);
        }
      }),
      RUNS,
    );
  });

  it('the unmutated good files are valid (the mutations start from a clean slate)', () => {
    expect(parseHaCf(GOOD_HACF.join('\n'), 'ha.cf').issues).toEqual([]);
    expect(parseAuthKeys(GOOD_AUTHKEYS.join('\n'), 'authkeys').issues).toEqual([]);
    expect(parseHaResources(GOOD_HARESOURCES.join('\n'), 'haresources', ['hba', 'hbb']).issues).toEqual([]);
  });
});
