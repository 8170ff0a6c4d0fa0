/**
 * bench/grpc.ts keeps working: a tiny run (1 s per protocol, 2 calls in flight, Deno) loads the
 * real server over OTLP/HTTP and OTLP/gRPC with the bounded generator and gets answers.
 */
import { ok, strictEqual } from "node:assert/strict";
import { grpcTable, runGrpc } from "../../bench/grpc.ts";

Deno.test({
  name: "a tiny gRPC benchmark run measures OTLP/HTTP and OTLP/gRPC on the same server",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await runGrpc({
      seconds: 1,
      warmup: 0,
      runtimes: ["deno"],
      concurrency: [2],
      print: false,
    });
    strictEqual(r.points.length, 1);
    const p = r.points[0];
    for (const side of [p.http, p.grpc]) {
      ok(side.ok > 0, JSON.stringify(side));
      strictEqual(side.failed, 0, JSON.stringify(side));
    }
    ok(grpcTable(r.points).includes("| deno | 2 |"));
  },
});
