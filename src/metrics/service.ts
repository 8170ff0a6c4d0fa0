/**
 * The service's own metrics: one `ServiceMetrics` per running app, built by the entry point
 * (when `server.metrics` is on) and handed to the parts that count: the HTTP app (requests,
 * records), the storage drivers (`storage`, a StorageObserver), the writer (`hooks.fileStored`
 * for files per table, `watchWriter` for its `stats()` at scrape time). It feeds both
 * `GET /metrics` (the registry) and `GET /api/stats` (`stats()`, the dashboard's JSON).
 *
 * For other features (transports, catalogs, forwarding):
 *
 *   metrics.request({ transport: "grpc", route: "/opentelemetry…LogsService/Export",
 *                     code: "OK", seconds, bytes, signal: "logs" });   // any finished request
 *   metrics.ingested("grpc", "logs", result.records, result.rejected); // after `ingest()`
 *   metrics.decompressed("grpc", "logs", body.length);
 *   metrics.addSource("catalog", () => catalog.stats(), {               // /metrics and /api/stats
 *     pendingFiles: { name: "otlp2parquet_catalog_pending_files", help: "…", type: "gauge" },
 *     commits: { name: "otlp2parquet_catalog_commits_total", help: "…", type: "counter" },
 *   });
 *   metrics.registry.counter({...})                                     // anything else (./registry.ts)
 *
 * Metric names (Prometheus conventions: `otlp2parquet_` prefix, base units, `_total` counters;
 * labels are bounded: no service names, which only /api/stats shows, top 10):
 *
 *   otlp2parquet_requests_total{transport,route,code}              counter
 *   otlp2parquet_request_duration_seconds{transport,route}         histogram
 *   otlp2parquet_request_body_bytes{transport,route,encoding}      histogram (bytes as received)
 *   otlp2parquet_decompressed_bytes_total{transport,signal}        counter
 *   otlp2parquet_records_received_total{transport,signal}          counter (accepted records)
 *   otlp2parquet_records_rejected_total{transport,signal}          counter (partial success)
 *   otlp2parquet_buffered_rows, _buffered_bytes, _buffer_limit_bytes, _buffers, _pending_files
 *   otlp2parquet_wal_bytes, _wal_segments, _wal_limit_bytes, _wal_syncs_total
 *   otlp2parquet_flush_failures_total, otlp2parquet_replayed_records_total
 *   otlp2parquet_files_written_total{table}, _rows_written_total{table}, _bytes_written_total{table}
 *   otlp2parquet_file_size_bytes{table}, otlp2parquet_flush_duration_seconds{table}   histograms
 *   otlp2parquet_storage_operations_total{backend,op}, _storage_errors_total{backend,op},
 *   otlp2parquet_storage_retries_total{backend,op}, _storage_operation_duration_seconds{backend,op}
 *   otlp2parquet_build_info{version}                                gauge, always 1
 *   process_* and otlp2parquet_event_loop_delay_seconds on servers (./process.node.ts)
 */
import type { Signal, TableName } from "../core/tables.ts";
import type { StoredFile, Writer, WriteRequest, WriterHooks, WriterStats } from "../batch/types.ts";
import type { StorageObserver, StorageOp } from "../storage/retry.ts";
import type { DestinationStats } from "../forward/index.ts";
import type { CounterSeries, HistogramSeries, SnapshotField } from "./registry.ts";
import { Registry } from "./registry.ts";
import { quantile, Timeline } from "./timeline.ts";

export type Transport = "http" | "grpc" | (string & Record<never, never>);

export interface RequestObservation {
  transport: Transport;
  /** A bounded route name: the path of a known endpoint, or "other". */
  route: string;
  /** HTTP status code, or gRPC status name. */
  code: string;
  seconds: number;
  /** Request body bytes as received (export requests). */
  bytes?: number;
  /** Content-Encoding of the body ("identity" when none). */
  encoding?: string;
  /** Set for OTLP export requests: they feed the dashboard's request rate and latency. */
  signal?: Signal;
}

export interface ServiceMetricsOptions {
  version: string;
  /** Limits shown next to the writer's figures. */
  limits?: { bufferedBytes?: number; walBytes?: number; walEnabled?: boolean; batching?: boolean };
  /** The clock, epoch ms (tests). */
  nowMs?: () => number;
}

export const SIGNALS: readonly Signal[] = ["logs", "traces", "metrics"];

/** Request durations, seconds. */
export const DURATION_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
/** Body and file sizes, bytes: 256 B to 64 MiB in steps of 4. */
export const SIZE_BUCKETS = [
  256,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  16777216,
  67108864,
];
/** Flushes and storage operations, seconds. */
export const FLUSH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const RECENT_FILES = 20;
const MAX_SERVICES = 1000;
const TOP_SERVICES = 10;
const OTHER_SERVICES = "(other)";
/** Window of the dashboard's latency quantiles. */
const LATENCY_WINDOW_MS = 60_000;

// Timeline fields: records per signal, rejected, export requests, 4xx, 5xx, latency buckets.
const F_REJECTED = 3, F_REQUESTS = 4, F_4XX = 5, F_5XX = 6, F_LATENCY = 7;

/** One `[[forward]]` destination on /api/stats: the forwarder's own stats. */
export type ForwardDestination = DestinationStats;

/** What `GET /api/stats` answers (documented in the README). */
export interface DashboardStats {
  version: string;
  /** Epoch ms of this snapshot, and when the metrics started. */
  now: number;
  startedAt: number;
  totals: {
    records: Record<Signal, number>;
    rejected: Record<Signal, number>;
    /** Export requests (every transport), by status code. */
    requests: number;
    byStatus: Record<string, number>;
    errors4xx: number;
    errors5xx: number;
    files: number;
    rows: number;
    bytes: number;
  };
  /**
   * Per-second rates over the last 15 minutes, one point per `stepSecs` (complete slots only),
   * the first starting at `from` (epoch ms).
   */
  rates: {
    stepSecs: number;
    from: number;
    records: Record<Signal, number[]>;
    requests: number[];
    errors: number[];
  };
  /** Export request latency over the last minute (seconds; null without requests). */
  latency: { windowSecs: number; p50: number | null; p99: number | null; requests: number };
  buffer: {
    batching: boolean;
    rows: number;
    bytes: number;
    limitBytes: number | null;
    openBuffers: number;
    pendingFiles: number;
  };
  wal: { enabled: boolean; bytes: number; segments: number; limitBytes: number | null };
  storage: {
    backend: string | null;
    operations: number;
    errors: number;
    retries: number;
    healthy: boolean;
    lastError: { op: string; message: string; at: number } | null;
    lastSuccessAt: number | null;
  };
  /** Sections added by other features (`addSource`), e.g. `catalog`. */
  sources: Record<string, Record<string, unknown> | null>;
  /** The `[[forward]]` destinations (none: empty), as the forwarder counts them. */
  forward: ForwardDestination[];
  recentFiles: {
    key: string;
    table: string;
    service: string;
    rows: number;
    bytes: number;
    storedAt: number;
  }[];
  topServices: { service: string; records: number }[];
}

interface RouteSeries {
  codes: Map<string, CounterSeries>;
  duration: HistogramSeries;
  sizes: Map<string, HistogramSeries>;
}

interface SignalSeries {
  received: CounterSeries;
  rejected: CounterSeries;
  decompressed: CounterSeries;
  /** The signal's timeline field. */
  field: number;
}

/** gRPC status names the dashboard counts with the 4xx (the client's to fix); others are 5xx. */
const GRPC_CLIENT_ERRORS = new Set([
  "INVALID_ARGUMENT",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "NOT_FOUND",
  "UNIMPLEMENTED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "OUT_OF_RANGE",
]);

/** The bucket index of `v` (the last one is +Inf). */
function bucketOf(bounds: readonly number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v > bounds[i]) i++;
  return i;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly startedAt: number;
  private readonly nowMs: () => number;
  private readonly version: string;
  private limits: NonNullable<ServiceMetricsOptions["limits"]>;

  // Hot-path series, bound once.
  private readonly requestsTotal;
  private readonly durations;
  private readonly bodySizes;
  private readonly received;
  private readonly rejected;
  private readonly decompressedBytes;
  private readonly filesTotal;
  private readonly rowsTotal;
  private readonly bytesTotal;
  private readonly fileSizes;
  private readonly flushDurations;
  private readonly storageOps;
  private readonly storageErrors;
  private readonly storageRetries;
  private readonly storageDurations;
  private readonly routes = new Map<string, Map<string, RouteSeries>>();
  private readonly signalsOf = new Map<string, Map<Signal, SignalSeries>>();

  private readonly timeline = new Timeline(F_LATENCY + DURATION_BUCKETS.length + 1);
  private readonly totals = {
    records: { logs: 0, traces: 0, metrics: 0 } as Record<Signal, number>,
    rejected: { logs: 0, traces: 0, metrics: 0 } as Record<Signal, number>,
    requests: 0,
    byStatus: {} as Record<string, number>,
    errors4xx: 0,
    errors5xx: 0,
    files: 0,
    rows: 0,
    bytes: 0,
  };
  private readonly recent: DashboardStats["recentFiles"] = [];
  private readonly services = new Map<string, number>();
  private readonly storageState: DashboardStats["storage"] = {
    backend: null,
    operations: 0,
    errors: 0,
    retries: 0,
    healthy: true,
    lastError: null,
    lastSuccessAt: null,
  };
  private writer?: Writer;
  private readonly sources = new Map<string, () => object | undefined>();
  private forward: () => ForwardDestination[] = () => [];

  constructor(opts: ServiceMetricsOptions) {
    this.nowMs = opts.nowMs ?? Date.now;
    this.startedAt = this.nowMs();
    this.version = opts.version;
    this.limits = opts.limits ?? {};
    const r = this.registry;
    r.gauge({
      name: "otlp2parquet_build_info",
      help: "Always 1; the version of the running otlp2parquet.",
      labels: ["version"],
    }).with({ version: opts.version }).set(1);
    this.requestsTotal = r.counter({
      name: "otlp2parquet_requests_total",
      help: "Requests answered, by transport, route and status code.",
      labels: ["transport", "route", "code"],
    });
    this.durations = r.histogram({
      name: "otlp2parquet_request_duration_seconds",
      help: "Time from receiving a request to answering it.",
      labels: ["transport", "route"],
      buckets: DURATION_BUCKETS,
    });
    this.bodySizes = r.histogram({
      name: "otlp2parquet_request_body_bytes",
      help: "Export request bodies as received (before decompression).",
      labels: ["transport", "route", "encoding"],
      buckets: SIZE_BUCKETS,
    });
    this.decompressedBytes = r.counter({
      name: "otlp2parquet_decompressed_bytes_total",
      help: "Export request bytes after decompression.",
      labels: ["transport", "signal"],
    });
    this.received = r.counter({
      name: "otlp2parquet_records_received_total",
      help: "Records accepted (log records, spans, data points): buffered or stored.",
      labels: ["transport", "signal"],
    });
    this.rejected = r.counter({
      name: "otlp2parquet_records_rejected_total",
      help: "Records rejected in partial_success answers (e.g. a data point without a value).",
      labels: ["transport", "signal"],
    });
    this.filesTotal = r.counter({
      name: "otlp2parquet_files_written_total",
      help: "Parquet files stored, by table.",
      labels: ["table"],
    });
    this.rowsTotal = r.counter({
      name: "otlp2parquet_rows_written_total",
      help: "Rows in stored Parquet files, by table.",
      labels: ["table"],
    });
    this.bytesTotal = r.counter({
      name: "otlp2parquet_bytes_written_total",
      help: "Bytes of stored Parquet files, by table.",
      labels: ["table"],
    });
    this.fileSizes = r.histogram({
      name: "otlp2parquet_file_size_bytes",
      help: "Sizes of stored Parquet files.",
      labels: ["table"],
      buckets: SIZE_BUCKETS,
    });
    this.flushDurations = r.histogram({
      name: "otlp2parquet_flush_duration_seconds",
      help: "Time to write one Parquet file out (waiting for its encoding, then storing it).",
      labels: ["table"],
      buckets: FLUSH_BUCKETS,
    });
    this.storageOps = r.counter({
      name: "otlp2parquet_storage_operations_total",
      help: "Storage operations (put, get, list, delete, check), retries not counted apart.",
      labels: ["backend", "op"],
    });
    this.storageErrors = r.counter({
      name: "otlp2parquet_storage_errors_total",
      help: "Storage operations that failed after their retries.",
      labels: ["backend", "op"],
    });
    this.storageRetries = r.counter({
      name: "otlp2parquet_storage_retries_total",
      help: "Storage attempts retried after a retryable failure.",
      labels: ["backend", "op"],
    });
    this.storageDurations = r.histogram({
      name: "otlp2parquet_storage_operation_duration_seconds",
      help: "Time of a storage operation, retries included.",
      labels: ["backend", "op"],
      buckets: FLUSH_BUCKETS,
    });
    // Series that exist from the start read 0 rather than missing (rates, alerts on absence).
    for (const signal of SIGNALS) this.signalSeries("http", signal);
    this.registerWriterGauges();
  }

  /** Limits shown on the dashboard next to the writer's figures (known once config is read). */
  setLimits(limits: NonNullable<ServiceMetricsOptions["limits"]>): void {
    this.limits = { ...this.limits, ...limits };
  }

  /** One finished request, of any transport. Cheap: a few property updates once warm. */
  request(o: RequestObservation): void {
    const r = this.routeSeries(o.transport, o.route);
    let total = r.codes.get(o.code);
    if (!total) {
      total = this.requestsTotal.with({ transport: o.transport, route: o.route, code: o.code });
      r.codes.set(o.code, total);
    }
    total.inc();
    const bucket = bucketOf(DURATION_BUCKETS, o.seconds);
    r.duration.observeAt(bucket, o.seconds);
    if (o.bytes !== undefined) {
      const enc = o.encoding || "identity";
      let size = r.sizes.get(enc);
      if (!size) {
        size = this.bodySizes.with({ transport: o.transport, route: o.route, encoding: enc });
        r.sizes.set(enc, size);
      }
      size.observe(o.bytes);
    }
    if (o.signal === undefined) return;
    // Export requests: the dashboard's totals, rates and latency.
    const t = this.totals;
    t.requests++;
    t.byStatus[o.code] = (t.byStatus[o.code] ?? 0) + 1;
    const slot = this.timeline.slot(this.nowMs());
    slot[F_REQUESTS]++;
    const c = o.code.charCodeAt(0);
    const numeric = c <= 57;
    if (numeric ? c === 52 : GRPC_CLIENT_ERRORS.has(o.code)) { // 4xx, or the gRPC codes like them
      t.errors4xx++;
      slot[F_4XX]++;
    } else if (numeric ? c >= 53 : o.code !== "OK") { // 5xx, or any other gRPC failure
      t.errors5xx++;
      slot[F_5XX]++;
    }
    slot[F_LATENCY + bucket]++;
  }

  /** Records one export request accepted and rejected (after `ingest()`). */
  ingested(transport: Transport, signal: Signal, records: number, rejected: number): void {
    const s = this.signalSeries(transport, signal);
    s.received.inc(records);
    if (rejected > 0) s.rejected.inc(rejected);
    this.totals.records[signal] += records;
    this.totals.rejected[signal] += rejected;
    const slot = this.timeline.slot(this.nowMs());
    slot[s.field] += records;
    slot[F_REJECTED] += rejected;
  }

  /** Bytes of an export request after decompression. */
  decompressed(transport: Transport, signal: Signal, bytes: number): void {
    this.signalSeries(transport, signal).decompressed.inc(bytes);
  }

  /** Writer hooks: counts every stored file (runs after any other hook, see `combineHooks`). */
  readonly hooks: WriterHooks = {
    fileStored: (f: StoredFile) => this.fileStored(f),
  };

  /** Tells `storage` of every operation (give it to `createStorage` / `withRetry`). */
  readonly storage: StorageObserver = {
    operation: (backend, op, ok, attempts, seconds, error) =>
      this.storageOperation(backend, op, ok, attempts, seconds, error),
  };

  /**
   * Reads `writer.stats()` at every scrape (buffers, write-ahead log, failures), and returns a
   * writer that counts records per service for the dashboard's top services.
   */
  watchWriter(writer: Writer): Writer {
    this.writer = writer;
    const count = (service: string, n: number) => {
      const services = this.services;
      const name = services.has(service) || services.size < MAX_SERVICES ? service : OTHER_SERVICES;
      services.set(name, (services.get(name) ?? 0) + n);
    };
    return {
      write: (req: WriteRequest) => {
        // Read before: the writer takes ownership of the partitions (and may add to them).
        const parts = req.partitions;
        if (parts.length === 1) {
          const service = parts[0].service, n = parts[0].rows.length;
          return writer.write(req).then(() => count(service, n));
        }
        const counts = parts.map((p) => [p.service, p.rows.length] as const);
        return writer.write(req).then(() => {
          for (const [service, n] of counts) count(service, n);
        });
      },
      flush: () => writer.flush(),
      close: () => writer.close(),
      stats: writer.stats ? () => writer.stats!() : undefined,
      admission: writer.admission ? (bytes: number) => writer.admission!(bytes) : undefined,
    };
  }

  /**
   * Figures another feature keeps (`read()`, e.g. `() => catalog.stats()`): the `fields` named
   * appear on /metrics, and the whole snapshot under `sources[name]` of /api/stats.
   */
  addSource<T extends object>(
    name: string,
    read: () => T | undefined,
    fields: { readonly [K in keyof T]?: SnapshotField },
  ): void {
    this.sources.set(name, read);
    this.registry.snapshot(read, fields);
  }

  /** The `[[forward]]` destinations' figures, for /api/stats (their /metrics are their own). */
  setForward(read: () => ForwardDestination[]): void {
    this.forward = read;
  }

  /** The dashboard's JSON (`GET /api/stats`). */
  stats(): DashboardStats {
    const now = this.nowMs();
    const step = this.timeline.slotMs / 1000;
    const { starts, values } = this.timeline.series(now);
    const perSec = (xs: number[]) => xs.map((x) => x / step);
    const win = this.timeline.window(now, LATENCY_WINDOW_MS);
    const lat = win.slice(F_LATENCY);
    const latCount = lat.reduce((a, b) => a + b, 0);
    const q = (x: number) => {
      const v = quantile(x, DURATION_BUCKETS, lat);
      return Number.isNaN(v) ? null : v;
    };
    const ws = this.writerStats();
    const l = this.limits;
    const sources: DashboardStats["sources"] = {};
    for (const [name, read] of this.sources) {
      try {
        sources[name] = (read() as Record<string, unknown> | undefined) ?? null;
      } catch {
        sources[name] = null;
      }
    }
    const top = [...this.services.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_SERVICES)
      .map(([service, records]) => ({ service, records }));
    const errors = values[F_4XX].map((v, i) => v + values[F_5XX][i]);
    return {
      version: this.version,
      now,
      startedAt: this.startedAt,
      totals: {
        ...this.totals,
        records: { ...this.totals.records },
        rejected: { ...this.totals.rejected },
        byStatus: { ...this.totals.byStatus },
      },
      rates: {
        stepSecs: step,
        from: starts[0] ?? now,
        records: {
          logs: perSec(values[0]),
          traces: perSec(values[1]),
          metrics: perSec(values[2]),
        },
        requests: perSec(values[F_REQUESTS]),
        errors: perSec(errors),
      },
      latency: {
        windowSecs: LATENCY_WINDOW_MS / 1000,
        p50: q(0.5),
        p99: q(0.99),
        requests: latCount,
      },
      buffer: {
        batching: l.batching ?? false,
        rows: ws?.bufferedRows ?? 0,
        bytes: ws?.bufferedBytes ?? 0,
        limitBytes: l.batching ? l.bufferedBytes ?? null : null,
        openBuffers: ws?.buffers ?? 0,
        pendingFiles: ws?.pendingFiles ?? 0,
      },
      wal: {
        enabled: l.walEnabled ?? false,
        bytes: ws?.walBytes ?? 0,
        segments: ws?.walSegments ?? 0,
        limitBytes: l.walEnabled ? l.walBytes ?? null : null,
      },
      storage: { ...this.storageState },
      sources,
      forward: this.forwardStats(),
      recentFiles: this.recent.map((f) => ({ ...f })),
      topServices: top,
    };
  }

  // ---- internals ----

  private forwardStats(): ForwardDestination[] {
    try {
      return this.forward().map((d) => ({ ...d }));
    } catch {
      return [];
    }
  }

  /** The series of one (transport, route), made on first use. */
  private routeSeries(transport: string, route: string): RouteSeries {
    let byRoute = this.routes.get(transport);
    if (!byRoute) this.routes.set(transport, byRoute = new Map());
    let r = byRoute.get(route);
    if (!r) {
      r = {
        codes: new Map(),
        duration: this.durations.with({ transport, route }),
        sizes: new Map(),
      };
      byRoute.set(route, r);
    }
    return r;
  }

  /** The series of one (transport, signal), made on first use. */
  private signalSeries(transport: string, signal: Signal): SignalSeries {
    let bySignal = this.signalsOf.get(transport);
    if (!bySignal) this.signalsOf.set(transport, bySignal = new Map());
    let s = bySignal.get(signal);
    if (!s) {
      s = {
        received: this.received.with({ transport, signal }),
        rejected: this.rejected.with({ transport, signal }),
        decompressed: this.decompressedBytes.with({ transport, signal }),
        field: SIGNALS.indexOf(signal),
      };
      bySignal.set(signal, s);
    }
    return s;
  }

  private fileStored(f: StoredFile): void {
    const table: TableName = f.table;
    this.filesTotal.with({ table }).inc();
    this.rowsTotal.with({ table }).inc(f.rows);
    this.bytesTotal.with({ table }).inc(f.bytes);
    this.fileSizes.with({ table }).observe(f.bytes);
    if (f.durationMs !== undefined) {
      this.flushDurations.with({ table }).observe(f.durationMs / 1000);
    }
    this.totals.files++;
    this.totals.rows += f.rows;
    this.totals.bytes += f.bytes;
    this.recent.unshift({
      key: f.key,
      table: f.table,
      service: f.service,
      rows: f.rows,
      bytes: f.bytes,
      storedAt: this.nowMs(),
    });
    if (this.recent.length > RECENT_FILES) this.recent.pop();
  }

  private storageOperation(
    backend: string,
    op: StorageOp,
    ok: boolean,
    attempts: number,
    seconds: number,
    error?: unknown,
  ): void {
    const labels = { backend, op };
    this.storageOps.with(labels).inc();
    this.storageDurations.with(labels).observe(seconds);
    const s = this.storageState;
    s.backend = backend;
    s.operations++;
    if (attempts > 1) {
      this.storageRetries.with(labels).inc(attempts - 1);
      s.retries += attempts - 1;
    }
    if (ok) {
      s.healthy = true;
      s.lastSuccessAt = this.nowMs();
      return;
    }
    this.storageErrors.with(labels).inc();
    s.errors++;
    s.healthy = false;
    s.lastError = {
      op,
      message: error instanceof Error ? error.message : String(error),
      at: this.nowMs(),
    };
  }

  private writerStats(): WriterStats | undefined {
    try {
      return this.writer?.stats?.();
    } catch {
      return undefined;
    }
  }

  private registerWriterGauges(): void {
    const r = this.registry;
    const g = (name: string, help: string) => r.gauge({ name, help });
    const c = (name: string, help: string) => r.counter({ name, help });
    const rows = g("otlp2parquet_buffered_rows", "Rows held in memory, not yet in a stored file.");
    const bytes = g(
      "otlp2parquet_buffered_bytes",
      "Approximate bytes held in memory (open buffers and files waiting to be stored).",
    );
    const limit = g(
      "otlp2parquet_buffer_limit_bytes",
      "batch.max_buffered_bytes: past it requests get 429 (0 without batching).",
    );
    const buffers = g("otlp2parquet_buffers", "Open buffers (one per table, service and hour).");
    const pending = g("otlp2parquet_pending_files", "Sealed files waiting to be stored.");
    const walBytes = g("otlp2parquet_wal_bytes", "Bytes of the write-ahead log on disk.");
    const walSegments = g("otlp2parquet_wal_segments", "Segment files of the write-ahead log.");
    const walLimit = g(
      "otlp2parquet_wal_limit_bytes",
      "batch.max_wal_bytes: past it requests get 503 (0 without a write-ahead log).",
    );
    const walSyncs = c("otlp2parquet_wal_syncs_total", "fsyncs of the write-ahead log.");
    const failures = c(
      "otlp2parquet_flush_failures_total",
      "Failed attempts to store a file (the data stays buffered and is retried).",
    );
    const replayed = c(
      "otlp2parquet_replayed_records_total",
      "Requests read back from the write-ahead log at start.",
    );
    this.registry.collect(() => {
      const s = this.writerStats();
      const l = this.limits;
      limit.set(l.batching ? l.bufferedBytes ?? 0 : 0);
      walLimit.set(l.walEnabled ? l.walBytes ?? 0 : 0);
      if (!s) return;
      rows.set(s.bufferedRows);
      bytes.set(s.bufferedBytes);
      buffers.set(s.buffers);
      pending.set(s.pendingFiles);
      walBytes.set(s.walBytes);
      walSegments.set(s.walSegments);
      walSyncs.set(s.walSyncs);
      failures.set(s.flushFailures);
      replayed.set(s.replayedRecords);
    });
  }
}

/**
 * Hooks that run `first`'s, then `then`'s: metrics count a file only once the others (a
 * catalog, which may fail and make the writer retry the file) have taken it.
 */
export function combineHooks(
  first: WriterHooks | undefined,
  then: WriterHooks | undefined,
): WriterHooks | undefined {
  if (!first?.fileStored) return then;
  if (!then?.fileStored) return first;
  return {
    async fileStored(f) {
      await first.fileStored!(f);
      await then.fileStored!(f);
    },
  };
}
