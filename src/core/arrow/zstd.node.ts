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
  const oneShot = (data: Uint8Array, lvl: number): Uint8Array => {
    const params: Record<number, number> = {};
    if (level !== undefined) params[level] = lvl;
    const n = data.length;
    const out = compress(data, { params, pledgedSrcSize: n });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
  const contexts = new Map<number, ZstdContext | null>();
  setParquetZstd((data, lvl) => {
    let ctx = contexts.get(lvl);
    if (ctx === undefined) contexts.set(lvl, ctx = zstdContext(z, lvl));
    const out = ctx?.compress(data);
    return out ?? oneShot(data, lvl);
  });
  return true;
}

/** A zstd compression context kept for the next page: `compress` gives `null` when it cannot. */
interface ZstdContext {
  compress(data: Uint8Array): Uint8Array | null;
}

/** The internals of a node:zlib stream that `zstdContext` drives (Deno, Bun and Node alike). */
interface ZstdStream {
  _handle: {
    reset(): void;
    writeSync(
      flush: number,
      input: Uint8Array,
      inOff: number,
      inLen: number,
      out: Uint8Array,
      outOff: number,
      outLen: number,
    ): void;
  };
  _writeState: Uint32Array;
}

/**
 * One zstd context for level `lvl`, reset between pages, or `null` where this runtime's
 * node:zlib does not expose what it needs (checked by a round trip).
 *
 * `zstdCompressSync` builds a stream and a compression context per call (about 15 µs however
 * small the page, with a few hundred pages in a small metrics file); a kept context costs about
 * 1 µs. Without a pledged size (set only when a context is made) zstd takes its parameters for
 * large inputs, which compress our pages about 19% worse at level 1; a minimum match of 5 (the
 * small-input value) gives back that size (measured on the metrics tables' pages: 347,483 B
 * against 349,685 B one call each with the size pledged). Frames made so do not record their
 * content size, which Parquet readers do not need (the page header has it).
 */
function zstdContext(z: ZstdZlib, lvl: number): ZstdContext | null {
  const C = z.constants;
  const Stream = (zlib as unknown as {
    ZstdCompress?: new (o: { params: Record<number, number> }) => ZstdStream;
  }).ZstdCompress;
  const end = C.ZSTD_e_end, levelKey = C.ZSTD_c_compressionLevel, minMatch = C.ZSTD_c_minMatch;
  if (typeof Stream !== "function" || end === undefined || levelKey === undefined) return null;
  let ctx: ZstdContext;
  try {
    const params: Record<number, number> = { [levelKey]: lvl };
    if (lvl <= 2 && minMatch !== undefined) params[minMatch] = 5;
    const s = new Stream({ params });
    const h = s._handle, state = s._writeState;
    if (typeof h?.writeSync !== "function" || typeof h.reset !== "function") return null;
    if (!(state instanceof Uint32Array) || state.length < 2) return null;
    let out = new Uint8Array(1 << 16);
    ctx = {
      compress(data) {
        const n = data.length;
        // ZSTD_compressBound, with room to spare.
        const bound = n + (n >>> 7) + 512;
        if (out.length < bound) out = new Uint8Array(Math.max(bound, 2 * out.length));
        try {
          h.reset();
          h.writeSync(end, data, 0, n, out, 0, out.length);
        } catch {
          return null;
        }
        // state: [output room left, input left]; the frame is done when all input went in
        // and room is left (a full buffer might hold an unfinished frame).
        const left = state[0];
        if (state[1] !== 0 || left === 0) return null;
        return out.slice(0, out.length - left);
      },
    };
    const probe = new TextEncoder().encode("otlp2parquet zstd probe ".repeat(64));
    const packed = ctx.compress(probe);
    if (packed === null) return null;
    const back = zlib.zstdDecompressSync?.(packed);
    if (!back || back.length !== probe.length || !back.every((b, i) => b === probe[i])) return null;
  } catch {
    return null;
  }
  return ctx;
}
