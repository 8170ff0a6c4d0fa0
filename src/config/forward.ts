/**
 * `[[forward]]`: the OTLP destinations every accepted request is also sent to (../forward/).
 * An array of tables does not fit the key-path layers of ./load.ts, so it is read here: from
 * the TOML document (or the library's options object), then `OTLP2PARQUET_FORWARD_<KEY>` for a
 * single destination (they create one when the file has none, and override the keys of the
 * only one otherwise; with two or more `[[forward]]` entries they are an error).
 *
 * Header values may name environment variables, `${NAME}`, replaced when the configuration is
 * loaded; header values are never put in messages or logs.
 */
import type { Signal } from "../core/tables.ts";

export type ForwardProtocol = "http/protobuf" | "http/json" | "grpc";

export interface ForwardConfig {
  /** Names the destination in logs, metrics and its queue directory: `[A-Za-z0-9_-]{1,64}`. */
  name: string;
  /**
   * HTTP: the base URL (`/v1/logs`, `/v1/traces`, `/v1/metrics` are appended, as the OTLP
   * exporters' `OTEL_EXPORTER_OTLP_ENDPOINT`). gRPC: `http://host:port` (plain text) or
   * `https://host:port` (TLS).
   */
  endpoint: string;
  protocol: ForwardProtocol;
  /** Sent with every request (an API key); values with `${VAR}` already replaced. */
  headers: Record<string, string>;
  compression: "gzip" | "none";
  signals: Signal[];
  /** Time one export may take before it counts as failed. */
  timeout_ms: number;
  /** Bytes queued for this destination before the oldest are dropped. */
  max_queue_bytes: number;
  /** Consecutive failures that open the circuit breaker. */
  failure_threshold: number;
  /** Seconds the breaker stays open before one probe goes through. */
  open_secs: number;
}

export const FORWARD_ENV_PREFIX = "OTLP2PARQUET_FORWARD_";
const MiB = 1024 * 1024;
const SIGNALS: readonly Signal[] = ["logs", "traces", "metrics"];
const PROTOCOLS: readonly ForwardProtocol[] = ["http/protobuf", "http/json", "grpc"];
/** The keys of a `[[forward]]` entry. */
export const FORWARD_KEYS = [
  "name",
  "endpoint",
  "protocol",
  "headers",
  "compression",
  "signals",
  "timeout_ms",
  "max_queue_bytes",
  "failure_threshold",
  "open_secs",
] as const;
const KEYS = FORWARD_KEYS;
type Key = typeof KEYS[number];

export function forwardDefaults(): Omit<ForwardConfig, "name" | "endpoint"> {
  return {
    protocol: "http/protobuf",
    headers: {},
    compression: "gzip",
    signals: [...SIGNALS],
    timeout_ms: 10_000,
    max_queue_bytes: 256 * MiB,
    failure_threshold: 5,
    open_secs: 30,
  };
}

/** The environment names of the single-destination form, key → name. */
export function forwardEnvName(key: string): string {
  return FORWARD_ENV_PREFIX + key.toUpperCase();
}

/**
 * The destinations of `doc` (`forward`, the TOML array of tables) and the environment;
 * problems are pushed onto `problems` (each names the key, e.g. `forward[1].endpoint`).
 */
export function loadForward(
  doc: unknown,
  source: string,
  env: Record<string, string | undefined>,
  problems: string[],
): ForwardConfig[] {
  const p = (msg: string) => problems.push(`Invalid config: ${msg}`);
  const raws: { where: (k: string) => string; from: string; value: Record<string, unknown> }[] = [];
  if (doc !== undefined) {
    const list = Array.isArray(doc) ? doc : [doc];
    if (!Array.isArray(doc) && (doc === null || typeof doc !== "object")) {
      p(`forward (in ${source}): expected an array of tables ([[forward]])`);
      return [];
    }
    list.forEach((v, i) => {
      if (v === null || typeof v !== "object" || Array.isArray(v)) {
        p(`forward[${i}] (in ${source}): expected a table ([[forward]])`);
        return;
      }
      raws.push({ where: (k) => `forward[${i}].${k}`, from: source, value: { ...v } });
    });
  }
  // OTLP2PARQUET_FORWARD_*: one destination.
  const envSet: [Key, string, string][] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(FORWARD_ENV_PREFIX) || raw === undefined || raw === "") continue;
    const key = name.slice(FORWARD_ENV_PREFIX.length).toLowerCase() as Key;
    if (!KEYS.includes(key)) {
      p(`unknown environment variable ${name}: the forward keys are ${
        KEYS.map(forwardEnvName).join(", ")
      }`);
      continue;
    }
    envSet.push([key, name, raw]);
  }
  if (envSet.length > 0) {
    if (raws.length > 1) {
      p(`${
        envSet.map((e) => e[1]).join(", ")
      } configure a single forward destination, but ${source} has ${raws.length} [[forward]] entries: set them in the file instead`);
    } else {
      if (raws.length === 0) {
        raws.push({ where: (k) => forwardEnvName(k), from: "environment", value: {} });
      }
      const r = raws[0];
      const fileWhere = r.where;
      const fromEnv = new Set<string>();
      for (const [key, name, raw] of envSet) {
        r.value[key] = parseEnvValue(key, raw);
        fromEnv.add(key);
        void name;
      }
      r.where = (k) => fromEnv.has(k) ? forwardEnvName(k) : fileWhere(k);
    }
  }
  const out: ForwardConfig[] = [];
  for (const r of raws) {
    const f = parseOne(r.value, r.where, r.from, env, p);
    if (f) out.push(f);
  }
  const seen = new Map<string, number>();
  out.forEach((f, i) => {
    const prev = seen.get(f.name);
    if (prev !== undefined) {
      p(`forward[${i}].name = ${
        JSON.stringify(f.name)
      } is also forward[${prev}].name: every destination needs its own name`);
    } else seen.set(f.name, i);
  });
  return out;
}

function parseEnvValue(key: Key, raw: string): unknown {
  switch (key) {
    case "headers": {
      // OTEL_EXPORTER_OTLP_HEADERS' form: key=value,key2=value2 (values URL-encoded).
      const h: Record<string, string> = {};
      for (const part of raw.split(",")) {
        if (part.trim() === "") continue;
        const eq = part.indexOf("=");
        if (eq <= 0) return raw; // reported by parseOne as not a table
        h[part.slice(0, eq).trim()] = safeDecode(part.slice(eq + 1).trim());
      }
      return h;
    }
    case "signals":
      return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "timeout_ms":
    case "max_queue_bytes":
    case "failure_threshold":
    case "open_secs":
      return /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    default:
      return raw;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function parseOne(
  v: Record<string, unknown>,
  where: (k: string) => string,
  source: string,
  env: Record<string, string | undefined>,
  p: (msg: string) => void,
): ForwardConfig | null {
  const start = 0;
  let bad = start;
  const fail = (msg: string) => {
    bad++;
    p(msg);
  };
  for (const k of Object.keys(v)) {
    if (!KEYS.includes(k as Key)) {
      fail(
        `unknown key ${JSON.stringify(where(k))} (in ${source}): allowed keys in [[forward]] are ${
          KEYS.join(", ")
        }`,
      );
    }
  }
  const d = forwardDefaults();
  const str = (k: Key): string | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    if (typeof x !== "string") {
      fail(`${where(k)} = ${show(x)} (from ${source}): expected a string`);
      return undefined;
    }
    return x;
  };
  const int = (k: Key, min: number, max: number, dflt: number): number => {
    const x = v[k];
    if (x === undefined) return dflt;
    const n = typeof x === "bigint" ? Number(x) : x;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      fail(`${where(k)} = ${show(x)} (from ${source}): expected an integer from ${min} to ${max}`);
      return dflt;
    }
    return n;
  };
  const endpoint = str("endpoint")?.trim() ?? "";
  const protocol = (str("protocol") ?? d.protocol) as ForwardProtocol;
  if (!PROTOCOLS.includes(protocol)) {
    fail(
      `${where("protocol")} = ${show(v.protocol)} (from ${source}): expected one of ${
        PROTOCOLS.join(", ")
      }`,
    );
  }
  let url: URL | null = null;
  if (endpoint === "") {
    fail(
      `${
        where("endpoint")
      } is missing (from ${source}): the destination's URL, e.g. "https://otlp.example.com" (OTLP/HTTP) or "http://collector:4317" (gRPC)`,
    );
  } else {
    try {
      url = new URL(endpoint);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
    } catch {
      fail(
        `${where("endpoint")} = ${
          JSON.stringify(endpoint)
        } (from ${source}): expected an http:// or https:// URL`,
      );
      url = null;
    }
  }
  let name = str("name");
  if (name === undefined && url) name = url.hostname.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 64);
  if (name !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    fail(
      `${where("name")} = ${
        JSON.stringify(name)
      } (from ${source}): expected 1 to 64 letters, digits, "-" or "_" (it names the queue directory and the metrics)`,
    );
  }
  const compression = (str("compression") ?? d.compression) as ForwardConfig["compression"];
  if (compression !== "gzip" && compression !== "none") {
    fail(
      `${where("compression")} = ${
        show(v.compression)
      } (from ${source}): expected "gzip" or "none"`,
    );
  }
  let signals = d.signals;
  if (v.signals !== undefined) {
    const s = v.signals;
    if (
      !Array.isArray(s) || s.length === 0 || s.some((x) => !SIGNALS.includes(x as Signal))
    ) {
      fail(
        `${where("signals")} = ${show(s)} (from ${source}): expected a non-empty list of ${
          SIGNALS.join(", ")
        }`,
      );
    } else signals = [...new Set(s as Signal[])];
  }
  const headers: Record<string, string> = {};
  if (v.headers !== undefined) {
    const h = v.headers;
    if (h === null || typeof h !== "object" || Array.isArray(h)) {
      // The value may be a secret: say what is wrong without it.
      fail(
        `${
          where("headers")
        } (from ${source}): expected a table of header names to values, e.g. { "api-key" = "\${MY_API_KEY}" }${
          source === "environment" ? " (the variable: name=value,name2=value2)" : ""
        }`,
      );
    } else {
      for (const [hk, hv] of Object.entries(h as Record<string, unknown>)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(hk)) {
          fail(`${where("headers")}: ${JSON.stringify(hk)} is not a valid HTTP header name`);
          continue;
        }
        if (typeof hv !== "string") {
          fail(`${where("headers")}.${hk} (from ${source}): expected a string`);
          continue;
        }
        const missing: string[] = [];
        const value = hv.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => {
          const e = env[n];
          if (e === undefined || e === "") missing.push(n);
          return e ?? "";
        });
        if (missing.length) {
          fail(
            `${where("headers")}.${hk} (from ${source}) names the environment variable ${
              missing.join(", ")
            }, which is not set`,
          );
          continue;
        }
        if (/[\r\n\0]/.test(value)) {
          fail(`${where("headers")}.${hk} (from ${source}): the value holds a line break or NUL`);
          continue;
        }
        headers[hk.toLowerCase()] = value;
      }
    }
  }
  const f: ForwardConfig = {
    name: name ?? "",
    endpoint: url ? endpoint.replace(/\/+$/, "") : endpoint,
    protocol,
    headers,
    compression,
    signals,
    timeout_ms: int("timeout_ms", 1, 600_000, d.timeout_ms),
    max_queue_bytes: int("max_queue_bytes", 1024, Number.MAX_SAFE_INTEGER, d.max_queue_bytes),
    failure_threshold: int("failure_threshold", 1, 1_000_000, d.failure_threshold),
    open_secs: int("open_secs", 1, 86_400, d.open_secs),
  };
  return bad > start ? null : f;
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** What a start-up log line may say about a destination (no header values). */
export function describeForward(f: ForwardConfig): Record<string, unknown> {
  return {
    name: f.name,
    endpoint: f.endpoint,
    protocol: f.protocol,
    signals: f.signals.join(","),
    headers: Object.keys(f.headers).join(",") || undefined,
  };
}

/** The forward queues' directory: beside the write-ahead log (a wal_dir `…/.wal` gives `…/.forward`). */
export function forwardQueueDir(walDir: string): string {
  const wal = walDir.replace(/\/+$/, "");
  const cut = wal.lastIndexOf("/");
  return (cut >= 0 ? wal.slice(0, cut + 1) : "") + ".forward";
}
