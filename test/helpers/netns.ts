// Network namespaces for tests that need real interfaces. Every test file
// uses its own name prefix (e.g. "tdag"); names are `<prefix><pid>-<tag>` so
// that stale namespaces of a crashed run can be told apart from those of a
// run that is still going on in parallel.

import { execFile } from 'node:child_process';

export interface ShResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
    reason: string,
  ) {
    super(`\`${command}\` ${reason}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  }
}

export interface ShOptions {
  timeoutMs?: number;       // default 20 s; the command is killed after it
  input?: string;
}

/** Runs a command without a shell; rejects with the command line, exit code and stderr. */
export function sh(cmd: string, args: string[] = [], opts: ShOptions = {}): Promise<ShResult> {
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 20_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string | null };
        const reason = e.killed
          ? `timed out after ${opts.timeoutMs ?? 20_000} ms`
          : typeof e.code === 'number'
            ? `exited with code ${e.code}`
            : `could not run (${e.code ?? e.message})`;
        reject(new CommandError(line, e.code ?? null, stdout, stderr, reason));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like sh() but resolves to false instead of rejecting when the command fails. */
export async function succeeds(cmd: string, args: string[] = [], opts: ShOptions = {}): Promise<boolean> {
  try {
    await sh(cmd, args, opts);
    return true;
  } catch (e) {
    if (e instanceof CommandError) return false;
    throw e;
  }
}

/** A namespace name unique to this process: `<prefix><pid>-<tag>`. */
export function netnsName(prefix: string, tag: string): string {
  return `${prefix}${process.pid}-${tag}`;
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await sh('ip', ['netns', 'list']);
  // Lines look like "name" or "name (id: 3)".
  return stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

/** Creates a namespace with loopback up; a leftover of the same name is removed first. */
export async function createNetns(name: string): Promise<void> {
  if ((await listNetns()).includes(name)) await destroyNetns(name);
  await sh('ip', ['netns', 'add', name]);
  try {
    await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    await destroyNetns(name);
    throw e;
  }
}

/**
 * Kills whatever still runs inside the namespace, then deletes it (its
 * interfaces, and the veth peers in other namespaces, go with it).
 * Absent namespaces are fine.
 */
export async function destroyNetns(name: string): Promise<void> {
  if (!(await listNetns()).includes(name)) return;
  try {
    const { stdout } = await sh('ip', ['netns', 'pids', name]);
    for (const pid of stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number)) {
      // Without this a process would keep the namespace alive after `del`.
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  } catch {
    // `ip netns pids` failing must not stop the delete
  }
  try {
    await sh('ip', ['netns', 'del', name]);
  } catch (e) {
    if (!(await listNetns()).includes(name)) return; // lost a race with another cleanup
    throw e;
  }
}

/**
 * Removes namespaces whose name starts with `prefix`, except those created by
 * another process that is still alive (a parallel run of the same tests).
 * Returns the names removed.
 */
export async function cleanupPrefix(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNetns()) {
    if (!name.startsWith(prefix)) continue;
    const owner = /^(\d+)-/.exec(name.slice(prefix.length))?.[1];
    if (owner !== undefined && Number(owner) !== process.pid && pidAlive(Number(owner))) continue;
    await destroyNetns(name);
    removed.push(name);
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a command inside a namespace. */
export function nsExec(ns: string, cmd: string, args: string[] = [], opts: ShOptions = {}): Promise<ShResult> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export interface LinkEnd {
  ns: string;
  ifname: string;           // at most 15 characters
  cidr?: string;            // e.g. "10.210.7.1/24"; added with a broadcast address
}

/** A veth pair between two namespaces (or within one), both ends up. */
export async function createVeth(a: LinkEnd, b: LinkEnd): Promise<void> {
  for (const end of [a, b]) {
    if (end.ifname.length > 15) throw new Error(`interface name "${end.ifname}" is longer than 15 characters`);
  }
  await sh('ip', ['-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  for (const end of [a, b]) await configure(end);
}

/** A bridge inside `ns`, up, with STP off so ports forward at once. */
export async function createBridge(ns: string, name: string): Promise<void> {
  await sh('ip', ['-n', ns, 'link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  await sh('ip', ['-n', ns, 'link', 'set', name, 'up']);
}

/** Connects `end` to a bridge with a veth whose other end, `port`, is in the bridge's namespace. */
export async function attachToBridge(bridgeNs: string, bridge: string, port: string, end: LinkEnd): Promise<void> {
  await createVeth({ ns: bridgeNs, ifname: port }, end);
  await sh('ip', ['-n', bridgeNs, 'link', 'set', port, 'master', bridge]);
}

async function configure(end: LinkEnd): Promise<void> {
  if (end.cidr !== undefined) {
    await sh('ip', ['-n', end.ns, 'addr', 'add', end.cidr, 'brd', '+', 'dev', end.ifname]);
  }
  await sh('ip', ['-n', end.ns, 'link', 'set', end.ifname, 'up']);
}

/** The interface's MAC address, lower case. */
export async function macOf(ns: string, ifname: string): Promise<string> {
  const { stdout } = await sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname]);
  const mac = (JSON.parse(stdout) as { address?: string }[])[0]?.address;
  if (!mac) throw new Error(`no MAC address for ${ifname} in ${ns}`);
  return mac.toLowerCase();
}

/** Polls `check` until it returns a value other than undefined, or fails after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 3000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A power loss in `ns`: every process stopped first (so none sees another
 * die: keepalived's VRRP child would send its priority-0 goodbye on its
 * parent's death), then killed; resolves once the namespace has none left.
 */
export async function powerLossIn(ns: string, who = ns): Promise<void> {
  const pidsIn = async () => (await sh('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean);
  const pids = await pidsIn();
  if (pids.length) {
    await sh('kill', ['-STOP', ...pids]).catch(() => undefined);
    await sh('kill', ['-9', ...pids]).catch(() => undefined);
  }
  await waitFor(`${who} gone`, async () => ((await pidsIn()).length === 0 ? true : undefined), 5000);
}
