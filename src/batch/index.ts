/**
 * Builds the writer the app uses: write-through (every request stored before its answer) or,
 * with `batch.enabled`, the batching writer. Owned by the batching work; the server entry only
 * calls `createWriter`.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { Writer } from "./types.ts";
import { createWriteThroughWriter } from "./writethrough.ts";

export interface WriterDeps {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  /** File access for the write-ahead log (server mode only; see ../runtime/). */
  walFs?: unknown;
}

export function createWriter(deps: WriterDeps): Promise<Writer> {
  return Promise.resolve(createWriteThroughWriter(deps));
}
