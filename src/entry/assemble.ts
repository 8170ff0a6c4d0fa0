/**
 * What every entry point builds, built once: configuration → logger → storage → writer →
 * Hono app. The entries (./serve.ts for the CLI's server on Deno, Bun and Node; ./lambda.ts;
 * ./worker.ts) only hand in what their platform has: the environment, where log lines go, the
 * storage driver (`createStorage` of ../storage/ on servers and Lambda, the R2 binding on
 * Workers: the Worker bundle must not carry the other drivers), the write-ahead log's file
 * access and encoder threads on a server, node:zlib where it exists.
 */
import { loadConfig, type LoadConfigInput } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createWriter } from "../batch/index.ts";
import type { Encoder, Writer, WriterHooks } from "../batch/types.ts";
import type { WalFs } from "../batch/wal/index.ts";
import type { Inflate } from "../codec/index.ts";
import { createApp } from "../http/app.ts";
import type { Logger } from "../log/log.ts";
import { loggerFor } from "../log/logger.ts";
import type { StorageDriver } from "../storage/types.ts";
import { VERSION } from "../version.ts";
import type { Hono } from "hono";

/** The configuration and its logger. Throws `ConfigError` (the message is for the user). */
export function configure(
  input: LoadConfigInput,
  writeLog?: (line: string) => void,
): { config: Config; logger: Logger } {
  const config = loadConfig(input);
  return { config, logger: loggerFor(config, writeLog) };
}

export interface PlatformParts {
  /** The storage driver (servers and Lambda: `createStorage`; Workers: `bindingStorage`). */
  storage: StorageDriver;
  /** The platform's writer (Workers batching: the Durable Objects). Default: `createWriter`. */
  writer?: Writer;
  /** File access for the write-ahead log (servers). */
  walFs?: WalFs;
  /** Parquet encoding off the main thread (servers, batching). */
  encoder?: Encoder;
  /** A synchronous gzip/deflate decoder (node:zlib), faster than DecompressionStream. */
  inflate?: Inflate;
  /** Told of every file stored (catalogs, metrics). */
  hooks?: WriterHooks;
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
  const writer = parts.writer ?? await createWriter({
    config,
    storage,
    logger,
    walFs: parts.walFs,
    encoder: parts.encoder,
    hooks: parts.hooks,
  });
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
