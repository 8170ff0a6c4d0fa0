/**
 * Reads a Parquet file's footer: the schema (names, field ids, types) and, per column chunk,
 * its path, sizes, value count and statistics, the raw bytes as the file holds them. The
 * Iceberg data file metrics (./metrics.ts) come from here, so they say what the file says.
 *
 * File layout: `PAR1 <data> <FileMetaData> <footer length: u32 LE> PAR1`; FileMetaData is a
 * Thrift struct in the compact protocol (parquet.thrift in
 * https://github.com/apache/parquet-format). The fields read:
 *
 *   FileMetaData   1 version i32, 2 schema list<SchemaElement>, 3 num_rows i64,
 *                  4 row_groups list<RowGroup>
 *   SchemaElement  1 type i32, 3 repetition_type i32, 4 name binary, 5 num_children i32,
 *                  9 field_id i32, 10 logicalType union (8 TIMESTAMP{1 isAdjustedToUTC,
 *                  2 unit union{1 MILLIS, 2 MICROS, 3 NANOS}})
 *   RowGroup       1 columns list<ColumnChunk>, 3 num_rows i64
 *   ColumnChunk    3 meta_data ColumnMetaData
 *   ColumnMetaData 1 type i32, 3 path_in_schema list<binary>, 5 num_values i64,
 *                  6 total_uncompressed_size i64, 7 total_compressed_size i64,
 *                  12 statistics Statistics
 *   Statistics     1 max binary, 2 min binary, 3 null_count i64, 5 max_value binary,
 *                  6 min_value binary
 *
 * Compact protocol: a field header byte holds the id delta (high nibble; 0: a zigzag i16 id
 * follows) and the type (low nibble: 1/2 bool true/false, 3 i8, 4 i16, 5 i32, 6 i64, 7 double,
 * 8 binary, 9 list, 10 set, 11 map, 12 struct; 0 ends the struct); integers are zigzag varints;
 * binary is a varint length and the bytes; a list header holds the size (high nibble, 15: a
 * varint follows) and the element type.
 */

/** Parquet physical types (parquet.thrift `Type`). */
export const PHYSICAL = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY"];

export interface SchemaElement {
  name: string;
  /** Physical type (leaves only). */
  type?: string;
  numChildren: number;
  fieldId?: number;
  /** Timestamp unit of a TIMESTAMP leaf. */
  timestampUnit?: "MILLIS" | "MICROS" | "NANOS";
}

export interface ColumnChunk {
  path: string[];
  type: string;
  numValues: number;
  compressedSize: number;
  uncompressedSize: number;
  nullCount?: number;
  /** min_value / max_value (or the deprecated min / max), plain-encoded. */
  min?: Uint8Array;
  max?: Uint8Array;
}

export interface Footer {
  numRows: number;
  /** The flattened schema, root first (as the file lists it). */
  schema: SchemaElement[];
  rowGroups: { numRows: number; columns: ColumnChunk[] }[];
}

/** A file that is not Parquet, or whose footer cannot be read. */
export class FooterError extends SyntaxError {
  override name = "FooterError";
}

/** The footer of the Parquet file `file` (all of its bytes). Throws `FooterError`. */
export function readFooter(file: Uint8Array): Footer {
  const n = file.length;
  const magic = (at: number) =>
    file[at] === 0x50 && file[at + 1] === 0x41 && file[at + 2] === 0x52 && file[at + 3] === 0x31;
  if (n < 12 || !magic(0) || !magic(n - 4)) {
    throw new FooterError(`Not a Parquet file: no "PAR1" at its start and end (${n} bytes)`);
  }
  const len = (file[n - 8] | (file[n - 7] << 8) | (file[n - 6] << 16) | (file[n - 5] << 24)) >>> 0;
  if (len + 12 > n) {
    throw new FooterError(`Cannot read the Parquet footer: length ${len} exceeds the file (${n})`);
  }
  const r = new Reader(file.subarray(n - 8 - len, n - 8));
  let meta: Struct;
  try {
    meta = r.struct();
  } catch (e) {
    throw new FooterError(
      `Cannot read the Parquet footer: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const schema = ((meta.get(2) as Struct[] | undefined) ?? []).map((s): SchemaElement => {
    const logical = s.get(10) as Struct | undefined;
    const ts = logical?.get(8) as Struct | undefined; // TimestampType is union member 8
    const unit = ts?.get(2) as Struct | undefined;
    return {
      name: text(s.get(4) as Uint8Array),
      type: s.has(1) ? PHYSICAL[s.get(1) as number] : undefined,
      numChildren: (s.get(5) as number | undefined) ?? 0,
      fieldId: s.get(9) as number | undefined,
      timestampUnit: unit === undefined
        ? undefined
        : unit.has(1)
        ? "MILLIS"
        : unit.has(2)
        ? "MICROS"
        : "NANOS",
    };
  });
  const rowGroups = ((meta.get(4) as Struct[] | undefined) ?? []).map((g) => ({
    numRows: g.get(3) as number,
    columns: ((g.get(1) as Struct[] | undefined) ?? []).map((c): ColumnChunk => {
      const m = c.get(3) as Struct | undefined;
      if (!m) throw new FooterError("Cannot read the Parquet footer: a column chunk has no meta");
      const st = m.get(12) as Struct | undefined;
      return {
        path: ((m.get(3) as Uint8Array[] | undefined) ?? []).map(text),
        type: PHYSICAL[m.get(1) as number],
        numValues: m.get(5) as number,
        uncompressedSize: m.get(6) as number,
        compressedSize: m.get(7) as number,
        nullCount: st?.get(3) as number | undefined,
        min: (st?.get(6) ?? st?.get(2)) as Uint8Array | undefined,
        max: (st?.get(5) ?? st?.get(1)) as Uint8Array | undefined,
      };
    }),
  }));
  return { numRows: meta.get(3) as number, schema, rowGroups };
}

const decoder = new TextDecoder();
const text = (b: Uint8Array) => decoder.decode(b);

type Value = number | boolean | Uint8Array | Value[] | Struct;
type Struct = Map<number, Value>;

/** A Thrift compact protocol reader of generic values (integers as numbers, exact to 2^53). */
class Reader {
  at = 0;
  constructor(readonly b: Uint8Array) {}

  byte(): number {
    if (this.at >= this.b.length) throw new RangeError(`truncated at byte ${this.at}`);
    return this.b[this.at++];
  }

  varint(): number {
    let v = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      const c = this.byte();
      v += (c & 0x7f) * mul;
      if ((c & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new RangeError(`varint longer than 10 bytes at byte ${this.at}`);
  }

  zigzag(): number {
    const v = this.varint();
    return v % 2 === 1 ? -(v + 1) / 2 : v / 2;
  }

  value(type: number): Value {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return (this.byte() << 24) >> 24;
      case 4:
      case 5:
      case 6:
        return this.zigzag();
      case 7: {
        const v = new DataView(this.b.buffer, this.b.byteOffset + this.at, 8).getFloat64(0, true);
        this.at += 8;
        return v;
      }
      case 8: {
        const n = this.varint();
        if (this.at + n > this.b.length) throw new RangeError(`binary past the end at ${this.at}`);
        const v = this.b.subarray(this.at, this.at + n);
        this.at += n;
        return v;
      }
      case 9:
      case 10: {
        const h = this.byte();
        let size = h >> 4;
        if (size === 15) size = this.varint();
        const et = h & 0x0f;
        const out: Value[] = [];
        for (let i = 0; i < size; i++) {
          out.push(et === 1 || et === 2 ? this.byte() === 1 : this.value(et));
        }
        return out;
      }
      case 11: {
        const size = this.varint();
        if (size === 0) return [];
        const kv = this.byte();
        const out: Value[] = [];
        for (let i = 0; i < size; i++) out.push([this.value(kv >> 4), this.value(kv & 0x0f)]);
        return out;
      }
      case 12:
        return this.struct();
      default:
        throw new RangeError(`unknown compact type ${type} at byte ${this.at}`);
    }
  }

  struct(): Struct {
    const s: Struct = new Map();
    let id = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return s;
      const delta = h >> 4;
      id = delta === 0 ? this.zigzag() : id + delta;
      s.set(id, this.value(h & 0x0f));
    }
  }
}
