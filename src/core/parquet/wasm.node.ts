/**
 * parquet-wasm's binary for the server entries: next to a bundle (dist/node/, dist/lambda/),
 * or from node_modules when run from source, or embedded in the single executable
 * (../../entry/compile.ts hands it over with `useParquetWasm`). The bytes are kept: encoder
 * threads load them too.
 */
import { readFileSync } from "node:fs";
import { initParquet, parquetReady } from "./encode.ts";

let bytes: Uint8Array | null = null;

export function readParquetWasm(): Uint8Array {
  if (bytes) return bytes;
  try {
    bytes = readFileSync(new URL("./parquet_wasm_bg.wasm", import.meta.url));
  } catch {
    bytes = readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm")));
  }
  return bytes;
}

/** Uses `wasm` as parquet-wasm's binary (the single executable's embedded copy) and loads it. */
export function useParquetWasm(wasm: Uint8Array): void {
  bytes = wasm;
  initParquet(wasm);
}

/** Initialises parquet-wasm once (later calls do nothing). */
export function initParquetFromDisk(): void {
  if (!parquetReady()) initParquet(readParquetWasm());
}
