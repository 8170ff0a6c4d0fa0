/**
 * OTLP/JSON and JSONL → protobuf bytes, which then go through the protobuf decoders: one set of
 * column semantics for both encodings, so the same data gives identical columns.
 *
 * OTLP/JSON (the protobuf JSON mapping, with OTLP's exceptions): lowerCamelCase keys (the
 * snake_case proto names are accepted too), unknown keys ignored, null = absent; trace/span ids
 * as hex (base64 accepted, as other tools write it); enums as integers or names
 * (`SEVERITY_NUMBER_INFO`, `SPAN_KIND_SERVER`, ...); 64-bit integers as decimal strings or
 * numbers (strings parsed exactly); bytes as base64 (standard or URL-safe); doubles as numbers or
 * "NaN"/"Infinity"/"-Infinity". Everything that could fail is checked here, so errors name the
 * JSON path: `resourceLogs[0].scopeLogs[1].logRecords[3].timeUnixNano: expected ...`.
 *
 * JSONL: one Export*ServiceRequest per non-empty line. Concatenated protobuf messages of one type
 * merge into one (repeated fields append), so all lines become one protobuf request.
 *
 * The message tables below are the wire format: [json name, field number, kind, sub-message].
 */
import { quoteBigIntegers } from "./json-bigint.ts";
import { ByteSink } from "./anyvalue.ts";
import type { Signal } from "../tables.ts";
import { utf8ErrorAt } from "../proto/reader.ts";
import { DecodeError } from "./types.ts";

export type Kind =
  | "string"
  | "bytes"
  | "fixed64"
  | "sfixed64"
  | "fixed32"
  | "uint32"
  | "sint32"
  | "bool"
  | "double"
  | "enum"
  | "id16"
  | "id8"
  | "any"
  | "message";

export interface Field {
  json: string;
  snake: string;
  no: number;
  kind: Kind;
  repeated: boolean;
  msg?: Message;
  names?: Record<string, number>;
}

/** The fields of a message, and each field by its JSON name and by its proto (snake_case) name. */
export type Message = Field[] & { byName: Map<string, Field> };

type Spec = [json: string, no: number, kind: Kind, sub?: Message | Record<string, number>];

/** Builds a message table; a kind ending in `[]` is repeated. */
function msg(...specs: Spec[]): Message {
  const fields = specs.map(([json, no, kind, sub]): Field => {
    const repeated = kind.endsWith("[]");
    return {
      json,
      snake: json.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()),
      no,
      kind: (repeated ? kind.slice(0, -2) : kind) as Kind,
      repeated,
      msg: Array.isArray(sub) ? sub : undefined,
      names: sub && !Array.isArray(sub) ? sub as Record<string, number> : undefined,
    };
  });
  const byName = new Map<string, Field>();
  for (const f of fields) byName.set(f.json, f).set(f.snake, f);
  return Object.assign(fields, { byName });
}

/** Enum names → numbers: PREFIX_X = i for the names given in order. */
function names(prefix: string, list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  list.forEach((n, i) => (out[prefix + n] = i));
  return out;
}

const SEVERITY: Record<string, number> = names("SEVERITY_NUMBER_", [
  "UNSPECIFIED",
  ...["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].flatMap((
    l,
  ) => [l, l + "2", l + "3", l + "4"]),
]);
const SPAN_KIND = names("SPAN_KIND_", [
  "UNSPECIFIED",
  "INTERNAL",
  "SERVER",
  "CLIENT",
  "PRODUCER",
  "CONSUMER",
]);
const STATUS_CODE = names("STATUS_CODE_", ["UNSET", "OK", "ERROR"]);
const TEMPORALITY = names("AGGREGATION_TEMPORALITY_", ["UNSPECIFIED", "DELTA", "CUMULATIVE"]);

// common.proto (AnyValue is handled in code: a oneof, nested, with a depth limit)
const KeyValue = msg(["key", 1, "string"], ["value", 2, "any"]);
const Resource = msg(["attributes", 1, "message[]" as Kind, KeyValue], [
  "droppedAttributesCount",
  2,
  "uint32",
]);
const Scope = msg(
  ["name", 1, "string"],
  ["version", 2, "string"],
  ["attributes", 3, "message[]" as Kind, KeyValue],
  ["droppedAttributesCount", 4, "uint32"],
);

// logs.proto
const LogRecord = msg(
  ["timeUnixNano", 1, "fixed64"],
  ["observedTimeUnixNano", 11, "fixed64"],
  ["severityNumber", 2, "enum", SEVERITY],
  ["severityText", 3, "string"],
  ["body", 5, "any"],
  ["attributes", 6, "message[]" as Kind, KeyValue],
  ["droppedAttributesCount", 7, "uint32"],
  ["flags", 8, "fixed32"],
  ["traceId", 9, "id16"],
  ["spanId", 10, "id8"],
  ["eventName", 12, "string"],
);

// trace.proto
const SpanEvent = msg(
  ["timeUnixNano", 1, "fixed64"],
  ["name", 2, "string"],
  ["attributes", 3, "message[]" as Kind, KeyValue],
  ["droppedAttributesCount", 4, "uint32"],
);
const SpanLink = msg(
  ["traceId", 1, "id16"],
  ["spanId", 2, "id8"],
  ["traceState", 3, "string"],
  ["attributes", 4, "message[]" as Kind, KeyValue],
  ["droppedAttributesCount", 5, "uint32"],
  ["flags", 6, "fixed32"],
);
const Status = msg(["message", 2, "string"], ["code", 3, "enum", STATUS_CODE]);
const Span = msg(
  ["traceId", 1, "id16"],
  ["spanId", 2, "id8"],
  ["traceState", 3, "string"],
  ["parentSpanId", 4, "id8"],
  ["flags", 16, "fixed32"],
  ["name", 5, "string"],
  ["kind", 6, "enum", SPAN_KIND],
  ["startTimeUnixNano", 7, "fixed64"],
  ["endTimeUnixNano", 8, "fixed64"],
  ["attributes", 9, "message[]" as Kind, KeyValue],
  ["droppedAttributesCount", 10, "uint32"],
  ["events", 11, "message[]" as Kind, SpanEvent],
  ["droppedEventsCount", 12, "uint32"],
  ["links", 13, "message[]" as Kind, SpanLink],
  ["droppedLinksCount", 14, "uint32"],
  ["status", 15, "message", Status],
);

// metrics.proto
const Exemplar = msg(
  ["filteredAttributes", 7, "message[]" as Kind, KeyValue],
  ["timeUnixNano", 2, "fixed64"],
  ["asDouble", 3, "double"],
  ["asInt", 6, "sfixed64"],
  ["spanId", 4, "id8"],
  ["traceId", 5, "id16"],
);
const NumberDataPoint = msg(
  ["attributes", 7, "message[]" as Kind, KeyValue],
  ["startTimeUnixNano", 2, "fixed64"],
  ["timeUnixNano", 3, "fixed64"],
  ["asDouble", 4, "double"],
  ["asInt", 6, "sfixed64"],
  ["exemplars", 5, "message[]" as Kind, Exemplar],
  ["flags", 8, "uint32"],
);
const HistogramDataPoint = msg(
  ["attributes", 9, "message[]" as Kind, KeyValue],
  ["startTimeUnixNano", 2, "fixed64"],
  ["timeUnixNano", 3, "fixed64"],
  ["count", 4, "fixed64"],
  ["sum", 5, "double"],
  ["bucketCounts", 6, "fixed64[]" as Kind],
  ["explicitBounds", 7, "double[]" as Kind],
  ["exemplars", 8, "message[]" as Kind, Exemplar],
  ["flags", 10, "uint32"],
  ["min", 11, "double"],
  ["max", 12, "double"],
);
const Buckets = msg(["offset", 1, "sint32"], ["bucketCounts", 2, "uint64[]" as Kind]);
const ExponentialHistogramDataPoint = msg(
  ["attributes", 1, "message[]" as Kind, KeyValue],
  ["startTimeUnixNano", 2, "fixed64"],
  ["timeUnixNano", 3, "fixed64"],
  ["count", 4, "fixed64"],
  ["sum", 5, "double"],
  ["scale", 6, "sint32"],
  ["zeroCount", 7, "fixed64"],
  ["positive", 8, "message", Buckets],
  ["negative", 9, "message", Buckets],
  ["flags", 10, "uint32"],
  ["exemplars", 11, "message[]" as Kind, Exemplar],
  ["min", 12, "double"],
  ["max", 13, "double"],
  ["zeroThreshold", 14, "double"],
);
const ValueAtQuantile = msg(["quantile", 1, "double"], ["value", 2, "double"]);
const SummaryDataPoint = msg(
  ["attributes", 7, "message[]" as Kind, KeyValue],
  ["startTimeUnixNano", 2, "fixed64"],
  ["timeUnixNano", 3, "fixed64"],
  ["count", 4, "fixed64"],
  ["sum", 5, "double"],
  ["quantileValues", 6, "message[]" as Kind, ValueAtQuantile],
  ["flags", 8, "uint32"],
);
const Metric = msg(
  ["name", 1, "string"],
  ["description", 2, "string"],
  ["unit", 3, "string"],
  ["gauge", 5, "message", msg(["dataPoints", 1, "message[]" as Kind, NumberDataPoint])],
  [
    "sum",
    7,
    "message",
    msg(
      ["dataPoints", 1, "message[]" as Kind, NumberDataPoint],
      ["aggregationTemporality", 2, "enum", TEMPORALITY],
      ["isMonotonic", 3, "bool"],
    ),
  ],
  [
    "histogram",
    9,
    "message",
    msg(
      ["dataPoints", 1, "message[]" as Kind, HistogramDataPoint],
      ["aggregationTemporality", 2, "enum", TEMPORALITY],
    ),
  ],
  [
    "exponentialHistogram",
    10,
    "message",
    msg(
      ["dataPoints", 1, "message[]" as Kind, ExponentialHistogramDataPoint],
      ["aggregationTemporality", 2, "enum", TEMPORALITY],
    ),
  ],
  ["summary", 11, "message", msg(["dataPoints", 1, "message[]" as Kind, SummaryDataPoint])],
);

/** Export*ServiceRequest → Resource* → Scope* → records. */
function request(resources: string, scopes: string, records: string, record: Message): Message {
  const scopeMsg = msg(
    ["scope", 1, "message", Scope],
    [records, 2, "message[]" as Kind, record],
    ["schemaUrl", 3, "string"],
  );
  const resourceMsg = msg(
    ["resource", 1, "message", Resource],
    [scopes, 2, "message[]" as Kind, scopeMsg],
    ["schemaUrl", 3, "string"],
  );
  return msg([resources, 1, "message[]" as Kind, resourceMsg]);
}

const REQUESTS: Record<Signal, { name: string; fields: Message }> = {
  logs: {
    name: "ExportLogsServiceRequest",
    fields: request("resourceLogs", "scopeLogs", "logRecords", LogRecord),
  },
  traces: {
    name: "ExportTraceServiceRequest",
    fields: request("resourceSpans", "scopeSpans", "spans", Span),
  },
  metrics: {
    name: "ExportMetricsServiceRequest",
    fields: request("resourceMetrics", "scopeMetrics", "metrics", Metric),
  },
};

/** The message table of a signal's request (the wire format, for ../../forward/json.ts). */
export function requestFields(signal: Signal): Message {
  return REQUESTS[signal].fields;
}

/** The protobuf name of a signal's request message. */
export function requestName(signal: Signal): string {
  return REQUESTS[signal].name;
}

/** A problem at the current JSON path (turned into a DecodeError at the top). */
class JsonProblem extends Error {}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** Writes protobuf from OTLP/JSON values, tracking the JSON path for error messages. */
class Transcoder {
  readonly out = new ByteSink();
  /** JSON path of the value being converted: keys and array indices. */
  readonly path: (string | number)[] = [];
  lo = 0;
  hi = 0;

  constructor(readonly maxDepth: number) {}

  pathText(): string {
    let s = "";
    for (const p of this.path) s += typeof p === "number" ? `[${p}]` : (s ? "." : "") + p;
    return s;
  }

  problem(expected: string, v: unknown): never {
    throw new JsonProblem(`expected ${expected}, got ${describe(v)}`);
  }

  // ---- protobuf writing

  varint(lo: number, hi: number): void {
    const o = this.out;
    while (hi !== 0 || lo > 0x7f) {
      o.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    o.byte(lo);
  }

  tag(no: number, wireType: number): void {
    this.varint(((no << 3) | wireType) >>> 0, 0);
  }

  fixed32(v: number): void {
    const o = this.out;
    o.byte(v & 0xff);
    o.byte((v >>> 8) & 0xff);
    o.byte((v >>> 16) & 0xff);
    o.byte(v >>> 24);
  }

  double(x: number): void {
    f64[0] = x;
    this.out.bytes(f64Bytes, 0, 8);
  }

  /** Starts a length-delimited field; its length is patched in by `end()`. */
  begin(no: number): number {
    this.tag(no, 2);
    this.out.ensure(5);
    this.out.n += 5;
    return this.out.n;
  }

  /** Writes the length of the field begun at `at` as a 5-byte varint (padding is valid protobuf). */
  end(at: number): void {
    const n = this.out.n - at;
    const b = this.out.buf;
    b[at - 5] = (n & 0x7f) | 0x80;
    b[at - 4] = ((n >>> 7) & 0x7f) | 0x80;
    b[at - 3] = ((n >>> 14) & 0x7f) | 0x80;
    b[at - 2] = ((n >>> 21) & 0x7f) | 0x80;
    b[at - 1] = (n >>> 28) & 0x7f;
  }

  // ---- JSON reading

  obj(v: unknown): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.problem("an object", v);
    return v as Record<string, unknown>;
  }

  /** Writes the fields of message `fields` from the JSON object `v`. */
  message(fields: Message, v: unknown): void {
    const o = this.obj(v);
    // The object's keys (unknown ones skipped), not the table's: fewer lookups.
    for (const key in o) {
      const f = fields.byName.get(key);
      if (f === undefined) continue;
      const x = o[key];
      if (x === undefined || x === null) continue;
      this.path.push(f.json);
      if (f.repeated) {
        if (!Array.isArray(x)) this.problem("an array", x);
        if (f.kind === "message") {
          for (let i = 0; i < x.length; i++) {
            this.path.push(i);
            const at = this.begin(f.no);
            this.message(f.msg!, x[i]);
            this.end(at);
            this.path.pop();
          }
        } else this.packed(f, x);
      } else this.field(f, x);
      this.path.pop();
    }
  }

  private field(f: Field, x: unknown): void {
    switch (f.kind) {
      case "string": {
        if (typeof x !== "string") this.problem("a string", x);
        const at = this.begin(f.no);
        this.out.utf8(x);
        this.end(at);
        return;
      }
      case "fixed64":
        this.u64(x);
        this.tag(f.no, 1);
        this.fixed32(this.lo);
        this.fixed32(this.hi);
        return;
      case "sfixed64":
        this.i64(x);
        this.tag(f.no, 1);
        this.fixed32(this.lo);
        this.fixed32(this.hi);
        return;
      case "fixed32":
        this.tag(f.no, 5);
        this.fixed32(this.u32(x));
        return;
      case "uint32":
        this.tag(f.no, 0);
        this.varint(this.u32(x), 0);
        return;
      case "sint32": {
        const v = this.i32(x);
        this.tag(f.no, 0);
        this.varint(((v << 1) ^ (v >> 31)) >>> 0, 0);
        return;
      }
      case "bool":
        if (typeof x !== "boolean") this.problem("true or false", x);
        this.tag(f.no, 0);
        this.varint(x ? 1 : 0, 0);
        return;
      case "double":
        this.tag(f.no, 1);
        this.double(this.dbl(x));
        return;
      case "enum": {
        let v: number;
        if (typeof x === "string" && Object.hasOwn(f.names!, x)) v = f.names![x];
        else if (typeof x === "number" || (typeof x === "string" && /^-?\d+$/.test(x))) {
          v = this.i32(x);
        } else {
          return this.problem(`an enum number or one of ${Object.keys(f.names!).join(", ")}`, x);
        }
        this.tag(f.no, 0);
        this.varint(v >>> 0, v < 0 ? 0xffffffff : 0);
        return;
      }
      case "id16":
      case "id8":
        return this.id(f.no, x, f.kind === "id16" ? 16 : 8);
      case "any": {
        const at = this.begin(f.no);
        this.anyValue(x, 1);
        this.end(at);
        return;
      }
      case "message": {
        const at = this.begin(f.no);
        this.message(f.msg!, x);
        this.end(at);
        return;
      }
      default:
        throw new Error(`internal: field kind ${f.kind}`);
    }
  }

  /** A repeated number field, written packed. */
  private packed(f: Field, x: unknown[]): void {
    const at = this.begin(f.no);
    for (let i = 0; i < x.length; i++) {
      this.path.push(i);
      if (f.kind === "double") this.double(this.dbl(x[i]));
      else {
        this.u64(x[i]);
        if (f.kind === "fixed64") {
          this.fixed32(this.lo);
          this.fixed32(this.hi);
        } else this.varint(this.lo, this.hi); // uint64
      }
      this.path.pop();
    }
    this.end(at);
  }

  /** AnyValue at nesting level `depth` (1 for an attribute value or a body). */
  private anyValue(v: unknown, depth: number): void {
    if (depth > this.maxDepth) {
      throw new JsonProblem(`AnyValue nested deeper than the limit of ${this.maxDepth} levels`);
    }
    if (v === null || v === undefined) return; // empty value
    const o = this.obj(v);
    const pick = (camel: string, snake: string): unknown => {
      const x = o[camel] ?? o[snake];
      if (x !== undefined && x !== null) this.path.push(camel);
      return x;
    };
    let x: unknown;
    // The usual value first, without the lookups below.
    if (typeof (x = o.stringValue) === "string") {
      this.path.push("stringValue");
      this.field(STRING_VALUE, x);
      this.path.pop();
      return;
    }
    if ((x = pick("stringValue", "string_value")) != null) {
      this.field(STRING_VALUE, x);
    } else if ((x = pick("boolValue", "bool_value")) != null) {
      this.field(BOOL_VALUE, x);
    } else if ((x = pick("intValue", "int_value")) != null) {
      this.i64(x);
      this.tag(3, 0);
      this.varint(this.lo, this.hi);
    } else if ((x = pick("doubleValue", "double_value")) != null) {
      this.field(DOUBLE_VALUE, x);
    } else if ((x = pick("arrayValue", "array_value")) != null) {
      const at = this.begin(5);
      this.list(this.obj(x), (item) => {
        const e = this.begin(1);
        this.anyValue(item, depth + 1);
        this.end(e);
      });
      this.end(at);
    } else if ((x = pick("kvlistValue", "kvlist_value")) != null) {
      const at = this.begin(6);
      this.list(this.obj(x), (item) => {
        const kv = this.obj(item);
        const e = this.begin(1);
        const key = kv.key;
        if (key !== undefined && key !== null) {
          this.path.push("key");
          this.field(KEY, key);
          this.path.pop();
        }
        const value = kv.value;
        if (value !== undefined && value !== null) {
          this.path.push("value");
          const ve = this.begin(2);
          this.anyValue(value, depth + 1);
          this.end(ve);
          this.path.pop();
        }
        this.end(e);
      });
      this.end(at);
    } else if ((x = pick("bytesValue", "bytes_value")) != null) {
      const bytes = this.base64(x);
      const at = this.begin(7);
      this.out.bytes(bytes, 0, bytes.length);
      this.end(at);
    } else return; // no known member: an empty value
    this.path.pop();
  }

  /** The `values` array of an ArrayValue / KeyValueList. */
  private list(o: Record<string, unknown>, each: (item: unknown) => void): void {
    const values = o.values;
    if (values === undefined || values === null) return;
    this.path.push("values");
    if (!Array.isArray(values)) this.problem("an array", values);
    for (let i = 0; i < values.length; i++) {
      this.path.push(i);
      each(values[i]);
      this.path.pop();
    }
    this.path.pop();
  }

  private id(no: number, x: unknown, size: number): void {
    if (typeof x !== "string") this.problem(`a ${2 * size}-digit hex id`, x);
    if (x.length === 0) return;
    const at = this.begin(no);
    const mark = this.out.n;
    const o = this.out;
    if (x.length === 2 * size && hexBytes(x, o)) {
      // written by hexBytes
    } else {
      let b: Uint8Array | null = null;
      if (x.length <= 4 * Math.ceil(size / 3)) {
        try {
          b = this.base64(x);
        } catch { /* reported below */ }
      }
      this.out.n = mark; // drop what a failed hex parse wrote
      if (b === null || b.length !== size) {
        this.problem(`${2 * size} hex digits (or base64 of ${size} bytes)`, x);
      }
      o.bytes(b, 0, size);
    }
    this.end(at);
  }

  private base64(x: unknown): Uint8Array {
    if (typeof x !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(x) || x.length % 4 === 1) {
      return this.problem("base64", x);
    }
    const std = x.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    const bin = atob(std + "===".slice(0, (4 - (std.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  /** An unsigned 64-bit integer (string or number) into `lo`/`hi`. */
  private u64(x: unknown): void {
    this.int(x, false, "an unsigned 64-bit integer (string or number)");
  }

  /** A signed 64-bit integer into `lo`/`hi` (two's complement). */
  private i64(x: unknown): void {
    this.int(x, true, "a 64-bit integer (string or number)");
  }

  /**
   * A 64-bit integer into `lo`/`hi` (two's complement when negative): decimal strings are
   * parsed digit by digit into the halves, exactly; numbers are taken as they are (integer
   * literals of 16+ digits reach here as strings: see ./json-bigint.ts).
   */
  private int(x: unknown, signed: boolean, expected: string): void {
    let neg = false, lo = 0, hi = 0;
    if (typeof x === "number" && Number.isInteger(x) && (x >= 0 || signed)) {
      neg = x < 0;
      const a = Math.abs(x);
      if (a >= 18446744073709551616) return this.problem(expected, x);
      hi = Math.floor(a / 4294967296);
      lo = a - hi * 4294967296;
    } else if (typeof x === "string" && x.length > 0 && x.length <= 21) {
      let i = 0;
      if (x.charCodeAt(0) === 0x2d && signed) {
        neg = true;
        i = 1;
      }
      if (i === x.length) return this.problem(expected, x);
      for (; i < x.length; i++) {
        const d = x.charCodeAt(i) - 48;
        if (d < 0 || d > 9) return this.problem(expected, x);
        // (hi, lo) = (hi, lo) * 10 + d, exact: every product stays below 2^53.
        const l = lo * 10 + d;
        const carry = Math.floor(l / 4294967296);
        lo = l - carry * 4294967296;
        hi = hi * 10 + carry;
        if (hi >= 4294967296) return this.problem(expected, x);
      }
    } else return this.problem(expected, x);
    if (signed) {
      // |v| ≤ 2^63 when negative, < 2^63 otherwise.
      if (hi > 0x80000000 || (hi === 0x80000000 && (lo !== 0 || !neg))) this.problem(expected, x);
    }
    if (neg && (lo !== 0 || hi !== 0)) {
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
  }

  private u32(x: unknown): number {
    const v = typeof x === "string" && /^\d{1,10}$/.test(x) ? Number(x) : x;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      this.problem("an unsigned 32-bit integer", x);
    }
    return v;
  }

  private i32(x: unknown): number {
    const v = typeof x === "string" && /^-?\d{1,10}$/.test(x) ? Number(x) : x;
    if (typeof v !== "number" || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      this.problem("a 32-bit integer", x);
    }
    return v;
  }

  private dbl(x: unknown): number {
    if (typeof x === "number") return x;
    if (typeof x === "string") {
      if (x === "NaN") return NaN;
      if (x === "Infinity") return Infinity;
      if (x === "-Infinity") return -Infinity;
      if (x.trim() !== "" && /^[-+0-9.eE]+$/.test(x) && !Number.isNaN(Number(x))) return Number(x);
    }
    return this.problem(`a number (or "NaN", "Infinity", "-Infinity")`, x);
  }
}

const [STRING_VALUE, BOOL_VALUE, DOUBLE_VALUE] = msg(
  ["stringValue", 1, "string"],
  ["boolValue", 2, "bool"],
  ["doubleValue", 4, "double"],
);
const KEY = KeyValue[0];

/** Writes the bytes of the hex string `x` to `o`; false (partly written) at a non-hex digit. */
function hexBytes(x: string, o: ByteSink): boolean {
  for (let i = 0; i < x.length; i += 2) {
    const a = hexDigit(x.charCodeAt(i)), b = hexDigit(x.charCodeAt(i + 1));
    if ((a | b) < 0) return false;
    o.byte((a << 4) | b);
  }
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20; // lower case
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

const decoder = new TextDecoder();

/**
 * Converts an OTLP/JSON (`json`) or JSONL (`jsonl`) body of `signal` into protobuf bytes of
 * its Export*ServiceRequest. Throws `DecodeError` naming the JSON path (and line, for JSONL).
 */
export function jsonToProtobuf(
  signal: Signal,
  body: Uint8Array,
  format: "json" | "jsonl",
  maxDepth: number,
): Uint8Array {
  const { name, fields } = REQUESTS[signal];
  const fail = (detail: string): never => {
    throw new DecodeError(`Cannot decode ${name}: ${detail}`);
  };
  // A replacing decoder is three times faster than a fatal one; invalid UTF-8 becomes U+FFFD,
  // so only a text holding U+FFFD (which valid UTF-8 may also encode) needs the exact check.
  const text = decoder.decode(body);
  if (text.includes("\uFFFD")) {
    const bad = utf8ErrorAt(body, 0, body.length);
    if (bad >= 0) fail(`invalid UTF-8 in JSON at byte ${bad}`);
  }
  const t = new Transcoder(maxDepth);
  const one = (json: string, where: string) => {
    let v: unknown;
    try {
      v = JSON.parse(quoteBigIntegers(json));
    } catch (e) {
      if (e instanceof RangeError) fail(`${where}JSON nested too deeply`);
      fail(`${where}invalid JSON: ${(e as Error).message}`);
    }
    t.path.length = 0;
    try {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        fail(`${where}expected a JSON object, got ${describe(v)}`);
      }
      t.message(fields, v);
    } catch (e) {
      if (e instanceof JsonProblem) {
        const p = t.pathText();
        fail(`${where}${p ? p + ": " : ""}${e.message}`);
      }
      if (e instanceof RangeError) fail(`${where}${t.pathText()}: nested too deeply`);
      throw e;
    }
  };
  if (format === "json") one(text, "");
  else {
    let start = 0, line = 1;
    while (start <= text.length) {
      let nl = text.indexOf("\n", start);
      if (nl < 0) nl = text.length;
      const s = text.slice(start, nl);
      if (s.trim() !== "") one(s, `line ${line}: `);
      start = nl + 1;
      line++;
    }
  }
  return t.out.buf.subarray(0, t.out.n);
}
