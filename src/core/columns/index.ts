/**
 * Growable column builders over typed arrays. Decoders append values straight into these (no
 * object per record); `toData()` hands the buffers to apache-arrow's `makeData`, which neither
 * copies them nor generates code (the Arrow builders do, and Workers forbid that).
 *
 * Every builder has `length` (rows appended), `take(indices)` (a new builder holding the
 * given rows, in that order) and `slice(start, end)` (rows start..end-1 without copying their
 * values) so one decoded request can be split by (service, hour), and `appendAll(parts)` (rows
 * of other builders, copied once into buffers of the exact size) so a batch can merge them.
 *
 * One module per column kind (utf8.ts, num.ts, i64.ts, bool.ts, list.ts, map.ts) over one shared
 * buffer builder (buffers.ts: growth, exact-size fits, arenas; arena-pool.ts reuses arenas);
 * fill.ts appends repeated values in bulk; column.ts holds the `Column` interface.
 *
 * Offsets (Utf8Col, ListCol, MapCol) start at 0 in a builder that rows were appended to, but a
 * slice keeps a view of its source's offsets, so `offsets[0]` may be anything:
 * - Utf8Col: `data` is addressed by the offsets as they are (as in Arrow): value `i` is
 *   `data[offsets[i], offsets[i + 1])`, and `data` may hold bytes before `offsets[0]`.
 * - ListCol, MapCol: the child (`child`, `keys` and `values`) holds exactly this column's
 *   elements: row `i`'s are child rows `[offsets[i] - offsets[0], offsets[i + 1] - offsets[0])`.
 * Decoders only append to builders they made (offsets from 0); code that reads `offsets` of a
 * builder that may be a slice must follow these rules.
 */
import { EMPTY_F64, EMPTY_I32, EMPTY_U32, EMPTY_U8 } from "./buffers.ts";
import { FLOAT64, INT32, TS_TYPE, UINT32, UINT64, UINT8 } from "./column.ts";
import { BoolCol } from "./bool.ts";
import { I64Col } from "./i64.ts";
import { ListCol } from "./list.ts";
import { MapCol } from "./map.ts";
import { NumCol } from "./num.ts";
import { Utf8Col } from "./utf8.ts";

export { inArena, inArenaOf } from "./buffers.ts";
export { ArenaPool, classSize, isClassSize } from "./arena-pool.ts";
export { type Column, TS_TYPE } from "./column.ts";
export { fillBytes, fillEntries, fillMap, repeatLast } from "./fill.ts";
export { BoolCol, I64Col, ListCol, MapCol, NumCol, Utf8Col };
export type { NumArray } from "./num.ts";

// Factories for the schema's column kinds.
const u8s = (n: number) => n === 0 ? EMPTY_U8 : new Uint8Array(n);
const u32s = (n: number) => n === 0 ? EMPTY_U32 : new Uint32Array(n);
const i32s = (n: number) => n === 0 ? EMPTY_I32 : new Int32Array(n);
const f64s = (n: number) => n === 0 ? EMPTY_F64 : new Float64Array(n);

export const col = {
  str: () => new Utf8Col(),
  u8: () => new NumCol(UINT8, u8s),
  u32: () => new NumCol(UINT32, u32s),
  i32: () => new NumCol(INT32, i32s),
  f64: () => new NumCol(FLOAT64, f64s),
  u64: () => new I64Col(UINT64),
  ts: () => new I64Col(TS_TYPE),
  bool: () => new BoolCol(),
  map: () => new MapCol(),
  listTs: () => new ListCol(new I64Col(TS_TYPE)),
  listStr: () => new ListCol(new Utf8Col()),
  listMap: () => new ListCol(new MapCol()),
  listF64: () => new ListCol(new NumCol(FLOAT64, f64s)),
  listU64: () => new ListCol(new I64Col(UINT64)),
};
