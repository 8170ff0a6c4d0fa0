/**
 * The native Parquet encoder on a 1,000,000-row logs file against parquet-wasm: several row
 * groups (`parquet.row_group_rows`), data pages cut near 1 MiB, read back by DuckDB identically
 * (every value and the row order, compared inside DuckDB), with samples across the row-group
 * boundaries compared row by row by DuckDB and the last rows by hyparquet.
 *
 * The rows: five seeded 10,000-record requests (different seeds), their builders written twenty
 * times over, so row i repeats row i - 50,000 (which the samples check: the order is kept).
 * About 60 s and 5 GB of memory (parquet-wasm's side holds the IPC stream and its copy).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { canon, footer } from "./differential.ts";
import { query, readParquet } from "../../helpers/duckdb.ts";
import { generateRequest } from "../../../bench/gen.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import { partition } from "../../../src/core/partition.ts";
import type { TableBuilder } from "../../../src/core/tables.ts";
import { encodeParquet, type ParquetOptions } from "../../../src/core/parquet/encode.ts";
import { useNodeParquetZstd } from "../../../src/core/arrow/zstd.node.ts";

useNodeParquetZstd();

const ROWS = 1_000_000;
const GROUP_ROWS = 300_000;
const BLOCK = 50_000; // rows of the five requests; repeated twenty times

Deno.test("a 1,000,000-row logs file: native = parquet-wasm by DuckDB, 4 row groups, pages split near 1 MiB", async () => {
  const block: TableBuilder[] = [];
  for (let seed = 1; seed <= 5; seed++) {
    const g = generateRequest("logs", { records: 10_000, seed, services: 2 });
    const d = decode("logs", g.protobuf, "protobuf", { receivedAtNs: 1741944413_000_000_000n });
    for (const t of d.tables) for (const p of partition(t)) block.push(p.rows);
  }
  strictEqual(block.reduce((n, b) => n + b.length, 0), BLOCK);
  const builders: TableBuilder[] = [];
  for (let i = 0; i < ROWS / BLOCK; i++) builders.push(...block);
  const opts: ParquetOptions = { codec: "zstd", rowGroupSize: GROUP_ROWS, profile: "default" };
  const native = encodeParquet(builders, { ...opts, encoder: "native" });
  const wasm = encodeParquet(builders, { ...opts, encoder: "wasm" });
  ok(
    native.length <= 1.01 * wasm.length,
    `native ${native.length} B vs parquet-wasm ${wasm.length} B`,
  );

  // The layout: four row groups, the big columns in many pages of at most about 1 MiB.
  const f = footer(native);
  deepStrictEqual(
    f.row_groups.map((g) => Number(g.num_rows)),
    [GROUP_ROWS, GROUP_ROWS, GROUP_ROWS, ROWS - 3 * GROUP_ROWS],
  );
  const body = f.row_groups[0].columns.find((c) => c.meta_data!.path_in_schema[0] === "Body")!;
  const pages = (body.meta_data!.encoding_stats ?? []).reduce((n, s) => n + s.count, 0);
  const raw = Number(body.meta_data!.total_uncompressed_size);
  ok(pages >= 10, `Body of row group 0: ${pages} pages`);
  ok(raw / pages < 1.1 * (1 << 20), `Body pages average ${raw / pages} B`);

  const dir = await Deno.makeTempDir();
  try {
    const a = `${dir}/native.parquet`, b = `${dir}/wasm.parquet`;
    await Deno.writeFile(a, native);
    await Deno.writeFile(b, wasm);
    // Every value in its position: a POSITIONAL JOIN pairs row i of one file with row i of the
    // other (an exact comparison of whole rows, maps included).
    const [c] = await query(`SELECT
      (SELECT count(*) FROM ${readParquet(a)}) AS na,
      (SELECT count(*) FROM ${readParquet(b)}) AS nb,
      (SELECT count(*) FROM ${readParquet(a)} x POSITIONAL JOIN ${readParquet(b)} y
        WHERE x IS DISTINCT FROM y) AS differ,
      (SELECT count(DISTINCT Body) FROM ${readParquet(a)}) AS bodies,
      (SELECT count(*) FROM (SELECT * FROM ${readParquet(a)} LIMIT 1000 OFFSET 1) x
        POSITIONAL JOIN (SELECT * FROM ${readParquet(b)} LIMIT 1000) y
        WHERE x IS DISTINCT FROM y) AS shifted`);
    deepStrictEqual(
      { na: c.na, nb: c.nb, differ: c.differ },
      { na: BigInt(ROWS), nb: BigInt(ROWS), differ: 0n },
    );
    // Negative control: the same comparison of rows one position apart finds them different.
    ok(Number(c.shifted) > 900, `rows one apart: ${c.shifted} of 1000 differ`);
    ok(Number(c.bodies) > 1000, `distinct bodies: ${c.bodies}`);

    // Samples across the row-group boundaries and at the end, row by row (DuckDB, one scan per
    // file): the files agree, and each row equals the one BLOCK rows earlier (the order is kept).
    const ranges: [number, number][] = [[0, 5], [299_995, 300_005], [599_998, 600_003], [
      899_999,
      900_002,
    ], [999_990, 1_000_000]];
    const shifted = ranges.map(([s, e]) => [s - BLOCK, e - BLOCK]).filter(([s]) => s >= 0);
    const where = [...ranges, ...shifted].map(([s, e]) =>
      `(file_row_number >= ${s} AND file_row_number < ${e})`
    ).join(" OR ");
    const withRow = (p: string) => readParquet(p).replace(/\)$/, ", file_row_number = true)");
    const sample = async (p: string) => {
      const rows = await query(
        `SELECT * FROM ${withRow(p)} WHERE ${where} ORDER BY file_row_number`,
      );
      const byRow = new Map<number, string>();
      for (const { file_row_number: n, ...r } of rows) byRow.set(Number(n), canon(r));
      return byRow;
    };
    const sa = await sample(a), sb = await sample(b);
    strictEqual(
      sa.size,
      ranges.reduce((n, [s, e]) => n + e - s, 0) + shifted.reduce((n, [s, e]) => n + e - s, 0),
    );
    deepStrictEqual([...sa], [...sb], "DuckDB sample rows");
    for (const [s, e] of ranges) {
      for (let i = s; i < e; i++) {
        if (i >= BLOCK) strictEqual(sa.get(i), sa.get(i - BLOCK), `row ${i} = row ${i - BLOCK}`);
      }
    }
    // hyparquet on the last row group's tail (reading it decodes that row group only).
    const hy = async (file: Uint8Array) =>
      (await parquetReadObjects({
        file: file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer,
        compressors,
        rowFormat: "object",
        rowStart: ROWS - 10,
        rowEnd: ROWS,
      })).map(canon);
    const ha = await hy(native), hb = await hy(wasm);
    strictEqual(ha.length, 10);
    deepStrictEqual(ha, hb, "hyparquet rows of the end");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
