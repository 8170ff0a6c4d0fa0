/**
 * The real S3 server for tests: OpenStack Swift with s3api, started by scripts/s3-server.sh on
 * first use (once per test process; reused when it is already up). Under the test task
 * (scripts/test.ts) it is a private server on free ports, named by O2P_TEST_S3_ENDPOINT (and
 * O2P_TEST_SWIFT_DIR, O2P_TEST_SWIFT_PORTS for the script), which the task stops when the run
 * ends; a bare `deno test` uses the shared one on 127.0.0.1:8080.
 *
 * When Swift is not installed the S3 tests are skipped with a message saying how to enable
 * them; under CI=true they never skip: a missing Swift fails the test file.
 *
 *   import { S3_AVAILABLE, s3Test, withBucket } from "../helpers/s3.ts";
 *   s3Test("s3 driver …", async () => { await withBucket(async (bucket) => { … }); });
 */
import type * as S3 from "@aws-sdk/client-s3";
import type { S3StorageOptions } from "../../src/storage/s3.ts";

/** The S3 endpoint of the test server: the test task's private one, else 127.0.0.1:8080. */
export const S3_ENDPOINT = Deno.env.get("O2P_TEST_S3_ENDPOINT") ?? "http://127.0.0.1:8080";
export const SWIFT_PORT = Number(new URL(S3_ENDPOINT).port);
export const S3_REGION = "us-east-1";
export const S3_ACCESS_KEY_ID = "test:tester";
export const S3_SECRET_ACCESS_KEY = "testing";

const SCRIPT = new URL("../../scripts/s3-server.sh", import.meta.url).pathname;
const PACKAGES = "swift swift-proxy swift-object swift-container swift-account memcached";

function installed(): boolean {
  const out = new Deno.Command("sh", {
    args: [
      "-c",
      "command -v swift-proxy-server && command -v swift-ring-builder && command -v memcached",
    ],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

/** Whether S3 tests run in this process (Swift installed). Throws under CI=true when not. */
export const S3_AVAILABLE: boolean = (() => {
  if (installed()) return true;
  const how = `install it with: apt-get install -y ${PACKAGES}`;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`S3 tests need OpenStack Swift (CI=true never skips them); ${how}`);
  }
  console.warn(`%cS3 tests skipped: OpenStack Swift is not installed; ${how}`, "color: yellow");
  return false;
})();

let started: Promise<void> | undefined;

/** Starts Swift (or reuses the running one); resolves when GET /healthcheck answers. */
export function ensureS3Server(): Promise<void> {
  started ??= (async () => {
    const out = await new Deno.Command("bash", {
      args: [SCRIPT, "start"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      started = undefined;
      throw new Error(
        `scripts/s3-server.sh start failed (exit ${out.code}):\n${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
  })();
  return started;
}

/** Runs `scripts/s3-server.sh ARGS…` and returns its stdout. */
export async function s3Script(...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `scripts/s3-server.sh ${args.join(" ")} failed (exit ${out.code}):\n${
        dec.decode(out.stderr)
      }`,
    );
  }
  return dec.decode(out.stdout).trim();
}

/**
 * An extra Swift proxy on its own port over the same storage: a fault test can stop and start
 * "the S3 server" without disturbing other tests that use the main one. `region` is the signing
 * region it expects (default us-east-1; the GCS preset signs for "auto").
 */
export async function startExtraProxy(port: number, region?: string): Promise<void> {
  await ensureS3Server();
  await s3Script("proxy-start", String(port), ...(region ? [region] : []));
}

export async function stopExtraProxy(port: number): Promise<void> {
  await s3Script("proxy-stop", String(port));
}

/**
 * `stopExtraProxy` that blocks: for an `unload` listener (which cannot await), so a proxy shared
 * by a file's tests is stopped when the file ends, whichever of its tests ran or failed.
 */
export function stopExtraProxySync(port: number): void {
  new Deno.Command("bash", {
    args: [SCRIPT, "proxy-stop", String(port)],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

/** A free TCP port on 127.0.0.1 (closed again, so it refuses connections until used). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Driver options for the test server (add `bucket`). */
export function s3Options(bucket: string, endpoint = S3_ENDPOINT): S3StorageOptions {
  return {
    bucket,
    region: S3_REGION,
    endpoint,
    forcePathStyle: true,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
  };
}

/** A raw SDK client for the test server (to create buckets and inspect objects). */
export async function adminClient(
  endpoint = S3_ENDPOINT,
): Promise<S3.S3Client & { sdk: typeof S3 }> {
  const sdk = await import("@aws-sdk/client-s3");
  const client = new sdk.S3Client({
    region: S3_REGION,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return Object.assign(client, { sdk });
}

/** Creates a fresh bucket with a unique name. */
export async function createBucket(): Promise<string> {
  await ensureS3Server();
  const bucket = `o2p-test-${crypto.randomUUID().slice(0, 13)}`;
  const c = await adminClient();
  try {
    await c.send(new c.sdk.CreateBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
  return bucket;
}

/** Deletes every object (and unfinished multipart upload) in `bucket`, then the bucket. */
export async function deleteBucket(bucket: string): Promise<void> {
  const c = await adminClient();
  try {
    let token: string | undefined;
    do {
      const out = await c.send(
        new c.sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
      );
      const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key! }));
      for (const k of keys) {
        await c.send(new c.sdk.DeleteObjectCommand({ Bucket: bucket, Key: k.Key }));
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    const uploads = await c.send(new c.sdk.ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await c.send(
        new c.sdk.AbortMultipartUploadCommand({
          Bucket: bucket,
          Key: u.Key!,
          UploadId: u.UploadId!,
        }),
      );
    }
    await c.send(new c.sdk.DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
}

/** Runs `fn` with a fresh bucket, deleted afterwards. */
export async function withBucket<T>(fn: (bucket: string) => Promise<T>): Promise<T> {
  const bucket = await createBucket();
  try {
    return await fn(bucket);
  } finally {
    await deleteBucket(bucket);
  }
}

/**
 * Registers a Deno test that needs the S3 server: ignored (with the message above) when Swift
 * is not installed. The SDK's HTTP agent keeps sockets for reuse, so resource sanitizing is off.
 */
export function s3Test(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !S3_AVAILABLE,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      await ensureS3Server();
      await fn(t);
    },
  });
}
