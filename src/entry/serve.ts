/**
 * The `serve` command on Deno, Bun and Node: assemble the pipeline with the server's parts
 * (write-ahead log files, encoder threads, node:zlib), listen (OTLP/HTTP, and OTLP/gRPC with
 * `grpc.enabled`: ../grpc/listen.node.ts), and on SIGINT / SIGTERM stop accepting requests on
 * both ports, finish those in flight, write out buffered data and exit.
 *
 * Signals: a terminal's Ctrl-C reaches the whole process group, and a task runner in front of
 * the server (`npx deno task start`) forwards it once more, so the server sees the same stop
 * twice within milliseconds. Signals within `REPEATED_SIGNAL_MS` of the first count as that
 * one; a second signal after that exits at once (the write-ahead log keeps the data).
 */
import { detectPlatform, splitHostPort } from "../config/load.ts";
import { type Config, parquetOptions } from "../config/types.ts";
import { encoderName, usesNative } from "../core/parquet/encode.ts";
import { createEncoder } from "../batch/encoder.node.ts";
import { createWalFs } from "../batch/wal/fs.node.ts";
import { createInflate, createThreadedGzip } from "../codec/zlib.node.ts";
import { type GrpcListener, listenGrpc } from "../grpc/listen.node.ts";
import { initParquetFromDisk, readParquetWasm } from "../core/parquet/wasm.node.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";
import type { Logger } from "../log/log.ts";
import { scheduleLifecycle } from "../lifecycle/schedule.node.ts";
import { createStorage, describeStorage } from "../storage/index.ts";
import { registerProcessMetrics } from "../metrics/process.node.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { IcebergCommitter } from "../catalog/index.ts";
import { VERSION } from "../version.ts";
import { forwardQueueDir } from "../config/forward.ts";
import { memoryPlan } from "../config/memory.ts";
import { assemble, type Assembled, metricsFor } from "./assemble.ts";
import * as rt from "./platform.ts";

/** Signals this soon after the first are the same stop, delivered again (see the top). */
export const REPEATED_SIGNAL_MS = 2000;

export async function serve(
  config: Config,
  logger: Logger,
  platform: ReturnType<typeof detectPlatform>,
): Promise<number> {
  useNodeZstd(); // arrow.compression = "zstd", where node:zlib has it
  try {
    initParquetFromDisk();
  } catch (e) {
    logger.error("cannot load parquet-wasm", { error: errorText(e) });
    return 1;
  }
  try {
    usesNative(parquetOptions(config)); // parquet.encoder = "native" where it cannot run: refused
  } catch (e) {
    logger.error("invalid config", { error: errorText(e) });
    return 1;
  }
  if (!rt.canWriteFiles()) {
    if (config.storage.backend === "fs") {
      logger.error(
        "the fs backend needs permission to write files (deno run --allow-write); use s3 or r2 on Deno Deploy",
      );
      return 1;
    }
    if (config.batch.enabled && config.batch.durability === "wal") {
      // Deno Deploy and `deno run` without --allow-write: no disk for a write-ahead log. Every
      // request is stored before its answer instead, so nothing acknowledged can be lost.
      logger.warn(
        "no permission to write files: the write-ahead log is off, requests are written through to storage",
        {
          backend: config.storage.backend,
          hint: 'set batch.durability = "memory" to batch in memory instead (lost on a crash)',
        },
      );
      config = { ...config, batch: { ...config.batch, enabled: false } };
    }
  }
  // Metrics first: the storage driver reports its operations to them.
  const metrics = metricsFor(config);
  const processMetrics = metrics ? registerProcessMetrics(metrics.registry) : undefined;
  const storage = await createStorage(config, logger, metrics?.storage);
  const checked = storage.check().then(
    () =>
      logger.info("storage ready", {
        backend: config.storage.backend,
        at: describeStorage(config),
      }),
    (e) =>
      logger.error("storage check failed: /ready answers 503 until it passes", {
        backend: config.storage.backend,
        at: describeStorage(config),
        error: errorText(e),
      }),
  );
  // Iceberg: stored files go onto the pending list (hooks), commits run on a timer.
  const iceberg = config.catalog.mode === "iceberg"
    ? await icebergFor(config, logger, storage)
    : undefined;
  if (iceberg && metrics) {
    metrics.addSource("catalog", () => iceberg.stats(), {
      pendingFiles: {
        name: "otlp2parquet_catalog_pending_files",
        help: "Files stored and not yet committed to the Iceberg catalog.",
        type: "gauge",
      },
      commits: {
        name: "otlp2parquet_catalog_commits_total",
        help: "Snapshots committed to the Iceberg catalog.",
        type: "counter",
      },
      filesCommitted: {
        name: "otlp2parquet_catalog_files_committed_total",
        help: "Data files added to Iceberg tables.",
        type: "counter",
      },
      commitFailures: {
        name: "otlp2parquet_catalog_commit_failures_total",
        help: "Catalog commits that failed (retried on the next round).",
        type: "counter",
      },
      commitConflicts: {
        name: "otlp2parquet_catalog_commit_conflicts_total",
        help: "Catalog commits answered 409 (reloaded and retried).",
        type: "counter",
      },
    });
  }
  // Parquet encoding on worker threads (batching only: write-through answers after its encode).
  const encoder = config.batch.enabled && config.output.format === "parquet"
    ? await createEncoder(config.parquet.encode_threads, readParquetWasm(), logger)
    : undefined;
  // Forwarded bodies are gzip'd on a thread of their own where the runtime would do it on the
  // event loop (Deno): started with the first body.
  const forwardGzip = config.forward.length === 0
    ? undefined
    : createThreadedGzip((why) =>
      logger.warn(
        "the gzip thread of forwarding failed; bodies are compressed on the main thread",
        {
          error: why,
        },
      )
    );
  let assembled: Assembled;
  try {
    assembled = await assemble(config, logger, {
      storage,
      walFs: platform === "server" ? createWalFs() : undefined,
      encoder,
      // gzip/deflate bodies through node:zlib: faster per request than DecompressionStream.
      inflate: createInflate(),
      metrics,
      hooks: iceberg?.hooks,
      // [[forward]]: a queue per destination on disk beside the write-ahead log (in memory
      // where files cannot be written), gRPC through @grpc/grpc-js.
      forward: config.forward.length === 0 ? undefined : {
        mode: "queue",
        dir: rt.canWriteFiles() ? forwardQueueDir(config.batch.wal_dir) : undefined,
        fs: rt.canWriteFiles() ? createWalFs() : undefined,
        grpcSender: async (d) => (await import("../forward/grpc.node.ts")).grpcSender(d),
        gzip: forwardGzip,
        mergeBuffer: forwardGzip?.buffer,
      },
    });
  } catch (e) {
    logger.error("cannot start the writer", {
      error: errorText(e),
      hint: config.batch.enabled && config.batch.durability === "wal"
        ? `the write-ahead log needs a writable batch.wal_dir (${config.batch.wal_dir}), or set batch.durability = "memory"`
        : undefined,
    });
    await encoder?.close();
    forwardGzip?.close();
    return 1;
  }
  const { writer, app, forwarder } = assembled;
  const inflate = createInflate();
  const hp = splitHostPort(config.server.listen_addr)!;
  let listener: rt.Listener;
  try {
    listener = await rt.listen(
      app.fetch,
      hp.host,
      Number(hp.port),
      (e) => logger.error("unhandled error in request", { error: errorText(e) }),
      config.server.max_payload_bytes,
      assembled.admission,
    );
  } catch (e) {
    logger.error("cannot listen", { addr: config.server.listen_addr, error: errorText(e) });
    await writer.close().catch(() => {});
    return 1;
  }
  let grpcListener: GrpcListener | undefined;
  if (config.grpc.enabled) {
    const g = splitHostPort(config.grpc.listen_addr)!;
    try {
      grpcListener = await listenGrpc(
        {
          config,
          writer,
          logger,
          ready: assembled.ready,
          inflate,
          metrics: assembled.metrics,
          forwarder,
          inflight: assembled.admission.inflight,
        },
        g.host,
        Number(g.port),
        rt.runtimeName() === "deno" ? "deno" : "node",
      );
    } catch (e) {
      logger.error("cannot listen for OTLP/gRPC", {
        addr: config.grpc.listen_addr,
        error: errorText(e),
        hint:
          "set grpc.listen_addr (OTLP2PARQUET_GRPC_LISTEN_ADDR, --grpc-port) to a free port, or grpc.enabled = false",
      });
      await listener.close().catch(() => {});
      await writer.close().catch(() => {});
      await encoder?.close();
      forwardGzip?.close();
      return 1;
    }
  }
  iceberg?.start();
  const stopWatch = config.server.max_memory_bytes > 0
    ? rt.watchMemory(memoryPlan(config).total)
    : () => {};
  const host = listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname;
  const grpcHost = grpcListener?.host.includes(":") ? `[${grpcListener.host}]` : grpcListener?.host;
  logger.info("otlp2parquet listening", {
    url: `http://${host}:${listener.port}`,
    port: listener.port,
    grpc: grpcListener ? `${grpcHost}:${grpcListener.port}` : "off",
    backend: config.storage.backend,
    storage: describeStorage(config),
    batching: config.batch.enabled,
    encoder: encoder?.where ?? "main thread",
    parquet_encoder: config.output.format === "parquet"
      ? encoderName(parquetOptions(config))
      : undefined,
    platform,
    runtime: rt.runtimeName(),
    version: VERSION,
  });

  // Compaction and retention on a schedule, on a thread of their own.
  const lifecycle = config.storage.backend === "memory"
    ? null
    : scheduleLifecycle(config, readParquetWasm(), logger);

  return await new Promise<number>((resolve) => {
    let stoppingSince: number | undefined;
    rt.onShutdownSignal(async (signal) => {
      if (stoppingSince !== undefined) {
        if (performance.now() - stoppingSince < REPEATED_SIGNAL_MS) {
          logger.debug("signal repeated while stopping: still flushing", { signal });
          return;
        }
        logger.warn("second signal: exiting now", { signal });
        rt.exit(1);
      }
      stoppingSince = performance.now();
      stopWatch();
      logger.info("shutting down: flushing buffered data", { signal });
      const limit = config.server.shutdown_timeout_secs;
      const work = (async () => {
        await lifecycle?.stop();
        logger.debug("shutdown: compaction and retention stopped");
        // Both ports stop accepting, the calls in flight are answered, then the flush.
        await Promise.all([listener.close(), grpcListener?.close()]);
        logger.debug("shutdown: listeners closed, calls in flight answered");
        await writer.close();
        logger.debug("shutdown: buffers flushed");
        // The forward queues stay on disk for the next start.
        await forwarder?.close();
        forwardGzip?.close();
        // One last commit of what the flush stored (what it cannot commit stays pending).
        await iceberg?.close();
        await encoder?.close();
        await storage.close?.();
        await checked;
        processMetrics?.close();
      })();
      try {
        if (limit > 0) await withTimeout(work, limit * 1000);
        else await work;
        logger.info("stopped");
        resolve(0);
      } catch (e) {
        logger.error("shutdown did not complete", {
          error: errorText(e),
          note: config.batch.enabled && config.batch.durability === "wal"
            ? "the write-ahead log keeps unflushed data for the next start"
            : undefined,
        });
        resolve(1);
      }
    });
  });
}

/**
 * The Iceberg committer of a server: the pending list in `catalog.iceberg.pending_dir` (beside
 * the write-ahead log), or as objects in the storage where files cannot be written (Deno
 * Deploy); data file paths under the storage's URI (`file:///…` for the fs backend).
 */
export async function icebergFor(
  config: Config,
  logger: Logger,
  storage: StorageDriver,
): Promise<IcebergCommitter> {
  const { createIceberg, storageKeyValue, storageRootUri, PENDING_PREFIX } = await import(
    "../catalog/index.ts"
  );
  const { dirKeyValue } = await import("../catalog/pending-fs.node.ts");
  const { resolve } = await import("node:path");
  const pending = rt.canWriteFiles()
    ? dirKeyValue(config.catalog.iceberg.pending_dir)
    : storageKeyValue(storage, PENDING_PREFIX);
  const fsPath = config.storage.backend === "fs" ? resolve(config.storage.fs.path) : undefined;
  return createIceberg({
    config,
    storage,
    logger,
    pending,
    rootUri: storageRootUri(config, fsPath),
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
