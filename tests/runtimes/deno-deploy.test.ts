/**
 * Deno Deploy: the server entry runs with S3 storage when Deno may not write files (no
 * --allow-write, as on Deploy). The write-ahead log cannot exist there, so requests are written
 * through to storage before their answer, and the objects hold what was sent.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { logsPb } from "../http/fixtures.ts";
import { readParquet } from "../helpers/parquet.ts";
import {
  adminClient,
  createBucket,
  S3_ACCESS_KEY_ID,
  S3_AVAILABLE,
  S3_ENDPOINT,
  S3_SECRET_ACCESS_KEY,
} from "../helpers/s3.ts";
import { withServer } from "../helpers/server.ts";

Deno.test({
  name: "server entry without write permission stores to S3 (Deno Deploy)",
  ignore: !S3_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bucket = await createBucket();
    await withServer({
      output: false,
      permissions: ["--allow-net", "--allow-read", "--allow-env", "--allow-sys"],
      env: {
        OTLP2PARQUET_BATCH_ENABLED: "true",
        OTLP2PARQUET_STORAGE_BACKEND: "s3",
        OTLP2PARQUET_S3_BUCKET: bucket,
        OTLP2PARQUET_S3_ENDPOINT: S3_ENDPOINT,
        OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
        OTLP2PARQUET_STORAGE_S3_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
        OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
      },
    }, async (srv) => {
      ok(/write-ahead log is off/.test(srv.log()), srv.log());
      const res = await fetch(`${srv.url}/v1/logs`, {
        method: "POST",
        body: logsPb(3, "deploy") as BodyInit,
        headers: { "content-type": "application/x-protobuf" },
      });
      await res.body?.cancel();
      strictEqual(res.status, 200);
      // Written through: the object exists as soon as the request is answered.
      const s3 = await adminClient();
      const listed = await s3.send(new s3.sdk.ListObjectsV2Command({ Bucket: bucket }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      strictEqual(keys.length, 1, JSON.stringify(keys));
      ok(keys[0].startsWith("logs/deploy/year="), keys[0]);
      const obj = await s3.send(new s3.sdk.GetObjectCommand({ Bucket: bucket, Key: keys[0] }));
      const table = readParquet(await obj.Body!.transformToByteArray());
      deepStrictEqual(table.getChild("Body")!.toArray(), ["msg-0", "msg-1", "msg-2"]);
      s3.destroy();
    });
  },
});
