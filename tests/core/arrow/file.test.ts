/**
 * Arrow IPC files (`output.format = "arrow"`, src/core/arrow/file.ts) read back by three
 * readers: apache-arrow (every column and value equal to the Parquet file of the same rows, read
 * through parquet-wasm), and two independent implementations from npm, @uwdata/flechette (a
 * separate JavaScript reader; 2.2.6 reads no compressed buffers, so it gets the uncompressed
 * files) and nodejs-polars (Rust Polars, native), which reads all three compressions.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as arrow from "apache-arrow";
import { compressionRegistry } from "apache-arrow/ipc/compression/registry";
import { CompressionType } from "apache-arrow/fb/compression-type";
import { tableFromIPC as flechetteFromIPC } from "@uwdata/flechette";
import pl from "nodejs-polars";
import { decompress as zstdDecompress } from "fzstd";
import lz4 from "lz4js";
import { generateRequest } from "../../../bench/gen.ts";
import { type ArrowCompression, encodeArrowFile } from "../../../src/core/arrow/file.ts";
import { loadArrowCompressor } from "../../../src/core/arrow/codecs.ts";
import { useNodeZstd } from "../../../src/core/arrow/zstd.node.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import { DEFAULT_PARQUET, encodeParquet } from "../../../src/core/parquet/encode.ts";
import type { Profile, TableBuilder } from "../../../src/core/tables.ts";
import { readParquet } from "../../helpers/parquet.ts";

// apache-arrow reads compressed buffers through codecs it is given (decoders only).
compressionRegistry.set(CompressionType.ZSTD, { decode: (d) => zstdDecompress(d) });
compressionRegistry.set(CompressionType.LZ4_FRAME, {
  decode: (d) => Uint8Array.from(lz4.decompress(d)),
});

ok(useNodeZstd(), "this runtime (Deno) has node:zlib zstd");
strictEqual(await loadArrowCompressor("lz4"), null);

const COMPRESSIONS: ArrowCompression[] = ["none", "zstd", "lz4"];

/** Every decoded table of one generated request per signal (all five metric kinds), as chunks. */
function tables(): { name: string; chunks: TableBuilder[] }[] {
  const out: { name: string; chunks: TableBuilder[] }[] = [];
  for (const signal of ["logs", "traces", "metrics"] as const) {
    const records = signal === "metrics" ? 1000 : 300;
    for (const seed of [7, 8]) {
      const g = generateRequest(signal, { records, seed, services: 1 });
      for (const t of decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n }).tables) {
        let e = out.find((x) => x.name === t.table);
        if (!e) out.push(e = { name: t.table, chunks: [] });
        e.chunks.push(t); // two chunks per table: two record batches' worth of rows
      }
    }
  }
  return out;
}

const TABLES = tables();

/** A value in one canonical form: numbers and 64-bit integers as text, maps as [key, value]. */
function canon(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string" || v === null || v === undefined) return v;
  if (v instanceof Map) return [...v].map(([k, x]) => [canon(k), canon(x)]);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, canon);
  if (Array.isArray(v)) {
    return v.map((x) =>
      x !== null && typeof x === "object" && !Array.isArray(x) && "key" in x && "value" in x
        ? [canon(x.key), canon(x.value)] // Polars' map entries (List of Struct{key, value})
        : canon(x)
    );
  }
  throw new TypeError(`canon(): unexpected ${Object.prototype.toString.call(v)}`);
}

/**
 * Column `name` of an apache-arrow table in canonical form, values exact (timestamps from their
 * int64 nanoseconds, not the milliseconds `get()` gives).
 */
function arrowColumn(t: arrow.Table, name: string): unknown[] {
  const col = t.getChild(name)!;
  const one = (vec: arrow.Vector): unknown[] => {
    const type = vec.type;
    if (arrow.DataType.isList(type)) {
      return Array.from({ length: vec.length }, (_, i) => one(vec.get(i) as arrow.Vector));
    }
    if (arrow.DataType.isMap(type)) {
      return Array.from(
        { length: vec.length },
        (_, i) => [...(vec.get(i) as Iterable<[string, string]>)].map(([k, x]) => [k, x]),
      );
    }
    if (arrow.DataType.isUtf8(type)) return [...vec] as string[];
    return Array.from(vec.toArray() as ArrayLike<unknown>, canon);
  };
  return one(col as arrow.Vector);
}

function arrowColumns(t: arrow.Table): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const f of t.schema.fields) out[f.name] = arrowColumn(t, f.name);
  return out;
}

/** The same through Polars: Datetime columns cast to Int64 (nanoseconds), as text, first. */
function polarsColumns(bytes: Uint8Array): Record<string, unknown[]> {
  const df = pl.readIPC(Buffer.from(bytes));
  const out: Record<string, unknown[]> = {};
  for (const name of df.columns) {
    const dtype = String(df.getColumn(name).dtype);
    let s = df.getColumn(name);
    // As text: Polars hands Int64 to JavaScript as (inexact) numbers.
    if (dtype.startsWith("DataType(Datetime")) s = s.cast(pl.Int64).cast(pl.Utf8);
    else if (dtype.startsWith("DataType(List(DataType(Datetime")) {
      s = s.cast(pl.List(pl.Int64)).cast(pl.List(pl.Utf8));
    }
    out[name] = canon([...s.toArray()]) as unknown[];
  }
  return out;
}

/**
 * The same through flechette. It gives nanosecond timestamps as fractional milliseconds
 * (`Number(ns / 10^6) + Number(ns % 10^6) / 10^6`); the exact values are turned the same way.
 */
function flechetteColumns(bytes: Uint8Array): Record<string, unknown[]> {
  const t = flechetteFromIPC(bytes, { useBigInt: true, useMap: true });
  const out: Record<string, unknown[]> = {};
  for (const f of t.schema.fields) {
    out[f.name] = canon(t.getChild(f.name)!.toArray() as unknown[]) as unknown[];
  }
  return out;
}

/** apache-arrow's exact columns with timestamps as flechette reports them (see above). */
function asMilliseconds(t: arrow.Table): Record<string, unknown[]> {
  const ms = (ns: string) => {
    const n = BigInt(ns);
    return String(Number(n / 1_000_000n) + Number(n % 1_000_000n) / 1e6);
  };
  const out = arrowColumns(t);
  for (const f of t.schema.fields) {
    const type = f.type;
    if (arrow.DataType.isTimestamp(type)) out[f.name] = out[f.name].map((v) => ms(v as string));
    else if (arrow.DataType.isList(type) && arrow.DataType.isTimestamp(type.children[0].type)) {
      out[f.name] = out[f.name].map((l) => (l as string[]).map(ms));
    }
  }
  return out;
}

for (const profile of ["default", "extended"] as Profile[]) {
  Deno.test(`Arrow IPC files (${profile}) read back by apache-arrow equal the Parquet files of the same rows, column by column`, () => {
    for (const { name, chunks } of TABLES) {
      const parquet = readParquet(encodeParquet(chunks, { ...DEFAULT_PARQUET, profile }));
      const want = arrowColumns(parquet);
      for (const compression of COMPRESSIONS) {
        const file = encodeArrowFile(chunks, { compression, profile });
        const t = arrow.tableFromIPC(file);
        const what = `${name} (${compression})`;
        strictEqual(t.numRows, parquet.numRows, what);
        strictEqual(t.batches.length, 1, `${what}: ${chunks.length} chunks make one record batch`);
        deepStrictEqual(
          t.schema.fields.map((f) => `${f.name}: ${f.type}`),
          parquet.schema.fields.map((f) => `${f.name}: ${f.type}`),
          what,
        );
        deepStrictEqual(
          Object.fromEntries(t.schema.metadata),
          {
            "otlp2parquet.version": parquet.schema.metadata.get("otlp2parquet.version"),
            "otlp2parquet.schema_profile": profile,
            "otlp2parquet.table": name,
          },
          what,
        );
        const got = arrowColumns(t);
        for (const col of Object.keys(want)) deepStrictEqual(got[col], want[col], `${what}.${col}`);
      }
    }
  });
}

Deno.test("Arrow IPC files are the file format: magic at both ends, a footer naming every batch", () => {
  const { chunks } = TABLES[0];
  const file = encodeArrowFile(chunks, { compression: "none", profile: "default" });
  const text = (a: number, b: number) => new TextDecoder().decode(file.subarray(a, b));
  strictEqual(text(0, 6), "ARROW1");
  strictEqual(text(file.length - 6, file.length), "ARROW1");
  // apache-arrow's file reader goes through the footer (random access to each batch).
  const reader = arrow.RecordBatchReader.from(file);
  ok(reader.isFile(), "read as a file, not a stream");
  strictEqual([...reader].length, 1);
});

Deno.test("Arrow IPC compression makes the files smaller and changes no value", () => {
  for (const { name, chunks } of TABLES) {
    const size = (c: ArrowCompression) =>
      encodeArrowFile(chunks, { compression: c, profile: "default" }).length;
    const none = size("none");
    ok(size("zstd") < none, `${name}: zstd ${size("zstd")} < ${none}`);
    ok(size("lz4") < none, `${name}: lz4 ${size("lz4")} < ${none}`);
  }
});

Deno.test("nodejs-polars reads every Arrow IPC file, every compression, with the same values", () => {
  for (const { name, chunks } of TABLES) {
    const want = arrowColumns(readParquet(encodeParquet(chunks, DEFAULT_PARQUET)));
    for (const compression of COMPRESSIONS) {
      const got = polarsColumns(encodeArrowFile(chunks, { compression, profile: "default" }));
      deepStrictEqual(Object.keys(got), Object.keys(want), `${name} (${compression}) columns`);
      for (const col of Object.keys(want)) {
        deepStrictEqual(got[col], want[col], `${name} (${compression}).${col}`);
      }
    }
  }
});

Deno.test("@uwdata/flechette reads the uncompressed Arrow IPC files with the same values", () => {
  for (const { name, chunks } of TABLES) {
    const want = asMilliseconds(readParquet(encodeParquet(chunks, DEFAULT_PARQUET)));
    const got = flechetteColumns(
      encodeArrowFile(chunks, { compression: "none", profile: "default" }),
    );
    deepStrictEqual(Object.keys(got), Object.keys(want), `${name} columns`);
    for (const col of Object.keys(want)) deepStrictEqual(got[col], want[col], `${name}.${col}`);
  }
});
