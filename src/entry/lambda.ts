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
import { initParquet } from "../core/parquet/encode.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";
import { createStorage } from "../storage/index.ts";
import { VERSION } from "../version.ts";
import { assemble, configure } from "./assemble.ts";

type Handler = ReturnType<typeof handle>;

let ready: Promise<Handler> | undefined;

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
  const storage = await createStorage(config, logger);
  const { app } = await assemble(config, logger, { storage, inflate: createInflate() });
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

/** The Lambda handler: the app is built once per instance (cold start) and reused. */
export const handler = async (event: Parameters<Handler>[0], context?: Parameters<Handler>[1]) => {
  ready ??= build().catch((e) => {
    ready = undefined; // let the next invocation try again (e.g. a transient storage failure)
    throw e;
  });
  return (await ready)(event, context);
};
