import { ok, rejects, strictEqual } from "node:assert/strict";
import { createWriter } from "../../src/batch/index.ts";
import { createWalFs } from "../../src/batch/wal/fs.node.ts";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { silentLogger } from "../../src/log/log.ts";
import { config, ids, request, tempDir, walFiles } from "./helpers.ts";

Deno.test("createWriter() without batch.enabled stores each request before write() resolves", async () => {
  const storage = createMemoryStorage();
  const writer = await createWriter({
    config: config({ enabled: false }),
    storage,
    logger: silentLogger,
  });
  await writer.write(request("svc", ids("a", 3)));
  strictEqual((await storage.list("logs/")).length, 1);
  await writer.write(request("svc", ids("b", 3)));
  strictEqual((await storage.list("logs/")).length, 2);
  await writer.close();
});

Deno.test("createWriter() with batch.enabled buffers into one file, logged in batch.wal_dir", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = createMemoryStorage();
    const writer = await createWriter({
      config: config({ wal_dir: `${dir}/wal` }),
      storage,
      logger: silentLogger,
      walFs: createWalFs(),
    });
    await writer.write(request("svc", ids("a", 3)));
    await writer.write(request("svc", ids("b", 3)));
    strictEqual((await storage.list("")).length, 0);
    strictEqual((await walFiles(`${dir}/wal`)).length, 1);
    ok(writer.stats!().walBytes > 0);
    await writer.close();
    strictEqual((await storage.list("logs/")).length, 1);
    strictEqual(writer.stats!().rowsWritten, 6);
    strictEqual((await walFiles(`${dir}/wal`)).length, 0);
  } finally {
    await cleanup();
  }
});

Deno.test("createWriter() refuses durability wal without file access, naming the fix", async () => {
  await rejects(
    createWriter({
      config: config({ durability: "wal" }),
      storage: createMemoryStorage(),
      logger: silentLogger,
    }),
    { name: "TypeError", message: /batch.durability = "wal".*no file access.*"memory"/ },
  );
});
