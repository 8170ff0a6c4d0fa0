/**
 * Bulk appends of repeated values: the columns every row of a scope repeats from its resource
 * and scope (service name, resource and scope attributes) are filled once per scope, by
 * doubling copies instead of a value at a time.
 */
import { SMALL_COPY } from "./buffers.ts";
import type { MapCol } from "./map.ts";
import type { Utf8Col } from "./utf8.ts";

/** Up to this many bytes in all, a repeated block is written by a plain loop. */
const LOOP_MAX_BYTES = 64;

/** Appends the last `count` values of `col` again, as one block. */
export function repeatLast(col: Utf8Col, count: number): void {
  const len = col.length, first = len - count;
  const start = col.offsets[first], end = col.offsets[len], size = end - start;
  col.reserve(size, count);
  col.data.copyWithin(end, start, end);
  const off = col.offsets;
  for (let k = 1; k <= count; k++) off[len + k] = off[first + k] + size;
  col.length = len + count;
}

/** Appends `rows` values, each the bytes `src[s, e)`. */
export function fillBytes(col: Utf8Col, src: Uint8Array, s: number, e: number, rows: number): void {
  const n = e - s, len = col.length;
  col.reserve(n * rows, rows);
  const off = col.offsets, at = off[len];
  if (n > 0) repeatBlock(col.data, src, s, e, at, rows);
  for (let i = 1; i <= rows; i++) off[len + i] = at + i * n;
  col.length = len + rows;
}

/** Writes `src[s, e)` at `dst[at]`, `times` times in a row. */
function repeatBlock(
  dst: Uint8Array,
  src: Uint8Array,
  s: number,
  e: number,
  at: number,
  times: number,
): void {
  const n = e - s, total = n * times;
  if (total <= LOOP_MAX_BYTES) {
    for (let t = 0, o = at; t < times; t++) for (let i = s; i < e; i++) dst[o++] = src[i];
    return;
  }
  if (n > SMALL_COPY) dst.set(src.subarray(s, e), at);
  else for (let i = 0; i < n; i++) dst[at + i] = src[s + i];
  // Double the copied run until it covers every repetition.
  for (let done = n; done < total;) {
    const c = done < total - done ? done : total - done;
    dst.copyWithin(at + done, at, at + c);
    done += c;
  }
}

/** Appends `rows` rows to `map`, each a copy of row `row` of `src` (an empty map when -1). */
export function fillMap(map: MapCol, src: MapCol, row: number, rows: number): void {
  const mLen = map.length;
  if (mLen + rows + 1 > map.offsets.length) {
    // Room for the row offsets (an empty row each first, then rewritten below).
    for (let i = 0; i < rows; i++) map.endSortedRow();
    map.length = mLen;
  }
  const mo = map.offsets, base = map.keys.length;
  const first = row < 0 ? 0 : src.offsets[row];
  const count = row < 0 ? 0 : src.offsets[row + 1] - first;
  if (count > 0) {
    fillEntries(map.keys, src.keys, first, count, rows);
    fillEntries(map.values, src.values, first, count, rows);
  }
  for (let i = 1; i <= rows; i++) mo[mLen + i] = base + i * count;
  map.length = mLen + rows;
}

/** Appends values `[first, first + count)` of `src` to `col`, `rows` times over. */
export function fillEntries(
  col: Utf8Col,
  src: Utf8Col,
  first: number,
  count: number,
  rows: number,
): void {
  const so = src.offsets, s = so[first], e = so[first + count], n = e - s;
  const len = col.length;
  col.reserve(n * rows, count * rows);
  const off = col.offsets, at = off[len];
  if (n > 0) repeatBlock(col.data, src.data, s, e, at, rows);
  let k = len;
  for (let i = 0; i < rows; i++) {
    const shift = at + i * n - s;
    for (let j = 1; j <= count; j++) off[++k] = so[first + j] + shift;
  }
  col.length = len + count * rows;
}
