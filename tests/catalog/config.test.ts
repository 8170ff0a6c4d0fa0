/**
 * The [catalog] configuration: defaults, environment names by the usual rule
 * (OTLP2PARQUET_CATALOG_MODE, OTLP2PARQUET_CATALOG_ICEBERG_*), validation messages that name
 * the key, the pending list beside the write-ahead log, and Iceberg-mode Parquet options.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { parquetOptions } from "../../src/config/types.ts";
import { catalogAuth, storageRootUri } from "../../src/catalog/index.ts";

const load = (env: Record<string, string>, platform: "server" | "workers" | "lambda" = "server") =>
  loadConfig({ platform, env });

function problem(env: Record<string, string>, platform?: "server" | "workers" | "lambda"): string {
  try {
    load(env, platform);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("catalog config: defaults, env names and Iceberg-mode Parquet options", () => {
  const d = load({});
  strictEqual(d.catalog.mode, "none");
  strictEqual(parquetOptions(d).iceberg, undefined);
  const c = load({
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: "https://catalog.example/v1x",
    OTLP2PARQUET_CATALOG_ICEBERG_NAMESPACE: "prod.otel",
    OTLP2PARQUET_CATALOG_ICEBERG_FORMAT_VERSION: "3",
    OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "15",
    OTLP2PARQUET_BATCH_WAL_DIR: "/var/lib/otlp/wal",
  });
  strictEqual(c.catalog.iceberg.namespace, "prod.otel");
  strictEqual(c.catalog.iceberg.commit_interval_secs, 15);
  strictEqual(c.catalog.iceberg.pending_dir, "/var/lib/otlp/.iceberg-pending");
  strictEqual(parquetOptions(c).iceberg, 3);
  deepStrictEqual(catalogAuth(c), { kind: "none" });
  strictEqual(load({}).catalog.iceberg.pending_dir, "./data/.iceberg-pending");
});

Deno.test("catalog config: auth kinds from the keys", () => {
  const base = {
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: "http://127.0.0.1:8181/api/catalog/",
  };
  deepStrictEqual(catalogAuth(load({ ...base, OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "t" })), {
    kind: "bearer",
    token: "t",
  });
  deepStrictEqual(
    catalogAuth(load({
      ...base,
      OTLP2PARQUET_CATALOG_ICEBERG_OAUTH2_CLIENT_ID: "id",
      OTLP2PARQUET_CATALOG_ICEBERG_OAUTH2_CLIENT_SECRET: "s",
      OTLP2PARQUET_CATALOG_ICEBERG_OAUTH2_SCOPE: "PRINCIPAL_ROLE:ALL",
    })),
    {
      kind: "oauth2",
      serverUri: "http://127.0.0.1:8181/api/catalog/v1/oauth/tokens",
      clientId: "id",
      clientSecret: "s",
      scope: "PRINCIPAL_ROLE:ALL",
    },
  );
  const s = catalogAuth(load({ ...base, OTLP2PARQUET_CATALOG_ICEBERG_SIGV4_SERVICE: "glue" }));
  deepStrictEqual(s, {
    kind: "sigv4",
    service: "glue",
    region: "us-east-1",
    credentials: undefined,
  });
});

Deno.test("catalog config: bad values name the key", () => {
  ok(problem({ OTLP2PARQUET_CATALOG_MODE: "iceberg" }).includes("catalog.iceberg.uri"));
  ok(problem({ OTLP2PARQUET_CATALOG_MODE: "glue" }).includes('catalog.mode = "glue"'));
  ok(
    problem({ OTLP2PARQUET_CATALOG_ICEBERG_FORMAT_VERSION: "1" }).includes(
      "catalog.iceberg.format_version",
    ),
  );
  ok(
    problem({ OTLP2PARQUET_CATALOG_ICEBERG_NAMESPACE: "a..b" }).includes(
      "catalog.iceberg.namespace",
    ),
  );
  ok(problem({ OTLP2PARQUET_CATALOG_ICEBERG_URI: "ftp://x" }).includes("catalog.iceberg.uri"));
  const both = problem({
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: "http://x",
    OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "t",
    OTLP2PARQUET_CATALOG_ICEBERG_SIGV4_SERVICE: "s3tables",
  });
  ok(both.includes("choose one way to authenticate"), both);
  const half = problem({
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: "http://x",
    OTLP2PARQUET_CATALOG_ICEBERG_OAUTH2_CLIENT_ID: "id",
  });
  ok(half.includes("oauth2_client_secret must be set together"), half);
  const worker = problem({
    OTLP2PARQUET_CATALOG_MODE: "iceberg",
    OTLP2PARQUET_CATALOG_ICEBERG_URI: "http://x",
  }, "workers");
  ok(worker.includes("storage.r2.bucket"), worker);
  throws(
    () => load({ OTLP2PARQUET_CATALOG_ICEBERG_TIMEOUT_SECS: "0" }),
    /catalog\.iceberg\.timeout_secs/,
  );
});

Deno.test("data file paths come from the storage's location", () => {
  const s3 = load({
    OTLP2PARQUET_STORAGE_BACKEND: "s3",
    OTLP2PARQUET_S3_BUCKET: "b",
    OTLP2PARQUET_S3_PREFIX: "otel",
  });
  strictEqual(storageRootUri(s3), "s3://b/otel/");
  strictEqual(
    storageRootUri(load({ OTLP2PARQUET_STORAGE_FS_PATH: "./data" }), "/srv/data"),
    "file:///srv/data/",
  );
});
