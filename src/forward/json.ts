/**
 * Protobuf → OTLP/JSON, for `protocol = "http/json"` destinations of requests that came as
 * protobuf: a walk of the wire format over the message tables of ../core/otlp/json.ts (the
 * same tables that turn OTLP/JSON into protobuf, so both directions agree field by field).
 *
 * The OTLP/JSON mapping: lowerCamelCase keys, trace and span ids as hex, 64-bit integers as
 * decimal strings, enums as integers, bytes as base64, doubles as numbers (NaN and the
 * infinities as strings); AnyValue as { stringValue | boolValue | intValue | doubleValue |
 * arrayValue | kvlistValue | bytesValue }. Unknown fields are skipped. The input was decoded by
 * this server already, so a malformed body (which never gets here) only fails with a message.
 */
import { type Field, type Message, requestFields } from "../core/otlp/json.ts";
import type { Signal } from "../core/tables.ts";

const utf8 = new TextDecoder();
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  varint(): bigint {
    let lo = 0, shift = 0;
    // Fast path: up to 28 bits.
    for (; shift < 28; shift += 7) {
      const c = this.byte();
      lo |= (c & 0x7f) << shift;
      if (c < 0x80) return BigInt(lo >>> 0);
    }
    let v = BigInt(lo >>> 0);
    let s = BigInt(shift);
    for (;;) {
      const c = this.byte();
      v |= BigInt(c & 0x7f) << s;
      if (c < 0x80) return BigInt.asUintN(64, v);
      s += 7n;
      if (s > 70n) throw new Error(`varint too long at byte ${this.pos}`);
    }
  }
  small(): number {
    return Number(this.varint());
  }
  byte(): number {
    if (this.pos >= this.b.length) throw new Error(`truncated at byte ${this.pos}`);
    return this.b[this.pos++];
  }
  fixed64(): bigint {
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 8);
    this.pos += 8;
    return v.getBigUint64(0, true);
  }
  fixed32(): number {
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 4);
    this.pos += 4;
    return v.getUint32(0, true);
  }
  double(): number {
    for (let i = 0; i < 8; i++) f64b[i] = this.b[this.pos + i];
    this.pos += 8;
    return f64[0];
  }
  len(): Uint8Array {
    const n = this.small();
    if (this.pos + n > this.b.length) throw new Error(`length past the end at byte ${this.pos}`);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.len();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire} at byte ${this.pos}`);
  }
}

/** The OTLP/JSON text of a protobuf Export*ServiceRequest of `signal`. */
export function protobufToJson(signal: Signal, body: Uint8Array): string {
  return JSON.stringify(message(requestFields(signal), body, 0));
}

const MAX_DEPTH = 64;

function message(fields: Message, bytes: Uint8Array, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new Error("nested too deeply");
  const byNo = numbers(fields);
  const out: Record<string, unknown> = {};
  const r = new Reader(bytes);
  while (r.pos < bytes.length) {
    const tag = r.small();
    const no = tag >>> 3, wire = tag & 7;
    const f = byNo.get(no);
    if (!f) {
      r.skip(wire);
      continue;
    }
    if (
      f.repeated && wire === 2 && f.kind !== "message" && f.kind !== "string" &&
      f.kind !== "bytes" && f.kind !== "any"
    ) {
      // packed
      const inner = new Reader(r.len());
      const list = (out[f.json] ??= []) as unknown[];
      const elem = f.kind === "fixed64" || f.kind === "sfixed64" || f.kind === "double"
        ? 1
        : f.kind === "fixed32"
        ? 5
        : 0;
      while (inner.pos < inner.b.length) list.push(scalar(f, inner, elem, depth));
      continue;
    }
    const v = scalar(f, r, wire, depth);
    if (f.repeated) ((out[f.json] ??= []) as unknown[]).push(v);
    else if (f.kind === "message" && out[f.json] !== undefined) {
      // A message field set twice merges (concatenated requests).
      Object.assign(out[f.json] as object, v);
    } else out[f.json] = v;
  }
  return out;
}

function scalar(f: Field, r: Reader, wire: number, depth: number): unknown {
  switch (f.kind) {
    case "string":
      return utf8.decode(r.len());
    case "bytes":
      return base64(r.len());
    case "id16":
    case "id8": {
      const b = r.len();
      let s = "";
      for (let i = 0; i < b.length; i++) s += HEX[b[i]];
      return s;
    }
    case "fixed64":
      return String(wire === 0 ? r.varint() : r.fixed64());
    case "sfixed64":
      return String(BigInt.asIntN(64, wire === 0 ? r.varint() : r.fixed64()));
    case "fixed32":
      return wire === 0 ? r.small() : r.fixed32();
    case "uint32":
      return Number(BigInt.asUintN(32, r.varint()));
    case "sint32": {
      const n = Number(BigInt.asUintN(32, r.varint()));
      return (n >>> 1) ^ -(n & 1);
    }
    case "bool":
      return r.varint() !== 0n;
    case "double":
      return jsonDouble(r.double());
    case "enum":
      return Number(BigInt.asIntN(32, r.varint()));
    case "any":
      return anyValue(r.len(), depth + 1);
    case "message":
      return message(f.msg!, r.len(), depth + 1);
    default: {
      // uint64 (packed bucket counts of exponential histograms)
      return String(r.varint());
    }
  }
}

function anyValue(bytes: Uint8Array, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new Error("nested too deeply");
  const r = new Reader(bytes);
  const out: Record<string, unknown> = {};
  while (r.pos < bytes.length) {
    const tag = r.small();
    switch (tag) {
      case (1 << 3) | 2:
        out.stringValue = utf8.decode(r.len());
        break;
      case (2 << 3) | 0:
        out.boolValue = r.varint() !== 0n;
        break;
      case (3 << 3) | 0:
        out.intValue = String(BigInt.asIntN(64, r.varint()));
        break;
      case (4 << 3) | 1:
        out.doubleValue = jsonDouble(r.double());
        break;
      case (5 << 3) | 2:
        out.arrayValue = { values: list(r.len(), depth, (b) => anyValue(b, depth + 1)) };
        break;
      case (6 << 3) | 2:
        out.kvlistValue = { values: list(r.len(), depth, (b) => keyValue(b, depth + 1)) };
        break;
      case (7 << 3) | 2:
        out.bytesValue = base64(r.len());
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}

/** The repeated field 1 (`values`) of ArrayValue / KeyValueList. */
function list(bytes: Uint8Array, _depth: number, item: (b: Uint8Array) => unknown): unknown[] {
  const r = new Reader(bytes);
  const out: unknown[] = [];
  while (r.pos < bytes.length) {
    const tag = r.small();
    if (tag === ((1 << 3) | 2)) out.push(item(r.len()));
    else r.skip(tag & 7);
  }
  return out;
}

function keyValue(bytes: Uint8Array, depth: number): Record<string, unknown> {
  const r = new Reader(bytes);
  const out: Record<string, unknown> = {};
  while (r.pos < bytes.length) {
    const tag = r.small();
    if (tag === ((1 << 3) | 2)) out.key = utf8.decode(r.len());
    else if (tag === ((2 << 3) | 2)) out.value = anyValue(r.len(), depth + 1);
    else r.skip(tag & 7);
  }
  return out;
}

function jsonDouble(x: number): number | string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  return x;
}

const cache = new WeakMap<Message, Map<number, Field>>();
function numbers(fields: Message): Map<number, Field> {
  let m = cache.get(fields);
  if (!m) {
    m = new Map(fields.map((f) => [f.no, f]));
    cache.set(fields, m);
  }
  return m;
}

function base64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
