/**
 * The Iceberg side of compaction and retention (../lifecycle/): the table readers see the
 * storage change in one step, never a row twice or missing.
 *
 * - `replace` (compaction): one snapshot adds the compacted files and removes their sources;
 * - `delete` (retention): one snapshot removes the files of the partitions past retention.
 *
 * Both follow the spec's rules for manifests ("Manifest Entry Fields", "Snapshots"): the new
 * files go in a new manifest (ADDED, status 1); every manifest of the parent that lists a removed
 * file is written again, its removed entries DELETED (status 2) and the others EXISTING
 * (status 0), with explicit sequence numbers (../catalog/manifest.ts `rewriteManifest`); the
 * parent's other manifests are carried as they are. The summary says what was added and
 * deleted (`added-data-files`, `deleted-data-files`, `deleted-records`, `removed-files-size`…)
 * and the table's totals after it.
 *
 * Exactly once, as the appends (./committer.ts): the commit carries an id (the compaction's
 * plan id, a hash of the expired keys) in its summary under `otlp2parquet.commit-id`, under the
 * requirements `assert-table-uuid` and `assert-ref-snapshot-id`. A 409 reloads the table and
 * builds the snapshot again on the new parent; a 5xx or a timeout ("commit state unknown")
 * reloads it and looks for the id among the snapshots before trying again. What the table
 * holds decides the rest: a `replace` whose outputs are live and sources gone is done; one whose
 * sources are no longer all live (another job removed some) is not made ("gone": the caller
 * deletes its outputs, which no snapshot lists); a `delete` removes what of its files is still
 * live.
 *
 * Only files the current snapshot lists are ever compacted or expired (`liveKeys`): a file
 * still on a pending list is not in the table yet, so no job removes it before its append, and
 * an append never adds back a file a snapshot removed (./committer.ts step 2).
 */
import type { TableName } from "../core/tables.ts";
import type { StorageDriver } from "../storage/types.ts";
import {
  COMMIT_ID_KEY,
  currentSnapshotId,
  DEDUPE_WINDOW_MS,
  emptyManifest,
  type IcebergCommitter,
  MAX_ATTEMPTS,
  randomSnapshotId,
} from "./committer.ts";
import {
  type ManifestFile,
  manifestFileOf,
  manifestMayHold,
  readManifest,
  readManifestList,
  rewriteManifest,
  writeManifest,
  writeManifestList,
} from "./manifest.ts";
import { type DataFile, dataFileOf } from "./metrics.ts";
import { CatalogError, type LoadTableResult } from "./rest.ts";
import { type FormatVersion, ICEBERG_TABLE, icebergSchema, partitionSpec } from "./schema.ts";
import { VERSION } from "../version.ts";

/** A partition of a table: the service and the hour (hours since the epoch). */
export interface PartitionRef {
  service: string;
  hour: number;
}

/** What a `replace` found or did. */
export type ReplaceResult =
  /** Committed now, or by an earlier try (the outputs are live, the sources are not). */
  | { kind: "done"; snapshotId?: bigint }
  /** Some source is no longer in the table: nothing committed, the outputs are not listed. */
  | { kind: "gone"; missing: string[] };

/** What a `delete` did: the keys no longer in the table (removed now or before). */
export interface DeleteResult {
  removed: string[];
  snapshotId?: bigint;
}

/** The table operations compaction and retention use (../lifecycle/ `TableCatalog`). */
export class IcebergLifecycle {
  private readonly ns: string[];
  private readonly version: FormatVersion;
  /** Live entries of manifests by path (manifests never change once written). */
  private readonly entries = new Map<string, { status: number; path: string }[]>();
  /** The last manifest list read (a run reads the same one for planning and committing). */
  private list: { path: string; entries: ManifestFile[] } | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(readonly committer: IcebergCommitter) {
    const i = committer.deps.config.catalog.iceberg;
    this.ns = i.namespace.split(".");
    this.version = i.format_version as FormatVersion;
    this.sleep = committer.deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = committer.deps.now ?? (() => Date.now());
  }

  private get storage(): StorageDriver {
    return this.committer.deps.storage;
  }

  /** Storage keys of the data files the current snapshot of `table` lists in `parts`. */
  async liveKeys(table: TableName, parts: readonly PartitionRef[]): Promise<Set<string>> {
    this.committer.forget(table);
    const r = await this.committer.table(table);
    const live = await this.live(r, parts);
    const out = new Set<string>();
    for (const p of live.keys()) {
      const k = this.committer.keyOf(p);
      if (k !== null) out.add(k);
    }
    return out;
  }

  /**
   * One `replace` snapshot of `table`: `outputs` (stored keys, their bytes when at hand) in,
   * `sources` (keys, all in partition `part`) out. `id` names the compaction (its plan id);
   * `sinceMs` is when it was planned (its marker's time).
   */
  async replace(
    table: TableName,
    id: string,
    part: PartitionRef,
    sources: readonly string[],
    outputs: readonly { key: string; bytes?: Uint8Array }[],
    sinceMs: number,
  ): Promise<ReplaceResult> {
    const files: DataFile[] = [];
    for (const o of outputs) {
      const bytes = o.bytes ?? await this.storage.get(o.key);
      if (!bytes) throw new Error(`compacted file ${JSON.stringify(o.key)} is not in the storage`);
      files.push(dataFileOf(bytes, o.key, table, this.version));
    }
    const srcPaths = sources.map((k) => this.committer.uriOf(k));
    const outPaths = files.map((f) => this.committer.uriOf(f.key));
    const r = await this.commit(table, `compact-${id}`, sinceMs, [part], (live) => {
      const outLive = outPaths.filter((p) => live.has(p));
      const srcLive = srcPaths.filter((p) => live.has(p));
      if (outLive.length === outPaths.length && srcLive.length === 0) return "done";
      if (outLive.length > 0) {
        throw new CatalogError(
          `compaction ${id} of ${
            ICEBERG_TABLE[table]
          }: the table lists ${outLive.length} of its outputs and ${srcLive.length} of its sources`,
          409,
        );
      }
      if (srcLive.length < srcPaths.length) {
        return { gone: srcPaths.filter((p) => !live.has(p)) };
      }
      return { operation: "replace", add: files, remove: new Set(srcPaths) };
    });
    if (r.kind === "gone") {
      return { kind: "gone", missing: r.paths.map((p) => this.committer.keyOf(p) ?? p) };
    }
    return { kind: "done", snapshotId: r.snapshotId };
  }

  /** One `delete` snapshot of `table` removing `keys` (in `parts`) that are still live. */
  async delete(
    table: TableName,
    id: string,
    parts: readonly PartitionRef[],
    keys: readonly string[],
    sinceMs: number,
  ): Promise<DeleteResult> {
    const paths = keys.map((k) => this.committer.uriOf(k));
    const r = await this.commit(table, `retention-${id}`, sinceMs, parts, (live) => {
      const still = paths.filter((p) => live.has(p));
      if (still.length === 0) return "done";
      return { operation: "delete", add: [], remove: new Set(still) };
    });
    return { removed: [...keys], snapshotId: r.kind === "done" ? r.snapshotId : undefined };
  }

  /**
   * Commits the snapshot `plan` asks for, given the live files (paths) of `parts`, retrying 409s
   * and unknown outcomes (see the top).
   */
  private async commit(
    table: TableName,
    commitId: string,
    sinceMs: number,
    parts: readonly PartitionRef[],
    plan: (live: Map<string, number>) =>
      | "done"
      | { gone: string[] }
      | { operation: "replace" | "delete"; add: DataFile[]; remove: Set<string> },
  ): Promise<{ kind: "done"; snapshotId?: bigint } | { kind: "gone"; paths: string[] }> {
    const name = ICEBERG_TABLE[table];
    const log = this.committer.deps.logger;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const r = await this.committer.table(table);
      if (this.hasCommit(r, commitId, sinceMs - DEDUPE_WINDOW_MS)) {
        log.info("Iceberg commit found applied", { table: name, commit: commitId });
        return { kind: "done" };
      }
      const live = await this.live(r, parts);
      const p = plan(live);
      if (p === "done") return { kind: "done" };
      if ("gone" in p) return { kind: "gone", paths: p.gone };
      const { outcome, snapshotId, summary } = await this.write(
        table,
        r,
        p.operation,
        p.add,
        p.remove,
        commitId,
        attempt,
      );
      switch (outcome.kind) {
        case "committed":
          this.committer.remember(table, outcome.result);
          log.info("Iceberg snapshot committed", {
            table: `${this.ns.join(".")}.${name}`,
            snapshot: String(snapshotId),
            operation: p.operation,
            added_files: Number(summary["added-data-files"] ?? 0),
            deleted_files: Number(summary["deleted-data-files"]),
            deleted_records: Number(summary["deleted-records"]),
          });
          return { kind: "done", snapshotId };
        case "conflict":
          this.committer.forget(table);
          log.debug("Iceberg commit conflict: reloading", { table: name, attempt });
          await this.sleep(Math.min(2000, 50 * 2 ** attempt) * Math.random());
          continue;
        case "unknown":
          this.committer.forget(table);
          log.warn("Iceberg commit state unknown: checking the table", {
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
    throw new CatalogError(
      `Iceberg ${name}: no commit of ${commitId} after ${MAX_ATTEMPTS} attempts (conflicts or unknown outcomes)`,
      0,
    );
  }

  /** Whether a snapshot of the current branch since `sinceMs` carries commit id `id`. */
  private hasCommit(r: LoadTableResult, id: string, sinceMs: number): boolean {
    const byId = new Map((r.metadata.snapshots ?? []).map((s) => [String(s["snapshot-id"]), s]));
    let at = currentSnapshotId(r);
    for (let n = 0; at !== null && n < 100_000; n++) {
      const s = byId.get(String(at));
      if (!s || s["timestamp-ms"] < sinceMs) return false;
      if (s.summary?.[COMMIT_ID_KEY] === id) return true;
      const parent = s["parent-snapshot-id"];
      at = parent === undefined || parent === null ? null : BigInt(parent);
    }
    return false;
  }

  /** The current manifest list of `r` (empty for a table without snapshots). */
  private async manifests(r: LoadTableResult): Promise<ManifestFile[]> {
    const id = currentSnapshotId(r);
    if (id === null) return [];
    const s = (r.metadata.snapshots ?? []).find((x) => String(x["snapshot-id"]) === String(id));
    const path = s?.["manifest-list"];
    if (!path) return [];
    if (this.list?.path !== path) {
      this.list = { path, entries: readManifestList(await this.committer.read(path)) };
    }
    return this.list.entries;
  }

  /** Live data file paths of `parts` in the current snapshot → index of their manifest. */
  private async live(
    r: LoadTableResult,
    parts: readonly PartitionRef[],
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [i, m] of (await this.manifests(r)).entries()) {
      if (m.content !== 0 || emptyManifest(m) || !manifestMayHold(m, parts)) continue;
      for (const e of await this.entriesOf(m.manifest_path)) out.set(e.path, i);
    }
    return out;
  }

  private async entriesOf(path: string): Promise<{ status: number; path: string }[]> {
    const cached = this.entries.get(path);
    if (cached) return cached;
    const list = readManifest(await this.committer.read(path))
      .filter((e) => e.status !== 2)
      .map((e) => ({ status: e.status, path: e.filePath }));
    if (this.entries.size > 5000) this.entries.clear();
    this.entries.set(path, list);
    return list;
  }

  /** Writes the manifests and manifest list of the snapshot, and commits it. */
  private async write(
    table: TableName,
    r: LoadTableResult,
    operation: "replace" | "delete",
    add: readonly DataFile[],
    remove: ReadonlySet<string>,
    commitId: string,
    attempt: number,
  ) {
    const md = r.metadata;
    const version = this.version;
    const parentId = currentSnapshotId(r);
    const parent = parentId === null
      ? undefined
      : (md.snapshots ?? []).find((s) => String(s["snapshot-id"]) === String(parentId));
    const sequenceNumber = BigInt(md["last-sequence-number"] ?? 0) + 1n;
    const snapshotId = randomSnapshotId();
    const dir = this.committer.metadataKey(table, r);
    const stem = `${dir}${commitId}-${snapshotId}-a${attempt}`;
    const firstRowId = version >= 3 ? BigInt(md["next-row-id"] ?? 0) : undefined;
    const entries: ManifestFile[] = [];
    if (add.length) {
      const schema = icebergSchema(table, this.committer.deps.config.schema.profile, version);
      const manifest = writeManifest({
        table,
        version,
        schema: { ...schema, "schema-id": md["current-schema-id"] ?? 0 },
        spec: partitionSpec(table),
        snapshotId,
        files: add,
        pathOf: (k) => this.committer.uriOf(k),
        firstRowId,
      });
      const key = `${stem}-m-added.avro`;
      await this.storage.put(key, manifest);
      entries.push(manifestFileOf(
        this.committer.uriOf(key),
        manifest.length,
        snapshotId,
        sequenceNumber,
        add,
        firstRowId,
      ));
    }
    let deletedFiles = 0, deletedRows = 0n, deletedBytes = 0n;
    const found = new Set<string>();
    for (const [i, m] of (await this.manifests(r)).entries()) {
      if (emptyManifest(m)) continue;
      const held = m.content === 0 &&
        (await this.entriesOf(m.manifest_path)).some((e) => remove.has(e.path));
      if (!held) {
        entries.push(m);
        continue;
      }
      const rw = rewriteManifest(
        await this.committer.read(m.manifest_path),
        m,
        snapshotId,
        sequenceNumber,
        remove,
      );
      const key = `${stem}-m${i}.avro`;
      await this.storage.put(key, rw.bytes);
      entries.push({
        ...rw.entry,
        manifest_path: this.committer.uriOf(key),
        manifest_length: BigInt(rw.bytes.length),
      });
      deletedFiles += rw.deletedPaths.length;
      deletedRows += rw.deletedRows;
      deletedBytes += rw.deletedBytes;
      for (const p of rw.deletedPaths) found.add(p);
    }
    if (found.size !== remove.size) {
      throw new CatalogError(
        `Iceberg ${ICEBERG_TABLE[table]}: ${
          remove.size - found.size
        } of the files to remove are not in the current snapshot's manifests`,
        409,
      );
    }
    const list = writeManifestList({
      version,
      snapshotId,
      parentSnapshotId: parentId,
      sequenceNumber,
      entries,
      firstRowId,
    });
    const listKey = `${dir}snap-${snapshotId}-a${attempt}-${commitId}.avro`;
    await this.storage.put(listKey, list);

    let addedRows = 0, addedBytes = 0;
    for (const f of add) addedRows += f.recordCount, addedBytes += f.fileSizeInBytes;
    let totalFiles = 0n, totalRows = 0n;
    for (const m of entries) {
      if (m.content !== 0) continue;
      totalFiles += BigInt(m.added_files_count + m.existing_files_count);
      totalRows += m.added_rows_count + m.existing_rows_count;
    }
    const summary: Record<string, string> = { operation };
    if (add.length) {
      summary["added-data-files"] = String(add.length);
      summary["added-records"] = String(addedRows);
      summary["added-files-size"] = String(addedBytes);
    }
    summary["deleted-data-files"] = String(deletedFiles);
    summary["deleted-records"] = String(deletedRows);
    summary["removed-files-size"] = String(deletedBytes);
    summary["total-data-files"] = String(totalFiles);
    summary["total-records"] = String(totalRows);
    const size = Number(parent?.summary?.["total-files-size"] ?? NaN);
    if (Number.isFinite(size)) {
      summary["total-files-size"] = String(BigInt(size) + BigInt(addedBytes) - deletedBytes);
    }
    for (const k of ["total-delete-files", "total-position-deletes", "total-equality-deletes"]) {
      if (parent?.summary?.[k] !== undefined) summary[k] = parent.summary[k];
    }
    summary[COMMIT_ID_KEY] = commitId;
    summary["otlp2parquet.version"] = VERSION;

    const snapshot: Record<string, unknown> = {
      "snapshot-id": snapshotId,
      "sequence-number": sequenceNumber,
      "timestamp-ms": this.now(),
      "manifest-list": this.committer.uriOf(listKey),
      summary,
      "schema-id": md["current-schema-id"] ?? 0,
    };
    if (parentId !== null) snapshot["parent-snapshot-id"] = parentId;
    if (firstRowId !== undefined) {
      snapshot["first-row-id"] = firstRowId;
      snapshot["added-rows"] = addedRows;
    }
    const outcome = await this.committer.commitSnapshot(
      table,
      md["table-uuid"],
      parentId,
      snapshot,
    );
    return { outcome, snapshotId, summary };
  }
}
