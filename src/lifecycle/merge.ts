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
  // Every batch's columns and its time values, in file order.
  const batches: arrow.Data<arrow.Struct>[] = [];
  for (const f of files) for (const b of f.batches) if (b.numRows > 0) batches.push(b.data);
  const total = batches.reduce((n, b) => n + b.length, 0);
  if (total === 0) return null;
  const times = new BigInt64Array(total);
  const batchOf = new Int32Array(total);
  const rowOf = new Int32Array(total);
  let at = 0;
  batches.forEach((b, bi) => {
    const col = b.children[timeIdx] as arrow.Data;
    const values = col.values as BigInt64Array;
    for (let r = 0; r < b.length; r++) {
      times[at] = values[col.offset + r];
      batchOf[at] = bi;
      rowOf[at] = r;
      at++;
    }
  });
  // Stable: equal times keep their (file, row) order.
  const order = Array.from({ length: total }, (_, i) => i);
  order.sort((a, b) => (times[a] < times[b] ? -1 : times[a] > times[b] ? 1 : a - b));

  return {
    encode(parts: number, opts: ParquetOptions): MergedFile[] {
      const n = Math.max(1, Math.min(parts, total));
      const out: MergedFile[] = [];
      for (let p = 0; p < n; p++) {
        const from = Math.floor((p * total) / n), to = Math.floor(((p + 1) * total) / n);
        const picks = order.slice(from, to);
        const children = schema.fields.map((_, ci) =>
          takeRows(
            picks.map((i) => batches[batchOf[i]].children[ci] as arrow.Data),
            picks.map((i) => rowOf[i]),
          )
        );
        const data = arrow.makeData({
          type: new arrow.Struct(schema.fields),
          length: picks.length,
          nullCount: 0,
          children,
        });
        const ipc = arrow.tableToIPC(
          new arrow.Table(schema, [new arrow.RecordBatch(schema, data)]),
          "stream",
        );
        out.push({
          bytes: ipcToParquet(ipc, table, opts),
          rows: picks.length,
          minTimeNs: times[picks[0]],
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

/**
 * A column holding, in order, row `rows[i]` of `cols[i]` (each `cols[i]` a column of the same
 * type, from one of the batches being merged).
 */
export function takeRows(cols: readonly arrow.Data[], rows: readonly number[]): arrow.Data {
  const n = rows.length;
  const type = (cols[0]?.type ?? new arrow.Null()) as arrow.DataType;
  const nullBitmap = validity(cols, rows);
  const nullCount = nullBitmap ? countNulls(nullBitmap, n) : 0;
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isBinary(type)) {
    const offsets = new Int32Array(n + 1);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const c = cols[i], o = c.valueOffsets as Int32Array, r = c.offset + rows[i];
      bytes += o[r + 1] - o[r];
      offsets[i + 1] = bytes;
    }
    const data = new Uint8Array(bytes);
    for (let i = 0; i < n; i++) {
      const c = cols[i], o = c.valueOffsets as Int32Array, r = c.offset + rows[i];
      data.set((c.values as Uint8Array).subarray(o[r], o[r + 1]), offsets[i]);
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
  if (arrow.DataType.isBool(type)) {
    const data = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) {
      const c = cols[i], r = c.offset + rows[i];
      if (((c.values as Uint8Array)[r >> 3] >> (r & 7)) & 1) data[i >> 3] |= 1 << (i & 7);
    }
    return arrow.makeData({ type: type as arrow.Bool, length: n, nullCount, nullBitmap, data });
  }
  if (arrow.DataType.isList(type) || arrow.DataType.isMap(type)) {
    const offsets = new Int32Array(n + 1);
    const childCols: arrow.Data[] = [], childRows: number[] = [];
    let items = 0;
    for (let i = 0; i < n; i++) {
      const c = cols[i], o = c.valueOffsets as Int32Array, r = c.offset + rows[i];
      const child = c.children[0] as arrow.Data;
      for (let k = o[r]; k < o[r + 1]; k++) {
        childCols.push(child);
        childRows.push(k);
      }
      items += o[r + 1] - o[r];
      offsets[i + 1] = items;
    }
    const child = childRows.length > 0
      ? takeRows(childCols, childRows)
      : emptyLike(cols[0].children[0] as arrow.Data);
    return arrow.makeData({
      type: type as arrow.List,
      length: n,
      nullCount,
      nullBitmap,
      valueOffsets: offsets,
      child,
    } as never);
  }
  if (arrow.DataType.isStruct(type)) {
    const children = (type as arrow.Struct).children.map((_, ci) =>
      takeRows(
        cols.map((c) => c.children[ci] as arrow.Data),
        rows.map((r, i) => cols[i].offset + r),
      )
    );
    return arrow.makeData({
      type: type as arrow.Struct,
      length: n,
      nullCount,
      nullBitmap,
      children,
    });
  }
  // Fixed width: numbers and timestamps, one value per row in a typed array (64-bit ones in
  // BigInt64Array / BigUint64Array / Float64Array).
  const Ctor = (cols[0].values as { constructor: new (n: number) => TypedArray }).constructor;
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) {
    const c = cols[i];
    data[i] = (c.values as TypedArray)[c.offset + rows[i]];
  }
  return arrow.makeData({
    type: type as arrow.Int,
    length: n,
    nullCount,
    nullBitmap,
    data: data as never,
  });
}

type TypedArray = { [i: number]: number | bigint; length: number };

/** A validity bitmap for the taken rows, or undefined when no source has nulls. */
function validity(cols: readonly arrow.Data[], rows: readonly number[]): Uint8Array | undefined {
  if (!cols.some((c) => c.nullCount > 0 && c.nullBitmap && c.nullBitmap.length > 0)) {
    return undefined;
  }
  const n = rows.length;
  const out = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) {
    const c = cols[i], r = c.offset + rows[i];
    const valid = !(c.nullCount > 0 && c.nullBitmap && c.nullBitmap.length > 0) ||
      ((c.nullBitmap[r >> 3] >> (r & 7)) & 1) === 1;
    if (valid) out[i >> 3] |= 1 << (i & 7);
  }
  return out;
}

function countNulls(bitmap: Uint8Array, n: number): number {
  let valid = 0;
  for (let i = 0; i < n; i++) valid += (bitmap[i >> 3] >> (i & 7)) & 1;
  return n - valid;
}

function emptyLike(d: arrow.Data): arrow.Data {
  return takeRows([d], []);
}
