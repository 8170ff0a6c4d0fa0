/**
 * The front door every transport uses (OTLP/HTTP today; OTLP/gRPC and the library API take
 * the same path): a decompressed OTLP request goes through `ingest` (decode, split by (table,
 * service, hour), hand to the writer) and comes back as a value saying how many records were
 * accepted and rejected; a failure is classified once, by `classifyFailure`, into what every
 * transport must tell its client:
 *
 *   invalid        the request cannot be decoded          HTTP 400, gRPC INVALID_ARGUMENT
 *   backpressure   buffers or the write-ahead log full    HTTP 429/503 + Retry-After, gRPC UNAVAILABLE
 *   unavailable    storage failing (retryable or not)     HTTP 503 + Retry-After, gRPC UNAVAILABLE
 *   internal       a bug                                  HTTP 500, gRPC INTERNAL
 *
 * Retryable failures are never "internal": OTLP clients drop data on 500 / INTERNAL.
 */
import { convertRequest } from "../core/convert.ts";
import { DecodeError, type Format } from "../core/otlp/types.ts";
import type { Signal } from "../core/tables.ts";
import { BackpressureError, type Writer, type WriteRequest } from "../batch/types.ts";
import { StorageError } from "../storage/types.ts";

/** Retry-After (seconds) when storage fails: retryable failures, and misconfiguration. */
export const STORAGE_RETRY_AFTER_SECS = 5;
export const MISCONFIGURED_RETRY_AFTER_SECS = 30;

export interface IngestRequest {
  signal: Signal;
  format: Format;
  /** The decompressed request body. */
  body: Uint8Array;
  /** The body as it came, when it was compressed (a write-ahead log keeps these fewer bytes). */
  encoded?: WriteRequest["encoded"];
  /** When the request arrived, epoch nanoseconds. */
  receivedAtNs: bigint;
}

export interface IngestResult {
  /** Records accepted (log records, spans, data points). */
  records: number;
  /** Records rejected (`partial_success`), and why ("" when none). */
  rejected: number;
  message: string;
}

/**
 * Decodes the request and hands its rows to the writer; resolves once they are as safe as the
 * writer promises (stored, or in the write-ahead log). Rejects with `DecodeError`,
 * `BackpressureError` or `StorageError` (see `classifyFailure`).
 */
export async function ingest(writer: Writer, req: IngestRequest): Promise<IngestResult> {
  const converted = convertRequest(req.signal, req.body, req.format, {
    receivedAtNs: req.receivedAtNs,
  });
  if (converted.partitions.length > 0) {
    await writer.write({
      signal: req.signal,
      format: req.format,
      body: req.body,
      encoded: req.encoded,
      receivedAtNs: req.receivedAtNs,
      partitions: converted.partitions,
    });
  }
  return { records: converted.records, rejected: converted.rejected, message: converted.message };
}

export type Failure =
  | { kind: "invalid"; message: string }
  | { kind: "backpressure"; message: string; retryAfterSecs: number; status: 429 | 503 }
  | { kind: "unavailable"; message: string; retryAfterSecs: number; retryable: boolean }
  | { kind: "internal"; message: string };

/** What a failure of `ingest` means for the client (see the table at the top). */
export function classifyFailure(err: unknown): Failure {
  if (isError(err, DecodeError, "DecodeError")) return { kind: "invalid", message: err.message };
  if (isError(err, BackpressureError, "BackpressureError")) {
    const e = err as BackpressureError;
    return {
      kind: "backpressure",
      message: e.message,
      retryAfterSecs: retryAfterSecs(e.retryAfterSecs),
      status: e.status === 429 ? 429 : 503,
    };
  }
  if (isError(err, StorageError, "StorageError")) {
    const e = err as StorageError;
    return {
      kind: "unavailable",
      message: `storage unavailable: ${e.message}`,
      retryAfterSecs: e.retryable ? STORAGE_RETRY_AFTER_SECS : MISCONFIGURED_RETRY_AFTER_SECS,
      retryable: e.retryable,
    };
  }
  return {
    kind: "internal",
    message: `Internal error: ${err instanceof Error ? err.message : String(err)}`,
  };
}

function isError(
  err: unknown,
  cls: abstract new (...args: never[]) => Error,
  name: string,
): err is Error {
  // The name check also catches instances from a second copy of the module (bundles).
  return err instanceof cls || (err instanceof Error && err.name === name);
}

/** Whole seconds, at least 1 (a backoff in the writer may be fractional or not finite). */
function retryAfterSecs(secs: number): number {
  return Number.isFinite(secs) ? Math.max(1, Math.ceil(secs)) : STORAGE_RETRY_AFTER_SECS;
}
