/**
 * The memory a server's settings allow, as one formula, and the settings a memory budget
 * (`server.max_memory_bytes`) derives. docs/configuration.md ("Memory budget") states the same.
 *
 *   T        = parquet.encode_threads                        (encoders E = max(T, 1))
 *   runtime  = 160 MiB + T × 48 MiB                          process, code, decode buffers kept for
 *              the next requests (32 MiB), each thread's own heap
 *   inflight = max(server.max_inflight_bytes, 3 × server.max_payload_bytes)   a body counts twice
 *              (as read, and its copy in the write-ahead log's buffer), plus its decompressed
 *              form; one request of the largest size is always let in
 *   buffers  = batch.max_buffered_bytes + min(128 MiB, batch.max_buffered_bytes / 4)   and the
 *              memory of encoded files kept for the next merges of small requests
 *   file     = max(min(batch.max_bytes, batch.max_buffered_bytes), 2 × server.max_payload_bytes)
 *              the rows of one file at most
 *   encoder  = file × (3 × E + T + 2)                        parquet-wasm's working memory (about
 *              3× a file's rows per encoder, kept: its linear memory only grows) and the Arrow
 *              IPC copies of the files being handed over
 *   headroom = (inflight + buffers + encoder) / 2            garbage not yet collected, allocator
 *              slack (measured under overload with glibc's default malloc settings: peak RSS up
 *              to about 1.4× the live bytes)
 *   bound    = runtime + inflight + buffers + encoder + headroom
 *
 * With a budget M, the settings not set explicitly are derived so that the bound fits: of
 * rest = M − runtime, a third is the headroom and two ninths each go to
 * `server.max_inflight_bytes`, the buffers (`batch.max_buffered_bytes` = 4/5 of that share) and
 * the encoder (`batch.max_bytes` at
 * most that share divided by 3 × E + T + 2); start-up fails, naming every part, when the bound
 * of the final settings is above M.
 *
 * A buffer is written out before a request would take it past `batch.max_bytes` (several files),
 * so one encode needs at most its share; a single request's rows (about twice its body) make a
 * file of their own.
 */
import type { Config } from "./types.ts";

const MiB = 1024 * 1024;

/**
 * Resident memory of the process before any request (runtime, code, parquet-wasm, metrics:
 * 128 MiB measured) and the decode buffers it keeps (32 MiB, ../core/otlp/sizing.ts).
 */
export const RUNTIME_BYTES = 160 * MiB;
/** Memory of encoded files kept for merges: a quarter of the buffers, at most this (../batch/batcher.ts). */
export const ARENA_POOL_BYTES = 128 * MiB;

/** What buffers of `max_buffered_bytes` hold at most, with the memory kept for merges. */
export function buffersBytes(maxBuffered: number): number {
  return maxBuffered + Math.min(ARENA_POOL_BYTES, maxBuffered / 4);
}
/** Each encoder thread's own heap and parquet-wasm instance. */
export const THREAD_BYTES = 48 * MiB;
/** parquet-wasm's linear memory per byte of a file's rows, once grown (measured 2.9×). */
export const ENCODER_FACTOR = 3;
/**
 * Decoded rows per byte of an uncompressed request body, roughly (OTLP/protobuf logs: 8,000
 * records in 4.2 MB decode to 8.4 MB of columns).
 */
export const ROWS_PER_BODY_BYTE = 2;
/**
 * In-flight bytes a request holds per byte of its largest possible body: the body as read and
 * its copy in the log's buffer (2× its bytes on the wire) plus its decompressed form.
 */
export const INFLIGHT_PER_BODY_BYTE = 3;

/** Headroom per byte of the live parts (in flight, buffers, encoder). */
export const HEADROOM = 1 / 2;

export interface MemoryPlan {
  /** The part of each bound, bytes. */
  runtime: number;
  inflight: number;
  buffers: number;
  encoder: number;
  headroom: number;
  /** Largest rows of one file. */
  file: number;
  /** What one file's rows count for in `encoder`. */
  fileFactor: number;
  /** The sum: the process's resident memory stays below it. */
  total: number;
}

/** The multiple of a file's rows the encoders hold at most. */
export function encoderFactor(threads: number): number {
  return ENCODER_FACTOR * Math.max(threads, 1) + threads + 2;
}

/** The memory bound of `c`'s settings (batching server). */
export function memoryPlan(c: Config): MemoryPlan {
  const threads = c.parquet.encode_threads;
  const runtime = RUNTIME_BYTES + threads * THREAD_BYTES;
  const inflight = Math.max(
    c.server.max_inflight_bytes,
    INFLIGHT_PER_BODY_BYTE * c.server.max_payload_bytes,
  );
  const buffers = c.batch.enabled ? Math.floor(buffersBytes(c.batch.max_buffered_bytes)) : 0;
  const oneRequest = ROWS_PER_BODY_BYTE * c.server.max_payload_bytes;
  const file = c.batch.enabled
    ? Math.max(Math.min(c.batch.max_bytes, c.batch.max_buffered_bytes), oneRequest)
    : oneRequest;
  const fileFactor = encoderFactor(c.batch.enabled ? threads : 0);
  const encoder = file * fileFactor;
  const headroom = Math.floor((inflight + buffers + encoder) * HEADROOM);
  return {
    runtime,
    inflight,
    buffers,
    encoder,
    headroom,
    file,
    fileFactor,
    total: runtime + inflight + buffers + encoder + headroom,
  };
}

const mib = (n: number) => `${Math.round((n / MiB) * 10) / 10} MiB`;

/**
 * Derives the settings `server.max_memory_bytes` governs (those not in `explicit`), in place,
 * and reports (through `problem`) when the final settings cannot fit the budget.
 */
export function applyMemoryBudget(
  c: Config,
  explicit: ReadonlySet<string>,
  problem: (msg: string) => void,
): void {
  const budget = c.server.max_memory_bytes;
  if (!(budget > 0)) return;
  const threads = c.parquet.encode_threads;
  const runtime = RUNTIME_BYTES + threads * THREAD_BYTES;
  const rest = budget - runtime;
  if (rest <= 0) {
    problem(
      `server.max_memory_bytes = ${budget} (${
        mib(budget)
      }) is below what the process needs before any request: ${mib(runtime)} (${
        mib(RUNTIME_BYTES)
      } + ${threads} encoder thread(s) × ${mib(THREAD_BYTES)})`,
    );
    return;
  }
  const floor = (n: number) => Math.max(1, Math.floor(n));
  const share = rest / (1 + HEADROOM) / 3;
  if (!explicit.has("server.max_inflight_bytes")) c.server.max_inflight_bytes = floor(share);
  if (!explicit.has("batch.max_buffered_bytes")) {
    // buffersBytes(x) = 1.25 x below 512 MiB of buffers (a budget that large leaves room anyway).
    c.batch.max_buffered_bytes = floor(share / 1.25);
  }
  // What the live parts may take (the rest less the headroom), less what two of them took.
  const left = rest / (1 + HEADROOM) - c.server.max_inflight_bytes -
    (c.batch.enabled ? buffersBytes(c.batch.max_buffered_bytes) : 0);
  if (!explicit.has("batch.max_bytes") && left > 0) {
    c.batch.max_bytes = floor(Math.min(c.batch.max_bytes, left / encoderFactor(threads)));
  }
  const plan = memoryPlan(c);
  if (plan.total > budget) {
    const oneRequest = ROWS_PER_BODY_BYTE * c.server.max_payload_bytes;
    problem(
      `server.max_memory_bytes = ${budget} (${
        mib(budget)
      }) is too small for these settings, which need ${mib(plan.total)}: runtime ${
        mib(plan.runtime)
      } + request bodies in flight ${mib(plan.inflight)} + buffers ${
        mib(plan.buffers)
      } (batch.max_buffered_bytes and the memory kept for merges) + encoder ${
        mib(plan.encoder)
      } (${plan.fileFactor} × ${mib(plan.file)}, the rows of one file: batch.max_bytes${
        plan.file === oneRequest ? `, or one request's rows, 2 × server.max_payload_bytes` : ""
      }) + headroom ${
        mib(plan.headroom)
      } (half of those three). Raise server.max_memory_bytes, or lower server.max_payload_bytes, batch.max_buffered_bytes or batch.max_bytes`,
    );
  }
}
