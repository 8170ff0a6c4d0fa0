/**
 * The OTLP/gRPC contract, from an independent client: Python grpcio (Debian's python3-grpcio,
 * tests/grpc/client.py) sends raw Export requests to the real server (Deno, default batching
 * with the write-ahead log, a bearer token, a 64 KiB message limit) and reads the status codes,
 * messages, responses and `grpc-status-details-bin`. What grpcio cannot send (zstd, an unknown
 * grpc-encoding) goes through a raw HTTP/2 call (tests/helpers/grpc.ts). After the bad input
 * the server still answers, and DuckDB reads back exactly the accepted records.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import protobuf from "protobufjs";
import {
  decodeExportResponsePb,
  decodeStatusPb,
  logsPb,
  metricsPb,
  tracesPb,
  zstd,
} from "../http/fixtures.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { generateRequest } from "../../bench/gen.ts";
import { type Server, startServer } from "../helpers/server.ts";
import {
  grpcCall,
  HEALTH_CHECK,
  LOGS_EXPORT,
  METRICS_EXPORT,
  TRACE_EXPORT,
} from "../helpers/grpc.ts";
import { filesOf, uniqueService, zstdRleBomb } from "../e2e/support.ts";
import { build } from "../../scripts/build.ts";
import { parseExposition } from "../helpers/prometheus.ts";
import { grpcio } from "./grpcio.ts";

const TOKEN = "grpc-s3cret";
const AUTH: [string, string][] = [["authorization", `Bearer ${TOKEN}`]];
const LIMIT = 64 * 1024;

/** google.rpc.RetryInfo inside a google.rpc.Status (grpc-status-details-bin), by protobufjs. */
async function retryDelaySecs(
  detailsB64: string,
): Promise<{ code: number; secs: number; type: string }> {
  const status = await decodeStatusPb(new Uint8Array(Buffer.from(detailsB64, "base64")));
  const root = protobuf.parse(
    `
    syntax = "proto3";
    message Duration { int64 seconds = 1; int32 nanos = 2; }
    message RetryInfo { Duration retry_delay = 1; }
    message Any { string type_url = 1; bytes value = 2; }
  `,
    { keepCase: true },
  ).root;
  const any = status.details[0] as { type_url?: string; typeUrl?: string; value: Uint8Array };
  const info = root.lookupType("RetryInfo").decode(any.value) as unknown as {
    retry_delay: { seconds: number | { toNumber(): number } };
  };
  const s = info.retry_delay.seconds;
  return {
    code: status.code,
    secs: typeof s === "number" ? s : s.toNumber(),
    type: any.type_url ?? any.typeUrl ?? "",
  };
}

async function withGrpcServer(
  env: Record<string, string>,
  fn: (srv: Server) => Promise<void>,
  runtime: "deno" | "bun" | "node" = "deno",
) {
  if (runtime === "node") await build("node");
  const srv = await startServer({ runtime, env: { OTLP2PARQUET_BATCH_ENABLED: "true", ...env } });
  try {
    ok(srv.grpcPort !== null, srv.log());
    await fn(srv);
  } finally {
    await srv.kill();
  }
}

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name:
      `gRPC contract on ${runtime} with Python grpcio: OK, partial success, bad input, limits, auth, health`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withGrpcServer({
        OTLP2PARQUET_AUTH_BEARER_TOKEN: TOKEN,
        OTLP2PARQUET_GRPC_MAX_RECV_MSG_BYTES: String(LIMIT),
      }, async (srv) => {
        const svc = uniqueService("grpcio");
        const good = logsPb(3, svc);
        const random = crypto.getRandomValues(new Uint8Array(256));
        random[0] = 0x0a; // field 1, length-delimited: a length past the end
        random[1] = 0xff;
        const huge = new Uint8Array(LIMIT + 1000);
        const zeros = new Uint8Array(8 * 1024 * 1024); // gzip'd: a few KB, 8 MiB once decompressed
        const r = await grpcio(srv.grpcAddr, [
          /* 0 */ { path: LOGS_EXPORT, message: good, metadata: AUTH },
          /* 1 */ {
            path: TRACE_EXPORT,
            message: tracesPb(2, svc),
            compression: "gzip",
            metadata: AUTH,
          },
          /* 2 */ {
            path: METRICS_EXPORT,
            message: metricsPb(3, 1, svc),
            compression: "deflate",
            metadata: AUTH,
          },
          /* 3 */ { path: LOGS_EXPORT, message: good.slice(0, good.length - 5), metadata: AUTH },
          /* 4 */ { path: LOGS_EXPORT, message: random, metadata: AUTH },
          /* 5 */ { path: LOGS_EXPORT, message: huge, metadata: AUTH },
          /* 6 */ { path: LOGS_EXPORT, message: zeros, compression: "gzip", metadata: AUTH },
          /* 7 */ {
            path: "/opentelemetry.proto.collector.logs.v1.LogsService/Push",
            message: good,
            metadata: AUTH,
          },
          /* 8 */ { path: "/no.Such/Service", message: good },
          /* 9 */ { path: LOGS_EXPORT, message: good },
          /* 10 */ {
            path: LOGS_EXPORT,
            message: good,
            metadata: [["authorization", "Bearer nope"]],
          },
          /* 11 */ { path: HEALTH_CHECK, message: new Uint8Array(0) },
          /* 12 */ { path: HEALTH_CHECK, message: new TextEncoder().encode("\x0a\x03foo") },
          /* 13 */ { path: "/grpc.health.v1.Health/Watch", message: new Uint8Array(0) },
          /* 14 */ {
            path: LOGS_EXPORT,
            message: logsPb(1, `${svc}-after`),
            compression: "gzip",
            metadata: AUTH,
          },
        ]);
        const codes = r.map((x) => x.code);
        deepStrictEqual(codes, [
          "OK",
          "OK",
          "OK",
          "INVALID_ARGUMENT",
          "INVALID_ARGUMENT",
          "RESOURCE_EXHAUSTED",
          "RESOURCE_EXHAUSTED",
          "UNIMPLEMENTED",
          "UNIMPLEMENTED",
          "UNAUTHENTICATED",
          "UNAUTHENTICATED",
          "OK",
          "NOT_FOUND",
          "UNIMPLEMENTED",
          "OK",
        ], JSON.stringify(r, null, 1));
        // Full success: an empty Export*ServiceResponse.
        deepStrictEqual([...r[0].response!], []);
        // Partial success: one metric data point without a value.
        const partial = await decodeExportResponsePb("metrics", r[2].response!);
        const ps = partial.partialSuccess as Record<string, unknown> ??
          partial.partial_success as Record<string, unknown>;
        strictEqual(String(ps.rejected_data_points ?? ps.rejectedDataPoints), "1");
        ok(
          String(ps.error_message ?? ps.errorMessage).includes("without a value"),
          JSON.stringify(ps),
        );
        // Bad data: what was wrong and where.
        ok(r[3].details.startsWith("Cannot decode ExportLogsServiceRequest:"), r[3].details);
        ok(/at byte \d+/.test(r[3].details), r[3].details);
        ok(r[4].details.startsWith("Cannot decode ExportLogsServiceRequest:"), r[4].details);
        // Over the limit, as sent and once decompressed: not retryable (no RetryInfo).
        ok(r[5].details.includes(String(LIMIT)), r[5].details);
        strictEqual(r[5].trailing["grpc-status-details-bin"], undefined);
        ok(
          r[6].details.includes(
            "Decompressed gzip message is larger than the limit of 65536 bytes (grpc.max_recv_msg_bytes)",
          ),
          r[6].details,
        );
        strictEqual(r[6].trailing["grpc-status-details-bin"], undefined);
        ok(r[9].details.includes("Missing credentials"), r[9].details);
        ok(r[10].details.includes("bearer token is not accepted"), r[10].details);
        // Health: SERVING (status = 1), unknown service NOT_FOUND.
        deepStrictEqual([...r[11].response!], [0x08, 0x01]);
        ok(r[12].details.includes('Unknown service "foo"'), r[12].details);

        // zstd (the Collector offers it; grpcio does not): accepted, and its bomb refused.
        const z = await grpcCall(srv.grpcAddr, LOGS_EXPORT, zstd(logsPb(2, `${svc}-zstd`)), {
          encoding: "zstd",
          metadata: { authorization: `Bearer ${TOKEN}` },
        });
        strictEqual(z.status, 0, z.message);
        const bomb = await grpcCall(srv.grpcAddr, LOGS_EXPORT, zstdRleBomb(64), {
          encoding: "zstd",
          metadata: { authorization: `Bearer ${TOKEN}` },
        });
        strictEqual(bomb.status, 8, bomb.message);
        const br = await grpcCall(srv.grpcAddr, LOGS_EXPORT, good, {
          encoding: "br",
          metadata: { authorization: `Bearer ${TOKEN}` },
        });
        strictEqual(br.status, 12, br.message);
        ok(br.message.includes('Unsupported grpc-encoding "br"'), br.message);
        ok(
          String(br.metadata["grpc-accept-encoding"]).includes("zstd"),
          JSON.stringify(br.metadata),
        );
        // Corrupt compressed data: INVALID_ARGUMENT naming the coding (not a crash, not INTERNAL).
        for (const encoding of ["gzip", "deflate", "zstd"]) {
          const bad = await grpcCall(srv.grpcAddr, LOGS_EXPORT, random, {
            encoding,
            metadata: { authorization: `Bearer ${TOKEN}` },
          });
          strictEqual(bad.status, 3, `${encoding}: ${bad.message}`);
          ok(bad.message.startsWith(`Cannot decompress ${encoding} message`), bad.message);
        }

        // Unknown methods and services are counted too, by status (route "other").
        const m = parseExposition(
          await (await fetch(`${srv.url}/metrics`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          })).text(),
        );
        strictEqual(
          m.value("otlp2parquet_requests_total", {
            transport: "grpc",
            route: "other",
            code: "UNIMPLEMENTED",
          }),
          3,
        );
        // Every call gave its in-flight room back: refused ones (unauthenticated, bad data, too
        // big once decompressed) as well as answered ones.
        strictEqual(m.value("otlp2parquet_inflight_bytes", {}), 0);
        ok(m.value("otlp2parquet_inflight_peak_bytes", {})! > 0);

        // Still up; then a clean stop flushes, and exactly the accepted records are stored.
        strictEqual(await srv.stop(), 0, srv.log());
        const count = async (table: Parameters<typeof filesOf>[1], service: string) =>
          (await query(
            `SELECT count(*)::INT AS n FROM ${readParquet(await filesOf(srv, table, service))}`,
          ))[0].n;
        deepStrictEqual(
          {
            logs: await count("logs", svc),
            traces: await count("traces", svc),
            gauge: await count("gauge", svc),
            after: await count("logs", `${svc}-after`),
            zstd: await count("logs", `${svc}-zstd`),
          },
          { logs: 3, traces: 2, gauge: 3, after: 1, zstd: 2 },
        );
      }, runtime);
    },
  });
}

Deno.test({
  name: "gRPC backpressure: UNAVAILABLE with RetryInfo in grpc-status-details-bin (HTTP's 429)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withGrpcServer({
      OTLP2PARQUET_BATCH_DURABILITY: "memory",
      OTLP2PARQUET_BATCH_MAX_BUFFERED_BYTES: "1",
      OTLP2PARQUET_BATCH_MAX_AGE_SECS: "3600",
    }, async (srv) => {
      const svc = uniqueService("grpc-bp");
      const r = await grpcio(srv.grpcAddr, [
        { path: LOGS_EXPORT, message: logsPb(2, svc) },
        { path: LOGS_EXPORT, message: logsPb(2, svc) },
      ]);
      deepStrictEqual(r.map((x) => x.code), ["OK", "UNAVAILABLE"], JSON.stringify(r));
      ok(r[1].details.includes("buffers are full"), r[1].details);
      const info = await retryDelaySecs(r[1].trailing["grpc-status-details-bin"]);
      deepStrictEqual(info, {
        code: 14,
        secs: 1,
        type: "type.googleapis.com/google.rpc.RetryInfo",
      });
      // The calls on /metrics, transport="grpc", with their status names.
      const m = parseExposition(await (await fetch(`${srv.url}/metrics`)).text());
      const route = LOGS_EXPORT;
      strictEqual(
        m.value("otlp2parquet_requests_total", { transport: "grpc", route, code: "OK" }),
        1,
      );
      strictEqual(
        m.value("otlp2parquet_requests_total", {
          transport: "grpc",
          route,
          code: "UNAVAILABLE",
        }),
        1,
      );
      strictEqual(
        m.value("otlp2parquet_records_received_total", { transport: "grpc", signal: "logs" }),
        2,
      );
      strictEqual(await srv.stop(), 0, srv.log());
      const n = await query(
        `SELECT count(*)::INT AS n FROM ${readParquet(await filesOf(srv, "logs", svc))}`,
      );
      strictEqual(n[0].n, 2);
    });
  },
});

Deno.test({
  name:
    "the same requests over OTLP/HTTP and over OTLP/gRPC produce identical rows, column by column",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const svc = uniqueService("same");
    const requests = [
      { path: "/v1/logs", grpc: LOGS_EXPORT, body: logsPb(4, svc), table: "logs" as const },
      { path: "/v1/traces", grpc: TRACE_EXPORT, body: tracesPb(3, svc), table: "traces" as const },
      {
        path: "/v1/metrics",
        grpc: METRICS_EXPORT,
        body: metricsPb(5, 0, svc),
        table: "gauge" as const,
      },
    ];
    const viaHttp = await startServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
    const viaGrpc = await startServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
    try {
      for (const r of requests) {
        const res = await fetch(`${viaHttp.url}${r.path}`, {
          method: "POST",
          body: r.body as BodyInit,
          headers: { "content-type": "application/x-protobuf" },
        });
        await res.body?.cancel();
        strictEqual(res.status, 200);
      }
      const answers = await grpcio(
        viaGrpc.grpcAddr,
        requests.map((r) => ({ path: r.grpc, message: r.body, compression: "gzip" })),
      );
      deepStrictEqual(answers.map((a) => a.code), ["OK", "OK", "OK"], JSON.stringify(answers));
      strictEqual(await viaHttp.stop(), 0, viaHttp.log());
      strictEqual(await viaGrpc.stop(), 0, viaGrpc.log());
      for (const r of requests) {
        const a = readParquet(await filesOf(viaHttp, r.table, svc));
        const b = readParquet(await filesOf(viaGrpc, r.table, svc));
        const n = await query(`SELECT count(*)::INT AS n FROM ${a}`);
        ok(Number(n[0].n) > 0);
        const m = await query(`SELECT count(*)::INT AS n FROM ${b}`);
        strictEqual(m[0].n, n[0].n, r.table);
        for (const [x, y] of [[a, b], [b, a]]) {
          const diff = await query(
            `SELECT count(*)::INT AS n FROM (SELECT * FROM ${x} EXCEPT ALL SELECT * FROM ${y})`,
          );
          strictEqual(diff[0].n, 0, `${r.table}: rows differ between HTTP and gRPC`);
        }
      }
    } finally {
      await viaHttp.kill();
      await viaGrpc.kill();
    }
  },
});

Deno.test({
  name:
    "gRPC: junk after the HTTP/2 preface ends only that connection; a 13 MB message (several flow-control windows) from grpcio and node:http2 is stored, on Deno, Bun and the Node bundle",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const runtime of ["deno", "bun", "node"] as const) {
      await withGrpcServer({
        OTLP2PARQUET_MAX_PAYLOAD_BYTES: String(32 * 1024 * 1024),
        OTLP2PARQUET_GRPC_MAX_RECV_MSG_BYTES: String(32 * 1024 * 1024),
      }, async (srv) => {
        // Garbage after the preface: the connection ends with a GOAWAY, the server goes on.
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.grpcPort! });
        const junk = crypto.getRandomValues(new Uint8Array(64));
        junk.set([0x00, 0x00, 0x08, 0x06, 0x00, 0, 0, 0, 1], 0); // PING on stream 1
        await conn.write(
          new Uint8Array([
            ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            ...junk,
          ]),
        );
        const got: number[] = [];
        const buf = new Uint8Array(4096);
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          got.push(...buf.subarray(0, n));
        }
        conn.close();
        ok(got.length > 9 && got.some((_, i) => got[i + 3] === 0x07), "no GOAWAY");

        const big = generateRequest("logs", { records: 24_000, seed: 7 }).protobuf;
        ok(big.length > 12_000_000, String(big.length));
        const [r] = await grpcio(srv.grpcAddr, [{ path: LOGS_EXPORT, message: big }]);
        strictEqual(r.code, "OK", r.details);
        const a = await grpcCall(srv.grpcAddr, LOGS_EXPORT, big, { timeoutMs: 60_000 });
        strictEqual(a.status, 0, a.message);
        strictEqual(await srv.stop(), 0, srv.log());
        const files = (await listParquet(srv.output)).filter((f) => f.startsWith("logs/"));
        const n = await query(
          `SELECT count(*)::INT AS n FROM ${readParquet(files.map((f) => `${srv.output}/${f}`))}`,
        );
        strictEqual(n[0].n, 48_000, runtime);
      }, runtime);
    }
  },
});
