/**
 * Clients that close their connections (denoland/deno#36788): on Deno 2.9 node:http2 (nghttp2)
 * aborts the whole process when an HTTP/2 session ends (GOAWAY) after a garbage collection ran
 * during a call, so any Collector or SDK restarting could kill a server built on it. Deno serves
 * gRPC with its own HTTP/2 (src/grpc/h2.ts over Deno's TCP), and the server stays up.
 *
 * On Deno, Bun and the Node bundle: several connections in turn, each many calls then a
 * graceful close (node:http2 `session.close()`, GOAWAY; bench/grpc-load.mjs in a Node
 * process), one or 16 calls in flight, and Python grpcio channels closing after their calls.
 * After that the server still answers gRPC (OK) and HTTP (/health), its process is the same
 * one, and every record whose call got OK is stored (DuckDB counts the rows).
 */
import { ok, strictEqual } from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { build } from "../../scripts/build.ts";
import { generateRequest } from "../../bench/gen.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { sleep, startServer } from "../helpers/server.ts";
import { LOGS_EXPORT } from "../helpers/grpc.ts";
import { grpcio } from "./grpcio.ts";

const LOAD = new URL("../../bench/grpc-load.mjs", import.meta.url).pathname;
const RECORDS = 20;
const CONNECTIONS = 4;
const CALLS_PER_CONNECTION = 300;
const PY_CHANNELS = 3;
const PY_CALLS = 20;

interface Load {
  requests: number;
  ok: number;
  statuses: Record<string, number>;
}

async function nodeClient(port: number, bodies: string[], concurrency: number): Promise<Load> {
  const out = await new Deno.Command("node", {
    args: [
      LOAD,
      JSON.stringify({
        protocol: "grpc",
        host: "127.0.0.1",
        port,
        bodies,
        concurrency,
        seconds: 20,
        maxRequests: CALLS_PER_CONNECTION,
      }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Python grpcio: `calls` logs Export calls (gzip) on one channel, closed at the end; the codes. */
async function pythonClient(addr: string, message: Uint8Array, calls: number): Promise<string[]> {
  const r = await grpcio(
    addr,
    Array.from({ length: calls }, () => ({ path: LOGS_EXPORT, message, compression: "gzip" })),
  );
  return r.map((x) => x.code);
}

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name:
      `gRPC on ${runtime}: clients closing their connections (GOAWAY) after many calls leave the server up and answering`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-grpc-goaway-" });
      try {
        const bodies: string[] = [];
        const raw: Uint8Array[] = [];
        for (let i = 0; i < 4; i++) {
          const req = generateRequest("logs", { records: RECORDS, seed: 7000 + i }).protobuf;
          raw.push(req);
          bodies.push(`${dir}/body-${i}.bin`);
          await Deno.writeFile(bodies[i], new Uint8Array(gzipSync(req)));
        }
        const srv = await startServer({
          runtime,
          env: { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_AGE_SECS: "3600" },
        });
        try {
          let acked = 0;
          for (let c = 0; c < CONNECTIONS; c++) {
            const r = await nodeClient(srv.grpcPort!, bodies, c % 2 === 0 ? 1 : 16);
            acked += r.ok;
          }
          for (let c = 0; c < PY_CHANNELS; c++) {
            const codes = await pythonClient(srv.grpcAddr, raw[c % 4], PY_CALLS);
            acked += codes.filter((s) => s === "OK").length;
          }
          ok(acked > 0, `no call was answered OK:\n${srv.log()}`);

          // Still answering gRPC: a new channel gets OK (bounded wait).
          let answered = false;
          for (let i = 0; i < 40 && !answered; i++) {
            const [code] = await pythonClient(srv.grpcAddr, raw[0], 1);
            if (code === "OK") {
              answered = true;
              acked++;
            } else await sleep(250);
          }
          ok(answered, `no OK from a new gRPC channel after the clients closed:\n${srv.log()}`);
          const health = await fetch(`${srv.url}/health`);
          strictEqual(health.status, 200);
          await health.body?.cancel();
          // The same process: a clean stop (exit code 0) that flushes what was acknowledged.
          strictEqual(await srv.stop(), 0, srv.log());

          const files = (await listParquet(srv.output)).filter((k) => k.startsWith("logs/"));
          ok(files.length > 0, `no logs file under ${srv.output}`);
          const [{ n }] = await query(
            `SELECT count(*)::INT AS n FROM ${readParquet(files.map((f) => `${srv.output}/${f}`))}`,
          );
          // Calls cut off by a dying listener may have been stored without their OK.
          ok(
            Number(n) >= acked * RECORDS,
            `${acked} calls got OK (${acked * RECORDS} records) but ${n} rows are stored`,
          );
        } finally {
          await srv.kill();
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "gRPC on Deno: the server killed (SIGKILL) frees the gRPC port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const srv = await startServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
    let port: number;
    try {
      port = srv.grpcPort!;
      const [code] = await pythonClient(
        srv.grpcAddr,
        generateRequest("logs", { records: 1, seed: 1 }).protobuf,
        1,
      );
      strictEqual(code, "OK", srv.log());
      srv.signal("SIGKILL");
    } finally {
      await srv.kill();
    }
    // Bounded wait: the port can be bound again once no process listens on it.
    let free = false;
    for (let i = 0; i < 50 && !free; i++) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port }).close();
        free = true;
      } catch {
        await sleep(100);
      }
    }
    ok(free, `port ${port} is still taken 5 s after the server was killed`);
  },
});
