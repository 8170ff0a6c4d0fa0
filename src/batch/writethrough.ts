/**
 * The write-through writer: every request's partitions become Parquet files that are stored
 * before the request is answered. No buffers, nothing to lose on a crash; one file per
 * (table, service, hour) per request.
 *
 * A file's id is the first 16 hex digits of the SHA-256 of its content, so a client
 * that retries an identical request (after a 503, say) overwrites the same objects instead of
 * storing its rows twice. The content hashed is everything before the footer (the column
 * chunks): parquet-wasm writes the footer's key-value metadata in hash-map order, which changes
 * from one encoding of the same rows to the next.
 */
import type { Config } from "../config/types.ts";
import { objectKey } from "../core/partition.ts";
import type { Logger } from "../log/log.ts";
import { type StorageDriver, StorageError } from "../storage/types.ts";
import {
  NOTHING_BUFFERED,
  type StoredFile,
  type Writer,
  type WriteRequest,
  type WriterHooks,
  type WriterStats,
} from "./types.ts";
import { outputEncoder } from "./output.ts";

export interface WriteThroughDeps {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  hooks?: WriterHooks;
}

export function createWriteThroughWriter(deps: WriteThroughDeps): Writer {
  const { storage, logger } = deps;
  const output = outputEncoder(deps.config);
  const stats = { filesWritten: 0, rowsWritten: 0, bytesWritten: 0, flushFailures: 0 };

  async function store(file: StoredFile, bytes: Uint8Array): Promise<void> {
    const { key, rows } = file;
    const started = performance.now();
    try {
      await storage.put(key, bytes);
    } catch (e) {
      stats.flushFailures++;
      if (e instanceof StorageError) throw e;
      throw new StorageError(
        `Cannot store ${JSON.stringify(key)} (${storage.name}): ${
          e instanceof Error ? e.message : String(e)
        }`,
        true,
        { cause: e },
      );
    }
    stats.filesWritten++;
    stats.rowsWritten += rows;
    stats.bytesWritten += bytes.length;
    if (logger.debugEnabled) logger.debug("file stored", { key, rows, bytes: bytes.length });
    // Encoding and storing: the time this file added to its request's answer.
    file.durationMs = (file.durationMs ?? 0) + performance.now() - started;
    try {
      await deps.hooks?.fileStored?.({ ...file, data: bytes });
    } catch (e) {
      stats.flushFailures++;
      throw new StorageError(
        `Cannot record the stored file ${JSON.stringify(key)}: ${
          e instanceof Error ? e.message : String(e)
        }`,
        true,
        { cause: e },
      );
    }
  }

  return {
    async write(req: WriteRequest): Promise<void> {
      // Encode every file first (CPU, on this thread), then store them concurrently.
      const files: { file: StoredFile; bytes: Uint8Array }[] = [];
      for (const p of req.partitions) {
        if (p.rows.length === 0) continue;
        const encodeStarted = performance.now();
        const bytes = await output.encode([p.rows]);
        const encodeMs = performance.now() - encodeStarted;
        const id = await contentId(bytes);
        files.push({
          file: {
            key: objectKey(p.table, p.service, p.minTimeNs, id, output.extension),
            table: p.table,
            service: p.service,
            rows: p.rows.length,
            bytes: bytes.length,
            minTimeNs: p.minTimeNs,
            durationMs: encodeMs,
          },
          bytes,
        });
      }
      const results = await Promise.allSettled(files.map((f) => store(f.file, f.bytes)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats(): WriterStats {
      return {
        ...stats,
        ...NOTHING_BUFFERED,
      };
    },
  };
}

/**
 * First 16 hex digits of the SHA-256 of a Parquet file's data: the bytes before its footer
 * (`<data> <footer> <footer length: u32le> PAR1`), or the whole file if it is not one (an Arrow
 * IPC file, whose bytes depend on its rows only).
 */
export async function contentId(parquet: Uint8Array): Promise<string> {
  let data = parquet;
  const n = parquet.length;
  if (
    n >= 12 && parquet[n - 4] === 0x50 && parquet[n - 3] === 0x41 && parquet[n - 2] === 0x52 &&
    parquet[n - 1] === 0x31
  ) {
    const footer =
      (parquet[n - 8] | (parquet[n - 7] << 8) | (parquet[n - 6] << 16) | (parquet[n - 5] << 24)) >>>
      0;
    if (footer + 8 <= n) data = parquet.subarray(0, n - 8 - footer);
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  let hex = "";
  for (let i = 0; i < 8; i++) hex += d[i].toString(16).padStart(2, "0");
  return hex;
}
