import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { compact, type CompactionOptions, MARKER_DIR } from "../../src/lifecycle/compact.ts";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import { DEFAULT_PARQUET } from "../../src/core/parquet/encode.ts";
import { silentLogger } from "../../src/log/log.ts";
import type { StorageDriver } from "../../src/storage/types.ts";
import { describe, listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { HOUR0_NS, writeSmallFiles } from "./fixtures.ts";

const MiB = 1024 * 1024;

function options(over: Partial<CompactionOptions> = {}): CompactionOptions {
  return {
    minFiles: 2,
    minAgeSecs: 3600,
    targetBytes: 256 * MiB,
    maxInputBytes: 1024 * MiB,
    maxPartitions: 100,
    maxRunMs: 600_000,
    parquet: DEFAULT_PARQUET,
    ...over,
  };
}

let tables = 0;

/** The rows now under `dir` as a DuckDB table; returns its name. */
async function snapshot(dir: string): Promise<string> {
  const name = `snap_${tables++}`;
  const files = (await listParquet(dir)).map((f) => `${dir}/${f}`);
  await query(`CREATE TABLE ${name} AS SELECT * FROM ${readParquet(files)}`);
  return name;
}

async function exceptAll(a: string, b: string): Promise<number> {
  const r = await query(
    `SELECT count(*) AS n FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})`,
  );
  return Number(r[0].n);
}

Deno.test("compact() turns 500 small files of one hour into ceil(total / target) files with the same rows, sorted by time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-" });
  try {
    const storage = createFsStorage({ root: dir });
    const rows = await writeSmallFiles(storage, "checkout", 500);
    const before = await listParquet(dir);
    strictEqual(before.length, 500);
    const total = (await Promise.all(before.map((f) => Deno.stat(`${dir}/${f}`))))
      .reduce((n, s) => n + s.size, 0);
    const target = Math.ceil(total / 3);
    const a = await snapshot(dir);
    const beforeSchema = await describe(`${dir}/${before[0]}`);

    const report = await compact(storage, options({ targetBytes: target }), silentLogger);
    strictEqual(report.partitions.length, 1);
    const p = report.partitions[0];
    strictEqual(p.filesBefore, 500);
    strictEqual(p.rows, rows);
    strictEqual(p.bytesBefore, total);

    const after = await listParquet(dir);
    ok(after.length <= Math.ceil(total / target), `${after.length} files`);
    strictEqual(after.length, p.filesAfter);
    for (const f of after) ok(parseDataKey(f)?.compacted, f);
    // The same columns and types as the files written at ingestion.
    deepStrictEqual(await describe(`${dir}/${after[0]}`), beforeSchema);
    const b = await snapshot(dir);
    strictEqual(await exceptAll(a, b), 0);
    strictEqual(await exceptAll(b, a), 0);
    // Each file is sorted by Timestamp, and the files follow each other in time.
    let last = -1n;
    for (const f of after) {
      const ts = (await query(`SELECT epoch_us(Timestamp) AS t FROM ${readParquet(`${dir}/${f}`)}`))
        .map((r) => BigInt(r.t as number));
      for (const t of ts) {
        ok(t >= last, `${f}: ${t} after ${last}`);
        last = t;
      }
    }
    // Nothing left behind: no marker, no source.
    deepStrictEqual(await storage.list(MARKER_DIR), []);
    // A second run has nothing to do.
    strictEqual(
      (await compact(storage, options({ targetBytes: target }), silentLogger)).partitions.length,
      0,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compact() leaves partitions younger than min_age_secs and with fewer than min_files files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-" });
  try {
    const storage = createFsStorage({ root: dir });
    await writeSmallFiles(storage, "few", 3);
    await writeSmallFiles(storage, "recent", 5);
    const hourEndMs = Number(HOUR0_NS / 1_000_000n) + 3_600_000;
    const now = () => hourEndMs + 1800_000; // half an hour after the hour ended
    let r = await compact(storage, options({ minFiles: 4, minAgeSecs: 3600, now }), silentLogger);
    strictEqual(r.partitions.length, 0);
    r = await compact(storage, options({ minFiles: 4, minAgeSecs: 600, now }), silentLogger);
    deepStrictEqual(r.partitions.map((p) => p.service), ["recent"]);
    strictEqual((await listParquet(`${dir}/logs/few`)).length, 3);
    strictEqual((await listParquet(`${dir}/logs/recent`)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compact --dry-run reports what it would do and changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-" });
  try {
    const storage = createFsStorage({ root: dir });
    await writeSmallFiles(storage, "svc", 20);
    const before = await listParquet(dir);
    const r = await compact(storage, options({ dryRun: true }), silentLogger);
    strictEqual(r.dryRun, true);
    strictEqual(r.partitions[0].filesBefore, 20);
    strictEqual(r.partitions[0].filesAfter, 1);
    deepStrictEqual(await listParquet(dir), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

class Crash extends Error {}

/** `inner` with a crash at its `at`-th put or delete: before the operation, or right after it. */
function crashing(inner: StorageDriver, at: number, when: "before" | "after"): StorageDriver {
  let n = 0;
  const step = async <T>(op: () => Promise<T>): Promise<T> => {
    const mine = n++;
    if (mine === at && when === "before") throw new Crash(`crash before operation ${mine}`);
    const r = await op();
    if (mine === at && when === "after") throw new Crash(`crash after operation ${mine}`);
    return r;
  };
  return {
    ...inner,
    name: inner.name,
    put: (k, d) => step(() => inner.put(k, d)),
    delete: (k) => step(() => inner.delete(k)),
    get: (k) => inner.get(k),
    list: (p) => inner.list(p),
    check: () => inner.check(),
  };
}

/** Counts the puts and deletes a clean compaction of the fixture partition makes. */
function counting(inner: StorageDriver, ops: { n: number }): StorageDriver {
  return {
    ...inner,
    put: (k, d) => (ops.n++, inner.put(k, d)),
    delete: (k) => (ops.n++, inner.delete(k)),
  };
}

Deno.test("a compaction that dies before or after any put or delete is finished or undone by the next run: rows exact", async () => {
  // 6 files of 300 records (7.7 KB each, small for a target of 16 KB) merged into one file of
  // 20 KB, so written as two: marker put, 2 output puts, 6 deletes, marker delete.
  const opts = options({ targetBytes: 16_000 });
  const fresh = async () => {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-crash-" });
    const storage = createFsStorage({ root: dir });
    await writeSmallFiles(storage, "svc", 6, 300);
    return { dir, storage };
  };
  const ops = { n: 0 };
  {
    const { dir, storage } = await fresh();
    await compact(counting(storage, ops), opts, silentLogger);
    ok((await listParquet(dir)).length >= 2, "the fixture makes several outputs");
    await Deno.remove(dir, { recursive: true });
  }
  ok(ops.n >= 10, `${ops.n} operations`);
  for (let at = 0; at < ops.n; at++) {
    for (const when of ["before", "after"] as const) {
      const { dir, storage } = await fresh();
      try {
        const a = await snapshot(dir);
        let crashed = false;
        try {
          await compact(crashing(storage, at, when), opts, silentLogger);
        } catch (e) {
          if (!(e instanceof Crash)) throw e;
          crashed = true;
        }
        ok(crashed, `no crash ${when} operation ${at}`);
        // The next run recovers, then compacts what is left to compact.
        await compact(storage, opts, silentLogger);
        const b = await snapshot(dir);
        strictEqual(await exceptAll(a, b), 0, `${when} ${at}: rows missing`);
        strictEqual(await exceptAll(b, a), 0, `${when} ${at}: rows twice`);
        deepStrictEqual(await storage.list(MARKER_DIR), [], `${when} ${at}: marker left`);
        const after = await listParquet(dir);
        ok(after.every((f) => parseDataKey(f)?.compacted), `${when} ${at}: ${after}`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
});

Deno.test("files written into a partition while it is compacted are kept for the next run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-compact-ingest-" });
  try {
    const storage = createFsStorage({ root: dir });
    await writeSmallFiles(storage, "svc", 10);
    let late = 0;
    const ingesting: StorageDriver = {
      ...storage,
      async delete(k) {
        // Ingestion goes on: the first delete of a source is when new files land.
        if (late === 0) late = await writeSmallFiles(storage, "svc", 4, 2, HOUR0_NS, 1000);
        await storage.delete(k);
      },
    };
    const rowsBefore = 20;
    await compact(ingesting, options(), silentLogger);
    const files = (await listParquet(dir)).map((f) => `${dir}/${f}`);
    strictEqual(files.filter((f) => parseDataKey(f.slice(dir.length + 1))?.compacted).length, 1);
    strictEqual(files.length, 1 + 4);
    const n = await query(`SELECT count(*) AS n FROM ${readParquet(files)}`);
    strictEqual(Number(n[0].n), rowsBefore + late);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
