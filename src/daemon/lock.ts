// One daemon per node name per host. Two daemons for one node both bind the
// heartbeat port (the UDP sockets need SO_REUSEADDR so that several media
// can share a port on different interfaces), both answer as that node with
// different generations, and the peer ends up ignoring the real one as a
// replay. --state-dir and --run-dir cannot tell them apart: each may be
// different.
//
// The lock is an abstract unix socket named after the node: the kernel frees
// it when the process dies however it dies (no stale lock file), and its
// namespace is the network namespace, which is exactly the scope of the
// interfaces and ports the two daemons would fight over (two test pairs in
// two namespaces on one kernel do not collide).

import net from 'node:net';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { UserError } from '../util/errors.js';

export function lockName(node: string): string {
  return `\0tandem/node/${node}`;
}

export interface NodeLock {
  release(): Promise<void>;
}

/** Takes this host's lock for `node`, or throws a UserError naming the process that holds it. */
export async function lockNode(node: string): Promise<NodeLock> {
  const name = lockName(node);
  // Nothing is ever said on it: whoever connects is dropped at once.
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') {
        reject(new UserError(`cannot take the lock for node '${node}' (abstract unix socket @${name.slice(1)}): ${e.message}`));
        return;
      }
      const holder = lockHolder(name);
      const who = holder
        ? ` (pid ${holder.pid}${holder.uid !== 0 ? `, uid ${holder.uid}` : ''}: ${holder.command})`
        : '';
      const what = holder && holder.uid !== 0 && process.getuid?.() === 0
        ? `the lock for node '${node}' on this host is held by a process that is not a root tandem daemon${who}; stop it`
        : `another tandem daemon for node '${node}' is already running on this host${who}; stop it first ` +
          '(two daemons for one node answer for it at once, whatever their --state-dir and --run-dir)';
      reject(new UserError(what));
    });
    server.listen(name, () => resolve());
  });
  server.unref();
  return {
    release: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The process holding an abstract unix socket, from /proc (best effort: undefined if not found). */
function lockHolder(name: string): { pid: number; uid: number; command: string } | undefined {
  try {
    const want = '@' + name.slice(1);
    let inode: string | undefined;
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Node binds abstract names padded with NULs to the full sun_path, which /proc shows as '@'s.
      const shown = f[7];
      if (f.length >= 8 && shown?.startsWith(want) && /^@*$/.test(shown.slice(want.length)) && f[5] === '01') { inode = f[6]; break; }   // 01 = listening
    }
    if (!inode) return undefined;
    const target = `socket:[${inode}]`;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let fds: string[];
      try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
      for (const fd of fds) {
        let link: string;
        try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
        if (link !== target) continue;
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 300);
        return { pid: Number(pid), uid, command };
      }
    }
  } catch {
    // /proc unreadable: the refusal still stands, without the holder's name.
  }
  return undefined;
}
