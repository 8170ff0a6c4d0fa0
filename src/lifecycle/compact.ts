/**
 * Compaction: the small files of an hour partition become a few large ones, rows sorted by
 * time, and the small ones are deleted. A run may die at any point (SIGKILL, a Worker's CPU
 * limit, a Lambda timeout); the next run finishes or undoes what it left, so in the end state no
 * row is lost and none is stored twice:
 *
 *   1. the sources (the partition's small files, in key order, up to `maxInputBytes`) are read
 *      and merged in memory into one file, or several when one would pass `targetBytes`; the
 *      outputs' keys derive from the set of source keys (`planId`), so the same sources always
 *      give the same keys;
 *   2. a marker object `_compaction/{partition}/{planId}.json` records sources and outputs;
 *   3. the outputs are stored;
 *   4. the sources are deleted;
 *   5. the marker is deleted.
 *
 * A marker left by a dead run is recovered first: when every output it names is stored, the
 * remaining sources are deleted (4, 5); otherwise the outputs already stored are deleted and the
 * marker with them (the sources are all still there: they are deleted only after 3), and the
 * partition is compacted again like any other. Files that appear in a partition after its plan
 * (ingestion goes on) are not in it: they wait for the next run.
 *
 * Between 3 and 4 a reader that globs the partition sees a row twice (in its source and in the
 * output); compacted files are the ones whose name ends in `-c{n}.parquet`, and the marker lists
 * the sources they replace.
 *
 * With an Iceberg catalog (`catalog`, ../catalog/lifecycle.ts) table readers never see that
 * window: only files the table's current snapshot lists are sources (a file still pending its
 * append is left for a later run), and between 3 and 4 one `replace` snapshot removes the
 * sources from the table and adds the outputs. The sources are deleted only once it is
 * committed. A marker left by a dead run whose outputs are all stored commits (or finds
 * committed) that snapshot before deleting the sources; if some source has left the table
 * meanwhile (retention), the outputs, which no snapshot lists, are deleted instead.
 */
import type { Logger } from "../log/log.ts";
import type { ParquetOptions } from "../core/parquet/encode.ts";
import type { Profile } from "../core/tables.ts";
import { TABLE_NAMES, tableDir, type TableName } from "../core/tables.ts";
import type { StorageDriver } from "../storage/types.ts";
import { compactedKey, type DataKey, parseDataKey } from "./keys.ts";
import { mergeSorted, type ReadFile, readParquetFile } from "./merge.ts";
import type { IcebergLifecycle } from "../catalog/lifecycle.ts";

/** The table operations compaction and retention need with a catalog (../catalog/lifecycle.ts). */
export type TableCatalog = Pick<IcebergLifecycle, "liveKeys" | "replace" | "delete">;

/** Where markers live, under the storage prefix and outside every table dir. */
export const MARKER_DIR = "_compaction/";

export interface CompactionOptions {
  /** Partitions with fewer (uncompacted) files are left alone. */
  minFiles: number;
  /** A partition is compacted only once its hour ended this long ago. */
  minAgeSecs: number;
  /** About how large an output file gets (the input bytes are split by it). */
  targetBytes: number;
  /** Input bytes read into memory for one merge; a bigger partition is merged in several. */
  maxInputBytes: number;
  /** Partitions compacted per run, and how long a run may start new work. */
  maxPartitions: number;
  maxRunMs: number;
  /** Only this table / service / hours in [sinceHour, untilHour) (hours since the epoch). */
  table?: TableName;
  service?: string;
  sinceHour?: number;
  untilHour?: number;
  /** Plan and report, change nothing. */
  dryRun?: boolean;
  /** Writer settings of the outputs (`profile` comes from the sources). */
  parquet: ParquetOptions;
  /** Milliseconds clock. */
  now?: () => number;
  /** The Iceberg tables the files are in (`catalog.mode = "iceberg"`; see the top). */
  catalog?: TableCatalog;
}

export interface PartitionReport {
  partition: string;
  table: TableName;
  service: string;
  /** Hours since the epoch. */
  hour: number;
  filesBefore: number;
  filesAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Rows merged (-1 on a dry run whose sizes came from the listing: nothing was read). */
  rows: number;
}

export interface CompactionReport {
  partitions: PartitionReport[];
  /** Markers of earlier runs finished or undone. */
  recovered: number;
  /** Eligible partitions left for a later run (the partition or time budget ran out). */
  remaining: number;
  dryRun: boolean;
}

interface Marker {
  version: 1;
  partition: string;
  sources: string[];
  outputs: string[];
  createdMs: number;
  /** Written with a catalog: the sources leave the table in a `replace` before their deletion. */
  catalog?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs one compaction pass over `storage` (keys as the writers store them). */
export async function compact(
  storage: StorageDriver,
  opts: CompactionOptions,
  log: Logger,
): Promise<CompactionReport> {
  const now = opts.now ?? Date.now;
  const started = now();
  const report: CompactionReport = {
    partitions: [],
    recovered: 0,
    remaining: 0,
    dryRun: !!opts.dryRun,
  };
  if (!opts.dryRun) report.recovered = await recover(storage, log, opts.catalog);

  const partitions = await eligiblePartitions(storage, opts, now());
  for (const [i, listed] of partitions.entries()) {
    if (report.partitions.length >= opts.maxPartitions || now() - started >= opts.maxRunMs) {
      report.remaining = partitions.length - i;
      break;
    }
    let files = listed;
    if (opts.catalog) {
      // Only files in the table: one not yet committed (pending) waits for a later run.
      const { table, service, hour } = listed[0];
      const live = await opts.catalog.liveKeys(table, [{ service, hour }]);
      files = listed.filter((f) => live.has(f.key));
      if (files.length < listed.length) {
        log.debug("files not in the Iceberg table yet are left for a later run", {
          partition: listed[0].partition,
          files: listed.length - files.length,
        });
      }
      if (!eligible(files, opts)) continue;
    }
    report.partitions.push(await compactPartition(storage, files, opts, log));
  }
  return report;
}

/** A partition's small files are worth compacting (see `eligiblePartitions`). */
function eligible(files: readonly Listed[], opts: CompactionOptions): boolean {
  const compacted = files.filter((f) => f.compacted).length;
  return files.length - compacted >= opts.minFiles || compacted >= 2;
}

/** A data file and its size in bytes (-1 when the driver's listing does not tell). */
type Listed = DataKey & { size: number };

/**
 * The partitions to compact, oldest hour first, each as its small files in key order. A file is
 * small below half of `targetBytes` (an uncompacted file whose size the listing does not tell
 * counts as small, a compacted one as large). A partition is compacted when it has at least
 * `minFiles` small uncompacted files, or two small compacted ones (earlier runs' outputs, merged
 * together).
 */
async function eligiblePartitions(
  storage: StorageDriver,
  opts: CompactionOptions,
  nowMs: number,
): Promise<Listed[][]> {
  const byPartition = new Map<string, Listed[]>();
  const small = (f: Listed) => f.size < 0 ? !f.compacted : f.size < opts.targetBytes / 2;
  for (const table of opts.table ? [opts.table] : TABLE_NAMES) {
    const prefix = `${tableDir(table)}/${opts.service ? `${opts.service}/` : ""}`;
    const listed = storage.listWithSizes
      ? await storage.listWithSizes(prefix)
      : (await storage.list(prefix)).map((key) => ({ key, size: -1 }));
    for (const { key, size } of listed) {
      const parsed = parseDataKey(key);
      // Arrow IPC files (output.format = "arrow") are not compacted.
      if (!parsed || parsed.table !== table || parsed.format !== "parquet") continue;
      const k: Listed = { ...parsed, size };
      if (!small(k)) continue;
      if (opts.service !== undefined && k.service !== opts.service) continue;
      if (opts.sinceHour !== undefined && k.hour < opts.sinceHour) continue;
      if (opts.untilHour !== undefined && k.hour >= opts.untilHour) continue;
      if ((k.hour + 1) * 3_600_000 + opts.minAgeSecs * 1000 > nowMs) continue;
      const list = byPartition.get(k.partition) ?? [];
      list.push(k);
      byPartition.set(k.partition, list);
    }
  }
  return [...byPartition.values()]
    .filter((files) => eligible(files, opts))
    .sort((a, b) => a[0].hour - b[0].hour || (a[0].partition < b[0].partition ? -1 : 1));
}

async function compactPartition(
  storage: StorageDriver,
  files: Listed[],
  opts: CompactionOptions,
  log: Logger,
): Promise<PartitionReport> {
  const { table, service, hour, partition } = files[0];
  const r: PartitionReport = {
    partition,
    table,
    service,
    hour,
    filesBefore: files.length,
    filesAfter: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    rows: 0,
  };
  // Sources are read in key order and merged in groups of at most maxInputBytes (one file at
  // least), each group of one schema profile (files of another are merged among themselves).
  const groups = new Map<string, { key: string; bytes: number; file: ReadFile }[]>();
  const groupBytes = new Map<string, number>();
  const flush = async (profile: string) => {
    const g = groups.get(profile);
    groups.delete(profile);
    groupBytes.delete(profile);
    if (!g) return;
    const done = await mergeGroup(storage, partition, table, profile as Profile, g, opts);
    r.filesAfter += done.files;
    r.bytesAfter += done.bytes;
  };
  if (opts.dryRun && files.every((f) => f.size >= 0)) {
    // Sizes from the listing: nothing to read. (Files of another schema profile are not told
    // apart without reading them.)
    for (const f of files) r.bytesBefore += f.size;
    r.bytesAfter = r.bytesBefore;
    r.filesAfter = groupCount(files.map((f) => f.size), opts.maxInputBytes, opts.targetBytes);
    r.rows = -1;
    return report(r);
  }
  for (const f of files) {
    const bytes = await storage.get(f.key);
    if (bytes === null) continue; // gone since the listing (another run, retention)
    const file = readParquetFile(bytes);
    r.bytesBefore += bytes.length;
    r.rows += file.rows;
    const profile = file.metadata.get("otlp2parquet.schema_profile") ?? "default";
    const held = groupBytes.get(profile) ?? 0;
    if (held > 0 && held + bytes.length > opts.maxInputBytes) await flush(profile);
    const g = groups.get(profile) ?? [];
    g.push({ key: f.key, bytes: bytes.length, file });
    groups.set(profile, g);
    groupBytes.set(profile, (groupBytes.get(profile) ?? 0) + bytes.length);
  }
  for (const profile of [...groups.keys()]) await flush(profile);
  return report(r);

  function report(r: PartitionReport): PartitionReport {
    log.info(opts.dryRun ? "compaction planned" : "partition compacted", {
      partition,
      files_before: r.filesBefore,
      files_after: r.filesAfter,
      bytes_before: r.bytesBefore,
      bytes_after: r.bytesAfter,
      rows: r.rows < 0 ? undefined : r.rows,
    });
    return r;
  }
}

/** Output files of merging files of `sizes` in key order, in groups of at most `maxInput`. */
function groupCount(sizes: number[], maxInput: number, target: number): number {
  let files = 0, held = 0, count = 0;
  const close = () => {
    if (count === 1) files += 1;
    else if (count > 1) files += Math.max(1, Math.ceil(held / target));
    held = 0, count = 0;
  };
  for (const s of sizes) {
    if (held > 0 && held + s > maxInput) close();
    held += s;
    count++;
  }
  close();
  return files;
}

/**
 * Merges one group of sources of a partition (steps 1–5 above); returns the files and bytes
 * the group is afterwards (estimated on a dry run).
 */
async function mergeGroup(
  storage: StorageDriver,
  partition: string,
  table: TableName,
  profile: Profile,
  group: { key: string; bytes: number; file: ReadFile }[],
  opts: CompactionOptions,
): Promise<{ files: number; bytes: number }> {
  const total = group.reduce((n, g) => n + g.bytes, 0);
  if (group.length < 2) return { files: group.length, bytes: total };
  if (opts.dryRun) return { files: Math.max(1, Math.ceil(total / opts.targetBytes)), bytes: total };

  const sources = group.map((g) => g.key).sort();
  const planId = await planIdOf(sources);
  const merged = mergeSorted(group.map((g) => g.file), table, opts.targetBytes, {
    ...opts.parquet,
    profile,
  });
  const outputs = merged.map((m, i) => compactedKey(partition, m.minTimeNs / 1000n, planId, i));
  const marker: Marker = {
    version: 1,
    partition,
    sources,
    outputs,
    createdMs: (opts.now ?? Date.now)(),
  };
  if (opts.catalog) marker.catalog = true;
  const markerKey = `${MARKER_DIR}${partition}/${planId}.json`;
  await storage.put(markerKey, enc.encode(JSON.stringify(marker)));
  for (const [i, m] of merged.entries()) await storage.put(outputs[i], m.bytes);
  if (opts.catalog) {
    const r = await opts.catalog.replace(
      table,
      planId,
      partRef(sources[0]),
      sources,
      outputs.map((key, i) => ({ key, bytes: merged[i].bytes })),
      marker.createdMs,
    );
    if (r.kind === "gone") {
      // A source left the table since the plan (retention): the outputs are in no snapshot.
      for (const o of outputs) await storage.delete(o);
      await storage.delete(markerKey);
      return { files: group.length, bytes: total };
    }
  }
  for (const k of sources) await storage.delete(k);
  await storage.delete(markerKey);
  return { files: outputs.length, bytes: merged.reduce((n, m) => n + m.bytes.length, 0) };
}

/** The partition of a data file's key (service, hour). */
function partRef(key: string): { service: string; hour: number } {
  const k = parseDataKey(key);
  if (!k) throw new Error(`internal: ${JSON.stringify(key)} is not a data file's key`);
  return { service: k.service, hour: k.hour };
}

/** Finishes or undoes the compactions that earlier runs left half done; returns how many. */
export async function recover(
  storage: StorageDriver,
  log: Logger,
  catalog?: TableCatalog,
): Promise<number> {
  let n = 0;
  for (const key of await storage.list(MARKER_DIR)) {
    if (!key.endsWith(".json")) continue;
    const bytes = await storage.get(key);
    if (bytes === null) continue;
    let m: Marker;
    try {
      m = JSON.parse(dec.decode(bytes));
      if (m.version !== 1 || !Array.isArray(m.sources) || !Array.isArray(m.outputs)) {
        throw new Error("not a compaction marker of this version");
      }
    } catch (e) {
      log.error("cannot read a compaction marker; leaving it", {
        key,
        error: e instanceof Error ? e.message : String(e),
      });
      continue;
    }
    if (m.catalog && !catalog) {
      log.error(
        'a compaction marker written with the Iceberg catalog is left until catalog.mode is "iceberg" again',
        { key },
      );
      continue;
    }
    const present = new Set(await storage.list(`${m.partition}/`));
    if (catalog && m.outputs.every((o) => present.has(o))) {
      // Every output is stored: the replace snapshot (committed now, or found committed)
      // before the sources go, or the outputs go when a source has left the table.
      const table = parseDataKey(m.sources[0])!.table;
      const r = await catalog.replace(
        table,
        key.slice(key.lastIndexOf("/") + 1, -".json".length),
        partRef(m.sources[0]),
        m.sources,
        m.outputs.map((k) => ({ key: k })),
        m.createdMs,
      );
      if (r.kind === "done") {
        for (const s of m.sources) if (present.has(s)) await storage.delete(s);
        log.info("compaction finished from its marker", { marker: key, outputs: m.outputs.length });
      } else {
        for (const o of m.outputs) await storage.delete(o);
        log.info("compaction undone from its marker: sources left the table", {
          marker: key,
          missing: r.missing.length,
        });
      }
    } else if (m.outputs.every((o) => present.has(o))) {
      // Every output is stored: finish (delete what is left of the sources).
      for (const s of m.sources) if (present.has(s)) await storage.delete(s);
      log.info("compaction finished from its marker", { marker: key, outputs: m.outputs.length });
    } else {
      // Not every output was stored: undo (every source is still there).
      for (const o of m.outputs) if (present.has(o)) await storage.delete(o);
      log.info("compaction undone from its marker", { marker: key, sources: m.sources.length });
    }
    await storage.delete(key);
    n++;
  }
  return n;
}

/** 16 hex digits of the SHA-256 of the sorted source keys. */
async function planIdOf(sources: readonly string[]): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      enc.encode(sources.join("\n")) as Uint8Array<ArrayBuffer>,
    ),
  );
  let hex = "";
  for (let i = 0; i < 8; i++) hex += d[i].toString(16).padStart(2, "0");
  return hex;
}
