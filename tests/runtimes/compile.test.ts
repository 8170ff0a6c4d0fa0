/**
 * The single executable from `bun build --compile` (deno task compile:bun) carries the
 * parquet-wasm binary inside: copied alone into an empty directory, with no node_modules within
 * reach, it serves, writes Parquet that DuckDB reads (batching, with the Parquet encoder on its
 * worker thread, the executable's second entry point), and stops cleanly on SIGTERM.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { gzip, jsonBytes, logsJson, logsPb, T0 } from "../http/fixtures.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";

const REPO = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "bun --compile executable serves and writes Parquet with node_modules out of reach",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-exe-" });
    try {
      const exe = `${dir}/otlp2parquet`;
      const built = await new Deno.Command(`${REPO}node_modules/.bin/bun`, {
        args: [
          "build",
          "--compile",
          "src/entry/compile.ts",
          "src/batch/encode-worker.node.ts",
          "src/lifecycle/lifecycle-thread.node.ts",
          "--outfile",
          exe,
        ],
        cwd: REPO,
        stdout: "piped",
        stderr: "piped",
      }).output();
      strictEqual(built.code, 0, new TextDecoder().decode(built.stderr));
      const version = await new Deno.Command(exe, { args: ["--version"], cwd: dir }).output();
      strictEqual(new TextDecoder().decode(version.stdout).trim(), "otlp2parquet 0.1.0");

      const env = { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_ROWS: "4" };
      await withServer({ exec: exe, cwd: dir, env }, async (srv) => {
        const res = await fetch(`${srv.url}/v1/logs`, {
          method: "POST",
          body: gzip(logsPb(4, "exe")) as BodyInit,
          headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip" },
        });
        await res.body?.cancel();
        strictEqual(res.status, 200);
        match(srv.log(), /encoder="1 worker thread"/);
        // max_rows = 4: the file is written (on the worker) while the server runs.
        for (let i = 0; i < 100 && (await listParquet(srv.output)).length === 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const files = (await listParquet(srv.output)).map((f) => `${srv.output}/${f}`);
        const rows = await query(`SELECT Body FROM ${readParquet(files)} ORDER BY Timestamp`);
        deepStrictEqual(rows.map((r) => r.Body), ["msg-0", "msg-1", "msg-2", "msg-3"]);
        // The dashboard page is inside the executable too, and /metrics counts what it did.
        const page = await fetch(`${srv.url}/dashboard`);
        strictEqual(page.status, 200);
        match(await page.text(), /<title>otlp2parquet dashboard<\/title>/);
        const metrics = await (await fetch(`${srv.url}/metrics`)).text();
        match(metrics, /otlp2parquet_records_received_total\{transport="http",signal="logs"\} 4\n/);
      });

      // The lifecycle thread is in the executable too: small files of a past hour compacted.
      const lifecycle = {
        OTLP2PARQUET_BATCH_ENABLED: "false",
        OTLP2PARQUET_COMPACTION_ENABLED: "true",
        OTLP2PARQUET_COMPACTION_INTERVAL_SECS: "1",
        OTLP2PARQUET_COMPACTION_MIN_FILES: "3",
      };
      await withServer({ exec: exe, cwd: dir, env: lifecycle }, async (srv) => {
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${srv.url}/v1/logs`, {
            method: "POST",
            body: jsonBytes(logsJson(2, "exe-cron", T0 + BigInt(i) * 1_000_000_000n)) as BodyInit,
            headers: { "content-type": "application/json" },
          });
          strictEqual(res.status, 200, await res.text());
        }
        let files = await listParquet(srv.output);
        for (let i = 0; i < 300 && !(files.length === 1 && /-c0\.parquet$/.test(files[0])); i++) {
          await new Promise((r) => setTimeout(r, 100));
          files = await listParquet(srv.output);
        }
        strictEqual(files.length, 1, `${files}\n${srv.log()}`);
        match(files[0], /-c0\.parquet$/);
        const n = await query(
          `SELECT count(*)::INT AS n FROM ${readParquet(`${srv.output}/${files[0]}`)}`,
        );
        strictEqual(n[0].n, 6);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
