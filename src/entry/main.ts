/**
 * The command-line entry for Deno (default), Bun and Node:
 *
 *   otlp2parquet [serve] [--config FILE] [--port N] [--output DIR] [--log-level LEVEL]
 *   otlp2parquet convert FILE… --out DIR [--signal S] [--config FILE] [--log-level LEVEL]
 *   otlp2parquet --help | --version
 *
 * Small and boring on purpose: read the arguments and the environment, build the logger,
 * storage, writer and Hono app, and hand requests to it. Exit codes: 0 ok, 1 failure (bad input
 * files, start-up failure), 2 usage or configuration error.
 */
import { ConfigError, detectPlatform, loadConfig, splitHostPort } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createWriter } from "../batch/index.ts";
import { createApp } from "../http/app.ts";
import type { Logger } from "../log/log.ts";
import { VERSION } from "../version.ts";
import { parseArgs, type ParsedArgs, usage, UsageError } from "./args.ts";
import { createLogger } from "../log/logger.ts";
import * as rt from "./platform.ts";
import { createStorage, describeStorage } from "../storage/index.ts";
import { createInflate } from "../codec/zlib.node.ts";
import { createWalFs } from "../batch/wal/fs.node.ts";
import { initParquetFromDisk, readParquetWasm } from "../core/parquet/wasm.node.ts";
import { createEncoder } from "../batch/encoder.node.ts";

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(rt.args());
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`otlp2parquet: ${e.message}\nRun "otlp2parquet --help" for usage.`);
      return 2;
    }
    throw e;
  }
  if (parsed.command === "help") {
    console.log(usage());
    return 0;
  }
  if (parsed.command === "version") {
    console.log(`otlp2parquet ${VERSION}`);
    return 0;
  }
  const env = rt.env();
  let config: Config;
  try {
    const flags = { ...parsed.flags };
    if (parsed.command === "convert" && flags.logLevel === undefined) flags.logLevel = "warn";
    config = loadConfig({
      platform: parsed.command === "convert" ? "server" : detectPlatform(env),
      env,
      flags,
      readTextFile: rt.readTextFile,
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  const logger = createLogger({ level: config.server.log_level, format: config.server.log_format });
  if (parsed.command === "convert") {
    const { convertFiles } = await import("./convert.ts");
    return await convertFiles({ config, logger, files: parsed.files, signal: parsed.signal });
  }
  return await serve(config, logger, detectPlatform(env));
}

async function serve(
  config: Config,
  logger: Logger,
  platform: ReturnType<typeof detectPlatform>,
): Promise<number> {
  try {
    initParquetFromDisk();
  } catch (e) {
    logger.error("cannot load parquet-wasm", { error: errorText(e) });
    return 1;
  }
  const storage = await createStorage(config, logger);
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
  // Parquet encoding on worker threads (batching only: write-through answers after its encode).
  const encoder = config.batch.enabled
    ? await createEncoder(config.parquet.encode_threads, readParquetWasm(), logger)
    : undefined;
  let writer;
  try {
    writer = await createWriter({
      config,
      storage,
      logger,
      walFs: platform === "server" ? createWalFs() : undefined,
      encoder,
    });
  } catch (e) {
    logger.error("cannot start the writer", {
      error: errorText(e),
      hint: config.batch.enabled && config.batch.durability === "wal"
        ? `the write-ahead log needs a writable batch.wal_dir (${config.batch.wal_dir}), or set batch.durability = "memory"`
        : undefined,
    });
    await encoder?.close();
    return 1;
  }
  // gzip/deflate bodies through node:zlib: faster per request than DecompressionStream.
  const app = createApp({
    config,
    writer,
    storage,
    logger,
    version: VERSION,
    inflate: createInflate(),
  });
  const hp = splitHostPort(config.server.listen_addr)!;
  let listener: rt.Listener;
  try {
    listener = await rt.listen(
      app.fetch,
      hp.host,
      Number(hp.port),
      (e) => logger.error("unhandled error in request", { error: errorText(e) }),
      config.server.max_payload_bytes,
    );
  } catch (e) {
    logger.error("cannot listen", { addr: config.server.listen_addr, error: errorText(e) });
    await writer.close().catch(() => {});
    return 1;
  }
  const host = listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname;
  logger.info("otlp2parquet listening", {
    url: `http://${host}:${listener.port}`,
    port: listener.port,
    backend: config.storage.backend,
    storage: describeStorage(config),
    batching: config.batch.enabled,
    encoder: encoder?.where ?? "main thread",
    platform,
    runtime: rt.runtimeName(),
    version: VERSION,
  });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    rt.onShutdownSignal(async (signal) => {
      if (stopping) {
        logger.warn("second signal: exiting now", { signal });
        rt.exit(1);
      }
      stopping = true;
      logger.info("shutting down: flushing buffered data", { signal });
      const limit = config.server.shutdown_timeout_secs;
      const work = (async () => {
        await listener.close();
        await writer.close();
        await encoder?.close();
        await storage.close?.();
        await checked;
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

/** Runs the CLI with the process's arguments and exits with its code. */
export function run(): void {
  main().then(
    (code) => rt.exit(code),
    (e) => {
      console.error(`otlp2parquet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      rt.exit(1);
    },
  );
}

// Started directly (deno run, bun run, the Node bundle where import.meta.main is undefined);
// the single-executable entry (./compile.ts) imports this module and calls run() itself.
if (import.meta.main ?? true) run();
