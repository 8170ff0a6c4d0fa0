/**
 * The gcs preset of the s3 driver (src/storage/gcs.ts). Real GCS cannot be reached from here, so
 * the preset is checked two ways: the conformance suite every driver passes, against the real
 * S3 server (Swift) through a proxy whose s3api expects the preset's signing region "auto" —
 * only the endpoint differs from what a GCS user runs —, and the exact requests the preset
 * sends, recorded by a local HTTP server: path-style URLs, region "auto", no checksum headers,
 * none of the SDK's own headers or its x-id parameter.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createGcsStorage, GCS_ENDPOINT, gcsS3Options } from "../../src/storage/gcs.ts";
import { pseudoRandomBytes, testDriver } from "./conformance.ts";
import {
  createBucket,
  deleteBucket,
  freePort,
  S3_ACCESS_KEY_ID,
  S3_AVAILABLE,
  S3_SECRET_ACCESS_KEY,
  startExtraProxy,
  stopExtraProxySync,
} from "../helpers/s3.ts";

const MiB = 1024 * 1024;
const port = freePort();
const endpoint = `http://127.0.0.1:${port}`;
let proxy: Promise<void> | undefined;
// The proxy is shared by the file's tests and stopped when the file ends.
globalThis.addEventListener("unload", () => {
  if (proxy) stopExtraProxySync(port);
});

testDriver("gcs preset (Swift, region auto)", async () => {
  proxy ??= startExtraProxy(port, "auto");
  await proxy;
  const bucket = await createBucket();
  const driver = createGcsStorage({
    bucket,
    endpoint,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    listPageSize: 7,
    multipartThresholdBytes: 5 * MiB,
    partSizeBytes: 5 * MiB,
  });
  return { driver, cleanup: () => deleteBucket(bucket) };
}, { ignore: !S3_AVAILABLE, sanitize: false, paginationKeys: 25 });

Deno.test("gcs preset: settings are GCS's unless given", () => {
  const o = gcsS3Options({ bucket: "b", accessKeyId: "GOOG1", secretAccessKey: "s" });
  strictEqual(o.endpoint, GCS_ENDPOINT);
  strictEqual(GCS_ENDPOINT, "https://storage.googleapis.com");
  strictEqual(o.region, "auto");
  strictEqual(o.forcePathStyle, true);
  strictEqual(o.plainRequests, true);
  strictEqual(o.name, "gcs");
});

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
}

Deno.test({
  name: "gcs preset sends plain S3 requests: path style, region auto, no SDK headers or checksums",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A recording stand-in for GCS's XML API (real GCS is out of reach): it answers each call
    // with the minimal S3 XML the SDK accepts.
    const seen: Seen[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const u = new URL(req.url);
      await req.arrayBuffer();
      seen.push({
        method: req.method,
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
      });
      const xml = (body: string) =>
        new Response(`<?xml version="1.0" encoding="UTF-8"?>${body}`, {
          headers: { "content-type": "application/xml" },
        });
      if (u.searchParams.has("uploads")) {
        return xml(
          "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>big.parquet</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
        );
      }
      if (u.searchParams.has("partNumber")) return new Response(null, { headers: { etag: '"e"' } });
      if (u.searchParams.has("uploadId") && req.method === "POST") {
        return xml(
          '<CompleteMultipartUploadResult><ETag>"e-2"</ETag></CompleteMultipartUploadResult>',
        );
      }
      if (u.searchParams.get("list-type") === "2") {
        return xml(
          '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>logs/a.parquet</Key><Size>1</Size></Contents></ListBucketResult>',
        );
      }
      if (req.method === "GET") return new Response(new Uint8Array([1, 2, 3]));
      if (req.method === "DELETE") return new Response(null, { status: 204 });
      return new Response(null, { headers: { etag: '"e"' } });
    });
    const d = createGcsStorage({
      bucket: "b",
      endpoint: `http://127.0.0.1:${server.addr.port}`,
      accessKeyId: "GOOG1EXAMPLEKEY",
      secretAccessKey: "secret",
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
      retry: { maxAttempts: 1 },
    });
    try {
      await d.check();
      await d.put("logs/a.parquet", new Uint8Array([1]));
      await d.put("big.parquet", pseudoRandomBytes(6 * MiB));
      deepStrictEqual(await d.get("logs/a.parquet"), new Uint8Array([1, 2, 3]));
      deepStrictEqual(await d.list("logs/"), ["logs/a.parquet"]);
      await d.delete("logs/a.parquet");

      deepStrictEqual(seen.map((s) => `${s.method} ${s.path}`), [
        "HEAD /b/",
        "PUT /b/logs/a.parquet",
        "POST /b/big.parquet",
        "PUT /b/big.parquet",
        "PUT /b/big.parquet",
        "POST /b/big.parquet",
        "GET /b/logs/a.parquet",
        "GET /b/",
        "DELETE /b/logs/a.parquet",
      ]);
      for (const s of seen) {
        const what = `${s.method} ${s.path}?${s.query}`;
        const auth = s.headers.get("authorization") ?? "";
        ok(auth.includes("Credential=GOOG1EXAMPLEKEY/"), what);
        ok(/\/auto\/s3\/aws4_request/.test(auth), `signed for region auto: ${auth}`);
        ok(!s.query.has("x-id"), `no x-id parameter: ${what}`);
        for (const [name] of s.headers) {
          ok(!name.startsWith("amz-sdk-"), `no SDK header ${name}: ${what}`);
          ok(!name.startsWith("x-amz-checksum"), `no checksum header ${name}: ${what}`);
          ok(
            name !== "x-amz-sdk-checksum-algorithm" && name !== "x-amz-trailer",
            `${name}: ${what}`,
          );
        }
        ok(
          !/amz-sdk|checksum/.test(/SignedHeaders=([^,]+)/.exec(auth)?.[1] ?? ""),
          `signed headers: ${auth}`,
        );
        const sha = s.headers.get("x-amz-content-sha256") ?? "";
        ok(!sha.startsWith("STREAMING"), `no aws-chunked upload: ${sha}`);
      }
    } finally {
      await d.close?.();
      await server.shutdown();
    }
  },
});
