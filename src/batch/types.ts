/**
 * The writer seam between the HTTP layer and storage. The write-through writer (./writethrough.ts)
 * stores each request's partitions before the request is answered; the batching writer
 * (issue: batching and durability) buffers them and answers once they are durable in its WAL.
 */
import type { Partition } from "../core/partition.ts";
import type { Format } from "../core/decode/types.ts";
import type { Signal } from "../core/tables.ts";

/** The decoded request and the bytes it came from (a WAL logs the raw form and replays it). */
export interface WriteRequest {
  signal: Signal;
  format: Format;
  /** The decompressed request body. */
  body: Uint8Array;
  receivedAtNs: bigint;
  partitions: Partition[];
}

export interface Writer {
  /**
   * Resolves once the request's rows are durable in this writer's sense (stored, or logged).
   * Rejects with `StorageError` (storage failing) or `BackpressureError` (buffers full): the HTTP
   * layer answers 503 / 429 with Retry-After.
   */
  write(req: WriteRequest): Promise<void>;
  /** Writes out everything buffered. */
  flush(): Promise<void>;
  /** Flushes and stops timers. */
  close(): Promise<void>;
}

/** Buffers or log are full: the client should retry after `retryAfterSecs`. */
export class BackpressureError extends Error {
  override name = "BackpressureError";
  constructor(message: string, readonly retryAfterSecs: number, readonly status: 429 | 503 = 503) {
    super(message);
  }
}
