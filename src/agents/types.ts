import type { Resource } from '../config/types.js';

export type ResourceStatus = 'running' | 'stopped';

/**
 * One monitor call's verdict: running; not running (OCF 7, LSB 1-3: the
 * service died); failed (any other error: OCF 1-6, LSB 4, cannot run); or
 * timeout (the agent hung and was killed). Anything but running counts as a
 * failure of a resource that should run.
 */
export type MonitorResult = 'running' | 'not-running' | 'failed' | 'timeout';

export interface MonitorOutcome {
  result: MonitorResult;
  /** The agent's exit code, when it exited. */
  rc?: number;
  /** Plain words: the exit code's meaning and the agent's last output. */
  detail: string;
}

/** Timeouts and the monitor interval an agent uses when haresources does not say (OCF: its meta-data). */
export interface AgentDefaults {
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  monitor?: { intervalMs: number; timeoutMs: number };
}

/** One resource from haresources, bound to what actually acts on the host. */
export interface ResourceAgent {
  readonly resource: Resource;
  start(): Promise<void>;   // rejects with a message an operator can act on
  stop(): Promise<void>;    // idempotent: stopping a stopped resource succeeds
  status(): Promise<ResourceStatus>;
  /** One monitor call, killed at timeoutMs. Never rejects. */
  monitor(timeoutMs: number): Promise<MonitorOutcome>;
  /** Reads what the agent says about itself (OCF meta-data) before first use. */
  prepare?(): Promise<void>;
  /** After prepare(): the agent's own timeouts and monitor interval. */
  defaults?(): AgentDefaults;
}

export interface AgentContext {
  configDir: string;                 // resource.d/ is looked up here first
  initDir: string;                   // LSB init scripts, /etc/init.d by default
  /** OCF_ROOT: resource agents live in $OCF_ROOT/resource.d/PROVIDER/TYPE (default /usr/lib/ocf). */
  ocfRoot?: string;
  scriptTimeoutMs: number;
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => void;
}
