/**
 * Recent history for the dashboard without a timer: a ring of fixed-width time slots (default
 * 180 slots of 5 s = the last 15 minutes), each holding a few counters. Adding to a counter
 * finds the slot of the current time and clears it first when it belongs to an older lap of the
 * ring, so quiet periods read as zeros and nothing runs between requests.
 */
export class Timeline {
  private readonly data: Float64Array;
  /** The absolute slot number (time / width) each ring position holds, or -1. */
  private readonly owner: Float64Array;
  /** One view of `data` per slot. */
  private readonly views: Float64Array[];

  constructor(
    readonly fields: number,
    readonly slotMs = 5000,
    readonly slots = 180,
  ) {
    this.data = new Float64Array(fields * slots);
    this.owner = new Float64Array(slots).fill(-1);
    this.views = Array.from(
      { length: slots },
      (_, i) => this.data.subarray(i * fields, (i + 1) * fields),
    );
  }

  /** Adds `n` to `field` in the slot of `nowMs`. */
  add(field: number, n: number, nowMs: number): void {
    this.slot(nowMs)[field] += n;
  }

  /** The counters of the slot of `nowMs` (cleared first when the ring comes round to it). */
  slot(nowMs: number): Float64Array {
    const slot = Math.floor(nowMs / this.slotMs);
    const pos = slot % this.slots;
    if (this.owner[pos] !== slot) {
      this.owner[pos] = slot;
      this.views[pos].fill(0);
    }
    return this.views[pos];
  }

  /**
   * The last `count` complete slots before the one of `nowMs`, oldest first: their start times
   * (ms) and, per field, the values (0 for slots nothing was added to).
   */
  series(nowMs: number, count = this.slots - 1): { starts: number[]; values: number[][] } {
    const current = Math.floor(nowMs / this.slotMs);
    const n = Math.min(count, this.slots - 1);
    const starts: number[] = [];
    const values: number[][] = Array.from({ length: this.fields }, () => []);
    for (let slot = current - n; slot < current; slot++) {
      const pos = ((slot % this.slots) + this.slots) % this.slots;
      starts.push(slot * this.slotMs);
      const live = this.owner[pos] === slot;
      for (let f = 0; f < this.fields; f++) {
        values[f].push(live ? this.data[pos * this.fields + f] : 0);
      }
    }
    return { starts, values };
  }

  /** Sum of each field over the slots that end within the last `windowMs` (current one included). */
  window(nowMs: number, windowMs: number): number[] {
    const current = Math.floor(nowMs / this.slotMs);
    const n = Math.min(this.slots, Math.max(1, Math.ceil(windowMs / this.slotMs)));
    const out = new Array<number>(this.fields).fill(0);
    for (let slot = current - n + 1; slot <= current; slot++) {
      const pos = ((slot % this.slots) + this.slots) % this.slots;
      if (this.owner[pos] !== slot) continue;
      for (let f = 0; f < this.fields; f++) out[f] += this.data[pos * this.fields + f];
    }
    return out;
  }
}

/**
 * The `q` quantile (0–1) of observations counted per bucket (`counts[i]` for values ≤
 * `bounds[i]`, the last count for +Inf), interpolated inside its bucket as Prometheus's
 * `histogram_quantile` does. NaN without observations; the highest bound when it falls in +Inf.
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[]): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return NaN;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const prev = cum;
    cum += counts[i];
    if (cum >= rank && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - prev) / counts[i]);
    }
  }
  return bounds[bounds.length - 1];
}
