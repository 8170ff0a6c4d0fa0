/**
 * A Thrift compact-protocol writer: just what Parquet's footer and page headers need (structs,
 * lists, i32/i64 as zigzag varints, binary, booleans). See
 * https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md.
 *
 * Values go into one growable byte buffer; `bytes()` is a view of what was written.
 */

/** Compact-protocol type ids. */
export const T = {
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  STRUCT: 12,
} as const;

const utf8 = new TextEncoder();

/**
 * UTF-8 of the strings written (names, paths, key-value metadata: the same few in every file),
 * so a footer does not encode them again; emptied when it holds too many.
 */
const encoded = new Map<string, Uint8Array>();

function utf8Of(s: string): Uint8Array {
  let b = encoded.get(s);
  if (b === undefined) {
    if (encoded.size >= 4096) encoded.clear();
    encoded.set(s, b = utf8.encode(s));
  }
  return b;
}

export class ThriftWriter {
  buf: Uint8Array;
  at = 0;
  /** Last field id of each open struct (the innermost last). */
  private last: number[] = [];
  private prev = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(size);
  }

  /** Forgets what was written (the buffer is kept). */
  reset(): void {
    this.at = 0;
    this.last.length = 0;
    this.prev = 0;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varint(n: number): void {
    this.room(10);
    const b = this.buf;
    while (n >= 0x80) {
      b[this.at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    b[this.at++] = n;
  }

  /** Zigzag varint of a safe integer (i16, i32 and i64 fields). */
  zigzag(n: number): void {
    this.varint(n >= 0 ? 2 * n : -2 * n - 1);
  }

  private header(id: number, type: number): void {
    const delta = id - this.prev;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.prev = id;
  }

  /** An i8 field. */
  byteField(id: number, v: number): void {
    this.header(id, T.BYTE);
    this.byte(v & 0xff);
  }

  i16(id: number, v: number): void {
    this.header(id, T.I16);
    this.zigzag(v);
  }

  i32(id: number, v: number): void {
    this.header(id, T.I32);
    this.zigzag(v);
  }

  i64(id: number, v: number): void {
    this.header(id, T.I64);
    this.zigzag(v);
  }

  /** An i64 field from a bigint (any value of the type). */
  i64big(id: number, v: bigint): void {
    this.header(id, T.I64);
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.room(10);
    while (z >= 0x80n) {
      this.buf[this.at++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.at++] = Number(z);
  }

  bool(id: number, v: boolean): void {
    this.header(id, v ? T.TRUE : T.FALSE);
  }

  binary(id: number, v: Uint8Array): void {
    this.header(id, T.BINARY);
    this.rawBinary(v);
  }

  string(id: number, s: string): void {
    this.binary(id, utf8Of(s));
  }

  rawBinary(v: Uint8Array): void {
    this.varint(v.length);
    this.room(v.length);
    this.buf.set(v, this.at);
    this.at += v.length;
  }

  /** Appends bytes written by another writer (whole list elements or structs). */
  raw(v: Uint8Array): void {
    this.room(v.length);
    this.buf.set(v, this.at);
    this.at += v.length;
  }

  /** Opens a struct field; close it with `end()`. */
  struct(id: number): void {
    this.header(id, T.STRUCT);
    this.begin();
  }

  /** Opens a struct that is a list element or the top-level value. */
  begin(): void {
    this.last.push(this.prev);
    this.prev = 0;
  }

  /** Ends the innermost struct (its stop byte). */
  end(): void {
    this.byte(0);
    this.prev = this.last.pop() ?? 0;
  }

  /** A list field header of `n` elements of compact type `type` (write the elements next). */
  list(id: number, type: number, n: number): void {
    this.header(id, T.LIST);
    if (n < 15) this.byte((n << 4) | type);
    else {
      this.byte(0xf0 | type);
      this.varint(n);
    }
  }

  /** A list element i32 (zigzag). */
  elemI32(v: number): void {
    this.zigzag(v);
  }

  elemString(s: string): void {
    this.rawBinary(utf8Of(s));
  }
}
