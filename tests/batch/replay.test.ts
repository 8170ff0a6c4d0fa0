/**
 * Crash and replay: a writer is abandoned (`abort()`, as a crash: no flush, the log stays as it
 * is on disk) at chosen points, a new writer replays the same log directory, and every
 * acknowledged row must end up stored exactly once.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type BatchWriter, createBatchWriter } from "../../src/batch/batcher.ts";
import { parseSegment } from "../../src/batch/wal/index.ts";
import type { Config } from "../../src/config/types.ts";
import {
  config,
  convertFixture,
  CountingWalFs,
  ids,
  MemoryLogger,
  otlpRequest,
  readBodies,
  request,
  sleep,
  tempDir,
  TestStorage,
  until,
  walFiles,
} from "./helpers.ts";

function open(
  dir: string,
  storage: TestStorage,
  batch: Partial<Config["batch"]> = {},
  extra: { fs?: CountingWalFs; logger?: MemoryLogger; segmentBytes?: number } = {},
): Promise<BatchWriter> {
  return createBatchWriter({
    config: config({ wal_dir: dir, ...batch }),
    storage,
    logger: extra.logger ?? new MemoryLogger(),
    walFs: extra.fs ?? new CountingWalFs(),
    convert: convertFixture,
    retryBaseMs: 10,
    retryMaxMs: 50,
    segmentBytes: extra.segmentBytes,
  });
}

/** Every seal record in the log directory: [id, service]. */
async function sealRecords(dir: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const name of await walFiles(dir)) {
    for (const { record } of parseSegment(await Deno.readFile(`${dir}/${name}`)).records) {
      if (record.type === "seal") out.push([record.id, record.service]);
    }
  }
  return out;
}

function counts(xs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

Deno.test("a new writer over the same log stores what a crashed writer acknowledged", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(dir, storage);
    const acked: string[] = [];
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const batch = ids(`r${i}`, 10);
      await w1.write(request(`svc${i % 3}`, batch));
      acked.push(...batch);
    }));
    await w1.abort();
    strictEqual(storage.objects.size, 0);

    const logger = new MemoryLogger();
    const w2 = await open(dir, storage, {}, { logger });
    strictEqual(w2.stats().replayedRecords, 50);
    await w2.close();
    strictEqual(storage.objects.size, 3);
    deepStrictEqual(storage.bodies().sort(), acked.sort());
    ok(logger.stored().every((f) => f.reason === "replay"));
    deepStrictEqual(await walFiles(dir), []);
  } finally {
    await cleanup();
  }
});

Deno.test("a crash after a file is stored but before it is logged done: replay overwrites the same key", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    storage.beforePut = () => gate;
    const w1 = await open(dir, storage, { max_rows: 100 });
    let crashed: Promise<void> | undefined;
    storage.afterPut = () => {
      crashed ??= w1.abort(); // dies right after the first file is stored
    };
    for (let i = 0; i < 15; i++) await w1.write(request("svc", ids(`r${i}`, 10)));
    release();
    await until(() => crashed !== undefined, 5000, "the crash");
    await crashed;
    strictEqual(storage.objects.size, 1);
    const [firstKey] = storage.objects.keys();
    strictEqual(storage.bodies().length, 100);
    storage.beforePut = storage.afterPut = undefined;

    const w2 = await open(dir, storage, { max_rows: 100 });
    await w2.close();
    strictEqual(storage.puts, 3, "the first file was stored again (same key), then the rest");
    strictEqual(storage.objects.size, 2);
    ok(storage.objects.has(firstKey));
    const c = counts(storage.bodies());
    strictEqual(c.size, 150);
    ok([...c.values()].every((n) => n === 1), "no row stored twice");
  } finally {
    await cleanup();
  }
});

Deno.test("a crash after the seal record, before the put: replay stores the file under the logged id", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(dir, storage, { max_rows: 30 });
    let crashed: Promise<void> | undefined;
    storage.beforePut = () => {
      crashed ??= w1.abort();
      return new Promise(() => {}); // the process is gone: the put never finishes
    };
    for (let i = 0; i < 4; i++) await w1.write(request("svc", ids(`r${i}`, 10)));
    await until(() => crashed !== undefined, 5000, "the crash");
    await crashed;
    const seals = await sealRecords(dir);
    strictEqual(seals.length, 1);
    storage.beforePut = undefined;

    const w2 = await open(dir, storage, { max_rows: 30 });
    await w2.close();
    const keys = [...storage.objects.keys()];
    strictEqual(keys.length, 2);
    ok(keys.some((k) => k.endsWith(`-${seals[0][0]}.parquet`)), `${keys} has id ${seals[0][0]}`);
    const c = counts(storage.bodies());
    strictEqual(c.size, 40);
    ok([...c.values()].every((n) => n === 1));
  } finally {
    await cleanup();
  }
});

Deno.test("a crash during replay, with new rows written after it, still stores each row once", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(dir, storage);
    for (let i = 0; i < 5; i++) await w1.write(request("svc", ids(`a${i}`, 10)));
    await w1.abort();

    // The second run replays (sealing the old rows into a file), takes new rows for the same
    // key, stores the replayed file and dies before logging it done.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    storage.beforePut = () => gate;
    const w2 = await open(dir, storage);
    let crashed: Promise<void> | undefined;
    storage.afterPut = () => {
      crashed ??= w2.abort();
    };
    for (let i = 0; i < 5; i++) await w2.write(request("svc", ids(`b${i}`, 10)));
    release();
    await until(() => crashed !== undefined, 5000, "the crash");
    await crashed;
    strictEqual(storage.objects.size, 1);
    deepStrictEqual(
      storage.bodies().sort(),
      Array.from({ length: 5 }, (_, i) => ids(`a${i}`, 10)).flat().sort(),
    );
    storage.beforePut = storage.afterPut = undefined;

    const w3 = await open(dir, storage);
    await w3.close();
    strictEqual(storage.objects.size, 2);
    const c = counts(storage.bodies());
    strictEqual(c.size, 100);
    ok([...c.values()].every((n) => n === 1));
    deepStrictEqual(await walFiles(dir), []);
  } finally {
    await cleanup();
  }
});

Deno.test("replay ignores a torn last record and keeps every whole one", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(dir, storage);
    for (let i = 0; i < 5; i++) await w1.write(request("svc", ids(`r${i}`, 10)));
    await w1.abort();
    const [seg] = await walFiles(dir);
    const bytes = await Deno.readFile(`${dir}/${seg}`);
    await Deno.writeFile(`${dir}/${seg}`, bytes.subarray(0, bytes.length - 7)); // a torn write

    const logger = new MemoryLogger();
    const w2 = await open(dir, storage, {}, { logger });
    await w2.close();
    deepStrictEqual(
      storage.bodies().sort(),
      Array.from({ length: 4 }, (_, i) => ids(`r${i}`, 10)).flat().sort(),
    );
    const warn = logger.lines.find((l) =>
      l.msg === "write-ahead log segment has a torn tail; ignoring it"
    );
    ok(warn, JSON.stringify(logger.lines));
    strictEqual(warn.fields!.ignored_bytes, bytes.length - 7 - Number(warn.fields!.valid_bytes));
  } finally {
    await cleanup();
  }
});

Deno.test("replay skips a request whose fsync failed, even though its bytes reached the disk", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const fs = new CountingWalFs();
    const w1 = await open(dir, storage, {}, { fs });
    await w1.write(request("svc", ids("ok1", 3)));
    fs.failSyncs = 1;
    await w1.write(request("svc", ids("failed", 3))).then(
      () => Promise.reject(new Error("should have been rejected")),
      (e) => strictEqual(e.status, 503),
    );
    await w1.write(request("svc", ids("ok2", 3)));
    await w1.abort();

    const w2 = await open(dir, storage);
    await w2.close();
    deepStrictEqual(storage.bodies().sort(), [...ids("ok1", 3), ...ids("ok2", 3)].sort());
  } finally {
    await cleanup();
  }
});

Deno.test("replay of a log spread over many segments and buffers stores every row once", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    // Two files get stored; the store hangs for the rest, so the log keeps many segments.
    storage.beforePut = () => storage.puts < 2 ? undefined : new Promise(() => {});
    const w1 = await open(dir, storage, { max_rows: 35 }, { segmentBytes: 1500 });
    const acked: string[] = [];
    for (let i = 0; i < 60; i++) {
      const batch = ids(`r${i}`, 5);
      await w1.write(request(`svc${i % 4}`, batch));
      acked.push(...batch);
    }
    await until(() => storage.puts === 2, 5000, "two files stored");
    ok((await walFiles(dir)).length > 3, `${(await walFiles(dir)).length} segments`);
    await w1.abort();
    storage.beforePut = undefined;
    const w2 = await open(dir, storage, { max_rows: 35 }, { segmentBytes: 1500 });
    await w2.close();
    const c = counts(storage.bodies());
    deepStrictEqual([...c.keys()].sort(), acked.sort());
    ok([...c.values()].every((n) => n === 1));
  } finally {
    await cleanup();
  }
});

/** xorshift32: the same "random" crash points on every run. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const SEED = Number(Deno.env.get("CRASH_SEED") ?? 12345);

Deno.test("crashes at random points over many runs: every acknowledged row stored exactly once", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const random = rng(SEED);
    const storage = new TestStorage();
    const acked: string[] = [];
    let n = 0;
    for (let run = 0; run < 12; run++) {
      const batch = {
        max_rows: 20 + Math.floor(random() * 60),
        max_age_secs: 0.05 + random() * 0.2,
      };
      const w = await open(dir, storage, batch, {
        segmentBytes: 1000 + Math.floor(random() * 3000),
      });
      let crashed: Promise<void> | undefined;
      // Die right after some put, or in the middle of one, or (else) after the last write.
      const mode = random();
      storage.afterPut = () => {
        if (mode < 0.3 && random() < 0.3) crashed ??= w.abort();
      };
      storage.beforePut = () => {
        if (mode > 0.7 && random() < 0.3) {
          crashed ??= w.abort();
          return new Promise(() => {});
        }
      };
      const writes: Promise<void>[] = [];
      const requests = 10 + Math.floor(random() * 40);
      for (let i = 0; i < requests && !crashed; i++) {
        const b = ids(`run${run}-${n++}`, 1 + Math.floor(random() * 8));
        const svc = `svc${Math.floor(random() * 3)}`;
        writes.push(
          w.write(request(svc, b)).then(() => {
            acked.push(...b);
          }, () => {}),
        );
        if (random() < 0.3) await sleep(Math.floor(random() * 30));
      }
      await Promise.all(writes);
      crashed ??= w.abort();
      await crashed;
      storage.afterPut = storage.beforePut = undefined;
      const c = counts(storage.bodies());
      ok([...c.values()].every((x) => x === 1), `run ${run}: a row stored twice`);
    }
    const last = await open(dir, storage);
    await last.close();
    const c = counts(storage.bodies());
    for (const id of acked) strictEqual(c.get(id), 1, `acknowledged ${id}`);
    ok([...c.values()].every((x) => x === 1));
    deepStrictEqual(await walFiles(dir), []);
  } finally {
    await cleanup();
  }
});

Deno.test("replay of a log larger than batch.max_buffered_bytes stores files as it goes", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(dir, storage);
    for (let i = 0; i < 100; i++) await w1.write(request(`svc${i % 5}`, ids(`r${i}`, 10)));
    await w1.abort();
    const logger = new MemoryLogger();
    const w2 = await open(dir, storage, { max_rows: 50, max_buffered_bytes: 30_000 }, { logger });
    ok(
      w2.stats().bufferedBytes <= 30_000 + 20_000,
      `${w2.stats().bufferedBytes} bytes buffered after replay`,
    );
    await w2.close();
    ok(logger.lines.some((l) => l.msg === "replay waits for buffered files to be stored"));
    const c = counts(storage.bodies());
    strictEqual(c.size, 1000);
    ok([...c.values()].every((n) => n === 1));
  } finally {
    await cleanup();
  }
});

Deno.test("with the real decoders, replay rewrites a file stored before the crash: same key, same rows", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const real = (batch: Partial<Config["batch"]>) =>
      createBatchWriter({
        config: config({ wal_dir: dir, ...batch }),
        storage,
        logger: new MemoryLogger(),
        walFs: new CountingWalFs(),
      });
    const w1 = await real({ max_rows: 100 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    storage.beforePut = () => gate;
    let crashed: Promise<void> | undefined;
    storage.afterPut = () => {
      crashed ??= w1.abort();
    };
    for (let i = 0; i < 12; i++) await w1.write(otlpRequest("svc", ids(`r${i}`, 10)));
    release();
    await until(() => crashed !== undefined, 5000, "the crash");
    await crashed;
    storage.beforePut = storage.afterPut = undefined;
    const [[key, before]] = [...storage.objects];

    const w2 = await real({ max_rows: 100 });
    await w2.close();
    strictEqual(storage.puts, 3);
    // Same rows in the same order (the bytes may differ: parquet-wasm writes the key-value
    // metadata in a random order).
    deepStrictEqual(readBodies(storage.objects.get(key)!), readBodies(before));
    strictEqual(storage.objects.get(key)!.length, before.length);
    const c = counts(storage.bodies());
    strictEqual(c.size, 120);
    ok([...c.values()].every((n) => n === 1));
  } finally {
    await cleanup();
  }
});

Deno.test("a buffer written out before a request would pass batch.max_bytes replays to the same files", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const one = request("svc", ids("probe", 10)).partitions[0].rows.byteSize();
    // Two requests fit, the third starts a new file (its seal covers the records before it).
    const batch = { max_bytes: Math.floor(2.5 * one) };
    const storage = new TestStorage();
    const w1 = await open(dir, storage, batch);
    let crashed: Promise<void> | undefined;
    storage.beforePut = () => {
      crashed ??= w1.abort();
      return new Promise(() => {}); // the process is gone: the put never finishes
    };
    for (let i = 0; i < 3; i++) await w1.write(request("svc", ids(`r${i}`, 10)));
    await until(() => crashed !== undefined, 5000, "the crash");
    await crashed;
    const seals = await sealRecords(dir);
    strictEqual(seals.length, 1);
    storage.beforePut = undefined;

    const w2 = await open(dir, storage, batch);
    await w2.close();
    const files = [...storage.objects.entries()];
    strictEqual(files.length, 2);
    const sealed = files.find(([k]) => k.endsWith(`-${seals[0][0]}.parquet`));
    ok(sealed, `${files.map(([k]) => k)} has id ${seals[0][0]}`);
    // The logged seal's file holds the first two requests, exactly; the third is the other file.
    deepStrictEqual(
      [...new Set(readBodies(sealed[1]).map((b) => b.replace(/-\d+$/, "")))].sort(),
      ["r0", "r1"],
    );
    const c = counts(storage.bodies());
    strictEqual(c.size, 30);
    ok([...c.values()].every((n) => n === 1));
  } finally {
    await cleanup();
  }
});
