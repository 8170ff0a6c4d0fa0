/**
 * The s3 driver against a real S3 server (OpenStack Swift with s3api, scripts/s3-server.sh):
 * the conformance suite, with a small list page and multipart threshold so pagination and
 * multipart uploads are exercised with few, small objects.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createS3Storage } from "../../src/storage/s3.ts";
import { withPrefix } from "../../src/storage/types.ts";
import { testDriver } from "./conformance.ts";
import {
  adminClient,
  createBucket,
  deleteBucket,
  ensureS3Server,
  S3_AVAILABLE,
  s3Options,
  s3Test,
  withBucket,
} from "../helpers/s3.ts";

const MiB = 1024 * 1024;

testDriver("s3", async () => {
  const bucket = await createBucket();
  const driver = createS3Storage({
    ...s3Options(bucket),
    listPageSize: 7,
    multipartThresholdBytes: 5 * MiB,
    partSizeBytes: 5 * MiB,
  });
  return { driver, cleanup: () => deleteBucket(bucket) };
}, { ignore: !S3_AVAILABLE, sanitize: false, before: ensureS3Server, paginationKeys: 25 });

s3Test(
  "s3 driver with a key prefix stores objects under it and lists them without it",
  async () => {
    await withBucket(async (bucket) => {
      const d = withPrefix(createS3Storage(s3Options(bucket)), "otel/prod/");
      const c = await adminClient();
      try {
        const enc = new TextEncoder();
        await d.put("logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet", enc.encode("a"));
        await d.put("traces/svc/1-b.parquet", enc.encode("b"));
        const raw = await c.send(new c.sdk.ListObjectsV2Command({ Bucket: bucket }));
        deepStrictEqual((raw.Contents ?? []).map((o) => o.Key), [
          "otel/prod/logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
          "otel/prod/traces/svc/1-b.parquet",
        ]);
        deepStrictEqual(await d.list("logs/"), [
          "logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
        ]);
        deepStrictEqual(await d.get("traces/svc/1-b.parquet"), enc.encode("b"));
        await d.delete("traces/svc/1-b.parquet");
        deepStrictEqual(await d.list(""), [
          "logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
        ]);
        const obj = await c.send(
          new c.sdk.HeadObjectCommand({
            Bucket: bucket,
            Key: "otel/prod/logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
          }),
        );
        strictEqual(obj.ContentLength, 1);
        ok(obj.ContentType === "application/vnd.apache.parquet", obj.ContentType);
      } finally {
        c.destroy();
        await d.close?.();
      }
    });
  },
);
