/** ListCol: `List<T>` of any other column kind, offsets into its child builder. */
import * as arrow from "apache-arrow";
import { fit, grow, ZERO_OFFSETS } from "./buffers.ts";
import { appendOffsets, type Column, expandRanges, fromZero, listOf } from "./column.ts";

/**
 * `List<T>` with non-null elements. Append the row's elements to `child`, then call `endRow()`.
 */
export class ListCol<C extends Column> implements Column {
  readonly type: arrow.DataType;
  offsets = ZERO_OFFSETS;
  length = 0;
  constructor(public child: C) {
    this.type = listOf(child.type);
  }

  endRow(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[++this.length] = this.offsets[0] + this.child.length;
  }

  byteSize(): number {
    return 4 * (this.length + 1) + this.child.byteSize();
  }

  toData(): arrow.Data {
    return arrow.makeData({
      type: this.type as arrow.List,
      length: this.length,
      nullCount: 0,
      valueOffsets: fromZero(this.offsets, this.length),
      child: this.child.toData(),
    });
  }

  take(indices: Int32Array): ListCol<C> {
    const childIdx = expandRanges(this.offsets, indices);
    const out = new ListCol(this.child.take(childIdx.indices) as C);
    out.offsets = childIdx.offsets;
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): ListCol<C> {
    const o = this.offsets;
    const out = new ListCol(this.child.slice(o[start] - o[0], o[end] - o[0]) as C);
    out.offsets = o.subarray(start, end + 1);
    out.length = end - start;
    return out;
  }

  appendFrom(other: ListCol<C>): void {
    const shift = this.offsets[0] + this.child.length - other.offsets[0];
    this.child.appendFrom(other.child);
    this.offsets = grow(this.offsets, this.length + other.length + 1);
    appendOffsets(this.offsets, this.length, other.offsets, other.length, shift);
    this.length += other.length;
  }

  appendAll(parts: readonly ListCol<C>[]): void {
    let rows = 0;
    for (const p of parts) rows += p.length;
    this.offsets = fit(this.offsets, this.length + 1, this.length + rows + 1);
    let childRows = this.offsets[0] + this.child.length;
    this.child.appendAll(parts.map((p) => p.child));
    for (const p of parts) {
      appendOffsets(this.offsets, this.length, p.offsets, p.length, childRows - p.offsets[0]);
      this.length += p.length;
      childRows += p.offsets[p.length] - p.offsets[0];
    }
  }
}
