/**
 * What every column kind implements (`Column`), the Arrow types they share, and the offset
 * helpers of the nested kinds (lists and maps).
 */
import * as arrow from "apache-arrow";

/** Arrow type of our timestamps: `Timestamp(Nanosecond, "UTC")`. */
export const TS_TYPE = new arrow.TimestampNanosecond("UTC");

// Arrow types are immutable: one instance each, shared by every builder.
export const UTF8 = new arrow.Utf8();
export const BOOL = new arrow.Bool();
export const UINT8 = new arrow.Uint8();
export const UINT32 = new arrow.Uint32();
export const INT32 = new arrow.Int32();
export const FLOAT64 = new arrow.Float64();
export const UINT64 = new arrow.Uint64();
const listTypes = new Map<arrow.DataType, arrow.List>();

/** `List<child>` with non-null items, one instance per child type instance. */
export function listOf(child: arrow.DataType): arrow.List {
  let t = listTypes.get(child);
  if (t === undefined) {
    t = new arrow.List(new arrow.Field("item", child, false));
    listTypes.set(child, t);
  }
  return t;
}

export interface Column {
  readonly length: number;
  /** Approximate bytes held (for buffer accounting). */
  byteSize(): number;
  toData(): arrow.Data;
  take(indices: Int32Array): Column;
  /**
   * Rows `[start, end)` as a new builder that shares this one's buffers (views ending where the
   * slice ends, so appending to the slice copies first; its offsets are not rebased, see above).
   * Appending to this builder later does not change the slice.
   */
  slice(start: number, end: number): Column;
  /** Appends every row of `other` (same kind of column) after this one's. */
  appendFrom(other: this): void;
  /**
   * Appends every row of each of `parts` (same kind of column), in order, growing each buffer
   * once to exactly the size needed.
   */
  appendAll(parts: readonly this[]): void;
  readonly type: arrow.DataType;
}

/** Sets `dst[at + 1 ..= at + n]` to `src[1 ..= n] + shift`. */
export function appendOffsets(
  dst: Int32Array,
  at: number,
  src: Int32Array,
  n: number,
  shift: number,
) {
  for (let i = 1; i <= n; i++) dst[at + i] = src[i] + shift;
}

/** `offsets[0 ..= length]` starting from 0 (a copy only when they do not already). */
export function fromZero(offsets: Int32Array, length: number): Int32Array {
  const o = offsets.subarray(0, length + 1);
  if (o[0] === 0) return o;
  const out = new Int32Array(length + 1);
  for (let i = 0; i <= length; i++) out[i] = o[i] - o[0];
  return out;
}

/**
 * Child rows of `rows` (in order; numbered from `offsets[0]`, see the file comment) and the
 * offsets of a new column holding just them.
 */
export function expandRanges(offsets: Int32Array, rows: Int32Array) {
  const base = offsets[0];
  let n = 0;
  for (let i = 0; i < rows.length; i++) n += offsets[rows[i] + 1] - offsets[rows[i]];
  const indices = new Int32Array(n);
  const outOffsets = new Int32Array(rows.length + 1);
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = offsets[rows[i]]; j < offsets[rows[i] + 1]; j++) indices[at++] = j - base;
    outOffsets[i + 1] = at;
  }
  return { indices, offsets: outOffsets };
}
