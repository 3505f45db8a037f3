// A damaged state dir is refused at start, with its path, before LevelDB
// repairs it by dropping records (a forgotten hold runs a group on both
// nodes; a reused generation makes the peer ignore this node as a replay).
// Real LevelDB files in temp dirs; the damage is done with plain file writes.

import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { StateStore } from '../../src/state/store.js';
import { FenceHistory } from '../../src/fencing/history.js';
import { ArbiterStore } from '../../arbiter/store.js';
import { crc32c, scanLog } from '../../src/state/integrity.js';
import { UserError } from '../../src/util/errors.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tandem-integrity-'));
  dirs.push(d);
  return d;
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const files = (dir: string, ext: string) => readdirSync(dir).filter((n) => n.endsWith(ext)).sort();
const logFile = (dir: string) => join(dir, files(dir, '.log').at(-1)!);

/** A state dir as a running node leaves it: generation 1000, g1 held, some journal lines. Closed, so the records sit in the .log. */
async function nodeState(dir: string, journal = 3): Promise<void> {
  const s = await StateStore.open(dir);
  await s.bumpGeneration(1000);
  for (let i = 0; i < journal; i++) await s.journal('test', `line ${i}`);
  await s.setHeld('g1', true, 'active');
  await s.close();
}

async function openErr(dir: string): Promise<Error | undefined> {
  return StateStore.open(dir).then(async (s) => { await s.close(); return undefined; }, (e: Error) => e);
}

/** One LevelDB log record (kFullType) holding `payload`, with a correct or a broken checksum. */
function logRecord(payload: Buffer, goodCrc = true): Buffer {
  const h = Buffer.alloc(7);
  h.writeUInt16LE(payload.length, 4);
  h[6] = 1;
  const body = Buffer.concat([h.subarray(6), payload]);
  const c = crc32c(body);
  const masked = ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
  h.writeUInt32LE(goodCrc ? masked : masked ^ 1, 0);
  return Buffer.concat([h, payload]);
}

describe('state dir integrity at open', () => {
  it('junk written into the write-ahead log: refused with the path, not a forgotten hold', async () => {
    const dir = tmp();
    await nodeState(dir);
    const log = logFile(dir);
    // Overwrite a few bytes in the middle: LevelDB would drop the rest of the block (the hold) silently.
    const fd = openSync(log, 'r+');
    writeSync(fd, Buffer.from('JUNKJUNKJUNK'), 0, 12, Math.floor(statSync(log).size / 3));
    closeSync(fd);
    const before = readFileSync(log);
    const err = await openErr(dir);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(`tandem state dir ${dir}`);
    expect(err!.message).toMatch(/write-ahead log \d+\.log is damaged/);
    expect(err!.message).toContain('docs/state.md');
    // The evidence is still there: nothing was repaired away.
    expect(readFileSync(log).equals(before)).toBe(true);
  });

  it('a record with a bad checksum appended to the log: refused', async () => {
    const dir = tmp();
    await nodeState(dir);
    appendFileSync(logFile(dir), logRecord(Buffer.alloc(40, 0x41), false));
    const err = await openErr(dir);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toMatch(/checksum mismatch/);
  });

  it('junk appended, then more records (a write that failed half-way, and the log went on): refused', async () => {
    const dir = tmp();
    await nodeState(dir);
    // Half a record claims more bytes than follow; a complete record comes after it.
    const torn = Buffer.from([1, 2, 3, 4, 0xff, 0x7f, 1, 9, 9, 9]);
    const valid = readFileSync(logFile(dir)).subarray(0, 7 + readFileSync(logFile(dir)).readUInt16LE(4));
    appendFileSync(logFile(dir), Buffer.concat([torn, valid]));
    const err = await openErr(dir);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toMatch(/hiding a valid record/);
  });

  it('an interrupted last write alone loses nothing: opens, says so, keeps every record', async () => {
    const dir = tmp();
    await nodeState(dir);
    appendFileSync(logFile(dir), Buffer.from([1, 2, 3, 4, 0xff, 0x7f, 1, 9, 9, 9, 9]));
    const s = await StateStore.open(dir);
    try {
      expect(s.notes.join(' ')).toMatch(/ends in 11 bytes of an interrupted write/);
      expect([...await s.heldGroups()]).toEqual(['g1']);
      expect(await s.bumpGeneration(5)).toBe(1001);
    } finally {
      await s.close();
    }
  });

  it('CURRENT missing: refused, and the old files are left as they were', async () => {
    const dir = tmp();
    await nodeState(dir);
    unlinkSync(join(dir, 'CURRENT'));
    const before = readdirSync(dir).sort();
    const err = await openErr(dir);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(`tandem state dir ${dir}: CURRENT is missing`);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(dir, 'CURRENT'))).toBe(false);
  });

  it('junk in a table file after compaction: a clear error with the path, not an internal error', async () => {
    const dir = tmp();
    await nodeState(dir, 200);
    // Opening again turns the log into a table (.ldb).
    await (await StateStore.open(dir)).close();
    const [table] = files(dir, '.ldb');
    expect(table).toBeDefined();
    const path = join(dir, table!);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.floor(statSync(path).size / 2));
    closeSync(fd);
    const err = await openErr(dir);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(`tandem state dir ${dir}: unreadable:`);
    expect(err!.message).toMatch(/Corruption/);
  });

  it('`tandem run` on a damaged table: the path and the cause, not "internal error" with exit 70', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    await nodeState(state, 200);
    await (await StateStore.open(state)).close();
    const table = join(state, files(state, '.ldb')[0]!);
    const fd = openSync(table, 'r+');
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.floor(statSync(table).size / 2));
    closeSync(fd);
    const cfg = join(dir, 'ha.d');
    mkdirSync(cfg);
    writeFileSync(join(cfg, 'ha.cf'), 'keepalive 1\ndeadtime 10\nbcast lo\nnode alpha beta\n');
    writeFileSync(join(cfg, 'authkeys'), 'auth 1\n1 sha1 secret\n', { mode: 0o600 });
    chmodSync(join(cfg, 'authkeys'), 0o600);
    writeFileSync(join(cfg, 'haresources'), '');
    const r = spawnSync(process.execPath, [resolve(__dirname, '../../bin/tandem'), 'run', '-c', cfg, '--node', 'alpha', '--state-dir', state, '--run-dir', join(dir, 'run')],
      { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).toContain(`tandem state dir ${state}: unreadable:`);
    expect(r.status).not.toBe(70);
    expect(r.status).not.toBe(0);
  });

  it('the arbiter state dir gets the same checks', async () => {
    const dir = tmp();
    const a = await ArbiterStore.open(dir);
    await a.write([{ type: 'put-grant', rec: { cluster: 'c', group: 'g1', node: 'alpha', ttlMs: 5000 } }]);
    await a.write([{ type: 'put-nonce', rec: { cluster: 'c', node: 'alpha', gen: 1, seq: 2 } }]);
    await a.close();
    const log = logFile(dir);
    const fd = openSync(log, 'r+');
    writeSync(fd, Buffer.from('JUNK'), 0, 4, 10);
    closeSync(fd);
    const err = await ArbiterStore.open(dir).then(async (s) => { await s.close(); return undefined; }, (e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(`arbiter state dir ${dir}`);
    expect(err!.message).toMatch(/damaged/);
  });
});

describe('after a failed write', () => {
  it('the next write reopens the database, and the fencing history (a sublevel) works on', async () => {
    const dir = tmp();
    const s = await StateStore.open(dir);
    try {
      const h = await FenceHistory.on(s.sublevel('fence'));
      const rec = (reason: string) => ({ at: new Date().toISOString(), by: 'alpha', target: 'beta', device: 'ipmi', action: 'off' as const, reason, result: 'ok' as const, durationMs: 1 });
      await h.append(rec('one'));
      // A real LevelDB write error, without a full disk (test/netns/state-disk.test.ts has that): the database closed under the store.
      await (s as unknown as { db: { close(): Promise<void> } }).db.close();
      await expect(s.journal('x', 'lost')).rejects.toThrow(`tandem state dir ${dir}: write failed: `);
      await s.setHeld('g1', true, 'active');
      await h.append(rec('two'));
      expect((await h.recent(5)).map((r) => r.reason)).toEqual(['one', 'two']);
      expect([...await s.heldGroups()]).toEqual(['g1']);
    } finally {
      await s.close();
    }
  });
});

describe('generation', () => {
  it('is the wall clock in seconds, or last + 1 when that is higher', async () => {
    const dir = tmp();
    const s = await StateStore.open(dir);
    try {
      expect(await s.bumpGeneration(1000.7)).toBe(1000);
      expect(await s.bumpGeneration(1000.9)).toBe(1001);   // two starts within a second
      expect(await s.bumpGeneration(5000)).toBe(5000);     // the clock moved on
      expect(await s.raiseGeneration(7000, 5000)).toBe(7001);   // the peer has seen 7000 of ours
      expect(await s.raiseGeneration(10, 5000)).toBe(7002);
    } finally {
      await s.close();
    }
  });

  it('never goes back when the stored one is lost: the clock carries it past', async () => {
    const dir = tmp();
    let s = await StateStore.open(dir);
    const used = await s.bumpGeneration(Date.now() / 1000);
    await s.close();
    rmSync(dir, { recursive: true });   // the operator's reset: everything gone
    s = await StateStore.open(dir);
    try {
      expect(s.fresh).toBe(true);
      expect(await s.bumpGeneration(Date.now() / 1000 + 1)).toBeGreaterThan(used);
    } finally {
      await s.close();
    }
  });
});

describe('log scanner', () => {
  it('reads a clean log, and a preallocated zero tail, as clean', () => {
    const rec = logRecord(Buffer.alloc(20, 1));
    expect(scanLog(Buffer.concat([rec, rec]))).toEqual({ records: 2 });
    expect(scanLog(Buffer.concat([rec, Buffer.alloc(100)]))).toEqual({ records: 1 });
  });
});
