/**
 * The command line of ./main.ts: argument parsing and the help text (kept apart so tests and
 * other entries can use them without starting anything).
 */
import { type ConfigFlags, configKeys, ENV_ALIASES, envName } from "../config/load.ts";
import { TABLE_NAMES, type TableName } from "../core/tables.ts";
import { VERSION } from "../version.ts";
import { FORWARD_KEYS, forwardEnvName } from "../config/forward.ts";

/** A command line that cannot be run; exit code 2. */
export class UsageError extends TypeError {
  override name = "UsageError";
}

export type Command =
  | "serve"
  | "convert"
  | "compact"
  | "retention"
  | "connect"
  | "iceberg"
  | "help"
  | "version";

const COMMANDS: readonly Command[] = [
  "serve",
  "convert",
  "compact",
  "retention",
  "connect",
  "iceberg",
  "help",
  "version",
];

/** What `connect` prints configuration for (./connect.ts). */
export const CONNECT_TARGETS = ["otel-collector", "sdk", "claude-code", "codex"] as const;
export type ConnectTarget = (typeof CONNECT_TARGETS)[number];

export interface ParsedArgs {
  command: Command;
  /** Flags that feed the configuration. */
  flags: ConfigFlags;
  /** `convert`: input files. */
  files: string[];
  /** `convert`: output directory. */
  out?: string;
  /** `convert`: signal of every input, instead of detecting it. */
  signal?: "logs" | "traces" | "metrics";
  /** `compact` and `retention`: change nothing, say what would be done. */
  dryRun?: boolean;
  /** `compact`: only this table, service, and hour partitions in [since, until). */
  table?: TableName;
  service?: string;
  sinceMs?: number;
  untilMs?: number;
  /** `connect`: what to print and for which server. */
  connect?: {
    target: ConnectTarget;
    url?: string;
    token?: string;
    grpc: boolean;
    format: "text" | "json";
  };
  /** `iceberg`: the subcommand, and the key prefix of `register`. */
  iceberg?: { sub: "status" } | { sub: "register"; prefix: string; rewrite: boolean };
}

const VALUE_FLAGS: Record<Command, readonly string[]> = {
  serve: ["--config", "--port", "--grpc-port", "--output", "--log-level"],
  convert: ["--config", "--out", "--output", "--log-level", "--signal"],
  compact: ["--config", "--output", "--log-level", "--table", "--service", "--since", "--until"],
  retention: ["--config", "--output", "--log-level"],
  connect: ["--url", "--token", "--format"],
  iceberg: ["--config", "--output", "--log-level"],
  help: [],
  version: [],
};

/** Options without a value. */
const SWITCHES: Partial<Record<Command, readonly string[]>> = {
  compact: ["--dry-run"],
  retention: ["--dry-run"],
  connect: ["--grpc"],
  iceberg: ["--rewrite"],
};

/** Parses the command line (without the program name). Throws `UsageError`. */
export function parseArgs(argv: string[]): ParsedArgs {
  let command: Command | undefined;
  let help = false, version = false;
  const switches = new Set<string>();
  const values = new Map<string, string>();
  const positionals: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    if (a === "-V" || a === "--version") {
      version = true;
      continue;
    }
    if (a.startsWith("-") && a !== "-") {
      const eq = a.indexOf("=");
      const name = eq > 0 ? a.slice(0, eq) : a;
      if (SWITCHES[command ?? "serve"]?.includes(name) && eq < 0) {
        switches.add(name);
        continue;
      }
      const allowed = VALUE_FLAGS[command ?? "serve"];
      const anywhere = new Set([
        ...Object.values(VALUE_FLAGS).flat(),
        ...Object.values(SWITCHES).flat(),
      ]);
      if (!allowed.includes(name)) {
        if (anywhere.has(name)) {
          throw new UsageError(`Option ${name} does not apply to "${command ?? "serve"}"`);
        }
        throw new UsageError(`Unknown option ${JSON.stringify(name)}`);
      }
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`Option ${name} needs a value`);
        value = argv[++i];
      }
      if (values.has(name === "--output" && command === "convert" ? "--out" : name)) {
        throw new UsageError(`Option ${name} is given twice`);
      }
      values.set(name === "--output" && command === "convert" ? "--out" : name, value);
      continue;
    }
    if (command === undefined && positionals.length === 0) {
      if ((COMMANDS as readonly string[]).includes(a)) {
        command = a as Command;
        continue;
      }
      if (values.size === 0) {
        throw new UsageError(
          `Unknown command ${
            JSON.stringify(a)
          }: expected serve, convert, compact, retention, connect or iceberg`,
        );
      }
    }
    positionals.push(a);
  }
  if (help || command === "help") return { command: "help", flags: {}, files: [] };
  if (version || command === "version") return { command: "version", flags: {}, files: [] };
  command ??= "serve";
  if (command === "connect") return parseConnect(values, positionals, switches.has("--grpc"));
  const dryRun = switches.has("--dry-run");
  const flags: ConfigFlags = {};
  if (values.has("--config")) flags.config = values.get("--config");
  if (values.has("--port")) flags.port = values.get("--port");
  if (values.has("--grpc-port")) flags.grpcPort = values.get("--grpc-port");
  if (values.has("--log-level")) flags.logLevel = values.get("--log-level");
  if (command === "serve") {
    if (values.has("--output")) flags.output = values.get("--output");
    if (positionals.length) {
      throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[0])} for serve`);
    }
    return { command, flags, files: [] };
  }
  if (command === "compact" || command === "retention") {
    if (positionals.length) {
      throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[0])} for ${command}`);
    }
    if (values.has("--output")) flags.output = values.get("--output");
    const parsed: ParsedArgs = { command, flags, files: [], dryRun };
    const table = values.get("--table");
    if (table !== undefined) parsed.table = tableOption(table);
    const service = values.get("--service");
    if (service !== undefined) {
      if (service === "") throw new UsageError("Option --service needs a service name");
      parsed.service = service;
    }
    const since = values.get("--since"), until = values.get("--until");
    if (since !== undefined) parsed.sinceMs = timeOption("--since", since);
    if (until !== undefined) parsed.untilMs = timeOption("--until", until);
    if (
      parsed.sinceMs !== undefined && parsed.untilMs !== undefined &&
      parsed.untilMs <= parsed.sinceMs
    ) {
      throw new UsageError(`Option --until (${until}) must be after --since (${since})`);
    }
    return parsed;
  }
  if (command === "iceberg") {
    if (values.has("--output")) flags.output = values.get("--output");
    const [sub, ...rest] = positionals;
    if (sub === "status" && rest.length === 0 && !switches.has("--rewrite")) {
      return { command, flags, files: [], iceberg: { sub } };
    }
    if (sub === "register" && rest.length === 1) {
      return {
        command,
        flags,
        files: [],
        iceberg: { sub, prefix: rest[0], rewrite: switches.has("--rewrite") },
      };
    }
    throw new UsageError(
      sub === "register"
        ? "iceberg register needs one PREFIX (the key prefix of the files to add, e.g. logs/)"
        : `Unknown iceberg command ${
          JSON.stringify(sub ?? "")
        }: expected status or register PREFIX`,
    );
  }
  const out = values.get("--out");
  if (!out) throw new UsageError("convert needs --out DIR (where the Parquet files go)");
  if (positionals.length === 0) throw new UsageError("convert needs at least one input FILE");
  const signal = values.get("--signal");
  if (signal !== undefined && signal !== "logs" && signal !== "traces" && signal !== "metrics") {
    throw new UsageError(
      `Option --signal = ${JSON.stringify(signal)}: expected "logs", "traces" or "metrics"`,
    );
  }
  flags.output = out;
  return { command, flags, files: positionals, out, signal };
}

function parseConnect(
  values: Map<string, string>,
  positionals: string[],
  grpc: boolean,
): ParsedArgs {
  const expected = CONNECT_TARGETS.join(", ");
  if (positionals.length === 0) throw new UsageError(`connect needs a target: ${expected}`);
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[1])} for connect`);
  }
  const target = positionals[0] as ConnectTarget;
  if (!CONNECT_TARGETS.includes(target)) {
    throw new UsageError(`Unknown connect target ${JSON.stringify(target)}: expected ${expected}`);
  }
  const format = values.get("--format") ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`Option --format = ${JSON.stringify(format)}: expected "json" or "text"`);
  }
  return {
    command: "connect",
    flags: {},
    files: [],
    connect: { target, url: values.get("--url"), token: values.get("--token"), grpc, format },
  };
}

/** A table named as in `--table`: logs, traces, gauge … or metrics_gauge / metrics/gauge. */
function tableOption(v: string): TableName {
  const name = v.replace(/^metrics[_/]/, "").replace(/^otel_/, "").replace(/^metrics_/, "");
  if ((TABLE_NAMES as readonly string[]).includes(name)) return name as TableName;
  throw new UsageError(
    `Option --table = ${JSON.stringify(v)}: expected one of ${TABLE_NAMES.join(", ")}`,
  );
}

/** An ISO 8601 date or date-time (`2024-05-01`, `2024-05-01T10:00Z`), as epoch ms. */
function timeOption(flag: string, v: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `Option ${flag} = ${
        JSON.stringify(v)
      }: expected an ISO 8601 date or time, e.g. 2024-05-01 or 2024-05-01T10:00Z`,
    );
  }
  return ms;
}

export function usage(): string {
  const aliases = Object.entries(ENV_ALIASES).map(([n, k]) => `  ${n.padEnd(36)} ${k}`);
  const vars = configKeys().map((k) => `  ${envName(k).padEnd(52)} ${k}`);
  const forward = FORWARD_KEYS.map((k) => `  ${forwardEnvName(k).padEnd(52)} [[forward]] ${k}`);
  return `otlp2parquet ${VERSION}: OpenTelemetry (OTLP/HTTP) logs, traces and metrics to Parquet

Usage:
  otlp2parquet [serve] [options]          run the OTLP/HTTP (4318) and OTLP/gRPC (4317) server
  otlp2parquet convert FILE... --out DIR  convert OTLP files to Parquet
  otlp2parquet compact [options]          merge small files of hour partitions into large ones
  otlp2parquet retention [--dry-run]      delete hour partitions past [retention]
  otlp2parquet connect TARGET [options]   print configuration that sends a client's data here
  otlp2parquet iceberg status             pending files and last commit per Iceberg table
  otlp2parquet iceberg register PREFIX [--rewrite]
                                          add stored files under PREFIX to the Iceberg tables
  otlp2parquet --help | --version

serve options:
  --config FILE       TOML config file (default ./config.toml when it exists)
  --port N            listen port (0 picks a free one); the host comes from server.listen_addr
  --grpc-port N       OTLP/gRPC listen port (default 4317, 0 picks a free one); the host comes
                      from grpc.listen_addr ([grpc] enabled = false turns the listener off)
  --output DIR        write Parquet files under DIR (selects the filesystem backend)
  --log-level LEVEL   error, warn, info or debug

convert options:
  --out DIR           where the Parquet files go (required; --output is accepted too)
  --signal SIGNAL     logs, traces or metrics (default: detected from each file's content)
  --config FILE       TOML config file (parquet.*, schema.* and storage.prefix apply)
  --log-level LEVEL   error, warn, info or debug (default warn)

compact options ([compaction] settings apply):
  --table TABLE       only this table: logs, traces, gauge, sum, histogram,
                      exponential_histogram, summary
  --service NAME      only this service (its key segment)
  --since TIME        only hours from TIME (ISO 8601, e.g. 2024-05-01T10:00Z)
  --until TIME        only hours before TIME
  --dry-run           say what would be merged, change nothing
  --output DIR        the files under DIR (the filesystem backend), as for serve
  --config FILE, --log-level LEVEL as for serve

retention options ([retention] settings apply):
  --dry-run           list the partitions past retention, delete nothing
  --output DIR, --config FILE, --log-level LEVEL as for compact

connect TARGET: otel-collector (Collector YAML), sdk (OTEL_EXPORTER_OTLP_* environment),
  claude-code (its telemetry environment), codex (the [otel] table of ~/.codex/config.toml)
  --url URL           this server (default http://localhost:4318; with --grpc :4317)
  --token T           bearer token to send (auth.bearer_token)
  --grpc              OTLP/gRPC instead of OTLP/HTTP (the [grpc] listener, port 4317)
  --format json       sdk: a JSON object; claude-code: the "env" block of settings.json

iceberg options (catalog.mode = "iceberg"; see README.md, "Iceberg tables"):
  --config FILE       TOML config file (storage.*, catalog.* apply)
  --output DIR        the filesystem root the files are under (selects the fs backend)
  --rewrite           register: rewrite files written without a catalog into the tables'
                      layout, in place (format_version 2: timestamps become microseconds)

  FILE is an OTLP Export*ServiceRequest as protobuf (.pb, .bin, .protobuf), JSON (.json) or
  JSON lines (.jsonl, .ndjson), optionally gzip- or zstd-compressed (.gz, .zst); the format is
  sniffed when the extension does not tell.

Configuration (later wins): defaults < config.toml < environment < options.
  OTLP2PARQUET_CONFIG                  path of the TOML file
  OTLP2PARQUET_CONFIG_CONTENT          the TOML itself (Workers, Lambda)

Environment variables, one per config key (OTLP2PARQUET_<SECTION>_<KEY>):
${vars.join("\n")}

One forward destination ([[forward]] in the file for more):
${forward.join("\n")}

Also accepted (names of the Rust otlp2parquet):
${aliases.join("\n")}
  OTLP2PARQUET_BASIC_AUTH_ENABLED      false ignores the basic auth credentials

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
`;
}
