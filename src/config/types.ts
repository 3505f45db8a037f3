// The parsed configuration model shared by every subsystem. Parsers in this
// folder produce it; nothing else reads the files.

import type { FencingConfig } from './stonith.js';
import type { QuorumSettings } from './quorum.js';

/** The `metrics` ha.cf line (config/metrics.ts): off, or where the Prometheus endpoint listens. */
export type MetricsSetting = { off: true; line: number } | { off?: false; host: string; port: number; line: number };

export type AuthMethod = 'crc' | 'md5' | 'sha1' | 'sha256';

export interface AuthKey {
  index: number;            // 0..15
  method: AuthMethod;
  key: Buffer;              // empty for crc
}

export interface AuthKeys {
  sendIndex: number;        // from `auth N`
  keys: Map<number, AuthKey>;
}

export type Medium =
  | { kind: 'ucast'; iface: string; peer: string; port: number; line: number }
  | { kind: 'bcast'; iface: string; port: number; line: number }
  | { kind: 'mcast'; iface: string; group: string; port: number; ttl: number; loop: boolean; line: number };

/** Speeds `baud` accepts; Heartbeat's default is the first. */
export const SERIAL_BAUD_RATES = [19200, 38400, 57600, 115200] as const;
export type BaudRate = (typeof SERIAL_BAUD_RATES)[number];

/** A `serial` device: a null-modem line straight to the peer (tandem never relays). */
export interface SerialMedium {
  kind: 'serial';
  device: string;           // absolute path, e.g. /dev/ttyS0
  baud: BaudRate;           // from the `baud` line above it, else 19200
  line: number;
}

export type AutoFailback = 'on' | 'off' | 'legacy';

export interface HaCf {
  file: string;
  cluster: string;
  nodes: string[];          // lower-cased, in file order
  media: Medium[];
  serial?: SerialMedium[];  // present only when ha.cf has serial lines
  udpport: number;
  keepaliveMs: number;
  deadtimeMs: number;
  warntimeMs: number;
  initdeadMs: number;
  autoFailback: AutoFailback;
  logfile?: string;
  debugfile?: string;
  logfacility?: string;     // syslog facility name, or undefined/'none'
  debug: number;
  /** tandem extension: a program run with `path-down PATH` / `path-up PATH` on every path transition. */
  notify?: { command: string; line: number };
  /** STONITH devices and fencing policy (config/stonith.ts); absent when ha.cf has no stonith_host line. */
  fencing?: FencingConfig;
  /** Ping nodes, ipfail and the arbiter (config/quorum.ts); absent when ha.cf has no quorum directive. */
  quorum?: QuorumSettings;
  /** tandem extension: `allow_insecure_authkeys yes` accepts crc keys and key lines besides the send key. */
  allowInsecureAuthkeys?: { line: number };
  /** tandem extension: the Prometheus endpoint (config/metrics.ts); absent = on, 127.0.0.1:9694. */
  metrics?: MetricsSetting;
}

export interface Resource {
  spec: string;             // as written, e.g. "IPaddr2::10.0.0.5/24/eth0"
  agent: string;            // "IPaddr2", "httpd", ...
  args: string[];           // the '::'-separated arguments
}

export interface ResourceGroup {
  name: string;             // the first resource's spec, as Heartbeat names groups
  preferredNode: string;    // lower-cased
  resources: Resource[];    // start order (left to right)
  line: number;
}

export interface Config {
  dir: string;
  hacf: HaCf;
  authkeys: AuthKeys;
  groups: ResourceGroup[];
}

/** One problem at a file position; `check-config` prints these as FILE:LINE: message. */
export interface ConfigIssue {
  file: string;
  line: number;             // 1-based; 0 when the problem is the whole file (missing, mode)
  message: string;
}
