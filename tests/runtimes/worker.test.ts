/**
 * The Cloudflare Worker: the built bundle (deno task build:worker) runs in workerd through
 * Miniflare with a local R2 bucket. OTLP protobuf, JSON and gzip requests for all three signals
 * are stored as Parquet objects whose rows read back. Running the bundle in workerd also proves
 * nothing in it generates code at run time (workerd refuses `new Function` and `eval`).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import {
  gzip,
  jsonBytes,
  logsJson,
  logsPb,
  metricsJson,
  metricsPb,
  tracesJson,
  tracesPb,
} from "../http/fixtures.ts";
import { readParquet } from "../helpers/parquet.ts";
import { r2Keys, type R2Objects, workerModules } from "../helpers/worker.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");

const BUDGET_GZIP_BYTES = 3 * 1024 * 1024;

async function gzipSize(path: string): Promise<number> {
  const data = await Deno.readFile(path);
  const s = new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(s).arrayBuffer()).byteLength;
}

async function rowsUnder(bucket: R2Objects, prefix: string): Promise<number> {
  let rows = 0;
  for (const key of await r2Keys(bucket, prefix)) {
    const obj = await bucket.get(key);
    ok(obj, key);
    rows += readParquet(new Uint8Array(await obj.arrayBuffer())).numRows;
  }
  return rows;
}

Deno.test({
  name: "worker bundle stores OTLP protobuf, JSON and gzip requests for every signal in R2",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { bundle } = await build("worker");
    const dir = bundle.slice(0, bundle.lastIndexOf("/"));

    await t.step("bundle and wasm fit the 3 MB gzip budget of the Workers free plan", async () => {
      const total = (await gzipSize(bundle)) + (await gzipSize(`${dir}/parquet_wasm_bg.wasm`));
      console.log(`worker gzip size: ${(total / 1024).toFixed(0)} KiB (budget 3072 KiB)`);
      ok(total <= BUDGET_GZIP_BYTES, `worker is ${total} bytes gzip'd, over ${BUDGET_GZIP_BYTES}`);
    });

    const mf = new Miniflare({
      ...workerModules(bundle),
      r2Buckets: ["BUCKET"],
      bindings: { OTLP2PARQUET_STORAGE_PREFIX: "otel/" },
      cf: false,
    });
    try {
      const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Objects;
      const post = async (path: string, body: Uint8Array, headers: Record<string, string>) => {
        const res = await mf.dispatchFetch(`http://localhost${path}`, {
          method: "POST",
          body,
          headers,
        });
        return {
          status: res.status,
          type: res.headers.get("content-type"),
          body: await res.text(),
        };
      };
      const PB = { "content-type": "application/x-protobuf" };
      const JS = { "content-type": "application/json" };
      const GZ = { "content-encoding": "gzip" };

      await t.step("health answers", async () => {
        const res = await mf.dispatchFetch("http://localhost/health");
        strictEqual(res.status, 200);
        await res.body?.cancel();
      });

      await t.step("logs: protobuf, JSON, gzip'd protobuf, and gzip of two members", async () => {
        strictEqual((await post("/v1/logs", logsPb(3, "w-logs"), PB)).status, 200);
        const j = await post("/v1/logs", jsonBytes(logsJson(4, "w-logs")), JS);
        strictEqual(j.status, 200);
        deepStrictEqual(JSON.parse(j.body), {});
        strictEqual(
          (await post("/v1/logs", gzip(logsPb(5, "w-logs")), { ...PB, ...GZ })).status,
          200,
        );
        // Two requests gzip'd each and joined (RFC 1952 members, as otlp2parquet forwards
        // them): workerd's DecompressionStream takes one member, the rest is read too.
        const two = new Uint8Array([...gzip(logsPb(2, "w-logs")), ...gzip(logsPb(3, "w-logs"))]);
        strictEqual((await post("/v1/logs", two, { ...PB, ...GZ })).status, 200);
        strictEqual(await rowsUnder(bucket, "otel/logs/w-logs/"), 17);
      });

      await t.step("traces: protobuf, JSON and gzip'd JSON", async () => {
        strictEqual((await post("/v1/traces", tracesPb(2, "w-traces"), PB)).status, 200);
        strictEqual(
          (await post("/v1/traces", jsonBytes(tracesJson(3, "w-traces")), JS)).status,
          200,
        );
        const gz = gzip(jsonBytes(tracesJson(4, "w-traces")));
        strictEqual((await post("/v1/traces", gz, { ...JS, ...GZ })).status, 200);
        strictEqual(await rowsUnder(bucket, "otel/traces/w-traces/"), 9);
      });

      await t.step("metrics: protobuf, JSON and gzip, with partial success", async () => {
        strictEqual((await post("/v1/metrics", metricsPb(2, 0, "w-metrics"), PB)).status, 200);
        const j = await post("/v1/metrics", jsonBytes(metricsJson(3, 1, "w-metrics")), JS);
        strictEqual(j.status, 200);
        strictEqual(JSON.parse(j.body).partialSuccess?.rejectedDataPoints, "1");
        const gz = gzip(metricsPb(4, 0, "w-metrics"));
        strictEqual((await post("/v1/metrics", gz, { ...PB, ...GZ })).status, 200);
        strictEqual(await rowsUnder(bucket, "otel/metrics/gauge/w-metrics/"), 9);
      });

      await t.step("object keys follow the layout under the prefix", async () => {
        for (const key of await r2Keys(bucket, "otel/")) {
          ok(
            /^otel\/(logs|traces|metrics\/gauge)\/w-[a-z]+\/year=\d{4}\/month=\d\d\/day=\d\d\/hour=\d\d\/\d+-[0-9a-f]+\.parquet$/
              .test(key),
            key,
          );
        }
      });

      await t.step("a body over the 10 MiB Workers limit gets 413", async () => {
        const big = new Uint8Array(10 * 1024 * 1024 + 1);
        const res = await post("/v1/logs", big, PB);
        strictEqual(res.status, 413);
      });

      await t.step("bad input gets a 400 Status and the worker keeps serving", async () => {
        const bad = await post("/v1/logs", new TextEncoder().encode("{not json"), JS);
        strictEqual(bad.status, 400);
        ok(JSON.parse(bad.body).message.length > 0);
        strictEqual((await post("/v1/logs", logsPb(1, "w-after"), PB)).status, 200);
      });
    } finally {
      await mf.dispose();
    }
  },
});
