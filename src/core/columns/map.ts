/**
 * MapCol: `Map<Utf8, Utf8>` (the schema's AttrMap), entries sorted ascending by key bytes (UTF-8
 * byte order equals code point order), duplicate keys resolved first-wins.
 *
 * Writers append sorted, unique entries to `keys` and `values` themselves (the decoders sort at
 * the source, see src/core/otlp/attr-row.ts) and end each row with `endSortedRow()`.
 */
import * as arrow from "apache-arrow";
import { fit, grow, ZERO_OFFSETS } from "./buffers.ts";
import { appendOffsets, type Column, expandRanges, fromZero } from "./column.ts";
import { Utf8Col } from "./utf8.ts";

export class MapCol implements Column {
  static readonly ENTRIES_TYPE = new arrow.Struct([
    new arrow.Field("key", new arrow.Utf8(), false),
    new arrow.Field("value", new arrow.Utf8(), false),
  ]);
  static readonly TYPE = new arrow.Map_(
    new arrow.Field("entries", MapCol.ENTRIES_TYPE, false),
    true,
  );
  readonly type: arrow.DataType = MapCol.TYPE;
  offsets = ZERO_OFFSETS;
  keys = new Utf8Col();
  values = new Utf8Col();
  length = 0;

  /**
   * Ends a row whose entries the caller appended to `keys` and `values` itself, already sorted by
   * key bytes and without duplicate keys.
   */
  endSortedRow(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[++this.length] = this.offsets[0] + this.keys.length;
  }

  byteSize(): number {
    return 4 * (this.length + 1) + this.keys.byteSize() + this.values.byteSize();
  }

  toData(): arrow.Data {
    const entries = arrow.makeData({
      type: MapCol.ENTRIES_TYPE,
      length: this.keys.length,
      nullCount: 0,
      children: [this.keys.toData(), this.values.toData()],
    });
    return arrow.makeData({
      type: this.type as arrow.Map_,
      length: this.length,
      nullCount: 0,
      valueOffsets: fromZero(this.offsets, this.length),
      child: entries,
    });
  }

  take(indices: Int32Array): MapCol {
    const { indices: ci, offsets } = expandRanges(this.offsets, indices);
    const out = new MapCol();
    out.keys = this.keys.take(ci);
    out.values = this.values.take(ci);
    out.offsets = offsets;
    out.length = indices.length;
    return out;
  }

  slice(start: number, end: number): MapCol {
    const out = new MapCol();
    const o = this.offsets;
    const s = o[start] - o[0], e = o[end] - o[0];
    out.keys = this.keys.slice(s, e);
    out.values = this.values.slice(s, e);
    out.offsets = o.subarray(start, end + 1);
    out.length = end - start;
    return out;
  }

  appendFrom(other: MapCol): void {
    const shift = this.offsets[0] + this.keys.length - other.offsets[0];
    this.keys.appendFrom(other.keys);
    this.values.appendFrom(other.values);
    this.offsets = grow(this.offsets, this.length + other.length + 1);
    appendOffsets(this.offsets, this.length, other.offsets, other.length, shift);
    this.length += other.length;
  }

  appendAll(parts: readonly MapCol[]): void {
    let rows = 0;
    for (const p of parts) rows += p.length;
    this.offsets = fit(this.offsets, this.length + 1, this.length + rows + 1);
    let entries = this.offsets[0] + this.keys.length;
    this.keys.appendAll(parts.map((p) => p.keys));
    this.values.appendAll(parts.map((p) => p.values));
    for (const p of parts) {
      appendOffsets(this.offsets, this.length, p.offsets, p.length, entries - p.offsets[0]);
      this.length += p.length;
      entries += p.offsets[p.length] - p.offsets[0];
    }
  }
}
