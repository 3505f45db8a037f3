// keepalived.conf's syntax: lines of words, `!` and `#` comments, blocks in
// braces, double-quoted strings and `include` with globs. The result is a
// tree of Directives (keyword, values, FILE:LINE, block) that the keyword
// tables (src/config/keepalived.ts, src/vrrp/config.ts) walk like ha.cf's
// lines. No file access here: the caller hands in a reader (files.ts has the
// real one), so the rules below are tested on text.
//
// keepalived's rules followed here (observed with `keepalived -t`, 2.2.7):
// - the file is line-oriented; `{` may end the keyword's line or stand on the
//   next line; one block may open and close on one line
//   (`virtual_ipaddress { 10.0.0.5/24 }`), but a block opened on a line cannot
//   open another on the same line (keepalived: "Unexpected '{'");
// - an unbalanced `}` or a block never closed is an error;
// - `include PATTERN` is textual (it may sit inside a block and add lines to
//   it), a relative pattern is resolved against the directory of the file
//   that includes it, and glob matches are read in sorted order; a glob that
//   matches nothing is not an error.
// Deliberate differences (docs/keepalived-conf.md): an include that names one
// file that does not exist is an error (keepalived logs and goes on without
// it); an include cycle is an error (keepalived recurses until it runs out of
// file descriptors); files, include depth and size are bounded.

import type { Directive } from './keywords.js';

/** A Directive that knows its file; blocks hold the same. */
export interface KaNode extends Directive {
  file: string;
  block?: KaNode[];
}

export type Severity = 'error' | 'warning';

/** One problem at FILE:LINE (line 0: the file as a whole). */
export interface KaIssue {
  file: string;
  line: number;
  message: string;
  severity: Severity;
}

/** What the lexer needs from the file system. */
export interface KaReader {
  /** The file's text, or why it cannot be read. */
  read(path: string): { text: string } | { error: string };
  /** Absolute paths matching an absolute glob pattern, sorted. */
  glob(pattern: string): string[];
  /** The path with symlinks resolved (itself when that fails): cycles are found on real paths. */
  real(path: string): string;
}

export const KA_LIMITS = {
  /** Bytes per file: a keepalived.conf of thousands of instances is well under this. */
  fileBytes: 4 * 1024 * 1024,
  /** Files read in total, through every include. */
  files: 256,
  /** Includes within includes. */
  includeDepth: 8,
  /** Blocks within blocks (virtual_server > real_server > HTTP_GET > url is 4). */
  blockDepth: 16,
  /** Directives in total. */
  nodes: 200_000,
} as const;

const GLOB_CHARS = /[*?[]/;

/**
 * keepalived 2.2 also has includer/includem/includew/includeb/includea,
 * which differ only in how a missing file is logged; tandem reads them as
 * `include` (a missing single file is an error for all of them).
 */
const INCLUDE_WORDS = new Set(['include', 'includer', 'includem', 'includew', 'includeb', 'includea']);

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : path.slice(0, i);
}

/** `rel` against `dir`, normalised; stays relative (to the working directory) when `dir` is. */
export function joinPath(dir: string, rel: string): string {
  if (rel.startsWith('/')) return rel;
  const absolute = dir.startsWith('/');
  const out: string[] = [];
  for (const p of `${dir}/${rel}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (p !== '..' || !absolute) out.push(p);
  }
  return absolute ? `/${out.join('/')}` : out.join('/') || '.';
}

interface Token { text: string; quoted: boolean }

/**
 * One line's words. `!` or `#` outside quotes ends the line, even inside a
 * word; `{` and `}` are
 * words of their own even when written against another word.
 */
export function tokenizeLine(line: string): { tokens: Token[]; error?: string } {
  const tokens: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f') { i++; continue; }
    if (c === '!' || c === '#') break;
    if (c === '{' || c === '}') { tokens.push({ text: c, quoted: false }); i++; continue; }
    if (c === '"') {
      let text = '';
      i++;
      let closed = false;
      while (i < n) {
        const q = line[i]!;
        if (q === '\\' && i + 1 < n && (line[i + 1] === '"' || line[i + 1] === '\\')) { text += line[i + 1]; i += 2; continue; }
        if (q === '"') { closed = true; i++; break; }
        text += q;
        i++;
      }
      if (!closed) return { tokens, error: 'a quoted string is not closed on its line (missing \'"\')' };
      tokens.push({ text, quoted: true });
      continue;
    }
    let text = '';
    while (i < n) {
      const w = line[i]!;
      if (w === ' ' || w === '\t' || w === '\r' || w === '\v' || w === '\f' || w === '{' || w === '}' || w === '"') break;
      // keepalived ends the line at '!' or '#' even inside a word ("frob#x" is "frob").
      if (w === '!' || w === '#') { i = n; break; }
      text += w;
      i++;
    }
    if (text !== '') tokens.push({ text, quoted: false });
  }
  return { tokens };
}

export interface LexResult {
  nodes: KaNode[];
  issues: KaIssue[];
  /** Every file read, in order (the top file first). */
  files: string[];
}

/**
 * Reads `file` and everything it includes into one tree. Every problem is
 * collected; the tree holds what could be read.
 */
export function lexKeepalived(file: string, reader: KaReader): LexResult {
  const issues: KaIssue[] = [];
  const files: string[] = [];
  const error = (f: string, line: number, message: string): void => {
    issues.push({ file: f, line, message: message.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`), severity: 'error' });
  };
  const root: KaNode[] = [];
  // Open blocks, innermost last; shared across included files (includes are textual).
  const stack: KaNode[] = [];
  let count = 0;
  let stopped = false;
  const container = (): KaNode[] => (stack.length ? stack[stack.length - 1]!.block! : root);

  const readFile = (path: string, chain: string[], at?: { file: string; line: number }): void => {
    if (stopped) return;
    const where = at ?? { file: path, line: 0 };
    if (files.length >= KA_LIMITS.files) {
      error(where.file, where.line, `more than ${KA_LIMITS.files} files through include; the rest are not read`);
      stopped = true;
      return;
    }
    const real = reader.real(path);
    if (chain.includes(real)) {
      error(where.file, where.line, `include cycle: ${[...chain, real].join(' -> ')}`);
      return;
    }
    const got = reader.read(path);
    if ('error' in got) {
      error(where.file, where.line, at ? `include ${path}: cannot read: ${got.error}` : `cannot read: ${got.error}`);
      return;
    }
    if (Buffer.byteLength(got.text) > KA_LIMITS.fileBytes) {
      error(path, 0, `is larger than ${KA_LIMITS.fileBytes} bytes; not read`);
      return;
    }
    files.push(path);
    lexText(path, got.text.replace(/^\uFEFF/, ''), [...chain, real]);
  };

  const lexText = (path: string, text: string, chain: string[]): void => {
    const lines = text.split('\n');
    for (let idx = 0; idx < lines.length && !stopped; idx++) {
      const lineNo = idx + 1;
      const { tokens, error: tokErr } = tokenizeLine(lines[idx]!);
      if (tokErr) error(path, lineNo, tokErr);
      if (tokens.length === 0) continue;
      if (INCLUDE_WORDS.has(tokens[0]!.text) && !tokens[0]!.quoted) {
        include(path, lineNo, tokens.slice(1), chain);
        continue;
      }
      let cur: KaNode | undefined;
      let openedHere = 0;
      for (let t = 0; t < tokens.length; t++) {
        const tok = tokens[t]!;
        if (!tok.quoted && tok.text === '{') {
          let opener = cur;
          if (!opener && t === 0) {
            // `{` alone on the line after its keyword.
            const list = container();
            const prev = list[list.length - 1];
            if (prev && !prev.block) opener = prev;
          }
          if (!opener) {
            error(path, lineNo, "unexpected '{': no keyword before it opens a block");
            cur = undefined;
            continue;
          }
          if (opener.block) {
            error(path, lineNo, `unexpected '{': '${opener.directive}' already has a block`);
            continue;
          }
          if (openedHere > 0) {
            error(path, lineNo, "unexpected '{': a block opened on this line cannot open another on the same line (keepalived reads one level per line); put the inner block on its own lines");
            stopped = true; // what follows would land in the wrong blocks
            return;
          }
          if (stack.length >= KA_LIMITS.blockDepth) {
            error(path, lineNo, `blocks nested deeper than ${KA_LIMITS.blockDepth}`);
            stopped = true;
            return;
          }
          opener.block = [];
          stack.push(opener);
          openedHere++;
          cur = undefined;
          continue;
        }
        if (!tok.quoted && tok.text === '}') {
          if (stack.length === 0) {
            error(path, lineNo, "extra '}': no block is open");
          } else {
            stack.pop();
            if (openedHere > 0) openedHere--;
          }
          cur = undefined;
          continue;
        }
        if (!cur) {
          if (++count > KA_LIMITS.nodes) {
            error(path, lineNo, `more than ${KA_LIMITS.nodes} lines of configuration; the rest is not read`);
            stopped = true;
            return;
          }
          cur = { directive: tok.text, args: [], line: lineNo, file: path };
          container().push(cur);
        } else {
          cur.args.push(tok.text);
        }
      }
    }
  };

  const include = (path: string, lineNo: number, args: Token[], chain: string[]): void => {
    if (args.length !== 1) {
      error(path, lineNo, `'include' takes one file name or glob pattern, got ${args.length}`);
      return;
    }
    if (chain.length > KA_LIMITS.includeDepth) {
      error(path, lineNo, `includes nested deeper than ${KA_LIMITS.includeDepth}`);
      return;
    }
    const pattern = joinPath(dirOf(path), args[0]!.text);
    if (!GLOB_CHARS.test(pattern)) {
      readFile(pattern, chain, { file: path, line: lineNo });
      return;
    }
    for (const f of reader.glob(pattern)) readFile(f, chain, { file: path, line: lineNo });
  };

  readFile(file, []);
  if (!stopped) {
    for (const open of stack) error(open.file, open.line, `'{' of '${open.directive}' is never closed (missing '}')`);
  }
  return { nodes: root, issues, files };
}
