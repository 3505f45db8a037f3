// Node's floor as a lab pair (bench:cost, impl `node-floor`): two
// floor-endpoint processes on the lab's pair topology, alpha and beta
// sending each other one signed datagram per period, under the same node
// flags as tandem's daemon (bin/tandem's #! line). No VIP: `ready` is both
// endpoints running.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bringUpEth0, createPairNetwork, killAllIn, killNetns, Pair, TANDEM_NODE_FLAGS, type NodeName } from './pair.js';

const ENDPOINT = join(dirname(fileURLToPath(import.meta.url)), 'floor-endpoint.js');

export class NodeFloorPair {
  readonly ns: Record<NodeName | 'client', string>;
  readonly ip: Record<NodeName, string>;
  readonly procs: Partial<Record<NodeName, ChildProcess>> = {};

  constructor(private readonly o: { prefix: string; net: string; periodMs: number }) {
    const p = `${o.prefix}${process.pid}`;
    this.ns = { alpha: `${p}-a`, beta: `${p}-b`, client: `${p}-c` };
    this.ip = { alpha: `${o.net}.1`, beta: `${o.net}.2` };
  }

  async setup(): Promise<void> {
    await Pair.removeStale(this.o.prefix);
    await createPairNetwork(this.ns, `${this.o.net}.10`);
    for (const n of ['alpha', 'beta'] as const) await bringUpEth0(this.ns[n], `${this.ip[n]}/24`);
  }

  startNode(node: NodeName): ChildProcess {
    const peer: NodeName = node === 'alpha' ? 'beta' : 'alpha';
    if (!ENDPOINT.includes('/dist/')) throw new Error('node-floor runs the compiled endpoint: npm run build, then run the bench from dist/');
    const child = spawn('ip', ['netns', 'exec', this.ns[node], process.execPath, ...TANDEM_NODE_FLAGS, ENDPOINT,
      '--peer', this.ip[peer], '--period-ms', String(this.o.periodMs)], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.procs[node] = child;
    return child;
  }

  async ready(): Promise<boolean> {
    return (['alpha', 'beta'] as const).every((n) => this.procs[n] && this.procs[n]!.exitCode === null);
  }

  async cleanup(): Promise<void> {
    for (const n of ['alpha', 'beta', 'client'] as const) await killAllIn(this.ns[n]);
    for (const n of ['alpha', 'beta', 'client'] as const) await killNetns(this.ns[n]);
  }
}
