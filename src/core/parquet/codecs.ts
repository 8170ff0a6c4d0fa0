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
      return z ? (data) => z(data, zstdLevel) : undefined;
    }
    default:
      return undefined;
  }
}
