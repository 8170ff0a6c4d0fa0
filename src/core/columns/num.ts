/** NumCol: fixed-width numbers (UInt8, Int32, UInt32, Float64), one typed array. */
import * as arrow from "apache-arrow";
import { fit, grow, SMALL_COPY } from "./buffers.ts";
import type { Column } from "./column.ts";

export type NumArray = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** Fixed-width numbers (UInt8, Int32, UInt32, Float64). */
export class NumCol<A extends NumArray> implements Column {
  values: A;
  length = 0;
  constructor(readonly type: arrow.DataType, make: (n: number) => A) {
    this.values = make(0);
  }

  append(v: number): void {
    if (this.length === this.values.length) this.values = grow(this.values, this.length + 1);
    this.values[this.length++] = v;
  }

  byteSize(): number {
    return this.length * this.values.BYTES_PER_ELEMENT;
  }

  toData(): arrow.Data {
    return arrow.makeData({
      type: this.type as arrow.Int,
      length: this.length,
      nullCount: 0,
      data: this.values.subarray(0, this.length) as Int32Array,
    });
  }

  take(indices: Int32Array): NumCol<A> {
    const out = new NumCol<A>(this.type, (n) => {
      const Ctor = this.values.constructor as new (n: number) => A;
      return new Ctor(Math.max(n, indices.length));
    });
    for (let i = 0; i < indices.length; i++) out.values[i] = this.values[indices[i]];
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): NumCol<A> {
    const out = new NumCol<A>(this.type, () => this.values.subarray(start, end) as A);
    out.length = end - start;
    return out;
  }

  appendFrom(other: NumCol<A>): void {
    const n = other.length, at = this.length;
    if (at + n > this.values.length) this.values = grow(this.values, at + n);
    // A loop for the few values of a small request's chunk: no view object, no call.
    if (n > SMALL_COPY) this.values.set(other.values.subarray(0, n) as never, at);
    else for (let i = 0, v = this.values, o = other.values; i < n; i++) v[at + i] = o[i];
    this.length = at + n;
  }

  appendAll(parts: readonly NumCol<A>[]): void {
    let rows = 0;
    for (const p of parts) rows += p.length;
    this.values = fit(this.values, this.length, this.length + rows);
    for (const p of parts) this.appendFrom(p);
  }
}
