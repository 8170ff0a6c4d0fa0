/**
 * The batching writer: thresholds, group commit, backpressure, shutdown, with the write-ahead
 * log on a real temporary directory and a Map-backed store.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  type BatchWriter,
  type BatchWriterDeps,
  createBatchWriter,
} from "../../src/batch/batcher.ts";
import { BackpressureError } from "../../src/batch/types.ts";
import type { Config } from "../../src/config/types.ts";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { query, readParquet } from "../helpers/duckdb.ts";
import {
  config,
  convertFixture,
  CountingWalFs,
  HOUR_NS,
  ids,
  MemoryLogger,
  otlpRequest,
  readBodies,
  request,
  rowGroups,
  sleep,
  T0,
  tempDir,
  TestStorage,
  until,
  walFiles,
} from "./helpers.ts";

interface Setup {
  writer: BatchWriter;
  storage: TestStorage;
  logger: MemoryLogger;
  fs: CountingWalFs;
  dir: string;
}

async function withWriter(
  batch: Partial<Config["batch"]>,
  fn: (s: Setup) => Promise<void>,
  opts: { more?: (c: Config) => void; deps?: Partial<BatchWriterDeps>; storage?: TestStorage } = {},
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const storage = opts.storage ?? new TestStorage();
  const logger = new MemoryLogger();
  const fs = new CountingWalFs();
  const writer = await createBatchWriter({
    config: config({ wal_dir: `${dir}/wal`, ...batch }, opts.more),
    storage,
    logger,
    walFs: fs,
    convert: convertFixture,
    retryBaseMs: 20,
    retryMaxMs: 100,
    ...opts.deps,
  });
  try {
    await fn({ writer, storage, logger, fs, dir: `${dir}/wal` });
  } finally {
    await writer.abort();
    await cleanup();
  }
}

Deno.test("1,000 requests of 10 records for one service become one file with all 10,000 rows", async () => {
  await withWriter({}, async ({ writer, storage, logger, fs, dir }) => {
    const all: string[] = [];
    const reqs = Array.from({ length: 1000 }, (_, i) => {
      const batch = ids(`r${i}`, 10);
      all.push(...batch);
      return request("checkout", batch);
    });
    await Promise.all(reqs.map((r) => writer.write(r)));
    ok(fs.syncs < 100, `group commit: ${fs.syncs} fsyncs for 1,000 concurrent requests`);
    strictEqual(storage.objects.size, 0, "nothing is written before a threshold or shutdown");
    await writer.close();
    strictEqual(storage.objects.size, 1);
    const [[key, data]] = [...storage.objects];
    ok(key.startsWith("logs/checkout/year=2024/month=05/day=01/hour=10/"), key);
    ok(/\/1714557600000000-[0-9a-f]{16}\.parquet$/.test(key), key);
    deepStrictEqual(readBodies(data).sort(), all.sort());
    // 10,000 rows > parquet.row_group_size? No (122,880): one row group.
    deepStrictEqual(rowGroups(data), [10_000]);
    const lines = logger.stored();
    strictEqual(lines.length, 1);
    deepStrictEqual(
      { key: lines[0].key, rows: lines[0].rows, bytes: lines[0].bytes, reason: lines[0].reason },
      { key, rows: 10_000, bytes: data.length, reason: "shutdown" },
    );
    deepStrictEqual(await walFiles(dir), [], "a clean shutdown leaves an empty log");
    const st = writer.stats();
    deepStrictEqual(
      [
        st.filesWritten,
        st.rowsWritten,
        st.bytesWritten,
        st.bufferedRows,
        st.bufferedBytes,
        st.walBytes,
      ],
      [1, 10_000, data.length, 0, 0, 0],
    );
  });
});

Deno.test("a file holds several row groups when its rows exceed parquet.row_group_size", async () => {
  await withWriter({}, async ({ writer, storage }) => {
    for (let i = 0; i < 5; i++) await writer.write(request("svc", ids(`r${i}`, 500)));
    await writer.close();
    const [data] = [...storage.objects.values()];
    deepStrictEqual(rowGroups(data), [1000, 1000, 500]);
  }, { more: (c) => (c.parquet.row_group_size = 1000) });
});

Deno.test("a buffer is written when it reaches batch.max_rows", async () => {
  await withWriter({ max_rows: 100 }, async ({ writer, storage, logger }) => {
    for (let i = 0; i < 25; i++) await writer.write(request("svc", ids(`r${i}`, 10)));
    await until(() => storage.objects.size === 2, 5000, "two files");
    const sizes = [...storage.objects.values()].map((d) => readBodies(d).length);
    deepStrictEqual(sizes, [100, 100]);
    await writer.close();
    deepStrictEqual(logger.stored().map((f) => [f.rows, f.reason]), [[100, "rows"], [100, "rows"], [
      50,
      "shutdown",
    ]]);
    strictEqual(new Set(storage.bodies()).size, 250);
  });
});

Deno.test("a buffer is written before a request would take it past batch.max_bytes", async () => {
  await withWriter({ max_bytes: 20_000 }, async ({ writer, storage, logger }) => {
    const one = request("svc", ids("probe", 10)).partitions[0].rows.byteSize();
    // As many requests as fit in 20,000 bytes: the next one starts the next file.
    const perFile = Math.floor(20_000 / one);
    ok(perFile > 1 && perFile * one < 20_000, `requests of ${one} bytes`);
    for (let i = 0; i < perFile + 1; i++) await writer.write(request("svc", ids(`r${i}`, 10)));
    await until(() => storage.objects.size === 1, 5000, "one file");
    const f = logger.stored()[0];
    strictEqual(f.reason, "bytes");
    strictEqual(f.rows, perFile * 10);
    await writer.close();
    strictEqual(storage.bodies().length, (perFile + 1) * 10);
  });
});

Deno.test("a buffer is written batch.max_age_secs after its first row, without close()", async () => {
  await withWriter({ max_age_secs: 0.2 }, async ({ writer, storage, logger }) => {
    const t = Date.now();
    await writer.write(request("svc", ids("a", 3)));
    await sleep(50);
    await writer.write(request("svc", ids("b", 3)));
    await until(() => storage.objects.size === 1, 3000, "age flush");
    const waited = Date.now() - t;
    ok(waited >= 200, `flushed after ${waited} ms`);
    strictEqual(logger.stored()[0].reason, "age");
    ok(Number(logger.stored()[0].age_ms) >= 200);
    deepStrictEqual(storage.bodies().sort(), [...ids("a", 3), ...ids("b", 3)].sort());
    await writer.close();
  });
});

Deno.test("rows of different services, hours and signals go to separate files", async () => {
  await withWriter({}, async ({ writer, storage }) => {
    await writer.write(request("a", ids("a1", 2)));
    await writer.write(request("b", ids("b1", 2)));
    await writer.write(request("a", ids("a2", 2), T0 + HOUR_NS));
    await writer.write(request("a", ids("a3", 2)));
    await writer.close();
    const keys = [...storage.objects.keys()].map((k) => k.replace(/[^/]+$/, "")).sort();
    deepStrictEqual(keys, [
      "logs/a/year=2024/month=05/day=01/hour=10/",
      "logs/a/year=2024/month=05/day=01/hour=11/",
      "logs/b/year=2024/month=05/day=01/hour=10/",
    ]);
    const byDir = new Map(
      [...storage.objects].map(([k, d]) => [k.replace(/[^/]+$/, ""), readBodies(d).sort()]),
    );
    deepStrictEqual(
      byDir.get("logs/a/year=2024/month=05/day=01/hour=10/"),
      [...ids("a1", 2), ...ids("a3", 2)].sort(),
    );
  });
});

Deno.test("write() resolves only once its record is fsync'd", async () => {
  const { dir, cleanup } = await tempDir();
  const fs = new CountingWalFs();
  let release!: () => void;
  let gate: Promise<void> | null = new Promise((r) => (release = r));
  const gated = {
    ...fs,
    mkdir: (d: string) => fs.mkdir(d),
    list: (d: string) => fs.list(d),
    read: (p: string) => fs.read(p),
    remove: (p: string) => fs.remove(p),
    openAppend: async (p: string) => {
      const f = await fs.openAppend(p);
      return {
        ...f,
        sync: async () => {
          if (gate) await gate;
          await f.sync();
        },
      };
    },
  };
  const writer = await createBatchWriter({
    config: config({ wal_dir: dir }),
    storage: new TestStorage(),
    logger: new MemoryLogger(),
    walFs: gated,
    convert: convertFixture,
  });
  try {
    let resolved = false;
    const p = writer.write(request("svc", ids("x", 1))).then(() => (resolved = true));
    await sleep(30);
    strictEqual(resolved, false, "acknowledged before its fsync");
    gate = null;
    release();
    await p;
    strictEqual(resolved, true);
    strictEqual(fs.syncs, 1);
  } finally {
    await writer.abort();
    await cleanup();
  }
});

Deno.test("requests written one after another each get their own fsync", async () => {
  await withWriter({}, async ({ writer, fs }) => {
    for (let i = 0; i < 5; i++) await writer.write(request("svc", ids(`r${i}`, 1)));
    strictEqual(fs.syncs, 5);
    strictEqual(writer.stats().walSyncs, 5);
  });
});

Deno.test("a request whose log write fails is rejected with 503 and leaves no rows", async () => {
  await withWriter({}, async ({ writer, storage, fs }) => {
    await writer.write(request("svc", ids("ok1", 2)));
    fs.failWrites = 1;
    await rejects(writer.write(request("svc", ids("lost", 2))), (e: unknown) => {
      ok(e instanceof BackpressureError);
      strictEqual(e.status, 503);
      ok(/Cannot log the records durably: .*ENOSPC/.test(e.message), e.message);
      return true;
    });
    await writer.write(request("svc", ids("ok2", 2)));
    await writer.close();
    deepStrictEqual(storage.bodies().sort(), [...ids("ok1", 2), ...ids("ok2", 2)].sort());
  });
});

Deno.test("buffers full while storage is healthy: 429 with Retry-After", async () => {
  const storage = new TestStorage();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  storage.beforePut = () => gate; // a slow store
  await withWriter({ max_rows: 50, max_buffered_bytes: 60_000 }, async ({ writer }) => {
    let acked = 0;
    let err: unknown;
    for (let i = 0; i < 100 && !err; i++) {
      try {
        await writer.write(request("svc", ids(`r${i}`, 10)));
        acked++;
      } catch (e) {
        err = e;
      }
    }
    ok(err instanceof BackpressureError, String(err));
    strictEqual(err.status, 429);
    strictEqual(err.retryAfterSecs, 1);
    ok(/buffers are full/.test(err.message), err.message);
    ok(writer.stats().bufferedBytes <= 60_000);
    release();
    await writer.close();
    // Exactly the acknowledged requests: the rejected one was not logged, so not replayed either.
    deepStrictEqual(
      storage.bodies().sort(),
      Array.from({ length: acked }, (_, i) => ids(`r${i}`, 10)).flat().sort(),
    );
  }, { storage });
});

Deno.test("storage outage: 503 once buffers fill, every acknowledged row stored after recovery", async () => {
  const storage = new TestStorage();
  storage.failing = true;
  await withWriter({ max_rows: 50, max_buffered_bytes: 80_000 }, async ({ writer, logger }) => {
    const acked: string[] = [];
    const statuses = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const batch = ids(`r${i}`, 10);
      try {
        await writer.write(request("svc", batch));
        acked.push(...batch);
      } catch (e) {
        ok(e instanceof BackpressureError, String(e));
        statuses.add(e.status);
        ok(e.retryAfterSecs >= 1 && e.retryAfterSecs <= 30);
        if (e.status === 503) ok(/storage is failing: Cannot put/.test(e.message), e.message);
      }
      if (i % 20 === 0) await sleep(20); // let failed flushes happen
    }
    ok(statuses.has(503), `statuses ${[...statuses]}`);
    ok(acked.length > 0 && acked.length < 2000, `${acked.length} acknowledged`);
    ok(writer.stats().flushFailures > 0);
    ok(
      logger.lines.some((l) =>
        l.level === "warn" && l.msg === "cannot store file, keeping it buffered"
      ),
    );
    storage.failing = false;
    await writer.flush();
    const stored = storage.bodies();
    deepStrictEqual(stored.sort(), acked.sort());
    // Accepting again.
    await writer.write(request("svc", ids("after", 5)));
    await writer.close();
    strictEqual(storage.bodies().length, acked.length + 5);
  }, { storage });
});

Deno.test("the log is bounded by batch.max_wal_bytes: 503 past it", async () => {
  const storage = new TestStorage();
  storage.failing = true;
  await withWriter({ max_rows: 10, max_wal_bytes: 4000 }, async ({ writer }) => {
    let err: unknown;
    let n = 0;
    for (; n < 100 && !err; n++) {
      try {
        await writer.write(request("svc", ids(`r${n}`, 10)));
      } catch (e) {
        err = e;
      }
    }
    ok(err instanceof BackpressureError);
    strictEqual(err.status, 503);
    ok(
      /write-ahead log holds \d+ bytes \(batch.max_wal_bytes = 4000\)/.test(err.message),
      err.message,
    );
    ok(writer.stats().walBytes >= 4000);
  }, { storage });
});

Deno.test("flush() rejects with the storage error while storage fails, and keeps the rows", async () => {
  const storage = new TestStorage();
  storage.failing = true;
  await withWriter({}, async ({ writer }) => {
    await writer.write(request("svc", ids("x", 3)));
    await rejects(writer.flush(), { name: "StorageError" });
    strictEqual(writer.stats().bufferedRows, 3);
    storage.failing = false;
    await writer.flush();
    deepStrictEqual(storage.bodies().sort(), ids("x", 3).sort());
  }, { storage });
});

Deno.test("close() gives up after server.shutdown_timeout_secs and leaves the log for the next start", async () => {
  const storage = new TestStorage();
  storage.failing = true;
  await withWriter({}, async ({ writer, dir, logger }) => {
    await writer.write(request("svc", ids("x", 3)));
    const t = Date.now();
    await writer.close();
    ok(Date.now() - t < 3000);
    strictEqual((await walFiles(dir)).length, 1);
    ok(logger.lines.some((l) => l.level === "error" && /shutdown timed out/.test(l.msg)));
    await rejects(writer.write(request("svc", ids("y", 1))), {
      name: "BackpressureError",
      message: /shutting down/,
    });
  }, { storage, more: (c) => (c.server.shutdown_timeout_secs = 0.3) });
});

Deno.test("close() with server.shutdown_timeout_secs = 0 waits for a slow store without limit", async () => {
  const storage = new TestStorage();
  storage.beforePut = () => sleep(300);
  await withWriter({}, async ({ writer, logger }) => {
    await writer.write(request("svc", ids("z", 4)));
    await writer.close();
    strictEqual(storage.objects.size, 1);
    deepStrictEqual(storage.bodies(), ids("z", 4));
    ok(!logger.lines.some((l) => /shutdown timed out/.test(l.msg)));
  }, { storage, more: (c) => (c.server.shutdown_timeout_secs = 0) });
});

Deno.test("durability memory: no log, rows acknowledged once buffered, written on close", async () => {
  await withWriter({ durability: "memory" }, async ({ writer, storage, fs, dir }) => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => writer.write(request("svc", ids(`r${i}`, 4)))),
    );
    strictEqual(fs.syncs, 0);
    strictEqual(writer.stats().walBytes, 0);
    await rejects(Deno.stat(dir), { name: "NotFound" });
    await writer.close();
    strictEqual(storage.objects.size, 1);
    strictEqual(storage.bodies().length, 200);
  });
});

Deno.test("many small buffers are sealed before they fill batch.max_buffered_bytes", async () => {
  await withWriter({ max_buffered_bytes: 50_000 }, async ({ writer, storage, logger }) => {
    for (let i = 0; i < 40; i++) await writer.write(request(`svc${i}`, ids(`r${i}`, 10)));
    await until(() => storage.objects.size > 0, 5000, "a memory flush");
    ok(logger.stored().every((f) => f.reason === "memory"));
    await writer.close();
    strictEqual(storage.bodies().length, 400);
  });
});

Deno.test("log segments are deleted once their rows are stored", async () => {
  await withWriter({ max_rows: 20 }, async ({ writer, storage, dir }) => {
    for (let i = 0; i < 60; i++) await writer.write(request("svc", ids(`r${i}`, 5)));
    await until(() => storage.objects.size === 15, 5000, "15 files");
    await sleep(50);
    ok((await walFiles(dir)).length <= 2, `segments: ${await walFiles(dir)}`);
    await writer.close();
    deepStrictEqual(await walFiles(dir), []);
    strictEqual(new Set(storage.bodies()).size, 300);
  }, { deps: { segmentBytes: 2048 } });
});

Deno.test("a quiet buffer holding the oldest log segment is written out before the log fills", async () => {
  await withWriter(
    { max_rows: 40, max_wal_bytes: 12_000 },
    async ({ writer, storage, logger, dir }) => {
      await writer.write(request("quiet", ids("q", 2)));
      for (let i = 0; i < 60; i++) await writer.write(request("busy", ids(`b${i}`, 4)));
      await until(() => logger.stored().some((f) => f.reason === "wal"), 5000, "a wal flush");
      const quiet = logger.stored().find((f) => f.reason === "wal")!;
      ok(String(quiet.key).startsWith("logs/quiet/"), String(quiet.key));
      ok(writer.stats().walBytes < 12_000, `${writer.stats().walBytes} bytes of log`);
      ok((await walFiles(dir)).length <= 6);
      await writer.close();
      strictEqual(storage.bodies().length, 2 + 240);
    },
    { deps: { segmentBytes: 1500 } },
  );
});

Deno.test("real OTLP/JSON requests through the real decoders: 1,000 × 10 records, one file, DuckDB reads 10,000 ids", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = createMemoryStorage();
    const writer = await createBatchWriter({
      config: config({ wal_dir: `${dir}/wal` }),
      storage,
      logger: new MemoryLogger(),
      walFs: new CountingWalFs(),
    });
    await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) => writer.write(otlpRequest("checkout", ids(`r${i}`, 10))),
      ),
    );
    await writer.close();
    const keys = await storage.list("logs/");
    strictEqual(keys.length, 1);
    const file = `${dir}/out.parquet`;
    await Deno.writeFile(file, (await storage.get(keys[0]))!);
    const [r] = await query(
      `SELECT count(*) AS n, count(DISTINCT Body) AS d, min(ServiceName) AS s, min(LogAttributes['id']) AS a FROM ${
        readParquet(file)
      }`,
    );
    deepStrictEqual([Number(r.n), Number(r.d), r.s], [10_000, 10_000, "checkout"]);
    ok(String(r.a).startsWith("r"), String(r.a));
  } finally {
    await cleanup();
  }
});
