/** BoolCol: booleans, a byte each while building, bit-packed for Arrow. */
import * as arrow from "apache-arrow";
import { EMPTY_U8, fit, grow, SMALL_COPY } from "./buffers.ts";
import { BOOL, type Column } from "./column.ts";

/** Booleans, one byte each while building, bit-packed by `toData()`. */
export class BoolCol implements Column {
  readonly type: arrow.DataType = BOOL;
  values = EMPTY_U8;
  length = 0;

  append(v: boolean): void {
    if (this.length === this.values.length) this.values = grow(this.values, this.length + 1);
    this.values[this.length++] = v ? 1 : 0;
  }

  byteSize(): number {
    return this.length;
  }

  toData(): arrow.Data {
    const bits = new Uint8Array((this.length + 7) >> 3);
    for (let i = 0; i < this.length; i++) if (this.values[i]) bits[i >> 3] |= 1 << (i & 7);
    return arrow.makeData({
      type: this.type as arrow.Bool,
      length: this.length,
      nullCount: 0,
      data: bits,
    });
  }

  take(indices: Int32Array): BoolCol {
    const out = new BoolCol();
    out.values = new Uint8Array(Math.max(indices.length, 1));
    for (let i = 0; i < indices.length; i++) out.values[i] = this.values[indices[i]];
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): BoolCol {
    const out = new BoolCol();
    out.values = this.values.subarray(start, end);
    out.length = end - start;
    return out;
  }

  appendFrom(other: BoolCol): void {
    const n = other.length, at = this.length;
    if (at + n > this.values.length) this.values = grow(this.values, at + n);
    if (n > SMALL_COPY) this.values.set(other.values.subarray(0, n), at);
    else for (let i = 0, v = this.values, o = other.values; i < n; i++) v[at + i] = o[i];
    this.length = at + n;
  }

  appendAll(parts: readonly BoolCol[]): void {
    let rows = 0;
    for (const p of parts) rows += p.length;
    this.values = fit(this.values, this.length, this.length + rows);
    for (const p of parts) this.appendFrom(p);
  }
}
