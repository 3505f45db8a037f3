import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTPUT_KEEP, runChild } from '../../src/agents/runner.js';

const root = mkdtempSync(join(tmpdir(), 'tdrun-unit-'));
chmodSync(root, 0o755);   // script_user must reach its script
afterAll(() => rmSync(root, { recursive: true, force: true }));

function script(name: string, body: string, mode = 0o755): string {
  const p = join(root, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('the one runner', () => {
  it('gives the child a scrubbed environment plus what the call adds', async () => {
    process.env.TANDEM_RUNNER_SECRET = 'leak';
    try {
      const r = await runChild({ path: script('env', 'env'), args: [], timeoutMs: 5000, env: { OCF_ROOT: '/usr/lib/ocf' } });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('OCF_ROOT=/usr/lib/ocf');
      expect(r.stdout).toContain('LC_ALL=C');
      expect(r.stdout).not.toContain('TANDEM_RUNNER_SECRET');
    } finally {
      delete process.env.TANDEM_RUNNER_SECRET;
    }
  });

  it('kills the whole process group at the timeout, even a child ignoring SIGTERM', async () => {
    const pidfile = join(root, 'pid');
    const p = script('hang', `trap '' TERM; sleep 30 & echo $! > ${pidfile}; wait; wait`);
    const r = await runChild({ path: p, args: [], timeoutMs: 200, killGraceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.ms).toBeLessThan(3000);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(pid)).toBe(false);
  });

  it('keeps only the last OUTPUT_KEEP bytes of output', async () => {
    const r = await runChild({ path: script('loud', `head -c ${OUTPUT_KEEP * 4} /dev/zero | tr '\\0' x; echo END`), args: [], timeoutMs: 5000 });
    expect(r.stdout.length).toBeLessThanOrEqual(OUTPUT_KEEP);
    expect(r.stdout.endsWith('END\n')).toBe(true);
  });

  it('refuses a program other users could change, and says why', async () => {
    const p = script('loose', 'echo ran', 0o777);
    const r = await runChild({ path: p, args: [], timeoutMs: 5000 });
    expect(r.code).toBeNull();
    expect(r.stdout).toBe('');
    expect(r.refused).toMatch(/must not be writable by group or others/);
  });

  it('runs as another user (script_user)', async () => {
    const r = await runChild({ path: script('id', 'id -u'), args: [], timeoutMs: 5000, as: { uid: 65534, gid: 65534 } });
    expect(r.stdout.trim()).toBe('65534');
  });

  it('feeds stdin and kills leftovers on exit when asked (fence tools)', async () => {
    const pidfile = join(root, 'pid2');
    const p = script('fence', `sleep 30 & echo $! > ${pidfile}; cat`);
    const r = await runChild({ path: p, args: [], timeoutMs: 5000, input: 'action=off\n', killGroupOnExit: true });
    expect(r.stdout).toBe('action=off\n');
    const pid = Number(readFileSync(pidfile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(pid)).toBe(false);
  });
});
