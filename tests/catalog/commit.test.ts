/**
 * The committer (src/catalog/committer.ts) with the real batching writer, fs storage and the
 * suite's REST catalog (tests/helpers/catalog.ts), checked by independent readers: icebird
 * reads every row of the table, python3-avro lists the current snapshot's data files, DuckDB
 * totals their rows. Faults: the catalog down then up, a concurrent writer (409s), commit
 * state unknown (applied then 504; a timeout), a committer that stops between committing and
 * clearing its pending list. In every case each stored file is in the current snapshot exactly
 * once.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createBatchWriter } from "../../src/batch/batcher.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import {
  createIceberg,
  type IcebergCommitter,
  type KeyValueStore,
  storageRootUri,
} from "../../src/catalog/index.ts";
import { dirKeyValue } from "../../src/catalog/pending-fs.node.ts";
import { ensureParquet } from "../../bench/core.ts";
import { config, ids, MemoryLogger, otlpRequest } from "../batch/helpers.ts";
import { type CatalogServer, startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import type { Config } from "../../src/config/types.ts";
import type { StorageDriver } from "../../src/storage/types.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");

interface Rig {
  dir: string;
  data: string;
  cat: CatalogServer;
  cfg: Config;
  storage: StorageDriver;
  logger: MemoryLogger;
  committer(): IcebergCommitter;
  /** Sends `n` requests of `per` log records for `service`, flushed to storage. */
  send(service: string, n: number, per: number): Promise<number>;
  close(): Promise<void>;
}

async function rig(more: (c: Config) => void = () => {}): Promise<Rig> {
  await ensureParquet();
  const dir = await Deno.makeTempDir({ prefix: "iceberg-commit-" });
  const data = `${dir}/data`;
  const cat = await startCatalogServer({ root: data, token: "secret-token" });
  const cfg = config({ durability: "memory", max_age_secs: 3600 }, (c) => {
    c.storage.backend = "fs";
    c.storage.fs.path = data;
    c.catalog.mode = "iceberg";
    c.catalog.iceberg.uri = cat.url;
    c.catalog.iceberg.token = "secret-token";
    c.catalog.iceberg.timeout_secs = 2;
    c.catalog.iceberg.pending_dir = `${dir}/pending`;
    more(c);
  });
  const storage = createFsStorage({ root: data });
  const logger = new MemoryLogger();
  let committer: IcebergCommitter | undefined;
  const make = (store?: KeyValueStore) =>
    createIceberg({
      config: cfg,
      storage,
      logger,
      pending: store ?? dirKeyValue(cfg.catalog.iceberg.pending_dir),
      rootUri: storageRootUri(cfg, data),
    });
  committer = make();
  let seq = 0;
  return {
    dir,
    data,
    cat,
    cfg,
    storage,
    logger,
    committer: () => committer!,
    async send(service, n, per) {
      const writer = await createBatchWriter({
        config: cfg,
        storage,
        logger,
        hooks: committer!.hooks,
      });
      for (let i = 0; i < n; i++) {
        await writer.write(otlpRequest(service, ids(`${service}-${seq++}`, per)));
        await writer.flush(); // one file per request
      }
      await writer.close();
      return n * per;
    },
    async close() {
      await cat.close();
      await Deno.remove(dir, { recursive: true });
    },
    // a new committer over the same pending list (a restart)
    ...{ restart: (store?: KeyValueStore) => (committer = make(store)) },
  } as Rig & { restart(store?: KeyValueStore): IcebergCommitter };
}

/** The table holds every stored file exactly once and `rows` rows, by three readers. */
async function assertExactlyOnce(r: Rig, rows: number, files?: number): Promise<void> {
  const meta = r.cat.metadataPath("otel", "logs")!;
  const current = await currentFiles(meta);
  const stored = await storedParquet(r.data);
  deepStrictEqual([...current.paths].sort(), stored, "current snapshot = stored files, each once");
  if (files !== undefined) strictEqual(stored.length, files);
  strictEqual(await duckdbCount(current.paths), rows, "DuckDB rows of the snapshot's files");
  const all = await icebirdRows(meta);
  strictEqual(all.length, rows, "icebird rows");
  strictEqual(new Set(all.map((x) => x.Body)).size, rows, "every row once");
  strictEqual(current.summary?.["total-records"], String(rows));
}

Deno.test({
  name: "stored files are committed once each, readable by icebird, python3-avro and DuckDB",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      const rows = await r.send("checkout", 3, 40) + await r.send("cart", 2, 25);
      strictEqual(r.committer().stats().pendingFiles, 5);
      const round = await r.committer().commitAll();
      deepStrictEqual(round.map((x) => [x.table, x.committed, x.error]), [["logs", 5, undefined]]);
      await assertExactlyOnce(r, rows, 5);
      const s = r.committer().stats();
      strictEqual(s.commits, 1);
      strictEqual(s.pendingFiles, 0);
      strictEqual(s.filesCommitted, 5);
      // A second round has nothing to do; more files make a second snapshot on top.
      deepStrictEqual(await r.committer().commitAll(), []);
      const more = await r.send("checkout", 2, 10);
      await r.committer().commitAll();
      await assertExactlyOnce(r, rows + more, 7);
      strictEqual(r.committer().stats().commits, 2);
      ok(r.cat.requests.includes("GET /v1/config"));
      ok(r.cat.requests.some((q) => q.startsWith("POST /v1/test-prefix/namespaces")));
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "a catalog outage fails no write; the files are committed once it is back",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      r.cat.down = true;
      const rows = await r.send("api", 4, 30);
      const down = await r.committer().commitAll();
      ok(down[0].error?.includes("503"), down[0].error);
      strictEqual(r.committer().stats().pendingFiles, 4);
      strictEqual(r.committer().stats().commitFailures, 1);
      r.cat.down = false;
      await r.committer().commitAll();
      await assertExactlyOnce(r, rows, 4);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "a concurrent writer's commits (409) are retried to success",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      let rows = await r.send("web", 2, 10);
      await r.committer().commitAll();
      rows += await r.send("web", 3, 10);
      r.cat.contend(3);
      const [round] = await r.committer().commitAll();
      strictEqual(round.committed, 3, round.error);
      strictEqual(r.committer().stats().commitConflicts, 3);
      await assertExactlyOnce(r, rows, 5);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "commit state unknown (applied, then 504; a timeout; a 503) makes no duplicate",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      let rows = await r.send("pay", 2, 10);
      r.cat.failNext("apply-504");
      await r.committer().commitAll();
      strictEqual(r.cat.commitsApplied, 1);
      strictEqual(r.committer().stats().commitUnknown, 1);
      strictEqual(r.committer().stats().alreadyCommitted, 2);
      await assertExactlyOnce(r, rows, 2);
      rows += await r.send("pay", 1, 10);
      r.cat.failNext("timeout");
      r.cat.failNext("503");
      await r.committer().commitAll();
      strictEqual(r.cat.commitsApplied, 2);
      await assertExactlyOnce(r, rows, 3);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "a committer stopped between commit and clean-up commits nothing twice after restart",
  ignore: SKIP,
  async fn() {
    const r = await rig() as Rig & { restart(store?: KeyValueStore): IcebergCommitter };
    try {
      const rows = await r.send("jobs", 3, 10);
      // The first committer's process "dies" right after the catalog applied its commit: its
      // pending records cannot be removed (nothing after the commit runs).
      const real = dirKeyValue(r.cfg.catalog.iceberg.pending_dir);
      const first = r.restart({
        ...real,
        delete: () => Promise.reject(new Error("killed")),
      });
      const [a] = await first.commitAll();
      ok(a.error?.includes("killed"), a.error);
      strictEqual(r.cat.commitsApplied, 1);
      strictEqual((await Array.fromAsync(Deno.readDir(`${r.dir}/pending`))).length, 3);
      // Restart: the new committer finds the files in the snapshot and clears them.
      const second = r.restart();
      const [b] = await second.commitAll();
      strictEqual(b.committed, 0);
      strictEqual(b.alreadyCommitted, 3);
      strictEqual(r.cat.commitsApplied, 1);
      strictEqual((await Array.fromAsync(Deno.readDir(`${r.dir}/pending`))).length, 0);
      await assertExactlyOnce(r, rows, 3);
    } finally {
      await r.close();
    }
  },
});
