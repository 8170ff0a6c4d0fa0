/**
 * Rewrites a Parquet file written without a catalog (ClickHouse-compatible types: nanosecond
 * timestamps, unsigned integers, no field ids) into an Iceberg table's layout (./schema.ts), for
 * `otlp2parquet iceberg register --rewrite`: the same rows and columns, with field ids, signed
 * integers and, for format version 2, timestamps in microseconds (rounded down). parquet-wasm
 * reads the file, apache-arrow converts the columns (no code generation: Data objects only),
 * parquet-wasm writes it with the writer settings of every other file.
 */
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import { writerProperties } from "../core/parquet/encode.ts";
import type { ParquetOptions } from "../core/parquet/encode.ts";
import { newTable, type Profile, type TableName } from "../core/tables.ts";
import { type FormatVersion, icebergArrowSchema } from "./schema.ts";
import { DataFileError } from "./metrics.ts";

/** The file `bytes` of `table` in the Iceberg layout of `version`. Throws `DataFileError`. */
export function rewriteForIceberg(
  bytes: Uint8Array,
  key: string,
  table: TableName,
  version: FormatVersion,
  opts: ParquetOptions,
): Uint8Array {
  const t = arrow.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
  const names = t.schema.fields.map((f) => f.name);
  const profile = (["default", "extended"] as Profile[]).find((p) => {
    const cols = newTable(table).columns(p).map(([n]) => n);
    return cols.length === names.length && cols.every((n, i) => n === names[i]);
  });
  if (!profile) {
    throw new DataFileError(
      `Parquet file ${
        JSON.stringify(key)
      } does not have the columns of table ${table} (default or extended profile)`,
    );
  }
  const schema = icebergArrowSchema(table, newTable(table).columns(profile), version);
  const batches = t.batches.map((b) => {
    const children = schema.fields.map((f, i) => convert(b.data.children[i], f.type, key));
    const data = arrow.makeData({
      type: new arrow.Struct(schema.fields),
      length: b.numRows,
      nullCount: 0,
      children,
    });
    return new arrow.RecordBatch(schema, data);
  });
  const ipc = arrow.tableToIPC(new arrow.Table(schema, batches), "stream");
  return pw.writeParquet(
    pw.Table.fromIPCStream(ipc),
    writerProperties({ ...opts, profile, iceberg: version }, table),
  );
}

/** `d` as Arrow type `to` (see the top); buffers are reused where the bits stay the same. */
function convert(d: arrow.Data, to: arrow.DataType, key: string): arrow.Data {
  if (d.offset !== 0 || d.nullCount > 0) {
    throw new DataFileError(`Parquet file ${JSON.stringify(key)}: unexpected nulls or offsets`);
  }
  const from = d.type;
  if (arrow.DataType.isTimestamp(from) && arrow.DataType.isTimestamp(to)) {
    const src = d.values as BigInt64Array;
    const fu = (from as arrow.Timestamp).unit, tu = (to as arrow.Timestamp).unit;
    let out = src;
    if (fu === arrow.TimeUnit.NANOSECOND && tu === arrow.TimeUnit.MICROSECOND) {
      out = new BigInt64Array(d.length);
      for (let i = 0; i < d.length; i++) {
        const v = src[i];
        const q = v / 1000n;
        out[i] = v < 0n && q * 1000n !== v ? q - 1n : q;
      }
    } else if (fu !== tu) {
      throw new DataFileError(`Parquet file ${JSON.stringify(key)}: timestamps in unit ${fu}`);
    }
    return arrow.makeData({
      type: to as arrow.Timestamp,
      length: d.length,
      nullCount: 0,
      data: out,
    });
  }
  if (arrow.DataType.isInt(from) && arrow.DataType.isInt(to)) {
    const f = from as arrow.Int, t = to as arrow.Int;
    const v = d.values as ArrayLike<number | bigint> & ArrayBufferView;
    let out: Int32Array | BigInt64Array;
    if (t.bitWidth === 32) out = Int32Array.from(v as ArrayLike<number>);
    else if (f.bitWidth === 64) out = new BigInt64Array(v.buffer, v.byteOffset, d.length);
    else out = BigInt64Array.from(v as ArrayLike<number>, (x) => BigInt(x));
    return arrow.makeData({ type: t, length: d.length, nullCount: 0, data: out } as never);
  }
  if (arrow.DataType.isList(from) && arrow.DataType.isList(to)) {
    return arrow.makeData({
      type: to as arrow.List,
      length: d.length,
      nullCount: 0,
      valueOffsets: d.valueOffsets,
      child: convert(d.children[0], to.children[0].type, key),
    });
  }
  if (arrow.DataType.isMap(from) && arrow.DataType.isMap(to)) {
    const entries = d.children[0];
    const et = to.children[0].type as arrow.Struct;
    return arrow.makeData({
      type: to as arrow.Map_,
      length: d.length,
      nullCount: 0,
      valueOffsets: d.valueOffsets,
      child: arrow.makeData({
        type: et,
        length: entries.length,
        nullCount: 0,
        children: [
          convert(entries.children[0], et.children[0].type, key),
          convert(entries.children[1], et.children[1].type, key),
        ],
      }),
    });
  }
  // Same type (strings, doubles, booleans, signed ints): the buffers as they are.
  return d.clone(to);
}
