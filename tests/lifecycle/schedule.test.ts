/**
 * The server's lifecycle schedule, the way users run it: the server on Deno, Bun and the Node
 * bundle with `[compaction] enabled` and write-through (one file per request, as Lambda and
 * Workers write), small files of a past hour merged on the lifecycle thread while it serves.
 */
import { ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import { logsRequest } from "./fixtures.ts";

const REQUESTS = 12;

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name: `the server on ${runtime} compacts a past hour's small files on its schedule`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      const env = {
        OTLP2PARQUET_BATCH_ENABLED: "false",
        OTLP2PARQUET_COMPACTION_ENABLED: "true",
        OTLP2PARQUET_COMPACTION_INTERVAL_SECS: "1",
        OTLP2PARQUET_COMPACTION_MIN_FILES: "4",
      };
      await withServer({ runtime, env }, async (srv) => {
        for (let seq = 0; seq < REQUESTS; seq++) {
          const r = await fetch(`${srv.url}/v1/logs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: logsRequest(`sched-${runtime}`, seq, 3) as BodyInit,
          });
          strictEqual(r.status, 200, await r.text());
        }
        // Requests keep coming while the schedule runs; the files settle into one compacted one.
        const deadline = Date.now() + 60_000;
        let files = await listParquet(srv.output);
        while (!(files.length === 1 && parseDataKey(files[0])?.compacted)) {
          ok(
            Date.now() < deadline,
            `not compacted within 60 s: ${files.length} files\n${srv.log()}`,
          );
          await new Promise((r) => setTimeout(r, 250));
          files = await listParquet(srv.output);
        }
        const rows = await query(
          `SELECT count(*)::INT AS n, count(DISTINCT Body)::INT AS d FROM ${
            readParquet(`${srv.output}/${files[0]}`)
          }`,
        );
        strictEqual(rows[0].n, REQUESTS * 3);
        strictEqual(rows[0].d, REQUESTS * 3);
        ok(/partition compacted/.test(srv.log()), srv.log());
      });
    },
  });
}
