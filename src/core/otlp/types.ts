/**
 * What every decoder (protobuf, OTLP/JSON, JSONL; logs, traces, metrics) returns, and its
 * error type. Decoders append rows straight into `TableBuilder` columns (see ../columns/index.ts):
 * no JS object per record on the protobuf path.
 */
import type { TableBuilder } from "../tables.ts";

export type Format = "protobuf" | "json" | "jsonl";

export interface DecodeOptions {
  /** Time the request was received, epoch ns (log rows with no time at all get it). */
  receivedAtNs: bigint;
  /** Deepest AnyValue nesting accepted (arrays/kvlists inside each other). Default 64. */
  maxDepth?: number;
}

export interface Decoded {
  /** Non-empty tables only (logs: one; traces: one; metrics: up to five). */
  tables: TableBuilder[];
  /** Records (log records, spans, metric data points) accepted into `tables`. */
  records: number;
  /** Records that could not be stored, for OTLP `partial_success` (e.g. a point without a value). */
  rejected: number;
  /** Why records were rejected (empty when none): first reasons, human readable. */
  message: string;
}

/**
 * Input that cannot be decoded. Message style: what failed, then the detail, e.g.
 * `Cannot decode ExportLogsServiceRequest: truncated varint at byte 340`.
 * The HTTP layer answers 400 with this message.
 */
export class DecodeError extends SyntaxError {
  override name = "DecodeError";
}
