/**
 * SIGKILL under OTLP/gRPC load, in the default configuration (batching with the write-ahead
 * log): every record whose Export call got OK is stored exactly once after a restart (the log
 * is replayed), and no record is stored twice.
 *
 * The load: bounded (at most REQUESTS calls, at most LOAD_MS), CONCURRENCY calls at a time on
 * one HTTP/2 connection (tests/helpers/grpc.ts), each a logs request of RECORDS unique bodies;
 * the server is killed once KILL_AFTER calls were answered OK.
 */
import { ok, strictEqual } from "node:assert/strict";
import * as http2 from "node:http2";
import { query, readParquet } from "../helpers/duckdb.ts";
import { startServer } from "../helpers/server.ts";
import { callOn, LOGS_EXPORT } from "../helpers/grpc.ts";
import { filesOf, Pb, pbStringAttr, uniqueService } from "../e2e/support.ts";

const REQUESTS = 2000;
const CONCURRENCY = 4;
const RECORDS = 5;
const KILL_AFTER = 150;
const LOAD_MS = 30_000;

function request(service: string, i: number): Uint8Array {
  // One request of RECORDS log records: body "crash-<i>-<j>", time in 2024.
  const scopeLogs = new Pb().message(1, new Pb().string(1, "crash"));
  for (let j = 0; j < RECORDS; j++) {
    scopeLogs.message(
      2,
      new Pb()
        .fixed64(1, 1_714_557_600_000_000_000n + BigInt(i * RECORDS + j))
        .message(5, new Pb().string(1, `crash-${i}-${j}`)),
    );
  }
  const resource = new Pb().message(1, pbStringAttr("service.name", service));
  return new Pb().message(1, new Pb().message(1, resource).message(2, scopeLogs)).finish();
}

Deno.test({
  name: "gRPC: SIGKILL under load, then a restart: every acknowledged record stored exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-grpc-crash-" });
    const env = {
      OTLP2PARQUET_BATCH_ENABLED: "true",
      OTLP2PARQUET_BATCH_WAL_DIR: `${dir}/wal`,
      OTLP2PARQUET_BATCH_MAX_AGE_SECS: "3600",
    };
    const service = uniqueService("grpc-crash");
    const acked: number[] = [];
    try {
      const srv = await startServer({ output: `${dir}/out`, env });
      try {
        const session = http2.connect(`http://${srv.grpcAddr}`);
        session.on("error", () => {});
        let next = 0;
        let killed = false;
        const deadline = Date.now() + LOAD_MS;
        const worker = async () => {
          while (next < REQUESTS && Date.now() < deadline && !session.destroyed) {
            const i = next++;
            try {
              const a = await callOn(session, LOGS_EXPORT, request(service, i), {
                timeoutMs: 5000,
              });
              if (a.status === 0) acked.push(i);
            } catch {
              // the connection went away with the server
              break;
            }
            if (!killed && acked.length >= KILL_AFTER) {
              killed = true;
              srv.signal("SIGKILL");
            }
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        session.destroy();
        ok(killed, `the load ended before ${KILL_AFTER} calls were acknowledged:\n${srv.log()}`);
      } finally {
        await srv.kill();
      }

      // Restart on the same log and output: the replay stores what the log holds; a clean stop.
      const again = await startServer({ output: `${dir}/out`, env });
      try {
        strictEqual(await again.stop(), 0, again.log());
        const rows = await query(
          `SELECT Body, count(*)::INT AS n FROM ${
            readParquet(await filesOf(again, "logs", service))
          } GROUP BY Body`,
        );
        const stored = new Map(rows.map((r) => [String(r.Body), Number(r.n)]));
        const twice = rows.filter((r) => Number(r.n) !== 1).map((r) => r.Body);
        strictEqual(twice.length, 0, `stored more than once: ${twice.slice(0, 10).join(", ")}`);
        const missing: string[] = [];
        for (const i of acked) {
          for (let j = 0; j < RECORDS; j++) {
            if (stored.get(`crash-${i}-${j}`) !== 1) missing.push(`crash-${i}-${j}`);
          }
        }
        strictEqual(
          missing.length,
          0,
          `${missing.length} acknowledged records missing, e.g. ${missing.slice(0, 10).join(", ")}`,
        );
        ok(stored.size >= acked.length * RECORDS);
      } finally {
        await again.kill();
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
