// Captured Heartbeat 3.0.6 datagrams used as byte-exact vectors.
//
// capture-tcpdump-x.txt is `tcpdump -X` output (full IPv4 packets); it is parsed
// here and the packets are checked against their own IP/UDP headers and
// checksums, so a transcription slip fails loudly instead of producing a
// "vector" that only agrees with our own encoder.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AuthKeys } from '../../src/config/types.js';

const dir = fileURLToPath(new URL('../fixtures/heartbeat/', import.meta.url));

/** authkeys of the capture: `auth 1` / `1 sha1 s3cret`. */
export function captureKeys(): AuthKeys {
  return { sendIndex: 1, keys: new Map([[1, { index: 1, method: 'sha1', key: Buffer.from('s3cret') }]]) };
}

export interface DumpedPacket {
  time: string;
  from: string;
  to: string;
  ip: Buffer;       // whole IPv4 packet as dumped
  payload: Buffer;  // UDP payload, starts at "###\n"
}

function onesComplementSum(chunks: Buffer[]): number {
  let sum = 0;
  for (const b of chunks) {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Parse `tcpdump -X` text into packets, validating IPv4/UDP framing and checksums. */
export function parseTcpdumpX(text: string): DumpedPacket[] {
  const packets: DumpedPacket[] = [];
  let cur: { time: string; from: string; to: string; udpLen: number; bytes: number[] } | undefined;
  const flush = (): void => {
    if (cur === undefined) return;
    const ip = Buffer.from(cur.bytes);
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip[0]! >> 4 !== 4 || ihl !== 20) throw new Error(`${cur.time}: not a plain IPv4 header`);
    if (ip.readUInt16BE(2) !== ip.length) throw new Error(`${cur.time}: IP total length ${ip.readUInt16BE(2)} != ${ip.length} dumped bytes`);
    if (ip[9] !== 17) throw new Error(`${cur.time}: not UDP`);
    if (onesComplementSum([ip.subarray(0, ihl)]) !== 0xffff) throw new Error(`${cur.time}: IP header checksum mismatch`);
    const udp = ip.subarray(ihl);
    if (udp.readUInt16BE(2) !== 694) throw new Error(`${cur.time}: not to port 694`);
    if (udp.readUInt16BE(4) !== udp.length || udp.length - 8 !== cur.udpLen) throw new Error(`${cur.time}: UDP length mismatch`);
    const pseudo = Buffer.alloc(12);
    ip.copy(pseudo, 0, 12, 20);
    pseudo[9] = 17;
    pseudo.writeUInt16BE(udp.length, 10);
    const stored = udp.readUInt16BE(6);
    // Captured on the sending host with checksum offload, the field holds only
    // the pseudo-header partial sum (tcpdump's "incorrect cksum"); then it
    // proves nothing about the payload and the HMACs are the integrity check.
    const offloaded = stored === onesComplementSum([pseudo]);
    if (stored !== 0 && !offloaded && onesComplementSum([pseudo, udp]) !== 0xffff) {
      throw new Error(`${cur.time}: UDP checksum mismatch`);
    }
    packets.push({ time: cur.time, from: cur.from, to: cur.to, ip, payload: Buffer.from(udp.subarray(8)) });
    cur = undefined;
  };
  for (const line of text.split('\n')) {
    const head = /^(\d\d:\d\d:\d\d\.\d+) IP (\S+) > (\S+): UDP, length (\d+)$/.exec(line);
    if (head) {
      flush();
      cur = { time: head[1]!, from: head[2]!, to: head[3]!, udpLen: Number(head[4]), bytes: [] };
      continue;
    }
    const row = /^\s+0x([0-9a-f]{4}): ((?: [0-9a-f]{2,4})+)/.exec(line);
    if (row && cur) {
      if (parseInt(row[1]!, 16) !== cur.bytes.length) throw new Error(`${cur.time}: gap in dump at ${row[1]}`);
      for (const group of row[2]!.trim().split(' ')) {
        for (let i = 0; i < group.length; i += 2) cur.bytes.push(parseInt(group.slice(i, i + 2), 16));
      }
    }
  }
  flush();
  return packets;
}

export function dumpedPackets(): DumpedPacket[] {
  return parseTcpdumpX(readFileSync(dir + 'capture-tcpdump-x.txt', 'utf8'));
}

export interface RebuiltPacket {
  from: string;
  time: string;
  src: string;
  payload: Buffer;
}

/**
 * Packets rebuilt from the capture's text renderings (tcpdump -A with uuid
 * bytes as dots, or \xNN escapes). Their exactness rests on both HMACs
 * matching, which the tests check independently of the codec.
 */
export function rebuiltPackets(): RebuiltPacket[] {
  const json = JSON.parse(readFileSync(dir + 'reconstructed.json', 'utf8')) as { packets: { from: string; time: string; src: string; hex: string }[] };
  return json.packets.map((p) => ({ from: p.from, time: p.time, src: p.src, payload: Buffer.from(p.hex, 'hex') }));
}

/** Minimal independent netstring splitter for tests: [start, end) of each field body and the trailer. */
export function layout(payload: Buffer): { fields: { lenStart: number; bodyStart: number; bodyEnd: number; eq: number }[]; tailStart: number; trailer: { lenStart: number; bodyStart: number; bodyEnd: number } } {
  const fields = [];
  let pos = 4;
  while (payload[pos] !== 0x25) {
    const colon = payload.indexOf(0x3a, pos);
    const len = Number(payload.toString('latin1', pos, colon));
    const bodyStart = colon + 1;
    fields.push({ lenStart: pos, bodyStart, bodyEnd: bodyStart + len, eq: payload.indexOf(0x3d, bodyStart) });
    pos = bodyStart + len + 1;
  }
  const tailStart = pos;
  pos += 4;
  const colon = payload.indexOf(0x3a, pos);
  const len = Number(payload.toString('latin1', pos, colon));
  return { fields, tailStart, trailer: { lenStart: pos, bodyStart: colon + 1, bodyEnd: colon + 1 + len } };
}
