/**
 * The r2 drivers: the Workers R2 binding under Miniflare (workerd with a local R2 bucket,
 * reached through Miniflare's getR2Bucket from this process), and R2's S3 API over the s3
 * driver (against Swift for the conformance suite; against a capturing HTTP server for the
 * R2-specific signing region and addressing).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "esbuild";
import {
  createR2BindingStorage,
  createR2S3Storage,
  type R2BucketLike,
} from "../../src/storage/r2.ts";
import { StorageError, withPrefix } from "../../src/storage/types.ts";
import { testDriver } from "./conformance.ts";
import {
  createBucket,
  deleteBucket,
  ensureS3Server,
  S3_ACCESS_KEY_ID,
  S3_AVAILABLE,
  S3_ENDPOINT,
  S3_SECRET_ACCESS_KEY,
} from "../helpers/s3.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();

Deno.env.set("WRANGLER_SEND_METRICS", "false");

/**
 * A Miniflare with a local R2 bucket `BUCKET`, one per test: the test disposes it when it ends
 * (workerd is a child process; a shared one would need a teardown after the file's last test).
 */
async function startR2(): Promise<{ bucket: R2BucketLike; dispose: () => Promise<void> }> {
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response('ok'); } }",
    compatibilityDate: "2025-09-01",
    r2Buckets: ["BUCKET"],
    cf: false,
  });
  try {
    const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2BucketLike;
    return { bucket, dispose: () => mf.dispose() };
  } catch (e) {
    await mf.dispose();
    throw e;
  }
}

let seq = 0;
testDriver("r2 binding (Miniflare)", async () => {
  // A fresh bucket and a fresh prefix per test: every test sees an empty namespace.
  const r2 = await startR2();
  const driver = createR2BindingStorage(r2.bucket, { listLimit: 7 });
  return { driver: withPrefix(driver, `t${++seq}-${crypto.randomUUID()}/`), cleanup: r2.dispose };
}, { sanitize: false, paginationKeys: 25 });

Deno.test({
  name: "r2 binding driver retries R2's retryable errors and not the others",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r2 = await startR2();
    try {
      await retries(r2.bucket);
    } finally {
      await r2.dispose();
    }
  },
});

/** The retry test's body, on a real R2 bucket. */
async function retries(real: R2BucketLike): Promise<void> {
  let failures: string[] = [];
  const flaky: R2BucketLike = {
    put: (k, v, o) => {
      const f = failures.shift();
      return f ? Promise.reject(new Error(f)) : real.put(k, v, o);
    },
    get: (k) => real.get(k),
    list: (o) => real.list(o),
    delete: (k) => real.delete(k),
  };
  const d = createR2BindingStorage(flaky, {
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  });
  const key = `retry-${crypto.randomUUID()}`;
  failures = [
    "put: We encountered an internal error. Please try again. (10001)",
    "put: Reduce your concurrent request rate for the same object. (10058)",
  ];
  await d.put(key, enc.encode("stored"));
  deepStrictEqual(await d.get(key), enc.encode("stored"));
  failures = ["put: The specified object name is not valid. (10020)"];
  const err = await d.put(key, enc.encode("x")).catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, false);
  strictEqual(
    err.message,
    `Cannot put "${key}" (r2): R2 put "${key}" (binding "BUCKET"): put: The specified object name is not valid. (10020)`,
  );
  strictEqual(failures.length, 0);
  await d.delete(key);
}

Deno.test("r2 binding driver says how to fix a missing binding", async () => {
  const d = createR2BindingStorage(undefined as unknown as R2BucketLike, { bindingName: "OTEL" });
  const err = await d.check().catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, false);
  ok(
    err.message.includes(
      'the binding is missing; add an [[r2_buckets]] binding named "OTEL" in wrangler.toml',
    ),
    err.message,
  );
});

// R2's S3 API on the s3 driver. Swift stands in for R2 (it only signs for its own region, so
// the region is set to us-east-1, which R2 accepts as an alias of "auto").
testDriver("r2 S3 API (Swift)", async () => {
  const bucket = await createBucket();
  const driver = createR2S3Storage({
    accountId: "unused-with-endpoint",
    bucket,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    endpoint: S3_ENDPOINT,
    region: "us-east-1",
    listPageSize: 7,
    multipartThresholdBytes: 5 * MiB,
  });
  return { driver, cleanup: () => deleteBucket(bucket) };
}, { ignore: !S3_AVAILABLE, sanitize: false, before: ensureS3Server });

Deno.test({
  name: "createR2S3Storage() signs for region auto and addresses the bucket path-style",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const seen: { method: string; path: string; auth: string }[] = [];
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      (req) => {
        seen.push({
          method: req.method,
          path: new URL(req.url).pathname,
          auth: req.headers.get("authorization") ?? "",
        });
        return new Response(null, { status: 200, headers: { etag: '"x"' } });
      },
    );
    const endpoint = `http://127.0.0.1:${server.addr.port}`;
    const d = createR2S3Storage({
      accountId: "0123abcd",
      bucket: "otel",
      accessKeyId: "AKR2",
      secretAccessKey: "secret",
      endpoint,
      retry: { maxAttempts: 1 },
    });
    try {
      await d.put("logs/a.parquet", enc.encode("x"));
      await d.check();
    } finally {
      await d.close?.();
      ac.abort();
      await server.finished;
    }
    deepStrictEqual(seen.map((s) => `${s.method} ${s.path}`), [
      "PUT /otel/logs/a.parquet",
      "HEAD /otel/",
    ]);
    for (const s of seen) {
      ok(/Credential=AKR2\/\d{8}\/auto\/s3\/aws4_request/.test(s.auth), s.auth);
    }
  },
});

Deno.test({
  name: "createR2S3Storage() builds the account endpoint from the account id",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Nothing answers for this account (no network here): the message shows the endpoint used.
    const d = createR2S3Storage({
      accountId: "0123abcd",
      bucket: "otel",
      accessKeyId: "AKR2",
      secretAccessKey: "secret",
      retry: { maxAttempts: 1, timeoutMs: 3000 },
    });
    const err = await d.check().catch((e) => e);
    await d.close?.();
    ok(err instanceof StorageError);
    ok(err.message.includes('endpoint "https://0123abcd.r2.cloudflarestorage.com"'), err.message);
  },
});

Deno.test("createR2S3Storage() without account id or keys fails on first use naming what is missing", async () => {
  const d = createR2S3Storage({
    accountId: "",
    bucket: "b",
    accessKeyId: "",
    secretAccessKey: "s",
  });
  strictEqual(d.name, "r2");
  const err = await d.put("k", new Uint8Array(1)).catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, false);
  strictEqual(
    err.message,
    "R2 storage (S3 API) needs an account id, an access key id: an R2 API token's keys and the Cloudflare account id",
  );
});

Deno.test("a bundle that uses only the R2 binding driver does not carry the AWS SDK", async () => {
  const entry = new URL("../../src/storage/r2.ts", import.meta.url).pathname;
  const bundle = async (name: string) => {
    const out = await build({
      stdin: {
        contents: `export { ${name} } from ${JSON.stringify(entry)};`,
        resolveDir: "/",
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "browser",
      conditions: ["workerd", "worker", "browser"],
      write: false,
      logLevel: "silent",
      nodePaths: [new URL("../../node_modules/", import.meta.url).pathname],
    });
    return out.outputFiles[0].text;
  };
  const binding = await bundle("createR2BindingStorage");
  ok(!binding.includes("S3Client"), "no S3 client in the binding bundle");
  ok(binding.length < 20_000, `binding driver bundle is small: ${binding.length} bytes`);
  const s3 = await bundle("createR2S3Storage");
  ok(
    s3.includes("S3Client"),
    "the S3-API driver does bring the SDK (the check above is meaningful)",
  );
});
