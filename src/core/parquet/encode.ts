/**
 * Arrow record batches from table builders, and Parquet bytes through parquet-wasm.
 *
 * parquet-wasm is used through its `esm` build, which needs `initParquet()` once with the wasm
 * bytes or a compiled `WebAssembly.Module`: each runtime entry point provides it (Workers import
 * the `.wasm` as a module; servers read the file).
 */
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import type { Column } from "../columns/index.ts";
import { type BatchColumns, ipcStream, ipcStreamSteps, type OutputBuffer } from "../arrow/ipc.ts";
export type { OutputBuffer } from "../arrow/ipc.ts";
import { newTable, type Profile, type TableBuilder, type TableName } from "../tables.ts";
import { VERSION } from "../../version.ts";
import { type FormatVersion, icebergArrowSchema } from "../../catalog/schema.ts";
import { CODEC_ID, writeParquetFile } from "./writer.ts";
import { DEFAULT_ZSTD_LEVEL, pageCompressor } from "./codecs.ts";
import { ipcColumns } from "./ipc-columns.ts";

/**
 * Which Parquet encoder writes files (`parquet.encoder`): "native" is ours (./writer.ts, fed
 * straight from the column builders), "wasm" is parquet-wasm (through an Arrow IPC stream),
 * "auto" is ours wherever its codec runs (zstd needs the runtime's: Deno, Bun, Node ≥ 22.15)
 * and parquet-wasm elsewhere (Node 20 and Workers with zstd; lz4_raw everywhere).
 */
export type ParquetEncoder = "auto" | "native" | "wasm";
export const PARQUET_ENCODERS: readonly ParquetEncoder[] = ["auto", "native", "wasm"];

export type Codec = "zstd" | "snappy" | "gzip" | "lz4_raw" | "none";
export const CODECS: readonly Codec[] = ["zstd", "snappy", "gzip", "lz4_raw", "none"];

export interface ParquetOptions {
  codec: Codec;
  /** Maximum rows per row group. */
  rowGroupSize: number;
  profile: Profile;
  /**
   * Dictionary encoding inside maps and lists too (default true); false: only the top-level
   * columns whose values repeat (see `PLAIN_COLUMNS`) are dictionary-encoded.
   */
  nestedDictionary?: boolean;
  /**
   * Write the file for an Iceberg table of this format version (`catalog.mode = "iceberg"`):
   * Parquet field ids, signed integers, timestamps in microseconds (version 2) or nanoseconds
   * (version 3); see ../../catalog/schema.ts. Absent: the ClickHouse-compatible types.
   */
  iceberg?: FormatVersion;
  /** Which encoder writes the file (default "auto"). */
  encoder?: ParquetEncoder;
  /** zstd level of the native encoder (default `DEFAULT_ZSTD_LEVEL`). */
  zstdLevel?: number;
  /** Native encoder: data page size it aims at (default 1 MiB; tests make it small). */
  pageBytes?: number;
  /** Native encoder: dictionary size past which pages are PLAIN (default 1 MiB). */
  dictionaryBytes?: number;
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

/**
 * The Arrow schema written for a table builder's columns under `profile` (for an Iceberg table
 * of format version `iceberg`, when given).
 */
export function arrowSchema(
  b: TableBuilder,
  profile: Profile,
  iceberg?: FormatVersion,
): arrow.Schema {
  const key = `${b.table}/${profile}/${iceberg ?? ""}`;
  let s = schemas.get(key);
  if (s === undefined) {
    // Column types are shared instances: one schema per table and profile serves every builder.
    s = iceberg ? icebergArrowSchema(b.table, b.columns(profile), iceberg) : new arrow.Schema(
      b.columns(profile).map(([name, c]) => new arrow.Field(name, c.type, false)),
    );
    schemas.set(key, s);
  }
  return s;
}

const schemas = new Map<string, arrow.Schema>();

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
 * Rows per record batch that `toIPC()` aims at: consecutive builders are written as one record
 * batch (their buffers concatenated) until it would pass this many rows. (parquet-wasm writes a
 * file as fast from one batch as from batches of 4,096 to 65,536 rows, and 4% slower from
 * batches of 100; its writer cuts row groups out of batches itself.)
 */
export const IPC_BATCH_ROWS = 1 << 20;

/** Bytes (as `byteSize()` counts them) past which a record batch is not extended: int32 offsets. */
const IPC_BATCH_BYTES = 1 << 30;

/** How `toIPC()` writes. */
export interface IPCOptions {
  /**
   * Consecutive builders are written as one record batch (their buffers concatenated) up to
   * this many rows (a builder is never split). Default `IPC_BATCH_ROWS`.
   */
  batchRows?: number;
  /** Where to write the stream (see `OutputBuffer`); default a new buffer of its exact size. */
  output?: OutputBuffer;
  /** The stream for an Iceberg table's data file (see `ParquetOptions.iceberg`). */
  iceberg?: FormatVersion;
}

/**
 * Arrow IPC stream bytes of the rows of `b` (one builder, or several of one table whose rows
 * follow each other): the hand-off format to parquet-wasm, written straight from the builders'
 * buffers (../arrow/ipc.ts).
 */
export function toIPC(
  b: TableBuilder | readonly TableBuilder[],
  profile: Profile,
  opts: IPCOptions = {},
): Uint8Array {
  const { schema, batches } = ipcBatches(b, profile, opts);
  return ipcStream(schema, batches, opts.output);
}

/**
 * `toIPC()` that lets other work run: whenever `sliceMs` have passed since it last did, it waits
 * for `pause()` (e.g. a zero timeout, so a server's event loop answers requests in between; the
 * stream of a big file takes a few hundred ms to copy). Same bytes as `toIPC()`.
 */
export async function toIPCInSlices(
  b: TableBuilder | readonly TableBuilder[],
  profile: Profile,
  pause: () => Promise<void>,
  sliceMs = 5,
  opts: IPCOptions = {},
): Promise<Uint8Array> {
  const { schema, batches } = ipcBatches(b, profile, opts);
  const steps = ipcStreamSteps(schema, batches, opts.output);
  let since = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - since >= sliceMs) {
      await pause();
      since = performance.now();
    }
  }
}

/** The schema and record batches `toIPC()` writes (and `encodeArrowFile()`, ../arrow/file.ts). */
export function ipcBatches(
  b: TableBuilder | readonly TableBuilder[],
  profile: Profile,
  opts: IPCOptions,
): { schema: arrow.Schema; batches: BatchColumns[] } {
  const batchRows = opts.batchRows ?? IPC_BATCH_ROWS;
  const parts = Array.isArray(b) ? b : [b as TableBuilder];
  if (parts.length === 0) throw new TypeError("internal: toIPC() needs at least one builder");
  const schema = arrowSchema(parts[0], profile, opts.iceberg);
  const width = schema.fields.length;
  const batches: BatchColumns[] = [];
  let fields: Column[][] = [], rows = 0, bytes = 0;
  for (const p of parts) {
    if (p.table !== parts[0].table) {
      throw new TypeError(`internal: toIPC() got ${parts[0].table} and ${p.table} rows together`);
    }
    p.assertAligned();
    const size = parts.length > 1 ? p.byteSize() : 0;
    if (rows > 0 && (rows + p.length > batchRows || bytes + size > IPC_BATCH_BYTES)) {
      batches.push({ rows, fields });
      fields = [], rows = 0, bytes = 0;
    }
    const cols = p.columns(profile);
    for (let f = 0; f < width; f++) (fields[f] ??= []).push(cols[f][1]);
    rows += p.length;
    bytes += size;
  }
  batches.push({ rows, fields });
  return { schema, batches };
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

/**
 * Top-level columns of `table` under `profile` that hold one value per row (not maps or lists):
 * the columns that get statistics. A reader prunes row groups with the min/max of such columns
 * (Timestamp, ServiceName, …); nothing reads them for the entries of a map or the items of a
 * list (a filter on `ResourceAttributes['k']` or on an event cannot use them), and computing them
 * there costs 5–12% of the write (bench/writer.ts).
 */
export function flatColumns(table: TableName, profile: Profile): readonly string[] {
  const key = `${table}/${profile}`;
  let names = flat.get(key);
  if (names === undefined) {
    names = arrowSchema(newTable(table), profile).fields
      .filter((f) => !arrow.DataType.isMap(f.type) && !arrow.DataType.isList(f.type))
      .map((f) => f.name);
    flat.set(key, names);
  }
  return names;
}

const flat = new Map<string, readonly string[]>();

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
    .setStatisticsEnabled(pw.EnabledStatistics.None)
    .setCreatedBy(`otlp2parquet version ${VERSION}`)
    .setKeyValueMetadata(
      new Map([
        ["otlp2parquet.version", VERSION],
        ["otlp2parquet.schema_profile", opts.profile],
        ["otlp2parquet.table", table],
      ]),
    );
  for (const c of flatColumns(table, opts.profile)) {
    b = b.setColumnStatisticsEnabled(c, pw.EnabledStatistics.Chunk);
  }
  if (opts.nestedDictionary === false) {
    // parquet-wasm names columns by one-part paths only: dictionaries off everywhere, then back
    // on for the top-level columns.
    b = b.setDictionaryEnabled(false);
    for (const c of flatColumns(table, opts.profile)) b = b.setColumnDictionaryEnabled(c, true);
  }
  for (const c of PLAIN_COLUMNS[table]) b = b.setColumnDictionaryEnabled(c, false);
  return b;
}

/** Encodes the rows of `b` (one builder, or several of one table in order) as one Parquet file. */
export function encodeParquet(
  b: TableBuilder | readonly TableBuilder[],
  opts: ParquetOptions,
): Uint8Array {
  if (usesNative(opts)) return nativeParquet(b, opts);
  const table = Array.isArray(b) ? b[0].table : (b as TableBuilder).table;
  return ipcToParquet(toIPC(b, opts.profile, { iceberg: opts.iceberg }), table, opts);
}

/**
 * Whether `opts` are written by the native encoder here: "native" always (throws if its codec
 * cannot run on this runtime), "auto" when the codec can, "wasm" never.
 */
export function usesNative(opts: ParquetOptions): boolean {
  const enc = opts.encoder ?? "auto";
  if (enc === "wasm") return false;
  const ok = pageCompressor(opts.codec) !== undefined;
  if (!ok && enc === "native") throw new Error(nativeUnavailable(opts.codec));
  return ok;
}

/** Why the native encoder cannot write `codec` on this runtime. */
export function nativeUnavailable(codec: Codec): string {
  return codec === "zstd"
    ? 'parquet.encoder = "native" with zstd needs the runtime\'s zstd (node:zlib zstdCompressSync: Deno, Bun, Node ≥ 22.15; Node 20 and Cloudflare Workers have none): use parquet.encoder = "auto" or "wasm", or parquet.compression = "snappy", "gzip" or "none"'
    : `parquet.encoder = "native" does not write ${codec}: use parquet.encoder = "auto" or "wasm", or parquet.compression = "zstd", "snappy", "gzip" or "none"`;
}

/** The encoder `opts` get on this runtime, for the start-up line ("native" or "parquet-wasm"). */
export function encoderName(opts: ParquetOptions): string {
  try {
    return usesNative(opts) ? "native" : "parquet-wasm";
  } catch {
    return "unavailable";
  }
}

/** `encodeParquet()` by the native encoder (./writer.ts), whatever `opts.encoder` says. */
export function nativeParquet(
  b: TableBuilder | readonly TableBuilder[],
  opts: ParquetOptions,
): Uint8Array {
  const parts = Array.isArray(b) ? b : [b as TableBuilder];
  if (parts.length === 0) {
    throw new TypeError("internal: encodeParquet() needs at least one builder");
  }
  const table = parts[0].table;
  const schema = arrowSchema(parts[0], opts.profile, opts.iceberg);
  const width = schema.fields.length;
  const fields: Column[][] = Array.from({ length: width }, () => []);
  let rows = 0;
  for (const p of parts) {
    if (p.table !== table) {
      throw new TypeError(`internal: encodeParquet() got ${table} and ${p.table} rows together`);
    }
    p.assertAligned();
    const cols = p.columns(opts.profile);
    for (let f = 0; f < width; f++) fields[f].push(cols[f][1]);
    rows += p.length;
  }
  return writeColumns(schema, fields, rows, table, opts);
}

/** The native encoder over columns already laid out per field (also for IPC input, ./ipc-columns.ts). */
export function writeColumns(
  schema: arrow.Schema,
  fields: readonly (readonly Column[])[],
  rows: number,
  table: TableName,
  opts: ParquetOptions,
): Uint8Array {
  const compress = pageCompressor(opts.codec, opts.zstdLevel ?? DEFAULT_ZSTD_LEVEL);
  if (compress === undefined) throw new Error(nativeUnavailable(opts.codec));
  const plain = new Set(PLAIN_COLUMNS[table]);
  const nested = opts.nestedDictionary !== false;
  return writeParquetFile(schema, fields, rows, {
    codec: compress ? { id: CODEC_ID[opts.codec], compress } : null,
    rowGroupRows: opts.rowGroupSize,
    pageBytes: opts.pageBytes,
    dictionaryBytes: opts.dictionaryBytes,
    dictionary: (path) => path.length === 1 ? !plain.has(path[0]) : nested,
    statistics: statisticsColumns(table, opts.profile),
    metadata: [
      ["otlp2parquet.table", table],
      ["otlp2parquet.version", VERSION],
      ["otlp2parquet.schema_profile", opts.profile],
    ],
    createdBy: `otlp2parquet version ${VERSION}`,
  });
}

const statSets = new Map<string, ReadonlySet<string>>();

function statisticsColumns(table: TableName, profile: Profile): ReadonlySet<string> {
  const key = `${table}/${profile}`;
  let s = statSets.get(key);
  if (s === undefined) statSets.set(key, s = new Set(flatColumns(table, profile)));
  return s;
}

/**
 * Parquet bytes of the Arrow IPC stream `ipc` (made by `toIPC()`) for table `table`: the
 * parquet-wasm half of `encodeParquet()`, which an encoder worker runs on its own thread (or
 * the native encoder over the stream's buffers, when `opts` choose it: ./ipc-columns.ts).
 */
export function ipcToParquet(ipc: Uint8Array, table: TableName, opts: ParquetOptions): Uint8Array {
  if (usesNative(opts)) {
    const { schema, rows, fields } = ipcColumns(ipc);
    return writeColumns(schema, fields, rows, table, opts);
  }
  if (!initialised) throw new Error("internal: parquet-wasm is not initialised (call initParquet)");
  // writeParquet consumes (frees) both the wasm table and the properties.
  const t = pw.Table.fromIPCStream(ipc);
  return pw.writeParquet(t, writerProperties(opts, table));
}
