/**
 * The command-line entry for Deno (default), Bun and Node:
 *
 *   otlp2parquet [serve] [--config FILE] [--port N] [--output DIR] [--log-level LEVEL]
 *   otlp2parquet convert FILE… --out DIR [--signal S] [--config FILE] [--log-level LEVEL]
 *   otlp2parquet connect otel-collector|sdk|claude-code|codex [--url URL] [--token T] [--grpc]
 *   otlp2parquet iceberg status | register PREFIX [--config FILE] [--output DIR]
 *   otlp2parquet --help | --version
 *
 * Small and boring on purpose: read the arguments and the environment, load the configuration
 * and run the command (./serve.ts, ./convert.ts). Exit codes: 0 ok, 1 failure (bad input
 * files, start-up failure), 2 usage or configuration error.
 */
import { ConfigError, detectPlatform } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { VERSION } from "../version.ts";
import { parseArgs, type ParsedArgs, usage, UsageError } from "./args.ts";
import { configure } from "./assemble.ts";
import * as rt from "./platform.ts";

async function main(): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(rt.args());
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`otlp2parquet: ${e.message}\nRun "otlp2parquet --help" for usage.`);
      return 2;
    }
    throw e;
  }
  if (parsed.command === "help") {
    console.log(usage());
    return 0;
  }
  if (parsed.command === "version") {
    console.log(`otlp2parquet ${VERSION}`);
    return 0;
  }
  if (parsed.command === "connect") {
    const { connectConfig } = await import("./connect.ts");
    try {
      console.log(connectConfig(parsed.connect!).replace(/\n$/, ""));
    } catch (e) {
      if (e instanceof UsageError) {
        console.error(`otlp2parquet: ${e.message}\nRun "otlp2parquet --help" for usage.`);
        return 2;
      }
      throw e;
    }
    return 0;
  }
  const env = rt.env();
  let config: Config, logger: Logger;
  try {
    const flags = { ...parsed.flags };
    const tool = parsed.command !== "serve";
    if (tool && flags.logLevel === undefined) flags.logLevel = "warn";
    ({ config, logger } = configure({
      platform: parsed.command === "serve" ? detectPlatform(env) : "server",
      env,
      flags,
      readTextFile: rt.readTextFile,
    }));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  if (parsed.command === "convert") {
    const { convertFiles } = await import("./convert.ts");
    return await convertFiles({ config, logger, files: parsed.files, signal: parsed.signal });
  }
  if (parsed.command === "compact" || parsed.command === "retention") {
    const { compactCommand, retentionCommand } = await import("./lifecycle.ts");
    return await (parsed.command === "compact" ? compactCommand : retentionCommand)(
      config,
      logger,
      parsed,
    );
  }
  if (parsed.command === "iceberg") {
    const { icebergCommand } = await import("./iceberg.ts");
    return await icebergCommand(config, logger, parsed.iceberg!);
  }
  // Loaded only to serve: the server's modules (gRPC, write-ahead log, lifecycle, metrics) cost
  // the other commands start-up time they do not need.
  const { serve } = await import("./serve.ts");
  return await serve(config, logger, detectPlatform(env));
}

/** Runs the CLI with the process's arguments and exits with its code. */
export function run(): void {
  main().then(
    (code) => rt.exit(code),
    (e) => {
      console.error(`otlp2parquet: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      rt.exit(1);
    },
  );
}

// Started directly (deno run, bun run, the Node bundle where import.meta.main is undefined);
// the single-executable entry (./compile.ts) imports this module and calls run() itself.
if (import.meta.main ?? true) run();
