/**
 * Loads and validates the configuration, in layers (later wins):
 *
 *   defaults for the platform (./types.ts)
 *   ← config.toml (`--config FILE`, else OTLP2PARQUET_CONFIG, else ./config.toml when present;
 *     OTLP2PARQUET_CONFIG_CONTENT carries the TOML inline, for Workers and Lambda)
 *   ← OTLP2PARQUET_* environment variables
 *   ← command-line flags
 *
 * Pure: the runtime entry hands in the environment and a file reader; nothing here reads
 * `Deno.env`/`process.env` or the disk. Every problem is a `ConfigError` whose message names the
 * key, where the value came from, the value and what is allowed.
 */
import { applyMemoryBudget } from "./memory.ts";
import { parse as parseToml, TomlError } from "smol-toml";
import { CODECS, PARQUET_ENCODERS } from "../core/parquet/encode.ts";
import {
  ACCOUNT_NAME,
  ACCOUNT_NAME_RULE,
  connectionStringAccount,
  CONTAINER_NAME,
  CONTAINER_NAME_RULE,
  isConnectionStringShaped,
} from "../storage/azure-names.ts";
import { ARROW_COMPRESSIONS } from "../core/arrow/file.ts";
import { type Config, defaultConfig, type Platform } from "./types.ts";
import { FORWARD_ENV_PREFIX, loadForward } from "./forward.ts";

/** Bad configuration. `problems` holds one line per problem (the message joins them). */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join("\n"));
    this.problems = list;
  }
}

/** Command-line values that override everything else. */
export interface ConfigFlags {
  /** `--config FILE`: the TOML file to read. */
  config?: string;
  /** `--port N`: replaces the port of `server.listen_addr`. */
  port?: number | string;
  /** `--grpc-port N`: replaces the port of `grpc.listen_addr`. */
  grpcPort?: number | string;
  /** `--output DIR`: filesystem root; also selects `storage.backend = "fs"`. */
  output?: string;
  /** `--log-level LEVEL`. */
  logLevel?: string;
}

export interface LoadConfigInput {
  platform: Platform;
  env: Record<string, string | undefined>;
  flags?: ConfigFlags;
  /**
   * Reads a text file. May return `null` (or throw an error with code `ENOENT` / name
   * `NotFound`) for a missing file. Without it no file is read (only CONFIG_CONTENT).
   */
  readTextFile?: (path: string) => string | null | undefined;
  /**
   * The configuration as an object of config.toml's shape (sections as nested objects), in
   * place of the TOML file: the library's `createWriter(options)`. `source` names it in
   * messages. With it, no file is read; `undefined` values count as unset.
   */
  object?: { value: Record<string, unknown>; source: string };
}

export const ENV_PREFIX = "OTLP2PARQUET_";
/** Names the TOML file. */
export const ENV_CONFIG = "OTLP2PARQUET_CONFIG";
/** Carries the TOML itself. */
export const ENV_CONFIG_CONTENT = "OTLP2PARQUET_CONFIG_CONTENT";
/** Read when neither `--config` nor the variables above are given, if it exists. */
export const DEFAULT_CONFIG_PATH = "./config.toml";

/**
 * Environment names beyond `OTLP2PARQUET_<SECTION>_<KEY>`: the ones users of the Rust
 * otlp2parquet already have, and `OTLP2PARQUET_LOG_LEVEL`. Name → key path.
 */
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  OTLP2PARQUET_LISTEN_ADDR: "server.listen_addr",
  OTLP2PARQUET_MAX_PAYLOAD_BYTES: "server.max_payload_bytes",
  OTLP2PARQUET_LOG_LEVEL: "server.log_level",
  OTLP2PARQUET_LOG_FORMAT: "server.log_format",
  OTLP2PARQUET_STORAGE_PATH: "storage.fs.path",
  OTLP2PARQUET_S3_BUCKET: "storage.s3.bucket",
  OTLP2PARQUET_S3_REGION: "storage.s3.region",
  OTLP2PARQUET_S3_ENDPOINT: "storage.s3.endpoint",
  OTLP2PARQUET_S3_PREFIX: "storage.prefix",
  OTLP2PARQUET_PREFIX: "storage.prefix",
  OTLP2PARQUET_R2_BUCKET: "storage.r2.bucket",
  OTLP2PARQUET_R2_ACCOUNT_ID: "storage.r2.account_id",
  OTLP2PARQUET_R2_ACCESS_KEY_ID: "storage.r2.access_key_id",
  OTLP2PARQUET_R2_SECRET_ACCESS_KEY: "storage.r2.secret_access_key",
  OTLP2PARQUET_STORAGE_AZURE_PREFIX: "storage.prefix",
  OTLP2PARQUET_BATCHING_ENABLED: "batch.enabled",
  OTLP2PARQUET_BASIC_AUTH_USERNAME: "auth.basic_username",
  OTLP2PARQUET_BASIC_AUTH_PASSWORD: "auth.basic_password",
};

/**
 * TOML keys that are other names of a key: `[storage.azure] prefix` is `storage.prefix` (the
 * prefix is the same for every backend). Setting both to different values is an error.
 */
export const TOML_ALIASES: Readonly<Record<string, string>> = {
  "storage.azure.prefix": "storage.prefix",
};

/**
 * Azure's own environment names (those of the Azure CLI and SDKs), read only with
 * `storage.backend = "azure"` and only for what the configuration leaves unset: the account
 * when neither `storage.azure.account` nor a connection string is set, a credential (the first
 * set, in this order) when no credential is set. Name → key path.
 */
export const AZURE_STANDARD_ENV: Readonly<Record<string, string>> = {
  AZURE_STORAGE_CONNECTION_STRING: "storage.azure.connection_string",
  AZURE_STORAGE_KEY: "storage.azure.account_key",
  AZURE_STORAGE_SAS_TOKEN: "storage.azure.sas_token",
  AZURE_STORAGE_ACCOUNT: "storage.azure.account",
};

/**
 * The Rust otlp2parquet's switch for basic auth. `false` ignores the basic credentials;
 * `true` requires both.
 */
export const ENV_BASIC_AUTH_ENABLED = "OTLP2PARQUET_BASIC_AUTH_ENABLED";

// ---------------------------------------------------------------------------------------------
// Key specifications

type Spec =
  | { kind: "string"; check?: (v: string) => string | null; secret?: boolean }
  | { kind: "int"; min: number; max?: number; expect: string }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[]; aliases?: Record<string, string> };

const MiB = 1024 * 1024;
const positive: Spec = { kind: "int", min: 1, expect: "a positive integer" };
const nonNegative: Spec = { kind: "int", min: 0, expect: "a non-negative integer" };
const secret: Spec = { kind: "string", secret: true };
const nonEmpty: Spec = {
  kind: "string",
  check: (v) => (v.trim() === "" ? "a non-empty path" : null),
};

/** Keys whose type or range is more than what the default value says. */
const SPECS: Record<string, Spec> = {
  "server.listen_addr": { kind: "string", check: checkListenAddr },
  "server.max_payload_bytes": positive,
  "grpc.listen_addr": { kind: "string", check: checkListenAddr },
  "grpc.max_recv_msg_bytes": positive,
  "server.max_inflight_bytes": positive,
  "server.max_memory_bytes": nonNegative,
  "server.admission_wait_ms": nonNegative,
  "server.max_waiting_requests": nonNegative,
  "server.log_level": {
    kind: "enum",
    values: ["error", "warn", "info", "debug"],
    aliases: { warning: "warn", trace: "debug" },
  },
  "server.log_format": { kind: "enum", values: ["text", "json"] },
  "server.shutdown_timeout_secs": nonNegative,
  "auth.bearer_token": secret,
  "auth.basic_password": secret,
  "storage.backend": { kind: "enum", values: ["fs", "memory", "s3", "r2", "gcs", "azure"] },
  "storage.prefix": { kind: "string", check: checkPrefix },
  "storage.fs.path": nonEmpty,
  "storage.s3.endpoint": {
    kind: "string",
    check: (v) => checkUrl(v, 'an http(s) URL such as "http://127.0.0.1:9000", or empty for AWS'),
  },
  "storage.s3.secret_access_key": secret,
  "storage.s3.session_token": secret,
  "storage.s3.multipart_threshold_bytes": {
    kind: "int",
    min: 5 * MiB,
    expect: `an integer ≥ ${5 * MiB} (S3's smallest multipart part, 5 MiB)`,
  },
  "storage.r2.secret_access_key": secret,
  "storage.gcs.secret_access_key": secret,
  "storage.gcs.endpoint": {
    kind: "string",
    check: (v) =>
      v === ""
        ? "an http(s) URL"
        : checkUrl(v, 'an http(s) URL such as "https://storage.googleapis.com"'),
  },
  "storage.gcs.region": {
    kind: "string",
    check: (v) => (v.trim() === "" ? 'a signing region ("auto" for GCS)' : null),
  },
  "storage.azure.account": {
    kind: "string",
    check: (
      v,
    ) => (v === "" || ACCOUNT_NAME.test(v) ? null : `an account name (${ACCOUNT_NAME_RULE})`),
  },
  "storage.azure.container": {
    kind: "string",
    check: (v) =>
      v === "" || CONTAINER_NAME.test(v) ? null : `a container name (${CONTAINER_NAME_RULE})`,
  },
  "storage.azure.endpoint": {
    kind: "string",
    check: (v) =>
      checkUrl(
        v,
        'the account\'s blob service URL, e.g. "http://127.0.0.1:10000/devstoreaccount1", or empty for https://<account>.blob.core.windows.net',
      ),
  },
  "storage.azure.connection_string": {
    kind: "string",
    secret: true,
    check: (v) =>
      v === "" || (isConnectionStringShaped(v) && connectionStringAccount(v))
        ? null
        : 'a connection string of Name=value pairs separated by ";" naming the account (AccountName=…, BlobEndpoint=… or UseDevelopmentStorage=true)',
  },
  "storage.azure.account_key": {
    kind: "string",
    secret: true,
    check: (v) =>
      v === "" || /^[A-Za-z0-9+/]+={0,2}$/.test(v.trim())
        ? null
        : "the account's access key (base64, as the portal shows it)",
  },
  "storage.azure.sas_token": {
    kind: "string",
    secret: true,
    check: (v) =>
      v === "" || /(^|[?&])sig=/.test(v)
        ? null
        : 'a SAS token such as "sv=…&sp=racwdl&sig=…" (a query string with sig=)',
  },
  "storage.azure.block_threshold_bytes": {
    kind: "int",
    min: MiB,
    max: 256 * MiB,
    expect: `an integer from ${MiB} (1 MiB) to ${256 * MiB} (256 MiB, the SDK's largest Put Blob)`,
  },
  "storage.retry.max_attempts": {
    kind: "int",
    min: 1,
    max: 100,
    expect: "an integer from 1 to 100",
  },
  "storage.retry.base_delay_ms": nonNegative,
  "storage.retry.max_delay_ms": nonNegative,
  "storage.retry.timeout_ms": positive,
  "batch.durability": { kind: "enum", values: ["wal", "memory"] },
  "batch.wal_dir": nonEmpty,
  "batch.do_binding": { kind: "string", check: (v) => (v.trim() === "" ? "a binding name" : null) },
  "batch.dead_letter_prefix": { kind: "string", check: checkPrefix },
  "batch.max_flush_attempts": { kind: "int", min: 1, max: 100, expect: "an integer from 1 to 100" },
  "parquet.compression": { kind: "enum", values: CODECS },
  "parquet.encoder": { kind: "enum", values: PARQUET_ENCODERS },
  "parquet.zstd_level": { kind: "int", min: 1, max: 22, expect: "an integer from 1 to 22" },
  "parquet.row_group_size": positive,
  "parquet.encode_threads": { kind: "int", min: 0, max: 64, expect: "an integer from 0 to 64" },
  "schema.profile": { kind: "enum", values: ["default", "extended"] },
  "compaction.min_files": { kind: "int", min: 2, expect: "an integer ≥ 2" },
  "compaction.min_age_secs": nonNegative,
  "compaction.target_bytes": { kind: "int", min: MiB, expect: `an integer ≥ ${MiB} (1 MiB)` },
  "compaction.max_input_bytes": { kind: "int", min: MiB, expect: `an integer ≥ ${MiB} (1 MiB)` },
  "retention.logs_days": nonNegative,
  "retention.traces_days": nonNegative,
  "retention.metrics_days": nonNegative,
  "output.format": { kind: "enum", values: ["parquet", "arrow"] },
  "arrow.compression": { kind: "enum", values: ARROW_COMPRESSIONS },
  "catalog.mode": { kind: "enum", values: ["none", "iceberg"] },
  "catalog.iceberg.uri": {
    kind: "string",
    check: (v) =>
      checkUrl(
        v,
        'an http(s) URL of the REST catalog, such as "https://catalog.example.com/api/catalog"',
      ),
  },
  "catalog.iceberg.namespace": { kind: "string", check: checkNamespace },
  "catalog.iceberg.token": secret,
  "catalog.iceberg.oauth2_client_secret": secret,
  "catalog.iceberg.oauth2_server_uri": {
    kind: "string",
    check: (v) => checkUrl(v, "an http(s) URL of the OAuth2 token endpoint, or empty"),
  },
  "catalog.iceberg.sigv4_service": { kind: "string", check: checkSigningName },
  "catalog.iceberg.sigv4_secret_access_key": secret,
  "catalog.iceberg.sigv4_session_token": secret,
  "catalog.iceberg.format_version": { kind: "int", min: 2, max: 3, expect: "2 or 3" },
  "catalog.iceberg.timeout_secs": {
    kind: "int",
    min: 1,
    max: 3600,
    expect: "an integer from 1 to 3600",
  },
  "catalog.iceberg.commit_interval_secs": {
    kind: "int",
    min: 1,
    max: 86400,
    expect: "an integer from 1 to 86400",
  },
  "catalog.iceberg.pending_dir": nonEmpty,
};

interface KeyInfo {
  path: string;
  segments: string[];
  spec: Spec;
}

/** Every leaf key of the configuration, derived from the defaults (so new keys work at once). */
function buildKeys(): Map<string, KeyInfo> {
  const keys = new Map<string, KeyInfo>();
  const walk = (obj: Record<string, unknown>, segs: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const s = [...segs, k];
      if (v !== null && typeof v === "object") {
        walk(v as Record<string, unknown>, s);
        continue;
      }
      const path = s.join(".");
      const spec: Spec = SPECS[path] ??
        (typeof v === "boolean"
          ? { kind: "bool" }
          : typeof v === "number"
          ? positive
          : { kind: "string" });
      keys.set(path, { path, segments: s, spec });
    }
  };
  walk(defaultConfig("server") as unknown as Record<string, unknown>, []);
  return keys;
}

const KEYS = buildKeys();

/** `OTLP2PARQUET_<SECTION>_<KEY>` of a key path such as `storage.s3.bucket`. */
export function envName(path: string): string {
  return ENV_PREFIX + path.replaceAll(".", "_").toUpperCase();
}

const ENV_KEYS = new Map<string, string>();
for (const path of KEYS.keys()) ENV_KEYS.set(envName(path), path);

/** Every configuration key (dotted TOML path), in config.toml order. */
export function configKeys(): string[] {
  return [...KEYS.keys()];
}

// ---------------------------------------------------------------------------------------------
// Loading

/** `CF_WORKER` → workers, `AWS_LAMBDA_FUNCTION_NAME` → lambda, otherwise server. */
export function detectPlatform(env: Record<string, string | undefined>): Platform {
  if (env.CF_WORKER) return "workers";
  if (env.AWS_LAMBDA_FUNCTION_NAME) return "lambda";
  return "server";
}

/** Values by key path; `text` values (environment, flags) are parsed from strings. */
type Layer = Map<string, { value: unknown; source: string; text: boolean; alias?: string }>;

/** Builds the validated configuration; throws `ConfigError`. */
export function loadConfig(input: LoadConfigInput): Config {
  const { platform, env } = input;
  const flags = input.flags ?? {};
  const config = defaultConfig(platform);
  const problems: string[] = [];
  /** Keys set by any layer (defaults that follow other keys only apply to unset ones). */
  const explicit = new Set<string>();

  const apply = (layer: Layer) => {
    for (const [path, { value, source, text }] of layer) {
      const info = KEYS.get(path)!;
      const parsed = parseValue(info, value, source, text, problems);
      if (parsed === undefined) continue;
      setPath(config, info.segments, parsed);
      explicit.add(path);
    }
  };

  // 1. config.toml, or the same as an object
  let forwardDoc: unknown, forwardSource = "the configuration";
  if (input.object) {
    apply(objectLayer(input.object.value, input.object.source, problems));
    forwardDoc = input.object.value.forward;
    forwardSource = input.object.source;
  } else {
    const file = readConfigText(input, flags);
    if (file) {
      const doc = parseTomlText(file.text, file.source);
      apply(objectLayer(doc, file.source, problems));
      forwardDoc = doc.forward;
      forwardSource = file.source;
    }
  }
  config.forward = loadForward(forwardDoc, forwardSource, env, problems);

  // 2. environment
  const envResult = envLayer(env, problems);
  apply(envResult.layer);

  // 3. flags
  apply(flagLayer(flags, config.server.listen_addr, config.grpc.listen_addr, problems));

  // 4. Azure's own environment names, for what is still unset.
  if (config.storage.backend === "azure") apply(azureStandardEnvLayer(env, config));

  // Keys that follow others unless set.
  if (!explicit.has("grpc.max_recv_msg_bytes")) {
    config.grpc.max_recv_msg_bytes = config.server.max_payload_bytes;
  }
  if (!explicit.has("batch.wal_dir") && explicit.has("storage.fs.path")) {
    config.batch.wal_dir = config.storage.fs.path.replace(/\/+$/, "") + "/.wal";
  }
  if (!explicit.has("catalog.iceberg.pending_dir")) {
    // Beside the write-ahead log: wal_dir {dir}/.wal gives {dir}/.iceberg-pending.
    const wal = config.batch.wal_dir.replace(/\/+$/, "");
    const cut = wal.lastIndexOf("/");
    config.catalog.iceberg.pending_dir = (cut >= 0 ? wal.slice(0, cut + 1) : "") +
      ".iceberg-pending";
  }
  if (config.storage.prefix && !config.storage.prefix.endsWith("/")) config.storage.prefix += "/";
  config.storage.prefix = config.storage.prefix.replace(/^\/+/, "");

  if (envResult.basicAuthEnabled === false) {
    config.auth.basic_username = "";
    config.auth.basic_password = "";
  }

  if (problems.length === 0 && config.server.max_memory_bytes > 0) {
    if (platform === "server") {
      applyMemoryBudget(config, explicit, (m) => problems.push(`Invalid config: ${m}`));
    } else {
      problems.push(
        `Invalid config: server.max_memory_bytes is for the server (Deno, Bun, Node); on ${platform} the platform sets the memory (leave it 0)`,
      );
    }
  }
  if (problems.length === 0) validate(config, platform, envResult.basicAuthEnabled, problems);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function readConfigText(
  input: LoadConfigInput,
  flags: ConfigFlags,
): { text: string; source: string } | null {
  const { env, readTextFile } = input;
  const named = flags.config ?? nonEmptyEnv(env, ENV_CONFIG);
  const inline = nonEmptyEnv(env, ENV_CONFIG_CONTENT);
  if (flags.config === undefined && named !== undefined && inline !== undefined) {
    throw new ConfigError(
      `Invalid config: both ${ENV_CONFIG} (${
        JSON.stringify(named)
      }) and ${ENV_CONFIG_CONTENT} are set: set only one`,
    );
  }
  if (named !== undefined) {
    const from = flags.config !== undefined ? "--config" : ENV_CONFIG;
    if (!readTextFile) {
      throw new ConfigError(
        `Invalid config: cannot read config file ${
          JSON.stringify(named)
        } (from ${from}): no file access on this platform; use ${ENV_CONFIG_CONTENT}`,
      );
    }
    let text: string | null | undefined;
    try {
      text = readTextFile(named);
    } catch (e) {
      if (!isNotFound(e)) {
        throw new ConfigError(
          `Invalid config: cannot read config file ${JSON.stringify(named)} (from ${from}): ${
            errorMessage(e)
          }`,
        );
      }
    }
    if (text === null || text === undefined) {
      throw new ConfigError(
        `Invalid config: config file ${JSON.stringify(named)} (from ${from}) does not exist`,
      );
    }
    return { text, source: named };
  }
  if (inline !== undefined) return { text: inline, source: ENV_CONFIG_CONTENT };
  if (!readTextFile) return null;
  try {
    const text = readTextFile(DEFAULT_CONFIG_PATH);
    return text === null || text === undefined ? null : { text, source: DEFAULT_CONFIG_PATH };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new ConfigError(
      `Invalid config: cannot read config file ${JSON.stringify(DEFAULT_CONFIG_PATH)}: ${
        errorMessage(e)
      }`,
    );
  }
}

function parseTomlText(text: string, source: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text, { integersAsBigInt: "asNeeded" }) as Record<string, unknown>;
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : "";
    const first = errorMessage(e).split("\n")[0];
    throw new ConfigError(`Invalid config: cannot parse ${source}${where}: ${first}`);
  }
  return doc;
}

/** The keys of a config.toml-shaped object (a parsed TOML document, or library options). */
function objectLayer(doc: Record<string, unknown>, source: string, problems: string[]): Layer {
  const layer: Layer = new Map();
  const walk = (obj: Record<string, unknown>, segs: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const s = [...segs, k];
      const path = s.join(".");
      if (path === "forward") continue; // [[forward]]: ./forward.ts
      const alias = TOML_ALIASES[path];
      if (KEYS.has(path) || alias) {
        const target = alias ?? path;
        const prev = layer.get(target);
        if (prev && prev.value !== v) {
          problems.push(
            `Invalid config: ${target} is set twice with different values in ${source}, by ${
              prev.alias ?? target
            } (${show(prev.value)}) and ${path} (${show(v)}): set only one`,
          );
          continue;
        }
        layer.set(target, { value: v, source, text: false, ...(alias ? { alias: path } : {}) });
        continue;
      }
      const isSection = [...KEYS.keys()].some((p) => p.startsWith(path + "."));
      if (isSection) {
        if (v !== null && typeof v === "object" && !Array.isArray(v)) {
          walk(v as Record<string, unknown>, s);
        } else {
          problems.push(
            `Invalid config: ${path} = ${show(v)} (from ${source}): expected a table ([${path}])`,
          );
        }
        continue;
      }
      problems.push(unknownKeyMessage(path, source));
    }
  };
  walk(doc, []);
  return layer;
}

function unknownKeyMessage(path: string, source: string): string {
  const section = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
  const siblings = [...KEYS.keys()]
    .filter((p) => section === "" ? true : p.startsWith(section + "."))
    .map((p) => p.slice(section === "" ? 0 : section.length + 1).split(".")[0]);
  const known = [...new Set(siblings)];
  const guess = closest(path, [...KEYS.keys()]);
  return `Invalid config: unknown key ${JSON.stringify(path)} (in ${source}): allowed keys${
    section ? ` in [${section}]` : ""
  } are ${known.join(", ")}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ""}`;
}

function envLayer(
  env: Record<string, string | undefined>,
  problems: string[],
): { layer: Layer; basicAuthEnabled: boolean | undefined } {
  const layer: Layer = new Map();
  let basicAuthEnabled: boolean | undefined;
  // Canonical names first, so an alias that disagrees with one is reported against both.
  const names = Object.keys(env)
    .filter((n) => n.startsWith(ENV_PREFIX))
    .sort((a, b) => Number(ENV_KEYS.has(b)) - Number(ENV_KEYS.has(a)) || (a < b ? -1 : 1));
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue; // empty means unset
    if (name === ENV_CONFIG || name === ENV_CONFIG_CONTENT) continue;
    if (name.startsWith(FORWARD_ENV_PREFIX)) continue; // ./forward.ts
    if (name === ENV_BASIC_AUTH_ENABLED) {
      const b = parseBool(raw);
      if (b === null) {
        problems.push(
          `Invalid config: ${ENV_BASIC_AUTH_ENABLED} = ${show(raw)}: expected true or false`,
        );
      } else basicAuthEnabled = b;
      continue;
    }
    const path = ENV_KEYS.get(name) ?? ENV_ALIASES[name];
    if (path === undefined) {
      const guess = closest(name, [...ENV_KEYS.keys(), ...Object.keys(ENV_ALIASES)]);
      problems.push(
        `Invalid config: unknown environment variable ${name}${
          guess ? `; did you mean ${guess}?` : ""
        } (otlp2parquet --help lists them; names are ${ENV_PREFIX}<SECTION>_<KEY>)`,
      );
      continue;
    }
    const prev = layer.get(path);
    if (prev && prev.value !== raw) {
      const spec = KEYS.get(path)!.spec;
      const hide = spec.kind === "string" && spec.secret;
      problems.push(
        `Invalid config: ${path} is set twice with different values, by ${prev.source}${
          hide ? "" : ` (${show(prev.value)})`
        } and ${name}${hide ? "" : ` (${show(raw)})`}: set only one`,
      );
      continue;
    }
    if (!prev) layer.set(path, { value: raw, source: name, text: true });
  }
  return { layer, basicAuthEnabled };
}

/** AZURE_STORAGE_* values for the Azure settings the configuration leaves empty. */
function azureStandardEnvLayer(env: Record<string, string | undefined>, config: Config): Layer {
  const layer: Layer = new Map();
  const az = config.storage.azure;
  const names = Object.entries(AZURE_STANDARD_ENV);
  let connectionString = az.connection_string !== "";
  if (!az.connection_string && !az.account_key && !az.sas_token) {
    for (const [name, path] of names) {
      const v = nonEmptyEnv(env, name);
      if (v === undefined || path === "storage.azure.account") continue;
      layer.set(path, { value: v, source: name, text: true });
      connectionString = path === "storage.azure.connection_string";
      break;
    }
  }
  const account = nonEmptyEnv(env, "AZURE_STORAGE_ACCOUNT");
  if (!az.account && !connectionString && account !== undefined) {
    layer.set("storage.azure.account", {
      value: account,
      source: "AZURE_STORAGE_ACCOUNT",
      text: true,
    });
  }
  return layer;
}

function flagLayer(
  flags: ConfigFlags,
  listenAddr: string,
  grpcAddr: string,
  problems: string[],
): Layer {
  const layer: Layer = new Map();
  const portFlag = (value: number | string, key: string, addr: string, flag: string) => {
    const text = String(value).trim();
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    if (!(port >= 0 && port <= 65535)) {
      problems.push(
        `Invalid config: ${key} port = ${
          show(value)
        } (from ${flag}): expected an integer from 0 to 65535`,
      );
    } else {
      const host = splitHostPort(addr)?.host ?? "0.0.0.0";
      const hostText = host.includes(":") ? `[${host}]` : host;
      layer.set(key, { value: `${hostText}:${port}`, source: flag, text: true });
    }
  };
  if (flags.port !== undefined) {
    portFlag(flags.port, "server.listen_addr", listenAddr, "--port");
  }
  if (flags.grpcPort !== undefined) {
    portFlag(flags.grpcPort, "grpc.listen_addr", grpcAddr, "--grpc-port");
  }
  if (flags.output !== undefined) {
    layer.set("storage.fs.path", { value: flags.output, source: "--output", text: true });
    layer.set("storage.backend", { value: "fs", source: "--output", text: true });
  }
  if (flags.logLevel !== undefined) {
    layer.set("server.log_level", { value: flags.logLevel, source: "--log-level", text: true });
  }
  return layer;
}

// ---------------------------------------------------------------------------------------------
// Values

/** The typed value, or `undefined` after pushing a problem. Strings come from env and flags. */
function parseValue(
  info: KeyInfo,
  value: unknown,
  source: string,
  text: boolean,
  problems: string[],
): unknown {
  const { spec, path } = info;
  const fromText = text && typeof value === "string";
  const bad = (expect: string) => {
    const shown = spec.kind === "string" && spec.secret ? '"***"' : show(value);
    problems.push(`Invalid config: ${path} = ${shown} (from ${source}): expected ${expect}`);
    return undefined;
  };
  switch (spec.kind) {
    case "string": {
      if (typeof value !== "string") return bad("a string");
      const why = spec.check?.(value);
      return why ? bad(why) : value;
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      if (fromText) {
        const b = parseBool(value as string);
        if (b !== null) return b;
      }
      return bad(fromText ? "true or false (also 1/0, yes/no, on/off)" : "true or false");
    }
    case "int": {
      let n: number | bigint | undefined;
      if (typeof value === "number" || typeof value === "bigint") n = value;
      else if (fromText && /^\+?\d+(_\d+)*$/.test((value as string).trim())) {
        n = BigInt((value as string).trim().replace(/[+_]/g, ""));
      }
      if (n === undefined) return bad(spec.expect);
      if (typeof n === "number" && !Number.isInteger(n)) return bad(spec.expect);
      const big = BigInt(n);
      if (big < BigInt(spec.min) || (spec.max !== undefined && big > BigInt(spec.max))) {
        return bad(spec.expect);
      }
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return bad(`${spec.expect} ≤ 2^53 − 1`);
      return Number(big);
    }
    case "enum": {
      if (typeof value !== "string") return bad(`one of ${spec.values.map(quote).join(", ")}`);
      const v = fromText ? value.trim().toLowerCase() : value;
      const canonical = spec.aliases?.[v] ?? v;
      if (spec.values.includes(canonical)) return canonical;
      return bad(`one of ${spec.values.map(quote).join(", ")}`);
    }
  }
}

function parseBool(s: string): boolean | null {
  const v = s.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return null;
}

function checkListenAddr(v: string): string | null {
  const expect = 'host:port with a port from 0 to 65535 (e.g. "0.0.0.0:4318", "[::]:4318")';
  const hp = splitHostPort(v);
  if (!hp) return expect;
  if (!/^\d{1,5}$/.test(hp.port) || Number(hp.port) > 65535) return expect;
  const h = hp.host;
  if (h === "") return expect;
  if (h.includes(":")) return /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(h) ? null : expect;
  return /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h) ? null : expect;
}

/** `host:port` or `[v6]:port`; the host is returned without brackets. */
export function splitHostPort(addr: string): { host: string; port: string } | null {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(addr) ?? /^([^:[\]]*):([^:]*)$/.exec(addr);
  return m ? { host: m[1], port: m[2] } : null;
}

function checkPrefix(v: string): string | null {
  if (v === "") return null;
  const expect =
    'a key prefix such as "otel/" (no "..", ".", "//", backslashes or control characters)';
  if (hasBackslashOrControl(v)) return expect;
  const segs = v.replace(/^\/+/, "").replace(/\/$/, "").split("/");
  if (segs.some((s) => s === "" || s === "." || s === "..")) return expect;
  return null;
}

function checkNamespace(v: string): string | null {
  const expect = 'a namespace such as "otel" or "prod.otel" (levels separated by ".")';
  return v === "" || v.split(".").some((l) => l.trim() === "") || hasBackslashOrControl(v)
    ? expect
    : null;
}

function checkSigningName(v: string): string | null {
  return v === "" || /^[a-z0-9-]+$/.test(v)
    ? null
    : 'an AWS signing name such as "s3tables" (S3 Tables) or "glue" (Glue), or empty';
}

function checkUrl(v: string, expect: string): string | null {
  if (v === "") return null;
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:" ? null : expect;
  } catch {
    return expect;
  }
}

// ---------------------------------------------------------------------------------------------
// Rules across keys

function validate(
  c: Config,
  platform: Platform,
  basicAuthEnabled: boolean | undefined,
  problems: string[],
): void {
  const p = (msg: string) => problems.push(`Invalid config: ${msg}`);
  const { storage, auth, batch } = c;
  switch (storage.backend) {
    case "s3":
      if (!storage.s3.bucket) {
        p(`storage.backend = "s3" needs storage.s3.bucket (${
          envName("storage.s3.bucket")
        } or OTLP2PARQUET_S3_BUCKET)`);
      }
      break;
    case "r2": {
      const viaBinding = platform === "workers" && storage.r2.binding !== "";
      if (!viaBinding) {
        const missing = [
          !storage.r2.bucket ? "storage.r2.bucket" : "",
          !storage.r2.account_id ? "storage.r2.account_id" : "",
        ].filter(Boolean);
        if (missing.length) {
          p(
            `storage.backend = "r2" needs ${missing.join(" and ")} (${
              missing.map(envName).join(", ")
            })${platform === "workers" ? ", or storage.r2.binding (an R2 bucket binding)" : ""}`,
          );
        }
      }
      break;
    }
    case "gcs": {
      const missing = [
        !storage.gcs.bucket ? "storage.gcs.bucket" : "",
        !storage.gcs.access_key_id ? "storage.gcs.access_key_id" : "",
        !storage.gcs.secret_access_key ? "storage.gcs.secret_access_key" : "",
      ].filter(Boolean);
      if (missing.length) {
        const hmac = missing.some((k) => k !== "storage.gcs.bucket")
          ? "; the keys are an HMAC key (Cloud Storage settings, Interoperability)"
          : "";
        p(`storage.backend = "gcs" needs ${missing.join(" and ")} (${
          missing.map(envName).join(", ")
        })${hmac}`);
      }
      break;
    }
    case "azure": {
      const az = storage.azure;
      if (!az.container) {
        p(`storage.backend = "azure" needs storage.azure.container (${
          envName("storage.azure.container")
        })`);
      }
      const creds = [
        az.connection_string ? "storage.azure.connection_string" : "",
        az.account_key ? "storage.azure.account_key" : "",
        az.sas_token ? "storage.azure.sas_token" : "",
      ].filter(Boolean);
      if (creds.length > 1) {
        p(`${creds.join(" and ")} are both set: set only one credential`);
      }
      if (az.connection_string) {
        const named = connectionStringAccount(az.connection_string);
        if (az.account && named && az.account !== named) {
          p(
            `storage.azure.account = ${
              show(az.account)
            } but storage.azure.connection_string is for the account ${
              show(named)
            }: set only the connection string`,
          );
        }
        if (az.endpoint) {
          p(
            `storage.azure.endpoint and storage.azure.connection_string are both set: the connection string names the endpoint (BlobEndpoint=…); set only one`,
          );
        }
      } else if (!az.account) {
        p(`storage.backend = "azure" needs storage.azure.account (${
          envName("storage.azure.account")
        } or AZURE_STORAGE_ACCOUNT), or storage.azure.connection_string`);
      }
      break;
    }
    case "fs":
      if (platform === "workers") {
        p(`storage.backend = "fs" is not available on Cloudflare Workers: use "r2"`);
      }
      break;
    case "memory":
      break;
  }
  if (batch.enabled && batch.durability === "wal" && platform !== "server") {
    p(
      `batch.durability = "wal" needs a local disk, which ${platform} does not have: use "memory" or batch.enabled = false`,
    );
  }
  if (c.grpc.enabled && platform !== "server") {
    p(
      `grpc.enabled = true is not available on ${
        platform === "workers" ? "Cloudflare Workers" : "AWS Lambda"
      }: ${
        platform === "workers" ? "a Worker" : "a Lambda function"
      } only receives HTTP requests routed to it and cannot listen on a port for OTLP/gRPC; send OTLP/HTTP (/v1/logs, /v1/traces, /v1/metrics) and set grpc.enabled = false`,
    );
  }
  if (storage.retry.max_delay_ms < storage.retry.base_delay_ms) {
    p(
      `storage.retry.max_delay_ms = ${storage.retry.max_delay_ms}: expected at least storage.retry.base_delay_ms (${storage.retry.base_delay_ms})`,
    );
  }
  if (c.server.metrics_auth && !auth.bearer_token && !auth.basic_username) {
    p(
      `server.metrics_auth = true needs credentials to check: set auth.bearer_token or auth.basic_username and auth.basic_password`,
    );
  }
  validateCatalog(c, platform, p);
  const user = auth.basic_username, pass = auth.basic_password;
  if ((user === "") !== (pass === "")) {
    p(
      `auth.basic_username and auth.basic_password must be set together (only ${
        user ? "the username" : "the password"
      } is set)`,
    );
  }
  if (user.includes(":")) {
    p(`auth.basic_username = ${show(user)}: expected a user name without ":"`);
  }
  if (basicAuthEnabled === true && (user === "" || pass === "")) {
    p(
      `${ENV_BASIC_AUTH_ENABLED} = true needs auth.basic_username and auth.basic_password (OTLP2PARQUET_BASIC_AUTH_USERNAME, OTLP2PARQUET_BASIC_AUTH_PASSWORD)`,
    );
  }
}

function validateCatalog(c: Config, platform: Platform, p: (msg: string) => void): void {
  if (c.catalog.mode !== "iceberg") return;
  const i = c.catalog.iceberg;
  if (!i.uri) {
    p(`catalog.mode = "iceberg" needs catalog.iceberg.uri, the REST catalog's endpoint (${
      envName("catalog.iceberg.uri")
    })`);
  }
  const kinds = [
    i.token ? "catalog.iceberg.token" : "",
    i.oauth2_client_id || i.oauth2_client_secret ? "catalog.iceberg.oauth2_*" : "",
    i.sigv4_service ? "catalog.iceberg.sigv4_service" : "",
  ].filter(Boolean);
  if (kinds.length > 1) {
    p(`catalog.iceberg: ${kinds.join(" and ")} are both set: choose one way to authenticate`);
  }
  if ((i.oauth2_client_id === "") !== (i.oauth2_client_secret === "")) {
    p(`catalog.iceberg.oauth2_client_id and catalog.iceberg.oauth2_client_secret must be set together`);
  }
  if ((i.sigv4_access_key_id === "") !== (i.sigv4_secret_access_key === "")) {
    p(`catalog.iceberg.sigv4_access_key_id and catalog.iceberg.sigv4_secret_access_key must be set together`);
  }
  if (platform === "workers" && i.sigv4_service && !i.sigv4_access_key_id) {
    p(`catalog.iceberg.sigv4_service on Workers needs catalog.iceberg.sigv4_access_key_id and sigv4_secret_access_key (no AWS credential chain there)`);
  }
  // Data file paths name the bucket: a Worker's R2 binding does not tell it.
  if (c.storage.backend === "r2" && !c.storage.r2.bucket) {
    p(`catalog.mode = "iceberg" with storage.backend = "r2" needs storage.r2.bucket (the bucket's name, for the data files' s3:// paths)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function setPath(obj: unknown, segs: string[], value: unknown): void {
  let o = obj as Record<string, unknown>;
  for (const s of segs.slice(0, -1)) o = o[s] as Record<string, unknown>;
  o[segs[segs.length - 1]] = value;
}

function nonEmptyEnv(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function isNotFound(e: unknown): boolean {
  const err = e as { code?: string; name?: string } | null;
  return err?.code === "ENOENT" || err?.name === "NotFound";
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function show(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return JSON.stringify(v);
  if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) {
    return "{…}";
  }
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

function quote(s: string): string {
  return JSON.stringify(s);
}

/** The candidate nearest to `s` by edit distance, when it is near enough to be a typo. */
function closest(s: string, candidates: string[]): string | null {
  let best: string | null = null, bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(s.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(s.length / 5)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** True when `s` holds a backslash or a control character (U+0000–U+001F, U+007F). */
function hasBackslashOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x5c) return true;
  }
  return false;
}
