// Run by worker-memory.test.ts in a subprocess with a capped V8 heap: converts the request file
// given as argument to Parquet and prints the record count and parquet-wasm's memory size.
import * as pw from "parquet-wasm/esm";
import { convertRequest } from "../../src/core/convert.ts";
import { DEFAULT_PARQUET, encodeParquet, initParquet } from "../../src/core/parquet/encode.ts";

initParquet(
  Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
);
const [signal, file] = Deno.args as ["logs" | "traces" | "metrics", string];
const body = Deno.readFileSync(file);
const c = convertRequest(signal, body, "protobuf", { receivedAtNs: 0n });
let bytes = 0;
for (const p of c.partitions) bytes += encodeParquet(p.rows, DEFAULT_PARQUET).byteLength;
console.log(
  JSON.stringify({
    records: c.records,
    parquetBytes: bytes,
    wasmBytes: pw.wasmMemory().buffer.byteLength,
  }),
);
