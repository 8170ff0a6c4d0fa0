/**
 * The Iceberg data file entry of a stored Parquet file: partition values and metrics (record
 * count, file size, column sizes, value counts, null value counts, lower and upper bounds), all
 * read from the file's footer (./footer.ts), so they are what the file holds.
 *
 * Bounds are Iceberg's single-value binary form (spec, "Binary single-value serialization"):
 * int 4 bytes LE, long / timestamptz / timestamptz_ns 8 bytes LE, double 8 bytes LE IEEE 754,
 * boolean 1 byte, string UTF-8. Parquet's plain-encoded statistics of these types are the same
 * bytes, so the bounds are the file's min/max statistics. Strings are cut to 16 characters as
 * Iceberg's default metrics mode (`truncate(16)`) does: the lower bound is the prefix, the upper
 * bound the prefix with its last character incremented. Bounds are kept for the top-level
 * columns that hold one value per row (the ones with statistics); column sizes for every leaf.
 */
import { type TableName, TIME_COLUMN } from "../core/tables.ts";
import { type ColumnChunk, type Footer, readFooter } from "./footer.ts";
import { columnIds, type FormatVersion } from "./schema.ts";

/** A data file as the pending list keeps it and a manifest lists it (JSON-safe). */
export interface DataFile {
  /** Object key, without `storage.prefix`. */
  key: string;
  table: TableName;
  recordCount: number;
  fileSizeInBytes: number;
  /** Partition values: identity(ServiceName), hour(time) in hours since the epoch. */
  partition: { service: string; hour: number };
  /** Per field id. Bounds are base64 of the single-value binary form. */
  columnSizes: [number, number][];
  valueCounts: [number, number][];
  nullValueCounts: [number, number][];
  lowerBounds: [number, string][];
  upperBounds: [number, string][];
}

/** A file that cannot be an entry of the table (wrong layout, several partitions). */
export class DataFileError extends TypeError {
  override name = "DataFileError";
}

/** Characters a string bound keeps (Iceberg's default `truncate(16)`). */
export const STRING_BOUND_CHARS = 16;

/**
 * The data file entry of the Parquet file `bytes` stored under `key` for `table`, whose data
 * files are written for format version `version`. Throws `DataFileError` when the file is not
 * in the table's layout (written without `catalog.mode = "iceberg"`, or for the other format
 * version) or holds rows of more than one partition, `FooterError` when it is not Parquet.
 */
export function dataFileOf(
  bytes: Uint8Array,
  key: string,
  table: TableName,
  version: FormatVersion,
): DataFile {
  return dataFileFromFooter(readFooter(bytes), bytes.length, key, table, version);
}

export function dataFileFromFooter(
  footer: Footer,
  fileSize: number,
  key: string,
  table: TableName,
  version: FormatVersion,
): DataFile {
  const where = `${JSON.stringify(key)}`;
  const ids = columnIds(table);
  // Leaves by path, with their field ids; top-level leaves are the primitive columns.
  const leaves = new Map<string, { id: number; topLevel: boolean; unit?: string }>();
  let i = 1;
  const walk = (prefix: string[], count: number, depth: number) => {
    for (let k = 0; k < count; k++) {
      const e = footer.schema[i++];
      if (e === undefined) throw new DataFileError(`Parquet file ${where}: truncated schema`);
      const path = [...prefix, e.name];
      if (e.numChildren > 0) walk(path, e.numChildren, depth + 1);
      else {
        if (e.fieldId === undefined) {
          throw new DataFileError(
            `Parquet file ${where} has no field ids: it was not written for an Iceberg table (catalog.mode = "iceberg")`,
          );
        }
        leaves.set(path.join("\u0000"), {
          id: e.fieldId,
          topLevel: depth === 0,
          unit: e.timestampUnit,
        });
      }
    }
  };
  walk([], footer.schema[0]?.numChildren ?? 0, 0);
  const timeName = TIME_COLUMN[table];
  const timeLeaf = leaves.get(timeName);
  if (!timeLeaf || timeLeaf.id !== ids.get(timeName)) {
    throw new DataFileError(
      `Parquet file ${where}: its column ${JSON.stringify(timeName)} is not field ${
        ids.get(timeName)
      } of table ${table}`,
    );
  }
  const wantUnit = version >= 3 ? "NANOS" : "MICROS";
  if (timeLeaf.unit !== wantUnit) {
    throw new DataFileError(
      `Parquet file ${where}: its timestamps are ${
        timeLeaf.unit ?? "not timestamps"
      }, a format version ${version} table holds ${wantUnit} (written without catalog.mode = "iceberg", or for format_version = ${
        version >= 3 ? 2 : 3
      })`,
    );
  }
  const sizes = new Map<number, number>();
  const values = new Map<number, number>();
  const nulls = new Map<number, number>();
  const lower = new Map<number, Uint8Array>();
  const upper = new Map<number, Uint8Array>();
  const chunksOf = new Map<number, ColumnChunk[]>();
  for (const g of footer.rowGroups) {
    for (const c of g.columns) {
      const leaf = leaves.get(c.path.join("\u0000"));
      if (!leaf) {
        throw new DataFileError(`Parquet file ${where}: unknown column ${c.path.join(".")}`);
      }
      sizes.set(leaf.id, (sizes.get(leaf.id) ?? 0) + c.compressedSize);
      if (!leaf.topLevel) continue;
      values.set(leaf.id, (values.get(leaf.id) ?? 0) + c.numValues);
      // Every column is required: no nulls, whether or not the chunk says so.
      nulls.set(leaf.id, (nulls.get(leaf.id) ?? 0) + (c.nullCount ?? 0));
      let list = chunksOf.get(leaf.id);
      if (!list) chunksOf.set(leaf.id, list = []);
      list.push(c);
    }
  }
  for (const [id, chunks] of chunksOf) {
    let lo: Uint8Array | undefined, hi: Uint8Array | undefined, complete = true;
    for (const c of chunks) {
      if (c.min === undefined || c.max === undefined) {
        complete = c.numValues === 0 && complete;
        continue;
      }
      if (lo === undefined || compare(c.type, c.min, lo) < 0) lo = c.min;
      if (hi === undefined || compare(c.type, c.max, hi) > 0) hi = c.max;
    }
    // A bound is only a bound when every row group with values told its own.
    if (!complete || lo === undefined || hi === undefined) continue;
    if (chunks[0].type === "BYTE_ARRAY") {
      lower.set(id, truncateLower(lo));
      const u = truncateUpper(hi);
      if (u) upper.set(id, u);
    } else {
      lower.set(id, lo);
      upper.set(id, hi);
    }
  }
  // Partition values: one service and one hour per file (what the writer's key says).
  const svcId = ids.get("ServiceName")!;
  const svc = chunksOf.get(svcId) ?? [];
  const svcMin = svc[0]?.min, svcMax = svc[0]?.max;
  if (!svcMin || !svcMax || svc.some((c) => !same(c.min, svcMin) || !same(c.max, svcMin))) {
    throw new DataFileError(
      `Parquet file ${where} does not hold rows of a single ServiceName (its statistics disagree)`,
    );
  }
  const timeId = ids.get(timeName)!;
  const tMin = readLong(lower.get(timeId)), tMax = readLong(upper.get(timeId));
  const perHour = wantUnit === "NANOS" ? 3_600_000_000_000n : 3_600_000_000n;
  if (tMin === undefined || tMax === undefined) {
    throw new DataFileError(`Parquet file ${where}: no statistics for ${timeName}`);
  }
  const hour = floorDiv(tMin, perHour);
  if (floorDiv(tMax, perHour) !== hour) {
    throw new DataFileError(`Parquet file ${where} holds rows of more than one hour`);
  }
  const b64 = (m: Map<number, Uint8Array>) =>
    [...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, toBase64(v)] as [number, string]);
  const num = (m: Map<number, number>) => [...m].sort((a, b) => a[0] - b[0]);
  return {
    key,
    table,
    recordCount: footer.numRows,
    fileSizeInBytes: fileSize,
    partition: { service: new TextDecoder().decode(svcMin), hour: Number(hour) },
    columnSizes: num(sizes),
    valueCounts: num(values),
    nullValueCounts: num(nulls),
    lowerBounds: b64(lower),
    upperBounds: b64(upper),
  };
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

function readLong(b: Uint8Array | undefined): bigint | undefined {
  if (!b || b.length !== 8) return undefined;
  return new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Orders two plain-encoded statistics values of physical type `type`. */
function compare(type: string, a: Uint8Array, b: Uint8Array): number {
  const dv = (x: Uint8Array) => new DataView(x.buffer, x.byteOffset, x.length);
  switch (type) {
    case "INT32":
      return dv(a).getInt32(0, true) - dv(b).getInt32(0, true);
    case "INT64": {
      const x = dv(a).getBigInt64(0, true), y = dv(b).getBigInt64(0, true);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case "DOUBLE":
      return dv(a).getFloat64(0, true) - dv(b).getFloat64(0, true);
    case "FLOAT":
      return dv(a).getFloat32(0, true) - dv(b).getFloat32(0, true);
    case "BOOLEAN":
      return a[0] - b[0];
    default: {
      // BYTE_ARRAY: unsigned lexicographic (UTF-8 order is code point order).
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
      return a.length - b.length;
    }
  }
}

/** The first `STRING_BOUND_CHARS` characters of UTF-8 `b`. */
function truncateLower(b: Uint8Array): Uint8Array {
  const s = [...new TextDecoder().decode(b)];
  if (s.length <= STRING_BOUND_CHARS) return b;
  return new TextEncoder().encode(s.slice(0, STRING_BOUND_CHARS).join(""));
}

/**
 * An upper bound of UTF-8 `b` of at most `STRING_BOUND_CHARS` characters: `b` itself when short
 * enough, else its prefix with the last character that can be incremented incremented (and the
 * ones after it dropped); `null` when none can be (no bound).
 */
function truncateUpper(b: Uint8Array): Uint8Array | null {
  const s = [...new TextDecoder().decode(b)];
  if (s.length <= STRING_BOUND_CHARS) return b;
  const cut = s.slice(0, STRING_BOUND_CHARS);
  for (let i = cut.length - 1; i >= 0; i--) {
    let cp = cut[i].codePointAt(0)! + 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000;
    if (cp > 0x10ffff) continue;
    return new TextEncoder().encode(cut.slice(0, i).join("") + String.fromCodePoint(cp));
  }
  return null;
}

export function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const t = atob(s);
  const b = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) b[i] = t.charCodeAt(i);
  return b;
}
