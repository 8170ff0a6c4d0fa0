/**
 * OTLP request bodies → column builders. This is the folder's entry: `decode()` and
 * `detectSignal()`.
 *
 * Protobuf goes straight into columns: ./envelope.ts walks the resources, scopes and records
 * once for every signal, and the record decoders (./logs.ts, ./traces.ts, ./metrics.ts) read
 * their own messages, with ./context.ts (the decode context: reader, scratch, ids),
 * ./attr-row.ts (attributes sorted into maps), ./anyvalue.ts (AnyValue as text),
 * ./resource-cache.ts (resources seen before), ./scratch.ts (objects pooled across requests)
 * and ./sizing.ts (builders sized from the last request). OTLP/JSON and JSONL are converted to
 * protobuf first (./json.ts), so both encodings share one set of column semantics.
 */
import type { Signal } from "../tables.ts";
import { utf8ErrorAt, WireReader } from "../proto/reader.ts";
import { eachRecord } from "./envelope.ts";
import { jsonToProtobuf } from "./json.ts";
import { decodeLogsProto } from "./logs.ts";
import { decodeMetricsProto } from "./metrics.ts";
import { decodeTracesProto } from "./traces.ts";
import type { Decoded, DecodeOptions, Format } from "./types.ts";

export { DecodeError } from "./types.ts";
export type { Decoded, DecodeOptions, Format } from "./types.ts";

const PROTO = {
  logs: decodeLogsProto,
  traces: decodeTracesProto,
  metrics: decodeMetricsProto,
};

/** Decodes an Export{Logs,Trace,Metrics}ServiceRequest body. Throws `DecodeError`. */
export function decode(
  signal: Signal,
  body: Uint8Array,
  format: Format,
  opts: DecodeOptions,
): Decoded {
  const pb = format === "protobuf"
    ? body
    : jsonToProtobuf(signal, body, format, opts.maxDepth ?? 64);
  const d = PROTO[signal](pb, opts);
  for (const t of d.tables) t.assertAligned();
  return d;
}

/** The signal of a request body (for `convert`), or null when it cannot be told. */
export function detectSignal(body: Uint8Array, format: Format): Signal | null {
  return format === "protobuf" ? detectProtobuf(body) : detectJson(body, format);
}

const JSON_KEYS: [string, Signal][] = [
  ["resourceLogs", "logs"],
  ["resource_logs", "logs"],
  ["resourceSpans", "traces"],
  ["resource_spans", "traces"],
  ["resourceMetrics", "metrics"],
  ["resource_metrics", "metrics"],
];

/** JSON: the top-level `resourceLogs` / `resourceSpans` / `resourceMetrics` key (first line of JSONL). */
function detectJson(body: Uint8Array, format: Format): Signal | null {
  if (utf8ErrorAt(body, 0, body.length) >= 0) return null;
  let text = new TextDecoder().decode(body);
  if (format === "jsonl") {
    text = text.split("\n").find((l) => l.trim() !== "") ?? "";
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  for (const [k, s] of JSON_KEYS) if (k in v) return s;
  return null;
}

const LOGS = 1, TRACES = 2, METRICS = 4;
const SIGNALS: Record<number, Signal> = {
  [LOGS]: "logs",
  [TRACES]: "traces",
  [METRICS]: "metrics",
};
/** Records `detectProtobuf` looks at, at the most. */
const MAX_SNIFFED_RECORDS = 100;

/**
 * Expected wire type per field number of a record, and the length an id field must have
 * (0: any), or whether it is a string (-1).
 *   LogRecord: 1 fixed64, 2 varint, 3 string, 5/6 message, 7 varint, 8 fixed32, 9 bytes(16),
 *              10 bytes(8), 11 fixed64, 12 string
 *   Span:      1 bytes(16), 2 bytes(8), 3 string, 4 bytes(8), 5 string, 6 varint, 7/8 fixed64,
 *              9 message, 10 varint, 11 message, 12 varint, 13 message, 14 varint, 15 message,
 *              16 fixed32
 *   Metric:    1/2/3 string, 5/7/9/10/11 message (one of them is required), 12 message
 */
const RECORD_FIELDS: [number, Record<number, [wireType: number, len: number]>][] = [
  [LOGS, {
    1: [1, 0],
    2: [0, 0],
    3: [2, -1],
    5: [2, 0],
    6: [2, 0],
    7: [0, 0],
    8: [5, 0],
    9: [2, 16],
    10: [2, 8],
    11: [1, 0],
    12: [2, -1],
  }],
  [TRACES, {
    1: [2, 16],
    2: [2, 8],
    3: [2, -1],
    4: [2, 8],
    5: [2, -1],
    6: [0, 0],
    7: [1, 0],
    8: [1, 0],
    9: [2, 0],
    10: [0, 0],
    11: [2, 0],
    12: [0, 0],
    13: [2, 0],
    14: [0, 0],
    15: [2, 0],
    16: [5, 0],
  }],
  [METRICS, {
    1: [2, -1],
    2: [2, -1],
    3: [2, -1],
    5: [2, 0],
    7: [2, 0],
    9: [2, 0],
    10: [2, 0],
    11: [2, 0],
    12: [2, 0],
  }],
];

/** Which signals the record message `[s, e)` could belong to (bit set; 0 if it fits none). */
function recordSignals(r: WireReader, s: number, e: number): number {
  let mask = LOGS | TRACES | METRICS;
  let metricData = false;
  r.pos = s;
  while (r.pos < e) {
    const tag = r.tag(e);
    const no = tag >>> 3, wt = tag & 7;
    let fs = -1, fe = -1;
    if (wt === 2) {
      fe = r.bytes(e);
      fs = r.start;
    } else r.skip(tag, e);
    if (wt === 2 && (no === 5 || no === 7 || no >= 9 && no <= 11)) metricData = true;
    for (const [bit, fields] of RECORD_FIELDS) {
      const f = fields[no];
      if (f === undefined || f[0] !== wt) mask &= ~bit;
      else if (f[1] > 0 && fe - fs !== f[1] && fe !== fs) mask &= ~bit;
      else if (f[1] < 0 && utf8ErrorAt(r.buf, fs, fe) >= 0) mask &= ~bit;
    }
  }
  // A Metric always carries its data (gauge, sum, ...); without it, a record is not a Metric.
  return metricData ? mask : mask & ~METRICS;
}

/**
 * Protobuf: every request is `1: Resource*`, `2: Scope*`, `2: record`, so the records decide:
 * a LogRecord's field 1 is a fixed64, a Span's fields 1/2 are 16/8-byte ids, a Metric's
 * field 1 is a name string followed by data fields 5/7/9/10/11. Looks at records until one
 * signal is left (at most 100 records).
 */
function detectProtobuf(body: Uint8Array): Signal | null {
  const r = new WireReader(body, "request");
  let candidates = LOGS | TRACES | METRICS, seen = 0;
  let found: Signal | null = null;
  try {
    eachRecord(r, (s, e) => {
      const m = e > s ? recordSignals(r, s, e) : 0;
      if (m !== 0) candidates &= m;
      found = SIGNALS[candidates] ?? null;
      return found === null && candidates !== 0 && ++seen < MAX_SNIFFED_RECORDS;
    }, true); // only field 1 (resource_*) exists in a request
  } catch {
    return null;
  }
  return found;
}
