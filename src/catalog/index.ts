/**
 * Apache Iceberg tables (`catalog.mode = "iceberg"`): every stored Parquet file is committed to
 * a table in an Iceberg REST catalog exactly once (./committer.ts), with statistics read from
 * its footer (./metrics.ts), in manifests written here (./manifest.ts). The entries build it
 * with `createIceberg`, hand `hooks` to the writer and start the commit timer.
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { IcebergCommitter } from "./committer.ts";
import { IcebergLifecycle } from "./lifecycle.ts";
import { type KeyValueStore, memoryKeyValue, PendingList } from "./pending.ts";
import { type Auth, RestCatalog } from "./rest.ts";

export { IcebergCommitter, type IcebergStats } from "./committer.ts";
export {
  type DeleteResult,
  IcebergLifecycle,
  type PartitionRef,
  type ReplaceResult,
} from "./lifecycle.ts";
export {
  type KeyValueStore,
  memoryKeyValue,
  PENDING_PREFIX,
  PendingList,
  storageKeyValue,
} from "./pending.ts";

export interface IcebergParts {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  /** Where the pending list lives (see ./pending.ts). */
  pending: KeyValueStore;
  /**
   * The URI engines read storage key "" at. Default: from the storage config (`s3://bucket/
   * prefix/` for s3 and r2); the fs backend needs the absolute path (`file:///…/`), which
   * only the entry can resolve: `storageRootUri(config, absolutePath)`.
   */
  rootUri?: string;
  fetch?: typeof fetch;
}

export function createIceberg(parts: IcebergParts): IcebergCommitter {
  const { config } = parts;
  return new IcebergCommitter({
    config,
    storage: parts.storage,
    rootUri: parts.rootUri ?? storageRootUri(config),
    pending: new PendingList(parts.pending),
    catalog: new RestCatalog({
      uri: config.catalog.iceberg.uri,
      warehouse: config.catalog.iceberg.warehouse,
      auth: catalogAuth(config),
      timeoutMs: config.catalog.iceberg.timeout_secs * 1000,
      fetch: parts.fetch,
    }),
    logger: parts.logger,
  });
}

/**
 * The tables as compaction and retention use them (`replace` and `delete` snapshots,
 * ./lifecycle.ts), or undefined without `catalog.mode = "iceberg"`. They never use a pending
 * list (their snapshots add only the files they write): `pending` defaults to one in memory.
 */
export function lifecycleCatalog(
  parts: Omit<IcebergParts, "pending"> & { pending?: KeyValueStore },
): IcebergLifecycle | undefined {
  if (parts.config.catalog.mode !== "iceberg") return undefined;
  return new IcebergLifecycle(
    createIceberg({ ...parts, pending: parts.pending ?? memoryKeyValue() }),
  );
}

/** The authentication `catalog.iceberg` asks for. */
export function catalogAuth(config: Config): Auth {
  const i = config.catalog.iceberg;
  if (i.token) return { kind: "bearer", token: i.token };
  if (i.oauth2_client_id) {
    return {
      kind: "oauth2",
      serverUri: i.oauth2_server_uri || `${i.uri.replace(/\/+$/, "")}/v1/oauth/tokens`,
      clientId: i.oauth2_client_id,
      clientSecret: i.oauth2_client_secret,
      scope: i.oauth2_scope,
    };
  }
  if (i.sigv4_service) {
    return {
      kind: "sigv4",
      service: i.sigv4_service,
      region: i.sigv4_region,
      credentials: i.sigv4_access_key_id
        ? {
          accessKeyId: i.sigv4_access_key_id,
          secretAccessKey: i.sigv4_secret_access_key,
          sessionToken: i.sigv4_session_token || undefined,
        }
        : undefined,
    };
  }
  return { kind: "none" };
}

/**
 * The URI of storage key "" (with `storage.prefix`): `s3://bucket/prefix/` (s3, r2),
 * `gs://bucket/prefix/` (gcs), `abfss://container@account.dfs.core.windows.net/prefix/` (azure),
 * `file:///abs/path/prefix/` (fs, given the absolute path of `storage.fs.path`), `memory://`.
 */
export function storageRootUri(config: Config, fsAbsolutePath?: string): string {
  const s = config.storage;
  switch (s.backend) {
    case "s3":
      return `s3://${s.s3.bucket}/${s.prefix}`;
    case "r2":
      return `s3://${s.r2.bucket}/${s.prefix}`;
    case "gcs":
      return `gs://${s.gcs.bucket}/${s.prefix}`;
    case "azure":
      // ABFS, as Iceberg's Azure FileIO and engines name a container's objects.
      return `abfss://${s.azure.container}@${s.azure.account}.dfs.core.windows.net/${s.prefix}`;
    case "memory":
      return `memory:///${s.prefix}`;
    case "fs": {
      const abs = (fsAbsolutePath ?? s.fs.path).replace(/\/+$/, "");
      return `file://${abs.startsWith("/") ? "" : "/"}${encodeURI(abs)}/${s.prefix}`;
    }
  }
}
