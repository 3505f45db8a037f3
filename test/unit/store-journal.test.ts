// Reading the journal back: whole, from a time on, and page by page (as the
// daemon answers `tandem journal` over its control socket).

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/state/store.js';

describe('journal read-back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-journal-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const T = Date.parse('2026-12-03T07:00:00Z');

  it('keeps structured fields, and pages through every entry in order exactly once', async () => {
    const s = await StateStore.open(dir);
    try {
      for (let i = 0; i < 1203; i++) {
        await s.journal('group', `entry ${i}`, new Date(T + i * 1000), { node: 'alpha', group: 'g', phase: i % 2 ? 'running' : 'stopped', reason: `r${i}` });
      }
      const all = await s.journalSince();
      expect(all).toHaveLength(1203);
      expect(all[7]).toEqual({ at: new Date(T + 7000).toISOString(), kind: 'group', detail: 'entry 7', node: 'alpha', group: 'g', phase: 'running', reason: 'r7' });

      const paged: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const p = await s.journalPage(after, 500);
        pages += 1;
        paged.push(...p.entries.map((e) => e.detail));
        if (!p.next) break;
        after = p.next;
      }
      expect(pages).toBe(3);
      expect(paged).toEqual(all.map((e) => e.detail));

      // From a time on: earlier entries are skipped, not counted against the page.
      const since = await s.journalPage(undefined, 500, T + 1000 * 1000);
      expect(since.entries.map((e) => e.detail)).toEqual(Array.from({ length: 203 }, (_, i) => `entry ${1000 + i}`));
      expect(since.next).toBeUndefined();
      const small = await s.journalPage(undefined, 2, T + 1000 * 1000);
      expect(small.entries.map((e) => e.detail)).toEqual(['entry 1000', 'entry 1001']);
      const rest = await s.journalPage(small.next, 500, T + 1000 * 1000);
      expect(rest.entries.map((e) => e.detail)).toEqual(Array.from({ length: 201 }, (_, i) => `entry ${1002 + i}`));
      expect((await s.journalSince(T + 1200 * 1000)).map((e) => e.detail)).toEqual(['entry 1200', 'entry 1201', 'entry 1202']);
    } finally {
      await s.close();
    }
  });
});
