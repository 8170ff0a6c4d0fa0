/**
 * `otlp2parquet connect …` prints configuration a user pastes into the client they run: the
 * Collector's YAML parses (the `yaml` package) and names this server; Codex's TOML parses;
 * Claude Code's settings block is JSON; and the `sdk` environment, given to an application on
 * the OpenTelemetry JS SDK (a Node subprocess configured by nothing else), delivers its logs,
 * spans and metrics to the real server, bearer token included.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { parse as parseToml } from "smol-toml";
import { parseArgs, UsageError } from "../../src/entry/args.ts";
import { connectConfig } from "../../src/entry/connect.ts";
import { withServer } from "../helpers/server.ts";
import { parseExposition } from "../helpers/prometheus.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** Runs the CLI the way a user does; returns stdout (asserts exit code 0). */
async function cli(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/entry/main.ts", ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  strictEqual(out.code, 0, stderr);
  return new TextDecoder().decode(out.stdout);
}

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("connect otel-collector prints Collector YAML that parses and sends everything here", async () => {
  const doc: Any = parseYaml(
    await cli("connect", "otel-collector", "--url", "http://o2p.internal:4318/", "--token", "t0k"),
  );
  const exp = doc.exporters["otlphttp/otlp2parquet"];
  strictEqual(exp.endpoint, "http://o2p.internal:4318");
  strictEqual(exp.encoding, "proto");
  strictEqual(exp.compression, "gzip");
  strictEqual(exp.headers.Authorization, "Bearer t0k");
  strictEqual(exp.retry_on_failure.enabled, true);
  strictEqual(exp.sending_queue.enabled, true);
  ok(doc.receivers.otlp.protocols.grpc && doc.receivers.otlp.protocols.http);
  ok(doc.processors.batch && doc.processors.memory_limiter);
  for (const signal of ["logs", "traces", "metrics"]) {
    deepStrictEqual(doc.service.pipelines[signal], {
      receivers: ["otlp"],
      processors: ["memory_limiter", "batch"],
      exporters: ["otlphttp/otlp2parquet"],
    });
  }
  // --grpc: the `otlp` exporter at our gRPC port, plaintext for an http:// URL.
  const grpc: Any = parseYaml(connectConfig({ target: "otel-collector", grpc: true }));
  deepStrictEqual(Object.keys(grpc.exporters), ["otlp/otlp2parquet"]);
  strictEqual(grpc.exporters["otlp/otlp2parquet"].endpoint, "localhost:4317");
  strictEqual(grpc.exporters["otlp/otlp2parquet"].tls.insecure, true);
  strictEqual(grpc.exporters["otlp/otlp2parquet"].headers, undefined);
  deepStrictEqual(grpc.service.pipelines.logs.exporters, ["otlp/otlp2parquet"]);
  const tls: Any = parseYaml(
    connectConfig({ target: "otel-collector", grpc: true, url: "https://o2p:4317" }),
  );
  strictEqual(tls.exporters["otlp/otlp2parquet"].endpoint, "o2p:4317");
  strictEqual(tls.exporters["otlp/otlp2parquet"].tls, undefined);
});

Deno.test("connect codex prints an [otel] table that parses, one endpoint per signal", () => {
  // Plain objects (smol-toml makes null-prototype tables).
  const toml = (text: string): Any => JSON.parse(JSON.stringify(parseToml(text)));
  const doc: Any = toml(connectConfig({ target: "codex", token: "t0k" }));
  strictEqual(doc.otel.log_user_prompt, false);
  for (
    const [key, path] of [["exporter", "logs"], ["trace_exporter", "traces"], [
      "metrics_exporter",
      "metrics",
    ]]
  ) {
    deepStrictEqual(doc.otel[key], {
      "otlp-http": {
        endpoint: `http://localhost:4318/v1/${path}`,
        protocol: "binary",
        headers: { Authorization: "Bearer t0k" },
      },
    });
  }
  const grpc: Any = toml(connectConfig({ target: "codex", grpc: true }));
  deepStrictEqual(grpc.otel.exporter, { "otlp-grpc": { endpoint: "http://localhost:4317" } });
});

Deno.test("connect claude-code prints its telemetry environment, or the settings.json env block", async () => {
  const json = JSON.parse(
    await cli("connect", "claude-code", "--token", "t0k", "--format", "json"),
  );
  strictEqual(json.env.CLAUDE_CODE_ENABLE_TELEMETRY, "1");
  strictEqual(json.env.OTEL_EXPORTER_OTLP_ENDPOINT, "http://localhost:4318");
  strictEqual(json.env.OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf");
  strictEqual(json.env.OTEL_EXPORTER_OTLP_HEADERS, "Authorization=Bearer t0k");
  strictEqual(json.env.OTEL_LOGS_EXPORTER, "otlp");
  strictEqual(json.env.OTEL_METRICS_EXPORTER, "otlp");
  const shell = connectConfig({ target: "claude-code", grpc: true });
  ok(shell.includes("export OTEL_EXPORTER_OTLP_PROTOCOL=grpc\n"), shell);
  ok(shell.includes("export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317\n"), shell);
});

Deno.test("connect rejects what it cannot print, with a usage error", () => {
  throws(() => parseArgs(["connect"]), /connect needs a target: otel-collector, sdk/);
  throws(() => parseArgs(["connect", "jaeger"]), /Unknown connect target "jaeger"/);
  throws(() => parseArgs(["connect", "sdk", "--format", "xml"]), /--format = "xml"/);
  throws(() => parseArgs(["connect", "sdk", "--port", "1"]), /--port does not apply to "connect"/);
  throws(() => parseArgs(["serve", "--grpc"]), /--grpc does not apply to "serve"/);
  throws(() => connectConfig({ target: "sdk", url: "localhost:4318" }), UsageError);
  throws(() => connectConfig({ target: "sdk", url: "ftp://x" }), /http:\/\/ or https:\/\//);
  throws(() => connectConfig({ target: "codex", format: "json" }), /prints TOML/);
  deepStrictEqual(parseArgs(["connect", "sdk", "--grpc", "--url", "http://h:1"]).connect, {
    target: "sdk",
    url: "http://h:1",
    token: undefined,
    grpc: true,
    format: "text",
  });
});

Deno.test({
  name: "the connect sdk environment makes the OpenTelemetry JS SDK deliver here (token included)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const token = "tok en/+=";
    await withServer({ env: { OTLP2PARQUET_AUTH_BEARER_TOKEN: token } }, async (srv) => {
      const env = JSON.parse(
        await cli("connect", "sdk", "--url", srv.url, "--token", token, "--format", "json"),
      );
      strictEqual(env.OTEL_EXPORTER_OTLP_ENDPOINT, srv.url);
      const run = await new Deno.Command("node", {
        args: ["tests/entry/fixtures/sdk-from-env.mjs"],
        cwd: REPO,
        env: { ...env, OTEL_SERVICE_NAME: "connect-sdk" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      strictEqual(run.code, 0, new TextDecoder().decode(run.stderr));
      const m = parseExposition(await (await fetch(`${srv.url}/metrics`)).text());
      const http = { transport: "http" };
      strictEqual(m.value("otlp2parquet_records_received_total", { ...http, signal: "logs" }), 3);
      strictEqual(m.value("otlp2parquet_records_received_total", { ...http, signal: "traces" }), 2);
      ok(m.value("otlp2parquet_records_received_total", { ...http, signal: "metrics" })! >= 1);
      // Sent gzip'd protobuf, as the environment says.
      ok(
        m.sum("otlp2parquet_request_body_bytes_count", { encoding: "gzip" }) >= 3,
        "gzip request bodies",
      );
      strictEqual(m.sum("otlp2parquet_requests_total", { code: "401" }), 0);
    });
  },
});
