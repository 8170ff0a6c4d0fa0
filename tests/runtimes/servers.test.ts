/**
 * The same server entry on every server runtime: Deno (source), Bun (source) and Node (the
 * esbuild bundle). Each receives one request per signal (gzip'd protobuf and JSON) and DuckDB
 * reads the rows back from the files it wrote.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { gzip, jsonBytes, logsPb, metricsJson, tracesPb } from "../http/fixtures.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";

const PB = { "content-type": "application/x-protobuf", "content-encoding": "gzip" };
const JSON_TYPE = { "content-type": "application/json" };

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name: `server on ${runtime} stores logs, traces and metrics that DuckDB reads back`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      await withServer({ runtime }, async (srv) => {
        const post = async (path: string, body: Uint8Array, headers: Record<string, string>) => {
          const res = await fetch(`${srv.url}${path}`, {
            method: "POST",
            body: body as BodyInit,
            headers,
          });
          await res.body?.cancel();
          return res.status;
        };
        strictEqual(await post("/v1/logs", gzip(logsPb(3, `rt-${runtime}`)), PB), 200);
        strictEqual(await post("/v1/traces", gzip(tracesPb(2, `rt-${runtime}`)), PB), 200);
        strictEqual(
          await post("/v1/metrics", jsonBytes(metricsJson(4, 0, `rt-${runtime}`)), JSON_TYPE),
          200,
        );
        const files = await listParquet(srv.output);
        const count = async (dir: string) => {
          const mine = files.filter((f) => f.startsWith(`${dir}/rt-${runtime}/`));
          if (mine.length === 0) return 0;
          const rows = await query(
            `SELECT count(*)::INT AS n FROM ${readParquet(mine.map((f) => `${srv.output}/${f}`))}`,
          );
          return rows[0].n;
        };
        deepStrictEqual(
          {
            logs: await count("logs"),
            traces: await count("traces"),
            gauge: await count("metrics/gauge"),
          },
          { logs: 3, traces: 2, gauge: 4 },
        );
        const bodies = await query(
          `SELECT Body FROM ${
            readParquet(files.filter((f) => f.startsWith("logs/")).map((f) => `${srv.output}/${f}`))
          } ORDER BY Timestamp`,
        );
        deepStrictEqual(bodies.map((r) => r.Body), ["msg-0", "msg-1", "msg-2"]);
      });
    },
  });
}

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name: `server on ${runtime} batches and encodes Parquet on a worker thread`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      const env = { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_ROWS: "10" };
      await withServer({ runtime, env }, async (srv) => {
        match(srv.log(), /encoder="1 worker thread"/);
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${srv.url}/v1/logs`, {
            method: "POST",
            body: gzip(logsPb(4, `wt-${runtime}`)) as BodyInit,
            headers: PB,
          });
          await res.body?.cancel();
          strictEqual(res.status, 200);
        }
        // 12 rows ≥ max_rows 10: one file, encoded on the worker while the server runs.
        let files: string[] = [];
        for (let i = 0; i < 200 && files.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 25));
          files = await listParquet(srv.output);
        }
        strictEqual(files.length, 1, srv.log());
        const rows = await query(
          `SELECT Body FROM ${readParquet(`${srv.output}/${files[0]}`)} ORDER BY Timestamp, Body`,
        );
        deepStrictEqual(
          rows.map((r) => r.Body),
          Array.from({ length: 12 }, (_, i) => `msg-${i / 3 | 0}`),
        );
      });
    },
  });
}
