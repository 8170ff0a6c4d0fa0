/**
 * The OpenTelemetry JS SDK with our three exporters (`otlp2parquet/sdk`), in Node, Deno and Bun:
 * one application (./sdk-app.mjs) sends every export both to our exporters, which write files
 * with the library, and to the real server over OTLP/HTTP (protobuf), started as users start it
 * with the default configuration (batching with the write-ahead log). DuckDB reads both sets of
 * files: every table holds the same rows, column by column.
 *
 * Node and Bun run the built package (`buildLib`, into dist/lib-sdk-test/), Deno the source.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { buildLib } from "../../scripts/build.ts";
import { startServer } from "../helpers/server.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const APP = `${REPO}tests/lib/sdk-app.mjs`;

/** Tables the application's data lands in (the JS SDK makes no summaries). */
const TABLES = [
  "logs",
  "traces",
  "metrics/sum",
  "metrics/gauge",
  "metrics/histogram",
  "metrics/exponential_histogram",
];

/** Every row of `dir/table/service/…` as DuckDB text per column, rows sorted. */
async function columns(dir: string, table: string, service: string) {
  const base = `${dir}/${table}/${service}`;
  const files = (await listParquet(base)).map((f) => `${base}/${f}`);
  ok(files.length > 0, `no files under ${base}`);
  const rows = await query(`SELECT COLUMNS(*)::VARCHAR FROM ${readParquet(files)}`);
  rows.sort((a, b) => {
    const x = JSON.stringify(a), y = JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const cols: Record<string, unknown[]> = {};
  for (const r of rows) for (const [k, v] of Object.entries(r)) (cols[k] ??= []).push(v);
  return { rows: rows.length, cols };
}

/** The built library, a folder of this test's own (tests/lib/package.test.ts packs dist/lib/). */
const LIB = "dist/lib-sdk-test/";
const RUNTIMES = {
  deno: (args: string[]) => [Deno.execPath(), "run", "-A", APP, `file://${REPO}src/lib/`, ...args],
  node: (args: string[]) => ["node", APP, `file://${REPO}${LIB}`, ...args],
  bun: (
    args: string[],
  ) => [`${REPO}node_modules/.bin/bun`, APP, `file://${REPO}${LIB}`, ...args],
};

Deno.test({
  name:
    "the SDK's exporters write the rows the same SDK sends to the server, in Node, Deno and Bun",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await buildLib({ types: false, out: LIB });
    for (const [runtime, command] of Object.entries(RUNTIMES)) {
      await t.step(runtime, async () => {
        const out = await Deno.makeTempDir({ prefix: `otlp2parquet-sdk-${runtime}-` });
        const service = `sdk-${runtime}`;
        const srv = await startServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
        try {
          const [exec, ...args] = command([out, srv.url, service]);
          const r = await new Deno.Command(exec, { args, cwd: REPO, stdin: "null" }).output();
          const stdout = new TextDecoder().decode(r.stdout);
          const stderr = new TextDecoder().decode(r.stderr);
          strictEqual(r.code, 0, `${runtime} app failed:\n${stdout}\n${stderr}`);
          const report = JSON.parse(stdout.trim().split("\n").at(-1)!);
          deepStrictEqual(report.failures, [], runtime);
          ok(report.exports.traces > 0 && report.exports.logs > 0 && report.exports.metrics > 0);
          strictEqual(await srv.stop(), 0, "the server flushes and exits cleanly");
          for (const table of TABLES) {
            const mine = await columns(out, table, service);
            const theirs = await columns(srv.output, table, service);
            strictEqual(mine.rows, theirs.rows, `${runtime} ${table}: rows`);
            deepStrictEqual(
              Object.keys(mine.cols),
              Object.keys(theirs.cols),
              `${runtime} ${table}`,
            );
            for (const c of Object.keys(theirs.cols)) {
              deepStrictEqual(mine.cols[c], theirs.cols[c], `${runtime} ${table}.${c}`);
            }
          }
          // What the application made, seen in the files.
          const spans = await columns(out, "traces", service);
          strictEqual(spans.rows, 9);
          ok(spans.cols["Links.TraceState"].some((v) => String(v).includes("vendor=abc")));
          ok(spans.cols["Events.Name"].some((v) => String(v).includes("exception")));
          strictEqual((await columns(out, "logs", service)).rows, 12);
        } finally {
          await srv.kill();
          await Deno.remove(out, { recursive: true }).catch(() => {});
        }
      });
    }
  },
});
