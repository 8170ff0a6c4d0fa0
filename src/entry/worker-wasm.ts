/**
 * parquet-wasm's binary for the Worker, as a module of its own (dist/worker/parquet-wasm.js,
 * beside the bundle): ./worker.ts imports it only when something needs parquet-wasm (zstd or
 * lz4_raw Parquet, `parquet.encoder = "wasm"`, compaction, which reads Parquet with it), so an
 * isolate that only ingests with the native encoder never loads the wasm.
 */
// @ts-expect-error: workerd, wrangler and our build import a .wasm file as a compiled
// WebAssembly.Module (the CompiledWasm rule); the package's typings describe its instance exports.
import wasmModule from "parquet-wasm/esm/parquet_wasm_bg.wasm";

export default wasmModule as WebAssembly.Module;
