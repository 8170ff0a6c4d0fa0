/**
 * The `azure` driver: Azure Blob Storage (and Azurite, Microsoft's emulator) through
 * `@azure/storage-blob`, with a connection string, an account key, a SAS token or, without any
 * of them, the default Azure credential chain of `@azure/identity` (managed identity on Azure
 * hosts, workload identity, environment, Azure CLI…).
 *
 * Both SDK packages are imported on first use (dynamic `import()`), so bundles that never store
 * to Azure never load them, and required options are checked on first use too: building the
 * driver never throws. Objects are block blobs: larger than `blockThresholdBytes` they go up as
 * staged blocks committed by one Put Block List (blocks never committed are discarded by
 * Azure after a week, and by the next commit of the same blob). Every operation is retried by
 * ./retry.ts (the SDK's own retries are switched off so the bounds are ours), and failures come
 * out as `StorageError`s that say whether the account, the container or the credentials are
 * wrong.
 */
import type { Logger } from "../log/log.ts";
import {
  DEFAULT_RETRY,
  errorText,
  isRetryable,
  type OpOptions,
  type RetryOptions,
  withRetry,
} from "./retry.ts";
import { type ListedObject, type StorageDriver, StorageError } from "./types.ts";
import {
  ACCOUNT_NAME,
  ACCOUNT_NAME_RULE,
  connectionStringAccount,
  connectionStringEndpoint,
  CONTAINER_NAME,
  CONTAINER_NAME_RULE,
  DEVELOPMENT_BLOB_ENDPOINT,
} from "./azure-names.ts";
import type * as Azure from "@azure/storage-blob";

export const AZURE_DRIVER_NAME = "azure";

const MiB = 1024 * 1024;
/** Put Block List takes up to 50 000 blocks of up to 4000 MiB each. */
const MAX_BLOCKS = 50_000;
const MAX_BLOCK = 4000 * MiB;
/** The SDK sends up to 256 MiB as one Put Blob. */
const MAX_SINGLE_SHOT = 256 * MiB;

/** A credential the SDK's clients take (key, anonymous for SAS, or an Entra ID token source). */
type Credential = NonNullable<Parameters<typeof Azure.newPipeline>[0]>;

/** What the driver needs of `@azure/identity`. */
export interface AzureIdentityModule {
  DefaultAzureCredential: new () => Credential;
}

export interface AzureStorageOptions {
  /** Storage account name; optional with a connection string, which names it. */
  account?: string;
  container: string;
  /**
   * The account's blob service URL, for emulators and sovereign clouds, e.g.
   * `http://127.0.0.1:10000/devstoreaccount1` or `https://ACCOUNT.blob.core.chinacloudapi.cn`.
   * Default `https://ACCOUNT.blob.core.windows.net`.
   */
  endpoint?: string;
  /** At most one of these three; without any, the default Azure credential chain. */
  connectionString?: string;
  accountKey?: string;
  /** A SAS token (`sv=…&sig=…`, a leading `?` is ignored) with read, write, delete and list. */
  sasToken?: string;
  /** Objects larger than this (at most 256 MiB) go up as blocks. Default 16 MiB. */
  blockThresholdBytes?: number;
  /** Block size of block uploads (raised when 50 000 blocks would not do). Default 8 MiB. */
  blockSizeBytes?: number;
  /** Blocks uploaded at once. Default 4. */
  blockConcurrency?: number;
  /** Blobs per list request (1–5000). Default 5000. */
  listPageSize?: number;
  /** Retry/timeout policy; `false` returns the bare driver (the caller wraps it). */
  retry?: Partial<RetryOptions> | false;
  /** For retry warnings. */
  logger?: Logger;
  /** Overrides how the SDK module is loaded (tests, bundles that inject it). */
  loadSdk?: () => Promise<typeof Azure>;
  /** Overrides how `@azure/identity` is loaded (only without connection string, key or SAS). */
  loadIdentity?: () => Promise<AzureIdentityModule>;
  /** Driver name in messages and logs. Default `azure`. */
  name?: string;
}

/** An Azure Blob Storage driver, retried per `opts.retry` (see ./retry.ts). */
export function createAzureStorage(opts: AzureStorageOptions): StorageDriver {
  const driver = createBareAzureStorage(opts);
  if (opts.retry === false) return driver;
  return withRetry(driver, { ...DEFAULT_RETRY, ...opts.retry }, { logger: opts.logger });
}

/** Which credential the driver uses, in messages. */
type CredentialKind = "connection string" | "account key" | "SAS token" | "default credential";

export function credentialKind(opts: AzureStorageOptions): CredentialKind {
  if (opts.connectionString) return "connection string";
  if (opts.accountKey) return "account key";
  if (opts.sasToken) return "SAS token";
  return "default credential";
}

interface Ctx {
  sdk: typeof Azure;
  service: Azure.BlobServiceClient;
  container: Azure.ContainerClient;
}

function createBareAzureStorage(opts: AzureStorageOptions): StorageDriver {
  const name = opts.name ?? AZURE_DRIVER_NAME;
  const kind = credentialKind(opts);
  const account = opts.account ||
    (opts.connectionString ? connectionStringAccount(opts.connectionString) : undefined) || "";
  const endpointText = endpointOf(opts, account);
  const where = `account ${JSON.stringify(account)}, container ${
    JSON.stringify(opts.container ?? "")
  }, endpoint ${JSON.stringify(endpointText)}`;
  let ctx: Promise<Ctx> | undefined;

  function init(): Promise<Ctx> {
    ctx ??= (async () => {
      checkOptions(opts, name);
      const sdk = await load(
        name,
        "@azure/storage-blob",
        opts.loadSdk ?? (() => import("@azure/storage-blob")),
      );
      const pipeline: Azure.StoragePipelineOptions = {
        // ./retry.ts retries; SDK retries on top would multiply the attempts.
        retryOptions: { maxTries: 1 },
        userAgentOptions: { userAgentPrefix: "otlp2parquet" },
      };
      let service: Azure.BlobServiceClient;
      try {
        if (opts.connectionString) {
          service = sdk.BlobServiceClient.fromConnectionString(opts.connectionString, pipeline);
        } else if (opts.accountKey) {
          const key = new sdk.StorageSharedKeyCredential(account, opts.accountKey);
          service = new sdk.BlobServiceClient(endpointText, key, pipeline);
        } else if (opts.sasToken) {
          const sas = opts.sasToken.replace(/^\?/, "");
          service = new sdk.BlobServiceClient(
            `${endpointText}?${sas}`,
            new sdk.AnonymousCredential(),
            pipeline,
          );
        } else {
          const identity = await load(
            name,
            "@azure/identity",
            opts.loadIdentity ??
              (() => import("@azure/identity") as unknown as Promise<AzureIdentityModule>),
          );
          const credential = new identity.DefaultAzureCredential();
          service = new sdk.BlobServiceClient(endpointText, credential, pipeline);
        }
      } catch (err) {
        if (err instanceof StorageError) throw err;
        throw new StorageError(
          `${name} storage cannot use its ${kind} (${where}): ${errorText(err)}`,
          false,
          { cause: err },
        );
      }
      return { sdk, service, container: service.getContainerClient(opts.container) };
    })();
    // A failed start (bad options, SDK missing) is tried again next time.
    ctx.catch(() => (ctx = undefined));
    return ctx;
  }

  /** Turns an SDK/network failure into a StorageError saying what is wrong. */
  function fail(op: string, key: string | undefined, err: unknown): StorageError {
    if (err instanceof StorageError) return err;
    const what = `Azure ${op}${key === undefined ? "" : ` ${JSON.stringify(key)}`} (${where})`;
    const e = err as { name?: string; code?: string; statusCode?: number; message?: string };
    const status = e?.statusCode;
    const code = e?.code ?? "";
    // Azure's messages end with "\nRequestId:…\nTime:…": the first line is the message.
    const message = (e?.message ?? String(err)).split("\n")[0];
    const detail = code && !message.includes(code) ? `${code}: ${message}` : message;
    const why = status !== undefined
      ? `HTTP ${status}${detail ? ` ${detail}` : ""}`
      : detail || errorText(err);
    const error = (msg: string, retryable: boolean) =>
      new StorageError(`${what}: ${msg}`, retryable, { cause: err });
    const container = JSON.stringify(opts.container);
    if (code === "ContainerNotFound") {
      return error(`the container ${container} does not exist (${why})`, false);
    }
    if (code === "ResourceNotFound" || (key === undefined && status === 404)) {
      return error(
        `the account ${
          JSON.stringify(account)
        } or the container ${container} does not exist at this endpoint (${why})`,
        false,
      );
    }
    if (code === "InvalidResourceName" || code === "OutOfRangeInput" && key === undefined) {
      return error(`the container name ${container} is not valid (${why})`, false);
    }
    if (code === "AccountIsDisabled") {
      return error(`the account ${JSON.stringify(account)} is disabled (${why})`, false);
    }
    if (
      e?.name === "CredentialUnavailableError" || e?.name === "AggregateAuthenticationError" ||
      e?.name === "AuthenticationRequiredError"
    ) {
      return error(
        `no credentials: none were configured (connection string, account key or SAS token) and the default Azure credential chain (environment, workload identity, managed identity, Azure CLI) found none (${
          firstLine(errorText(err))
        })`,
        false,
      );
    }
    if (/non-TLS|non-https/i.test(message)) {
      return error(
        `the ${kind} (Entra ID tokens) needs an https endpoint, not ${
          JSON.stringify(endpointText)
        }; use an account key, SAS token or connection string over http`,
        false,
      );
    }
    if (e?.name === "AuthenticationError") {
      return error(
        `the default Azure credential could not get a token (${firstLine(errorText(err))})`,
        false,
      );
    }
    if (status === 401 || status === 403 || CREDENTIAL_ERRORS.has(code)) {
      return error(
        `the ${kind} was rejected or lacks permission for the container ${container} (${why}); ${
          CHECK_CREDENTIAL[kind]
        }`,
        false,
      );
    }
    if (status === undefined && isNetworkError(err)) {
      const dns = code === "ENOTFOUND" || /ENOTFOUND|getaddrinfo/.test(message);
      return error(
        `cannot reach the endpoint ${JSON.stringify(endpointText)}${
          dns ? ` (does the account ${JSON.stringify(account)} exist?)` : ""
        } (${why})`,
        true,
      );
    }
    const retryable = status !== undefined
      ? status >= 500 || status === 429 || status === 408
      : isRetryable(err);
    return error(why, retryable);
  }

  async function call<T>(
    op: string,
    key: string | undefined,
    fn: (c: Ctx) => Promise<T>,
  ): Promise<T> {
    const c = await init();
    try {
      return await fn(c);
    } catch (err) {
      throw fail(op, key, err);
    }
  }

  const pageSize = opts.listPageSize ?? 5000;
  const threshold = opts.blockThresholdBytes ?? 16 * MiB;

  function listing(prefix: string, o?: OpOptions): Promise<ListedObject[]> {
    return call("List Blobs", prefix, async (c) => {
      const blobs: ListedObject[] = [];
      const pages = c.container
        .listBlobsFlat({ prefix: prefix || undefined, abortSignal: o?.signal })
        .byPage({ maxPageSize: pageSize });
      for await (const page of pages) {
        for (const b of page.segment.blobItems) {
          blobs.push({ key: b.name, size: b.properties.contentLength ?? 0 });
        }
      }
      return blobs;
    });
  }

  return {
    name,
    async put(key: string, data: Uint8Array, o?: OpOptions): Promise<void> {
      const blockSize = Math.min(
        MAX_BLOCK,
        Math.max(opts.blockSizeBytes ?? 8 * MiB, Math.ceil(data.byteLength / MAX_BLOCKS)),
      );
      await call(
        data.byteLength > threshold ? "block upload" : "Put Blob",
        key,
        (c) =>
          c.container.getBlockBlobClient(key).uploadData(data, {
            maxSingleShotSize: Math.min(threshold, MAX_SINGLE_SHOT),
            blockSize,
            concurrency: opts.blockConcurrency ?? 4,
            blobHTTPHeaders: { blobContentType: contentType(key) },
            abortSignal: o?.signal,
          }),
      );
    },
    async get(key: string, o?: OpOptions): Promise<Uint8Array | null> {
      const c = await init();
      let res: Azure.BlobDownloadResponseParsed;
      try {
        res = await c.container.getBlobClient(key).download(0, undefined, {
          abortSignal: o?.signal,
          // A broken body is retried whole by ./retry.ts.
          maxRetryRequests: 0,
        });
      } catch (err) {
        if ((err as { code?: string })?.code === "BlobNotFound") return null;
        throw fail("Get Blob", key, err);
      }
      try {
        return await readBody(res);
      } catch (err) {
        throw fail("Get Blob (reading the body)", key, err);
      }
    },
    async list(prefix: string, o?: OpOptions): Promise<string[]> {
      return (await listing(prefix, o)).map((b) => b.key);
    },
    listWithSizes: (prefix: string, o?: OpOptions) => listing(prefix, o),
    async delete(key: string, o?: OpOptions): Promise<void> {
      await call(
        "Delete Blob",
        key,
        (c) =>
          c.container.getBlobClient(key).deleteIfExists({
            deleteSnapshots: "include",
            abortSignal: o?.signal,
          }),
      );
    },
    async check(o?: OpOptions): Promise<void> {
      // Listing (one blob at most) needs the same permission `list` does, and works with a
      // container-scoped SAS token, which Get Container Properties does not.
      await call("List Blobs", undefined, async (c) => {
        const pages = c.container.listBlobsFlat({ abortSignal: o?.signal }).byPage({
          maxPageSize: 1,
        });
        await pages.next();
      });
    },
    async close(): Promise<void> {
      await ctx?.catch(() => undefined);
      ctx = undefined;
    },
  } as StorageDriver;
}

/** The body of a download, as one Uint8Array (not a Buffer: callers compare bytes). */
async function readBody(res: Azure.BlobDownloadResponseParsed): Promise<Uint8Array> {
  const stream = res.readableStreamBody;
  if (!stream) {
    const blob = await res.blobBody;
    return blob ? new Uint8Array(await blob.arrayBuffer()) : new Uint8Array(0);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    chunks.push(bytes);
    total += bytes.byteLength;
  }
  if (res.contentLength !== undefined && total !== res.contentLength) {
    throw Object.assign(
      new Error(`the body ended after ${total} of ${res.contentLength} bytes`),
      { code: "ECONNRESET" },
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function load<T>(driver: string, pkg: string, loader: () => Promise<T>): Promise<T> {
  try {
    return await loader();
  } catch (err) {
    throw new StorageError(
      `${driver} storage cannot load the npm package "${pkg}" (install it: npm i ${pkg}): ${
        errorText(err)
      }`,
      false,
      { cause: err },
    );
  }
}

function endpointOf(opts: AzureStorageOptions, account: string): string {
  if (opts.connectionString) {
    return connectionStringEndpoint(opts.connectionString) ?? DEVELOPMENT_BLOB_ENDPOINT;
  }
  if (opts.endpoint) return opts.endpoint.replace(/\/+$/, "");
  return `https://${account}.blob.core.windows.net`;
}

function isNetworkError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; cause?: unknown };
  if (e?.code === "REQUEST_SEND_ERROR" || e?.name === "AbortError") return true;
  return isRetryable(err);
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

const CREDENTIAL_ERRORS = new Set([
  "AuthenticationFailed",
  "AuthorizationFailure",
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationProtocolMismatch",
  "AuthorizationSourceIPMismatch",
  "InvalidAuthenticationInfo",
  "NoAuthenticationInformation",
  "InsufficientAccountPermissions",
]);

const CHECK_CREDENTIAL: Record<CredentialKind, string> = {
  "connection string": "check the connection string's AccountName and AccountKey (or SAS)",
  "account key": "check the account name and the account key",
  "SAS token":
    "check the SAS token: not expired, for this account or container, with read, write, delete and list permissions",
  "default credential":
    'check that the identity has a data role on the container, e.g. "Storage Blob Data Contributor"',
};

function contentType(key: string): string {
  return key.endsWith(".parquet") ? "application/vnd.apache.parquet" : "application/octet-stream";
}

function checkOptions(opts: AzureStorageOptions, name: string): void {
  const bad = (msg: string) => new StorageError(`${name} storage ${msg}`, false);
  if (!opts.container) throw bad(`needs a container name (option "container" is empty)`);
  if (!CONTAINER_NAME.test(opts.container)) {
    throw bad(
      `container name ${JSON.stringify(opts.container)} is not valid (${CONTAINER_NAME_RULE})`,
    );
  }
  const set = [
    opts.connectionString ? "connection string" : "",
    opts.accountKey ? "account key" : "",
    opts.sasToken ? "SAS token" : "",
  ].filter(Boolean);
  if (set.length > 1) throw bad(`takes one credential, got ${set.join(" and ")}`);
  if (opts.connectionString && opts.endpoint) {
    throw bad("takes its endpoint from the connection string (BlobEndpoint=…): set no endpoint");
  }
  if (!opts.connectionString) {
    if (!opts.account) throw bad(`needs an account name (option "account" is empty)`);
    if (!ACCOUNT_NAME.test(opts.account)) {
      throw bad(
        `account name ${JSON.stringify(opts.account)} is not valid (${ACCOUNT_NAME_RULE})`,
      );
    }
  } else if (!connectionStringAccount(opts.connectionString)) {
    throw bad(
      "connection string names no account (expected AccountName=…, BlobEndpoint=… or UseDevelopmentStorage=true)",
    );
  }
  if (opts.endpoint && !opts.connectionString) {
    let u: URL | undefined;
    try {
      u = new URL(opts.endpoint);
    } catch { /* reported below */ }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
      throw bad(`endpoint ${JSON.stringify(opts.endpoint)} is not an http(s) URL`);
    }
  }
  const t = opts.blockThresholdBytes;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) {
    throw bad(`block threshold ${JSON.stringify(t)} is not a size in bytes`);
  }
  const p = opts.listPageSize;
  if (p !== undefined && !(Number.isInteger(p) && p >= 1 && p <= 5000)) {
    throw bad(`list page size ${JSON.stringify(p)} is not between 1 and 5000`);
  }
}
