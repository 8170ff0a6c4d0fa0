/**
 * ServiceMetrics in process, with a clock the test moves: what one request, one ingest, one
 * stored file and one storage operation add to /metrics and to /api/stats (totals, rates per
 * 5 s slot, latency quantiles, top services, recent files, storage health, other sources).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { render } from "../../src/metrics/exposition.ts";
import { ServiceMetrics } from "../../src/metrics/service.ts";
import { quantile, Timeline } from "../../src/metrics/timeline.ts";
import type { Writer, WriteRequest } from "../../src/batch/types.ts";
import { parseExposition } from "../helpers/prometheus.ts";

const START_MS = 1_700_000_000_000; // a slot boundary (divisible by 5000)

function make() {
  const clock = { ms: START_MS };
  const m = new ServiceMetrics({ version: "t", nowMs: () => clock.ms });
  return { m, clock };
}

Deno.test("export requests feed totals by status (HTTP codes and gRPC names) and latency", () => {
  const { m, clock } = make();
  const req = (code: string, seconds: number, transport = "http") =>
    m.request({ transport, route: "/v1/logs", code, seconds, signal: "logs" });
  req("200", 0.002);
  req("200", 0.004);
  req("400", 0.001);
  req("503", 0.2);
  req("OK", 0.003, "grpc");
  req("INVALID_ARGUMENT", 0.001, "grpc");
  req("UNAVAILABLE", 0.01, "grpc");
  m.request({ transport: "http", route: "/health", code: "200", seconds: 0.0001 }); // no signal
  clock.ms += 5000;
  const s = m.stats();
  strictEqual(s.totals.requests, 7);
  deepStrictEqual([s.totals.errors4xx, s.totals.errors5xx], [2, 2]);
  deepStrictEqual(s.totals.byStatus, {
    "200": 2,
    "400": 1,
    "503": 1,
    OK: 1,
    INVALID_ARGUMENT: 1,
    UNAVAILABLE: 1,
  });
  strictEqual(s.latency.requests, 7);
  ok(s.latency.p50! > 0.001 && s.latency.p50! <= 0.005, String(s.latency.p50));
  ok(s.latency.p99! > 0.1 && s.latency.p99! <= 0.25, String(s.latency.p99));
  // The slot before now: 7 requests in 5 s, 4 of them errors.
  strictEqual(s.rates.requests.at(-1), 7 / 5);
  strictEqual(s.rates.errors.at(-1), 4 / 5);
  strictEqual(s.rates.from + (s.rates.requests.length - 1) * 5000, START_MS);
  const x = parseExposition(render(m.registry));
  strictEqual(
    x.value("otlp2parquet_requests_total", { transport: "grpc", route: "/v1/logs", code: "OK" }),
    1,
  );
  strictEqual(x.sum("otlp2parquet_request_duration_seconds_count"), 8);
});

Deno.test("records per signal: totals, per-second rates per slot, and quiet slots read zero", () => {
  const { m, clock } = make();
  m.ingested("http", "logs", 50, 0);
  m.ingested("http", "metrics", 9, 1);
  clock.ms += 5000;
  m.ingested("http", "logs", 10, 0);
  clock.ms += 15_000;
  const s = m.stats();
  deepStrictEqual(s.totals.records, { logs: 60, traces: 0, metrics: 9 });
  deepStrictEqual(s.totals.rejected, { logs: 0, traces: 0, metrics: 1 });
  deepStrictEqual(s.rates.records.logs.slice(-4), [10, 2, 0, 0]);
  deepStrictEqual(s.rates.records.metrics.slice(-4), [9 / 5, 0, 0, 0]);
  strictEqual(s.rates.records.logs.length, 179);
  // 15 minutes later the ring has come round: nothing left.
  clock.ms += 15 * 60_000;
  strictEqual(m.stats().rates.records.logs.reduce((a, b) => a + b, 0), 0);
});

Deno.test("the watched writer counts records per service (top 10) and passes stats through", async () => {
  const { m } = make();
  const inner: Writer = {
    write: () => Promise.resolve(),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats: () => ({
      filesWritten: 0,
      rowsWritten: 0,
      bytesWritten: 0,
      flushFailures: 2,
      bufferedRows: 7,
      bufferedBytes: 700,
      buffers: 1,
      pendingFiles: 0,
      walBytes: 1234,
      walSegments: 2,
      walSyncs: 5,
      replayedRecords: 0,
    }),
  };
  m.setLimits({ batching: true, bufferedBytes: 1000, walEnabled: true, walBytes: 4000 });
  const w = m.watchWriter(inner);
  const req = (parts: [string, number][]) =>
    ({
      partitions: parts.map(([service, n]) => ({ service, rows: { length: n } })),
    }) as unknown as WriteRequest;
  for (let i = 0; i < 12; i++) await w.write(req([[`svc${i}`, i + 1]]));
  await w.write(req([["svc0", 100], ["svc1", 1]]));
  const s = m.stats();
  deepStrictEqual(s.topServices.slice(0, 3), [
    { service: "svc0", records: 101 },
    { service: "svc11", records: 12 },
    { service: "svc10", records: 11 },
  ]);
  strictEqual(s.topServices.length, 10);
  deepStrictEqual(s.buffer, {
    batching: true,
    rows: 7,
    bytes: 700,
    limitBytes: 1000,
    openBuffers: 1,
    pendingFiles: 0,
  });
  deepStrictEqual(s.wal, { enabled: true, bytes: 1234, segments: 2, limitBytes: 4000 });
  const x = parseExposition(render(m.registry));
  deepStrictEqual(
    [x.value("otlp2parquet_wal_bytes"), x.value("otlp2parquet_flush_failures_total")],
    [1234, 2],
  );
});

Deno.test("stored files and storage operations: per table, recent files, storage health", async () => {
  const { m, clock } = make();
  for (let i = 0; i < 25; i++) {
    await m.hooks.fileStored!({
      key: `logs/s/f${i}.parquet`,
      table: i % 2 ? "logs" : "traces",
      service: "s",
      rows: 10,
      bytes: 1000 + i,
      minTimeNs: 0n,
      durationMs: 20,
    });
    clock.ms += 1;
  }
  m.storage.operation("s3", "put", false, 4, 1.5, new Error("connection refused"));
  let s = m.stats();
  strictEqual(s.recentFiles.length, 20);
  strictEqual(s.recentFiles[0].key, "logs/s/f24.parquet");
  deepStrictEqual([s.totals.files, s.totals.rows], [25, 250]);
  deepStrictEqual(
    [s.storage.healthy, s.storage.retries, s.storage.errors, s.storage.lastError?.message],
    [false, 3, 1, "connection refused"],
  );
  m.storage.operation("s3", "put", true, 1, 0.01);
  s = m.stats();
  deepStrictEqual([s.storage.healthy, s.storage.operations, s.storage.lastSuccessAt], [
    true,
    2,
    clock.ms,
  ]);
  const x = parseExposition(render(m.registry));
  deepStrictEqual(
    [
      x.value("otlp2parquet_files_written_total", { table: "logs" }),
      x.value("otlp2parquet_rows_written_total", { table: "traces" }),
      x.value("otlp2parquet_flush_duration_seconds_count", { table: "logs" }),
      x.value("otlp2parquet_storage_retries_total", { backend: "s3", op: "put" }),
      x.value("otlp2parquet_storage_errors_total", { backend: "s3", op: "put" }),
    ],
    [12, 130, 12, 3, 1],
  );
});

Deno.test("addSource puts a stats() snapshot on /metrics and under /api/stats sources", () => {
  const { m } = make();
  let catalog = { pendingFiles: 4, commits: 2, lastCommit: "abc" };
  m.addSource("catalog", () => catalog, {
    pendingFiles: { name: "otlp2parquet_catalog_pending_files", help: "p", type: "gauge" },
    commits: { name: "otlp2parquet_catalog_commits_total", help: "c", type: "counter" },
  });
  deepStrictEqual(m.stats().sources, {
    catalog: { pendingFiles: 4, commits: 2, lastCommit: "abc" },
  });
  catalog = { pendingFiles: 0, commits: 3, lastCommit: "def" };
  const x = parseExposition(render(m.registry));
  deepStrictEqual(
    [x.value("otlp2parquet_catalog_pending_files"), x.value("otlp2parquet_catalog_commits_total")],
    [0, 3],
  );
});

Deno.test("quantile() interpolates inside its bucket like histogram_quantile", () => {
  strictEqual(quantile(0.5, [1, 2, 4], [0, 10, 0, 0]), 1.5);
  strictEqual(quantile(0.99, [1, 2, 4], [0, 0, 0, 5]), 4);
  ok(Number.isNaN(quantile(0.5, [1], [0, 0])));
  const t = new Timeline(2, 1000, 4);
  t.add(0, 3, 0);
  t.add(1, 1, 1500);
  deepStrictEqual(t.window(1500, 2000), [3, 1]);
  deepStrictEqual(t.series(2000, 3).values, [[0, 3, 0], [0, 0, 1]]);
});
