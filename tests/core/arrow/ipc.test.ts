/**
 * toIPC() writes the Arrow IPC stream straight from the column builders: several builders (the
 * chunks of one batch, slices among them whose offsets do not start at 0) must read back, with
 * apache-arrow's own reader and through parquet-wasm, exactly as the one table they add up to.
 * Column.appendAll() (how a batch merges small chunks) must give the same rows too.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import * as arrow from "apache-arrow";
import { generateRequest } from "../../../bench/gen.ts";
import { type Column, inArena, ListCol, MapCol, Utf8Col } from "../../../src/core/columns/index.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import {
  DEFAULT_PARQUET,
  encodeParquet,
  toIPC,
  toIPCInSlices,
  toRecordBatch,
} from "../../../src/core/parquet/encode.ts";
import { newTable, type TableBuilder } from "../../../src/core/tables.ts";
import { readParquet } from "../../helpers/parquet.ts";

const opts = { receivedAtNs: 1n };

const json = (v: unknown) =>
  JSON.stringify(
    v,
    (_k, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? [...x] : x),
  );

/** Every row of an Arrow table as JSON (maps, lists and 64-bit values included). */
function tableRows(t: arrow.Table): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.numRows; i++) out.push(json(t.get(i)?.toJSON()));
  return out;
}

/** The rows of builders, through apache-arrow's own makeData path (no IPC writer of ours). */
function builderRows(parts: readonly TableBuilder[]): string[] {
  return parts.flatMap((p) => tableRows(new arrow.Table([toRecordBatch(p, "extended")])));
}

/** A builder's rows as chunks: slices of it (offsets not from 0), a slice of a slice, a copy. */
function chunksOf(t: TableBuilder): TableBuilder[] {
  const n = t.length;
  const a = Math.floor(n / 5), b = Math.floor(n / 2), c = Math.floor((3 * n) / 4);
  const slice = (s: number, e: number, from: TableBuilder = t) => {
    const out: Record<string, Column> = {};
    for (const [k, col] of Object.entries(from.cols as unknown as Record<string, Column>)) {
      out[k] = col.slice(s, e);
    }
    return newTableFrom(t, out);
  };
  const middle = slice(a, c);
  return [
    slice(0, a),
    slice(0, b - a, middle), // a slice of a slice
    slice(b - a, c - a, middle),
    t.take(Int32Array.from({ length: n - c }, (_, i) => c + i)),
  ];
}

function newTableFrom(t: TableBuilder, cols: Record<string, Column>): TableBuilder {
  const out = newTable(t.table);
  Object.assign(out.cols, cols);
  return out;
}

/** Every decoded table of one generated request per signal, with several services each. */
function tables(): TableBuilder[] {
  const out: TableBuilder[] = [];
  for (const signal of ["logs", "traces", "metrics"] as const) {
    const records = signal === "metrics" ? 1000 : 240; // every metric kind
    const g = generateRequest(signal, { records, seed: 5, services: 3 });
    out.push(...decode(signal, g.protobuf, "protobuf", opts).tables.filter((t) => t.length >= 10));
  }
  return out;
}

/** Record batches toIPC() makes: consecutive chunks while they fit in `batchRows` rows. */
function batchCount(chunks: TableBuilder[], batchRows: number): number {
  let n = 1, rows = 0;
  for (const c of chunks) {
    if (rows > 0 && rows + c.length > batchRows) n++, rows = 0;
    rows += c.length;
  }
  return n;
}

/** True when some offsets column of the chunk (at any depth) does not start at 0. */
function hasRebasedOffsets(t: TableBuilder): boolean {
  const walk = (c: Column): boolean =>
    c instanceof Utf8Col
      ? c.offsets[0] !== 0
      : c instanceof MapCol
      ? c.offsets[0] !== 0 || walk(c.keys)
      : c instanceof ListCol
      ? c.offsets[0] !== 0 || walk(c.child)
      : false;
  return Object.values(t.cols as unknown as Record<string, Column>).some(walk);
}

Deno.test("toIPC() of several chunks, slices among them, reads back as the table they add up to", () => {
  const seen = new Set<string>();
  for (const t of tables()) {
    const chunks = chunksOf(t);
    ok(chunks.slice(1, 3).every(hasRebasedOffsets), `${t.table}: slices should not start at 0`);
    const want = builderRows([t]);
    deepStrictEqual(builderRows(chunks), want, `${t.table}: the chunks hold the rows`);
    for (const batchRows of [1, 7, 1 << 20]) {
      const got = arrow.tableFromIPC(toIPC(chunks, "extended", { batchRows }));
      deepStrictEqual(tableRows(got), want, `${t.table}, ${batchRows} rows per batch`);
      strictEqual(got.batches.length, batchCount(chunks, batchRows), `${t.table} batches`);
      // Same fields and types as the schema apache-arrow writes for the builder.
      deepStrictEqual(
        got.schema.fields.map((f) => `${f.name}: ${f.type}`),
        toRecordBatch(t, "extended").schema.fields.map((f) => `${f.name}: ${f.type}`),
      );
    }
    // The default profile writes the leading columns only.
    const short = arrow.tableFromIPC(toIPC(chunks, "default"));
    deepStrictEqual(tableRows(short), tableRows(new arrow.Table([toRecordBatch(t, "default")])));
    seen.add(t.table);
  }
  // Maps, lists of maps, 64-bit integers, booleans and empty strings were all covered.
  for (const table of ["logs", "traces", "sum", "histogram", "summary"]) ok(seen.has(table), table);
});

Deno.test("toIPC() output holds empty strings, 64-bit extremes and empty maps exactly", () => {
  const t = newTable("traces");
  const c = t.cols;
  for (let i = 0; i < 3; i++) {
    c.Timestamp.append(0xffffffff, i === 0 ? 0x7fffffff : i); // up to 2^63 - 1 ns
    for (const s of [c.TraceId, c.SpanId, c.ParentSpanId, c.TraceState, c.SpanKind]) {
      s.appendEmpty();
    }
    c.SpanName.appendString(i === 1 ? "" : `span ${i} — ünïcode`);
    for (const s of [c.ServiceName, c.ScopeName, c.ScopeVersion, c.StatusCode, c.StatusMessage]) {
      s.appendString(i === 2 ? "" : "x");
    }
    for (const m of [c.ResourceAttributes, c.SpanAttributes]) {
      if (i !== 1) { // entries in key order, as a decoder writes them
        m.keys.appendString("a");
        m.values.appendString(String(i));
        m.keys.appendString("b");
        m.values.appendString("");
      }
      m.endSortedRow();
    }
    c.Duration.append(0xffffffff, 0xffffffff); // 2^64 - 1
    c["Events.Timestamp"].child.append(i, 0);
    c["Events.Timestamp"].endRow();
    c["Events.Name"].child.appendEmpty();
    c["Events.Name"].endRow();
    const ev = c["Events.Attributes"].child;
    ev.keys.appendString("k");
    ev.values.appendString(i === 0 ? "" : "v");
    ev.endSortedRow();
    c["Events.Attributes"].endRow();
    for (const l of ["Links.TraceId", "Links.SpanId", "Links.TraceState"] as const) c[l].endRow();
    c["Links.Attributes"].endRow();
    for (const n of [c.SpanFlags, c.DroppedAttributesCount, c.DroppedEventsCount]) n.append(i);
    c.DroppedLinksCount.append(0xffffffff);
    c.ServiceNamespace.appendEmpty();
    c.ServiceInstanceId.appendEmpty();
  }
  const chunks = chunksOf(t); // 0, 1, 1 and 1 rows
  const got = arrow.tableFromIPC(toIPC(chunks, "extended"));
  const row = (i: number) => got.get(i)!.toJSON() as Record<string, unknown>;
  strictEqual(got.numRows, 3);
  const raw = (name: string, i: number) => got.getChild(name)!.data[0].values[i];
  strictEqual(raw("Timestamp", 0), 0x7fffffffffffffffn);
  strictEqual(raw("Timestamp", 1), 0x1ffffffffn);
  strictEqual(row(2).Duration, 0xffffffffffffffffn);
  strictEqual(row(1).SpanName, "");
  strictEqual(row(2).ServiceName, "");
  strictEqual(row(0).DroppedLinksCount, 0xffffffff);
  deepStrictEqual(json(row(0).SpanAttributes), json({ a: "0", b: "" }));
  deepStrictEqual(json(row(1).SpanAttributes), json({}));
  deepStrictEqual(json(row(0)["Events.Attributes"]), json([{ k: "" }]));
  deepStrictEqual([...got.getChild("Events.Timestamp")!.data[0].children[0].values], [0n, 1n, 2n]);
  deepStrictEqual(json(row(1)["Links.Attributes"]), json([]));
  deepStrictEqual(tableRows(got), builderRows([t]));
});

Deno.test("encodeParquet() of chunks writes the same rows as of one builder", () => {
  for (const t of tables().filter((t) => t.table === "traces" || t.table === "histogram")) {
    const want = tableRows(readParquet(encodeParquet(t, DEFAULT_PARQUET)));
    const got = tableRows(readParquet(encodeParquet(chunksOf(t), DEFAULT_PARQUET)));
    strictEqual(got.length, t.length);
    deepStrictEqual(got, want, t.table);
  }
});

Deno.test("appendAll() merges chunks, slices among them, into exact-size buffers", () => {
  for (const t of tables()) {
    const chunks = chunksOf(t);
    const merged = newTable(t.table);
    const cols = merged.cols as unknown as Record<string, Column>;
    for (const [k, c] of Object.entries(cols)) {
      c.appendAll(chunks.map((p) => (p.cols as unknown as Record<string, Column>)[k]));
    }
    merged.assertAligned();
    deepStrictEqual(builderRows([merged]), builderRows([t]), t.table);
    strictEqual(merged.byteSize(), t.byteSize(), `${t.table}: byteSize() counts the same rows`);
    for (const [k, c] of Object.entries(cols)) {
      if (c instanceof Utf8Col) strictEqual(c.data.length, c.byteLength, `${t.table}.${k} data`);
      if (c instanceof Utf8Col || c instanceof MapCol || c instanceof ListCol) {
        strictEqual(c.offsets.length, c.length + 1, `${t.table}.${k} offsets`);
      }
    }
    // Appending more after a merge still works (the buffers grow again).
    const again = newTable(t.table);
    for (const [k, c] of Object.entries(again.cols as unknown as Record<string, Column>)) {
      c.appendAll([cols[k]]);
      c.appendFrom((chunks[1].cols as unknown as Record<string, Column>)[k]);
    }
    deepStrictEqual(builderRows([again]), builderRows([merged, chunks[1]]), t.table);
  }
});

/** Every typed-array buffer of a column (children included). */
function buffersOf(c: Column): ArrayBufferView[] {
  const out: ArrayBufferView[] = [];
  for (const v of Object.values(c)) {
    if (ArrayBuffer.isView(v)) out.push(v);
    else if (v && typeof v === "object" && "byteSize" in v) out.push(...buffersOf(v as Column));
  }
  return out;
}

Deno.test("appendAll() in an arena carves every buffer from one ArrayBuffer; a small one spills", () => {
  for (const t of tables()) {
    const chunks = chunksOf(t);
    const merge = (bytes: number) => {
      const merged = newTable(t.table);
      const cols = Object.entries(merged.cols as unknown as Record<string, Column>);
      inArena(bytes, () => {
        for (const [k, c] of cols) {
          c.appendAll(chunks.map((p) => (p.cols as unknown as Record<string, Column>)[k]));
        }
      });
      merged.assertAligned();
      return { merged, bufs: cols.flatMap(([, c]) => buffersOf(c)).filter((b) => b.byteLength) };
    };
    // What the batcher reserves: the parts' byteSize() plus 8 bytes of alignment per buffer.
    const { merged, bufs } = merge(chunks.reduce((n, p) => n + p.byteSize(), 0) + 8 * 128);
    deepStrictEqual(builderRows([merged]), builderRows([t]), t.table);
    ok(bufs.length > 3, t.table);
    strictEqual(new Set(bufs.map((b) => b.buffer)).size, 1, `${t.table}: one ArrayBuffer`);
    for (const b of bufs) strictEqual(b.byteOffset % 8, 0, `${t.table}: 8-byte aligned views`);
    // An arena too small for all of them: the rest get buffers of their own, rows unchanged.
    const small = merge(4096);
    deepStrictEqual(builderRows([small.merged]), builderRows([t]), `${t.table} (small arena)`);
    ok(new Set(small.bufs.map((b) => b.buffer)).size > 1, t.table);
    // Outside inArena every buffer is its own again.
    const plain = newTable(t.table);
    const pc = Object.entries(plain.cols as unknown as Record<string, Column>);
    for (const [k, c] of pc) c.appendAll([(merged.cols as unknown as Record<string, Column>)[k]]);
    const pb = pc.flatMap(([, c]) => buffersOf(c)).filter((b) => b.byteLength);
    strictEqual(new Set(pb.map((b) => b.buffer)).size, pb.length, `${t.table}: no arena`);
  }
});

Deno.test("toIPC() into a recycled buffer full of other bytes writes the same stream", () => {
  for (const t of tables().filter((t) => t.table === "traces" || t.table === "sum")) {
    const chunks = chunksOf(t);
    const want = toIPC(chunks, "extended");
    const used = new Uint8Array(want.length + 64).fill(0xaa);
    let asked = 0;
    const got = toIPC(chunks, "extended", {
      output: (n) => {
        asked = n;
        return used.subarray(8); // an 8-aligned view, longer than needed
      },
    });
    strictEqual(asked, want.length);
    strictEqual(got.buffer, used.buffer);
    deepStrictEqual(got, want, t.table);
    throws(() => toIPC(chunks, "extended", { output: () => used.subarray(4) }), TypeError);
  }
});

Deno.test("take() of a slice picks the slice's rows, lists and maps included", () => {
  for (const t of tables()) {
    const [, slice] = chunksOf(t); // a slice of a slice: offsets far from 0
    const pick = Int32Array.from([slice.length - 1, 0, Math.floor(slice.length / 2), 0]);
    const all = builderRows([slice]);
    deepStrictEqual(builderRows([slice.take(pick)]), [...pick].map((i) => all[i]), t.table);
  }
});

Deno.test("toIPCInSlices() pauses between buffers and writes the same bytes as toIPC()", async () => {
  for (const t of tables()) {
    const chunks = chunksOf(t);
    let pauses = 0;
    const pause = () => (pauses++, Promise.resolve());
    // sliceMs 0: a pause after every buffer copied.
    const sliced = await toIPCInSlices(chunks, "extended", pause, 0);
    deepStrictEqual(sliced, toIPC(chunks, "extended"), t.table);
    ok(pauses >= 3, `${t.table}: ${pauses} pauses`);
    // A long slice: no pause at all for a small table.
    pauses = 0;
    deepStrictEqual(
      await toIPCInSlices(chunks, "default", pause, 60_000),
      toIPC(chunks, "default"),
    );
    strictEqual(pauses, 0);
  }
});
