import type { Resource } from '../config/types.js';

export type ResourceStatus = 'running' | 'stopped';

/** One resource from haresources, bound to what actually acts on the host. */
export interface ResourceAgent {
  readonly resource: Resource;
  start(): Promise<void>;   // rejects with a message an operator can act on
  stop(): Promise<void>;    // idempotent: stopping a stopped resource succeeds
  status(): Promise<ResourceStatus>;
}

export interface AgentContext {
  configDir: string;                 // resource.d/ is looked up here first
  initDir: string;                   // LSB init scripts, /etc/init.d by default
  scriptTimeoutMs: number;
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => void;
}
