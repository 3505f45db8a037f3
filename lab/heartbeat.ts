// Debian's Heartbeat 3.0.6 on the same lab topology, as the yardstick for
// benchmarks. (To be written: see the benchmark task.)
import type { ChildProcess } from 'node:child_process';
import type { NodeName, Pair } from './pair.js';

export function writeHeartbeatConfig(_pair: Pair, _node: NodeName): void {
  throw new Error('heartbeat lab support is not written yet');
}

export function startHeartbeat(_pair: Pair, _node: NodeName): ChildProcess {
  throw new Error('heartbeat lab support is not written yet');
}
