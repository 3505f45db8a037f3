import { spawn } from 'node:child_process';

/**
 * tcpdump in namespace `ns` on `ifname` with a capture filter; resolves once
 * tcpdump listens. stop() returns the packets, one line each (-vv puts
 * options on continuation lines: they are joined to their packet).
 */
export async function capture(ns: string, ifname: string, filter: string, extra: string[] = []): Promise<{ stop(): Promise<string[]> }> {
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', ifname, '-n', '-e', '-l', '-vv', ...extra, filter]);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`tcpdump did not start: ${err}`)); }, 5000);
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) { clearTimeout(t); resolve(); }
    });
    p.once('exit', () => { clearTimeout(t); reject(new Error(`tcpdump exited: ${err}`)); });
  });
  return {
    async stop() {
      p.kill('SIGINT');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      return out.replace(/\n\s+/g, ' ').split('\n').filter((l) => l.trim() !== '');
    },
  };
}

/** Neighbour advertisements (ICMPv6 type 136). */
export const NA_FILTER = 'icmp6 and ip6[40] = 136';
