/**
 * Content codings, shared by everything that takes compressed bytes: the HTTP layer
 * (`Content-Encoding`), the write-ahead log's replay of bodies logged as they came, and the
 * `convert` command's `.gz` / `.zst` files.
 *
 * - `decompress` undoes a list of codings with the output limited (`limit` bytes): it stops as
 *   soon as the output passes the limit, so a bomb costs no more than the limit. gzip and
 *   deflate go through the platform's synchronous decoder when one is given (`Inflate`:
 *   node:zlib on servers, ./zlib.node.ts), the web `DecompressionStream` otherwise; zstd through
 *   fzstd with its frames checked first (./zstd.ts).
 * - `decompressTrusted` undoes codings of bytes already checked once (a logged body, a local
 *   file): synchronous, portable (fflate, fzstd), no limit.
 *
 * Failures are values of two classes: `CorruptDataError` (the bytes are not valid data of the
 * coding) and `SizeLimitError` (the output passes the limit); callers turn them into their own
 * answers (HTTP 400 / 413).
 */
import { Gunzip, inflateSync, unzlibSync } from "fflate";
import { decompress as zstdDecompress } from "fzstd";
import { decompressZstd } from "./zstd.ts";
import { decompressStream } from "./web.ts";

/** A content coding this project decodes (identity is no coding at all). */
export type Coding = "gzip" | "deflate" | "zstd";

/** The bytes are not valid data of their coding. */
export class CorruptDataError extends SyntaxError {
  override name = "CorruptDataError";
  constructor(readonly coding: Coding, readonly detail: string, options?: ErrorOptions) {
    super(`Cannot decompress ${coding} data: ${detail}`, options);
  }
}

/**
 * The output passed `limit` bytes, or the headers alone show it would (or that decoding would
 * cost far more than a legitimate input of the limit's size: `detail` says why then).
 */
export class SizeLimitError extends RangeError {
  override name = "SizeLimitError";
  constructor(readonly coding: Coding, readonly limit: number, readonly detail?: string) {
    super(detail ?? `Decompressed ${coding} data is larger than ${limit} bytes`);
  }
}

/**
 * A synchronous gzip / zlib / raw deflate decoder of the platform (node:zlib on servers:
 * ./zlib.node.ts): returns the decompressed bytes, throws a `RangeError` as soon as the output
 * passes `limit` bytes, any other error for corrupt data. Faster than the web
 * `DecompressionStream` for request-sized bodies (no stream machinery per call).
 */
export type Inflate = (
  data: Uint8Array,
  format: "gzip" | "deflate" | "deflate-raw",
  limit: number,
) => Uint8Array;

/** True when `data` starts with a zlib (RFC 1950) header; otherwise deflate data is raw. */
export function isZlib(data: Uint8Array): boolean {
  if (data.length < 2) return false;
  const cmf = data[0], flg = data[1];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

/** True when `data` starts with gzip's magic bytes (RFC 1952). */
export function isGzip(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** True when `data` starts with a zstd frame's magic bytes (RFC 8878). */
export function isZstd(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x28 && data[1] === 0xb5 && data[2] === 0x2f &&
    data[3] === 0xfd;
}

/**
 * Undoes `codings` (in the order they were applied: the last is undone first), each step's
 * output limited to `limit` bytes. Throws `CorruptDataError` or `SizeLimitError`.
 */
export async function decompress(
  data: Uint8Array,
  codings: readonly Coding[],
  limit: number,
  inflate?: Inflate,
): Promise<Uint8Array> {
  for (let i = codings.length - 1; i >= 0; i--) {
    const c = codings[i];
    if (data.length === 0) continue;
    data = c === "zstd"
      ? decompressZstd(data, limit)
      : inflate
      ? inflateWith(inflate, data, c, limit)
      : await decompressStream(data, c, limit);
  }
  return data;
}

function inflateWith(
  inflate: Inflate,
  data: Uint8Array,
  coding: "gzip" | "deflate",
  limit: number,
) {
  const fmt = coding === "gzip" ? "gzip" : isZlib(data) ? "deflate" : "deflate-raw";
  try {
    return inflate(data, fmt, limit);
  } catch (e) {
    if (e instanceof RangeError) throw new SizeLimitError(coding, limit);
    throw new CorruptDataError(coding, errorText(e), { cause: e });
  }
}

/**
 * Undoes `codings` of bytes that were checked once already (a body the write-ahead log kept as
 * it came, a local file): synchronous and without a limit. gzip may hold several members.
 * Throws `CorruptDataError`.
 */
export function decompressTrusted(data: Uint8Array, codings: readonly Coding[]): Uint8Array {
  for (let i = codings.length - 1; i >= 0; i--) {
    const c = codings[i];
    if (data.length === 0) continue;
    try {
      if (c === "zstd") data = zstdDecompress(data);
      else if (c === "deflate") data = isZlib(data) ? unzlibSync(data) : inflateSync(data);
      else data = gunzipMembers(data).data;
    } catch (e) {
      throw new CorruptDataError(c, errorText(e), { cause: e });
    }
  }
  return data;
}

/**
 * gzip with any number of members (the streaming decoder handles them; gunzipSync one), and
 * how many there were. Throws `SizeLimitError` as soon as the output passes `limit` (the input
 * goes in 8 KiB at a time, so no more than ~8 MiB is made past it: deflate expands ~1032× at
 * most).
 */
export function gunzipMembers(
  data: Uint8Array,
  limit = Infinity,
): { data: Uint8Array; members: number } {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let members = 1;
  const g = new Gunzip((chunk) => {
    total += chunk.length;
    if (total > limit) throw new SizeLimitError("gzip", limit);
    chunks.push(chunk);
  });
  g.onmember = () => members++;
  for (let i = 0;; i += 8192) {
    const last = i + 8192 >= data.length;
    g.push(data.subarray(i, i + 8192), last);
    if (last) break;
  }
  return { data: concat(chunks, total), members };
}

/** The chunks as one array (the chunk itself when there is one). */
export function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // fzstd's and fflate's errors carry a code and terse messages.
  return e.message || e.name;
}
