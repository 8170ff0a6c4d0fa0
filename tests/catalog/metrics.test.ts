/**
 * Data file metrics (src/catalog/metrics.ts) against the rows themselves, read back with
 * hyparquet: for every table, every top-level primitive column's lower and upper bounds decode
 * (as Iceberg's single-value binary form of its type) to the file's true min and max (strings:
 * a prefix of at most 16 characters not above the min, and a bound not below the max), value
 * counts equal the rows, null counts are 0, every leaf column has a size, and the partition
 * values are the file's service and hour.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { generateRequest } from "../../bench/gen.ts";
import { ensureParquet } from "../../bench/core.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { DEFAULT_PARQUET, encodeParquet } from "../../src/core/parquet/encode.ts";
import { partition } from "../../src/core/partition.ts";
import { type Signal, signalOf, TABLE_NAMES, type TableName } from "../../src/core/tables.ts";
import { readFooter } from "../../src/catalog/footer.ts";
import { DataFileError, dataFileOf, fromBase64 } from "../../src/catalog/metrics.ts";
import { type FormatVersion, icebergSchema } from "../../src/catalog/schema.ts";

function ab(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** A bound's value, decoded by the column's Iceberg type. */
function decodeBound(type: string, b: Uint8Array): unknown {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  switch (type) {
    case "int":
      strictEqual(b.length, 4);
      return dv.getInt32(0, true);
    case "long":
    case "timestamptz":
    case "timestamptz_ns":
      strictEqual(b.length, 8);
      return dv.getBigInt64(0, true);
    case "double":
      strictEqual(b.length, 8);
      return dv.getFloat64(0, true);
    case "boolean":
      strictEqual(b.length, 1);
      return b[0] === 1;
    case "string":
      return new TextDecoder().decode(b);
  }
  throw new Error(`no decoder for ${type}`);
}

/** A row value as the bound of its Iceberg type holds it. */
function asBoundValue(type: string, v: unknown, version: FormatVersion, raw?: bigint): unknown {
  if (type === "timestamptz" || type === "timestamptz_ns") {
    return raw !== undefined
      ? raw
      : BigInt((v as Date).getTime()) * (version >= 3 ? 1000000n : 1000n);
  }
  if (type === "long") return BigInt(v as number | bigint);
  return v;
}

/** A file of `table` in row groups of a third of its rows (bounds span row groups). */
async function fileOf(table: TableName, version: FormatVersion) {
  await ensureParquet();
  const signal: Signal = signalOf(table);
  const g = generateRequest(signal, { records: 600, seed: 7, services: 1 });
  const p = decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n }).tables
    .flatMap((t) => partition(t)).filter((x) => x.table === table)[0];
  const rowGroupSize = Math.max(1, Math.floor(p.rows.length / 3));
  const bytes = encodeParquet(p.rows, { ...DEFAULT_PARQUET, rowGroupSize, iceberg: version });
  return { p, bytes };
}

for (const table of TABLE_NAMES) {
  for (const version of [2, 3] as const) {
    Deno.test(`${table} v${version}: bounds decode to each column's true min and max`, async () => {
      const { p, bytes } = await fileOf(table, version);
      const df = dataFileOf(bytes, "k.parquet", table, version);
      const rows = await parquetReadObjects({ file: ab(bytes), compressors, utf8: true });
      // Timestamps exactly: hyparquet hands back Dates (ms), so read the raw int64s too.
      strictEqual(df.recordCount, p.rows.length);
      strictEqual(df.fileSizeInBytes, bytes.length);
      strictEqual(rows.length, p.rows.length);
      ok(readFooter(bytes).rowGroups.length > 1, "several row groups");
      const lower = new Map(df.lowerBounds), upper = new Map(df.upperBounds);
      const values = new Map(df.valueCounts), nulls = new Map(df.nullValueCounts);
      const sizes = new Map(df.columnSizes);
      const schema = icebergSchema(table, "default", version);
      let checked = 0;
      for (const f of schema.fields) {
        ok((sizes.get(f.id) ?? 0) > 0 || typeof f.type !== "string", `size of ${f.name}`);
        if (typeof f.type !== "string") continue;
        strictEqual(values.get(f.id), rows.length, `value count of ${f.name}`);
        strictEqual(nulls.get(f.id), 0, `null count of ${f.name}`);
        const type = f.type;
        const col = rows.map((r) => r[f.name]);
        const raw = type.startsWith("timestamptz")
          ? rawTimes(p.rows.cols as never, f.name, version)
          : undefined;
        const vals = col.map((v, i) => asBoundValue(type, v, version, raw?.[i]));
        const real = vals.filter((v) => !(typeof v === "number" && Number.isNaN(v)));
        if (real.length === 0) continue;
        const sorted = [...real].sort((a, b) =>
          typeof a === "string"
            ? cmpUtf8(a, b as string)
            : (a as number) < (b as number)
            ? -1
            : (a as number) > (b as number)
            ? 1
            : 0
        );
        const lo = decodeBound(type, fromBase64(lower.get(f.id)!));
        const hi = decodeBound(type, fromBase64(upper.get(f.id)!));
        if (type === "string") {
          const min = sorted[0] as string, max = sorted[sorted.length - 1] as string;
          ok([...(lo as string)].length <= 16 && min.startsWith(lo as string), `${f.name} lower`);
          ok(
            cmpUtf8(hi as string, max) >= 0 && [...(hi as string)].length <= 16,
            `${f.name} upper`,
          );
          if ([...min].length <= 16) strictEqual(lo, min);
          if ([...max].length <= 16) strictEqual(hi, max);
        } else {
          deepStrictEqual(lo, sorted[0], `${f.name} lower`);
          deepStrictEqual(hi, sorted[sorted.length - 1], `${f.name} upper`);
        }
        checked++;
      }
      ok(checked >= 8, `checked ${checked} columns`);
      strictEqual(df.partition.service, p.service);
      strictEqual(df.partition.hour, p.hour);
    });
  }
}

/** Exact int64 times of a time column (micros for v2, nanos for v3) from the builders. */
function rawTimes(
  cols: Record<string, { halves: Uint32Array; length: number }>,
  name: string,
  v: FormatVersion,
): bigint[] {
  const c = cols[name];
  const out: bigint[] = [];
  for (let i = 0; i < c.length; i++) {
    const ns = (BigInt(c.halves[2 * i + 1]) << 32n) | BigInt(c.halves[2 * i]);
    out.push(v >= 3 ? ns : ns / 1000n);
  }
  return out;
}

function cmpUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

Deno.test("a file written without the Iceberg layout is refused with the reason", async () => {
  await ensureParquet();
  const g = generateRequest("logs", { records: 20, seed: 1, services: 1 });
  const p = decode("logs", g.protobuf, "protobuf", { receivedAtNs: 1n }).tables
    .flatMap((t) => partition(t))[0];
  const plain = encodeParquet(p.rows, DEFAULT_PARQUET);
  throws(
    () => dataFileOf(plain, "a.parquet", "logs", 2),
    (e: Error) => e instanceof DataFileError && /no field ids/.test(e.message),
  );
  const v3 = encodeParquet(p.rows, { ...DEFAULT_PARQUET, iceberg: 3 });
  throws(
    () => dataFileOf(v3, "b.parquet", "logs", 2),
    (e: Error) =>
      e instanceof DataFileError && /NANOS, a format version 2 table holds MICROS/.test(e.message),
  );
});
