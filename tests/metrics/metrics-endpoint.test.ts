/**
 * GET /metrics of the real server (a subprocess started the way users start it), read by a
 * strict exposition parser: after a known load its counters match exactly — records received
 * and rejected per signal, requests by route and status (4xx, 5xx), files, rows and bytes per
 * table (against the files on disk), storage operations, errors and retries — with the default
 * configuration (batching with the write-ahead log) and write-through over a failing store.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type Server, startServer } from "../helpers/server.ts";
import { type Exposition, parseExposition } from "../helpers/prometheus.ts";
import {
  JSON_TYPE,
  logsRequest,
  metricsRequest,
  post,
  postJson,
  tracesRequest,
} from "../e2e/support.ts";

const NS = 1_700_000_000_000_000_000n;

async function scrape(srv: Server, accept?: string): Promise<Exposition> {
  const r = await fetch(`${srv.url}/metrics`, { headers: accept ? { accept } : {} });
  strictEqual(r.status, 200);
  const om = accept?.includes("openmetrics") ?? false;
  const type = r.headers.get("content-type") ?? "";
  ok(
    om ? type.startsWith("application/openmetrics-text") : type.startsWith("text/plain"),
    type,
  );
  return parseExposition(await r.text(), om ? "openmetrics" : "text");
}

function logRecords(tag: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(NS + BigInt(i)),
    body: { stringValue: `${tag} ${i}` },
  }));
}

/** Parquet files under `dir`, by table directory (logs, traces, metrics/gauge, …). */
async function filesByTable(dir: string): Promise<Map<string, { files: number; bytes: number }>> {
  const out = new Map<string, { files: number; bytes: number }>();
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.name.startsWith(".")) continue;
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p, rel ? `${rel}/${e.name}` : e.name);
      else if (e.name.endsWith(".parquet")) {
        const table = rel.startsWith("metrics/") ? rel.split("/")[1] : rel.split("/")[0];
        const t = out.get(table) ?? { files: 0, bytes: 0 };
        t.files++;
        t.bytes += (await Deno.stat(p)).size;
        out.set(table, t);
      }
    }
  };
  await walk(dir, "");
  return out;
}

Deno.test("/metrics counts a known load exactly with the default config (batching + write-ahead log)", async () => {
  const srv = await startServer({
    env: { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1" },
  });
  try {
    // 14 log records over 3 requests and 2 services, 4 spans, 3 valued points and 1 rejected.
    for (const [svc, n] of [["svc-a", 5], ["svc-b", 7], ["svc-a", 2]] as const) {
      const a = await postJson(srv, "/v1/logs", logsRequest(svc, logRecords(`${svc}-${n}`, n)));
      strictEqual(a.status, 200);
    }
    const spans = Array.from({ length: 4 }, (_, i) => ({
      traceId: "0102030405060708090a0b0c0d0e0f10",
      spanId: `000000000000000${i + 1}`,
      name: `span ${i}`,
      startTimeUnixNano: String(NS),
      endTimeUnixNano: String(NS + 1000n),
    }));
    strictEqual((await postJson(srv, "/v1/traces", tracesRequest("svc-t", spans))).status, 200);
    const points = [1, 2, 3].map((v) => ({ timeUnixNano: String(NS + BigInt(v)), asDouble: v }));
    points.push({ timeUnixNano: String(NS + 9n) } as (typeof points)[0]); // no value: rejected
    const m = await postJson(
      srv,
      "/v1/metrics",
      metricsRequest("svc-m", [{ name: "g", gauge: { dataPoints: points } }]),
    );
    strictEqual(m.status, 200);
    // 4xx: two undecodable bodies, an unsupported type, an unknown path, a wrong method.
    for (let i = 0; i < 2; i++) {
      strictEqual((await post(`${srv.url}/v1/logs`, "{not json", JSON_TYPE)).status, 400);
    }
    strictEqual(
      (await post(`${srv.url}/v1/logs`, "<x/>", { "content-type": "text/xml" })).status,
      415,
    );
    strictEqual(await fetch(`${srv.url}/nope`).then((r) => (r.body?.cancel(), r.status)), 404);
    strictEqual(await fetch(`${srv.url}/v1/logs`).then((r) => (r.body?.cancel(), r.status)), 405);

    // Every buffer is written out within max_age_secs; wait for it (bounded).
    let x = await scrape(srv);
    const deadline = Date.now() + 30_000;
    while (
      (x.value("otlp2parquet_buffered_rows") !== 0 || x.value("otlp2parquet_pending_files") !== 0 ||
        x.sum("otlp2parquet_rows_written_total") < 21) && Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 250));
      x = await scrape(srv);
    }

    const http = { transport: "http" };
    deepStrictEqual(
      ["logs", "traces", "metrics"].map((signal) =>
        x.value("otlp2parquet_records_received_total", { ...http, signal })
      ),
      [14, 4, 3],
    );
    strictEqual(x.value("otlp2parquet_records_rejected_total", { ...http, signal: "metrics" }), 1);
    strictEqual(x.sum("otlp2parquet_records_rejected_total"), 1);
    const req = (route: string, code: string) =>
      x.value("otlp2parquet_requests_total", { ...http, route, code });
    deepStrictEqual(
      [
        req("/v1/logs", "200"),
        req("/v1/traces", "200"),
        req("/v1/metrics", "200"),
        req("/v1/logs", "400"),
        req("/v1/logs", "415"),
        req("/v1/logs", "405"),
        req("other", "404"),
      ],
      [3, 1, 1, 2, 1, 1, 1],
    );
    strictEqual(x.sum("otlp2parquet_request_duration_seconds_count", { route: "/v1/logs" }), 7);
    // Body sizes of the export requests whose body was read (not the 415, refused for its
    // type first, nor the 405 GET).
    strictEqual(x.sum("otlp2parquet_request_body_bytes_count", { route: "/v1/logs" }), 5);

    // Files, rows and bytes per table, against the files on disk.
    const disk = await filesByTable(srv.output);
    deepStrictEqual([...disk.keys()].sort(), ["gauge", "logs", "traces"]);
    for (const [table, d] of disk) {
      strictEqual(x.value("otlp2parquet_files_written_total", { table }), d.files, table);
      strictEqual(x.value("otlp2parquet_bytes_written_total", { table }), d.bytes, table);
      strictEqual(x.value("otlp2parquet_file_size_bytes_count", { table }), d.files, table);
      strictEqual(x.value("otlp2parquet_flush_duration_seconds_count", { table }), d.files, table);
    }
    deepStrictEqual(
      ["logs", "traces", "gauge"].map((table) =>
        x.value("otlp2parquet_rows_written_total", { table })
      ),
      [14, 4, 3],
    );
    const files = [...disk.values()].reduce((a, d) => a + d.files, 0);
    strictEqual(
      x.value("otlp2parquet_storage_operations_total", { backend: "fs", op: "put" }),
      files,
    );
    strictEqual(x.sum("otlp2parquet_storage_errors_total"), 0);
    strictEqual(x.value("otlp2parquet_buffer_limit_bytes"), 512 * 1024 * 1024);
    strictEqual(x.value("otlp2parquet_wal_limit_bytes"), 2048 * 1024 * 1024);
    ok(x.value("otlp2parquet_wal_syncs_total")! >= 5, "each accepted request was logged");
    ok(x.families.has("otlp2parquet_wal_bytes") && x.families.has("otlp2parquet_wal_segments"));
    // Process figures (server only).
    ok(x.value("process_resident_memory_bytes")! > 10_000_000);
    ok(x.value("process_cpu_seconds_total")! > 0);
    ok(x.value("otlp2parquet_event_loop_delay_seconds_count")! > 0);
    ok(x.value("process_start_time_seconds")! > 1_600_000_000);

    // OpenMetrics carries the same figures.
    const om = await scrape(srv, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    strictEqual(om.value("otlp2parquet_records_received_total", { ...http, signal: "logs" }), 14);
    strictEqual(om.families.get("otlp2parquet_records_received")?.type, "counter");
    strictEqual(
      om.value("otlp2parquet_files_written_total", { table: "logs" }),
      disk.get("logs")!.files,
    );
    strictEqual(await srv.stop(), 0);
  } finally {
    await srv.kill();
  }
});

Deno.test("/metrics counts 5xx answers, storage errors and retries when the store is down", async () => {
  // An S3 endpoint nothing listens on: every put fails with a retryable connection error.
  const srv = await startServer({
    output: false,
    env: {
      OTLP2PARQUET_STORAGE_BACKEND: "s3",
      OTLP2PARQUET_STORAGE_S3_BUCKET: "b",
      OTLP2PARQUET_STORAGE_S3_ENDPOINT: "http://127.0.0.1:9",
      OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
      OTLP2PARQUET_STORAGE_S3_ACCESS_KEY_ID: "k",
      OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: "s",
      OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS: "3",
      OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "1",
      OTLP2PARQUET_STORAGE_RETRY_MAX_DELAY_MS: "2",
    },
  });
  try {
    for (let i = 0; i < 2; i++) {
      const a = await postJson(srv, "/v1/logs", logsRequest("down", logRecords(`down${i}`, 3)));
      strictEqual(a.status, 503);
    }
    const x = await scrape(srv);
    strictEqual(
      x.value("otlp2parquet_requests_total", { transport: "http", route: "/v1/logs", code: "503" }),
      2,
    );
    const put = { backend: "s3", op: "put" };
    strictEqual(x.value("otlp2parquet_storage_operations_total", put), 2);
    strictEqual(x.value("otlp2parquet_storage_errors_total", put), 2);
    strictEqual(x.value("otlp2parquet_storage_retries_total", put), 4);
    // Not accepted: not counted as received.
    strictEqual(
      x.value("otlp2parquet_records_received_total", { transport: "http", signal: "logs" }),
      0,
    );
    strictEqual(x.sum("otlp2parquet_files_written_total"), 0);
    strictEqual(await srv.stop(), 0);
  } finally {
    await srv.kill();
  }
});
