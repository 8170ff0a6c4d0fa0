/**
 * A Parquet writer for our column builders (../columns/): the "native" encoder
 * (`parquet.encoder`), written for the shapes our tables have and nothing else.
 *
 * - Every column is required (no nulls). Top-level columns are UTF-8 strings, timestamps,
 *   integers, doubles or booleans; nested ones are `Map<Utf8, Utf8>`, `List<scalar>` and
 *   `List<Map<Utf8, Utf8>>` (repetition and definition levels up to 2).
 * - The Parquet schema and logical types are derived from the Arrow schema the IPC writer uses
 *   (../arrow/ipc.ts), so they match what parquet-wasm writes for it (names `list`/`item`,
 *   `entries`/`key`/`value`, field ids of an Iceberg table's schema), and the same schema is
 *   stored as `ARROW:schema` so Arrow readers get the exact types back.
 * - Row groups of at most `rowGroupRows` rows; data pages (v1) cut at row boundaries near
 *   `pageBytes`; dictionary encoding (RLE_DICTIONARY, PLAIN dictionary page) where asked, until
 *   the dictionary passes `dictionaryBytes`, after which the chunk's later pages are PLAIN.
 * - Chunk statistics (min/max, null count 0) on the columns named by `statistics`.
 * - Each page body is compressed with `compress`; a column chunk under 512 bytes, or that the
 *   codec does not make smaller, is stored uncompressed (Parquet records the codec per chunk).
 * - Footer and page headers in Thrift's compact protocol (./thrift.ts).
 *
 * Byte order: typed arrays are copied as they are, so this assumes a little-endian platform
 * (every platform we run on).
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
import { schemaMessage } from "../arrow/ipc.ts";
import { T, ThriftWriter } from "./thrift.ts";

/** Compresses one page body; returns a frame of the codec's format. */
export type PageCompress = (data: Uint8Array) => Uint8Array;

/** Parquet's codec ids. */
export const CODEC_ID = { none: 0, snappy: 1, gzip: 2, zstd: 6, lz4_raw: 7 } as const;

export interface WriterOptions {
  /** Codec id written for compressed chunks (`CODEC_ID`), with its compressor; null: none. */
  codec: { id: number; compress: PageCompress } | null;
  /** Maximum rows per row group. */
  rowGroupRows: number;
  /** Data pages are cut at the first row boundary past this many (estimated) bytes. */
  pageBytes?: number;
  /** A dictionary past this many bytes (PLAIN size) stops growing: later pages are PLAIN. */
  dictionaryBytes?: number;
  /** Whether the leaf at `path` (top-level column name first) is dictionary-encoded. */
  dictionary(path: readonly string[]): boolean;
  /** Top-level columns that get chunk statistics. */
  statistics: ReadonlySet<string>;
  /** Key-value metadata, in order (`ARROW:schema` is added after it). */
  metadata: readonly (readonly [string, string])[];
  createdBy: string;
}

export const PAGE_BYTES = 1 << 20;
export const DICTIONARY_BYTES = 1 << 20;
/**
 * Column chunks whose pages hold fewer bytes are not compressed: a zstd call (~20 µs) costs more
 * than the few bytes it saves there (files 0.0–0.5% larger than with 64).
 */
const SMALL_CHUNK = 512;

// Parquet enums.
const BOOLEAN = 0, INT32 = 1, INT64 = 2, DOUBLE = 5, BYTE_ARRAY = 6;
const REQUIRED = 0, REPEATED = 2;
const PLAIN = 0, RLE = 3, RLE_DICTIONARY = 8;
const DATA_PAGE = 0, DICTIONARY_PAGE = 2;
const CT_UTF8 = 0, CT_MAP = 1, CT_LIST = 3, CT_TS_MILLIS = 9, CT_TS_MICROS = 10;

/** How a leaf's values are held once gathered. */
type Kind = "bytes" | "i32" | "i64" | "f64" | "bool";

/** One leaf column of the Parquet schema. */
interface Leaf {
  path: string[];
  /** Index of its top-level field. */
  field: number;
  /** Which values of the field it holds: the column itself, a map's keys or values, a list's items, a list of maps' keys or values. */
  access: "self" | "key" | "value" | "item" | "itemKey" | "itemValue";
  maxLevel: 0 | 1 | 2;
  kind: Kind;
  physical: number;
  /** Arrow type the values are written as (conversions: ns → µs, unsigned → wider signed). */
  type: arrow.DataType;
  /** Integer comparisons for statistics are unsigned. */
  unsigned: boolean;
  dictionary: boolean;
  statistics: boolean;
}

/** The Parquet schema elements and leaves of an Arrow schema. */
interface Layout {
  elements: (w: ThriftWriter) => void;
  count: number;
  leaves: Leaf[];
}

const layouts = new WeakMap<arrow.Schema, Layout>();

function layoutOf(schema: arrow.Schema): Layout {
  let l = layouts.get(schema);
  if (l) return l;
  const els: {
    name: string;
    type?: arrow.DataType;
    rep: number;
    children?: number;
    ct?: number;
    logical?: "map" | "list";
    id?: number;
  }[] = [];
  const leaves: Leaf[] = [];
  const id = (f: arrow.Field) => {
    const v = f.metadata.get("PARQUET:field_id");
    return v === undefined ? undefined : Number(v);
  };
  els.push({ name: "arrow_schema", rep: -1, children: schema.fields.length });
  schema.fields.forEach((f, fi) => {
    const t = f.type;
    if (arrow.DataType.isMap(t)) {
      const entries = t.children[0];
      const [k, v] = (entries.type as arrow.Struct).children;
      els.push({ name: f.name, rep: REQUIRED, children: 1, ct: CT_MAP, logical: "map", id: id(f) });
      els.push({ name: entries.name, rep: REPEATED, children: 2 });
      els.push({ name: k.name, type: k.type, rep: REQUIRED, id: id(k) });
      els.push({ name: v.name, type: v.type, rep: REQUIRED, id: id(v) });
      leaves.push(leaf([f.name, entries.name, k.name], fi, "key", 1, k.type));
      leaves.push(leaf([f.name, entries.name, v.name], fi, "value", 1, v.type));
    } else if (arrow.DataType.isList(t)) {
      const item = t.children[0];
      els.push({
        name: f.name,
        rep: REQUIRED,
        children: 1,
        ct: CT_LIST,
        logical: "list",
        id: id(f),
      });
      els.push({ name: "list", rep: REPEATED, children: 1 });
      if (arrow.DataType.isMap(item.type)) {
        const entries = item.type.children[0];
        const [k, v] = (entries.type as arrow.Struct).children;
        els.push({
          name: item.name,
          rep: REQUIRED,
          children: 1,
          ct: CT_MAP,
          logical: "map",
          id: id(item),
        });
        els.push({ name: entries.name, rep: REPEATED, children: 2 });
        els.push({ name: k.name, type: k.type, rep: REQUIRED, id: id(k) });
        els.push({ name: v.name, type: v.type, rep: REQUIRED, id: id(v) });
        const base = [f.name, "list", item.name, entries.name];
        leaves.push(leaf([...base, k.name], fi, "itemKey", 2, k.type));
        leaves.push(leaf([...base, v.name], fi, "itemValue", 2, v.type));
      } else {
        els.push({ name: item.name, type: item.type, rep: REQUIRED, id: id(item) });
        leaves.push(leaf([f.name, "list", item.name], fi, "item", 1, item.type));
      }
    } else {
      els.push({ name: f.name, type: t, rep: REQUIRED, id: id(f) });
      leaves.push(leaf([f.name], fi, "self", 0, t));
    }
  });
  let elements: Uint8Array | null = null;
  l = {
    count: els.length,
    leaves,
    elements(out) {
      // Written once per schema, then copied.
      if (elements) return out.raw(elements);
      const w = new ThriftWriter(1024);
      for (const e of els) {
        w.begin();
        if (e.type) {
          w.i32(1, physicalOf(e.type));
          w.i32(3, e.rep);
          w.string(4, e.name);
          const ct = convertedOf(e.type);
          if (ct !== undefined) w.i32(6, ct);
          if (e.id !== undefined) w.i32(9, e.id);
          logicalOf(w, e.type);
        } else {
          if (e.rep >= 0) w.i32(3, e.rep);
          w.string(4, e.name);
          w.i32(5, e.children!);
          if (e.ct !== undefined) w.i32(6, e.ct);
          if (e.id !== undefined) w.i32(9, e.id);
          if (e.logical) {
            w.struct(10);
            w.struct(e.logical === "map" ? 2 : 3);
            w.end();
            w.end();
          }
        }
        w.end();
      }
      elements = w.bytes().slice();
      out.raw(elements);
    },
  };
  layouts.set(schema, l);
  return l;
}

function leaf(
  path: string[],
  field: number,
  access: Leaf["access"],
  maxLevel: 0 | 1 | 2,
  type: arrow.DataType,
): Leaf {
  const physical = physicalOf(type);
  const kind: Kind = physical === BYTE_ARRAY
    ? "bytes"
    : physical === INT32
    ? "i32"
    : physical === INT64
    ? "i64"
    : physical === DOUBLE
    ? "f64"
    : "bool";
  const unsigned = arrow.DataType.isInt(type) && !(type as arrow.Int).isSigned;
  return {
    path,
    field,
    access,
    maxLevel,
    kind,
    physical,
    type,
    unsigned,
    dictionary: false,
    statistics: false,
  };
}

function physicalOf(t: arrow.DataType): number {
  if (arrow.DataType.isUtf8(t)) return BYTE_ARRAY;
  if (arrow.DataType.isBool(t)) return BOOLEAN;
  if (arrow.DataType.isFloat(t)) return DOUBLE;
  if (arrow.DataType.isTimestamp(t)) return INT64;
  if (arrow.DataType.isInt(t)) return (t as arrow.Int).bitWidth === 64 ? INT64 : INT32;
  throw new TypeError(`internal: no Parquet type for Arrow type ${t}`);
}

function convertedOf(t: arrow.DataType): number | undefined {
  if (arrow.DataType.isUtf8(t)) return CT_UTF8;
  if (arrow.DataType.isTimestamp(t)) {
    const u = (t as arrow.Timestamp).unit;
    return u === arrow.TimeUnit.MILLISECOND
      ? CT_TS_MILLIS
      : u === arrow.TimeUnit.MICROSECOND
      ? CT_TS_MICROS
      : undefined;
  }
  if (arrow.DataType.isInt(t)) {
    const i = t as arrow.Int;
    if (i.isSigned && i.bitWidth >= 32) return undefined;
    // UINT_8 = 11 … UINT_64 = 14, INT_8 = 15 … INT_64 = 18
    const step = Math.log2(i.bitWidth) - 3;
    return (i.isSigned ? 15 : 11) + step;
  }
  return undefined;
}

function logicalOf(w: ThriftWriter, t: arrow.DataType): void {
  if (arrow.DataType.isUtf8(t)) {
    w.struct(10);
    w.struct(1);
    w.end();
    w.end();
  } else if (arrow.DataType.isTimestamp(t)) {
    const ts = t as arrow.Timestamp;
    w.struct(10);
    w.struct(8);
    w.bool(1, ts.timezone != null);
    w.struct(2);
    w.struct(
      ts.unit === arrow.TimeUnit.MILLISECOND ? 1 : ts.unit === arrow.TimeUnit.MICROSECOND ? 2 : 3,
    );
    w.end();
    w.end();
    w.end();
    w.end();
  } else if (arrow.DataType.isInt(t)) {
    const i = t as arrow.Int;
    if (i.isSigned && i.bitWidth >= 32) return;
    w.struct(10);
    w.struct(10);
    w.byteField(1, i.bitWidth);
    w.bool(2, i.isSigned);
    w.end();
    w.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Scratch buffers

/** A growable byte buffer. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  at = 0;
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
  }
  u32(v: number): void {
    this.room(4);
    const b = this.buf, a = this.at;
    b[a] = v;
    b[a + 1] = v >>> 8;
    b[a + 2] = v >>> 16;
    b[a + 3] = v >>> 24;
    this.at = a + 4;
  }
  varint(n: number): void {
    this.room(5);
    while (n >= 0x80) {
      this.buf[this.at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.at++] = n;
  }
  put(src: Uint8Array): void {
    this.room(src.length);
    this.buf.set(src, this.at);
    this.at += src.length;
  }
}

/**
 * Appends `values[a, b)` (each < 2^bitWidth, bitWidth ≤ 24) in the RLE / bit-packing hybrid
 * encoding: runs of 8 or more equal values as RLE runs, the rest bit-packed in groups of 8 (the
 * last group padded with zeros).
 */
function rleHybrid(
  out: Bytes,
  values: ArrayLike<number>,
  a: number,
  b: number,
  bitWidth: number,
): void {
  const valueBytes = (bitWidth + 7) >> 3;
  let i = a;
  while (i < b) {
    const v = values[i];
    let j = i + 1;
    while (j < b && values[j] === v) j++;
    if (j - i >= 8) {
      out.varint((j - i) << 1);
      out.room(4);
      for (let k = 0; k < valueBytes; k++) out.buf[out.at++] = (v >>> (8 * k)) & 0xff;
      i = j;
      continue;
    }
    // Bit-packed groups of 8 until a run of 8 starts at a group boundary.
    const start = i;
    let groups = 0;
    for (;;) {
      groups++;
      i += 8;
      if (i >= b) break;
      const x = values[i];
      let k = i + 1;
      while (k < b && k < i + 8 && values[k] === x) k++;
      if (k - i >= 8) break;
    }
    out.varint((groups << 1) | 1);
    out.room(groups * bitWidth + 8);
    out.at = bitPack(out.buf, out.at, values, start, start + groups * 8, b, bitWidth);
    i = Math.min(i, b);
  }
}

/**
 * Bit-packs `values[start, end)` (whole groups of 8; values from `b` on count as 0) at
 * `buf[at]`; returns the end. Widths 1 and 2 (levels) a group at a time.
 */
function bitPack(
  buf: Uint8Array,
  at: number,
  values: ArrayLike<number>,
  start: number,
  end: number,
  b: number,
  bitWidth: number,
): number {
  // Whole groups inside [start, b) go the fast way; the last, partial one below.
  const full = end <= b ? end : start + ((b - start) & ~7);
  let k = start;
  if (bitWidth === 1) {
    for (; k < full; k += 8) {
      buf[at++] = values[k] | (values[k + 1] << 1) | (values[k + 2] << 2) |
        (values[k + 3] << 3) | (values[k + 4] << 4) | (values[k + 5] << 5) |
        (values[k + 6] << 6) | (values[k + 7] << 7);
    }
  } else if (bitWidth === 2) {
    for (; k < full; k += 8) {
      buf[at++] = values[k] | (values[k + 1] << 2) | (values[k + 2] << 4) | (values[k + 3] << 6);
      buf[at++] = values[k + 4] | (values[k + 5] << 2) | (values[k + 6] << 4) |
        (values[k + 7] << 6);
    }
  } else if (bitWidth <= 8) {
    // At most one whole byte is ready after each value.
    let acc = 0, bits = 0;
    for (; k < full; k++) {
      acc |= values[k] << bits;
      bits += bitWidth;
      if (bits >= 8) {
        buf[at++] = acc;
        acc >>>= 8;
        bits -= 8;
      }
    }
  } else {
    let acc = 0, bits = 0;
    for (; k < full; k++) {
      acc |= values[k] << bits;
      bits += bitWidth;
      while (bits >= 8) {
        buf[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
  if (k < end) {
    let acc = 0, bits = 0;
    for (; k < end; k++) {
      acc |= (k < b ? values[k] : 0) << bits;
      bits += bitWidth;
      while (bits >= 8) {
        buf[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
  return at;
}

/** Appends levels `[a, b)` as a v1 data page stores them: 4-byte length, then the hybrid encoding. */
function levelsV1(out: Bytes, levels: Uint8Array, a: number, b: number, bitWidth: number): void {
  out.room(4);
  const lenAt = out.at;
  out.at += 4;
  rleHybrid(out, levels, a, b, bitWidth);
  const n = out.at - lenAt - 4;
  out.buf[lenAt] = n;
  out.buf[lenAt + 1] = n >>> 8;
  out.buf[lenAt + 2] = n >>> 16;
  out.buf[lenAt + 3] = n >>> 24;
}

// ---------------------------------------------------------------------------------------------
// Values of one leaf in one row group, gathered from the builders

/** The values of a leaf: value `i` of the row group is at index `i` of these arrays. */
interface Values {
  n: number;
  /** bytes: value i is `data[off[i], off[i + 1])`. */
  off?: Int32Array;
  data?: Uint8Array;
  i32?: Int32Array;
  /** i64: little-endian halves (lo, hi) of value i at 2i, 2i + 1. */
  halves?: Uint32Array;
  f64?: Float64Array;
  bool?: Uint8Array;
}

/** Rows `[start, end)` of a builder. */
interface Part {
  col: Column;
  start: number;
  end: number;
}

/** The child rows of list-like parts (a child holds exactly its parent's elements, from `offsets[0]`). */
function childParts(parts: readonly Part[], child: (c: Column) => Column): Part[] {
  return parts.map((p) => {
    const o = (p.col as ListCol<Column>).offsets;
    return { col: child(p.col), start: o[p.start] - o[0], end: o[p.end] - o[0] };
  });
}

function gather(parts: readonly Part[], leaf: Leaf): Values {
  let n = 0;
  for (const p of parts) n += p.end - p.start;
  const first = parts[0]?.col;
  if (leaf.kind === "bytes") {
    if (parts.length === 1) {
      const c = first as Utf8Col, p = parts[0];
      return { n, off: c.offsets.subarray(p.start, p.end + 1), data: c.data };
    }
    let bytes = 0;
    for (const p of parts) {
      const o = (p.col as Utf8Col).offsets;
      bytes += o[p.end] - o[p.start];
    }
    const off = new Int32Array(n + 1), data = new Uint8Array(bytes);
    let k = 0, at = 0;
    for (const p of parts) {
      const c = p.col as Utf8Col, o = c.offsets;
      data.set(c.data.subarray(o[p.start], o[p.end]), at);
      const shift = at - o[p.start];
      for (let i = p.start + 1; i <= p.end; i++) off[++k] = o[i] + shift;
      at += o[p.end] - o[p.start];
    }
    return { n, off, data };
  }
  if (leaf.kind === "bool") {
    if (parts.length === 1) {
      return { n, bool: (first as BoolCol).values.subarray(parts[0].start, parts[0].end) };
    }
    const out = new Uint8Array(n);
    let k = 0;
    for (const p of parts) {
      out.set((p.col as BoolCol).values.subarray(p.start, p.end), k), k += p.end - p.start;
    }
    return { n, bool: out };
  }
  if (leaf.kind === "f64") {
    if (parts.length === 1) {
      return {
        n,
        f64: (first as NumCol<Float64Array>).values.subarray(parts[0].start, parts[0].end),
      };
    }
    const out = new Float64Array(n);
    let k = 0;
    for (const p of parts) {
      out.set((p.col as NumCol<Float64Array>).values.subarray(p.start, p.end), k);
      k += p.end - p.start;
    }
    return { n, f64: out };
  }
  if (leaf.kind === "i32") {
    const src = first instanceof NumCol ? first.values : null;
    if (parts.length === 1 && (src instanceof Int32Array || src instanceof Uint32Array)) {
      // UInt32 as INT32: the same bits.
      return { n, i32: new Int32Array(src.buffer, src.byteOffset + 4 * parts[0].start, n) };
    }
    const out = new Int32Array(n);
    let k = 0;
    for (const p of parts) {
      const v = (p.col as NumCol<Int32Array>).values;
      for (let i = p.start; i < p.end; i++) out[k++] = v[i]; // UInt8 → Int32; UInt32 bits as they are
    }
    return { n, i32: out };
  }
  // i64: from I64Col (same bits, or ns → µs), or UInt32 widened
  const toUs = arrow.DataType.isTimestamp(leaf.type) &&
    (leaf.type as arrow.Timestamp).unit === arrow.TimeUnit.MICROSECOND &&
    first instanceof I64Col && arrow.DataType.isTimestamp(first.type) &&
    (first.type as arrow.Timestamp).unit === arrow.TimeUnit.NANOSECOND;
  if (first instanceof I64Col && !toUs) {
    if (parts.length === 1) {
      return { n, halves: first.halves.subarray(2 * parts[0].start, 2 * parts[0].end) };
    }
    const out = new Uint32Array(2 * n);
    let k = 0;
    for (const p of parts) {
      out.set((p.col as I64Col).halves.subarray(2 * p.start, 2 * p.end), k);
      k += 2 * (p.end - p.start);
    }
    return { n, halves: out };
  }
  const out = new Uint32Array(2 * n);
  let k = 0;
  for (const p of parts) {
    if (toUs) {
      const h = (p.col as I64Col).halves;
      for (let i = p.start; i < p.end; i++, k += 2) {
        const hi = h[2 * i + 1], lo = h[2 * i];
        const qhi = Math.floor(hi / 1000);
        const rest = (hi - qhi * 1000) * 4294967296 + lo;
        out[k] = Math.floor(rest / 1000);
        out[k + 1] = qhi;
      }
    } else {
      const v = (p.col as NumCol<Uint32Array>).values;
      for (let i = p.start; i < p.end; i++, k += 2) out[k] = v[i];
    }
  }
  return { n, halves: out };
}

/**
 * Levels of a nested field in one row group: `rowLevel[r]` and `rowValue[r]` are the first
 * level entry and value of row r (r = 0 … rows); `def` and `rep` the levels (equal, for our
 * all-required columns, except where a list or map is empty).
 */
interface Levels {
  rowLevel: Int32Array;
  rowValue: Int32Array;
  def: Uint8Array;
  rep: Uint8Array;
}

/**
 * Levels of one nested field at a time: kept for the next (a field's levels are used by its
 * leaves' chunks only, written before the next field's levels are made).
 */
let levelBytes = new Uint8Array(2 << 12), levelInts = new Int32Array(2 << 12);

/** Level arrays for `L` levels (filled with `fill`) and `rows` rows, from the kept buffers. */
function levelArrays(L: number, rows: number, fill: number): Levels {
  if (levelBytes.length < 2 * L) {
    levelBytes = new Uint8Array(Math.max(4 * L, 2 * levelBytes.length));
  }
  if (levelInts.length < 2 * rows + 2) {
    levelInts = new Int32Array(Math.max(4 * rows + 4, 2 * levelInts.length));
  }
  const def = levelBytes.subarray(0, L).fill(fill), rep = levelBytes.subarray(L, 2 * L).fill(fill);
  return {
    def,
    rep,
    rowLevel: levelInts.subarray(0, rows + 1),
    rowValue: levelInts.subarray(rows + 1, 2 * rows + 2),
  };
}

function levels1(parts: readonly Part[], rows: number): Levels {
  let entries = 0, empty = 0;
  for (const p of parts) {
    const o = (p.col as ListCol<Column>).offsets;
    entries += o[p.end] - o[p.start];
    for (let i = p.start; i < p.end; i++) if (o[i + 1] === o[i]) empty++;
  }
  const L = entries + empty;
  // Every level 1 but the first of each row (rep 0) and empty rows (def 0, rep 0).
  const { def, rep, rowLevel, rowValue } = levelArrays(L, rows, 1);
  let r = 0, l = 0, v = 0;
  for (const p of parts) {
    const o = (p.col as ListCol<Column>).offsets;
    for (let i = p.start; i < p.end; i++) {
      rowLevel[r] = l;
      rowValue[r++] = v;
      const n = o[i + 1] - o[i];
      rep[l] = 0;
      if (n === 0) {
        def[l++] = 0;
        continue;
      }
      l += n;
      v += n;
    }
  }
  rowLevel[r] = l;
  rowValue[r] = v;
  return { rowLevel, rowValue, def, rep };
}

/** Levels of a `List<Map>` field (`parts` of ListCol<MapCol>, `items` their child parts). */
function levels2(parts: readonly Part[], items: readonly Part[], rows: number): Levels {
  let L = 0;
  for (let q = 0; q < parts.length; q++) {
    const p = parts[q], o = (p.col as ListCol<MapCol>).offsets;
    const m = items[q], mo = (m.col as MapCol).offsets;
    for (let i = p.start; i < p.end; i++) {
      if (o[i + 1] === o[i]) L++;
    }
    for (let j = m.start; j < m.end; j++) L += Math.max(1, mo[j + 1] - mo[j]);
  }
  const { def, rep, rowLevel, rowValue } = levelArrays(L, rows, 0);
  let r = 0, l = 0, v = 0;
  for (let q = 0; q < parts.length; q++) {
    const p = parts[q], o = (p.col as ListCol<MapCol>).offsets;
    const mo = (items[q].col as MapCol).offsets;
    for (let i = p.start; i < p.end; i++) {
      rowLevel[r] = l;
      rowValue[r++] = v;
      const s = o[i] - o[0], e = o[i + 1] - o[0];
      if (s === e) {
        l++; // def 0, rep 0
        continue;
      }
      for (let j = s; j < e; j++) {
        const n = mo[j + 1] - mo[j];
        const first = j === s ? 0 : 1;
        if (n === 0) {
          def[l] = 1;
          rep[l++] = first;
          continue;
        }
        def.fill(2, l, l + n);
        rep[l] = first;
        rep.fill(2, l + 1, l + n);
        l += n;
        v += n;
      }
    }
  }
  rowLevel[r] = l;
  rowValue[r] = v;
  return { rowLevel, rowValue, def, rep };
}

// ---------------------------------------------------------------------------------------------
// Dictionaries

const MAX_LOAD = 0.5;

/** A hash of `src[s, e)` (`dv` a view of the same bytes), four bytes at a time. */
function hashBytes(src: Uint8Array, dv: DataView, s: number, e: number): number {
  let h = Math.imul(e - s, 0x9e3779b1);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    h = Math.imul(h ^ dv.getInt32(i, true), 0x5bd1e995);
    h ^= h >>> 15;
  }
  for (; i < e; i++) h = Math.imul(h ^ src[i], 0x01000193);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Whether the `n` byte strings from value `a` equal the `n` from value `b` (same lengths, same
 * bytes; each run is contiguous in `data`).
 */
function sameRun(
  off: Int32Array,
  data: Uint8Array,
  dv: DataView,
  a: number,
  b: number,
  n: number,
): boolean {
  const sa = off[a], sb = off[b], len = off[a + n] - sa;
  if (off[b + n] - sb !== len) return false;
  for (let k = 1; k < n; k++) if (off[a + k] - sa !== off[b + k] - sb) return false;
  let k = 0;
  for (; k + 4 <= len; k += 4) {
    if (dv.getInt32(sa + k, true) !== dv.getInt32(sb + k, true)) return false;
  }
  for (; k < len; k++) if (data[sa + k] !== data[sb + k]) return false;
  return true;
}

/** Copies `src[s, e)` to `dst[at]` (a loop for short strings: cheaper than `set` there). */
function copyBytes(dst: Uint8Array, at: number, src: Uint8Array, s: number, e: number): void {
  if (e - s > 24) dst.set(src.subarray(s, e), at);
  else for (let j = s; j < e; j++) dst[at++] = src[j];
}

/** A dictionary of byte strings: open addressing over a hash of the bytes. */
class BytesDict {
  slots = new Int32Array(1 << 10);
  mask = (1 << 10) - 1;
  off = new Int32Array(1025);
  data = new Uint8Array(1 << 12);
  dv = new DataView(this.data.buffer);
  count = 0;
  /** PLAIN size of the dictionary page. */
  size = 0;

  /** Empties the dictionary for the next chunk (large buffers are dropped, small ones kept). */
  reset(): this {
    if (this.slots.length > 1 << 14) {
      this.slots = new Int32Array(1 << 10);
      this.mask = (1 << 10) - 1;
    } else this.slots.fill(0);
    if (this.off.length > 1 << 16) this.off = new Int32Array(1025);
    if (this.data.length > 1 << 20) {
      this.data = new Uint8Array(1 << 12);
      this.dv = new DataView(this.data.buffer);
    }
    this.count = 0;
    this.size = 0;
    return this;
  }

  /** Index of `src[s, e)` (`sv` a view of `src`), added if new. */
  index(src: Uint8Array, sv: DataView, s: number, e: number): number {
    let slot = hashBytes(src, sv, s, e) & this.mask;
    const slots = this.slots, off = this.off, data = this.data, dv = this.dv, n = e - s;
    for (;;) {
      const x = slots[slot];
      if (x === 0) break;
      const idx = x - 1, ds = off[idx];
      if (off[idx + 1] - ds === n) {
        let i = 0;
        while (i + 4 <= n && dv.getInt32(ds + i, true) === sv.getInt32(s + i, true)) i += 4;
        while (i < n && data[ds + i] === src[s + i]) i++;
        if (i === n) return idx;
      }
      slot = (slot + 1) & this.mask;
    }
    return this.add(src, s, e, slot);
  }

  private add(src: Uint8Array, s: number, e: number, slot: number): number {
    const idx = this.count++, n = e - s;
    if (this.count + 1 > this.off.length) {
      const o = new Int32Array(this.off.length * 2);
      o.set(this.off);
      this.off = o;
    }
    const at = this.off[idx];
    if (at + n > this.data.length) {
      let size = this.data.length * 2;
      while (size < at + n) size *= 2;
      const d = new Uint8Array(size);
      d.set(this.data.subarray(0, at));
      this.data = d;
      this.dv = new DataView(d.buffer);
    }
    copyBytes(this.data, at, src, s, e);
    this.off[idx + 1] = at + n;
    this.size += 4 + n;
    this.slots[slot] = idx + 1;
    if (this.count > this.slots.length * MAX_LOAD) this.rehash();
    return idx;
  }

  private rehash(): void {
    const size = this.slots.length * 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    const off = this.off, data = this.data;
    for (let idx = 0; idx < this.count; idx++) {
      let slot = hashBytes(data, this.dv, off[idx], off[idx + 1]) & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = idx + 1;
    }
  }

  page(out: Bytes): void {
    out.room(this.size);
    const buf = out.buf, off = this.off, data = this.data;
    let at = out.at;
    for (let i = 0; i < this.count; i++) {
      const s = off[i], e = off[i + 1], n = e - s;
      buf[at] = n;
      buf[at + 1] = n >>> 8;
      buf[at + 2] = n >>> 16;
      buf[at + 3] = n >>> 24;
      copyBytes(buf, at + 4, data, s, e);
      at += 4 + n;
    }
    out.at = at;
  }
}

/** A dictionary of 32- or 64-bit values, compared by their bits (so NaN and −0 are values too). */
class WordDict {
  slots = new Int32Array(1 << 8);
  mask = (1 << 8) - 1;
  words: Uint32Array;
  count = 0;
  size = 0;
  constructor(readonly width: 1 | 2) {
    this.words = new Uint32Array(64 * width);
  }

  /** Empties the dictionary for the next chunk (large buffers are dropped, small ones kept). */
  reset(): this {
    if (this.slots.length > 1 << 14) {
      this.slots = new Int32Array(1 << 8);
      this.mask = (1 << 8) - 1;
    } else this.slots.fill(0);
    if (this.words.length > 1 << 16) this.words = new Uint32Array(64 * this.width);
    this.count = 0;
    this.size = 0;
    return this;
  }

  index(lo: number, hi: number): number {
    let slot = hashWords(lo, hi) & this.mask;
    const slots = this.slots, w = this.words, width = this.width;
    for (;;) {
      const x = slots[slot];
      if (x === 0) break;
      const idx = x - 1;
      if (w[idx * width] === lo && (width === 1 || w[idx * 2 + 1] === hi)) return idx;
      slot = (slot + 1) & this.mask;
    }
    const idx = this.count++;
    if (this.count * width > this.words.length) {
      const next = new Uint32Array(this.words.length * 2);
      next.set(this.words);
      this.words = next;
    }
    this.words[idx * width] = lo;
    if (width === 2) this.words[idx * 2 + 1] = hi;
    this.size += 4 * width;
    slots[slot] = idx + 1;
    if (this.count > slots.length * MAX_LOAD) this.rehash();
    return idx;
  }

  private rehash(): void {
    const size = this.slots.length * 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    const w = this.words, width = this.width;
    for (let idx = 0; idx < this.count; idx++) {
      let slot = hashWords(w[idx * width], width === 2 ? w[idx * 2 + 1] : 0) & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = idx + 1;
    }
  }

  page(out: Bytes): void {
    const n = this.count * this.width * 4;
    out.room(n);
    out.buf.set(new Uint8Array(this.words.buffer, 0, n), out.at);
    out.at += n;
  }
}

function hashWords(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Min and max of a chunk's values, as the PLAIN bytes of the physical type. */
interface Stats {
  min: Uint8Array;
  max: Uint8Array;
  minExact?: boolean;
  maxExact?: boolean;
}

/** Strings in statistics are cut to this many bytes (as parquet-wasm does). */
const STATS_TRUNCATE = 64;

/**
 * Cuts byte-string statistics to `STATS_TRUNCATE` bytes at a UTF-8 character boundary: the min
 * to its prefix, the max to a prefix whose last character is incremented (so it still bounds
 * every value), both marked inexact.
 */
function truncateStats(s: Stats): Stats {
  let { min, max } = s;
  let minExact = true, maxExact = true;
  if (min.length > STATS_TRUNCATE) {
    min = min.slice(0, charBoundary(min, STATS_TRUNCATE));
    minExact = false;
  }
  if (max.length > STATS_TRUNCATE) {
    const up = incrementPrefix(max, charBoundary(max, STATS_TRUNCATE));
    if (up) {
      max = up;
      maxExact = false;
    }
  }
  return { min, max, minExact, maxExact };
}

/** The largest character boundary of UTF-8 `b` at or before byte `n`. */
function charBoundary(b: Uint8Array, n: number): number {
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  return n;
}

const dec = new TextDecoder();
const enc = new TextEncoder();

/** `b[0, n)` with its last character that can be incremented (same UTF-8 length) incremented. */
function incrementPrefix(b: Uint8Array, n: number): Uint8Array | null {
  const chars = Array.from(dec.decode(b.subarray(0, n)));
  for (let i = chars.length - 1; i >= 0; i--) {
    const cp = chars[i].codePointAt(0)!;
    let next = cp + 1;
    if (next >= 0xd800 && next < 0xe000) next = 0xe000;
    if (next > 0x10ffff) continue;
    const c = String.fromCodePoint(next);
    if (enc.encode(c).length !== enc.encode(chars[i]).length) continue;
    return enc.encode(chars.slice(0, i).join("") + c);
  }
  return null;
}

function bytesStats(v: Values, from: number, to: number, acc: { min: number; max: number }): void {
  const off = v.off!, data = v.data!;
  let { min, max } = acc;
  for (let i = from; i < to; i++) {
    if (min < 0) {
      min = max = i;
      continue;
    }
    if (cmp(data, off[i], off[i + 1], off[min], off[min + 1]) < 0) min = i;
    else if (cmp(data, off[i], off[i + 1], off[max], off[max + 1]) > 0) max = i;
  }
  acc.min = min;
  acc.max = max;
}

function cmp(d: Uint8Array, as: number, ae: number, bs: number, be: number): number {
  const la = ae - as, lb = be - bs, n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const x = d[as + i] - d[bs + i];
    if (x !== 0) return x;
  }
  return la - lb;
}

function valueStats(leaf: Leaf, v: Values): Stats | null {
  const n = v.n;
  if (n === 0) return null;
  if (leaf.kind === "bytes") {
    const acc = { min: -1, max: -1 };
    bytesStats(v, 0, n, acc);
    const off = v.off!, data = v.data!;
    return {
      min: data.slice(off[acc.min], off[acc.min + 1]),
      max: data.slice(off[acc.max], off[acc.max + 1]),
    };
  }
  if (leaf.kind === "i32") {
    const a = v.i32!;
    let min: number, max: number;
    if (leaf.unsigned) {
      min = max = a[0] >>> 0;
      for (let i = 1; i < n; i++) {
        const x = a[i] >>> 0;
        if (x < min) min = x;
        else if (x > max) max = x;
      }
    } else {
      min = max = a[0];
      for (let i = 1; i < n; i++) {
        const x = a[i];
        if (x < min) min = x;
        else if (x > max) max = x;
      }
    }
    return { min: le32(min), max: le32(max) };
  }
  if (leaf.kind === "i64") {
    const h = v.halves!, signed = !leaf.unsigned;
    let min = 0, max = 0;
    // Compare (hi, lo): hi signed or unsigned, lo unsigned.
    const hiOf = (i: number) => signed ? h[2 * i + 1] | 0 : h[2 * i + 1];
    for (let i = 1; i < n; i++) {
      const hi = hiOf(i), lo = h[2 * i];
      const mh = hiOf(min), xh = hiOf(max);
      if (hi < mh || (hi === mh && lo < h[2 * min])) min = i;
      else if (hi > xh || (hi === xh && lo > h[2 * max])) max = i;
    }
    return { min: le64(h, min), max: le64(h, max) };
  }
  if (leaf.kind === "f64") {
    const a = v.f64!;
    let min = Infinity, max = -Infinity, any = false;
    for (let i = 0; i < n; i++) {
      const x = a[i];
      if (x !== x) continue; // NaN
      any = true;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (!any) return null;
    // Zero: min −0, max +0 (the spec's rule, so a reader's pruning is right either way).
    if (min === 0) min = -0;
    if (max === 0) max = 0;
    const out = new Float64Array([min, max]);
    return { min: new Uint8Array(out.buffer, 0, 8), max: new Uint8Array(out.buffer, 8, 8) };
  }
  const b = v.bool!;
  let t = false, f = false;
  for (let i = 0; i < n && !(t && f); i++) b[i] ? (t = true) : (f = true);
  return { min: Uint8Array.of(f ? 0 : 1), max: Uint8Array.of(t ? 1 : 0) };
}

function le32(x: number): Uint8Array {
  return Uint8Array.of(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
}

function le64(h: Uint32Array, i: number): Uint8Array {
  return new Uint8Array(Uint32Array.of(h[2 * i], h[2 * i + 1]).buffer);
}

// ---------------------------------------------------------------------------------------------
// The file

/** A column chunk written: its pages' bytes and what the footer says of it. */
interface Chunk {
  leaf: Leaf;
  pieces: Uint8Array[];
  codec: number;
  numValues: number;
  uncompressed: number;
  compressed: number;
  dictionaryOffset: number; // relative to the chunk start; -1: none
  dataOffset: number;
  encodings: number[];
  dictPages: number;
  dictDataPages: number;
  plainPages: number;
  stats: Stats | null;
}

const bytesDict = new BytesDict(), words1 = new WordDict(1), words2 = new WordDict(2);

/** The page being made (the last of a chunk stays here until its codec is chosen). */
const scratch = new Bytes();
/** The dictionary page of the chunk being made. */
const dictScratch = new Bytes();
/** Dictionary indices of the chunk being made (index i: value i). */
let indexScratch = new Int32Array(1 << 12);
const header = new Uint8Array(48);

/**
 * A page header (Thrift compact protocol, written by hand: this runs once per page): type,
 * sizes, then the data page header (values, encoding, RLE levels) or the dictionary page header
 * (entries, PLAIN). Every field is a non-negative i32 (zigzag varint) after a one-byte field
 * header (id delta in the high nibble, type 5 = i32, 12 = struct).
 */
function pageHeader(
  type: number,
  uncompressed: number,
  compressed: number,
  numValues: number,
  encoding: number,
): Uint8Array {
  const h = header;
  let at = i32Field(h, 0, type);
  at = i32Field(h, at, uncompressed);
  at = i32Field(h, at, compressed);
  if (type === DATA_PAGE) {
    h[at++] = (2 << 4) | 12; // field 5: data_page_header
    at = i32Field(h, at, numValues);
    at = i32Field(h, at, encoding);
    at = i32Field(h, at, RLE);
    at = i32Field(h, at, RLE);
  } else {
    h[at++] = (4 << 4) | 12; // field 7: dictionary_page_header
    at = i32Field(h, at, numValues);
    at = i32Field(h, at, PLAIN);
  }
  h[at++] = 0; // end of the inner struct
  h[at++] = 0; // end of PageHeader
  return h.slice(0, at);
}

/** The next field (id + 1) as a non-negative i32 at `h[at]`; returns the end. */
function i32Field(h: Uint8Array, at: number, v: number): number {
  h[at++] = (1 << 4) | 5;
  let z = 2 * v;
  while (z >= 0x80) {
    h[at++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / 0x80);
  }
  h[at++] = z;
  return at;
}

/**
 * The encoded repetition and definition levels of the last page with levels: the leaves of one
 * field (a map's keys and values) share its `Levels`, and their pages mostly cover the same
 * level ranges. Matched by the identity of the `Levels` object (a new one per field and row
 * group), so a hit is always the same field's levels.
 */
const levelCache = {
  lv: null as Levels | null,
  l0: 0,
  l1: 0,
  bw: 0,
  n: 0,
  bytes: new Uint8Array(1 << 12),
};
/** Encodes one leaf's column chunk for one row group. */
function writeChunk(
  leaf: Leaf,
  v: Values,
  lv: Levels | null,
  rows: number,
  opts: WriterOptions,
): Chunk {
  const pageBytes = opts.pageBytes ?? PAGE_BYTES;
  const dictLimit = opts.dictionaryBytes ?? DICTIONARY_BYTES;
  const kind = leaf.kind;
  let dict: BytesDict | WordDict | null = null;
  if (leaf.dictionary && kind !== "bool") {
    // One of each kept for the next chunk (reset here): no allocation for a small one.
    dict = kind === "bytes" ? bytesDict.reset() : kind === "i32" ? words1.reset() : words2.reset();
  }
  let dictOn = dict !== null && v.n > 0;
  if (dictOn && indexScratch.length < v.n) {
    indexScratch = new Int32Array(Math.max(v.n, 2 * indexScratch.length));
  }
  const indices = dictOn ? indexScratch : null;
  const valueWidth = kind === "i32" ? 4 : kind === "bool" ? 0.125 : 8;
  const compress = opts.codec?.compress ?? null;
  // Pages: a page before the last is compressed as soon as it is made (its raw bytes kept only
  // when that did not make it smaller); the last stays in `scratch` until the chunk's codec is
  // chosen, so a chunk of one page (most of them) is copied once at most.
  const bodies: {
    raw: Uint8Array | null;
    packed: Uint8Array | null;
    size: number;
    values: number;
    encoding: number;
  }[] = [];
  const f64Words = kind === "f64"
    ? new Uint32Array(v.f64!.buffer, v.f64!.byteOffset, 2 * v.n)
    : null;
  const statsAcc = { min: -1, max: -1 };
  let plainFrom = -1; // first value written PLAIN (bytes stats), -1: none
  let row = 0;
  while (row < rows) {
    // Where the page ends: the first row boundary at or past pageBytes (estimated).
    const v0 = lv ? lv.rowValue[row] : row;
    let end = row + 1;
    if (lv === null && kind !== "bytes") {
      const per = dictOn ? 2 : valueWidth;
      end = Math.min(rows, row + Math.max(1, Math.ceil(pageBytes / per)));
    } else {
      const rv = lv?.rowValue, off = v.off;
      let est = 0;
      for (; end <= rows; end++) {
        const ve = rv ? rv[end] : end;
        if (dictOn || kind !== "bytes") est = (ve - v0) * (dictOn ? 2 : valueWidth);
        else est = 4 * (ve - v0) + off![ve] - off![v0];
        if (est >= pageBytes) break;
      }
      if (end > rows) end = rows;
    }
    const v1 = lv ? lv.rowValue[end] : end;
    const body = scratch;
    body.at = 0;
    let numValues = end - row;
    if (lv) {
      const l0 = lv.rowLevel[row], l1 = lv.rowLevel[end];
      numValues = l1 - l0;
      const bw = leaf.maxLevel === 2 ? 2 : 1;
      const c = levelCache;
      if (c.lv === lv && c.l0 === l0 && c.l1 === l1 && c.bw === bw) {
        // A map's values after its keys, page for page: the same levels, encoded once.
        body.room(c.n);
        body.buf.set(c.bytes.subarray(0, c.n), body.at);
        body.at += c.n;
      } else {
        levelsV1(body, lv.rep, l0, l1, bw);
        levelsV1(body, lv.def, l0, l1, bw);
        const n = body.at;
        if (c.bytes.length < n) c.bytes = new Uint8Array(Math.max(n, 2 * c.bytes.length));
        c.bytes.set(body.buf.subarray(0, n));
        c.n = n;
        c.lv = lv;
        c.l0 = l0;
        c.l1 = l1;
        c.bw = bw;
      }
    }
    let encoding = PLAIN;
    if (dictOn) {
      encoding = RLE_DICTIONARY;
      const idx = indices!;
      if (kind === "bytes" && lv) {
        // A row whose entries equal the previous row's (resource and scope attributes, mostly)
        // takes its indices after an exact comparison.
        const d = dict as BytesDict, off = v.off!, data = v.data!, rv = lv.rowValue;
        const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let r = row; r < end; r++) {
          const a = rv[r], b = rv[r + 1], n = b - a;
          if (n === 0) continue;
          const p = r > 0 ? rv[r - 1] : -1;
          if (p >= 0 && a - p === n && sameRun(off, data, dv, p, a, n)) {
            // A loop for the usual few entries (cheaper than the builtin's call there).
            if (n > 16) idx.copyWithin(a, p, a);
            else for (let i = 0; i < n; i++) idx[a + i] = idx[p + i];
            continue;
          }
          for (let i = a; i < b; i++) idx[i] = d.index(data, dv, off[i], off[i + 1]);
        }
      } else if (kind === "bytes") {
        // A value equal to the previous one takes its index.
        const d = dict as BytesDict, off = v.off!, data = v.data!;
        const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let i = v0; i < v1; i++) {
          if (i > 0 && sameRun(off, data, dv, i - 1, i, 1)) idx[i] = idx[i - 1];
          else idx[i] = d.index(data, dv, off[i], off[i + 1]);
        }
      } else if (kind === "i32") {
        const d = dict as WordDict, a = v.i32!;
        for (let i = v0; i < v1; i++) idx[i] = d.index(a[i] >>> 0, 0);
      } else {
        const d = dict as WordDict, h = f64Words ?? v.halves!;
        for (let i = v0; i < v1; i++) idx[i] = d.index(h[2 * i], h[2 * i + 1]);
      }
      const bw = Math.max(1, 32 - Math.clz32(Math.max(0, dict!.count - 1)));
      if (bw > 24) throw new Error("internal: dictionary too large");
      body.room(1);
      body.buf[body.at++] = bw;
      rleHybrid(body, idx, v0, v1, bw);
      if (dict!.size > dictLimit) dictOn = false;
    } else {
      if (plainFrom < 0) plainFrom = v0;
      plainValues(body, leaf, v, v0, v1);
    }
    const size = body.at;
    if (end < rows) {
      const view = body.buf.subarray(0, size);
      const packed = compress ? compress(view) : null;
      bodies.push({
        raw: packed && packed.length < size ? null : view.slice(),
        packed,
        size,
        values: numValues,
        encoding,
      });
    } else bodies.push({ raw: null, packed: null, size, values: numValues, encoding });
    row = end;
  }
  let dictBody: Uint8Array | null = null;
  if (dict && dict.count > 0) {
    dictScratch.at = 0;
    dict.page(dictScratch);
    dictBody = dictScratch.buf.subarray(0, dictScratch.at);
  }
  // Statistics.
  let stats: Stats | null = null;
  if (leaf.statistics) {
    if (kind === "bytes" && dict && dict.count > 0) {
      const d = dict as BytesDict;
      const dv: Values = { n: d.count, off: d.off, data: d.data };
      bytesStats(dv, 0, d.count, statsAcc);
      let min = d.data.slice(d.off[statsAcc.min], d.off[statsAcc.min + 1]);
      let max = d.data.slice(d.off[statsAcc.max], d.off[statsAcc.max + 1]);
      if (plainFrom >= 0) {
        const acc = { min: -1, max: -1 };
        bytesStats(v, plainFrom, v.n, acc);
        const off = v.off!, data = v.data!;
        if (acc.min >= 0) {
          const pmin = data.subarray(off[acc.min], off[acc.min + 1]);
          const pmax = data.subarray(off[acc.max], off[acc.max + 1]);
          if (cmpArrays(pmin, min) < 0) min = pmin.slice();
          if (cmpArrays(pmax, max) > 0) max = pmax.slice();
        }
      }
      stats = { min, max };
    } else stats = valueStats(leaf, v);
    if (stats && kind === "bytes") stats = truncateStats(stats);
  }
  // Compression: per page; the chunk stays uncompressed if that does not make it smaller (or
  // it is tiny), unless a page before the last was compressed and kept only compressed.
  const lastPage = bodies[bodies.length - 1];
  const lastView = lastPage ? scratch.buf.subarray(0, lastPage.size) : null;
  let raw = dictBody ? dictBody.length : 0;
  let kept = true; // every page's raw bytes are at hand
  for (const b of bodies) {
    raw += b.size;
    if (b !== lastPage && b.raw === null) kept = false;
  }
  let codec: number = CODEC_ID.none;
  let dictOut = dictBody;
  if (compress && opts.codec && (raw >= SMALL_CHUNK || !kept)) {
    const cd = dictBody ? compress(dictBody) : null;
    if (lastPage) lastPage.packed = compress(lastView!);
    let packed = cd ? cd.length : 0;
    for (const b of bodies) packed += b.packed!.length;
    if (packed < raw || !kept) {
      codec = opts.codec.id;
      dictOut = cd;
    }
  }
  if (codec === CODEC_ID.none) {
    if (dictBody) dictBody = dictOut = dictBody.slice();
    if (lastPage) lastPage.raw = lastView!.slice();
  }
  const outs = bodies.map((b) => codec === CODEC_ID.none ? b.raw! : b.packed!);
  const pieces: Uint8Array[] = [];
  let at = 0, uncompressed = 0, dictionaryOffset = -1, dataOffset = 0, numValues = 0;
  let dictDataPages = 0, plainPages = 0;
  if (dictBody) {
    const h = pageHeader(DICTIONARY_PAGE, dictBody.length, dictOut!.length, dict!.count, PLAIN);
    dictionaryOffset = 0;
    pieces.push(h, dictOut!);
    at += h.length + dictOut!.length;
    uncompressed += h.length + dictBody.length;
  }
  dataOffset = at;
  bodies.forEach((b, i) => {
    const h = pageHeader(DATA_PAGE, b.size, outs[i].length, b.values, b.encoding);
    pieces.push(h, outs[i]);
    at += h.length + outs[i].length;
    uncompressed += h.length + b.size;
    numValues += b.values;
    if (b.encoding === PLAIN) plainPages++;
    else dictDataPages++;
  });
  const encodings = [PLAIN, RLE];
  if (dictDataPages > 0) encodings.push(RLE_DICTIONARY);
  return {
    leaf,
    pieces,
    codec,
    numValues,
    uncompressed,
    compressed: at,
    dictionaryOffset,
    dataOffset,
    encodings,
    dictPages: dictBody ? 1 : 0,
    dictDataPages,
    plainPages,
    stats,
  };
}

function cmpArrays(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Appends values `[a, b)` PLAIN-encoded. */
function plainValues(out: Bytes, leaf: Leaf, v: Values, a: number, b: number): void {
  switch (leaf.kind) {
    case "bytes": {
      const off = v.off!, data = v.data!;
      out.room(4 * (b - a) + off[b] - off[a]);
      const buf = out.buf;
      let at = out.at;
      for (let i = a; i < b; i++) {
        const s = off[i], e = off[i + 1], n = e - s;
        buf[at] = n;
        buf[at + 1] = n >>> 8;
        buf[at + 2] = n >>> 16;
        buf[at + 3] = n >>> 24;
        at += 4;
        if (n > 24) buf.set(data.subarray(s, e), at);
        else for (let j = 0; j < n; j++) buf[at + j] = data[s + j];
        at += n;
      }
      out.at = at;
      return;
    }
    case "i32":
      return copyWords(out, v.i32!, a, b, 4);
    case "i64":
      return copyWords(out, v.halves!, 2 * a, 2 * b, 4);
    case "f64":
      return copyWords(out, v.f64!, a, b, 8);
    case "bool": {
      const bits = v.bool!, n = b - a;
      out.room((n + 7) >> 3);
      const buf = out.buf, at = out.at;
      buf.fill(0, at, at + ((n + 7) >> 3));
      for (let i = 0; i < n; i++) if (bits[a + i]) buf[at + (i >> 3)] |= 1 << (i & 7);
      out.at = at + ((n + 7) >> 3);
    }
  }
}

function copyWords(
  out: Bytes,
  arr: Int32Array | Uint32Array | Float64Array,
  a: number,
  b: number,
  width: number,
): void {
  const n = (b - a) * width;
  out.room(n);
  out.buf.set(new Uint8Array(arr.buffer, arr.byteOffset + a * width, n), out.at);
  out.at += n;
}

/**
 * The Parquet file of `rows` rows whose field `f` (of `schema`) is made of the builders
 * `fields[f]`, one after another.
 */
export function writeParquetFile(
  schema: arrow.Schema,
  fields: readonly (readonly Column[])[],
  rows: number,
  opts: WriterOptions,
): Uint8Array {
  const layout = layoutOf(schema);
  const leaves = layout.leaves.map((l) => ({
    ...l,
    dictionary: opts.dictionary(l.path),
    statistics: l.maxLevel === 0 && opts.statistics.has(l.path[0]),
  }));
  const groupRows = Math.max(1, opts.rowGroupRows);
  const pieces: Uint8Array[] = [MAGIC];
  let at = 4;
  const groups: { chunks: (Chunk & { start: number })[]; rows: number; start: number }[] = [];
  // Cursor per field over its builders.
  const cursor = fields.map(() => ({ part: 0, row: 0 }));
  for (let g0 = 0; g0 < rows; g0 += groupRows) {
    const n = Math.min(groupRows, rows - g0);
    const chunks: (Chunk & { start: number })[] = [];
    const groupStart = at;
    // The parts of each field for rows [g0, g0 + n).
    const fieldParts: Part[][] = fields.map((cols, f) => {
      const c = cursor[f];
      const out: Part[] = [];
      let need = n;
      while (need > 0) {
        const col = cols[c.part];
        const take = Math.min(need, col.length - c.row);
        if (take > 0) out.push({ col, start: c.row, end: c.row + take });
        need -= take;
        c.row += take;
        if (c.row >= col.length) c.part++, c.row = 0;
      }
      if (out.length === 0 && cols.length > 0) out.push({ col: cols[0], start: 0, end: 0 });
      return out;
    });
    let li = 0;
    while (li < leaves.length) {
      const leaf = leaves[li];
      const parts = fieldParts[leaf.field];
      const group: Leaf[] = [leaf];
      if (leaf.access === "key" || leaf.access === "itemKey") group.push(leaves[li + 1]);
      let lv: Levels | null = null;
      let valueParts: Part[][];
      if (leaf.access === "self") valueParts = [parts];
      else if (leaf.access === "item") {
        lv = levels1(parts, n);
        valueParts = [childParts(parts, (c) => (c as ListCol<Column>).child)];
      } else if (leaf.access === "key") {
        lv = levels1(parts, n);
        valueParts = [
          childParts(parts, (c) => (c as MapCol).keys),
          childParts(parts, (c) => (c as MapCol).values),
        ];
      } else {
        const items = childParts(parts, (c) => (c as ListCol<MapCol>).child);
        lv = levels2(parts, items, n);
        valueParts = [
          childParts(items, (c) => (c as MapCol).keys),
          childParts(items, (c) => (c as MapCol).values),
        ];
      }
      group.forEach((l, k) => {
        const chunk = writeChunk(l, gather(valueParts[k], l), lv, n, opts);
        (chunk as Chunk & { start: number }).start = at;
        chunks.push(chunk as Chunk & { start: number });
        for (const p of chunk.pieces) pieces.push(p);
        at += chunk.compressed;
      });
      li += group.length;
    }
    groups.push({ chunks, rows: n, start: groupStart });
  }
  const footer = fileMetadata(layout, groups, rows, opts, schema);
  pieces.push(footer);
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  pieces.push(tail);
  let total = 0;
  for (const p of pieces) total += p.length;
  const out = new Uint8Array(total);
  let k = 0;
  for (const p of pieces) out.set(p, k), k += p.length;
  return out;
}

/** The footer being written (kept for the next file). */
const footerW = new ThriftWriter(4096);

const MAGIC = Uint8Array.of(0x50, 0x41, 0x52, 0x31); // "PAR1"

function fileMetadata(
  layout: Layout,
  groups: { chunks: (Chunk & { start: number })[]; rows: number; start: number }[],
  rows: number,
  opts: WriterOptions,
  schema: arrow.Schema,
): Uint8Array {
  const w = footerW;
  w.reset();
  w.begin();
  w.i32(1, 1); // version
  w.list(2, T.STRUCT, layout.count);
  layout.elements(w);
  w.i64(3, rows);
  w.list(4, T.STRUCT, groups.length);
  groups.forEach((g, ordinal) => {
    w.begin();
    w.list(1, T.STRUCT, g.chunks.length);
    let total = 0, compressed = 0;
    for (const c of g.chunks) {
      total += c.uncompressed;
      compressed += c.compressed;
      w.begin();
      w.i64(2, 0); // file_offset (deprecated)
      w.struct(3);
      w.i32(1, c.leaf.physical);
      w.list(2, T.I32, c.encodings.length);
      for (const e of c.encodings) w.elemI32(e);
      w.list(3, T.BINARY, c.leaf.path.length);
      for (const p of c.leaf.path) w.elemString(p);
      w.i32(4, c.codec);
      w.i64(5, c.numValues);
      w.i64(6, c.uncompressed);
      w.i64(7, c.compressed);
      w.i64(9, c.start + c.dataOffset);
      if (c.dictionaryOffset >= 0) w.i64(11, c.start + c.dictionaryOffset);
      if (c.stats) {
        w.struct(12);
        const signed = !c.leaf.unsigned && c.leaf.kind !== "bytes";
        if (signed) {
          w.binary(1, c.stats.max);
          w.binary(2, c.stats.min);
        }
        w.i64(3, 0);
        w.binary(5, c.stats.max);
        w.binary(6, c.stats.min);
        w.bool(7, c.stats.maxExact ?? true);
        w.bool(8, c.stats.minExact ?? true);
        w.end();
      } else if (c.leaf.statistics) {
        w.struct(12);
        w.i64(3, 0);
        w.end();
      }
      const stats: [number, number, number][] = [];
      if (c.dictDataPages > 0) stats.push([DATA_PAGE, RLE_DICTIONARY, c.dictDataPages]);
      if (c.plainPages > 0) stats.push([DATA_PAGE, PLAIN, c.plainPages]);
      if (c.dictPages > 0) stats.push([DICTIONARY_PAGE, PLAIN, 1]);
      w.list(13, T.STRUCT, stats.length);
      for (const [t, e, n] of stats) {
        w.begin();
        w.i32(1, t);
        w.i32(2, e);
        w.i32(3, n);
        w.end();
      }
      w.end(); // meta_data
      w.end(); // ColumnChunk
    }
    w.i64(2, total);
    w.i64(3, g.rows);
    w.i64(5, g.start);
    w.i64(6, compressed);
    w.i16(7, ordinal);
    w.end();
  });
  const kv = [...opts.metadata, ["ARROW:schema", arrowSchemaBase64(schema)] as const];
  w.list(5, T.STRUCT, kv.length);
  for (const [k, v] of kv) {
    w.begin();
    w.string(1, k);
    w.string(2, v);
    w.end();
  }
  w.string(6, opts.createdBy);
  w.list(7, T.STRUCT, layout.leaves.length);
  for (let i = 0; i < layout.leaves.length; i++) {
    w.begin();
    w.struct(1); // TYPE_ORDER
    w.end();
    w.end();
  }
  w.end();
  return w.bytes().slice();
}

const base64s = new WeakMap<arrow.Schema, string>();

/** The `ARROW:schema` value: the IPC schema message (continuation, length, flatbuffer), base64. */
function arrowSchemaBase64(schema: arrow.Schema): string {
  let s = base64s.get(schema);
  if (s !== undefined) return s;
  const fb = schemaMessage(schema);
  const len = (fb.length + 7) & ~7;
  const msg = new Uint8Array(8 + len);
  const view = new DataView(msg.buffer);
  view.setInt32(0, -1, true);
  view.setInt32(4, len, true);
  msg.set(fb, 8);
  let bin = "";
  for (let i = 0; i < msg.length; i += 0x8000) {
    bin += String.fromCharCode(...msg.subarray(i, i + 0x8000));
  }
  s = btoa(bin);
  base64s.set(schema, s);
  return s;
}
