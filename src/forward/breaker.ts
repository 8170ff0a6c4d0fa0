/**
 * The circuit breaker of one forward destination:
 *
 *   closed     requests are sent; `failure_threshold` consecutive failures open it
 *   open       nothing is sent for `open_secs` (or longer when the remote said Retry-After);
 *              requests wait in the queue
 *   half-open  after that, one probe goes through: success closes it, failure opens it again
 *
 * The forwarder sends one request at a time per destination, so "one probe" needs no lock.
 */

export type BreakerState = "closed" | "open" | "half-open";

/** The gauge value of each state on /metrics. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = {
  closed: 0,
  "half-open": 1,
  open: 2,
};

export class Breaker {
  state: BreakerState = "closed";
  /** Consecutive failures. */
  failures = 0;
  /** While open: when the probe may go (epoch ms). */
  openUntil = 0;
  /** Times it opened. */
  opened = 0;

  constructor(
    readonly threshold: number,
    readonly openMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before the next send (0 when it may go now); moves open → half-open. */
  waitMs(): number {
    if (this.state !== "open") return 0;
    const left = this.openUntil - this.now();
    if (left > 0) return left;
    this.state = "half-open";
    return 0;
  }

  success(): BreakerState {
    const before = this.state;
    this.state = "closed";
    this.failures = 0;
    return before;
  }

  /**
   * A failed send; `retryAfterMs` is what the remote asked for. Returns true when this opened
   * the breaker.
   */
  failure(retryAfterMs = 0): boolean {
    this.failures++;
    if (
      this.state === "half-open" || (this.state === "closed" && this.failures >= this.threshold)
    ) {
      this.state = "open";
      this.openUntil = this.now() + Math.max(this.openMs, retryAfterMs);
      this.opened++;
      return true;
    }
    return false;
  }
}

/** Backoff before retry `attempt` (1-based) while the breaker is closed: 200 ms doubling to 30 s, ±20 %. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 200 * 2 ** Math.min(20, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
