// Run by worker-scheduled.test.ts in a subprocess with a capped V8 heap: one lifecycle run with
// the Workers defaults over the fs storage at the directory given as argument; prints what it
// compacted and parquet-wasm's memory size.
import * as pw from "parquet-wasm/esm";
import { defaultConfig } from "../../src/config/types.ts";
import { initParquet } from "../../src/core/parquet/encode.ts";
import { runLifecycle } from "../../src/lifecycle/index.ts";
import { silentLogger } from "../../src/log/log.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";

initParquet(
  Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
);
const config = defaultConfig("workers");
config.compaction.enabled = true;
const r = await runLifecycle(createFsStorage({ root: Deno.args[0] }), config, silentLogger);
console.log(JSON.stringify({
  partitions: r.compaction!.partitions.length,
  rows: r.compaction!.partitions.reduce((n, p) => n + p.rows, 0),
  wasmBytes: pw.wasmMemory().buffer.byteLength,
}));
