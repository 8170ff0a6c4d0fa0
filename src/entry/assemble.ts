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
import { createApp } from "../http/app.ts";
import { assembleWriter, configure, type WriterParts } from "../ingest/assemble.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { VERSION } from "../version.ts";
import type { Hono } from "hono";

export { configure };

export interface PlatformParts extends WriterParts {
  /** A synchronous gzip/deflate decoder (node:zlib), faster than DecompressionStream. */
  inflate?: Inflate;
}

export interface Assembled {
  storage: StorageDriver;
  writer: Writer;
  app: Hono;
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
  const writer = await assembleWriter(config, logger, parts);
  const app = createApp({
    config,
    writer,
    storage,
    logger,
    version: VERSION,
    inflate: parts.inflate,
  });
  return { storage, writer, app };
}
