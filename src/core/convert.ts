/**
 * The pure pipeline: request bytes → decoded rows → (table, service, hour) partitions.
 * Parquet encoding happens in the writer (./parquet/encode.ts), once per file.
 */
import { decode } from "./otlp/index.ts";
import type { DecodeOptions, Format } from "./otlp/types.ts";
import { type Partition, partition } from "./partition.ts";
import type { Signal } from "./tables.ts";

export interface Converted {
  partitions: Partition[];
  /** Records accepted (log records, spans, data points). */
  records: number;
  /** Records rejected, for `partial_success`. */
  rejected: number;
  /** Why they were rejected ("" when none). */
  message: string;
}

/** Decodes an OTLP request body and splits its rows; throws `DecodeError` on undecodable input. */
export function convertRequest(
  signal: Signal,
  body: Uint8Array,
  format: Format,
  opts: DecodeOptions,
): Converted {
  const d = decode(signal, body, format, opts);
  const partitions: Partition[] = [];
  for (const t of d.tables) partitions.push(...partition(t));
  return { partitions, records: d.records, rejected: d.rejected, message: d.message };
}
