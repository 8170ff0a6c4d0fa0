/**
 * The s3 driver against a real S3 server (OpenStack Swift with s3api, scripts/s3-server.sh):
 * the conformance suite, with a small list page and multipart threshold so pagination and
 * multipart uploads are exercised with few, small objects.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createS3Storage } from "../../src/storage/s3.ts";
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
