// The local control socket: one JSON request line in, one JSON reply line
// out. `tandem status` talks to the running daemon through it.

import net from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';

export const SOCKET_NAME = 'tandem.sock';
export const PID_NAME = 'tandem.pid';

export type Handler = (req: { cmd: string; [k: string]: unknown }) => Promise<unknown>;

const MAX_REQUEST = 64 * 1024;
/**
 * At most this many connections at once; one more closes the one idle the
 * longest (or, when every one is being answered, the newcomer), so a pile
 * of idle clients never locks `tandem status` out. Each costs a descriptor
 * and buffers: unbounded, they ran the daemon out of descriptors and a
 * takeover's gratuitous ARP failed with EMFILE.
 */
export const MAX_CONNECTIONS = 64;
/** A connection that has not sent a whole request line this long after its last byte is closed. */
export const IDLE_TIMEOUT_MS = 5000;
/** Root only: the socket can reload the configuration and reports everything. */
export const SOCKET_MODE = 0o600;

export async function listenControl(runDir: string, handler: Handler): Promise<net.Server> {
  const path = join(runDir, SOCKET_NAME);
  if (existsSync(path)) {
    if (await isAlive(path)) throw new UserError(`another tandem daemon is running (control socket ${path} answers)`);
    unlinkSync(path);   // left behind by a daemon that was killed
  }
  // allowHalfOpen: a client may shut down its sending side right after the
  // request (`echo '{"cmd":"status"}' | socat - UNIX-CONNECT:...`) and still wait
  // for the answer; closing along with it would drop the reply.
  const open = new Map<net.Socket, { lastData: number; answering: boolean }>();
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    if (open.size >= MAX_CONNECTIONS) {
      let oldest: net.Socket | undefined;
      let at = Infinity;
      for (const [c, st] of open) if (!st.answering && st.lastData < at) { oldest = c; at = st.lastData; }
      if (!oldest) { conn.destroy(); return; }
      oldest.destroy();
      open.delete(oldest);
    }
    const st = { lastData: performance.now(), answering: false };
    open.set(conn, st);
    conn.on('close', () => open.delete(conn));
    conn.setTimeout(IDLE_TIMEOUT_MS, () => { if (!st.answering) conn.destroy(); });
    let buf = '';
    let answering = false;   // one request per connection; what follows it is ignored
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    // No complete request line before the client's end: end ours too.
    conn.on('end', () => { if (!answering) conn.end(); });
    conn.on('data', (chunk: string) => {
      if (answering) return;
      st.lastData = performance.now();
      buf += chunk;
      if (buf.length > MAX_REQUEST) { conn.destroy(); return; }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      answering = true;
      st.answering = true;
      conn.setTimeout(0);
      let req: { cmd: string };
      try {
        req = JSON.parse(line) as { cmd: string };
        if (typeof req?.cmd !== 'string') throw new Error('missing cmd');
      } catch (e) {
        conn.end(JSON.stringify({ ok: false, error: `bad request: ${(e as Error).message}` }) + '\n');
        return;
      }
      handler(req).then(
        (result) => conn.end(JSON.stringify({ ok: true, result }) + '\n'),
        (e: Error) => conn.end(JSON.stringify({ ok: false, error: e.message }) + '\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new UserError(`control socket ${path}: ${e.message}`)));
    // The socket is created with the umask's mode: under umask 000 anybody
    // could connect between the bind and the chmod below. bind() happens
    // inside listen(), synchronously, so the tighter umask covers it.
    const old = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  chmodSync(path, SOCKET_MODE);
  return server;
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export async function request(runDir: string, req: { cmd: string; [k: string]: unknown }, timeoutMs = 5000): Promise<unknown> {
  const path = join(runDir, SOCKET_NAME);
  return new Promise((resolve, reject) => {
    const c = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new UserError(`no answer from the daemon on ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => { buf += d; });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is the daemon running? (tandem run)'
        : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied (the control socket is root\'s alone: run this as root)' : e.message;
      reject(new UserError(`cannot reach the daemon at ${path}: ${why}`));
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (!reply.ok) reject(new UserError(reply.error ?? 'daemon refused the request'));
        else resolve(reply.result);
      } catch {
        reject(new UserError(`the daemon at ${path} sent a reply that is not JSON`));
      }
    });
  });
}
