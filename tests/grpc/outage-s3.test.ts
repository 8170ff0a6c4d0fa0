/**
 * A storage outage under OTLP/gRPC load, against the real S3 server (Swift, its proxy on a port
 * of its own, stopped and started again; tests/helpers/s3.ts): calls get UNAVAILABLE with a
 * google.rpc.RetryInfo in grpc-status-details-bin (never INTERNAL or UNKNOWN, never OK for data
 * that is not stored), Health/Check says NOT_SERVING while storage is down and SERVING after,
 * and every record that got OK is in the bucket exactly once. Write-through, so the outage
 * reaches the calls at once (with batching it shows as buffers filling up, as for HTTP).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as http2 from "node:http2";
import { query, readParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import { callOn, HEALTH_CHECK, LOGS_EXPORT } from "../helpers/grpc.ts";
import { decodeStatusPb } from "../http/fixtures.ts";
import {
  adminClient,
  freePort,
  S3_ACCESS_KEY_ID,
  S3_REGION,
  S3_SECRET_ACCESS_KEY,
  s3Test,
  startExtraProxy,
  stopExtraProxy,
  withBucket,
} from "../helpers/s3.ts";
import { Pb, pbLogsRequest, uniqueService } from "../e2e/support.ts";

const BASE_NS = 1_700_000_000_000_000_000n; // 2023-11-14T22:13:20Z

function s3Env(bucket: string, endpoint: string): Record<string, string> {
  return {
    OTLP2PARQUET_STORAGE_BACKEND: "s3",
    OTLP2PARQUET_STORAGE_S3_BUCKET: bucket,
    OTLP2PARQUET_STORAGE_S3_ENDPOINT: endpoint,
    OTLP2PARQUET_STORAGE_S3_REGION: S3_REGION,
    OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
    OTLP2PARQUET_STORAGE_S3_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
    OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
    OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS: "2",
    OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "20",
    OTLP2PARQUET_STORAGE_RETRY_MAX_DELAY_MS: "100",
    OTLP2PARQUET_STORAGE_RETRY_TIMEOUT_MS: "2000",
  };
}

/** Downloads every object of `bucket` into `dir`; returns the keys. */
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

interface Outcome {
  i: number;
  phase: "before" | "down" | "restarting" | "after";
  status: number;
  message: string;
  details?: Uint8Array;
}

s3Test(
  "gRPC under a storage outage: UNAVAILABLE with RetryInfo, health NOT_SERVING, nothing acknowledged lost",
  async () => {
    await withBucket(async (bucket) => {
      const port = freePort();
      const endpoint = `http://127.0.0.1:${port}`;
      await startExtraProxy(port);
      const service = uniqueService("grpc-outage");
      const outcomes: Outcome[] = [];
      const health: Record<string, number[]> = { down: [], after: [] };
      let phase: Outcome["phase"] = "before";
      try {
        await withServer({ output: false, env: s3Env(bucket, endpoint) }, async (srv) => {
          const session = http2.connect(`http://${srv.grpcAddr}`);
          session.on("error", () => {});
          let i = 0;
          const send = async () => {
            const n = i++;
            const rec = new Pb().fixed64(1, BASE_NS + BigInt(n)).message(
              5,
              new Pb().string(1, `req-${n}`),
            );
            const a = await callOn(session, LOGS_EXPORT, pbLogsRequest(service, rec));
            outcomes.push({
              i: n,
              phase,
              status: a.status,
              message: a.message,
              details: a.details,
            });
          };
          const serving = async () => {
            const h = await callOn(session, HEALTH_CHECK, new Uint8Array(0));
            strictEqual(h.status, 0, h.message);
            return h.response![1];
          };
          try {
            const deadline = Date.now() + 60_000; // bounded in time and count
            for (let k = 0; k < 10; k++) await send();

            await stopExtraProxy(port);
            phase = "down";
            const failures = () =>
              outcomes.filter((o) => o.phase === "down" && o.status !== 0).length;
            for (let k = 0; k < 50 && failures() < 5; k++) await send();
            for (let k = 0; k < 100 && Date.now() < deadline; k++) {
              health.down.push(await serving());
              if (health.down.at(-1) === 2) break;
              await new Promise((r) => setTimeout(r, 100));
            }

            phase = "restarting";
            let restarted = false;
            const restarting = startExtraProxy(port).then(() => (restarted = true));
            for (let k = 0; k < 200 && !restarted && Date.now() < deadline; k++) {
              await send();
              await new Promise((r) => setTimeout(r, 50));
            }
            await restarting;
            phase = "after";
            for (let k = 0; k < 100 && Date.now() < deadline; k++) {
              health.after.push(await serving());
              if (health.after.at(-1) === 1) break;
              await new Promise((r) => setTimeout(r, 100));
            }
            for (let k = 0; k < 10; k++) await send();
          } finally {
            session.destroy();
          }
        });
      } finally {
        await stopExtraProxy(port);
      }

      for (const o of outcomes) {
        ok(
          [0, 14].includes(o.status),
          `call ${o.i} (${o.phase}): status ${o.status}: ${o.message}`,
        );
        if (o.status === 14) {
          ok(o.details, `call ${o.i}: UNAVAILABLE without grpc-status-details-bin`);
          const st = await decodeStatusPb(o.details!);
          strictEqual(st.code, 14);
          const any = st.details[0] as { type_url?: string; typeUrl?: string };
          strictEqual(any.type_url ?? any.typeUrl, "type.googleapis.com/google.rpc.RetryInfo");
        }
      }
      const byPhase = (p: Outcome["phase"], status: number) =>
        outcomes.filter((o) => o.phase === p && o.status === status).length;
      strictEqual(byPhase("before", 0), 10, "all OK before the outage");
      ok(byPhase("down", 14) >= 5, JSON.stringify(outcomes.filter((o) => o.phase === "down")));
      strictEqual(byPhase("after", 0), 10, "all OK after the restart");
      const failed = outcomes.find((o) => o.status === 14)!;
      ok(failed.message.includes("storage unavailable"), failed.message);
      strictEqual(health.down.at(-1), 2, `NOT_SERVING while down: ${health.down}`);
      strictEqual(health.after.at(-1), 1, `SERVING after: ${health.after}`);

      const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-grpc-outage-" });
      try {
        const keys = await download(bucket, dir);
        const rows = await query(
          `SELECT Body, count(*) AS n FROM ${
            readParquet(keys.map((k) => `${dir}/${k}`))
          } GROUP BY Body`,
        );
        const stored = new Map(rows.map((r) => [r.Body as string, Number(r.n)]));
        const acked = outcomes.filter((o) => o.status === 0).map((o) => `req-${o.i}`);
        ok(acked.length >= 20);
        deepStrictEqual(
          acked.filter((b) => !stored.has(b)),
          [],
          "every acknowledged record stored",
        );
        deepStrictEqual(acked.filter((b) => stored.get(b) !== 1), [], "each exactly once");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);
