/**
 * Request bodies: content type → format, reading with a size limit, and decompression that
 * stops as soon as the output passes the limit (a gzip or zstd bomb costs nothing).
 *
 * Limits (`server.max_payload_bytes`) apply twice: to the bytes on the wire (rejected early on
 * `Content-Length`, and counted while streaming, never buffering more than the limit) and to
 * the decompressed body, counted while decompressing.
 *
 * Failures are `HTTPException`s: 413 too large, 415 unsupported type or encoding, 400 corrupt
 * compressed data.
 */
import { Decompress, decompress as zstdDecompressFrame } from "fzstd";
import { HTTPException } from "hono/http-exception";
import type { Format } from "../core/otlp/types.ts";

export type Encoding = "gzip" | "deflate" | "zstd" | "identity";

const SUPPORTED_TYPES =
  "application/x-protobuf, application/protobuf, application/json, application/x-ndjson, application/jsonl";

/**
 * The format a `Content-Type` names; `null` when the header is missing or empty (the caller
 * sniffs the body). Throws 415 for any other type.
 */
export function formatOfContentType(header: string | null | undefined): Format | null {
  if (header == null) return null;
  const mime = header.split(";", 1)[0].trim().toLowerCase();
  switch (mime) {
    case "":
      return null;
    case "application/x-protobuf":
    case "application/protobuf":
      return "protobuf";
    case "application/json":
      return "json";
    case "application/x-ndjson":
    case "application/jsonl":
    case "application/json-lines":
    case "application/jsonlines":
      return "jsonl";
    default:
      throw new HTTPException(415, {
        message: `Unsupported Content-Type ${
          JSON.stringify(header)
        }: use one of ${SUPPORTED_TYPES}`,
      });
  }
}

/**
 * The encodings a `Content-Encoding` header lists, in the order they were applied (decode them
 * in reverse). Identity entries are dropped. Throws 415 for anything else.
 */
export function parseContentEncoding(
  header: string | null | undefined,
): Exclude<Encoding, "identity">[] {
  if (!header) return [];
  const out: Exclude<Encoding, "identity">[] = [];
  for (const part of header.split(",")) {
    const e = part.trim().toLowerCase();
    if (e === "" || e === "identity") continue;
    if (e === "gzip" || e === "x-gzip") out.push("gzip");
    // "zlib" is what the OpenTelemetry Collector sends for `compression: zlib` (zlib-wrapped deflate).
    else if (e === "deflate" || e === "zlib") out.push("deflate");
    else if (e === "zstd") out.push("zstd");
    else {
      throw new HTTPException(415, {
        message: `Unsupported Content-Encoding ${
          JSON.stringify(part.trim())
        }: use gzip, deflate, zstd or identity`,
      });
    }
  }
  return out;
}

function tooLarge(message: string): HTTPException {
  return new HTTPException(413, { message });
}

const bodyTooLarge = (limit: number) =>
  `Request body is larger than the limit of ${limit} bytes (server.max_payload_bytes)`;

/**
 * Bodies a runtime entry read before handing the request to the app (its `Content-Length`
 * bytes, within the limit), by request. On Node the web `Request` body (a stream over the
 * socket's stream) costs about 100 µs per request; src/entry/platform.ts reads the bytes from
 * the socket itself and leaves them here, and `readBody` takes them without touching `req.body`.
 */
export const preReadBodies: WeakMap<Request, Uint8Array> = new WeakMap();

/**
 * The request body, at most `limit` bytes: 413 straight away when `Content-Length` says more,
 * and as soon as the streamed bytes pass it (the rest is not read).
 */
export async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const pre = preReadBodies.get(req);
  if (pre !== undefined) {
    preReadBodies.delete(req);
    if (pre.length > limit) throw tooLarge(bodyTooLarge(limit));
    return pre;
  }
  const headers = req.headers;
  const declared = headers.get("content-length");
  const length = declared !== null && /^\s*\d+\s*$/.test(declared) ? Number(declared) : -1;
  if (length > limit) {
    // Do not read it; cancelling tells the runtime the rest is not wanted.
    await req.body?.cancel().catch(() => {});
    throw tooLarge(
      `Request body of ${length} bytes is larger than the limit of ${limit} bytes (server.max_payload_bytes)`,
    );
  }
  if (!req.body) return new Uint8Array(0);
  if (length >= 0 && !headers.has("transfer-encoding")) {
    // The HTTP framing holds the body to its declared length (within the limit): read it in one
    // go, which runtimes do natively (Deno: one op), without a JS stream read per chunk.
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.length > limit) throw tooLarge(bodyTooLarge(limit));
    return bytes;
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(bodyTooLarge(limit));
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concat(chunks, total);
}

/**
 * A synchronous gzip / zlib / raw deflate decoder of the platform (node:zlib on servers, see
 * ../codec/zlib.node.ts): returns the decompressed bytes, throws a `RangeError` as soon as the
 * output passes `limit` bytes, any other error for corrupt data. Faster than the web
 * `DecompressionStream` for request-sized bodies (no stream machinery per request).
 */
export type Inflate = (
  data: Uint8Array,
  format: "gzip" | "deflate" | "deflate-raw",
  limit: number,
) => Uint8Array;

/**
 * Undoes `encodings` (as `parseContentEncoding` returned them), each step limited to `limit`
 * output bytes: 413 as soon as the output passes it, 400 for corrupt data. gzip and deflate go
 * through `inflate` when given, the web `DecompressionStream` otherwise.
 */
export async function decodeContent(
  body: Uint8Array,
  encodings: readonly Encoding[],
  limit: number,
  inflate?: Inflate,
): Promise<Uint8Array> {
  let data = body;
  for (let i = encodings.length - 1; i >= 0; i--) {
    const e = encodings[i];
    if (e === "identity" || data.length === 0) continue;
    data = e === "zstd"
      ? decompressZstd(data, limit)
      : inflate
      ? inflateWith(inflate, data, e, limit)
      : await decompressStream(data, e, limit);
  }
  return data;
}

function inflateWith(
  inflate: Inflate,
  data: Uint8Array,
  encoding: "gzip" | "deflate",
  limit: number,
): Uint8Array {
  const fmt = encoding === "gzip" ? "gzip" : isZlib(data) ? "deflate" : "deflate-raw";
  try {
    return inflate(data, fmt, limit);
  } catch (e) {
    if (e instanceof RangeError) throw tooLargeDecompressed(encoding, limit);
    throw new HTTPException(400, {
      message: `Cannot decompress ${encoding} body: ${e instanceof Error ? e.message : String(e)}`,
      cause: e,
    });
  }
}

function tooLargeDecompressed(encoding: string, limit: number): HTTPException {
  return tooLarge(
    `Decompressed ${encoding} body is larger than the limit of ${limit} bytes (server.max_payload_bytes)`,
  );
}

/** Input bytes handed to DecompressionStream at a time: deflate expands at most ~1032×, so the
 * output of one write is bounded (~8 MiB) and the limit check comes soon enough. */
const INFLATE_INPUT_CHUNK = 8192;

/** True when `data` starts with a zlib (RFC 1950) header; otherwise it is raw deflate. */
export function isZlib(data: Uint8Array): boolean {
  if (data.length < 2) return false;
  const cmf = data[0], flg = data[1];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

async function decompressStream(
  data: Uint8Array,
  encoding: "gzip" | "deflate",
  limit: number,
): Promise<Uint8Array> {
  const fmt: CompressionFormat = encoding === "gzip"
    ? "gzip"
    : isZlib(data)
    ? "deflate"
    : "deflate-raw";
  const ds = new DecompressionStream(fmt);
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let stopped = false;
  const feeding = (async () => {
    for (let i = 0; i < data.length && !stopped; i += INFLATE_INPUT_CHUNK) {
      await writer.write(data.subarray(i, i + INFLATE_INPUT_CHUNK) as Uint8Array<ArrayBuffer>);
    }
    if (!stopped) await writer.close();
  })().catch(() => {}); // errors surface on the readable side
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        stopped = true;
        throw tooLargeDecompressed(encoding, limit);
      }
      chunks.push(value);
    }
  } catch (e) {
    stopped = true;
    await reader.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    if (e instanceof HTTPException) throw e;
    throw new HTTPException(400, {
      message: `Cannot decompress ${encoding} body: ${e instanceof Error ? e.message : String(e)}`,
      cause: e,
    });
  }
  await feeding;
  return concat(chunks, total);
}

// ---------------------------------------------------------------------------------------------
// zstd (RFC 8878) through fzstd, with the frame structure checked first.
//
// fzstd allocates each frame's window from its header and, when streaming, copies the whole
// window once per block: a few bytes of crafted headers could cost gigabytes of memory or
// minutes of copying. So the body is walked frame by frame (block headers only, no decoding):
// - frames with a declared content size are decoded in one call into a buffer of exactly that
//   size (their sizes together must fit the limit);
// - the others stream block by block with the output counted (413 once it passes the limit);
//   their window may be at most 8 MiB (RFC 9659, zstd for HTTP) and the copying work they
//   cause (blocks × window) is bounded by what a legitimate body of the limit's size needs.

const ZSTD_MAGIC = 0xfd2fb528;
/** RFC 9659: decoders of zstd Content-Encoding need not support windows over 8 MiB. */
export const ZSTD_MAX_WINDOW = 8 * 1024 * 1024;
const ZSTD_BLOCK_MAX = 128 * 1024;

interface ZstdFrame {
  start: number;
  end: number;
  /** Declared content size, or -1 when the frame does not say. */
  contentSize: number;
  window: number;
  blocks: number;
  /** Output of raw and RLE blocks (known from their headers). */
  knownBytes: number;
  skippable: boolean;
  /** Decoded in one call into a buffer of the content size (fzstd then allocates no window). */
  oneShot: boolean;
}

function corruptZstd(detail: string): HTTPException {
  return new HTTPException(400, { message: `Cannot decompress zstd body: ${detail}` });
}

const u32le = (d: Uint8Array, p: number) =>
  (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;

/** The frames of a zstd stream, from their headers and block headers. Throws 400 when malformed. */
export function zstdFrames(d: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let pos = 0;
  while (pos < d.length) {
    if (d.length - pos < 4) throw corruptZstd(`truncated frame at byte ${pos}`);
    const magic = u32le(d, pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      if (d.length - pos < 8) throw corruptZstd(`truncated skippable frame at byte ${pos}`);
      const end = pos + 8 + u32le(d, pos + 4);
      if (end > d.length) throw corruptZstd(`truncated skippable frame at byte ${pos}`);
      frames.push({
        start: pos,
        end,
        contentSize: 0,
        window: 0,
        blocks: 0,
        knownBytes: 0,
        skippable: true,
        oneShot: false,
      });
      pos = end;
      continue;
    }
    if (magic !== ZSTD_MAGIC) {
      throw corruptZstd(
        `no zstd frame at byte ${pos} (magic 0x${magic.toString(16).padStart(8, "0")})`,
      );
    }
    const start = pos;
    let p = pos + 4;
    if (p >= d.length) throw corruptZstd(`truncated frame header at byte ${start}`);
    const fhd = d[p++];
    if (fhd & 0x08) throw corruptZstd(`reserved bit set in the frame header at byte ${start}`);
    const singleSegment = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1;
    const didSize = [0, 1, 2, 4][fhd & 3];
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
    const headerEnd = p + (singleSegment ? 0 : 1) + didSize + fcsSize;
    if (headerEnd > d.length) throw corruptZstd(`truncated frame header at byte ${start}`);
    let window = 0;
    if (!singleSegment) {
      const wd = d[p++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += didSize;
    let contentSize = -1;
    if (fcsSize === 1) contentSize = d[p];
    else if (fcsSize === 2) contentSize = (d[p] | (d[p + 1] << 8)) + 256;
    else if (fcsSize === 4) contentSize = u32le(d, p);
    else if (fcsSize === 8) contentSize = u32le(d, p) + u32le(d, p + 4) * 2 ** 32;
    p = headerEnd;
    if (singleSegment) window = contentSize;
    let blocks = 0, knownBytes = 0;
    for (;;) {
      if (p + 3 > d.length) throw corruptZstd(`truncated block header at byte ${p}`);
      const h = d[p] | (d[p + 1] << 8) | (d[p + 2] << 16);
      const last = h & 1, type = (h >> 1) & 3, size = h >>> 3;
      p += 3;
      if (type === 0) p += size, knownBytes += size;
      else if (type === 1) p += 1, knownBytes += size;
      else if (type === 2) p += size;
      else throw corruptZstd(`reserved block type at byte ${p - 3}`);
      if (p > d.length) {
        throw corruptZstd(`truncated block at byte ${p - 3 - (type === 1 ? 1 : size)}`);
      }
      blocks++;
      if (last) break;
    }
    if (checksum) p += 4;
    if (p > d.length) throw corruptZstd(`truncated checksum at byte ${p - 4}`);
    // fzstd sizes a frame's buffer by its content size when it has one, by its window otherwise.
    const oneShot = contentSize > 0 || (contentSize === 0 && singleSegment === 1);
    frames.push({
      start,
      end: p,
      contentSize,
      window,
      blocks,
      knownBytes,
      skippable: false,
      oneShot,
    });
    pos = p;
  }
  return frames;
}

/** Decompresses a zstd body (one or more frames) with the output limited to `limit` bytes. */
export function decompressZstd(data: Uint8Array, limit: number): Uint8Array {
  const frames = zstdFrames(data);
  const tooBig = () =>
    tooLarge(
      `Decompressed zstd body is larger than the limit of ${limit} bytes (server.max_payload_bytes)`,
    );
  // Everything decidable from headers, before any work.
  let declared = 0, known = 0, work = 0;
  for (const f of frames) {
    if (f.skippable) continue;
    declared += Math.max(f.contentSize, 0);
    known += f.knownBytes;
    if (!f.oneShot) {
      if (f.window > ZSTD_MAX_WINDOW) {
        throw tooLarge(
          `Cannot decompress zstd body: its window of ${f.window} bytes is larger than ${ZSTD_MAX_WINDOW} bytes (RFC 9659 limit)`,
        );
      }
      work += f.blocks * Math.max(f.window, ZSTD_BLOCK_MAX);
    }
  }
  if (declared > limit || known > limit) throw tooBig();
  // Streaming copies the window once per block; a legitimate body of `limit` bytes has about
  // limit / 128 KiB blocks. Allow twice that (and some slack for small bodies).
  const maxWork = (2 * Math.ceil(limit / ZSTD_BLOCK_MAX) + 64) * ZSTD_MAX_WINDOW;
  if (work > maxWork) {
    throw tooLarge(
      `Cannot decompress zstd body: ${
        frames.reduce((n, f) => n + f.blocks, 0)
      } blocks is too many for its size (each costs a window copy)`,
    );
  }

  const chunks: Uint8Array[] = [];
  let total = 0;
  const add = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > limit) throw tooBig();
    chunks.push(chunk);
  };
  try {
    for (const f of frames) {
      if (f.skippable) continue;
      const frame = data.subarray(f.start, f.end);
      if (f.oneShot) {
        // Decoded straight into a buffer of the declared size (a frame that produces more is
        // corrupt; fzstd stays inside the buffer).
        add(zstdDecompressFrame(frame));
      } else {
        const d = new Decompress((chunk) => {
          if (chunk.length) add(chunk);
        });
        d.push(frame, true);
      }
    }
  } catch (e) {
    if (e instanceof HTTPException) throw e;
    throw corruptZstd(zstdErrorText(e));
  }
  return concat(chunks, total);
}

function zstdErrorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // fzstd's errors carry a code and terse messages.
  return e.message || e.name;
}

/**
 * The format of a body sent without `Content-Type`: `{` first (after whitespace) is OTLP/JSON,
 * or JSON Lines when another value follows the first one; anything else is protobuf.
 */
export function sniffFormat(body: Uint8Array): Format {
  let i = skipSpace(body, 0);
  if (i >= body.length || body[i] !== 0x7b /* { */) return "protobuf";
  i = endOfObject(body, i);
  if (i < 0) return "json";
  return skipSpace(body, i) < body.length ? "jsonl" : "json";
}

function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return i;
}

/** Index after the JSON object starting at `i` (`b[i]` is `{`), or -1 if it does not end. */
function endOfObject(b: Uint8Array, i: number): number {
  let depth = 0;
  for (; i < b.length; i++) {
    const c = b[i];
    if (c === 0x22 /* " */) {
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c /* \ */) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
