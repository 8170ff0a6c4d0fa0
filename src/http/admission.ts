/**
 * Cheap rejection: the bytes of request bodies in flight (read, being read, decompressed, being
 * decoded) have their own bound, `server.max_inflight_bytes`, and a request is answered 429 from
 * its headers when that bound or the writer's buffers are full, before a byte of its body is
 * read (see `admitRequest` in ./app.ts). A body without a `Content-Length` is counted as it is
 * read and cut off (429) at the bound.
 *
 * A request counts `WIRE_COPIES` × its bytes on the wire, plus its decompressed size when it was
 * compressed. A request is always admitted when nothing else is in flight, so one request as
 * large as `server.max_payload_bytes` can always get through: the bound on in-flight bytes is
 * max(max_inflight_bytes, 3 × max_payload_bytes) (../config/memory.ts).
 */
import { BackpressureError } from "../batch/types.ts";

/**
 * In-flight bytes per byte of a body on the wire: the body as read, and its copy in the
 * write-ahead log's buffer. A compressed body adds its decompressed size on top.
 */
export const WIRE_COPIES = 2;

export class InflightBudget {
  private held = 0;
  private peakBytes = 0;
  private rejectedCount = 0;

  constructor(readonly limit: number) {}

  /** Bytes reserved now. */
  get bytes(): number {
    return this.held;
  }

  /** Most bytes ever reserved at once. */
  get peak(): number {
    return this.peakBytes;
  }

  /** Requests refused for want of in-flight room so far. */
  get rejected(): number {
    return this.rejectedCount;
  }

  /**
   * Reserves `n` bytes if they fit, or if nothing but `own` bytes (the caller's own earlier
   * reservation) is reserved; false otherwise.
   */
  tryReserve(n: number, own = 0): boolean {
    if (n <= 0) return true;
    if (this.held - own > 0 && this.held + n > this.limit) {
      this.rejectedCount++;
      return false;
    }
    this.held += n;
    if (this.held > this.peakBytes) this.peakBytes = this.held;
    return true;
  }

  /** `tryReserve`, or the 429 that says why not. */
  reserve(n: number, own = 0): void {
    if (!this.tryReserve(n, own)) throw this.full(n);
  }

  release(n: number): void {
    if (n <= 0) return;
    this.held = Math.max(0, this.held - n);
  }

  /** The 429 for a request of `n` more bytes. */
  full(n: number): BackpressureError {
    return new BackpressureError(
      `Cannot accept the request now: request bodies in flight hold ${this.held} bytes and this one needs ${n} more (server.max_inflight_bytes = ${this.limit}); retry later`,
      1,
      429,
    );
  }
}

/**
 * A request's reservation in an `InflightBudget`: grows as its body is read (and decompressed),
 * released once when the request is done.
 */
export class Reservation {
  private bytes = 0;
  private done = false;

  constructor(private readonly budget: InflightBudget) {}

  /** Reserves `n` more bytes, or throws the 429. */
  add(n: number): void {
    if (this.done) return;
    this.budget.reserve(n, this.bytes);
    this.bytes += n;
  }

  /** Takes over `n` bytes already reserved in the budget (by the runtime entry, see body.ts). */
  adopt(n: number): void {
    this.bytes += n;
  }

  get size(): number {
    return this.bytes;
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.budget.release(this.bytes);
    this.bytes = 0;
  }
}

/**
 * What a runtime entry that reads bodies itself (Node, src/entry/platform.ts) asks before it
 * does: `refuse(declared)` says whether the app would answer from the headers alone (then the
 * entry hands the request over unread), `inflight` is where it reserves the body's bytes.
 */
export interface Admission {
  inflight: InflightBudget;
  refuse(declared: number): Error | null;
}
