/**
 * Compaction and retention with the Iceberg catalog on (src/catalog/lifecycle.ts): compaction
 * commits a `replace` snapshot before deleting its sources, retention a `delete` snapshot before
 * deleting the expired files. The real batching writer (write-ahead log, the default) stores
 * the files, the real committer appends them to the suite's REST catalog
 * (tests/helpers/catalog.ts, the one stand-in: no REST catalog server installs here), and
 * independent readers check the table after every step: python3-avro lists the current
 * snapshot's data files and reads every manifest entry's status, icebird reads every row through
 * the metadata, DuckDB totals the rows of the listed files. Faults: 409 contention, a commit
 * applied then answered 504, the catalog down between storing the outputs and committing, a run
 * killed between the commit and deleting the sources, a pending record left behind for a file
 * compaction then removed. Each ends with every row in the table exactly once.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { createBatchWriter } from "../../src/batch/batcher.ts";
import { createWalFs } from "../../src/batch/wal/fs.node.ts";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import {
  createIceberg,
  type IcebergCommitter,
  IcebergLifecycle,
  type KeyValueStore,
  storageRootUri,
} from "../../src/catalog/index.ts";
import { dirKeyValue } from "../../src/catalog/pending-fs.node.ts";
import { compact, MARKER_DIR } from "../../src/lifecycle/compact.ts";
import { enforceRetention } from "../../src/lifecycle/retention.ts";
import { parseDataKey } from "../../src/lifecycle/keys.ts";
import { compactionOptions } from "../../src/lifecycle/index.ts";
import { ensureParquet } from "../../bench/core.ts";
import { config, HOUR_NS, ids, MemoryLogger, otlpRequest, T0 } from "../batch/helpers.ts";
import { type CatalogServer, startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro, longOf, readAvroFiles } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import { query, readParquet } from "../helpers/duckdb.ts";
import type { Config } from "../../src/config/types.ts";
import type { StorageDriver } from "../../src/storage/types.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
const DAY_NS = 24n * HOUR_NS;
/** "Now" for the lifecycle jobs: every test hour has ended long ago. */
const LATER_MS = Number(T0 / 1_000_000n) + 30 * 86_400_000;

interface Rig {
  dir: string;
  data: string;
  cat: CatalogServer;
  cfg: Config;
  storage: StorageDriver;
  committer: IcebergCommitter;
  tables: IcebergLifecycle;
  /** `n` requests of `per` records of `service` at `timeNs`, one file each; returns the bodies. */
  send(service: string, n: number, per: number, timeNs?: bigint): Promise<string[]>;
  /** A new committer over the same pending list (a restart), or over `store`. */
  restart(store?: KeyValueStore): IcebergCommitter;
  compact(storage?: StorageDriver): ReturnType<typeof compact>;
  close(): Promise<void>;
}

async function rig(formatVersion: 2 | 3 = 2): Promise<Rig> {
  await ensureParquet();
  const dir = await Deno.makeTempDir({ prefix: "iceberg-lifecycle-" });
  const data = `${dir}/data`;
  const cat = await startCatalogServer({ root: data });
  const cfg = config({ durability: "wal", wal_dir: `${dir}/wal`, max_age_secs: 3600 }, (c) => {
    c.storage.backend = "fs";
    c.storage.fs.path = data;
    c.catalog.mode = "iceberg";
    c.catalog.iceberg.uri = cat.url;
    c.catalog.iceberg.timeout_secs = 2;
    c.catalog.iceberg.pending_dir = `${dir}/pending`;
    c.catalog.iceberg.format_version = formatVersion;
    c.compaction.min_files = 2;
    c.compaction.min_age_secs = 0;
  });
  const storage = createFsStorage({ root: data });
  const logger = new MemoryLogger();
  const quick = () => new Promise<void>((r) => setTimeout(r, 5));
  const make = (store?: KeyValueStore) => {
    const c = createIceberg({
      config: cfg,
      storage,
      logger,
      pending: store ?? dirKeyValue(cfg.catalog.iceberg.pending_dir),
      rootUri: storageRootUri(cfg, data),
    });
    c.deps.sleep = quick;
    return c;
  };
  const r: Rig = {
    dir,
    data,
    cat,
    cfg,
    storage,
    committer: make(),
    tables: undefined as unknown as IcebergLifecycle,
    async send(service, n, per, timeNs = T0) {
      const writer = await createBatchWriter({
        config: cfg,
        storage,
        logger,
        walFs: createWalFs(),
        hooks: r.committer.hooks,
      });
      const bodies: string[] = [];
      try {
        for (let i = 0; i < n; i++) {
          const b = ids(`${service}-${timeNs}-${crypto.randomUUID().slice(0, 8)}`, per);
          await writer.write(otlpRequest(service, b, timeNs + BigInt(i) * 1000n));
          await writer.flush(); // one file per request
          bodies.push(...b);
        }
      } finally {
        await writer.close();
      }
      return bodies;
    },
    restart(store) {
      r.committer = make(store);
      return r.committer;
    },
    compact(s = storage) {
      // The lifecycle job's own committer, as the server's lifecycle thread has it.
      const own = createIceberg({
        config: cfg,
        storage: s,
        logger,
        pending: dirKeyValue(`${dir}/unused`),
        rootUri: storageRootUri(cfg, data),
      });
      own.deps.sleep = quick;
      return compact(
        s,
        compactionOptions(cfg, { now: () => LATER_MS, catalog: new IcebergLifecycle(own) }),
        logger,
      );
    },
    async close() {
      await cat.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  r.tables = new IcebergLifecycle(r.committer);
  r.committer.deps.sleep = quick;
  return r;
}

const local = (uri: string) => decodeURI(new URL(uri).pathname);

/**
 * The current snapshot lists each of `files` (default: every stored Parquet file) exactly once
 * and nothing else, and its rows are exactly `bodies`, by python3-avro, DuckDB and icebird.
 */
async function assertTable(r: Rig, bodies: string[], files?: string[]): Promise<void> {
  const meta = r.cat.metadataPath("otel", "logs")!;
  const current = await currentFiles(meta);
  const want = files ?? await storedParquet(r.data);
  deepStrictEqual([...current.paths].sort(), [...want].sort(), "snapshot lists exactly these");
  strictEqual(await duckdbCount(current.paths), bodies.length, "DuckDB rows of the listed files");
  const rows = await icebirdRows(meta);
  deepStrictEqual(rows.map((x) => String(x.Body)).sort(), [...bodies].sort(), "icebird rows");
  strictEqual(current.summary?.["total-records"], String(bodies.length), "total-records");
  strictEqual(current.summary?.["total-data-files"], String(want.length), "total-data-files");
}

/** The manifest entries of the current snapshot by status, read by python3-avro. */
async function entryStatuses(r: Rig): Promise<{ status: number; path: string; snap: string }[]> {
  const current = await currentFiles(r.cat.metadataPath("otel", "logs")!);
  const read = await readAvroFiles(current.avroFiles.slice(1));
  return read.flatMap((m) =>
    m.records.map((e) => ({
      status: e.status as number,
      path: (e.data_file as { file_path: string }).file_path,
      snap: String(longOf(e.snapshot_id)),
    }))
  );
}

async function pendingUris(r: Rig): Promise<string[]> {
  const root = storageRootUri(r.cfg, r.data);
  return (await r.committer.deps.pending.all()).map((p) => root + p.file.key);
}

for (const version of [2, 3] as const) {
  Deno.test({
    name:
      `compaction commits one replace snapshot (format v${version}): the table lists exactly the compacted files, same rows; pending files wait`,
    ignore: SKIP,
    async fn() {
      const r = await rig(version);
      try {
        const bodies = [
          ...await r.send("checkout", 12, 20),
          ...await r.send("cart", 3, 10),
        ];
        await r.committer.commitAll();
        await assertTable(r, bodies);
        const before = await currentFiles(r.cat.metadataPath("otel", "logs")!);
        const rowsBefore = `before_v${version}`;
        await query(
          `CREATE TABLE ${rowsBefore} AS SELECT * FROM ${readParquet(before.paths.map(local))}`,
        );
        // Two more files stored, not committed yet: on the pending list only.
        const late = await r.send("checkout", 2, 5);
        const pending = await pendingUris(r);
        strictEqual(pending.length, 2);

        const report = await r.compact();
        deepStrictEqual(
          report.partitions.map((p) => [p.service, p.filesBefore, p.filesAfter]).sort(),
          [["cart", 3, 1], ["checkout", 12, 1]],
        );
        // The table: the two compacted files only (the pending ones are not in it yet).
        const stored = await storedParquet(r.data);
        strictEqual(stored.length, 4, "2 compacted + 2 pending");
        const compacted = stored.filter((u) => !pending.includes(u));
        ok(compacted.every((u) => /-c0\.parquet$/.test(u)), compacted.join());
        for (const u of compacted) {
          // Named by the first row's time in µs (v2 files hold µs, v3 ns).
          const k = parseDataKey(u.slice(u.indexOf("/logs/") + 1))!;
          const hourUs = BigInt(k.hour) * 3_600_000_000n;
          ok(k.firstUs >= hourUs && k.firstUs < hourUs + 3_600_000_000n, u);
        }
        await assertTable(r, bodies, compacted);
        // Every column of every row the same, none twice (DuckDB EXCEPT ALL both ways).
        const after = readParquet(compacted.map(local));
        for (
          const q of [
            `SELECT * FROM ${rowsBefore} EXCEPT ALL SELECT * FROM ${after}`,
            `SELECT * FROM ${after} EXCEPT ALL SELECT * FROM ${rowsBefore}`,
          ]
        ) {
          strictEqual(Number((await query(`SELECT count(*) AS n FROM (${q})`))[0].n), 0, q);
        }
        const cur = await currentFiles(r.cat.metadataPath("otel", "logs")!);
        strictEqual(cur.summary?.operation, "replace");
        // Each source is a DELETED entry of the snapshot that removed it; nothing else is live.
        const md = r.cat.table("otel", "logs")!;
        const snaps = md.snapshots as { summary: Record<string, string>; "snapshot-id": string }[];
        const replaces = snaps.filter((s) => s.summary.operation === "replace");
        strictEqual(replaces.length, 2, "one replace per partition");
        const sum = (k: string) => replaces.reduce((n, s) => n + Number(s.summary[k]), 0);
        strictEqual(sum("deleted-data-files"), 15);
        strictEqual(sum("added-data-files"), 2);
        strictEqual(sum("deleted-records"), bodies.length);
        strictEqual(sum("added-records"), bodies.length);
        const entries = await entryStatuses(r);
        const live = entries.filter((e) => e.status !== 2).map((e) => e.path).sort();
        deepStrictEqual(live, compacted.sort());
        // The last replace's own manifests: its deleted entries carry its snapshot id.
        const last = String(md["current-snapshot-id"]);
        const deleted = entries.filter((e) => e.status === 2);
        ok(deleted.length > 0 && deleted.every((e) => e.snap === last), JSON.stringify(deleted));
        ok(deleted.every((e) => before.paths.includes(e.path)));

        // The pending files are committed on top; the next run compacts them with the rest.
        await r.committer.commitAll();
        await assertTable(r, [...bodies, ...late]);
        const again = await r.compact();
        deepStrictEqual(again.partitions.map((p) => [p.service, p.filesBefore, p.filesAfter]), [[
          "checkout",
          3,
          1,
        ]]);
        await assertTable(r, [...bodies, ...late]);
        strictEqual((await storedParquet(r.data)).length, 2);
      } finally {
        await r.close();
      }
    },
  });
}

Deno.test({
  name: "a compaction's replace under 409 contention and an applied-then-504 commit ends exact",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      const bodies = await r.send("web", 6, 10);
      await r.committer.commitAll();
      r.cat.contend(3);
      const a = await r.compact();
      strictEqual(a.partitions[0].filesAfter, 1);
      await assertTable(r, bodies);
      strictEqual((await storedParquet(r.data)).length, 1);

      const more = await r.send("web", 4, 10, T0 + 2n * HOUR_NS);
      await r.committer.commitAll();
      const applied = r.cat.commitsApplied;
      r.cat.failNext("apply-504");
      const b = await r.compact();
      strictEqual(b.partitions[0].filesBefore, 4);
      strictEqual(r.cat.commitsApplied, applied + 1, "applied once, not again");
      await assertTable(r, [...bodies, ...more]);
      strictEqual((await storedParquet(r.data)).length, 2);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name:
    "a run killed between the replace commit and deleting the sources, or with the catalog down before it, is finished by the next",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      const bodies = await r.send("jobs", 5, 10);
      await r.committer.commitAll();
      // Killed right after the commit: no delete of a data file happens.
      const killed: StorageDriver = {
        ...r.storage,
        name: r.storage.name,
        put: (k, d) => r.storage.put(k, d),
        get: (k) => r.storage.get(k),
        list: (p) => r.storage.list(p),
        listWithSizes: r.storage.listWithSizes?.bind(r.storage),
        check: () => r.storage.check(),
        delete: (k) =>
          k.startsWith("logs/") ? Promise.reject(new Error("killed")) : r.storage.delete(k),
      };
      await rejects(r.compact(killed), /killed/);
      const stored = await storedParquet(r.data);
      strictEqual(stored.length, 6, "5 sources + 1 output still stored");
      const output = stored.filter((u) => u.endsWith("-c0.parquet"));
      // Table readers already see the compacted file only: no row twice.
      await assertTable(r, bodies, output);
      ok((await r.storage.list(MARKER_DIR)).length === 1);
      const commits = r.cat.commitsApplied;
      const again = await r.compact();
      strictEqual(again.recovered, 1);
      strictEqual(r.cat.commitsApplied, commits, "the replace is found committed");
      await assertTable(r, bodies);
      deepStrictEqual(await storedParquet(r.data), output);
      deepStrictEqual(await r.storage.list(MARKER_DIR), []);

      // The catalog down once the outputs are stored: the run fails, the table is unchanged.
      const more = await r.send("jobs", 3, 10, T0 + 3n * HOUR_NS);
      await r.committer.commitAll();
      const listed = await currentFiles(r.cat.metadataPath("otel", "logs")!);
      r.cat.failNext("503", 8); // every attempt of the run's replace
      await rejects(r.compact(), /no commit/);
      ok((await r.storage.list(MARKER_DIR)).length === 1);
      strictEqual((await storedParquet(r.data)).length, 5, "sources and the output stored");
      await assertTable(r, [...bodies, ...more], listed.paths);
      const c = await r.compact();
      strictEqual(c.recovered, 1);
      await assertTable(r, [...bodies, ...more]);
      strictEqual((await storedParquet(r.data)).length, 2);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "a pending record left behind for a file compaction then removed never adds it back",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      const bodies = await r.send("svc", 4, 10);
      // The committer dies after its commit applied: its pending records stay.
      const real = dirKeyValue(r.cfg.catalog.iceberg.pending_dir);
      const first = r.restart({ ...real, delete: () => Promise.reject(new Error("killed")) });
      await first.commitAll();
      strictEqual((await pendingUris(r)).length, 4);
      await r.compact();
      await assertTable(r, bodies);
      // Restart: the records name files a replace removed: dropped, not appended.
      const second = r.restart();
      const commits = r.cat.commitsApplied;
      const [round] = await second.commitAll();
      strictEqual(round.committed, 0);
      strictEqual(round.alreadyCommitted, 4);
      strictEqual(r.cat.commitsApplied, commits);
      strictEqual((await pendingUris(r)).length, 0);
      await assertTable(r, bodies);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name:
    "retention commits a delete snapshot first: expired partitions leave the table, then the storage",
  ignore: SKIP,
  async fn() {
    const r = await rig();
    try {
      const old = [
        ...await r.send("api", 3, 10, T0),
        ...await r.send("db", 2, 10, T0 + HOUR_NS),
      ];
      const recent = await r.send("api", 2, 10, T0 + 20n * DAY_NS);
      await r.committer.commitAll();
      await assertTable(r, [...old, ...recent]);
      // One more old file, stored but not committed yet: left, and expired once committed.
      const lateOld = await r.send("api", 1, 5, T0);
      const days = { logs: 7, traces: 0, metrics: 0 };
      const now = () => Number(T0 / 1_000_000n) + 21 * 86_400_000;
      const listed = (await currentFiles(r.cat.metadataPath("otel", "logs")!)).paths;
      const dry = await enforceRetention(r.storage, {
        days,
        now,
        dryRun: true,
        catalog: r.tables,
      }, silent());
      strictEqual(dry.deleted, 0);
      strictEqual(dry.partitions.reduce((n, p) => n + p.files.length, 0), 5);
      await assertTable(r, [...old, ...recent], listed);
      strictEqual((await storedParquet(r.data)).length, 8, "nothing deleted by the dry run");

      r.cat.failNext("apply-504");
      const rep = await enforceRetention(r.storage, { days, now, catalog: r.tables }, silent());
      strictEqual(rep.deleted, 5);
      deepStrictEqual(rep.partitions.map((p) => [p.service, p.files.length, p.left?.length]), [
        ["api", 3, 1],
        ["db", 2, 0],
      ]);
      const cur = await currentFiles(r.cat.metadataPath("otel", "logs")!);
      strictEqual(cur.summary?.operation, "delete");
      strictEqual(cur.summary?.["deleted-data-files"], "5");
      strictEqual(cur.summary?.["deleted-records"], String(old.length));
      const pending = await pendingUris(r);
      await assertTable(
        r,
        recent,
        (await storedParquet(r.data)).filter((u) => !pending.includes(u)),
      );
      ok(cur.paths.every((p) => !p.includes("/day=01/")), cur.paths.join());

      // The late file is committed, and the next run expires it.
      await r.committer.commitAll();
      await assertTable(r, [...recent, ...lateOld]);
      const next = await enforceRetention(r.storage, { days, now, catalog: r.tables }, silent());
      strictEqual(next.deleted, 1);
      await assertTable(r, recent);
      strictEqual((await storedParquet(r.data)).length, 2);
      ok(
        (await Deno.stat(local((await currentFiles(r.cat.metadataPath("otel", "logs")!)).paths[0])))
          .isFile,
      );
    } finally {
      await r.close();
    }
  },
});

function silent() {
  return new MemoryLogger();
}
