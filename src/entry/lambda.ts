/**
 * AWS Lambda entry (Node.js 20/22 runtimes): API Gateway REST (v1), HTTP API (v2) and Function
 * URL events through `hono/aws-lambda`. Storage is S3, written directly: no in-memory batching,
 * because a Lambda instance can be frozen or dropped between invocations and buffered data would
 * be lost.
 *
 * Built by `deno task build:lambda` into dist/lambda/ (index.mjs + parquet_wasm_bg.wasm).
 */
import { readFileSync } from "node:fs";
import { handle } from "hono/aws-lambda";
import { createInflate } from "../codec/zlib.node.ts";
import { initParquet, usesNative } from "../core/parquet/encode.ts";
import { parquetOptions } from "../config/types.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";
import { createStorage } from "../storage/index.ts";
import { VERSION } from "../version.ts";
import { runLifecycle } from "../lifecycle/index.ts";
import type { IcebergCommitter } from "../catalog/index.ts";
import { assemble, configure, metricsFor } from "./assemble.ts";
import { bestEffortBoundMs, type Forwarder } from "../forward/index.ts";

type Handler = ReturnType<typeof handle>;

let ready: Promise<Handler> | undefined;
/** [[forward]] destinations: sent to best-effort, waited for before an invocation returns. */
let forwarder: Forwarder | undefined;
let forwardBoundMs = 0;
/** Iceberg mode: the committer of this instance (pending objects in the bucket). */
let iceberg: IcebergCommitter | undefined;
let lastRoundMs = 0;

/** Where the wasm sits: next to the bundle in dist/lambda, or in node_modules when run unbundled. */
function wasmBytes(): Uint8Array {
  try {
    return readFileSync(new URL("./parquet_wasm_bg.wasm", import.meta.url));
  } catch {
    return readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm")));
  }
}

async function build(): Promise<Handler> {
  const { config, logger } = configure({
    platform: "lambda",
    env: { ...process.env },
    readTextFile: (path) => readFileSync(path, "utf8"),
  });
  initParquet(wasmBytes());
  useNodeZstd(); // Node ≥ 22.15 runtimes have zstd
  // parquet.encoder = "native" where its codec cannot run (zstd without the runtime's) is refused
  // here, not at the first flush; "auto" falls back to parquet-wasm.
  usesNative(parquetOptions(config));
  const metrics = metricsFor(config);
  const storage = await createStorage(config, logger, metrics?.storage);
  if (config.catalog.mode === "iceberg") {
    // Stored files go on a pending list of small objects under _iceberg/pending/ (shared by all
    // instances); commits run after an invocation once commit_interval_secs have passed, and on
    // scheduled events (an EventBridge rule).
    const { createIceberg, storageKeyValue, PENDING_PREFIX } = await import("../catalog/index.ts");
    iceberg = createIceberg({
      config,
      storage,
      logger,
      pending: storageKeyValue(storage, PENDING_PREFIX),
    });
  }
  const assembled = await assemble(config, logger, {
    storage,
    inflate: createInflate(),
    metrics,
    hooks: iceberg?.hooks,
  });
  const app = assembled.app;
  forwarder = assembled.forwarder;
  forwardBoundMs = bestEffortBoundMs(config.forward);
  logger.info("otlp2parquet lambda ready", {
    version: VERSION,
    backend: config.storage.backend,
    max_payload_bytes: config.server.max_payload_bytes,
  });
  return handle(app, {
    // OTLP protobuf responses are binary: API Gateway needs them base64-encoded.
    isContentTypeBinary: (ct) => !ct.startsWith("application/json") && !ct.startsWith("text/"),
  });
}

/**
 * The lifecycle handler, for an EventBridge schedule (template.yaml): one run of retention and
 * compaction (`compaction.enabled`) within `compaction.max_run_secs`; returns what it did.
 */
export const lifecycle = async () => {
  const { config, logger } = configure({
    platform: "lambda",
    env: { ...process.env },
    readTextFile: (path) => readFileSync(path, "utf8"),
  });
  initParquet(wasmBytes());
  const storage = await createStorage(config, logger);
  // Iceberg: retention and compaction commit `delete` / `replace` snapshots.
  const { lifecycleCatalog } = await import("../catalog/index.ts");
  const catalog = lifecycleCatalog({ config, storage, logger });
  const r = await runLifecycle(storage, config, logger, Date.now, catalog);
  return {
    deleted: r.retention?.deleted ?? 0,
    compacted: r.compaction?.partitions.map((p) => ({
      partition: p.partition,
      files: [p.filesBefore, p.filesAfter],
      bytes: [p.bytesBefore, p.bytesAfter],
    })) ?? [],
    remaining: r.compaction?.remaining ?? 0,
  };
};

/** An EventBridge event (`source` "aws.events": a schedule), not an HTTP one. */
function isScheduledEvent(event: unknown): boolean {
  return (event as { source?: unknown } | null)?.source === "aws.events";
}

/**
 * The Lambda handler: HTTP events go to the app (built once per instance, at cold start, and
 * reused). An EventBridge schedule pointed at this function commits the pending Iceberg files
 * (catalog mode) and runs `lifecycle`, and answers what both did.
 */
export const handler = async (event: Parameters<Handler>[0], context?: Parameters<Handler>[1]) => {
  ready ??= build().catch((e) => {
    ready = undefined; // let the next invocation try again (e.g. a transient storage failure)
    throw e;
  });
  const app = await ready;
  if (isScheduledEvent(event)) {
    const rounds = iceberg ? await iceberg.commitAll() : [];
    lastRoundMs = Date.now();
    const run = await lifecycle();
    return {
      ...run,
      iceberg: rounds.map((r) => ({ ...r, snapshotId: r.snapshotId?.toString() })),
    } as never;
  }
  const res = await app(event, context);
  // [[forward]]: the sends this invocation started finish before it returns (an instance may
  // be frozen right after), each bounded by its destination's timeout_ms (one retry).
  if (forwarder) await forwarder.drain(forwardBoundMs);
  // Commit in the invocation (an instance may be frozen right after it answers).
  const every = iceberg ? iceberg.deps.config.catalog.iceberg.commit_interval_secs * 1000 : 0;
  if (iceberg && Date.now() - lastRoundMs >= every) {
    lastRoundMs = Date.now();
    await iceberg.commitAll();
  }
  return res;
};
