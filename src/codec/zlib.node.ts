/**
 * The HTTP layer's synchronous gzip / deflate decoder (`Inflate`, ../http/body.ts) over
 * node:zlib, which Deno, Bun and Node all provide: one call per body, stopped by zlib itself as
 * soon as the output passes the limit (`maxOutputLength`), so a bomb costs no more than the
 * limit. Measured on Deno 2.9 against `DecompressionStream`: 26 vs 45 µs for a 2.4 KB gzip'd
 * request, 120 vs 171 µs for 15 KB.
 */
import { constants, gunzipSync, gzip, inflateRawSync, inflateSync } from "node:zlib";
import type { Inflate } from "../http/body.ts";
import { startThread, type Thread, threadModule } from "../threads/thread.node.ts";
import type { FromGzip, ToGzip } from "./gzip-thread.node.ts";

/** zlib's default output chunk, used without a size hint. */
const DEFAULT_CHUNK = 16 * 1024;
/** A size hint is trusted up to this many times the compressed size. */
const MAX_RATIO = 64;

export function createInflate(): Inflate {
  return (data, format, limit) => {
    const opts = {
      maxOutputLength: Math.max(1, limit),
      chunkSize: chunkSize(data, format, limit),
    };
    let out: Uint8Array;
    try {
      out = format === "gzip"
        ? gunzipSync(data, opts)
        : format === "deflate"
        ? inflateSync(data, opts)
        : inflateRawSync(data, opts);
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new RangeError(`Decompressed body is larger than ${limit} bytes`);
      }
      // Only the limit is a RangeError: anything else is corrupt data.
      throw e instanceof RangeError ? new Error(e.message) : e;
    }
    // A plain view (a Buffer's slice() does not copy, unlike Uint8Array's).
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
}

/**
 * zlib's output chunk: the whole output in one chunk when its size is known (gzip's trailer
 * says it, for a single member), so there is one allocation and no concatenation (55 KB of
 * output: 190 → 120 µs). The hint is only a hint (a wrong one costs an allocation, never a
 * wrong result), bounded by the limit and by `MAX_RATIO` times the input.
 */
function chunkSize(data: Uint8Array, format: string, limit: number): number {
  const n = data.length;
  if (format !== "gzip" || n < 18) return DEFAULT_CHUNK;
  const size = (data[n - 4] | (data[n - 3] << 8) | (data[n - 2] << 16) | (data[n - 1] << 24)) >>> 0;
  // +1: room to see the end of the stream without starting another chunk.
  return Math.max(64, Math.min(size + 1, limit + 1, n * MAX_RATIO));
}

/**
 * gzip for outgoing bodies (forwarding, ../forward/send.ts): node:zlib's asynchronous gzip
 * (on Node and Bun it compresses on libuv's thread pool; Deno's node:zlib still spends part of
 * it on the calling thread) at level 1: several times faster than the default level for a few
 * percent more bytes on the wire.
 */
export function createGzip(): (data: Uint8Array) => Promise<Uint8Array> {
  return (data) =>
    new Promise((resolve, reject) =>
      gzip(
        data,
        { level: constants.Z_BEST_SPEED },
        (err, out) =>
          err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)),
      )
    );
}

/**
 * A gzip for outgoing bodies that must be closed (its thread stopped). `owned`: the caller gives
 * `data` up, so it may move to the thread instead of being copied (and is gone if that fails).
 */
export interface Gzip {
  (data: Uint8Array, owned?: boolean): Promise<Uint8Array>;
  /**
   * `bytes` of memory for a body to compress, from a small pool (its contents are whatever was
   * there): given as `owned` to this gzip, the memory comes back to the pool once compressed.
   * A forwarded export is merged into one (../forward/send.ts); a fresh megabyte each time costs
   * the event loop its zeroing and page faults (glibc maps allocations past
   * MALLOC_MMAP_THRESHOLD_ anew, and `deno task start` sets that to 128 KiB).
   */
  buffer(bytes: number): Uint8Array;
  close(): void;
}

/** Buffers kept for `Gzip.buffer`, at most, and the largest kept (a merged export: 4 MiB). */
const POOL_BUFFERS = 2;
const POOL_MAX_BYTES = 8 * 1024 * 1024;
/** Pooled buffers are allocated in steps of this (so one fits the next export too). */
const POOL_STEP = 256 * 1024;

/** The memory of `Gzip.buffer`: a few ArrayBuffers, handed out and given back whole. */
class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers handed out by `take`, until given back (only those may join the pool). */
  private readonly out = new WeakSet<ArrayBuffer>();

  take(bytes: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const cap = this.free[i].byteLength;
      if (cap >= bytes && (best < 0 || cap < this.free[best].byteLength)) best = i;
    }
    if (best < 0 && bytes > POOL_MAX_BYTES) return new Uint8Array(bytes); // never pooled
    const buf = best >= 0
      ? this.free.splice(best, 1)[0]
      : new ArrayBuffer(Math.ceil(Math.max(1, bytes) / POOL_STEP) * POOL_STEP);
    this.out.add(buf);
    return new Uint8Array(buf, 0, bytes);
  }

  /** Whether `data` lies in a buffer of this pool (so it may move away and come back). */
  owns(data: Uint8Array): boolean {
    return this.out.has(data.buffer as ArrayBuffer);
  }

  /**
   * Gives memory back. `moved`: it comes from the thread the pool's buffer was moved to (the
   * same memory in a new ArrayBuffer object, which the pool cannot recognise).
   */
  give(buf: ArrayBuffer, moved = false): void {
    if ((!moved && !this.out.has(buf)) || buf.byteLength === 0) return;
    this.out.delete(buf);
    if (this.free.length < POOL_BUFFERS) this.free.push(buf);
    else {
      // Keep the largest: the next export fits in it.
      let small = 0;
      for (let i = 1; i < this.free.length; i++) {
        if (this.free[i].byteLength < this.free[small].byteLength) small = i;
      }
      if (this.free[small].byteLength < buf.byteLength) this.free[small] = buf;
    }
  }
}

/**
 * `createGzip`, on its own thread where node:zlib would compress on the event loop (Deno's
 * node:zlib does: about 80 µs of the event loop's time per forwarded 45 KB request, a third of
 * what forwarding costs there). Bun and Node compress on libuv's thread pool already and get
 * `createGzip` as it is. The thread starts with the first body; if it cannot start, or fails,
 * bodies are compressed on the calling thread (the same bytes, only slower). The input moves
 * to the thread when the caller gives it up, else it is copied (a structured clone: 26 µs of
 * the event loop per forwarded request); the output moves back, and so does the input's
 * memory when it came from `buffer`.
 */
export function createThreadedGzip(onFail: (why: string) => void = () => {}): Gzip {
  const inline = createGzip();
  const pool = new BufferPool();
  /** Compressed here; a pooled input is reusable once that is done. */
  const here = async (data: Uint8Array, owned: boolean) => {
    try {
      return await inline(data);
    } finally {
      if (owned && pool.owns(data)) pool.give(data.buffer as ArrayBuffer);
    }
  };
  const buffer = (bytes: number) => pool.take(bytes);
  if ((globalThis as { Deno?: unknown }).Deno === undefined) {
    return Object.assign((data: Uint8Array, owned = false) => here(data, owned), {
      buffer,
      close() {},
    });
  }
  let thread: Promise<Thread<ToGzip> | null> | undefined;
  const jobs = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let failed = false;
  const fail = (why: string) => {
    if (failed) return;
    failed = true;
    onFail(why);
    for (const j of jobs.values()) j.reject(new Error(`the gzip thread failed: ${why}`));
    jobs.clear();
  };
  const start = () =>
    thread ??= startThread<ToGzip, FromGzip>(
      threadModule(import.meta.url, "codec", "gzip-thread"),
      "otlp2parquet-gzip",
      (m) => {
        if (m.input) pool.give(m.input, true);
        const j = jobs.get(m.id);
        if (!j) return;
        jobs.delete(m.id);
        if (m.bytes) j.resolve(m.bytes);
        else j.reject(new Error(m.error ?? "gzip failed"));
      },
      fail,
    ).catch((e) => {
      fail(e instanceof Error ? e.message : String(e));
      return null;
    });
  const gzip = (async (data: Uint8Array, owned = false) => {
    if (failed) return await here(data, owned);
    const t = await start();
    if (!t || failed) return await here(data, owned);
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        const id = nextId++;
        jobs.set(id, { resolve, reject });
        // Memory of the pool moves (and comes back); other memory only when it is all the
        // body's.
        const back = owned && pool.owns(data);
        const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
        if (back || (owned && whole)) t.post({ id, data, back }, [data.buffer as ArrayBuffer]);
        else t.post({ id, data, back: false });
      });
    } catch (e) {
      // The thread failed with this body in it: compress it here, if the caller still has it.
      if (data.byteLength > 0) return await here(data, owned);
      throw e;
    }
  }) as Gzip;
  gzip.buffer = buffer;
  gzip.close = () => {
    failed = true;
    void thread?.then((t) => t?.terminate());
  };
  return gzip;
}
