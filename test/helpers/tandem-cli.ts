// Shared by the netns tests that drive a running pair through the `tandem`
// command: run it as a separate process (as an operator would), and read a
// node's VIPs with the real `ip addr`.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, type NodeName, type Pair } from '../../lab/pair.js';
import { sh } from '../../lab/sh.js';

export const TANDEM = join(REPO_ROOT, 'bin', 'tandem');

export interface CliResult { code: number | null; out: string; err: string }

/** Runs `tandem ARGS`; `asUser` runs it under that uid/gid (setpriv) to see what a non-root user gets. */
export function runTandem(args: string[], opts: { asUser?: number } = {}): Promise<CliResult> {
  const [cmd, argv] = opts.asUser === undefined
    ? [process.execPath, [TANDEM, ...args]]
    : ['setpriv', [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', process.execPath, TANDEM, ...args]];
  return new Promise((resolve) => {
    const c = spawn(cmd, argv);
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** The addresses of NET.100 and up on a node's eth0, sorted (the lab's own .1/.2 left out). */
export async function vipsOf(p: Pair, net: string, n: NodeName): Promise<string[]> {
  const out = await sh('ip', ['-n', p.ns[n], '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  return [...out.matchAll(new RegExp(`inet (${net.replace(/\./g, '\\.')}\\.\\d+)/`, 'g'))].map((m) => m[1]!).filter((a) => !/\.(1|2)$/.test(a)).sort();
}
