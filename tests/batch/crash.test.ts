/**
 * The real server under load is killed with SIGKILL several times and restarted over the same
 * output and write-ahead log directories. Every log record whose request got a 200 must be in
 * the Parquet files exactly once (DuckDB counts the distinct ids).
 */
import { ok, strictEqual } from "node:assert/strict";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { type Server, startServer } from "../helpers/server.ts";

const RECORDS_PER_REQUEST = 20;
const SENDERS = 6;
const KILLS = 3;
const LOAD_MS = 1500;

function body(ids: string[]): string {
  const t = "1714557600000000000";
  return JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "crash" } }] },
      scopeLogs: [{
        logRecords: ids.map((id) => ({ timeUnixNano: t, body: { stringValue: id } })),
      }],
    }],
  });
}

/** Sends requests from `SENDERS` loops until `stop()`; ids of requests answered 200 go to `acked`. */
function load(url: string, acked: Set<string>, next: () => number) {
  let running = true;
  const statuses = new Map<number | string, number>();
  const loops = Array.from({ length: SENDERS }, async () => {
    while (running) {
      const ids = Array.from({ length: RECORDS_PER_REQUEST }, () => `id-${next()}`);
      try {
        const r = await fetch(`${url}/v1/logs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: body(ids),
        });
        await r.body?.cancel();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) { for (const id of ids) acked.add(id); }
      } catch (e) {
        const k = e instanceof Error ? e.name : "error";
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20)); // the server is gone: wait for the restart
        if (!running) break;
      }
    }
  });
  return {
    statuses,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

Deno.test({
  name:
    "SIGKILL under load, restarted several times: every acknowledged record stored exactly once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-crash-" });
    const output = `${root}/out`;
    const env = {
      OTLP2PARQUET_BATCH_ENABLED: "true",
      OTLP2PARQUET_BATCH_DURABILITY: "wal",
      OTLP2PARQUET_BATCH_WAL_DIR: `${root}/wal`,
      OTLP2PARQUET_BATCH_MAX_ROWS: "2000",
      OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1",
    };
    const acked = new Set<string>();
    let n = 0;
    let srv: Server | undefined;
    try {
      for (let run = 0; run <= KILLS; run++) {
        srv = await startServer({ output, env });
        const l = load(srv.url, acked, () => n++);
        await new Promise((r) => setTimeout(r, LOAD_MS));
        if (run < KILLS) {
          await srv.kill(); // SIGKILL in the middle of the load
          await l.stop();
        } else {
          await l.stop();
          strictEqual(await srv.stop(), 0, srv.log()); // SIGTERM: flush everything, exit 0
          await srv.kill();
          const left = [...Deno.readDirSync(`${root}/wal`)].filter((e) => e.name.endsWith(".wal"));
          strictEqual(left.length, 0, "a clean shutdown leaves an empty write-ahead log");
        }
        ok(
          (l.statuses.get(200) ?? 0) > 0,
          `run ${run}: no request succeeded: ${JSON.stringify([...l.statuses])}`,
        );
      }
      const files = (await listParquet(output)).map((f) => `${output}/${f}`);
      ok(files.length > 0);
      const rows = await query(
        `SELECT Body AS id, count(*) AS n FROM ${readParquet(files)} GROUP BY Body`,
      );
      const stored = new Map(rows.map((r) => [String(r.id), Number(r.n)]));
      const twice = rows.filter((r) => Number(r.n) > 1).map((r) => r.id);
      strictEqual(twice.length, 0, `stored more than once: ${twice.slice(0, 10)}`);
      const missing = [...acked].filter((id) => !stored.has(id));
      strictEqual(
        missing.length,
        0,
        `acknowledged but missing (of ${acked.size}): ${missing.slice(0, 10)}`,
      );
      ok(acked.size >= 1000, `only ${acked.size} records acknowledged`);
    } finally {
      await srv?.kill();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
