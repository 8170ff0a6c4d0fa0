/**
 * A small metrics registry: counters, gauges and histograms with bounded label sets, rendered
 * in the Prometheus text exposition format or OpenMetrics (./exposition.ts). Portable: no
 * platform APIs, no timers; process figures come from ./process.node.ts on servers.
 *
 * API (what another feature uses to put its figures on /metrics):
 *
 *   const r = metrics.registry;                       // ServiceMetrics.registry (./service.ts)
 *   const sent = r.counter({
 *     name: "otlp2parquet_forwarded_requests_total",  // Prometheus names: base units, _total
 *     help: "Requests forwarded upstream.",
 *     labels: ["signal", "code"],                     // bounded values only (no service names)
 *   });
 *   const ok = sent.with({ signal: "logs", code: "200" });  // bind once, on the hot path:
 *   ok.inc();                                               //   a property add, nothing more
 *   r.gauge({ name: "otlp2parquet_queue_depth", help: "…" }).set(3);
 *   r.histogram({ name: "otlp2parquet_forward_duration_seconds", help: "…",
 *                 buckets: [0.01, 0.1, 1] }).observe(0.042);
 *
 *   // Figures another object keeps itself (a `stats()` snapshot) are read at scrape time:
 *   r.snapshot(() => catalog.stats(), {
 *     pendingFiles: { name: "otlp2parquet_catalog_pending_files", help: "…", type: "gauge" },
 *     commits: { name: "otlp2parquet_catalog_commits_total", help: "…", type: "counter" },
 *   });
 *   // or any callback: r.collect(() => { depth.set(queue.length); });
 *
 * Rules: a name is registered once; registering it again with the same type and labels returns
 * the same metric (so two parts may share one), anything else throws `TypeError`. Counter names
 * end in `_total`. Each metric keeps at most `maxSeries` label combinations (default 100): past
 * that, new combinations are counted under one series whose every label is "other", so a bug
 * that puts an unbounded value in a label cannot grow memory or the scrape without bound.
 * A collector that throws is skipped for that scrape (its metrics keep their last values).
 */

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricOptions<L extends string = never> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  name: string;
  help: string;
  /** Label names, in the order they are rendered. */
  labels?: readonly L[];
  /** Label combinations kept before new ones fold into the "other" series. Default 100. */
  maxSeries?: number;
}

export interface HistogramOptions<L extends string = never> extends MetricOptions<L> {
  /** Upper bounds, ascending (the `+Inf` bucket is implicit). */
  buckets: readonly number[];
}

export type LabelValues<L extends string> = { readonly [K in L]: string };

/** A counter series: only goes up (`set` is for counters mirrored from a cumulative snapshot). */
export interface CounterSeries {
  inc(n?: number): void;
  set(total: number): void;
  readonly value: number;
}

export interface GaugeSeries {
  set(v: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
  readonly value: number;
}

export interface HistogramSeries {
  observe(v: number): void;
  /** `observe(v)` for a caller that knows `v`'s bucket index already (the last is +Inf). */
  observeAt(bucket: number, v: number): void;
  /** Observations per bucket (not cumulative; the last one is `+Inf`), their sum and count. */
  readonly counts: Float64Array;
  readonly sum: number;
  readonly count: number;
}

/** One series of a family, as rendered. */
export interface Sample<S> {
  labels: readonly string[];
  series: S;
}

abstract class Family<L extends string, S> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly maxSeries: number;
  private readonly series = new Map<string, Sample<S>>();
  private unlabelled?: S;

  constructor(opts: MetricOptions<L>) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labels ?? [];
    this.maxSeries = opts.maxSeries ?? 100;
    for (const l of this.labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__") || l === "le" || l === "quantile") {
        throw new TypeError(`Invalid label name ${JSON.stringify(l)} for metric "${this.name}"`);
      }
    }
  }

  protected abstract create(): S;

  /** The series of these label values (created on first use). Bind once on hot paths. */
  with(labels: LabelValues<L>): S {
    const names = this.labelNames;
    if (names.length === 0) return this.root();
    let key = "";
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]];
      if (typeof v !== "string") {
        throw new TypeError(`Metric "${this.name}" needs label "${names[i]}"`);
      }
      key += i === 0 ? v : "\u0000" + v;
    }
    const found = this.series.get(key);
    if (found) return found.series;
    if (this.series.size >= this.maxSeries) {
      const other = names.map(() => OTHER);
      const k = other.join("\u0000");
      let s = this.series.get(k);
      if (!s) {
        s = { labels: other, series: this.create() };
        this.series.set(k, s);
      }
      return s.series;
    }
    const s = { labels: names.map((n) => labels[n]), series: this.create() };
    this.series.set(key, s);
    return s.series;
  }

  protected root(): S {
    if (this.labelNames.length > 0) {
      throw new TypeError(`Metric "${this.name}" has labels: use .with({...})`);
    }
    if (!this.unlabelled) {
      this.unlabelled = this.create();
      this.series.set("", { labels: [], series: this.unlabelled });
    }
    return this.unlabelled;
  }

  /** Every series so far, in creation order. */
  samples(): Sample<S>[] {
    return [...this.series.values()];
  }
}

/** The label value of the series that takes label combinations past `maxSeries`. */
export const OTHER = "other";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class CounterImpl implements CounterSeries {
  value = 0;
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
  set(total: number): void {
    this.value = total;
  }
}

class GaugeImpl implements GaugeSeries {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

class HistogramImpl implements HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.observeAt(i, v);
  }
  observeAt(bucket: number, v: number): void {
    this.counts[bucket]++;
    this.sum += v;
    this.count++;
  }
}

export class Counter<L extends string = never> extends Family<L, CounterSeries> {
  readonly type = "counter";
  constructor(opts: MetricOptions<L>) {
    super(opts);
    if (!opts.name.endsWith("_total")) {
      throw new TypeError(`Counter name "${opts.name}" must end in "_total"`);
    }
  }
  protected create(): CounterSeries {
    return new CounterImpl();
  }
  /** Adds `n` (default 1) to the unlabelled series. */
  inc(n = 1): void {
    this.root().inc(n);
  }
  /** Sets the unlabelled series (a counter mirrored from a cumulative snapshot). */
  set(total: number): void {
    this.root().set(total);
  }
  get value(): number {
    return this.root().value;
  }
}

export class Gauge<L extends string = never> extends Family<L, GaugeSeries> {
  readonly type = "gauge";
  protected create(): GaugeSeries {
    return new GaugeImpl();
  }
  set(v: number): void {
    this.root().set(v);
  }
  inc(n = 1): void {
    this.root().inc(n);
  }
  dec(n = 1): void {
    this.root().dec(n);
  }
  get value(): number {
    return this.root().value;
  }
}

export class Histogram<L extends string = never> extends Family<L, HistogramSeries> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  constructor(opts: HistogramOptions<L>) {
    super(opts);
    const b = opts.buckets;
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) {
      throw new TypeError(
        `Histogram "${opts.name}": buckets must be finite and ascending, got ${JSON.stringify(b)}`,
      );
    }
    this.buckets = [...b];
  }
  protected create(): HistogramSeries {
    return new HistogramImpl(this.buckets);
  }
  observe(v: number): void {
    this.root().observe(v);
  }
}

export type AnyFamily =
  | Counter<string>
  | Gauge<string>
  | Histogram<string>;

/** How one field of a `stats()` snapshot appears on /metrics (see `Registry.snapshot`). */
export interface SnapshotField {
  name: string;
  help: string;
  type: "counter" | "gauge";
  /** Multiplies the value (e.g. 0.001 for milliseconds → seconds). Default 1. */
  scale?: number;
}

export class Registry {
  private readonly families = new Map<string, AnyFamily>();
  private readonly collectors: (() => void)[] = [];

  counter<L extends string = never>(opts: MetricOptions<L>): Counter<L> {
    return this.add(opts, "counter", () => new Counter(opts)) as Counter<L>;
  }

  gauge<L extends string = never>(opts: MetricOptions<L>): Gauge<L> {
    return this.add(opts, "gauge", () => new Gauge(opts)) as Gauge<L>;
  }

  histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L> {
    return this.add(opts, "histogram", () => new Histogram(opts)) as unknown as Histogram<L>;
  }

  /**
   * Runs `fn` before every scrape (it sets gauges or mirrored counters from figures kept
   * elsewhere). Returns a function that removes it.
   */
  collect(fn: () => void): () => void {
    this.collectors.push(fn);
    return () => {
      const i = this.collectors.indexOf(fn);
      if (i >= 0) this.collectors.splice(i, 1);
    };
  }

  /**
   * Mirrors the numeric fields of a snapshot (`read()`, e.g. `() => catalog.stats()`) as
   * unlabelled metrics, read at every scrape. A field that is missing or not a finite number is
   * left at its last value; `read()` returning `undefined` skips the scrape.
   */
  snapshot<T extends object>(
    read: () => T | undefined,
    fields: { readonly [K in keyof T]?: SnapshotField },
  ): () => void {
    const bound: [keyof T, CounterSeries | GaugeSeries, number][] = [];
    for (const k of Object.keys(fields) as (keyof T)[]) {
      const f = fields[k]!;
      const m = f.type === "counter"
        ? this.counter({ name: f.name, help: f.help })
        : this.gauge({ name: f.name, help: f.help });
      bound.push([k, m.with({} as never), f.scale ?? 1]);
    }
    return this.collect(() => {
      const s = read();
      if (!s) return;
      for (const [k, series, scale] of bound) {
        const v = (s as Record<keyof T, unknown>)[k];
        if (typeof v === "number" && Number.isFinite(v)) series.set(v * scale);
      }
    });
  }

  /** Runs the collectors, then returns every family in registration order. */
  gather(): AnyFamily[] {
    for (const c of this.collectors) {
      try {
        c();
      } catch {
        // One broken source must not take the whole scrape down; its figures stay as they were.
      }
    }
    return [...this.families.values()];
  }

  /** The family registered under `name`, if any. */
  get(name: string): AnyFamily | undefined {
    return this.families.get(name);
  }

  private add(
    opts: MetricOptions<string>,
    type: MetricType,
    make: () => AnyFamily,
  ): AnyFamily {
    if (!METRIC_NAME.test(opts.name)) {
      throw new TypeError(`Invalid metric name ${JSON.stringify(opts.name)}`);
    }
    const existing = this.families.get(opts.name);
    if (existing) {
      const same = existing.type === type &&
        existing.labelNames.join(",") === (opts.labels ?? []).join(",");
      if (!same) {
        throw new TypeError(
          `Metric "${opts.name}" is already registered as a ${existing.type} with labels [${
            existing.labelNames.join(", ")
          }]`,
        );
      }
      return existing;
    }
    const f = make();
    this.families.set(opts.name, f);
    return f;
  }
}
