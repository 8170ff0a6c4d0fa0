/**
 * Iceberg mode end to end, started as users start it (`serve` with the default batching and
 * write-ahead log, `OTLP2PARQUET_CATALOG_*` variables), with the OpenTelemetry JS SDK as client
 * and the suite's REST catalog (tests/helpers/catalog.ts). What was acknowledged is in the
 * tables exactly once, read back by icebird, by DuckDB over the files python3-avro lists, and
 * counted by the snapshot summaries:
 * - the catalog down during the load, then up;
 * - SIGKILL after the files are stored and before they are committed, then a restart.
 */
import { ok, strictEqual } from "node:assert/strict";
import { type CatalogServer, startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import { sendLogs, sendSpans } from "../helpers/otel.ts";
import { startServer } from "../helpers/server.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");

function env(cat: CatalogServer, more: Record<string, string> = {}): Record<string, string> {
  return {
    OTLP2PARQUET_BATCH_ENABLED: "true",
    OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1",
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
    OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "e2e-token",
    OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "1",
    OTLP2PARQUET_CATALOG_ICEBERG_TIMEOUT_SECS: "2",
    ...more,
  };
}

/** Polls `cond` every 200 ms for at most `ms`. */
async function until(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The table's current snapshot holds exactly the stored files of `dir`, `rows` rows. */
async function assertTable(cat: CatalogServer, table: string, dir: string, rows: number) {
  const meta = cat.metadataPath("otel", table)!;
  ok(meta, `table ${table} exists`);
  const cur = await currentFiles(meta);
  const stored = await storedParquet(dir);
  strictEqual(new Set(cur.paths).size, cur.paths.length, "no file twice");
  strictEqual(cur.paths.sort().join("\n"), stored.join("\n"), "every stored file, once");
  strictEqual(await duckdbCount(cur.paths), rows, "DuckDB rows");
  strictEqual((await icebirdRows(meta)).length, rows, "icebird rows");
  strictEqual(cur.summary?.["total-records"], String(rows));
}

Deno.test({
  name: "iceberg: a catalog outage during the load fails nothing; all is committed once it is up",
  ignore: SKIP,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-e2e-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out, token: "e2e-token" });
    cat.down = true;
    const srv = await startServer({ output: out, env: env(cat) });
    try {
      let logs = 0, spans = 0;
      for (let round = 0; round < 3; round++) {
        await sendLogs(
          { url: srv.url, protocol: "proto", service: `svc-${round}` },
          ({ logger }) => {
            for (let i = 0; i < 50; i++) logger.emit({ body: `r${round}-${i}` });
          },
          { batch: true },
        );
        logs += 50;
        await sendSpans({ url: srv.url, protocol: "json", service: "svc-t" }, (tracer) => {
          for (let i = 0; i < 20; i++) tracer.startSpan(`s${round}-${i}`).end();
        });
        spans += 20;
        await new Promise((r) => setTimeout(r, 1200)); // one file per round (max_age 1 s)
      }
      await until("files stored", async () => (await storedParquet(`${out}/logs`)).length >= 3);
      strictEqual(cat.commitsApplied, 0);
      cat.down = false;
      await until("logs and traces committed", async () => {
        const l = cat.metadataPath("otel", "logs"), t = cat.metadataPath("otel", "traces");
        if (!l || !t) return false;
        const a = await currentFiles(l), b = await currentFiles(t);
        return a.paths.length === (await storedParquet(`${out}/logs`)).length &&
          b.paths.length === (await storedParquet(`${out}/traces`)).length;
      });
      const code = await srv.stop();
      strictEqual(code, 0, srv.log());
      await assertTable(cat, "logs", `${out}/logs`, logs);
      await assertTable(cat, "traces", `${out}/traces`, spans);
      ok(/Iceberg snapshot committed/.test(srv.log()));
    } finally {
      await srv.kill();
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});

Deno.test({
  name: "iceberg: SIGKILL between storing and committing, then restart: every file once",
  ignore: SKIP,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-e2e-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out, token: "e2e-token" });
    const dirs = { OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal` };
    // No commit for an hour: the files are stored and pending when the process is killed.
    const first = await startServer({
      output: out,
      env: env(cat, { ...dirs, OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "3600" }),
    });
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      let rows = 0;
      // One file per round: each round waits until the previous one is stored (a fixed pause
      // let two rounds share a flush on a loaded machine, and three files never came).
      for (let round = 0; round < 3; round++) {
        await sendLogs({ url: first.url, protocol: "proto", service: "crashy" }, ({ logger }) => {
          for (let i = 0; i < 40; i++) logger.emit({ body: `k${round}-${i}` });
        }, { batch: true });
        rows += 40;
        await until(
          `round ${round} stored`,
          async () => (await storedParquet(`${out}/logs`).catch(() => [])).length > round,
        );
      }
      await until("3 files stored and pending", async () => {
        const files = await storedParquet(`${out}/logs`);
        const pending = await Array.fromAsync(Deno.readDir(`${parent}/.iceberg-pending`)).catch(
          () => [],
        );
        return files.length >= 3 && pending.filter((e) => e.name.endsWith(".json")).length >= 3;
      });
      await first.kill(); // SIGKILL: nothing after the stores runs
      strictEqual(cat.commitsApplied, 0);
      second = await startServer({ output: out, env: env(cat, dirs) });
      await until("committed after restart", async () => {
        const m = cat.metadataPath("otel", "logs");
        return !!m &&
          (await currentFiles(m)).paths.length === (await storedParquet(`${out}/logs`)).length;
      });
      strictEqual(await second.stop(), 0, second.log());
      await assertTable(cat, "logs", `${out}/logs`, rows);
      strictEqual((await Array.fromAsync(Deno.readDir(`${parent}/.iceberg-pending`))).length, 0);
    } finally {
      await first.kill();
      await second?.kill();
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});
