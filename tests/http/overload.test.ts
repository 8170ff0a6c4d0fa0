/**
 * Cheap rejection over real sockets, on Deno, Bun and the Node bundle, with the default
 * configuration (batching, write-ahead log): a request the server cannot take now is answered
 * 429 with Retry-After from its headers alone, while its client has sent no byte of the body
 * (in-flight bound, `server.max_inflight_bytes`, and full buffers, `batch.max_buffered_bytes`);
 * a body without a length is cut off at the in-flight bound. Nothing acknowledged is lost:
 * the rows are read back with DuckDB.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { logsPb } from "./fixtures.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import { postHead, RawConn } from "../helpers/rawhttp.ts";

const RECORDS = 20_000;

/** /metrics' otlp2parquet_inflight_bytes, polled until `pred` holds (at most 10 s). */
async function waitInflight(url: string, pred: (bytes: number) => boolean): Promise<number> {
  const until = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const v = Number(text.match(/^otlp2parquet_inflight_bytes (\d+)/m)?.[1] ?? NaN);
    if (pred(v)) return v;
    if (Date.now() > until) throw new Error(`otlp2parquet_inflight_bytes stayed ${v}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const runtime of ["deno", "bun", "node"] as const) {
  Deno.test({
    name: `server on ${runtime}: 429 with Retry-After from the headers, before the body is sent`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (runtime === "node") await build("node");
      const env = {
        OTLP2PARQUET_BATCH_ENABLED: "true",
        OTLP2PARQUET_SERVER_MAX_INFLIGHT_BYTES: String(1 << 20),
        OTLP2PARQUET_BATCH_MAX_BUFFERED_BYTES: "1",
        // The refusal from the headers at once (a request waiting for room is
        // tests/http/admission.test.ts's and the flood test's).
        OTLP2PARQUET_SERVER_ADMISSION_WAIT_MS: "0",
      };
      const body = logsPb(RECORDS, "stalled");
      ok(body.length > 400_000 && body.length < 1 << 20, `body of ${body.length} bytes`);
      const conns: RawConn[] = [];
      const open = async (port: number) => {
        const c = await RawConn.open(port);
        conns.push(c);
        return c;
      };
      await withServer({ runtime, env }, async (srv) => {
        try {
          // A: headers and a tenth of the body, then nothing. Alone in flight, it is let in.
          const a = await open(srv.port);
          await a.write(postHead("/v1/logs", body.length), body.subarray(0, body.length / 10));
          await waitInflight(srv.url, (n) => n >= 2 * body.length);

          // B: headers only. Answered while its body is still to come.
          const b = await open(srv.port);
          await b.write(postHead("/v1/logs", body.length));
          const rb = (await b.response())!;
          strictEqual(rb.status, 429, rb.body);
          strictEqual(rb.headers["retry-after"], "1");
          match(rb.body, /server\.max_inflight_bytes = 1048576/);

          // C: no length; its first chunk passes the bound, the rest is never read.
          const cc = await open(srv.port);
          const chunk = body.subarray(0, 700_000);
          await cc.write(
            postHead("/v1/logs", "chunked"),
            `${chunk.length.toString(16)}\r\n`,
            chunk,
            "\r\n",
          );
          const rc = (await cc.response())!;
          strictEqual(rc.status, 429, rc.body);
          strictEqual(rc.headers["retry-after"], "1");
          match(rc.body, /max_inflight_bytes/);

          // A finishes: stored (acknowledged), and its bytes leave the budget.
          await a.write(body.subarray(body.length / 10));
          const ra = (await a.response())!;
          strictEqual(ra.status, 200, ra.body);
          await waitInflight(srv.url, (n) => n === 0);

          // D: the buffers hold A's rows (batch.max_buffered_bytes = 1): 429 from the headers.
          const d = await open(srv.port);
          await d.write(postHead("/v1/logs", body.length));
          const rd = (await d.response())!;
          strictEqual(rd.status, 429, rd.body);
          strictEqual(rd.headers["retry-after"], "1");
          match(rd.body, /buffers are full/);
        } finally {
          for (const c of conns) c.close();
        }
        // Stopped (SIGTERM flushes the buffers): exactly A's records were stored.
        strictEqual(await srv.stop(), 0, srv.log());
        const files = (await listParquet(srv.output)).map((f) => `${srv.output}/${f}`);
        const rows = await query(
          `SELECT ServiceName AS s, count(*)::INT AS n FROM ${readParquet(files)} GROUP BY s`,
        );
        strictEqual(JSON.stringify(rows), JSON.stringify([{ s: "stalled", n: RECORDS }]));
      });
    },
  });
}
