// The arbiter service: a UDP socket, the key file, LevelDB, and the pure
// machine in machine.ts between them. Run it on a third host that both
// nodes of each cluster can reach (`tandem arbiter --listen 0.0.0.0:7610
// --state-dir DIR --keys FILE`).
//
// Requests are handled one at a time by the machine; their durable writes
// are collected and committed in one fsynced batch (group commit), and only
// then do the replies that depend on them leave. Nothing a client was told
// can be forgotten by a crash. If the disk fails, the arbiter stops: with
// grants in memory that are not on disk, a restart could grant twice.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkAuthKeysMode, parseAuthKeys } from '../src/config/authkeys.js';
import { errnoText } from '../src/config/common.js';
import { readRegularFile } from '../src/config/files.js';
import type { AuthKeys } from '../src/config/types.js';
import { decodeMessage, encodeMessage, isAuthenticating, ProtocolError, type ArbiterReply } from '../src/quorum/protocol.js';
import { Driver } from '../src/runtime/driver.js';
import { nodeClock } from '../src/runtime/node-clock.js';
import { UserError } from '../src/util/errors.js';
import { RateLimitedLog } from '../src/util/ratelimit.js';
import {
  ARBITER_MACHINE, DEFAULT_LIMITS, grantsView, initArbiter,
  type ArbiterAction, type ArbiterCounters, type ArbiterEvent, type ArbiterLimits, type ArbiterRun, type ArbiterState,
  type GrantView, type StoreOp,
} from './machine.js';
import { ArbiterStore } from './store.js';

export type LogFn = (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;

export interface ArbiterOptions {
  listen: string;           // "host:port"; "[v6addr]:port" for IPv6
  stateDir: string;
  keysFile: string;         // authkeys format, mode 600
  log?: LogFn;
  limits?: Partial<ArbiterLimits>;
}

export interface ArbiterStats extends ArbiterCounters {
  auth: number;             // datagrams whose HMAC or key index did not check out
  malformed: number;
  grants: GrantView[];
}

export interface ArbiterHandle {
  readonly address: { host: string; port: number };
  stats(): ArbiterStats;
  /** Stops listening, finishes pending writes, closes the database. */
  close(): Promise<void>;
  /** Settles when the arbiter stops: resolves after close(), rejects with a UserError on a fatal error (disk). */
  readonly done: Promise<void>;
}

/** One log line with every counter, for SIGUSR1 (`kill -USR1`): what the arbiter has seen since it started. */
export function formatArbiterStats(s: ArbiterStats): string {
  return `stats: requests ${s.requests}, granted ${s.granted}, renewed ${s.renewed}, denied ${s.denied}, released ${s.released}, ` +
    `expired ${s.expired}, replays ${s.replays}, dropped: auth ${s.auth}, malformed ${s.malformed}; ${s.grants.length} grant(s) held` +
    (s.grants.length ? `: ${s.grants.map((g) => `${g.cluster}/${g.group}=${g.node} (${Math.round(g.remainingMs)} ms left)`).join(', ')}` : '');
}

/** "host:port" or "[v6]:port" -> parts; UserError naming the value otherwise. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:([0-9]+)$/.exec(s) ?? /^([^:[\]]+):([0-9]+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new UserError(`--listen '${s}': expected HOST:PORT, e.g. 0.0.0.0:7610 or [::]:7610`);
  }
  const host = m[1]!;
  if (isIP(host) === 0) throw new UserError(`--listen '${s}': '${host}' is not an IP address`);
  return { host, port };
}

/** Reads and checks the key file; every problem is reported as FILE:LINE: message. */
export function loadArbiterKeys(file: string): AuthKeys {
  const modeIssue = checkAuthKeysMode(file);
  if (modeIssue) throw new UserError(`${file}: ${modeIssue.message}`);
  let text: Buffer;
  try {
    text = readRegularFile(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${errnoText(e)}`);
  }
  const { keys, issues } = parseAuthKeys(text, file);
  if (!keys || issues.length) {
    throw new UserError(issues.map((i) => `${i.file}:${i.line}: ${i.message}`).join('\n') || `${file}: no usable keys`);
  }
  const send = keys.keys.get(keys.sendIndex);
  if (send && !isAuthenticating(send.method)) {
    throw new UserError(`${file}: 'auth ${keys.sendIndex}' selects a crc key; the arbiter needs md5, sha1 or sha256 (crc authenticates nothing)`);
  }
  for (const k of keys.keys.values()) {
    if (!isAuthenticating(k.method)) throw new UserError(`${file}: key index ${k.index} uses crc, which authenticates nothing; remove it`);
  }
  return keys;
}

export async function runArbiter(opts: ArbiterOptions): Promise<ArbiterHandle> {
  const log: LogFn = opts.log ?? ((level, msg) => process.stderr.write(`${new Date().toISOString()} arbiter ${level.toUpperCase().padEnd(5)} ${msg}\n`));
  const listen = parseListen(opts.listen);
  const keys = loadArbiterKeys(opts.keysFile);
  const limits: ArbiterLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const store = await ArbiterStore.open(opts.stateDir);
  let socket: Socket | undefined;
  try {
    for (const n of store.notes) log('warn', `${store.dir}: ${n}`);
    const loaded = await store.load((m) => log('warn', m));
    const now = () => performance.now();
    const state = initArbiter(loaded, now(), limits);
    if (loaded.grants.length) {
      log('info', `restarted with ${loaded.grants.length} grant(s) on disk; each stays exclusive for its full TTL from now`);
    }
    socket = createSocket({ type: isIP(listen.host) === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket!.once('error', (e: NodeJS.ErrnoException) => {
        reject(new UserError(`--listen ${opts.listen}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`));
      });
      socket!.bind(listen.port, listen.host, () => resolve());
    });
    const server = new Server(state, store, socket, keys, log, now);
    const a = socket.address();
    log('info', `listening on ${a.address}:${a.port} (state ${opts.stateDir}, keys ${opts.keysFile})`);
    return server.handle({ host: a.address, port: a.port });
  } catch (e) {
    socket?.close();
    await store.close().catch(() => undefined);
    throw e;
  }
}

/** A request carries the index of the key it was signed with: the reply uses the same one. */
type ServerEvent = ArbiterEvent & { keyIndex?: number };

interface PendingReply {
  to: string;
  reply: ArbiterReply;
  keyIndex: number;
}

class Server {
  private pendingOps: StoreOp[] = [];
  private pendingReplies: PendingReply[] = [];
  private flushing?: Promise<void>;
  private readonly driver: Driver<ArbiterRun, ServerEvent, ArbiterAction>;
  private closing = false;
  private failed = false;
  private auth = 0;
  private malformed = 0;
  // Every line a datagram can cause goes through here, one key per kind.
  private readonly limited: RateLimitedLog;
  private resolveDone!: () => void;
  private rejectDone!: (e: Error) => void;
  readonly done: Promise<void>;

  constructor(
    private readonly state: ArbiterState,
    private readonly store: ArbiterStore,
    private readonly socket: Socket,
    private readonly keys: AuthKeys,
    private readonly log: LogFn,
    private readonly now: () => number,
  ) {
    this.done = new Promise<void>((res, rej) => { this.resolveDone = res; this.rejectDone = rej; });
    // Nobody may be waiting on `done`; a rejection must not crash the process by itself.
    this.done.catch(() => undefined);
    this.limited = new RateLimitedLog((level, m) => this.log(level, m), now);
    socket.removeAllListeners('error');
    socket.on('error', (e) => this.log('warn', `socket: ${e.message}`));
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    this.driver = new Driver<ArbiterRun, ServerEvent, ArbiterAction>(
      ARBITER_MACHINE, { arb: state, lastTickAt: now() }, nodeClock(now), (a, e) => this.apply(a, e),
      // One flush per step, after all its effects: its writes and the replies that wait for them go in one batch.
      { onDeadline: (fire) => { fire(); this.kick(); } },
    );
    this.driver.tick();
    this.kick();
  }

  handle(address: { host: string; port: number }): ArbiterHandle {
    return { address, stats: () => this.stats(), close: () => this.close(), done: this.done };
  }

  private stats(): ArbiterStats {
    return { ...this.state.counters, auth: this.auth, malformed: this.malformed, grants: grantsView(this.state, this.now()) };
  }

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    if (this.closing) return;
    let decoded;
    try {
      decoded = decodeMessage(buf, this.keys);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      if (e.reason === 'auth') this.auth += 1; else this.malformed += 1;
      this.limited.warn(`drop:${e.reason}`, `dropped datagram from ${rinfo.address}:${rinfo.port}: ${e.message}`);
      return;
    }
    if (decoded.msg.t !== 'req') {
      this.malformed += 1;
      this.limited.warn('drop:reply', `dropped datagram from ${rinfo.address}:${rinfo.port}: a reply sent to the arbiter`);
      return;
    }
    const to = rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
    this.driver.submit({ kind: 'request', from: to, req: decoded.msg, keyIndex: decoded.index });
    this.kick();
  }

  private apply(a: ArbiterAction, e: ServerEvent): void {
    switch (a.kind) {
      case 'persist':
        this.pendingOps.push(...a.ops);
        break;
      case 'reply':
        // Answer with the key the client used, so rollover works both ways.
        this.pendingReplies.push({ to: a.to, reply: a.reply, keyIndex: e.keyIndex ?? 0 });
        break;
      case 'log':
        if (a.key !== undefined) this.limited.log(a.level, a.key, a.message);
        else this.log(a.level, a.message);
        break;
    }
  }

  private kick(): void {
    if (this.failed || this.flushing || (this.pendingOps.length === 0 && this.pendingReplies.length === 0)) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      this.kick();
    });
  }

  private async flush(): Promise<void> {
    const ops = this.pendingOps;
    const replies = this.pendingReplies;
    this.pendingOps = [];
    this.pendingReplies = [];
    try {
      await this.store.write(ops);
    } catch (e) {
      this.fatal(`cannot write ${this.store.dir}: ${(e as Error).message}; stopping so no unrecorded grant is ever announced`);
      return;
    }
    for (const r of replies) this.send(r);
  }

  private send(r: PendingReply): void {
    const i = r.to.lastIndexOf(':');
    const host = r.to.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(r.to.slice(i + 1));
    let buf: Buffer;
    try {
      buf = encodeMessage(r.reply, this.keys, r.keyIndex);
    } catch (e) {
      this.log('error', `cannot encode reply to ${r.to}: ${(e as Error).message}`);
      return;
    }
    this.socket.send(buf, port, host, (err) => {
      if (err) this.limited.warn('send', `reply to ${r.to}: ${err.message}`);
    });
  }

  private fatal(msg: string): void {
    if (this.failed) return;
    this.failed = true;
    this.log('error', msg);
    void this.shutdown().then(() => this.rejectDone(new UserError(msg)), () => this.rejectDone(new UserError(msg)));
  }

  async close(): Promise<void> {
    await this.shutdown();
    this.resolveDone();
  }

  private async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.driver.close();
    this.limited.flush(true);
    this.limited.close();
    await new Promise<void>((r) => {
      try { this.socket.close(() => r()); } catch { r(); }
    });
    while (this.flushing) await this.flushing;
    await this.store.close().catch(() => undefined);
  }
}
