/**
 * loadConfig(): layers (defaults < config.toml < environment < flags), the names users of the
 * Rust otlp2parquet already have, validation messages that name the key, the value and what is
 * allowed, per-platform defaults, and the repository's config.toml.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  ConfigError,
  configKeys,
  detectPlatform,
  ENV_ALIASES,
  envName,
  loadConfig,
} from "../../src/config/load.ts";
import { type Config, defaultConfig } from "../../src/config/types.ts";
import { failure, includesAll, load } from "../helpers/config.ts";

const MiB = 1024 * 1024;

/** A file reader over an in-memory directory (the loader itself never touches the disk). */
function files(map: Record<string, string>): (path: string) => string | null {
  return (path) => map[path] ?? null;
}

Deno.test("loadConfig() with nothing set gives the server defaults", () => {
  deepStrictEqual(load(), defaultConfig("server"));
  const c = load();
  strictEqual(c.storage.backend, "fs");
  strictEqual(c.storage.fs.path, "./data");
  strictEqual(c.server.max_payload_bytes, 20 * MiB);
  strictEqual(c.batch.durability, "wal");
});

Deno.test("loadConfig() uses Workers defaults: R2 binding, 10 MiB, memory durability", () => {
  const c = loadConfig({ platform: "workers", env: {} });
  strictEqual(c.storage.backend, "r2");
  strictEqual(c.storage.r2.binding, "BUCKET");
  strictEqual(c.server.max_payload_bytes, 10 * MiB);
  strictEqual(c.batch.durability, "memory");
});

Deno.test("loadConfig() uses Lambda defaults: S3, 6 MiB, memory durability", () => {
  const c = loadConfig({ platform: "lambda", env: { OTLP2PARQUET_S3_BUCKET: "b" } });
  strictEqual(c.storage.backend, "s3");
  strictEqual(c.storage.s3.bucket, "b");
  strictEqual(c.server.max_payload_bytes, 6 * MiB);
  strictEqual(c.batch.durability, "memory");
});

Deno.test("detectPlatform() tells Workers, Lambda and server apart", () => {
  strictEqual(detectPlatform({ CF_WORKER: "1" }), "workers");
  strictEqual(detectPlatform({ AWS_LAMBDA_FUNCTION_NAME: "fn" }), "lambda");
  strictEqual(detectPlatform({}), "server");
  strictEqual(detectPlatform({ CF_WORKER: "" }), "server");
  strictEqual(detectPlatform({ HOME: "/root", PATH: "/bin" }), "server");
});

Deno.test("loadConfig() layers: config.toml < environment < flags", () => {
  const toml = `
[server]
listen_addr = "127.0.0.1:5000"
log_level = "warn"
max_payload_bytes = 1000
[storage.fs]
path = "/from/file"
[batch]
max_rows = 10
`;
  const readTextFile = files({ "./config.toml": toml });
  const fileOnly = load({ readTextFile });
  strictEqual(fileOnly.server.listen_addr, "127.0.0.1:5000");
  strictEqual(fileOnly.server.log_level, "warn");
  strictEqual(fileOnly.storage.fs.path, "/from/file");
  strictEqual(fileOnly.batch.max_rows, 10);

  const env = {
    OTLP2PARQUET_SERVER_LOG_LEVEL: "error",
    OTLP2PARQUET_STORAGE_FS_PATH: "/from/env",
    OTLP2PARQUET_SERVER_LISTEN_ADDR: "127.0.0.2:6000",
  };
  const withEnv = load({ readTextFile, env });
  strictEqual(withEnv.server.log_level, "error");
  strictEqual(withEnv.storage.fs.path, "/from/env");
  strictEqual(withEnv.server.listen_addr, "127.0.0.2:6000");
  strictEqual(withEnv.server.max_payload_bytes, 1000, "file values the env leaves alone stay");
  strictEqual(withEnv.batch.max_rows, 10);

  const withFlags = load({
    readTextFile,
    env,
    flags: { logLevel: "debug", output: "/from/flag", port: 7000 },
  });
  strictEqual(withFlags.server.log_level, "debug");
  strictEqual(withFlags.storage.fs.path, "/from/flag");
  strictEqual(withFlags.server.listen_addr, "127.0.0.2:7000", "--port keeps the host");
});

Deno.test("loadConfig() --output selects the fs backend and moves the default WAL with it", () => {
  const c = load({
    env: { OTLP2PARQUET_STORAGE_BACKEND: "memory" },
    flags: { output: "/tmp/out/" },
  });
  strictEqual(c.storage.backend, "fs");
  strictEqual(c.storage.fs.path, "/tmp/out/");
  strictEqual(c.batch.wal_dir, "/tmp/out/.wal");
  const explicit = load({
    env: { OTLP2PARQUET_BATCH_WAL_DIR: "/var/wal" },
    flags: { output: "/tmp/out" },
  });
  strictEqual(explicit.batch.wal_dir, "/var/wal");
});

Deno.test("loadConfig() --port 0 and IPv6 listen addresses keep their host", () => {
  strictEqual(load({ flags: { port: "0" } }).server.listen_addr, "0.0.0.0:0");
  const v6 = load({ env: { OTLP2PARQUET_LISTEN_ADDR: "[::1]:4318" }, flags: { port: 9 } });
  strictEqual(v6.server.listen_addr, "[::1]:9");
});

Deno.test("loadConfig() accepts every name the Rust otlp2parquet uses", () => {
  const cases: [string, string, (c: Config) => unknown, unknown][] = [
    ["OTLP2PARQUET_LISTEN_ADDR", "127.0.0.1:9999", (c) => c.server.listen_addr, "127.0.0.1:9999"],
    ["OTLP2PARQUET_STORAGE_PATH", "/srv/parquet", (c) => c.storage.fs.path, "/srv/parquet"],
    ["OTLP2PARQUET_S3_BUCKET", "bkt", (c) => c.storage.s3.bucket, "bkt"],
    ["OTLP2PARQUET_S3_REGION", "eu-west-1", (c) => c.storage.s3.region, "eu-west-1"],
    [
      "OTLP2PARQUET_S3_ENDPOINT",
      "http://127.0.0.1:9000",
      (c) => c.storage.s3.endpoint,
      "http://127.0.0.1:9000",
    ],
    ["OTLP2PARQUET_S3_PREFIX", "otel/", (c) => c.storage.prefix, "otel/"],
    // The Rust project's docker-compose names it so.
    ["OTLP2PARQUET_PREFIX", "logs/otel", (c) => c.storage.prefix, "logs/otel/"],
    ["OTLP2PARQUET_BATCH_ENABLED", "true", (c) => c.batch.enabled, true],
    ["OTLP2PARQUET_BATCHING_ENABLED", "true", (c) => c.batch.enabled, true],
    ["OTLP2PARQUET_MAX_PAYLOAD_BYTES", "1048576", (c) => c.server.max_payload_bytes, 1048576],
    ["OTLP2PARQUET_LOG_LEVEL", "debug", (c) => c.server.log_level, "debug"],
    ["OTLP2PARQUET_LOG_FORMAT", "json", (c) => c.server.log_format, "json"],
    ["OTLP2PARQUET_R2_BUCKET", "r2b", (c) => c.storage.r2.bucket, "r2b"],
    ["OTLP2PARQUET_R2_ACCOUNT_ID", "acct", (c) => c.storage.r2.account_id, "acct"],
    ["OTLP2PARQUET_R2_ACCESS_KEY_ID", "ak", (c) => c.storage.r2.access_key_id, "ak"],
    ["OTLP2PARQUET_R2_SECRET_ACCESS_KEY", "sk", (c) => c.storage.r2.secret_access_key, "sk"],
    // Not a Rust name: the environment form of the TOML alias [storage.azure] prefix.
    ["OTLP2PARQUET_STORAGE_AZURE_PREFIX", "az/", (c) => c.storage.prefix, "az/"],
  ];
  for (const [name, value, get, want] of cases) {
    deepStrictEqual(get(load({ env: { [name]: value } })), want, name);
  }
  // Every alias the loader declares is covered above or by the basic-auth test below.
  const covered = new Set(cases.map((c) => c[0]));
  covered.add("OTLP2PARQUET_BASIC_AUTH_USERNAME").add("OTLP2PARQUET_BASIC_AUTH_PASSWORD");
  deepStrictEqual(Object.keys(ENV_ALIASES).filter((n) => !covered.has(n)), []);
});

Deno.test("loadConfig() reads basic auth the Rust way, with its enable switch", () => {
  const creds = {
    OTLP2PARQUET_BASIC_AUTH_USERNAME: "user",
    OTLP2PARQUET_BASIC_AUTH_PASSWORD: "pass",
  };
  const on = load({ env: { ...creds, OTLP2PARQUET_BASIC_AUTH_ENABLED: "true" } });
  strictEqual(on.auth.basic_username, "user");
  strictEqual(on.auth.basic_password, "pass");
  const off = load({ env: { ...creds, OTLP2PARQUET_BASIC_AUTH_ENABLED: "false" } });
  strictEqual(off.auth.basic_username, "");
  strictEqual(off.auth.basic_password, "");
  includesAll(failure({ env: { OTLP2PARQUET_BASIC_AUTH_ENABLED: "true" } }), [
    "OTLP2PARQUET_BASIC_AUTH_ENABLED",
    "OTLP2PARQUET_BASIC_AUTH_USERNAME",
  ]);
});

Deno.test("loadConfig() maps OTLP2PARQUET_<SECTION>_<KEY> for every key", () => {
  // Every key's variable accepts its default value written as text.
  const defaults = defaultConfig("server") as unknown as Record<string, Record<string, unknown>>;
  const env: Record<string, string> = {};
  for (const key of configKeys()) {
    const v = key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults);
    if (v !== "") env[envName(key)] = String(v);
  }
  ok(Object.keys(env).length > 25, `only ${Object.keys(env).length} variables`);
  deepStrictEqual(load({ env }), defaultConfig("server"));
  strictEqual(envName("storage.s3.bucket"), "OTLP2PARQUET_STORAGE_S3_BUCKET");
  strictEqual(envName("batch.max_rows"), "OTLP2PARQUET_BATCH_MAX_ROWS");
  const c = load({
    env: {
      OTLP2PARQUET_STORAGE_BACKEND: "s3",
      OTLP2PARQUET_STORAGE_S3_BUCKET: "bucket-1",
      OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "yes",
      OTLP2PARQUET_BATCH_MAX_ROWS: "1_000",
      OTLP2PARQUET_SERVER_LOG_LEVEL: "WARN",
      OTLP2PARQUET_PARQUET_COMPRESSION: "snappy",
      OTLP2PARQUET_PARQUET_NESTED_DICTIONARY: "false",
      OTLP2PARQUET_SCHEMA_PROFILE: "extended",
      OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "0",
      OTLP2PARQUET_AUTH_BEARER_TOKEN: "t0ken",
      OTLP2PARQUET_SERVER_SHUTDOWN_TIMEOUT_SECS: "0",
    },
  });
  strictEqual(c.storage.backend, "s3");
  strictEqual(c.storage.s3.bucket, "bucket-1");
  strictEqual(c.storage.s3.force_path_style, true);
  strictEqual(c.batch.max_rows, 1000);
  strictEqual(c.server.log_level, "warn");
  strictEqual(c.parquet.compression, "snappy");
  strictEqual(c.parquet.nested_dictionary, false);
  strictEqual(c.schema.profile, "extended");
  strictEqual(c.storage.retry.base_delay_ms, 0);
  strictEqual(c.auth.bearer_token, "t0ken");
  strictEqual(c.server.shutdown_timeout_secs, 0);
});

Deno.test("loadConfig() treats an empty environment variable as unset", () => {
  const c = load({ env: { OTLP2PARQUET_BATCH_MAX_ROWS: "", OTLP2PARQUET_STORAGE_BACKEND: "" } });
  strictEqual(c.batch.max_rows, defaultConfig("server").batch.max_rows);
  strictEqual(c.storage.backend, "fs");
});

Deno.test("loadConfig() ignores environment variables without the OTLP2PARQUET_ prefix", () => {
  deepStrictEqual(load({ env: { HOME: "/x", OTLP_ENDPOINT: "y", AWS_REGION: "z" } }), load());
});

Deno.test("loadConfig() reads OTLP2PARQUET_CONFIG_CONTENT as the config file", () => {
  const c = load({
    env: { OTLP2PARQUET_CONFIG_CONTENT: '[batch]\nmax_rows = 77\n[storage]\nprefix = "p"\n' },
    readTextFile: files({ "./config.toml": "[batch]\nmax_rows = 1\n" }),
  });
  strictEqual(c.batch.max_rows, 77, "inline content replaces ./config.toml");
  strictEqual(c.storage.prefix, "p/", "a prefix gets its trailing slash");
});

Deno.test("loadConfig() reads the file named by --config, else OTLP2PARQUET_CONFIG", () => {
  const readTextFile = files({
    "/etc/a.toml": "[batch]\nmax_rows = 1\n",
    "/etc/b.toml": "[batch]\nmax_rows = 2\n",
    "./config.toml": "[batch]\nmax_rows = 3\n",
  });
  strictEqual(load({ readTextFile }).batch.max_rows, 3);
  strictEqual(
    load({ readTextFile, env: { OTLP2PARQUET_CONFIG: "/etc/a.toml" } }).batch.max_rows,
    1,
  );
  strictEqual(
    load({
      readTextFile,
      env: { OTLP2PARQUET_CONFIG: "/etc/a.toml" },
      flags: { config: "/etc/b.toml" },
    })
      .batch.max_rows,
    2,
  );
});

Deno.test("loadConfig() fails when a named config file does not exist, not when ./config.toml is missing", () => {
  const enoent = (path: string): string => {
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
      code: "ENOENT",
    });
  };
  deepStrictEqual(load({ readTextFile: enoent }), load());
  includesAll(failure({ readTextFile: enoent, flags: { config: "/nope.toml" } }), [
    '"/nope.toml"',
    "--config",
    "does not exist",
  ]);
  includesAll(failure({ readTextFile: enoent, env: { OTLP2PARQUET_CONFIG: "/nope.toml" } }), [
    '"/nope.toml"',
    "OTLP2PARQUET_CONFIG",
  ]);
});

Deno.test("loadConfig() rejects an unknown key in config.toml, naming it and the allowed keys", () => {
  const msg = failure({ readTextFile: files({ "./config.toml": "[batch]\nmax_row = 5\n" }) });
  includesAll(msg, [
    '"batch.max_row"',
    "./config.toml",
    "allowed keys in [batch]",
    "max_rows",
    'did you mean "batch.max_rows"',
  ]);
  includesAll(failure({ env: { OTLP2PARQUET_CONFIG_CONTENT: "[servr]\nport = 1\n" } }), [
    '"servr"',
    "OTLP2PARQUET_CONFIG_CONTENT",
    "server",
  ]);
  includesAll(failure({ env: { OTLP2PARQUET_CONFIG_CONTENT: "batch = 5\n" } }), [
    "batch = 5",
    "expected a table",
  ]);
});

Deno.test("loadConfig() rejects an unknown OTLP2PARQUET_* variable, naming it", () => {
  const msg = failure({ env: { OTLP2PARQUET_BATCH_MAX_ROW: "5" } });
  includesAll(msg, [
    "unknown environment variable OTLP2PARQUET_BATCH_MAX_ROW",
    "did you mean OTLP2PARQUET_BATCH_MAX_ROWS",
  ]);
  includesAll(failure({ env: { OTLP2PARQUET_WHATEVER: "1" } }), ["OTLP2PARQUET_WHATEVER"]);
});

Deno.test("loadConfig() rejects bad environment values, naming key, value, variable and what is allowed", () => {
  const cases: [string, string, string[]][] = [
    ["OTLP2PARQUET_BATCH_MAX_ROWS", "abc", [
      'Invalid config: batch.max_rows = "abc" (from OTLP2PARQUET_BATCH_MAX_ROWS): expected a positive integer',
    ]],
    ["OTLP2PARQUET_BATCH_MAX_ROWS", "0", ['batch.max_rows = "0"', "positive integer"]],
    ["OTLP2PARQUET_BATCH_MAX_ROWS", "-5", ['"-5"', "positive integer"]],
    ["OTLP2PARQUET_BATCH_MAX_ROWS", "1.5", ['"1.5"', "positive integer"]],
    ["OTLP2PARQUET_BATCH_MAX_BYTES", "99999999999999999999", ["batch.max_bytes", "2^53"]],
    ["OTLP2PARQUET_BATCH_ENABLED", "maybe", ['batch.enabled = "maybe"', "true or false"]],
    ["OTLP2PARQUET_BATCH_DURABILITY", "disk", ['"disk"', '"wal", "memory"']],
    ["OTLP2PARQUET_STORAGE_BACKEND", "minio", [
      'storage.backend = "minio"',
      '"fs", "memory", "s3", "r2", "gcs", "azure"',
    ]],
    ["OTLP2PARQUET_LOG_LEVEL", "loud", [
      'server.log_level = "loud"',
      "(from OTLP2PARQUET_LOG_LEVEL)",
      '"debug"',
    ]],
    ["OTLP2PARQUET_SERVER_LOG_FORMAT", "xml", ['"xml"', '"text", "json"']],
    ["OTLP2PARQUET_PARQUET_COMPRESSION", "lzo", [
      'parquet.compression = "lzo"',
      '"zstd"',
      '"lz4_raw"',
    ]],
    ["OTLP2PARQUET_SCHEMA_PROFILE", "wide", ['"wide"', '"default", "extended"']],
    ["OTLP2PARQUET_LISTEN_ADDR", "4318", ['server.listen_addr = "4318"', "host:port"]],
    ["OTLP2PARQUET_LISTEN_ADDR", "0.0.0.0:70000", ['"0.0.0.0:70000"', "0 to 65535"]],
    ["OTLP2PARQUET_LISTEN_ADDR", "0.0.0.0:http", ['"0.0.0.0:http"', "host:port"]],
    ["OTLP2PARQUET_S3_ENDPOINT", "localhost:9000", [
      'storage.s3.endpoint = "localhost:9000"',
      "http(s) URL",
    ]],
    ["OTLP2PARQUET_STORAGE_PREFIX", "../up", ['storage.prefix = "../up"', "key prefix"]],
    ["OTLP2PARQUET_STORAGE_S3_MULTIPART_THRESHOLD_BYTES", "1024", ["5242880", "5 MiB"]],
    ["OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS", "0", ["storage.retry.max_attempts", "1 to 100"]],
    ["OTLP2PARQUET_STORAGE_FS_PATH", " ", ["storage.fs.path", "non-empty path"]],
  ];
  for (const [name, value, parts] of cases) {
    const msg = failure({ env: { [name]: value } });
    includesAll(msg, [`(from ${name})`, ...parts]);
  }
});

Deno.test("loadConfig() rejects values of the wrong TOML type, naming key and file", () => {
  const cases: [string, string[]][] = [
    ['[batch]\nmax_rows = "abc"', [
      'batch.max_rows = "abc" (from ./config.toml): expected a positive integer',
    ]],
    ["[batch]\nmax_rows = 1.5", ["batch.max_rows = 1.5", "positive integer"]],
    ["[batch]\nmax_rows = 99999999999999999999", ["batch.max_rows = 99999999999999999999"]],
    ['[batch]\nenabled = "true"', ['batch.enabled = "true"', "expected true or false"]],
    ["[server]\nlisten_addr = 4318", ["server.listen_addr = 4318", "expected a string"]],
    ['[server]\nlog_level = "INFO"', ['server.log_level = "INFO"', '"info"']],
    ["[storage.s3]\nbucket = [1]", ["storage.s3.bucket = [1]", "a string"]],
  ];
  for (const [toml, parts] of cases) {
    includesAll(failure({ readTextFile: files({ "./config.toml": toml }) }), parts);
  }
});

Deno.test("loadConfig() rejects a bad --port and --log-level, naming the flag", () => {
  includesAll(failure({ flags: { port: "http" } }), ['"http"', "(from --port)", "0 to 65535"]);
  includesAll(failure({ flags: { port: 65536 } }), ["65536", "(from --port)"]);
  includesAll(failure({ flags: { logLevel: "verbose" } }), [
    'server.log_level = "verbose" (from --log-level)',
  ]);
});

Deno.test("loadConfig() reports a TOML syntax error with its line", () => {
  includesAll(failure({ readTextFile: files({ "./config.toml": "[server]\nlisten_addr = \n" }) }), [
    "cannot parse ./config.toml at line 2",
  ]);
});

Deno.test("loadConfig() reports every problem at once", () => {
  const env = {
    OTLP2PARQUET_BATCH_MAX_ROWS: "x",
    OTLP2PARQUET_BATCH_MAX_BYTES: "y",
    OTLP2PARQUET_NOPE: "1",
  };
  const err = (() => {
    try {
      load({ env });
    } catch (e) {
      return e;
    }
  })();
  ok(err instanceof ConfigError);
  strictEqual(err.problems.length, 3);
  includesAll(err.message, ["batch.max_rows", "batch.max_bytes", "OTLP2PARQUET_NOPE"]);
  strictEqual(err.message.split("\n").length, 3, "one line per problem");
});

Deno.test("loadConfig() never echoes secret values in its messages", () => {
  const msg = failure({
    env: {
      OTLP2PARQUET_AUTH_BEARER_TOKEN: "s3cr3t-a",
      OTLP2PARQUET_STORAGE_S3_SECRET_ACCESS_KEY: "s3cr3t-b",
      OTLP2PARQUET_CONFIG_CONTENT:
        '[storage.r2]\nsecret_access_key = 5\n[auth]\nbearer_token = "s3cr3t-c"\n',
      OTLP2PARQUET_BATCH_MAX_ROWS: "bad",
    },
  });
  includesAll(msg, ['storage.r2.secret_access_key = "***"', "batch.max_rows"]);
  ok(!/s3cr3t/.test(msg), msg);
  const dup = failure({
    env: {
      OTLP2PARQUET_BASIC_AUTH_PASSWORD: "s3cr3t-d",
      OTLP2PARQUET_AUTH_BASIC_PASSWORD: "s3cr3t-e",
      OTLP2PARQUET_AUTH_BASIC_USERNAME: "u",
    },
  });
  includesAll(dup, ["auth.basic_password is set twice", "set only one"]);
  ok(!/s3cr3t/.test(dup), dup);
});

Deno.test("loadConfig() rejects an alias and a canonical name that disagree", () => {
  includesAll(
    failure({
      env: {
        OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:1",
        OTLP2PARQUET_SERVER_LISTEN_ADDR: "127.0.0.1:2",
      },
    }),
    [
      "server.listen_addr is set twice",
      "OTLP2PARQUET_LISTEN_ADDR",
      "OTLP2PARQUET_SERVER_LISTEN_ADDR",
    ],
  );
  strictEqual(
    load({
      env: {
        OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:1",
        OTLP2PARQUET_SERVER_LISTEN_ADDR: "127.0.0.1:1",
      },
    })
      .server.listen_addr,
    "127.0.0.1:1",
  );
});

Deno.test("loadConfig() checks what each backend needs", () => {
  includesAll(failure({ env: { OTLP2PARQUET_STORAGE_BACKEND: "s3" } }), [
    'storage.backend = "s3" needs storage.s3.bucket',
    "OTLP2PARQUET_S3_BUCKET",
  ]);
  includesAll(
    failure({ env: { OTLP2PARQUET_STORAGE_BACKEND: "r2", OTLP2PARQUET_R2_BUCKET: "b" } }),
    [
      'storage.backend = "r2" needs storage.r2.account_id',
      "OTLP2PARQUET_STORAGE_R2_ACCOUNT_ID",
    ],
  );
  const r2 = load({
    env: {
      OTLP2PARQUET_STORAGE_BACKEND: "r2",
      OTLP2PARQUET_R2_BUCKET: "b",
      OTLP2PARQUET_R2_ACCOUNT_ID: "a",
    },
  });
  strictEqual(r2.storage.backend, "r2");
  includesAll(
    failure({
      platform: "workers",
      env: { OTLP2PARQUET_CONFIG_CONTENT: '[storage.r2]\nbinding = ""' },
    }),
    ['storage.backend = "r2" needs', "binding"],
  );
  includesAll(failure({ platform: "workers", env: { OTLP2PARQUET_STORAGE_BACKEND: "fs" } }), [
    'storage.backend = "fs" is not available on Cloudflare Workers',
  ]);
  includesAll(
    failure({
      platform: "lambda",
      env: {
        OTLP2PARQUET_S3_BUCKET: "b",
        OTLP2PARQUET_BATCH_ENABLED: "1",
        OTLP2PARQUET_BATCH_DURABILITY: "wal",
      },
    }),
    ['batch.durability = "wal" needs a local disk'],
  );
  includesAll(failure({ env: { OTLP2PARQUET_AUTH_BASIC_USERNAME: "u" } }), [
    "auth.basic_username and auth.basic_password must be set together",
  ]);
  includesAll(failure({ env: { OTLP2PARQUET_SERVER_METRICS_AUTH: "true" } }), [
    "server.metrics_auth = true needs credentials to check",
    "auth.bearer_token",
  ]);
  strictEqual(
    load({
      env: { OTLP2PARQUET_SERVER_METRICS_AUTH: "true", OTLP2PARQUET_AUTH_BEARER_TOKEN: "t" },
    }).server.metrics_auth,
    true,
  );
  includesAll(
    failure({
      env: {
        OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "500",
        OTLP2PARQUET_STORAGE_RETRY_MAX_DELAY_MS: "100",
      },
    }),
    ["storage.retry.max_delay_ms = 100", "base_delay_ms (500)"],
  );
});

// ---------------------------------------------------------------------------------------------
// The repository's config.toml

const repoToml = await Deno.readTextFile(new URL("../../config.toml", import.meta.url));

Deno.test("the repository's config.toml loads and changes nothing", () => {
  deepStrictEqual(
    load({ readTextFile: files({ "./config.toml": repoToml }) }),
    defaultConfig("server"),
  );
});

Deno.test("the repository's config.toml documents every key with its server default", () => {
  // Uncomment `# key = value` lines: the result must be valid and equal the defaults.
  const uncommented = repoToml.replace(/^# ([a-z0-9_]+ = .*)$/gm, "$1");
  const c = load({ env: { OTLP2PARQUET_CONFIG_CONTENT: uncommented } });
  deepStrictEqual(c, defaultConfig("server"));
  const documented = new Set<string>();
  let section = "";
  for (const line of uncommented.split("\n")) {
    const s = /^\[([a-z0-9_.]+)\]$/.exec(line);
    if (s) section = s[1];
    const k = /^([a-z0-9_]+) = /.exec(line);
    if (k) documented.add(`${section}.${k[1]}`);
  }
  deepStrictEqual(
    configKeys().filter((k) => !documented.has(k)),
    [],
    "keys missing from config.toml",
  );
  // Each documented key has a comment line right above it (or above its group).
  const lines = repoToml.split("\n");
  lines.forEach((l, i) => {
    if (/^# [a-z0-9_]+ = /.test(l)) {
      let j = i - 1;
      while (j >= 0 && /^# [a-z0-9_]+ = /.test(lines[j])) j--;
      ok(
        j >= 0 && /^# \S/.test(lines[j]) && !/^# [a-z0-9_]+ = /.test(lines[j]),
        `no comment above: ${l}`,
      );
    }
  });
});
