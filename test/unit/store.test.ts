// The durable state survives kill -9 at the moment after a write was
// acknowledged, and one state dir has one owner.

import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { StateStore } from '../../src/state/store.js';
import { UserError } from '../../src/util/errors.js';

const STORE_JS = resolve(__dirname, '../../dist/src/state/store.js');

/** A child that writes, says "acked", and is SIGKILLed the moment we read that. */
function writeAndDie(dir: string): Promise<void> {
  const script = `
    const { StateStore } = await import(${JSON.stringify(STORE_JS)});
    const s = await StateStore.open(${JSON.stringify(dir)});
    const g = await s.bumpGeneration(1000);
    await s.setHeld('grp', true, 'active');
    await s.setPeerGeneration('beta', 77);
    await s.journal('test', 'before the kill');
    process.stdout.write('acked ' + g + '\\n');
    setInterval(() => {}, 1000);`;
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('acked')) child.kill('SIGKILL'); });
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? res() : rej(new Error(`child exited without being killed (${_code})`))));
  });
}

describe('state store', () => {
  it('keeps generation, holds, peer generation and journal across kill -9', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-store-'));
    try {
      await writeAndDie(dir);
      await writeAndDie(dir);
      const s = await StateStore.open(dir);
      expect(await s.bumpGeneration(5)).toBe(1002);   // 1000, 1001 by the children, then us
      expect([...await s.heldGroups()]).toEqual(['grp']);
      expect(await s.peerGeneration('beta')).toBe(77);
      expect(await s.role()).toBe('active');
      const j = await s.recentJournal(10);
      expect(j.map((e) => e.detail)).toEqual(['before the kill', 'before the kill']);
      await s.setHeld('grp', false, 'standby');
      expect((await s.heldGroups()).size).toBe(0);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a second owner of the same state dir with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-store-'));
    const a = await StateStore.open(dir);
    try {
      const err = await StateStore.open(dir).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain('in use by another tandem process');
    } finally {
      await a.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
