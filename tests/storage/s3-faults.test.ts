/**
 * The s3 driver when things go wrong, against the real S3 server (Swift): a closed port, a
 * server that never answers, a wrong bucket, rejected credentials, a multipart upload that
 * fails half-way, and the S3 server stopped and started again mid-way.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type * as S3 from "@aws-sdk/client-s3";
import { createS3Storage } from "../../src/storage/s3.ts";
import { StorageError } from "../../src/storage/types.ts";
import { pseudoRandomBytes } from "./conformance.ts";
import {
  adminClient,
  freePort,
  s3Options,
  s3Test,
  startExtraProxy,
  stopExtraProxy,
  withBucket,
} from "../helpers/s3.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();
const fast = { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10, timeoutMs: 2000 };

async function failure(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(() => undefined, (e) => e);
  ok(err instanceof StorageError, `expected a StorageError, got ${err}`);
  return err;
}

Deno.test({
  name: "s3 driver at a closed port fails with a retryable StorageError naming the endpoint",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const endpoint = `http://127.0.0.1:${freePort()}`;
    const d = createS3Storage({ ...s3Options("any-bucket", endpoint), retry: fast });
    try {
      const c = await failure(d.check());
      strictEqual(c.retryable, true);
      ok(c.message.includes(`cannot reach the endpoint "${endpoint}"`), c.message);
      ok(c.message.includes("ECONNREFUSED"), c.message);
      const p = await failure(d.put("logs/a.parquet", enc.encode("x")));
      strictEqual(p.retryable, true);
      ok(p.message.startsWith('Cannot put "logs/a.parquet" (s3, 2 attempts): '), p.message);
      ok(p.message.includes(endpoint), p.message);
    } finally {
      await d.close?.();
    }
  },
});

Deno.test({
  name: "s3 driver gives up on a server that never answers after its per-attempt timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Accepts connections and never answers.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const conns: Deno.Conn[] = [];
    const accepting = (async () => {
      try {
        for await (const c of listener) conns.push(c);
      } catch { /* closed */ }
    })();
    const endpoint = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    const d = createS3Storage({
      ...s3Options("b", endpoint),
      retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 5, timeoutMs: 200 },
    });
    try {
      const t0 = performance.now();
      const err = await failure(d.get("k"));
      const took = performance.now() - t0;
      strictEqual(err.retryable, true);
      ok(/timed out after 200 ms/.test(err.message), err.message);
      ok(took >= 400 && took < 2000, `two attempts of 200 ms, took ${took} ms`);
      strictEqual(conns.length >= 1, true);
    } finally {
      await d.close?.();
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    }
  },
});

s3Test("s3 driver names the bucket when it does not exist", async () => {
  const d = createS3Storage({ ...s3Options("o2p-no-such-bucket"), retry: fast });
  try {
    const c = await failure(d.check());
    strictEqual(c.retryable, false);
    ok(c.message.includes('the bucket "o2p-no-such-bucket" does not exist'), c.message);
    const p = await failure(d.put("k", enc.encode("x")));
    strictEqual(p.retryable, false);
    ok(
      p.message.includes('the bucket "o2p-no-such-bucket" does not exist (NoSuchBucket'),
      p.message,
    );
    ok(!p.message.includes("attempts"), "not retried: " + p.message);
  } finally {
    await d.close?.();
  }
});

s3Test("s3 driver names the credentials when they are rejected", async () => {
  await withBucket(async (bucket) => {
    for (const bad of [{ secretAccessKey: "wrong-secret" }, { accessKeyId: "test:nobody" }]) {
      const d = createS3Storage({ ...s3Options(bucket), ...bad, retry: fast });
      try {
        const c = await failure(d.check());
        strictEqual(c.retryable, false);
        ok(c.message.includes("the credentials were rejected"), c.message);
        ok(c.message.includes("HTTP 403"), c.message);
        const p = await failure(d.put("k", enc.encode("x")));
        ok(p.message.includes("the credentials were rejected"), p.message);
        ok(
          p.message.includes("SignatureDoesNotMatch") || p.message.includes("InvalidAccessKeyId"),
          p.message,
        );
      } finally {
        await d.close?.();
      }
    }
  });
});

Deno.test("s3 driver reports a half-configured credential pair and a bad endpoint on first use", async () => {
  const onlyKey = createS3Storage({ bucket: "b", accessKeyId: "AKIA…", retry: fast });
  const e1 = await failure(onlyKey.put("k", new Uint8Array(1)));
  strictEqual(e1.retryable, false);
  ok(e1.message.includes("needs both an access key id and a secret access key"), e1.message);
  const noBucket = createS3Storage({ bucket: "", retry: fast });
  ok(
    (await failure(noBucket.check())).message.includes(
      'needs a bucket name (option "bucket" is empty)',
    ),
  );
  const badUrl = createS3Storage({ bucket: "b", endpoint: "127.0.0.1:9000", retry: fast });
  ok(
    (await failure(badUrl.list(""))).message.includes(
      'endpoint "127.0.0.1:9000" is not an http(s) URL',
    ),
  );
});

s3Test("s3 driver uploads objects past the threshold as multipart uploads", async () => {
  await withBucket(async (bucket) => {
    const d = createS3Storage({
      ...s3Options(bucket),
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
    });
    const c = await adminClient();
    try {
      const data = pseudoRandomBytes(12 * MiB, 3);
      await d.put("big.parquet", data);
      await d.put("small.parquet", data.subarray(0, 5 * MiB));
      const big = await c.send(new c.sdk.HeadObjectCommand({ Bucket: bucket, Key: "big.parquet" }));
      const small = await c.send(
        new c.sdk.HeadObjectCommand({ Bucket: bucket, Key: "small.parquet" }),
      );
      // A multipart object's ETag is "<md5 of the part md5s>-<parts>": 5 + 5 + 2 MiB.
      ok(/-3"$/.test(big.ETag ?? ""), `multipart ETag, got ${big.ETag}`);
      ok(!/-\d+"$/.test(small.ETag ?? ""), `single PUT ETag, got ${small.ETag}`);
      strictEqual(big.ContentLength, 12 * MiB);
      strictEqual(big.ContentType, "application/vnd.apache.parquet");
      deepStrictEqual(await d.get("big.parquet"), data);
    } finally {
      c.destroy();
      await d.close?.();
    }
  });
});

s3Test("s3 driver aborts a multipart upload whose part fails, leaving nothing behind", async () => {
  await withBucket(async (bucket) => {
    let parts = 0;
    const loadSdk = async () => {
      const sdk = await import("@aws-sdk/client-s3");
      // The real client, except that the second part upload fails like a dropped connection.
      class FailingClient extends sdk.S3Client {
        // deno-lint-ignore no-explicit-any
        override send(command: any, options?: any): any {
          if (command instanceof sdk.UploadPartCommand && ++parts === 2) {
            return Promise.reject(
              Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
            );
          }
          return super.send(command, options);
        }
      }
      return { ...sdk, S3Client: FailingClient } as typeof S3;
    };
    const d = createS3Storage({
      ...s3Options(bucket),
      multipartThresholdBytes: 5 * MiB,
      multipartConcurrency: 1,
      loadSdk,
      retry: { ...fast, maxAttempts: 1 },
    });
    const c = await adminClient();
    try {
      const err = await failure(d.put("m.parquet", pseudoRandomBytes(11 * MiB)));
      strictEqual(err.retryable, true);
      ok(err.message.includes("UploadPart"), err.message);
      ok(err.message.includes("socket hang up"), err.message);
      const uploads = await c.send(new c.sdk.ListMultipartUploadsCommand({ Bucket: bucket }));
      deepStrictEqual(uploads.Uploads ?? [], []);
      strictEqual(await d.get("m.parquet"), null);
      // The same driver with retries on: the failed attempt is retried whole and succeeds.
      parts = 0;
      const retried = createS3Storage({
        ...s3Options(bucket),
        multipartThresholdBytes: 5 * MiB,
        multipartConcurrency: 1,
        loadSdk,
        retry: fast,
      });
      const data = pseudoRandomBytes(11 * MiB, 5);
      await retried.put("m.parquet", data);
      deepStrictEqual(await retried.get("m.parquet"), data);
      await retried.close?.();
    } finally {
      c.destroy();
      await d.close?.();
    }
  });
});

s3Test("s3 driver recovers by itself when the S3 server stops and starts again", async () => {
  await withBucket(async (bucket) => {
    const port = freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    await startExtraProxy(port);
    const d = createS3Storage({ ...s3Options(bucket, endpoint), retry: fast });
    try {
      await d.put("before", enc.encode("1"));
      await d.check();

      await stopExtraProxy(port);
      const down = await failure(d.put("during", enc.encode("2")));
      strictEqual(down.retryable, true);
      ok(down.message.includes(`cannot reach the endpoint "${endpoint}"`), down.message);
      const notReady = await failure(d.check());
      strictEqual(notReady.retryable, true);

      // A patient driver started while the server is down succeeds once it is back.
      // (Up to ~30 s of retries: restarting the proxy takes seconds on a loaded machine.)
      const patient = createS3Storage({
        ...s3Options(bucket, endpoint),
        retry: { maxAttempts: 150, baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000 },
      });
      const pending = patient.put("while-down", enc.encode("3")).then(() => null, (e) => e);
      await new Promise((r) => setTimeout(r, 300));
      await startExtraProxy(port);
      strictEqual(await pending, null, "the put made while the server was down succeeded");
      await patient.close?.();

      await d.check();
      await d.put("after", enc.encode("4"));
      deepStrictEqual(await d.list(""), ["after", "before", "while-down"]);
      deepStrictEqual(await d.get("while-down"), enc.encode("3"));
    } finally {
      await d.close?.();
      await stopExtraProxy(port);
    }
  });
});

Deno.test("s3 driver says which package is missing when the SDK cannot be loaded", async () => {
  const d = createS3Storage({
    bucket: "b",
    retry: fast,
    loadSdk: () => Promise.reject(new TypeError('Cannot find module "@aws-sdk/client-s3"')),
  });
  const err = await failure(d.get("k"));
  strictEqual(err.retryable, false);
  ok(
    err.message.includes('s3 storage cannot load the npm package "@aws-sdk/client-s3"'),
    err.message,
  );
});
