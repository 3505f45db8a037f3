// The local control socket: one JSON request line in, one JSON reply line
// out. `tandem status` talks to the running daemon through it.

import net from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';

export const SOCKET_NAME = 'tandem.sock';
export const PID_NAME = 'tandem.pid';

export type Handler = (req: { cmd: string; [k: string]: unknown }) => Promise<unknown>;

const MAX_REQUEST = 64 * 1024;

export async function listenControl(runDir: string, handler: Handler): Promise<net.Server> {
  const path = join(runDir, SOCKET_NAME);
  if (existsSync(path)) {
    if (await isAlive(path)) throw new UserError(`another tandem daemon is running (control socket ${path} answers)`);
    unlinkSync(path);   // left behind by a daemon that was killed
  }
  // allowHalfOpen: a client may shut down its sending side right after the
  // request (`echo '{"cmd":"status"}' | socat - UNIX-CONNECT:...`) and still wait
  // for the answer; closing along with it would drop the reply.
  const server = net.createServer({ allowHalfOpen: true }, (conn) => {
    let buf = '';
    let answering = false;   // one request per connection; what follows it is ignored
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    // No complete request line before the client's end: end ours too.
    conn.on('end', () => { if (!answering) conn.end(); });
    conn.on('data', (chunk: string) => {
      if (answering) return;
      buf += chunk;
      if (buf.length > MAX_REQUEST) { conn.destroy(); return; }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      answering = true;
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
    server.listen(path, () => resolve());
  });
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
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is the daemon running? (tandem run)' : e.message;
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
