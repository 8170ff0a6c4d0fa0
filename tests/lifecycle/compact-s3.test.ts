/**
 * Compaction against a real S3 server (OpenStack Swift with s3api): 500 write-through files of
 * one hour become at most ceil(total / target) files with exactly the same rows, and retention
 * deletes what is past its limit. DuckDB reads the objects after they are downloaded.
 */
import { ok, strictEqual } from "node:assert/strict";
import { compact } from "../../src/lifecycle/compact.ts";
import { compactionOptions } from "../../src/lifecycle/index.ts";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { enforceRetention } from "../../src/lifecycle/retention.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { silentLogger } from "../../src/log/log.ts";
import { createS3Storage } from "../../src/storage/s3.ts";
import type { StorageDriver } from "../../src/storage/types.ts";
import { query, readParquet } from "../helpers/duckdb.ts";
import { s3Options, s3Test, withBucket } from "../helpers/s3.ts";
import { HOUR0_NS, writeSmallFiles } from "./fixtures.ts";

/** Downloads every object under `prefix` into a temporary directory; returns the file paths. */
async function download(storage: StorageDriver, prefix: string, dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const key of await storage.list(prefix)) {
    const path = `${dir}/${files.length}.parquet`;
    await Deno.writeFile(path, (await storage.get(key))!);
    files.push(path);
  }
  return files;
}

s3Test(
  "compaction on S3 (Swift): 500 small files become ceil(total / target) files with the same rows",
  async () => {
    await withBucket(async (bucket) => {
      const storage = createS3Storage(s3Options(bucket));
      const tmp = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-s3-" });
      try {
        const rows = await writeSmallFiles(storage, "s3svc", 500);
        const listed = await storage.listWithSizes!("logs/");
        strictEqual(listed.length, 500);
        const total = listed.reduce((n, o) => n + o.size, 0);
        await Deno.mkdir(`${tmp}/before`);
        const before = await download(storage, "logs/", `${tmp}/before`);
        await query(`CREATE TABLE s3_before AS SELECT * FROM ${readParquet(before)}`);

        const target = Math.ceil(total / 4);
        const config = defaultConfig("server");
        const r = await compact(
          storage,
          compactionOptions(config, { targetBytes: target }),
          silentLogger,
        );
        strictEqual(r.partitions.length, 1);
        strictEqual(r.partitions[0].rows, rows);
        const keys = await storage.list("logs/");
        ok(keys.length >= 1 && keys.length <= Math.ceil(total / target), `${keys.length} files`);
        for (const k of keys) ok(parseDataKey(k)?.compacted, k);
        strictEqual((await storage.list("_compaction/")).length, 0);

        await Deno.mkdir(`${tmp}/after`);
        const after = await download(storage, "logs/", `${tmp}/after`);
        await query(`CREATE TABLE s3_after AS SELECT * FROM ${readParquet(after)}`);
        for (const [a, b] of [["s3_before", "s3_after"], ["s3_after", "s3_before"]]) {
          const d = await query(
            `SELECT count(*)::INT AS n FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})`,
          );
          strictEqual(d[0].n, 0, `${a} EXCEPT ALL ${b}`);
        }

        // Retention: 30 days after that hour, with logs kept 7 days, everything goes.
        const now = () => Number(HOUR0_NS / 1_000_000n) + 30 * 86_400_000;
        const ret = await enforceRetention(storage, {
          days: { logs: 7, traces: 0, metrics: 0 },
          now,
        }, silentLogger);
        strictEqual(ret.deleted, keys.length);
        strictEqual((await storage.list("logs/")).length, 0);
      } finally {
        await storage.close?.();
        await Deno.remove(tmp, { recursive: true });
      }
    });
  },
);
