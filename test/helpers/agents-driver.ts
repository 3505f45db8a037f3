// The agents-driver.mjs child inside a network namespace (netlink, AF_PACKET
// and the core act on the namespace of the calling process), spoken to one
// JSON line at a time. It runs the compiled dist/ the global setup built.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Reply {
  ok: boolean;
  value?: unknown;
  error?: string;
  name?: string;
  code?: string;
}

/** The agents-driver.mjs child inside a namespace, spoken to one JSON line at a time. */
export class AgentsDriver {
  readonly logs: [string, string][] = [];
  /** Kernel link/address events, after a call({ op: 'watch' }). */
  readonly events: Array<Record<string, unknown> & { at: number }> = [];
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private stderr = '';
  private exited = false;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Reply & { id?: number; log?: [string, string]; event?: Record<string, unknown> };
      if (msg.log) this.logs.push(msg.log);
      else if (msg.event) this.events.push({ ...msg.event, at: Date.now() });
      else if (msg.id !== undefined) this.pending.get(msg.id)?.(msg);
    });
    proc.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    proc.on('exit', (code) => {
      this.exited = true;
      for (const done of this.pending.values()) {
        done({ ok: false, error: `driver exited (${code}): ${this.stderr.trim()}` });
      }
      this.pending.clear();
    });
  }

  static start(ns: string, dist: string): AgentsDriver {
    return new AgentsDriver(spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'test/netns/agents-driver.mjs'), dist]));
  }

  call(cmd: Record<string, unknown>): Promise<Reply> {
    if (this.exited) return Promise.resolve({ ok: false, error: `driver is gone: ${this.stderr.trim()}` });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (r) => {
        this.pending.delete(id);
        resolve(r);
      });
      this.proc.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  /** A haresources resource as the driver's 'agent' op takes it. */
  resource(spec: string): { spec: string; agent: string; args: string[] } {
    const [agent = '', ...args] = spec.split('::');
    return { spec, agent, args };
  }

  /** Calls an agent method; rejects with the agent's error text. */
  async agent(method: 'start' | 'stop' | 'status', spec: string, owner?: string): Promise<unknown> {
    const r = await this.call({ op: 'agent', method, resource: this.resource(spec), ...(owner === undefined ? {} : { owner }) });
    if (!r.ok) throw Object.assign(new Error(r.error), { errName: r.name, code: r.code });
    return r.value;
  }

  nl(method: string, ...args: unknown[]): Promise<Reply> {
    return this.call({ op: 'nl', method, args });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

