/**
 * Column builders over the buffers of an Arrow IPC stream (no copy but booleans, which Arrow
 * bit-packs): how the native encoder (./writer.ts) runs on an encoder thread, which receives
 * the rows as the IPC stream the main thread wrote (../../batch/encoder.node.ts).
 */
import * as arrow from "apache-arrow";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../columns/index.ts";

/** The schema of `ipc`, its rows, and per field the builders of its record batches in order. */
export function ipcColumns(
  ipc: Uint8Array,
): { schema: arrow.Schema; rows: number; fields: Column[][] } {
  const t = arrow.tableFromIPC(ipc);
  const fields: Column[][] = t.schema.fields.map(() => []);
  for (const b of t.batches) {
    b.data.children.forEach((d, f) => fields[f].push(toColumn(d)));
  }
  return { schema: t.schema, rows: t.numRows, fields };
}

function toColumn(d: arrow.Data): Column {
  const t = d.type;
  if (d.offset !== 0) throw new TypeError("internal: an IPC column starts at an offset");
  if (arrow.DataType.isUtf8(t)) {
    const c = new Utf8Col();
    c.offsets = d.valueOffsets as Int32Array<ArrayBuffer>;
    c.data = d.values as Uint8Array<ArrayBuffer>;
    c.length = d.length;
    return c;
  }
  if (arrow.DataType.isMap(t)) {
    const c = new MapCol();
    const entries = d.children[0];
    c.offsets = d.valueOffsets as Int32Array<ArrayBuffer>;
    c.keys = toColumn(entries.children[0]) as Utf8Col;
    c.values = toColumn(entries.children[1]) as Utf8Col;
    c.length = d.length;
    return c;
  }
  if (arrow.DataType.isList(t)) {
    const c = new ListCol(toColumn(d.children[0]));
    c.offsets = d.valueOffsets as Int32Array<ArrayBuffer>;
    c.length = d.length;
    return c;
  }
  if (arrow.DataType.isBool(t)) {
    const c = new BoolCol();
    const bits = d.values as Uint8Array<ArrayBuffer>, v = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) v[i] = (bits[i >> 3] >> (i & 7)) & 1;
    c.values = v;
    c.length = d.length;
    return c;
  }
  const values = d.values as ArrayBufferView & { length: number };
  if (
    arrow.DataType.isTimestamp(t) ||
    (arrow.DataType.isInt(t) && (t as arrow.Int).bitWidth === 64)
  ) {
    const c = new I64Col(t);
    c.halves = new Uint32Array(values.buffer as ArrayBuffer, values.byteOffset, 2 * d.length);
    c.length = d.length;
    return c;
  }
  if (arrow.DataType.isInt(t) || arrow.DataType.isFloat(t)) {
    const c = new NumCol(t, () => values as unknown as Float64Array);
    c.length = d.length;
    return c;
  }
  throw new TypeError(`internal: no column builder for IPC type ${t}`);
}
