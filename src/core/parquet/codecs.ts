/**
 * Page compressors of the native Parquet encoder (./writer.ts), by codec:
 *
 *   zstd    given by the runtime: node:zlib's `zstdCompressSync` (Deno, Bun, Node ≥ 22.15),
 *           which the server entries and the library register (../arrow/zstd.node.ts). Node 20
 *           and Workers have none: there `parquet.encoder = "auto"` uses parquet-wasm.
 *   snappy  ./snappy.ts (plain TypeScript, runs everywhere)
 *   gzip    fflate's `gzipSync` (plain JavaScript, level 6 as parquet-wasm)
 *   none    no compressor
 *
 * lz4_raw has no native compressor: that codec is always written by parquet-wasm.
 */
import { gzipSync } from "fflate";
import { snappyCompress } from "./snappy.ts";
import type { PageCompress } from "./writer.ts";

/** zstd of `data` at `level` (a zstd frame). */
export type ZstdCompress = (data: Uint8Array, level: number) => Uint8Array;

let zstd: ZstdCompress | null = null;

/** Registers the runtime's zstd (../arrow/zstd.node.ts does, where node:zlib has it). */
export function setParquetZstd(fn: ZstdCompress | null): void {
  zstd = fn;
}

/** Default `parquet.zstd_level`: files within 1% of parquet-wasm's (which uses level 1). */
export const DEFAULT_ZSTD_LEVEL = 1;

/**
 * The page compressor of `codec`: `null` for "none", `undefined` when this runtime has none
 * for it (then parquet-wasm writes the file).
 */
export function pageCompressor(
  codec: string,
  zstdLevel = DEFAULT_ZSTD_LEVEL,
): PageCompress | null | undefined {
  switch (codec) {
    case "none":
      return null;
    case "snappy":
      return snappyCompress;
    case "gzip":
      return (data) => gzipSync(data, { level: 6 });
    case "zstd": {
      const z = zstd;
      return z
        ? (data) => data.length <= RAW_FRAME_MAX ? zstdRawFrame(data) : z(data, zstdLevel)
        : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Pages up to this many bytes are written as a zstd frame of one raw (stored) block, without
 * calling zstd: it cannot make them smaller (its frame of so few bytes is a raw block or a
 * little larger), and each call costs ~13 µs however small the input (a compression context per
 * call), which is a sixth of the CPU time of a small metrics file's pages.
 */
export const RAW_FRAME_MAX = 128;

/**
 * `data` (at most 255 bytes) as a zstd frame (RFC 8878 §3.1.1) holding one raw block: magic,
 * a frame header descriptor with Single_Segment set and a 1-byte Frame_Content_Size, the block
 * header (Last_Block, Raw_Block, Block_Size), then the bytes themselves.
 */
export function zstdRawFrame(data: Uint8Array): Uint8Array {
  const n = data.length;
  if (n > 255) throw new RangeError(`internal: a raw zstd frame of ${n} bytes (at most 255)`);
  const out = new Uint8Array(9 + n);
  out[0] = 0x28;
  out[1] = 0xb5;
  out[2] = 0x2f;
  out[3] = 0xfd;
  out[4] = 0x20; // Single_Segment_flag; Frame_Content_Size_flag 0 → 1 byte; no checksum, dict
  out[5] = n;
  const block = 1 | (n << 3); // Last_Block = 1, Block_Type = 0 (Raw_Block), Block_Size = n
  out[6] = block & 0xff;
  out[7] = (block >>> 8) & 0xff;
  out[8] = (block >>> 16) & 0xff;
  out.set(data, 9);
  return out;
}
