/**
 * Which Parquet encoder the Worker bundle uses (docs/configuration.md, `[parquet]`): by default
 * the native encoder with snappy (Workers have no zstd compressor), without loading parquet-wasm;
 * with `parquet.compression = "zstd"` parquet-wasm, loaded then from the module beside the
 * bundle; `parquet.encoder = "native"` with zstd is refused with a message naming the fix. Each
 * file written in workerd is read back by DuckDB, hyparquet and parquet-wasm, row for row.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import { generateRequest } from "../../bench/gen.ts";
import { readParquet } from "../helpers/parquet.ts";
import { query, readParquet as duckFrom } from "../helpers/duckdb.ts";
import { r2Keys, type R2Objects, workerModules } from "../helpers/worker.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");

const RECORDS = 3000;
const req = generateRequest("logs", { records: RECORDS, seed: 22, services: 1 });

async function gzipSize(path: string): Promise<number> {
  const s = new Blob([await Deno.readFile(path)]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(s).arrayBuffer()).byteLength;
}

/** The Worker with `bindings`; its log lines collected in `lines`. */
async function worker(bindings: Record<string, string>) {
  const { bundle } = await build("worker");
  const lines: string[] = [];
  const collect = (r: Readable) => r.on("data", (d) => lines.push(...String(d).split("\n")));
  const mf = new Miniflare({
    ...workerModules(bundle),
    r2Buckets: ["BUCKET"],
    bindings,
    cf: false,
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
  });
  const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Objects;
  return { mf, bucket, lines };
}

/** The one stored logs file: its bytes, its column chunks' codecs, its rows by three readers. */
async function storedFile(bucket: R2Objects) {
  const keys = await r2Keys(bucket, "logs/");
  strictEqual(keys.length, 1, keys.join());
  const obj = await bucket.get(keys[0]);
  ok(obj);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  const { parquetMetadata, parquetReadObjects } = await import("hyparquet");
  const meta = parquetMetadata(bytes.slice().buffer);
  const codecs = new Set(
    meta.row_groups.flatMap((g) => g.columns.map((c) => String(c.meta_data?.codec))),
  );
  const columns = ["Timestamp", "ServiceName", "SeverityNumber", "Body", "TraceId"];
  const { decompress } = await import("fzstd");
  const hy = await parquetReadObjects({
    file: bytes.slice().buffer,
    columns,
    compressors: { ZSTD: (input: Uint8Array) => decompress(input) },
  });
  const pw = readParquet(bytes);
  const file = await Deno.makeTempFile({ suffix: ".parquet" });
  await Deno.writeFile(file, bytes);
  const duck = await query(
    `SELECT epoch_ms(Timestamp) AS ts, ServiceName, SeverityNumber, Body, TraceId FROM ${
      duckFrom(file)
    }`,
  );
  await Deno.remove(file);
  const rows = {
    duckdb: duck.map((r) => [Number(r.ts), r.ServiceName, r.SeverityNumber, r.Body, r.TraceId]),
    hyparquet: hy.map((r) => [
      (r.Timestamp as Date).getTime(),
      r.ServiceName,
      r.SeverityNumber,
      r.Body,
      r.TraceId,
    ]),
    parquetWasm: pw.toArray().map((r) => [
      null,
      r.ServiceName,
      r.SeverityNumber,
      r.Body,
      r.TraceId,
    ]),
  };
  return { bytes, codecs, rows, createdBy: meta.created_by };
}

async function post(mf: Miniflare, body = req.protobuf): Promise<{ status: number; body: string }> {
  const res = await mf.dispatchFetch("http://localhost/v1/logs", {
    method: "POST",
    body,
    headers: { "content-type": "application/x-protobuf" },
  });
  return { status: res.status, body: await res.text() };
}

/** Row-for-row agreement of the three readers (times in ms by DuckDB and hyparquet). */
function sameRows(rows: Awaited<ReturnType<typeof storedFile>>["rows"]): void {
  strictEqual(rows.duckdb.length, RECORDS);
  deepStrictEqual(rows.duckdb.map((r) => r.slice(1)), rows.parquetWasm.map((r) => r.slice(1)));
  deepStrictEqual(rows.duckdb.map((r) => r.slice(1)), rows.hyparquet.map((r) => r.slice(1)));
  deepStrictEqual(rows.duckdb.map((r) => r[0]), rows.hyparquet.map((r) => r[0]));
  ok(rows.duckdb.every((r) => typeof r[3] === "string"));
}

Deno.test({
  name: "the Worker writes with the native encoder and snappy by default, parquet-wasm not loaded",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { mf, bucket, lines } = await worker({ OTLP2PARQUET_BATCH_ENABLED: "false" });
    try {
      strictEqual((await post(mf)).status, 200);
      const f = await storedFile(bucket);
      deepStrictEqual([...f.codecs].filter((c) => c !== "SNAPPY" && c !== "UNCOMPRESSED"), []);
      ok(f.codecs.has("SNAPPY"), [...f.codecs].join());
      sameRows(f.rows);
      ok(
        lines.some((l) =>
          l.includes('msg="otlp2parquet ready"') && l.includes("parquet_encoder=native") &&
          l.includes("parquet_compression=snappy")
        ),
        lines.join("\n"),
      );
      ok(!lines.some((l) => l.includes("parquet-wasm")), lines.join("\n"));
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test({
  name: "the Worker with parquet.compression = zstd loads parquet-wasm and writes zstd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { mf, bucket, lines } = await worker({
      OTLP2PARQUET_BATCH_ENABLED: "false",
      OTLP2PARQUET_PARQUET_COMPRESSION: "zstd",
    });
    try {
      strictEqual((await post(mf)).status, 200);
      const f = await storedFile(bucket);
      deepStrictEqual([...f.codecs], ["ZSTD"]);
      sameRows(f.rows);
      ok(
        lines.some((l) =>
          l.includes('msg="otlp2parquet ready"') && l.includes("parquet_encoder=parquet-wasm")
        ),
        lines.join("\n"),
      );
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test({
  name: "the Worker refuses parquet.encoder = native with zstd, naming the settings that work",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { mf } = await worker({
      OTLP2PARQUET_PARQUET_ENCODER: "native",
      OTLP2PARQUET_PARQUET_COMPRESSION: "zstd",
    });
    try {
      // A small body: the misconfigured Worker answers without reading it.
      const r = await post(mf, generateRequest("logs", { records: 2, seed: 1 }).protobuf);
      strictEqual(r.status, 503);
      const msg = JSON.parse(r.body).message as string;
      ok(msg.includes('parquet.encoder = "native" with zstd'), msg);
      ok(msg.includes('parquet.compression = "snappy"'), msg);
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test("the Worker's main module carries no parquet-wasm binary", async () => {
  const { bundle } = await build("worker");
  const dir = bundle.slice(0, bundle.lastIndexOf("/"));
  const main = await gzipSize(bundle);
  const wasm = await gzipSize(`${dir}/parquet_wasm_bg.wasm`);
  console.log(
    `worker gzip: index.js ${(main / 1024).toFixed(0)} KiB; loaded when needed: parquet-wasm ${
      (wasm / 1024).toFixed(0)
    } KiB`,
  );
  const js = await Deno.readTextFile(bundle);
  ok(!js.includes("parquet_wasm_bg.wasm"), "index.js imports the wasm");
  ok(js.includes("./parquet-wasm.js"), "index.js does not name the module that loads parquet-wasm");
  strictEqual(
    (await Deno.readTextFile(`${dir}/parquet-wasm.js`)).includes("parquet_wasm_bg.wasm"),
    true,
  );
  ok(main < wasm / 4, `index.js is ${main} bytes gzip'd, parquet-wasm ${wasm}`);
});

Deno.test({
  name: "a Worker built with --no-wasm ingests with snappy and refuses zstd, naming the build",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "worker-nowasm-" });
    try {
      const { bundle } = await build("worker", out, { wasm: false });
      const dir = bundle.slice(0, bundle.lastIndexOf("/"));
      deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["index.js"]);
      const start = (bindings: Record<string, string>) =>
        new Miniflare({
          modules: [{ type: "ESModule", path: bundle }],
          modulesRoot: dir,
          compatibilityDate: "2025-09-01",
          r2Buckets: ["BUCKET"],
          bindings: { OTLP2PARQUET_BATCH_ENABLED: "false", ...bindings },
          cf: false,
        });
      const mf = start({});
      try {
        strictEqual((await post(mf)).status, 200);
        const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Objects;
        const f = await storedFile(bucket);
        ok(f.codecs.has("SNAPPY"), [...f.codecs].join());
        sameRows(f.rows);
      } finally {
        await mf.dispose();
      }
      const zstd = start({ OTLP2PARQUET_PARQUET_COMPRESSION: "zstd" });
      try {
        const r = await post(zstd, generateRequest("logs", { records: 2, seed: 1 }).protobuf);
        strictEqual(r.status, 503);
        const msg = JSON.parse(r.body).message as string;
        ok(msg.includes("needs parquet-wasm") && msg.includes("--no-wasm"), msg);
      } finally {
        await zstd.dispose();
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
