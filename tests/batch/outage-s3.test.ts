/**
 * A storage outage during load with the real S3 driver: the S3 server (a Swift proxy on its own
 * port) is stopped while requests keep coming, then started again. Clients get retryable
 * statuses, never a 200 for data that is not durable, and afterwards every acknowledged row is
 * in the bucket exactly once.
 */
import { ok, strictEqual } from "node:assert/strict";
import { createBatchWriter } from "../../src/batch/batcher.ts";
import { BackpressureError } from "../../src/batch/types.ts";
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
import {
  config,
  convertFixture,
  CountingWalFs,
  ids,
  MemoryLogger,
  readBodies,
  request,
  sleep,
  tempDir,
  until,
} from "./helpers.ts";

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
      const logger = new MemoryLogger();
      const writer = await createBatchWriter({
        config: config({ wal_dir: dir, max_rows: 100, max_buffered_bytes: 120_000 }),
        storage,
        logger,
        walFs: new CountingWalFs(),
        convert: convertFixture,
        retryBaseMs: 50,
        retryMaxMs: 200,
      });
      const acked: string[] = [];
      const statuses = new Map<number, number>();
      let n = 0;
      const send = async () => {
        const batch = ids(`r${n++}`, 10);
        try {
          await writer.write(request("svc", batch));
          acked.push(...batch);
        } catch (e) {
          ok(e instanceof BackpressureError, String(e));
          ok(e.retryAfterSecs >= 1 && e.retryAfterSecs <= 30);
          statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
        }
      };
      try {
        for (let i = 0; i < 30; i++) await send();
        await until(() => writer.stats().filesWritten >= 2, 10_000, "files before the outage");

        await stopExtraProxy(port); // the S3 server goes away
        for (let i = 0; i < 400 && !statuses.has(503); i++) {
          await send();
          if (i % 10 === 0) await sleep(20);
        }
        ok(statuses.has(503), `no 503 during the outage: ${JSON.stringify([...statuses])}`);
        ok(writer.stats().flushFailures > 0);

        await startExtraProxy(port); // back
        // The files sealed during the outage are stored (an open buffer may still hold rows).
        await until(() => writer.stats().pendingFiles === 0, 20_000, "the backlog to be stored");
        for (let i = 0; i < 10; i++) await send();
        await writer.close();

        const keys = await storage.list("logs/");
        const stored: string[] = [];
        for (const k of keys) stored.push(...readBodies((await storage.get(k))!));
        const counts = new Map<string, number>();
        for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
        ok([...counts.values()].every((c) => c === 1), "a row stored twice");
        strictEqual(acked.filter((id) => !counts.has(id)).length, 0, "acknowledged rows missing");
        strictEqual(stored.length, acked.length);
      } finally {
        await writer.abort();
        await stopExtraProxy(port).catch(() => {});
        await storage.close?.();
        await cleanup();
      }
    });
  },
);
