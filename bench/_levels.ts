import { generateRequest } from "./gen.ts";
import { ensureParquet } from "./core.ts";
import { decode } from "../src/core/otlp/index.ts";
import { encodeParquet } from "../src/core/parquet/encode.ts";
import { useNodeZstd } from "../src/core/arrow/zstd.node.ts";
import type { TableBuilder } from "../src/core/tables.ts";
await ensureParquet();
useNodeZstd();
for (const sig of ["logs", "traces", "metrics"] as const) {
  const g = generateRequest(sig, { records: 10000, seed: 1, services: 1 });
  const d = decode(sig, g.protobuf, "protobuf", { receivedAtNs: 1n });
  for (const t of d.tables) {
    const b = t as unknown as TableBuilder;
    const o = { codec: "zstd" as const, rowGroupSize: 122880, profile: "default" as const };
    const w = encodeParquet(b, { ...o, encoder: "wasm" }).length;
    const r = [1, 2, 3, 4, 5].map((l) => {
      const t0 = performance.now();
      let n = 0;
      for (let i = 0; i < 5; i++) n = encodeParquet(b, { ...o, encoder: "native", zstdLevel: l }).length;
      return `L${l} ${(n / w).toFixed(3)} ${((performance.now() - t0) / 5).toFixed(0)}ms`;
    });
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) encodeParquet(b, { ...o, encoder: "wasm" });
    console.log(b.table.padEnd(22), `wasm ${((performance.now() - t0) / 5).toFixed(0)}ms`, r.join("  "));
  }
}
