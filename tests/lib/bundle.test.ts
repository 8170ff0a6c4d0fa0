/**
 * The library entry bundles without the server: esbuild bundles src/lib/index.ts the way
 * scripts/build.ts bundles the Worker (browser platform, workerd conditions), and its metafile
 * has no Hono, no src/http/, no src/entry/, no `*.node.ts` module and no node:* import; the
 * bundle fits its size budget. Workers that use the library then run in workerd (Miniflare)
 * with a local R2 bucket: ./worker-app.ts (parquet-wasm's module passed as `wasm`) stores Parquet
 * and Arrow files that read back; ./worker-native-app.ts (docs/library.md's example, no
 * parquet-wasm in its bundle) stores snappy and gzip Parquet by the native encoder, and is told
 * what zstd needs.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as esbuild from "esbuild";
import { wasmSibling } from "../../scripts/build.ts";
import * as arrow from "apache-arrow";
import { compressionRegistry } from "apache-arrow/ipc/compression/registry";
import { CompressionType } from "apache-arrow/fb/compression-type";
import lz4 from "lz4js";
import { Miniflare } from "miniflare";
import { readParquet } from "../helpers/parquet.ts";
import { parquetMetadata, parquetReadObjects } from "hyparquet";

Deno.env.set("WRANGLER_SEND_METRICS", "false");
compressionRegistry.set(CompressionType.LZ4_FRAME, {
  decode: (d) => Uint8Array.from(lz4.decompress(d)),
});

const REPO = new URL("../../", import.meta.url).pathname;
/** gzip'd JavaScript of the library entry (measured: 117 KiB), and with parquet-wasm's binary. */
const BUDGET_JS_GZIP = 150 * 1024;
const BUDGET_TOTAL_GZIP = 3 * 1024 * 1024;

const WORKER_BUILD: esbuild.BuildOptions = {
  bundle: true,
  format: "esm",
  platform: "browser",
  conditions: ["workerd", "worker", "browser", "import"],
  mainFields: ["browser", "module", "main"],
  external: ["@aws-sdk/client-s3"],
  minify: true,
  metafile: true,
  logLevel: "warning",
};

async function gzipSize(data: Uint8Array): Promise<number> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(s).arrayBuffer()).byteLength;
}

/**
 * OTLP/JSON of three log records (i = 1…3) of `service`, bodies `body(i)`, and an attribute
 * `i` on each when `withAttribute`.
 */
function threeLogs(service: string, body: (i: number) => string, withAttribute = false): string {
  return JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [{
        logRecords: [1, 2, 3].map((i) => ({
          timeUnixNano: `171455760000000000${i}`,
          body: { stringValue: body(i) },
          ...(withAttribute ? { attributes: [{ key: "i", value: { intValue: String(i) } }] } : {}),
        })),
      }],
    }],
  });
}

/** Miniflare's local R2 bucket `BUCKET`, as much of it as the tests read. */
async function bucketOf(mf: Miniflare) {
  return (await mf.getR2Bucket("BUCKET")) as unknown as {
    list(): Promise<{ objects: { key: string }[] }>;
    get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  };
}

Deno.test("the library entry bundles without Hono, HTTP, entry or platform modules, within its size budget", async () => {
  try {
    const r = await esbuild.build({
      ...WORKER_BUILD,
      entryPoints: [`${REPO}src/lib/index.ts`],
      outfile: "lib.js",
      write: false,
    });
    const inputs = Object.keys(r.metafile!.inputs);
    ok(inputs.includes("src/lib/index.ts"), inputs.slice(0, 5).join(", "));
    ok(inputs.includes("src/ingest/index.ts"), "the server's ingest() is in");
    ok(inputs.includes("src/config/load.ts"), "the server's config loader is in");
    deepStrictEqual(
      inputs.filter((i) =>
        /(^|\/)node_modules\/(hono|@hono)\/|^src\/http\/|^src\/entry\/|\.node\.ts$/.test(i)
      ),
      [],
    );
    const [output] = Object.values(r.metafile!.outputs);
    deepStrictEqual(output.imports.filter((i) => i.path.startsWith("node:")), []);
    const js = await gzipSize(r.outputFiles![0].contents);
    const wasm = await gzipSize(
      await Deno.readFile(`${REPO}node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm`),
    );
    console.log(
      `library entry: ${(js / 1024).toFixed(0)} KiB gzip'd JS (budget ${BUDGET_JS_GZIP / 1024}), ` +
        `${((js + wasm) / 1024).toFixed(0)} KiB with parquet-wasm (budget ${
          BUDGET_TOTAL_GZIP / 1024
        })`,
    );
    ok(js <= BUDGET_JS_GZIP, `the library entry is ${js} bytes gzip'd, over ${BUDGET_JS_GZIP}`);
    ok(js + wasm <= BUDGET_TOTAL_GZIP, `with parquet-wasm ${js + wasm}, over ${BUDGET_TOTAL_GZIP}`);
  } finally {
    await esbuild.stop();
  }
});

Deno.test({
  name: "a Worker using the library stores Parquet and Arrow files in R2 through the binding",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-libworker-" });
    let mf: Miniflare | undefined;
    try {
      await esbuild.build({
        ...WORKER_BUILD,
        entryPoints: [`${REPO}tests/lib/worker-app.ts`],
        outfile: `${dir}/index.js`,
        plugins: [wasmSibling],
      });
      await Deno.copyFile(
        `${REPO}node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm`,
        `${dir}/parquet_wasm_bg.wasm`,
      );
      mf = new Miniflare({
        modules: [
          { type: "ESModule", path: `${dir}/index.js` },
          { type: "CompiledWasm", path: `${dir}/parquet_wasm_bg.wasm` },
        ],
        modulesRoot: dir,
        compatibilityDate: "2025-09-01",
        r2Buckets: ["BUCKET"],
        cf: false,
      });
      const post = async (format: string, service: string) => {
        const res = await mf!.dispatchFetch(`http://localhost/logs?format=${format}`, {
          method: "POST",
          body: threeLogs(service, (i) => `worker ${i}`),
        });
        strictEqual(res.status, 200);
        return await res.json() as {
          result: { ok: boolean; records: number };
          platform: boolean;
        };
      };
      const pq = await post("parquet", "w-parquet");
      deepStrictEqual(pq.result, { ok: true, records: 3, rejected: 0, message: "" });
      strictEqual(pq.platform, false, "Workers defaults: write-through");
      deepStrictEqual((await post("arrow", "w-arrow")).result.records, 3);

      const bucket = await bucketOf(mf);
      const keys = (await bucket.list()).objects.map((o) => o.key).sort();
      strictEqual(keys.length, 2, keys.join(", "));
      ok(
        /^logs\/w-arrow\/year=2024\/month=05\/day=01\/hour=10\/\d+-[0-9a-f]{16}\.arrow$/.test(
          keys[0],
        ),
      );
      ok(/^logs\/w-parquet\/.+\.parquet$/.test(keys[1]), keys[1]);
      const bytes = async (k: string) => new Uint8Array(await (await bucket.get(k))!.arrayBuffer());
      const bodies = (t: arrow.Table) => t.getChild("Body")!.toArray();
      deepStrictEqual(bodies(arrow.tableFromIPC(await bytes(keys[0]))), [
        "worker 1",
        "worker 2",
        "worker 3",
      ]);
      deepStrictEqual(bodies(readParquet(await bytes(keys[1]))), [
        "worker 1",
        "worker 2",
        "worker 3",
      ]);
    } finally {
      await mf?.dispose();
      await esbuild.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a Worker using the library without parquet-wasm writes snappy and gzip Parquet natively, and says what zstd needs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-libworker-native-" });
    let mf: Miniflare | undefined;
    try {
      const built = await esbuild.build({
        ...WORKER_BUILD,
        entryPoints: [`${REPO}tests/lib/worker-native-app.ts`],
        outfile: `${dir}/index.js`,
        plugins: [wasmSibling],
      });
      const inputs = Object.keys(built.metafile!.inputs);
      ok(
        !inputs.some((p) => p.endsWith(".wasm")),
        inputs.filter((p) => p.endsWith(".wasm")).join(),
      );
      const js = await gzipSize(await Deno.readFile(`${dir}/index.js`));
      console.log(`  a library Worker without parquet-wasm: ${(js / 1024).toFixed(0)} KiB gzip`);
      ok(js <= BUDGET_JS_GZIP, `${js} B gzip, over ${BUDGET_JS_GZIP}`);
      mf = new Miniflare({
        modules: [{ type: "ESModule", path: `${dir}/index.js` }],
        modulesRoot: dir,
        compatibilityDate: "2025-09-01",
        r2Buckets: ["BUCKET"],
        cf: false,
      });
      const LONG = "a compressible body ".repeat(40);
      const post = async (compression: string | null, service: string) => {
        const q = compression ? `?compression=${compression}` : "";
        const res = await mf!.dispatchFetch(`http://localhost/logs${q}`, {
          method: "POST",
          body: threeLogs(service, (i) => `native ${i} ✓ ${LONG}`, true),
        });
        return { status: res.status, body: await res.json() as Record<string, unknown> };
      };
      const snappy = await post(null, "w-snappy");
      strictEqual(snappy.status, 200, JSON.stringify(snappy.body));
      deepStrictEqual(snappy.body, {
        result: { ok: true, records: 3, rejected: 0, message: "" },
        compression: "snappy",
      });
      strictEqual((await post("gzip", "w-gzip")).status, 200);
      const zstd = await post("zstd", "w-zstd");
      strictEqual(zstd.status, 500);
      ok(
        /TypeError: .*parquet\.compression = "zstd".*parquet-wasm: pass `wasm`/.test(
          String(zstd.body.error),
        ),
        String(zstd.body.error),
      );

      const bucket = await bucketOf(mf);
      const keys = (await bucket.list()).objects.map((o) => o.key).sort();
      strictEqual(keys.length, 2, keys.join(", "));
      for (const [key, codec] of [[keys[0], "GZIP"], [keys[1], "SNAPPY"]]) {
        ok(key.includes(codec === "GZIP" ? "/w-gzip/" : "/w-snappy/"), key);
        const bytes = new Uint8Array(await (await bucket.get(key))!.arrayBuffer());
        const meta = parquetMetadata(bytes.buffer);
        const kv = new Map(meta.key_value_metadata?.map((e) => [e.key, e.value]));
        ok(kv.has("ARROW:schema"), key);
        const codecs = new Set(
          meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)),
        );
        // Body's chunk compresses; chunks of a few bytes are stored uncompressed.
        ok(codecs.has(codec as "GZIP"), `${key}: ${[...codecs].join()}`);
        deepStrictEqual([...codecs].filter((c) => c !== codec && c !== "UNCOMPRESSED"), []);
        const bodies = [1, 2, 3].map((i) => `native ${i} ✓ ${LONG}`);
        deepStrictEqual(readParquet(bytes).getChild("Body")!.toArray(), bodies);
        if (codec === "SNAPPY") {
          // hyparquet reads snappy itself (gzip needs its compressors package).
          const rows = await parquetReadObjects({ file: bytes.buffer, columns: ["Body"] });
          deepStrictEqual(rows.map((r) => r.Body), bodies);
        }
        deepStrictEqual(
          readParquet(bytes).getChild("LogAttributes")!.toArray().map((m: { toJSON(): unknown }) =>
            m.toJSON()
          ),
          [{ i: "1" }, { i: "2" }, { i: "3" }],
        );
      }
    } finally {
      await mf?.dispose();
      await esbuild.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
