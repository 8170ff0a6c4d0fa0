/**
 * The batching writer with an Encoder (src/batch/types.ts): files encoded on worker threads
 * (src/batch/encoder.node.ts) hold the same rows; the next queued file is encoded while the
 * current one is stored; a failed encode is retried and loses nothing.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createBatchWriter, inThreadEncoder } from "../../src/batch/batcher.ts";
import type { Encoder } from "../../src/batch/types.ts";
import { createEncoder } from "../../src/batch/encoder.node.ts";
import { initParquetFromDisk, readParquetWasm } from "../../src/core/parquet/wasm.node.ts";
import {
  config,
  convertFixture,
  CountingWalFs,
  ids,
  MemoryLogger,
  readBodies,
  request,
  sleep,
  tempDir,
  TestStorage,
  until,
} from "./helpers.ts";

initParquetFromDisk();

/** Wraps `inner`, counting encodes in flight (and the most at once), failing the first `fail`. */
function watched(inner: Encoder, fail = 0) {
  const w = { inFlight: 0, most: 0, calls: 0 };
  const enc: Encoder = {
    where: inner.where,
    parallelism: inner.parallelism,
    close: () => inner.close(),
    async encode(rows, opts) {
      w.calls++;
      if (w.calls <= fail) throw new Error("encoder test failure");
      w.inFlight++;
      w.most = Math.max(w.most, w.inFlight);
      try {
        return await inner.encode(rows, opts);
      } finally {
        w.inFlight--;
      }
    },
  };
  return { enc, w };
}

Deno.test({
  name: "with an encoder thread, the next file is encoded while another is stored, rows intact",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { dir, cleanup } = await tempDir();
    const threads = await createEncoder(1, readParquetWasm(), new MemoryLogger());
    const { enc, w } = watched(threads);
    const storage = new TestStorage();
    // Each put takes 100 ms: files queue up behind it.
    storage.beforePut = () => sleep(100);
    const writer = await createBatchWriter({
      config: config({ wal_dir: `${dir}/wal`, max_rows: 100 }),
      storage,
      logger: new MemoryLogger(),
      walFs: new CountingWalFs(),
      convert: convertFixture,
      encoder: enc,
    });
    try {
      for (let i = 0; i < 40; i++) await writer.write(request("svc", ids(`r${i}`, 10)));
      await writer.close();
      strictEqual(storage.objects.size, 4);
      for (const data of storage.objects.values()) strictEqual(readBodies(data).length, 100);
      deepStrictEqual(new Set(storage.bodies()).size, 400);
      strictEqual(w.most, 2, "the next file was handed to the thread during a put");
    } finally {
      await threads.close();
      await cleanup();
    }
  },
});

Deno.test("a failed encode is retried: the file is stored once with all its rows", async () => {
  const { dir, cleanup } = await tempDir();
  const { enc, w } = watched(inThreadEncoder, 2);
  const storage = new TestStorage();
  const logger = new MemoryLogger();
  const writer = await createBatchWriter({
    config: config({ wal_dir: `${dir}/wal`, max_rows: 50 }),
    storage,
    logger,
    walFs: new CountingWalFs(),
    convert: convertFixture,
    encoder: enc,
    retryBaseMs: 10,
    retryMaxMs: 20,
  });
  try {
    for (let i = 0; i < 5; i++) await writer.write(request("svc", ids(`f${i}`, 10)));
    await until(() => storage.objects.size === 1, 5000, "the file");
    deepStrictEqual(
      readBodies([...storage.objects.values()][0]),
      Array.from({ length: 5 }, (_, i) => ids(`f${i}`, 10)).flat(),
    );
    strictEqual(w.calls, 3);
    const errors = logger.lines.filter((l) => l.msg === "cannot write file, keeping it buffered");
    strictEqual(errors.length, 2);
    ok(String(errors[0].fields?.error).includes("encoder test failure"));
    await writer.close();
    strictEqual(storage.objects.size, 1);
  } finally {
    await writer.abort();
    await cleanup();
  }
});
