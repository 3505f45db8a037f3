// Issue 10 items 2, 4 and 15 (drops name their source), issue 11 (authkeys
// differ): two real daemons in namespaces, an attacker that can send from
// the peer's own address.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Pair, type NodeName, type StatusJson } from '../../lab/pair.js';
import { sh, sleep, waitFor } from '../../lab/sh.js';
import { encode } from '../../src/heartbeat/codec.js';
import { buildStatus } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';

const CAPTURE = resolve(__dirname, 'udp-capture.mjs');
const REPLAY = resolve(__dirname, 'udp-replay.mjs');

/** Runs a script of this folder with node inside `ns`, feeding `input`; resolves with its stdout. */
function inNs(ns: string, args: string[], input = ''): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile('ip', ['netns', 'exec', ns, process.execPath, ...args], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err) rej(err); else res(stdout);
    });
    child.stdin!.end(input);
  });
}

const log = (p: Pair, n: NodeName) => { try { return readFileSync(p.logFile(n), 'utf8'); } catch { return ''; } };
const peerOf = (s: StatusJson, name: string) => s.nodes.find((n) => n.name === name);
type Full = StatusJson & {
  auth: { sendIndex: number; fingerprint: string; mismatch: null | { message: string; packets: number; sources: string[] } } | null;
};
const fullStatus = (p: Pair, n: NodeName) => p.status(n) as Promise<Full>;
const broadcastOf = (p: Pair) => p.vip.replace(/\.\d+$/, '.255');

async function startPair(p: Pair): Promise<void> {
  await p.setup();
  p.startTandem('alpha');
  p.startTandem('beta');
  await p.waitForStatus('alpha', 'group running on alpha', (s) => s.groups[0]?.holder === 'alpha' && s.groups[0]?.local.phase === 'running', 20_000);
  await p.waitForStatus('beta', 'alpha heard', (s) => peerOf(s, 'alpha')?.state === 'up');
}

describe.sequential('a forged far-future generation under an allowed crc key', () => {
  // A leftover crc line beside the sha1 send key, accepted only because ha.cf says so.
  const keysText = 'auth 1\n1 sha1 lab-secret\n2 crc\n';
  const p = new Pair({
    prefix: 'tdk1', net: '10.223.1', workDir: join(tmpdir(), 'tandem-authgen'),
    authkeys: { alpha: keysText, beta: keysText },
    extraHaCf: { alpha: ['allow_insecure_authkeys yes'], beta: ['allow_insecure_authkeys yes'] },
  });
  beforeAll(async () => { await startPair(p); }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('is dropped and logged with its source; the real peer stays fresh, also after a restart', async () => {
    const before = await p.status('beta');
    const realGen = peerOf(before, 'alpha')!.generation!;
    const crc: AuthKeys = { sendIndex: 2, keys: new Map([[2, { index: 2, method: 'crc', key: Buffer.alloc(0) }]]) };
    const forged = encode(buildStatus({
      status: 'active', deadtimeMs: 300, src: 'alpha', srcUuid: Buffer.alloc(16, 9), seq: 1, generation: Number.MAX_SAFE_INTEGER,
      wallSeconds: 1, hold: [], yielding: [], failed: [],
    }), crc);
    // From alpha's own address (the attacker spoofs it), one datagram.
    expect((await inNs(p.ns.alpha, [REPLAY, broadcastOf(p), '694'], `0 =${forged.toString('base64')}\n`)).trim()).toBe('1');
    await sleep(1500);   // five deadtimes: with the forged generation adopted, alpha would be a replay and dead by now
    const s = await p.status('beta');
    expect(peerOf(s, 'alpha')).toMatchObject({ state: 'up', generation: realGen });
    expect(s.counters.dropped.jump).toBe(1);
    expect(s.counters.dropped.replay).toBe(before.counters.dropped.replay);
    expect(await p.holdsVip('beta')).toBe(false);
    expect(await p.holdsVip('alpha')).toBe(true);
    // The drop names the datagram's source and path, not "from alpha".
    expect(log(p, 'beta')).toMatch(new RegExp(`dropped datagram from ${p.ip.alpha.replace(/\./g, '\\.')} on bcast eth0 \\(authentic, claims to be alpha\\): generation 9007199254740991 is more than 31622400 s ahead`));
    // Nothing poisoned was persisted: after beta restarts it still hears the real alpha.
    expect(await p.stopTandem('beta')).toBe(0);
    p.startTandem('beta');
    const again = await p.waitForStatus('beta', 'alpha heard after the restart', (x) => peerOf(x, 'alpha')?.state === 'up', 10_000);
    expect(peerOf(again, 'alpha')?.generation).toBe(realGen);
    expect(await p.holdsVip('beta')).toBe(false);
  });
});

describe.sequential('heartbeats of a dead node replayed after the receiver restarts', () => {
  const p = new Pair({ prefix: 'tdk2', net: '10.223.2', workDir: join(tmpdir(), 'tandem-replay') });
  beforeAll(async () => { await startPair(p); }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('do not make it release its VIP', async () => {
    // An eavesdropper records 4 s of alpha's heartbeats (about 40).
    const captured = await inNs(p.ns.client, [CAPTURE, '694', p.ip.alpha, '4000']);
    const count = captured.split('\n').filter((l) => l.includes('=')).length;
    expect(count).toBeGreaterThan(25);
    // alpha dies; beta takes over.
    await p.powerOff('alpha');
    await waitFor('beta to hold the VIP', async () => ((await p.holdsVip('beta')) ? true : undefined), 10_000);
    // beta crashes and comes back: it resumes the group, alpha still dead.
    await p.crashTandem('beta');
    p.startTandem('beta');
    await p.waitForStatus('beta', 'group running again after the restart', (s) => peerOf(s, 'alpha')?.state === 'dead' && s.groups[0]?.local.phase === 'running', 15_000);
    const before = await p.status('beta');
    // The attacker replays the capture from alpha's address, at its original pace.
    await sh('ip', ['-n', p.ns.alpha, 'link', 'set', 'eth0', 'up']);
    const replay = inNs(p.ns.alpha, [REPLAY, broadcastOf(p), '694'], captured);
    let lostVip = 0;
    let sawAlphaUp = 0;
    let done = false;
    void replay.finally(() => { done = true; });
    while (!done) {
      if (!(await p.holdsVip('beta'))) lostVip += 1;
      if (peerOf(await p.status('beta'), 'alpha')?.state === 'up') sawAlphaUp += 1;
      await sleep(50);
    }
    expect(Number((await replay).trim())).toBe(count);
    await sleep(500);
    const after = await p.status('beta');
    expect(lostVip).toBe(0);
    expect(sawAlphaUp).toBe(0);
    expect(await p.holdsVip('beta')).toBe(true);
    expect(after.groups[0]?.local.phase).toBe('running');
    expect(peerOf(after, 'alpha')?.state).toBe('dead');
    // Every replayed datagram was counted as not shown to be new.
    expect(after.counters.dropped.unconfirmed! - (before.counters.dropped.unconfirmed ?? 0)).toBe(count);
    expect(log(p, 'beta')).toMatch(new RegExp(`dropped datagram from ${p.ip.alpha.replace(/\./g, '\\.')} on bcast eth0 \\(authentic, claims to be alpha\\): generation \\d+ seq \\d+ names our generation`));
  });
});

describe.sequential('different authkeys on the two nodes', () => {
  const p = new Pair({
    prefix: 'tdk3', net: '10.223.3', workDir: join(tmpdir(), 'tandem-keydiff'),
    authkeys: { beta: 'auth 1\n1 sha1 not-the-lab-secret\n' },
  });
  beforeAll(async () => {
    await p.setup();
    p.startTandem('alpha');
    p.startTandem('beta');
  }, 120_000);
  afterAll(async () => { await p.cleanup(); });

  it('says "authkeys differ?" in status and logs, with different fingerprints and never the key', async () => {
    const s = await p.waitForStatus('beta', 'the authkeys diagnosis, alpha dead', (x) => (x as Full).auth?.mismatch != null && peerOf(x, 'alpha')?.state === 'dead', 15_000) as Full;
    expect(s.auth!.mismatch!.message).toMatch(/^authkeys differ\? \d+\+? heartbeat-shaped packet\(s\) from 10\.223\.3\.1 claiming to be alpha failed authentication/);
    expect(s.auth!.mismatch!.sources).toEqual([p.ip.alpha]);
    expect(peerOf(s, 'alpha')?.state).toBe('dead');
    const a = await p.waitForStatus('alpha', 'the authkeys diagnosis', (x) => (x as Full).auth?.mismatch != null, 15_000) as Full;
    expect(a.auth!.fingerprint).toMatch(/^sha1:[0-9a-f]{16}$/);
    expect(s.auth!.fingerprint).toMatch(/^sha1:[0-9a-f]{16}$/);
    expect(a.auth!.fingerprint).not.toBe(s.auth!.fingerprint);
    // The human status says it loudly.
    const text = (await sh(process.execPath, [join(__dirname, '../../bin/tandem'), 'status', '--run-dir', p.runDir('beta')]));
    expect(text).toContain('!! authkeys differ?');
    expect(text).toContain(`fingerprint ${s.auth!.fingerprint}`);
    for (const n of ['alpha', 'beta'] as const) {
      const l = log(p, n);
      expect(l).toMatch(/authkeys differ\? .* compare the authkeys fingerprints/);
      expect(l).toMatch(/starting: .*authkeys: auth 1, fingerprint sha1:[0-9a-f]{16}/);
      expect(l).not.toContain('lab-secret');
    }
    // What tandem does then (docs/security.md): each node takes the group over, as with a dead peer.
    await waitFor('both to hold the VIP', async () => ((await p.holdsVip('alpha')) && (await p.holdsVip('beta')) ? true : undefined), 10_000);
  });
});
