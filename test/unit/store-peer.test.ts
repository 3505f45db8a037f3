// The peer's replay state (issue 10 items 2 and 4): the generation it
// replaced, and the seq watermark, survive a reopen; junk values are ignored.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/state/store.js';

describe('state store: peer replay state', () => {
  it('keeps previous generation and seq watermark, and ties the watermark to its generation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-store-peer-'));
    try {
      let s = await StateStore.open(dir);
      await s.setPeerGeneration('alpha', 20, { generation: 19, lastSeq: 400 });
      await s.setPeerSeq('alpha', 20, 37);
      await s.close();
      s = await StateStore.open(dir);
      expect(await s.peerGeneration('alpha')).toBe(20);
      expect(await s.peerPrevious('alpha')).toEqual({ generation: 19, lastSeq: 400 });
      expect(await s.peerSeq('alpha', 20)).toBe(37);
      expect(await s.peerSeq('alpha', 21)).toBeUndefined();
      // Going back (generation-reverted) forgets the previous one.
      await s.setPeerGeneration('alpha', 19);
      expect(await s.peerPrevious('alpha')).toBeUndefined();
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
