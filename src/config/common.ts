// Small helpers shared by the ha.cf, authkeys and haresources parsers; no I/O
// (files.ts does that).

import type { ConfigIssue, StonithDevice } from './types.js';

/**
 * Messages quote file content; control characters in it must not reach the
 * operator's terminal raw (or split a FILE:LINE: line in two).
 */
export function escapeControls(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Collects issues for one file so parsers can keep going after an error. */
export class IssueSink {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly file: string) {}

  add(line: number, message: string): void {
    this.issues.push({ file: this.file, line, message: escapeControls(message) });
  }

  /** Issues in line order; the sort is stable, so same-line issues keep their order. */
  sorted(): ConfigIssue[] {
    return [...this.issues].sort((a, b) => a.line - b.line);
  }
}

/**
 * Physical lines without their terminators. Only '\n' ends a line (a trailing
 * '\r' from CRLF files is dropped), so line numbers match what editors and
 * `wc -l` show.
 */
export function physicalLines(text: string): string[] {
  // Some editors prepend a UTF-8 byte order mark; it would otherwise become
  // an invisible part of the first directive.
  return text.replace(/^\uFEFF/, '').split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** Number of lines an issue may point at (1..count); used by tests too. */
export function lineCount(text: string): number {
  return text.split('\n').length;
}

// Dotted quad with decimal octets only: inet_aton would read "010" as octal,
// which is never what an operator meant, so leading zeros are rejected.
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Something shaped like an address (digits and dots), valid or not. */
export function looksLikeIPv4(s: string): boolean {
  return /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/.test(s);
}

export function isMulticastIPv4(s: string): boolean {
  const first = Number(s.split('.')[0]);
  return first >= 224 && first <= 239;
}

/**
 * Why an address cannot be a unicast peer or a service address, or undefined
 * when it can. Assumes isIPv4(s).
 */
export function unicastProblem(s: string): string | undefined {
  if (s === '0.0.0.0') return 'is the unspecified address';
  if (s === '255.255.255.255') return 'is the limited broadcast address';
  if (isMulticastIPv4(s)) return 'is a multicast address';
  return undefined;
}

/**
 * Why `name` cannot be a Linux interface name, or undefined when it can.
 * Mirrors the kernel's dev_valid_name(): 1-15 bytes, not "." or "..", no '/',
 * ':' or whitespace. Existence on this host is checked at run time, not here,
 * so `check-config` works on a machine other than the cluster node.
 */
export function ifaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 characters';
  if (name === '.' || name === '..') return 'is not a valid name';
  if (/[/:\s]/.test(name)) return "contains '/', ':' or whitespace";
  return undefined;
}

/** A plain decimal integer (no sign, no exponent, no hex); undefined otherwise. */
export function parseUInt(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Heartbeat lower-cases node names with an ASCII-only strdown; so do we. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** uname -n style names: what `node` lines and haresources preferred nodes may hold. */
export function nodeNameProblem(name: string): string | undefined {
  if (name.length > 64) return 'is longer than 64 characters';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    return 'may only contain letters, digits, ".", "_" and "-", starting with a letter or digit';
  }
  return undefined;
}

/** "no such file or directory (ENOENT)" from a Node fs error. */
export function errnoText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    // Node messages look like "ENOENT: no such file or directory, open '/x'";
    // the path is already in the issue, so keep only the description.
    const m = /^[A-Z0-9_]+: (.*?), [a-z]+ '.*'$/s.exec(e.message);
    const text = m?.[1] ?? e.message;
    return code && !text.includes(code) ? `${text} (${code})` : text;
  }
  return String(e);
}

/** A short, secret-free name for logs and history: "ipmi beta via 10.0.0.12:623 (ha.cf:12)". */
export function deviceLabel(d: StonithDevice): string {
  const where = `${d.file.split('/').pop()}:${d.line}`;
  switch (d.type) {
    case 'ipmi': return `ipmi ${d.target} via ${d.host}:${d.port} (${where})`;
    case 'fence': return `${d.agent} ${d.target} (${where})`;
    case 'external': return `external/${d.plugin} ${d.target} (${where})`;
  }
}
