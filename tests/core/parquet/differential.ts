/**
 * Differential checks of the native Parquet encoder against parquet-wasm: the same table
 * builders written by both, read back by DuckDB, hyparquet and parquet-wasm's reader, the rows
 * (values, order) and column types compared reader by reader.
 */
import * as arrow from "apache-arrow";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { readParquet as readArrow } from "../../helpers/parquet.ts";
import { describe, query, readParquet as sqlFiles } from "../../helpers/duckdb.ts";
import { generateRequest } from "../../../bench/gen.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import { partition } from "../../../src/core/partition.ts";
import type { TableBuilder, TableName } from "../../../src/core/tables.ts";
import { useNodeParquetZstd } from "../../../src/core/arrow/zstd.node.ts";

useNodeParquetZstd();

/** A canonical string of a value as a reader returned it (NaN, −0, bigints, dates kept apart). */
export function canon(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean") return String(v);
  if (v instanceof Date) return `D${v.getTime()}`;
  if (v instanceof Uint8Array) return `B${Array.from(v).join(",")}`;
  if (typeof v === "object") {
    if (v instanceof arrow.Vector || ArrayBuffer.isView(v) || Array.isArray(v)) {
      return `[${Array.from(v as Iterable<unknown>, canon).join(",")}]`;
    }
    const o = v as Record<string, unknown> & { toJSON?: () => unknown };
    if (o instanceof arrow.MapRow) {
      return `{${
        Array.from(o as unknown as Iterable<[unknown, unknown]>, ([k, x]) =>
          `${canon(k)}:${canon(x)}`).join(",")
      }}`;
    }
    if (typeof o.toJSON === "function" && !(o instanceof Date)) return canon(o.toJSON());
    return `{${Object.entries(o).map(([k, x]) => `${k}:${canon(x)}`).join(",")}}`;
  }
  return String(v);
}

/** The rows of a file per reader, as canonical strings, and each reader's view of the types. */
export interface ReadBack {
  duckdb: string[];
  hyparquet: string[];
  arrow: string[];
  duckdbTypes: string;
  arrowTypes: string;
}

let fileNo = 0;

export async function readAll(file: Uint8Array, dir: string): Promise<ReadBack> {
  const path = `${dir}/f${fileNo++}.parquet`;
  await Deno.writeFile(path, file);
  const duck = await query(`SELECT * FROM ${sqlFiles(path)}`);
  const types = await describe(path);
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const hy = await parquetReadObjects({ file: ab, compressors, rowFormat: "object" }) as Record<
    string,
    unknown
  >[];
  const t = readArrow(file);
  const rows: string[] = [];
  for (let i = 0; i < t.numRows; i++) rows.push(canon(t.get(i)));
  return {
    duckdb: duck.map(canon),
    hyparquet: hy.map(canon),
    arrow: rows,
    duckdbTypes: types.map((c) => `${c.name}:${c.type}`).join(","),
    arrowTypes: t.schema.fields.map((f) => `${f.name}:${f.type}`).join(","),
  };
}

/** Footer of a file (hyparquet's reading). */
export function footer(file: Uint8Array) {
  return parquetMetadata(
    file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer,
  );
}

/** One builder per table from seeded generated requests of every signal. */
export function tables(records = 300, seed = 7): Map<TableName, TableBuilder[]> {
  const out = new Map<TableName, TableBuilder[]>();
  for (const signal of ["logs", "traces", "metrics"] as const) {
    const g = generateRequest(signal, { records, seed, services: 2 });
    const d = decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n });
    for (const t of d.tables) {
      for (const p of partition(t)) {
        const list = out.get(p.rows.table) ?? [];
        list.push(p.rows);
        out.set(p.rows.table, list);
      }
    }
  }
  return out;
}
