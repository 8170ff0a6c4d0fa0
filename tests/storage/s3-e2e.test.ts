/**
 * The server with `backend = "s3"` end to end, against the real S3 server (Swift): OTLP from
 * the OpenTelemetry JS SDK lands under the keys of docs/schema.md (with the prefix), DuckDB reads
 * back what was sent; the S3 server stopped and started again while requests flow loses nothing
 * acknowledged; a wrong endpoint or bucket gives 503 with Retry-After and a log line naming it.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { mapObj, query, readParquet } from "../helpers/duckdb.ts";
import { sendLogs, sendSpans, SeverityNumber } from "../helpers/otel.ts";
import {
  getReady,
  type Server,
  sleep,
  untilLogged,
  untilReady,
  withServer,
  withTempDir,
} from "../helpers/server.ts";
import {
  adminClient,
  freePort,
  S3_ACCESS_KEY_ID,
  S3_ENDPOINT,
  S3_REGION,
  S3_SECRET_ACCESS_KEY,
  s3Test,
  startExtraProxy,
  stopExtraProxy,
  withBucket,
} from "../helpers/s3.ts";
import { logsRequest, parseKey, postJson, sv, text, uniqueService } from "../e2e/support.ts";

/** 2023-11-14T22:13:20Z: every record of these tests is in hour 22 of that day. */
const BASE_S = 1_700_000_000;
const BASE_NS = 1_700_000_000_000_000_000n;

function s3Env(bucket: string, endpoint: string, more: Record<string, string> = {}) {
  return {
    OTLP2PARQUET_STORAGE_BACKEND: "s3",
    OTLP2PARQUET_STORAGE_S3_BUCKET: bucket,
    OTLP2PARQUET_STORAGE_S3_ENDPOINT: endpoint,
    OTLP2PARQUET_STORAGE_S3_REGION: S3_REGION,
    OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
    OTLP2PARQUET_STORAGE_S3_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
    OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
    ...more,
  };
}

/** Downloads every object of `bucket` into `dir` (same relative paths); returns the keys. */
async function download(bucket: string, dir: string): Promise<string[]> {
  const c = await adminClient();
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await c.send(
        new c.sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) keys.push(o.Key!);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    for (const key of keys) {
      const obj = await c.send(new c.sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      const path = `${dir}/${key}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, await obj.Body!.transformToByteArray());
    }
    return keys.sort();
  } finally {
    c.destroy();
  }
}

s3Test(
  "server with backend s3 stores SDK logs and spans under the prefixed keys, and DuckDB reads them back",
  async () => {
    await withBucket(async (bucket) => {
      const service = uniqueService("s3-e2e");
      await withServer({
        output: false,
        env: s3Env(bucket, S3_ENDPOINT, { OTLP2PARQUET_STORAGE_PREFIX: "otel/" }),
      }, async (srv) => {
        deepStrictEqual(JSON.parse(await untilReady(srv, 200, 10_000)), {
          status: "ready",
          storage: "s3",
        });
        await sendLogs({ url: srv.url, protocol: "proto", gzip: true, service }, ({ logger }) => {
          for (let i = 0; i < 5; i++) {
            logger.emit({
              timestamp: [BASE_S + i, 500],
              body: `log ${i}`,
              severityNumber: SeverityNumber.WARN,
              severityText: "WARN",
              attributes: { "e2e.index": i },
            });
          }
        });
        await sendSpans({ url: srv.url, protocol: "json", gzip: false, service }, (tracer) => {
          tracer.startSpan("checkout", { startTime: [BASE_S, 0] }).end([BASE_S + 2, 250]);
        });
      });

      await withTempDir("otlp2parquet-s3-e2e-", async (dir) => {
        const keys = await download(bucket, dir);
        ok(keys.length >= 2, `objects in the bucket: ${JSON.stringify(keys)}`);
        for (const key of keys) {
          ok(key.startsWith("otel/"), `prefixed key: ${key}`);
          const k = parseKey(key.slice("otel/".length));
          strictEqual(k.service, service);
          deepStrictEqual([k.year, k.month, k.day, k.hour], [2023, 11, 14, 22], key);
        }
        const logs = keys.filter((k) => k.startsWith("otel/logs/")).map((k) => `${dir}/${k}`);
        const traces = keys.filter((k) => k.startsWith("otel/traces/")).map((k) => `${dir}/${k}`);
        ok(logs.length >= 1 && traces.length >= 1, JSON.stringify(keys));
        strictEqual(logs.length + traces.length, keys.length, "nothing but logs and traces");

        const rows = await query(
          `SELECT Body, SeverityText, SeverityNumber, ServiceName, LogAttributes, epoch_us(Timestamp) AS us
         FROM ${readParquet(logs)} ORDER BY Body`,
        );
        deepStrictEqual(rows.map((r) => r.Body), ["log 0", "log 1", "log 2", "log 3", "log 4"]);
        rows.forEach((r, i) => {
          strictEqual(r.ServiceName, service);
          strictEqual(r.SeverityText, "WARN");
          strictEqual(r.SeverityNumber, SeverityNumber.WARN);
          deepStrictEqual(mapObj(r.LogAttributes), { "e2e.index": String(i) });
          strictEqual(r.us, BigInt(BASE_S + i) * 1_000_000n);
        });
        const spans = await query(
          `SELECT SpanName, ServiceName, Duration FROM ${readParquet(traces)}`,
        );
        deepStrictEqual(spans, [{
          SpanName: "checkout",
          ServiceName: service,
          Duration: 2_000_000_250n,
        }]);
      });
    });
  },
);

interface Outcome {
  i: number;
  phase: "before" | "down" | "restarting" | "after";
  status: number;
  retryAfter: string | null;
  body: string;
}

s3Test(
  "server loses nothing acknowledged when the S3 server stops and starts again under load",
  async () => {
    await withBucket(async (bucket) => {
      const port = freePort();
      const endpoint = `http://127.0.0.1:${port}`;
      await startExtraProxy(port);
      const service = uniqueService("s3-outage");
      const outcomes: Outcome[] = [];
      let phase: Outcome["phase"] = "before";
      let i = 0;
      const send = async () => {
        const n = i++;
        const req = logsRequest(service, [{
          timeUnixNano: String(BASE_NS + BigInt(n)),
          body: sv(`req-${n}`),
        }]);
        const a = await postJson(srv!, "/v1/logs", req).catch((e) => {
          throw new Error(
            `request ${n} (${phase}) got no answer: ${e}; server log:\n${srv!.log()}`,
          );
        });
        outcomes.push({
          i: n,
          phase,
          status: a.status,
          retryAfter: a.headers.get("retry-after"),
          body: text(a.body),
        });
      };
      let srv: Server | undefined;
      const env = s3Env(bucket, endpoint, {
        OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS: "2",
        OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "20",
        OTLP2PARQUET_STORAGE_RETRY_MAX_DELAY_MS: "100",
        OTLP2PARQUET_STORAGE_RETRY_TIMEOUT_MS: "2000",
      });
      try {
        await withServer({ output: false, env }, async (s) => {
          srv = s;
          const deadline = Date.now() + 60_000; // the loop is bounded in time and count
          for (let k = 0; k < 10; k++) await send();

          await stopExtraProxy(port);
          phase = "down";
          const failures = () =>
            outcomes.filter((o) => o.phase === "down" && o.status !== 200).length;
          for (let k = 0; k < 50 && failures() < 5; k++) await send();
          const notReady = await untilReady(s, 503, 10_000);
          ok(notReady.includes(endpoint), `/ready names the endpoint: ${notReady}`);

          // Start it again while requests keep coming.
          phase = "restarting";
          let restarted = false;
          const restarting = startExtraProxy(port).then(() => (restarted = true));
          for (let k = 0; k < 200 && !restarted && Date.now() < deadline; k++) {
            await send();
            await sleep(50);
          }
          await restarting;
          phase = "after";
          for (let k = 0; k < 10; k++) await send();
          await untilReady(s, 200, 10_000);
        });
      } finally {
        await stopExtraProxy(port);
      }

      for (const o of outcomes) {
        ok(
          [200, 429, 503].includes(o.status),
          `request ${o.i} (${o.phase}): status ${o.status}: ${o.body}`,
        );
        if (o.status !== 200) {
          ok(
            o.retryAfter !== null && /^[1-9]\d*$/.test(o.retryAfter),
            `Retry-After of request ${o.i}: ${o.retryAfter}`,
          );
        }
      }
      const byPhase = (p: Outcome["phase"], status: number) =>
        outcomes.filter((o) => o.phase === p && o.status === status).length;
      strictEqual(byPhase("before", 200), 10, "all 200 before the outage");
      ok(
        byPhase("down", 503) >= 5,
        `503s during the outage: ${JSON.stringify(outcomes.filter((o) => o.phase === "down"))}`,
      );
      strictEqual(byPhase("after", 200), 10, "all 200 after the restart");
      const failed = outcomes.find((o) => o.status === 503 && o.phase === "down");
      ok(failed!.body.includes(endpoint), `the 503 says what is wrong: ${failed!.body}`);

      await withTempDir("otlp2parquet-s3-e2e-", async (dir) => {
        const keys = await download(bucket, dir);
        ok(
          keys.every((k) => k.startsWith(`logs/${service}/year=2023/month=11/day=14/hour=22/`)),
          JSON.stringify(keys),
        );
        const rows = await query(
          `SELECT Body, count(*) AS n FROM ${
            readParquet(keys.map((k) => `${dir}/${k}`))
          } GROUP BY Body`,
        );
        const stored = new Map(rows.map((r) => [r.Body as string, Number(r.n)]));
        const acked = outcomes.filter((o) => o.status === 200).map((o) => `req-${o.i}`);
        ok(acked.length >= 20);
        const missing = acked.filter((b) => !stored.has(b));
        deepStrictEqual(missing, [], "every acknowledged request is in the bucket");
        deepStrictEqual(acked.filter((b) => stored.get(b) !== 1), [], "each exactly once");
      });
    });
  },
);

Deno.test({
  name:
    "server with the S3 endpoint at a closed port answers 503 with Retry-After and logs which endpoint",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const endpoint = `http://127.0.0.1:${freePort()}`;
    await withServer({ output: false, env: s3Env("o2p-bucket", endpoint) }, async (srv) => {
      const line = await untilLogged(srv, /storage check failed/);
      ok(line.includes(endpoint), `the log line names the endpoint: ${line}`);
      ok(/ECONNREFUSED|cannot reach/.test(line), line);

      const a = await postJson(
        srv,
        "/v1/logs",
        logsRequest("svc", [{ timeUnixNano: String(BASE_NS), body: sv("x") }]),
      );
      strictEqual(a.status, 503, text(a.body));
      ok(
        /^[1-9]\d*$/.test(a.headers.get("retry-after") ?? ""),
        `Retry-After: ${a.headers.get("retry-after")}`,
      );
      const status = JSON.parse(text(a.body));
      strictEqual(status.code, 14, "google.rpc.Code UNAVAILABLE");
      ok(status.message.includes(`cannot reach the endpoint "${endpoint}"`), status.message);

      const r = await getReady(srv);
      strictEqual(r.status, 503);
      ok(r.body.includes(endpoint), r.body);
    });
  },
});

s3Test(
  "server with a missing bucket or rejected credentials says which in /ready and its log",
  async () => {
    await withServer(
      { output: false, env: s3Env("o2p-no-such-bucket", S3_ENDPOINT) },
      async (srv) => {
        const line = await untilLogged(srv, /storage check failed/);
        ok(
          line.includes('the bucket \\"o2p-no-such-bucket\\" does not exist') ||
            line.includes('the bucket "o2p-no-such-bucket" does not exist'),
          line,
        );
        const r = await getReady(srv);
        strictEqual(r.status, 503);
        ok(r.body.includes("does not exist"), r.body);
        const a = await postJson(
          srv,
          "/v1/logs",
          logsRequest("svc", [{ timeUnixNano: String(BASE_NS), body: sv("x") }]),
        );
        strictEqual(a.status, 503);
        ok(a.headers.get("retry-after"), "Retry-After on a misconfiguration too");
      },
    );
    await withBucket(async (bucket) => {
      const env = s3Env(bucket, S3_ENDPOINT, {
        OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: "wrong",
      });
      await withServer({ output: false, env }, async (srv) => {
        const line = await untilLogged(srv, /storage check failed/);
        ok(line.includes("the credentials were rejected"), line);
        const r = await getReady(srv);
        strictEqual(r.status, 503);
        ok(r.body.includes("credentials"), r.body);
      });
    });
  },
);
