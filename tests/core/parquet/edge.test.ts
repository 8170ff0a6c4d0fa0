/**
 * The native Parquet encoder on fuzzed columns: empty and multi-byte strings, strings past the
 * statistics' 64 bytes, NaN/−0/±Inf, integer extremes, empty lists and maps, lists of empty
 * maps; several row groups, small pages, a dictionary past its limit. Each file is compared
 * with parquet-wasm's of the same builders, read back by DuckDB, hyparquet and parquet-wasm.
 * Also Iceberg data files (field ids, converted types), and a negative control: one changed
 * value is caught.
 */
import { deepStrictEqual, notDeepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { footer, readAll, tables } from "./differential.ts";
import { encodeParquet, type ParquetOptions } from "../../../src/core/parquet/encode.ts";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../../../src/core/columns/index.ts";
import {
  newTable,
  TABLE_NAMES,
  type TableBuilder,
  type TableName,
} from "../../../src/core/tables.ts";

/** A small seeded PRNG (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  "",
  "a",
  "élève",
  "日本語のテキスト",
  "emoji 🎉🚀",
  "x".repeat(70),
  "é".repeat(40), // 80 bytes: cut at a character boundary in statistics
  "\u{10FFFF}".repeat(20),
  "ÿ".repeat(33) + "z",
  "checkout",
  "frontend",
];
const DOUBLES = [NaN, -0, 0, Infinity, -Infinity, 1.5, -2.25, 1e308, 5e-324, -1e-300, 42];

function fill(c: Column, r: () => number, distinct: number): void {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  if (c instanceof Utf8Col) {
    if (r() < 0.5) c.appendString(pick(STRINGS));
    else c.appendString(`v${Math.floor(r() * distinct)}-ü`);
  } else if (c instanceof NumCol) {
    const t = String(c.type);
    if (t === "Float64") c.append(pick(DOUBLES));
    else if (t === "Uint8") c.append(pick([0, 1, 9, 255]));
    else if (t === "Uint32") c.append(pick([0, 1, 2 ** 31, 4294967295, Math.floor(r() * 1000)]));
    else c.append(pick([0, 1, -1, 2147483647, -2147483648]));
  } else if (c instanceof I64Col) {
    if (String(c.type).startsWith("Timestamp")) {
      // 2025-03-14 plus up to a day, in ns, with sub-µs digits
      const ns = 1741944413000000000n + BigInt(Math.floor(r() * 86_400_000_000)) * 1000n +
        BigInt(Math.floor(r() * 1000));
      c.appendBigInt(ns);
    } else {
      c.append(pick([0, 1, 0xffffffff, 12345]), pick([0, 0, 0xffffffff, 0x7fffffff]));
    }
  } else if (c instanceof BoolCol) c.append(r() < 0.5);
  else if (c instanceof MapCol) {
    const n = pick([0, 0, 1, 2, 4]);
    // Distinct keys in sorted order, as the decoders hand a map row over.
    const keys = new Set<string>();
    for (let i = 0; i < n; i++) keys.add(r() < 0.2 ? "" : `k${Math.floor(r() * 6)}`);
    for (const k of [...keys].sort()) {
      c.keys.appendString(k);
      c.values.appendString(r() < 0.3 ? pick(STRINGS) : `val-${Math.floor(r() * distinct)}`);
    }
    c.endSortedRow();
  } else if (c instanceof ListCol) {
    const n = pick([0, 0, 1, 3]);
    for (let i = 0; i < n; i++) fill(c.child, r, distinct);
    c.endRow();
  } else throw new Error(`no fuzzer for ${c.type}`);
}

/** `rows` fuzzed rows of `table`; `distinct` bounds the distinct generated strings. */
export function fuzzTable(
  table: TableName,
  rows: number,
  seed: number,
  distinct = 50,
): TableBuilder {
  const b = newTable(table);
  const r = rng(seed);
  const cols = Object.values(b.cols as unknown as Record<string, Column>);
  for (let i = 0; i < rows; i++) for (const c of cols) fill(c, r, distinct);
  b.assertAligned();
  return b;
}

async function same(rows: TableBuilder[], opts: ParquetOptions, dir: string) {
  const wasm = encodeParquet(rows, { ...opts, encoder: "wasm" });
  const native = encodeParquet(rows, { ...opts, encoder: "native" });
  const a = await readAll(wasm, dir), b = await readAll(native, dir);
  const what = `${rows[0].table}/${opts.profile}`;
  strictEqual(b.duckdbTypes, a.duckdbTypes, `${what}: DuckDB types`);
  strictEqual(b.arrowTypes, a.arrowTypes, `${what}: Arrow types`);
  deepStrictEqual(b.duckdb, a.duckdb, `${what}: DuckDB rows`);
  deepStrictEqual(b.hyparquet, a.hyparquet, `${what}: hyparquet rows`);
  deepStrictEqual(b.arrow, a.arrow, `${what}: parquet-wasm rows`);
  return { wasm, native, read: b };
}

async function inTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("fuzzed columns of every table: native = parquet-wasm, several row groups and pages", async () => {
  await inTemp(async (dir) => {
    for (const [i, table] of TABLE_NAMES.entries()) {
      // Two builders, so row groups and pages span builder boundaries.
      const rows = [fuzzTable(table, 400, 100 + i), fuzzTable(table, 311, 200 + i)];
      const { native } = await same(rows, {
        codec: "zstd",
        rowGroupSize: 300,
        profile: "extended",
        pageBytes: 2048,
      }, dir);
      const f = footer(native);
      strictEqual(f.row_groups.length, 3, `${table}: row groups`);
      strictEqual(Number(f.num_rows), 711);
      const pages = f.row_groups[0].columns.map((c) =>
        c.meta_data!.encoding_stats!.filter((s) => s.page_type === "DATA_PAGE")
          .reduce((n, s) => n + s.count, 0)
      );
      ok(Math.max(...pages) > 1, `${table}: one page per chunk (${pages})`);
    }
  });
});

Deno.test("a dictionary past its limit falls back to PLAIN pages, rows unchanged", async () => {
  await inTemp(async (dir) => {
    const rows = [fuzzTable("logs", 3000, 5, 100_000)];
    const { native } = await same(rows, {
      codec: "snappy",
      rowGroupSize: 122_880,
      profile: "default",
      pageBytes: 1024,
      dictionaryBytes: 4096,
    }, dir);
    const chunk = footer(native).row_groups[0].columns.find((c) =>
      c.meta_data!.path_in_schema.join(".") === "SeverityText"
    )!.meta_data!;
    const kinds = chunk.encoding_stats!.map((s) => `${s.page_type}/${s.encoding}`);
    ok(kinds.includes("DATA_PAGE/RLE_DICTIONARY"), kinds.join(" "));
    ok(kinds.includes("DATA_PAGE/PLAIN"), kinds.join(" "));
    ok(kinds.includes("DICTIONARY_PAGE/PLAIN"), kinds.join(" "));
  });
});

Deno.test("edge values read back exactly: NaN, −0, ±Inf, UInt64/UInt32 maxima, empty and multi-byte strings", async () => {
  await inTemp(async (dir) => {
    const b = newTable("sum");
    const cols = b.cols;
    const values = [NaN, -0, 0, Infinity, -Infinity, 5e-324];
    for (const [i, v] of values.entries()) {
      for (const c of Object.values(cols as unknown as Record<string, Column>)) {
        if (c === cols.Value) cols.Value.append(v);
        else if (c === cols.Flags) cols.Flags.append(i === 0 ? 4294967295 : i);
        else if (c === cols.MetricName) cols.MetricName.appendString(STRINGS[i]);
        else fill(c, rng(i), 3);
      }
    }
    const { read, native } = await same([b], {
      codec: "none",
      rowGroupSize: 100,
      profile: "default",
    }, dir);
    const got = read.arrow.map((r) => r.match(/"?Value"?:([^,}]+)/)?.[1]);
    deepStrictEqual(got, ["NaN", "-0", "0", "Infinity", "-Infinity", "5e-324"]);
    const stats = footer(native).row_groups[0].columns.find((c) =>
      c.meta_data!.path_in_schema[0] === "Value"
    )!.meta_data!.statistics!;
    // NaN is left out; the zero bound is −0 for min (none here: −Inf), +0 for max (none: +Inf).
    strictEqual(stats.min_value, -Infinity);
    strictEqual(stats.max_value, Infinity);
  });
});

Deno.test("Iceberg data files (format 2 and 3): native = parquet-wasm, field ids equal", async () => {
  const data = tables();
  await inTemp(async (dir) => {
    for (const iceberg of [2, 3] as const) {
      for (const table of TABLE_NAMES) {
        const rows = data.get(table)!;
        const { wasm, native } = await same(rows, {
          codec: "zstd",
          rowGroupSize: 122_880,
          profile: "extended",
          iceberg,
        }, dir);
        const ids = (f: Uint8Array) =>
          footer(f).schema.map((s) =>
            `${s.name}:${s.field_id}:${s.type}:${JSON.stringify(s.logical_type)}`
          );
        deepStrictEqual(ids(native), ids(wasm), `${table}: schema`);
      }
    }
  });
});

Deno.test("negative control: one changed byte of one value is caught by every reader", async () => {
  await inTemp(async (dir) => {
    const b = fuzzTable("logs", 50, 9);
    const opts: ParquetOptions = { codec: "zstd", rowGroupSize: 1000, profile: "default" };
    const a = await readAll(encodeParquet(b, { ...opts, encoder: "wasm" }), dir);
    const body = (b as TableBuilder<"logs">).cols.Body;
    let row = 17;
    while (body.offsets[row + 1] === body.offsets[row]) row++; // a non-empty Body
    body.data[body.offsets[row]] ^= 1;
    const c = await readAll(encodeParquet(b, { ...opts, encoder: "native" }), dir);
    notDeepStrictEqual(c.duckdb, a.duckdb);
    notDeepStrictEqual(c.hyparquet, a.hyparquet);
    notDeepStrictEqual(c.arrow, a.arrow);
  });
});
