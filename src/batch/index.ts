/**
 * Writers: what turns a request's rows into stored Parquet files, behind one interface
 * (`Writer`, ./types.ts), chosen by `createWriter`:
 *
 * - ./writethrough.ts: every request's files stored before it is answered (Lambda, Workers,
 *   `batch.enabled = false`);
 * - ./batcher.ts: rows buffered per (table, service, hour) and written as few large files,
 *   durable first in the write-ahead log (./wal/, read back at start by ./replay.ts); files are
 *   encoded on worker threads by ./encoder.node.ts (./encode-worker.node.ts is the thread);
 * - ./durable-object.ts: batching on Cloudflare Workers, one Durable Object per (table,
 *   service) holding the requests in its SQLite storage.
 *
 * Writers tell `WriterHooks.fileStored` of each stored file (catalogs, metrics).
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { Encoder, Writer, WriterHooks } from "./types.ts";
import type { WalFs } from "./wal/index.ts";
import { createBatchWriter } from "./batcher.ts";
import { createWriteThroughWriter } from "./writethrough.ts";
import { prepareOutput } from "./output.ts";

export type { WalFile, WalFs } from "./wal/index.ts";
export type { Encoder, StoredFile, WriterHooks } from "./types.ts";
export {
  type BatchWriter,
  type BatchWriterDeps,
  createBatchWriter,
  inThreadEncoder,
} from "./batcher.ts";

export interface WriterDeps {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  /**
   * File access for the write-ahead log (server mode: ./wal/fs.node.ts). Required when
   * batching with `batch.durability = "wal"`.
   */
  walFs?: WalFs;
  /** Rows → Parquet for the batching writer (default: on this thread). */
  encoder?: Encoder;
  /** Told of every file stored (see `WriterHooks`). */
  hooks?: WriterHooks;
}

/**
 * The writer for `deps.config`: batching when `batch.enabled` (with a write-ahead log, this
 * replays what an earlier run left before it resolves), write-through otherwise; files in
 * `output.format` (./output.ts).
 */
export async function createWriter(deps: WriterDeps): Promise<Writer> {
  // Rejects with a ConfigError when the output format needs what this runtime lacks.
  await prepareOutput(deps.config);
  if (deps.config.batch.enabled) return await createBatchWriter(deps);
  return createWriteThroughWriter(deps);
}
