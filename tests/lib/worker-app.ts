/**
 * For tests/lib/bundle.test.ts: a Cloudflare Worker that uses the library, as docs/library.md
 * shows: `createWriter` over the R2 bucket binding, parquet-wasm's module imported by the
 * Worker. POST /logs?format=parquet|arrow stores the OTLP/JSON body and answers the result.
 */
// @ts-expect-error: workerd and esbuild (with the CompiledWasm rule) import .wasm as a module.
import wasm from "parquet-wasm/esm/parquet_wasm_bg.wasm";
import { createWriter } from "../../src/lib/index.ts";

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    const url = new URL(request.url);
    const format = url.searchParams.get("format") === "arrow" ? "arrow" : "parquet";
    const writer = await createWriter({
      bindings: env,
      wasm: wasm as WebAssembly.Module,
      output: { format },
      arrow: { compression: "lz4" },
      log: false,
    });
    const result = await writer.exportLogs(await request.json());
    await writer.close();
    return Response.json({ result, platform: writer.config.batch.enabled, stats: writer.stats() });
  },
};
