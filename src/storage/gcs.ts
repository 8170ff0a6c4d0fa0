/**
 * Google Cloud Storage through its S3-compatible XML API: the s3 driver (./s3.ts) preset for
 * `https://storage.googleapis.com` with an HMAC key (a service account's or a user's, from
 * Cloud Storage → Settings → Interoperability).
 *
 * What the preset sets: path-style URLs (`https://storage.googleapis.com/BUCKET/KEY`), the
 * signing region `auto`, checksums only where the S3 API requires them (the s3 driver's
 * default: GCS rejects the SDK's newer default checksum headers), and plain requests without
 * the SDK's own `amz-sdk-*` headers and `x-id` query parameter, which GCS's signature check
 * does not expect. The operations used are the ones GCS's XML API has: PutObject, GetObject,
 * ListObjectsV2, DeleteObject, HeadBucket and the multipart upload calls.
 */
import type { StorageDriver } from "./types.ts";
import { createS3Storage, type S3StorageOptions } from "./s3.ts";

export const GCS_DRIVER_NAME = "gcs";
export const GCS_ENDPOINT = "https://storage.googleapis.com";
export const GCS_REGION = "auto";

export interface GcsStorageOptions
  extends Omit<S3StorageOptions, "region" | "endpoint" | "forcePathStyle" | "plainRequests"> {
  /** Default `https://storage.googleapis.com` (another for tests or a private endpoint). */
  endpoint?: string;
  /** Signing region. Default `auto`. */
  region?: string;
}

/** The s3 driver options of the GCS preset. */
export function gcsS3Options(opts: GcsStorageOptions): S3StorageOptions {
  return {
    ...opts,
    endpoint: opts.endpoint || GCS_ENDPOINT,
    region: opts.region || GCS_REGION,
    forcePathStyle: true,
    plainRequests: true,
    name: opts.name ?? GCS_DRIVER_NAME,
  };
}

/** A GCS driver (the s3 driver with the preset), retried per `opts.retry`. */
export function createGcsStorage(opts: GcsStorageOptions): StorageDriver {
  return createS3Storage(gcsS3Options(opts));
}
