/**
 * Forwarding between two real otlp2parquet servers in the default configuration (batching
 * with the write-ahead log): A stores what it gets and forwards it to B. What B stored is
 * read back with DuckDB and compared with what A stored (`EXCEPT ALL`, both ways).
 */
import { ok, strictEqual } from "node:assert/strict";
import { sendLogs } from "../helpers/otel.ts";
import { gzip } from "../e2e/support.ts";
import type { Server } from "../helpers/server.ts";
import { parseSegment } from "../../src/forward/queue.ts";
import {
  assertSameLogs,
  freePort,
  logRows,
  logsBody,
  postLogs,
  queuedRequests,
  sample,
  startA,
  startB,
  until,
} from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function tempDir(tag: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `otlp2parquet-fwd-${tag}-` });
}

function forwardToml(port: number, extra = "", protocol = "http/protobuf"): string {
  return `[[forward]]
name = "b"
endpoint = "http://127.0.0.1:${port}"
protocol = "${protocol}"
failure_threshold = 2
open_secs = 1
timeout_ms = 5000
${extra}
`;
}

async function stopAll(servers: (Server | undefined)[]): Promise<void> {
  for (const s of servers) {
    if (!s) continue;
    await s.stop().catch(() => {});
    await s.kill();
  }
}

for (const protocol of ["http/protobuf", "http/json"]) {
  Deno.test(
    `A forwards what it stores to B (${protocol}): B ends with exactly A's rows`,
    opts,
    async () => {
      const root = await tempDir("basic");
      const port = freePort();
      let a: Server | undefined, b: Server | undefined;
      try {
        b = await startB(port, `${root}/b`, `${root}/b-wal`);
        a = await startA(forwardToml(port, "", protocol), {
          output: `${root}/a`,
          wal: `${root}/a-wal`,
        });
        // The OpenTelemetry SDK's protobuf exporter into A (A forwards protobuf or JSON).
        const sent = await sendLogs(
          { url: a.url, protocol: "proto", service: "fwd-sdk" },
          ({ logger }) => {
            for (let i = 0; i < 20; i++) logger.emit({ body: `sdk-${i}`, attributes: { i } });
          },
        );
        strictEqual(sent.sent.length, 20, "the SDK exported 20 records");
        // And OTLP/JSON bodies posted directly.
        for (let i = 0; i < 10; i++) {
          strictEqual(await postLogs(a.url, logsBody("fwd-json", `json${i}`, 5)), 200);
        }
        // gzip'd requests are queued as they came: protobuf ones go on untouched (http/protobuf),
        // JSON ones are decompressed and converted.
        const gz = await sendLogs(
          { url: a.url, protocol: "proto", gzip: true, service: "fwd-sdk-gz" },
          ({ logger }) => {
            for (let i = 0; i < 10; i++) logger.emit({ body: `gz-${i}`, attributes: { i } });
          },
        );
        strictEqual(gz.sent.length, 10);
        for (let i = 0; i < 5; i++) {
          const r = await fetch(`${a.url}/v1/logs`, {
            method: "POST",
            headers: { "content-type": "application/json", "content-encoding": "gzip" },
            body: (await gzip(logsBody("fwd-json-gz", `jgz${i}`, 5))) as BodyInit,
          });
          await r.body?.cancel();
          strictEqual(r.status, 200);
        }
        const srvA = a;
        await until("A has forwarded all 45 requests", async () =>
          await sample(
              srvA,
              "otlp2parquet_forward_records_total",
              'destination="b",outcome="sent"',
            ) === 105 &&
          await queuedRequests(srvA, "b") === 0, [
          a,
          b,
        ]);
        // SIGTERM flushes both writers' buffers into files.
        strictEqual(await a.stop(), 0);
        strictEqual(await b.stop(), 0);
        await assertSameLogs(`${root}/a`, `${root}/b`, 105);
      } finally {
        await stopAll([a, b]);
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  );
}

Deno.test(
  "B stopped under load, then started again: A keeps answering 200, the breaker opens and closes, nothing is lost",
  opts,
  async () => {
    const root = await tempDir("outage");
    const port = freePort();
    let a: Server | undefined, b: Server | undefined;
    try {
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      a = await startA(forwardToml(port), { output: `${root}/a`, wal: `${root}/a-wal` });
      const srvA = a;
      for (let i = 0; i < 10; i++) {
        strictEqual(await postLogs(a.url, logsBody("outage", `up${i}`, 10)), 200);
      }
      await until(
        "the first 10 requests reached B",
        async () =>
          await sample(
            srvA,
            "otlp2parquet_forward_records_total",
            'destination="b",outcome="sent"',
          ) ===
            100,
        [a, b],
      );
      // B goes away (stopped cleanly: what it had is stored), A stays under load.
      strictEqual(await b.stop(), 0);
      await b.kill();
      // B is not running: every answer of A is still 200.
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        statuses.push(
          await postLogs(a.url, logsBody("outage", `r${i}`, 10)),
        );
      }
      strictEqual(statuses.filter((s) => s === 200).length, 40, `statuses: ${statuses}`);
      await until(
        "the breaker opened",
        async () =>
          await sample(srvA, "otlp2parquet_forward_breaker_state", 'destination="b"') === 2,
        [a],
      );
      ok(a.log().includes("circuit breaker open"), a.log());
      // More while it is open: still 200, queued.
      for (let i = 40; i < 60; i++) {
        strictEqual(
          await postLogs(a.url, logsBody("outage", `r${i}`, 10)),
          200,
        );
      }
      strictEqual(await queuedRequests(srvA, "b"), 60);
      ok(await sample(srvA, "otlp2parquet_forward_queue_bytes", 'destination="b"') > 0);
      strictEqual(
        await sample(srvA, "otlp2parquet_forward_records_total", 'destination="b",outcome="sent"'),
        100,
      );

      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      await until("A has sent everything to B", async () =>
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="b",outcome="sent"',
        ) === 700, [a, b]);
      strictEqual(await sample(srvA, "otlp2parquet_forward_breaker_state", 'destination="b"'), 0);
      strictEqual(await sample(srvA, "otlp2parquet_forward_queue_bytes", 'destination="b"'), 0);
      ok(await sample(srvA, "otlp2parquet_forward_breaker_opened_total", 'destination="b"') >= 1);
      ok(a.log().includes("circuit breaker closed"), a.log());
      strictEqual(await a.stop(), 0);
      strictEqual(await b.stop(), 0);
      await assertSameLogs(`${root}/a`, `${root}/b`, 700);
    } finally {
      await stopAll([a, b]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "SIGKILL A while B is down, restart A, start B: B gets everything A acknowledged, once",
  opts,
  async () => {
    const root = await tempDir("crash");
    const port = freePort();
    let a: Server | undefined, a2: Server | undefined, b: Server | undefined;
    try {
      a = await startA(forwardToml(port), { output: `${root}/a`, wal: `${root}/a-wal` });
      for (let i = 0; i < 30; i++) {
        strictEqual(
          await postLogs(a.url, logsBody("crash", `c${i}`, 7)),
          200,
        );
      }
      // Wait until the queue file holds all 30 (it is written just after each answer).
      const qdir = `${root}/.forward/b`;
      await until("the queue holds all 30 requests on disk", async () => {
        let n = 0;
        try {
          for await (const e of Deno.readDir(qdir)) {
            if (e.name.endsWith(".fq")) {
              n += parseSegment(await Deno.readFile(`${qdir}/${e.name}`)).length;
            }
          }
        } catch {
          return false;
        }
        return n === 30;
      }, [a]);
      await a.kill(); // SIGKILL: no flush, no goodbye
      a2 = await startA(forwardToml(port), { output: `${root}/a`, wal: `${root}/a-wal` });
      ok(a2.log().includes("forward queue read back"), a2.log());
      const srvA = a2;
      strictEqual(await queuedRequests(srvA, "b"), 30);
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      await until("the restarted A has sent the queue to B", async () =>
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="b",outcome="sent"',
        ) === 210, [a2, b]);
      strictEqual(await a2.stop(), 0);
      strictEqual(await b.stop(), 0);
      // A's rows came back from its write-ahead log; B's from A's forward queue: the same, once.
      await assertSameLogs(`${root}/a`, `${root}/b`, 210);
    } finally {
      await stopAll([a, a2, b]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "queue bound: with B down and a small max_queue_bytes, the drop counter equals what B misses",
  opts,
  async () => {
    const root = await tempDir("bound");
    const port = freePort();
    let a: Server | undefined, b: Server | undefined;
    try {
      a = await startA(forwardToml(port, "max_queue_bytes = 20000"), {
        output: `${root}/a`,
        wal: `${root}/a-wal`,
      });
      const srvA = a;
      for (let i = 0; i < 50; i++) {
        strictEqual(
          await postLogs(a.url, logsBody("bound", `q${i}`, 10)),
          200,
        );
      }
      const queued = await sample(srvA, "otlp2parquet_forward_queue_bytes", 'destination="b"');
      ok(queued <= 20000 && queued > 0, `queue bytes ${queued}`);
      const dropped = await sample(
        srvA,
        "otlp2parquet_forward_records_total",
        'destination="b",outcome="dropped"',
      );
      ok(dropped > 0, "some records dropped");
      ok(a.log().includes("forward queue full"), a.log());
      // The queue on disk stays bounded too (segments of dropped requests are deleted).
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      await until(
        "A has sent what it kept",
        async () => await queuedRequests(srvA, "b") === 0,
        [a, b],
      );
      const sent = await sample(
        srvA,
        "otlp2parquet_forward_records_total",
        'destination="b",outcome="sent"',
      );
      strictEqual(sent + dropped, 500, `sent ${sent} + dropped ${dropped}`);
      strictEqual(await a.stop(), 0);
      strictEqual(await b.stop(), 0);
      strictEqual(await logRows(`${root}/a`), 500);
      strictEqual(
        await logRows(`${root}/b`),
        500 - dropped,
        "B misses exactly the dropped records",
      );
    } finally {
      await stopAll([a, b]);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);
