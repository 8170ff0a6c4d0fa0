/**
 * OTLP/HTTP response bodies, hand-encoded (a few varint and length-delimited fields, no code
 * generation), in the request's encoding: protobuf for protobuf requests, JSON otherwise.
 *
 * Success, opentelemetry/proto/collector/{logs,trace,metrics}/v1/*_service.proto:
 *
 *   Export{Logs,Trace,Metrics}ServiceResponse
 *     1 partial_success  Export*PartialSuccess   (set only when records were rejected)
 *   ExportLogsPartialSuccess      1 rejected_log_records int64   2 error_message string
 *   ExportTracePartialSuccess     1 rejected_spans       int64   2 error_message string
 *   ExportMetricsPartialSuccess   1 rejected_data_points int64   2 error_message string
 *
 * Errors, google/rpc/status.proto:
 *
 *   Status  1 code int32   2 message string   3 details repeated google.protobuf.Any (always empty)
 *
 * JSON follows the proto3 JSON mapping OTLP uses: lowerCamelCase names, int64 as a string.
 */
import { PbWriter } from "../core/proto/writer.ts";
import type { Signal } from "../core/tables.ts";

/** How a response body is encoded. */
export type ResponseFormat = "protobuf" | "json";

export const PROTOBUF_TYPE = "application/x-protobuf";
export const JSON_TYPE = "application/json";

/**
 * gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html): the ones
 * `google.rpc.Status.code` in HTTP error bodies and the OTLP/gRPC service (../grpc/) answer with.
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC code an HTTP error status stands for. */
export function grpcCode(status: number): number {
  switch (status) {
    case 400:
    case 413:
    case 415:
      return GrpcCode.INVALID_ARGUMENT;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 404:
      return GrpcCode.NOT_FOUND;
    case 405:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
      return GrpcCode.RESOURCE_EXHAUSTED;
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.INTERNAL;
  }
}

/** Field names of the partial-success count, per signal. */
const REJECTED_FIELD: Record<Signal, string> = {
  logs: "rejectedLogRecords",
  traces: "rejectedSpans",
  metrics: "rejectedDataPoints",
};

/** `Export*ServiceResponse` protobuf bytes (empty on full success). */
export function encodeExportResponse(rejected: number, message: string): Uint8Array {
  if (rejected <= 0) return new Uint8Array(0);
  const inner = new PbWriter().tag(1, 0).varint(rejected);
  if (message) inner.string(2, message);
  return new PbWriter().bytes(1, inner.finish()).finish();
}

/** `Export*ServiceResponse` as OTLP/JSON (`{}` on full success). */
export function exportResponseJson(signal: Signal, rejected: number, message: string): string {
  if (rejected <= 0) return "{}";
  const partial: Record<string, string> = { [REJECTED_FIELD[signal]]: String(rejected) };
  if (message) partial.errorMessage = message;
  return JSON.stringify({ partialSuccess: partial });
}

/** The 200 answer to an export request. */
export function exportResponse(
  signal: Signal,
  format: ResponseFormat,
  rejected: number,
  message: string,
): Response {
  if (format === "protobuf") {
    return new Response(encodeExportResponse(rejected, message) as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: { "content-type": PROTOBUF_TYPE },
    });
  }
  return new Response(exportResponseJson(signal, rejected, message), {
    status: 200,
    headers: { "content-type": JSON_TYPE },
  });
}

/** `google.rpc.Status` protobuf bytes. */
export function encodeStatus(code: number, message: string): Uint8Array {
  const w = new PbWriter();
  if (code !== 0) w.tag(1, 0).varint(code);
  if (message) w.string(2, message);
  return w.finish();
}

/** An error answer: a `google.rpc.Status` body in `format`, with `headers` added. */
export function statusResponse(
  status: number,
  message: string,
  format: ResponseFormat,
  headers?: Headers | Record<string, string>,
): Response {
  const h = new Headers(headers);
  const code = grpcCode(status);
  let body: BodyInit;
  if (format === "protobuf") {
    h.set("content-type", PROTOBUF_TYPE);
    body = encodeStatus(code, message) as Uint8Array<ArrayBuffer>;
  } else {
    h.set("content-type", JSON_TYPE);
    body = JSON.stringify({ code, message, details: [] });
  }
  return new Response(body, { status, headers: h });
}
