// The parsed configuration model shared by every subsystem: types only, and
// no imports, so any module (pure machines included) can name the model
// without pulling in a parser. Parsers in this folder produce it; only
// files.ts reads files.

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
  /** `realtime` (default on): SCHED_FIFO at `rtprio` for the thread that sends and judges heartbeats, and locked memory. */
  realtime: boolean;
  rtprio: number;
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
  /** tandem extension: `vrrp_guard` (config/vrrp-guard.ts), the VRRP units of `-f FILE` under the split-brain guard; absent when ha.cf has no such line. */
  vrrpGuard?: VrrpGuardSetting;
}

/**
 * `vrrp_guard NAME…` / `vrrp_guard all`, as ha.cf says it: names are checked
 * against the keepalived.conf only when both files are known
 * (resolveVrrpGuard in config/vrrp-guard.ts). Either `all` or names, never both.
 */
export interface VrrpGuardSetting {
  /** `vrrp_guard all`: every standalone vrrp_instance and every vrrp_sync_group. */
  all?: { line: number };
  /** vrrp_instance or vrrp_sync_group names, in file order, each once. */
  names: Array<{ name: string; line: number }>;
}

export interface Resource {
  spec: string;             // as written, e.g. "IPaddr2::10.0.0.5/24/eth0"
  agent: string;            // "IPaddr2", "httpd", "ocf:heartbeat:nginx", "systemd:nginx.service", ...
  args: string[];           // the '::'-separated arguments (OCF: NAME=VALUE parameters)
  /** `op start|stop|monitor ...` after the resource (docs/configuration.md, "Monitoring"). */
  ops?: ResourceOps;
  /** `meta migration-threshold=N failure-timeout=T` after the resource. */
  meta?: ResourceMeta;
}

export interface ResourceOps {
  start?: { timeoutMs: number };
  stop?: { timeoutMs: number };
  /** interval 0 = never monitored, even where the agent's meta-data suggests an interval. */
  monitor?: { intervalMs?: number; timeoutMs?: number };
}

export interface ResourceMeta {
  /** Monitor failures within failureTimeoutMs before the group moves to the peer (restart in place until then). */
  migrationThreshold?: number;
  /** Failures older than this are forgotten; 0 = never. */
  failureTimeoutMs?: number;
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

// --- fencing (parsed by stonith.ts; docs/fencing.md) ---------------------------

/** A parameter value: literal text, or the contents of a root-only file read at fence time. */
export type ParamValue = { text: string } | { file: string };

interface DeviceBase {
  /** '*' or the node that may use this device. */
  from: string;
  /** The only node this device ever fences. */
  target: string;
  /** Hard bound on one fence() call, confirmation included; the process group is killed at it. */
  timeoutMs: number;
  file: string;
  line: number;
}

export interface IpmiDevice extends DeviceBase {
  type: 'ipmi';
  host: string;
  port: number;
  user: string;
  passfile: string;
  interface: 'lanplus' | 'lan';
  cipher: number;
  privlvl: 'CALLBACK' | 'USER' | 'OPERATOR' | 'ADMINISTRATOR';
  /** ipmitool -N: seconds per try. */
  ipmitoolTimeoutS: number;
  /** ipmitool -R: tries after the first. 0 is not accepted: ipmitool reads it as its default (about 20 s). */
  retries: number;
  /** Pause after "power off" before the first confirming status. */
  powerWaitMs: number;
}

export interface FenceAgentDevice extends DeviceBase {
  type: 'fence';
  agent: string;            // fence_ipmilan, ...
  dirs: string[];           // searched in order at fence time
  params: Array<[string, ParamValue]>;
  passfile?: string;
}

export interface ExternalDevice extends DeviceBase {
  type: 'external';
  plugin: string;           // the NAME of external/NAME
  dirs: string[];
  params: Array<[string, ParamValue]>;
}

export type StonithDevice = IpmiDevice | FenceAgentDevice | ExternalDevice;

export type FenceFailurePolicy = 'wait' | 'takeover';

export interface FencingConfig {
  /** Every stonith_host line, in file order, whatever its from-node. */
  devices: StonithDevice[];
  /** How long the node that holds fewer groups waits before it shoots. */
  fenceDelayMs: number;
  failurePolicy: FenceFailurePolicy;
  /** Period of device status checks; 0 = never. */
  checkIntervalMs: number;
  retryMs: number;
  retryMaxMs: number;
  /** A node that has not heard its peer since it started neither fences nor takes over. */
  waitForAll: boolean;
  pluginDir?: string;
}

// --- quorum (parsed by quorum.ts; docs/quorum.md) ------------------------------

export type ArbiterSetting = { kind: 'arbiter'; address: string } | { kind: 'etcd'; url: string };

export interface QuorumSettings {
  ping: string[];                                   // `ping IP…`, one target per address
  pingGroups: Array<{ name: string; addrs: string[] }>;
  deadpingMs: number;
  ipfail: { enabled: boolean; delayMs: number; dwellMs: number };
  arbiter?: ArbiterSetting;
  /** Key file for tandem's arbiter; absent = the cluster's authkeys. */
  arbiterKeys?: string;
  arbiterTtlMs: number;
  arbiterSafetyMs: number;
}
