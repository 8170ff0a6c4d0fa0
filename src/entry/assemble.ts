/**
 * What every entry point builds, built once: configuration → logger → storage → writer →
 * Hono app (the part without HTTP, shared with the library, is ../ingest/assemble.ts). The
 * entries (./serve.ts for the CLI's server on Deno, Bun and Node; ./lambda.ts; ./worker.ts)
 * only hand in what their platform has: the environment, where log lines go, the
 * storage driver (`createStorage` of ../storage/ on servers and Lambda, the R2 binding on
 * Workers: the Worker bundle must not carry the other drivers), the write-ahead log's file
 * access and encoder threads on a server, node:zlib where it exists.
 */
import type { Config } from "../config/types.ts";
import type { Writer } from "../batch/types.ts";
import type { Inflate } from "../codec/index.ts";
import {
  admissionAttempt,
  createApp,
  readinessOf,
  type ReadyResult,
  refusal,
} from "../http/app.ts";
import { type Admission, AdmissionQueue, InflightBudget } from "../http/admission.ts";
import { memoryPlan } from "../config/memory.ts";
import { assembleWriter, configure, type WriterParts } from "../ingest/assemble.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { combineHooks, ServiceMetrics } from "../metrics/service.ts";
import { VERSION } from "../version.ts";
import { createForwarder, type Forwarder, type ForwarderOptions } from "../forward/index.ts";
import type { Hono } from "hono";

export { configure };

export interface PlatformParts extends WriterParts {
  /** A synchronous gzip/deflate decoder (node:zlib), faster than DecompressionStream. */
  inflate?: Inflate;
  /**
   * The metrics (`metricsFor(config)`), made before the storage so its observer can be handed
   * to `createStorage`. Default: made here when `server.metrics` is on. Its own hook on stored
   * files runs after `hooks` (catalogs).
   */
  metrics?: ServiceMetrics;
  /**
   * How `[[forward]]` destinations are served here: servers pass `mode: "queue"` with the
   * queue's files and gRPC; the default is best effort (Workers, Lambda: the entry hands the
   * sends to `waitUntil`).
   */
  forward?: Pick<ForwarderOptions, "mode" | "dir" | "fs" | "grpcSender" | "gzip" | "mergeBuffer">;
}

/** The metrics of `config`, or undefined when `server.metrics` is off. */
export function metricsFor(config: Config): ServiceMetrics | undefined {
  return config.server.metrics ? new ServiceMetrics({ version: VERSION }) : undefined;
}

export interface Assembled {
  storage: StorageDriver;
  writer: Writer;
  app: Hono;
  metrics?: ServiceMetrics;
  /** The storage check behind /ready, for other transports (the gRPC health service). */
  ready: () => Promise<ReadyResult>;
  /** The in-flight budget and the header check, for a runtime entry that pre-reads bodies. */
  admission: Admission;
  /** The forwarder, when `[[forward]]` destinations are configured. */
  forwarder?: Forwarder;
}

/**
 * Writer and app for `config` over `parts.storage`. With a write-ahead log, the writer replays
 * what an earlier run left before this resolves. Rejects when the writer cannot start (e.g. an
 * unwritable `batch.wal_dir`).
 */
export async function assemble(
  config: Config,
  logger: Logger,
  parts: PlatformParts,
): Promise<Assembled> {
  const storage = parts.storage;
  const metrics = parts.metrics ?? metricsFor(config);
  const batching = parts.writer === undefined && config.batch.enabled;
  metrics?.setLimits({
    batching,
    bufferedBytes: config.batch.max_buffered_bytes,
    walEnabled: batching && config.batch.durability === "wal" && parts.walFs !== undefined,
    walBytes: config.batch.max_wal_bytes,
  });
  let writer = await assembleWriter(config, logger, {
    ...parts,
    hooks: combineHooks(parts.hooks, metrics?.hooks),
  });
  if (metrics) writer = metrics.watchWriter(writer);
  const ready = readinessOf(config, storage);
  const inflight = new InflightBudget(config.server.max_inflight_bytes);
  const w = writer;
  const queue = new AdmissionQueue(
    config.server.admission_wait_ms,
    config.server.max_waiting_requests,
  );
  inflight.onRelease = () => queue.pump();
  const admission: Admission = {
    inflight,
    queue,
    refuse: (declared) => refusal(w, inflight, declared),
    admit: (declared) =>
      queue.admit(
        admissionAttempt(w, inflight, declared, (n) => inflight.tryReserve(n)),
        Math.max(0, declared),
      ),
  };
  metrics?.addSource("memory", () => ({
    inflightBytes: inflight.bytes,
    inflightLimit: inflight.limit,
    inflightRejected: inflight.rejected,
    inflightPeak: inflight.peak,
    waiting: queue.waiting,
    waitLimit: queue.maxWaiting,
    admittedAfterWait: queue.stats().admittedAfterWait,
    refusedBuffers: queue.stats().refused.buffers,
    refusedInflight: queue.stats().refused.inflight,
    refusedWaiting: queue.stats().refused.waiting,
    refusedUnavailable: queue.stats().refused.unavailable,
    bound: memoryPlan(config).total,
  }), {
    inflightBytes: {
      name: "otlp2parquet_inflight_bytes",
      help: "Request bytes in flight (read, decompressed, being logged), as reserved.",
      type: "gauge",
    },
    inflightLimit: {
      name: "otlp2parquet_inflight_limit_bytes",
      help: "The bound of request bytes in flight (server.max_inflight_bytes).",
      type: "gauge",
    },
    inflightRejected: {
      name: "otlp2parquet_inflight_rejected_total",
      help: "Requests answered 429 because the in-flight bound was reached.",
      type: "counter",
    },
    inflightPeak: {
      name: "otlp2parquet_inflight_peak_bytes",
      help: "Most request bytes in flight at once since start.",
      type: "gauge",
    },
    waiting: {
      name: "otlp2parquet_admission_waiting",
      help: "Requests waiting for room, their body unread (server.admission_wait_ms).",
      type: "gauge",
    },
    waitLimit: {
      name: "otlp2parquet_admission_waiting_limit",
      help: "Most requests that may wait for room at once (server.max_waiting_requests).",
      type: "gauge",
    },
    admittedAfterWait: {
      name: "otlp2parquet_admission_waited_total",
      help: "Requests let in after waiting for room.",
      type: "counter",
    },
    refusedBuffers: {
      name: "otlp2parquet_admission_refused_buffers_total",
      help:
        "Requests refused from their headers (429) because the buffers were full (batch.max_buffered_bytes).",
      type: "counter",
    },
    refusedInflight: {
      name: "otlp2parquet_admission_refused_inflight_total",
      help:
        "Requests refused from their headers (429) because the request bytes in flight were at their bound (server.max_inflight_bytes).",
      type: "counter",
    },
    refusedWaiting: {
      name: "otlp2parquet_admission_refused_waiting_total",
      help:
        "Requests refused at once (429) because server.max_waiting_requests others were waiting.",
      type: "counter",
    },
    refusedUnavailable: {
      name: "otlp2parquet_admission_refused_unavailable_total",
      help:
        "Requests refused from their headers with 503 (shutting down, write-ahead log full, storage failing).",
      type: "counter",
    },
    bound: {
      name: "otlp2parquet_memory_bound_bytes",
      help: "The memory bound the settings allow (docs/configuration.md, Memory budget).",
      type: "gauge",
    },
  });
  let forwarder: Forwarder | undefined;
  try {
    forwarder = await createForwarder({
      destinations: config.forward,
      logger,
      registry: metrics?.registry,
      mode: "best-effort",
      inflate: parts.inflate,
      ...parts.forward,
    });
  } catch (e) {
    await writer.close().catch(() => {});
    throw e;
  }
  if (forwarder) {
    const f = forwarder;
    metrics?.setForward(() => f.stats());
  }
  const app = createApp({
    ready,
    config,
    inflight,
    queue,
    writer,
    storage,
    logger,
    version: VERSION,
    inflate: parts.inflate,
    metrics,
    forwarder,
  });
  return { storage, writer, app, metrics, ready, admission, forwarder };
}
