import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { checkAuthKeysMode, generateAuthKeys, parseAuthKeys } from '../../src/config/authkeys.js';
import { formatIssue } from '../../src/config/load.js';
import { UserError } from '../../src/util/errors.js';

const F = '/etc/tandem/authkeys';

function errors(text: string | Buffer): string[] {
  const { keys, issues } = parseAuthKeys(text, F);
  if (issues.length > 0) expect(keys).toBeUndefined();
  return issues.map(formatIssue);
}

describe('parseAuthKeys: valid files', () => {
  it('parses the send index and every key line', () => {
    const text = [
      '# keys for the pair',
      'auth 2',
      '1 sha1 SomeSecret',
      '2 sha256 0123abcd',
      '3 md5 Other',
      '15 crc',
      '',
    ].join('\n');
    const { keys, issues } = parseAuthKeys(text, F);
    expect(issues).toEqual([]);
    expect(keys?.sendIndex).toBe(2);
    expect([...(keys?.keys.keys() ?? [])]).toEqual([1, 2, 3, 15]);
    expect(keys?.keys.get(1)).toEqual({ index: 1, method: 'sha1', key: Buffer.from('SomeSecret') });
    expect(keys?.keys.get(2)).toEqual({ index: 2, method: 'sha256', key: Buffer.from('0123abcd') });
    expect(keys?.keys.get(3)).toEqual({ index: 3, method: 'md5', key: Buffer.from('Other') });
    expect(keys?.keys.get(15)).toEqual({ index: 15, method: 'crc', key: Buffer.alloc(0) });
  });

  it('drops trailing blanks, and rejects blanks inside a key (Heartbeat would key with the first word)', () => {
    const { keys } = parseAuthKeys('auth 0\n0   sha1   mysecret \t \r\n', F);
    expect(keys?.keys.get(0)?.key.toString()).toBe('mysecret');
    expect(errors('auth 0\n0 sha1 my  secret key\n')).toEqual([
      `${F}:2: the sha1 key contains blanks: Heartbeat would use only 'my'; write the key as one word (or put a comment on its own line)`,
    ]);
  });

  it('keeps key bytes exact when given the raw file, even if they are not UTF-8', () => {
    const raw = Buffer.concat([Buffer.from('auth 1\n1 sha1 '), Buffer.from([0xff, 0xfe, 0x41, 0xc3]), Buffer.from('\n')]);
    const { keys } = parseAuthKeys(raw, F);
    expect(keys?.keys.get(1)?.key).toEqual(Buffer.from([0xff, 0xfe, 0x41, 0xc3]));
    // A string is read as UTF-8.
    expect(parseAuthKeys('auth 1\n1 sha1 clé\n', F).keys?.keys.get(1)?.key).toEqual(Buffer.from('clé', 'utf8'));
  });

  it('trims only ASCII blanks, so a key ending in a multi-byte character stays whole', () => {
    // 'à' is C3 A0 in UTF-8, and 0xA0 is a no-break space in latin1.
    expect(parseAuthKeys('auth 1\n1 sha1 voilà\n', F).keys?.keys.get(1)?.key).toEqual(Buffer.from('voilà', 'utf8'));
    const raw = Buffer.concat([Buffer.from('auth 1\n1 md5 \xa0k'), Buffer.from([0xa0]), Buffer.from(' \n')]);
    expect(parseAuthKeys(raw, F).keys?.keys.get(1)?.key).toEqual(Buffer.from([0xc2, 0xa0, 0x6b, 0xa0]));
  });

  it('allows a comment after the auth index, but not after a key, where it would look like key material', () => {
    const { keys } = parseAuthKeys('auth 1   # sending index\n1 sha1 s3cret\n', F);
    expect(keys?.sendIndex).toBe(1);
    expect(keys?.keys.get(1)?.key.toString()).toBe('s3cret');
    expect(errors('auth 1\n1 sha1 s3cret # not a comment\n')).toHaveLength(1);
  });
});

describe('parseAuthKeys: errors name the file and line', () => {
  it('requires exactly one auth line naming a defined index', () => {
    expect(errors('1 sha1 x\n')).toEqual([
      `${F}: no 'auth N' line: add one naming the key index used for sending, e.g. 'auth 1'`,
    ]);
    expect(errors('auth 1\n1 sha1 x\nauth 1\n')).toEqual([
      `${F}:3: more than one 'auth' line (first at line 1); keep exactly one`,
    ]);
    expect(errors('# c\nauth 3\n1 sha1 x\n')).toEqual([
      `${F}:2: 'auth 3' names key index 3, which is not defined in this file`,
    ]);
    expect(errors('auth\n1 sha1 x\n')).toEqual([`${F}:1: 'auth' needs one key index from 0 to 15, e.g. 'auth 1'`]);
    expect(errors('auth 16\n1 sha1 x\n')).toEqual([`${F}:1: 'auth' needs one key index from 0 to 15, e.g. 'auth 1'`]);
    expect(errors('auth one\n1 sha1 x\n')).toEqual([`${F}:1: 'auth' needs one key index from 0 to 15, e.g. 'auth 1'`]);
    expect(errors('auth 1 2\n1 sha1 x\n')).toEqual([`${F}:1: 'auth' needs one key index from 0 to 15, e.g. 'auth 1'`]);
  });

  it('validates key lines', () => {
    const text = [
      'auth 1',          // 1
      '1 sha1 good',     // 2
      '16 sha1 x',       // 3
      'x sha1 y',        // 4
      '4',               // 5
      '5 SHA1 key',      // 6
      '6 blowfish key',  // 7
      '7 crc key',       // 8
      '8 sha256',        // 9
      '9 md5   ',        // 10
      '1 md5 again',     // 11
    ].join('\n');
    expect(errors(text)).toEqual([
      `${F}:3: key index 16 is out of range (0 to 15)`,
      `${F}:4: expected 'auth N' or a key line 'N METHOD KEY', got 'x'`,
      `${F}:5: key line for index 4 has no method; write '4 sha256 KEY'`,
      `${F}:6: unknown auth method 'SHA1' (use sha256, or sha1/md5 for Heartbeat peers)`,
      `${F}:7: unknown auth method 'blowfish' (use sha256, or sha1/md5 for Heartbeat peers)`,
      `${F}:8: auth method crc takes no key (crc is an unkeyed checksum, not authentication)`,
      `${F}:9: auth method sha256 needs a key after the method name`,
      `${F}:10: auth method md5 needs a key after the method name`,
      `${F}:11: key index 1 is defined twice (first at line 2)`,
    ]);
  });

  it('reports a broken sending key once, not again as undefined', () => {
    expect(errors('auth 1\n1 sha1\n')).toEqual([`${F}:2: auth method sha1 needs a key after the method name`]);
  });

  it('escapes control characters echoed from the file', () => {
    expect(errors('auth 1\n1 sha1 k\n\x01\x02 x\n')).toEqual([
      `${F}:3: expected 'auth N' or a key line 'N METHOD KEY', got '\\x01\\x02'`,
    ]);
  });
});

describe('checkAuthKeysMode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-authkeys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fileWithMode(name: string, mode: number): string {
    const path = join(dir, name);
    writeFileSync(path, 'auth 1\n1 sha256 k\n');
    chmodSync(path, mode); // explicit: the umask must not decide the test
    return path;
  }

  it.each([0o600, 0o400, 0o700])('accepts mode %o', (mode) => {
    expect(checkAuthKeysMode(fileWithMode(`ok-${mode.toString(8)}`, mode))).toBeUndefined();
  });

  it.each([
    [0o644, '0644'],
    [0o640, '0640'],
    [0o604, '0604'],
    [0o620, '0620'],
    [0o602, '0602'],
    [0o666, '0666'],
  ])('refuses mode %o', (mode, shown) => {
    const path = fileWithMode(`bad-${shown}`, mode);
    const issue = checkAuthKeysMode(path);
    expect(issue).toEqual({
      file: path,
      line: 0,
      message: `authkeys must not be accessible by group or others (mode ${shown}); run chmod 600 ${path}`,
    });
    expect(formatIssue(issue!)).toBe(`${path}: ${issue!.message}`);
  });

  it('reports a file it cannot examine', () => {
    const path = join(dir, 'missing');
    expect(checkAuthKeysMode(path)).toEqual({
      file: path,
      line: 0,
      message: 'cannot check permissions: no such file or directory (ENOENT)',
    });
  });
});

describe('generateAuthKeys', () => {
  it.each(['sha256', 'sha1', 'md5'] as const)('produces a %s file that parses back', (method) => {
    const text = generateAuthKeys(method);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^# /);
    expect(lines[1]).toBe('auth 1');
    expect(lines[2]).toMatch(new RegExp(`^1 ${method} [0-9a-f]{64}$`));
    const { keys, issues } = parseAuthKeys(text, 'generated');
    expect(issues).toEqual([]);
    expect(keys?.sendIndex).toBe(1);
    const key = keys?.keys.get(1);
    expect(key?.method).toBe(method);
    expect(key?.key.toString()).toBe(lines[2]!.split(' ')[2]);
  });

  it('defaults to sha256 and uses a fresh key each time', () => {
    const a = generateAuthKeys();
    const b = generateAuthKeys();
    expect(a).toMatch(/^1 sha256 /m);
    expect(a).not.toBe(b);
  });

  it('refuses crc', () => {
    expect(() => generateAuthKeys('crc')).toThrow(UserError);
    expect(() => generateAuthKeys('crc')).toThrow(/crc cannot be generated/);
  });
});
