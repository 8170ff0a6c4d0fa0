/**
 * The configuration of the azure and gcs backends: their keys from config.toml and
 * OTLP2PARQUET_* variables, Azure's own AZURE_STORAGE_* variables for what is left unset,
 * `[storage.azure] prefix` as another name of `storage.prefix`, validation messages that name
 * the key, and the start-up description of where data goes.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { failure, includesAll, load } from "../helpers/config.ts";
import { describeStorage } from "../../src/storage/index.ts";
import { AZURITE_KEY } from "../helpers/azurite.ts";

const toml = (text: string) => ({ env: { OTLP2PARQUET_CONFIG_CONTENT: text } });
const AZ = { OTLP2PARQUET_STORAGE_BACKEND: "azure" };
const CS =
  `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`;

Deno.test("azure config: every key from config.toml and from OTLP2PARQUET_STORAGE_AZURE_*", () => {
  const fromFile = load(toml(`
[storage]
backend = "azure"
prefix = "otel"
[storage.azure]
account = "acct01"
container = "otel-data"
endpoint = "https://acct01.blob.core.usgovcloudapi.net"
account_key = "${AZURITE_KEY}"
block_threshold_bytes = 8388608
`));
  strictEqual(fromFile.storage.backend, "azure");
  deepStrictEqual(fromFile.storage.azure, {
    account: "acct01",
    container: "otel-data",
    endpoint: "https://acct01.blob.core.usgovcloudapi.net",
    connection_string: "",
    account_key: AZURITE_KEY,
    sas_token: "",
    block_threshold_bytes: 8 * 1024 * 1024,
  });
  strictEqual(fromFile.storage.prefix, "otel/");
  strictEqual(
    describeStorage(fromFile),
    "azure://acct01/otel-data/otel/ (https://acct01.blob.core.usgovcloudapi.net)",
  );

  const fromEnv = load({
    env: {
      ...AZ,
      OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "acct02",
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-2",
      OTLP2PARQUET_STORAGE_AZURE_SAS_TOKEN: "sv=2024-01-01&sp=racwdl&sig=abc%3D",
    },
  });
  strictEqual(fromEnv.storage.azure.account, "acct02");
  strictEqual(fromEnv.storage.azure.sas_token, "sv=2024-01-01&sp=racwdl&sig=abc%3D");
  strictEqual(describeStorage(fromEnv), "azure://acct02/c-2/");

  const viaString = load({
    env: {
      ...AZ,
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-3",
      OTLP2PARQUET_STORAGE_AZURE_CONNECTION_STRING: CS,
    },
  });
  strictEqual(viaString.storage.azure.account, "", "the account comes from the string");
  strictEqual(
    describeStorage(viaString),
    "azure://devstoreaccount1/c-3/ (http://127.0.0.1:10000/devstoreaccount1)",
  );
});

Deno.test("azure config: AZURE_STORAGE_* fill in only what is unset, only for backend azure", () => {
  const std = {
    AZURE_STORAGE_ACCOUNT: "stdacct",
    AZURE_STORAGE_KEY: AZURITE_KEY,
    AZURE_STORAGE_SAS_TOKEN: "sv=1&sig=x",
  };
  // Another backend: ignored, even when they would be invalid for Azure.
  const fs = load({ env: { ...std, AZURE_STORAGE_ACCOUNT: "Not Valid" } });
  strictEqual(fs.storage.azure.account, "");
  strictEqual(fs.storage.azure.account_key, "");

  const c = load({ env: { ...AZ, ...std, OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1" } });
  strictEqual(c.storage.azure.account, "stdacct");
  strictEqual(c.storage.azure.account_key, AZURITE_KEY, "the key comes before the SAS token");
  strictEqual(c.storage.azure.sas_token, "", "only one credential is taken");

  // The connection string comes first, and then AZURE_STORAGE_ACCOUNT is not used.
  const s = load({
    env: {
      ...AZ,
      ...std,
      AZURE_STORAGE_CONNECTION_STRING: CS,
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1",
    },
  });
  strictEqual(s.storage.azure.connection_string, CS);
  strictEqual(s.storage.azure.account_key, "");
  strictEqual(s.storage.azure.account, "");

  // Configured values win.
  const own = load({
    env: {
      ...AZ,
      ...std,
      OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "mine",
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1",
      OTLP2PARQUET_STORAGE_AZURE_SAS_TOKEN: "sv=2&sig=mine",
    },
  });
  strictEqual(own.storage.azure.account, "mine");
  strictEqual(own.storage.azure.sas_token, "sv=2&sig=mine");
  strictEqual(own.storage.azure.account_key, "");

  // A bad standard value is reported under its own name.
  const msg = failure({
    env: { ...AZ, AZURE_STORAGE_ACCOUNT: "Bad_Acct", OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1" },
  });
  includesAll(msg, ['storage.azure.account = "Bad_Acct" (from AZURE_STORAGE_ACCOUNT)', "3–24"]);
});

Deno.test("azure config: [storage.azure] prefix is another name of storage.prefix", () => {
  const c = load(toml(`
[storage]
backend = "azure"
[storage.azure]
account = "acct01"
container = "c-1"
prefix = "tenant-a"
`));
  strictEqual(c.storage.prefix, "tenant-a/");
  const same = load(toml(`
[storage]
prefix = "p/"
[storage.azure]
prefix = "p/"
`));
  strictEqual(same.storage.prefix, "p/");
  const msg = failure(toml(`
[storage]
prefix = "a/"
[storage.azure]
prefix = "b/"
`));
  includesAll(msg, [
    "storage.prefix is set twice with different values",
    'by storage.prefix ("a/") and storage.azure.prefix ("b/")',
    "set only one",
  ]);
  strictEqual(
    load({ env: { OTLP2PARQUET_STORAGE_AZURE_PREFIX: "env-p" } }).storage.prefix,
    "env-p/",
  );
});

Deno.test("azure config: what is missing or wrong is named with its key", () => {
  includesAll(failure({ env: AZ }), [
    'storage.backend = "azure" needs storage.azure.container (OTLP2PARQUET_STORAGE_AZURE_CONTAINER)',
    'storage.backend = "azure" needs storage.azure.account (OTLP2PARQUET_STORAGE_AZURE_ACCOUNT or AZURE_STORAGE_ACCOUNT), or storage.azure.connection_string',
  ]);
  const base = { ...AZ, OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "acct01" };
  const cases: [Record<string, string>, string[]][] = [
    [{ OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "Otel_Data" }, [
      'storage.azure.container = "Otel_Data" (from OTLP2PARQUET_STORAGE_AZURE_CONTAINER)',
      "lower-case letters, digits and single hyphens",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "a--b" }, ['"a--b"', "single hyphens"]],
    [{ OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "my-account" }, [
      'storage.azure.account = "my-account"',
      "3–24 lower-case letters and digits",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_ENDPOINT: "127.0.0.1:10000" }, [
      'storage.azure.endpoint = "127.0.0.1:10000"',
      "blob service URL",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_ACCOUNT_KEY: "not base64!" }, [
      'storage.azure.account_key = "***"',
      "base64",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_SAS_TOKEN: "sv=2024&sp=r" }, [
      'storage.azure.sas_token = "***"',
      "sig=",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_CONNECTION_STRING: "just-a-key" }, [
      'storage.azure.connection_string = "***"',
      "Name=value pairs",
    ]],
    [{ OTLP2PARQUET_STORAGE_AZURE_BLOCK_THRESHOLD_BYTES: "1000" }, [
      "storage.azure.block_threshold_bytes",
      "1 MiB",
    ]],
    [{
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1",
      OTLP2PARQUET_STORAGE_AZURE_ACCOUNT_KEY: AZURITE_KEY,
      OTLP2PARQUET_STORAGE_AZURE_SAS_TOKEN: "sv=1&sig=x",
    }, [
      "storage.azure.account_key and storage.azure.sas_token are both set: set only one credential",
    ]],
    [{
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1",
      OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "otheracct",
      OTLP2PARQUET_STORAGE_AZURE_CONNECTION_STRING: CS,
    }, [
      'storage.azure.account = "otheracct" but storage.azure.connection_string is for the account "devstoreaccount1"',
    ]],
    [{
      OTLP2PARQUET_STORAGE_AZURE_CONTAINER: "c-1",
      OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: "",
      OTLP2PARQUET_STORAGE_AZURE_CONNECTION_STRING: CS,
      OTLP2PARQUET_STORAGE_AZURE_ENDPOINT: "http://127.0.0.1:1/devstoreaccount1",
    }, ["storage.azure.endpoint and storage.azure.connection_string are both set"]],
  ];
  for (const [env, parts] of cases) {
    const msg = failure({ env: { ...base, ...env } });
    includesAll(msg, parts);
    ok(!msg.includes(AZURITE_KEY), "secrets are never shown");
  }
});

Deno.test("gcs config: the preset's defaults, and what a GCS backend needs", () => {
  const c = load({
    env: {
      OTLP2PARQUET_STORAGE_BACKEND: "gcs",
      OTLP2PARQUET_STORAGE_GCS_BUCKET: "otel-bkt",
      OTLP2PARQUET_STORAGE_GCS_ACCESS_KEY_ID: "GOOG1EXAMPLE",
      OTLP2PARQUET_STORAGE_GCS_SECRET_ACCESS_KEY: "secret",
      OTLP2PARQUET_STORAGE_PREFIX: "otel/",
    },
  });
  deepStrictEqual(c.storage.gcs, {
    bucket: "otel-bkt",
    access_key_id: "GOOG1EXAMPLE",
    secret_access_key: "secret",
    endpoint: "https://storage.googleapis.com",
    region: "auto",
  });
  strictEqual(describeStorage(c), "gs://otel-bkt/otel/");
  includesAll(failure({ env: { OTLP2PARQUET_STORAGE_BACKEND: "gcs" } }), [
    'storage.backend = "gcs" needs storage.gcs.bucket and storage.gcs.access_key_id and storage.gcs.secret_access_key',
    "OTLP2PARQUET_STORAGE_GCS_BUCKET, OTLP2PARQUET_STORAGE_GCS_ACCESS_KEY_ID, OTLP2PARQUET_STORAGE_GCS_SECRET_ACCESS_KEY",
    "HMAC key",
  ]);
  includesAll(
    failure({
      env: {
        OTLP2PARQUET_STORAGE_BACKEND: "gcs",
        OTLP2PARQUET_STORAGE_GCS_BUCKET: "b",
        OTLP2PARQUET_STORAGE_GCS_ACCESS_KEY_ID: "k",
        OTLP2PARQUET_STORAGE_GCS_SECRET_ACCESS_KEY: "s",
        OTLP2PARQUET_STORAGE_GCS_ENDPOINT: "storage.googleapis.com",
      },
    }),
    ['storage.gcs.endpoint = "storage.googleapis.com"', "http(s) URL"],
  );
});
