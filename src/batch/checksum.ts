/**
 * Checksums for the write-ahead log: CRC-32 (IEEE 802.3, the zlib/PNG polynomial) to detect a
 * torn or corrupted record, and a 64-bit FNV-1a hash for deterministic file ids.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `data[start, end)`; `crc32(new TextEncoder().encode("123456789")) === 0xcbf43926`. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a over `parts` (strings as UTF-8, numbers as 8 little-endian bytes), as 16 hex chars. */
export function hash64Hex(...parts: (string | number | Uint8Array)[]): string {
  let h = FNV_OFFSET;
  const step = (b: number) => {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  };
  const enc = new TextEncoder();
  for (const p of parts) {
    const bytes = typeof p === "string"
      ? enc.encode(p)
      : typeof p === "number"
      ? numberBytes(p)
      : p;
    for (const b of bytes) step(b);
    step(0xff); // separator: ("ab","c") and ("a","bc") hash differently
  }
  return h.toString(16).padStart(16, "0");
}

function numberBytes(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n, true);
  return b;
}
