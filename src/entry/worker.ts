/**
 * Cloudflare Workers entry: the same Hono app, storage through the R2 bucket binding, config from
 * Worker vars/secrets (`OTLP2PARQUET_*`) and `OTLP2PARQUET_CONFIG_CONTENT` (inline TOML).
 *
 * Parquet is written by the native encoder with snappy (the Workers default of
 * `parquet.compression`: Workers have no zstd compressor). parquet-wasm is loaded only when
 * something needs it (`parquet.compression = "zstd"` or `"lz4_raw"`, `parquet.encoder = "wasm"`,
 * compaction, which reads Parquet with it): its binary is a module of its own,
 * dist/worker/parquet-wasm.js (./worker-wasm.ts, which imports the `.wasm`: Workers forbid
 * compiling wasm from bytes at run time), imported then.
 *
 * Built by `deno task build:worker` into dist/worker/ (index.js, parquet-wasm.js,
 * parquet_wasm_bg.wasm); deploy with the wrangler.toml template at the repository root.
 */
import type { Hono } from "hono";
import { encoderName, initParquet } from "../core/parquet/encode.ts";
import { parquetOptions } from "../config/types.ts";
import {
  batcherNamespace,
  createDurableObjectWriter,
  OtlpBatcher,
  setBatcherWasm,
  workerConfig,
  workerNeedsWasm,
} from "../batch/durable-object.ts";
import { bindingStorage } from "../storage/r2.ts";
import { loggerFor } from "../log/logger.ts";
import { runLifecycle } from "../lifecycle/index.ts";
import {
  createIceberg,
  type IcebergCommitter,
  lifecycleCatalog,
  PENDING_PREFIX,
  storageKeyValue,
} from "../catalog/index.ts";
import { assemble, metricsFor } from "./assemble.ts";

/** The batching Durable Object class (wrangler.toml: class_name = "OtlpBatcher"). */
export { OtlpBatcher };
setBatcherWasm(loadParquetWasm);

let wasmLoad: Promise<void> | undefined;

/** parquet-wasm, initialised from ./worker-wasm.ts's module the first time it is needed. */
function loadParquetWasm(): Promise<void> {
  wasmLoad ??= (async () => {
    // A specifier the bundler leaves alone: the module beside the bundle (scripts/build.ts).
    const beside = "./parquet-wasm.js";
    const m = await import(beside) as { default: WebAssembly.Module };
    initParquet(m.default);
  })().catch((e) => {
    wasmLoad = undefined;
    throw new Error(
      `this setting needs parquet-wasm (parquet.compression = "zstd" or "lz4_raw", parquet.encoder = "wasm", or compaction.enabled), which could not be loaded from parquet-wasm.js beside the bundle (built with "deno task build:worker --no-wasm"? build without --no-wasm, or use parquet.compression = "snappy", "gzip" or "none"): ${e}`,
    );
  });
  return wasmLoad;
}

type WorkerEnv = Record<string, unknown>;

let app: Promise<Hono> | undefined;
/** Iceberg mode writing through: this isolate's committer (pending objects in the bucket). */
let iceberg: IcebergCommitter | undefined;
let lastRoundMs = 0;

interface WaitUntil {
  waitUntil(p: Promise<unknown>): void;
}

async function build(env: WorkerEnv): Promise<Hono> {
  const config = workerConfig(env);
  const logger = loggerFor(config, (line) => console.log(line));
  // parquet.encoder = "native" where its codec cannot run (zstd without the runtime's) is refused
  // here, not at the first flush; "auto" falls back to parquet-wasm, loaded now.
  if (workerNeedsWasm(config)) await loadParquetWasm();
  logger.info("otlp2parquet ready", {
    platform: "workers",
    output: config.output.format,
    parquet_encoder: config.output.format === "parquet"
      ? encoderName(parquetOptions(config))
      : undefined,
    parquet_compression: config.output.format === "parquet"
      ? config.parquet.compression
      : undefined,
    batching: config.batch.enabled,
  });
  // Counters of this isolate only (README: "Metrics on Workers and Lambda").
  const metrics = metricsFor(config);
  const storage = bindingStorage(config, env, logger, metrics?.storage);
  // Batching on Workers goes through a Durable Object per (table, service): ../batch/durable-object.ts.
  const writer = config.batch.enabled
    ? createDurableObjectWriter(batcherNamespace(env, config), logger)
    : undefined;
  // Iceberg: with batching, each Durable Object commits what it stores (its own storage holds
  // the pending list); writing through, stored files go on a pending list of small objects
  // under _iceberg/pending/, committed after requests once commit_interval_secs have passed and
  // on the Cron Trigger (`scheduled`).
  if (config.catalog.mode === "iceberg" && !config.batch.enabled) {
    iceberg = createIceberg({
      config,
      storage,
      logger,
      pending: storageKeyValue(storage, PENDING_PREFIX),
    });
  }
  return (await assemble(config, logger, { storage, writer, metrics, hooks: iceberg?.hooks }))
    .app;
}

function ready(env: WorkerEnv): Promise<Hono> {
  app ??= build(env).catch((e) => {
    app = undefined;
    throw e;
  });
  return app;
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    let a: Hono;
    try {
      a = await ready(env);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      console.error(message);
      return Response.json({
        code: 14,
        message: `otlp2parquet is misconfigured: ${message}`,
        details: [],
      }, {
        status: 503,
        headers: { "retry-after": "60" },
      });
    }
    const res = await a.fetch(request, env, ctx as never);
    if (iceberg) {
      const every = iceberg.deps.config.catalog.iceberg.commit_interval_secs * 1000;
      if (Date.now() - lastRoundMs >= every) {
        lastRoundMs = Date.now();
        (ctx as WaitUntil).waitUntil(iceberg.commitAll());
      }
    }
    return res;
  },

  /**
   * A Cron Trigger (wrangler.toml `[triggers] crons`): the pending Iceberg files committed
   * (writing through), then one lifecycle run, retention then compaction
   * (`compaction.enabled`), bounded by `compaction.max_run_secs` and `max_input_bytes` (a
   * Worker has 128 MB); the next trigger goes on where it stopped.
   */
  async scheduled(_event: unknown, env: WorkerEnv, ctx: WaitUntil): Promise<void> {
    await ready(env);
    if (iceberg) {
      lastRoundMs = Date.now();
      ctx.waitUntil(iceberg.commitAll());
    }
    const config = workerConfig(env);
    const logger = loggerFor(config, (line) => console.log(line));
    // Compaction reads Parquet with parquet-wasm.
    if (config.compaction.enabled) await loadParquetWasm();
    const storage = bindingStorage(config, env, logger);
    // Iceberg: retention and compaction commit `delete` / `replace` snapshots (with batching
    // too: they add only the files they write, the Durable Objects commit the rest).
    const catalog = lifecycleCatalog({ config, storage, logger });
    ctx.waitUntil(runLifecycle(storage, config, logger, Date.now, catalog));
  },
};
