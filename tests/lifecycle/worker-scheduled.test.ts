/**
 * Compaction on Cloudflare Workers: the built bundle in workerd (Miniflare) with a local R2
 * bucket, its `scheduled` handler (a Cron Trigger) run on a partition of 2,000 small files as
 * write-through Workers leave them. And the same compaction, with the Workers defaults, within
 * a Worker's 128 MB: in a process whose V8 heap is capped at 96 MB, parquet-wasm's linear memory
 * staying under the remaining 32 MB (workerd itself enforces no memory limit here).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { readParquet } from "../helpers/parquet.ts";
import { r2Keys, type R2Objects, workerModules } from "../helpers/worker.ts";
import { writeSmallFiles } from "./fixtures.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");

const FILES = 2000;
const HEAP_MB = 96;
const WASM_MAX = 32 * 1024 * 1024;

interface R2Like extends R2Objects {
  put(key: string, value: Uint8Array): Promise<unknown>;
}

Deno.test({
  name: `the Worker's scheduled handler compacts a partition of ${FILES} small files in R2`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const small = createMemoryStorage();
    const rows = await writeSmallFiles(small, "edge", FILES, 1);
    strictEqual(small.objects.size, FILES);
    const { bundle } = await build("worker");
    const mf = new Miniflare({
      ...workerModules(bundle),
      r2Buckets: ["BUCKET"],
      bindings: {
        CF_WORKER: "1",
        OTLP2PARQUET_STORAGE_PREFIX: "otel/",
        OTLP2PARQUET_COMPACTION_ENABLED: "true",
      },
      cf: false,
    });
    try {
      const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Like;
      for (const [key, data] of small.objects) await bucket.put(`otel/${key}`, data);
      const worker = await mf.getWorker();
      await (worker as unknown as { scheduled(o: { cron: string }): Promise<unknown> })
        .scheduled({ cron: "17 * * * *" });
      const keys = await r2Keys(bucket, "otel/");
      strictEqual(keys.length, 1, `${keys.length} objects: ${keys.slice(0, 3)}`);
      ok(parseDataKey(keys[0].slice("otel/".length))?.compacted, keys[0]);
      const obj = await bucket.get(keys[0]);
      const table = readParquet(new Uint8Array(await obj!.arrayBuffer()));
      strictEqual(table.numRows, rows);
      const bodies = table.getChild("Body")!.toArray() as string[];
      deepStrictEqual(
        [...bodies].sort(),
        Array.from({ length: FILES }, (_, i) => `req ${i} rec 0`).sort(),
      );
      const times = table.getChild("Timestamp")!.toArray() as BigInt64Array;
      for (let i = 1; i < times.length; i++) ok(times[i] >= times[i - 1], `row ${i} out of order`);
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test(`compacting ${FILES} small files with the Workers defaults fits a Worker's 128 MB`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-capped-" });
  try {
    const rows = await writeSmallFiles(createFsStorage({ root: dir }), "edge", FILES, 1);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--v8-flags=--max-old-space-size=${HEAP_MB}`,
        new URL("./compact-capped.ts", import.meta.url).pathname,
        dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    deepStrictEqual([r.partitions, r.rows], [1, rows]);
    ok(r.wasmBytes <= WASM_MAX, `parquet-wasm grew to ${r.wasmBytes} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
