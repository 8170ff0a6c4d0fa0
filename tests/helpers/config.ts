/**
 * Loading configuration in tests: `load()` is loadConfig() for the server with no environment
 * unless given; `failure()` the ConfigError message of a load that must fail.
 *
 *   strictEqual(load({ env: { OTLP2PARQUET_BATCH_ENABLED: "false" } }).batch.enabled, false);
 *   includesAll(failure({ env: { OTLP2PARQUET_BATCH_MAX_ROWS: "x" } }), ["batch.max_rows"]);
 */
import { ok } from "node:assert/strict";
import { ConfigError, loadConfig, type LoadConfigInput } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";

export function load(input: Partial<LoadConfigInput> = {}): Config {
  return loadConfig({ platform: "server", env: {}, ...input });
}

/** The ConfigError message of a load that must fail. */
export function failure(input: Partial<LoadConfigInput>): string {
  try {
    load(input);
  } catch (e) {
    ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return e.message;
  }
  throw new Error("expected loadConfig() to throw ConfigError");
}

/** Asserts that `msg` holds every one of `parts`. */
export function includesAll(msg: string, parts: string[]): void {
  for (const p of parts) ok(msg.includes(p), `message lacks ${JSON.stringify(p)}:\n${msg}`);
}
