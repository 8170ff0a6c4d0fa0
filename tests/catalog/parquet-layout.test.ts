/**
 * Data files written for an Iceberg table (`ParquetOptions.iceberg`), read back with hyparquet
 * (an independent reader): every column carries its Parquet field id (nested fields too, as
 * src/catalog/schema.ts numbers them), timestamps are TIMESTAMP(MICROS, UTC) for format
 * version 2 and NANOS for version 3, unsigned columns are written signed and wider, and every
 * value reads back as written.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { generateRequest } from "../../bench/gen.ts";
import { ensureParquet } from "../../bench/core.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { DEFAULT_PARQUET, encodeParquet } from "../../src/core/parquet/encode.ts";
import { partition } from "../../src/core/partition.ts";
import type { Signal, TableName } from "../../src/core/tables.ts";
import { columnIds, icebergSchema, type IcebergType } from "../../src/catalog/schema.ts";

async function firstPartition(signal: Signal, table: TableName, seed = 3) {
  await ensureParquet();
  const g = generateRequest(signal, { records: 300, seed, services: 1 });
  const parts = decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n }).tables
    .flatMap((t) => partition(t)).filter((p) => p.table === table);
  return parts[0];
}

function ab(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Every field id of an Iceberg type, in schema order (depth first). */
function idsOf(t: IcebergType, out: number[]): number[] {
  if (typeof t === "string") return out;
  if (t.type === "list") out.push(t["element-id"]), idsOf(t.element, out);
  else if (t.type === "map") {
    out.push(t["key-id"]);
    idsOf(t.key, out);
    out.push(t["value-id"]);
    idsOf(t.value, out);
  }
  return out;
}

for (
  const [signal, table] of [
    ["logs", "logs"],
    ["traces", "traces"],
    ["metrics", "histogram"],
    ["metrics", "sum"],
  ] as const
) {
  Deno.test(`an Iceberg v2 ${table} data file has field ids, micros and signed ints`, async () => {
    const p = await firstPartition(signal, table);
    const plain = encodeParquet(p.rows, DEFAULT_PARQUET);
    const ice = encodeParquet(p.rows, { ...DEFAULT_PARQUET, iceberg: 2 });
    const meta = parquetMetadata(ab(ice));
    // Field ids of the file's schema elements (after the root), in order, against the schema's.
    const expected: number[] = [];
    for (const f of icebergSchema(table, "default", 2).fields) {
      expected.push(f.id);
      idsOf(f.type, expected);
    }
    const fileIds = meta.schema.slice(1).map((e) => e.field_id).filter((x) => x !== undefined);
    deepStrictEqual(fileIds, expected);
    const ids = columnIds(table);
    const times = [ids.get("Timestamp"), ids.get("TimeUnix")].filter((x) => x !== undefined);
    for (const e of meta.schema.slice(1)) {
      if (e.field_id !== undefined && times.includes(e.field_id)) {
        deepStrictEqual(e.logical_type, {
          type: "TIMESTAMP",
          isAdjustedToUTC: true,
          unit: "MICROS",
        });
      }
      if (e.logical_type?.type === "INTEGER") strictEqual(e.logical_type.isSigned, true);
    }
    // Same rows, timestamps divided by 1000 (rounded down), integers unchanged.
    const a = await parquetReadObjects({ file: ab(plain), compressors, utf8: true });
    const b = await parquetReadObjects({ file: ab(ice), compressors, utf8: true });
    strictEqual(b.length, a.length);
    const norm = (v: unknown): unknown => {
      if (v instanceof Date) return v.getTime();
      if (Array.isArray(v)) return v.map(norm);
      if (typeof v === "bigint") return Number(v);
      if (v && typeof v === "object") {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
      }
      return v;
    };
    for (let i = 0; i < a.length; i++) deepStrictEqual(norm(b[i]), norm(a[i]));
  });
}

Deno.test("an Iceberg v3 data file keeps nanosecond timestamps", async () => {
  const p = await firstPartition("logs", "logs");
  const ice = encodeParquet(p.rows, { ...DEFAULT_PARQUET, iceberg: 3 });
  const meta = parquetMetadata(ab(ice));
  const ts = meta.schema.find((e) => e.name === "Timestamp")!;
  deepStrictEqual(ts.logical_type, { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "NANOS" });
  strictEqual(ts.field_id, 1);
  strictEqual(icebergSchema("logs", "default", 3).fields[0].type, "timestamptz_ns");
});
