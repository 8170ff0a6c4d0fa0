/**
 * Metrics: what other parts import. A `ServiceMetrics` (./service.ts) is made per running app
 * by the entry point (`metricsFor(config)` in ../entry/assemble.ts, when `server.metrics` is on)
 * and reaches the parts that count; its `registry` (./registry.ts) takes any other feature's
 * metrics, and `addSource` a `stats()` snapshot read at scrape time:
 *
 *   // the gRPC transport: a finished call, and what it ingested
 *   metrics?.request({ transport: "grpc", route: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
 *                      code: "OK", seconds, bytes: body.length, encoding: "gzip", signal: "logs" });
 *   metrics?.ingested("grpc", "logs", result.records, result.rejected);
 *   metrics?.decompressed("grpc", "logs", body.length);
 *
 *   // the Iceberg catalog: pending files and commits, on /metrics and under /api/stats `sources.catalog`
 *   metrics?.addSource("catalog", () => catalog.stats(), {
 *     pendingFiles: { name: "otlp2parquet_catalog_pending_files", help: "Files stored, not committed yet.", type: "gauge" },
 *     commits: { name: "otlp2parquet_catalog_commits_total", help: "Catalog commits.", type: "counter" },
 *   });
 *
 *   // anything else: bounded labels, bound once on the hot path
 *   const forwarded = metrics.registry.counter({ name: "otlp2parquet_forwarded_requests_total",
 *     help: "Requests forwarded upstream.", labels: ["signal", "code"] });
 *   forwarded.with({ signal: "logs", code: "200" }).inc();
 *
 * Rendering for scrapers is ./exposition.ts (text 0.0.4 or OpenMetrics by Accept); the HTTP
 * routes (/metrics, /api/stats, /dashboard) are ./routes.ts; process figures on servers are
 * ./process.node.ts (import it lazily from portable code).
 */
export {
  Counter,
  Gauge,
  Histogram,
  type HistogramOptions,
  type MetricOptions,
  OTHER,
  Registry,
  type SnapshotField,
} from "./registry.ts";
export { CONTENT_TYPES, type ExpositionFormat, negotiate, render } from "./exposition.ts";
export {
  combineHooks,
  type DashboardStats,
  type RequestObservation,
  ServiceMetrics,
  type Transport,
} from "./service.ts";
