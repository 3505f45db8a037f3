// The manual pages render with man(1) without a groff warning, and stay true
// to the code: every option of every command, and every ha.cf directive
// tandem accepts or refuses, is on its page.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SUPPORTED_DIRECTIVES, UNSUPPORTED_DIRECTIVES } from '../../src/config/hacf.js';
import { FENCING_DIRECTIVES } from '../../src/config/stonith.js';
import { QUORUM_DIRECTIVES } from '../../src/config/quorum.js';
import { VRRP_GUARD_DIRECTIVES } from '../../src/config/vrrp-guard.js';
import { need } from '../helpers/tools.js';

const ROOT = resolve(__dirname, '../..');
const PAGES = ['man8/tandem.8', 'man5/ha.cf.5', 'man8/tandem-arbiter.8'];

function render(page: string): { text: string; warnings: string } {
  need('/usr/bin/man', 'groff');
  const r = spawnSync('/usr/bin/man', ['--warnings=all', '-l', join(ROOT, 'docs/man', page)], {
    encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '', PAGER: 'cat' }, timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`man -l ${page} exited ${r.status}: ${r.stderr}`);
  // Undo bold/underline overstrikes, so the text can be searched.
  return { text: r.stdout.replace(/.\x08/g, '').replace(/[ \t]+/g, ' '), warnings: r.stderr };
}

function help(cmd: string[]): string {
  return spawnSync(process.execPath, [join(ROOT, 'bin/tandem'), ...cmd, '--help'], { encoding: 'utf8' }).stdout;
}

/** The long options `tandem CMD --help` lists. */
function options(cmd: string[]): string[] {
  const text = help(cmd).split(/^Commands:/m)[0]!;
  return [...text.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help');
}

/** Every command the CLI has, as `tandem --help` lists it, with the subcommands of a group (authkeys generate). */
function commands(prefix: string[] = []): string[][] {
  const listed = help(prefix).split(/^Commands:/m)[1] ?? '';
  const out: string[][] = [];
  for (const m of listed.matchAll(/^ {2}([a-z][a-z-]*)/gm)) {
    if (m[1] === 'help') continue;
    const cmd = [...prefix, m[1]!];
    const sub = commands(cmd);
    if (sub.length) out.push(...sub); else out.push(cmd);
  }
  return out;
}

describe('manual pages', () => {
  it.each(PAGES)('%s renders without a warning', (page) => {
    const { text, warnings } = render(page);
    expect(warnings).toBe('');
    expect(text).toMatch(/NAME/);
    expect(text.length).toBeGreaterThan(1500);
  });

  it('tandem(8) documents every command and each of its options', () => {
    const { text } = render('man8/tandem.8');
    const all = commands().filter((c) => c[0] !== 'arbiter');   // tandem-arbiter(8) has that one
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const c of all) {
      expect(text, c.join(' ')).toContain(`tandem ${c.join(' ')}`);
      const opts = options(c);
      for (const o of opts) expect(text, `${c.join(' ')} ${o}`).toContain(o);
    }
    // And no command the CLI does not have.
    const listed = help([]);
    const synopsis = text.slice(text.indexOf('SYNOPSIS'), text.indexOf('DESCRIPTION'));
    expect(synopsis.length).toBeGreaterThan(100);
    for (const m of synopsis.matchAll(/^ tandem ([a-z][a-z-]*)/gm)) expect(listed, m[1]).toMatch(new RegExp(`^  ${m[1]}\\b`, 'm'));
  });

  it('tandem-arbiter(8) documents each option of tandem arbiter', () => {
    const { text } = render('man8/tandem-arbiter.8');
    const opts = options(['arbiter']);
    expect(opts.length).toBeGreaterThanOrEqual(3);
    for (const o of opts) expect(text).toContain(o);
  });

  it('ha.cf(5) names every directive tandem accepts, and every Heartbeat directive it refuses', () => {
    const { text } = render('man5/ha.cf.5');
    const words = new Set(text.split(/[^a-z0-9_]+/));
    for (const d of [...SUPPORTED_DIRECTIVES, ...FENCING_DIRECTIVES, ...QUORUM_DIRECTIVES, ...VRRP_GUARD_DIRECTIVES]) expect(words.has(d), d).toBe(true);
    const refused = text.slice(text.indexOf('NOT SUPPORTED'), text.indexOf('EXAMPLE'));
    for (const d of UNSUPPORTED_DIRECTIVES) expect(new Set(refused.split(/[^a-z0-9_]+/)).has(d), d).toBe(true);
  });

  it('the migration guide says why each refused directive is refused', () => {
    const guide = readFileSync(join(ROOT, 'docs/migrating.md'), 'utf8');
    for (const d of UNSUPPORTED_DIRECTIVES) expect(guide, d).toMatch(new RegExp(`\`${d}\``));
  });
});
