/**
 * otlp2parquet as a library (the package's main entry, `import { createWriter } from
 * "otlp2parquet"`): an application writes OTLP data straight to Parquet or Arrow IPC files, with
 * no server in between, through the server's own pipeline: the configuration loader and its
 * validation (an options object in config.toml's shape), `ingest()` (decode, split by table,
 * service and hour, hand to the writer), the batching writer with its write-ahead log or the
 * write-through writer, and the storage drivers (fs, memory, s3, r2; the R2 binding on Workers).
 *
 *   const writer = await createWriter({ storage: { backend: "fs", path: "./data" } });
 *   const r = await writer.exportLogs(bytesOrObjectOrJsonl);   // { ok: true, records, … }
 *   await writer.flush();
 *   await writer.close();
 *
 * Results are values: `{ ok: true, records, rejected, message }`, or `{ ok: false, kind,
 * retryable, message, retryAfterMs }` with the kinds of `classifyFailure` (../ingest/): input that
 * cannot be decoded ("invalid"), buffers or log full ("backpressure"), storage failing
 * ("unavailable"), a bug ("internal"). Exceptions are for misuse only: bad options
 * (`ConfigError`, with the server's messages), an input of the wrong type, a closed writer
 * (`TypeError`).
 *
 * Portable: on Node, Deno, Bun (and Lambda) the server's parts come from ./platform.node.ts,
 * imported by a URL computed at run time so that a Workers bundle never follows it; on Workers
 * storage is the R2 binding and parquet-wasm the module the Worker imports (`wasm`).
 */
import { ConfigError } from "../config/load.ts";
import { type Config, parquetOptions, type Platform } from "../config/types.ts";
import {
  NO_WRITER_STATS,
  type Writer,
  type WriterHooks,
  type WriterStats,
} from "../batch/types.ts";
import { detectSignal } from "../core/otlp/index.ts";
import { sniffFormat } from "../core/otlp/sniff.ts";
import type { Format } from "../core/otlp/types.ts";
import { initParquet, parquetReady, usesNative } from "../core/parquet/encode.ts";
import type { Signal } from "../core/tables.ts";
import { assembleWriter, configure, type WriterParts } from "../ingest/assemble.ts";
import { classifyFailure, ingest } from "../ingest/index.ts";
import type { Logger } from "../log/log.ts";
import { bindingStorage } from "../storage/r2.ts";
import { VERSION } from "../version.ts";
import {
  createForwarder,
  type DestinationStats,
  type Forwarder,
  type ForwarderOptions,
} from "../forward/index.ts";
import type { ForwardConfig } from "../config/forward.ts";

export { ConfigError, VERSION };
export type { Config, DestinationStats, ForwardConfig, Platform, Signal, WriterHooks, WriterStats };
export type { StoredFile } from "../batch/types.ts";
export type { Format } from "../core/otlp/types.ts";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * The keys of config.toml the library uses, as an object of the same shape (`[batch] max_rows`
 * is `{ batch: { max_rows } }`), validated with the same messages. `auth` and
 * `server.listen_addr` are the server's and are refused.
 */
export interface WriterConfig {
  storage?: DeepPartial<Config["storage"]> & {
    /** Shorthand for `storage.fs.path` (like `OTLP2PARQUET_STORAGE_PATH`). */
    path?: string;
  };
  batch?: Partial<Config["batch"]>;
  parquet?: Partial<Config["parquet"]>;
  schema?: Partial<Config["schema"]>;
  output?: Partial<Config["output"]>;
  arrow?: Partial<Config["arrow"]>;
  /**
   * `[[forward]]`: OTLP destinations every accepted export is also sent to (docs/library.md,
   * Forwarding): a queue per destination in memory, bounded by `max_queue_bytes`, drained by
   * `close()` within `server.shutdown_timeout_secs`; on Workers each export is sent at once.
   */
  forward?: (Partial<ForwardConfig> & Pick<ForwardConfig, "name" | "endpoint">)[];
  /**
   * Logging (`log_level`: the library's default is "warn"), how long `close()` may flush
   * (`shutdown_timeout_secs`) and the largest input (`max_payload_bytes`, decoded bytes).
   */
  server?: Partial<
    Pick<
      Config["server"],
      "log_level" | "log_format" | "shutdown_timeout_secs" | "max_payload_bytes"
    >
  >;
}

export interface WriterOptions extends WriterConfig {
  /**
   * Whose defaults apply (config.toml marks them): "server" (batching with the write-ahead log
   * under `storage.fs.path`/.wal, one encoder thread), "workers" (R2 binding, write-through) or
   * "lambda" (S3, write-through). Default: "workers" on Cloudflare Workers, else "server".
   */
  platform?: Platform;
  /** `OTLP2PARQUET_*` variables applied over the options (e.g. `process.env`). Default none. */
  env?: Record<string, string | undefined>;
  /** Workers: the Worker's `env`, which holds the R2 bucket binding (`storage.r2.binding`). */
  bindings?: Record<string, unknown>;
  /**
   * parquet-wasm's binary (`parquet-wasm/esm/parquet_wasm_bg.wasm`), imported as a module: on
   * Workers only for Parquet that the native encoder does not write there (zstd, lz4_raw,
   * `parquet.encoder = "wasm"`); elsewhere it is read from the installed package.
   */
  wasm?: BufferSource | WebAssembly.Module;
  /** Where log lines go (text or JSON, `server.log_format`). Default stderr; `false`: nowhere. */
  log?: ((line: string) => void) | false;
  /** Told of every file stored, before it counts as stored (see `WriterHooks`). */
  hooks?: WriterHooks;
}

/** What an export can be given: protobuf bytes, an OTLP/JSON object, or a JSON Lines string. */
export type OtlpInput = Uint8Array | ArrayBuffer | string | Record<string, unknown>;

export interface ExportOptions {
  /**
   * How `input` is encoded when it is bytes or text. Default: bytes are protobuf; a string is
   * OTLP/JSON or JSON Lines (one `Export*ServiceRequest` per line), told by its content.
   */
  format?: Format;
}

export type FailureKind = "invalid" | "backpressure" | "unavailable" | "internal";

export type ExportResult =
  | {
    ok: true;
    /** Records accepted (log records, spans, metric data points). */
    records: number;
    /** Records that cannot be stored (e.g. a data point without a value), and why. */
    rejected: number;
    message: string;
  }
  | ExportFailure;

/** Nothing of the input was accepted. */
export interface ExportFailure {
  ok: false;
  kind: FailureKind;
  /** Sending the same input again later may succeed ("backpressure", "unavailable"). */
  retryable: boolean;
  message: string;
  /** When to try again, for retryable failures. */
  retryAfterMs?: number;
}

export type FlushResult = { ok: true } | (Omit<ExportFailure, "kind"> & { kind: FailureKind });

/** The writer counters (`WriterStats`) plus what the exports did. */
export interface OtlpWriterStats extends WriterStats {
  /** Export calls, records accepted and rejected by them, and calls that failed. */
  exports: number;
  acceptedRecords: number;
  rejectedRecords: number;
  failedExports: number;
  /** Per `[[forward]]` destination: breaker state, queue, sent / rejected / dropped (none: []). */
  forward: DestinationStats[];
}

export interface OtlpWriter {
  /** Stores the log records of an `ExportLogsServiceRequest`. */
  exportLogs(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult>;
  /** Stores the spans of an `ExportTraceServiceRequest`. */
  exportTraces(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult>;
  /** Stores the data points of an `ExportMetricsServiceRequest`. */
  exportMetrics(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult>;
  /** The same, for `signal`. */
  export(signal: Signal, input: OtlpInput, opts?: ExportOptions): Promise<ExportResult>;
  /**
   * Writes out every buffered row (batching); resolves once the files are stored, or with the
   * storage failure (the rows stay buffered and are retried).
   */
  flush(): Promise<FlushResult>;
  /**
   * Waits for exports in flight, writes out what is buffered (within
   * `server.shutdown_timeout_secs`; with the write-ahead log what is not stored stays there for
   * the next `createWriter`) and releases threads and clients. Later calls do nothing.
   */
  close(): Promise<void>;
  stats(): OtlpWriterStats;
  /** The validated configuration. */
  readonly config: Readonly<Config>;
}

/** Names the options in configuration messages. */
export const OPTIONS_SOURCE = "createWriter() options";

const LIBRARY_KEYS = ["platform", "env", "bindings", "wasm", "log", "hooks"] as const;

/**
 * A writer with `options`. With the write-ahead log (the server default), what an earlier
 * writer on the same `batch.wal_dir` left unstored (a crash) is replayed before this resolves,
 * and stored in the background. Throws `ConfigError` for bad options, `TypeError` for missing
 * platform parts (Workers without the bucket binding, or without `wasm` where parquet-wasm
 * writes the files: zstd, lz4_raw, `parquet.encoder = "wasm"`).
 */
export async function createWriter(options: WriterOptions = {}): Promise<OtlpWriter> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`createWriter(): expected an options object, got ${typeName(options)}`);
  }
  const platform = options.platform ?? (onWorkers() ? "workers" : "server");
  const value = configObject(options);
  const write = options.log === false
    ? () => {}
    : options.log ?? ((line: string) => console.error(line));
  const { config, logger } = configure({
    platform,
    env: options.env ?? {},
    object: { value, source: OPTIONS_SOURCE },
  }, write);

  let parts: WriterParts;
  let closeParts = () => Promise.resolve();
  let forwardParts: Pick<ForwarderOptions, "grpcSender" | "gzip" | "inflate"> = {};
  if (platform === "workers") {
    // The native encoder writes snappy (the Workers default), gzip and none without
    // parquet-wasm; zstd, lz4_raw and parquet.encoder = "wasm" need its module.
    if (config.output.format === "parquet" && !parquetReady() && !workersNative(config)) {
      if (!options.wasm) {
        throw new TypeError(
          `createWriter(): on Workers, parquet.compression = "${config.parquet.compression}" with parquet.encoder = "${config.parquet.encoder}" is written by parquet-wasm: pass \`wasm\`, its module (import wasm from "parquet-wasm/esm/parquet_wasm_bg.wasm"), or use parquet.compression = "snappy", "gzip" or "none"`,
        );
      }
      initParquet(options.wasm);
    }
    parts = { storage: bindingStorage(config, options.bindings ?? {}, logger) };
  } else {
    const { serverParts } = await loadServerParts();
    const made = await serverParts(config, logger, options.wasm);
    parts = made.parts;
    closeParts = made.close;
    forwardParts = made.forward;
  }
  let writer: Writer;
  try {
    writer = await assembleWriter(config, logger, { ...parts, hooks: options.hooks });
  } catch (e) {
    await closeParts().catch(() => {});
    if (e instanceof ConfigError) throw e;
    const hint = config.batch.enabled && config.batch.durability === "wal"
      ? ` (the write-ahead log needs a writable batch.wal_dir, ${
        JSON.stringify(config.batch.wal_dir)
      }, or batch.durability = "memory")`
      : "";
    throw new Error(`createWriter(): cannot start the writer: ${message(e)}${hint}`, {
      cause: e,
    });
  }
  let forwarder: Forwarder | undefined;
  try {
    // Servers' queues are on disk; here they are in memory (close() drains them, bounded).
    // Workers and Lambda: no loop outlives a request (an instance may be frozen), so each
    // export is sent at once (best effort); flush() and close() wait for those sends.
    forwarder = await createForwarder({
      destinations: config.forward,
      logger,
      mode: platform === "server" ? "queue" : "best-effort",
      ...forwardParts,
    });
  } catch (e) {
    await writer.close().catch(() => {});
    await closeParts().catch(() => {});
    throw new Error(`createWriter(): cannot start forwarding: ${message(e)}`, { cause: e });
  }
  return new LibraryWriter(config, logger, writer, closeParts, forwarder);
}

/** The config.toml part of `options`, with the library's defaults and shorthands applied. */
function configObject(options: WriterOptions): Record<string, unknown> {
  const value: Record<string, unknown> = { ...options };
  for (const k of LIBRARY_KEYS) delete value[k];
  const problems: string[] = [];
  if (value.auth !== undefined) {
    problems.push(
      `Invalid config: auth (in ${OPTIONS_SOURCE}): the library serves no HTTP; leave it out`,
    );
  }
  const server = value.server;
  if (server !== null && typeof server === "object" && !Array.isArray(server)) {
    const s = { ...(server as Record<string, unknown>) };
    if (s.listen_addr !== undefined) {
      problems.push(
        `Invalid config: server.listen_addr (in ${OPTIONS_SOURCE}): the library serves no HTTP; leave it out`,
      );
    }
    s.log_level ??= "warn";
    value.server = s;
  } else if (server === undefined) value.server = { log_level: "warn" };
  const storage = value.storage;
  if (storage !== null && typeof storage === "object" && !Array.isArray(storage)) {
    const s = { ...(storage as Record<string, unknown>) };
    if (s.path !== undefined) {
      const fs = s.fs !== null && typeof s.fs === "object" ? s.fs as Record<string, unknown> : {};
      if (fs.path !== undefined && fs.path !== s.path) {
        problems.push(
          `Invalid config: storage.path (${JSON.stringify(s.path)}) and storage.fs.path (${
            JSON.stringify(fs.path)
          }) are both set, differently (in ${OPTIONS_SOURCE}): set only one`,
        );
      }
      s.fs = { ...fs, path: s.path };
      delete s.path;
    }
    value.storage = s;
  }
  if (problems.length) throw new ConfigError(problems);
  return value;
}

/** Whether the native encoder writes this config's Parquet on Workers (no parquet-wasm). */
function workersNative(config: Config): boolean {
  try {
    return usesNative(parquetOptions(config));
  } catch (e) {
    throw new ConfigError([
      `Invalid config: parquet.encoder (in ${OPTIONS_SOURCE}): ${message(e)}`,
    ]);
  }
}

function onWorkers(): boolean {
  const nav = (globalThis as { navigator?: { userAgent?: string } }).navigator;
  return nav?.userAgent === "Cloudflare-Workers";
}

/** ./platform.node.ts from source, or its build next to this module's (dist/lib/). */
async function loadServerParts(): Promise<typeof import("./platform.node.ts")> {
  const here = import.meta.url;
  const url = new URL(here.endsWith(".ts") ? "./platform.node.ts" : "./platform.node.mjs", here);
  return await import(url.href);
}

const encoder = new TextEncoder();

/** What `ingest` takes from an input; `error` for input that is not an OTLP request. */
function inputBody(
  input: unknown,
  format: Format | undefined,
  what: string,
): { body: Uint8Array; format: Format } | { error: string } {
  if (input instanceof Uint8Array) return { body: input, format: format ?? "protobuf" };
  if (input instanceof ArrayBuffer) {
    return { body: new Uint8Array(input), format: format ?? "protobuf" };
  }
  if (typeof input === "string") {
    const body = encoder.encode(input);
    // Text is JSON: a body that does not start as an object gets the JSON decoder's message.
    const sniffed = sniffFormat(body);
    return { body, format: format ?? (sniffed === "protobuf" ? "jsonl" : sniffed) };
  }
  if (
    input !== null && typeof input === "object" && !Array.isArray(input) &&
    !ArrayBuffer.isView(input)
  ) {
    let text: string;
    try {
      text = JSON.stringify(input, jsonValue);
    } catch (e) {
      return { error: `Cannot encode the OTLP/JSON object: ${message(e)}` };
    }
    return { body: encoder.encode(text), format: "json" };
  }
  throw new TypeError(
    `${what}: expected protobuf bytes (Uint8Array), an OTLP/JSON object or a JSON Lines string, got ${
      typeName(input)
    }`,
  );
}

/** JSON.stringify's replacer: 64-bit integers as strings, bytes as base64 (OTLP/JSON). */
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]);
    return btoa(s);
  }
  return v;
}

const METHOD: Record<Signal, string> = {
  logs: "exportLogs",
  traces: "exportTraces",
  metrics: "exportMetrics",
};

const REQUEST: Record<Signal, string> = {
  logs: "ExportLogsServiceRequest",
  traces: "ExportTraceServiceRequest",
  metrics: "ExportMetricsServiceRequest",
};

class LibraryWriter implements OtlpWriter {
  #writer: Writer;
  #logger: Logger;
  #closeParts: () => Promise<void>;
  #closing: Promise<void> | null = null;
  #inFlight = new Set<Promise<unknown>>();
  #forwarder: Forwarder | undefined;
  /** Best-effort forward sends in flight (Workers): awaited by flush() and close(). */
  #sends = new Set<Promise<void>>();
  #counts = { exports: 0, acceptedRecords: 0, rejectedRecords: 0, failedExports: 0 };

  constructor(
    readonly config: Readonly<Config>,
    logger: Logger,
    writer: Writer,
    closeParts: () => Promise<void>,
    forwarder?: Forwarder,
  ) {
    this.#forwarder = forwarder;
    this.#writer = writer;
    this.#logger = logger;
    this.#closeParts = closeParts;
  }

  exportLogs(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult> {
    return this.export("logs", input, opts);
  }

  exportTraces(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult> {
    return this.export("traces", input, opts);
  }

  exportMetrics(input: OtlpInput, opts?: ExportOptions): Promise<ExportResult> {
    return this.export("metrics", input, opts);
  }

  export(signal: Signal, input: OtlpInput, opts: ExportOptions = {}): Promise<ExportResult> {
    if (!(signal in METHOD)) {
      throw new TypeError(
        `export(): unknown signal ${
          JSON.stringify(signal)
        } (expected "logs", "traces" or "metrics")`,
      );
    }
    const what = `${METHOD[signal]}()`;
    if (this.#closing) throw new TypeError(`${what}: the writer is closed`);
    const got = inputBody(input, opts.format, what);
    // Bytes the caller gave (not text or an object encoded here) are copied when forwarded.
    const p = this.#run(signal, got, input instanceof Uint8Array || input instanceof ArrayBuffer);
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p));
    return p;
  }

  async #run(
    signal: Signal,
    got: { body: Uint8Array; format: Format } | { error: string },
    copy = false,
  ): Promise<ExportResult> {
    this.#counts.exports++;
    const fail = (f: ExportFailure): ExportFailure => {
      this.#counts.failedExports++;
      return f;
    };
    if ("error" in got) {
      return fail({ ok: false, kind: "invalid", retryable: false, message: got.error });
    }
    const { body, format } = got;
    const limit = this.config.server.max_payload_bytes;
    if (body.length > limit) {
      return fail({
        ok: false,
        kind: "invalid",
        retryable: false,
        message: `Cannot store the ${
          REQUEST[signal]
        }: ${body.length} bytes, more than server.max_payload_bytes (${limit})`,
      });
    }
    try {
      const r = await ingest(this.#writer, {
        signal,
        format,
        body,
        receivedAtNs: BigInt(Date.now()) * 1_000_000n,
      });
      if (r.records === 0 && r.rejected === 0 && body.length > 0) {
        const other = detectSignal(body, format);
        if (other !== null && other !== signal) {
          return fail({
            ok: false,
            kind: "invalid",
            retryable: false,
            message: `Cannot decode ${REQUEST[signal]}: the input is an ${
              REQUEST[other]
            } (${other}); pass it to ${METHOD[other]}()`,
          });
        }
      }
      this.#counts.acceptedRecords += r.records;
      this.#counts.rejectedRecords += r.rejected;
      if (this.#forwarder && r.records > 0) this.#forward(signal, format, body, r.records, copy);
      return { ok: true, records: r.records, rejected: r.rejected, message: r.message };
    } catch (e) {
      const f = this.#failure(e);
      if (f.kind === "invalid") {
        // A request of another signal fails to decode as this one: say which it looks like.
        const other = detectSignal(body, format);
        if (other !== null && other !== signal) {
          f.message += ` (the input looks like an ${REQUEST[other]}: pass it to ${
            METHOD[other]
          }())`;
        }
      }
      return fail(f);
    }
  }

  /** Hands an accepted export to the forwarder (never throws, never delays the result). */
  #forward(signal: Signal, format: Format, body: Uint8Array, records: number, copy: boolean) {
    // The queue keeps the body: the caller's own bytes may be reused once the export resolved.
    const sending = this.#forwarder!.accepted({
      signal,
      format,
      body: copy ? body.slice() : body,
      records,
    });
    if (sending) {
      this.#sends.add(sending);
      sending.finally(() => this.#sends.delete(sending)).catch(() => {});
    }
  }

  #failure(e: unknown): ExportFailure {
    const f = classifyFailure(e);
    switch (f.kind) {
      case "invalid":
        return { ok: false, kind: "invalid", retryable: false, message: f.message };
      case "backpressure":
        return {
          ok: false,
          kind: "backpressure",
          retryable: true,
          message: f.message,
          retryAfterMs: f.retryAfterSecs * 1000,
        };
      case "unavailable":
        return {
          ok: false,
          kind: "unavailable",
          retryable: true,
          message: f.message,
          retryAfterMs: f.retryAfterSecs * 1000,
        };
      case "internal":
        this.#logger.error("unexpected error while storing an export", {
          error: f.message,
          stack: e instanceof Error ? e.stack : undefined,
        });
        return { ok: false, kind: "internal", retryable: false, message: f.message };
    }
  }

  async flush(): Promise<FlushResult> {
    if (this.#closing) throw new TypeError("flush(): the writer is closed");
    await Promise.allSettled([...this.#inFlight]);
    await Promise.allSettled([...this.#sends]);
    try {
      await this.#writer.flush();
      return { ok: true };
    } catch (e) {
      return this.#failure(e);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      try {
        await Promise.all([this.#writer.close(), this.#drainForward()]);
      } finally {
        await this.#closeParts();
      }
    })();
    return this.#closing;
  }

  /** Sends what is queued for the forward destinations, within server.shutdown_timeout_secs. */
  async #drainForward(): Promise<void> {
    const f = this.#forwarder;
    if (!f) return;
    const drained = await f.drain(this.config.server.shutdown_timeout_secs * 1000);
    await Promise.allSettled([...this.#sends]);
    if (!drained) {
      for (const d of f.stats()) {
        if (d.queueRequests === 0) continue;
        this.#logger.warn(
          "close(): forward queue not sent within server.shutdown_timeout_secs: dropped",
          {
            destination: d.name,
            state: d.state,
            requests: d.queueRequests,
            bytes: d.queueBytes,
          },
        );
      }
    }
    await f.close();
  }

  stats(): OtlpWriterStats {
    const s = this.#writer.stats?.() ?? NO_WRITER_STATS;
    return { ...s, ...this.#counts, forward: this.#forwarder?.stats() ?? [] };
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}
