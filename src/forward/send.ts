/**
 * One export to a forward destination, and what its answer means:
 *
 *   ok       2xx / gRPC OK (a partial success's rejected records are counted and logged)
 *   retry    429, 502, 503, 504, other 5xx, a network error or timeout; gRPC UNAVAILABLE,
 *            RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE,
 *            DATA_LOSS: sent again after the remote's Retry-After / RetryInfo, or a backoff
 *   reject   other 4xx, other gRPC codes: the remote will never take it; dropped, counted
 *
 * The body is built for the destination's protocol: the queued requests (one signal) turned
 * into protobuf and concatenated (concatenated protobuf messages of one type merge into one
 * request), then as OTLP/JSON for `http/json` (./json.ts), gzip when `compression = "gzip"`.
 * A lone OTLP/JSON request to an `http/json` destination goes as it came.
 *
 * gzip'd protobuf requests to an `http/protobuf` destination with gzip go as they came: one
 * alone, several joined (`join`), as one gzip body of several members (RFC 1952: members follow
 * one another, and their data is the concatenation), so nothing is compressed again. Joined
 * bodies start with `JOIN_PREFIX`: two tiny members whose data is an unknown field (number
 * 2^29 − 1, one byte long), the first holding only the field's tag and length. A decoder that
 * reads all members skips the field, as protobuf decoders skip unknown fields; one that reads
 * only the first member gets a truncated message and fails the request, instead of answering
 * 200 for the first request's data alone. ./index.ts then sends the export again compressed,
 * and when that is taken, every later export to that destination too (`refusedJoin`).
 */
import type { ForwardConfig } from "../config/forward.ts";
import { jsonToProtobuf } from "../core/otlp/json.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Signal } from "../core/tables.ts";
import { protobufToJson } from "./json.ts";
import { gzipSync } from "fflate";
import { type Coding, concat, decompressTrusted, type Inflate, isZlib } from "../codec/index.ts";

export type SendResult =
  | { kind: "ok"; rejected: number; message: string }
  | { kind: "retry"; status: string; message: string; retryAfterMs?: number }
  | { kind: "reject"; status: string; message: string };

export interface Outgoing {
  signal: Signal;
  /** Protobuf bytes of one Export*ServiceRequest (the queued requests merged). */
  protobuf: () => Uint8Array;
  /** The request as OTLP/JSON. */
  json: () => string;
  /**
   * gzip'd protobuf bytes sent as they are: the queued request, when it is one gzip'd protobuf
   * request, or several such joined (`JOIN_PREFIX`, then their members; `joined`).
   */
  gzippedProtobuf?: Uint8Array;
  /** `gzippedProtobuf` is several requests' gzip members joined. */
  joined: boolean;
  /**
   * Whether `protobuf()`'s bytes are its own (several requests merged, or converted from JSON),
   * not a queued body: a sender may then give them away (to a compression thread).
   */
  ownsProtobuf: () => boolean;
}

/** What sends an export; `http.ts`-style for OTLP/HTTP, ./grpc.node.ts for gRPC. */
export interface Sender {
  send(out: Outgoing): Promise<SendResult>;
  close(): void;
}

/** The tag of field 2^29 − 1 (the largest field number), wire type LEN, as a varint. */
const JOIN_FIELD_TAG = [0xfa, 0xff, 0xff, 0xff, 0x0f];

/**
 * The start of a joined gzip body (see the top of this file): a member of the unknown field's
 * tag and length (1), then a member of its one byte.
 */
export const JOIN_PREFIX: Uint8Array = (() => {
  // Stored (level 0): the bytes stay as they are, and the same every time (mtime 0).
  const first = gzipSync(new Uint8Array([...JOIN_FIELD_TAG, 1]), { level: 0, mtime: 0 });
  const second = gzipSync(new Uint8Array([0]), { level: 0, mtime: 0 });
  return concat([first, second], first.length + second.length);
})();

/** Queued bodies were checked when accepted: no bound but this (1 GiB) on decoding them. */
const TRUSTED_LIMIT = 1 << 30;

/**
 * The outgoing request of queued bodies of one signal: compressed ones are decoded for a merge
 * (`plain`, when the queue still has the decoded body, or `inflate`: the platform's gzip/deflate
 * decoder, node:zlib on servers, much cheaper than the portable one).
 */
export function outgoing(
  signal: Signal,
  queued: readonly { format: Format; body: Uint8Array; coding?: Coding; plain?: Uint8Array }[],
  inflate?: Inflate,
  /** Memory for the merged bytes (`ForwarderOptions.mergeBuffer`). */
  alloc: (bytes: number) => Uint8Array = (n) => new Uint8Array(n),
  /** Several gzip'd protobuf requests may go joined as they came (see the top of this file). */
  join = false,
): Outgoing {
  const gzipped = queued.every((i) => i.format === "protobuf" && i.coding === "gzip");
  const joined = gzipped && join && queued.length > 1;
  const asCame = gzipped && queued.length === 1
    ? queued[0].body
    : joined
    ? joinMembers(queued)
    : undefined;
  let plain: { format: Format; body: Uint8Array }[] | undefined;
  const decoded = () =>
    plain ??= queued.map((i) => ({
      format: i.format,
      body: !i.coding ? i.body : i.plain ? i.plain : inflate && i.coding !== "zstd"
        ? inflate(
          i.body,
          i.coding === "gzip" ? "gzip" : isZlib(i.body) ? "deflate" : "deflate-raw",
          TRUSTED_LIMIT,
        )
        : decompressTrusted(i.body, [i.coding]),
    }));
  let pb: Uint8Array | undefined;
  let own = false;
  const protobuf = () => {
    if (pb) return pb;
    const items = decoded();
    const parts = items.map((i) =>
      i.format === "protobuf" ? i.body : jsonToProtobuf(signal, i.body, i.format, 64)
    );
    own = parts.length > 1 || items[0].format !== "protobuf";
    if (parts.length === 1) return (pb = parts[0]);
    let n = 0;
    for (const p of parts) n += p.length;
    pb = alloc(n);
    n = 0;
    for (const p of parts) {
      pb.set(p, n);
      n += p.length;
    }
    return pb;
  };
  const json = () => {
    const items = decoded();
    return items.length === 1 && items[0].format === "json"
      ? new TextDecoder().decode(items[0].body)
      : protobufToJson(signal, protobuf());
  };
  return { signal, protobuf, json, gzippedProtobuf: asCame, joined, ownsProtobuf: () => own };
}

/** `JOIN_PREFIX`, then the bodies (gzip members each) one after another. */
function joinMembers(queued: readonly { body: Uint8Array }[]): Uint8Array {
  const parts = [JOIN_PREFIX, ...queued.map((q) => q.body)];
  return concat(parts, parts.reduce((n, p) => n + p.length, 0));
}

/**
 * Whether `r`, the answer to a joined body, may say the destination cannot take such bodies: a
 * rejection (4xx but 413, which says the export is too large, as it would be compressed
 * again) or a 5xx that is not retried as an outage (500, 501…). The export is then sent again
 * compressed (./index.ts).
 */
export function refusedJoin(r: SendResult): r is Exclude<SendResult, { kind: "ok" }> {
  return (r.kind === "reject" && r.status !== "413") || serverError(r);
}

/**
 * A 5xx that is not retried as an outage (500, 501…: not 502, 503, 504): sent again a few
 * times only (./index.ts, `MAX_SERVER_ERRORS`).
 */
export function serverError(r: SendResult): boolean {
  return r.kind === "retry" && /^5\d\d$/.test(r.status) && !RETRY_STATUS.has(Number(r.status));
}

export const RETRY_STATUS = new Set([429, 502, 503, 504]);
/** The longest Retry-After honoured (a remote asking for more is asked again sooner). */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** An OTLP/HTTP sender over `fetch` (every platform has it). */
export function httpSender(
  dest: ForwardConfig,
  fetchFn: typeof fetch = fetch,
  gzipFn: (b: Uint8Array, owned?: boolean) => Promise<Uint8Array> = gzip,
): Sender {
  const json = dest.protocol === "http/json";
  return {
    async send(out) {
      const url = `${dest.endpoint}/v1/${out.signal}`;
      const headers: Record<string, string> = {
        ...dest.headers,
        "content-type": json ? "application/json" : "application/x-protobuf",
      };
      let body: Uint8Array;
      if (!json && dest.compression === "gzip" && out.gzippedProtobuf) {
        // One request that came as gzip'd protobuf: sent as it came, no work.
        body = out.gzippedProtobuf;
        headers["content-encoding"] = "gzip";
      } else {
        body = json ? new TextEncoder().encode(out.json()) : out.protobuf();
        if (dest.compression === "gzip") {
          try {
            body = await gzipFn(body, json || out.ownsProtobuf());
          } catch (e) {
            // The compression thread failed with the body in it: built again on the next try.
            return {
              kind: "retry",
              status: "internal",
              message: `cannot compress the request: ${e instanceof Error ? e.message : e}`,
            };
          }
          headers["content-encoding"] = "gzip";
        }
      }
      let res: Response;
      try {
        res = await fetchFn(url, {
          method: "POST",
          headers,
          body: body as BodyInit,
          signal: AbortSignal.timeout(dest.timeout_ms),
        });
      } catch (e) {
        const timedOut = e instanceof Error &&
          (e.name === "TimeoutError" || e.name === "AbortError");
        return {
          kind: "retry",
          status: timedOut ? "timeout" : "network",
          message: timedOut
            ? `no answer within ${dest.timeout_ms} ms`
            : `cannot reach ${url}: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      const bytes = new Uint8Array(await res.arrayBuffer().catch(() => new ArrayBuffer(0)));
      const status = String(res.status);
      if (res.ok) {
        const partial = partialSuccess(out.signal, bytes, res.headers.get("content-type") ?? "");
        return { kind: "ok", ...partial };
      }
      const message = errorMessage(bytes, res.headers.get("content-type") ?? "") ||
        res.statusText || `HTTP ${res.status}`;
      if (RETRY_STATUS.has(res.status) || res.status >= 500) {
        return {
          kind: "retry",
          status,
          message,
          retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
        };
      }
      return { kind: "reject", status, message };
    },
    close() {},
  };
}

/** Retry-After as seconds or an HTTP date → milliseconds (undefined when absent or invalid). */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Math.min(MAX_RETRY_AFTER_MS, Number(t) * 1000);
  const d = Date.parse(t);
  return Number.isNaN(d) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, d - now));
}

async function gzip(b: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

const REJECTED_KEY: Record<Signal, string> = {
  logs: "rejectedLogRecords",
  traces: "rejectedSpans",
  metrics: "rejectedDataPoints",
};

/** `partial_success` of an Export*ServiceResponse (protobuf or JSON). */
export function partialSuccess(
  signal: Signal,
  bytes: Uint8Array,
  contentType: string,
): { rejected: number; message: string } {
  if (bytes.length === 0) return { rejected: 0, message: "" };
  try {
    if (contentType.includes("json")) {
      const v = JSON.parse(new TextDecoder().decode(bytes));
      const p = v?.partialSuccess ?? v?.partial_success;
      if (!p) return { rejected: 0, message: "" };
      const n = Number(p[REJECTED_KEY[signal]] ?? p[snake(REJECTED_KEY[signal])] ?? 0);
      return {
        rejected: Number.isFinite(n) ? n : 0,
        message: String(p.errorMessage ?? p.error_message ?? ""),
      };
    }
    // protobuf: field 1 partial_success { 1: rejected (varint), 2: error_message }
    const top = fields(bytes);
    const ps = top.get(1);
    if (!(ps instanceof Uint8Array)) return { rejected: 0, message: "" };
    const inner = fields(ps);
    const rej = inner.get(1);
    const msg = inner.get(2);
    return {
      rejected: typeof rej === "number" ? rej : 0,
      message: msg instanceof Uint8Array ? new TextDecoder().decode(msg) : "",
    };
  } catch {
    return { rejected: 0, message: "" };
  }
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

/** The message of a google.rpc.Status answer (protobuf or JSON), else the text. */
function errorMessage(bytes: Uint8Array, contentType: string): string {
  if (bytes.length === 0) return "";
  try {
    if (contentType.includes("protobuf")) {
      const m = fields(bytes).get(2);
      return m instanceof Uint8Array ? new TextDecoder().decode(m).slice(0, 300) : "";
    }
    const text = new TextDecoder().decode(bytes.subarray(0, 2000));
    if (contentType.includes("json")) {
      const v = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof v?.message === "string") return v.message.slice(0, 300);
    }
    return text.slice(0, 300);
  } catch {
    return "";
  }
}

/**
 * The last value of each field of a protobuf message: varints as numbers, length-delimited as
 * bytes (enough for the small answers read here).
 */
export function fields(b: Uint8Array): Map<number, number | Uint8Array> {
  const out = new Map<number, number | Uint8Array>();
  let p = 0;
  const varint = () => {
    let v = 0, mul = 1;
    for (;;) {
      if (p >= b.length) throw new Error("truncated");
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  while (p < b.length) {
    const tag = varint();
    const no = Math.floor(tag / 8), wire = tag & 7;
    if (wire === 0) out.set(no, varint());
    else if (wire === 2) {
      const n = varint();
      out.set(no, b.subarray(p, p + n));
      p += n;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error("wire type");
  }
  return out;
}

/** Every value of field `no` that is length-delimited (repeated messages). */
export function repeated(b: Uint8Array, no: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  const varint = () => {
    let v = 0, mul = 1;
    for (;;) {
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  while (p < b.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const n = varint();
      if (Math.floor(tag / 8) === no) out.push(b.subarray(p, p + n));
      p += n;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else break;
  }
  return out;
}
