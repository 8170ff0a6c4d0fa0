/**
 * The server's lifecycle schedule with `catalog.mode = "iceberg"`, the way users run it (Deno,
 * default config: batching with the write-ahead log, files committed by the server's committer):
 * the lifecycle thread compacts a past hour's small files in a `replace` snapshot while the
 * server keeps committing, against the suite's REST catalog (tests/helpers/catalog.ts: no REST
 * catalog server installs here). In the end the table lists exactly the stored files (one
 * compacted, at most one small one that came after the last plan) and every row once
 * (python3-avro, DuckDB, icebird).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import { withServer } from "../helpers/server.ts";
import { logsRequest } from "./fixtures.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
const REQUESTS = 6;

Deno.test({
  name: "the server's schedule compacts committed files in a replace snapshot (Iceberg mode)",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-schedule-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out });
    const env = {
      OTLP2PARQUET_CATALOG_MODE: "iceberg",
      OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
      OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "1",
      OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1",
      OTLP2PARQUET_COMPACTION_ENABLED: "true",
      OTLP2PARQUET_COMPACTION_INTERVAL_SECS: "1",
      OTLP2PARQUET_COMPACTION_MIN_FILES: "2",
    };
    try {
      await withServer({ output: out, env }, async (srv) => {
        for (let seq = 0; seq < REQUESTS; seq++) {
          const r = await fetch(`${srv.url}/v1/logs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: logsRequest("sched-iceberg", seq, 3) as BodyInit,
          });
          strictEqual(r.status, 200, await r.text());
          await new Promise((r) => setTimeout(r, 1100)); // one flush per request
        }
        // Bounded wait: the files settle into one compacted file (plus at most one small file
        // committed after the last run planned: a compacted file and fewer than min_files small
        // ones are left as they are), and the table lists exactly what is stored.
        const deadline = Date.now() + 90_000;
        for (;;) {
          const stored = await storedParquet(`${out}/logs`);
          const meta = cat.metadataPath("otel", "logs");
          const listed = meta ? (await currentFiles(meta)).paths.sort() : [];
          const compacted = stored.filter((k) => parseDataKey(k.split("/out/")[1])?.compacted);
          if (
            compacted.length === 1 && stored.length - compacted.length < 2 &&
            listed.join() === stored.join()
          ) break;
          ok(
            Date.now() < deadline,
            `not settled within 90 s: ${stored.length} files\n${srv.log()}`,
          );
          await new Promise((r) => setTimeout(r, 300));
        }
        ok(/operation=replace/.test(srv.log()), srv.log());
      });
      const meta = cat.metadataPath("otel", "logs")!;
      const cur = await currentFiles(meta);
      deepStrictEqual([...cur.paths].sort(), await storedParquet(`${out}/logs`));
      strictEqual(await duckdbCount(cur.paths), REQUESTS * 3);
      const bodies = (await icebirdRows(meta)).map((r) => String(r.Body)).sort();
      strictEqual(new Set(bodies).size, REQUESTS * 3, "every row once");
      strictEqual(cur.summary?.["total-records"], String(REQUESTS * 3));
    } finally {
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});
