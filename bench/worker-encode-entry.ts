/**
 * The Worker script of bench/worker-encode.ts (bundled by it, run in workerd): POST a protobuf
 * logs request to `/?encoder=native|wasm&codec=snappy&n=N`; it is decoded and partitioned once,
 * then every partition is encoded as Parquet N times with those settings. Answers the bytes of
 * one encoding. Time is measured outside (workerd stops its clocks while a request computes).
 */
// @ts-expect-error: a .wasm import is a compiled WebAssembly.Module in workerd (CompiledWasm).
import wasmModule from "parquet-wasm/esm/parquet_wasm_bg.wasm";
import { decode } from "../src/core/otlp/index.ts";
import {
  type Codec,
  DEFAULT_PARQUET,
  encodeParquet,
  initParquet,
  type ParquetEncoder,
} from "../src/core/parquet/encode.ts";
import { partition } from "../src/core/partition.ts";

export default {
  async fetch(request: Request): Promise<Response> {
    initParquet(wasmModule as WebAssembly.Module);
    const url = new URL(request.url);
    const encoder = (url.searchParams.get("encoder") ?? "native") as ParquetEncoder;
    const codec = (url.searchParams.get("codec") ?? "snappy") as Codec;
    const n = Number(url.searchParams.get("n") ?? "1");
    const body = new Uint8Array(await request.arrayBuffer());
    const parts = decode("logs", body, "protobuf", { receivedAtNs: 1n }).tables.flatMap((t) =>
      partition(t)
    );
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      bytes = 0;
      for (const p of parts) {
        bytes += encodeParquet(p.rows, { ...DEFAULT_PARQUET, codec, encoder }).byteLength;
      }
    }
    return Response.json({ bytes, parts: parts.length });
  },
};
