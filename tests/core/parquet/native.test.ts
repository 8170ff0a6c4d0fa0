/**
 * The native Parquet encoder (src/core/parquet/writer.ts) against parquet-wasm: every table,
 * both profiles, every codec, read back by DuckDB, hyparquet and parquet-wasm.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { footer, readAll, tables } from "./differential.ts";
import { encodeParquet, type ParquetOptions } from "../../../src/core/parquet/encode.ts";
import { TABLE_NAMES } from "../../../src/core/tables.ts";

const data = tables();

for (const codec of ["zstd", "snappy", "gzip", "none"] as const) {
  for (const profile of ["default", "extended"] as const) {
    Deno.test(`native = parquet-wasm for every table, ${profile} profile, ${codec}`, async () => {
      const dir = await Deno.makeTempDir();
      try {
        for (const table of TABLE_NAMES) {
          const rows = data.get(table);
          ok(rows && rows.length > 0, `no ${table} rows generated`);
          const opts: ParquetOptions = { codec, rowGroupSize: 122_880, profile };
          const wasm = encodeParquet(rows, { ...opts, encoder: "wasm" });
          const native = encodeParquet(rows, { ...opts, encoder: "native" });
          const a = await readAll(wasm, dir), b = await readAll(native, dir);
          ok(a.duckdb.length > 0);
          strictEqual(b.duckdbTypes, a.duckdbTypes, `${table}: DuckDB types`);
          strictEqual(b.arrowTypes, a.arrowTypes, `${table}: Arrow types`);
          deepStrictEqual(b.duckdb, a.duckdb, `${table}: DuckDB rows`);
          deepStrictEqual(b.hyparquet, a.hyparquet, `${table}: hyparquet rows`);
          deepStrictEqual(b.arrow, a.arrow, `${table}: parquet-wasm rows`);
          const fa = footer(wasm), fb = footer(native);
          const codecs = new Set(
            fb.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)),
          );
          ok(
            codec === "none"
              ? codecs.size === 1 && codecs.has("UNCOMPRESSED")
              : codecs.has(codec.toUpperCase() as never),
            `${table}: codecs ${[...codecs]}`,
          );
          // Statistics equal where both write them.
          const stats = (f: typeof fa) =>
            f.row_groups[0].columns.map((c) => {
              const s = c.meta_data!.statistics;
              return `${c.meta_data!.path_in_schema.join(".")}=${
                s ? `${s.min_value}..${s.max_value}` : "-"
              }`;
            });
          deepStrictEqual(stats(fb), stats(fa), `${table}: statistics`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
}
