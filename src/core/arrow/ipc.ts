/**
 * Arrow IPC stream bytes written straight from column builders: the hand-off to parquet-wasm.
 *
 * One schema message, then record batches, then the end-of-stream marker, in one `Uint8Array`
 * allocated at its exact size. The values are copied once, from the builders' typed arrays into
 * the output; a record batch may take its rows from several builders one after another (their
 * offsets rebased on the way, so none needs to start at 0). Only the flatbuffer metadata goes
 * through apache-arrow (its `Message` encoder, no code generation).
 *
 * Layout (https://arrow.apache.org/docs/format/Columnar.html#serialization-and-interprocess-communication-ipc):
 * a message is `0xFFFFFFFF`, the metadata length (int32, padded so the body starts 8-aligned),
 * the flatbuffer `Message`, then the body; every buffer in a body starts at a multiple of 8.
 * No column has nulls, so validity buffers are empty.
 *
 * The schema may ask for other types than the builders hold (the data files of an Iceberg
 * table, ../../catalog/schema.ts): nanosecond timestamps written as microseconds (divided,
 * rounding down), UInt8 as Int32, UInt32 as Int64, UInt64 as Int64 (same bits).
 */
import * as arrow from "apache-arrow";
import {
  BufferRegion,
  FieldNode,
  Message,
  RecordBatch as BatchHeader,
} from "apache-arrow/ipc/metadata/message";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../columns/index.ts";

/**
 * One record batch: `fields[f]` lists the builders whose rows make field `f`, in row order (the
 * same count for every field, each with `rows` rows in all).
 */
export interface BatchColumns {
  rows: number;
  fields: readonly (readonly Column[])[];
}

/** Rows `[start, end)` of a builder (child builders are addressed by ranges). */
interface Part {
  col: Column;
  start: number;
  end: number;
}

/** Field nodes and buffers of one record batch, in the order the IPC format lists them. */
export class Plan {
  readonly nodes: FieldNode[] = [];
  readonly regions: BufferRegion[] = [];
  readonly writers: (Writer | null)[] = [];
  bodyLength = 0;

  node(length: number): void {
    this.nodes.push(new FieldNode(length, 0));
  }

  buffer(bytes: number, write: Writer | null): void {
    this.regions.push(new BufferRegion(this.bodyLength, bytes));
    this.writers.push(bytes > 0 ? write : null);
    this.bodyLength += pad8(bytes);
  }
}

/** Writes a buffer's bytes at `at` of `out` (any 8-aligned view that has room for them). */
export type Writer = (out: Uint8Array, at: number) => void;

export const pad8 = (n: number) => (n + 7) & ~7;

/** Schema messages already encoded, per schema object. */
const schemaMessages = new WeakMap<arrow.Schema, Uint8Array>();

/** The flatbuffer `Message` of `schema` (encoded once per schema object). */
export function schemaMessage(schema: arrow.Schema): Uint8Array {
  let fb = schemaMessages.get(schema);
  if (fb === undefined) {
    fb = Message.encode(Message.from(schema));
    schemaMessages.set(schema, fb);
  }
  return fb;
}

/** The field nodes and buffers of record batch `b` under `schema`. */
export function planBatch(schema: arrow.Schema, b: BatchColumns): Plan {
  if (b.fields.length !== schema.fields.length) {
    throw new TypeError(
      `internal: a record batch has ${b.fields.length} fields, the schema ${schema.fields.length}`,
    );
  }
  const plan = new Plan();
  b.fields.forEach((cols, f) => {
    visit(plan, cols.map((c) => ({ col: c, start: 0, end: c.length })), schema.fields[f].type);
  });
  return plan;
}

/** The flatbuffer `Message` of a record batch of `rows` rows laid out as `plan` says. */
export function batchMessage(rows: number, plan: Plan): Uint8Array {
  return Message.encode(
    Message.from(new BatchHeader(rows, plan.nodes, plan.regions, null), plan.bodyLength),
  );
}

/**
 * Where the stream is written: a buffer of at least `bytes` bytes, of any content (every byte of
 * the stream is written). Default: a new `Uint8Array(bytes)`. A caller that hands the stream to
 * parquet-wasm (which copies it) may recycle one buffer: writing into fresh memory costs its
 * page faults, about half of the time of a big stream.
 */
export type OutputBuffer = (bytes: number) => Uint8Array;

/**
 * The Arrow IPC stream of `batches` under `schema` (fields in the schema's order), as a view of
 * exactly its bytes.
 */
export function ipcStream(
  schema: arrow.Schema,
  batches: readonly BatchColumns[],
  output?: OutputBuffer,
): Uint8Array {
  const steps = ipcStreamSteps(schema, batches, output);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * `ipcStream()` in steps: the generator pauses after each buffer it copies (a few MB at most for
 * a big file), so a caller on a busy event loop can let other work run between steps; its
 * return value is the stream.
 */
export function* ipcStreamSteps(
  schema: arrow.Schema,
  batches: readonly BatchColumns[],
  output?: OutputBuffer,
): Generator<void, Uint8Array, void> {
  const schemaFb = schemaMessage(schema);
  const plans: Plan[] = [];
  const metas: Uint8Array[] = [];
  let total = 8 + pad8(schemaFb.length) + 8; // schema message, end-of-stream marker
  for (const b of batches) {
    const plan = planBatch(schema, b);
    const meta = batchMessage(b.rows, plan);
    plans.push(plan);
    metas.push(meta);
    total += 8 + pad8(meta.length) + plan.bodyLength;
  }
  const out = output ? output(total).subarray(0, total) : new Uint8Array(total);
  if (out.length !== total || out.byteOffset % 8 !== 0) {
    throw new TypeError(
      `internal: an IPC output buffer must hold ${total} bytes and start 8-byte aligned`,
    );
  }
  const view = new DataView(out.buffer, out.byteOffset, total);
  let at = writeMessage(out, view, 0, schemaFb);
  for (let i = 0; i < plans.length; i++) {
    at = writeMessage(out, view, at, metas[i]);
    yield* writeBody(out, at, plans[i]);
    at += plans[i].bodyLength;
  }
  writeEndOfStream(view, at);
  return out;
}

/** Writes the body of a planned batch at `at` (buffers and their padding); pauses per buffer. */
export function* writeBody(out: Uint8Array, at: number, plan: Plan): Generator<void, void, void> {
  const { regions, writers } = plan;
  for (let j = 0; j < writers.length; j++) {
    const { offset, length } = regions[j];
    const w = writers[j];
    out.fill(0, at + offset + length, at + pad8(offset + length)); // padding
    if (w) {
      w(out, at + offset);
      yield;
    }
  }
}

/** The end-of-stream marker at `at`: continuation marker, then length 0 (8 bytes). */
export function writeEndOfStream(view: DataView, at: number): void {
  view.setInt32(at, -1, true);
  view.setInt32(at + 4, 0, true);
}

/** Writes the prefix and metadata of a message at `at`; returns where its body starts. */
export function writeMessage(out: Uint8Array, view: DataView, at: number, fb: Uint8Array): number {
  view.setInt32(at, -1, true);
  view.setInt32(at + 4, pad8(fb.length), true);
  out.set(fb, at + 8);
  out.fill(0, at + 8 + fb.length, at + 8 + pad8(fb.length));
  return at + 8 + pad8(fb.length);
}

/**
 * Adds the field nodes and buffers of one field (and its children) made of `parts`, written as
 * Arrow type `type`.
 */
function visit(plan: Plan, parts: Part[], type: arrow.DataType): void {
  let rows = 0;
  for (const p of parts) rows += p.end - p.start;
  plan.node(rows);
  plan.buffer(0, null); // validity: no nulls
  const c = parts[0].col;
  if (c instanceof Utf8Col) {
    let bytes = 0;
    for (const p of parts) {
      const o = (p.col as Utf8Col).offsets;
      bytes += o[p.end] - o[p.start];
    }
    plan.buffer(4 * (rows + 1), (out, at) => writeOffsets(out, at, rows, parts));
    plan.buffer(bytes, (out, at) => {
      for (const p of parts) {
        const { offsets: o, data } = p.col as Utf8Col;
        const s = o[p.start], e = o[p.end];
        out.set(data.subarray(s, e), at);
        at += e - s;
      }
    });
  } else if (c instanceof ListCol) {
    plan.buffer(4 * (rows + 1), (out, at) => writeOffsets(out, at, rows, parts));
    visit(plan, childParts(parts, (p) => (p.col as ListCol<Column>).child), type.children[0].type);
  } else if (c instanceof MapCol) {
    plan.buffer(4 * (rows + 1), (out, at) => writeOffsets(out, at, rows, parts));
    const keys = childParts(parts, (p) => (p.col as MapCol).keys);
    let entries = 0;
    for (const p of keys) entries += p.end - p.start;
    plan.node(entries); // the entries struct
    plan.buffer(0, null);
    const entryType = type.children[0].type as arrow.Struct;
    visit(plan, keys, entryType.children[0].type);
    visit(
      plan,
      keys.map((p, i) => ({ ...p, col: (parts[i].col as MapCol).values })),
      entryType.children[1].type,
    );
  } else if (c instanceof I64Col && nsToUs(c.type, type)) {
    plan.buffer(8 * rows, (out, at) => {
      const dst = new Uint32Array(out.buffer, out.byteOffset + at, 2 * rows);
      let k = 0;
      for (const p of parts) {
        const h = (p.col as I64Col).halves;
        for (let i = p.start; i < p.end; i++, k += 2) {
          // floor((hi·2^32 + lo) / 1000), exactly: hi % 1000 · 2^32 + lo < 2^53.
          const hi = h[2 * i + 1], lo = h[2 * i];
          const qhi = Math.floor(hi / 1000);
          const rest = (hi - qhi * 1000) * 4294967296 + lo;
          dst[k] = Math.floor(rest / 1000);
          dst[k + 1] = qhi;
        }
      }
    });
  } else if (c instanceof I64Col) {
    plan.buffer(8 * rows, (out, at) => {
      for (const p of parts) {
        const h = (p.col as I64Col).halves;
        const n = 8 * (p.end - p.start);
        out.set(new Uint8Array(h.buffer, h.byteOffset + 8 * p.start, n), at);
        at += n;
      }
    });
  } else if (c instanceof BoolCol) {
    plan.buffer((rows + 7) >> 3, (out, at) => {
      let k = 0, byte = 0;
      for (const p of parts) {
        const v = (p.col as BoolCol).values;
        for (let i = p.start; i < p.end; i++, k++) {
          if (v[i]) byte |= 1 << (k & 7);
          if ((k & 7) === 7) out[at + (k >> 3)] = byte, byte = 0;
        }
      }
      if ((k & 7) !== 0) out[at + (k >> 3)] = byte;
    });
  } else if (c instanceof NumCol && widened(c, type)) {
    const to = (type as arrow.Int).bitWidth;
    plan.buffer((to / 8) * rows, (out, at) => {
      // UInt8 → Int32, UInt32 → Int64 (high halves 0).
      const dst = new Uint32Array(out.buffer, out.byteOffset + at, (to / 32) * rows);
      const step = to / 32;
      let k = 0;
      for (const p of parts) {
        const v = (p.col as NumCol<Uint32Array>).values;
        for (let i = p.start; i < p.end; i++, k += step) {
          dst[k] = v[i];
          if (step === 2) dst[k + 1] = 0;
        }
      }
    });
  } else if (c instanceof NumCol) {
    const width = c.values.BYTES_PER_ELEMENT;
    plan.buffer(width * rows, (out, at) => {
      for (const p of parts) {
        const v = (p.col as NumCol<Float64Array>).values;
        const n = width * (p.end - p.start);
        out.set(new Uint8Array(v.buffer, v.byteOffset + width * p.start, n), at);
        at += n;
      }
    });
  } else {
    throw new TypeError(`internal: no IPC writer for column type ${c.type}`);
  }
}

/** Whether nanosecond column type `from` is written as microsecond type `to`. */
function nsToUs(from: arrow.DataType, to: arrow.DataType): boolean {
  return arrow.DataType.isTimestamp(from) && arrow.DataType.isTimestamp(to) &&
    (from as arrow.Timestamp).unit === arrow.TimeUnit.NANOSECOND &&
    (to as arrow.Timestamp).unit === arrow.TimeUnit.MICROSECOND;
}

/** Whether the values of `c` are written as wider integers of `to` (see the top). */
function widened(c: { values: { BYTES_PER_ELEMENT: number } }, to: arrow.DataType): boolean {
  return arrow.DataType.isInt(to) && (to as arrow.Int).bitWidth / 8 > c.values.BYTES_PER_ELEMENT;
}

/**
 * The child rows of list-like `parts`: the child of a ListCol/MapCol holds exactly its elements,
 * numbered from `offsets[0]` (see ../columns/index.ts).
 */
function childParts(parts: Part[], child: (p: Part) => Column): Part[] {
  return parts.map((p) => {
    const o = (p.col as ListCol<Column>).offsets;
    return { col: child(p), start: o[p.start] - o[0], end: o[p.end] - o[0] };
  });
}

/** The offsets of `rows` values taken from `parts` in turn, from 0, as int32 at `at`. */
function writeOffsets(out: Uint8Array, at: number, rows: number, parts: Part[]): void {
  const dst = new Int32Array(out.buffer, out.byteOffset + at, rows + 1);
  dst[0] = 0;
  let k = 0, run = 0;
  for (const p of parts) {
    const o = (p.col as Utf8Col).offsets;
    const shift = run - o[p.start];
    if (shift === 0) dst.set(o.subarray(p.start + 1, p.end + 1), k + 1);
    else for (let i = p.start + 1; i <= p.end; i++) dst[k + i - p.start] = o[i] + shift;
    k += p.end - p.start;
    run += o[p.end] - o[p.start];
  }
}
