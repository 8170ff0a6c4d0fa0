/**
 * The `s3` driver: AWS S3 and S3-compatible stores (MinIO, Ceph, Swift's s3api, R2, GCS's XML
 * API, Backblaze B2) through `@aws-sdk/client-s3`.
 *
 * The SDK is imported on first use (dynamic `import()`), so bundles that never store to S3
 * never load it, and required options are checked on first use too: building the driver
 * never throws. Objects larger than `multipartThresholdBytes` go up as multipart uploads
 * (aborted on failure, so no orphaned parts are billed). Every operation is retried by
 * ./retry.ts (the SDK's own retries are switched off so the bounds are ours), and failures
 * come out as `StorageError`s that say whether the bucket, the credentials or the endpoint is
 * wrong.
 */
import type { Logger } from "../log/log.ts";
import {
  DEFAULT_RETRY,
  errorText,
  isRetryable,
  type OpOptions,
  type RetryOptions,
  type StorageObserver,
  withRetry,
} from "./retry.ts";
import { type ListedObject, type StorageDriver, StorageError } from "./types.ts";
import type * as S3 from "@aws-sdk/client-s3";

export const S3_DRIVER_NAME = "s3";

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last) and largest part count. */
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;

export interface S3StorageOptions {
  bucket: string;
  /** Default `us-east-1`. */
  region?: string;
  /** Custom endpoint for S3-compatible stores; empty for AWS. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`. */
  forcePathStyle?: boolean;
  /** Explicit keys; without them the SDK's standard chain (env, shared files, Lambda role…). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Objects larger than this go up as multipart uploads. Default 16 MiB. */
  multipartThresholdBytes?: number;
  /** Part size of multipart uploads (≥ 5 MiB; raised when 10 000 parts would not do). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Default 4. */
  multipartConcurrency?: number;
  /** Keys per list request (S3's MaxKeys, 1–1000). Default 1000. */
  listPageSize?: number;
  /** Retry/timeout policy; `false` returns the bare driver (the caller wraps it). */
  retry?: Partial<RetryOptions> | false;
  /** For retry warnings. */
  logger?: Logger;
  /** Told of every operation (metrics). */
  observer?: StorageObserver;
  /** Overrides how the SDK module is loaded (tests, bundles that inject it). */
  loadSdk?: () => Promise<typeof S3>;
  /** Driver name in messages and logs. Default `s3`. */
  name?: string;
  /**
   * Sends only what the S3 API defines: removes the SDK's own `amz-sdk-invocation-id` and
   * `amz-sdk-request` headers and its `x-id` query parameter before signing. Stores whose
   * signature check does not expect them (Google Cloud Storage's XML API) need this.
   */
  plainRequests?: boolean;
}

/** An S3 driver, retried per `opts.retry` (see ./retry.ts). */
export function createS3Storage(opts: S3StorageOptions): StorageDriver {
  const driver = createBareS3Storage(opts);
  if (opts.retry === false) return driver;
  return withRetry(driver, { ...DEFAULT_RETRY, ...opts.retry }, {
    logger: opts.logger,
    observer: opts.observer,
  });
}

interface Ctx {
  sdk: typeof S3;
  client: S3.S3Client;
  bucket: string;
}

function createBareS3Storage(opts: S3StorageOptions): StorageDriver {
  const name = opts.name ?? S3_DRIVER_NAME;
  const region = opts.region || "us-east-1";
  const endpointText = opts.endpoint || `https://s3.${region}.amazonaws.com`;
  const where = `bucket ${JSON.stringify(opts.bucket ?? "")}, endpoint ${
    JSON.stringify(endpointText)
  }`;
  let ctx: Promise<Ctx> | undefined;

  function init(): Promise<Ctx> {
    ctx ??= (async () => {
      checkOptions(opts);
      let sdk: typeof S3;
      try {
        sdk = await (opts.loadSdk ?? (() => import("@aws-sdk/client-s3")))();
      } catch (err) {
        throw new StorageError(
          `${name} storage cannot load the npm package "@aws-sdk/client-s3" (install it: npm i @aws-sdk/client-s3): ${
            errorText(err)
          }`,
          false,
          { cause: err },
        );
      }
      const explicit = opts.accessKeyId && opts.secretAccessKey
        ? {
          accessKeyId: opts.accessKeyId,
          secretAccessKey: opts.secretAccessKey,
          ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}),
        }
        : undefined;
      const client = new sdk.S3Client({
        region,
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        forcePathStyle: opts.forcePathStyle ?? false,
        ...(explicit ? { credentials: explicit } : {}),
        // Swift, R2 and other S3-compatible stores reject or mangle the newer default checksums.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        // ./retry.ts retries; SDK retries on top would multiply the attempts.
        maxAttempts: 1,
      });
      if (opts.plainRequests) {
        client.middlewareStack.addRelativeTo(
          // deno-lint-ignore no-explicit-any
          (next: any) => (args: any) => {
            const req = args.request as {
              headers?: Record<string, string>;
              query?: Record<string, unknown>;
            };
            for (const h of SDK_HEADERS) delete req.headers?.[h];
            delete req.query?.["x-id"];
            return next(args);
          },
          {
            name: "otlp2parquetPlainRequests",
            relation: "before",
            toMiddleware: "httpSigningMiddleware",
          },
        );
      }
      return { sdk, client, bucket: opts.bucket };
    })();
    // A failed start (bad options, SDK missing) is tried again next time.
    ctx.catch(() => (ctx = undefined));
    return ctx;
  }

  /** Turns an SDK/network failure into a StorageError saying what is wrong. */
  function fail(op: string, key: string | undefined, err: unknown): StorageError {
    if (err instanceof StorageError) return err;
    const what = `S3 ${op}${key === undefined ? "" : ` ${JSON.stringify(key)}`} (${where})`;
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    const status = e?.$metadata?.httpStatusCode;
    let code = e?.Code ?? (e?.name === "Error" ? "" : e?.name) ?? "";
    let detail = errorText(err);
    if (status !== undefined && (code === "Unknown" || code === "" || detail === "UnknownError")) {
      // A HEAD answer has no body to name the error: the status is all there is.
      code = `HTTP ${status}`;
      detail = "";
    }
    const why = !code ? detail : detail && detail !== code ? `${code}: ${detail}` : code;
    const error = (msg: string, retryable: boolean) =>
      new StorageError(`${what}: ${msg}`, retryable, { cause: err });
    if (code === "NoSuchBucket" || (key === undefined && status === 404)) {
      return error(`the bucket ${JSON.stringify(opts.bucket)} does not exist (${why})`, false);
    }
    if (e?.name === "CredentialsProviderError") {
      return error(
        `no credentials: none were configured and the AWS default chain (environment, shared files, instance or Lambda role) found none (${detail})`,
        false,
      );
    }
    if (status === 403 || CREDENTIAL_ERRORS.has(code)) {
      return error(
        `the credentials were rejected or lack permission for the bucket (${why}); check the access key id and secret access key`,
        false,
      );
    }
    if (status === 301 || code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed") {
      return error(
        `wrong region ${JSON.stringify(region)} or endpoint for this bucket (${why})`,
        false,
      );
    }
    if (status === undefined && isRetryable(err)) {
      return error(`cannot reach the endpoint ${JSON.stringify(endpointText)} (${why})`, true);
    }
    return error(
      status !== undefined && !why.includes(String(status)) ? `HTTP ${status} ${why}` : why,
      isRetryable(err),
    );
  }

  async function send<T>(
    op: string,
    key: string | undefined,
    // deno-lint-ignore no-explicit-any
    command: (c: Ctx) => any,
    signal?: AbortSignal,
  ): Promise<T> {
    const c = await init();
    try {
      return await c.client.send(command(c), signal ? { abortSignal: signal } : undefined) as T;
    } catch (err) {
      throw fail(op, key, err);
    }
  }

  async function putMultipart(key: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const c = await init();
    const partSize = Math.max(
      MIN_PART,
      opts.partSizeBytes ?? 8 * MiB,
      Math.ceil(data.byteLength / MAX_PARTS),
    );
    const created = await send<S3.CreateMultipartUploadCommandOutput>(
      "CreateMultipartUpload",
      key,
      (c) =>
        new c.sdk.CreateMultipartUploadCommand({
          Bucket: c.bucket,
          Key: key,
          ContentType: contentType(key),
        }),
      signal,
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw fail("CreateMultipartUpload", key, new Error("no UploadId in the answer"));
    try {
      const count = Math.ceil(data.byteLength / partSize);
      const etags: string[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const body = data.subarray(i * partSize, Math.min(data.byteLength, (i + 1) * partSize));
          const out = await send<S3.UploadPartCommandOutput>(
            "UploadPart",
            key,
            (c) =>
              new c.sdk.UploadPartCommand({
                Bucket: c.bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: i + 1,
                Body: body,
                ContentLength: body.byteLength,
              }),
            signal,
          );
          if (!out.ETag) throw fail("UploadPart", key, new Error(`no ETag for part ${i + 1}`));
          etags[i] = out.ETag;
        }
      };
      const n = Math.max(1, Math.min(count, opts.multipartConcurrency ?? 4));
      const results = await Promise.allSettled(Array.from({ length: n }, worker));
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await send(
        "CompleteMultipartUpload",
        key,
        (c) =>
          new c.sdk.CompleteMultipartUploadCommand({
            Bucket: c.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        signal,
      );
    } catch (err) {
      // Best effort: an abort that fails too leaves parts a bucket lifecycle rule can clean.
      await c.client.send(
        new c.sdk.AbortMultipartUploadCommand({ Bucket: c.bucket, Key: key, UploadId: uploadId }),
      ).catch(() => {});
      throw err;
    }
  }

  const pageSize = opts.listPageSize ?? 1000;

  async function listing(prefix: string, o?: OpOptions): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let token: string | undefined;
    do {
      const out: S3.ListObjectsV2CommandOutput = await send(
        "ListObjectsV2",
        prefix,
        (c) =>
          new c.sdk.ListObjectsV2Command({
            Bucket: c.bucket,
            Prefix: prefix || undefined,
            MaxKeys: pageSize,
            ContinuationToken: token,
          }),
        o?.signal,
      );
      for (const obj of out.Contents ?? []) {
        if (obj.Key !== undefined) objects.push({ key: obj.Key, size: obj.Size ?? 0 });
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  return {
    name,
    async put(key: string, data: Uint8Array, o?: OpOptions): Promise<void> {
      if (data.byteLength > (opts.multipartThresholdBytes ?? 16 * MiB)) {
        return await putMultipart(key, data, o?.signal);
      }
      await send(
        "PutObject",
        key,
        (c) =>
          new c.sdk.PutObjectCommand({
            Bucket: c.bucket,
            Key: key,
            Body: data,
            ContentLength: data.byteLength,
            ContentType: contentType(key),
          }),
        o?.signal,
      );
    },
    async get(key: string, o?: OpOptions): Promise<Uint8Array | null> {
      const c = await init();
      let out: S3.GetObjectCommandOutput;
      try {
        out = await c.client.send(
          new c.sdk.GetObjectCommand({ Bucket: c.bucket, Key: key }),
          o?.signal ? { abortSignal: o.signal } : undefined,
        );
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (
          e?.name === "NoSuchKey" ||
          (e?.name !== "NoSuchBucket" && e?.$metadata?.httpStatusCode === 404)
        ) {
          return null;
        }
        throw fail("GetObject", key, err);
      }
      try {
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      } catch (err) {
        throw fail("GetObject (reading the body)", key, err);
      }
    },
    async list(prefix: string, o?: OpOptions): Promise<string[]> {
      return (await listing(prefix, o)).map((x) => x.key);
    },
    listWithSizes: (prefix: string, o?: OpOptions) => listing(prefix, o),
    async delete(key: string, o?: OpOptions): Promise<void> {
      try {
        await send(
          "DeleteObject",
          key,
          (c) => new c.sdk.DeleteObjectCommand({ Bucket: c.bucket, Key: key }),
          o?.signal,
        );
      } catch (err) {
        // S3 answers 204 for a missing key; some compatible stores answer 404.
        const cause = (err as StorageError).cause as {
          name?: string;
          $metadata?: { httpStatusCode?: number };
        };
        if (
          cause?.name === "NoSuchKey" ||
          (cause?.name !== "NoSuchBucket" && cause?.$metadata?.httpStatusCode === 404)
        ) {
          return;
        }
        throw err;
      }
    },
    async check(o?: OpOptions): Promise<void> {
      await send(
        "HeadBucket",
        undefined,
        (c) => new c.sdk.HeadBucketCommand({ Bucket: c.bucket }),
        o?.signal,
      );
    },
    async close(): Promise<void> {
      const c = await ctx?.catch(() => undefined);
      ctx = undefined;
      c?.client.destroy();
    },
  } as StorageDriver;
}

/** Request headers of the SDK itself, not of the S3 API (`plainRequests` removes them). */
const SDK_HEADERS = ["amz-sdk-invocation-id", "amz-sdk-request"];

const CREDENTIAL_ERRORS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "Forbidden",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
  "CredentialsProviderError",
]);

function contentType(key: string): string {
  return key.endsWith(".parquet") ? "application/vnd.apache.parquet" : "application/octet-stream";
}

function checkOptions(opts: S3StorageOptions): void {
  const name = opts.name ?? S3_DRIVER_NAME;
  if (!opts.bucket) {
    throw new StorageError(`${name} storage needs a bucket name (option "bucket" is empty)`, false);
  }
  if (opts.endpoint) {
    let u: URL | undefined;
    try {
      u = new URL(opts.endpoint);
    } catch { /* reported below */ }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
      throw new StorageError(
        `${name} storage endpoint ${JSON.stringify(opts.endpoint)} is not an http(s) URL`,
        false,
      );
    }
  }
  if (!!opts.accessKeyId !== !!opts.secretAccessKey) {
    throw new StorageError(
      `${name} storage needs both an access key id and a secret access key (only ${
        opts.accessKeyId ? "the access key id" : "the secret access key"
      } is set)`,
      false,
    );
  }
  const t = opts.multipartThresholdBytes;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) {
    throw new StorageError(
      `${name} storage multipart threshold ${JSON.stringify(t)} is not a size in bytes`,
      false,
    );
  }
  const p = opts.listPageSize;
  if (p !== undefined && !(Number.isInteger(p) && p >= 1 && p <= 1000)) {
    throw new StorageError(
      `${name} storage list page size ${JSON.stringify(p)} is not between 1 and 1000`,
      false,
    );
  }
}
