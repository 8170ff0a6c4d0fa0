/**
 * OTLP/gRPC, the part without a network: what each call of the server (./listen.node.ts over
 * ./h2.ts) means, from the message bytes as they came to the answer, the same on every
 * runtime. The transport only frames messages and hands their bytes over as they came, so the
 * project's own decoders (../core/otlp/) read the request and ../http/responses.ts writes the
 * response; no protobufjs objects on this path.
 *
 *   /opentelemetry.proto.collector.logs.v1.LogsService/Export        ExportLogsServiceRequest
 *   /opentelemetry.proto.collector.trace.v1.TraceService/Export      ExportTraceServiceRequest
 *   /opentelemetry.proto.collector.metrics.v1.MetricsService/Export  ExportMetricsServiceRequest
 *   /grpc.health.v1.Health/Check                                     serving status follows /ready
 *   anything else                                                    UNIMPLEMENTED
 *
 * An Export call takes the HTTP path: auth (the `authorization` metadata, same settings and
 * constant-time check as HTTP) → decompression with the size limit checked while decompressing
 * (`grpc-encoding` gzip, deflate, zstd) → `ingest` (../ingest/) → OK with an
 * Export*ServiceResponse once the records are as safe as an HTTP 200 (in the write-ahead log, or
 * stored). Answers, as the OTLP specification says:
 *
 *   OK                    records stored; `partial_success` set when some were rejected
 *   INVALID_ARGUMENT      the message cannot be decoded, or compressed data is corrupt
 *   UNAUTHENTICATED       auth configured, `authorization` missing or wrong
 *   RESOURCE_EXHAUSTED    the message is over grpc.max_recv_msg_bytes (no RetryInfo: not retryable)
 *   UNAVAILABLE           + RetryInfo: buffers full, storage healthy (HTTP 429); buffers or log
 *                         full while storage fails, storage failing (HTTP 503)
 *
 * Backpressure is UNAVAILABLE, not RESOURCE_EXHAUSTED: every client retries UNAVAILABLE, while
 * RESOURCE_EXHAUSTED is retryable only with RetryInfo and clients that do not read it give up.
 *   UNIMPLEMENTED         unknown method, or a `grpc-encoding` other than identity/gzip/deflate/zstd
 *   INTERNAL              a bug (never for a transient failure)
 *
 * RetryInfo is a `google.rpc.Status` with a `google.rpc.RetryInfo` detail, sent in the
 * `grpc-status-details-bin` trailer; its delay is the Retry-After HTTP would send.
 */
import type { Config } from "../config/types.ts";
import type { Signal } from "../core/tables.ts";
import type { Writer } from "../batch/types.ts";
import {
  type Coding,
  CorruptDataError,
  decompress,
  type Inflate,
  SizeLimitError,
} from "../codec/index.ts";
import { createAuthenticator } from "../http/auth.ts";
import { encodeExportResponse, GrpcCode } from "../http/responses.ts";
import { PbWriter } from "../core/proto/writer.ts";
import { admissionAttempt, type ReadyResult, refusal } from "../http/app.ts";
import { type InflightBudget, Reservation, WIRE_COPIES } from "../http/admission.ts";
import { classifyFailure, ingest } from "../ingest/index.ts";
import type { Logger } from "../log/log.ts";
import type { ServiceMetrics } from "../metrics/service.ts";
import type { Forwarder } from "../forward/index.ts";

/** gRPC status codes (the same table HTTP error bodies use). */
export const Status = GrpcCode;

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Status).map(([k, v]) => [v, k]),
);

/** The name of a status code ("OK", "UNAVAILABLE", …), the `code` label of the metrics. */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

export const LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService";
export const TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService";
export const METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService";
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/** Export methods by path, and their signal. */
export const EXPORT_METHODS: Readonly<Record<string, Signal>> = {
  [`/${LOGS_SERVICE}/Export`]: "logs",
  [`/${TRACE_SERVICE}/Export`]: "traces",
  [`/${METRICS_SERVICE}/Export`]: "metrics",
};
export const HEALTH_CHECK = `/${HEALTH_SERVICE}/Check`;

/** What `grpc-accept-encoding` says this server decodes. */
export const ACCEPT_ENCODING = "identity,gzip,deflate,zstd";

/** An answer: OK with a message, or a status with a message and maybe RetryInfo. */
export type Answer =
  | { code: 0; response: Uint8Array }
  | {
    code: number;
    message: string;
    /** Seconds the client should wait (sent as RetryInfo in grpc-status-details-bin). */
    retryAfterSecs?: number;
    /** Response metadata to add (e.g. grpc-accept-encoding). */
    metadata?: Record<string, string>;
  };

/** Answers one call (Export or Health/Check, by its path); never rejects. */
export type AnswerCall = (call: ExportCall) => Promise<Answer>;

/** One Export call as the transport received it. */
export interface ExportCall {
  path: string;
  /** The `authorization` metadata (first value), or null. */
  authorization: string | null;
  /** `grpc-encoding` of a message that had the compressed flag set; "identity" otherwise. */
  encoding: string;
  /** The message bytes as they came (compressed when `encoding` says so). */
  bytes: Uint8Array;
  /**
   * The in-flight room `admit` reserved for the message from its length prefix (the call
   * releases it when answered).
   */
  hold?: Reservation;
}

export interface GrpcServiceDeps {
  config: Config;
  writer: Writer;
  logger: Logger;
  /** The storage check /ready answers from (shared with the HTTP app). */
  ready: () => Promise<ReadyResult>;
  /** node:zlib's synchronous gzip/deflate decoder (../codec/zlib.node.ts). */
  inflate?: Inflate;
  metrics?: ServiceMetrics;
  /** Current time, epoch nanoseconds. Default: the clock. */
  now?: () => bigint;
  /** Told of every accepted export, as the HTTP app tells it (../forward/). */
  forwarder?: Forwarder;
  /**
   * The in-flight budget HTTP requests reserve from (`server.max_inflight_bytes`): a call
   * reserves its message (and its decompressed copy) there and is refused with
   * UNAVAILABLE + RetryInfo when it or the buffers are full, as HTTP answers 429.
   */
  inflight?: InflightBudget;
}

/** What `admit` says: refuse the call (with this answer), or the room reserved for its message. */
export type Admitted = { refused: Answer } | { hold: Reservation };

export interface GrpcService {
  /**
   * Whether an Export message of `declared` bytes may come in now (buffers and in-flight bytes,
   * as HTTP checks a request's Content-Length): null (not an export, or no budget), UNAVAILABLE
   * + RetryInfo to answer at once, before the message is read, or the in-flight room reserved
   * for it (`WIRE_COPIES` × `declared`), which the transport hands to the call.
   */
  admit(path: string, declared: number): Admitted | null;
  /** Answers an Export call (never rejects). */
  export(call: ExportCall): Promise<Answer>;
  /** Answers a Health/Check request (its bytes, decompressed as `encoding` says). */
  health(call: ExportCall): Promise<Answer>;
}

const defaultNow = () => BigInt(Date.now()) * 1_000_000n;

/** Backpressure and storage failures: UNAVAILABLE with RetryInfo (retryable by every client). */
function retryLater(f: { message: string; retryAfterSecs?: number }): Answer {
  return { code: Status.UNAVAILABLE, message: f.message, retryAfterSecs: f.retryAfterSecs };
}

export function createGrpcService(deps: GrpcServiceDeps): GrpcService {
  const { config, writer, logger, metrics } = deps;
  const limit = config.grpc.max_recv_msg_bytes;
  const auth = createAuthenticator(config.auth);
  const now = deps.now ?? defaultNow;

  async function decode(call: ExportCall): Promise<Uint8Array | Answer> {
    const coding = codingOf(call.encoding);
    if (coding === null) {
      return {
        code: Status.UNIMPLEMENTED,
        message: `Unsupported grpc-encoding ${JSON.stringify(call.encoding)}: this server accepts ${
          ACCEPT_ENCODING.replaceAll(",", ", ")
        }`,
        metadata: { "grpc-accept-encoding": ACCEPT_ENCODING },
      };
    }
    if (call.bytes.length > limit) return tooLarge(`Message of ${call.bytes.length} bytes`);
    if (coding === "identity") return call.bytes;
    try {
      return await decompress(call.bytes, [coding], limit, deps.inflate);
    } catch (e) {
      if (e instanceof SizeLimitError) {
        return e.detail !== undefined
          ? {
            code: Status.RESOURCE_EXHAUSTED,
            message: `Cannot decompress ${coding} message: ${e.detail}`,
          }
          : tooLarge(`Decompressed ${coding} message`);
      }
      if (e instanceof CorruptDataError) {
        return {
          code: Status.INVALID_ARGUMENT,
          message: `Cannot decompress ${coding} message: ${e.detail}`,
        };
      }
      throw e;
    }
  }

  function tooLarge(what: string): Answer {
    return {
      code: Status.RESOURCE_EXHAUSTED,
      message:
        `${what} is larger than the limit of ${limit} bytes (grpc.max_recv_msg_bytes); send smaller batches`,
    };
  }

  async function exportCall(call: ExportCall, signal: Signal): Promise<Answer> {
    const receivedAtNs = now();
    // Reserved from the message's length prefix already, when the transport asked `admit`.
    const reservation = call.hold ?? (deps.inflight ? new Reservation(deps.inflight) : undefined);
    try {
      if (auth.enabled) {
        const r = await auth.check(call.authorization);
        if (!r.ok) {
          return {
            code: Status.UNAUTHENTICATED,
            message: r.message.replace("an Authorization header", "authorization metadata"),
          };
        }
      }
      if (deps.inflight && reservation && !call.hold) {
        // The transport has read the message already; what is bounded here is everything after.
        const refused = refusal(writer, deps.inflight, call.bytes.length);
        if (refused) throw refused;
        reservation.add(WIRE_COPIES * call.bytes.length);
      }
      const body = await decode(call);
      if (!(body instanceof Uint8Array)) return body;
      if (body !== call.bytes) reservation?.add(body.length);
      metrics?.decompressed("grpc", signal, body.length);
      const coding = codingOf(call.encoding);
      const encoded = coding && coding !== "identity"
        ? { encodings: [coding], bytes: call.bytes }
        : undefined;
      const result = await ingest(writer, {
        signal,
        format: "protobuf",
        body,
        encoded,
        receivedAtNs,
      });
      metrics?.ingested("grpc", signal, result.records, result.rejected);
      if (deps.forwarder && result.records > 0) {
        void deps.forwarder.accepted({
          signal,
          format: "protobuf",
          body,
          encoded,
          records: result.records,
        });
      }
      return { code: Status.OK, response: encodeExportResponse(result.rejected, result.message) };
    } catch (err) {
      const f = classifyFailure(err);
      switch (f.kind) {
        case "invalid":
          return { code: Status.INVALID_ARGUMENT, message: f.message };
        case "backpressure":
        case "unavailable":
          return retryLater(f);
        default:
          logger.error("unexpected error while handling a gRPC call", {
            path: call.path,
            error: err instanceof Error ? err.message : String(err),
            stack: err instanceof Error ? err.stack : undefined,
          });
          return { code: Status.INTERNAL, message: f.message };
      }
    } finally {
      reservation?.release();
    }
  }

  return {
    admit(path, declared) {
      if (!deps.inflight || !(path in EXPORT_METHODS)) return null;
      // The room is taken now, as an HTTP request's is from its Content-Length, so the calls of
      // one connection, or of many, cannot all be let in on the same free bytes and then read
      // their messages past the bound.
      const hold = new Reservation(deps.inflight);
      const refused = admissionAttempt(writer, deps.inflight, declared, (n) => hold.tryAdd(n))();
      return refused ? { refused: retryLater(classifyFailure(refused)) } : { hold };
    },
    async export(call) {
      const signal = EXPORT_METHODS[call.path];
      if (!signal) {
        return { code: Status.UNIMPLEMENTED, message: `Unknown method ${call.path}` };
      }
      try {
        return await exportCall(call, signal);
      } catch (err) {
        logger.error("unexpected error while handling a gRPC call", {
          path: call.path,
          error: err instanceof Error ? err.message : String(err),
        });
        return { code: Status.INTERNAL, message: `Internal error: ${String(err)}` };
      }
    },

    async health(call) {
      const body = await decode(call);
      if (!(body instanceof Uint8Array)) return body;
      let service: string;
      try {
        service = decodeHealthCheckRequest(body);
      } catch (e) {
        return {
          code: Status.INVALID_ARGUMENT,
          message: `Cannot decode HealthCheckRequest: ${(e as Error).message}`,
        };
      }
      if (!HEALTH_SERVICES.has(service)) {
        return {
          code: Status.NOT_FOUND,
          message: `Unknown service ${JSON.stringify(service)}: this server has ${
            [...HEALTH_SERVICES].filter(Boolean).join(", ")
          } (or "" for the server as a whole)`,
        };
      }
      const r = await deps.ready();
      return {
        code: Status.OK,
        response: encodeHealthCheckResponse(r.ok ? SERVING : NOT_SERVING),
      };
    },
  };
}

/** The coding a `grpc-encoding` names ("identity" for none), or null when not supported. */
export function codingOf(encoding: string): Coding | "identity" | null {
  switch (encoding.trim().toLowerCase()) {
    case "":
    case "identity":
      return "identity";
    case "gzip":
      return "gzip";
    case "deflate":
      return "deflate";
    case "zstd":
      return "zstd";
    default:
      return null;
  }
}

/** Services the health check knows ("" is the server as a whole). */
const HEALTH_SERVICES = new Set(["", LOGS_SERVICE, TRACE_SERVICE, METRICS_SERVICE]);

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const SERVING = 1;
export const NOT_SERVING = 2;

/** `HealthCheckRequest { string service = 1; }` → the service name. */
export function decodeHealthCheckRequest(bytes: Uint8Array): string {
  let service = "";
  let pos = 0;
  const varint = (): number => {
    let v = 0, shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error(`truncated varint at byte ${pos}`);
      const b = bytes[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
      if (shift > 63) throw new Error(`varint too long at byte ${pos}`);
    }
  };
  while (pos < bytes.length) {
    const at = pos;
    const tag = varint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const n = varint();
      if (pos + n > bytes.length) throw new Error(`field ${field} at byte ${at} is truncated`);
      if (field === 1) {
        service = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(pos, pos + n));
      }
      pos += n;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire} at byte ${at}`);
    if (pos > bytes.length) throw new Error(`field ${field} at byte ${at} is truncated`);
  }
  return service;
}

/** `HealthCheckResponse { ServingStatus status = 1; }` */
export function encodeHealthCheckResponse(status: number): Uint8Array {
  return new PbWriter().tag(1, 0).varint(status).finish();
}

/**
 * `google.rpc.Status` with one `google.rpc.RetryInfo` detail (`retry_delay` of `secs`
 * seconds): the value of the `grpc-status-details-bin` trailer.
 *
 *   Status     1 code int32   2 message string   3 details repeated google.protobuf.Any
 *   Any        1 type_url string   2 value bytes
 *   RetryInfo  1 retry_delay google.protobuf.Duration (1 seconds int64, 2 nanos int32)
 */
export function encodeStatusWithRetryInfo(code: number, message: string, secs: number): Uint8Array {
  const duration = new PbWriter().tag(1, 0).varint(Math.max(0, Math.ceil(secs))).finish();
  const retryInfo = new PbWriter().bytes(1, duration).finish();
  const any = new PbWriter()
    .string(1, "type.googleapis.com/google.rpc.RetryInfo")
    .bytes(2, retryInfo)
    .finish();
  const w = new PbWriter().tag(1, 0).varint(code);
  if (message) w.string(2, message);
  return w.bytes(3, any).finish();
}

/** Tells the metrics of an answered call (the `grpc` transport; unknown methods: "other"). */
export function recordCall(
  metrics: GrpcServiceDeps["metrics"],
  call: ExportCall,
  a: Answer,
  seconds: number,
): void {
  metrics?.request({
    transport: "grpc",
    route: call.path in EXPORT_METHODS || call.path === HEALTH_CHECK ? call.path : "other",
    code: statusName(a.code),
    seconds,
    bytes: call.bytes.length,
    encoding: call.encoding,
    signal: EXPORT_METHODS[call.path],
  });
}

/** Answers a call with ./service.ts (Export or Health/Check by its path). */
export function answerWith(service: ReturnType<typeof createGrpcService>): AnswerCall {
  return (c) => c.path === HEALTH_CHECK ? service.health(c) : service.export(c);
}
