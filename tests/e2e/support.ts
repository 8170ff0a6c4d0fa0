/**
 * Shared pieces of the server-mode e2e suite: the expected columns of docs/schema.md (written out
 * here by hand, independently of src/), object-key checks, raw HTTP helpers, google.rpc.Status
 * decoding, a tiny protobuf writer for hand-built (and deliberately broken) requests, and a
 * second Parquet reader (hyparquet) for exact nanosecond timestamps.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parquetReadObjects } from "hyparquet";
import { decompress as zstdDecompress } from "fzstd";
import { describe, listFiles, listParquet, query, readParquet } from "../helpers/duckdb.ts";
import type { Server } from "../helpers/server.ts";
import { Pb, PbReader } from "../helpers/proto.ts";

// ---------------------------------------------------------------------------------------------
// Expected schema (docs/schema.md), as DuckDB types.

const TS = "TIMESTAMP WITH TIME ZONE";
const STR = "VARCHAR";
const MAP = "MAP(VARCHAR, VARCHAR)";
const U8 = "UTINYINT";
const U32 = "UINTEGER";
const U64 = "UBIGINT";
const I32 = "INTEGER";
const F64 = "DOUBLE";
const BOOL = "BOOLEAN";
const list = (t: string) => `${t}[]`;

type Cols = [string, string][];

const EX: Cols = [
  ["Exemplars.FilteredAttributes", list(MAP)],
  ["Exemplars.TimeUnix", list(TS)],
  ["Exemplars.Value", list(F64)],
  ["Exemplars.SpanId", list(STR)],
  ["Exemplars.TraceId", list(STR)],
];

const METRIC_COMMON: Cols = [
  ["ResourceAttributes", MAP],
  ["ResourceSchemaUrl", STR],
  ["ScopeName", STR],
  ["ScopeVersion", STR],
  ["ScopeAttributes", MAP],
  ["ScopeDroppedAttrCount", U32],
  ["ScopeSchemaUrl", STR],
  ["ServiceName", STR],
  ["MetricName", STR],
  ["MetricDescription", STR],
  ["MetricUnit", STR],
  ["Attributes", MAP],
  ["StartTimeUnix", TS],
  ["TimeUnix", TS],
];

export type Table =
  | "logs"
  | "traces"
  | "gauge"
  | "sum"
  | "histogram"
  | "exponential_histogram"
  | "summary";

export const TABLES: Table[] = [
  "logs",
  "traces",
  "gauge",
  "sum",
  "histogram",
  "exponential_histogram",
  "summary",
];

/** Default-profile columns of every table, in order, with DuckDB's type names. */
export const DEFAULT_COLUMNS: Record<Table, Cols> = {
  logs: [
    ["Timestamp", TS],
    ["TraceId", STR],
    ["SpanId", STR],
    ["TraceFlags", U8],
    ["SeverityText", STR],
    ["SeverityNumber", U8],
    ["ServiceName", STR],
    ["Body", STR],
    ["ResourceSchemaUrl", STR],
    ["ResourceAttributes", MAP],
    ["ScopeSchemaUrl", STR],
    ["ScopeName", STR],
    ["ScopeVersion", STR],
    ["ScopeAttributes", MAP],
    ["LogAttributes", MAP],
    ["EventName", STR],
  ],
  traces: [
    ["Timestamp", TS],
    ["TraceId", STR],
    ["SpanId", STR],
    ["ParentSpanId", STR],
    ["TraceState", STR],
    ["SpanName", STR],
    ["SpanKind", STR],
    ["ServiceName", STR],
    ["ResourceAttributes", MAP],
    ["ScopeName", STR],
    ["ScopeVersion", STR],
    ["SpanAttributes", MAP],
    ["Duration", U64],
    ["StatusCode", STR],
    ["StatusMessage", STR],
    ["Events.Timestamp", list(TS)],
    ["Events.Name", list(STR)],
    ["Events.Attributes", list(MAP)],
    ["Links.TraceId", list(STR)],
    ["Links.SpanId", list(STR)],
    ["Links.TraceState", list(STR)],
    ["Links.Attributes", list(MAP)],
  ],
  gauge: [...METRIC_COMMON, ["Value", F64], ["Flags", U32], ...EX],
  sum: [
    ...METRIC_COMMON,
    ["Value", F64],
    ["Flags", U32],
    ...EX,
    ["AggregationTemporality", I32],
    ["IsMonotonic", BOOL],
  ],
  histogram: [
    ...METRIC_COMMON,
    ["Count", U64],
    ["Sum", F64],
    ["BucketCounts", list(U64)],
    ["ExplicitBounds", list(F64)],
    ...EX,
    ["Flags", U32],
    ["Min", F64],
    ["Max", F64],
    ["AggregationTemporality", I32],
  ],
  exponential_histogram: [
    ...METRIC_COMMON,
    ["Count", U64],
    ["Sum", F64],
    ["Scale", I32],
    ["ZeroCount", U64],
    ["PositiveOffset", I32],
    ["PositiveBucketCounts", list(U64)],
    ["NegativeOffset", I32],
    ["NegativeBucketCounts", list(U64)],
    ...EX,
    ["Flags", U32],
    ["Min", F64],
    ["Max", F64],
    ["AggregationTemporality", I32],
  ],
  summary: [
    ...METRIC_COMMON,
    ["Count", U64],
    ["Sum", F64],
    ["ValueAtQuantiles.Quantile", list(F64)],
    ["ValueAtQuantiles.Value", list(F64)],
    ["Flags", U32],
  ],
};

const SERVICE_EXT: Cols = [["ServiceNamespace", STR], ["ServiceInstanceId", STR]];

/** Columns the extended profile appends after the default ones. */
export const EXTENDED_EXTRA: Record<Table, Cols> = {
  logs: [
    ["ObservedTimestamp", TS],
    ["DroppedAttributesCount", U32],
    ["Flags", U32],
    ...SERVICE_EXT,
  ],
  traces: [
    ["SpanFlags", U32],
    ["DroppedAttributesCount", U32],
    ["DroppedEventsCount", U32],
    ["DroppedLinksCount", U32],
    ...SERVICE_EXT,
  ],
  gauge: SERVICE_EXT,
  sum: SERVICE_EXT,
  histogram: SERVICE_EXT,
  exponential_histogram: [["ZeroThreshold", F64], ...SERVICE_EXT],
  summary: SERVICE_EXT,
};

export function tableDir(t: Table): string {
  return t === "logs" || t === "traces" ? t : `metrics/${t}`;
}

/** Time column that decides a row's hour partition. */
export function timeColumn(t: Table): string {
  return t === "logs" || t === "traces" ? "Timestamp" : "TimeUnix";
}

/** Asserts `DESCRIBE` of the files equals `expected` exactly (names, order, types). */
export async function assertColumns(files: string[], expected: Cols): Promise<void> {
  const got = (await describe(files)).map((c) => [c.name, c.type]);
  deepStrictEqual(got, expected);
}

// ---------------------------------------------------------------------------------------------
// Output files and object keys.

const KEY_RE =
  /^(logs|traces|metrics\/(?:gauge|sum|histogram|exponential_histogram|summary))\/([A-Za-z0-9._-]{1,128})\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/(\d+)-([^/]+)\.parquet$/;

export interface KeyParts {
  dir: string;
  service: string;
  year: number;
  month: number;
  day: number;
  hour: number;
  /** `{timestamp}`: epoch microseconds. */
  micros: bigint;
  id: string;
}

/** Parses an object key; throws with the key when it does not have docs/schema.md's shape. */
export function parseKey(key: string): KeyParts {
  const m = key.match(KEY_RE);
  ok(m, `object key does not match the layout of docs/schema.md: "${key}"`);
  return {
    dir: m[1],
    service: m[2],
    year: +m[3],
    month: +m[4],
    day: +m[5],
    hour: +m[6],
    micros: BigInt(m[7]),
    id: m[8],
  };
}

/** Parquet files (relative keys) of one table and one service segment. */
export async function keysOf(srv: Server, table: Table, segment: string): Promise<string[]> {
  const all = await listParquet(srv.output);
  return all.filter((k) => k.startsWith(`${tableDir(table)}/${segment}/`));
}

/** Absolute paths of the files of one table and one service segment; asserts there is one. */
export async function filesOf(srv: Server, table: Table, segment: string): Promise<string[]> {
  const keys = await keysOf(srv, table, segment);
  ok(
    keys.length > 0,
    `no ${table} file for service "${segment}" under ${srv.output}; files: ${
      JSON.stringify(await listFiles(srv.output))
    }`,
  );
  return keys.map((k) => `${srv.output}/${k}`);
}

/** Rows of the files (DuckDB, hive partition columns off). */
export async function rowsOf(
  files: string[],
  select = "*",
  tail = "",
): Promise<Record<string, unknown>[]> {
  return await query(`SELECT ${select} FROM ${readParquet(files)} ${tail}`);
}

/**
 * Checks every file's key against docs/schema.md: table dir, service segment, and the
 * year/month/day/hour and `{timestamp}` (µs) of the rows' own earliest time, read exactly.
 */
export async function assertKeys(srv: Server, table: Table, segment: string): Promise<void> {
  for (const key of await keysOf(srv, table, segment)) {
    const k = parseKey(key);
    strictEqual(k.dir, tableDir(table));
    strictEqual(k.service, segment);
    const times = (await readNs(`${srv.output}/${key}`, [timeColumn(table)])).map((r) =>
      r[timeColumn(table)] as bigint
    );
    ok(times.length > 0, `empty file ${key}`);
    const hours = new Set(times.map((t) => t / 3_600_000_000_000n));
    strictEqual(hours.size, 1, `file ${key} holds rows of ${hours.size} hours`);
    const min = times.reduce((a, b) => (b < a ? b : a));
    const d = new Date(Number(min / 1_000_000n));
    deepStrictEqual(
      [k.year, k.month, k.day, k.hour],
      [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()],
      `partition of ${key} vs earliest row time ${min}`,
    );
    strictEqual(k.micros, min / 1000n, `{timestamp} of ${key} vs earliest row time ${min} ns`);
  }
}

/** Bytes of every file under `dir`, by relative path. */
export async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const f of await listFiles(dir)) out.set(f, await Deno.readFile(`${dir}/${f}`));
  return out;
}

/** Asserts every file of `before` is still there with the same bytes. */
export async function assertIntact(dir: string, before: Map<string, Uint8Array>): Promise<void> {
  ok(before.size > 0, "snapshot is empty: nothing to compare");
  for (const [f, bytes] of before) {
    const now = await Deno.readFile(`${dir}/${f}`);
    ok(bytesEqual(now, bytes), `file ${f} changed`);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Second Parquet reader: hyparquet (+ fzstd for ZSTD pages), timestamps as bigint nanoseconds.

/** Rows of one file with `columns`, INT64 timestamps as exact `bigint` nanoseconds. */
export async function readNs(file: string, columns?: string[]): Promise<Record<string, unknown>[]> {
  const bytes = await Deno.readFile(file);
  return await parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    columns,
    compressors: { ZSTD: (input: Uint8Array) => zstdDecompress(input) },
    parsers: { timestampFromNanoseconds: (ns: bigint) => ns },
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP.

export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  ms: number;
}

/** POSTs raw bytes; headers as given (no defaults added). */
export async function post(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<Answer> {
  const t0 = performance.now();
  const r = await fetch(url, {
    method: "POST",
    headers,
    body: (typeof body === "string" ? new TextEncoder().encode(body) : body) as Uint8Array<
      ArrayBuffer
    >,
  });
  const bytes = new Uint8Array(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body: bytes, ms: performance.now() - t0 };
}

export const JSON_TYPE = { "content-type": "application/json" };
export const PROTO_TYPE = { "content-type": "application/x-protobuf" };

/** POSTs an OTLP/JSON request object. */
export function postJson(
  srv: Server,
  path: string,
  req: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return post(`${srv.url}${path}`, JSON.stringify(req), { ...JSON_TYPE, ...headers });
}

/** Asserts a 200 JSON answer that is exactly `{}` (nothing rejected). */
export function assertJsonOk(a: Answer): void {
  strictEqual(a.status, 200, `expected 200, got ${a.status}: ${text(a.body)}`);
  ok(a.headers.get("content-type")?.includes("application/json"), a.headers.get("content-type")!);
  deepStrictEqual(JSON.parse(text(a.body)), {});
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

export interface Status {
  code: number;
  message: string;
}

/**
 * Decodes a `google.rpc.Status` error body by the answer's content type: JSON
 * (`{"code":…, "message":…}`) or protobuf (1 code int32, 2 message string, 3 details Any).
 */
export function decodeStatus(a: Answer): Status {
  const type = a.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    const o = JSON.parse(text(a.body));
    ok(typeof o === "object" && o !== null && !Array.isArray(o), `not a Status: ${text(a.body)}`);
    ok(typeof o.message === "string", `Status without message: ${text(a.body)}`);
    return { code: Number(o.code ?? 0), message: o.message };
  }
  ok(type.includes("protobuf"), `error body of unknown content type "${type}": ${text(a.body)}`);
  const r = new PbReader(a.body);
  const s: Status = { code: 0, message: "" };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === 0) s.code = Number(r.varint());
    else if (field === 2 && wire === 2) s.message = text(r.bytes());
    else r.skip(wire);
  }
  return s;
}

/**
 * Asserts an error answer: its status, a `google.rpc.Status` body in `encoding` ("json" or
 * "protobuf", when the request had one) whose message is non-empty and matches `re`.
 */
export function assertError(
  a: Answer,
  status: number,
  encoding?: "json" | "protobuf",
  re?: RegExp,
): Status {
  strictEqual(a.status, status, `expected ${status}, got ${a.status}: ${text(a.body)}`);
  if (encoding) {
    const type = a.headers.get("content-type") ?? "";
    ok(
      encoding === "json" ? type.includes("json") : type.includes("protobuf"),
      `error body should be ${encoding} like the request, content-type is "${type}"`,
    );
  }
  const s = decodeStatus(a);
  ok(s.message.length > 0, "google.rpc.Status message is empty");
  if (re) ok(re.test(s.message), `message ${JSON.stringify(s.message)} does not match ${re}`);
  return s;
}

/** Asserts the server is still up: /health 200, and `good` (a fresh good request) is accepted. */
export async function assertStillUp(srv: Server, good: () => Promise<Answer>): Promise<void> {
  const h = await fetch(`${srv.url}/health`);
  await h.body?.cancel();
  strictEqual(h.status, 200);
  const a = await good();
  strictEqual(a.status, 200, `good request after the bad one: ${a.status} ${text(a.body)}`);
}

export async function gzip(data: Uint8Array | string): Promise<Uint8Array> {
  return await compress(data, "gzip");
}

export async function compress(
  data: Uint8Array | string,
  format: "gzip" | "deflate" | "deflate-raw",
): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const s = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream(format),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON builders.

/** The time of the hand-built e2e records (ns, with every digit significant). */
export const RECORD_NS = "1700000000123456789";

export type JsonAny = Record<string, unknown>;

export function kv(key: string, value: JsonAny): JsonAny {
  return { key, value };
}

export function sv(s: string): JsonAny {
  return { stringValue: s };
}

/** JSON attributes from a plain object of strings. */
export function attrs(o: Record<string, string>): JsonAny[] {
  return Object.entries(o).map(([k, v]) => kv(k, sv(v)));
}

export function resource(service: string | undefined, more: Record<string, string> = {}) {
  const a = service === undefined ? more : { "service.name": service, ...more };
  return { attributes: attrs(a) };
}

/** An ExportLogsServiceRequest with one resource, one scope and `records`. */
export function logsRequest(service: string | undefined, records: JsonAny[]) {
  return {
    resourceLogs: [{
      resource: resource(service),
      scopeLogs: [{ scope: { name: "e2e" }, logRecords: records }],
    }],
  };
}

/** An ExportMetricsServiceRequest with one resource, one scope and `metrics`. */
export function metricsRequest(service: string | undefined, metrics: JsonAny[]) {
  return {
    resourceMetrics: [{
      resource: resource(service),
      scopeMetrics: [{ scope: { name: "e2e" }, metrics }],
    }],
  };
}

/** An ExportTraceServiceRequest with one resource, one scope and `spans`. */
export function tracesRequest(service: string | undefined, spans: JsonAny[]) {
  return {
    resourceSpans: [{
      resource: resource(service),
      scopeSpans: [{ scope: { name: "e2e" }, spans }],
    }],
  };
}

/** A unique service name for one test (letters, digits and dashes: its own safe segment). */
export function uniqueService(tag: string): string {
  return `${tag}-${crypto.randomUUID().slice(0, 8)}`;
}

// ---------------------------------------------------------------------------------------------
// A tiny protobuf writer and reader (wire format only), for hand-built and broken requests.

export { Pb, PbReader };

/** KeyValue { 1 key string, 2 value AnyValue }, AnyValue { 1 string_value }. */
export function pbStringAttr(key: string, value: string): Pb {
  return new Pb().string(1, key).message(2, new Pb().string(1, value));
}

/**
 * ExportLogsServiceRequest with one ResourceLogs(service) / ScopeLogs / LogRecord, where the
 * record is built by `record` (LogRecord: 1 time_unix_nano fixed64, 2 severity_number,
 * 3 severity_text, 5 body AnyValue, 6 attributes, 11 observed_time_unix_nano fixed64).
 */
export function pbLogsRequest(service: string, record: Pb): Uint8Array {
  const res = new Pb().message(1, pbStringAttr("service.name", service));
  const scopeLogs = new Pb().message(1, new Pb().string(1, "e2e")).message(2, record);
  const rl = new Pb().message(1, res).message(2, scopeLogs);
  return new Pb().message(1, rl).finish();
}

// ---------------------------------------------------------------------------------------------
// zstd frames built by hand (RFC 8878): no zstd compressor is available to the tests.

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function zstdBlockHeader(last: boolean, type: 0 | 1, size: number): number[] {
  const h = (last ? 1 : 0) | (type << 1) | (size << 3);
  return [h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff];
}

/**
 * `data` as one zstd frame of raw (stored) blocks: Frame_Header_Descriptor 0x00 (no content
 * size, one Window_Descriptor byte), window 128 KiB (0x38), blocks of at most 128 KiB.
 */
export function zstdRaw(data: Uint8Array): Uint8Array {
  const out: number[] = [...ZSTD_MAGIC, 0x00, 0x38];
  const MAX = 128 * 1024;
  let pos = 0;
  do {
    const n = Math.min(MAX, data.length - pos);
    out.push(...zstdBlockHeader(pos + n >= data.length, 0, n));
    for (let i = 0; i < n; i++) out.push(data[pos + i]);
    pos += n;
  } while (pos < data.length);
  return Uint8Array.from(out);
}

/** A zstd bomb: RLE blocks of 128 KiB zeros, `blocks` of them (4 bytes each on the wire). */
export function zstdRleBomb(blocks: number): Uint8Array {
  const out: number[] = [...ZSTD_MAGIC, 0x00, 0x38];
  for (let i = 0; i < blocks; i++) {
    out.push(...zstdBlockHeader(i === blocks - 1, 1, 128 * 1024), 0x00);
  }
  return Uint8Array.from(out);
}
