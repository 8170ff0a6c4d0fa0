/**
 * The protobuf writer: what src/ encodes itself (the OTLP/HTTP answers, src/http/responses.ts)
 * is a few varint and length-delimited fields, written here without generated code.
 */

const encoder = new TextEncoder();
/** Bytes a new writer holds before it grows. */
const INITIAL_BYTES = 64;
/** The longest varint (a 64-bit value, 7 bits a byte). */
const MAX_VARINT_BYTES = 10;

/** A growable protobuf writer: tags, varints and length-delimited fields. */
export class PbWriter {
  private buf = new Uint8Array(INITIAL_BYTES);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** An unsigned varint; `v` is a non-negative integer (number or bigint). */
  varint(v: number | bigint): this {
    let x = BigInt(v);
    if (x < 0n) x = BigInt.asUintN(64, x); // int32/int64 negatives take ten bytes
    this.ensure(MAX_VARINT_BYTES);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
    return this;
  }

  tag(field: number, wireType: 0 | 2): this {
    return this.varint((field << 3) | wireType);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, encoder.encode(s));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
