/**
 * OTLP/gRPC end to end with the OpenTelemetry JS SDK's gRPC exporters
 * (`@opentelemetry/exporter-{logs,trace,metrics}-otlp-grpc`, on @grpc/grpc-js) against the real
 * server on Deno, Bun and the Node bundle, in the default configuration (batching with the
 * write-ahead log): logs, spans and every metric kind the SDK makes, with and without gzip.
 * Every export must succeed (OK), and after a clean stop DuckDB reads back what the SDK sent.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { query, readParquet } from "../helpers/duckdb.ts";
import { startServer } from "../helpers/server.ts";
import {
  AggregationType,
  sendLogs,
  sendMetrics,
  sendSpans,
  SeverityNumber,
} from "../helpers/otel.ts";
import { filesOf, uniqueService } from "../e2e/support.ts";

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name: `gRPC on ${runtime}: the SDK's gRPC exporters store logs, spans and every metric kind`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      // The default configuration: batching with the write-ahead log (BASE_ENV writes through).
      const srv = await startServer({ runtime, env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
      try {
        ok(srv.grpcPort !== null, srv.log());
        const url = `http://${srv.grpcAddr}`;
        const service = uniqueService(`grpc-${runtime}`);
        const logs = await sendLogs(
          { url, protocol: "grpc", gzip: true, service },
          ({ logger }) => {
            for (let i = 0; i < 3; i++) {
              logger.emit({
                body: `grpc-log-${i}`,
                severityNumber: SeverityNumber.WARN,
                attributes: { i },
              });
            }
          },
        );
        ok(logs.exports >= 1);
        await sendSpans({ url, protocol: "grpc", gzip: false, service }, (tracer) => {
          for (let i = 0; i < 2; i++) tracer.startSpan(`grpc-span-${i}`).end();
        });
        await sendMetrics(
          { url, protocol: "grpc", gzip: true, service },
          (meter) => {
            meter.createCounter("grpc.requests").add(5, { route: "/a" });
            meter.createGauge("grpc.temperature").record(21.5);
            meter.createHistogram("grpc.latency").record(12);
            meter.createHistogram("grpc.size").record(300);
            meter.createUpDownCounter("grpc.queue").add(-2);
          },
          {
            views: [{
              instrumentName: "grpc.size",
              aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM },
            }],
          },
        );
        // Without gzip too, for the metrics.
        await sendMetrics({ url, protocol: "grpc", gzip: false, service }, (meter) => {
          meter.createCounter("grpc.plain").add(1);
        });

        // Batching: the files are written when the server stops (a clean stop flushes).
        strictEqual(await srv.stop(), 0, srv.log());
        const rows = async (table: Parameters<typeof filesOf>[1], select: string, tail = "") =>
          await query(
            `SELECT ${select} FROM ${readParquet(await filesOf(srv, table, service))} ${tail}`,
          );
        deepStrictEqual(
          (await rows("logs", "Body, SeverityNumber::INT AS s", "ORDER BY Body")).map((
            r,
          ) => [r.Body, r.s]),
          [["grpc-log-0", 13], ["grpc-log-1", 13], ["grpc-log-2", 13]],
        );
        deepStrictEqual(
          (await rows("traces", "SpanName", "ORDER BY SpanName")).map((r) => r.SpanName),
          ["grpc-span-0", "grpc-span-1"],
        );
        deepStrictEqual(
          (await rows("sum", "MetricName, Value, IsMonotonic", "ORDER BY MetricName")).map((r) => [
            r.MetricName,
            r.Value,
            r.IsMonotonic,
          ]),
          [["grpc.plain", 1, true], ["grpc.queue", -2, false], ["grpc.requests", 5, true]],
        );
        deepStrictEqual(
          (await rows("gauge", "MetricName, Value")).map((r) => [r.MetricName, r.Value]),
          [["grpc.temperature", 21.5]],
        );
        deepStrictEqual(
          (await rows("histogram", "MetricName, Count::INT AS n, Sum")).map((r) => [
            r.MetricName,
            r.n,
            r.Sum,
          ]),
          [["grpc.latency", 1, 12]],
        );
        deepStrictEqual(
          (await rows("exponential_histogram", "MetricName, Count::INT AS n, Sum")).map((r) => [
            r.MetricName,
            r.n,
            r.Sum,
          ]),
          [["grpc.size", 1, 300]],
        );
      } finally {
        await srv.kill();
      }
    },
  });
}
