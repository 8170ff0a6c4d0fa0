/**
 * Merging Parquet files of one (table, service, hour) partition into a few large ones, rows
 * sorted by time: each file is read with parquet-wasm into Arrow, the rows of all of them are
 * ordered by the table's time column (`TIME_COLUMN`; ties keep the order of the files and of
 * their rows, so a merge of the same files always gives the same rows in the same order),
 * written again through the same Parquet writer settings as ingestion
 * (../core/parquet/encode.ts) as one file, or as several runs of consecutive rows when one
 * would be larger than the target size.
 *
 * Reordering rows is a "take" over Arrow data: for every column kind the schema has (fixed-width
 * numbers and timestamps, booleans, UTF-8, lists and maps, structs inside them), the values of
 * the rows in the new order are copied into new buffers. Nothing here generates code (Workers).
 */
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import { ipcToParquet, type ParquetOptions } from "../core/parquet/encode.ts";
import { type TableName, TIME_COLUMN } from "../core/tables.ts";

/** The rows of one Parquet file, as Arrow record batches of one schema. */
export interface ReadFile {
  schema: arrow.Schema;
  batches: arrow.RecordBatch[];
  rows: number;
  /** The file's key-value metadata (`otlp2parquet.schema_profile`, …). */
  metadata: Map<string, string>;
}

/** Reads a Parquet file written by this project (parquet-wasm, then its Arrow IPC stream). */
export function readParquetFile(bytes: Uint8Array): ReadFile {
  // The file's key-value metadata comes along in the Arrow schema's metadata.
  const table = arrow.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
  return {
    schema: table.schema,
    batches: table.batches,
    rows: table.numRows,
    metadata: table.schema.metadata,
  };
}

/** A merged file: its Parquet bytes, rows and earliest row time (epoch ns). */
export interface MergedFile {
  bytes: Uint8Array;
  rows: number;
  minTimeNs: bigint;
}

/**
 * The rows of `files` (all of table `table`, the same schema) ordered by time, written as few
 * files as `targetBytes` allows: one file, or, when that one is larger than `targetBytes`,
 * ceil(its size / targetBytes) files of nearly equal row counts (the rows encoded again).
 */
export function mergeSorted(
  files: readonly ReadFile[],
  table: TableName,
  targetBytes: number,
  opts: ParquetOptions,
): MergedFile[] {
  const sorted = sortRows(files, table);
  if (!sorted) return [];
  const one = sorted.encode(1, opts);
  const size = one[0].bytes.length;
  return size <= targetBytes ? one : sorted.encode(Math.ceil(size / targetBytes), opts);
}

/** The rows of `files` in time order, ready to be written as any number of parts. */
function sortRows(
  files: readonly ReadFile[],
  table: TableName,
): { encode(parts: number, opts: ParquetOptions): MergedFile[] } | null {
  if (files.length === 0) return null;
  const schema = files[0].schema;
  for (const f of files) {
    if (!sameFields(f.schema, schema)) {
      throw new TypeError(
        `Cannot merge files of different schemas: ${fieldNames(f.schema)} vs ${fieldNames(schema)}`,
      );
    }
  }
  const timeIdx = schema.fields.findIndex((f) => f.name === TIME_COLUMN[table]);
  if (timeIdx < 0) {
    throw new TypeError(`Cannot merge ${table} files: no ${TIME_COLUMN[table]} column`);
  }
  // Iceberg format version 2 files hold microseconds (catalog.mode = "iceberg"): names in µs.
  const timeType = schema.fields[timeIdx].type as arrow.DataType;
  const toNs = arrow.DataType.isTimestamp(timeType) && timeType.unit === arrow.TimeUnit.MICROSECOND
    ? 1000n
    : 1n;
  // Every batch's columns and its time values, in file order.
  const batches: arrow.Data<arrow.Struct>[] = [];
  for (const f of files) for (const b of f.batches) if (b.numRows > 0) batches.push(b.data);
  const total = batches.reduce((n, b) => n + b.length, 0);
  if (total === 0) return null;
  const times = new BigInt64Array(total);
  let at = 0;
  for (const b of batches) {
    const col = b.children[timeIdx] as arrow.Data;
    const values = col.values as BigInt64Array;
    for (let r = 0; r < b.length; r++) times[at++] = values[col.offset + r];
  }
  // Stable: equal times keep their (file, row) order.
  const order = new Int32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  order.sort((a, b) => (times[a] < times[b] ? -1 : times[a] > times[b] ? 1 : a - b));

  // Each column of all the batches as one (buffers copied once), then taken by the sorted order.
  const columns = schema.fields.map((_, ci) =>
    concatData(batches.map((b) => b.children[ci] as arrow.Data))
  );
  return {
    encode(parts: number, opts: ParquetOptions): MergedFile[] {
      const n = Math.max(1, Math.min(parts, total));
      const out: MergedFile[] = [];
      for (let p = 0; p < n; p++) {
        const from = Math.floor((p * total) / n), to = Math.floor(((p + 1) * total) / n);
        const picks = order.subarray(from, to);
        const data = arrow.makeData({
          type: new arrow.Struct(schema.fields),
          length: picks.length,
          nullCount: 0,
          children: columns.map((c) => takeRows(c, picks)),
        });
        const ipc = arrow.tableToIPC(
          new arrow.Table(schema, [new arrow.RecordBatch(schema, data)]),
          "stream",
        );
        out.push({
          bytes: ipcToParquet(ipc, table, opts),
          rows: picks.length,
          minTimeNs: times[picks[0]] * toNs,
        });
      }
      return out;
    },
  };
}

function sameFields(a: arrow.Schema, b: arrow.Schema): boolean {
  return a.fields.length === b.fields.length &&
    a.fields.every((f, i) =>
      f.name === b.fields[i].name && String(f.type) === String(b.fields[i].type)
    );
}

function fieldNames(s: arrow.Schema): string {
  return s.fields.map((f) => f.name).join(",");
}

const isVarBinary = (t: arrow.DataType) => arrow.DataType.isUtf8(t) || arrow.DataType.isBinary(t);
const isNested = (t: arrow.DataType) => arrow.DataType.isList(t) || arrow.DataType.isMap(t);

/** The columns `parts` (same type, one per batch) as one column: every buffer copied once. */
export function concatData(parts: readonly arrow.Data[]): arrow.Data {
  const type = parts[0].type as arrow.DataType;
  const n = parts.reduce((s, p) => s + p.length, 0);
  const nullBitmap = concatValidity(parts, n);
  const nullCount = nullBitmap ? countNulls(nullBitmap, n) : 0;
  if (isVarBinary(type) || isNested(type)) {
    const offsets = new Int32Array(n + 1);
    let at = 0, base = 0;
    for (const p of parts) {
      const o = p.valueOffsets as Int32Array;
      const start = o[p.offset];
      for (let r = 0; r < p.length; r++) offsets[++at] = base + o[p.offset + r + 1] - start;
      base += o[p.offset + p.length] - start;
    }
    if (isVarBinary(type)) {
      const data = new Uint8Array(base);
      let w = 0;
      for (const p of parts) {
        const o = p.valueOffsets as Int32Array;
        const bytes = (p.values as Uint8Array).subarray(o[p.offset], o[p.offset + p.length]);
        data.set(bytes, w);
        w += bytes.length;
      }
      return arrow.makeData({
        type: type as arrow.Utf8,
        length: n,
        nullCount,
        nullBitmap,
        valueOffsets: offsets,
        data,
      });
    }
    // The child ranges the rows of each part cover, as sliced children, then concatenated.
    const child = concatData(parts.map((p) => {
      const o = p.valueOffsets as Int32Array;
      const c = p.children[0] as arrow.Data;
      return c.slice(o[p.offset], o[p.offset + p.length] - o[p.offset]);
    }));
    return arrow.makeData(
      {
        type: type as arrow.List,
        length: n,
        nullCount,
        nullBitmap,
        valueOffsets: offsets,
        child,
      } as never,
    );
  }
  if (arrow.DataType.isStruct(type)) {
    const children = (type as arrow.Struct).children.map((_, ci) =>
      concatData(parts.map((p) => (p.children[ci] as arrow.Data).slice(p.offset, p.length)))
    );
    return arrow.makeData({
      type: type as arrow.Struct,
      length: n,
      nullCount,
      nullBitmap,
      children,
    });
  }
  if (arrow.DataType.isBool(type)) {
    const data = new Uint8Array((n + 7) >> 3);
    let i = 0;
    for (const p of parts) {
      const v = p.values as Uint8Array;
      for (let r = p.offset; r < p.offset + p.length; r++, i++) {
        if ((v[r >> 3] >> (r & 7)) & 1) data[i >> 3] |= 1 << (i & 7);
      }
    }
    return arrow.makeData({ type: type as arrow.Bool, length: n, nullCount, nullBitmap, data });
  }
  // Fixed width: numbers and timestamps, one value per row in a typed array.
  const Ctor = (parts[0].values as { constructor: new (n: number) => TypedArray }).constructor;
  const data = new Ctor(n) as TypedArray & { set(a: ArrayLike<number | bigint>, at: number): void };
  let w = 0;
  for (const p of parts) {
    data.set(
      (p.values as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> })
        .subarray(p.offset, p.offset + p.length),
      w,
    );
    w += p.length;
  }
  return arrow.makeData({
    type: type as arrow.Int,
    length: n,
    nullCount,
    nullBitmap,
    data: data as never,
  });
}

/** A column holding, in order, rows `rows[i]` of `col` (one column, offset 0 or not). */
export function takeRows(col: arrow.Data, rows: ArrayLike<number>): arrow.Data {
  const n = rows.length;
  const type = col.type as arrow.DataType;
  const off = col.offset;
  let nullBitmap: Uint8Array | undefined;
  if (col.nullCount > 0 && col.nullBitmap && col.nullBitmap.length > 0) {
    const src = col.nullBitmap;
    nullBitmap = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) {
      const r = off + rows[i];
      if ((src[r >> 3] >> (r & 7)) & 1) nullBitmap[i >> 3] |= 1 << (i & 7);
    }
  }
  const nullCount = nullBitmap ? countNulls(nullBitmap, n) : 0;
  if (isVarBinary(type) || isNested(type)) {
    const o = col.valueOffsets as Int32Array;
    const offsets = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = off + rows[i];
      total += o[r + 1] - o[r];
      offsets[i + 1] = total;
    }
    if (isVarBinary(type)) {
      const src = col.values as Uint8Array;
      const data = new Uint8Array(total);
      for (let i = 0; i < n; i++) {
        const r = off + rows[i];
        data.set(src.subarray(o[r], o[r + 1]), offsets[i]);
      }
      return arrow.makeData({
        type: type as arrow.Utf8,
        length: n,
        nullCount,
        nullBitmap,
        valueOffsets: offsets,
        data,
      });
    }
    const items = new Int32Array(total);
    let w = 0;
    for (let i = 0; i < n; i++) {
      const r = off + rows[i];
      for (let k = o[r]; k < o[r + 1]; k++) items[w++] = k;
    }
    const child = takeRows(col.children[0] as arrow.Data, items);
    return arrow.makeData(
      {
        type: type as arrow.List,
        length: n,
        nullCount,
        nullBitmap,
        valueOffsets: offsets,
        child,
      } as never,
    );
  }
  if (arrow.DataType.isStruct(type)) {
    const shifted = off === 0 ? rows : Int32Array.from(rows, (r) => r + off);
    const children = (col.children as arrow.Data[]).map((c) => takeRows(c, shifted));
    return arrow.makeData({
      type: type as arrow.Struct,
      length: n,
      nullCount,
      nullBitmap,
      children,
    });
  }
  if (arrow.DataType.isBool(type)) {
    const src = col.values as Uint8Array;
    const data = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) {
      const r = off + rows[i];
      if ((src[r >> 3] >> (r & 7)) & 1) data[i >> 3] |= 1 << (i & 7);
    }
    return arrow.makeData({ type: type as arrow.Bool, length: n, nullCount, nullBitmap, data });
  }
  const src = col.values as TypedArray;
  const Ctor = (src as unknown as { constructor: new (n: number) => TypedArray }).constructor;
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) data[i] = src[off + rows[i]];
  return arrow.makeData({
    type: type as arrow.Int,
    length: n,
    nullCount,
    nullBitmap,
    data: data as never,
  });
}

type TypedArray = { [i: number]: number | bigint; length: number };

/** The parts' validity bitmaps as one, or undefined when no part has nulls. */
function concatValidity(parts: readonly arrow.Data[], n: number): Uint8Array | undefined {
  const has = (p: arrow.Data) => p.nullCount > 0 && p.nullBitmap && p.nullBitmap.length > 0;
  if (!parts.some(has)) return undefined;
  const out = new Uint8Array((n + 7) >> 3);
  let i = 0;
  for (const p of parts) {
    const bm = has(p) ? p.nullBitmap! : null;
    for (let r = p.offset; r < p.offset + p.length; r++, i++) {
      if (!bm || ((bm[r >> 3] >> (r & 7)) & 1)) out[i >> 3] |= 1 << (i & 7);
    }
  }
  return out;
}

function countNulls(bitmap: Uint8Array, n: number): number {
  let valid = 0;
  for (let i = 0; i < n; i++) valid += (bitmap[i >> 3] >> (i & 7)) & 1;
  return n - valid;
}
