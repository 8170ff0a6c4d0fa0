/**
 * The memory a server's settings allow, as one formula, and the settings a memory budget
 * (`server.max_memory_bytes`) derives. docs/configuration.md ("Memory budget") states the same.
 *
 *   T        = parquet.encode_threads                        (encoders E = max(T, 1))
 *   runtime  = 128 MiB + T × 48 MiB                          process, code, each thread's own heap
 *   inflight = max(server.max_inflight_bytes, 3 × server.max_payload_bytes)   a body counts twice
 *              (as read, and its copy in the write-ahead log's buffer), plus its decompressed
 *              form; one request of the largest size is always let in
 *   buffers  = batch.max_buffered_bytes
 *   file     = max(batch.max_bytes, 2 × server.max_payload_bytes)   rows of one file at most
 *   encoder  = file × (3 × E + T + 2)                        parquet-wasm's working memory (about
 *              3× a file's rows per encoder, kept: its linear memory only grows) and the Arrow
 *              IPC copies of the files being handed over
 *   bound    = runtime + inflight + buffers + encoder
 *
 * With a budget M, the settings not set explicitly are derived so that the bound fits:
 *
 *   rest                     = M − runtime
 *   server.max_inflight_bytes = rest / 4
 *   batch.max_buffered_bytes  = rest × 3 / 8
 *   batch.max_bytes           = min(batch.max_bytes, (rest − both above) / (3 × E + T + 2))
 *
 * and start-up fails, naming every part, when the bound of the final settings is above M.
 * A buffer is written out before a request would take it past `batch.max_bytes` (several files),
 * so one encode needs at most its share; a single request's rows (about twice its body) make a
 * file of their own. (The bound counts memory the process holds live; the runtime part leaves
 * room for garbage not yet collected.)
 */
import type { Config } from "./types.ts";

const MiB = 1024 * 1024;

/** Resident memory of the process before any request: runtime, code, parquet-wasm, metrics. */
export const RUNTIME_BYTES = 128 * MiB;
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

export interface MemoryPlan {
  /** The part of each bound, bytes. */
  runtime: number;
  inflight: number;
  buffers: number;
  encoder: number;
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
  const buffers = c.batch.enabled ? c.batch.max_buffered_bytes : 0;
  const oneRequest = ROWS_PER_BODY_BYTE * c.server.max_payload_bytes;
  const file = c.batch.enabled
    ? Math.max(Math.min(c.batch.max_bytes, c.batch.max_buffered_bytes), oneRequest)
    : oneRequest;
  const fileFactor = encoderFactor(c.batch.enabled ? threads : 0);
  const encoder = file * fileFactor;
  return {
    runtime,
    inflight,
    buffers,
    encoder,
    file,
    fileFactor,
    total: runtime + inflight + buffers + encoder,
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
  if (!explicit.has("server.max_inflight_bytes")) c.server.max_inflight_bytes = floor(rest / 4);
  if (!explicit.has("batch.max_buffered_bytes")) {
    c.batch.max_buffered_bytes = floor((rest * 3) / 8);
  }
  const left = rest - c.server.max_inflight_bytes -
    (c.batch.enabled ? c.batch.max_buffered_bytes : 0);
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
      } (batch.max_buffered_bytes) + encoder ${mib(plan.encoder)} (${plan.fileFactor} × ${
        mib(plan.file)
      }, the rows of one file: batch.max_bytes${
        plan.file === oneRequest ? `, or two requests' worth of server.max_payload_bytes` : ""
      }). Raise server.max_memory_bytes, or lower server.max_payload_bytes, batch.max_buffered_bytes or batch.max_bytes`,
    );
  }
}
