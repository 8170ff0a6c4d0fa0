/**
 * `otlp2parquet compact` and `otlp2parquet retention` with `catalog.mode = "iceberg"`, run as a
 * user runs them (deno run src/entry/main.ts, OTLP2PARQUET_* variables) on what a real server
 * stored and committed (default config: batching with the write-ahead log), against the suite's
 * REST catalog (tests/helpers/catalog.ts: no REST catalog server installs here). The table is
 * read back by python3-avro (current snapshot's files), DuckDB (their rows) and icebird (every
 * row): after `compact` it lists exactly the compacted files with the same rows; after
 * `retention` the expired partition is gone from it.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import { sendLogs } from "../helpers/otel.ts";
import { startServer } from "../helpers/server.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
const REPO = new URL("../../", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string>) {
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/entry/main.ts", ...args],
    cwd: REPO,
    env: { ...inherited, ...env, NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** [seconds, nanoseconds] of `ms` (an OTel SDK time). */
const at = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];

Deno.test({
  name:
    "compact and retention commit replace and delete snapshots: the table lists exactly the files that remain",
  ignore: SKIP,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-lifecycle-cli-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out, token: "cli-token" });
    const env = {
      OTLP2PARQUET_CATALOG_MODE: "iceberg",
      OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
      OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "cli-token",
      OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal`,
      OTLP2PARQUET_COMPACTION_MIN_FILES: "2",
      OTLP2PARQUET_COMPACTION_MIN_AGE_SECS: "0",
    };
    const hour = 3_600_000;
    const recentMs = Math.floor(Date.now() / hour) * hour - 3 * hour; // an hour that ended
    const oldMs = recentMs - 20 * 24 * hour; // past a 7-day retention
    const bodies: string[] = [];
    try {
      // Three server runs: each stores one file per service and commits it on stop.
      for (let run = 0; run < 3; run++) {
        const srv = await startServer({ output: out, env });
        try {
          for (const [service, ms, n] of [["shop", recentMs, 20], ["ledger", oldMs, 10]] as const) {
            await sendLogs({ url: srv.url, protocol: "proto", service }, ({ logger }) => {
              for (let i = 0; i < n; i++) {
                const body = `${service}-${run}-${i}`;
                bodies.push(body);
                logger.emit({ body, timestamp: at(ms + run * 1000 + i) });
              }
            }, { batch: true });
          }
          strictEqual(await srv.stop(), 0, srv.log());
        } finally {
          await srv.kill();
        }
      }
      const meta = () => cat.metadataPath("otel", "logs")!;
      const before = await currentFiles(meta());
      strictEqual(before.paths.length, 6, "3 runs × 2 services, all committed");

      const c = await cli(["compact", "--output", out], env);
      strictEqual(c.code, 0, c.err);
      ok(/logs\/shop\/.*: 3 files → 1/.test(c.out), c.out);
      ok(/logs\/ledger\/.*: 3 files → 1/.test(c.out), c.out);
      const stored = await storedParquet(`${out}/logs`);
      strictEqual(stored.length, 2);
      let cur = await currentFiles(meta());
      deepStrictEqual(cur.paths.sort(), stored, "the table lists exactly the compacted files");
      strictEqual(cur.summary?.operation, "replace");
      strictEqual(await duckdbCount(cur.paths), bodies.length);
      deepStrictEqual(
        (await icebirdRows(meta())).map((r) => String(r.Body)).sort(),
        [...bodies].sort(),
      );

      const retEnv = { ...env, OTLP2PARQUET_RETENTION_LOGS_DAYS: "7" };
      const dry = await cli(["retention", "--dry-run", "--output", out], retEnv);
      strictEqual(dry.code, 0, dry.err);
      ok(/logs\/ledger\/.*: 1 files \(dry run\)/.test(dry.out), dry.out);
      strictEqual((await currentFiles(meta())).snapshotId, cur.snapshotId, "dry run: no commit");
      const ret = await cli(["retention", "--output", out], retEnv);
      strictEqual(ret.code, 0, ret.err);
      ok(/logs\/ledger\/.*: 1 files deleted/.test(ret.out), ret.out);
      cur = await currentFiles(meta());
      strictEqual(cur.summary?.operation, "delete");
      strictEqual(cur.summary?.["deleted-records"], "30");
      const left = await storedParquet(`${out}/logs`);
      strictEqual(left.length, 1);
      ok(left[0].includes("/logs/shop/"), left[0]);
      deepStrictEqual(cur.paths, left, "the expired partition is gone from the table");
      const shop = bodies.filter((b) => b.startsWith("shop-")).sort();
      strictEqual(shop.length, 60);
      deepStrictEqual((await icebirdRows(meta())).map((r) => String(r.Body)).sort(), shop);
      strictEqual(await duckdbCount(cur.paths), 60);
      const status = await cli(["iceberg", "status", "--output", out], env);
      strictEqual(status.code, 0, status.err);
      ok(
        /otel\.logs\s+pending\s+0\s+snapshot \d+ at .*\(delete: -1 files, -30 records; total 60 records\)/
          .test(status.out),
        status.out,
      );
    } finally {
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});
