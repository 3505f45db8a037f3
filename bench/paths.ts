// npm run bench:paths — one-way latency of a heartbeat over each medium:
// serial at 19200 and 115200 baud, serial on a bare pty (no line emulation),
// and UDP unicast between two network namespaces.
//
// What is timed: encode (sha1, the daemon's status message including the
// tg_echo field) -> Path.send -> ... -> the receiving Path's callback ->
// decode with authentication. Sender and receiver are separate processes
// using tandem's own transport modules; both stamp with CLOCK_MONOTONIC
// (process.hrtime), which all processes of one host share, so the one-way
// figure is measured, not halved from a round trip.
//
// A pty has no UART: it moves bytes at memory speed whatever the baud. The
// "emulated" rows therefore put a shim between two socat ptys that releases
// each byte when its 10 bit times (8N1) at the configured rate have passed,
// in slices of at most 16 bytes (a typical UART FIFO trigger level), so a
// frame arrives when its last byte would have. The shim's own timer slack
// shows up in the figures; the "pty only" row is the same path without the
// shim, and the computed wire time of the frame is printed beside them.
//
// Usage: npm run bench:paths -- [--samples N] [--json FILE]
//   (internally also: --endpoint send|recv ..., run by the bench itself)

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { AuthKeys, Medium, SerialMedium } from '../src/config/types.js';
import { decode, encode, field, hex } from '../src/heartbeat/codec.js';
import { buildStatus } from '../src/heartbeat/messages.js';
import { ECHO_FIELD } from '../src/daemon/paths.js';
import { openSerialPath } from '../src/transport/serial.js';
import { encodeFrame } from '../src/transport/serial-frame.js';
import { openUdpPath, type Path } from '../src/transport/udp.js';
import { sh, sleep, waitFor } from '../lab/sh.js';

const SELF = fileURLToPath(import.meta.url);
const KEYS: AuthKeys = { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('bench-secret') }]]) };
const PREFIX = 'tdpb';
const NET = '10.214.9';
const DIR = join(tmpdir(), 'tandem-bench-paths');
// The first heartbeats of each run pay for JIT compilation and first-use
// allocations in both processes; they are sent but not counted.
const WARMUP = 5;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const mono = () => Number(process.hrtime.bigint()) / 1e6;   // ms, CLOCK_MONOTONIC

/** The message the daemon sends: a status with one held group and this path's echo. */
function heartbeat(seq: number): Buffer {
  const fields = buildStatus({
    status: 'active', deadtimeMs: 3000, src: 'alpha', srcUuid: Buffer.alloc(16, 0x42), seq, generation: 0x6b031d43,
    wallSeconds: Math.floor(Date.now() / 1000), hold: ['IPaddr2::10.214.9.100/24/eth0'], yielding: [], failed: [],
  });
  fields.splice(fields.findIndex((f) => f.name === 'src'), 0, field(ECHO_FIELD, `6b031d44 ${(seq + 0x1000).toString(16)} 1e240`));
  return encode(fields, KEYS);
}

// ---------------------------------------------------------------------------
// Endpoints (child processes)

async function endpoint(role: 'send' | 'recv'): Promise<void> {
  const medium = JSON.parse(arg('medium', '{}')) as Medium | SerialMedium;
  const out = (s: string) => process.stdout.write(s + '\n');
  const onDatagram = (buf: Buffer) => {
    try {
      const seq = hex(decode(buf, KEYS), 'seq');
      out(`R ${seq} ${mono()}`);
    } catch (e) {
      out(`E ${(e as Error).message}`);
    }
  };
  const path: Path = medium.kind === 'serial'
    ? await openSerialPath(medium, onDatagram, { log: (l, m) => process.stderr.write(`${l} ${m}\n`) })
    : await openUdpPath(medium, onDatagram, (_p, e) => process.stderr.write(`${e.message}\n`));
  out('ready');
  if (role === 'recv') {
    process.stdin.on('end', () => void path.close().then(() => process.exit(0)));
    process.stdin.resume();
    return;
  }
  const count = parseInt(arg('count', '100'), 10) + WARMUP;
  const interval = parseFloat(arg('interval', '100'));
  await sleep(200);
  const start = mono();
  for (let seq = 1; seq <= count; seq++) {
    // Absolute schedule, so a slow send does not shift the rest.
    const due = start + seq * interval;
    while (mono() < due - 1) await sleep(Math.max(0, due - mono() - 1));
    const t = mono();
    path.send(heartbeat(seq));
    out(`S ${seq} ${t}`);
  }
  await sleep(Math.max(500, interval * 3));
  await path.close();
  out('done');
  process.exit(0);
}

// ---------------------------------------------------------------------------
// The emulated UART: bytes leave one pty and enter the other at line speed.

class Uart {
  private freeAt = 0;
  private pending: Array<{ due: number; data: Buffer }> = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly baud: number | undefined, private readonly deliver: (b: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.baud === undefined) { this.deliver(chunk); return; }
    const byteMs = 10_000 / this.baud;
    const now = mono();
    let t = Math.max(now, this.freeAt);
    for (let i = 0; i < chunk.length; i += 16) {
      const slice = chunk.subarray(i, Math.min(chunk.length, i + 16));
      t += slice.length * byteMs;
      this.pending.push({ due: t, data: slice });
    }
    this.freeAt = t;
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.pending.length === 0) return;
    const wait = this.pending[0]!.due - mono();
    this.timer = setTimeout(() => { this.timer = undefined; this.flush(); }, Math.max(0, Math.floor(wait)));
  }

  private flush(): void {
    const now = mono();
    while (this.pending.length && this.pending[0]!.due <= now) this.deliver(this.pending.shift()!.data);
    if (this.pending.length && this.pending[0]!.due - now < 1) {
      setImmediate(() => this.flush());   // less than a timer tick away: poll
      return;
    }
    this.arm();
  }
}

/** Two socat ptys joined through this process, optionally at line speed. */
class Cable {
  private readonly ends: ChildProcess[] = [];
  constructor(readonly a: string, readonly b: string, private readonly baud: number | undefined | 'direct') {}

  async plug(): Promise<void> {
    for (const l of [this.a, this.b]) rmSync(l, { force: true });
    if (this.baud === 'direct') {
      // The null-modem cable of the integration tests: one socat joining two ptys.
      this.ends.push(spawn('socat', [`pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], { stdio: 'ignore' }));
      await waitFor('socat ptys', async () => (existsSync(this.a) && existsSync(this.b) ? true : undefined), 5000, 10);
      return;
    }
    const baud = this.baud;
    const [ea, eb] = [this.a, this.b].map((link) => spawn('socat', ['-b', '65536', `pty,raw,echo=0,link=${link}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'ignore'] }));
    this.ends.push(ea!, eb!);
    const ab = new Uart(baud, (d) => eb!.stdin!.write(d));
    const ba = new Uart(baud, (d) => ea!.stdin!.write(d));
    ea!.stdout!.on('data', (d: Buffer) => ab.push(d));
    eb!.stdout!.on('data', (d: Buffer) => ba.push(d));
    await waitFor('socat ptys', async () => (existsSync(this.a) && existsSync(this.b) ? true : undefined), 5000, 10);
  }

  unplug(): void {
    for (const e of this.ends.splice(0)) e.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// Driver

interface Result { label: string; samples: number[]; lost: number; errors: number; frameBytes?: number; wireMs?: number; intervalMs: number }

function child(cmd: string[], label: string): { proc: ChildProcess; lines: string[]; waitLine: (re: RegExp, ms: number) => Promise<string> } {
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => { lines.push(l); for (const w of waiters.splice(0)) w(); });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const waitLine = async (re: RegExp, ms: number): Promise<string> => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return hit;
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`${label}: no ${re} (exit ${proc.exitCode}): ${err.trim()}`);
      await new Promise<void>((r) => { const t = setTimeout(r, 50); waiters.push(() => { clearTimeout(t); r(); }); });
    }
  };
  return { proc, lines, waitLine };
}

async function run(label: string, send: Medium | SerialMedium, recv: Medium | SerialMedium, count: number, intervalMs: number,
  wrap: (side: 'send' | 'recv') => string[]): Promise<Result> {
  const args = (role: string, m: Medium | SerialMedium) => [...wrap(role as 'send' | 'recv'), process.execPath, SELF, '--endpoint', role, '--medium', JSON.stringify(m), '--count', String(count), '--interval', String(intervalMs)];
  const r = child(args('recv', recv), `${label} receiver`);
  await r.waitLine(/^ready$/, 10_000);
  const s = child(args('send', send), `${label} sender`);
  await s.waitLine(/^done$/, count * intervalMs + 30_000);
  await sleep(200);
  r.proc.stdin!.end();
  r.proc.kill('SIGTERM');
  const sent = new Map<number, number>();
  for (const l of s.lines) { const m = /^S (\d+) ([\d.]+)$/.exec(l); if (m) sent.set(Number(m[1]), Number(m[2])); }
  const samples: number[] = [];
  let errors = 0;
  for (const l of r.lines) {
    const m = /^R (\d+) ([\d.]+)/.exec(l);
    if (m && Number(m[1]) > WARMUP && sent.has(Number(m[1]))) samples.push(Number(m[2]) - sent.get(Number(m[1]))!);
    if (l.startsWith('E ')) errors += 1;
  }
  return { label, samples, lost: sent.size - WARMUP - samples.length, errors, intervalMs };
}

const pct = (v: number[], q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))]!;

function report(results: Result[]): void {
  console.log(`\nheartbeat one-way latency (ms): encode+send -> receive+authenticate, CLOCK_MONOTONIC across processes; first ${WARMUP} of each run not counted`);
  console.log('medium                                   n     p50      p99      max    lost  frame  wire time*');
  for (const r of results) {
    const v = [...r.samples].sort((a, b) => a - b);
    const f = (x: number | undefined) => (x === undefined ? '   n/a' : x.toFixed(3).padStart(8));
    console.log(`${r.label.padEnd(38)} ${String(v.length).padStart(4)} ${f(v.length ? pct(v, 0.5) : undefined)} ${f(v.length ? pct(v, 0.99) : undefined)} ${f(v[v.length - 1])}` +
      `  ${String(r.lost).padStart(4)}  ${r.frameBytes !== undefined ? `${r.frameBytes} B` : '   -  '}  ${r.wireMs !== undefined ? `${r.wireMs.toFixed(1)} ms` : '-'}`);
  }
  console.log('* computed: frame bytes x 10 bits / baud, what a real 8N1 UART needs for the last byte to arrive');
}

async function main(): Promise<void> {
  const samples = Math.max(20, parseInt(arg('samples', '200'), 10));
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const frameBytes = encodeFrame(heartbeat(1)).length;
  const results: Result[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => { for (const c of cleanups.splice(0).reverse()) await c(); };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    // Serial: undefined = through the shim without pacing (its own overhead); direct = one socat, no shim.
    for (const baud of [19200, 115200, undefined, 'direct'] as const) {
      const a = join(DIR, 'ttyA');
      const b = join(DIR, 'ttyB');
      const cable = new Cable(a, b, baud);
      await cable.plug();
      cleanups.push(() => cable.unplug());
      const wire = typeof baud === 'number' ? (frameBytes * 10_000) / baud : undefined;
      // Leave the line idle between heartbeats, as a sane keepalive does.
      const interval = wire === undefined ? 20 : Math.ceil(wire * 1.6);
      const rate = (typeof baud === 'number' ? baud : 115200) as SerialMedium['baud'];
      const label = baud === undefined ? 'serial, ptys + shim, no pacing' : baud === 'direct' ? 'serial, socat pty pair (as in tests)' : `serial ${baud} baud (emulated UART)`;
      console.log(`${label}: ${samples} heartbeats every ${interval} ms`);
      const r = await run(label, { kind: 'serial', device: a, baud: rate, line: 0 }, { kind: 'serial', device: b, baud: rate, line: 0 }, samples, interval, () => []);
      r.frameBytes = frameBytes;
      if (wire !== undefined) r.wireMs = wire;
      results.push(r);
      cable.unplug();
      await sleep(200);
    }

    // UDP unicast over a veth pair between two namespaces.
    const ns = { a: `${PREFIX}-a`, b: `${PREFIX}-b` };
    for (const n of Object.values(ns)) await sh('ip', ['netns', 'del', n], { allowFail: true });
    cleanups.push(async () => { for (const n of Object.values(ns)) await sh('ip', ['netns', 'del', n], { allowFail: true }); });
    for (const n of Object.values(ns)) {
      await sh('ip', ['netns', 'add', n]);
      await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    await sh('ip', ['link', 'add', 'eth0', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.b]);
    for (const [n, ip] of [[ns.a, `${NET}.1`], [ns.b, `${NET}.2`]] as const) {
      await sh('ip', ['-n', n, 'addr', 'add', `${ip}/24`, 'brd', '+', 'dev', 'eth0']);
      await sh('ip', ['-n', n, 'link', 'set', 'eth0', 'up']);
    }
    for (const n of Object.values(ns)) {
      await waitFor(`${n} eth0 up`, async () => (/\bUP\b/.test(await sh('ip', ['-n', n, '-br', 'link', 'show', 'eth0'])) ? true : undefined), 5000);
    }
    const udpCount = samples * 5;
    console.log(`udp unicast (veth between namespaces): ${udpCount} heartbeats every 10 ms`);
    const r = await run('udp ucast, veth between namespaces',
      { kind: 'ucast', iface: 'eth0', peer: `${NET}.2`, port: 694, line: 0 },
      { kind: 'ucast', iface: 'eth0', peer: `${NET}.1`, port: 694, line: 0 },
      udpCount, 10, (side) => ['ip', 'netns', 'exec', side === 'send' ? ns.a : ns.b]);
    r.frameBytes = heartbeat(1).length;
    results.push(r);
  } finally {
    await cleanup();
    rmSync(DIR, { recursive: true, force: true });
  }
  report(results);
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify(results.map((r) => ({ ...r, samples: undefined, n: r.samples.length, sorted: [...r.samples].sort((a, b) => a - b) })), null, 2));
}

if (process.argv.includes('--endpoint')) {
  endpoint(arg('endpoint', 'recv') as 'send' | 'recv').catch((e: Error) => {
    process.stderr.write(`endpoint: ${e.message}\n`);
    process.exit(1);
  });
} else {
  main().catch((e: Error) => {
    console.error(`bench:paths: ${e.message}`);
    process.exit(1);
  });
}
