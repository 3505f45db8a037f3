// The test prerequisites: one list, in three places that must agree (the
// README a new user follows, .ci/run, and the tools the tests check for).

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findTool, missingToolMessage, needTools, TOOL_PACKAGES } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The packages of the first `apt-get install` command in a text (options dropped). */
function aptPackages(text: string): string[] {
  const m = /apt-get install((?:[^\n\\]|\\\n)*)/.exec(text);
  if (!m) return [];
  return m[1]!.replace(/\\\n/g, ' ').split(/\s+/).filter((w) => w && !w.startsWith('-') && !w.startsWith('>'));
}

describe('test prerequisites', () => {
  const readme = aptPackages(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  const ci = aptPackages(readFileSync(join(ROOT, '.ci/run'), 'utf8'));

  it('README lists exactly the packages .ci/run installs', () => {
    expect(readme.length).toBeGreaterThan(0);
    expect([...readme].sort()).toEqual([...ci].sort());
  });

  it('every tool a test checks for comes from a package in that list', () => {
    for (const pkg of new Set(Object.values(TOOL_PACKAGES))) expect(ci, pkg).toContain(pkg);
  });

  it('a missing tool fails with the Debian package and the command that installs it', () => {
    expect(findTool('tandem-no-such-tool')).toBeUndefined();
    expect(missingToolMessage('etcd', 'etcd-server')).toBe("needs Debian package etcd-server (apt-get install etcd-server): 'etcd' not found");
    const saved = process.env.PATH;
    try {
      // A runner with no sbin in its PATH still finds root's tools.
      process.env.PATH = '';
      expect(findTool('sh')).toMatch(/^\/(usr\/)?bin\/sh$/);
    } finally {
      process.env.PATH = saved;
    }
    expect(() => needTools([['sh', 'dash']])).not.toThrow();
    expect(() => needTools([['sh', 'dash'], ['tandem-no-such-tool', 'tandem-pkg'], ['/nonexistent/etcd', 'etcd-server']])).toThrow(
      "needs Debian package tandem-pkg (apt-get install tandem-pkg): 'tandem-no-such-tool' not found; needs Debian package etcd-server (apt-get install etcd-server): /nonexistent/etcd not found");
  });
});
