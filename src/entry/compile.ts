/**
 * Entry of the single executable built with `bun build --compile` (deno task compile:bun): the
 * parquet-wasm binary is embedded in the executable (`with { type: "file" }`) and read from
 * Bun's embedded file system, so the program runs with no node_modules next to it.
 */
// @ts-expect-error: Bun's file import attribute gives the embedded file's path (Deno has no such type).
import wasmPath from "parquet-wasm/esm/parquet_wasm_bg.wasm" with { type: "file" };
import { readFileSync } from "node:fs";
import { useParquetWasm } from "../core/parquet/wasm.node.ts";

useParquetWasm(readFileSync(wasmPath as string));
const { run } = await import("./main.ts");
run();
