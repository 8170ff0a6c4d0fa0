/**
 * Cloudflare R2, two ways:
 *
 * - `createR2BindingStorage(env.BUCKET)` on Workers, through the R2 bucket binding (no keys,
 *   no SDK: the binding is the API);
 * - `createR2S3Storage({ accountId, bucket, accessKeyId, secretAccessKey })` anywhere else,
 *   through R2's S3-compatible API (`https://<account_id>.r2.cloudflarestorage.com`, region
 *   `auto`, path-style), on the s3 driver.
 *
 * Both are retried by ./retry.ts and fail with `StorageError`s.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import {
  DEFAULT_RETRY,
  errorText,
  type OpOptions,
  type RetryOptions,
  retryOptions,
  type StorageObserver,
  withRetry,
} from "./retry.ts";
import { createS3Storage, type S3StorageOptions } from "./s3.ts";
import { type ListedObject, type StorageDriver, StorageError, withPrefix } from "./types.ts";

export const R2_DRIVER_NAME = "r2";

/** The parts of a Workers `R2Bucket` binding this driver uses (no Workers types needed). */
export interface R2BucketLike {
  put(
    key: string,
    value: ArrayBuffer | ArrayBufferView,
    options?: { httpMetadata?: { contentType?: string } },
  ): Promise<unknown>;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{
    objects: { key: string; size?: number }[];
    truncated: boolean;
    cursor?: string;
  }>;
  delete(keys: string | string[]): Promise<void>;
}

export interface R2BindingStorageOptions {
  /** Name of the binding, for messages. Default `BUCKET`. */
  bindingName?: string;
  /** Keys per list call (1–1000). Default 1000. */
  listLimit?: number;
  /** Retry/timeout policy; `false` returns the bare driver. */
  retry?: Partial<RetryOptions> | false;
  logger?: Logger;
  /** Told of every operation (metrics). */
  observer?: StorageObserver;
}

/**
 * The Workers storage of the configuration: the R2 bucket binding `storage.r2.binding` of the
 * Worker's `env`, with `[storage.retry]` and `storage.prefix`. Throws a `TypeError` naming the
 * setting when the backend is not r2 or the binding is missing.
 */
export function bindingStorage(
  config: Config,
  env: Record<string, unknown>,
  logger: Logger,
  observer?: StorageObserver,
): StorageDriver {
  if (config.storage.backend !== "r2") {
    throw new TypeError(
      `Invalid config: storage.backend = "${config.storage.backend}": on Workers only "r2" (the bucket binding) is supported`,
    );
  }
  const name = config.storage.r2.binding;
  const binding = env[name] as R2BucketLike | undefined;
  if (!binding || typeof (binding as { put?: unknown }).put !== "function") {
    throw new TypeError(
      `Invalid config: storage.r2.binding = "${name}": no R2 bucket binding of that name (add [[r2_buckets]] binding = "${name}" to wrangler.toml)`,
    );
  }
  return withPrefix(
    createR2BindingStorage(binding, {
      bindingName: name,
      retry: retryOptions(config),
      logger,
      observer,
    }),
    config.storage.prefix,
  );
}

/** A driver over a Workers R2 bucket binding. */
export function createR2BindingStorage(
  bucket: R2BucketLike,
  opts: R2BindingStorageOptions = {},
): StorageDriver {
  const binding = opts.bindingName ?? "BUCKET";
  const limit = opts.listLimit ?? 1000;

  const fail = (op: string, key: string | undefined, err: unknown): StorageError => {
    if (err instanceof StorageError) return err;
    const what = `R2 ${op}${key === undefined ? "" : ` ${JSON.stringify(key)}`} (binding ${
      JSON.stringify(binding)
    })`;
    if (!bucket || typeof bucket.put !== "function") {
      return new StorageError(
        `${what}: the binding is missing; add an [[r2_buckets]] binding named ${
          JSON.stringify(binding)
        } in wrangler.toml`,
        false,
        { cause: err },
      );
    }
    return new StorageError(`${what}: ${errorText(err)}`, r2Retryable(err), { cause: err });
  };

  const guard = async <T>(
    op: string,
    key: string | undefined,
    fn: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw fail(op, key, err);
    }
  };

  const listing = (prefix: string) =>
    guard("list", prefix, async () => {
      const objects: ListedObject[] = [];
      let cursor: string | undefined;
      do {
        const page = await bucket.list({ prefix: prefix || undefined, cursor, limit });
        for (const o of page.objects) objects.push({ key: o.key, size: o.size ?? 0 });
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return objects;
    });

  const driver = {
    name: R2_DRIVER_NAME,
    put: (key: string, data: Uint8Array, _o?: OpOptions) =>
      guard("put", key, async () => {
        await bucket.put(key, data, { httpMetadata: { contentType: contentType(key) } });
      }),
    get: (key: string, _o?: OpOptions) =>
      guard("get", key, async () => {
        const obj = await bucket.get(key);
        return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
      }),
    list: async (prefix: string, _o?: OpOptions) => (await listing(prefix)).map((o) => o.key),
    listWithSizes: (prefix: string, _o?: OpOptions) => listing(prefix),
    delete: (key: string, _o?: OpOptions) => guard("delete", key, () => bucket.delete(key)),
    check: (_o?: OpOptions) =>
      guard("list", undefined, async () => {
        if (!bucket || typeof bucket.list !== "function") throw new TypeError("not an R2 bucket");
        await bucket.list({ limit: 1 });
      }),
  };
  if (opts.retry === false) return driver;
  return withRetry(driver, { ...DEFAULT_RETRY, ...opts.retry }, {
    logger: opts.logger,
    observer: opts.observer,
  });
}

/**
 * R2's error codes that mean "try again": internal error, temporarily unavailable, too many
 * requests. Anything else from the binding is taken as permanent (bad key, too large…), except
 * lost connections, which the runtime reports without a code.
 */
function r2Retryable(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  const code = /\((\d{5})\)/.exec(msg)?.[1];
  if (code) return code === "10001" || code === "10043" || code === "10058";
  return /network|connection|timed? ?out|temporar|try again|internal error|overloaded/i.test(msg);
}

export interface R2S3StorageOptions {
  /** Cloudflare account id: the endpoint is `https://<account_id>.r2.cloudflarestorage.com`. */
  accountId: string;
  bucket: string;
  /** An R2 API token's access key id and secret. */
  accessKeyId: string;
  secretAccessKey: string;
  /** Overrides the endpoint (e.g. a jurisdiction: `https://<id>.eu.r2.cloudflarestorage.com`). */
  endpoint?: string;
  /** Signing region. Default `auto` (R2 also accepts `us-east-1`). */
  region?: string;
  multipartThresholdBytes?: number;
  partSizeBytes?: number;
  listPageSize?: number;
  retry?: Partial<RetryOptions> | false;
  logger?: Logger;
  observer?: StorageObserver;
  loadSdk?: S3StorageOptions["loadSdk"];
}

/** A driver over R2's S3-compatible API (server, Lambda, anywhere but Workers). */
export function createR2S3Storage(opts: R2S3StorageOptions): StorageDriver {
  const missing = [
    !opts.accountId && !opts.endpoint ? "an account id" : "",
    !opts.accessKeyId ? "an access key id" : "",
    !opts.secretAccessKey ? "a secret access key" : "",
  ].filter(Boolean);
  if (missing.length) {
    // Checked on first use, like every driver: building it never throws.
    return misconfigured(
      `R2 storage (S3 API) needs ${
        missing.join(", ")
      }: an R2 API token's keys and the Cloudflare account id`,
    );
  }
  return createS3Storage({
    name: R2_DRIVER_NAME,
    bucket: opts.bucket,
    region: opts.region || "auto",
    endpoint: opts.endpoint || `https://${opts.accountId}.r2.cloudflarestorage.com`,
    forcePathStyle: true,
    accessKeyId: opts.accessKeyId,
    secretAccessKey: opts.secretAccessKey,
    multipartThresholdBytes: opts.multipartThresholdBytes,
    partSizeBytes: opts.partSizeBytes,
    listPageSize: opts.listPageSize,
    retry: opts.retry,
    logger: opts.logger,
    observer: opts.observer,
    loadSdk: opts.loadSdk,
  });
}

function misconfigured(message: string): StorageDriver {
  const fail = () => Promise.reject(new StorageError(message, false));
  return { name: R2_DRIVER_NAME, put: fail, get: fail, list: fail, delete: fail, check: fail };
}

function contentType(key: string): string {
  return key.endsWith(".parquet") ? "application/vnd.apache.parquet" : "application/octet-stream";
}
