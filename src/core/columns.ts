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
 * Offsets (Utf8Col, ListCol, MapCol) start at 0 in a builder that rows were appended to, but a
 * slice keeps a view of its source's offsets, so `offsets[0]` may be anything:
 * - Utf8Col: `data` is addressed by the offsets as they are (as in Arrow): value `i` is
 *   `data[offsets[i], offsets[i + 1])`, and `data` may hold bytes before `offsets[0]`.
 * - ListCol, MapCol: the child (`child`, `keys` and `values`) holds exactly this column's
 *   elements: row `i`'s are child rows `[offsets[i] - offsets[0], offsets[i + 1] - offsets[0])`.
 * Decoders only append to builders they made (offsets from 0); code that reads `offsets` of a
 * builder that may be a slice must follow these rules.
 */
import * as arrow from "apache-arrow";

const encoder = new TextEncoder();

function grow<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(
  buf: T,
  need: number,
): T {
  if (need <= buf.length) return buf;
  let n = Math.max(buf.length * 2, 64);
  while (n < need) n *= 2;
  const next = new (buf.constructor as new (n: number) => T)(n);
  next.set(buf);
  return next;
}

/**
 * Up to this many elements are copied by a loop rather than `subarray()` + `set()` (a view object
 * and a call each): what the chunks of small requests hold.
 */
const SMALL_COPY = 32;

/** Where `fit` carves its buffers from while `inArena` runs (null: a new ArrayBuffer each). */
let arena: ArrayBuffer | null = null;
let arenaAt = 0;

/**
 * Runs `fn` with `fit` (so `appendAll`) carving the buffers it needs out of one new ArrayBuffer
 * of `bytes` bytes, each 8-byte aligned, instead of allocating one ArrayBuffer per buffer; a
 * buffer that does not fit in what is left gets its own. One allocation instead of a hundred or
 * so per merged table: less work for the allocator and V8's ArrayBuffer sweeper, and the table's
 * buffers live and die together anyway.
 */
export function inArena<T>(bytes: number, fn: () => T): T {
  return inArenaOf(new ArrayBuffer(bytes), fn);
}

/** `inArena()` over the ArrayBuffer `buf` (e.g. one from an `ArenaPool`). */
export function inArenaOf<T>(buf: ArrayBuffer, fn: () => T): T {
  arena = buf;
  arenaAt = 0;
  try {
    return fn();
  } finally {
    arena = null;
  }
}

/**
 * ArrayBuffers of arenas whose rows are gone, kept for the next arenas: a batch's merges make an
 * arena of about the same size (~1 MB) over and over, and a flush lets go of a hundred at once.
 * Reusing them spares the allocator's zeroing and the garbage collector, which V8 runs more often
 * the more ArrayBuffer memory is allocated. Whoever gives a buffer back must hold no view of it.
 * Buffers carved by `fit` are written in full before they are read, so old bytes do not matter.
 */
export class ArenaPool {
  /** Kept buffers by their size (a size class's, see `classOf`). */
  private buckets = new Map<number, ArrayBuffer[]>();
  private held = 0;
  /** Takes served from kept buffers (tests, benchmarks). */
  reused = 0;

  /** `maxBytes`: what the pool keeps at most. */
  constructor(readonly maxBytes: number) {}

  /**
   * A buffer of at least `bytes` bytes: a kept one of its size class, else a new one of the
   * class's size (at most 9% more than asked: classes are eighths of an octave).
   */
  take(bytes: number): ArrayBuffer {
    const n = classBytes(classOf(bytes));
    const b = this.buckets.get(n)?.pop();
    if (b === undefined) return new ArrayBuffer(n);
    this.held -= n;
    this.reused++;
    return b;
  }

  /**
   * Keeps `buf` (nothing may still view it) for a later `take()`, if it has a class's size (as
   * the ones `take()` makes) and there is room.
   */
  give(buf: ArrayBuffer): void {
    const n = buf.byteLength;
    if (!isClassSize(n) || this.held + n > this.maxBytes) return;
    let list = this.buckets.get(n);
    if (list === undefined) this.buckets.set(n, list = []);
    list.push(buf);
    this.held += n;
  }

  /** Bytes kept. */
  get bytes(): number {
    return this.held;
  }

  /** Lets go of every kept buffer. */
  clear(): void {
    this.buckets.clear();
    this.held = 0;
  }
}

/** Size class of `bytes`: the smallest class whose `classBytes` holds it (eighths of an octave). */
function classOf(bytes: number): number {
  let c = Math.ceil(Math.log2(Math.max(bytes, 8)) * 8);
  while (c > 24 && classBytes(c - 1) >= bytes) c--; // rounding to 8 made a smaller class fit
  return c;
}

/** Whether `bytes` is the size of a class (only such buffers are kept). */
export function isClassSize(bytes: number): boolean {
  return bytes > 0 && classBytes(classOf(bytes)) === bytes;
}

/** What `ArenaPool.take(bytes)` returns: the size of `bytes`'s class. */
export function classSize(bytes: number): number {
  return classBytes(classOf(bytes));
}

/** Bytes of a buffer of class `c` (a multiple of 8, at least every size of the class). */
function classBytes(c: number): number {
  return Math.ceil(2 ** (c / 8) / 8) * 8;
}

type BufCtor<T> = { new (n: number): T; new (b: ArrayBuffer, at: number, n: number): T };

/** `buf` if it holds `need` elements, else a copy of its first `used` in one of exactly `need`. */
function fit<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(
  buf: T,
  used: number,
  need: number,
): T {
  if (need <= buf.length) return buf;
  const Ctor = buf.constructor as BufCtor<T>;
  const bytes = need * buf.BYTES_PER_ELEMENT;
  let next: T;
  if (arena !== null && arenaAt + bytes <= arena.byteLength) {
    next = new Ctor(arena, arenaAt, need);
    arenaAt += (bytes + 7) & ~7;
  } else {
    next = new Ctor(need);
  }
  next.set(buf.subarray(0, used) as never);
  return next;
}

/** Arrow type of our timestamps: `Timestamp(Nanosecond, "UTC")`. */
export const TS_TYPE = new arrow.TimestampNanosecond("UTC");

// Arrow types are immutable: one instance each, shared by every builder.
const UTF8 = new arrow.Utf8();
const BOOL = new arrow.Bool();
const UINT8 = new arrow.Uint8();
const UINT32 = new arrow.Uint32();
const INT32 = new arrow.Int32();
const FLOAT64 = new arrow.Float64();
const UINT64 = new arrow.Uint64();
const listTypes = new Map<arrow.DataType, arrow.List>();

// Shared empty buffers every builder starts with (making typed arrays is what costs when a
// request creates dozens of builders). Never written: every append checks capacity first and
// grows into a buffer of its own. ZERO_OFFSETS holds the `0` that offsets start with.
const EMPTY_U8 = new Uint8Array(0);
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);
const ZERO_OFFSETS = new Int32Array(1);

/** `List<child>` with non-null items, one instance per child type instance. */
function listOf(child: arrow.DataType): arrow.List {
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
    if (n > 32) this.data.set(src.subarray(start, end), at);
    else for (let i = 0; i < n; i++) this.data[at + i] = src[start + i];
    this.pushEnd(at + n);
  }

  appendString(s: string): void {
    const at = this.offsets[this.length];
    // A UTF-16 code unit becomes at most 3 UTF-8 bytes.
    const max = at + s.length * 3;
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
    const src = this.data, dst = out.data = new Uint8Array(Math.max(bytes, 16));
    let at = 0;
    for (let i = 0; i < indices.length; i++) {
      const s = this.offsets[indices[i]], e = this.offsets[indices[i] + 1];
      // A byte loop beats subarray()+set() (an object per value) for the usual short strings.
      if (e - s > 64) dst.set(src.subarray(s, e), at);
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
    if (n > 32) this.data.set(other.data.subarray(from, from + n), base);
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

type NumArray = Uint8Array | Int32Array | Uint32Array | Float64Array;

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
    return this.length * 8;
  }

  toData(): arrow.Data {
    const signed = !(this.type instanceof arrow.Uint64);
    const buf = this.halves.buffer.slice(
      this.halves.byteOffset,
      this.halves.byteOffset + 8 * this.length,
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

/** Sets `dst[at + 1 ..= at + n]` to `src[1 ..= n] + shift`. */
function appendOffsets(dst: Int32Array, at: number, src: Int32Array, n: number, shift: number) {
  for (let i = 1; i <= n; i++) dst[at + i] = src[i] + shift;
}

/** `offsets[0 ..= length]` starting from 0 (a copy only when they do not already). */
function fromZero(offsets: Int32Array, length: number): Int32Array {
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
function expandRanges(offsets: Int32Array, rows: Int32Array) {
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

/** A map already sorted and de-duplicated, ready to be appended to many rows by copying bytes. */
export interface PreparedMap {
  readonly count: number;
  readonly keys: Utf8Col;
  readonly values: Utf8Col;
}

/**
 * `Map<Utf8, Utf8>` (the schema's AttrMap): entries sorted ascending by key bytes (UTF-8 byte
 * order equals code point order), duplicate keys resolved first-wins.
 *
 * Use: `beginRow()`, then for each entry add a key (`keyBytes`/`keyString`) followed by its value
 * written into `pendingValues` (any of its append methods), then `endRow()`. Or append a
 * `PreparedMap` with `appendPrepared()`. Or append sorted, unique entries to `keys` and `values`
 * directly and call `endSortedRow()`.
 */
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
  private pk: Utf8Col | null = null;
  private pv: Utf8Col | null = null;
  private order = EMPTY_I32;

  /** Keys of the row being built, in arrival order (made on first use). */
  get pendingKeys(): Utf8Col {
    return this.pk ??= new Utf8Col();
  }

  /** Values of the row being built, in arrival order (made on first use). */
  get pendingValues(): Utf8Col {
    return this.pv ??= new Utf8Col();
  }

  beginRow(): void {
    this.pendingKeys.length = 0;
    this.pendingValues.length = 0;
  }

  keyBytes(src: Uint8Array, start: number, end: number): void {
    this.pendingKeys.appendBytes(src, start, end);
  }

  keyString(s: string): void {
    this.pendingKeys.appendString(s);
  }

  /** Drops the last pending entry (e.g. its value turned out to be invalid). */
  dropLast(): void {
    if (this.pendingKeys.length > this.pendingValues.length) this.pendingKeys.length--;
    else if (this.pendingKeys.length > 0) {
      this.pendingKeys.length--;
      this.pendingValues.length--;
    }
  }

  endRow(): void {
    this.appendSorted(this.pendingKeys, this.pendingValues);
    this.finishRow();
  }

  /** Sorts and de-duplicates the pending entries into a standalone map (e.g. resource attributes). */
  preparePending(): PreparedMap {
    const m = new MapCol();
    m.appendSorted(this.pendingKeys, this.pendingValues);
    return { count: m.keys.length, keys: m.keys, values: m.values };
  }

  appendPrepared(p: PreparedMap): void {
    if (p.count > 0) {
      this.keys.appendFrom(p.keys);
      this.values.appendFrom(p.values);
    }
    this.finishRow();
  }

  appendEmptyRow(): void {
    this.finishRow();
  }

  /**
   * Ends a row whose entries the caller appended to `keys` and `values` itself, already sorted by
   * key bytes and without duplicate keys (for decoders that sort at the source).
   */
  endSortedRow(): void {
    this.finishRow();
  }

  private finishRow(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[++this.length] = this.offsets[0] + this.keys.length;
  }

  private appendSorted(pk: Utf8Col, pv: Utf8Col): void {
    const n = Math.min(pk.length, pv.length);
    if (n === 0) return;
    if (this.order.length < n) this.order = new Int32Array(n * 2);
    const order = this.order; // entries [0, n) are used
    for (let i = 0; i < n; i++) order[i] = i;
    const ko = pk.offsets, kd = pk.data;
    // Insertion sort for the usual small maps (stable: first duplicate stays first).
    if (n <= 32) {
      for (let i = 1; i < n; i++) {
        const x = order[i];
        let j = i - 1;
        while (j >= 0 && compareRange(kd, ko[order[j]], ko[order[j] + 1], ko[x], ko[x + 1]) > 0) {
          order[j + 1] = order[j];
          j--;
        }
        order[j + 1] = x;
      }
    } else {
      const arr = Array.from(order.subarray(0, n));
      arr.sort((a, b) => compareRange(kd, ko[a], ko[a + 1], ko[b], ko[b + 1]) || a - b);
      order.set(arr);
    }
    // Copy in sorted order, skipping later duplicates; room is made once for the whole row.
    const keys = this.keys, values = this.values;
    const vo = pv.offsets, vd = pv.data;
    keys.reserve(ko[n], n);
    values.reserve(vo[n], n);
    const kOut = keys.data, kOff = keys.offsets, vOut = values.data, vOff = values.offsets;
    let kn = keys.length, vn = values.length, kAt = kOff[kn], vAt = vOff[vn];
    let prev = -1;
    for (let i = 0; i < n; i++) {
      const x = order[i];
      const ks = ko[x], ke = ko[x + 1];
      if (prev >= 0 && compareRange(kd, ko[prev], ko[prev + 1], ks, ke) === 0) continue;
      prev = x;
      kAt = copyBytes(kd, ks, ke, kOut, kAt);
      kOff[++kn] = kAt;
      vAt = copyBytes(vd, vo[x], vo[x + 1], vOut, vAt);
      vOff[++vn] = vAt;
    }
    keys.length = kn;
    values.length = vn;
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

/** Copies `src[start, end)` to `dst` at `at`; returns the end position in `dst`. */
function copyBytes(
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  at: number,
): number {
  const n = end - start;
  if (n > 32) dst.set(src.subarray(start, end), at);
  else for (let i = 0; i < n; i++) dst[at + i] = src[start + i];
  return at + n;
}

function compareRange(d: Uint8Array, as: number, ae: number, bs: number, be: number): number {
  const la = ae - as, lb = be - bs;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const x = d[as + i] - d[bs + i];
    if (x !== 0) return x;
  }
  return la - lb;
}

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
