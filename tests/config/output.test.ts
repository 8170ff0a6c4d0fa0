/**
 * The output keys (`output.format`, `arrow.compression`) and the object layer of loadConfig()
 * (the library's `createWriter(options)`): the same keys, the same validation messages, with the
 * object named as the source.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ConfigError, loadConfig, type LoadConfigInput } from "../../src/config/load.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { prepareOutput } from "../../src/batch/output.ts";

const SOURCE = "createWriter() options";

function failure(input: Partial<LoadConfigInput>): string {
  try {
    loadConfig({ platform: "server", env: {}, ...input });
  } catch (e) {
    ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return e.message;
  }
  throw new Error("expected loadConfig() to throw ConfigError");
}

const obj = (value: Record<string, unknown>) => ({ object: { value, source: SOURCE } });

Deno.test("output.format defaults to parquet, arrow.compression to none", () => {
  const c = defaultConfig("server");
  strictEqual(c.output.format, "parquet");
  strictEqual(c.arrow.compression, "none");
});

Deno.test("output.format and arrow.compression come from config.toml and the environment", () => {
  const c = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_ARROW_COMPRESSION: "LZ4" },
    readTextFile: (p) => p === "./config.toml" ? '[output]\nformat = "arrow"\n' : null,
  });
  strictEqual(c.output.format, "arrow");
  strictEqual(c.arrow.compression, "lz4");
  const e = loadConfig({ platform: "server", env: { OTLP2PARQUET_OUTPUT_FORMAT: "arrow" } });
  strictEqual(e.output.format, "arrow");
});

Deno.test("a bad output.format or arrow.compression names the key, the value and what is allowed", () => {
  strictEqual(
    failure({ env: { OTLP2PARQUET_OUTPUT_FORMAT: "orc" } }),
    'Invalid config: output.format = "orc" (from OTLP2PARQUET_OUTPUT_FORMAT): expected one of "parquet", "arrow"',
  );
  strictEqual(
    failure(obj({ arrow: { compression: "snappy" } })),
    `Invalid config: arrow.compression = "snappy" (from ${SOURCE}): expected one of "none", "zstd", "lz4"`,
  );
});

Deno.test("an options object is the config.toml layer: its keys apply, the environment wins", () => {
  const c = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_BATCH_MAX_ROWS: "9" },
    ...obj({
      storage: { backend: "memory", fs: { path: "/x" } },
      batch: { max_rows: 5, max_age_secs: 2, durability: undefined },
      output: { format: "arrow" },
    }),
    // Never read with an object.
    readTextFile: () => {
      throw new Error("the object replaces the file");
    },
  });
  strictEqual(c.storage.backend, "memory");
  strictEqual(c.storage.fs.path, "/x");
  strictEqual(c.batch.wal_dir, "/x/.wal", "follows storage.fs.path as from a file");
  strictEqual(c.batch.max_rows, 9);
  strictEqual(c.batch.max_age_secs, 2);
  strictEqual(c.batch.durability, "wal", "undefined counts as unset");
  strictEqual(c.output.format, "arrow");
});

Deno.test("an options object gets the same messages as config.toml, naming the object", () => {
  const msg = failure(obj({ batch: { max_rows: "abc", max_row: 1 }, storage: "fs" }));
  deepStrictEqual(
    msg.split("\n").sort(),
    [
      `Invalid config: batch.max_rows = "abc" (from ${SOURCE}): expected a positive integer`,
      `Invalid config: storage = "fs" (from ${SOURCE}): expected a table ([storage])`,
      `Invalid config: unknown key "batch.max_row" (in ${SOURCE}): allowed keys in [batch] are enabled, max_rows, max_bytes, max_age_secs, durability, wal_dir, max_buffered_bytes, max_wal_bytes, do_binding, dead_letter_prefix, max_flush_attempts (did you mean "batch.max_rows"?)`,
    ].sort(),
  );
  ok(
    failure(obj({ storage: { backend: "s3" } })).includes(
      'storage.backend = "s3" needs storage.s3.bucket',
    ),
  );
});

Deno.test("prepareOutput() loads lz4 and refuses zstd where the runtime has no zstd compressor", async () => {
  const arrow = (compression: string) => ({
    ...defaultConfig("server"),
    output: { format: "arrow" as const },
    arrow: { compression: compression as "none" },
  });
  await prepareOutput(arrow("none"));
  await prepareOutput(arrow("lz4"));
  // Nothing registered zstd in this process (the server entries and the library do).
  const err = await prepareOutput(arrow("zstd")).then(() => null, (e) => e);
  ok(err instanceof ConfigError, String(err));
  ok(
    err.message.startsWith(
      'Invalid config: arrow.compression = "zstd": zstd compression is not available on this runtime',
    ),
    err.message,
  );
  ok(err.message.includes("Node 20"), err.message);
});
