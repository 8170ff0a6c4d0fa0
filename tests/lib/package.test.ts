/**
 * The npm package as users get it: `deno task build:lib`, `npm pack`, `npm install` of the
 * tarball into an empty project (with the SDK packages its `./sdk` entry has as peers), then an
 * application there imports `otlp2parquet` and `otlp2parquet/sdk` under Node, Deno and Bun,
 * writes, and DuckDB reads the files back; TypeScript checks a typed use of both entries
 * against the package's declarations.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { buildLib } from "../../scripts/build.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const BUN = `${REPO}node_modules/.bin/bun`;
const TSC = `${REPO}node_modules/typescript/bin/tsc`;

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  const out = new TextDecoder().decode(r.stdout), err = new TextDecoder().decode(r.stderr);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}):\n${out}\n${err}`);
  return out;
}

/** The application: one JSON log request through the writer, one span through the exporter. */
const APP = `
import { createWriter } from "otlp2parquet";
import { ParquetSpanExporter } from "otlp2parquet/sdk";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
const [out, name] = process.argv.slice(2);
const writer = await createWriter({ storage: { backend: "fs", path: out }, log: false });
const r = await writer.exportLogs({
  resourceLogs: [{
    resource: { attributes: [{ key: "service.name", value: { stringValue: name } }] },
    scopeLogs: [{ logRecords: [{ timeUnixNano: "1714557600000000000", body: { stringValue: "packed " + name } }] }],
  }],
});
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": name }),
  spanProcessors: [new SimpleSpanProcessor(new ParquetSpanExporter({ writer }))],
});
provider.getTracer("packed").startSpan("span of " + name).end();
await provider.shutdown();
await writer.close();
console.log(JSON.stringify({ r, files: writer.stats().filesWritten }));
`;

/** The same, typed: checked with tsc against the package's .d.ts files. */
const TYPED = `
import { ConfigError, createWriter, type ExportResult, type OtlpWriter } from "otlp2parquet";
import { ParquetLogRecordExporter, ParquetMetricExporter, ParquetSpanExporter } from "otlp2parquet/sdk";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
const writer: OtlpWriter = await createWriter({
  storage: { backend: "s3", s3: { bucket: "b", endpoint: "http://127.0.0.1:9000" }, prefix: "otel/" },
  batch: { max_rows: 1000, durability: "memory" },
  output: { format: "arrow" },
  arrow: { compression: "lz4" },
});
const r: ExportResult = await writer.exportTraces(new Uint8Array(0), { format: "protobuf" });
if (!r.ok) console.log(r.kind, r.retryable, r.retryAfterMs ?? 0, r.message.length);
else console.log(r.records + r.rejected);
const e: SpanExporter = new ParquetSpanExporter({ writer, timeoutMillis: 5000 });
new ParquetMetricExporter({ writer, temporalityPreference: "delta" });
new ParquetLogRecordExporter({ storage: { backend: "memory" } });
console.log(e, ConfigError.name, writer.stats().acceptedRecords, writer.config.batch.max_rows);
`;

Deno.test({
  name: "npm pack output installs into an empty project and works from Node, Deno and Bun, typed",
  sanitizeResources: false,
  async fn() {
    await buildLib();
    const tmp = await Deno.makeTempDir({ prefix: "otlp2parquet-pack-" });
    try {
      // The repository's own `prepack` would build again: it was just built.
      const packed = await run(
        "npm",
        ["pack", "--ignore-scripts", "--pack-destination", tmp],
        REPO,
      );
      const tarball = `${tmp}/${packed.trim().split("\n").at(-1)}`;
      const listing = await run("tar", ["-tzf", tarball], tmp);
      for (const f of ["index.mjs", "sdk.mjs", "platform.node.mjs", "encode-worker.mjs"]) {
        ok(listing.includes(`package/dist/lib/${f}`), `${f} is packed`);
      }
      ok(listing.includes("package/dist/lib/types/lib/index.d.ts"));
      ok(!listing.includes("package/src/"), "sources are not packed");
      ok(!listing.includes("package/dist/node/"), "the server's bundles are not packed");

      const app = `${tmp}/app`;
      await Deno.mkdir(app);
      await Deno.writeTextFile(
        `${app}/package.json`,
        JSON.stringify({ name: "app", private: true, type: "module" }),
      );
      await run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        tarball,
        "@opentelemetry/sdk-trace-base@2.12.0",
        "@opentelemetry/resources@2.12.0",
        "@opentelemetry/core@2.12.0",
        "@opentelemetry/otlp-transformer@0.223.0",
        "@opentelemetry/sdk-logs@0.223.0",
        "@opentelemetry/sdk-metrics@2.12.0",
        "@types/node@20",
      ], app);
      await Deno.writeTextFile(`${app}/main.mjs`, APP);

      for (
        const [runtime, cmd, args] of [
          ["node", "node", ["main.mjs"]],
          ["deno", Deno.execPath(), ["run", "-A", "main.mjs"]],
          ["bun", BUN, ["main.mjs"]],
        ] as const
      ) {
        const out = `${tmp}/out-${runtime}`;
        const report = JSON.parse(
          (await run(cmd, [...args, out, `packed-${runtime}`], app)).trim().split("\n").at(-1)!,
        );
        deepStrictEqual(report.r, { ok: true, records: 1, rejected: 0, message: "" }, runtime);
        strictEqual(report.files, 2, `${runtime}: a logs file and a traces file`);
        const logs = (await listParquet(`${out}/logs`)).map((f) => `${out}/logs/${f}`);
        const [row] = await query(`SELECT ServiceName, Body FROM ${readParquet(logs)}`);
        deepStrictEqual(row, {
          ServiceName: `packed-${runtime}`,
          Body: `packed packed-${runtime}`,
        });
        const spans = (await listParquet(`${out}/traces`)).map((f) => `${out}/traces/${f}`);
        const [span] = await query(`SELECT SpanName FROM ${readParquet(spans)}`);
        strictEqual(span.SpanName, `span of packed-${runtime}`);
      }

      await Deno.writeTextFile(`${app}/typed.ts`, TYPED);
      await run("node", [
        TSC,
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--types",
        "node",
        "typed.ts",
      ], app);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
