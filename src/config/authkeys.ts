// authkeys parser, permission check and generator.
//
// Format (Heartbeat-compatible):
//   auth N              index used when SENDING (exactly one such line)
//   N method [key]      one line per index 0..15; receivers accept any of them
// crc is an unkeyed checksum; md5 and sha1 are HMACs as in Heartbeat; sha256
// is tandem's HMAC-SHA256.

import { createHash, randomBytes } from 'node:crypto';

import { IssueSink, parseUInt, physicalLines } from './common.js';
export { checkAuthKeysMode, writeSecretFile } from './files.js';
import type { AuthKey, AuthKeys, AuthMethod, ConfigIssue } from './types.js';
import { UserError } from '../util/errors.js';

// ASCII blanks only. The text is latin1-decoded bytes, where JS's \s would
// also match 0xA0 (NBSP): that byte ends UTF-8 characters such as 'à' (C3 A0),
// so trimming with \s would cut a key in the middle of a character.
const BLANKS = /^[ \t\f\v\r]+|[ \t\f\v\r]+$/g;
const SPLIT = /[ \t\f\v\r]+/;
const KEY_LINE = /^([^ \t\f\v\r]+)(?:[ \t\f\v\r]+([^ \t\f\v\r]+))?(?:[ \t\f\v\r]+(.*))?$/s;

export const AUTH_METHODS: readonly AuthMethod[] = ['crc', 'md5', 'sha1', 'sha256'];
export const MAX_AUTH_INDEX = 15;

function isMethod(s: string): s is AuthMethod {
  return (AUTH_METHODS as readonly string[]).includes(s);
}

export interface AuthKeysResult {
  keys: AuthKeys | undefined;
  issues: ConfigIssue[];
  /** Key index -> the line defining it (for FILE:LINE messages about a key). */
  keyLines?: ReadonlyMap<number, number>;
}

/**
 * Parses authkeys. Pass the raw file as a Buffer to keep key bytes exact:
 * a key is the rest of the line after the method, used byte for byte as the
 * HMAC key (internal spaces kept, trailing whitespace dropped), so it must
 * not go through a lossy UTF-8 decode. A string is taken as UTF-8.
 */
export function parseAuthKeys(text: string | Buffer, file: string): AuthKeysResult {
  const out = new IssueSink(file);
  // latin1 maps every byte to one char and back, so slicing the string and
  // re-encoding as latin1 yields the key's original bytes.
  const raw = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const keys = new Map<number, AuthKey>();
  const keyLines = new Map<number, number>();
  // Indexes that appear on any key line, valid or not: a broken line for the
  // sending index is reported once, not again as "not defined".
  const mentioned = new Set<number>();
  let auth: { index: number; line: number } | undefined;
  let authLineSeen = false;

  physicalLines(raw.toString('latin1')).forEach((rawLine, idx) => {
    const line = idx + 1;
    const body = rawLine.replace(BLANKS, '');
    if (body === '' || body.startsWith('#')) return;

    if (/^auth([ \t\f\v\r]|$)/.test(body)) {
      // A trailing comment is fine here: nothing after the index is used.
      const tokens = body.replace(/#.*$/s, '').replace(BLANKS, '').split(SPLIT);
      if (authLineSeen) {
        out.add(line, `more than one 'auth' line (first at line ${auth?.line ?? '?'}); keep exactly one`);
        return;
      }
      authLineSeen = true;
      const n = tokens.length === 2 ? parseUInt(tokens[1]!) : undefined;
      if (n === undefined || n > MAX_AUTH_INDEX) {
        out.add(line, `'auth' needs one key index from 0 to ${MAX_AUTH_INDEX}, e.g. 'auth 1'`);
        // Remember the line anyway so a second auth line points here.
        auth = { index: -1, line };
        return;
      }
      auth = { index: n, line };
      return;
    }

    const m = KEY_LINE.exec(body);
    const indexS = m?.[1] ?? '';
    const method = m?.[2];
    const key = m?.[3] ?? ''; // body is already trimmed at both ends
    const index = parseUInt(indexS);
    if (index === undefined) {
      out.add(line, `expected 'auth N' or a key line 'N METHOD KEY', got '${printable(indexS)}'`);
      return;
    }
    if (index > MAX_AUTH_INDEX) {
      out.add(line, `key index ${index} is out of range (0 to ${MAX_AUTH_INDEX})`);
      return;
    }
    mentioned.add(index);
    if (method === undefined) {
      out.add(line, `key line for index ${index} has no method; write '${index} sha256 KEY'`);
      return;
    }
    if (!isMethod(method)) {
      out.add(line, `unknown auth method '${printable(method)}' (use sha256, or sha1/md5 for Heartbeat peers)`);
      return;
    }
    if (method === 'crc' && key !== '') {
      out.add(line, `auth method crc takes no key (crc is an unkeyed checksum, not authentication)`);
      return;
    }
    if (method !== 'crc' && key === '') {
      out.add(line, `auth method ${method} needs a key after the method name`);
      return;
    }
    if (/[ \t\f\v]/.test(key)) {
      // Heartbeat reads a key line as three words and silently keys with the
      // first one only; a key with blanks would never match a Heartbeat peer.
      const firstWord = key.split(/[ \t\f\v]/)[0]!;
      out.add(line, `the ${method} key contains blanks: Heartbeat would use only '${printable(firstWord)}'; write the key as one word (or put a comment on its own line)`);
      return;
    }
    const first = keyLines.get(index);
    if (first !== undefined) {
      out.add(line, `key index ${index} is defined twice (first at line ${first})`);
      return;
    }
    keyLines.set(index, line);
    keys.set(index, { index, method, key: Buffer.from(key, 'latin1') });
  });

  if (!authLineSeen) {
    out.add(0, `no 'auth N' line: add one naming the key index used for sending, e.g. 'auth 1'`);
  } else if (auth && auth.index >= 0 && !mentioned.has(auth.index)) {
    out.add(auth.line, `'auth ${auth.index}' names key index ${auth.index}, which is not defined in this file`);
  }

  const issues = out.sorted();
  if (issues.length > 0 || !auth) return { keys: undefined, issues };
  return { keys: { sendIndex: auth.index, keys }, issues, keyLines };
}

/** The ha.cf directive that accepts what keyPolicyIssues refuses. */
export const INSECURE_AUTHKEYS_DIRECTIVE = 'allow_insecure_authkeys';

/**
 * Keys that let a third party forge heartbeats: a crc "key" is an unkeyed
 * checksum anyone can compute, and every key line is accepted on receive, so a
 * leftover line (even a strong one) is a second way in that nobody watches.
 * One forged status can claim a group or a generation; refused unless ha.cf
 * says `allow_insecure_authkeys yes`.
 */
export function keyPolicyIssues(keys: AuthKeys, file: string, keyLines: ReadonlyMap<number, number> | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const fix = `remove the line, or accept the risk with '${INSECURE_AUTHKEYS_DIRECTIVE} yes' in ha.cf`;
  for (const k of [...keys.keys.values()].sort((a, b) => a.index - b.index)) {
    const line = keyLines?.get(k.index) ?? 0;
    if (k.method === 'crc') {
      const what = k.index === keys.sendIndex
        ? `key ${k.index} (crc, used for sending) is an unkeyed checksum: anyone on the heartbeat network can forge heartbeats; use '${k.index} sha256 KEY' (tandem authkeys generate), or accept the risk with '${INSECURE_AUTHKEYS_DIRECTIVE} yes' in ha.cf`
        : `key ${k.index} (crc) is an unkeyed checksum that receivers accept: anyone on the heartbeat network can forge heartbeats; ${fix}`;
      issues.push({ file, line, message: what });
    } else if (k.index !== keys.sendIndex) {
      issues.push({ file, line, message: `key ${k.index} (${k.method}) is not the send key (auth ${keys.sendIndex}) but receivers accept it: a leftover key is a second way to forge heartbeats; ${fix}` });
    }
  }
  return issues;
}

/** Keeps control characters out of messages that echo file content. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * A fresh authkeys file: index 1 with a random 256-bit key, hex-encoded so it
 * survives copy/paste and editors. crc is refused because it authenticates
 * nothing.
 */
export function generateAuthKeys(method: AuthMethod = 'sha256'): string {
  if (!isMethod(method)) {
    throw new UserError(`unknown auth method '${String(method)}' (use sha256, sha1 or md5)`);
  }
  if (method === 'crc') {
    throw new UserError('crc cannot be generated: it is an unkeyed checksum, not authentication; use sha256');
  }
  const key = randomBytes(32).toString('hex');
  return (
    '# tandem authkeys: copy to both nodes unchanged and keep it mode 600 (chmod 600 authkeys)\n' +
    'auth 1\n' +
    `1 ${method} ${key}\n`
  );
}

/**
 * A short fingerprint of the send key, safe to show and log: both nodes of a
 * pair must show the same one. It is a hash of the key, not the key; like the
 * HMACs on the wire it allows an offline guess of a weak key, no more.
 */
export function keyFingerprint(keys: AuthKeys): string {
  const k = keys.keys.get(keys.sendIndex);
  if (!k) return 'none';
  const h = createHash('sha256').update('tandem authkeys fingerprint v1\0').update(k.method).update('\0').update(k.key).digest('hex');
  return `${k.method}:${h.slice(0, 16)}`;
}
