/**
 * The HTTP layer's synchronous gzip / deflate decoder (`Inflate`, ../http/body.ts) over
 * node:zlib, which Deno, Bun and Node all provide: one call per body, stopped by zlib itself as
 * soon as the output passes the limit (`maxOutputLength`), so a bomb costs no more than the
 * limit. Measured on Deno 2.9 against `DecompressionStream`: 26 vs 45 µs for a 2.4 KB gzip'd
 * request, 141 vs 171 µs for 15 KB.
 */
import { gunzipSync, inflateRawSync, inflateSync } from "node:zlib";
import type { Inflate } from "../http/body.ts";

export function createInflate(): Inflate {
  return (data, format, limit) => {
    const opts = { maxOutputLength: Math.max(1, limit) };
    let out: Uint8Array;
    try {
      out = format === "gzip"
        ? gunzipSync(data, opts)
        : format === "deflate"
        ? inflateSync(data, opts)
        : inflateRawSync(data, opts);
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new RangeError(`Decompressed body is larger than ${limit} bytes`);
      }
      // Only the limit is a RangeError: anything else is corrupt data.
      throw e instanceof RangeError ? new Error(e.message) : e;
    }
    // A plain view (a Buffer's slice() does not copy, unlike Uint8Array's).
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
}
