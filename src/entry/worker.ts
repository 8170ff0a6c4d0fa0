/**
 * Cloudflare Workers entry: the same Hono app, storage through the R2 bucket binding, config from
 * Worker vars/secrets (`OTLP2PARQUET_*`) and `OTLP2PARQUET_CONFIG_CONTENT` (inline TOML).
 * parquet-wasm is initialised from the imported `.wasm` module (Workers forbid compiling wasm
 * from bytes at run time).
 *
 * Built by `deno task build:worker` into dist/worker/ (index.js + parquet_wasm_bg.wasm); deploy
 * with the wrangler.toml template at the repository root.
 */
// @ts-expect-error: workerd, wrangler and our build import a .wasm file as a compiled
// WebAssembly.Module (the CompiledWasm rule); the package's typings describe its instance exports.
import wasmModule from "parquet-wasm/esm/parquet_wasm_bg.wasm";
import type { Hono } from "hono";
import { loadConfig } from "../config/load.ts";
import { createApp } from "../http/app.ts";
import { createWriter } from "../batch/index.ts";
import { initParquet } from "../core/parquet/encode.ts";
import { createR2BindingStorage, type R2BucketLike } from "../storage/r2.ts";
import { withPrefix } from "../storage/types.ts";
import { createLogger } from "../log/logger.ts";
import { VERSION } from "../version.ts";
import {
  batcherNamespace,
  createDurableObjectWriter,
  OtlpBatcher,
  setBatcherWasm,
} from "../batch/durable-object.ts";

/** The batching Durable Object class (wrangler.toml: class_name = "OtlpBatcher"). */
export { OtlpBatcher };
setBatcherWasm(wasmModule as WebAssembly.Module);

type WorkerEnv = Record<string, unknown>;

let app: Promise<Hono> | undefined;

async function build(env: WorkerEnv): Promise<Hono> {
  const vars: Record<string, string> = { CF_WORKER: "1" };
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") vars[k] = v;
  const config = loadConfig({ platform: "workers", env: vars });
  const logger = createLogger({
    level: config.server.log_level,
    format: config.server.log_format,
    write: (line) => console.log(line),
  });
  initParquet(wasmModule as WebAssembly.Module);
  if (config.storage.backend !== "r2") {
    throw new TypeError(
      `Invalid config: storage.backend = "${config.storage.backend}": on Workers only "r2" (the bucket binding) is supported`,
    );
  }
  const binding = env[config.storage.r2.binding] as R2BucketLike | undefined;
  if (!binding || typeof (binding as { put?: unknown }).put !== "function") {
    throw new TypeError(
      `Invalid config: storage.r2.binding = "${config.storage.r2.binding}": no R2 bucket binding of that name (add [[r2_buckets]] binding = "${config.storage.r2.binding}" to wrangler.toml)`,
    );
  }
  const r = config.storage.retry;
  const storage = withPrefix(
    createR2BindingStorage(binding, {
      bindingName: config.storage.r2.binding,
      retry: {
        maxAttempts: r.max_attempts,
        baseDelayMs: r.base_delay_ms,
        maxDelayMs: r.max_delay_ms,
        timeoutMs: r.timeout_ms,
      },
      logger,
    }),
    config.storage.prefix,
  );
  // Batching on Workers goes through a Durable Object per (table, service): ./worker-batcher.ts.
  const writer = config.batch.enabled
    ? createDurableObjectWriter(batcherNamespace(env, config), logger)
    : await createWriter({ config, storage, logger });
  return createApp({ config, writer, storage, logger, version: VERSION });
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    app ??= build(env).catch((e) => {
      app = undefined;
      throw e;
    });
    let a: Hono;
    try {
      a = await app;
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
    return a.fetch(request, env, ctx as never);
  },
};
