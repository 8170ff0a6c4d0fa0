/**
 * A storage outage during load with the real S3 driver: the S3 server (a Swift proxy on its own
 * port) is stopped while requests keep coming, then started again. Clients get retryable
 * statuses, never a 200 for data that is not durable, and afterwards every acknowledged row is
 * in the bucket exactly once.
 */
import { withRetry } from "../../src/storage/retry.ts";
import { createS3Storage } from "../../src/storage/s3.ts";
import {
  freePort,
  s3Options,
  s3Test,
  startExtraProxy,
  stopExtraProxy,
  withBucket,
} from "../helpers/s3.ts";
import { outageUnderLoad, tempDir } from "./helpers.ts";

s3Test(
  "S3 outage during load: 503 with Retry-After, every acknowledged row stored once after recovery",
  async () => {
    await withBucket(async (bucket) => {
      const port = freePort();
      await startExtraProxy(port);
      const { dir, cleanup } = await tempDir();
      const storage = withRetry(createS3Storage(s3Options(bucket, `http://127.0.0.1:${port}`)), {
        maxAttempts: 2,
        baseDelayMs: 10,
        maxDelayMs: 50,
        timeoutMs: 2000,
      });
      try {
        await outageUnderLoad({
          storage,
          walDir: dir,
          stop: () => stopExtraProxy(port),
          start: () => startExtraProxy(port),
        });
      } finally {
        await stopExtraProxy(port).catch(() => {});
        await storage.close?.();
        await cleanup();
      }
    });
  },
);
