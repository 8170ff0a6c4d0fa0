/** Utf8Col: variable-length UTF-8 strings, offsets into one byte buffer. */
import * as arrow from "apache-arrow";
import { EMPTY_U8, fit, grow, SMALL_COPY, ZERO_OFFSETS } from "./buffers.ts";
import { type Column, UTF8 } from "./column.ts";

const encoder = new TextEncoder();
/** `take()` copies values up to this many bytes by a loop, longer ones by `set()`. */
const TAKE_LOOP_MAX = 64;
/** Smallest data buffer `take()` makes (bytes). */
const TAKE_MIN_BYTES = 16;
/** The most UTF-8 bytes one UTF-16 code unit becomes. */
const UTF8_PER_UTF16 = 3;

/** Variable-length UTF-8 strings: offsets into one byte buffer. */
export class Utf8Col implements Column {
  readonly type: arrow.DataType = UTF8;
  // Builders start empty and allocate on the first append: a request makes dozens of them
  // (every column of every table, the maps' parts), and most stay small or unused.
  offsets = ZERO_OFFSETS;
  data = EMPTY_U8;
  length = 0;

  /** Bytes of the values. */
  get byteLength(): number {
    return this.offsets[this.length] - this.offsets[0];
  }

  /** Appends the UTF-8 bytes `src[start, end)` as one value (caller validated the UTF-8). */
  appendBytes(src: Uint8Array, start: number, end: number): void {
    const at = this.offsets[this.length];
    const n = end - start;
    if (at + n > this.data.length) this.data = grow(this.data, at + n);
    if (n > SMALL_COPY) this.data.set(src.subarray(start, end), at);
    else for (let i = 0; i < n; i++) this.data[at + i] = src[start + i];
    this.pushEnd(at + n);
  }

  appendString(s: string): void {
    const at = this.offsets[this.length];
    // A UTF-16 code unit becomes at most 3 UTF-8 bytes.
    const max = at + s.length * UTF8_PER_UTF16;
    if (max > this.data.length) this.data = grow(this.data, max);
    const { written } = encoder.encodeInto(s, this.data.subarray(at));
    this.pushEnd(at + written);
  }

  appendEmpty(): void {
    this.pushEnd(this.offsets[this.length]);
  }

  /**
   * Makes room for `rows` more values holding `bytes` more bytes, for writers that fill `data`
   * and `offsets` directly (then set `length`).
   */
  reserve(bytes: number, rows: number): void {
    const need = this.offsets[this.length] + bytes;
    if (need > this.data.length) this.data = grow(this.data, need);
    if (this.length + rows + 1 > this.offsets.length) {
      this.offsets = grow(this.offsets, this.length + rows + 1);
    }
  }

  /** `reserve()` to exactly that size, for a builder that will not grow again. */
  reserveExact(bytes: number, rows: number): void {
    const used = this.offsets[this.length];
    if (used + bytes > this.data.length) {
      const d = new Uint8Array(used + bytes);
      d.set(this.data.subarray(0, used));
      this.data = d;
    }
    if (this.length + rows + 1 > this.offsets.length) {
      const o = new Int32Array(this.length + rows + 1);
      o.set(this.offsets.subarray(0, this.length + 1));
      this.offsets = o;
    }
  }

  /** Bytes of value `i` (a view, valid until the next append). */
  bytesAt(i: number): Uint8Array {
    return this.data.subarray(this.offsets[i], this.offsets[i + 1]);
  }

  private pushEnd(end: number): void {
    if (this.length + 2 > this.offsets.length) {
      this.offsets = grow(this.offsets, this.length + 2);
    }
    this.offsets[++this.length] = end;
  }

  byteSize(): number {
    return this.offsets[this.length] - this.offsets[0] + 4 * (this.length + 1);
  }

  toData(): arrow.Data {
    return arrow.makeData({
      type: this.type as arrow.Utf8,
      length: this.length,
      nullCount: 0,
      valueOffsets: this.offsets.subarray(0, this.length + 1),
      data: this.data.subarray(0, this.offsets[this.length]),
    });
  }

  take(indices: Int32Array): Utf8Col {
    const out = new Utf8Col();
    let bytes = 0;
    for (let i = 0; i < indices.length; i++) {
      bytes += this.offsets[indices[i] + 1] - this.offsets[indices[i]];
    }
    out.offsets = new Int32Array(indices.length + 1);
    const src = this.data, dst = out.data = new Uint8Array(Math.max(bytes, TAKE_MIN_BYTES));
    let at = 0;
    for (let i = 0; i < indices.length; i++) {
      const s = this.offsets[indices[i]], e = this.offsets[indices[i] + 1];
      // A byte loop beats subarray()+set() (an object per value) for the usual short strings.
      if (e - s > TAKE_LOOP_MAX) dst.set(src.subarray(s, e), at);
      else for (let j = s; j < e; j++) dst[at + j - s] = src[j];
      at += e - s;
      out.offsets[i + 1] = at;
    }
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): Utf8Col {
    const out = new Utf8Col();
    out.offsets = this.offsets.subarray(start, end + 1);
    out.data = this.data.subarray(0, this.offsets[end]);
    out.length = end - start;
    return out;
  }

  appendFrom(other: Utf8Col): void {
    const base = this.offsets[this.length];
    const o = other.offsets, from = o[0], n = o[other.length] - from;
    // Called per row for prepared maps: no call or view allocation when nothing needs to grow.
    if (base + n > this.data.length) this.data = grow(this.data, base + n);
    if (n > SMALL_COPY) this.data.set(other.data.subarray(from, from + n), base);
    else for (let i = 0; i < n; i++) this.data[base + i] = other.data[from + i];
    if (this.length + other.length + 1 > this.offsets.length) {
      this.offsets = grow(this.offsets, this.length + other.length + 1);
    }
    const shift = base - from;
    for (let i = 1; i <= other.length; i++) this.offsets[this.length + i] = o[i] + shift;
    this.length += other.length;
  }

  appendAll(parts: readonly Utf8Col[]): void {
    let bytes = 0, rows = 0;
    for (const p of parts) {
      bytes += p.offsets[p.length] - p.offsets[0];
      rows += p.length;
    }
    const used = this.offsets[this.length];
    this.data = fit(this.data, used, used + bytes);
    this.offsets = fit(this.offsets, this.length + 1, this.length + rows + 1);
    for (const p of parts) this.appendFrom(p);
  }
}
