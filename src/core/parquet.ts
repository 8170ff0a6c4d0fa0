/**
 * Arrow record batches from table builders, and Parquet bytes through parquet-wasm.
 *
 * parquet-wasm is used through its `esm` build, which needs `initParquet()` once with the wasm
 * bytes or a compiled `WebAssembly.Module`: each runtime entry point provides it (Workers import
 * the `.wasm` as a module; servers read the file).
 */
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import type { Profile, TableBuilder, TableName } from "./tables.ts";
import { VERSION } from "../version.ts";

export type Codec = "zstd" | "snappy" | "gzip" | "lz4_raw" | "none";
export const CODECS: readonly Codec[] = ["zstd", "snappy", "gzip", "lz4_raw", "none"];

export interface ParquetOptions {
  codec: Codec;
  /** Maximum rows per row group. */
  rowGroupSize: number;
  profile: Profile;
}

export const DEFAULT_PARQUET: ParquetOptions = {
  codec: "zstd",
  rowGroupSize: 122_880,
  profile: "default",
};

let initialised = false;

/** Initialises parquet-wasm once from wasm bytes or a compiled module. Later calls do nothing. */
export function initParquet(wasm: BufferSource | WebAssembly.Module): void {
  if (initialised) return;
  pw.initSync({ module: wasm });
  initialised = true;
}

export function parquetReady(): boolean {
  return initialised;
}

const CODEC: Record<Codec, pw.Compression> = {
  zstd: pw.Compression.ZSTD,
  snappy: pw.Compression.SNAPPY,
  gzip: pw.Compression.GZIP,
  lz4_raw: pw.Compression.LZ4_RAW,
  none: pw.Compression.UNCOMPRESSED,
};

/** The Arrow schema written for a table builder's columns under `profile`. */
export function arrowSchema(b: TableBuilder, profile: Profile): arrow.Schema {
  const fields = b.columns(profile).map(([name, c]) => new arrow.Field(name, c.type, false));
  return new arrow.Schema(fields);
}

export function toRecordBatch(b: TableBuilder, profile: Profile): arrow.RecordBatch {
  b.assertAligned();
  const cols = b.columns(profile);
  const schema = arrowSchema(b, profile);
  const data = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: b.length,
    nullCount: 0,
    children: cols.map(([, c]) => c.toData()),
  });
  return new arrow.RecordBatch(schema, data);
}

/**
 * Arrow IPC stream bytes of the rows of `b` (one builder, or several of one table whose rows
 * follow each other): the hand-off format to parquet-wasm.
 */
export function toIPC(b: TableBuilder | readonly TableBuilder[], profile: Profile): Uint8Array {
  const parts = Array.isArray(b) ? b : [b as TableBuilder];
  if (parts.length === 0) throw new TypeError("internal: toIPC() needs at least one builder");
  const batches = parts.map((p) => toRecordBatch(p, profile));
  return arrow.tableToIPC(new arrow.Table(batches[0].schema, batches), "stream");
}

/**
 * Top-level columns whose values are (nearly) all different: a dictionary there is built, found
 * too big and abandoned for every page, which costs time and bytes (bench/writer.ts measured
 * 6% of the write time and 3–9% of the file size). Every other column keeps dictionary encoding.
 * (Columns inside maps and lists cannot be named here: parquet-wasm takes one-part paths only.)
 */
const METRIC_PLAIN = ["TimeUnix", "Value", "Count", "Sum", "Min", "Max"];
export const PLAIN_COLUMNS: Record<TableName, readonly string[]> = {
  logs: ["Timestamp", "TraceId", "SpanId", "Body", "ObservedTimestamp"],
  traces: ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "Duration"],
  gauge: METRIC_PLAIN,
  sum: METRIC_PLAIN,
  histogram: METRIC_PLAIN,
  exponential_histogram: METRIC_PLAIN,
  summary: METRIC_PLAIN,
};

/** The parquet-wasm writer properties for a file of table `table` (consumed by one write). */
export function writerProperties(opts: ParquetOptions, table: TableName): pw.WriterProperties {
  return writerPropertiesBuilder(opts, table).build();
}

/** The builder behind `writerProperties()` (bench/writer.ts varies it). */
export function writerPropertiesBuilder(
  opts: ParquetOptions,
  table: TableName,
): pw.WriterPropertiesBuilder {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(CODEC[opts.codec])
    .setMaxRowGroupSize(Math.max(1, opts.rowGroupSize))
    .setDictionaryEnabled(true)
    .setStatisticsEnabled(pw.EnabledStatistics.Chunk)
    .setCreatedBy(`otlp2parquet version ${VERSION}`)
    .setKeyValueMetadata(
      new Map([
        ["otlp2parquet.version", VERSION],
        ["otlp2parquet.schema_profile", opts.profile],
        ["otlp2parquet.table", table],
      ]),
    );
  for (const c of PLAIN_COLUMNS[table]) b = b.setColumnDictionaryEnabled(c, false);
  return b;
}

/** Encodes the rows of `b` (one builder, or several of one table in order) as one Parquet file. */
export function encodeParquet(
  b: TableBuilder | readonly TableBuilder[],
  opts: ParquetOptions,
): Uint8Array {
  const table = Array.isArray(b) ? b[0].table : (b as TableBuilder).table;
  return ipcToParquet(toIPC(b, opts.profile), table, opts);
}

/**
 * Parquet bytes of the Arrow IPC stream `ipc` (made by `toIPC()`) for table `table`: the
 * parquet-wasm half of `encodeParquet()`, which an encoder worker runs on its own thread.
 */
export function ipcToParquet(ipc: Uint8Array, table: TableName, opts: ParquetOptions): Uint8Array {
  if (!initialised) throw new Error("internal: parquet-wasm is not initialised (call initParquet)");
  // writeParquet consumes (frees) both the wasm table and the properties.
  const t = pw.Table.fromIPCStream(ipc);
  return pw.writeParquet(t, writerProperties(opts, table));
}
