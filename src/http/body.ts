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
import { HTTPException } from "hono/http-exception";
import type { Format } from "../core/otlp/types.ts";
import {
  type Coding,
  concat,
  CorruptDataError,
  decompress,
  type Inflate,
  SizeLimitError,
} from "../codec/index.ts";

export type { Inflate };

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
): Coding[] {
  if (!header) return [];
  const out: Coding[] = [];
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
 * In-flight bytes (./admission.ts) the runtime entry reserved for a pre-read body, by request:
 * the app takes the reservation over (and releases it when the request is done).
 */
export const preReserved: WeakMap<Request, number> = new WeakMap();

/**
 * Requests the runtime entry refused from their headers (Node: it answers them itself with the
 * app's answer to a body-less copy, and discards the body, so the connection stays usable):
 * the app answers with this error, whatever it would decide now.
 */
export const preRefused: WeakMap<Request, Error> = new WeakMap();

/** The `Content-Length` a request declares, or -1 (none, or not a plain number). */
export function declaredLength(headers: Headers): number {
  const declared = headers.get("content-length");
  return declared !== null && /^\s*\d+\s*$/.test(declared) ? Number(declared) : -1;
}

/**
 * The request body, at most `limit` bytes: 413 straight away when `Content-Length` says more,
 * and as soon as the streamed bytes pass it (the rest is not read). `reserve` is told of every
 * chunk of a body streamed without a `Content-Length` before it is kept (it throws to cut the
 * body off: the in-flight budget, ./admission.ts); a declared length is reserved by the caller.
 */
export async function readBody(
  req: Request,
  limit: number,
  reserve?: (bytes: number) => void,
): Promise<Uint8Array> {
  const pre = preReadBodies.get(req);
  if (pre !== undefined) {
    preReadBodies.delete(req);
    if (pre.length > limit) throw tooLarge(bodyTooLarge(limit));
    return pre;
  }
  const headers = req.headers;
  const length = declaredLength(headers);
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
      if (reserve && length < 0) {
        try {
          reserve(value.length);
        } catch (e) {
          await reader.cancel().catch(() => {});
          throw e;
        }
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concat(chunks, total);
}

/**
 * Undoes `encodings` (as `parseContentEncoding` returned them), each step limited to `limit`
 * output bytes: 413 as soon as the output passes it, 400 for corrupt data. gzip and deflate go
 * through `inflate` when given, the web `DecompressionStream` otherwise.
 */
export async function decodeContent(
  body: Uint8Array,
  encodings: readonly Coding[],
  limit: number,
  inflate?: Inflate,
): Promise<Uint8Array> {
  try {
    return await decompress(body, encodings, limit, inflate);
  } catch (e) {
    if (e instanceof SizeLimitError) {
      throw tooLarge(
        e.detail !== undefined
          ? `Cannot decompress ${e.coding} body: ${e.detail}`
          : `Decompressed ${e.coding} body is larger than the limit of ${limit} bytes (server.max_payload_bytes)`,
      );
    }
    if (e instanceof CorruptDataError) {
      throw new HTTPException(400, {
        message: `Cannot decompress ${e.coding} body: ${e.detail}`,
        cause: e,
      });
    }
    throw e;
  }
}

export { sniffFormat } from "../core/otlp/sniff.ts";
