/**
 * Sustained overload, bounded in count and time: 16 clients send ~4 MiB OTLP/protobuf log
 * requests (8,000 records) as fast as they are answered to the real server (default
 * configuration: batching with the write-ahead log, plus a memory budget,
 * `server.max_memory_bytes` = 512 MiB with `server.max_payload_bytes` = 5 MiB) on Deno, Bun and
 * the Node bundle. Asserted: every answer is 200, 429 or 503; some waited for room or were 429
 * (it was overloaded);
 * every acknowledged record is stored (DuckDB count after SIGTERM flushed the buffers); the peak
 * RSS stays below the bound the docs state (docs/configuration.md, Memory budget, as the server
 * reports it on /metrics). Memory, not timing: nothing here depends on how fast the machine is.
 */
import { ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { budgetEnv, floodBodies, runFlood } from "../../bench/overload.ts";

const MiB = 1024 * 1024;
const BUDGET = 512 * MiB;

let bodies: Uint8Array[] | undefined;

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name:
      `server on ${runtime} under overload: 200/429 only, nothing acknowledged lost, RSS within the budget`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      bodies ??= floodBodies(8000);
      ok(bodies[0].length > 4_000_000 && bodies[0].length < 5 * MiB);
      const r = await runFlood({
        runtime,
        clients: 16,
        seconds: 6,
        maxRequestsPerClient: 12,
        records: 8000,
        retryMs: 100,
        env: { ...budgetEnv(BUDGET), OTLP2PARQUET_BATCH_MAX_AGE_SECS: "5" },
        bodies,
      });
      const info = JSON.stringify(r);
      for (const code of Object.keys(r.answers)) {
        ok(code === "200" || code === "429" || code === "503", `answer ${code}: ${info}`);
      }
      ok((r.answers["200"] ?? 0) > 0, `nothing acknowledged: ${info}`);
      // Overloaded: requests waited for room (server.admission_wait_ms) or got 429.
      ok((r.answers["429"] ?? 0) + r.waited > 0, `never overloaded: ${info}`);
      strictEqual(r.exitCode, 0, info);
      strictEqual(r.storedRecords, r.acknowledgedRecords, info);
      ok(r.boundBytes > 0 && r.boundBytes <= BUDGET, `bound ${r.boundBytes}: ${info}`);
      ok(r.peakRssBytes <= r.boundBytes, `peak RSS ${r.peakRssBytes} > bound: ${info}`);
    },
  });
}
