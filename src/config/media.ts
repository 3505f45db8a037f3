// The ha.cf keywords of the heartbeat paths (transport/udp.ts and
// transport/serial.ts): ucast, bcast, mcast, udpport, serial and baud. Pure;
// hacf.ts runs them through the keyword driver (keywords.ts). They live in
// src/config rather than beside the transport so that config never imports
// from the folders that import it.

import { ifaceNameProblem, isIPv4, isMulticastIPv4, parseUInt, unicastProblem } from './common.js';
import type { AddIssue, KeywordTable, Settings } from './keywords.js';
import { SERIAL_BAUD_RATES, type BaudRate, type Medium, type SerialMedium } from './types.js';

export const DEFAULT_UDPPORT = 694;
export const DEFAULT_BAUD: BaudRate = 19200;

/** What the media lines of one ha.cf say so far. */
export interface MediaState {
  add: AddIssue;
  settings: Settings;       // udpport and baud, once per file
  media: Medium[];          // UDP media, in file order; ports filled in at the end
  serial: SerialMedium[];
  /** Set by any media line, valid or not: when all are invalid, their own errors say enough. */
  sawMediaLine: boolean;
  firstPortMediumLine?: number;
  firstSerialLine?: number;
}

export function newMediaState(add: AddIssue, settings: Settings): MediaState {
  return { add, settings, media: [], serial: [], sawMediaLine: false };
}

export const MEDIA_KEYWORDS: KeywordTable<MediaState> = [
  {
    name: 'ucast',
    apply(s, { args, line }) {
      s.sawMediaLine = true;
      if (args.length !== 2) {
        s.add(line, `'ucast' takes an interface and a peer IPv4 address (ucast IF IP), got ${args.length} values`);
        return;
      }
      const [iface = '', peer = ''] = args;
      s.firstPortMediumLine ??= line;
      const ifOk = checkIface(s.add, line, 'ucast', iface);
      if (!isIPv4(peer)) {
        s.add(line, `'ucast' peer '${peer}' is not an IPv4 address`);
        return;
      }
      const bad = unicastProblem(peer);
      if (bad) {
        s.add(line, `'ucast' peer ${peer} ${bad}; use the peer's own address`);
        return;
      }
      if (ifOk) addMedium(s, { kind: 'ucast', iface, peer, port: DEFAULT_UDPPORT, line });
    },
  },
  {
    name: 'bcast',
    apply(s, { args, line }) {
      s.sawMediaLine = true;
      if (args.length === 0) {
        s.add(line, `'bcast' needs at least one interface name`);
        return;
      }
      s.firstPortMediumLine ??= line;
      for (const iface of args) {
        if (checkIface(s.add, line, 'bcast', iface)) addMedium(s, { kind: 'bcast', iface, port: DEFAULT_UDPPORT, line });
      }
    },
  },
  {
    name: 'mcast',
    apply(s, { args, line }) {
      s.sawMediaLine = true;
      if (args.length !== 5) {
        s.add(line, `'mcast' takes 5 values (mcast IF GROUP PORT TTL LOOP, e.g. mcast eth0 239.0.0.1 694 1 0), got ${args.length}`);
        return;
      }
      const [iface = '', group = '', portS = '', ttlS = '', loopS = ''] = args;
      let ok = checkIface(s.add, line, 'mcast', iface);
      if (!isIPv4(group) || !isMulticastIPv4(group)) {
        s.add(line, `'mcast' group '${group}' is not an IPv4 multicast address (224.0.0.0/4)`);
        ok = false;
      }
      const port = parseUInt(portS);
      if (port === undefined || port < 1 || port > 65535) {
        s.add(line, `'mcast' port '${portS}' must be a number from 1 to 65535`);
        ok = false;
      }
      const ttl = parseUInt(ttlS);
      if (ttl === undefined || ttl < 1 || ttl > 255) {
        s.add(line, `'mcast' ttl '${ttlS}' must be a number from 1 to 255`);
        ok = false;
      }
      if (loopS !== '0' && loopS !== '1') {
        s.add(line, `'mcast' loop '${loopS}' must be 0 or 1`);
        ok = false;
      }
      if (ok && port !== undefined && ttl !== undefined) {
        addMedium(s, { kind: 'mcast', iface, group, port, ttl, loop: loopS === '1', line });
      }
    },
  },
  {
    name: 'udpport',
    one: 'a UDP port',
    apply(s, { line }, v) {
      const port = parseUInt(v);
      if (port === undefined || port < 1 || port > 65535) {
        s.add(line, `'udpport' '${v}' must be a number from 1 to 65535`);
        return;
      }
      // In Heartbeat the port is read when each bcast/ucast line is parsed,
      // so a later udpport leaves earlier media on the old port. tandem
      // refuses the ambiguous order instead of reproducing that trap.
      if (s.firstPortMediumLine !== undefined) {
        s.add(
          line,
          `'udpport' must precede media statements (bcast/ucast at line ${s.firstPortMediumLine} would not use it); move it above them`,
        );
        return;
      }
      s.settings.set('udpport', line, port);
    },
  },
  {
    name: 'baud',
    one: `a bit rate: ${SERIAL_BAUD_RATES.join(', ')}`,
    apply(s, { line }, v) {
      const rate = parseUInt(v);
      if (rate === undefined || !(SERIAL_BAUD_RATES as readonly number[]).includes(rate)) {
        s.add(line, `'baud' must be one of ${SERIAL_BAUD_RATES.join(', ')} (got '${v}')`);
        return;
      }
      // Heartbeat applies baud to the serial lines that follow it, so a
      // later baud silently leaves earlier lines at the old rate; refuse
      // that order instead of reproducing it (same rule as udpport).
      if (s.firstSerialLine !== undefined) {
        s.add(
          line,
          `'baud' must precede the serial lines it applies to (serial at line ${s.firstSerialLine} would not use it); move it above them`,
        );
        return;
      }
      s.settings.set('baud', line, rate as BaudRate);
    },
  },
  {
    name: 'serial',
    apply(s, { args, line }) {
      s.sawMediaLine = true;
      if (args.length === 0) {
        s.add(line, `'serial' needs at least one device, e.g. 'serial /dev/ttyS0'`);
        return;
      }
      s.firstSerialLine ??= line;
      const baud = s.settings.get<BaudRate>('baud')?.value ?? DEFAULT_BAUD;
      for (const device of args) {
        if (!device.startsWith('/')) {
          s.add(line, `'serial' device '${device}' must be an absolute path, e.g. /dev/${device}`);
          continue;
        }
        const same = s.serial.find((o) => o.device === device);
        if (same) {
          s.add(line, `duplicate medium 'serial ${device}' (already at line ${same.line})`);
          continue;
        }
        s.serial.push({ kind: 'serial', device, baud, line });
      }
    },
  },
];

/** The UDP media with the file's port (udpport is known to precede every bcast/ucast line by then). */
export function mediaWithPort(s: MediaState): Medium[] {
  const udpport = s.settings.get<number>('udpport')?.value ?? DEFAULT_UDPPORT;
  return s.media.map((m) => (m.kind === 'mcast' ? m : { ...m, port: udpport }));
}

function addMedium(s: MediaState, m: Medium): void {
  const same = s.media.find((o) => mediumKey(o) === mediumKey(m));
  if (same) {
    s.add(m.line, `duplicate medium '${mediumKey(m)}' (already at line ${same.line})`);
    return;
  }
  s.media.push(m);
}

function checkIface(add: AddIssue, line: number, directive: string, iface: string): boolean {
  const problem = ifaceNameProblem(iface);
  if (problem) add(line, `'${directive}' interface name '${iface}' ${problem}`);
  return problem === undefined;
}

function mediumKey(m: Medium): string {
  switch (m.kind) {
    case 'ucast':
      return `ucast ${m.iface} ${m.peer}`;
    case 'bcast':
      return `bcast ${m.iface}`;
    case 'mcast':
      return `mcast ${m.iface} ${m.group} ${m.port}`;
  }
}
