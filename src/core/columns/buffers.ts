/**
 * The buffer builder every column kind shares: typed arrays that grow by doubling (`grow`), or
 * to an exact size, optionally carved out of one arena ArrayBuffer (`fit`, `inArena`), plus the
 * shared empty buffers builders start with and the copy-loop threshold.
 */

/** Typed arrays a builder holds. */
export type Buf = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** Smallest capacity a buffer grows to (elements). */
const MIN_CAPACITY = 64;
/** Arena buffers start at multiples of this many bytes (the widest element, Float64). */
const ARENA_ALIGN = 8;

/** `buf` if it holds `need` elements, else a copy in one at least twice as large. */
export function grow<T extends Buf>(
  buf: T,
  need: number,
): T {
  if (need <= buf.length) return buf;
  let n = Math.max(buf.length * 2, MIN_CAPACITY);
  while (n < need) n *= 2;
  const next = new (buf.constructor as new (n: number) => T)(n);
  next.set(buf);
  return next;
}

/**
 * Up to this many elements are copied by a loop rather than `subarray()` + `set()` (a view object
 * and a call each): what the chunks of small requests hold.
 */
export const SMALL_COPY = 32;

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

type BufCtor<T> = { new (n: number): T; new (b: ArrayBuffer, at: number, n: number): T };

/** `buf` if it holds `need` elements, else a copy of its first `used` in one of exactly `need`. */
export function fit<T extends Buf>(
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
    arenaAt += (bytes + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
  } else {
    next = new Ctor(need);
  }
  next.set(buf.subarray(0, used) as never);
  return next;
}

// Shared empty buffers every builder starts with (making typed arrays is what costs when a
// request creates dozens of builders). Never written: every append checks capacity first and
// grows into a buffer of its own. ZERO_OFFSETS holds the `0` that offsets start with.
export const EMPTY_U8 = new Uint8Array(0);
export const EMPTY_U32 = new Uint32Array(0);
export const EMPTY_I32 = new Int32Array(0);
export const EMPTY_F64 = new Float64Array(0);
export const ZERO_OFFSETS = new Int32Array(1);
