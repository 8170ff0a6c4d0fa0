/**
 * Graceful shutdown with OTLP/gRPC calls in flight (default configuration: batching with the
 * write-ahead log): SIGTERM while calls are being sent. The server stops accepting calls on
 * both ports, answers the calls it accepted, writes its buffers out and exits 0; every call that
 * got OK is in the files, and no call got INTERNAL or UNKNOWN.
 */
import { ok, strictEqual } from "node:assert/strict";
import * as http2 from "node:http2";
import { query, readParquet } from "../helpers/duckdb.ts";
import { startServer } from "../helpers/server.ts";
import { callOn, LOGS_EXPORT } from "../helpers/grpc.ts";
import { filesOf, Pb, pbLogsRequest, uniqueService } from "../e2e/support.ts";

const CALLS = 40;

Deno.test({
  name: "gRPC: SIGTERM with calls in flight answers them, flushes, exits 0, stores every OK",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const srv = await startServer({
      env: { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_AGE_SECS: "3600" },
    });
    const service = uniqueService("grpc-stop");
    try {
      const session = http2.connect(`http://${srv.grpcAddr}`);
      session.on("error", () => {});
      const results: (number | "refused")[] = [];
      const calls: Promise<void>[] = [];
      let first!: () => void;
      const firstAnswer = new Promise<void>((r) => (first = r));
      for (let i = 0; i < CALLS; i++) {
        const rec = new Pb().fixed64(1, 1_714_557_600_000_000_000n + BigInt(i)).message(
          5,
          new Pb().string(1, `stop-${i}`),
        );
        calls.push(
          callOn(session, LOGS_EXPORT, pbLogsRequest(service, rec), { timeoutMs: 20_000 })
            .then((a) => void (results[i] = a.status))
            .catch(() => void (results[i] = "refused"))
            .finally(first),
        );
      }
      // All calls are sent; once one is answered the others are in flight: stop now.
      await firstAnswer;
      srv.signal("SIGTERM");
      await Promise.all(calls);
      session.destroy();
      strictEqual(await srv.stop(), 0, srv.log());
      ok(/msg="stopped"/.test(srv.log()), srv.log());
      for (const r of results) {
        ok(r === 0 || r === 14 || r === "refused", `a call got ${r}: ${JSON.stringify(results)}`);
      }
      const acked = results.flatMap((r, i) => (r === 0 ? [`stop-${i}`] : []));
      ok(acked.length >= 1, JSON.stringify(results));
      const rows = await query(
        `SELECT Body FROM ${readParquet(await filesOf(srv, "logs", service))}`,
      );
      const stored = new Set(rows.map((r) => String(r.Body)));
      strictEqual(rows.length, stored.size, "a record stored twice");
      const missing = acked.filter((b) => !stored.has(b));
      strictEqual(missing.length, 0, `acknowledged but not stored: ${missing.join(", ")}`);
    } finally {
      await srv.kill();
    }
  },
});
