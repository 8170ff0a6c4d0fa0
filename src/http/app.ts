/**
 * The OTLP/HTTP app (Hono), the same on every platform: the runtime entry builds the config,
 * storage, writer and logger and hands them to `createApp`.
 *
 *   POST /v1/logs | /v1/traces | /v1/metrics   OTLP export (protobuf, JSON, JSON Lines)
 *   GET  /health                               alive: 200 {"status":"ok","version":…}
 *   GET  /ready                                storage reachable: 200, or 503 naming the problem
 *   GET  /metrics, /api/stats, /dashboard      with `deps.metrics` (../metrics/routes.ts)
 *
 * Export pipeline: auth → content type → admission from the headers (429 + Retry-After while the
 * buffers or the request bytes in flight are full, before the body is read: ./admission.ts)
 * → body (size-limited) → decompression (size-limited)
 * → `ingest` (decode + partition, synchronous CPU work, then writer.write; ../ingest/) → 200
 * with an Export*ServiceResponse. Every error becomes a google.rpc.Status body in one place
 * (`onError`, with `classifyFailure` deciding the status), encoded like the request (protobuf
 * or JSON).
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Config } from "../config/types.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Signal } from "../core/tables.ts";
import type { Writer } from "../batch/types.ts";
import type { Coding } from "../codec/index.ts";
import type { Fields, Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { mountObservability } from "../metrics/routes.ts";
import type { ServiceMetrics } from "../metrics/service.ts";
import type { Forwarder } from "../forward/index.ts";
import { classifyFailure, ingest } from "../ingest/index.ts";
import { VERSION } from "../version.ts";
import { createAuthenticator } from "./auth.ts";
import {
  declaredLength,
  decodeContent,
  formatOfContentType,
  type Inflate,
  parseContentEncoding,
  preRefused,
  preReserved,
  readBody,
  sniffFormat,
} from "./body.ts";
import { AdmissionQueue, InflightBudget, Reservation, WIRE_COPIES } from "./admission.ts";
import { ROWS_PER_BODY_BYTE } from "../config/memory.ts";
import { exportResponse, type ResponseFormat, statusResponse } from "./responses.ts";

export interface AppDeps {
  config: Config;
  writer: Writer;
  storage: StorageDriver;
  logger: Logger;
  /** Reported by /health. Default: the release version. */
  version?: string;
  /** Current time, epoch nanoseconds (request receive time; /ready cache). Default: the clock. */
  now?: () => bigint;
  /**
   * The platform's synchronous gzip/deflate decoder (node:zlib on servers:
   * ../codec/zlib.node.ts). Default: the web `DecompressionStream`.
   */
  inflate?: Inflate;
  /** Counts requests and records, and serves /metrics, /api/stats, /dashboard. */
  metrics?: ServiceMetrics;
  /**
   * The storage check /ready answers from (`readinessOf`), shared with other transports (the
   * gRPC health service). Default: made here.
   */
  ready?: () => Promise<ReadyResult>;
  /**
   * The bound on request bytes in flight (`server.max_inflight_bytes`), shared with the runtime
   * entry that may pre-read bodies (src/entry/platform.ts). Default: made from the config.
   */
  inflight?: InflightBudget;
  /**
   * Where requests refused from their headers wait for room (`server.admission_wait_ms`), shared
   * with the runtime entry. Default: made from the config, woken by `inflight`'s releases.
   */
  queue?: AdmissionQueue;
  /**
   * Told of every accepted request after its answer is decided (../forward/): it queues the
   * body for the `[[forward]]` destinations and never throws; a promise it returns (best-effort
   * mode on Workers) goes to the execution context's `waitUntil`.
   */
  forwarder?: Forwarder;
}

/**
 * Whether a request of `declared` body bytes (-1: unknown) may be read now: null, or the
 * `BackpressureError` to answer with (429 / 503 + Retry-After) from its headers alone. The
 * buffers are asked for room for this body's rows and those of every body in flight.
 */
export function refusal(
  writer: Writer,
  inflight: InflightBudget,
  declared: number,
): Error | null {
  const pressure = writer.admission?.(ROWS_PER_BODY_BYTE * Math.max(0, declared) + inflight.bytes);
  if (pressure) return pressure;
  const need = WIRE_COPIES * declared;
  if (declared > 0 && inflight.bytes > 0 && inflight.bytes + need > inflight.limit) {
    return inflight.full(need);
  }
  return null;
}

/**
 * `refusal`, or the in-flight bytes of a body of `declared` bytes reserved through `reserve`:
 * the attempt an `AdmissionQueue` makes (check and reserve at once, nothing awaited between).
 */
export function admissionAttempt(
  writer: Writer,
  inflight: InflightBudget,
  declared: number,
  reserve: (bytes: number) => boolean,
): () => Error | null {
  return () => {
    const refused = refusal(writer, inflight, declared);
    if (refused) return refused;
    const need = WIRE_COPIES * declared;
    if (declared > 0 && !reserve(need)) return inflight.full(need);
    return null;
  };
}

/** How long a /ready result is reused, so a flood of probes does not hammer storage. */
export const READY_CACHE_MS = 1000;
/**
 * A storage check that takes longer than this (or than `storage.retry.timeout_ms`, if shorter)
 * makes /ready answer 503.
 */
export const READY_TIMEOUT_MS = 5000;

const SIGNALS: readonly Signal[] = ["logs", "traces", "metrics"];

/** What one request did, for its log line. */
interface RequestInfo {
  signal?: Signal;
  contentType?: string;
  encoding?: string;
  bytes?: number;
  decodedBytes?: number;
  records?: number;
  rejected?: number;
  error?: string;
}

type Env = { Variables: { format: ResponseFormat; info: RequestInfo } };

const defaultNow = () => BigInt(Date.now()) * 1_000_000n;

export function createApp(deps: AppDeps): Hono {
  const { config, writer, storage, logger } = deps;
  const version = deps.version ?? VERSION;
  const now = deps.now ?? defaultNow;
  const limit = config.server.max_payload_bytes;
  const auth = createAuthenticator(config.auth);
  const metrics = deps.metrics;
  const forwarder = deps.forwarder;
  const inflight = deps.inflight ?? new InflightBudget(config.server.max_inflight_bytes);
  const queue = deps.queue ??
    new AdmissionQueue(config.server.admission_wait_ms, config.server.max_waiting_requests);
  inflight.onRelease ??= () => queue.pump();
  const ready = deps.ready ?? readinessOf(config, storage, now);

  const app = new Hono<Env>({ strict: false });

  // One log line per request, never the payload.
  app.use("*", async (c, next) => {
    const started = performance.now();
    const info: RequestInfo = {};
    c.set("info", info);
    c.set("format", "json");
    await next();
    const status = c.res.status;
    if (metrics) {
      const route = routeOf(c.req.path);
      metrics.request({
        transport: "http",
        route,
        code: String(status),
        seconds: (performance.now() - started) / 1000,
        bytes: info.bytes,
        encoding: info.encoding,
        signal: EXPORT_ROUTES[route],
      });
    }
    if (status < 500 && !logger.debugEnabled) return;
    const fields: Fields = {
      method: c.req.method,
      path: c.req.path,
      status,
      content_type: info.contentType,
      encoding: info.encoding,
      bytes: info.bytes,
      decoded_bytes: info.decodedBytes,
      records: info.records,
      rejected: info.rejected,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      error: info.error,
    };
    if (status >= 500) logger.warn("request failed", fields);
    else logger.debug("request", fields);
  });

  app.get("/health", (c) => c.json({ status: "ok", version }));
  app.all("/health", () => methodNotAllowed("GET, HEAD"));

  app.get("/ready", async (c) => {
    const r = await ready();
    if (r.ok) return c.json({ status: "ready", storage: storage.name });
    c.get("info").error = r.error;
    return c.json(
      { status: "unavailable", storage: storage.name, error: `storage check failed: ${r.error}` },
      503,
      { "retry-after": "1" },
    );
  });
  app.all("/ready", () => methodNotAllowed("GET, HEAD"));

  // Auth covers the export endpoints only (probes stay open).
  app.use("/v1/*", async (c, next) => {
    if (!auth.enabled) return next();
    const result = await auth.check(c.req.header("authorization") ?? null);
    if (result.ok) return next();
    // Answer in the request's encoding if it names one.
    c.set("format", responseFormatOf(safeFormat(c.req.header("content-type"))));
    const headers = new Headers();
    for (const ch of auth.challenges) headers.append("www-authenticate", ch);
    throw new HTTPException(401, {
      message: result.message,
      res: new Response(null, { headers }),
    });
  });

  for (const signal of SIGNALS) {
    app.post(`/v1/${signal}`, (c) => exportHandler(c, signal));
    app.all(`/v1/${signal}`, () => methodNotAllowed("POST"));
  }

  async function exportHandler(c: Context<Env>, signal: Signal): Promise<Response> {
    const receivedAtNs = now();
    const info = c.get("info");
    info.signal = signal;
    const req = c.req.raw;
    const contentType = req.headers.get("content-type");
    info.contentType = contentType ?? undefined;
    const format: Format | null = formatOfContentType(contentType);
    if (format) c.set("format", responseFormatOf(format));
    const encodingHeader = req.headers.get("content-encoding");
    info.encoding = encodingHeader ?? undefined;
    const encodings: Coding[] = parseContentEncoding(encodingHeader);

    // Cheap rejection: from the headers, before a byte of the body is read.
    const reservation = new Reservation(inflight);
    try {
      return await admitted(c, signal, req, encodings, format, receivedAtNs, reservation);
    } finally {
      reservation.release();
    }
  }

  async function admitted(
    c: Context<Env>,
    signal: Signal,
    req: Request,
    encodings: Coding[],
    format: Format | null,
    receivedAtNs: bigint,
    reservation: Reservation,
  ): Promise<Response> {
    const info = c.get("info");
    const refusedBefore = preRefused.get(req);
    if (refusedBefore) throw refusedBefore;
    const pre = preReserved.get(req);
    if (pre !== undefined) {
      // The runtime entry checked and reserved before it read the body.
      preReserved.delete(req);
      reservation.adopt(pre);
    } else {
      // Cheap rejection, or a wait for room with the body unread (./admission.ts).
      const declared = declaredLength(req.headers);
      const refused = declared > limit ? null : await queue.admit(
        admissionAttempt(writer, inflight, declared, (n) => reservation.tryAdd(n)),
        Math.max(0, declared),
      );
      if (refused) throw refused;
    }
    const raw = await readBody(req, limit, (n) => reservation.add(WIRE_COPIES * n));
    info.bytes = raw.length;
    const body = await decodeContent(raw, encodings, limit, deps.inflate);
    // The decompressed copy is in flight too (a bomb is cut off at the limit first).
    if (body !== raw) reservation.add(body.length);
    info.decodedBytes = body.length;
    metrics?.decompressed("http", signal, body.length);
    if (!format) {
      format = sniffFormat(body);
      c.set("format", responseFormatOf(format));
    }

    const result = await ingest(writer, {
      signal,
      format,
      body,
      // The bytes as received, for a write-ahead log to keep instead of `body` (fewer bytes).
      encoded: encodings.length > 0 ? { encodings, bytes: raw } : undefined,
      receivedAtNs,
    });
    info.records = result.records;
    info.rejected = result.rejected;
    metrics?.ingested("http", signal, result.records, result.rejected);
    if (forwarder && result.records > 0) {
      const sending = forwarder.accepted({
        signal,
        format,
        body,
        encoded: encodings.length > 0 ? { encodings, bytes: raw } : undefined,
        records: result.records,
      });
      if (sending) waitUntil(c, sending);
    }
    return exportResponse(signal, c.get("format"), result.rejected, result.message);
  }

  if (metrics) mountObservability(app, metrics, config.server.metrics_auth ? auth : undefined);

  app.notFound((c) =>
    statusResponse(
      404,
      `Not found: ${c.req.method} ${c.req.path} (OTLP endpoints are POST /v1/logs, /v1/traces, /v1/metrics)`,
      "json",
    )
  );

  app.onError((err, c) => {
    const format = c.get("format") ?? "json";
    const info = c.get("info");
    const answer = (
      status: number,
      message: string,
      headers?: Headers | Record<string, string>,
    ) => {
      if (info) info.error = message;
      return statusResponse(status, message, format, headers);
    };
    if (err instanceof HTTPException) {
      const headers = new Headers(err.res?.headers);
      headers.delete("content-type");
      headers.delete("content-length");
      return answer(err.status, err.message || defaultMessage(err.status), headers);
    }
    const failure = classifyFailure(err);
    switch (failure.kind) {
      case "invalid":
        return answer(400, failure.message);
      case "backpressure":
        return answer(failure.status, failure.message, {
          "retry-after": String(failure.retryAfterSecs),
        });
      case "unavailable":
        return answer(503, failure.message, { "retry-after": String(failure.retryAfterSecs) });
      case "internal":
        logger.error("unexpected error while handling a request", {
          method: c.req.method,
          path: c.req.path,
          error: err instanceof Error ? err.message : String(err),
          stack: err instanceof Error ? err.stack : undefined,
        });
        return answer(500, failure.message);
    }
  });

  return app as unknown as Hono;
}

/** Hands `p` to the execution context's `waitUntil` where there is one (Workers). */
function waitUntil(c: Context<Env>, p: Promise<unknown>): void {
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // no execution context (servers, Lambda): the promise runs on by itself
  }
  if (ctx) ctx.waitUntil(p);
  else p.catch(() => {});
}

/** Export routes and their signal (requests to them feed the dashboard's rates and latency). */
const EXPORT_ROUTES: Record<string, Signal | undefined> = {
  "/v1/logs": "logs",
  "/v1/traces": "traces",
  "/v1/metrics": "metrics",
};
const KNOWN_ROUTES = new Set([
  ...Object.keys(EXPORT_ROUTES),
  "/health",
  "/ready",
  "/metrics",
  "/api/stats",
  "/dashboard",
]);

/** The `route` label of a path: a known endpoint (without a trailing "/"), else "other". */
function routeOf(path: string): string {
  if (KNOWN_ROUTES.has(path)) return path;
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return KNOWN_ROUTES.has(trimmed) ? trimmed : "other";
}

function methodNotAllowed(allow: string): never {
  throw new HTTPException(405, {
    message: `Method not allowed: use ${allow.replace(", HEAD", "")}`,
    res: new Response(null, { headers: { allow } }),
  });
}

function defaultMessage(status: number): string {
  return status === 413 ? "Request body too large" : `HTTP ${status}`;
}

/** Response encoding for a request format: protobuf answers protobuf, JSON and JSONL answer JSON. */
function responseFormatOf(format: Format | null): ResponseFormat {
  return format === "protobuf" ? "protobuf" : "json";
}

/** The format a Content-Type names, or null (missing or unsupported), without throwing. */
function safeFormat(contentType: string | undefined): Format | null {
  try {
    return formatOfContentType(contentType);
  } catch {
    return null;
  }
}

export type ReadyResult = { ok: true } | { ok: false; error: string };

/** The storage check behind /ready (and the gRPC health service), cached and time-limited. */
export function readinessOf(
  config: Config,
  storage: StorageDriver,
  now: () => bigint = defaultNow,
): () => Promise<ReadyResult> {
  return readiness(
    storage,
    () => Number(now() / 1_000_000n),
    Math.min(READY_TIMEOUT_MS, config.storage.retry.timeout_ms),
  );
}

/**
 * `storage.check()` with its result reused for READY_CACHE_MS after it completes (concurrent
 * probes share one check in flight), and a timeout so a hung store answers 503, not never.
 */
function readiness(
  storage: StorageDriver,
  nowMs: () => number,
  timeoutMs: number,
): () => Promise<ReadyResult> {
  let current: { result: Promise<ReadyResult>; doneAt?: number } | undefined;
  const run = async (): Promise<ReadyResult> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      await Promise.race([storage.check(), timeout]);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    } finally {
      clearTimeout(timer);
    }
  };
  return () => {
    const c = current;
    if (c && (c.doneAt === undefined || nowMs() - c.doneAt < READY_CACHE_MS)) return c.result;
    const entry: { result: Promise<ReadyResult>; doneAt?: number } = { result: run() };
    entry.result.then(() => entry.doneAt = nowMs());
    current = entry;
    return entry.result;
  };
}
