/**
 * A raw OTLP/gRPC unary call over node:http2, for what the real clients cannot send: a
 * `grpc-encoding` they do not implement (zstd, br), or bytes framed by hand. The answer is
 * read as a gRPC client would: `grpc-status` / `grpc-message` from the trailers (or the
 * trailers-only headers), the response message, and the raw `grpc-status-details-bin`.
 *
 *   const r = await grpcCall("127.0.0.1:4317", LOGS_EXPORT, zstd(bytes), { encoding: "zstd" });
 *   strictEqual(r.status, 0);
 *
 * The real clients of the tests are the OpenTelemetry JS SDK's gRPC exporters
 * (tests/helpers/otel.ts, protocol "grpc") and Python grpcio (tests/grpc/client.py).
 */
import * as http2 from "node:http2";
import { Buffer } from "node:buffer";

export const LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
export const TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
export const METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
export const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

export interface GrpcAnswer {
  status: number;
  message: string;
  /** The response message (without its 5-byte frame), when one came. */
  response?: Uint8Array;
  /** Headers and trailers together (lower-case names). */
  metadata: Record<string, string | string[] | undefined>;
  /** `grpc-status-details-bin`, decoded from base64. */
  details?: Uint8Array;
}

export interface CallOptions {
  /** `grpc-encoding` (the message is sent with the compressed flag when not identity). */
  encoding?: string;
  /** More request metadata (e.g. authorization). */
  metadata?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * One unary call on a connection of its own (closed afterwards). A call whose connection is
 * reset or refused before any answer is tried again on a new connection (at most 4 tries,
 * 250 ms apart), as gRPC clients retry UNAVAILABLE. An answer, whatever its status, is never
 * retried.
 */
export async function grpcCall(
  addr: string,
  path: string,
  message: Uint8Array,
  opts: CallOptions = {},
): Promise<GrpcAnswer> {
  for (let attempt = 1;; attempt++) {
    const session = http2.connect(`http://${addr}`);
    // A connection error fails the call (its request's "error"); none is left uncaught.
    session.on("error", () => {});
    try {
      return await callOn(session, path, message, opts);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "";
      const connection =
        /ECONNRESET|ECONNREFUSED|EPIPE|ERR_HTTP2_(STREAM_ERROR|SESSION_ERROR|GOAWAY_SESSION|INVALID_SESSION)/
          .test(code + " " + String(e));
      if (!connection || attempt >= 4) throw e;
    } finally {
      session.close();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One unary call on an open `http2.connect` session. */
export function callOn(
  session: http2.ClientHttp2Session,
  path: string,
  message: Uint8Array,
  opts: CallOptions = {},
): Promise<GrpcAnswer> {
  const encoding = opts.encoding ?? "identity";
  const frame = Buffer.alloc(5 + message.length);
  frame[0] = encoding === "identity" ? 0 : 1;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return new Promise<GrpcAnswer>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer to ${path} within ${opts.timeoutMs ?? 10_000} ms`)),
      opts.timeoutMs ?? 10_000,
    );
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": encoding,
      ...opts.metadata,
    });
    const metadata: GrpcAnswer["metadata"] = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => Object.assign(metadata, h));
    req.on("trailers", (h) => Object.assign(metadata, h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on("end", () => {
      clearTimeout(timer);
      const body = Buffer.concat(chunks);
      const details = metadata["grpc-status-details-bin"];
      resolve({
        status: Number(metadata["grpc-status"] ?? -1),
        message: decodeURIComponent(String(metadata["grpc-message"] ?? "")),
        response: body.length >= 5 ? new Uint8Array(body.subarray(5)) : undefined,
        metadata,
        details: typeof details === "string"
          ? new Uint8Array(Buffer.from(details, "base64"))
          : undefined,
      });
    });
    req.end(frame);
  });
}
