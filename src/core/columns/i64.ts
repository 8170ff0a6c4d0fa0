/** I64Col: 64-bit integers (Int64, UInt64, Timestamp) as pairs of 32-bit halves. */
import * as arrow from "apache-arrow";
import { EMPTY_U32, fit, grow, SMALL_COPY } from "./buffers.ts";
import type { Column } from "./column.ts";

/** Bytes of one value. */
const VALUE_BYTES = 8;

/**
 * 64-bit integers (Int64, UInt64, Timestamp) stored as little-endian (lo, hi) 32-bit halves, so
 * decoders never make a BigInt or go through a float.
 */
export class I64Col implements Column {
  halves = EMPTY_U32;
  length = 0;
  constructor(readonly type: arrow.DataType) {}

  /** Appends the value whose low and high 32 bits are `lo` and `hi` (both read as unsigned). */
  append(lo: number, hi: number): void {
    if (2 * this.length + 2 > this.halves.length) {
      this.halves = grow(this.halves, 2 * this.length + 2);
    }
    this.halves[2 * this.length] = lo;
    this.halves[2 * this.length + 1] = hi;
    this.length++;
  }

  /** Appends a bigint (from the JSON path); wraps to 64 bits. */
  appendBigInt(v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.append(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  lo(i: number): number {
    return this.halves[2 * i];
  }

  hi(i: number): number {
    return this.halves[2 * i + 1];
  }

  byteSize(): number {
    return this.length * VALUE_BYTES;
  }

  toData(): arrow.Data {
    const signed = !(this.type instanceof arrow.Uint64);
    const buf = this.halves.buffer.slice(
      this.halves.byteOffset,
      this.halves.byteOffset + VALUE_BYTES * this.length,
    );
    return arrow.makeData({
      type: this.type as arrow.Int64,
      length: this.length,
      nullCount: 0,
      data: (signed ? new BigInt64Array(buf) : new BigUint64Array(buf)) as BigInt64Array,
    });
  }

  take(indices: Int32Array): I64Col {
    const out = new I64Col(this.type);
    out.halves = new Uint32Array(Math.max(2 * indices.length, 2));
    for (let i = 0; i < indices.length; i++) {
      out.halves[2 * i] = this.halves[2 * indices[i]];
      out.halves[2 * i + 1] = this.halves[2 * indices[i] + 1];
    }
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): I64Col {
    const out = new I64Col(this.type);
    out.halves = this.halves.subarray(2 * start, 2 * end);
    out.length = end - start;
    return out;
  }

  appendFrom(other: I64Col): void {
    const n = 2 * other.length, at = 2 * this.length;
    if (at + n > this.halves.length) this.halves = grow(this.halves, at + n);
    if (n > SMALL_COPY) this.halves.set(other.halves.subarray(0, n), at);
    else for (let i = 0, h = this.halves, o = other.halves; i < n; i++) h[at + i] = o[i];
    this.length += other.length;
  }

  appendAll(parts: readonly I64Col[]): void {
    let rows = 0;
    for (const p of parts) rows += p.length;
    this.halves = fit(this.halves, 2 * this.length, 2 * (this.length + rows));
    for (const p of parts) this.appendFrom(p);
  }
}
