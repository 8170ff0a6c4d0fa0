/**
 * Batching on Cloudflare Workers: the built bundle runs in workerd through Miniflare with its
 * batching Durable Object (SQLite storage) and a local R2 bucket. Requests are acknowledged once
 * the Durable Object holds them, several requests become one Parquet file (at max_rows, or at
 * max_age_secs through the alarm), and a batch that cannot be stored ends under the dead-letter
 * prefix after max_flush_attempts failed flushes (R2 failing is simulated by a worker standing in
 * for the bucket binding, over RPC).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import { jsonBytes, logsJson, T0 } from "../http/fixtures.ts";
import { readParquet } from "../helpers/parquet.ts";
import { type R2Objects, workerModules } from "../helpers/worker.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");

interface Status {
  requests: number;
  rows: number;
  bytes: number;
  batch: number;
  attempts: number;
}

const JS = { "content-type": "application/json" };

async function keysUnder(bucket: R2Objects, prefix: string): Promise<string[]> {
  const page = await bucket.list({ prefix });
  return page.objects.map((o) => o.key).sort();
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function doStatus(mf: Miniflare, worker?: string) {
  return async (table: string, service: string): Promise<Status> => {
    const ns = (await mf.getDurableObjectNamespace("BATCHER", worker)) as unknown as {
      idFromName(name: string): unknown;
      get(id: unknown): { fetch(url: string): Promise<Response> };
    };
    const stub = ns.get(ns.idFromName(`${table}\u0000${service}`));
    const res = await stub.fetch("http://batcher/status");
    return (await res.json()) as Status;
  };
}

async function post(mf: Miniflare, body: Uint8Array): Promise<number> {
  const res = await mf.dispatchFetch("http://localhost/v1/logs", {
    method: "POST",
    body,
    headers: JS,
  });
  await res.text();
  return res.status;
}

function mainWorker(bundle: string, vars: Record<string, string>) {
  return {
    ...workerModules(bundle),
    durableObjects: { BATCHER: { className: "OtlpBatcher", useSQLite: true } },
    bindings: { OTLP2PARQUET_BATCH_ENABLED: "true", ...vars },
  };
}

Deno.test({
  name:
    "worker batching: requests held in a Durable Object become one Parquet file per service and hour",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { bundle } = await build("worker");
    const mf = new Miniflare({
      ...mainWorker(bundle, {
        OTLP2PARQUET_STORAGE_PREFIX: "otel/",
        OTLP2PARQUET_BATCH_MAX_ROWS: "20",
        OTLP2PARQUET_BATCH_MAX_AGE_SECS: "3600",
      }),
      r2Buckets: ["BUCKET"],
      cf: false,
    });
    try {
      const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Objects;
      const status = doStatus(mf);

      await t.step(
        "an acknowledged request is held by the Durable Object, not yet in R2",
        async () => {
          for (let i = 0; i < 3; i++) {
            const body = jsonBytes(logsJson(5, "b-rows", T0 + BigInt(i) * 1_000_000_000n));
            strictEqual(await post(mf, body), 200);
          }
          const s = await status("logs", "b-rows");
          strictEqual(s.requests, 3);
          strictEqual(s.rows, 15);
          deepStrictEqual(await keysUnder(bucket, "otel/logs/b-rows/"), []);
        },
      );

      await t.step("reaching max_rows writes one file holding every row of the batch", async () => {
        strictEqual(await post(mf, jsonBytes(logsJson(5, "b-rows", T0 + 3_000_000_000n))), 200);
        const keys = await waitFor("the flushed file", async () => {
          const k = await keysUnder(bucket, "otel/logs/b-rows/");
          return k.length ? k : undefined;
        });
        strictEqual(keys.length, 1);
        ok(
          /^otel\/logs\/b-rows\/year=2024\/month=05\/day=01\/hour=10\/\d+-[0-9a-f]{16}\.parquet$/
            .test(keys[0]),
          keys[0],
        );
        const obj = await bucket.get(keys[0]);
        ok(obj);
        const table = readParquet(new Uint8Array(await obj.arrayBuffer()));
        strictEqual(table.numRows, 20);
        const times = new Set(table.getChild("Timestamp")!.toArray().map(String));
        strictEqual(times.size, 20);
        const s = await waitFor("the batch to be dropped", async () => {
          const st = await status("logs", "b-rows");
          return st.requests === 0 ? st : undefined;
        });
        strictEqual(s.batch, 1);
      });

      await t.step(
        "a request for two services goes to both objects, each keeping its own rows",
        async () => {
          const a = logsJson(12, "b-two-a"), b = logsJson(7, "b-two-b");
          const both = {
            resourceLogs: [...(a.resourceLogs as unknown[]), ...(b.resourceLogs as unknown[])],
          };
          strictEqual(await post(mf, jsonBytes(both)), 200);
          strictEqual((await status("logs", "b-two-a")).rows, 12);
          strictEqual((await status("logs", "b-two-b")).rows, 7);
          // 12 + 12 rows passes max_rows for b-two-a only.
          strictEqual(await post(mf, jsonBytes(logsJson(12, "b-two-a", T0 + 5_000_000_000n))), 200);
          const keys = await waitFor("b-two-a's file", async () => {
            const k = await keysUnder(bucket, "otel/logs/b-two-a/");
            return k.length ? k : undefined;
          });
          strictEqual(keys.length, 1);
          const obj = await bucket.get(keys[0]);
          const table = readParquet(new Uint8Array(await obj!.arrayBuffer()));
          strictEqual(table.numRows, 24);
          deepStrictEqual(new Set(table.getChild("ServiceName")!.toArray()), new Set(["b-two-a"]));
          deepStrictEqual(await keysUnder(bucket, "otel/logs/b-two-b/"), []);
          strictEqual((await status("logs", "b-two-b")).rows, 7);
        },
      );

      await t.step("a batch over two hours becomes one file per hour", async () => {
        strictEqual(await post(mf, jsonBytes(logsJson(10, "b-hours"))), 200);
        strictEqual(
          await post(mf, jsonBytes(logsJson(10, "b-hours", T0 + 3_600_000_000_000n))),
          200,
        );
        const keys = await waitFor("two files", async () => {
          const k = await keysUnder(bucket, "otel/logs/b-hours/");
          return k.length === 2 ? k : undefined;
        });
        ok(keys[0].includes("/hour=10/") && keys[1].includes("/hour=11/"), keys.join(" "));
        for (const key of keys) {
          const obj = await bucket.get(key);
          strictEqual(readParquet(new Uint8Array(await obj!.arrayBuffer())).numRows, 10);
        }
      });

      await t.step("a request of several MiB is stored in chunks and read back whole", async () => {
        const req = logsJson(21, "b-big");
        const records =
          (req.resourceLogs as { scopeLogs: { logRecords: { body: unknown }[] }[] }[])[0]
            .scopeLogs[0].logRecords;
        const bodies = records.map((_, i) => `${i}:` + "x".repeat(150_000 + i));
        records.forEach((r, i) => r.body = { stringValue: bodies[i] });
        const bytes = jsonBytes(req);
        ok(bytes.length > 3 * 1024 * 1024, `${bytes.length} bytes`);
        strictEqual(await post(mf, bytes), 200);
        const keys = await waitFor("the big file", async () => {
          const k = await keysUnder(bucket, "otel/logs/b-big/");
          return k.length ? k : undefined;
        });
        const obj = await bucket.get(keys[0]);
        const table = readParquet(new Uint8Array(await obj!.arrayBuffer()));
        deepStrictEqual(table.getChild("Body")!.toArray(), bodies);
      });
    } finally {
      await mf.dispose();
    }
  },
});

/**
 * Stands in for the R2 binding over RPC, storing in a real bucket: regular files of "b-down"
 * always fail; the first file of "b-flaky" is stored, then its put fails (an answer lost).
 */
const FAKE_R2 = `
import { WorkerEntrypoint } from "cloudflare:workers";
let flaky = 0;
export default class extends WorkerEntrypoint {
  async fetch() { return new Response("fake r2"); }
  async put(key, value) {
    if (key.includes("/b-down/") && !key.startsWith("dead-letter/")) throw new Error("simulated R2 outage");
    if (key.includes("/b-flaky/") && flaky++ === 0) {
      await this.env.REAL.put(key, value);
      throw new Error("simulated lost answer: stored, then failed");
    }
    await this.env.REAL.put(key, value);
    return {};
  }
  async get(key) {
    const o = await this.env.REAL.get(key);
    return o ? { arrayBuffer: async () => await o.arrayBuffer() } : null;
  }
  async list(o) { return await this.env.REAL.list(o); }
  async delete(k) { await this.env.REAL.delete(k); }
}
`;

Deno.test({
  name:
    "worker batching: the alarm flushes at max_age_secs; a batch R2 refuses goes to the dead-letter prefix",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { bundle } = await build("worker");
    const mf = new Miniflare({
      workers: [
        {
          name: "main",
          ...mainWorker(bundle, {
            OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1",
            OTLP2PARQUET_BATCH_MAX_FLUSH_ATTEMPTS: "2",
            OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS: "1",
          }),
          serviceBindings: { BUCKET: "fake-r2" },
        },
        {
          name: "fake-r2",
          modules: true,
          script: FAKE_R2,
          compatibilityDate: "2025-09-01",
          r2Buckets: { REAL: "real" },
        },
      ],
      cf: false,
    });
    try {
      const bucket = (await mf.getR2Bucket("REAL", "fake-r2")) as unknown as R2Objects;
      const status = doStatus(mf, "main");

      await t.step(
        "requests under max_rows are written together once max_age_secs has passed",
        async () => {
          const sent = Date.now();
          strictEqual(await post(mf, jsonBytes(logsJson(3, "b-age"))), 200);
          strictEqual(await post(mf, jsonBytes(logsJson(4, "b-age", T0 + 1_000_000_000n))), 200);
          const keys = await waitFor("the age flush", async () => {
            const k = await keysUnder(bucket, "logs/b-age/");
            return k.length ? k : undefined;
          });
          ok(
            Date.now() - sent >= 900,
            `flushed after ${Date.now() - sent} ms, before max_age_secs`,
          );
          strictEqual(keys.length, 1);
          const obj = await bucket.get(keys[0]);
          strictEqual(readParquet(new Uint8Array(await obj!.arrayBuffer())).numRows, 7);
        },
      );

      await t.step(
        "a flush retried after a failed put overwrites the same key: no duplicate rows",
        async () => {
          strictEqual(await post(mf, jsonBytes(logsJson(6, "b-flaky"))), 200);
          const s = await waitFor("the retried flush", async () => {
            const st = await status("logs", "b-flaky");
            return st.batch === 1 ? st : undefined;
          });
          strictEqual(s.requests, 0);
          const keys = await keysUnder(bucket, "logs/b-flaky/");
          strictEqual(keys.length, 1);
          const obj = await bucket.get(keys[0]);
          strictEqual(readParquet(new Uint8Array(await obj!.arrayBuffer())).numRows, 6);
        },
      );

      await t.step(
        "after max_flush_attempts failed flushes the raw requests are under dead-letter/",
        async () => {
          const body = jsonBytes(logsJson(2, "b-down"));
          strictEqual(await post(mf, body), 200);
          const keys = await waitFor("the dead-letter objects", async () => {
            const k = await keysUnder(bucket, "dead-letter/");
            return k.length ? k : undefined;
          });
          strictEqual(keys.length, 1);
          ok(/^dead-letter\/logs\/b-down\/batch=0\/1-logs-\d+\.json$/.test(keys[0]), keys[0]);
          const obj = await bucket.get(keys[0]);
          deepStrictEqual(new Uint8Array(await obj!.arrayBuffer()), body);
          deepStrictEqual(await keysUnder(bucket, "logs/b-down/"), []);
          const s = await waitFor("the batch to be dropped", async () => {
            const st = await status("logs", "b-down");
            return st.requests === 0 ? st : undefined;
          });
          strictEqual(s.attempts, 0);
          strictEqual(s.batch, 1);
        },
      );
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test({
  name: "worker batching without the Durable Object binding answers 503 naming batch.do_binding",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { bundle } = await build("worker");
    const { durableObjects: _, ...worker } = mainWorker(bundle, {});
    const mf = new Miniflare({ ...worker, r2Buckets: ["BUCKET"], cf: false });
    try {
      const res = await mf.dispatchFetch("http://localhost/v1/logs", {
        method: "POST",
        body: jsonBytes(logsJson(1, "b-nobinding")),
        headers: JS,
      });
      strictEqual(res.status, 503);
      ok(res.headers.get("retry-after"));
      const msg = ((await res.json()) as { message: string }).message;
      ok(msg.includes('batch.do_binding = "BATCHER"') && msg.includes("OtlpBatcher"), msg);
    } finally {
      await mf.dispose();
    }
  },
});
