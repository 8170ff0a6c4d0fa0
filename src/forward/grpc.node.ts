/**
 * OTLP/gRPC forward destinations (`protocol = "grpc"`), servers only: @grpc/grpc-js (pinned to
 * 1.14.x, which runs on Node 20, Deno and Bun) with pass-through serializers, so the protobuf
 * bytes built by ./send.ts go out as they are. `http://` endpoints are plain text, `https://`
 * TLS; `compression = "gzip"` sets the channel's default compression.
 *
 * What the answer means is ./send.ts's table; RESOURCE_EXHAUSTED and UNAVAILABLE honour the
 * google.rpc.RetryInfo in `grpc-status-details-bin`.
 */
import type { ForwardConfig } from "../config/forward.ts";
import type { Signal } from "../core/tables.ts";
import { fields, MAX_RETRY_AFTER_MS, repeated, type Sender, type SendResult } from "./send.ts";

const PATHS: Record<Signal, string> = {
  logs: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
  traces: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
  metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
};

/** gRPC codes worth sending again (the OTLP specification's list). */
const RETRYABLE = new Set([1, 4, 8, 10, 11, 14, 15]);
const CODE_NAMES: Record<number, string> = {
  1: "CANCELLED",
  2: "UNKNOWN",
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  7: "PERMISSION_DENIED",
  8: "RESOURCE_EXHAUSTED",
  10: "ABORTED",
  11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED",
  13: "INTERNAL",
  14: "UNAVAILABLE",
  15: "DATA_LOSS",
  16: "UNAUTHENTICATED",
};
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

export async function grpcSender(dest: ForwardConfig): Promise<Sender> {
  const grpc = await import("@grpc/grpc-js");
  const url = new URL(dest.endpoint);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const creds = url.protocol === "https:"
    ? grpc.credentials.createSsl()
    : grpc.credentials.createInsecure();
  const client = new grpc.Client(`${url.hostname}:${port}`, creds, {
    ...(dest.compression === "gzip" ? { "grpc.default_compression_algorithm": 2 } : {}),
    "grpc.max_send_message_length": -1,
  });
  const pass = (b: Buffer) => b;
  return {
    send(out): Promise<SendResult> {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(dest.headers)) md.set(k, v);
      const body = out.protobuf();
      return new Promise((resolve) => {
        client.makeUnaryRequest<Buffer, Buffer>(
          PATHS[out.signal],
          pass,
          pass,
          Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          md,
          { deadline: Date.now() + dest.timeout_ms },
          (err, value) => {
            if (!err) {
              const ps = value ? fields(value).get(1) : undefined;
              if (ps instanceof Uint8Array) {
                const inner = fields(ps);
                const rej = inner.get(1), msg = inner.get(2);
                resolve({
                  kind: "ok",
                  rejected: typeof rej === "number" ? rej : 0,
                  message: msg instanceof Uint8Array ? new TextDecoder().decode(msg) : "",
                });
              } else resolve({ kind: "ok", rejected: 0, message: "" });
              return;
            }
            const code = err.code ?? 2;
            const status = CODE_NAMES[code] ?? String(code);
            const message = err.details || err.message;
            if (RETRYABLE.has(code)) {
              const details = err.metadata?.get("grpc-status-details-bin")?.[0];
              resolve({
                kind: "retry",
                status,
                message,
                retryAfterMs: details instanceof Uint8Array ? retryInfoMs(details) : undefined,
              });
            } else resolve({ kind: "reject", status, message });
          },
        );
      });
    },
    close() {
      client.close();
    },
  };
}

/** google.rpc.Status { 3: details Any { 1: type_url, 2: value RetryInfo { 1: Duration } } }. */
export function retryInfoMs(status: Uint8Array): number | undefined {
  try {
    for (const any of repeated(status, 3)) {
      const f = fields(any);
      const type = f.get(1), value = f.get(2);
      if (!(type instanceof Uint8Array) || !(value instanceof Uint8Array)) continue;
      if (new TextDecoder().decode(type) !== RETRY_INFO) continue;
      const delay = fields(value).get(1);
      if (!(delay instanceof Uint8Array)) return 0;
      const d = fields(delay);
      const secs = Number(d.get(1) ?? 0), nanos = Number(d.get(2) ?? 0);
      return Math.min(MAX_RETRY_AFTER_MS, secs * 1000 + Math.floor(nanos / 1e6));
    }
  } catch {
    // not a Status: no delay
  }
  return undefined;
}
