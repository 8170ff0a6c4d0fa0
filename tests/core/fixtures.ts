/**
 * Test helpers for the decoders: protobufjs (loaded from our proto/ files) as an encoding
 * oracle, OTLP/JSON made from the same messages, and column read-back.
 */
import type protobuf from "protobufjs";
import { cat, fld, otlpProtos, protoType } from "../helpers/proto.ts";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../../src/core/columns/index.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { toRecordBatch } from "../../src/core/parquet/encode.ts";
import type { Decoded, Format } from "../../src/core/otlp/types.ts";
import type { Signal, TableBuilder, TableName } from "../../src/core/tables.ts";

const root = otlpProtos();

const TYPES: Record<Signal, protobuf.Type> = {
  logs: root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"),
  traces: root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
  metrics: root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"),
};

/**
 * A request in protobufjs object form: camelCase keys, 64-bit values as decimal strings,
 * bytes as Uint8Array, enums as numbers.
 */
// deno-lint-ignore no-explicit-any
export type Req = Record<string, any>;

/** Protobuf bytes of `req`, encoded by protobufjs. */
export function encodePb(signal: Signal, req: Req): Uint8Array {
  const T = TYPES[signal];
  const err = T.verify(T.fromObject(req));
  if (err) throw new Error(`fixture does not verify: ${err}`);
  return T.encode(T.fromObject(req)).finish();
}

const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"]);

function b64ToHex(s: string): string {
  const bin = atob(s);
  let out = "";
  for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, "0");
  return out;
}

/**
 * OTLP/JSON text of `req`: protobufjs' JSON form with ids turned into hex (as OTLP/JSON wants),
 * 64-bit integers as strings, and non-finite doubles as "NaN"/"Infinity"/"-Infinity".
 * `hexIds: false` keeps the ids in base64, as some other tools write them.
 */
export function toOtlpJson(signal: Signal, req: Req, opts: { hexIds?: boolean } = {}): string {
  const T = TYPES[signal];
  const obj = T.toObject(T.fromObject(req), { longs: String, enums: Number, bytes: String });
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = ID_KEYS.has(k) && typeof x === "string" && opts.hexIds !== false
          ? b64ToHex(x)
          : walk(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(
    walk(obj),
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
  );
}

export const RECEIVED = 1_700_000_000_123_456_789n;

export function dec(
  signal: Signal,
  body: Uint8Array | string,
  format: Format = "protobuf",
): Decoded {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return decode(signal, bytes, format, { receivedAtNs: RECEIVED });
}

const td = new TextDecoder();

/** The values of a column, one entry per row, in plain JS form. */
export function values(c: Column): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < c.length; i++) out.push(valueAt(c, i));
  return out;
}

function valueAt(c: Column, i: number): unknown {
  if (c instanceof Utf8Col) return td.decode(c.data.subarray(c.offsets[i], c.offsets[i + 1]));
  if (c instanceof I64Col) return (BigInt(c.hi(i)) << 32n) | BigInt(c.lo(i));
  if (c instanceof NumCol) return c.values[i];
  if (c instanceof BoolCol) return c.values[i] === 1;
  if (c instanceof MapCol) {
    const out: [string, string][] = [];
    for (let j = c.offsets[i]; j < c.offsets[i + 1]; j++) {
      out.push([valueAt(c.keys, j) as string, valueAt(c.values, j) as string]);
    }
    return out;
  }
  if (c instanceof ListCol) {
    const out: unknown[] = [];
    for (let j = c.offsets[i]; j < c.offsets[i + 1]; j++) out.push(valueAt(c.child, j));
    return out;
  }
  throw new Error("unknown column kind");
}

/** Every column of a table (extended profile) as name → values. */
export function readTable(t: TableBuilder): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [name, c] of t.columns("extended")) out[name] = values(c);
  return out;
}

/** The table named `name` of a decode result (throws if absent). */
export function table(d: Decoded, name: TableName): Record<string, unknown[]> {
  const t = d.tables.find((x) => x.table === name);
  if (!t) throw new Error(`no ${name} table in the result (have ${d.tables.map((x) => x.table)})`);
  t.assertAligned();
  // Every column must also convert to Arrow data.
  for (const [, c] of t.columns("extended")) c.toData();
  return readTable(t);
}

/** Bytes of the given hex string. */
export function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

/** Row `i` of a read-back table as column → value. */
export function row(t: Record<string, unknown[]>, i: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) out[k] = v[i];
  return out;
}

// Hand-made protobuf (for field orders and encodings protobufjs does not produce).
export { cat, fld, protoType };

/** The rows of a table as Arrow reads them back (toRecordBatch, extended), one JSON line each. */
export function recordBatchRows(t: TableBuilder): string[] {
  const batch = toRecordBatch(t, "extended");
  const out: string[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    out.push(
      JSON.stringify(batch.get(i)?.toJSON(), (_k, v) => (typeof v === "bigint" ? `${v}n` : v)),
    );
  }
  return out;
}
