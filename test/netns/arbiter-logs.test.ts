// A real `tandem arbiter` process in a namespace of its own while one
// captured request is replayed at it 20,000 times a second: its log must
// stay bounded (every per-request line is rate-limited per kind), the
// lines it held back must be counted and reported, and the flood must not
// hide a line of another kind (a forged datagram sent in the middle of it).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthKeys } from '../../src/config/types.js';
import { encodeMessage, type ArbiterRequest } from '../../src/quorum/protocol.js';
import { cleanupPrefix, createNetns, destroyNetns, netnsName, nsExec, waitFor } from '../helpers/netns.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TANDEM = join(ROOT, 'bin/tandem');
const SENDER = join(ROOT, 'test/netns/replay-sender.mjs');
const PREFIX = 'tdal';
const NS = netnsName(PREFIX, 'r');
const HOST = '127.0.0.1';
const PORT = 7610;
const SECRET = 'arbiter-logs-secret';
const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha256', key: Buffer.from(SECRET) }]]) };
const RATE = 20_000;
const SECONDS = 3;
// Forgeries sent mid-flood; the kernel may drop some of them with the replays.
const FORGED = 20;

const req: ArbiterRequest = {
  t: 'req', op: 'acquire', cluster: 'c1', node: 'alpha', group: 'vip', gen: 100, seq: 1, ttlMs: 20_000, graceMs: 0,
  holds: false, peerHeard: false, peerHolds: false, reach: 1, reachTotal: 1,
};

async function udpCounters(): Promise<Record<string, number>> {
  const { stdout } = await nsExec(NS, 'cat', ['/proc/net/snmp']);
  const [head, vals] = stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = head!.split(/\s+/);
  const nums = vals!.split(/\s+/);
  return Object.fromEntries(names.slice(1).map((n, i) => [n, Number(nums[i + 1])]));
}

describe.sequential('tandem arbiter log under a replay flood', () => {
  let work = '';
  let proc: ChildProcess | undefined;
  let stderr = '';

  beforeAll(async () => {
    await cleanupPrefix(PREFIX);
    work = mkdtempSync(join(tmpdir(), 'tandem-arbiter-logs-'));
    const keysFile = join(work, 'arbiter.keys');
    writeFileSync(keysFile, `auth 1\n1 sha256 ${SECRET}\n`, { mode: 0o600 });
    chmodSync(keysFile, 0o600);
    await createNetns(NS);
    proc = spawn('ip', ['netns', 'exec', NS, process.execPath, TANDEM, 'arbiter', '--listen', `${HOST}:${PORT}`,
      '--state-dir', join(work, 'state'), '--keys', keysFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    await waitFor('the arbiter to listen', async () => {
      if (proc!.exitCode !== null) throw new Error(`arbiter exited ${proc!.exitCode}: ${stderr}`);
      return stderr.includes('listening on') ? true : undefined;
    }, 15_000);
  }, 60_000);

  afterAll(async () => {
    try {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((r) => proc!.once('exit', () => r()));
        proc.kill('SIGKILL');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      }
    } finally {
      await destroyNetns(NS);
      if (work) rmSync(work, { recursive: true, force: true });
    }
  });

  it(`logs a bounded number of lines for ${RATE * SECONDS} replays of one request, with the suppressed count`, async () => {
    const captured = encodeMessage(req, KEYS);
    // Signed with a key the arbiter does not have: a line of another kind.
    const forged = encodeMessage({ ...req, seq: 2 }, { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha256', key: Buffer.from('not-the-key') }]]) });
    const before = await udpCounters();
    const logFrom = stderr.length;
    const out = await new Promise<{ sent: number; replayed: number }>((res, rej) => {
      const child = execFile('ip', ['netns', 'exec', NS, process.execPath, SENDER, HOST, String(PORT), String(RATE), String(SECONDS)],
        { timeout: 60_000 }, (err, stdout, se) => (err ? rej(new Error(`replay-sender: ${err.message} ${se}`)) : res(JSON.parse(stdout))));
      // the real request once, then the same bytes as the replay, and the forged one mid-flood
      child.stdin!.end([captured, captured, ...Array<Buffer>(FORGED).fill(forged)].map((b) => `=${b.toString('base64')}`).join('\n') + '\n');
    });
    expect(out.replayed).toBe(RATE * SECONDS);
    // Summaries are due one interval after the flood ends.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await udpCounters();
    const lines = stderr.slice(logFrom).split('\n').filter((l) => l !== '');

    const count = (l: string) => 1 + Number(/(\d+) similar suppressed/.exec(l)?.[1] ?? 0) - (/similar suppressed in the last/.test(l) ? 1 : 0);
    // The forgeries' warnings were not hidden by the flood: at most one line a
    // second, with counts that account for every forgery the arbiter read.
    const forgedLines = lines.filter((l) => /WARN .*dropped datagram from 127\.0\.0\.1:\d+: bad HMAC/.test(l));
    expect(forgedLines.length).toBeGreaterThanOrEqual(1);
    expect(forgedLines.length).toBeLessThanOrEqual(SECONDS + 2);
    const forgedRead = forgedLines.reduce((n, l) => n + count(l), 0);

    // The replays the arbiter actually read: what was sent, less what the
    // kernel dropped for a full buffer, less the request and the forgeries.
    const lost = (after.RcvbufErrors! - before.RcvbufErrors!);
    const seen = out.sent - lost - 1 - forgedRead;
    expect(seen).toBeGreaterThan(RATE * SECONDS / 5);

    // "... (N similar suppressed)" on the next line, or "N similar suppressed in the last 1.0 s; the newest: ..."
    const replayLines = lines.filter((l) => /ignored request 100\.1 /.test(l));
    const suppressed = replayLines.reduce((n, l) => n + Number(/(\d+) similar suppressed/.exec(l)?.[1] ?? 0), 0);
    // Every replay is accounted for: shown, or counted in a line that says so.
    expect(replayLines.reduce((n, l) => n + count(l), 0)).toBe(seen);
    // One line per kind per second of flood, give or take the edges; never one per packet.
    expect(replayLines.length).toBeGreaterThanOrEqual(2);
    expect(replayLines.length).toBeLessThanOrEqual(SECONDS + 2);
    expect(lines.length).toBeLessThanOrEqual(2 * SECONDS + 6);
    // The real request's grant is there too.
    expect(lines.filter((l) => /granted vip to alpha/.test(l))).toHaveLength(1);
    console.log(`[arbiter-logs] ${out.replayed} replays in ${SECONDS} s (${lost} dropped by the kernel): ${lines.length} log lines, ${suppressed} replays counted as suppressed`);
  }, 60_000);
});
