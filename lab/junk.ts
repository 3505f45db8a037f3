// The junk sender of the flood benchmark and the flood test: bench/junk-sender.c,
// compiled with the host's gcc on first use (the native addon already needs
// it), run inside a namespace of the lab.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './pair.js';

export type JunkMode = 'random' | 'frame' | 'forged';

export interface JunkOptions {
  ns: string;
  dst: string;
  port?: number;
  rate: number;          // datagrams per second
  durationMs: number;
  size?: number;         // bytes of UDP payload, default 300
  mode?: JunkMode;
  /** Forge this source address (raw socket), as an attacker spoofing the peer would. */
  spoof?: string;
  /** Stops the sender early; the promise then resolves to -1 (count unknown). */
  signal?: AbortSignal;
}

const SOURCE = join(REPO_ROOT, 'bench', 'junk-sender.c');

function run(cmd: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Path of the compiled sender, rebuilt when the source is newer. */
export async function junkSender(): Promise<string> {
  const dir = join(tmpdir(), 'tandem-junk-sender');
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, `junk-sender-${Math.floor(statSync(SOURCE).mtimeMs)}`);
  if (existsSync(bin)) return bin;
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-o', tmp, SOURCE], 60_000);
  } catch (e) {
    if ((e as Error).message.includes('ENOENT')) throw new Error('gcc is not installed (apt-get install gcc): needed to build bench/junk-sender.c');
    throw e;
  }
  renameSync(tmp, bin);
  return bin;
}

/** Sends junk for durationMs; resolves to the number of datagrams that left the sender (-1 when aborted). */
export async function sendJunk(o: JunkOptions): Promise<number> {
  const bin = await junkSender();
  const args = ['netns', 'exec', o.ns, bin, o.dst, String(o.port ?? 694), String(o.rate), String(o.durationMs),
    String(o.size ?? 300), o.mode ?? 'random', ...(o.spoof ? [o.spoof] : [])];
  let out;
  try {
    out = await run('ip', args, o.durationMs + 30_000, o.signal);
  } catch (e) {
    if (o.signal?.aborted) return -1;
    throw e;
  }
  const m = /^sent (\d+)/.exec(out);
  if (!m) throw new Error(`junk-sender: unexpected output '${out.trim()}'`);
  return Number(m[1]);
}
