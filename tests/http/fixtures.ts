/**
 * Shared pieces of the HTTP tests: the app wired to the memory store and the write-through
 * writer, OTLP request fixtures (OTLP/JSON objects and hand-encoded protobuf), compressors
 * (node:zlib, including zstd: Deno's node:zlib has zstdCompressSync, so no extra dependency),
 * and protobufjs over proto/ as the oracle that decodes our google.rpc.Status and
 * Export*ServiceResponse bodies.
 */
import zlib from "node:zlib";
import type protobuf from "protobufjs";
import { otlpProtos, Pb } from "../helpers/proto.ts";
import { T0 } from "../helpers/time.ts";
import "../helpers/parquet.ts";
import type { Hono } from "hono";
import { createApp } from "../../src/http/app.ts";
import { createWriteThroughWriter } from "../../src/batch/writethrough.ts";
import type { Writer } from "../../src/batch/types.ts";
import { type Config, defaultConfig } from "../../src/config/types.ts";
import type { Logger } from "../../src/log/log.ts";
import { TestLogger } from "../helpers/logger.ts";
import { createMemoryStorage, type MemoryStorage } from "../../src/storage/memory.ts";
import { type StorageDriver, StorageError } from "../../src/storage/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** 2024-05-01T10:00:00Z in epoch ns (tests/helpers/time.ts). */
export { T0 };

/** Server defaults, write-through, with `mutate` applied. */
export function testConfig(mutate: (c: Config) => void = () => {}): Config {
  const c = defaultConfig("server");
  c.batch.enabled = false;
  mutate(c);
  return c;
}

/** A logger that keeps its lines (tests/helpers/logger.ts). */
export { TestLogger };

/** The memory store with switches: failing puts (StorageError or a plain Error) and checks. */
export class SwitchStorage implements StorageDriver {
  readonly name = "switch";
  readonly inner: MemoryStorage = createMemoryStorage();
  failPut: Error | null = null;
  failCheck: Error | null = null;
  checks = 0;
  puts = 0;
  get objects(): Map<string, Uint8Array> {
    return this.inner.objects;
  }
  put(key: string, data: Uint8Array): Promise<void> {
    this.puts++;
    if (this.failPut) return Promise.reject(this.failPut);
    return this.inner.put(key, data);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  check(): Promise<void> {
    this.checks++;
    return this.failCheck ? Promise.reject(this.failCheck) : Promise.resolve();
  }
}

export const storageDown = () =>
  new StorageError('Cannot put "logs/x.parquet" (s3): connect ECONNREFUSED 127.0.0.1:9', true);

export interface TestApp {
  app: Hono;
  storage: SwitchStorage;
  logger: TestLogger;
  config: Config;
  /** The clock the app reads (epoch ns); tests may move it. */
  clock: { ns: bigint };
}

export function makeApp(
  opts: { config?: Config; writer?: (c: Config, s: StorageDriver, l: Logger) => Writer } = {},
): TestApp {
  const config = opts.config ?? testConfig();
  const storage = new SwitchStorage();
  const logger = new TestLogger();
  const clock = { ns: T0 };
  const writer = opts.writer
    ? opts.writer(config, storage, logger)
    : createWriteThroughWriter({ config, storage, logger });
  const app = createApp({
    config,
    writer,
    storage,
    logger,
    version: "9.9.9-test",
    now: () => clock.ns,
  });
  return { app, storage, logger, config, clock };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** The body as text. */
  text: string;
  json: () => Record<string, unknown>;
}

export async function send(
  app: Hono,
  path: string,
  init: { method?: string; body?: BodyInit | Uint8Array | null; headers?: Record<string, string> } =
    {},
): Promise<Answer> {
  const res = await app.request(path, {
    method: init.method ?? "POST",
    body: init.body as BodyInit | null | undefined,
    headers: init.headers,
  });
  const body = new Uint8Array(await res.arrayBuffer());
  const text = dec.decode(body);
  return { status: res.status, headers: res.headers, body, text, json: () => JSON.parse(text) };
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON fixtures

const sv = (s: string) => ({ stringValue: s });
const resource = (service: string) => ({
  attributes: [{ key: "service.name", value: sv(service) }],
});

/** ExportLogsServiceRequest with `n` records "msg-0"… for `service` at T0 + i µs. */
export function logsJson(n = 2, service = "checkout", t0 = T0): Record<string, unknown> {
  const logRecords = Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(t0 + BigInt(i) * 1000n),
    severityNumber: 9,
    severityText: "INFO",
    body: sv(`msg-${i}`),
    attributes: [{ key: "i", value: { intValue: String(i) } }],
  }));
  return {
    resourceLogs: [{
      resource: resource(service),
      scopeLogs: [{ scope: { name: "t" }, logRecords }],
    }],
  };
}

export function tracesJson(n = 2, service = "checkout"): Record<string, unknown> {
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId: "0102030405060708090a0b0c0d0e0f10",
    spanId: (i + 1).toString(16).padStart(16, "0"),
    name: `span-${i}`,
    kind: 2,
    startTimeUnixNano: String(T0 + BigInt(i)),
    endTimeUnixNano: String(T0 + BigInt(i) + 5000n),
  }));
  return {
    resourceSpans: [{ resource: resource(service), scopeSpans: [{ scope: { name: "t" }, spans }] }],
  };
}

/** A gauge with `n` points holding a value, and `valueless` points without one (rejected). */
export function metricsJson(n = 2, valueless = 0, service = "checkout"): Record<string, unknown> {
  const dataPoints: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    dataPoints.push({ timeUnixNano: String(T0 + BigInt(i)), asDouble: i + 0.5 });
  }
  for (let i = 0; i < valueless; i++) dataPoints.push({ timeUnixNano: String(T0 + BigInt(n + i)) });
  return {
    resourceMetrics: [{
      resource: resource(service),
      scopeMetrics: [{
        scope: { name: "t" },
        metrics: [{ name: "queue.depth", gauge: { dataPoints } }],
      }],
    }],
  };
}

export const jsonBytes = (o: unknown) => enc.encode(JSON.stringify(o));

/** One request per line (JSON Lines). */
export const jsonlBytes = (...os: unknown[]) =>
  enc.encode(os.map((o) => JSON.stringify(o)).join("\n") + "\n");

// ---------------------------------------------------------------------------------------------
// Hand-encoded protobuf fixtures (wire format; field numbers from opentelemetry/proto v1)

/** Resource { 1 attributes KeyValue { 1 key, 2 value AnyValue { 1 string_value } } } */
const pbResource = (service: string) =>
  new Pb().bytes(1, new Pb().bytes(1, "service.name").bytes(2, new Pb().bytes(1, service)));

/**
 * ExportLogsServiceRequest { 1 ResourceLogs { 1 resource, 2 ScopeLogs { 1 scope { 1 name },
 * 2 LogRecord { 1 time_unix_nano fixed64, 2 severity_number, 5 body AnyValue } } } }
 */
export function logsPb(n = 2, service = "checkout"): Uint8Array {
  const scope = new Pb().bytes(1, new Pb().bytes(1, "t"));
  for (let i = 0; i < n; i++) {
    scope.bytes(
      2,
      new Pb().fixed64(1, T0 + BigInt(i) * 1000n).varint(2, 9).bytes(
        5,
        new Pb().bytes(1, `msg-${i}`),
      ),
    );
  }
  return new Pb().bytes(1, new Pb().bytes(1, pbResource(service)).bytes(2, scope)).finish();
}

/**
 * ExportTraceServiceRequest { 1 ResourceSpans { 1 resource, 2 ScopeSpans { 1 scope, 2 Span {
 * 1 trace_id, 2 span_id, 5 name, 6 kind, 7 start fixed64, 8 end fixed64 } } } }
 */
export function tracesPb(n = 2, service = "checkout"): Uint8Array {
  const scope = new Pb().bytes(1, new Pb().bytes(1, "t"));
  for (let i = 0; i < n; i++) {
    const traceId = Uint8Array.from({ length: 16 }, (_, k) => k + 1);
    const spanId = Uint8Array.from({ length: 8 }, (_, k) => (k === 7 ? i + 1 : 0));
    scope.bytes(
      2,
      new Pb().bytes(1, traceId).bytes(2, spanId).bytes(5, `span-${i}`).varint(6, 2)
        .fixed64(7, T0 + BigInt(i)).fixed64(8, T0 + BigInt(i) + 5000n),
    );
  }
  return new Pb().bytes(1, new Pb().bytes(1, pbResource(service)).bytes(2, scope)).finish();
}

/**
 * ExportMetricsServiceRequest { 1 ResourceMetrics { 1 resource, 2 ScopeMetrics { 1 scope,
 * 2 Metric { 1 name, 5 gauge Gauge { 1 NumberDataPoint { 3 time fixed64, 4 as_double } } } } } }
 * with `n` valued points and `valueless` points without a value.
 */
export function metricsPb(n = 2, valueless = 0, service = "checkout"): Uint8Array {
  const gauge = new Pb();
  for (let i = 0; i < n; i++) {
    gauge.bytes(1, new Pb().fixed64(3, T0 + BigInt(i)).double(4, i + 0.5));
  }
  for (let i = 0; i < valueless; i++) gauge.bytes(1, new Pb().fixed64(3, T0 + BigInt(n + i)));
  const metric = new Pb().bytes(1, "queue.depth").bytes(5, gauge);
  const scope = new Pb().bytes(1, new Pb().bytes(1, "t")).bytes(2, metric);
  return new Pb().bytes(1, new Pb().bytes(1, pbResource(service)).bytes(2, scope)).finish();
}

// ---------------------------------------------------------------------------------------------
// Compressors (real encoders: zlib and libzstd through node:zlib)

export const gzip = (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b));
export const zlibDeflate = (b: Uint8Array) => new Uint8Array(zlib.deflateSync(b));
export const rawDeflate = (b: Uint8Array) => new Uint8Array(zlib.deflateRawSync(b));
export const zstd = (b: Uint8Array, params: Record<number, number> = {}) =>
  new Uint8Array(zlib.zstdCompressSync(b, { params }));
export const ZSTD_PARAMS = zlib.constants as unknown as Record<string, number>;

// ---------------------------------------------------------------------------------------------
// protobufjs as the oracle for response bodies

/**
 * The project's proto/ definitions with the field names as written (snake_case), from
 * tests/helpers/proto.ts: a broken or incomplete proto/ fails the tests that decode with it.
 */
export function protoRoot(): Promise<protobuf.Root> {
  return Promise.resolve(otlpProtos({ keepCase: true }));
}

export interface StatusMsg {
  code: number;
  message: string;
  details: unknown[];
}

/** A google.rpc.Status protobuf body, decoded by protobufjs. */
export async function decodeStatusPb(body: Uint8Array): Promise<StatusMsg> {
  const t = (await protoRoot()).lookupType("google.rpc.Status");
  const o = t.toObject(t.decode(body), { defaults: true, arrays: true }) as StatusMsg;
  return o;
}

/** An Export*ServiceResponse protobuf body, decoded by protobufjs (int64 as strings). */
export async function decodeExportResponsePb(
  signal: "logs" | "traces" | "metrics",
  body: Uint8Array,
): Promise<Record<string, unknown>> {
  const name = signal === "logs"
    ? "logs.v1.ExportLogsServiceResponse"
    : signal === "traces"
    ? "trace.v1.ExportTraceServiceResponse"
    : "metrics.v1.ExportMetricsServiceResponse";
  const t = (await protoRoot()).lookupType(`opentelemetry.proto.collector.${name}`);
  return t.toObject(t.decode(body), { longs: String }) as Record<string, unknown>;
}
