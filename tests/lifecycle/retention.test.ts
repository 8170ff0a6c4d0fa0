import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { enforceRetention } from "../../src/lifecycle/retention.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import { silentLogger } from "../../src/log/log.ts";
import { listFiles } from "../helpers/duckdb.ts";
import { HOUR0_NS, HOUR_NS, writeSmallFiles } from "./fixtures.ts";

const DAY_MS = 86_400_000;
const hour0Ms = Number(HOUR0_NS / 1_000_000n);

Deno.test("retention deletes only whole partitions past the limit, never the log, markers or foreign objects; --dry-run deletes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-retention-" });
  try {
    const storage = createFsStorage({ root: dir });
    // Hour 0 and hour 47 (two days later), logs; metrics and traces rules differ.
    await writeSmallFiles(storage, "old", 2, 1, HOUR0_NS);
    await writeSmallFiles(storage, "new", 2, 1, HOUR0_NS + 47n * HOUR_NS);
    const enc = new TextEncoder();
    const hourDir = "logs/old/year=2024/month=05/day=01/hour=10";
    await storage.put(`${hourDir}/notes.txt`, enc.encode("a foreign file"));
    await storage.put("logs-archive/old.parquet", enc.encode("another prefix"));
    await storage.put(".wal/0000000001.wal", enc.encode("write-ahead log"));
    await storage.put("_compaction/logs/old/x.json", enc.encode("{}"));
    const all = await listFiles(dir);
    // Now: 2 days and 1 hour after hour 0 ended; logs kept 2 days, traces forever.
    const now = () => hour0Ms + 3_600_000 + 2 * DAY_MS + 3_600_000;
    const days = { logs: 2, traces: 0, metrics: 1 };

    const dry = await enforceRetention(storage, { days, now, dryRun: true }, silentLogger);
    deepStrictEqual(dry.partitions.map((p) => [p.partition, p.files.length]), [[hourDir, 2]]);
    strictEqual(dry.deleted, 0);
    deepStrictEqual(await listFiles(dir), all);

    const r = await enforceRetention(storage, { days, now }, silentLogger);
    strictEqual(r.deleted, 2);
    const left = await listFiles(dir);
    deepStrictEqual(
      all.filter((f) => !left.includes(f)).every((f) =>
        f.startsWith(`${hourDir}/`) && f.endsWith(".parquet")
      ),
      true,
    );
    for (
      const keep of [
        `${hourDir}/notes.txt`,
        "logs-archive/old.parquet",
        ".wal/0000000001.wal",
        "_compaction/logs/old/x.json",
      ]
    ) {
      strictEqual(left.includes(keep), true, keep);
    }
    strictEqual(left.filter((f) => f.startsWith("logs/new/")).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
