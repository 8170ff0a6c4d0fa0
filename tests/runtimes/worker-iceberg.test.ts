/**
 * Iceberg mode on Cloudflare Workers, the R2 Data Catalog path: the built bundle in workerd
 * (Miniflare) with a local R2 bucket and a bearer token, against the suite's REST catalog
 * (tests/helpers/catalog.ts). Batching through the Durable Object (its SQLite storage holds the
 * pending list, its alarm commits) and writing through (pending objects in the bucket, commits
 * after requests): the current snapshot lists every stored file once (python3-avro reads the
 * manifests from the bucket), and DuckDB reads back every acknowledged row. The Cron Trigger
 * (`scheduled`) then compacts in `replace` snapshots: the table lists exactly the compacted files.
 */
import { ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import { jsonBytes, logsJson, T0 } from "../http/fixtures.ts";
import { type CatalogServer, startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro, readAvroFiles } from "../helpers/avro.ts";
import { workerModules } from "../helpers/worker.ts";
import { readMetadata } from "../helpers/iceberg.ts";
import { query, readParquet } from "../helpers/duckdb.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");
const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
const BUCKET_NAME = "otel-bucket";

interface R2Like {
  list(o?: { prefix?: string }): Promise<{ objects: { key: string }[] }>;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  head(key: string): Promise<unknown | null>;
}

const keyOf = (uri: string) => uri.slice(`s3://${BUCKET_NAME}/`.length);

/** The current snapshot's data file keys (manifests read by python3-avro from the bucket). */
async function snapshotKeys(cat: CatalogServer, bucket: R2Like, tmp: string): Promise<string[]> {
  const path = cat.metadataPath("otel", "logs");
  if (!path) return [];
  const md = await readMetadata(path);
  const id = (md.refs as Record<string, { "snapshot-id": string }>).main?.["snapshot-id"];
  if (!id) return [];
  const snap = (md.snapshots as Record<string, unknown>[]).find((s) => s["snapshot-id"] === id)!;
  const local = async (uri: string) => {
    const obj = await bucket.get(keyOf(uri));
    const p = `${tmp}/${crypto.randomUUID()}.avro`;
    await Deno.writeFile(p, new Uint8Array(await obj!.arrayBuffer()));
    return p;
  };
  const [list] = await readAvroFiles([await local(snap["manifest-list"] as string)]);
  const manifests = await readAvroFiles(
    await Promise.all(list.records.map((r) => local(r.manifest_path as string))),
  );
  return manifests.flatMap((m) =>
    m.records.filter((e) => e.status !== 2).map((e) =>
      keyOf((e.data_file as { file_path: string }).file_path)
    )
  ).sort();
}

async function parquetKeys(bucket: R2Like): Promise<string[]> {
  return (await bucket.list({ prefix: "logs/" })).objects.map((o) => o.key)
    .filter((k) => k.endsWith(".parquet")).sort();
}

async function rowsOf(bucket: R2Like, keys: string[], tmp: string): Promise<number> {
  const files = [];
  for (const k of keys) {
    const p = `${tmp}/${crypto.randomUUID()}.parquet`;
    await Deno.writeFile(p, new Uint8Array(await (await bucket.get(k))!.arrayBuffer()));
    files.push(p);
  }
  const r = await query(`SELECT count(*)::BIGINT AS n FROM ${readParquet(files)}`);
  return Number(r[0].n);
}

async function until(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const batching of [true, false]) {
  Deno.test({
    name: `worker iceberg (${
      batching ? "Durable Object batching" : "write-through"
    }): every stored file committed once`,
    ignore: SKIP,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const { bundle } = await build("worker");
      const tmp = await Deno.makeTempDir({ prefix: "worker-iceberg-" });
      let bucket: R2Like | undefined;
      const cat = await startCatalogServer({
        root: tmp,
        token: "r2-api-token",
        exists: async (uri) => (await bucket!.head(keyOf(uri))) !== null,
      });
      const mf = new Miniflare({
        ...workerModules(bundle),
        durableObjects: { BATCHER: { className: "OtlpBatcher", useSQLite: true } },
        bindings: {
          OTLP2PARQUET_BATCH_ENABLED: String(batching),
          OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1",
          OTLP2PARQUET_STORAGE_R2_BUCKET: BUCKET_NAME,
          OTLP2PARQUET_CATALOG_MODE: "iceberg",
          OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
          OTLP2PARQUET_CATALOG_ICEBERG_WAREHOUSE: "acct_otel-bucket",
          OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "r2-api-token",
          OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "1",
          OTLP2PARQUET_COMPACTION_ENABLED: "true",
          OTLP2PARQUET_COMPACTION_MIN_FILES: "2",
          OTLP2PARQUET_COMPACTION_MIN_AGE_SECS: "0",
        },
        r2Buckets: ["BUCKET"],
        cf: false,
      });
      try {
        bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Like;
        let rows = 0;
        for (let i = 0; i < 4; i++) {
          const body = jsonBytes(logsJson(6, `w-${i % 2}`, T0 + BigInt(i) * 1_000_000_000n));
          const res = await mf.dispatchFetch("http://localhost/v1/logs", {
            method: "POST",
            body,
            headers: { "content-type": "application/json" },
          });
          await res.text();
          strictEqual(res.status, 200);
          rows += 6;
          await new Promise((r) => setTimeout(r, 1100));
        }
        await until("every stored file in the snapshot", async () => {
          // Writing through, a later request lets the isolate commit (after its interval).
          if (!batching) {
            await (await mf.dispatchFetch("http://localhost/health")).text();
          }
          const stored = await parquetKeys(bucket!);
          const snap = await snapshotKeys(cat, bucket!, tmp);
          return stored.length > 0 && snap.join() === stored.join();
        });
        const keys = await snapshotKeys(cat, bucket, tmp);
        strictEqual(new Set(keys).size, keys.length, "no file twice");
        strictEqual(await rowsOf(bucket, keys, tmp), rows);
        ok(cat.requests.includes("GET /v1/config"));

        // The Cron Trigger compacts: a replace snapshot per partition before the sources go;
        // the table then lists exactly the compacted files, with every row.
        const worker = await mf.getWorker();
        await (worker as unknown as { scheduled(o: { cron: string }): Promise<unknown> })
          .scheduled({ cron: "17 * * * *" });
        await until("the compacted files alone in storage and table", async () => {
          const stored = await parquetKeys(bucket!);
          const snap = await snapshotKeys(cat, bucket!, tmp);
          return stored.length === 2 && stored.every((k) => /-c0\.parquet$/.test(k)) &&
            snap.join() === stored.join();
        });
        const md = await readMetadata(cat.metadataPath("otel", "logs")!);
        const ops = (md.snapshots as { summary: Record<string, string> }[]).map((s) =>
          s.summary.operation
        );
        strictEqual(ops.filter((o) => o === "replace").length, 2, ops.join());
        strictEqual(await rowsOf(bucket, await snapshotKeys(cat, bucket, tmp), tmp), rows);
      } finally {
        await mf.dispose();
        await cat.close();
        await Deno.remove(tmp, { recursive: true });
      }
    },
  });
}
