/**
 * `server.max_memory_bytes`: the settings it derives, the bound of docs/configuration.md
 * ("Memory budget") they fit, and the messages when they cannot.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { ConfigError, loadConfig, type LoadConfigInput } from "../../src/config/load.ts";
import { memoryPlan } from "../../src/config/memory.ts";
import { type Config, defaultConfig } from "../../src/config/types.ts";

const MiB = 1024 * 1024;

function load(env: Record<string, string>, platform: LoadConfigInput["platform"] = "server") {
  return loadConfig({ platform, env });
}

function failure(env: Record<string, string>, platform: LoadConfigInput["platform"] = "server") {
  try {
    load(env, platform);
  } catch (e) {
    ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("the defaults' memory bound is the documented one (about 2.5 GiB)", () => {
  const p = memoryPlan(defaultConfig("server"));
  strictEqual(p.runtime, 208 * MiB);
  strictEqual(p.inflight, 128 * MiB);
  strictEqual(p.buffers, 640 * MiB);
  strictEqual(p.file, 128 * MiB);
  strictEqual(p.fileFactor, 6);
  strictEqual(p.headroom, ((128 + 640 + 768) * MiB) / 2);
  strictEqual(p.total, (208 + 128 + 640 + 768) * MiB + p.headroom);
});

Deno.test("max_memory_bytes derives the in-flight bound, the buffers and the file size", () => {
  // The example of docs/configuration.md: 512 MiB, 5 MiB requests, one encoder thread.
  const c: Config = load({
    OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(512 * MiB),
    OTLP2PARQUET_MAX_PAYLOAD_BYTES: String(5 * MiB),
  });
  const share = Math.floor((304 * MiB * 2) / 9);
  strictEqual(c.server.max_inflight_bytes, share);
  ok(Math.abs(c.batch.max_buffered_bytes - share / 1.25) <= 1);
  ok(Math.abs(c.batch.max_bytes - share / 6) <= 1, `max_bytes ${c.batch.max_bytes}`);
  const p = memoryPlan(c);
  ok(p.total <= 512 * MiB, `bound ${p.total}`);
  // Set explicitly, a value is kept (and counted).
  const d = load({
    OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(512 * MiB),
    OTLP2PARQUET_MAX_PAYLOAD_BYTES: String(5 * MiB),
    OTLP2PARQUET_BATCH_MAX_BUFFERED_BYTES: String(48 * MiB),
  });
  strictEqual(d.batch.max_buffered_bytes, 48 * MiB);
  strictEqual(d.server.max_inflight_bytes, share);
  ok(d.batch.max_bytes > share / 6 && memoryPlan(d).total <= 512 * MiB);
});

Deno.test("a budget the settings cannot fit stops start-up, naming each part", () => {
  const small = failure({ OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(100 * MiB) });
  match(small, /server\.max_memory_bytes = 104857600 \(100 MiB\) is below what the process needs/);
  match(small, /208 MiB/);
  // 512 MiB with the default 20 MiB requests: one request's rows (40 MiB) need 240 MiB to encode.
  const tight = failure({ OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(512 * MiB) });
  match(tight, /is too small for these settings, which need/);
  match(tight, /runtime 208 MiB \+ request bodies in flight 67\.6 MiB \+ buffers 67\.6 MiB/);
  match(tight, /encoder 240 MiB \(6 × 40 MiB/);
  match(tight, /headroom 187\.6 MiB/);
  match(tight, /lower server\.max_payload_bytes/);
  const explicit = failure({
    OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(1024 * MiB),
    OTLP2PARQUET_BATCH_MAX_BUFFERED_BYTES: String(2048 * MiB),
  });
  match(explicit, /buffers 2176 MiB \(batch\.max_buffered_bytes and the memory kept/);
  match(
    failure({ OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(512 * MiB) }, "lambda"),
    /server\.max_memory_bytes is for the server/,
  );
  match(
    failure({ OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: "-1" }),
    /server\.max_memory_bytes/,
  );
});
