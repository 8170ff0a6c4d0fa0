/**
 * A protobuf wire reader over one `Uint8Array`, for decoders that write straight into columns.
 *
 * No object per value: 64-bit fields come back as two unsigned 32-bit halves in `lo`/`hi`
 * (never a `Long`, a BigInt or a float), length-delimited fields as a byte range, strings are
 * validated in place (no TextDecoder). Every read is checked against the end of the enclosing
 * message, so truncated or corrupt input fails with a `DecodeError` such as
 * `Cannot decode ExportLogsServiceRequest: truncated varint at byte 340` and never allocates
 * according to an untrusted length.
 *
 * Usage: a message spanning `[r.pos, end)` is read with
 *
 *   while (r.pos < end) {
 *     const tag = r.tag(end);
 *     switch (tag) {
 *       case 0x09: r.fixed64(end); ...; break;      // field 1, wire type 1
 *       case 0x12: { const e = r.len(end); ...; r.pos = e; break; }  // field 2, wire type 2
 *       default: r.skip(tag, end);
 *     }
 *   }
 *
 * Switching on the whole tag (field << 3 | wire type) means a known field number sent with an
 * unexpected wire type is skipped like an unknown field, as protobuf parsers do.
 */
import { DecodeError } from "../otlp/types.ts";

/** Wire types. */
export const VARINT = 0, I64 = 1, LEN = 2, SGROUP = 3, EGROUP = 4, I32 = 5;

export class WireReader {
  pos = 0;
  /** Low and high unsigned 32-bit halves of the last 64-bit value read. */
  lo = 0;
  hi = 0;
  private readonly view: DataView;
  /** The 4-byte-aligned words of `buf`, starting at byte `first` (for the ASCII check). */
  private readonly words: Uint32Array;
  private readonly first: number;

  /** `what` names the top-level message in error messages (`ExportLogsServiceRequest`). */
  constructor(readonly buf: Uint8Array, readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.first = Math.min((4 - (buf.byteOffset & 3)) & 3, buf.length);
    const words = (buf.length - this.first) >> 2;
    // No words (fewer than 4 bytes past the alignment): an empty array, since a view at an
    // unaligned offset throws even with length 0 (a short message inside a larger buffer).
    this.words = words > 0
      ? new Uint32Array(buf.buffer, buf.byteOffset + this.first, words)
      : new Uint32Array(0);
  }

  /** Throws the decoder's error: `Cannot decode <what>: <detail> at byte <at>`. */
  fail(detail: string, at: number = this.pos): never {
    throw new DecodeError(`Cannot decode ${this.what}: ${detail} at byte ${at}`);
  }

  /** A field tag (field number << 3 | wire type); rejects field number 0. */
  tag(end: number): number {
    const b = this.buf;
    const p = this.pos;
    if (p < end && b[p] < 0x80) {
      this.pos = p + 1;
      if (b[p] < 8) this.fail(`invalid field number 0`, p);
      return b[p];
    }
    const t = this.uint32(end);
    if (t >>> 3 === 0) this.fail(`invalid field number 0`, p);
    return t;
  }

  /** A varint's low 32 bits, unsigned (int32/uint32/enum/bool fields). */
  uint32(end: number): number {
    const b = this.buf;
    let p = this.pos;
    if (p >= end) this.fail("truncated varint", p);
    let x = b[p++];
    if (x < 0x80) {
      this.pos = p;
      return x;
    }
    x &= 0x7f;
    if (p < end && b[p] < 0x80) {
      // Two bytes (lengths of 128 to 16,383 bytes: records, bodies).
      this.pos = p + 1;
      return x | (b[p] << 7);
    }
    for (let shift = 7; shift < 70; shift += 7) {
      if (p >= end) this.fail("truncated varint", this.pos);
      const c = b[p++];
      if (shift < 32) x |= (c & 0x7f) << shift;
      if (c < 0x80) {
        if (shift === 63 && c > 1) break;
        this.pos = p;
        return x >>> 0;
      }
    }
    return this.fail("malformed varint (more than 10 bytes)", this.pos);
  }

  /** A varint as 64 bits into `lo`/`hi` (int64/uint64 fields). */
  varint64(end: number): void {
    const b = this.buf;
    let p = this.pos;
    let lo = 0, hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) this.fail("truncated varint", this.pos);
      const c = b[p++];
      const v = c & 0x7f;
      if (i < 4) lo |= v << (7 * i);
      else if (i === 4) {
        lo |= v << 28; // the low 4 bits of v
        hi = v >>> 4;
      } else hi |= v << (7 * i - 32);
      if (c < 0x80) {
        if (i === 9 && c > 1) break;
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        this.pos = p;
        return;
      }
    }
    this.fail("malformed varint (more than 10 bytes)", this.pos);
  }

  fixed32(end: number): number {
    const p = this.pos;
    if (end - p < 4) this.fail("truncated fixed32", p);
    const b = this.buf;
    this.pos = p + 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** A fixed64/sfixed64 into `lo`/`hi`. */
  fixed64(end: number): void {
    const p = this.pos;
    if (end - p < 8) this.fail("truncated fixed64", p);
    const b = this.buf;
    this.lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    this.hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    this.pos = p + 8;
  }

  double(end: number): number {
    const p = this.pos;
    if (end - p < 8) this.fail("truncated double", p);
    this.pos = p + 8;
    return this.view.getFloat64(p, true);
  }

  /**
   * Reads the length of a length-delimited field and returns where the field ends; `pos` is
   * then at its first byte. The field must fit inside `[pos, end)`.
   */
  len(end: number): number {
    const at = this.pos;
    const b0 = this.buf[at];
    if (b0 < 0x80 && at < end && b0 < end - at) {
      // One-byte length that fits (most fields).
      this.pos = at + 1;
      return at + 1 + b0;
    }
    const n = this.uint32(end);
    // A length ≥ 2^31 reads as a large unsigned number and fails the check below.
    if (n > end - this.pos) {
      this.fail(`length ${n} exceeds the ${end - this.pos} bytes left in the message`, at);
    }
    return this.pos + n;
  }

  /** Start of the field read by the last `bytes()` / `string()`. */
  start = 0;

  /** Reads a length-delimited field and moves past it: returns its end, its start in `start`. */
  bytes(end: number): number {
    const e = this.len(end);
    this.start = this.pos;
    this.pos = e;
    return e;
  }

  /** `bytes()` for a string field: also checks its UTF-8 (`field` names it in errors). */
  string(end: number, field: string): number {
    const e = this.str(end, field);
    this.start = this.pos;
    this.pos = e;
    return e;
  }

  /** Reads a length-delimited UTF-8 string field: returns its end, `pos` at its start. */
  str(end: number, field: string): number {
    const e = this.len(end);
    this.checkUtf8(this.pos, e, field);
    return e;
  }

  /** Throws unless `buf[s, e)` is valid UTF-8 (`field` names it in the message). */
  checkUtf8(s: number, e: number, field: string): void {
    if (e - s < 32) {
      // Short strings (keys, names, most values): one OR over the bytes says whether any is
      // non-ASCII, cheaper than lining up words.
      const b = this.buf;
      let x = 0;
      for (let i = s; i < e; i++) x |= b[i];
      if (x < 0x80) return;
    }
    // ASCII runs a word at a time, each non-ASCII sequence checked on its own.
    const b = this.buf;
    let i = this.asciiUpTo(s, e);
    while (i < e) {
      const next = sequenceEnd(b, i, e);
      if (next < 0) this.fail(`invalid UTF-8 in ${field}`, i);
      i = next < e && b[next] >= 0x80 ? next : this.asciiUpTo(next, e);
    }
  }

  /** Index of the first byte ≥ 0x80 in `buf[s, e)`, or `e`; checks 4 bytes per step. */
  private asciiUpTo(s: number, e: number): number {
    const b = this.buf, first = this.first;
    let i = s;
    while (i < e && ((i - first) & 3) !== 0) {
      if (b[i] >= 0x80) return i;
      i++;
    }
    if (i >= e) return e;
    const w = this.words;
    let k = (i - first) >> 2;
    const kEnd = (e - first) >> 2;
    while (k < kEnd && (w[k] & 0x80808080) === 0) k++;
    for (i = first + 4 * k; i < e; i++) if (b[i] >= 0x80) return i;
    return e;
  }

  /** Skips the value of a field whose tag was just read (any wire type, groups included). */
  skip(tag: number, end: number): void {
    switch (tag & 7) {
      case VARINT:
        this.varint64(end);
        return;
      case I64:
        if (end - this.pos < 8) this.fail("truncated fixed64", this.pos);
        this.pos += 8;
        return;
      case LEN:
        this.pos = this.len(end);
        return;
      case I32:
        if (end - this.pos < 4) this.fail("truncated fixed32", this.pos);
        this.pos += 4;
        return;
      case SGROUP:
        this.skipGroup(tag >>> 3, end);
        return;
      case EGROUP:
        return this.fail(`unexpected end-group tag (field ${tag >>> 3})`, this.pos);
      default:
        this.fail(`invalid wire type ${tag & 7} (field ${tag >>> 3})`, this.pos);
    }
  }

  /** Skips a (deprecated) group up to its matching end tag; nested groups without recursion. */
  private skipGroup(field: number, end: number): void {
    const open = [field];
    while (open.length > 0) {
      if (this.pos >= end) this.fail(`truncated group (field ${open[open.length - 1]})`, this.pos);
      const t = this.tag(end);
      const wt = t & 7;
      if (wt === SGROUP) open.push(t >>> 3);
      else if (wt === EGROUP) {
        if (t >>> 3 !== open[open.length - 1]) {
          this.fail(
            `end-group tag for field ${t >>> 3} inside group ${open[open.length - 1]}`,
            this.pos,
          );
        }
        open.pop();
      } else this.skip(t, end);
    }
  }
}

/** Whether `b[start, end)` is valid UTF-8. */
export function validUtf8(b: Uint8Array, start: number, end: number): boolean {
  return utf8ErrorAt(b, start, end) < 0;
}

/**
 * End of the UTF-8 sequence of two to four bytes that starts at `b[i]` (a byte ≥ 0x80) and ends
 * by `end`, or -1 when it is not valid (overlong, surrogate, above U+10FFFF, truncated).
 */
function sequenceEnd(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  if (c < 0xc2) return -1; // continuation byte or overlong 2-byte lead
  if (c < 0xe0) return i + 1 < end && (b[i + 1] & 0xc0) === 0x80 ? i + 2 : -1;
  if (c < 0xf0) {
    if (i + 2 >= end) return -1;
    const c1 = b[i + 1];
    if ((c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80) return -1;
    if (c === 0xe0 && c1 < 0xa0) return -1; // overlong
    if (c === 0xed && c1 >= 0xa0) return -1; // surrogate
    return i + 3;
  }
  if (c < 0xf5) {
    if (i + 3 >= end) return -1;
    const c1 = b[i + 1];
    if ((c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80 || (b[i + 3] & 0xc0) !== 0x80) {
      return -1;
    }
    if (c === 0xf0 && c1 < 0x90) return -1; // overlong
    if (c === 0xf4 && c1 >= 0x90) return -1; // above U+10FFFF
    return i + 4;
  }
  return -1;
}

/**
 * Index of the first byte of `b[start, end)` that is not valid UTF-8 (overlong forms,
 * surrogates, code points above U+10FFFF, truncated sequences), or -1. ASCII runs take the
 * fast path; nothing is allocated.
 */
export function utf8ErrorAt(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    // ASCII runs, 8 bytes per step.
    while (
      i + 8 <= end &&
      ((b[i] | b[i + 1] | b[i + 2] | b[i + 3] | b[i + 4] | b[i + 5] | b[i + 6] | b[i + 7]) &
          0x80) === 0
    ) i += 8;
    if (i >= end) break;
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c < 0xc2) return i; // continuation byte or overlong 2-byte lead
    if (c < 0xe0) {
      if (i + 1 >= end || (b[i + 1] & 0xc0) !== 0x80) return i;
      i += 2;
      continue;
    }
    if (c < 0xf0) {
      if (i + 2 >= end) return i;
      const c1 = b[i + 1];
      if ((c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80) return i;
      if (c === 0xe0 && c1 < 0xa0) return i; // overlong
      if (c === 0xed && c1 >= 0xa0) return i; // surrogate
      i += 3;
      continue;
    }
    if (c < 0xf5) {
      if (i + 3 >= end) return i;
      const c1 = b[i + 1];
      if ((c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80 || (b[i + 3] & 0xc0) !== 0x80) {
        return i;
      }
      if (c === 0xf0 && c1 < 0x90) return i; // overlong
      if (c === 0xf4 && c1 >= 0x90) return i; // above U+10FFFF
      i += 4;
      continue;
    }
    return i;
  }
  return -1;
}
