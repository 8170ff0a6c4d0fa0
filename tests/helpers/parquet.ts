/**
 * parquet-wasm for tests: importing this module initialises it once (the esm build needs the
 * wasm bytes, read from node_modules), and `readParquet` reads a file back as an Arrow table.
 */
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import { initParquet } from "../../src/core/parquet/encode.ts";
import { useNodeParquetZstd } from "../../src/core/arrow/zstd.node.ts";

useNodeParquetZstd(); // the native Parquet encoder's zstd, as the server entries register it

initParquet(
  Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
);

/** The rows of a Parquet file as an Arrow table (parquet-wasm reads, apache-arrow decodes IPC). */
export function readParquet(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
}
