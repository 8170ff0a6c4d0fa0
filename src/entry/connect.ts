/**
 * `otlp2parquet connect TARGET [--url URL] [--token T] [--grpc] [--format json]`: prints
 * ready-to-paste configuration that points a client users already run at this server.
 *
 *   otel-collector  a Collector config (YAML): OTLP receiver, memory_limiter and batch
 *                   processors, an `otlphttp` exporter (`otlp` with --grpc) with gzip, a
 *                   sending queue and retries that ride out our 429/503 answers
 *   sdk             the OTEL_EXPORTER_OTLP_* environment every OpenTelemetry SDK reads
 *                   (shell `export` lines; --format json: a JSON object)
 *   claude-code     Claude Code's telemetry environment (--format json: the `env` block of
 *                   ~/.claude/settings.json)
 *   codex           the `[otel]` table of Codex's ~/.codex/config.toml
 *
 * URL defaults to http://localhost:4318 (http://localhost:4317 with --grpc, the OTLP/gRPC
 * port); --token adds `Authorization: Bearer T`. Pure text building: nothing is contacted.
 */
import { type ConnectTarget, UsageError } from "./args.ts";

export { CONNECT_TARGETS, type ConnectTarget } from "./args.ts";

export interface ConnectOptions {
  target: ConnectTarget;
  url?: string;
  token?: string;
  grpc?: boolean;
  format?: "text" | "json";
}

export const DEFAULT_HTTP_URL = "http://localhost:4318";
export const DEFAULT_GRPC_URL = "http://localhost:4317";

/** The configuration text for `opts` (ends with a newline). Throws `UsageError`. */
export function connectConfig(opts: ConnectOptions): string {
  const url = baseUrl(opts.url, opts.grpc ?? false);
  const token = opts.token;
  if (token !== undefined && (token === "" || /[\r\n]/.test(token))) {
    throw new UsageError("Option --token needs a non-empty value on one line");
  }
  const json = opts.format === "json";
  switch (opts.target) {
    case "otel-collector":
      if (json) throw new UsageError('connect otel-collector prints YAML: drop "--format json"');
      return collectorYaml(url, token, opts.grpc ?? false);
    case "sdk": {
      const env = sdkEnv(url, token, opts.grpc ?? false);
      return json ? JSON.stringify(env, null, 2) + "\n" : shellExports(env, SDK_COMMENT);
    }
    case "claude-code": {
      const env = claudeCodeEnv(url, token, opts.grpc ?? false);
      return json ? JSON.stringify({ env }, null, 2) + "\n" : shellExports(env, CLAUDE_COMMENT);
    }
    case "codex":
      if (json) throw new UsageError('connect codex prints TOML: drop "--format json"');
      return codexToml(url, token, opts.grpc ?? false);
  }
}

/** `url` without a trailing "/", checked; the default for the transport when absent. */
function baseUrl(url: string | undefined, grpc: boolean): string {
  if (url === undefined) return grpc ? DEFAULT_GRPC_URL : DEFAULT_HTTP_URL;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(
      `Option --url = ${JSON.stringify(url)}: expected an http(s) URL such as "${
        grpc ? DEFAULT_GRPC_URL : DEFAULT_HTTP_URL
      }"`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new UsageError(`Option --url = ${JSON.stringify(url)}: expected http:// or https://`);
  }
  if (u.search || u.hash) {
    throw new UsageError(`Option --url = ${JSON.stringify(url)}: no query or fragment, please`);
  }
  return url.replace(/\/+$/, "");
}

const SDK_COMMENT = [
  "# OpenTelemetry SDK environment for otlp2parquet (otlp2parquet connect sdk).",
  "# Every OpenTelemetry SDK and the Collector's own telemetry read these.",
];

const CLAUDE_COMMENT = [
  "# Claude Code telemetry to otlp2parquet (otlp2parquet connect claude-code).",
  "# Put these in the shell that starts `claude`, or run with --format json for the",
  '# "env" block of ~/.claude/settings.json. Traces are a Claude Code beta.',
];

function sdkEnv(url: string, token: string | undefined, grpc: boolean): Record<string, string> {
  const env: Record<string, string> = {
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_EXPORTER_OTLP_PROTOCOL: grpc ? "grpc" : "http/protobuf",
    OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
  };
  // The spec's header list: key=value pairs, values percent-encoded (a space is %20).
  if (token) {
    env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=${encodeURIComponent(`Bearer ${token}`)}`;
  }
  env.OTEL_TRACES_EXPORTER = "otlp";
  env.OTEL_METRICS_EXPORTER = "otlp";
  env.OTEL_LOGS_EXPORTER = "otlp";
  return env;
}

function claudeCodeEnv(
  url: string,
  token: string | undefined,
  grpc: boolean,
): Record<string, string> {
  const env: Record<string, string> = {
    CLAUDE_CODE_ENABLE_TELEMETRY: "1",
    OTEL_METRICS_EXPORTER: "otlp",
    OTEL_LOGS_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_PROTOCOL: grpc ? "grpc" : "http/protobuf",
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
  };
  // As Claude Code documents it (its SDK decodes %20 too, a literal space is what it shows).
  if (token) env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=Bearer ${token}`;
  env.CLAUDE_CODE_ENHANCED_TELEMETRY_BETA = "1";
  env.OTEL_TRACES_EXPORTER = "otlp";
  return env;
}

function shellExports(env: Record<string, string>, comment: string[]): string {
  const lines = [...comment];
  for (const [k, v] of Object.entries(env)) lines.push(`export ${k}=${shellQuote(v)}`);
  return lines.join("\n") + "\n";
}

/** A POSIX shell word: bare when safe, else single-quoted. */
function shellQuote(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`;
}

/** A YAML scalar: JSON strings are YAML double-quoted scalars. */
const y = (s: string) => JSON.stringify(s);

function collectorYaml(url: string, token: string | undefined, grpc: boolean): string {
  const name = grpc ? "otlp/otlp2parquet" : "otlphttp/otlp2parquet";
  const endpoint = grpc ? url.replace(/^https?:\/\//, "") : url;
  const exporter = [
    `  ${name}:`,
    grpc
      ? `    # otlp2parquet's OTLP/gRPC port ([grpc] in its config.toml; 4317 by default).`
      : `    # otlp2parquet's OTLP/HTTP endpoint; the exporter adds /v1/logs, /v1/traces, /v1/metrics.`,
    `    endpoint: ${y(endpoint)}`,
    ...(grpc && url.startsWith("http://") ? ["    tls:", "      insecure: true"] : []),
    ...(grpc ? [] : ["    encoding: proto"]),
    "    # gzip is decoded natively by otlp2parquet's server (node:zlib).",
    "    compression: gzip",
    "    timeout: 30s",
    ...(token ? ["    headers:", `      Authorization: ${y(`Bearer ${token}`)}`] : []),
    "    # otlp2parquet answers 429/503 with Retry-After while its buffers are full or storage",
    "    # is down, and never drops accepted data: keep retrying, queue in the meantime.",
    "    retry_on_failure:",
    "      enabled: true",
    "      initial_interval: 1s",
    "      max_interval: 30s",
    "      max_elapsed_time: 10m",
    "    sending_queue:",
    "      enabled: true",
    "      num_consumers: 4",
    "      queue_size: 1000",
  ];
  const pipeline = (signal: string) => [
    `    ${signal}:`,
    "      receivers: [otlp]",
    "      processors: [memory_limiter, batch]",
    `      exporters: [${name}]`,
  ];
  return [
    `# OpenTelemetry Collector configuration: receive OTLP, batch, send to otlp2parquet at ${url}`,
    "# (otlp2parquet connect otel-collector). Run: otelcol --config this-file.yaml",
    "receivers:",
    "  otlp:",
    "    protocols:",
    "      # On the host that runs otlp2parquet these ports are taken: pick others.",
    "      grpc:",
    `        endpoint: ${y("0.0.0.0:4317")}`,
    "      http:",
    `        endpoint: ${y("0.0.0.0:4318")}`,
    "processors:",
    "  memory_limiter:",
    "    check_interval: 1s",
    "    limit_percentage: 80",
    "    spike_limit_percentage: 25",
    "  batch:",
    "    # Fewer, bigger requests: otlp2parquet buffers them into Parquet files anyway.",
    "    send_batch_size: 8192",
    "    send_batch_max_size: 16384",
    "    timeout: 5s",
    "exporters:",
    ...exporter,
    "service:",
    "  pipelines:",
    ...pipeline("logs"),
    ...pipeline("traces"),
    ...pipeline("metrics"),
    "",
  ].join("\n");
}

/** A TOML basic string. */
const t = (s: string) => JSON.stringify(s);

function codexToml(url: string, token: string | undefined, grpc: boolean): string {
  const headers = token ? `, headers = { "Authorization" = ${t(`Bearer ${token}`)} }` : "";
  // Codex takes each endpoint as the full URL (it adds no /v1/<signal> path itself).
  const exporter = (path: string) =>
    grpc
      ? `{ otlp-grpc = { endpoint = ${t(url)}${headers} } }`
      : `{ otlp-http = { endpoint = ${t(url + path)}, protocol = "binary"${headers} } }`;
  return [
    "# Codex telemetry to otlp2parquet (otlp2parquet connect codex): add to ~/.codex/config.toml",
    "# (merge the keys into an [otel] table that is already there).",
    "[otel]",
    "# true also exports the text of your prompts.",
    "log_user_prompt = false",
    `exporter = ${exporter("/v1/logs")}`,
    `trace_exporter = ${exporter("/v1/traces")}`,
    `metrics_exporter = ${exporter("/v1/metrics")}`,
    "",
  ].join("\n");
}
