/**
 * The batching writer: rows go into buffers keyed by (table, service, hour), and a buffer is
 * written as ONE Parquet file when it reaches `batch.max_rows`, `batch.max_bytes` or
 * `batch.max_age_secs` (or on flush/shutdown). Few large files instead of one per request.
 *
 * Durability "wal": a request is logged (./wal/wal.ts) and fsync'd with group commit before
 * `write()` resolves; then its rows join the buffers. Exactly-once output across crashes:
 *
 * - Buffers are filled in log order, so a buffer always holds the rows of its key from every
 *   data record in (previous seal, watermark]. Sealing a buffer appends a `seal` record naming
 *   the key, that watermark and the file id, and the file is stored only once the seal record
 *   is durable. After the file is stored a `done` record is logged.
 * - Replay reads every segment twice: first the seal/done/void records, then the data records in
 *   order, routing each key's rows to the seal that covers them. A done seal's rows are skipped,
 *   an unfinished seal is stored again under the same id (the same key, the same rows: an
 *   overwrite, never a duplicate), rows after the last seal form new files.
 * - Segments are deleted oldest first, and only below the oldest segment any unstored row lives
 *   in. So whenever a row is still on disk, the seal and done records about it are too.
 *
 * Durability "memory": rows are acknowledged once buffered (lost if the process dies).
 *
 * Memory and log are bounded: past `batch.max_buffered_bytes` or `batch.max_wal_bytes`,
 * `write()` rejects with `BackpressureError` (429 while storage is healthy, 503 while it is
 * failing or the log is full) before logging anything.
 */
import { convertRequest } from "../core/convert.ts";
import { clearDecodeBuffers, releaseRows } from "../core/otlp/sizing.ts";
import type { DecodeOptions, Format } from "../core/otlp/types.ts";
import { encodeParquet } from "../core/parquet/encode.ts";
import { type OutputEncoder, outputEncoder, prepareOutput } from "./output.ts";
import { objectKey, type Partition } from "../core/partition.ts";
import { ArenaPool, type Column, inArenaOf } from "../core/columns/index.ts";
import { newTable, type Signal, type TableBuilder, type TableName } from "../core/tables.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { type StorageDriver, StorageError } from "../storage/types.ts";
import { hash64Hex } from "./checksum.ts";
import { dataRecords, openLog, type SealInfo } from "./replay.ts";
import {
  BackpressureError,
  type Encoder,
  type Writer,
  type WriteRequest,
  type WriterHooks,
  type WriterStats,
} from "./types.ts";
import {
  comparePos,
  dataPayloadParts,
  DEFAULT_SEGMENT_BYTES,
  encodePayload,
  loggableEncoding,
  type Pos,
  Wal,
  type WalFs,
} from "./wal/index.ts";

export type FlushReason =
  | "rows"
  | "bytes"
  | "age"
  | "memory"
  | "wal"
  | "flush"
  | "shutdown"
  | "replay";

export type ConvertFn = (
  signal: Signal,
  body: Uint8Array,
  format: Format,
  opts: DecodeOptions,
) => { partitions: Partition[] };

export interface BatchWriterDeps {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  /** File access for the log; required with `batch.durability = "wal"`. */
  walFs?: WalFs;
  /** Request body → partitions, for replay. Default `convertRequest`. */
  convert?: ConvertFn;
  /** Milliseconds clock. Default `Date.now`. */
  now?: () => number;
  /** Log segment size. Default 64 MiB. */
  segmentBytes?: number;
  /** Backoff after a failed store: base doubles per consecutive failure up to max. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Interval of the age check. Default 1 s (less for sub-second `max_age_secs`). */
  tickMs?: number;
  /** Rows → Parquet bytes. Default: parquet-wasm on this thread (`inThreadEncoder`). */
  encoder?: Encoder;
  /** Told of every file stored (see `WriterHooks`). */
  hooks?: WriterHooks;
}

/** The default encoder: parquet-wasm on the calling thread. */
export const inThreadEncoder: Encoder = {
  encode: (rows, opts) => Promise.resolve(encodeParquet(rows, opts)),
  where: "main thread",
  parallelism: 0,
  close: () => Promise.resolve(),
};

/** The batching writer, plus `abort()`: stop at once as a crash would (tests, a second signal). */
export interface BatchWriter extends Writer {
  stats(): WriterStats;
  abort(): Promise<void>;
}

interface Buffer {
  key: string;
  table: TableName;
  service: string;
  hour: number;
  /**
   * The rows, in log order, as the requests' own builders (no copy per request): chunks of at
   * least `MERGE_ROWS` rows (or `MERGE_BYTES` bytes), then the small ones that came since
   * (from `tail` on), merged into one chunk once they add up to that much.
   */
  chunks: TableBuilder[];
  rowCount: number;
  tail: number;
  tailRows: number;
  tailBytes: number;
  bytes: number;
  minTimeNs: bigint;
  /** First data record the rows came from (null without a log). */
  firstPos: Pos | null;
  /** The `apply()` call that last added rows (one record's rows never go to two files). */
  lastApply: number;
  firstAt: number;
}

interface PendingFile {
  key: string;
  table: TableName;
  service: string;
  hour: number;
  id: string;
  /** The buffer's chunks (null once encoded). */
  rows: TableBuilder[] | null;
  data: Uint8Array | null;
  /** Encoding in progress (started ahead of the store, see `encodeAhead`). */
  encoding: Promise<void> | null;
  rowCount: number;
  /** Bytes this file accounts for in `bufferedBytes` (rows, then encoded bytes). */
  bytes: number;
  minTimeNs: bigint;
  /** Oldest log segment holding its rows (0 without a log). */
  minSeg: number;
  /** Watermark its seal record names. */
  upTo: Pos | null;
  /** The seal record: logged, being logged, or still to be logged. */
  seal: "ok" | Promise<unknown> | null;
  reason: FlushReason;
  firstAt: number;
}

interface ReplayState {
  seals: Map<string, SealInfo[]>;
  next: Map<string, number>;
  done: Set<string>;
}

interface DrainWaiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  failFast: boolean;
}

const bufferKey = (table: TableName, service: string, hour: number) =>
  `${table}\u0000${service}\u0000${hour}`;

/**
 * Small chunks (requests of a few records) are merged into one once they hold this many rows or
 * bytes, at the price of one exact-size copy of their rows: a file is then a few hundred chunks
 * instead of thousands of builders. Merging soon matters more than merging big, as the requests'
 * builders then die young (in-process bench of the batching path, 10-record requests: merging
 * at 1,024 rows took 20–40% less CPU than at 4,096; never merging took 1.5–2× the CPU and 3× the
 * memory). parquet-wasm does not care: toIPC() writes the chunks as one record batch.
 */
const MERGE_ROWS = 1024;
const MERGE_BYTES = 1024 * 1024;

/** Adds a partition's rows to a buffer's chunks; merges the small chunks at its end when due. */
function addChunk(b: Buffer, rows: TableBuilder, size: number, pool: ArenaPool): void {
  b.rowCount += rows.length;
  if (rows.length >= MERGE_ROWS || size >= MERGE_BYTES) {
    // Big enough as it is: never copied (the small ones before it are merged as they are).
    closeTail(b, pool);
    b.chunks.push(rows);
    b.tail = b.chunks.length;
    return;
  }
  b.chunks.push(rows);
  b.tailRows += rows.length;
  b.tailBytes += size;
  if (b.tailRows >= MERGE_ROWS || b.tailBytes >= MERGE_BYTES) closeTail(b, pool);
}

/**
 * Merges the small chunks at the end of a buffer (if more than one) into one. Merging only saves
 * memory and time: if it fails (its buffer cannot be allocated), the chunks stay as they are and
 * the request that brought the last one is still taken, its rows counted like any other.
 */
function closeTail(b: Buffer, pool: ArenaPool): void {
  if (b.chunks.length - b.tail > 1) {
    let merged: TableBuilder | null = null;
    try {
      merged = mergeChunks(b.chunks.slice(b.tail), pool);
    } catch {
      // Nothing was released (mergeChunks gives the parts up only once they are copied).
    }
    if (merged !== null) b.chunks.splice(b.tail, Infinity, merged);
  }
  b.tail = b.chunks.length;
  b.tailRows = b.tailBytes = 0;
}

/**
 * One builder holding the rows of `parts` (of one table) in order, in exact-size buffers carved
 * from one ArrayBuffer (`out.arena`, from `pool`).
 */
function mergeChunks(parts: TableBuilder[], pool: ArenaPool): TableBuilder {
  const out = newTable(parts[0].table);
  const srcs = parts.map((p) => p.cols as unknown as Record<string, Column>);
  // byteSize() bounds what appendAll() asks for; the rest is each buffer's 8-byte alignment.
  let bytes = MERGE_ARENA_SLACK;
  for (const p of parts) bytes += p.byteSize();
  const arena = pool.take(bytes);
  inArenaOf(arena, () => {
    for (const [k, c] of Object.entries(out.cols as unknown as Record<string, Column>)) {
      c.appendAll(srcs.map((s) => s[k]));
    }
  });
  out.arena = arena;
  // The parts' rows are copied: their requests' decode buffers may serve later requests.
  for (const p of parts) releaseRows(p);
  return out;
}

/**
 * Arenas of encoded files kept for the next merges (`ArenaPool`): at most this much, and at most
 * a quarter of `batch.max_buffered_bytes`; let go of when nothing is buffered.
 */
const ARENA_POOL_BYTES = 128 * 1024 * 1024;

/** Alignment padding room in a merged table's one buffer: 8 bytes for each of up to 128 buffers. */
const MERGE_ARENA_SLACK = 8 * 128;

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Creates the batching writer; with a log, replays what an earlier run left before resolving. */
export async function createBatchWriter(deps: BatchWriterDeps): Promise<BatchWriter> {
  const w = new Batcher(deps);
  await w.start();
  return w;
}

class Batcher implements BatchWriter {
  private readonly cfg: Config["batch"];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly convert: ConvertFn;
  private readonly output: OutputEncoder;
  private readonly arenas: ArenaPool;
  private wal: Wal | null = null;
  private readonly open = new Map<string, Buffer>();
  private queue: PendingFile[] = [];
  /** Oldest segments of files stored whose done record could not be logged (kept till restart). */
  private readonly pinned: number[] = [];
  private watermark: Pos | null = null;
  private replay: ReplayState | null = null;
  private openBytes = 0;
  private applies = 0;
  private bufferedBytes = 0;
  private bufferedRows = 0;
  private pendingBytes = 0;
  private failures = 0;
  private lastError: unknown = null;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private sleepTimer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private drainWaiters: DrainWaiter[] = [];
  private stopped = false;
  private aborted = false;
  private closing: Promise<void> | null = null;
  private counters = {
    filesWritten: 0,
    rowsWritten: 0,
    bytesWritten: 0,
    flushFailures: 0,
    replayedRecords: 0,
  };

  constructor(private readonly deps: BatchWriterDeps) {
    this.cfg = deps.config.batch;
    this.log = deps.logger;
    this.now = deps.now ?? Date.now;
    this.convert = deps.convert ?? convertRequest;
    this.output = outputEncoder(deps.config, deps.encoder ?? inThreadEncoder);
    this.arenas = new ArenaPool(Math.min(ARENA_POOL_BYTES, this.cfg.max_buffered_bytes / 4));
  }

  async start(): Promise<void> {
    const c = this.cfg;
    for (
      const k of [
        "max_rows",
        "max_bytes",
        "max_age_secs",
        "max_buffered_bytes",
        "max_wal_bytes",
      ] as const
    ) {
      if (!(c[k] > 0)) {
        throw new RangeError(`Invalid batch.${k}: ${JSON.stringify(c[k])} (must be > 0)`);
      }
    }
    await prepareOutput(this.deps.config);
    if (c.durability === "wal") {
      if (!this.deps.walFs) {
        throw new TypeError(
          'Cannot use batch.durability = "wal" here: this platform has no file access for the write-ahead log (use "memory")',
        );
      }
      await this.replayLog(this.deps.walFs);
    }
    const tick = this.deps.tickMs ?? Math.min(1000, Math.max(10, (c.max_age_secs * 1000) / 4));
    this.timer = setInterval(() => this.tick(), tick);
    // The age check must not keep a process alive (Node, Bun); Deno's server keeps running anyway
    // and close() clears it.
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  // ---- write path ----

  async write(req: WriteRequest): Promise<void> {
    if (this.stopped) {
      throw new BackpressureError("Cannot accept records: the writer is shutting down", 5, 503);
    }
    const parts = req.partitions.filter((p) => p.rows.length > 0);
    if (parts.length === 0) return;
    const sizes = parts.map((p) => p.rows.byteSize());
    let size = 0;
    for (const s of sizes) size += s;
    this.admit(size);
    if (!this.wal) {
      this.apply(parts, null, sizes);
      return;
    }
    this.pendingBytes += size;
    // A compressed request is logged as it came when that is safe and smaller (fewer bytes to
    // checksum, write and fsync), and copied once, into the log's write buffer.
    const payload = dataPayloadParts({
      type: "data",
      signal: req.signal,
      format: req.format,
      receivedAtNs: req.receivedAtNs,
      body: req.body,
      encoded: loggableEncoding(req.body, req.encoded),
    });
    let applied = false;
    try {
      await this.wal.append(payload, (pos) => {
        this.pendingBytes -= size;
        applied = true;
        this.apply(parts, pos, sizes);
      });
    } catch (e) {
      if (!applied) this.pendingBytes -= size;
      this.log.error("write-ahead log append failed", { error: message(e) });
      throw new BackpressureError(`Cannot log the records durably: ${message(e)}`, 5, 503);
    }
  }

  /** Throws `BackpressureError` when `size` more bytes would pass a bound. */
  private admit(size: number): void {
    const refused = this.admission(size);
    if (refused) throw refused;
  }

  /**
   * The `BackpressureError` `write()` would throw now for `size` more bytes of rows, or null:
   * cheap, so the HTTP layer asks before it reads a request's body (see `Writer.admission`).
   */
  admission(size: number): BackpressureError | null {
    if (this.stopped) {
      return new BackpressureError("Cannot accept records: the writer is shutting down", 5, 503);
    }
    const failing = this.failures > 0;
    if (this.wal && this.wal.bytes >= this.cfg.max_wal_bytes) {
      return new BackpressureError(
        `Cannot accept records: the write-ahead log holds ${this.wal.bytes} bytes (batch.max_wal_bytes = ${this.cfg.max_wal_bytes})${
          failing ? `; storage is failing: ${message(this.lastError)}` : ""
        }`,
        this.retryAfterSecs(),
        503,
      );
    }
    const held = this.bufferedBytes + this.pendingBytes;
    if (held > 0 && held + size > this.cfg.max_buffered_bytes) {
      if (failing) {
        return new BackpressureError(
          `Cannot accept records: buffers are full (${held} bytes, batch.max_buffered_bytes = ${this.cfg.max_buffered_bytes}) and storage is failing: ${
            message(this.lastError)
          }`,
          this.retryAfterSecs(),
          503,
        );
      }
      return new BackpressureError(
        `Cannot accept records: buffers are full (${held} bytes, batch.max_buffered_bytes = ${this.cfg.max_buffered_bytes})`,
        1,
        429,
      );
    }
    return null;
  }

  private retryAfterSecs(): number {
    return Math.min(30, Math.max(1, Math.ceil(this.backoffMs(this.failures) / 1000)));
  }

  /**
   * Adds rows (in log order) to their buffers; seals buffers that reached a threshold. `sizes`:
   * the parts' `byteSize()` when the caller has them.
   */
  private apply(parts: Partition[], pos: Pos | null, sizes?: readonly number[]): void {
    // What a buffer sealed before this record's rows join it covers.
    const before = this.watermark;
    const applyId = ++this.applies;
    if (pos) this.watermark = pos;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const key = bufferKey(p.table, p.service, p.hour);
      let covered = false;
      if (this.replay && pos) {
        const route = this.routeReplay(key, pos);
        if (route === "skip") continue;
        covered = route === "covered";
      }
      const size = sizes?.[i] ?? p.rows.byteSize();
      let b = this.open.get(key);
      if (
        b && !covered && b.bytes > 0 && b.bytes + size > this.cfg.max_bytes &&
        b.lastApply !== applyId
      ) {
        // These rows would take the buffer past batch.max_bytes: write it out first, so no file
        // (and no encode) holds more than that, unless one request's rows alone do. Its seal
        // covers the records before this one (its rows from this record go to the next file).
        this.seal(b, "bytes", undefined, before);
        b = undefined;
      }
      if (!b) {
        b = {
          key,
          table: p.table,
          service: p.service,
          hour: p.hour,
          chunks: [],
          rowCount: 0,
          tail: 0,
          tailRows: 0,
          tailBytes: 0,
          bytes: 0,
          minTimeNs: p.minTimeNs,
          firstPos: pos,
          lastApply: 0,
          firstAt: this.now(),
        };
        this.open.set(key, b);
      } else if (p.minTimeNs < b.minTimeNs) b.minTimeNs = p.minTimeNs;
      b.lastApply = applyId;
      addChunk(b, p.rows, size, this.arenas);
      b.bytes += size;
      this.openBytes += size;
      this.bufferedBytes += size;
      this.bufferedRows += p.rows.length;
      if (covered) continue; // its boundary is the logged seal, not a threshold
      if (b.rowCount >= this.cfg.max_rows) this.seal(b, "rows");
      else if (b.bytes >= this.cfg.max_bytes) this.seal(b, "bytes");
    }
    if (this.replay) return;
    // Many small buffers can fill memory before any reaches its own threshold.
    while (this.openBytes > this.cfg.max_buffered_bytes / 2 && this.open.size > 0) {
      let big: Buffer | undefined;
      for (const b of this.open.values()) if (!big || b.bytes > big.bytes) big = b;
      this.seal(big!, "memory");
    }
    // A quiet buffer keeps every log segment since its first row; past half of the log's bound,
    // write out the buffers that hold the oldest segment so it can be deleted. (Not while
    // storage fails: that would only make small files.)
    const wal = this.wal;
    if (wal && this.failures === 0 && wal.bytes > this.cfg.max_wal_bytes / 2) {
      let oldest = wal.currentSeq;
      for (const b of this.open.values()) oldest = Math.min(oldest, b.firstPos!.seg);
      if (oldest < wal.currentSeq) {
        for (const b of [...this.open.values()]) {
          if (b.firstPos!.seg === oldest) this.seal(b, "wal");
        }
      }
    }
  }

  /** Turns an open buffer into a file to store; with a log, logs its seal record first. */
  private seal(b: Buffer, reason: FlushReason, known?: SealInfo, upTo?: Pos | null): void {
    this.open.delete(b.key);
    this.openBytes -= b.bytes;
    const id = known?.id ??
      (this.wal && b.firstPos
        ? hash64Hex(b.key, this.wal.nonceOf(b.firstPos.seg), b.firstPos.seg, b.firstPos.idx)
        : randomId());
    const f: PendingFile = {
      key: b.key,
      table: b.table,
      service: b.service,
      hour: b.hour,
      id,
      rows: b.chunks,
      data: null,
      encoding: null,
      rowCount: b.rowCount,
      bytes: b.bytes,
      minTimeNs: b.minTimeNs,
      minSeg: b.firstPos?.seg ?? 0,
      upTo: known?.upTo ?? (upTo !== undefined ? upTo : this.watermark),
      seal: known || !this.wal ? "ok" : null,
      reason,
      firstAt: b.firstAt,
    };
    if (f.seal === null) this.logSeal(f);
    this.queue.push(f);
    this.kick();
  }

  private logSeal(f: PendingFile): void {
    const p = this.wal!.append(
      encodePayload({
        type: "seal",
        upTo: f.upTo!,
        id: f.id,
        table: f.table,
        service: f.service,
        hour: f.hour,
      }),
    ).then(() => {
      f.seal = "ok";
    }, (e) => {
      f.seal = null;
      throw e;
    });
    p.catch(() => {}); // awaited by the flush loop
    f.seal = p;
  }

  private tick(): void {
    if (this.stopped) return;
    const limit = this.cfg.max_age_secs * 1000;
    const now = this.now();
    for (const b of [...this.open.values()]) {
      if (now - b.firstAt >= limit) this.seal(b, "age");
    }
  }

  // ---- flushing ----

  private kick(): void {
    if (!this.running && !this.aborted) this.loop = this.runFlushes();
  }

  private backoffMs(failures: number): number {
    if (failures <= 0) return 0;
    const base = this.deps.retryBaseMs ?? 500;
    const max = this.deps.retryMaxMs ?? 30_000;
    return Math.min(max, base * 2 ** Math.min(failures - 1, 30));
  }

  private async runFlushes(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.aborted) {
        const f = this.queue[0];
        this.encodeAhead();
        try {
          await this.store(f);
        } catch (e) {
          if (this.aborted) break;
          this.failures++;
          this.counters.flushFailures++;
          this.lastError = e;
          const delay = this.backoffMs(this.failures);
          const fields = {
            key: objectKey(f.table, f.service, f.minTimeNs, f.id, this.output.extension),
            rows: f.rowCount,
            attempt: this.failures,
            retry_in_ms: delay,
            error: message(e),
          };
          if (e instanceof StorageError || e instanceof Error && e.name === "WalError") {
            this.log.warn("cannot store file, keeping it buffered", fields);
          } else {
            this.log.error("cannot write file, keeping it buffered", fields);
          }
          // Others go first next time; nothing is dropped.
          if (this.queue[0] === f) this.queue.push(this.queue.shift()!);
          for (const w of this.drainWaiters.filter((w) => w.failFast)) w.reject(e);
          this.drainWaiters = this.drainWaiters.filter((w) => !w.failFast);
          await this.sleep(delay);
          continue;
        }
        if (this.aborted) break;
        this.failures = 0;
        this.queue.shift();
        await this.afterStored(f);
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length === 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w.resolve();
    }
  }

  private async store(f: PendingFile): Promise<void> {
    const started = performance.now();
    if (f.seal === null) this.logSeal(f);
    if (f.seal !== "ok") await f.seal;
    if (!f.data) await this.encode(f);
    if (this.aborted) throw new Error("aborted");
    const key = objectKey(f.table, f.service, f.minTimeNs, f.id, this.output.extension);
    await this.deps.storage.put(key, f.data!);
    // Before the done record: a failure here retries the file, stored again under its key.
    await this.deps.hooks?.fileStored?.({
      key,
      table: f.table,
      service: f.service,
      rows: f.rowCount,
      bytes: f.data!.length,
      minTimeNs: f.minTimeNs,
      durationMs: performance.now() - started,
      data: f.data!,
    });
  }

  /**
   * Starts encoding the first queued files, one more than the encoder runs at once: with encoder
   * threads, the next files are being encoded while the current one is stored.
   */
  private encodeAhead(): void {
    if (this.output.parallelism <= 0) return;
    const n = Math.min(this.queue.length, this.output.parallelism + 1);
    for (let i = 0; i < n; i++) {
      const f = this.queue[i];
      if (!f.data && !f.encoding) this.encode(f).catch(() => {}); // store() sees the failure
    }
  }

  /** Encodes `f` once (shared by `store()` and `encodeAhead()`); a failure can be retried. */
  private encode(f: PendingFile): Promise<void> {
    if (f.encoding) return f.encoding;
    const p = (async () => {
      const data = await this.output.encode(f.rows!);
      if (this.aborted) throw new Error("aborted");
      f.data = data;
      // The rows are in the file now (the encoder copied them before it resolved): merged
      // chunks give their memory to the next merges, requests' own chunks to the next decodes.
      for (const c of f.rows!) {
        if (c.arena) this.arenas.give(c.arena);
        c.arena = null;
        releaseRows(c);
      }
      f.rows = null;
      this.bufferedBytes += data.length - f.bytes;
      f.bytes = data.length;
    })();
    f.encoding = p;
    const clear = () => {
      if (f.encoding === p) f.encoding = null;
    };
    p.then(clear, clear);
    return p;
  }

  private async afterStored(f: PendingFile): Promise<void> {
    const key = objectKey(f.table, f.service, f.minTimeNs, f.id, this.output.extension);
    this.counters.filesWritten++;
    this.counters.rowsWritten += f.rowCount;
    this.counters.bytesWritten += f.data!.length;
    this.bufferedBytes -= f.bytes;
    this.bufferedRows -= f.rowCount;
    this.log.info("file stored", {
      key,
      rows: f.rowCount,
      bytes: f.data!.length,
      age_ms: this.now() - f.firstAt,
      reason: f.reason,
    });
    f.data = null;
    if (this.bufferedRows === 0) {
      // Idle: hold no spare memory.
      this.arenas.clear();
      clearDecodeBuffers();
    }
    if (!this.wal) return;
    try {
      await this.wal.append(encodePayload({ type: "done", id: f.id }));
    } catch (e) {
      // Without a durable done record, replay would store this file again: the same key and
      // rows, so harmless, as long as its segments stay. Keep them until restart.
      this.pinned.push(f.minSeg);
      this.log.error("cannot log a stored file as done; its log segments stay until restart", {
        key,
        error: message(e),
      });
    }
    await this.trim();
  }

  /** Deletes the log segments no unstored row lives in. */
  private async trim(): Promise<void> {
    if (!this.wal || this.replay || this.aborted) return;
    let low = this.wal.currentSeq;
    for (const b of this.open.values()) if (b.firstPos) low = Math.min(low, b.firstPos.seg);
    for (const f of this.queue) low = Math.min(low, f.minSeg);
    for (const s of this.pinned) low = Math.min(low, s);
    try {
      await this.wal.trim(low);
    } catch (e) {
      this.log.warn("cannot delete a write-ahead log segment", { error: message(e) });
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.sleepTimer);
        this.wake = undefined;
        resolve();
      };
      this.sleepTimer = setTimeout(() => this.wake?.(), ms);
    });
  }

  /** Resolves once no file waits to be stored; with `failFast`, rejects at the next failure. */
  private drained(failFast: boolean): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.drainWaiters.push({ resolve, reject, failFast });
      this.kick();
    });
  }

  async flush(): Promise<void> {
    if (this.wal) await this.wal.settle();
    for (const b of [...this.open.values()]) this.seal(b, "flush");
    await this.drained(true);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.wal) await this.wal.settle();
    for (const b of [...this.open.values()]) this.seal(b, "shutdown");
    // server.shutdown_timeout_secs = 0 waits without limit.
    const limitMs = this.deps.config.server.shutdown_timeout_secs * 1000;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.drained(false).then(() => true),
      ...(limitMs > 0
        ? [new Promise<boolean>((r) => (timeout = setTimeout(() => r(false), limitMs)))]
        : []),
    ]);
    clearTimeout(timeout);
    if (!done) {
      const rows = this.queue.reduce((n, f) => n + f.rowCount, 0);
      this.aborted = true;
      this.wake?.();
      this.log.error(
        this.wal
          ? "shutdown timed out; unstored rows stay in the write-ahead log for the next start"
          : 'shutdown timed out; unstored rows are lost (batch.durability = "memory")',
        {
          files: this.queue.length,
          rows,
          timeout_secs: this.deps.config.server.shutdown_timeout_secs,
        },
      );
      for (const w of this.drainWaiters) w.reject(new Error("writer closed"));
      this.drainWaiters = [];
    }
    if (done) await this.loop.catch(() => {});
    if (this.wal) {
      await this.wal.close();
      // Everything logged is stored (and marked done): the log is empty.
      if (done && this.pinned.length === 0) await this.wal.removeAll();
    }
  }

  async abort(): Promise<void> {
    this.stopped = true;
    this.aborted = true;
    clearInterval(this.timer);
    this.wake?.();
    for (const w of this.drainWaiters) w.reject(new Error("writer aborted"));
    this.drainWaiters = [];
    this.open.clear();
    this.queue = [];
    // The flush loop stops at its next step; a store in progress is not waited for (it may hang).
    await this.wal?.abandon();
  }

  stats(): WriterStats {
    return {
      ...this.counters,
      bufferedRows: this.bufferedRows,
      bufferedBytes: this.bufferedBytes + this.pendingBytes,
      buffers: this.open.size,
      pendingFiles: this.queue.length,
      walBytes: this.wal?.bytes ?? 0,
      walSegments: this.wal?.segments ?? 0,
      walSyncs: this.wal?.syncs ?? 0,
    };
  }

  // ---- replay ----

  /** Replays the log left by an earlier run: rebuilds its buffers and files, then seals them. */
  private async replayLog(fs: WalFs): Promise<void> {
    const dir = this.cfg.wal_dir.replace(/\/+$/, "") || ".";
    const segmentBytes = this.deps.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const { wal, index } = await openLog(fs, dir, segmentBytes, bufferKey, this.log);
    this.wal = wal;
    if (!index) return;
    const state: ReplayState = { seals: index.seals, next: new Map(), done: index.done };
    this.replay = state;
    let records = 0;
    try {
      for await (const { pos, record: r } of dataRecords(fs, wal, index)) {
        let parts: Partition[];
        try {
          parts = this.convert(r.signal, r.body, r.format, { receivedAtNs: r.receivedAtNs })
            .partitions;
        } catch (e) {
          this.log.error("cannot decode a logged request during replay; skipping it", {
            segment: wal.path(pos.seg),
            record: pos.idx,
            error: message(e),
          });
          continue;
        }
        this.apply(parts.filter((p) => p.rows.length > 0), pos);
        records++;
        // Bound memory while a long log is replayed: let stored files release it.
        if (this.bufferedBytes > this.cfg.max_buffered_bytes && this.queue.length > 0) {
          this.log.info("replay waits for buffered files to be stored", {
            files: this.queue.length,
            buffered_bytes: this.bufferedBytes,
          });
          await this.drained(false);
        }
      }
      // Seals whose last rows were at the end of the log, then what came after the last seal.
      for (const [key, list] of state.seals) {
        for (let i = state.next.get(key) ?? 0; i < list.length; i++) this.finishSeal(key, list[i]);
        state.next.set(key, list.length);
      }
    } finally {
      this.replay = null;
    }
    for (const b of [...this.open.values()]) this.seal(b, "replay");
    this.counters.replayedRecords = records;
    this.log.info("write-ahead log replayed", {
      segments: index.seqs.length,
      records,
      files: this.queue.length,
      rows: this.bufferedRows,
      torn_segments: index.torn,
    });
    await this.trim();
  }

  /**
   * Where the rows of `key` from record `pos` go during replay: into a file whose seal is
   * logged but which was not stored ("covered"), nowhere because that file is stored ("skip"),
   * or into a new buffer ("tail").
   */
  private routeReplay(key: string, pos: Pos): "covered" | "skip" | "tail" {
    const st = this.replay!;
    const list = st.seals.get(key);
    if (!list) return "tail";
    let i = st.next.get(key) ?? 0;
    while (i < list.length && comparePos(list[i].upTo, pos) < 0) this.finishSeal(key, list[i++]);
    st.next.set(key, i);
    if (i >= list.length) return "tail";
    return st.done.has(list[i].id) ? "skip" : "covered";
  }

  /** The rows of a logged seal are all in: it becomes a file again, under the same id. */
  private finishSeal(key: string, s: SealInfo): void {
    if (this.replay!.done.has(s.id)) return;
    const b = this.open.get(key);
    if (!b) {
      this.log.warn("write-ahead log names a file whose rows are gone; skipping it", { id: s.id });
      return;
    }
    this.seal(b, "replay", s);
  }
}
