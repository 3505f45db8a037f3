import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';

import { FenceHistory, type FenceRecord } from '../../src/fencing/history.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tdf-hist-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (n: number, over: Partial<FenceRecord> = {}): FenceRecord => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), by: 'alpha', target: 'beta', device: 'ipmi beta via 10.0.0.12:623 (ha.cf:7)',
  action: 'off', reason: 'beta declared dead (silent for deadtime)', result: 'ok', durationMs: 100 + n, attempt: 1, ...over,
});

describe('FenceHistory', () => {
  it('keeps records across reopen, newest last, and filters by target', async () => {
    const dir = join(tmp(), 'hist');
    let h = await FenceHistory.open(dir);
    await h.append(rec(1, { result: 'failed', error: 'no answer' }));
    await h.append(rec(2));
    await h.append(rec(3, { target: 'alpha', by: 'beta' }));
    await h.close();
    h = await FenceHistory.open(dir);
    await h.append(rec(4, { result: 'operator', device: 'operator' }));
    expect((await h.recent(10)).map((r) => r.durationMs)).toEqual([101, 102, 103, 104]);
    expect((await h.recent(2)).map((r) => r.durationMs)).toEqual([103, 104]);
    expect((await h.recent(10, 'beta')).map((r) => r.result)).toEqual(['failed', 'ok', 'operator']);
    expect((await h.lastConfirmed('alpha'))?.durationMs).toBe(103);
    expect((await h.lastConfirmed('beta'))?.result).toBe('operator');
    await h.close();
  });

  it('keeps only the newest N', async () => {
    const h = await FenceHistory.open(join(tmp(), 'hist'), 5);
    for (let i = 1; i <= 12; i++) await h.append(rec(i));
    expect((await h.recent(100)).map((r) => r.durationMs)).toEqual([108, 109, 110, 111, 112]);
    await h.close();
  });

  it('works on a sublevel of another database and leaves it open', async () => {
    const db = new ClassicLevel<string, string>(join(tmp(), 'store'), { valueEncoding: 'utf8' });
    await db.open();
    await db.put('hold/x', '1');
    const h = await FenceHistory.on(db.sublevel('fence'));
    await h.append(rec(1));
    await h.close();
    expect(db.status).toBe('open');
    const again = await FenceHistory.on(db.sublevel('fence'));
    await again.append(rec(2));
    expect((await again.recent()).map((r) => r.durationMs)).toEqual([101, 102]);
    expect(await db.get('hold/x')).toBe('1');
    await db.close();
  });

  it('a second opener of the same dir gets a clear error', async () => {
    const dir = join(tmp(), 'hist');
    const h = await FenceHistory.open(dir);
    await expect(FenceHistory.open(dir)).rejects.toThrow(`fence history dir ${dir} is in use by another process`);
    await h.close();
  });
});
