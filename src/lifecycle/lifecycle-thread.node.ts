/**
 * The lifecycle thread of a server (started by ./schedule.node.ts): one lifecycle run
 * (retention, then compaction) with a storage client of its own, so reading and merging files
 * never holds up the server's event loop. It logs like the server (same format, to stderr).
 *
 * Message in:   { type: "run", config, wasm }
 * Messages out: { type: "done", deleted, compacted, recovered, remaining } | { type: "failed", error }
 */
import type { Config } from "../config/types.ts";
import { initParquet } from "../core/parquet/encode.ts";
import { loggerFor } from "../log/logger.ts";
import { createStorage } from "../storage/index.ts";
import { threadPort } from "../threads/thread.node.ts";
import { runLifecycle } from "./index.ts";
import { resolve } from "node:path";
import { lifecycleCatalog, storageRootUri } from "../catalog/index.ts";

export type ToLifecycle = { type: "run"; config: Config; wasm: Uint8Array };

export type FromLifecycle =
  | { type: "done"; deleted: number; compacted: number; recovered: number; remaining: number }
  | { type: "failed"; error: string };

const port = await threadPort<ToLifecycle, FromLifecycle>();
port.listen(async (msg) => {
  try {
    initParquet(msg.wasm);
    const logger = loggerFor(msg.config);
    const storage = await createStorage(msg.config, logger);
    try {
      // Iceberg: `replace` / `delete` snapshots, data file paths as the server's committer has
      // them (../entry/serve.ts `icebergFor`).
      const c = msg.config;
      const catalog = lifecycleCatalog({
        config: c,
        storage,
        logger,
        rootUri: storageRootUri(
          c,
          c.storage.backend === "fs" ? resolve(c.storage.fs.path) : undefined,
        ),
      });
      const r = await runLifecycle(storage, c, logger, Date.now, catalog);
      port.post({
        type: "done",
        deleted: r.retention?.deleted ?? 0,
        compacted: r.compaction?.partitions.length ?? 0,
        recovered: r.compaction?.recovered ?? 0,
        remaining: r.compaction?.remaining ?? 0,
      });
    } finally {
      await storage.close?.();
    }
  } catch (e) {
    port.post({ type: "failed", error: e instanceof Error ? e.message : String(e) });
  }
});
