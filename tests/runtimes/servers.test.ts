/**
 * The same server entry on every server runtime: Deno (source), Bun (source) and Node (the
 * esbuild bundle). Each receives one request per signal (gzip'd protobuf and JSON) and DuckDB
 * reads the rows back from the files it wrote.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
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
