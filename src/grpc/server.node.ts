/**
 * The OTLP/gRPC listener of the server on Bun and Node: @grpc/grpc-js frames the calls over
 * HTTP/2, ./service.ts answers them. Pinned to grpc-js 1.14 (measured to serve OTLP clients on
 * Node 20 and Bun 1.4). Deno serves gRPC with ./h2c.node.ts instead (its node:http2 can crash
 * the process: docs/architecture.md, "OTLP/gRPC on Deno").
 *
 * Pass-through: the methods are registered with (de)serializers that hand the message bytes
 * over as they are, and a server interceptor replaces grpc-js's own decompression of each call
 * (`decompressMessage` of its base call) with one that keeps the bytes and their
 * `grpc-encoding`, so ./service.ts decompresses them with ../codec/ (gzip, deflate and also zstd,
 * which grpc-js does not decode; the size limit checked while decompressing; corrupt data an
 * INVALID_ARGUMENT, not a crash). grpc-js still enforces `grpc.max_recv_msg_bytes` on the bytes
 * as framed, answers UNIMPLEMENTED for methods not registered here (Health/Watch included), and
 * sends the `grpc-status-details-bin` trailer of a RetryInfo answer as binary metadata.
 *
 * `close()` stops accepting calls (grpc-js `tryShutdown`: GOAWAY to every connection), waits
 * for the calls in flight to be answered, then resolves; the caller flushes the writer after.
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import {
  ACCEPT_ENCODING,
  type Answer,
  type AnswerCall,
  createGrpcService,
  encodeStatusWithRetryInfo,
  EXPORT_METHODS,
  type ExportCall,
  type GrpcServiceDeps,
  HEALTH_CHECK,
  statusName,
} from "./service.ts";

export interface GrpcListener {
  /** The host and port bound (the real port when 0 was asked for). */
  host: string;
  port: number;
  /** Stops accepting calls, waits for those in flight. */
  close(): Promise<void>;
}

/** A message as the interceptor leaves it: the bytes and the encoding they are in. */
interface RawMessage {
  encoding: string;
  bytes: Uint8Array;
}

const passThroughDeserialize = (m: unknown): RawMessage =>
  m instanceof Uint8Array ? { encoding: "identity", bytes: m } : (m as RawMessage);

const passThroughSerialize = (b: Uint8Array): Buffer =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * Keeps grpc-js from decompressing: the message reaches the deserializer as `RawMessage`.
 * grpc-js calls `decompressMessage(framed, encoding)` with encoding "identity" when the
 * compressed flag is not set.
 */
const keepCompressed: grpc.ServerInterceptor = (_method, call) => {
  const base = call as unknown as {
    decompressMessage?: (message: Buffer, encoding: string) => unknown;
  };
  if (typeof base.decompressMessage === "function") {
    base.decompressMessage = (message, encoding) => ({
      encoding,
      bytes: message.subarray(5),
    });
  }
  // A ServerInterceptor returns a ServerInterceptingCall; the call itself serves (grpc-js only
  // calls the interface's methods on it).
  return call as grpc.ServerInterceptingCall;
};

const ACCEPT_METADATA = "grpc-accept-encoding";

/**
 * The gRPC listener around an answer function: grpc-js with pass-through (de)serializers, the
 * three Export methods and Health/Check registered, `answer` ./service.ts (`listenGrpc`).
 */
export async function serveGrpc(opts: {
  answer: AnswerCall;
  limit: number;
  host: string;
  port: number;
  /** Told of each answered call (the metrics), with its duration. */
  answered?: (call: ExportCall, a: Answer, seconds: number) => void;
}): Promise<GrpcListener> {
  const { answer, limit, host, port } = opts;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": limit,
    // No channelz: its per-call and per-session bookkeeping is nobody's to read here.
    "grpc.enable_channelz": 0,
    interceptors: [keepCompressed],
  });
  const inflight = new Set<Promise<unknown>>();

  const handler = (path: string) =>
  (
    call: grpc.ServerUnaryCall<RawMessage, Uint8Array>,
    callback: grpc.sendUnaryData<Uint8Array>,
  ) => {
    const started = performance.now();
    const raw = call.request;
    const auth = call.metadata.get("authorization")[0];
    const c: ExportCall = {
      path: path === UNKNOWN_METHOD ? call.getPath() : path,
      authorization: auth === undefined ? null : String(auth),
      encoding: raw.encoding,
      bytes: raw.bytes,
    };
    const p = answer(c).then((a) => {
      opts.answered?.(c, a, (performance.now() - started) / 1000);
      if (a.code === 0) {
        const md = new grpc.Metadata();
        md.set(ACCEPT_METADATA, ACCEPT_ENCODING);
        call.sendMetadata(md);
        callback(null, (a as { response: Uint8Array }).response);
        return;
      }
      const err = a as Exclude<Answer, { code: 0 }>;
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(err.metadata ?? {})) md.set(k, v);
      if (err.retryAfterSecs !== undefined) {
        md.set(
          "grpc-status-details-bin",
          passThroughSerialize(
            encodeStatusWithRetryInfo(err.code, err.message, err.retryAfterSecs),
          ),
        );
      }
      callback({ code: err.code, details: err.message, metadata: md });
    }).catch((e) => {
      callback({ code: grpc.status.INTERNAL, details: `Internal error: ${String(e)}` });
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  };

  for (const path of [...Object.keys(EXPORT_METHODS), HEALTH_CHECK, UNKNOWN_METHOD]) {
    server.register(path, handler(path), passThroughSerialize, passThroughDeserialize, "unary");
  }
  // Unknown methods and services: grpc-js would answer UNIMPLEMENTED itself, unseen by the
  // metrics; its handler lookup (grpc-js 1.14 `_retrieveHandler`) falls back to ours, so
  // ./service.ts answers UNIMPLEMENTED and the call is counted (route "other").
  const lookup = server as unknown as {
    _retrieveHandler?: (path: string) => unknown;
    handlers?: Map<string, unknown>;
  };
  const retrieve = lookup._retrieveHandler?.bind(server);
  if (retrieve && lookup.handlers instanceof Map) {
    const unknown = lookup.handlers.get(UNKNOWN_METHOD);
    lookup._retrieveHandler = (p) =>
      p === UNKNOWN_METHOD ? null : (lookup.handlers!.get(p) ?? (retrieve(p), unknown));
  }

  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) reject(err);
      else resolve(p);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    host,
    port: bound,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        while (inflight.size > 0) await Promise.allSettled([...inflight]);
      })();
      return closing;
    },
  };
}

/** Where calls to methods this server does not have go (never a real gRPC path). */
const UNKNOWN_METHOD = "/otlp2parquet.internal/Unknown";

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

/** The gRPC listener on Bun and Node: grpc-js serving ./service.ts. */
export function listenGrpc(
  deps: GrpcServiceDeps,
  host: string,
  port: number,
): Promise<GrpcListener> {
  const service = createGrpcService(deps);
  return serveGrpc({
    answer: answerWith(service),
    limit: deps.config.grpc.max_recv_msg_bytes,
    host,
    port,
    answered: (c, a, s) => recordCall(deps.metrics, c, a, s),
  });
}
