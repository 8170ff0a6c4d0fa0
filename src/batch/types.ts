/**
 * The writer seam between the HTTP layer and storage. The write-through writer (./writethrough.ts)
 * stores each request's partitions before the request is answered; the batching writer
 * (issue: batching and durability) buffers them and answers once they are durable in its WAL.
 */
import type { Partition } from "../core/partition.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Signal, TableBuilder, TableName } from "../core/tables.ts";
import type { ParquetOptions } from "../core/parquet/encode.ts";
import type { Coding } from "../codec/index.ts";

/** The decoded request and the bytes it came from (a WAL logs the raw form and replays it). */
export interface WriteRequest {
  signal: Signal;
  format: Format;
  /** The decompressed request body. */
  body: Uint8Array;
  /**
   * The body as it came on the wire when it was compressed (`encodings` in the order they were
   * applied): a log may keep these fewer bytes instead of `body` and decompress them at replay.
   */
  encoded?: { encodings: readonly Coding[]; bytes: Uint8Array };
  receivedAtNs: bigint;
  /** The rows by (table, service, hour); the writer takes ownership (it may append to them). */
  partitions: Partition[];
}

/** A Parquet file a writer has stored (for catalogs, metrics, lifecycle jobs). */
export interface StoredFile {
  /** The object key, without `storage.prefix`. */
  key: string;
  table: TableName;
  /** The service segment of the key (`service.name`, made safe). */
  service: string;
  /** Rows, bytes of the file, and the earliest row time (epoch ns). */
  rows: number;
  bytes: number;
  minTimeNs: bigint;
  /**
   * Milliseconds spent writing the file out: from the start of its flush (waiting for its
   * encoding, storing it) until it was stored. For metrics; absent where not measured.
   */
  durationMs?: number;
  /**
   * The file's bytes, while the hook runs (a catalog reads its footer for the table's
   * statistics); absent where the writer no longer has them (then read the object).
   */
  data?: Uint8Array;
}

/**
 * What a writer tells about its work. `fileStored` runs once a file is stored and before the
 * writer counts it as done (a batching writer logs "done" in its write-ahead log after it, a
 * write-through writer answers the request after it): whatever it records durably is never
 * lost for a stored file. A rejection counts as a failed store: a batching writer retries the
 * file (stored again under the same key, and told again), a write-through writer answers 503.
 * So a hook may hear of the same file more than once and must be idempotent.
 */
export interface WriterHooks {
  fileStored?(file: StoredFile): void | Promise<void>;
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
  /** Counters for the metrics endpoint (the batching writer has them). */
  stats?(): WriterStats;
  /**
   * The `BackpressureError` `write()` would reject with now for about `bytes` more bytes of
   * rows, or null. Cheap: the HTTP layer asks from a request's headers, before reading its
   * body, and answers 429 / 503 straight away (the batching writer has it).
   */
  admission?(bytes: number): BackpressureError | null;
}

/** What a writer has done so far and holds now. */
export interface WriterStats {
  /** Parquet files stored, their rows and bytes. */
  filesWritten: number;
  rowsWritten: number;
  bytesWritten: number;
  /** Failed attempts to store a file (the data stays buffered and is retried). */
  flushFailures: number;
  /** Rows and approximate bytes held in memory (open buffers and files waiting to be stored). */
  bufferedRows: number;
  bufferedBytes: number;
  /** Open buffers, and sealed files waiting to be stored. */
  buffers: number;
  pendingFiles: number;
  /** Write-ahead log on disk (0 without one), and fsyncs of it so far. */
  walBytes: number;
  walSegments: number;
  walSyncs: number;
  /** Requests read back from the log at start. */
  replayedRecords: number;
}

/** The stats of a writer that holds nothing in memory and keeps no log (write-through). */
export const NOTHING_BUFFERED = {
  bufferedRows: 0,
  bufferedBytes: 0,
  buffers: 0,
  pendingFiles: 0,
  walBytes: 0,
  walSegments: 0,
  walSyncs: 0,
  replayedRecords: 0,
} as const satisfies Partial<WriterStats>;

/** The stats of a writer that has done nothing yet. */
export const NO_WRITER_STATS: Readonly<WriterStats> = {
  filesWritten: 0,
  rowsWritten: 0,
  bytesWritten: 0,
  flushFailures: 0,
  ...NOTHING_BUFFERED,
};

/** Buffers or log are full: the client should retry after `retryAfterSecs`. */
export class BackpressureError extends Error {
  override name = "BackpressureError";
  constructor(message: string, readonly retryAfterSecs: number, readonly status: 429 | 503 = 503) {
    super(message);
  }
}

/**
 * Turns a sealed buffer's rows into Parquet bytes. The default encodes on the calling thread;
 * server runtimes pass one that runs parquet-wasm on a worker thread (./encoder.node.ts), so
 * flushes neither stall requests nor compete with them for the event loop.
 */
export interface Encoder {
  /**
   * Parquet bytes of `rows` (builders of one table, in row order) as one file. Must not change
   * `rows` (a failure retries with them), and must be done reading them when it resolves: the
   * batching writer then reuses their memory (merged chunks' arenas) for later rows.
   */
  encode(rows: readonly TableBuilder[], opts: ParquetOptions): Promise<Uint8Array>;
  /** Where encoding runs, for logs and the benchmark: "main thread" or "N worker threads". */
  readonly where: string;
  /**
   * Files it encodes at the same time beside the calling thread (its worker threads; 0 when it
   * encodes on the calling thread). The batching writer starts that many queued files, plus the
   * next one, ahead while it stores the current one.
   */
  readonly parallelism: number;
  close(): Promise<void>;
}
