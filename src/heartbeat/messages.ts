// Typed views over the Heartbeat messages tandem sends and reads. The field
// lists follow Heartbeat's own layout so that a stock Heartbeat node sees an
// ordinary peer; tandem's additions use `tg_` names, which Heartbeat ignores.

import { field, hex, str } from './codec.js';
import { DecodeError, type Field } from './types.js';

/** Heartbeat's `st` values; a node normally announces only init/up/active about itself. */
export type StatusValue = 'init' | 'up' | 'active' | 'dead';

export interface StatusParams {
  status: StatusValue;
  deadtimeMs: number;
  src: string;
  srcUuid: Buffer;
  seq: number;
  generation: number;
  wallSeconds: number;
  /** Resource groups the sender holds or may still be running. */
  hold: string[];
  /**
   * Subset of `hold` the sender does not claim: remembered from before its
   * last crash, or being stopped. Sent as `tg_yielding` only when given.
   */
  yielding?: string[];
  /** The generation of the peer the sender hears now (null: none). Sent as tg_hears_hg when given. */
  hears?: number | null;
  /** The highest seq of that generation the sender has accepted. Sent as tg_hears_seq when given. */
  hearsSeq?: number;
  /** Resource groups that failed to start on the sender. */
  failed: string[];
  /** Groups the sender hands to its peer (standby/takeover). Sent as tg_standby when given. */
  standby?: string[];
  /** Groups the sender could not stop (it may still run them): sent as tg_stopfail when non-empty. */
  stopFailed?: string[];
  /** More tandem fields (`tg_` names) placed after tg_failed, e.g. tg_ping/tg_hears. */
  extra?: Array<[string, string]>;
}

export interface Header {
  type: string;
  src: string;
  seq?: number;
  generation?: number;
  ts?: number;
  dest?: string;
}

export interface Status {
  status: string;
  deadtimeMs?: number;
  hold: string[];
  yielding: string[];
  failed: string[];
  /** Generation of the receiver the sender hears: null = none; undefined = field absent (a Heartbeat peer). */
  hearsGeneration?: number | null;
  /** The receiver's highest seq (of that generation) the sender has accepted; undefined = not said. */
  hearsSeq?: number;
  /** Groups the sender hands to the receiver (tg_standby); undefined = field absent (Heartbeat, older tandem). */
  standby?: string[];
  /** Groups the sender could not stop (tg_stopfail); undefined = none. */
  stopFailed?: string[];
}

// Heartbeat's ttl is hopfudge (default 1) + node count; tandem is always a pair.
const TTL = '3';

function hexField(name: string, n: number): Field {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return field(name, n.toString(16));
}

// The list travels as one space-separated string, so a name with whitespace
// (or an empty one) would come back as different groups.
function groupList(name: string, groups: readonly string[]): Field {
  for (const g of groups) {
    if (g.length === 0 || /\s/.test(g)) throw new RangeError(`${name}: group name ${JSON.stringify(g)} is empty or contains whitespace`);
  }
  return field(name, groups.join(' '));
}

/** The periodic `t=status` heartbeat, in Heartbeat's field order plus tandem's tg_hold/[tg_yielding]/tg_failed. */
export function buildStatus(p: StatusParams): Field[] {
  if (p.srcUuid.length !== 16) throw new RangeError(`srcuuid must be 16 bytes, got ${p.srcUuid.length}`);
  if (p.src.length === 0) throw new RangeError('src must not be empty');
  return [
    field('t', 'status'),
    field('st', p.status),
    hexField('dt', p.deadtimeMs),
    // protocol=1 makes Heartbeat peers use ACK flow control with us.
    field('protocol', '1'),
    groupList('tg_hold', p.hold),
    ...(p.yielding !== undefined ? [groupList('tg_yielding', p.yielding)] : []),
    ...(p.hears !== undefined ? [field('tg_hears_hg', p.hears === null ? '' : p.hears.toString(16))] : []),
    ...(p.hearsSeq !== undefined ? [hexField('tg_hears_seq', p.hearsSeq)] : []),
    groupList('tg_failed', p.failed),
    ...(p.standby !== undefined ? [groupList('tg_standby', p.standby)] : []),
    ...(p.stopFailed?.length ? [groupList('tg_stopfail', p.stopFailed)] : []),
    ...(p.extra ?? []).map(([name, value]) => field(name, value)),
    field('src', p.src),
    field('srcuuid', p.srcUuid, 1),
    hexField('seq', p.seq),
    hexField('hg', p.generation),
    hexField('ts', p.wallSeconds),
    field('ttl', TTL),
  ];
}

function requiredString(fields: readonly Field[], name: string): string {
  const v = str(fields, name);
  if (v === undefined || v.length === 0) throw new DecodeError('field', `message has no ${name} field`);
  return v;
}

function optionalHex(fields: readonly Field[], name: string): number | undefined {
  if (!fields.some((f) => f.name === name)) return undefined;
  const n = hex(fields, name);
  if (n === undefined) throw new DecodeError('field', `${name} is not a hex number`);
  return n;
}

/** The fields every message carries; throws DecodeError('field') when `t`/`src` is missing or a number is not hex. */
export function parseHeader(fields: readonly Field[]): Header {
  const h: Header = { type: requiredString(fields, 't'), src: requiredString(fields, 'src') };
  const seq = optionalHex(fields, 'seq');
  const generation = optionalHex(fields, 'hg');
  const ts = optionalHex(fields, 'ts');
  const dest = str(fields, 'dest');
  if (seq !== undefined) h.seq = seq;
  if (generation !== undefined) h.generation = generation;
  if (ts !== undefined) h.ts = ts;
  if (dest !== undefined) h.dest = dest;
  return h;
}

function splitGroups(fields: readonly Field[], name: string): string[] {
  return (str(fields, name) ?? '').split(' ').filter((g) => g.length > 0);
}

/**
 * The status-specific part of a `t=status` message. The group lists are
 * empty when the sender is a stock Heartbeat node, which does not send them.
 */
export function parseStatus(fields: readonly Field[]): Status {
  const s: Status = {
    status: requiredString(fields, 'st'),
    hold: splitGroups(fields, 'tg_hold'),
    yielding: splitGroups(fields, 'tg_yielding'),
    ...hearsGenerationOf(fields),
    failed: splitGroups(fields, 'tg_failed'),
  };
  if (str(fields, 'tg_hears_seq') !== undefined) {
    const n = hex(fields, 'tg_hears_seq');
    if (n === undefined) throw new DecodeError('field', 'tg_hears_seq is not a hex number');
    s.hearsSeq = n;
  }
  const dt = optionalHex(fields, 'dt');
  if (dt !== undefined) s.deadtimeMs = dt;
  if (str(fields, 'tg_standby') !== undefined) s.standby = splitGroups(fields, 'tg_standby');
  const stopFailed = splitGroups(fields, 'tg_stopfail');
  if (stopFailed.length) s.stopFailed = stopFailed;
  return s;
}

export interface AskResourcesParams {
  rscHold: string;
  info: string;
  src: string;
  srcUuid: Buffer;
  seq: number;
  generation: number;
  wallSeconds: number;
}

/**
 * Heartbeat's hb_standby protocol message, `t=ask_resources` with
 * `rsc_hold` (all|local|foreign, as the node that releases sees them) and
 * `info` (me|other|done), in the field order Heartbeat's send_standby_msg
 * uses, then the usual header. It carries a seq of the heartbeat sequence.
 */
export function buildAskResources(p: AskResourcesParams): Field[] {
  if (p.srcUuid.length !== 16) throw new RangeError(`srcuuid must be 16 bytes, got ${p.srcUuid.length}`);
  return [
    field('t', 'ask_resources'),
    field('rsc_hold', p.rscHold),
    field('info', p.info),
    field('src', p.src),
    field('srcuuid', p.srcUuid, 1),
    hexField('seq', p.seq),
    hexField('hg', p.generation),
    hexField('ts', p.wallSeconds),
    field('ttl', TTL),
  ];
}

/** rsc_hold and info of a t=ask_resources (Heartbeat treats a missing rsc_hold as all). */
export function parseAskResources(fields: readonly Field[]): { rscHold: string; info: string } {
  return { rscHold: str(fields, 'rsc_hold') ?? 'all', info: requiredString(fields, 'info') };
}

function hearsGenerationOf(fields: readonly Field[]): { hearsGeneration?: number | null } {
  const v = str(fields, 'tg_hears_hg');
  if (v === undefined) return {};
  if (v === '') return { hearsGeneration: null };
  const n = hex(fields, 'tg_hears_hg');
  if (n === undefined) throw new DecodeError('field', 'tg_hears_hg is not a hex number');
  return { hearsGeneration: n };
}

// ---------------------------------------------------------------------------
// Heartbeat 3's own cluster messages, for a mixed pair (docs/migrating.md,
// "A mixed pair"): what a Heartbeat peer sends at join and around its
// resources, and what tandem answers. Field orders follow Heartbeat's
// (heartbeat.c, hb_resource.c), then the usual header.

/** Heartbeat's rsc_hold values (rsc_msg[] in hb_resource.c), as the sender sees its own holdings. */
export type HbRscHold = 'none' | 'local' | 'foreign' | 'all';
const RSC_HOLDS: readonly string[] = ['none', 'local', 'foreign', 'all'];

/** A Heartbeat message tandem reads besides status and ask_resources. */
export type HbMessage =
  /** A joining node asks for the node list; comm is not "up" for it until the answer (repnodes). */
  | { type: 'reqnodes'; dest?: string }
  /** A node (re)starting asks the others what they hold (nice_failback: auto_failback on/off). */
  | { type: 'starting' }
  /** What the sender holds: its own preferred groups (local), the other's (foreign), both or none; stable = no transition under way. */
  | { type: 'resource'; rscHold: HbRscHold; stable: boolean; full: boolean }
  /** The receiver should resend its messages firstseq..lastseq. */
  | { type: 'rexmit'; dest?: string; first: number; last: number }
  /** Flow-control ack of the receiver's messages up to ackseq (tandem does not pace on it). */
  | { type: 'ackmsg' }
  /** The sender's Heartbeat finished its shutdown and holds nothing. */
  | { type: 'shutdone' }
  /** The sender declared a node dead and tells how fencing went (informational). */
  | { type: 'stonith'; node: string; result: string };

/** The header a Heartbeat message of ours carries after its own fields; NS_ types get no seq (as in Heartbeat). */
export interface HbHeader {
  src: string;
  srcUuid: Buffer;
  seq?: number;
  generation: number;
  wallSeconds: number;
}

function hbHeader(h: HbHeader): Field[] {
  if (h.srcUuid.length !== 16) throw new RangeError(`srcuuid must be 16 bytes, got ${h.srcUuid.length}`);
  return [
    field('src', h.src),
    field('srcuuid', h.srcUuid, 1),
    ...(h.seq !== undefined ? [hexField('seq', h.seq)] : []),
    hexField('hg', h.generation),
    hexField('ts', h.wallSeconds),
    field('ttl', TTL),
  ];
}

/** A message of ours for a Heartbeat peer. */
export type HbOutgoing =
  | { type: 'repnodes'; dest: string; nodes: string[] }
  | { type: 'starting' }
  | { type: 'resource'; rscHold: HbRscHold; stable: boolean }
  | { type: 'ackmsg'; dest: string; ackseq: number }
  | { type: 'nak-rexmit'; dest: string; seq: number }
  /** Our graceful shutdown is done, every group released: a Heartbeat peer takes them at once (its T_SHUTDONE handler). */
  | { type: 'shutdone' };

/** The fields of `m`, in Heartbeat's order, then the header. */
export function buildHb(m: HbOutgoing, h: HbHeader): Field[] {
  switch (m.type) {
    case 'repnodes':
      // Heartbeat writes each name followed by a space, and one space for an empty list.
      return [field('dest', m.dest), field('t', 'repnodes'), field('nodelist', m.nodes.map((n) => `${n} `).join('')), field('delnodelist', ' '), ...hbHeader(h)];
    case 'starting':
      return [field('t', 'starting'), ...hbHeader(h)];
    case 'shutdone':
      return [field('t', 'shutdone'), ...hbHeader(h)];
    case 'resource':
      return [field('t', 'resource'), field('rsc_hold', m.rscHold), field('rtype', 'full'), field('isstable', m.stable ? '1' : '0'), ...hbHeader(h)];
    case 'ackmsg':
      return [field('t', 'NS_ackmsg'), field('dest', m.dest), hexField('ackseq', m.ackseq), ...hbHeader({ ...h, seq: undefined })];
    case 'nak-rexmit':
      return [field('t', 'NS_nak_rexmit'), field('dest', m.dest), hexField('firstseq', m.seq), ...hbHeader({ ...h, seq: undefined })];
  }
}

/**
 * A Heartbeat message other than status/ask_resources, or undefined for a
 * type tandem has no use for. Throws DecodeError('field') for a known type
 * with a malformed field.
 */
export function parseHb(type: string, fields: readonly Field[]): HbMessage | undefined {
  const dest = str(fields, 'dest');
  switch (type) {
    case 'reqnodes':
      return { type: 'reqnodes', ...(dest !== undefined ? { dest } : {}) };
    case 'starting':
      return { type: 'starting' };
    case 'resource': {
      const rscHold = str(fields, 'rsc_hold');
      if (rscHold === undefined || !RSC_HOLDS.includes(rscHold)) throw new DecodeError('field', `resource message with rsc_hold=${JSON.stringify((rscHold ?? '').slice(0, 20))}`);
      return { type: 'resource', rscHold: rscHold as HbRscHold, stable: str(fields, 'isstable') !== '0', full: str(fields, 'rtype') === 'full' };
    }
    case 'NS_rexmit': {
      const first = optionalHex(fields, 'firstseq');
      const last = optionalHex(fields, 'lastseq') ?? first;
      if (first === undefined || last === undefined) throw new DecodeError('field', 'NS_rexmit without firstseq');
      return { type: 'rexmit', ...(dest !== undefined ? { dest } : {}), first, last };
    }
    case 'NS_ackmsg':
      return { type: 'ackmsg' };
    case 'shutdone':
      return { type: 'shutdone' };
    case 'stonith':
      return { type: 'stonith', node: str(fields, 'node') ?? '', result: str(fields, 'result') ?? '' };
    default:
      return undefined;
  }
}
