// Address helpers for the network core: IPv4 as unsigned 32-bit numbers so
// subnet maths stays exact (JS bit operators are signed, hence the `>>> 0`),
// IPv6 as 16-byte buffers. Pure: no I/O.

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad IPv4; undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const m = DOTTED.exec(text);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // Leading zeros are ambiguous (octal in inet_aton), so refuse them.
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

export function formatIPv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

export function ipv4ToBuffer(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

export function bufferToIPv4(b: Uint8Array): number {
  if (b.length !== 4) throw new RangeError(`expected 4 address bytes, got ${b.length}`);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** 255.255.255.0 -> 24; undefined for a non-contiguous mask. */
export function maskToPrefix(mask: number): number | undefined {
  for (let p = 0; p <= 32; p++) if (prefixMask(p) === mask) return p;
  return undefined;
}

export function sameSubnet(a: number, b: number, prefixLen: number): boolean {
  const m = prefixMask(prefixLen);
  return ((a & m) >>> 0) === ((b & m) >>> 0);
}

/** The directed broadcast of a subnet; none for /31 and /32 (RFC 3021). */
export function broadcastOf(ip: number, prefixLen: number): number | undefined {
  if (prefixLen >= 31) return undefined;
  return (ip | ~prefixMask(prefixLen)) >>> 0;
}

// ---- IPv6 ------------------------------------------------------------------
// Addresses are 16-byte Buffers; text is RFC 5952 (lower case, longest zero
// run compressed) so one address has one spelling in logs and in the registry.

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Parses IPv6 text (with '::' and an optional dotted IPv4 tail); undefined when it is not one. */
export function parseIPv6(text: string): Buffer | undefined {
  if (text.length > 45 || text.includes('%')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (HEX_GROUP.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const n = head.length + tail.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return undefined;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

/** RFC 5952 text of a 16-byte address. */
export function formatIPv6(b: Uint8Array): string {
  if (b.length !== 16) throw new RangeError(`expected 16 address bytes, got ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

// ---- either family ---------------------------------------------------------

export type Family = 4 | 6;

export interface IpAddress {
  family: Family;
  bytes: Buffer;            // 4 or 16, network order
  text: string;             // canonical: dotted quad, or RFC 5952
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, bytes: ipv4ToBuffer(v4), text: formatIPv4(v4) };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, bytes: v6, text: formatIPv6(v6) };
  return undefined;
}

export function ipFromBytes(b: Uint8Array): IpAddress | undefined {
  if (b.length === 4) return { family: 4, bytes: Buffer.from(b), text: formatIPv4(bufferToIPv4(b)) };
  if (b.length === 16) return { family: 6, bytes: Buffer.from(b), text: formatIPv6(b) };
  return undefined;
}

/** One spelling per address: "2001:DB8:0:0:0:0:0:10" and "2001:db8::10" are the same key. */
export function canonicalIp(text: string): string | undefined {
  return parseIp(text)?.text;
}

/** Whether a and b (same length) agree in their first prefixLen bits. */
export function samePrefix(a: Uint8Array, b: Uint8Array, prefixLen: number): boolean {
  if (a.length !== b.length) return false;
  let bits = prefixLen;
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}

/** fe80::/10 */
export function isLinkLocal6(b: Uint8Array): boolean {
  return b.length === 16 && b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

/** Why an IPv6 address cannot be a service address, or undefined. */
export function unicast6Problem(b: Uint8Array): string | undefined {
  if (b[0] === 0xff) return 'is a multicast address';
  if (b.every((x) => x === 0)) return 'is the unspecified address';
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) return 'is the loopback address';
  if (isLinkLocal6(b)) return 'is a link-local address';
  return undefined;
}
