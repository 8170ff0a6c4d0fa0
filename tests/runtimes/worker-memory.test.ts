/**
 * A Worker has 128 MB for everything in its isolate. The largest request accepted there (10 MiB,
 * the Workers default of server.max_payload_bytes) must convert within it: each signal's 10 MiB
 * protobuf request is converted to Parquet in a process whose V8 heap is capped at 96 MB, and
 * parquet-wasm's linear memory must stay under the remaining 32 MB.
 */
import { ok, strictEqual } from "node:assert/strict";
import { generateRequest } from "../../bench/gen.ts";
import { defaultConfig } from "../../src/config/types.ts";

const LIMIT = defaultConfig("workers").server.max_payload_bytes;
const HEAP_MB = 96;
const WASM_MAX = 32 * 1024 * 1024;

/** A generated request of as many records as fit in `LIMIT` bytes of protobuf. */
function requestNear(signal: "logs" | "traces" | "metrics"): { body: Uint8Array; records: number } {
  const probe = generateRequest(signal, { records: 1000, seed: 7 });
  let n = Math.floor((1000 * LIMIT) / probe.protobuf.byteLength);
  for (;;) {
    const r = generateRequest(signal, { records: n, seed: 7 });
    if (r.protobuf.byteLength <= LIMIT) return { body: r.protobuf, records: r.records };
    n = Math.floor(n * 0.98);
  }
}

for (const signal of ["logs", "traces", "metrics"] as const) {
  Deno.test(`a ${LIMIT / 1048576} MiB ${signal} request converts within a Worker's 128 MB`, async () => {
    const { body, records } = requestNear(signal);
    ok(body.byteLength > LIMIT * 0.9, `request is only ${body.byteLength} bytes`);
    const file = await Deno.makeTempFile({ suffix: ".pb" });
    try {
      await Deno.writeFile(file, body);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `--v8-flags=--max-old-space-size=${HEAP_MB}`,
          new URL("./convert-capped.ts", import.meta.url).pathname,
          signal,
          file,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      strictEqual(r.records, records);
      ok(r.parquetBytes > 0);
      ok(r.wasmBytes <= WASM_MAX, `parquet-wasm grew to ${r.wasmBytes} bytes`);
    } finally {
      await Deno.remove(file);
    }
  });
}
