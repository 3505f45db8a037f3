// The serial path on real serialport over real socat pty pairs (the null-modem
// cable of these tests): binary transparency, garbage, the bounded queue,
// losing and regaining the device, and start-up errors.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSerialPath, type SerialPath } from '../../src/transport/serial.js';
import { encodeFrame } from '../../src/transport/serial-frame.js';
import type { SerialMedium } from '../../src/config/types.js';
import { UserError } from '../../src/util/errors.js';
import { sleep, waitFor } from '../../lab/sh.js';
import { need } from '../helpers/tools.js';

beforeAll(() => need('socat'));

const dir = mkdtempSync(join(tmpdir(), 'tandem-serial-'));
const A = join(dir, 'ttyA');
const B = join(dir, 'ttyB');

let cable: ChildProcess | undefined;

async function plugCable(): Promise<void> {
  cable = spawn('socat', ['pty,raw,echo=0,link=' + A, 'pty,raw,echo=0,link=' + B], { stdio: 'ignore' });
  await waitFor('socat ptys', async () => (existsSync(A) && existsSync(B) ? true : undefined), 5000, 10);
}

async function pullCable(): Promise<void> {
  const c = cable;
  cable = undefined;
  if (!c || c.exitCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGKILL');
  await gone;
  // socat killed with SIGKILL leaves its links behind, pointing at pty numbers
  // the kernel hands out again: a reopen through a stale link could reach
  // another process's pty. A pulled cable is a device that is gone.
  rmSync(A, { force: true });
  rmSync(B, { force: true });
}

const medium = (device: string, baud: SerialMedium['baud'] = 115200): SerialMedium => ({ kind: 'serial', device, baud, line: 7 });

interface End { path: SerialPath; got: Buffer[]; logs: string[] }

async function end(device: string, opts: { queueMs?: number; baud?: SerialMedium['baud'] } = {}): Promise<End> {
  const got: Buffer[] = [];
  const logs: string[] = [];
  const path = await openSerialPath(medium(device, opts.baud), (b) => got.push(b), {
    log: (level, msg) => logs.push(`${level} ${msg}`), file: '/etc/ha.d/ha.cf', reopenMinMs: 50, reopenMaxMs: 200,
    ...(opts.queueMs !== undefined ? { queueMs: opts.queueMs } : {}),
  });
  opened.push(path);
  return { path, got, logs };
}

const opened: SerialPath[] = [];
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close();
  await pullCable();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  // socat must exist for any of this to mean something.
  await plugCable();
  await pullCable();
});

describe('serial path over a pty pair', () => {
  it('carries every byte value both ways (raw mode, no XON/XOFF, no CR/LF mapping)', async () => {
    await plugCable();
    const a = await end(A);
    const b = await end(B);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const msgs = [all, Buffer.from('\r\n\x11\x13\x00\x00\xff'), Buffer.alloc(4096, 0), Buffer.from(all.reverse())];
    for (const m of msgs) a.path.send(m);
    for (const m of msgs) b.path.send(m);
    await waitFor('all frames', async () => (a.got.length === msgs.length && b.got.length === msgs.length ? true : undefined), 5000);
    expect(b.got).toEqual(msgs);
    expect(a.got).toEqual(msgs);
    const s = b.path.stats();
    expect(s.rx.frames).toBe(msgs.length);
    expect(Object.values(s.rx.rejected).every((n) => n === 0)).toBe(true);
    expect(a.path.stats().tx.frames).toBe(msgs.length);
  });

  it('counts garbage and cut frames written onto the line by a third party, and keeps delivering', async () => {
    await plugCable();
    const a = await end(A);
    const b = await end(B);
    const fd = openSync(A, 'w');   // a second writer on A's side of the cable
    try {
      const good = Buffer.from('hello');
      a.path.send(good);
      await waitFor('first frame', async () => (b.got.length === 1 ? true : undefined), 3000);
      writeSync(fd, Buffer.from('\x00noise noise noise\x00'));
      writeSync(fd, encodeFrame(Buffer.from('cut short')).subarray(0, 6));
      a.path.send(good);
      const bad = encodeFrame(Buffer.from('flipped'));
      bad[5]! ^= 0x40;
      writeSync(fd, bad);
      writeSync(fd, Buffer.alloc(10_000, 0x55));   // no boundary at all
      a.path.send(good);
      await waitFor('two more frames', async () => (b.got.length === 3 ? true : undefined), 3000);
    } finally {
      closeSync(fd);
    }
    const r = b.path.stats().rx;
    expect(b.got.map(String)).toEqual(['hello', 'hello', 'hello']);
    expect(r.rejected.truncated + r.rejected.length).toBeGreaterThanOrEqual(2);   // the noise and the cut frame
    expect(r.rejected.crc).toBe(1);
    expect(r.rejected.oversize).toBe(1);
  });

  it('keeps the newest heartbeats when the line is behind, dropping the oldest', async () => {
    await plugCable();
    // 19200 baud with 500 ms of queue is 960 bytes: two of these frames.
    const a = await end(A, { baud: 19200, queueMs: 500 });
    const b = await end(B);
    const n = 50;
    for (let i = 0; i < n; i++) a.path.send(Buffer.concat([Buffer.from(`#${i}#`), Buffer.alloc(400, 0x61)]));
    await waitFor('the surviving frames', async () => (b.got.length >= 3 ? true : undefined), 3000);
    await sleep(100);   // and nothing after them
    const tags = b.got.map((x) => x.subarray(0, x.indexOf('#', 1) + 1).toString());
    const s = a.path.stats();
    // One frame was already on its way; of the rest only what fits the budget survives.
    expect(s.tx.queueDrops).toBe(n - 1 - 2);
    expect(tags).toEqual(['#0#', `#${n - 2}#`, `#${n - 1}#`]);
  });

  it('reopens the device after it disappears and comes back, logging each transition once', async () => {
    await plugCable();
    const a = await end(A);
    const b = await end(B);
    a.path.send(Buffer.from('before'));
    await waitFor('before', async () => (b.got.length === 1 ? true : undefined), 3000);
    await pullCable();
    await waitFor('A to notice', async () => (a.path.stats().state === 'waiting' ? true : undefined), 3000);
    a.path.send(Buffer.from('while away'));   // dropped, not queued for later
    await sleep(600);                          // several failed reopen attempts
    expect(a.logs.filter((l) => /device lost/.test(l))).toHaveLength(1);
    expect(a.path.stats().lastError).toMatch(/does not exist/);
    expect(a.path.stats().tx.offline).toBe(1);
    await plugCable();
    await waitFor('both ends back', async () => (a.path.stats().state === 'open' && b.path.stats().state === 'open' ? true : undefined), 3000);
    a.path.send(Buffer.from('after'));
    await waitFor('after', async () => (b.got.length === 2 ? true : undefined), 3000);
    expect(b.got.map(String)).toEqual(['before', 'after']);
    expect(a.logs.filter((l) => /device open again/.test(l))).toHaveLength(1);
    expect(a.logs.filter((l) => /^warn|^error/.test(l))).toHaveLength(1);
    expect(a.path.stats().opens).toBe(2);
  });

  it('waits for a device that does not exist yet at start', async () => {
    const a = await end(A);
    expect(a.path.stats().state).toBe('waiting');
    expect(a.logs).toEqual([`warn serial ${A}: device does not exist yet; waiting for it`]);
    await plugCable();
    await waitFor('A open', async () => (a.path.stats().state === 'open' ? true : undefined), 3000);
  });
});

describe('serial path start-up errors name the ha.cf line', () => {
  it('refuses a device that is not a tty', async () => {
    await expect(end('/dev/null')).rejects.toThrow(new UserError('/etc/ha.d/ha.cf:7: serial /dev/null is not a serial port (the terminal ioctls fail on it)'));
  });

  it('refuses a regular file', async () => {
    const f = join(dir, 'plain');
    writeFileSync(f, '');
    await expect(end(f)).rejects.toThrow(`/etc/ha.d/ha.cf:7: serial ${f} is not a character device (a tty such as /dev/ttyS0 is needed)`);
  });

  it('refuses a port another process holds', async () => {
    await plugCable();
    await end(A);
    const e = await end(A).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toBe(`/etc/ha.d/ha.cf:7: serial ${A} is in use by another process (a getty, or a second tandem?)`);
  });
});
