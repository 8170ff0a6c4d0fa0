/**
 * Avro object container files, written and read by walking the schema (no generated code, so
 * it runs on Workers: `avsc`, the well-kept npm library, compiles every record type with
 * `new Function`). What Iceberg's manifests and manifest lists need: records, arrays, maps,
 * unions, the primitive types, the `null` and `deflate` codecs, and schema attributes such as
 * `field-id` kept as they are (the schema JSON is written verbatim).
 *
 * Binary encoding (https://avro.apache.org/docs/1.11.1/specification/#binary-encoding):
 * int and long are zigzag varints; float/double 4/8 bytes LE; boolean one byte; bytes and
 * string a long length then the bytes; a record its fields in order; an array or map blocks of
 * (long count, items) ending with count 0 (map items are string key then value); a union the
 * long branch index then the value.
 *
 * Container: "Obj" 0x01, file metadata (a map of bytes: `avro.schema`, `avro.codec` and the
 * user's keys), a 16-byte sync marker, then blocks of (long count, long size, data, sync).
 */
import { deflateSync, inflateSync } from "fflate";

export type AvroSchema =
  | "null"
  | "boolean"
  | "int"
  | "long"
  | "float"
  | "double"
  | "bytes"
  | "string"
  | AvroSchema[]
  | AvroRecord
  | { type: "array"; items: AvroSchema; [attr: string]: unknown }
  | { type: "map"; values: AvroSchema; [attr: string]: unknown }
  | { type: "fixed"; size: number; name: string; [attr: string]: unknown };

export interface AvroRecord {
  type: "record";
  name: string;
  fields: { name: string; type: AvroSchema; [attr: string]: unknown }[];
  [attr: string]: unknown;
}

/** A file that is not Avro, or whose data does not match its schema. */
export class AvroError extends SyntaxError {
  override name = "AvroError";
}

const MAGIC = [0x4f, 0x62, 0x6a, 0x01];

// ---------------------------------------------------------------------------------------------
// Writing

class Out {
  buf = new Uint8Array(1024);
  n = 0;

  room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  long(v: number | bigint): void {
    let z = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n));
    while (z >= 0x80n) {
      this.byte(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    this.byte(Number(z));
  }

  bytes(b: Uint8Array): void {
    this.long(b.length);
    this.raw(b);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

const encoder = new TextEncoder();

/** Writes `value` as `schema`; `path` names the field in errors. */
function write(out: Out, schema: AvroSchema, value: unknown, path: string): void {
  if (Array.isArray(schema)) {
    const i = value === null || value === undefined
      ? schema.indexOf("null")
      : schema.findIndex((s) => s !== "null");
    if (i < 0) throw new TypeError(`Avro: ${path} is required (got ${String(value)})`);
    out.long(i);
    write(out, schema[i], value, path);
    return;
  }
  if (typeof schema === "string") {
    switch (schema) {
      case "null":
        return;
      case "boolean":
        out.byte(value ? 1 : 0);
        return;
      case "int":
      case "long":
        if (typeof value !== "number" && typeof value !== "bigint") {
          throw new TypeError(`Avro: ${path} must be a number (got ${typeof value})`);
        }
        out.long(value);
        return;
      case "float": {
        out.room(4);
        new DataView(out.buf.buffer).setFloat32(out.n, value as number, true);
        out.n += 4;
        return;
      }
      case "double": {
        out.room(8);
        new DataView(out.buf.buffer).setFloat64(out.n, value as number, true);
        out.n += 8;
        return;
      }
      case "bytes":
        if (!(value instanceof Uint8Array)) throw new TypeError(`Avro: ${path} must be bytes`);
        out.bytes(value);
        return;
      case "string":
        if (typeof value !== "string") throw new TypeError(`Avro: ${path} must be a string`);
        out.bytes(encoder.encode(value));
        return;
    }
  }
  const s = schema as Exclude<AvroSchema, string | AvroSchema[]>;
  switch (s.type) {
    case "record": {
      const v = value as Record<string, unknown>;
      for (const f of s.fields) write(out, f.type, v?.[f.name], `${path}.${f.name}`);
      return;
    }
    case "array": {
      const items = value as unknown[];
      if (items.length) out.long(items.length);
      items.forEach((x, i) => write(out, s.items, x, `${path}[${i}]`));
      out.long(0);
      return;
    }
    case "map": {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length) out.long(entries.length);
      for (const [k, x] of entries) {
        out.bytes(encoder.encode(k));
        write(out, s.values, x, `${path}[${JSON.stringify(k)}]`);
      }
      out.long(0);
      return;
    }
    case "fixed": {
      const b = value as Uint8Array;
      if (b.length !== s.size) throw new TypeError(`Avro: ${path} must be ${s.size} bytes`);
      out.raw(b);
      return;
    }
  }
}

/**
 * An Avro object container file of `records` under `schema` (one block, `deflate` or `null`
 * codec), with `metadata` (string values) beside `avro.schema` and `avro.codec`.
 */
export function writeAvro(
  schema: AvroSchema,
  records: readonly unknown[],
  metadata: Record<string, string>,
  codec: "deflate" | "null" = "deflate",
): Uint8Array {
  const body = new Out();
  records.forEach((r, i) => write(body, schema, r, `record ${i}`));
  const data = codec === "deflate" ? deflateSync(body.done()) : body.done();
  const out = new Out();
  out.raw(new Uint8Array(MAGIC));
  const meta: Record<string, Uint8Array> = {
    "avro.schema": encoder.encode(JSON.stringify(schema)),
    "avro.codec": encoder.encode(codec),
  };
  for (const [k, v] of Object.entries(metadata)) meta[k] = encoder.encode(v);
  write(out, { type: "map", values: "bytes" }, meta, "metadata");
  const sync = crypto.getRandomValues(new Uint8Array(16));
  out.raw(sync);
  if (records.length) {
    out.long(records.length);
    out.bytes(data);
    out.raw(sync);
  }
  return out.done();
}

// ---------------------------------------------------------------------------------------------
// Reading

class In {
  at = 0;
  constructor(readonly b: Uint8Array) {}

  byte(): number {
    if (this.at >= this.b.length) throw new AvroError(`Avro: truncated at byte ${this.at}`);
    return this.b[this.at++];
  }

  long(): bigint {
    let v = 0n, shift = 0n;
    for (let i = 0; i < 10; i++) {
      const c = this.byte();
      v |= BigInt(c & 0x7f) << shift;
      if ((c & 0x80) === 0) return (v >> 1n) ^ -(v & 1n);
      shift += 7n;
    }
    throw new AvroError(`Avro: varint longer than 10 bytes at byte ${this.at}`);
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.b.length) {
      throw new AvroError(`Avro: ${n} bytes past the end at byte ${this.at}`);
    }
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
}

const decoder = new TextDecoder();

/**
 * Reads a value of `schema`: int → number, long → bigint, bytes → Uint8Array, records →
 * objects by field name, maps → objects, unions → the branch's value.
 */
function read(inp: In, schema: AvroSchema): unknown {
  if (Array.isArray(schema)) {
    const i = Number(inp.long());
    if (i < 0 || i >= schema.length) throw new AvroError(`Avro: union branch ${i} out of range`);
    return read(inp, schema[i]);
  }
  if (typeof schema === "string") {
    switch (schema) {
      case "null":
        return null;
      case "boolean":
        return inp.byte() !== 0;
      case "int":
        return Number(inp.long());
      case "long":
        return inp.long();
      case "float": {
        const b = inp.take(4);
        return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
      }
      case "double": {
        const b = inp.take(8);
        return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
      }
      case "bytes":
        return inp.take(Number(inp.long())).slice();
      case "string":
        return decoder.decode(inp.take(Number(inp.long())));
      default:
        throw new AvroError(`Avro: unknown type ${JSON.stringify(schema)}`);
    }
  }
  const s = schema as Exclude<AvroSchema, string | AvroSchema[]>;
  switch (s.type) {
    case "record": {
      const o: Record<string, unknown> = {};
      for (const f of s.fields) o[f.name] = read(inp, f.type);
      return o;
    }
    case "array": {
      const out: unknown[] = [];
      for (;;) {
        let n = Number(inp.long());
        if (n === 0) return out;
        if (n < 0) n = -n, inp.long(); // a block size follows a negative count
        for (let i = 0; i < n; i++) out.push(read(inp, s.items));
      }
    }
    case "map": {
      const out: Record<string, unknown> = {};
      for (;;) {
        let n = Number(inp.long());
        if (n === 0) return out;
        if (n < 0) n = -n, inp.long();
        for (let i = 0; i < n; i++) {
          const k = decoder.decode(inp.take(Number(inp.long())));
          out[k] = read(inp, s.values);
        }
      }
    }
    case "fixed":
      return inp.take(s.size).slice();
    default:
      throw new AvroError(`Avro: unknown type ${JSON.stringify((s as { type: string }).type)}`);
  }
}

export interface AvroFile {
  schema: AvroSchema;
  metadata: Record<string, string>;
  records: unknown[];
}

/** Reads an Avro object container file (codecs `null` and `deflate`). Throws `AvroError`. */
export function readAvro(file: Uint8Array): AvroFile {
  const inp = new In(file);
  for (const m of MAGIC) {
    if (inp.byte() !== m) {
      throw new AvroError('Not an Avro file: it does not start with "Obj\\x01"');
    }
  }
  const raw = read(inp, { type: "map", values: "bytes" }) as Record<string, Uint8Array>;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) metadata[k] = decoder.decode(v);
  let schema: AvroSchema;
  try {
    schema = JSON.parse(metadata["avro.schema"]);
  } catch {
    throw new AvroError("Avro file has no readable avro.schema");
  }
  const codec = metadata["avro.codec"] ?? "null";
  if (codec !== "null" && codec !== "deflate") {
    throw new AvroError(
      `Avro file uses codec ${JSON.stringify(codec)}: only null and deflate are read`,
    );
  }
  const sync = inp.take(16);
  const records: unknown[] = [];
  while (inp.at < file.length) {
    const count = Number(inp.long());
    const size = Number(inp.long());
    let block = inp.take(size);
    if (codec === "deflate") block = inflateSync(block);
    const b = new In(block);
    for (let i = 0; i < count; i++) records.push(read(b, schema));
    const marker = inp.take(16);
    if (marker.some((x, i) => x !== sync[i])) throw new AvroError("Avro file: bad sync marker");
  }
  return { schema, metadata, records };
}
