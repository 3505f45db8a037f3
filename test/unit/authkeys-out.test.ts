// `tandem authkeys generate --out FILE`: the key file is the owner's alone
// from its first byte (no `> file && chmod 600` window), an existing file is
// never overwritten by accident, and --force replaces it atomically.

import { chmodSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAuthKeys } from '../../src/config/authkeys.js';
import { main } from '../../src/cli/main.js';

let work = '';
beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'tandem-authkeys-out-')); });
afterAll(() => { rmSync(work, { recursive: true, force: true }); });

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr += String(s); return true; });
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('tandem authkeys generate --out FILE', () => {
  const oldMask = process.umask();
  afterEach(() => { process.umask(oldMask); });

  it('creates the file with mode 0600 even under umask 000, and prints nothing', async () => {
    process.umask(0);
    const f = join(work, 'authkeys');
    const r = await run(['authkeys', 'generate', '--out', f]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const { keys, issues } = parseAuthKeys(readFileSync(f), f);
    expect(issues).toEqual([]);
    expect(keys?.keys.get(1)?.method).toBe('sha256');
  });

  it('refuses an existing file, naming it and the way out, and leaves it as it was', async () => {
    const f = join(work, 'existing');
    writeFileSync(f, 'auth 1\n1 sha256 old-key\n', { mode: 0o600 });
    const r = await run(['authkeys', 'generate', '--out', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tandem: ${f} exists; not overwriting a key (the other node may use it). Remove it first, or add --force to replace it\n`);
    expect(readFileSync(f, 'utf8')).toBe('auth 1\n1 sha256 old-key\n');
  });

  it('does not follow a symlink planted where the file goes', async () => {
    const target = join(work, 'elsewhere');
    const link = join(work, 'planted');
    symlinkSync(target, link);
    const r = await run(['authkeys', 'generate', '--out', link]);
    expect(r.code).toBe(1);
    expect(() => statSync(target)).toThrow();
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('--force replaces an existing file (even a 0644 one) with a new 0600 one, leaving no temp file', async () => {
    const dir = mkdtempSync(join(work, 'force-'));
    const f = join(dir, 'authkeys');
    writeFileSync(f, 'auth 1\n1 sha256 old-key\n');
    chmodSync(f, 0o644);
    process.umask(0);
    const r = await run(['authkeys', 'generate', '--method', 'sha1', '--out', f, '--force']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readFileSync(f, 'utf8')).toMatch(/^1 sha1 [0-9a-f]{64}$/m);
    expect(readdirSync(dir)).toEqual(['authkeys']);
  });

  it('a directory that does not exist is a clear error; --force alone is refused', async () => {
    const f = join(work, 'no-such-dir', 'authkeys');
    const r = await run(['authkeys', 'generate', '--out', f]);
    expect(r).toMatchObject({ code: 1, stderr: `tandem: ${f}: cannot create: no such file or directory (ENOENT)\n` });
    const r2 = await run(['authkeys', 'generate', '--force']);
    expect(r2).toMatchObject({ code: 1, stderr: 'tandem: --force only goes with --out FILE\n' });
  });

  it('without --out it still prints the file', async () => {
    const r = await run(['authkeys', 'generate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^auth 1\n1 sha256 [0-9a-f]{64}\n$/m);
  });
});
