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

  /** Called whenever bytes are released (room may have freed: ./AdmissionQueue's pump). */
  onRelease: (() => void) | undefined;

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
    this.onRelease?.();
  }

  /** The 429 for a request of `n` more bytes. */
  full(n: number): BackpressureError {
    return new InflightFullError(
      `Cannot accept the request now: request bodies in flight hold ${this.held} bytes and this one needs ${n} more (server.max_inflight_bytes = ${this.limit}); retry later`,
    );
  }
}

/** The 429 of a full in-flight budget (`server.max_inflight_bytes`). */
export class InflightFullError extends BackpressureError {
  constructor(message: string) {
    super(message, 1, 429);
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

  /** Reserves `n` more bytes if they fit (see `InflightBudget.tryReserve`). */
  tryAdd(n: number): boolean {
    if (this.done) return false;
    if (!this.budget.tryReserve(n, this.bytes)) return false;
    this.bytes += n;
    return true;
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
  /**
   * Admits a request of `declared` body bytes, reserving `WIRE_COPIES` × them, at once or after
   * waiting for room (`AdmissionQueue`); or the refusal to answer with.
   */
  admit(declared: number): Error | null | Promise<Error | null>;
  queue: AdmissionQueue;
}

/** Why a request was refused from its headers (the `reason` label of the refusals metric). */
export type RefusalReason = "buffers" | "inflight" | "waiting" | "unavailable";

/** Refusals from the headers by reason, and what the wait for room did. */
export interface AdmissionStats {
  /** Requests waiting for room now. */
  waiting: number;
  /** Requests admitted after waiting for room. */
  admittedAfterWait: number;
  /** Requests refused (429/503 from the headers), by reason. */
  refused: Record<RefusalReason, number>;
}

interface Waiter {
  attempt: () => Error | null;
  bytes: number;
  deadline: number;
  last: Error;
  resolve: (e: Error | null) => void;
}

/**
 * Room to wait in: a request refused from its headers with a 429 (buffers or in-flight bytes
 * full) waits, its body unread, up to `waitMs` for room, first come first served, and is let in
 * as soon as there is room; only then is its body read. Past `waitMs` it gets its 429. Without
 * it, a client that retries sooner than `Retry-After` asks makes the server take in a whole body
 * per 429 (every runtime reads an unread body to its end, and Deno then closes the connection):
 * at 64 clients the 429s cost more CPU than the requests served. A waiting request costs no
 * CPU (the client stops on TCP flow control) and no in-flight bytes; at most `maxWaiting` wait
 * (past that, the 429 at once). 503s (shutting down, write-ahead log full, storage failing) are
 * answered at once.
 */
export class AdmissionQueue {
  private queue: Waiter[] = [];
  private queuedBytes = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private afterWait = 0;
  private refusedBy: Record<RefusalReason, number> = {
    buffers: 0,
    inflight: 0,
    waiting: 0,
    unavailable: 0,
  };

  constructor(
    readonly waitMs: number,
    readonly maxWaiting: number,
    /**
     * Most body bytes the waiting requests declare together (a runtime may read some of a
     * waiting body ahead into its buffers: Deno does, on a reused connection).
     */
    readonly maxWaitingBytes = Infinity,
    /** How often waiters are tried again besides when in-flight bytes are released, ms. */
    readonly pollMs = 10,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  stats(): AdmissionStats {
    return {
      waiting: this.queue.length,
      admittedAfterWait: this.afterWait,
      refused: { ...this.refusedBy },
    };
  }

  /**
   * Runs `attempt` (which checks for room and reserves it, synchronously: null when it did, or
   * the refusal) now or, when it refuses with a 429, again whenever room may have freed until
   * `waitMs` passed. Resolves null once admitted, or with the refusal to answer.
   */
  admit(attempt: () => Error | null, bytes = 0): Error | null | Promise<Error | null> {
    if (this.queue.length > 0) this.pump();
    const full = () =>
      this.queue.length >= this.maxWaiting ||
      (this.queue.length > 0 && this.queuedBytes + bytes > this.maxWaitingBytes);
    if (this.queue.length === 0) {
      const e = attempt();
      if (e === null) return null;
      if (this.waitMs <= 0 || !waitable(e)) return this.refuse(e);
      if (full()) return this.refuse(e, "waiting");
      return this.enqueue(attempt, e, bytes);
    }
    // Others wait already: behind them (a newcomer does not overtake), or refused at once.
    if (full()) return this.refuse(this.queue[0].last, "waiting");
    return this.enqueue(attempt, this.queue[0].last, bytes);
  }

  /** Tries the waiters again, first come first served (call when room may have freed). */
  pump(): void {
    const now = this.now();
    while (this.queue.length > 0) {
      const w = this.queue[0];
      const e = w.attempt();
      if (e === null) {
        this.take();
        this.afterWait++;
        w.resolve(null);
        continue;
      }
      w.last = e;
      if (!waitable(e)) {
        this.take();
        w.resolve(this.refuse(e));
        continue;
      }
      break;
    }
    // Those past their deadline get their 429 (in order, the head included).
    while (this.queue.length > 0 && this.queue[0].deadline <= now) {
      const w = this.take();
      w.resolve(this.refuse(w.last));
    }
    // A waiter behind the head may be past its deadline only if waitMs changed: not here.
    if (this.queue.length === 0) this.stop();
  }

  /** Answers every waiter with its refusal (shutdown). */
  close(): void {
    for (const w of this.queue.splice(0)) w.resolve(this.refuse(w.last));
    this.queuedBytes = 0;
    this.stop();
  }

  private take(): Waiter {
    const w = this.queue.shift()!;
    this.queuedBytes -= w.bytes;
    return w;
  }

  private enqueue(
    attempt: () => Error | null,
    last: Error,
    bytes: number,
  ): Promise<Error | null> {
    return new Promise((resolve) => {
      this.queuedBytes += bytes;
      this.queue.push({ attempt, bytes, deadline: this.now() + this.waitMs, last, resolve });
      this.timer ??= setInterval(() => this.pump(), this.pollMs);
    });
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private refuse(e: Error, reason?: RefusalReason): Error {
    this.refusedBy[reason ?? reasonOf(e)]++;
    return e;
  }
}

/** Refusals worth waiting out: the 429s (room frees as requests finish and flushes complete). */
function waitable(e: Error): boolean {
  return (e as { status?: number }).status === 429;
}

function reasonOf(e: Error): RefusalReason {
  if ((e as { status?: number }).status !== 429) return "unavailable";
  return e instanceof InflightFullError ? "inflight" : "buffers";
}
