/**
 * Storage: where Parquet files go. Every driver implements `StorageDriver` (./types.ts: put, get,
 * list, delete, check) and is a small factory: ./fs.node.ts (local disk, servers only),
 * ./memory.ts, ./s3.ts (AWS S3 and every S3-compatible store; ./gcs.ts is its Google Cloud
 * Storage preset), ./r2.ts (the Workers binding, or R2's S3 API elsewhere), ./azure.ts (Azure
 * Blob Storage). ./retry.ts wraps a driver with timeouts, retries and one error type
 * (`StorageError`, whose `retryable` decides between a 503 and a configuration error). Every
 * driver passes the same conformance suite (tests/storage/conformance.ts).
 *
 * `createStorage` builds the driver the configuration asks for (server and Lambda entries; the
 * Worker uses `bindingStorage` of ./r2.ts, so its bundle carries no other driver). Drivers are
 * imported lazily, so a server writing to disk never loads the S3 or Azure clients. The configured prefix
 * is added by `withPrefix`.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { observeStorage, retryOptions, type StorageObserver } from "./retry.ts";
import { type StorageDriver, withPrefix } from "./types.ts";
import { connectionStringAccount, connectionStringEndpoint } from "./azure-names.ts";

/** The GCS preset's endpoint (./gcs.ts; repeated so describing storage loads no driver). */
const GCS_ENDPOINT = "https://storage.googleapis.com";

/** `observer` (metrics) hears of every storage operation. */
export async function createStorage(
  config: Config,
  logger: Logger,
  observer?: StorageObserver,
): Promise<StorageDriver> {
  const s = config.storage;
  const retry = retryOptions(config);
  let driver: StorageDriver;
  switch (s.backend) {
    case "fs": {
      const { createFsStorage } = await import("./fs.node.ts");
      driver = observeStorage(createFsStorage({ root: s.fs.path }), observer);
      break;
    }
    case "memory": {
      const { createMemoryStorage } = await import("./memory.ts");
      driver = observeStorage(createMemoryStorage(), observer);
      break;
    }
    case "s3": {
      const { createS3Storage } = await import("./s3.ts");
      driver = createS3Storage({
        bucket: s.s3.bucket,
        region: s.s3.region,
        endpoint: s.s3.endpoint,
        forcePathStyle: s.s3.force_path_style,
        accessKeyId: s.s3.access_key_id,
        secretAccessKey: s.s3.secret_access_key,
        sessionToken: s.s3.session_token,
        multipartThresholdBytes: s.s3.multipart_threshold_bytes,
        retry,
        logger,
        observer,
      });
      break;
    }
    case "r2": {
      const { createR2S3Storage } = await import("./r2.ts");
      driver = createR2S3Storage({
        accountId: s.r2.account_id,
        bucket: s.r2.bucket,
        accessKeyId: s.r2.access_key_id,
        secretAccessKey: s.r2.secret_access_key,
        multipartThresholdBytes: s.s3.multipart_threshold_bytes,
        retry,
        logger,
        observer,
      });
      break;
    }
    case "gcs": {
      const { createGcsStorage } = await import("./gcs.ts");
      driver = createGcsStorage({
        bucket: s.gcs.bucket,
        endpoint: s.gcs.endpoint,
        region: s.gcs.region,
        accessKeyId: s.gcs.access_key_id,
        secretAccessKey: s.gcs.secret_access_key,
        multipartThresholdBytes: s.s3.multipart_threshold_bytes,
        retry,
        logger,
      });
      break;
    }
    case "azure": {
      const { createAzureStorage } = await import("./azure.ts");
      const az = s.azure;
      driver = createAzureStorage({
        account: az.account,
        container: az.container,
        endpoint: az.endpoint,
        connectionString: az.connection_string,
        accountKey: az.account_key,
        sasToken: az.sas_token,
        blockThresholdBytes: az.block_threshold_bytes,
        retry,
        logger,
      });
      break;
    }
    default:
      throw new TypeError(`createStorage(): unknown backend ${JSON.stringify(s.backend)}`);
  }
  return withPrefix(driver, s.prefix);
}

/** Where the driver stores, for the start-up log line (no secrets). */
export function describeStorage(config: Config): string {
  const s = config.storage;
  const prefix = s.prefix ? `/${s.prefix}` : "/";
  switch (s.backend) {
    case "fs":
      return s.fs.path + (s.prefix ? prefix : "");
    case "memory":
      return "memory";
    case "s3":
      return `s3://${s.s3.bucket}${prefix}${s.s3.endpoint ? ` (${s.s3.endpoint})` : ""}`;
    case "r2":
      return `r2://${s.r2.bucket}${prefix}`;
    case "gcs":
      return `gs://${s.gcs.bucket}${prefix}${
        s.gcs.endpoint !== GCS_ENDPOINT ? ` (${s.gcs.endpoint})` : ""
      }`;
    case "azure": {
      const account = s.azure.account ||
        connectionStringAccount(s.azure.connection_string) || "";
      const endpoint = s.azure.endpoint ||
        (s.azure.connection_string ? connectionStringEndpoint(s.azure.connection_string) : "");
      return `azure://${account}/${s.azure.container}${prefix}${endpoint ? ` (${endpoint})` : ""}`;
    }
  }
}
