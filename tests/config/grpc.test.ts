/**
 * The [grpc] settings: defaults per platform, OTLP2PARQUET_GRPC_* and --grpc-port, the message
 * limit following server.max_payload_bytes, and the refusal on Workers and Lambda.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { ConfigError, envName, loadConfig } from "../../src/config/load.ts";
import { parseArgs } from "../../src/entry/args.ts";

Deno.test("[grpc] defaults: on, 0.0.0.0:4317, the HTTP body limit", () => {
  const c = loadConfig({ platform: "server", env: {} });
  deepStrictEqual(c.grpc, {
    enabled: true,
    listen_addr: "0.0.0.0:4317",
    max_recv_msg_bytes: 20 * 1024 * 1024,
  });
  const memory = { OTLP2PARQUET_STORAGE_BACKEND: "memory" };
  strictEqual(loadConfig({ platform: "workers", env: memory }).grpc.enabled, false);
  strictEqual(loadConfig({ platform: "lambda", env: memory }).grpc.enabled, false);
});

Deno.test("[grpc] environment names, TOML and --grpc-port", () => {
  strictEqual(envName("grpc.listen_addr"), "OTLP2PARQUET_GRPC_LISTEN_ADDR");
  const c = loadConfig({
    platform: "server",
    env: {
      OTLP2PARQUET_GRPC_ENABLED: "false",
      OTLP2PARQUET_GRPC_LISTEN_ADDR: "127.0.0.1:5317",
      OTLP2PARQUET_GRPC_MAX_RECV_MSG_BYTES: "1048576",
    },
  });
  deepStrictEqual(c.grpc, {
    enabled: false,
    listen_addr: "127.0.0.1:5317",
    max_recv_msg_bytes: 1048576,
  });
  const flags = parseArgs(["serve", "--grpc-port", "0"]).flags;
  strictEqual(flags.grpcPort, "0");
  const f = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_GRPC_LISTEN_ADDR: "[::1]:4317" },
    flags,
  });
  strictEqual(f.grpc.listen_addr, "[::1]:0");
  const t = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_CONFIG_CONTENT: '[grpc]\nlisten_addr = "127.0.0.1:9999"\n' },
  });
  strictEqual(t.grpc.listen_addr, "127.0.0.1:9999");
});

Deno.test("grpc.max_recv_msg_bytes follows server.max_payload_bytes unless set", () => {
  const c = loadConfig({ platform: "server", env: { OTLP2PARQUET_MAX_PAYLOAD_BYTES: "12345" } });
  strictEqual(c.grpc.max_recv_msg_bytes, 12345);
  const d = loadConfig({
    platform: "server",
    env: {
      OTLP2PARQUET_MAX_PAYLOAD_BYTES: "12345",
      OTLP2PARQUET_GRPC_MAX_RECV_MSG_BYTES: "999",
    },
  });
  strictEqual(d.grpc.max_recv_msg_bytes, 999);
});

Deno.test("bad [grpc] values name the key, the source and what is allowed", () => {
  const err = (env: Record<string, string>, flags = {}) => {
    try {
      loadConfig({ platform: "server", env, flags });
    } catch (e) {
      ok(e instanceof ConfigError);
      return e.message;
    }
    throw new Error("no error");
  };
  const m1 = err({ OTLP2PARQUET_GRPC_LISTEN_ADDR: "4317" });
  ok(m1.includes('grpc.listen_addr = "4317" (from OTLP2PARQUET_GRPC_LISTEN_ADDR)'), m1);
  const m2 = err({}, { grpcPort: "70000" });
  ok(m2.includes('grpc.listen_addr port = "70000" (from --grpc-port)'), m2);
  const m3 = err({ OTLP2PARQUET_GRPC_ENABLED: "maybe" });
  ok(m3.includes("grpc.enabled"), m3);
});

Deno.test("grpc.enabled = true is refused on Workers and Lambda, saying why", () => {
  for (const platform of ["workers", "lambda"] as const) {
    throws(
      () =>
        loadConfig({
          platform,
          env: {
            OTLP2PARQUET_GRPC_ENABLED: "true",
            OTLP2PARQUET_STORAGE_BACKEND: "memory",
          },
        }),
      (e: Error) =>
        e.message.includes("grpc.enabled = true is not available on") &&
        e.message.includes("cannot listen on a port") &&
        e.message.includes("OTLP/HTTP"),
    );
  }
});
