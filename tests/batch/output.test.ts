/**
 * `output.format = "arrow"` through every writer of the server (write-through, batching with the
 * write-ahead log, batching in memory): `.arrow` objects under the same keys as the Parquet
 * files of the same requests (only the extension differs) and the same rows.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as arrow from "apache-arrow";
import { compressionRegistry } from "apache-arrow/ipc/compression/registry";
import { CompressionType } from "apache-arrow/fb/compression-type";
import lz4 from "lz4js";
import { generateRequest } from "../../bench/gen.ts";
import { createWriter } from "../../src/batch/index.ts";
import { createWalFs } from "../../src/batch/wal/fs.node.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { convertRequest } from "../../src/core/convert.ts";
import type { Signal } from "../../src/core/tables.ts";
import { silentLogger } from "../../src/log/log.ts";
import { createMemoryStorage, type MemoryStorage } from "../../src/storage/memory.ts";
import { readParquet } from "../helpers/parquet.ts";

compressionRegistry.set(CompressionType.LZ4_FRAME, {
  decode: (d) => Uint8Array.from(lz4.decompress(d)),
});

const rows = (t: arrow.Table) =>
  Array.from(
    { length: t.numRows },
    (_, i) => JSON.stringify(t.get(i)?.toJSON(), (_k, x) => typeof x === "bigint" ? String(x) : x),
  );

async function writeAll(config: Config): Promise<MemoryStorage> {
  const storage = createMemoryStorage();
  const writer = await createWriter({
    config,
    storage,
    logger: silentLogger,
    walFs: createWalFs(),
  });
  for (const signal of ["logs", "traces", "metrics"] as Signal[]) {
    for (const seed of [1, 2]) {
      const g = generateRequest(signal, {
        records: signal === "metrics" ? 500 : 100,
        seed,
        services: 2,
      });
      const receivedAtNs = 1n;
      const { partitions } = convertRequest(signal, g.protobuf, "protobuf", { receivedAtNs });
      await writer.write({
        signal,
        format: "protobuf",
        body: g.protobuf,
        receivedAtNs,
        partitions,
      });
    }
  }
  await writer.close();
  return storage;
}

for (
  const [what, env] of [
    ["write-through", { OTLP2PARQUET_BATCH_ENABLED: "false" }],
    ["batching with the write-ahead log", {}],
    ["batching in memory", { OTLP2PARQUET_BATCH_DURABILITY: "memory" }],
  ] as const
) {
  Deno.test(`${what}: output.format = "arrow" stores .arrow files with the keys and rows of the Parquet files`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-output-" });
    try {
      const config = (format: string, sub: string) =>
        loadConfig({
          platform: "server",
          env: {
            ...env,
            OTLP2PARQUET_STORAGE_BACKEND: "memory",
            OTLP2PARQUET_BATCH_WAL_DIR: `${dir}/${sub}`,
            OTLP2PARQUET_OUTPUT_FORMAT: format,
            OTLP2PARQUET_ARROW_COMPRESSION: "lz4",
          },
        });
      const pq = await writeAll(config("parquet", "p"));
      const ar = await writeAll(config("arrow", "a"));
      const pqKeys = [...pq.objects.keys()].sort();
      const arKeys = [...ar.objects.keys()].sort();
      ok(pqKeys.length >= 2 * 7, `files of every table and both services: ${pqKeys.length}`);
      ok(arKeys.every((k) => k.endsWith(".arrow")), arKeys.join("\n"));
      const stem = (k: string) => k.replace(/-[0-9a-f]+\.(parquet|arrow)$/, "");
      deepStrictEqual(arKeys.map(stem), pqKeys.map(stem));
      const byStem = (s: MemoryStorage) => {
        const m = new Map<string, string[]>();
        for (const [k, v] of s.objects) {
          const t = k.endsWith(".arrow") ? arrow.tableFromIPC(v) : readParquet(v);
          m.set(stem(k), [...(m.get(stem(k)) ?? []), ...rows(t)].sort());
        }
        return m;
      };
      const want = byStem(pq), got = byStem(ar);
      for (const [k, r] of want) deepStrictEqual(got.get(k), r, k);
      strictEqual(got.size, want.size);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
