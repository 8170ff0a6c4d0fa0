/**
 * The transport-free half of assembling the pipeline, shared by the server entries
 * (../entry/assemble.ts adds the Hono app) and the library (../lib/): configuration → logger,
 * and the writer over the platform's parts (storage driver, write-ahead log files, encoder
 * threads). Nothing here serves HTTP.
 */
import { loadConfig, type LoadConfigInput } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createWriter } from "../batch/index.ts";
import type { Encoder, Writer, WriterHooks } from "../batch/types.ts";
import type { WalFs } from "../batch/wal/index.ts";
import type { Logger } from "../log/log.ts";
import { loggerFor } from "../log/logger.ts";
import type { StorageDriver } from "../storage/types.ts";

/** The configuration and its logger. Throws `ConfigError` (the message is for the user). */
export function configure(
  input: LoadConfigInput,
  writeLog?: (line: string) => void,
): { config: Config; logger: Logger } {
  const config = loadConfig(input);
  return { config, logger: loggerFor(config, writeLog) };
}

/** What a platform gives the writer. */
export interface WriterParts {
  /** The storage driver (servers and Lambda: `createStorage`; Workers: `bindingStorage`). */
  storage: StorageDriver;
  /** The platform's writer (Workers batching: the Durable Objects). Default: `createWriter`. */
  writer?: Writer;
  /** File access for the write-ahead log (servers). */
  walFs?: WalFs;
  /** Parquet encoding off the main thread (servers, batching). */
  encoder?: Encoder;
  /** Told of every file stored (catalogs, metrics). */
  hooks?: WriterHooks;
}

/**
 * The writer for `config` over `parts` (`parts.writer` when given). With a write-ahead log, it
 * replays what an earlier run left before this resolves. Rejects when the writer cannot start
 * (e.g. an unwritable `batch.wal_dir`, or a `ConfigError` for an output this runtime lacks).
 */
export async function assembleWriter(
  config: Config,
  logger: Logger,
  parts: WriterParts,
): Promise<Writer> {
  return parts.writer ?? await createWriter({
    config,
    storage: parts.storage,
    logger,
    walFs: parts.walFs,
    encoder: parts.encoder,
    hooks: parts.hooks,
  });
}
