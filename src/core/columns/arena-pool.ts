/**
 * A pool of arena ArrayBuffers in size classes (eighths of an octave), so a batch's merges reuse
 * the buffers of flushed tables instead of allocating new ones.
 */

/** Size classes per doubling of the size. */
const CLASSES_PER_OCTAVE = 8;
/** The class of the smallest buffer (8 bytes: log2(8) × 8). */
const MIN_CLASS = 3 * CLASSES_PER_OCTAVE;
/** Buffer sizes are multiples of this many bytes. */
const SIZE_ALIGN = 8;

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
  let c = Math.ceil(Math.log2(Math.max(bytes, SIZE_ALIGN)) * CLASSES_PER_OCTAVE);
  while (c > MIN_CLASS && classBytes(c - 1) >= bytes) c--; // rounding to 8 made a smaller class fit
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
  return Math.ceil(2 ** (c / CLASSES_PER_OCTAVE) / SIZE_ALIGN) * SIZE_ALIGN;
}
