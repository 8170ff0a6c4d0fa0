/**
 * The buffer compressors of Arrow IPC files (./file.ts), by name:
 *
 *   lz4    the LZ4 frame format, from `lz4js` (plain JavaScript, so it runs everywhere; loaded
 *          on first use, as it takes a 5 MB work buffer when loaded)
 *   zstd   given by the runtime: node:zlib's `zstdCompressSync` (Deno, Bun, Node ≥ 22.15), which
 *          the server entries and the library register (./zstd.node.ts). Node 20 and Workers
 *          have none: `arrow.compression = "zstd"` is then refused when a writer is created.
 */
import type { ArrowCompression } from "./file.ts";

/** Compresses one buffer; returns the compressed bytes (a frame of the codec's format). */
export type Compress = (data: Uint8Array) => Uint8Array;

const compressors = new Map<string, Compress>();

/** Registers the compressor of `name` (the runtime's zstd). */
export function setArrowCompressor(name: Exclude<ArrowCompression, "none">, fn: Compress): void {
  compressors.set(name, fn);
}

/** The loaded compressor of `name`, if any. */
export function arrowCompressor(name: Exclude<ArrowCompression, "none">): Compress | undefined {
  return compressors.get(name);
}

/**
 * Makes the compressor of `name` ready (loads lz4js); resolves with a problem to report, or
 * null when it is ready (always for "none").
 */
export async function loadArrowCompressor(name: ArrowCompression): Promise<string | null> {
  if (name === "none" || compressors.has(name)) return null;
  if (name === "lz4") {
    const mod = await import("lz4js");
    const lz4 = ((mod as { default?: unknown }).default ?? mod) as {
      compress(src: Uint8Array): Uint8Array | number[];
    };
    compressors.set("lz4", (data) => {
      const out = lz4.compress(data);
      return out instanceof Uint8Array ? out : Uint8Array.from(out);
    });
    return null;
  }
  return 'zstd compression is not available on this runtime: it needs node:zlib\'s zstdCompressSync (Deno, Bun, Node ≥ 22.15; Node 20 and Cloudflare Workers have none): use "lz4" or "none"';
}
