// The engine's heartbeats as bytes: what a `send` action becomes on the
// wire, and what a datagram becomes as an engine event. Pure (codec and
// HMAC, no sockets), so the daemon and the simulator run the same code: the
// simulator's nodes exchange these bytes, and the codec and authentication
// run under every simulated fault (issue 12).

import type { AuthKeys } from '../config/types.js';
import { decode, encode, str } from '../heartbeat/codec.js';
import { buildAskResources, buildHb, buildStatus, parseAskResources, parseHb, parseHeader, parseStatus, type HbOutgoing } from '../heartbeat/messages.js';
import { DecodeError, type Field } from '../heartbeat/types.js';
import type { PeerReport } from '../membership/machine.js';
import { parseQuorumFields } from '../quorum/report.js';
import type { EngineAction, EngineEvent, OutgoingStatus } from './engine.js';

export interface Sender {
  node: string;
  uuid: Buffer;
  generation: number;
  deadtimeMs: number;
  authkeys: AuthKeys;
}

/**
 * A message built once for every path. Its plain encoding is made only when
 * a path sends it as it is; a path that adds its own field (the echo, see
 * src/daemon/paths.ts) signs its variant straight from the fields, so no
 * path decodes or signs the message twice.
 */
export class OutgoingDatagram {
  private plain?: Buffer;

  constructor(
    readonly fields: readonly Field[],
    private readonly keys: AuthKeys,
    /** Set for a status heartbeat: what a path's echo bookkeeping needs. */
    readonly status?: { generation: number; seq: number },
  ) {}

  get bytes(): Buffer {
    return (this.plain ??= encode(this.fields, this.keys));
  }

  /** The message with `extra` placed before `src` (where tandem's per-path fields go), signed. */
  with(extra: Field): Buffer {
    const at = this.fields.findIndex((f) => f.name === 'src');
    const out = this.fields.slice();
    out.splice(at < 0 ? out.length : at, 0, extra);
    return encode(out, this.keys);
  }
}

/** One status heartbeat for every path. */
export function statusDatagram(s: OutgoingStatus, from: Sender, wallSeconds: number): OutgoingDatagram {
  const fields = buildStatus({
    status: s.status, deadtimeMs: from.deadtimeMs, src: from.node, srcUuid: from.uuid,
    seq: s.seq, generation: from.generation, wallSeconds,
    hold: s.hold, yielding: s.yielding, failed: s.failed, standby: s.standby, hears: s.hears,
    ...(s.stopFailed?.length ? { stopFailed: s.stopFailed } : {}),
    ...(s.hearsSeq !== undefined ? { hearsSeq: s.hearsSeq } : {}),
    ...(s.extra ? { extra: s.extra } : {}),
  });
  return new OutgoingDatagram(fields, from.authkeys, { generation: from.generation, seq: s.seq });
}

/** One status heartbeat, encoded and signed. */
export function encodeStatus(s: OutgoingStatus, from: Sender, wallSeconds: number): Buffer {
  return encode(buildStatus({
    status: s.status, deadtimeMs: from.deadtimeMs, src: from.node, srcUuid: from.uuid,
    seq: s.seq, generation: from.generation, wallSeconds,
    hold: s.hold, yielding: s.yielding, failed: s.failed, standby: s.standby, hears: s.hears,
    ...(s.stopFailed?.length ? { stopFailed: s.stopFailed } : {}),
    ...(s.hearsSeq !== undefined ? { hearsSeq: s.hearsSeq } : {}),
    ...(s.extra ? { extra: s.extra } : {}),
  }), from.authkeys);
}

/** Heartbeat's hb_standby/hb_takeover message (t=ask_resources), numbered in the heartbeat sequence. */
export function askDatagram(a: Extract<EngineAction, { kind: 'ask' }>, from: Sender, wallSeconds: number): OutgoingDatagram {
  return new OutgoingDatagram(buildAskResources({
    rscHold: a.rscHold, info: a.info, src: from.node, srcUuid: from.uuid, seq: a.seq, generation: from.generation, wallSeconds,
  }), from.authkeys);
}

/** A Heartbeat message of ours (repnodes, starting, resource, NS_ackmsg, NS_nak_rexmit) for a Heartbeat peer. */
export function hbDatagram(m: HbOutgoing, seq: number | undefined, from: Sender, wallSeconds: number): OutgoingDatagram {
  return new OutgoingDatagram(buildHb(m, {
    src: from.node, srcUuid: from.uuid, ...(seq !== undefined ? { seq } : {}), generation: from.generation, wallSeconds,
  }), from.authkeys);
}

export interface Receiver {
  node: string;
  authkeys: AuthKeys;
  /** Read tg_ping/tg_hears (only with quorum configured, as they are only sent then). */
  quorum: boolean;
}

export type Received =
  | { kind: 'heard'; event: Extract<EngineEvent, { kind: 'heard' }>; fields: Field[] }
  /** An authenticated t=ask_resources; the engine checks it against replays and its values. */
  | { kind: 'ask'; event: Extract<EngineEvent, { kind: 'ask-heard' }> }
  /** An authenticated Heartbeat message of the kinds a Heartbeat peer sends (messages.ts HbMessage), for this node or all. */
  | { kind: 'hb'; event: Extract<EngineEvent, { kind: 'hb-heard' }> }
  /** auth: no key or a wrong digest; malformed: not a message; ignored: not a status; own: names this node as its sender. */
  | { kind: 'drop'; reason: 'auth' | 'malformed' | 'ignored' | 'own'; error?: DecodeError };

/**
 * A datagram as the engine's `heard` event, or why it is dropped. `wallS`
 * is this node's wall clock in seconds (the generation bound's input).
 */
export function readDatagram(buf: Buffer, path: string, to: Receiver, wallS: number): Received {
  let fields: Field[];
  try {
    fields = decode(buf, to.authkeys);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { kind: 'drop', reason: e.reason === 'auth' || e.reason === 'auth-index' ? 'auth' : 'malformed', error: e };
  }
  try {
    const header = parseHeader(fields);
    if (header.src === to.node) return { kind: 'drop', reason: 'own' };
    if (header.type === 'ask_resources' && header.seq !== undefined && header.generation !== undefined) {
      const q = parseAskResources(fields);
      return { kind: 'ask', event: { kind: 'ask-heard', src: header.src, generation: header.generation, seq: header.seq, rscHold: q.rscHold, info: q.info } };
    }
    if (header.type !== 'status' && header.generation !== undefined) {
      // Messages addressed to a third node (or Heartbeat's acks of its own) are not ours to act on.
      if (header.dest !== undefined && header.dest !== to.node) return { kind: 'drop', reason: 'ignored' };
      const msg = parseHb(header.type, fields);
      if (!msg || msg.type === 'ackmsg') return { kind: 'drop', reason: 'ignored' };
      return { kind: 'hb', event: { kind: 'hb-heard', src: header.src, generation: header.generation, ...(header.seq !== undefined ? { seq: header.seq } : {}), msg } };
    }
    if (header.type !== 'status' || header.seq === undefined || header.generation === undefined) return { kind: 'drop', reason: 'ignored' };
    const st = parseStatus(fields);
    const report: PeerReport = {
      status: st.status, hold: st.hold, yielding: st.yielding, failed: st.failed,
      ...(st.hearsGeneration !== undefined ? { hearsGeneration: st.hearsGeneration } : {}),
      ...(st.hearsSeq !== undefined ? { hearsSeq: st.hearsSeq } : {}),
      ...(st.deadtimeMs !== undefined ? { deadtimeMs: st.deadtimeMs } : {}),
      ...(st.standby !== undefined ? { standby: st.standby } : {}),
      // Every tandem status carries tg_hold (empty or not); a Heartbeat node's never does.
      ...(fields.some((f) => f.name === 'tg_hold') ? {} : { heartbeat: true as const }),
      ...(st.stopFailed !== undefined ? { stopFailed: st.stopFailed } : {}),
    };
    if (to.quorum) {
      const qr = parseQuorumFields((name) => str(fields, name));
      if (qr.reach) report.reach = qr.reach;
      if (qr.hearsPeer !== undefined) report.hearsMe = qr.hearsPeer;
      if (qr.ipfailYields) report.ipfailYields = qr.ipfailYields;
    }
    return {
      kind: 'heard', fields,
      event: { kind: 'heard', path, src: header.src, generation: header.generation, seq: header.seq, wallS, report },
    };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { kind: 'drop', reason: 'malformed', error: e };
  }
}
