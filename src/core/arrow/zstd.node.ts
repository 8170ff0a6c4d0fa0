/**
 * The runtime's zstd for Arrow IPC buffers (./codecs.ts) and for the native Parquet encoder's
 * pages (../parquet/codecs.ts): node:zlib's `zstdCompressSync`, which Deno 2.9, Bun 1.4 and
 * Node ≥ 22.15 have and Node 20 does not. Arrow: level 3 (zstd's default). Parquet: the level
 * asked for, the input size pledged (the `pledgedSrcSize` option; `constants` has no
 * ZSTD_c_pledgedSrcSize), without which Deno compresses small pages much worse.
 */
import * as zlib from "node:zlib";
import { setArrowCompressor } from "./codecs.ts";
import { setParquetZstd } from "../parquet/codecs.ts";

interface ZstdZlib {
  zstdCompressSync?: (
    data: Uint8Array,
    opts?: { params?: Record<number, number>; pledgedSrcSize?: number; chunkSize?: number },
  ) => Uint8Array;
  constants: Record<string, number>;
}

/**
 * Registers node:zlib's zstd for Arrow IPC files and for the native Parquet encoder's pages
 * (at the level it asks for); returns whether this runtime has it.
 */
export function useNodeZstd(): boolean {
  const z = zlib as unknown as ZstdZlib;
  const compress = z.zstdCompressSync;
  if (typeof compress !== "function") return false;
  const level = z.constants.ZSTD_c_compressionLevel;
  setArrowCompressor("zstd", (data) => {
    const params: Record<number, number> = {};
    if (level !== undefined) params[level] = 3;
    // No pledged size here: a frame that records its content size comes out of fzstd as a
    // view apache-arrow cannot use for 64-bit columns (unaligned), see tests/core/arrow/file.test.ts.
    const out = compress(data, { params });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  });
  useNodeParquetZstd();
  return true;
}

/** Registers node:zlib's zstd for the native Parquet encoder only; returns whether it exists. */
export function useNodeParquetZstd(): boolean {
  const z = zlib as unknown as ZstdZlib;
  const compress = z.zstdCompressSync;
  if (typeof compress !== "function") return false;
  const level = z.constants.ZSTD_c_compressionLevel;
  setParquetZstd((data, lvl) => {
    const params: Record<number, number> = {};
    if (level !== undefined) params[level] = lvl;
    // A small page gets an output buffer of about its own size instead of node:zlib's 16 KiB
    // chunk (less to allocate and collect per call; most pages are small).
    const n = data.length;
    const out = n <= 1 << 16
      ? compress(data, { params, pledgedSrcSize: n, chunkSize: Math.max(64, n + (n >> 7) + 128) })
      : compress(data, { params, pledgedSrcSize: n });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  });
  return true;
}
