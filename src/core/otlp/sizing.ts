/**
 * Column builders sized before decoding, from what the previous request of the same table
 * needed, so a request makes one allocation for all its column buffers instead of dozens of
 * builders each growing 64 → 128 → … with a copy per step (which was most of the cost of a small
 * request).
 *
 * After a request is decoded, `learnSizes()` records, per buffer of the table (the offsets and
 * bytes of every string column, the values of every number column, the parts of maps and lists,
 * in column order), the bytes it used per byte of protobuf input. `sizedTable()` then makes the
 * next table with every buffer a view into one `ArrayBuffer`, sized at those rates times the new
 * input's size plus a margin. A buffer that turns out too small grows as before (copying out of
 * the shared one), so an estimate only ever costs speed, never correctness. Without a history
 * (the first request of a table) the builders start empty.
 *
 * Rates rise at once and fall slowly (a tenth per request), so mixed traffic does not make every
 * other request grow its buffers. One shared buffer also caps what a skewed history can reserve:
 * at most `MAX_AMPLIFICATION` times the input (plus a little), scaled down to fit; and a table
 * that used less than half of it is copied into an exact-size buffer before it is returned.
 */
import {
  ArenaPool,
  BoolCol,
  classSize,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../columns/index.ts";
import { newTable, type TableBuilder, type TableName } from "../tables.ts";

/** Margin over the learned rate (buffers vary a little between similar requests). */
const MARGIN = 1.125;
/** Bytes added to every buffer that had any use (offsets need rows + 1, small requests vary). */
const PAD = 32;
/** A shared buffer never exceeds this many times the input bytes (plus `FLOOR`). */
const MAX_AMPLIFICATION = 16;
const FLOOR = 64 * 1024;
/** How fast a learned rate decays towards lower use, per request. */
const DECAY = 0.9;

/**
 * The shared buffer of sized tables, and how many builders still view it: the table, or the
 * slices `partition()` made of it. Each gives it up once (`releaseRows`) when its rows have been
 * copied elsewhere (merged into a batch chunk, or encoded); the last one hands the buffer to
 * `pool` for the next request. A builder that is never released (an error, write-through) just
 * leaves its buffer to the garbage collector.
 */
interface Backing {
  buf: ArrayBuffer;
  users: number;
}
const backing = new WeakMap<TableBuilder, Backing>();
/** Bytes of shared buffers kept for reuse by default. */
const POOL_BYTES = 32 * 1024 * 1024;
/** Shared buffers no builder views any more (zeroed again before reuse). */
let pool = new ArenaPool(POOL_BYTES);

/**
 * Keeps up to `bytes` of released shared buffers for the next requests instead of the default
 * 32 MiB (the `convert` command, whose inputs are files of tens of megabytes decoded one after
 * another: a fresh buffer each costs the kernel a page fault per 4 KiB).
 */
export function keepDecodeBuffers(bytes: number): void {
  pool.clear();
  pool = new ArenaPool(Math.max(bytes, POOL_BYTES));
}

/** Learned bytes per input byte, per buffer of each table (in `used` order). */
const rates = new Map<TableName, Float64Array>();
/** Tables `sizedTable` sized from a history, and the bytes of their shared buffer. */
const sized = new WeakMap<TableBuilder, number>();

type Buf = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** Used bytes of every buffer of `c`, appended to `out` (order: see `carve`). */
function used(c: Column, out: number[]): void {
  if (c instanceof Utf8Col) {
    out.push(4 * (c.length + 1), c.offsets[c.length]);
  } else if (c instanceof I64Col) {
    out.push(8 * c.length);
  } else if (c instanceof NumCol) {
    out.push(c.length * (c.values as Buf).BYTES_PER_ELEMENT);
  } else if (c instanceof BoolCol) {
    out.push(c.length);
  } else if (c instanceof MapCol) {
    out.push(4 * (c.length + 1));
    used(c.keys, out);
    used(c.values, out);
  } else if (c instanceof ListCol) {
    out.push(4 * (c.length + 1));
    used(c.child, out);
  } else {
    throw new TypeError(`internal: no sizing for column type "${String(c.type)}"`);
  }
}

/** Where `carve` is in the shared buffer and in the list of sizes. */
let ab: ArrayBuffer = new ArrayBuffer(0);
let at = 0;
let slot = 0;
let sizes: Int32Array = new Int32Array(0);

/** The next buffer's size in bytes (0: leave the column's empty buffer). */
function next(): number {
  return sizes[slot++];
}

interface BufCtor<T extends Buf> {
  new (b: ArrayBuffer, offset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** The next `n` bytes of the shared buffer as a `Ctor` view. */
function view<T extends Buf>(Ctor: BufCtor<T>, n: number): T {
  const v = new Ctor(ab, at, n / Ctor.BYTES_PER_ELEMENT);
  at += n;
  return v;
}

/**
 * Start and end of each string column's bytes in the shared buffer (`dataN` ints used): the
 * only parts of a reused buffer that are not zeroed again. A string's bytes are only ever read
 * between its offsets, which are written as it is appended, and they are most of the buffer;
 * every other part (offsets, whose first entry must read 0, numbers) is zeroed like a new buffer.
 */
let dataRanges = new Int32Array(64);
let dataN = 0;

/** `view` for the bytes of a string column (noted in `dataRanges`). */
function dataView(n: number): Uint8Array<ArrayBuffer> {
  if (dataN + 2 > dataRanges.length) {
    const next = new Int32Array(2 * dataRanges.length);
    next.set(dataRanges);
    dataRanges = next;
  }
  dataRanges[dataN++] = at;
  dataRanges[dataN++] = at + n;
  return view(Uint8Array, n);
}

/** Gives every buffer of `c` its part of the shared buffer (same order as `used`). */
function carve(c: Column): void {
  if (c instanceof Utf8Col) {
    const o = next(), d = next();
    if (o > 0) c.offsets = view(Int32Array, o);
    if (d > 0) c.data = dataView(d);
  } else if (c instanceof I64Col) {
    const n = next();
    if (n > 0) c.halves = view(Uint32Array, n);
  } else if (c instanceof NumCol) {
    const n = next();
    if (n > 0) c.values = view((c.values as Buf).constructor as BufCtor<Buf>, n) as never;
  } else if (c instanceof BoolCol) {
    const n = next();
    if (n > 0) c.values = view(Uint8Array, n);
  } else if (c instanceof MapCol) {
    const o = next();
    if (o > 0) c.offsets = view(Int32Array, o);
    carve(c.keys);
    carve(c.values);
  } else if (c instanceof ListCol) {
    const o = next();
    if (o > 0) c.offsets = view(Int32Array, o);
    carve(c.child);
  }
}

/**
 * A new, empty table whose buffers are sized for a request of `inputBytes` protobuf bytes from
 * what earlier requests of this table needed (empty builders when there is no history yet).
 */
export function sizedTable<T extends TableName>(table: T, inputBytes: number): TableBuilder<T> {
  const t = newTable(table);
  const r = rates.get(table);
  if (r === undefined) return t;
  if (sizes.length < r.length) sizes = new Int32Array(2 * r.length);
  let total = 0;
  for (let i = 0; i < r.length; i++) {
    // Multiples of 8 bytes keep every view aligned for its element size.
    const n = r[i] > 0 ? (Math.ceil((r[i] * inputBytes * MARGIN + PAD) / 8) * 8) : 0;
    sizes[i] = n;
    total += n;
  }
  const cap = MAX_AMPLIFICATION * inputBytes + FLOOR;
  if (total > cap) {
    const scale = cap / total;
    total = 0;
    for (let i = 0; i < r.length; i++) {
      sizes[i] = Math.floor(sizes[i] * scale / 8) * 8;
      total += sizes[i];
    }
  }
  if (total === 0) return t;
  const before = pool.reused;
  // The cap is exact: no room to round up to a size class then.
  ab = classSize(total) <= cap ? pool.take(total) : new ArrayBuffer(total);
  const reused = pool.reused !== before;
  at = 0;
  slot = 0;
  dataN = 0;
  for (const c of Object.values(t.cols as unknown as Record<string, Column>)) carve(c);
  if (reused) {
    // Zeroed like a new buffer, but for the strings' bytes (see `dataRanges`).
    const all = new Uint8Array(ab, 0, total);
    let from = 0;
    for (let i = 0; i < dataN; i += 2) {
      all.fill(0, from, dataRanges[i]);
      from = dataRanges[i + 1];
    }
    all.fill(0, from, total);
  }
  backing.set(t, { buf: ab, users: 1 });
  ab = new ArrayBuffer(0);
  sized.set(t, total);
  return t;
}

/**
 * `rows` (a table `sizedTable` made, or slices of one: see `shareRows`) no longer needs its
 * values: once every builder viewing the shared buffer said so, the buffer is reused. The
 * caller must hold no view of `rows` it reads later. Does nothing for other builders, or twice.
 */
export function releaseRows(rows: TableBuilder): void {
  const b = backing.get(rows);
  if (b === undefined) return;
  backing.delete(rows);
  if (--b.users === 0) pool.give(b.buf);
}

/**
 * `slices` view the values of `from` (made by `sizedTable`), which gives up its own claim: the
 * shared buffer is reused once each of them was released.
 */
export function shareRows(from: TableBuilder, slices: readonly TableBuilder[]): void {
  const b = backing.get(from);
  if (b === undefined) return;
  backing.delete(from);
  if (slices.length === 0) return; // nothing views it: left to the garbage collector
  b.users += slices.length - 1;
  for (const s of slices) backing.set(s, b);
}

/** Decode buffers reused so far, and the bytes kept for reuse now (tests, benchmarks). */
export function decodeBufferStats(): { reused: number; keptBytes: number } {
  return { reused: pool.reused, keptBytes: pool.bytes };
}

/** Lets go of the shared buffers kept for reuse (an idle server holds no spare memory). */
export function clearDecodeBuffers(): void {
  pool.clear();
}

/** Whether `sizedTable` sized `t` from a history (false: its builders started empty). */
export function wasSized(t: TableBuilder): boolean {
  return sized.has(t);
}

/** Bytes of the buffer `sizedTable` made for `t` (after `learnSizes`: what it kept), or 0. */
export function reservedBytes(t: TableBuilder): number {
  return sized.get(t) ?? 0;
}

/**
 * Records what the decoded table `t` used, from `inputBytes` protobuf bytes, for `sizedTable`.
 * A table that used less than half its shared buffer (the request was unlike the ones before,
 * say a metrics request with few points of this kind) is first copied into a buffer of its
 * exact size, so the rows kept for a batch do not hold on to the difference.
 */
export function learnSizes(t: TableBuilder, inputBytes: number): void {
  if (inputBytes <= 0 || t.length === 0) return;
  const u: number[] = [];
  const cols = Object.values(t.cols as unknown as Record<string, Column>);
  for (const c of cols) used(c, u);
  let r = rates.get(t.table);
  if (r === undefined || r.length !== u.length) {
    r = new Float64Array(u.length);
    rates.set(t.table, r);
  }
  for (let i = 0; i < u.length; i++) r[i] = Math.max(u[i] / inputBytes, r[i] * DECAY);
  const reserved = sized.get(t);
  if (reserved === undefined) return;
  if (sizes.length < u.length) sizes = new Int32Array(2 * u.length);
  let need = 0;
  for (let i = 0; i < u.length; i++) need += sizes[i] = Math.ceil(u[i] / 8) * 8;
  if (reserved <= 2 * need + FLOOR) return;
  ab = new ArrayBuffer(need); // exact size (reused later only if it is a size class's)
  at = 0;
  slot = 0;
  for (const c of cols) move(c);
  // Every buffer moved out: the old shared buffer is free now, the new one takes its place.
  const b = backing.get(t);
  if (b !== undefined && b.users === 1) {
    pool.give(b.buf);
    b.buf = ab;
  } else backing.delete(t);
  ab = new ArrayBuffer(0);
  sized.set(t, need);
}

/** A copy of the first `bytes` bytes of `buf` in the next part of the shared buffer. */
function moved<T extends Buf>(buf: T): T {
  const n = next();
  const Ctor = buf.constructor as BufCtor<T>;
  if (n === 0) return new Ctor(new ArrayBuffer(0), 0, 0);
  const v = view(Ctor, n);
  v.set(buf.subarray(0, Math.min(v.length, buf.length)) as never);
  return v;
}

/** Moves every buffer of `c` into its part of the shared buffer (same order as `used`). */
function move(c: Column): void {
  if (c instanceof Utf8Col) {
    c.offsets = moved(c.offsets);
    c.data = moved(c.data);
  } else if (c instanceof I64Col) {
    c.halves = moved(c.halves);
  } else if (c instanceof NumCol) {
    c.values = moved(c.values as Buf) as never;
  } else if (c instanceof BoolCol) {
    c.values = moved(c.values);
  } else if (c instanceof MapCol) {
    c.offsets = moved(c.offsets);
    move(c.keys);
    move(c.values);
  } else if (c instanceof ListCol) {
    c.offsets = moved(c.offsets);
    move(c.child);
  }
}

/** Forgets every learned size (tests). */
export function resetSizes(): void {
  rates.clear();
}
