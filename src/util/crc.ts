// Table-driven reflected CRC-32, one table per polynomial: the serial frame
// uses IEEE 802.3 (as zlib and PNG), the LevelDB log reader Castagnoli
// (CRC-32C), as LevelDB writes it.

export type Crc32 = (buf: Uint8Array, start?: number, end?: number) => number;

export function reflectedCrc32(poly: number): Crc32 {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? poly ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return (buf, start = 0, end = buf.length) => {
    let c = 0xffffffff;
    for (let i = start; i < end; i++) c = table[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
}
