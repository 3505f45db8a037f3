// Keyword tables: how a configuration file's keywords are declared, and the
// small driver that walks a file and hands each line to its keyword.
//
// Each subsystem declares its own keywords beside its code (heartbeat paths
// in media.ts, the node and timing keywords in hacf.ts, fencing
// in stonith.ts, quorum in quorum.ts, vrrp_guard in vrrp-guard.ts): the
// spelling, what arguments the keyword takes, and a function that checks
// them and records the result in that subsystem's parse state. Adding a keyword is one entry in one table.
// docs/architecture.md ("Configuration: keyword tables") says how a
// block-structured file (keepalived.conf) plugs into the same shape.

import { parseTime } from './time.js';
import { UserError } from '../util/errors.js';

/** One line of a configuration file, split into its keyword and values. */
export interface Directive {
  directive: string;        // as written
  args: string[];
  line: number;             // 1-based
  /** The file it came from, where one configuration spans files (keepalived.conf's `include`). */
  file?: string;
  /** The lines between '{' and '}' after it, in a block-structured file (keepalived.conf). */
  block?: Directive[];
}

/** Reports a problem at a line (0 = the file as a whole); `at` is the line's directive, when there is one. */
export type AddIssue = (line: number, message: string, at?: Directive) => void;

export interface Keyword<S> {
  /** The keyword as the file spells it (Heartbeat's spelling for ha.cf). */
  name: string;
  /** Other spellings of the same keyword; messages quote the one written. */
  aliases?: readonly string[];
  /**
   * The keyword takes exactly one value, described so in the error for any
   * other count: "'NAME' takes exactly one value (ONE), got N". `apply` then
   * gets the value.
   */
  one?: string;
  /**
   * Allowed on one line per file: a repeat is reported ("... is given more
   * than once (first at line N)") before anything else on it is checked.
   */
  once?: boolean;
  /** Read before every other line of its table: it applies to lines above it too. */
  first?: boolean;
  /** Checks the line and records what it says in the subsystem's state. */
  apply(s: S, d: Directive, value: string): void;
  /** `one` was set and the count was wrong (already reported). */
  miscount?(s: S): void;
  /** A block keyword: the lines of its block go through a table of their own (see nested()). */
  block?: Block<S>;
}

/** How a block keyword runs the lines inside its block. */
export interface Block<S> {
  run(s: S, d: Directive, add: AddIssue): void;
}

/**
 * A block whose lines go through `table`, with the state `open` makes from
 * the enclosing state and the opening line (a vrrp_instance inside the file,
 * a real_server inside a virtual_server). Nesting goes as deep as tables do.
 */
export function nested<S, C>(
  table: KeywordTable<C>, open: (s: S, d: Directive) => C, unknown?: (c: C, d: Directive) => void,
): Block<S> {
  return {
    run(s, d, add) {
      const c = open(s, d);
      applyKeywords(table, c, d.block ?? [], add, unknown ? { unknown: (inner) => unknown(c, inner) } : {});
    },
  };
}

/**
 * A keyword the file format has but tandem does not implement, with the
 * message that says so: an operator migrating a working file learns the line
 * is understood but refused, rather than being told it is a typo.
 */
export interface Unsupported {
  name: string;
  message: string;
}

export type KeywordTable<S> = ReadonlyArray<Keyword<S>>;

/** Every spelling a table accepts. */
export function keywordNames<S>(table: KeywordTable<S>): Set<string> {
  return new Set(table.flatMap((k) => [k.name, ...(k.aliases ?? [])]));
}

/** Line-level once-per-file check; `seen` maps each keyword to its first line. */
export function oncePerFile(add: AddIssue, seen = new Map<string, number>()): (d: Directive) => boolean {
  return (d) => {
    const prev = seen.get(d.directive);
    if (prev !== undefined) {
      add(d.line, `'${d.directive}' is given more than once (first at line ${prev})`, d);
      return false;
    }
    seen.set(d.directive, d.line);
    return true;
  };
}

/** Runs one line through its table entry: the `once` and `one` checks, then `apply`. */
function runner<S>(table: KeywordTable<S>, s: S, add: AddIssue, seen?: Map<string, number>) {
  const byName = new Map<string, Keyword<S>>();
  for (const k of table) for (const n of [k.name, ...(k.aliases ?? [])]) byName.set(n, k);
  const once = oncePerFile(add, seen);
  const run = (d: Directive, k: Keyword<S>): void => {
    if (k.once && !once(d)) return;
    let value = '';
    if (k.one !== undefined) {
      if (d.args.length !== 1) {
        add(d.line, `'${d.directive}' takes exactly one value (${k.one}), got ${d.args.length}`, d);
        k.miscount?.(s);
        return;
      }
      value = d.args[0]!;
    }
    k.apply(s, d, value);
    k.block?.run(s, d, add);
  };
  return { byName, run };
}

/**
 * A subsystem's lines through its table, in file order (entries marked
 * `first` in a pass of their own before the rest). `seen` records the first
 * line of every `once` keyword; `unknown` handles a line no entry takes.
 */
export function applyKeywords<S>(
  table: KeywordTable<S>, s: S, lines: readonly Directive[], add: AddIssue,
  opts: { seen?: Map<string, number>; unknown?: (d: Directive) => void } = {},
): void {
  const { byName, run } = runner(table, s, add, opts.seen);
  const isFirst = (k: Keyword<S> | undefined): boolean => k?.first === true;
  for (const d of lines) {
    const k = byName.get(d.directive);
    if (k && isFirst(k)) run(d, k);
  }
  for (const d of lines) {
    const k = byName.get(d.directive);
    if (!k) opts.unknown?.(d);
    else if (!isFirst(k)) run(d, k);
  }
}

/** A section whose lines are applied as they are read (no `first` entries). */
export function immediateSection<S>(table: KeywordTable<S>, s: S, add: AddIssue): Section {
  const { byName, run } = runner(table, s, add);
  return { names: new Set(byName.keys()), take: (d) => run(d, byName.get(d.directive)!) };
}

/**
 * Heartbeat's line syntax (ha.cf): everything from the first '#' is a
 * comment, and values are separated by blanks or ',' ("node a,b" is two
 * names). Blank lines yield nothing.
 */
export function directiveLines(lines: readonly string[]): Directive[] {
  const out: Directive[] = [];
  lines.forEach((raw, idx) => {
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') return;
    const [directive = '', ...args] = body.split(/[\s,]+/).filter((t) => t !== '');
    if (directive === '') return;
    out.push({ directive, args, line: idx + 1 });
  });
  return out;
}

/** Where a file's lines go: a subsystem's table and what takes its lines. */
export interface Section {
  names: ReadonlySet<string>;
  take(d: Directive): void;
}

/**
 * The driver for a flat file: each line goes to the section whose table
 * names its keyword; an unsupported keyword gets its own message; anything
 * else is unknown, with a hint when only its case is wrong.
 */
export function routeDirectives(
  lines: readonly Directive[], sections: readonly Section[], unsupported: ReadonlyArray<Unsupported>, add: AddIssue,
): void {
  const refused = new Map(unsupported.map((u) => [u.name, u.message]));
  for (const d of lines) {
    const section = sections.find((s) => s.names.has(d.directive));
    if (section) {
      section.take(d);
      continue;
    }
    const message = refused.get(d.directive);
    if (message !== undefined) {
      add(d.line, message);
      continue;
    }
    const lower = d.directive.toLowerCase();
    const known = refused.has(lower) || sections.some((s) => s.names.has(lower));
    add(d.line, `unknown directive '${d.directive}'${known ? ` (directives are lower-case: '${lower}')` : ''}`);
  }
}

/**
 * Values allowed once per file, checked when the value is stored: a repeat
 * is an error rather than last-wins, because two keepalive lines usually
 * mean a merge left a stale one behind. A line whose value was refused does
 * not count as the first.
 */
export class Settings {
  private readonly values = new Map<string, { value: unknown; line: number }>();
  constructor(private readonly add: AddIssue) {}

  set<T>(directive: string, line: number, value: T): void {
    const prev = this.values.get(directive);
    if (prev) {
      this.add(line, `'${directive}' is given more than once (first at line ${prev.line})`);
      return;
    }
    this.values.set(directive, { value, line });
  }

  get<T>(directive: string): { value: T; line: number } | undefined {
    return this.values.get(directive) as { value: T; line: number } | undefined;
  }
}

/**
 * A keyword's time value (seconds, or Nms), or undefined after reporting why
 * not; `refuse` says what is wrong with a time that parsed ("must be greater
 * than zero"), or nothing.
 */
export function timeArg(add: AddIssue, d: Directive, v: string, refuse?: (ms: number) => string | undefined): number | undefined {
  try {
    const ms = parseTime(v);
    const problem = refuse?.(ms);
    if (problem !== undefined) {
      add(d.line, `'${d.directive}' ${problem} (got '${v}')`);
      return undefined;
    }
    return ms;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    add(d.line, `'${d.directive}': ${e.message}`);
    return undefined;
  }
}
