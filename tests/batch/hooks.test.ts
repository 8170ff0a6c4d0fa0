/**
 * `WriterHooks.fileStored`: every writer tells of each file it stored, with its key and rows,
 * before the file counts as done; a hook that fails makes the store fail (retried by the batching
 * writer, a 503-class StorageError from the write-through writer).
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { createBatchWriter } from "../../src/batch/batcher.ts";
import type { StoredFile } from "../../src/batch/types.ts";
import { createWriteThroughWriter } from "../../src/batch/writethrough.ts";
import { StorageError } from "../../src/storage/types.ts";
import {
  config,
  convertFixture,
  CountingWalFs,
  ids,
  MemoryLogger,
  otlpRequest,
  request,
  T0,
  tempDir,
  TestStorage,
} from "./helpers.ts";

Deno.test("the batching writer tells fileStored of each stored file, once, before it is done", async () => {
  const { dir, cleanup } = await tempDir();
  const storage = new TestStorage();
  const told: StoredFile[] = [];
  let failOnce = true;
  const writer = await createBatchWriter({
    config: config({ wal_dir: `${dir}/wal` }),
    storage,
    logger: new MemoryLogger(),
    walFs: new CountingWalFs(),
    convert: convertFixture,
    retryBaseMs: 10,
    retryMaxMs: 20,
    hooks: {
      fileStored(f) {
        // The object is there when the hook runs.
        ok(storage.objects.has(f.key), f.key);
        if (f.service === "b" && failOnce) {
          failOnce = false;
          throw new Error("catalog list not writable");
        }
        told.push(f);
      },
    },
  });
  try {
    await writer.write(request("a", ids("a", 3)));
    await writer.write(request("b", ids("b", 2)));
    await writer.close();
  } finally {
    await cleanup();
  }
  told.sort((x, y) => x.service.localeCompare(y.service));
  deepStrictEqual(told.map((f) => [f.table, f.service, f.rows, f.minTimeNs]), [
    ["logs", "a", 3, T0],
    ["logs", "b", 2, T0],
  ]);
  // The failed hook retried the file: stored again under the same key, told once in the end.
  deepStrictEqual(told.map((f) => f.key).sort(), [...storage.objects.keys()].sort());
  for (const f of told) strictEqual(f.bytes, storage.objects.get(f.key)!.length);
  // How long writing each out took (the flush-duration metric).
  for (const f of told) ok(typeof f.durationMs === "number" && f.durationMs >= 0, f.key);
});

Deno.test("the write-through writer tells fileStored before answering, and fails the request when it throws", async () => {
  const storage = new TestStorage();
  const told: StoredFile[] = [];
  const ok1 = createWriteThroughWriter({
    config: config({ enabled: false }),
    storage,
    logger: new MemoryLogger(),
    hooks: { fileStored: (f) => void told.push(f) },
  });
  await ok1.write(otlpRequest("svc", ids("x", 4)));
  strictEqual(told.length, 1);
  strictEqual(told[0].rows, 4);
  ok(storage.objects.has(told[0].key));
  ok(typeof told[0].durationMs === "number" && told[0].durationMs >= 0);

  const failing = createWriteThroughWriter({
    config: config({ enabled: false }),
    storage,
    logger: new MemoryLogger(),
    hooks: { fileStored: () => Promise.reject(new Error("catalog list not writable")) },
  });
  await rejects(failing.write(otlpRequest("svc", ids("y", 1))), (e) => {
    ok(e instanceof StorageError && e.retryable, String(e));
    ok(/Cannot record the stored file .*catalog list not writable/.test(e.message), e.message);
    return true;
  });
});
