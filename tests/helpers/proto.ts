/**
 * Protobuf for the tests, in one place:
 *
 * - `otlpProtos()`: protobufjs (the reference implementation, a test oracle only) over every
 *   .proto file under proto/, parsed once per process into one resolved root. There is no
 *   fallback: a broken or missing proto/ fails the tests that use it.
 * - `Pb` / `fld` + `cat`: the one hand-made wire writer, for field orders, encodings and broken
 *   messages protobufjs does not produce; `PbReader` reads answers field by field.
 *
 *   const T = otlpProtos().lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");
 *   const bytes = new Pb().message(1, new Pb().string(1, "x")).finish();
 */
import protobuf from "protobufjs";

const PROTO_DIR = new URL("../../proto/", import.meta.url).pathname;

function protoFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}${dir.endsWith("/") ? "" : "/"}${e.name}`;
    if (e.isDirectory) out.push(...protoFiles(p));
    else if (e.name.endsWith(".proto")) out.push(p);
  }
  return out.sort();
}

const roots = new Map<boolean, protobuf.Root>();

/**
 * Every .proto file under proto/, parsed into one resolved root. Field names are lowerCamelCase
 * (protobufjs' default, as OTLP/JSON), or as written in the .proto files with `keepCase: true`.
 */
export function otlpProtos(opts: { keepCase?: boolean } = {}): protobuf.Root {
  const keepCase = opts.keepCase ?? false;
  let r = roots.get(keepCase);
  if (r) return r;
  const files = protoFiles(PROTO_DIR);
  if (files.length === 0) throw new Error(`no .proto files under ${PROTO_DIR}`);
  r = new protobuf.Root();
  for (const f of files) protobuf.parse(Deno.readTextFileSync(f), r, { keepCase });
  r.resolveAll();
  if (!protobuf.util.Long) {
    throw new Error("protobufjs has no Long: 64-bit values would be rounded");
  }
  roots.set(keepCase, r);
  return r;
}

/** The message type `name` (fully qualified) of `otlpProtos(opts)`. */
export function protoType(name: string, opts: { keepCase?: boolean } = {}): protobuf.Type {
  return otlpProtos(opts).lookupType(name);
}

// ---------------------------------------------------------------------------------------------
// The hand-made wire writer and reader.

function varintBytes(v: bigint | number): number[] {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}

const enc = new TextEncoder();

/** A message under construction: call field methods in order, then `.finish()`. */
export class Pb {
  #parts: number[] = [];

  #tag(field: number, wire: number): void {
    this.#parts.push(...varintBytes((field << 3) | wire));
  }
  varint(field: number, v: bigint | number): this {
    this.#tag(field, 0);
    this.#parts.push(...varintBytes(v));
    return this;
  }
  fixed64(field: number, v: bigint): this {
    this.#tag(field, 1);
    let n = BigInt.asUintN(64, v);
    for (let i = 0; i < 8; i++, n >>= 8n) this.#parts.push(Number(n & 0xffn));
    return this;
  }
  fixed32(field: number, v: number): this {
    this.#tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.#parts.push(...b);
    return this;
  }
  double(field: number, v: number): this {
    this.#tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.#parts.push(...b);
    return this;
  }
  /** A length-delimited field: raw bytes, a nested message, or a string (UTF-8). */
  bytes(field: number, v: Uint8Array | Pb | string): this {
    const b = typeof v === "string" ? enc.encode(v) : v instanceof Pb ? v.finish() : v;
    this.#tag(field, 2);
    this.#parts.push(...varintBytes(b.length));
    for (const x of b) this.#parts.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, s);
  }
  message(field: number, m: Pb | Uint8Array): this {
    return this.bytes(field, m);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/**
 * One field: wire type 0 takes a number/bigint (varint), 1 a bigint (fixed64) or a number
 * (double), 5 a number (fixed32), 2 bytes or a string.
 */
export function fld(no: number, wt: number, v: number | bigint | Uint8Array | string): Uint8Array {
  const pb = new Pb();
  if (wt === 0) pb.varint(no, v as number | bigint);
  else if (wt === 1) typeof v === "bigint" ? pb.fixed64(no, v) : pb.double(no, v as number);
  else if (wt === 5) pb.fixed32(no, v as number);
  else pb.bytes(no, v as Uint8Array | string);
  return pb.finish();
}

/** The concatenation of `parts`. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads a message field by field (for answers: google.rpc.Status, Export*ServiceResponse). */
export class PbReader {
  #pos = 0;
  constructor(readonly buf: Uint8Array) {}
  done(): boolean {
    return this.#pos >= this.buf.length;
  }
  varint(): bigint {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = this.buf[this.#pos++];
      if (b === undefined) throw new Error("truncated varint in answer");
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  }
  tag(): [number, number] {
    const t = Number(this.varint());
    return [t >>> 3, t & 7];
  }
  bytes(): Uint8Array {
    const n = Number(this.varint());
    const out = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.#pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.#pos += 4;
    else throw new Error(`unsupported wire type ${wire} in answer`);
  }
}
