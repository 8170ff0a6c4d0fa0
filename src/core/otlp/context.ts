/**
 * The decode context of one protobuf request: the reader over its bytes, the scratch objects
 * (pooled across requests, ./scratch.ts), the time it was received, and the helpers every
 * record decoder uses (ids as hex, presizing string columns from a sample).
 */
import type { AnyValueWriter } from "./anyvalue.ts";
import { HEX } from "./anyvalue.ts";
import type { AttrRow } from "./attr-row.ts";
import { type Column, ListCol, MapCol, Utf8Col } from "../columns/index.ts";
import { WireReader } from "../proto/reader.ts";
import { giveScratch, type Scratch, takeScratch } from "./scratch.ts";
import type { DecodeOptions } from "./types.ts";

/** The two lowercase hex digits of each byte value, high digit in the high byte. */
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, b) => (HEX[b >> 4] << 8) | HEX[b & 15]);

/** Rows decoded before the string columns are sized for the whole request. */
const SAMPLE_ROWS = 64;
/** Nesting depth of AnyValues when `DecodeOptions.maxDepth` is not given. */
const DEFAULT_MAX_DEPTH = 64;
/** A presized column reserves at most this many times the input bytes left. */
const PRESIZE_INPUT_FACTOR = 4;

/** Decoding state of one request: the reader, the scratch objects, the receive time. */
export class ProtoCtx {
  readonly r: WireReader;
  readonly buf: Uint8Array;
  readonly av: AnyValueWriter;
  /** Attributes of the current record / data point. */
  readonly attrs: AttrRow;
  /** Attributes of the current event, link or exemplar (inside a record). */
  readonly subAttrs: AttrRow;
  /** Halves of `receivedAtNs`. */
  readonly recvLo: number;
  readonly recvHi: number;
  readonly maxDepth: number;
  /** The pooled objects of this decode (the envelope's maps and lists among them). */
  readonly scratch: Scratch;
  private released = false;

  constructor(body: Uint8Array, what: string, opts: DecodeOptions) {
    this.buf = body;
    const r = this.r = new WireReader(body, what);
    const maxDepth = this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    const s = this.scratch = takeScratch(r, maxDepth);
    this.av = s.av;
    this.attrs = s.attrs;
    this.subAttrs = s.subAttrs;
    const ns = BigInt.asUintN(64, opts.receivedAtNs);
    this.recvLo = Number(ns & 0xffffffffn);
    this.recvHi = Number(ns >> 32n);
  }

  /**
   * Hands the scratch objects to the next request (call once decoding succeeded; after an
   * error they are simply not reused).
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    giveScratch(this.scratch);
  }

  /**
   * Called after each row with the rows done so far: once `SAMPLE_ROWS` rows are in, makes room
   * in every string column for the rest of the `total` rows at the same bytes per row, so large
   * requests do not copy their columns over and over while they grow.
   */
  presize(cols: object, done: number, total: number): void {
    if (done !== SAMPLE_ROWS || total < 2 * SAMPLE_ROWS) return;
    const all: Utf8Col[] = [];
    for (const c of Object.values(cols)) stringCols(c as Column, all);
    let held = 0;
    for (const c of all) held += c.byteLength;
    // Rows to come at the sample's bytes per row, but never more than a few times the input
    // left (a skewed sample must not reserve gigabytes).
    const scale = Math.min(
      (total - done) / done,
      (PRESIZE_INPUT_FACTOR * (this.buf.length - this.r.pos)) / (held || 1),
    );
    for (const c of all) c.reserve(Math.ceil(c.byteLength * scale), Math.ceil(c.length * scale));
  }

  /**
   * Appends the id `buf[s, e)` as lowercase hex: `""` when empty or all zero bytes; any other
   * length than `size` is an error naming `field`.
   */
  id(col: Utf8Col, s: number, e: number, size: number, field: string): void {
    const n = e - s;
    if (n === 0) return col.appendEmpty();
    const b = this.buf;
    if (n !== size) this.r.fail(`${field} has ${n} bytes, expected ${size}`, s);
    let nz = 0;
    for (let i = s; i < e; i++) nz |= b[i];
    if (nz === 0) return col.appendEmpty();
    col.reserve(2 * n, 1);
    const out = col.data;
    let at = col.offsets[col.length];
    for (let i = s; i < e; i++) {
      const h = HEX_PAIRS[b[i]];
      out[at] = h >> 8;
      out[at + 1] = h & 0xff;
      at += 2;
    }
    col.offsets[++col.length] = at;
  }

  /** A resource name as text (for messages). */
  text(s: number, e: number): string {
    return new TextDecoder().decode(this.buf.subarray(s, e));
  }
}

/** Bytes of a trace id and of a span id. */
export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

/** Collects the string columns of `c` (itself, or inside a map or a list) into `out`. */
function stringCols(c: Column, out: Utf8Col[]): void {
  if (c instanceof Utf8Col) out.push(c);
  else if (c instanceof MapCol) out.push(c.keys, c.values);
  else if (c instanceof ListCol) stringCols(c.child, out);
}
