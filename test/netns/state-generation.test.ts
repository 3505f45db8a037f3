// A generation used before (a lost state record) makes the peer drop every
// message as a replay. When the peer's own reports show it has accepted more
// of our generation than we have sent (tg_hears_hg / tg_hears_seq), the
// daemon stores a higher generation and moves to it. A real daemon in a
// namespace; this process plays the peer over a veth whose other end stays
// in the test's namespace (prefix tdsg, 10.233.4.x).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cleanupPrefix, createNetns, destroyNetns, netnsName, sh, succeeds, waitFor } from '../helpers/netns.js';
import { decode, encode } from '../../src/heartbeat/codec.js';
import { buildStatus, parseHeader } from '../../src/heartbeat/messages.js';
import type { AuthKeys } from '../../src/config/types.js';

const PREFIX = 'tdsg';
const NS = netnsName(PREFIX, 'a');
const HOST_IF = `${PREFIX}${process.pid}`;
const ALPHA = '10.233.4.1';
const BETA = '10.233.4.2';
const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('gen-secret') }]]) };
const dir = mkdtempSync(join(tmpdir(), 'tandem-state-gen-'));
const logFile = join(dir, 'alpha.log');
let daemon: ChildProcess | undefined;
let sock: dgram.Socket;
const heard: Array<{ generation: number; seq: number }> = [];

beforeAll(async () => {
  await cleanupPrefix(PREFIX);
  await createNetns(NS);
  await sh('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
  await sh('ip', ['addr', 'add', `${BETA}/24`, 'dev', HOST_IF]);
  await sh('ip', ['link', 'set', HOST_IF, 'up']);
  await sh('ip', ['-n', NS, 'addr', 'add', `${ALPHA}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
  const cfg = join(dir, 'ha.d');
  mkdirSync(cfg);
  writeFileSync(join(cfg, 'ha.cf'), `udpport 694\nkeepalive 100ms\nwarntime 500ms\ndeadtime 1\ninitdead 2\nucast eth0 ${BETA}\nauto_failback off\nnode alpha beta\n`);
  writeFileSync(join(cfg, 'authkeys'), 'auth 1\n1 sha1 gen-secret\n', { mode: 0o600 });
  chmodSync(join(cfg, 'authkeys'), 0o600);
  writeFileSync(join(cfg, 'haresources'), '');
  sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(694, BETA, () => r()));
  sock.on('message', (buf) => {
    try {
      const h = parseHeader(decode(buf, KEYS));
      if (h.src === 'alpha' && h.generation !== undefined && h.seq !== undefined) heard.push({ generation: h.generation, seq: h.seq });
    } catch { /* not ours */ }
  });
  const fd = openSync(logFile, 'a');
  daemon = spawn('ip', ['netns', 'exec', NS, process.execPath, resolve(__dirname, '../../bin/tandem'), 'run', '-c', cfg, '--node', 'alpha',
    '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
}, 60_000);

afterAll(async () => {
  daemon?.kill('SIGKILL');
  sock?.close();
  await destroyNetns(NS);
  // Deleting the namespace takes the veth pair with it, asynchronously: the host end may vanish between show and del.
  if (await succeeds('ip', ['link', 'show', HOST_IF])) await sh('ip', ['link', 'del', HOST_IF]).catch(async (e: unknown) => {
    if (await succeeds('ip', ['link', 'show', HOST_IF])) throw e;
  });
  rmSync(dir, { recursive: true, force: true });
});

describe('a generation the peer has seen before', () => {
  it('is left for a higher one, stored first, as soon as the peer\'s report shows it', async () => {
    const first = await waitFor('alpha\'s first heartbeat', async () => heard[0], 10_000);
    // beta reports having accepted far more of alpha's generation than alpha has sent: an earlier run used it.
    let seq = 0;
    const send = (hears: number, hearsSeq: number) => {
      const buf = encode(buildStatus({
        status: 'active', deadtimeMs: 1000, src: 'beta', srcUuid: Buffer.alloc(16, 2), seq: ++seq, generation: 5, wallSeconds: Math.floor(Date.now() / 1000),
        hold: [], yielding: [], failed: [], hears, hearsSeq,
      }), KEYS);
      sock.send(buf, 694, ALPHA);
    };
    // A claim far beyond the wall clock was never ours (a broken or hostile peer with the key): ignored, logged, no crash.
    for (let i = 0; i < 5; i++) { send(Number.MAX_SAFE_INTEGER, 1); await new Promise((r) => setTimeout(r, 100)); }
    expect(heard.at(-1)!.generation).toBe(first.generation);
    expect(readFileSync(logFile, 'utf8')).toMatch(/beta reports having heard generation 9007199254740991 of this node, beyond any it can have used/);
    const moved = await waitFor('alpha to move to a new generation', async () => {
      send(first.generation, 1_000_000);
      return heard.find((h) => h.generation > first.generation);
    }, 5000, 100).catch(() => undefined);
    const log = readFileSync(logFile, 'utf8');
    expect(moved, log).toBeDefined();
    expect(log).toMatch(new RegExp(`beta has accepted generation ${first.generation} seq 1000000 of this node, but this run is generation ${first.generation} .*moving to generation ${moved!.generation}`));
    // Reports that hear the new generation change nothing more.
    const now = moved!.generation;
    for (let i = 0; i < 5; i++) { send(now, heard.at(-1)!.seq); await new Promise((r) => setTimeout(r, 100)); }
    expect(heard.at(-1)!.generation).toBe(now);
  }, 30_000);
});
