// The keyword-table driver (src/config/keywords.ts) on a small table of its
// own: what an entry declares is what the driver enforces, so a subsystem's
// table needs no code for counts, repeats, order or aliases.

import { describe, expect, it } from 'vitest';
import {
  Settings, applyKeywords, directiveLines, immediateSection, keywordNames, nested, routeDirectives,
  type Directive, type KeywordTable,
} from '../../src/config/keywords.js';
import { CORE_KEYWORDS, SUPPORTED_DIRECTIVES, UNSUPPORTED, UNSUPPORTED_DIRECTIVES } from '../../src/config/hacf.js';
import { FENCING_DIRECTIVES } from '../../src/config/stonith.js';
import { QUORUM_DIRECTIVES } from '../../src/config/quorum.js';
import { VRRP_GUARD_DIRECTIVES } from '../../src/config/vrrp-guard.js';
import { MEDIA_KEYWORDS } from '../../src/config/media.js';

interface Toy { log: string[]; dir?: string }
const TOY: KeywordTable<Toy> = [
  { name: 'colour', aliases: ['color'], one: 'a colour name', apply: (s, d, v) => s.log.push(`${d.directive}=${v}`) },
  { name: 'size', once: true, one: 'a number', apply: (s, _d, v) => s.log.push(`size=${v}@${s.dir ?? '-'}`), miscount: (s) => s.log.push('size?') },
  { name: 'dir', first: true, once: true, one: 'a path', apply: (s, _d, v) => { s.dir = v; } },
  { name: 'item', apply: (s, d) => s.log.push(`item ${d.args.join('+')}`) },
];

function run(text: string): { log: string[]; issues: string[] } {
  const issues: string[] = [];
  const s: Toy = { log: [] };
  applyKeywords(TOY, s, directiveLines(text.split('\n')), (line, m) => issues.push(`${line}: ${m}`), {
    unknown: (d: Directive) => issues.push(`${d.line}: unknown ${d.directive}`),
  });
  return { log: s.log, issues };
}

describe('keyword tables: the driver', () => {
  it("splits Heartbeat's way: '#' comments, blanks and commas separate values, line numbers kept", () => {
    expect(directiveLines(['', '  # only a comment', 'node a,b  c # tail', '\t', 'x'])).toEqual([
      { directive: 'node', args: ['a', 'b', 'c'], line: 3 },
      { directive: 'x', args: [], line: 5 },
    ]);
  });

  it('an alias reaches the same entry, and messages quote the spelling written', () => {
    expect(run('colour red\ncolor blue\ncolor')).toEqual({
      log: ['colour=red', 'color=blue'],
      issues: ["3: 'color' takes exactly one value (a colour name), got 0"],
    });
  });

  it('`one` checks the count before apply and tells the entry (miscount)', () => {
    expect(run('size 1 2')).toEqual({ log: ['size?'], issues: ["1: 'size' takes exactly one value (a number), got 2"] });
  });

  it('`once` refuses a repeated line before looking at its values', () => {
    expect(run('size 1\nsize 1 2 3')).toEqual({ log: ['size=1@-'], issues: ["2: 'size' is given more than once (first at line 1)"] });
  });

  it('`first` entries are read before the rest, wherever they are written', () => {
    expect(run('size 3\nitem a b\ndir /srv').log).toEqual(['size=3@/srv', 'item a+b']);
  });

  it('a line no entry takes goes to `unknown`', () => {
    expect(run('item x\nshape round').issues).toEqual(['2: unknown shape']);
  });

  it('routes each line to the section naming it; unsupported and unknown keywords get their messages', () => {
    const issues: string[] = [];
    const add = (line: number, m: string) => issues.push(`${line}: ${m}`);
    const s: Toy = { log: [] };
    const later: string[] = [];
    routeDirectives(directiveLines(['color red', 'later 1', 'legacy_thing', 'COLOR green', 'Legacy_Thing', 'nonsense']), [
      immediateSection(TOY, s, add),
      { names: new Set(['later']), take: (d) => later.push(d.directive) },
    ], [{ name: 'legacy_thing', message: "'legacy_thing' is understood but refused" }], add);
    expect(s.log).toEqual(['color=red']);
    expect(later).toEqual(['later']);
    expect(issues).toEqual([
      "3: 'legacy_thing' is understood but refused",
      "4: unknown directive 'COLOR' (directives are lower-case: 'color')",
      "5: unknown directive 'Legacy_Thing' (directives are lower-case: 'legacy_thing')",
      "6: unknown directive 'nonsense'",
    ]);
  });

  it('a block keyword runs the lines of its block through its own table, nested as deep as tables go', () => {
    // keepalived.conf's shape, as its tokenizer would hand it over:
    //   vrrp_instance VI_1 { priority 100  priority 1  virtual_ipaddress { 10.0.0.5/24 } bogus }
    interface Instance { name: string; priority?: number; vips: string[] }
    interface File { instances: Instance[] }
    const issues: string[] = [];
    const add = (line: number, m: string) => issues.push(`${line}: ${m}`);
    const VIPS: KeywordTable<Instance> = [];
    const INSTANCE: KeywordTable<Instance> = [
      { name: 'priority', once: true, one: 'a number 1-255', apply: (i, _d, v) => { i.priority = Number(v); } },
      {
        name: 'virtual_ipaddress',
        apply: () => {},
        block: nested(VIPS, (i: Instance) => i, (i, d) => i.vips.push(d.directive)),
      },
    ];
    const FILE: KeywordTable<File> = [{
      name: 'vrrp_instance',
      one: 'a name',
      apply: () => {},
      block: nested(INSTANCE, (f: File, d) => {
        const i: Instance = { name: d.args[0]!, vips: [] };
        f.instances.push(i);
        return i;
      }, (_i, d) => add(d.line, `unknown keyword '${d.directive}' in vrrp_instance`)),
    }];
    const f: File = { instances: [] };
    applyKeywords(FILE, f, [{
      directive: 'vrrp_instance', args: ['VI_1'], line: 1, block: [
        { directive: 'priority', args: ['100'], line: 2 },
        { directive: 'priority', args: ['1'], line: 3 },
        { directive: 'virtual_ipaddress', args: [], line: 4, block: [{ directive: '10.0.0.5/24', args: [], line: 5 }] },
        { directive: 'bogus', args: [], line: 7 },
      ],
    }], add);
    expect(f.instances).toEqual([{ name: 'VI_1', priority: 100, vips: ['10.0.0.5/24'] }]);
    expect(issues).toEqual(["3: 'priority' is given more than once (first at line 2)", "7: unknown keyword 'bogus' in vrrp_instance"]);
  });

  it('Settings: once per file, counted only when the value was stored', () => {
    const issues: string[] = [];
    const st = new Settings((line, m) => issues.push(`${line}: ${m}`));
    st.set('keepalive', 2, 1000);
    st.set('keepalive', 5, 2000);
    expect(st.get('keepalive')).toEqual({ value: 1000, line: 2 });
    expect(issues).toEqual(["5: 'keepalive' is given more than once (first at line 2)"]);
  });
});

describe('keyword tables: ha.cf', () => {
  it('every keyword belongs to exactly one table, and none is also listed as unsupported', () => {
    const tables = [keywordNames(CORE_KEYWORDS), keywordNames(MEDIA_KEYWORDS), FENCING_DIRECTIVES, QUORUM_DIRECTIVES, VRRP_GUARD_DIRECTIVES];
    const all = tables.flatMap((t) => [...t]);
    expect(new Set(all).size).toBe(all.length);
    for (const k of all) expect(UNSUPPORTED_DIRECTIVES.has(k), k).toBe(false);
    expect(new Set([...keywordNames(CORE_KEYWORDS), ...keywordNames(MEDIA_KEYWORDS)])).toEqual(SUPPORTED_DIRECTIVES);
    expect(UNSUPPORTED.map((u) => u.name).sort()).toEqual([...UNSUPPORTED_DIRECTIVES].sort());
  });
});
