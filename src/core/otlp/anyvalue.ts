/**
 * AnyValue → string, as docs/schema.md documents it (attribute values and log bodies):
 *
 *   string        as is
 *   int           base-10, exact over the whole int64 range
 *   bool          true / false
 *   double        JavaScript String(x): 1, 0.5, 1e+21, 1e-7, NaN, Infinity, -Infinity
 *   bytes         standard base64 with padding
 *   array/kvlist  compact JSON; kvlist keys sorted by UTF-8 bytes (first duplicate wins),
 *                 nested bytes as base64 strings, nested ints as exact JSON numbers, nested
 *                 non-finite doubles as the strings "NaN"/"Infinity"/"-Infinity", nested empty
 *                 values as null
 *   empty/unset   ""
 *
 * `ByteSink` is the byte writer both decoders (protobuf and OTLP/JSON) render into, so both
 * produce the same bytes. This module also holds the protobuf-side AnyValue reader.
 *
 * AnyValue (common.proto), oneof value:
 *   1 string_value  string
 *   2 bool_value    bool
 *   3 int_value     int64
 *   4 double_value  double
 *   5 array_value   ArrayValue    { 1 values repeated AnyValue }
 *   6 kvlist_value  KeyValueList  { 1 values repeated KeyValue }
 *   7 bytes_value   bytes
 * KeyValue: 1 key string, 2 value AnyValue
 */
import type { Utf8Col } from "../columns/index.ts";
import type { WireReader } from "../proto/reader.ts";

const B64 = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);
/** ASCII codes of the lowercase hex digits. */
export const HEX = new TextEncoder().encode("0123456789abcdef");
const TRUE = new TextEncoder().encode("true");
const FALSE = new TextEncoder().encode("false");
const encoder = new TextEncoder();
const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000];

/** A growable byte buffer; `n` bytes written. Reset with `n = 0`. */
export class ByteSink {
  buf = new Uint8Array(256);
  n = 0;

  ensure(extra: number): void {
    const need = this.n + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  byte(c: number): void {
    if (this.n === this.buf.length) this.ensure(1);
    this.buf[this.n++] = c;
  }

  bytes(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    this.buf.set(src.subarray(start, end), this.n);
    this.n += end - start;
  }

  /** An ASCII-only string (numbers). */
  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i);
  }

  /** A JS string as UTF-8 (lone surrogates become U+FFFD). */
  utf8(s: string): void {
    this.ensure(s.length * 3);
    const b = this.buf, start = this.n;
    // ASCII without an encoder call; anything else from the first non-ASCII character on.
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.n = start + i;
        this.n += encoder.encodeInto(s.slice(i), b.subarray(this.n)).written;
        return;
      }
      b[start + i] = c;
    }
    this.n = start + s.length;
  }

  bool(v: boolean): void {
    const w = v ? TRUE : FALSE;
    this.bytes(w, 0, w.length);
  }

  /** A signed 64-bit integer given as unsigned halves, in base 10, exactly. */
  int64(lo: number, hi: number): void {
    if (hi < 0x200000) return this.safeUint(hi * 4294967296 + lo);
    if (hi >= 0xffe00000) {
      // Negative with a magnitude below 2^53: negate the two's complement.
      const mlo = (~lo + 1) >>> 0;
      const mhi = (~hi + (mlo === 0 ? 1 : 0)) >>> 0;
      this.byte(0x2d);
      return this.safeUint(mhi * 4294967296 + mlo);
    }
    // Rare: beyond ±2^53.
    this.ascii(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString());
  }

  /** An unsigned 64-bit integer given as halves, in base 10, exactly. */
  uint64(lo: number, hi: number): void {
    if (hi < 0x200000) return this.safeUint(hi * 4294967296 + lo);
    this.ascii(((BigInt(hi) << 32n) | BigInt(lo)).toString());
  }

  /** A non-negative integer < 2^53. */
  safeUint(x: number): void {
    this.ensure(16);
    this.n = writeUint(this.buf, this.n, x);
  }

  /** A double as JavaScript `String(x)` prints it. */
  double(x: number): void {
    if (x === Math.trunc(x) && Math.abs(x) < 9007199254740992) {
      if (x < 0 || Object.is(x, -0)) {
        if (x === 0) return this.byte(0x30); // String(-0) is "0"
        this.byte(0x2d);
        x = -x;
      }
      return this.safeUint(x);
    }
    // Short decimals (12.5, 0.001) without a string: x = m / 10^k with the fewest decimals k.
    // With |m| < 2^51 no other k-decimal number rounds to x, so this is the shortest
    // round-trip form, which is what String(x) prints (fixed notation from 1e-6 up).
    const a = Math.abs(x);
    if (a >= 1e-6 && a < 1e9) {
      for (let k = 1, p = 10; k <= 6; k++, p *= 10) {
        const m = a * p;
        if (m !== Math.trunc(m)) continue;
        if (m >= 2251799813685248 || m / p !== a || m % 10 === 0) break;
        if (x < 0) this.byte(0x2d);
        return this.fixed(m, k);
      }
    }
    this.ascii(String(x));
  }

  /** The integer `m` (< 2^53) with a decimal point before its last `k` digits: 125, 1 → "12.5". */
  private fixed(m: number, k: number): void {
    const p = POW10[k];
    // Integer and fraction parts, exactly (the division may round up to the next integer).
    let ip = Math.floor(m / p), fp = m - ip * p;
    if (fp < 0) {
      ip--;
      fp += p;
    }
    this.safeUint(ip);
    this.ensure(k + 1);
    const b = this.buf;
    let at = this.n;
    b[at++] = 0x2e;
    // The fraction with its leading zeros: 5, 3 → "005".
    for (let i = at + k - 1; i >= at; i--) {
      const q = Math.floor(fp / 10);
      b[i] = 48 + fp - q * 10;
      fp = q;
    }
    this.n = at + k;
  }

  /** A double inside JSON: finite as a number, non-finite as a string. */
  jsonDouble(x: number): void {
    if (Number.isFinite(x)) return this.double(x);
    this.byte(0x22);
    this.ascii(String(x));
    this.byte(0x22);
  }

  /** Standard base64 with padding of `src[start, end)`. */
  base64(src: Uint8Array, start: number, end: number): void {
    this.ensure(Math.ceil((end - start) / 3) * 4);
    const b = this.buf;
    let o = this.n;
    let i = start;
    for (; i + 2 < end; i += 3) {
      const v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
      b[o++] = B64[v >> 18];
      b[o++] = B64[(v >> 12) & 63];
      b[o++] = B64[(v >> 6) & 63];
      b[o++] = B64[v & 63];
    }
    if (i < end) {
      const two = i + 1 < end;
      const v = (src[i] << 16) | (two ? src[i + 1] << 8 : 0);
      b[o++] = B64[v >> 18];
      b[o++] = B64[(v >> 12) & 63];
      b[o++] = two ? B64[(v >> 6) & 63] : 0x3d;
      b[o++] = 0x3d;
    }
    this.n = o;
  }

  /** A JSON string literal of the (valid) UTF-8 bytes `src[start, end)`, escaped as JSON.stringify does. */
  jsonString(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start + 2);
    this.buf[this.n++] = 0x22;
    let run = start;
    for (let i = start; i < end; i++) {
      const c = src[i];
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
      if (i > run) this.bytes(src, run, i);
      run = i + 1;
      this.ensure(6);
      const b = this.buf;
      b[this.n++] = 0x5c;
      switch (c) {
        case 0x22:
          b[this.n++] = 0x22;
          break;
        case 0x5c:
          b[this.n++] = 0x5c;
          break;
        case 0x08:
          b[this.n++] = 0x62;
          break;
        case 0x0c:
          b[this.n++] = 0x66;
          break;
        case 0x0a:
          b[this.n++] = 0x6e;
          break;
        case 0x0d:
          b[this.n++] = 0x72;
          break;
        case 0x09:
          b[this.n++] = 0x74;
          break;
        default:
          b[this.n++] = 0x75;
          b[this.n++] = 0x30;
          b[this.n++] = 0x30;
          b[this.n++] = HEX[c >> 4];
          b[this.n++] = HEX[c & 15];
      }
    }
    if (end > run) this.bytes(src, run, end);
    this.byte(0x22);
  }
}

/**
 * Writes the non-negative integer `x` (< 2^53) in base 10 at `b[at]` (room for 16 digits
 * needed); returns the end.
 */
export function writeUint(b: Uint8Array, at: number, x: number): number {
  let digits = 1;
  for (let p = 10; p <= x; p *= 10) digits++;
  const end = at + digits;
  let i = end;
  if (x < 2147483648) {
    let v = x | 0;
    do {
      const q = (v / 10) | 0;
      b[--i] = 48 + v - q * 10;
      v = q;
    } while (v > 0);
  } else {
    do {
      const q = Math.floor(x / 10);
      b[--i] = 48 + (x - q * 10);
      x = q;
    } while (x > 0);
  }
  return end;
}

/** Compares byte ranges of one buffer (UTF-8 byte order = code point order). */
export function compareBytes(
  a: Uint8Array,
  as: number,
  ae: number,
  b: Uint8Array,
  bs: number,
  be: number,
): number {
  const la = ae - as, lb = be - bs;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const x = a[as + i] - b[bs + i];
    if (x !== 0) return x;
  }
  return la - lb;
}

// ---------------------------------------------------------------------------------------------
// Protobuf AnyValue

const EMPTY = 0, STRING = 1, BOOL = 2, INT = 3, DOUBLE = 4, ARRAY = 5, KVLIST = 6, BYTES = 7;

/** Result of `scan()`: the kind of the AnyValue and its payload (ranges into the input). */
let kind = EMPTY, vs = 0, ve = 0, vlo = 0, vhi = 0, vdbl = 0;

/** Reads the AnyValue at `[s, e)`; the last oneof member wins, as in protobuf. */
function scan(r: WireReader, s: number, e: number): void {
  kind = EMPTY;
  r.pos = s;
  while (r.pos < e) {
    const tag = r.tag(e);
    switch (tag) {
      case 0x0a: // 1 string_value
        ve = r.string(e, "AnyValue.string_value");
        vs = r.start;
        kind = STRING;
        break;
      case 0x10: // 2 bool_value
        r.varint64(e);
        vlo = r.lo | r.hi;
        kind = BOOL;
        break;
      case 0x18: // 3 int_value
        r.varint64(e);
        vlo = r.lo;
        vhi = r.hi;
        kind = INT;
        break;
      case 0x21: // 4 double_value
        vdbl = r.double(e);
        kind = DOUBLE;
        break;
      case 0x2a: // 5 array_value
      case 0x32: // 6 kvlist_value
      case 0x3a: // 7 bytes_value
        ve = r.bytes(e);
        vs = r.start;
        kind = tag >>> 3;
        break;
      default:
        r.skip(tag, e);
    }
  }
}

/** Per-decode settings for AnyValue rendering. */
export class AnyValueWriter {
  readonly sink = new ByteSink();
  /** Scratch stack of kvlist entries: (keyStart, keyEnd, valueStart, valueEnd) each. */
  private kv = new Int32Array(64);
  private kvTop = 0;

  constructor(public r: WireReader, public maxDepth: number) {}

  /** Bytes of the scratch buffers (they grow with the largest value rendered). */
  heldBytes(): number {
    return this.sink.buf.length + 4 * this.kv.length;
  }

  /** Readies this (pooled) writer for a new request read by `r`. */
  reset(r: WireReader, maxDepth: number): void {
    this.r = r;
    this.maxDepth = maxDepth;
    this.kvTop = 0;
  }

  /** Appends the string form of the AnyValue at `[s, e)` to `out`. `s === e` is an empty value. */
  append(out: Utf8Col, s: number, e: number): void {
    const r = this.r, b = r.buf;
    // The usual values are one field spanning the message: read them in place (the same reads,
    // hence the same errors, as the general `scan` below, which handles everything else).
    if (e - s >= 2) {
      const t = b[s];
      if (t === 0x0a) { // 1 string_value, with a one- or two-byte length
        let n = b[s + 1], p = s + 2;
        if (n >= 0x80) {
          if (e - s >= 3 && b[s + 2] < 0x80) {
            n = (n & 0x7f) | (b[s + 2] << 7);
            p = s + 3;
          } else n = -1;
        }
        if (n >= 0 && p + n === e) {
          r.checkUtf8(p, e, "AnyValue.string_value");
          out.appendBytes(b, p, e);
          return;
        }
      } else if (t === 0x18) { // 3 int_value
        r.pos = s + 1;
        r.varint64(e);
        if (r.pos === e) return this.int(out, r.lo, r.hi);
      } else if (t === 0x21) { // 4 double_value
        if (e - s === 9) {
          r.pos = s + 1;
          return this.dbl(out, r.double(e));
        }
      } else if (t === 0x10 && e - s === 2 && b[s + 1] < 0x80) { // 2 bool_value
        const w = b[s + 1] !== 0 ? TRUE : FALSE;
        out.appendBytes(w, 0, w.length);
        return;
      }
    }
    scan(r, s, e);
    switch (kind) {
      case EMPTY:
        out.appendEmpty();
        return;
      case STRING:
        out.appendBytes(r.buf, vs, ve);
        return;
      case BOOL: {
        const w = vlo !== 0 ? TRUE : FALSE;
        out.appendBytes(w, 0, w.length);
        return;
      }
      case INT:
        return this.int(out, vlo, vhi);
      case DOUBLE:
        return this.dbl(out, vdbl);
    }
    const sink = this.sink;
    sink.n = 0;
    switch (kind) {
      case BYTES:
        sink.base64(r.buf, vs, ve);
        break;
      case ARRAY:
        this.array(vs, ve, 2);
        break;
      case KVLIST:
        this.kvlist(vs, ve, 2);
        break;
    }
    out.appendBytes(sink.buf, 0, sink.n);
  }

  /** Appends a signed 64-bit integer (unsigned halves) in base 10. */
  private int(out: Utf8Col, lo: number, hi: number): void {
    if (hi < 0x200000) {
      // A non-negative integer below 2^53 (the usual one): its digits straight into `out`.
      out.reserve(16, 1);
      out.offsets[out.length + 1] = writeUint(
        out.data,
        out.offsets[out.length],
        hi * 4294967296 + lo,
      );
      out.length++;
      return;
    }
    const sink = this.sink;
    sink.n = 0;
    sink.int64(lo, hi);
    out.appendBytes(sink.buf, 0, sink.n);
  }

  /** Appends a double as JavaScript prints it (rendered by the sink straight into `out`). */
  private dbl(out: Utf8Col, x: number): void {
    // String(x) of a double is at most 24 characters: with 32 bytes of room the sink never
    // grows (and if it did, its copy holds all of `out`'s bytes so far).
    out.reserve(32, 1);
    const sink = this.sink, own = sink.buf;
    sink.buf = out.data;
    sink.n = out.offsets[out.length];
    sink.double(x);
    out.data = sink.buf;
    out.offsets[++out.length] = sink.n;
    sink.buf = own;
  }

  /** Writes the AnyValue at `[s, e)` as JSON into the sink. */
  private json(s: number, e: number, depth: number): void {
    if (depth > this.maxDepth) {
      this.r.fail(`AnyValue nested deeper than the limit of ${this.maxDepth} levels`, s);
    }
    const r = this.r, sink = this.sink;
    scan(r, s, e);
    switch (kind) {
      case EMPTY:
        sink.ascii("null");
        return;
      case STRING:
        sink.jsonString(r.buf, vs, ve);
        return;
      case BOOL:
        sink.bool(vlo !== 0);
        return;
      case INT:
        sink.int64(vlo, vhi);
        return;
      case DOUBLE:
        sink.jsonDouble(vdbl);
        return;
      case BYTES:
        sink.byte(0x22);
        sink.base64(r.buf, vs, ve);
        sink.byte(0x22);
        return;
      case ARRAY:
        this.array(vs, ve, depth + 1);
        return;
      case KVLIST:
        this.kvlist(vs, ve, depth + 1);
        return;
    }
  }

  /** ArrayValue at `[s, e)` whose elements are at nesting level `depth`. */
  private array(s: number, e: number, depth: number): void {
    const r = this.r, sink = this.sink;
    sink.byte(0x5b);
    let first = true;
    r.pos = s;
    while (r.pos < e) {
      const tag = r.tag(e);
      if (tag !== 0x0a) { // 1 values
        r.skip(tag, e);
        continue;
      }
      const end = r.len(e);
      if (!first) sink.byte(0x2c);
      first = false;
      this.json(r.pos, end, depth);
      r.pos = end;
    }
    sink.byte(0x5d);
  }

  /** KeyValueList at `[s, e)` whose values are at nesting level `depth`. */
  private kvlist(s: number, e: number, depth: number): void {
    const r = this.r, sink = this.sink, buf = r.buf;
    const base = this.kvTop;
    r.pos = s;
    while (r.pos < e) {
      const tag = r.tag(e);
      if (tag !== 0x0a) { // 1 values
        r.skip(tag, e);
        continue;
      }
      const end = r.len(e);
      if (this.kvTop + KV_RANGE > this.kv.length) {
        const next = new Int32Array(this.kv.length * 2);
        next.set(this.kv);
        this.kv = next;
      }
      readKeyValue(r, end, this.kv, this.kvTop);
      this.kvTop += KV_RANGE;
      r.pos = end;
    }
    const n = (this.kvTop - base) >> 2;
    const order: number[] = [];
    for (let i = 0; i < n; i++) order.push(base + 4 * i);
    const kv = this.kv;
    order.sort((a, b) => compareBytes(buf, kv[a], kv[a + 1], buf, kv[b], kv[b + 1]) || a - b);
    sink.byte(0x7b);
    let prev = -1;
    for (const at of order) {
      // Read through `this.kv`: nested kvlists may have grown (replaced) the stack.
      const k = this.kv;
      if (prev >= 0 && compareBytes(buf, k[prev], k[prev + 1], buf, k[at], k[at + 1]) === 0) {
        continue;
      }
      if (prev >= 0) sink.byte(0x2c);
      prev = at;
      sink.jsonString(buf, k[at], k[at + 1]);
      sink.byte(0x3a);
      this.json(k[at + 2], k[at + 3], depth);
    }
    sink.byte(0x7d);
    this.kvTop = base;
  }
}

/** Ints `readKeyValue()` writes: key start, key end, value start, value end. */
export const KV_RANGE = 4;

/**
 * Reads the KeyValue at `[r.pos, end)` and writes its key range (validated UTF-8) and value
 * range (the AnyValue's bytes, for `AnyValueWriter.append`; empty ranges when absent) to
 * `out[at, at + KV_RANGE)`. Fields may come in any order; the last occurrence wins.
 *
 * KeyValue: 1 key string, 2 value AnyValue
 */
export function readKeyValue(r: WireReader, end: number, out: Int32Array, at: number): void {
  let ks = r.pos, ke = r.pos, vs0 = r.pos, ve0 = r.pos;
  while (r.pos < end) {
    const tag = r.tag(end);
    if (tag === 0x0a) {
      ke = r.string(end, "KeyValue.key");
      ks = r.start;
    } else if (tag === 0x12) {
      ve0 = r.bytes(end);
      vs0 = r.start;
    } else r.skip(tag, end);
  }
  out[at] = ks;
  out[at + 1] = ke;
  out[at + 2] = vs0;
  out[at + 3] = ve0;
}
