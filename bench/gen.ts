/**
 * Seeded generator of realistic OTLP export requests, for the benchmarks and their tests.
 *
 *   const req = generate("logs", { records: 10_000, seed: 1 });
 *   const pb = toProtobuf("logs", req);   // ExportLogsServiceRequest bytes
 *   const js = toJSON(req);               // the same request as OTLP/JSON text
 *
 * A request is built once as an OTLP/JSON-shaped object (lowerCamelCase keys, hex trace/span
 * ids, 64-bit integers as decimal strings, enums as integers) and serialised two ways: as JSON
 * text, and as protobuf by a small schema-driven encoder below (fields written in field-number
 * order, proto3 defaults omitted, packed repeated scalars), so both encodings carry exactly the
 * same data. The generator is deterministic for a seed: no clock, no Math.random.
 *
 * What the data looks like:
 * - logs: a few services (resource attributes like an SDK sends), one or two scopes each,
 *   ~10 attributes of mixed types per record, 100–300 byte bodies, trace context on half of
 *   the records, severities weighted towards INFO.
 * - traces: traces of 3–12 spans with parent links, all span kinds, ~8 attributes, 0–3 events,
 *   links on ~1 in 10 spans, status mostly unset, some OK, ~5% errors with a message.
 * - metrics: all five kinds (gauge, sum, histogram, exponential histogram, summary), several
 *   time series per metric with their own attributes, exemplars on some points; `records`
 *   counts data points.
 */

export type GenSignal = "logs" | "traces" | "metrics";
export type MetricKind = "gauge" | "sum" | "histogram" | "exponentialHistogram" | "summary";
export const METRIC_KINDS: readonly MetricKind[] = [
  "gauge",
  "sum",
  "histogram",
  "exponentialHistogram",
  "summary",
];

export interface GenOptions {
  /** Records per request: log records, spans or metric data points (1 to 10,000 or more). */
  records: number;
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Distinct services (resources). Default 3. */
  services?: number;
  /** Time of the first record, epoch ns. Default 2025-03-14T09:26:53Z. */
  baseTimeNs?: bigint;
  /** Seconds the records' times spread over (an SDK batch covers seconds). Default 10. */
  spanSeconds?: number;
  /** Metric kinds to generate (metrics only). Default all five. */
  metricKinds?: readonly MetricKind[];
}

// deno-lint-ignore no-explicit-any
export type Json = any;

/** sfc32: small, fast, good enough, and the same sequence everywhere for a seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.float() * xs.length)];
  }
  hex(bytes: number): string {
    let s = "";
    for (let i = 0; i < bytes; i++) s += (this.u32() & 0xff).toString(16).padStart(2, "0");
    return s;
  }
}

const DEFAULT_BASE_NS = 1741944413_000_000_000n; // 2025-03-14T09:26:53Z

const SERVICES = [
  "checkout",
  "frontend",
  "payment-service",
  "inventory",
  "auth",
  "recommendation",
  "shipping",
  "email",
];
const HOSTS = ["ip-10-0-1-17", "ip-10-0-2-33", "ip-10-0-3-4", "node-a7f3", "node-b19c"];
const ENVS = ["production", "staging"];
const WORDS = (
  "request handled user order payment cart item inventory stock checkout session token cache " +
  "database query timeout retry upstream downstream latency connection pool worker queue " +
  "message publish consume batch flush write read commit rollback transaction shipment address " +
  "validate failed succeeded started completed received sent processed accepted rejected"
).split(" ");
const ROUTES = [
  "/api/cart",
  "/api/checkout",
  "/api/orders/{id}",
  "/api/products",
  "/health",
  "/login",
];
const METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const SEVERITIES: [number, string][] = [
  [5, "DEBUG"],
  [9, "INFO"],
  [9, "INFO"],
  [9, "INFO"],
  [9, "INFO"],
  [9, "INFO"],
  [13, "WARN"],
  [17, "ERROR"],
];
const SPAN_NAMES = [
  "GET /api/cart",
  "POST /api/checkout",
  "SELECT orders",
  "INSERT order_items",
  "redis GET",
  "publish order.created",
  "process order.created",
  "grpc.PaymentService/Charge",
  "render template",
  "http.client GET",
];

const str = (v: string) => ({ stringValue: v });
const int = (v: number | bigint) => ({ intValue: String(v) });
const dbl = (v: number) => ({ doubleValue: v });
const bool = (v: boolean) => ({ boolValue: v });
const kv = (key: string, value: Json) => ({ key, value });

function sentence(r: Rng, minBytes: number, maxBytes: number): string {
  const target = r.int(minBytes, maxBytes);
  let s = "";
  while (s.length < target) {
    const w = r.chance(0.1) ? String(r.int(0, 99999)) : r.pick(WORDS);
    s += s === "" ? w[0].toUpperCase() + w.slice(1) : " " + w;
    if (r.chance(0.04)) s += " user=\u00e9l\u00e8ve-" + r.int(1, 500); // some non-ASCII
  }
  return s.slice(0, target);
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function resource(r: Rng, service: string, i: number): Json {
  return {
    attributes: [
      kv("service.name", str(service)),
      kv("service.version", str(`1.${i}.${r.int(0, 20)}`)),
      kv("service.namespace", str("shop")),
      kv("service.instance.id", str(r.hex(8) + "-" + r.hex(4))),
      kv("host.name", str(r.pick(HOSTS))),
      kv("deployment.environment", str(r.pick(ENVS))),
      kv("process.pid", int(r.int(1000, 65000))),
      kv("telemetry.sdk.name", str("opentelemetry")),
      kv("telemetry.sdk.language", str(r.pick(["nodejs", "go", "java", "python"]))),
      kv("telemetry.sdk.version", str("1.30.0")),
    ],
  };
}

function scope(r: Rng, name: string): Json {
  const s: Json = { name, version: `0.${r.int(40, 60)}.0` };
  if (r.chance(0.3)) s.attributes = [kv("otel.scope.kind", str("auto"))];
  return s;
}

/** Splits `n` records over `parts` groups (each ≥ 1 while n allows), deterministically. */
function split(r: Rng, n: number, parts: number): number[] {
  const k = Math.max(1, Math.min(parts, n));
  const out = new Array(k).fill(0);
  for (let i = 0; i < n; i++) out[i < k ? i : r.int(0, k - 1)]++;
  return out;
}

/** Time of record `i` of `n`: increasing, spread over `o.spanSeconds` from `o.baseTimeNs`. */
function timeAt(o: Required<GenOptions>, i: number, r: Rng): bigint {
  const base = o.baseTimeNs, n = o.records;
  const spanNs = o.spanSeconds * 1e9;
  const step = Math.floor(spanNs / Math.max(n, 1));
  return base + BigInt(i * step + r.int(0, Math.max(0, step - 1)));
}

function logAttributes(r: Rng): Json[] {
  const a = [
    kv("http.request.method", str(r.pick(METHODS))),
    kv("http.route", str(r.pick(ROUTES))),
    kv("http.response.status_code", int(r.pick([200, 200, 200, 201, 204, 400, 404, 500]))),
    kv("user.id", str(`user-${r.int(1, 5000)}`)),
    kv("duration_ms", dbl(Math.round(r.float() * 250_000) / 1000)),
    kv("cache.hit", bool(r.chance(0.6))),
    kv("retry.count", int(r.int(0, 3))),
    kv("thread.name", str(`worker-${r.int(1, 16)}`)),
    kv("code.filepath", str(`src/handlers/${r.pick(WORDS)}.ts`)),
    kv("request.size", int(r.int(0, 1 << 20))),
  ];
  if (r.chance(0.1)) a.push(kv("tags", { arrayValue: { values: [str("a"), str("b"), int(3)] } }));
  if (r.chance(0.05)) {
    const b = new Uint8Array(8);
    for (let i = 0; i < 8; i++) b[i] = r.int(0, 255);
    a.push(kv("payload.digest", { bytesValue: base64(b) }));
  }
  // Attributes arrive in no particular order.
  for (let i = a.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function genLogs(r: Rng, o: Required<GenOptions>): Json {
  const perService = split(r, o.records, o.services);
  let i = 0;
  return {
    resourceLogs: perService.map((count, s) => ({
      resource: resource(r, SERVICES[s % SERVICES.length], s),
      scopeLogs: split(r, count, 1 + (s % 2)).map((c, si) => ({
        scope: scope(r, si === 0 ? "app.logger" : "http.access"),
        logRecords: Array.from({ length: c }, () => {
          const t = timeAt(o, i++, r);
          const [sn, st] = r.pick(SEVERITIES);
          const rec: Json = {
            timeUnixNano: String(t),
            observedTimeUnixNano: String(t + BigInt(r.int(100_000, 5_000_000))),
            severityNumber: sn,
            severityText: st,
            body: str(sentence(r, 100, 300)),
            attributes: logAttributes(r),
          };
          if (r.chance(0.5)) {
            rec.traceId = r.hex(16);
            rec.spanId = r.hex(8);
            rec.flags = 1;
          }
          if (r.chance(0.05)) rec.eventName = "app.order.placed";
          return rec;
        }),
      })),
      schemaUrl: "https://opentelemetry.io/schemas/1.26.0",
    })),
  };
}

function spanAttributes(r: Rng, kind: number): Json[] {
  const a = [
    kv("http.request.method", str(r.pick(METHODS))),
    kv("http.route", str(r.pick(ROUTES))),
    kv("http.response.status_code", int(r.pick([200, 200, 201, 404, 500]))),
    kv("net.peer.name", str(r.pick(HOSTS))),
    kv("net.peer.port", int(r.pick([443, 8080, 5432, 6379]))),
    kv("user_agent.original", str("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")),
    kv("sampled", bool(true)),
    kv("load", dbl(Math.round(r.float() * 1000) / 100)),
  ];
  if (kind === 3 && r.chance(0.5)) {
    a.push(kv("db.statement", str("SELECT * FROM orders WHERE id = $1")));
  }
  return a;
}

function genTraces(r: Rng, o: Required<GenOptions>): Json {
  const perService = split(r, o.records, o.services);
  let i = 0;
  return {
    resourceSpans: perService.map((count, s) => ({
      resource: resource(r, SERVICES[s % SERVICES.length], s),
      scopeSpans: split(r, count, 1 + (s % 2)).map((c, si) => {
        const spans: Json[] = [];
        while (spans.length < c) {
          const traceId = r.hex(16);
          const size = Math.min(r.int(3, 12), c - spans.length);
          const ids: string[] = [];
          const t0 = timeAt(o, i, r);
          for (let k = 0; k < size; k++) {
            i++;
            const spanId = r.hex(8);
            const kind = k === 0 ? 2 : r.int(0, 5);
            const start = t0 + BigInt(k * r.int(10_000, 2_000_000));
            const dur = BigInt(r.int(5_000, 900_000_000));
            const span: Json = {
              traceId,
              spanId,
              name: r.pick(SPAN_NAMES),
              kind,
              startTimeUnixNano: String(start),
              endTimeUnixNano: String(start + dur),
              attributes: spanAttributes(r, kind),
            };
            if (k > 0) span.parentSpanId = r.pick(ids);
            if (r.chance(0.1)) span.traceState = "rojo=00f067aa0ba902b7";
            span.flags = 0x101;
            const ne = r.int(0, 3);
            if (ne > 0) {
              span.events = Array.from({ length: ne }, (_, e) => {
                const ev: Json = {
                  timeUnixNano: String(start + BigInt(e * 1000 + r.int(0, 999))),
                  name: r.pick(["exception", "message", "cache.miss", "retry"]),
                };
                const na = r.int(0, 3);
                if (na > 0) {
                  ev.attributes = Array.from(
                    { length: na },
                    (_, x) =>
                      kv(`event.attr${x}`, x === 1 ? int(r.int(0, 1000)) : str(r.pick(WORDS))),
                  );
                }
                return ev;
              });
            }
            if (r.chance(0.1)) {
              span.links = Array.from({ length: r.int(1, 2) }, () => {
                const l: Json = { traceId: r.hex(16), spanId: r.hex(8) };
                if (r.chance(0.5)) l.attributes = [kv("link.kind", str("follows_from"))];
                if (r.chance(0.2)) l.traceState = "congo=t61rcWkgMzE";
                return l;
              });
            }
            const st = r.float();
            if (st < 0.05) span.status = { code: 2, message: `upstream ${r.pick(WORDS)} failed` };
            else if (st < 0.2) span.status = { code: 1 };
            ids.push(spanId);
            spans.push(span);
          }
        }
        return { scope: scope(r, si === 0 ? "@opentelemetry/instrumentation-http" : "app"), spans };
      }),
      schemaUrl: "https://opentelemetry.io/schemas/1.26.0",
    })),
  };
}

function pointAttributes(series: number): Json[] {
  return [
    kv("http.route", str(ROUTES[series % ROUTES.length])),
    kv("http.request.method", str(METHODS[series % METHODS.length])),
    kv("http.response.status_code", int([200, 404, 500][series % 3])),
    kv("region", str(["eu-west-1", "us-east-1"][series % 2])),
  ];
}

function exemplars(r: Rng, t: bigint, asInt: boolean): Json[] | undefined {
  if (!r.chance(0.3)) return undefined;
  return Array.from({ length: r.int(1, 2) }, () => {
    const e: Json = {
      timeUnixNano: String(t - BigInt(r.int(0, 1_000_000_000))),
      spanId: r.hex(8),
      traceId: r.hex(16),
    };
    if (asInt) e.asInt = String(r.int(0, 100_000));
    else e.asDouble = Math.round(r.float() * 1e6) / 1000;
    if (r.chance(0.5)) e.filteredAttributes = [kv("user.id", str(`user-${r.int(1, 5000)}`))];
    return e;
  });
}

function genPoint(r: Rng, kind: MetricKind, start: bigint, t: bigint, series: number): Json {
  const p: Json = {
    attributes: pointAttributes(series),
    startTimeUnixNano: String(start),
    timeUnixNano: String(t),
  };
  switch (kind) {
    case "gauge":
      p.asDouble = Math.round(r.float() * 1e5) / 100;
      p.exemplars = exemplars(r, t, false);
      break;
    case "sum":
      p.asInt = String(r.int(0, 2_000_000_000) * 1000 + series);
      p.exemplars = exemplars(r, t, true);
      break;
    case "histogram": {
      const bounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 1000];
      const counts = bounds.map(() => r.int(0, 500));
      counts.push(r.int(0, 20));
      const count = counts.reduce((a, b) => a + b, 0);
      p.count = String(count);
      p.sum = Math.round(count * r.float() * 200_000) / 1000;
      p.bucketCounts = counts.map(String);
      p.explicitBounds = bounds;
      p.exemplars = exemplars(r, t, false);
      p.min = 0.125;
      p.max = Math.round(r.float() * 2e6) / 1000;
      break;
    }
    case "exponentialHistogram": {
      const pos = Array.from({ length: r.int(8, 20) }, () => String(r.int(0, 300)));
      p.scale = r.int(-2, 6);
      p.zeroCount = String(r.int(0, 5));
      p.positive = { offset: r.int(-5, 20), bucketCounts: pos };
      if (r.chance(0.2)) p.negative = { offset: r.int(-3, 3), bucketCounts: ["1", "0", "2"] };
      let count = Number(p.zeroCount);
      for (const c of pos) count += Number(c);
      if (p.negative) count += 3;
      p.count = String(count);
      p.sum = Math.round(count * r.float() * 50_000) / 1000;
      p.exemplars = exemplars(r, t, false);
      p.min = 0.001;
      p.max = Math.round(r.float() * 1e6) / 1000;
      if (r.chance(0.5)) p.zeroThreshold = 1e-9;
      break;
    }
    case "summary": {
      const qs = [0, 0.5, 0.9, 0.99, 1];
      let v = r.float();
      p.count = String(r.int(1, 100_000));
      p.sum = Math.round(r.float() * 1e7) / 100;
      p.quantileValues = qs.map((quantile) => {
        v += r.float() * 100;
        return { quantile, value: Math.round(v * 1000) / 1000 };
      });
      break;
    }
  }
  if (r.chance(0.02)) p.flags = 1;
  if (p.exemplars === undefined) delete p.exemplars;
  return p;
}

const METRIC_NAMES: Record<MetricKind, [string, string, string][]> = {
  gauge: [["process.memory.usage", "Process memory", "By"], ["system.cpu.utilization", "CPU", "1"]],
  sum: [["http.server.requests", "Requests served", "{request}"], [
    "db.client.operations",
    "",
    "1",
  ]],
  histogram: [["http.server.request.duration", "Request duration", "ms"], [
    "rpc.client.duration",
    "",
    "ms",
  ]],
  exponentialHistogram: [["http.client.request.body.size", "Body size", "By"]],
  summary: [["jvm.gc.pause", "GC pause", "ms"]],
};

function genMetrics(r: Rng, o: Required<GenOptions>): Json {
  const perService = split(r, o.records, o.services);
  const kinds = o.metricKinds;
  let i = 0;
  return {
    resourceMetrics: perService.map((count, s) => {
      const metrics: Json[] = [];
      let left = count;
      let m = 0;
      while (left > 0) {
        const kind = kinds[m % kinds.length];
        const [name, description, unit] =
          METRIC_NAMES[kind][(m / kinds.length | 0) % METRIC_NAMES[kind].length];
        // Up to 12 series per metric, then a few collection intervals of each.
        const series = r.int(4, 12);
        const points = Math.min(left, series * r.int(1, 10));
        const t0 = timeAt(o, i, r);
        const start = o.baseTimeNs - 3_600_000_000_000n;
        const dataPoints = Array.from({ length: points }, (_, k) => {
          i++;
          return genPoint(
            r,
            kind,
            start,
            t0 + BigInt(Math.floor(k / series) * 10_000_000_000),
            k % series,
          );
        });
        left -= points;
        const metric: Json = { name: `${name}`, description, unit };
        if (kind === "gauge" || kind === "summary") metric[kind] = { dataPoints };
        else if (kind === "sum") {
          metric.sum = { dataPoints, aggregationTemporality: 2, isMonotonic: true };
        } else metric[kind] = { dataPoints, aggregationTemporality: kind === "histogram" ? 2 : 1 };
        if (description === "") delete metric.description;
        metrics.push(metric);
        m++;
      }
      return {
        resource: resource(r, SERVICES[s % SERVICES.length], s),
        scopeMetrics: [{ scope: scope(r, "app.metrics"), metrics, schemaUrl: "" }],
        schemaUrl: "https://opentelemetry.io/schemas/1.26.0",
      };
    }),
  };
}

/** A request object (OTLP/JSON shape) with exactly `opts.records` records. */
export function generate(signal: GenSignal, opts: GenOptions): Json {
  if (!Number.isInteger(opts.records) || opts.records < 1) {
    throw new RangeError(
      `Cannot generate a request: records must be an integer ≥ 1, got "${opts.records}"`,
    );
  }
  const o: Required<GenOptions> = {
    records: opts.records,
    seed: opts.seed ?? 1,
    services: opts.services ?? 3,
    baseTimeNs: opts.baseTimeNs ?? DEFAULT_BASE_NS,
    spanSeconds: opts.spanSeconds ?? 10,
    metricKinds: opts.metricKinds ?? METRIC_KINDS,
  };
  const r = new Rng(o.seed);
  if (signal === "logs") return genLogs(r, o);
  if (signal === "traces") return genTraces(r, o);
  return genMetrics(r, o);
}

/** Records in a request object (log records, spans, data points). */
export function countRecords(signal: GenSignal, req: Json): number {
  let n = 0;
  if (signal === "logs") {
    for (const rl of req.resourceLogs) for (const sl of rl.scopeLogs) n += sl.logRecords.length;
  } else if (signal === "traces") {
    for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  } else {
    for (const rm of req.resourceMetrics) {
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          for (const k of METRIC_KINDS) if (m[k]) n += m[k].dataPoints.length;
        }
      }
    }
  }
  return n;
}

/** OTLP/JSON text of a request object. */
export function toJSON(req: Json): string {
  return JSON.stringify(req);
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding, driven by a field table of the OTLP messages (opentelemetry-proto v1.x):
//   [jsonKey, fieldNumber, type, (message name | "packed")?]
// Types: str, hexid (bytes from hex), b64 (bytes from base64), u32/i32/enum (varint), si32
// (zigzag), bool, f64 (double), fx32 (fixed32), fx64 (fixed64 from a decimal string), sfx64
// (sfixed64 from a decimal string), i64 (varint int64 from a decimal string), u64 (varint uint64
// from a decimal string), msg. A leading "?" in the key marks a field with presence (oneof or
// proto3 `optional`): written even when it holds the default value.
// ---------------------------------------------------------------------------------------------

type FieldType =
  | "str"
  | "hexid"
  | "b64"
  | "u32"
  | "i32"
  | "enum"
  | "si32"
  | "bool"
  | "f64"
  | "fx32"
  | "fx64"
  | "sfx64"
  | "i64"
  | "u64"
  | "msg";
type Field = [key: string, no: number, type: FieldType, sub?: string];

const MESSAGES: Record<string, Field[]> = {
  // common.proto
  AnyValue: [
    ["?stringValue", 1, "str"],
    ["?boolValue", 2, "bool"],
    ["?intValue", 3, "i64"],
    ["?doubleValue", 4, "f64"],
    ["?arrayValue", 5, "msg", "ArrayValue"],
    ["?kvlistValue", 6, "msg", "KeyValueList"],
    ["?bytesValue", 7, "b64"],
  ],
  ArrayValue: [["values", 1, "msg", "AnyValue"]],
  KeyValueList: [["values", 1, "msg", "KeyValue"]],
  KeyValue: [["key", 1, "str"], ["value", 2, "msg", "AnyValue"]],
  InstrumentationScope: [
    ["name", 1, "str"],
    ["version", 2, "str"],
    ["attributes", 3, "msg", "KeyValue"],
    ["droppedAttributesCount", 4, "u32"],
  ],
  Resource: [["attributes", 1, "msg", "KeyValue"], ["droppedAttributesCount", 2, "u32"]],
  // logs.proto
  ExportLogsServiceRequest: [["resourceLogs", 1, "msg", "ResourceLogs"]],
  ResourceLogs: [
    ["resource", 1, "msg", "Resource"],
    ["scopeLogs", 2, "msg", "ScopeLogs"],
    ["schemaUrl", 3, "str"],
  ],
  ScopeLogs: [
    ["scope", 1, "msg", "InstrumentationScope"],
    ["logRecords", 2, "msg", "LogRecord"],
    ["schemaUrl", 3, "str"],
  ],
  LogRecord: [
    ["timeUnixNano", 1, "fx64"],
    ["severityNumber", 2, "enum"],
    ["severityText", 3, "str"],
    ["body", 5, "msg", "AnyValue"],
    ["attributes", 6, "msg", "KeyValue"],
    ["droppedAttributesCount", 7, "u32"],
    ["flags", 8, "fx32"],
    ["traceId", 9, "hexid"],
    ["spanId", 10, "hexid"],
    ["observedTimeUnixNano", 11, "fx64"],
    ["eventName", 12, "str"],
  ],
  // trace.proto
  ExportTraceServiceRequest: [["resourceSpans", 1, "msg", "ResourceSpans"]],
  ResourceSpans: [
    ["resource", 1, "msg", "Resource"],
    ["scopeSpans", 2, "msg", "ScopeSpans"],
    ["schemaUrl", 3, "str"],
  ],
  ScopeSpans: [
    ["scope", 1, "msg", "InstrumentationScope"],
    ["spans", 2, "msg", "Span"],
    ["schemaUrl", 3, "str"],
  ],
  Span: [
    ["traceId", 1, "hexid"],
    ["spanId", 2, "hexid"],
    ["traceState", 3, "str"],
    ["parentSpanId", 4, "hexid"],
    ["name", 5, "str"],
    ["kind", 6, "enum"],
    ["startTimeUnixNano", 7, "fx64"],
    ["endTimeUnixNano", 8, "fx64"],
    ["attributes", 9, "msg", "KeyValue"],
    ["droppedAttributesCount", 10, "u32"],
    ["events", 11, "msg", "Event"],
    ["droppedEventsCount", 12, "u32"],
    ["links", 13, "msg", "Link"],
    ["droppedLinksCount", 14, "u32"],
    ["status", 15, "msg", "Status"],
    ["flags", 16, "fx32"],
  ],
  Event: [
    ["timeUnixNano", 1, "fx64"],
    ["name", 2, "str"],
    ["attributes", 3, "msg", "KeyValue"],
    ["droppedAttributesCount", 4, "u32"],
  ],
  Link: [
    ["traceId", 1, "hexid"],
    ["spanId", 2, "hexid"],
    ["traceState", 3, "str"],
    ["attributes", 4, "msg", "KeyValue"],
    ["droppedAttributesCount", 5, "u32"],
    ["flags", 6, "fx32"],
  ],
  Status: [["message", 2, "str"], ["code", 3, "enum"]],
  // metrics.proto
  ExportMetricsServiceRequest: [["resourceMetrics", 1, "msg", "ResourceMetrics"]],
  ResourceMetrics: [
    ["resource", 1, "msg", "Resource"],
    ["scopeMetrics", 2, "msg", "ScopeMetrics"],
    ["schemaUrl", 3, "str"],
  ],
  ScopeMetrics: [
    ["scope", 1, "msg", "InstrumentationScope"],
    ["metrics", 2, "msg", "Metric"],
    ["schemaUrl", 3, "str"],
  ],
  Metric: [
    ["name", 1, "str"],
    ["description", 2, "str"],
    ["unit", 3, "str"],
    ["?gauge", 5, "msg", "Gauge"],
    ["?sum", 7, "msg", "Sum"],
    ["?histogram", 9, "msg", "Histogram"],
    ["?exponentialHistogram", 10, "msg", "ExponentialHistogram"],
    ["?summary", 11, "msg", "Summary"],
  ],
  Gauge: [["dataPoints", 1, "msg", "NumberDataPoint"]],
  Sum: [
    ["dataPoints", 1, "msg", "NumberDataPoint"],
    ["aggregationTemporality", 2, "enum"],
    ["isMonotonic", 3, "bool"],
  ],
  Histogram: [
    ["dataPoints", 1, "msg", "HistogramDataPoint"],
    ["aggregationTemporality", 2, "enum"],
  ],
  ExponentialHistogram: [
    ["dataPoints", 1, "msg", "ExponentialHistogramDataPoint"],
    ["aggregationTemporality", 2, "enum"],
  ],
  Summary: [["dataPoints", 1, "msg", "SummaryDataPoint"]],
  NumberDataPoint: [
    ["startTimeUnixNano", 2, "fx64"],
    ["timeUnixNano", 3, "fx64"],
    ["?asDouble", 4, "f64"],
    ["exemplars", 5, "msg", "Exemplar"],
    ["?asInt", 6, "sfx64"],
    ["attributes", 7, "msg", "KeyValue"],
    ["flags", 8, "u32"],
  ],
  HistogramDataPoint: [
    ["startTimeUnixNano", 2, "fx64"],
    ["timeUnixNano", 3, "fx64"],
    ["count", 4, "fx64"],
    ["?sum", 5, "f64"],
    ["bucketCounts", 6, "fx64", "packed"],
    ["explicitBounds", 7, "f64", "packed"],
    ["exemplars", 8, "msg", "Exemplar"],
    ["attributes", 9, "msg", "KeyValue"],
    ["flags", 10, "u32"],
    ["?min", 11, "f64"],
    ["?max", 12, "f64"],
  ],
  ExponentialHistogramDataPoint: [
    ["attributes", 1, "msg", "KeyValue"],
    ["startTimeUnixNano", 2, "fx64"],
    ["timeUnixNano", 3, "fx64"],
    ["count", 4, "fx64"],
    ["?sum", 5, "f64"],
    ["scale", 6, "si32"],
    ["zeroCount", 7, "fx64"],
    ["positive", 8, "msg", "Buckets"],
    ["negative", 9, "msg", "Buckets"],
    ["flags", 10, "u32"],
    ["exemplars", 11, "msg", "Exemplar"],
    ["?min", 12, "f64"],
    ["?max", 13, "f64"],
    ["zeroThreshold", 14, "f64"],
  ],
  Buckets: [["offset", 1, "si32"], ["bucketCounts", 2, "u64", "packed"]],
  SummaryDataPoint: [
    ["startTimeUnixNano", 2, "fx64"],
    ["timeUnixNano", 3, "fx64"],
    ["count", 4, "fx64"],
    ["sum", 5, "f64"],
    ["quantileValues", 6, "msg", "ValueAtQuantile"],
    ["attributes", 7, "msg", "KeyValue"],
    ["flags", 8, "u32"],
  ],
  ValueAtQuantile: [["quantile", 1, "f64"], ["value", 2, "f64"]],
  Exemplar: [
    ["timeUnixNano", 2, "fx64"],
    ["?asDouble", 3, "f64"],
    ["spanId", 4, "hexid"],
    ["traceId", 5, "hexid"],
    ["?asInt", 6, "sfx64"],
    ["filteredAttributes", 7, "msg", "KeyValue"],
  ],
};

const WIRE: Record<FieldType, number> = {
  str: 2,
  hexid: 2,
  b64: 2,
  u32: 0,
  i32: 0,
  enum: 0,
  si32: 0,
  bool: 0,
  f64: 1,
  fx32: 5,
  fx64: 1,
  sfx64: 1,
  i64: 0,
  u64: 0,
  msg: 2,
};

/** Growable protobuf writer; nested messages are length-prefixed when they end. */
export class PbWriter {
  buf = new Uint8Array(1 << 16);
  pos = 0;
  private stack: number[] = [];
  private dv = new DataView(this.buf.buffer);
  private static readonly te = new TextEncoder();

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf); // all of it: string() writes past `pos` before fixing its prefix
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** Unsigned varint of a non-negative integer < 2^53. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** Varint of a 64-bit value (two's complement for negatives: ten bytes). */
  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(no: number, wire: number): void {
    this.varint(no * 8 + wire);
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  fixed64(v: bigint): void {
    this.ensure(8);
    this.dv.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  double(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    this.ensure(s.length * 3 + 5);
    // Write the bytes after a 1-byte length guess, then fix the prefix if it is longer.
    const start = this.pos + 1;
    const { written } = PbWriter.te.encodeInto(s, this.buf.subarray(start));
    this.finishPrefixed(start, written);
  }

  /** Begins a length-delimited nested message (the length is written by `end()`). */
  begin(): void {
    this.ensure(1);
    this.pos += 1; // room for a one-byte length, the common case
    this.stack.push(this.pos);
  }

  end(): void {
    const start = this.stack.pop()!;
    this.finishPrefixed(start, this.pos - start);
  }

  /** `len` bytes of content sit at `start`, with one byte reserved before them for the length. */
  private finishPrefixed(start: number, len: number): void {
    let size = 1;
    for (let v = len; v >= 0x80; v = Math.floor(v / 128)) size++;
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(start + size - 1, start, start + len);
    }
    this.pos = start - 1;
    this.varint(len);
    this.pos += len;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function b64Bytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function isDefault(type: FieldType, v: Json): boolean {
  switch (type) {
    case "str":
    case "hexid":
    case "b64":
      return v === "";
    case "bool":
      return v === false;
    case "fx64":
    case "sfx64":
    case "i64":
    case "u64":
      return v === "0" || v === 0;
    case "msg":
      return false;
    default:
      return v === 0 && !Object.is(v, -0);
  }
}

function writeScalar(w: PbWriter, type: FieldType, v: Json): void {
  switch (type) {
    case "str":
      return w.string(v);
    case "hexid":
      return w.bytes(hexBytes(v));
    case "b64":
      return w.bytes(b64Bytes(v));
    case "u32":
    case "enum":
      return w.varint(v >>> 0);
    case "i32":
      return v < 0 ? w.varint64(BigInt(v)) : w.varint(v);
    case "si32":
      return w.varint(v < 0 ? -2 * v - 1 : 2 * v);
    case "bool":
      return w.varint(v ? 1 : 0);
    case "f64":
      return w.double(v);
    case "fx32":
      return w.fixed32(v);
    case "fx64":
    case "sfx64":
      return w.fixed64(BigInt(v));
    case "i64":
    case "u64":
      return w.varint64(BigInt(v));
    case "msg":
      throw new TypeError("internal: writeScalar called for a message");
  }
}

function writeMessage(w: PbWriter, name: string, obj: Json): void {
  const fields = MESSAGES[name];
  if (!fields) throw new TypeError(`Cannot encode: unknown message "${name}"`);
  for (const [rawKey, no, type, sub] of fields) {
    const present = rawKey[0] === "?";
    const key = present ? rawKey.slice(1) : rawKey;
    const v = obj[key];
    if (v === undefined || v === null) continue;
    if (type === "msg") {
      for (const m of Array.isArray(v) ? v : [v]) {
        w.tag(no, 2);
        w.begin();
        writeMessage(w, sub!, m);
        w.end();
      }
    } else if (Array.isArray(v)) {
      if (v.length === 0) continue;
      if (sub === "packed") {
        w.tag(no, 2);
        w.begin();
        for (const x of v) writeScalar(w, type, x);
        w.end();
      } else {
        for (const x of v) {
          w.tag(no, WIRE[type]);
          writeScalar(w, type, x);
        }
      }
    } else {
      if (!present && isDefault(type, v)) continue;
      w.tag(no, WIRE[type]);
      writeScalar(w, type, v);
    }
  }
}

const REQUEST_MESSAGE: Record<GenSignal, string> = {
  logs: "ExportLogsServiceRequest",
  traces: "ExportTraceServiceRequest",
  metrics: "ExportMetricsServiceRequest",
};

/** Protobuf bytes (Export*ServiceRequest) of a request object. */
export function toProtobuf(signal: GenSignal, req: Json): Uint8Array {
  const w = new PbWriter();
  writeMessage(w, REQUEST_MESSAGE[signal], req);
  return w.finish();
}

export interface GeneratedRequest {
  signal: GenSignal;
  records: number;
  /** The request object (OTLP/JSON shape). */
  request: Json;
  protobuf: Uint8Array;
  json: string;
  jsonBytes: Uint8Array;
}

/** Generates one request and both of its encodings. */
export function generateRequest(signal: GenSignal, opts: GenOptions): GeneratedRequest {
  const request = generate(signal, opts);
  const json = toJSON(request);
  return {
    signal,
    records: countRecords(signal, request),
    request,
    protobuf: toProtobuf(signal, request),
    json,
    jsonBytes: new TextEncoder().encode(json),
  };
}
