/**
 * A Snappy compressor in plain TypeScript (runs everywhere, Workers included): the raw Snappy
 * format Parquet's SNAPPY codec uses (no framing), https://github.com/google/snappy/blob/main/format_description.txt.
 *
 * Greedy matching over a 16K-entry hash of 4-byte sequences, in blocks of 64 KiB as the
 * reference does (so every copy offset fits two bytes); misses speed up the scan over
 * incompressible input.
 */

const HASH_BITS = 14;
const BLOCK = 1 << 16;
const table = new Int32Array(1 << HASH_BITS);

export function snappyCompress(src: Uint8Array): Uint8Array {
  const n = src.length;
  const out = new Uint8Array(32 + n + Math.floor(n / 6));
  let op = 0;
  for (let v = n;; v >>>= 7) {
    if (v < 0x80) {
      out[op++] = v;
      break;
    }
    out[op++] = (v & 0x7f) | 0x80;
  }
  for (let s = 0; s < n; s += BLOCK) op = block(src, s, Math.min(n, s + BLOCK), out, op);
  return out.subarray(0, op);
}

function read32(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

function block(src: Uint8Array, start: number, end: number, out: Uint8Array, op: number): number {
  let lit = start;
  if (end - start >= 15) {
    table.fill(0);
    const limit = end - 4;
    let ip = start, misses = 32;
    while (ip <= limit) {
      const v = read32(src, ip);
      const h = Math.imul(v, 0x1e35a7bd) >>> (32 - HASH_BITS);
      const cand = table[h] - 1;
      table[h] = ip + 1;
      if (cand >= start && read32(src, cand) === v) {
        let len = 4;
        while (ip + len < end && src[cand + len] === src[ip + len]) len++;
        op = literal(src, lit, ip, out, op);
        op = copy(ip - cand, len, out, op);
        ip += len;
        lit = ip;
        misses = 32;
      } else {
        ip += misses++ >> 5;
      }
    }
  }
  return literal(src, lit, end, out, op);
}

function literal(src: Uint8Array, s: number, e: number, out: Uint8Array, op: number): number {
  const len = e - s;
  if (len === 0) return op;
  const n = len - 1;
  if (n < 60) out[op++] = n << 2;
  else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else if (n < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  } else if (n < 0x1000000) {
    out[op++] = 62 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = n >>> 16;
  } else {
    out[op++] = 63 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = (n >>> 16) & 0xff;
    out[op++] = n >>> 24;
  }
  if (len > 32) out.set(src.subarray(s, e), op);
  else for (let i = 0; i < len; i++) out[op + i] = src[s + i];
  return op + len;
}

function copy(offset: number, len: number, out: Uint8Array, op: number): number {
  while (len >= 68) {
    op = copy2(offset, 64, out, op);
    len -= 64;
  }
  if (len > 64) {
    op = copy2(offset, 60, out, op);
    len -= 60;
  }
  if (len < 12 && offset < 2048) {
    out[op++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 0xff;
    return op;
  }
  return copy2(offset, len, out, op);
}

function copy2(offset: number, len: number, out: Uint8Array, op: number): number {
  out[op++] = 2 | ((len - 1) << 2);
  out[op++] = offset & 0xff;
  out[op++] = offset >>> 8;
  return op;
}
