// Small IPv4 helpers shared by the address agent and the GARP builder.
// Addresses are handled as unsigned 32-bit numbers so subnet maths stays
// exact (JS bit operators are signed, hence the `>>> 0` everywhere).

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
