/**
 * Commits stored data files to their Iceberg tables, exactly once, in batches: one snapshot per
 * table every `commit_interval_secs`, of the files on the durable pending list (./pending.ts).
 *
 * A commit (`append`):
 * 1. load the table (creating namespace and table on first use with `create_tables`);
 * 2. drop from the batch the files some snapshot already holds: the snapshots of the current
 *    branch since shortly before the oldest file was stored are read (their added files, from
 *    their manifests; a snapshot whose summary carries this batch's id holds the whole batch).
 *    This is what makes it exactly once: after a crash between commit and clean-up, after a
 *    "commit state unknown" answer that did apply, and with several committers sharing a
 *    pending list (Lambda instances, Worker isolates);
 * 3. write a manifest of the files and a manifest list (the parent's manifests and the new
 *    one), and commit `add-snapshot` + `set-snapshot-ref main` under the requirements
 *    `assert-table-uuid` and `assert-ref-snapshot-id` (the parent);
 * 4. 200: the files leave the pending list. 409 (someone else committed first): reload and go
 *    again from 2. 5xx or no answer ("commit state unknown"): reload and go again from 2, which
 *    finds the batch's id if the commit was applied. Other errors (400, 401, 403…): stop; the
 *    files stay pending and the next round tries again.
 *
 * Nothing here runs on the request path: the writers' `fileStored` hook only adds the file to
 * the pending list, so a catalog outage never fails ingestion; the files wait, across restarts.
 *
 * Compaction and retention commit `replace` and `delete` snapshots through ./lifecycle.ts, on
 * the same tables: a file some snapshot removed counts as committed here too (step 2), so a
 * pending record left behind by a crash can never add a compacted or expired file back.
 */
import type { Config } from "../config/types.ts";
import type { StoredFile, WriterHooks } from "../batch/types.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { TABLE_NAMES, type TableName } from "../core/tables.ts";
import { VERSION } from "../version.ts";
import { FooterError } from "./footer.ts";
import {
  type ManifestFile,
  manifestFileOf,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
} from "./manifest.ts";
import { type DataFile, DataFileError, dataFileOf } from "./metrics.ts";
import type { PendingFile, PendingList } from "./pending.ts";
import {
  CatalogError,
  type CommitOutcome,
  type LoadTableResult,
  type RestCatalog,
  type Snapshot,
} from "./rest.ts";
import {
  type FormatVersion,
  ICEBERG_TABLE,
  type IcebergSchema,
  icebergSchema,
  partitionSpec,
} from "./schema.ts";

/** Snapshot summary key holding the id of the batch a snapshot committed. */
export const COMMIT_ID_KEY = "otlp2parquet.commit-id";

/** How long before a file was stored a snapshot holding it may be dated (clock skew). */
export const DEDUPE_WINDOW_MS = 15 * 60_000;

/** Attempts of one batch within one round (409s and unknown outcomes). */
export const MAX_ATTEMPTS = 8;

/** Files per snapshot at most (a long outage's backlog goes in several). */
export const MAX_FILES_PER_COMMIT = 5000;

export interface IcebergDeps {
  config: Config;
  /** The storage (with its prefix): data files, manifests, and the catalog's metadata files. */
  storage: StorageDriver;
  /** The URI engines read storage key "" at, e.g. `s3://bucket/prefix/`, `file:///data/`. */
  rootUri: string;
  pending: PendingList;
  catalog: RestCatalog;
  logger: Logger;
  now?: () => number;
  /** Waits between attempts (tests pass a quick one). */
  sleep?: (ms: number) => Promise<void>;
}

/** What the committer has done so far (for the /metrics endpoint). */
export interface IcebergStats {
  /** Files stored and not yet in their table's current snapshot. */
  pendingFiles: number;
  /** Snapshots committed, and the files and rows they added. */
  commits: number;
  filesCommitted: number;
  rowsCommitted: number;
  /** Rounds of a table that ended without committing its files (they stay pending). */
  commitFailures: number;
  /** 409 answers (another writer committed first), retried. */
  commitConflicts: number;
  /** 5xx answers or timeouts to a commit (state unknown), checked and retried. */
  commitUnknown: number;
  /** Pending files found already committed (a crash after a commit, another committer). */
  alreadyCommitted: number;
  /** Stored files that cannot be entries of their table (logged; see the error). */
  filesRejected: number;
  /** Last snapshot committed per Iceberg table. */
  lastCommit: Record<string, { snapshotId: string; atMs: number; files: number; rows: number }>;
}

/** The outcome of one round for one table. */
export interface TableRound {
  table: TableName;
  committed: number;
  alreadyCommitted: number;
  snapshotId?: bigint;
  error?: string;
}

interface TableState {
  result: LoadTableResult;
}

export class IcebergCommitter {
  private readonly ns: string[];
  private readonly version: FormatVersion;
  private readonly tables = new Map<TableName, TableState>();
  private readonly addedBySnapshot = new Map<string, Set<string>>();
  private readonly knownPending = new Set<string>();
  private running: Promise<TableRound[]> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly counters = {
    commits: 0,
    filesCommitted: 0,
    rowsCommitted: 0,
    commitFailures: 0,
    commitConflicts: 0,
    commitUnknown: 0,
    alreadyCommitted: 0,
    filesRejected: 0,
  };
  private readonly last: IcebergStats["lastCommit"] = {};
  /** Tables whose last round failed (logged once until it works again). */
  private readonly failing = new Set<TableName>();

  constructor(readonly deps: IcebergDeps) {
    const i = deps.config.catalog.iceberg;
    this.ns = i.namespace.split(".");
    this.version = i.format_version as FormatVersion;
    this.now = deps.now ?? (() => Date.now());
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The writer hooks: every stored file goes onto the pending list (no catalog call). */
  get hooks(): WriterHooks {
    return { fileStored: (f) => this.fileStored(f) };
  }

  /** Adds a stored file to the pending list. Rejects only when the list cannot be written. */
  async fileStored(f: StoredFile): Promise<void> {
    const data = f.data ?? await this.deps.storage.get(f.key);
    if (!data) throw new Error(`Cannot read back the stored file ${JSON.stringify(f.key)}`);
    let df: DataFile;
    try {
      df = dataFileOf(data, f.key, f.table, this.version);
    } catch (e) {
      if (!(e instanceof DataFileError || e instanceof FooterError)) throw e;
      // Not a file of the table's layout: no retry makes it one. The file stays in storage.
      this.counters.filesRejected++;
      this.deps.logger.error("stored file cannot be added to its Iceberg table", {
        key: f.key,
        table: ICEBERG_TABLE[f.table],
        error: e.message,
      });
      return;
    }
    await this.deps.pending.add(df);
    this.knownPending.add(`${f.table}/${f.key}`);
  }

  /** Commits on a timer every `commit_interval_secs`, and once now. */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    const every = this.deps.config.catalog.iceberg.commit_interval_secs * 1000;
    this.timer = setInterval(() => void this.commitAll(), every);
    void this.commitAll();
  }

  /** Stops the timer after one last round (what it cannot commit stays pending). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
    await this.round().catch(() => {});
  }

  /** One round: every table with pending files gets a snapshot. Concurrent calls share one. */
  commitAll(): Promise<TableRound[]> {
    if (this.running) return this.running;
    this.running = this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  stats(): IcebergStats {
    return {
      pendingFiles: this.knownPending.size,
      ...this.counters,
      lastCommit: { ...this.last },
    };
  }

  private async round(): Promise<TableRound[]> {
    const all = await this.deps.pending.all((name, why) =>
      this.deps.logger.warn("unreadable pending record skipped", { name, error: why })
    );
    this.knownPending.clear();
    for (const p of all) this.knownPending.add(`${p.file.table}/${p.file.key}`);
    const byTable = new Map<TableName, PendingFile[]>();
    for (const p of all) {
      let list = byTable.get(p.file.table);
      if (!list) byTable.set(p.file.table, list = []);
      list.push(p);
    }
    const out: TableRound[] = [];
    for (const table of TABLE_NAMES) {
      const files = byTable.get(table);
      if (!files?.length) continue;
      files.sort((a, b) => a.addedAtMs - b.addedAtMs);
      for (let at = 0; at < files.length; at += MAX_FILES_PER_COMMIT) {
        const r = await this.commitFiles(table, files.slice(at, at + MAX_FILES_PER_COMMIT));
        out.push(r);
        if (r.error) break;
      }
    }
    return out;
  }

  /**
   * Commits `files` of `table` as one snapshot (see the top), or finds them committed. With
   * `sinceMs` given, snapshots from then on are checked for them instead of from shortly
   * before the oldest was stored (`register` checks the whole history: -Infinity).
   */
  async commitFiles(
    table: TableName,
    files: readonly PendingFile[],
    sinceMs?: number,
  ): Promise<TableRound> {
    const name = ICEBERG_TABLE[table];
    const batchId = crypto.randomUUID();
    let remaining = [...files];
    let already = 0;
    const since = sinceMs ??
      Math.min(...files.map((f) => f.addedAtMs)) - DEDUPE_WINDOW_MS;
    try {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const t = await this.table(table);
        const held = await this.committed(t, since, batchId);
        const done = held === "batch"
          ? remaining
          : remaining.filter((f) => held.has(this.uriOf(f.file.key)));
        if (done.length) {
          await this.deps.pending.remove(table, done.map((f) => f.file.key));
          for (const f of done) this.knownPending.delete(`${table}/${f.file.key}`);
          already += done.length;
          this.counters.alreadyCommitted += done.length;
          if (held === "batch") {
            this.deps.logger.info("Iceberg commit found applied", { table: name, batch: batchId });
          }
          remaining = remaining.filter((f) => !done.includes(f));
        }
        if (remaining.length === 0) return this.ok(table, 0, already);
        const { outcome, snapshotId, rows } = await this.append(
          table,
          t,
          remaining.map((f) => f.file),
          batchId,
          attempt,
        );
        switch (outcome.kind) {
          case "committed": {
            this.tables.set(table, { result: outcome.result });
            await this.deps.pending.remove(table, remaining.map((f) => f.file.key));
            for (const f of remaining) this.knownPending.delete(`${table}/${f.file.key}`);
            this.counters.commits++;
            this.counters.filesCommitted += remaining.length;
            this.counters.rowsCommitted += rows;
            this.last[name] = {
              snapshotId: String(snapshotId),
              atMs: this.now(),
              files: remaining.length,
              rows,
            };
            this.deps.logger.info("Iceberg snapshot committed", {
              table: `${this.ns.join(".")}.${name}`,
              snapshot: String(snapshotId),
              files: remaining.length,
              rows,
            });
            return this.ok(table, remaining.length, already, snapshotId);
          }
          case "conflict":
            this.counters.commitConflicts++;
            this.tables.delete(table);
            this.deps.logger.debug("Iceberg commit conflict: reloading", {
              table: name,
              attempt,
              error: outcome.message,
            });
            await this.sleep(Math.min(2000, 50 * 2 ** attempt) * Math.random());
            continue;
          case "unknown":
            this.counters.commitUnknown++;
            this.tables.delete(table);
            this.deps.logger.warn("Iceberg commit state unknown: checking the table", {
              table: name,
              attempt,
              error: outcome.message,
            });
            await this.sleep(Math.min(5000, 100 * 2 ** attempt));
            continue;
          case "failed":
            throw new CatalogError(outcome.message, outcome.status);
        }
      }
      throw new Error(`no commit after ${MAX_ATTEMPTS} attempts (conflicts or unknown outcomes)`);
    } catch (e) {
      this.counters.commitFailures++;
      const error = e instanceof Error ? e.message : String(e);
      if (!this.failing.has(table)) {
        this.deps.logger.warn("Iceberg commit failed: the files stay pending and are retried", {
          table: name,
          files: remaining.length,
          error,
        });
      }
      this.failing.add(table);
      return { table, committed: 0, alreadyCommitted: already, error };
    }
  }

  private ok(table: TableName, committed: number, already: number, snapshotId?: bigint) {
    if (this.failing.delete(table)) {
      this.deps.logger.info("Iceberg commits work again", { table: ICEBERG_TABLE[table] });
    }
    return { table, committed, alreadyCommitted: already, snapshotId };
  }

  /** Drops the cached state of `table` (a 409 or an unknown outcome: load it again). */
  forget(table: TableName): void {
    this.tables.delete(table);
  }

  /** Keeps `r` as `table`'s state (a commit's answer). */
  remember(table: TableName, r: LoadTableResult): void {
    this.tables.set(table, { result: r });
  }

  /** The location engines read the object `key` at. */
  uriOf(key: string): string {
    return this.deps.rootUri + key;
  }

  /** The storage key of `uri`, or null when it is not in the storage. */
  keyOf(uri: string): string | null {
    return uri.startsWith(this.deps.rootUri) ? uri.slice(this.deps.rootUri.length) : null;
  }

  /** The table's state, loaded (or created) now unless a fresh commit answer has it. */
  async table(table: TableName): Promise<LoadTableResult> {
    const cached = this.tables.get(table);
    if (cached) return cached.result;
    const { catalog, config } = this.deps;
    const name = ICEBERG_TABLE[table];
    let result = await catalog.loadTable(this.ns, name);
    if (!result) {
      if (!config.catalog.iceberg.create_tables) {
        throw new CatalogError(
          `Iceberg table ${
            this.ns.join(".")
          }.${name} does not exist, and catalog.iceberg.create_tables = false`,
          404,
        );
      }
      await catalog.ensureNamespace(this.ns);
      const schema = icebergSchema(table, config.schema.profile, this.version);
      result = await catalog.createTable(this.ns, {
        name,
        schema,
        "partition-spec": partitionSpec(table),
        "write-order": { "order-id": 0, fields: [] },
        "stage-create": false,
        properties: {
          "format-version": String(this.version),
          "write.format.default": "parquet",
          "write.parquet.compression-codec": config.parquet.compression === "none"
            ? "uncompressed"
            : config.parquet.compression,
          "otlp2parquet.version": VERSION,
        },
      });
      this.deps.logger.info("Iceberg table created", {
        table: `${this.ns.join(".")}.${name}`,
        location: result.metadata.location,
      });
    }
    this.checkTable(table, result);
    this.tables.set(table, { result });
    return result;
  }

  /** Throws when the catalog's table cannot hold our files (format version, field ids). */
  private checkTable(table: TableName, r: LoadTableResult): void {
    const md = r.metadata;
    const name = `${this.ns.join(".")}.${ICEBERG_TABLE[table]}`;
    if (md["format-version"] !== this.version) {
      throw new CatalogError(
        `Iceberg table ${name} has format version ${
          md["format-version"]
        }, catalog.iceberg.format_version = ${this.version}: set it to match`,
        400,
      );
    }
    const current = (md.schemas as IcebergSchema[] | undefined)?.find((s) =>
      s["schema-id"] === md["current-schema-id"]
    );
    const want = icebergSchema(table, this.deps.config.schema.profile, this.version);
    for (const f of want.fields) {
      const have = current?.fields.find((x) => x.id === f.id);
      if (!have || JSON.stringify(have.type) !== JSON.stringify(f.type)) {
        throw new CatalogError(
          `Iceberg table ${name}: its schema has no field ${f.id} ${
            JSON.stringify(f.name)
          } of type ${
            JSON.stringify(f.type)
          } (the table was not made by otlp2parquet for schema.profile = ${
            JSON.stringify(this.deps.config.schema.profile)
          })`,
          400,
        );
      }
    }
  }

  /**
   * The locations of the data files added by the snapshots of the current branch dated
   * `since` or later, or "batch" when one of them committed batch `batchId`.
   */
  private async committed(
    r: LoadTableResult,
    since: number,
    batchId: string,
  ): Promise<Set<string> | "batch"> {
    const md = r.metadata;
    const byId = new Map((md.snapshots ?? []).map((s) => [String(s["snapshot-id"]), s]));
    const paths = new Set<string>();
    let id = currentSnapshotId(r);
    for (let n = 0; id !== null && n < 100_000; n++) {
      const s = byId.get(String(id));
      if (!s || s["timestamp-ms"] < since) break;
      if (s.summary?.[COMMIT_ID_KEY] === batchId) return "batch";
      for (const p of await this.addedBy(s)) paths.add(p);
      const parent = s["parent-snapshot-id"];
      id = parent === undefined || parent === null ? null : BigInt(parent);
    }
    return paths;
  }

  /**
   * Data files a snapshot added or removed (from its manifest list and the manifests it wrote):
   * a file a `replace` or `delete` removed was in the table before, so it is not added again.
   */
  private async addedBy(s: Snapshot): Promise<Set<string>> {
    const id = String(s["snapshot-id"]);
    const cached = this.addedBySnapshot.get(id);
    if (cached) return cached;
    const out = new Set<string>();
    if (s["manifest-list"]) {
      for (const m of readManifestList(await this.read(s["manifest-list"]))) {
        if (m.content !== 0 || String(m.added_snapshot_id) !== id) continue;
        if (m.added_files_count === 0 && m.deleted_files_count === 0) continue;
        for (const e of readManifest(await this.read(m.manifest_path))) {
          if (e.status === 1 || (e.status === 2 && String(e.snapshotId) === id)) {
            out.add(e.filePath);
          }
        }
      }
    }
    if (this.addedBySnapshot.size > 10_000) this.addedBySnapshot.clear();
    this.addedBySnapshot.set(id, out);
    return out;
  }

  /** The bytes of `uri` (a manifest or manifest list in the storage). */
  async read(uri: string): Promise<Uint8Array> {
    const key = this.keyOf(uri);
    if (key === null) {
      throw new CatalogError(
        `Cannot read ${JSON.stringify(uri)}: it is outside the storage (${this.deps.rootUri})`,
        400,
      );
    }
    const b = await this.deps.storage.get(key);
    if (!b) throw new CatalogError(`Cannot read ${JSON.stringify(uri)}: no such object`, 404);
    return b;
  }

  /** Where this table's manifests go: the table's metadata folder if it is in the storage. */
  metadataKey(table: TableName, r: LoadTableResult): string {
    const loc = this.keyOf(r.metadata.location.replace(/\/+$/, "") + "/");
    return loc !== null ? `${loc}metadata/` : `_iceberg/${ICEBERG_TABLE[table]}/metadata/`;
  }

  /** Writes the manifests of an append of `files` and commits the snapshot. */
  private async append(
    table: TableName,
    r: LoadTableResult,
    files: readonly DataFile[],
    batchId: string,
    attempt: number,
  ): Promise<{ outcome: CommitOutcome; snapshotId: bigint; rows: number }> {
    const md = r.metadata;
    const version = this.version;
    const parentId = currentSnapshotId(r);
    const parent = parentId === null
      ? undefined
      : (md.snapshots ?? []).find((s) => String(s["snapshot-id"]) === String(parentId));
    const sequenceNumber = BigInt(md["last-sequence-number"] ?? 0) + 1n;
    const snapshotId = randomSnapshotId();
    const schema = icebergSchema(table, this.deps.config.schema.profile, version);
    const dir = this.metadataKey(table, r);
    const firstRowId = version >= 3 ? BigInt(md["next-row-id"] ?? 0) : undefined;
    const manifest = writeManifest({
      table,
      version,
      schema: { ...schema, "schema-id": md["current-schema-id"] ?? 0 },
      spec: partitionSpec(table),
      snapshotId,
      files,
      pathOf: (k) => this.uriOf(k),
    });
    const manifestKey = `${dir}${batchId}-a${attempt}-m0.avro`;
    await this.deps.storage.put(manifestKey, manifest);
    // The parent's manifests, but those with no live file left (a `replace` or `delete` wrote
    // them for its deleted entries; the snapshots after it do not need them).
    const carried =
      (parent?.["manifest-list"] ? readManifestList(await this.read(parent["manifest-list"])) : [])
        .filter((m) => !emptyManifest(m));
    const entry = manifestFileOf(
      this.uriOf(manifestKey),
      manifest.length,
      snapshotId,
      sequenceNumber,
      files,
      firstRowId,
    );
    const list = writeManifestList({
      version,
      snapshotId,
      parentSnapshotId: parentId,
      sequenceNumber,
      entries: [entry, ...carried],
      firstRowId,
    });
    const listKey = `${dir}snap-${snapshotId}-a${attempt}-${batchId}.avro`;
    await this.deps.storage.put(listKey, list);
    let rows = 0, bytes = 0;
    for (const f of files) rows += f.recordCount, bytes += f.fileSizeInBytes;
    // Totals from the manifests themselves (a parent written by another tool may have none).
    let totalFiles = 0n, totalRows = 0n;
    for (const m of [entry, ...carried]) {
      if (m.content !== 0) continue;
      totalFiles += BigInt(m.added_files_count + m.existing_files_count);
      totalRows += m.added_rows_count + m.existing_rows_count;
    }
    const summary = snapshotSummary(parent, files.length, rows, bytes, batchId);
    summary["total-data-files"] = String(totalFiles);
    summary["total-records"] = String(totalRows);
    const snapshot: Record<string, unknown> = {
      "snapshot-id": snapshotId,
      "sequence-number": sequenceNumber,
      "timestamp-ms": this.now(),
      "manifest-list": this.uriOf(listKey),
      summary,
      "schema-id": md["current-schema-id"] ?? 0,
    };
    if (parentId !== null) snapshot["parent-snapshot-id"] = parentId;
    if (firstRowId !== undefined) {
      snapshot["first-row-id"] = firstRowId;
      snapshot["added-rows"] = rows;
    }
    const outcome = await this.commitSnapshot(table, md["table-uuid"], parentId, snapshot);
    return { outcome, snapshotId, rows };
  }

  /**
   * Commits `snapshot` as the new head of `main`, under `assert-table-uuid` and
   * `assert-ref-snapshot-id` (`parentId`): appends here, replace/delete in ./lifecycle.ts.
   */
  commitSnapshot(
    table: TableName,
    tableUuid: string,
    parentId: bigint | null,
    snapshot: Record<string, unknown>,
  ): Promise<CommitOutcome> {
    return this.deps.catalog.commitTable(
      this.ns,
      ICEBERG_TABLE[table],
      [
        { type: "assert-table-uuid", uuid: tableUuid },
        { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": parentId },
      ],
      [
        { action: "add-snapshot", snapshot },
        {
          action: "set-snapshot-ref",
          "ref-name": "main",
          type: "branch",
          "snapshot-id": snapshot["snapshot-id"],
        },
      ],
    );
  }

  /** Per table: pending files, and the current snapshot the catalog has (for `iceberg status`). */
  async status(): Promise<
    {
      table: string;
      pending: number;
      current?: { snapshotId: string; atMs: number; summary: Record<string, string> };
      error?: string;
    }[]
  > {
    const counts = await this.deps.pending.counts();
    const out = [];
    for (const table of TABLE_NAMES) {
      const name = `${this.ns.join(".")}.${ICEBERG_TABLE[table]}`;
      const pending = counts.get(table) ?? 0;
      try {
        const r = await this.deps.catalog.loadTable(this.ns, ICEBERG_TABLE[table]);
        const id = r ? currentSnapshotId(r) : null;
        const s = id === null
          ? undefined
          : r!.metadata.snapshots?.find((x) => String(x["snapshot-id"]) === String(id));
        out.push({
          table: name,
          pending,
          current: s
            ? { snapshotId: String(id), atMs: s["timestamp-ms"], summary: s.summary ?? {} }
            : undefined,
          error: r ? undefined : "no such table yet",
        });
      } catch (e) {
        out.push({ table: name, pending, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return out;
  }
}

/** The snapshot id `main` points at (null: an empty table). */
export function currentSnapshotId(r: LoadTableResult): bigint | null {
  const md = r.metadata;
  const ref = md.refs?.main?.["snapshot-id"] ?? md["current-snapshot-id"];
  if (ref === undefined || ref === null || BigInt(ref) === -1n) return null;
  return BigInt(ref);
}

/** A data manifest without live entries (only deleted ones): not carried into a new list. */
export function emptyManifest(m: ManifestFile): boolean {
  return m.content === 0 && m.added_files_count === 0 && m.existing_files_count === 0;
}

/** A random positive 63-bit snapshot id. */
export function randomSnapshotId(): bigint {
  const b = crypto.getRandomValues(new Uint8Array(8));
  b[0] &= 0x7f;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v === 0n ? 1n : v;
}

/** The summary of an append snapshot: what it adds and the table's totals after it. */
function snapshotSummary(
  parent: Snapshot | undefined,
  files: number,
  rows: number,
  bytes: number,
  batchId: string,
): Record<string, string> {
  const total = (k: string, add: number) => {
    const before = parent === undefined ? 0 : Number(parent.summary?.[k] ?? NaN);
    return Number.isFinite(before) ? { [k]: String(before + add) } : {};
  };
  return {
    operation: "append",
    "added-data-files": String(files),
    "added-records": String(rows),
    "added-files-size": String(bytes),
    ...total("total-data-files", files),
    ...total("total-records", rows),
    ...total("total-files-size", bytes),
    ...total("total-delete-files", 0),
    ...total("total-position-deletes", 0),
    ...total("total-equality-deletes", 0),
    [COMMIT_ID_KEY]: batchId,
    "otlp2parquet.version": VERSION,
  };
}
