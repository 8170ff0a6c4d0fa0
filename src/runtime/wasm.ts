/**
 * parquet-wasm's binary for the server entries: next to a bundle (dist/node/, dist/lambda/),
 * or from node_modules when run from source.
 */
import { readFileSync } from "node:fs";
import { initParquet, parquetReady } from "../core/parquet.ts";

export function readParquetWasm(): Uint8Array {
  try {
    return readFileSync(new URL("./parquet_wasm_bg.wasm", import.meta.url));
  } catch {
    return readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm")));
  }
}

/** Initialises parquet-wasm once (later calls do nothing). */
export function initParquetFromDisk(): void {
  if (!parquetReady()) initParquet(readParquetWasm());
}
