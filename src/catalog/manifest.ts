/**
 * Iceberg manifests and manifest lists (Avro, ./avro.ts), format versions 2 and 3, with the
 * field ids and key-value metadata the spec requires ("Manifests", "Manifest Lists"):
 *
 *   manifest metadata       schema, schema-id, partition-spec, partition-spec-id,
 *                           format-version, content ("data")
 *   manifest list metadata  snapshot-id, parent-snapshot-id, sequence-number, format-version
 *                           (v3: first-row-id)
 *
 * A manifest lists added data files (status 1) whose sequence numbers are inherited from the
 * manifest list entry (null in the manifest), as Iceberg's own writers do.
 */
import type { TableName } from "../core/tables.ts";
import { type AvroRecord, type AvroSchema, readAvro, writeAvro } from "./avro.ts";
import { type DataFile, fromBase64 } from "./metrics.ts";
import type { FormatVersion, IcebergSchema, PartitionSpec } from "./schema.ts";
import { TIME_COLUMN } from "../core/tables.ts";

const opt = (name: string, type: AvroSchema, id: number) => ({
  name,
  type: ["null", type] as AvroSchema,
  default: null,
  "field-id": id,
});

/** `map<int, T>` as Iceberg writes it in Avro: an array of key/value records. */
const intMap = (name: string, id: number, keyId: number, valueId: number, value: AvroSchema) =>
  opt(name, {
    type: "array",
    logicalType: "map",
    items: {
      type: "record",
      name: `k${keyId}_v${valueId}`,
      fields: [
        { name: "key", type: "int", "field-id": keyId },
        { name: "value", type: value, "field-id": valueId },
      ],
    },
  }, id);

/** The Avro schema of a manifest entry of `table`'s data files. */
export function manifestEntrySchema(table: TableName, version: FormatVersion): AvroRecord {
  const dataFile: AvroRecord = {
    type: "record",
    name: "r2",
    fields: [
      { name: "content", type: "int", "field-id": 134 },
      { name: "file_path", type: "string", "field-id": 100 },
      { name: "file_format", type: "string", "field-id": 101 },
      {
        name: "partition",
        type: {
          type: "record",
          name: "r102",
          fields: [
            opt("ServiceName", "string", 1000),
            opt(`${TIME_COLUMN[table]}_hour`, "int", 1001),
          ],
        },
        "field-id": 102,
      },
      { name: "record_count", type: "long", "field-id": 103 },
      { name: "file_size_in_bytes", type: "long", "field-id": 104 },
      intMap("column_sizes", 108, 117, 118, "long"),
      intMap("value_counts", 109, 119, 120, "long"),
      intMap("null_value_counts", 110, 121, 122, "long"),
      intMap("nan_value_counts", 137, 138, 139, "long"),
      intMap("lower_bounds", 125, 126, 127, "bytes"),
      intMap("upper_bounds", 128, 129, 130, "bytes"),
      opt("key_metadata", "bytes", 131),
      opt("split_offsets", { type: "array", items: "long", "element-id": 133 }, 132),
      opt("equality_ids", { type: "array", items: "int", "element-id": 136 }, 135),
      opt("sort_order_id", "int", 140),
      ...(version >= 3
        ? [
          opt("first_row_id", "long", 142),
          opt("referenced_data_file", "string", 143),
          opt("content_offset", "long", 144),
          opt("content_size_in_bytes", "long", 145),
        ]
        : []),
    ],
  };
  return {
    type: "record",
    name: "manifest_entry",
    fields: [
      { name: "status", type: "int", "field-id": 0 },
      opt("snapshot_id", "long", 1),
      opt("sequence_number", "long", 3),
      opt("file_sequence_number", "long", 4),
      { name: "data_file", type: dataFile, "field-id": 2 },
    ],
  };
}

/** The Avro schema of a manifest list entry (`manifest_file`). */
export function manifestFileSchema(version: FormatVersion): AvroRecord {
  return {
    type: "record",
    name: "manifest_file",
    fields: [
      { name: "manifest_path", type: "string", "field-id": 500 },
      { name: "manifest_length", type: "long", "field-id": 501 },
      { name: "partition_spec_id", type: "int", "field-id": 502 },
      { name: "content", type: "int", "field-id": 517 },
      { name: "sequence_number", type: "long", "field-id": 515 },
      { name: "min_sequence_number", type: "long", "field-id": 516 },
      { name: "added_snapshot_id", type: "long", "field-id": 503 },
      { name: "added_files_count", type: "int", "field-id": 504 },
      { name: "existing_files_count", type: "int", "field-id": 505 },
      { name: "deleted_files_count", type: "int", "field-id": 506 },
      { name: "added_rows_count", type: "long", "field-id": 512 },
      { name: "existing_rows_count", type: "long", "field-id": 513 },
      { name: "deleted_rows_count", type: "long", "field-id": 514 },
      opt("partitions", {
        type: "array",
        "element-id": 508,
        items: {
          type: "record",
          name: "r508",
          fields: [
            { name: "contains_null", type: "boolean", "field-id": 509 },
            opt("contains_nan", "boolean", 518),
            opt("lower_bound", "bytes", 510),
            opt("upper_bound", "bytes", 511),
          ],
        },
      }, 507),
      opt("key_metadata", "bytes", 519),
      ...(version >= 3 ? [opt("first_row_id", "long", 520)] : []),
    ],
  };
}

export interface ManifestWrite {
  table: TableName;
  version: FormatVersion;
  schema: IcebergSchema;
  spec: PartitionSpec;
  snapshotId: bigint;
  files: readonly DataFile[];
  /** The absolute location of a data file's key. */
  pathOf(key: string): string;
  /** v3: the snapshot's first row id (the first file's rows are numbered from it). */
  firstRowId?: bigint;
}

const kv = (pairs: [number, number][]) => pairs.map(([key, value]) => ({ key, value }));
const kvBytes = (pairs: [number, string][]) =>
  pairs.map(([key, value]) => ({ key, value: fromBase64(value) }));

/** A manifest of added data files. */
export function writeManifest(m: ManifestWrite): Uint8Array {
  const hourField = `${TIME_COLUMN[m.table]}_hour`;
  let rowId = m.firstRowId;
  const records = m.files.map((f) => {
    const entry = {
      status: 1,
      snapshot_id: m.snapshotId,
      sequence_number: null,
      file_sequence_number: null,
      data_file: {
        content: 0,
        file_path: m.pathOf(f.key),
        file_format: "PARQUET",
        partition: { ServiceName: f.partition.service, [hourField]: f.partition.hour },
        record_count: f.recordCount,
        file_size_in_bytes: f.fileSizeInBytes,
        column_sizes: kv(f.columnSizes),
        value_counts: kv(f.valueCounts),
        null_value_counts: kv(f.nullValueCounts),
        nan_value_counts: null,
        lower_bounds: kvBytes(f.lowerBounds),
        upper_bounds: kvBytes(f.upperBounds),
        key_metadata: null,
        split_offsets: null,
        equality_ids: null,
        sort_order_id: null,
        first_row_id: rowId ?? null,
        referenced_data_file: null,
        content_offset: null,
        content_size_in_bytes: null,
      },
    };
    if (rowId !== undefined) rowId += BigInt(f.recordCount);
    return entry;
  });
  return writeAvro(manifestEntrySchema(m.table, m.version), records, {
    schema: JSON.stringify(m.schema),
    "schema-id": String(m.schema["schema-id"]),
    "partition-spec": JSON.stringify(m.spec.fields),
    "partition-spec-id": String(m.spec["spec-id"]),
    "format-version": String(m.version),
    content: "data",
  });
}

/** A manifest list entry (values as the Avro schema names them). */
export interface ManifestFile {
  manifest_path: string;
  manifest_length: bigint;
  partition_spec_id: number;
  content: number;
  sequence_number: bigint;
  min_sequence_number: bigint;
  added_snapshot_id: bigint;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: bigint;
  existing_rows_count: bigint;
  deleted_rows_count: bigint;
  partitions:
    | {
      contains_null: boolean;
      contains_nan: boolean | null;
      lower_bound: Uint8Array | null;
      upper_bound: Uint8Array | null;
    }[]
    | null;
  key_metadata: Uint8Array | null;
  first_row_id?: bigint | null;
}

/** The manifest list entry of a new manifest of `files`, written at `path` (`length` bytes). */
export function manifestFileOf(
  path: string,
  length: number,
  snapshotId: bigint,
  sequenceNumber: bigint,
  files: readonly DataFile[],
  firstRowId?: bigint,
): ManifestFile {
  let rows = 0n;
  let svcMin: string | undefined, svcMax: string | undefined;
  let hMin = Infinity, hMax = -Infinity;
  for (const f of files) {
    rows += BigInt(f.recordCount);
    const s = f.partition.service;
    if (svcMin === undefined || cmpUtf8(s, svcMin) < 0) svcMin = s;
    if (svcMax === undefined || cmpUtf8(s, svcMax) > 0) svcMax = s;
    hMin = Math.min(hMin, f.partition.hour);
    hMax = Math.max(hMax, f.partition.hour);
  }
  const int4 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return b;
  };
  const utf8 = (s: string | undefined) => new TextEncoder().encode(s ?? "");
  return {
    manifest_path: path,
    manifest_length: BigInt(length),
    partition_spec_id: 0,
    content: 0,
    sequence_number: sequenceNumber,
    min_sequence_number: sequenceNumber,
    added_snapshot_id: snapshotId,
    added_files_count: files.length,
    existing_files_count: 0,
    deleted_files_count: 0,
    added_rows_count: rows,
    existing_rows_count: 0n,
    deleted_rows_count: 0n,
    partitions: files.length
      ? [
        {
          contains_null: false,
          contains_nan: false,
          lower_bound: utf8(svcMin),
          upper_bound: utf8(svcMax),
        },
        {
          contains_null: false,
          contains_nan: false,
          lower_bound: int4(hMin),
          upper_bound: int4(hMax),
        },
      ]
      : [],
    key_metadata: null,
    first_row_id: firstRowId ?? null,
  };
}

export interface ManifestListWrite {
  version: FormatVersion;
  snapshotId: bigint;
  parentSnapshotId: bigint | null;
  sequenceNumber: bigint;
  entries: readonly ManifestFile[];
  firstRowId?: bigint;
}

export function writeManifestList(m: ManifestListWrite): Uint8Array {
  const meta: Record<string, string> = {
    "snapshot-id": String(m.snapshotId),
    "parent-snapshot-id": m.parentSnapshotId === null ? "null" : String(m.parentSnapshotId),
    "sequence-number": String(m.sequenceNumber),
    "format-version": String(m.version),
  };
  if (m.version >= 3) meta["first-row-id"] = String(m.firstRowId ?? 0n);
  return writeAvro(manifestFileSchema(m.version), m.entries, meta);
}

/**
 * The entries of a manifest list written by any Iceberg writer (format 1, 2 or 3), read by
 * field id and completed with the defaults the spec gives older formats, ready to be written
 * again into a new snapshot's list.
 */
export function readManifestList(file: Uint8Array): ManifestFile[] {
  const { schema, records } = readAvro(file);
  const names = fieldNamesById(schema);
  const get = (r: Record<string, unknown>, id: number) => {
    const n = names.get(id);
    return n === undefined ? undefined : r[n];
  };
  return (records as Record<string, unknown>[]).map((r) => {
    const seq = (get(r, 515) as bigint | undefined) ?? 0n;
    return {
      manifest_path: get(r, 500) as string,
      manifest_length: get(r, 501) as bigint,
      partition_spec_id: get(r, 502) as number,
      content: (get(r, 517) as number | undefined) ?? 0,
      sequence_number: seq,
      min_sequence_number: (get(r, 516) as bigint | undefined) ?? seq,
      added_snapshot_id: get(r, 503) as bigint,
      added_files_count: (get(r, 504) as number | null | undefined) ?? 0,
      existing_files_count: (get(r, 505) as number | null | undefined) ?? 0,
      deleted_files_count: (get(r, 506) as number | null | undefined) ?? 0,
      added_rows_count: (get(r, 512) as bigint | null | undefined) ?? 0n,
      existing_rows_count: (get(r, 513) as bigint | null | undefined) ?? 0n,
      deleted_rows_count: (get(r, 514) as bigint | null | undefined) ?? 0n,
      partitions: (get(r, 507) as ManifestFile["partitions"] | undefined) ?? null,
      key_metadata: (get(r, 519) as Uint8Array | null | undefined) ?? null,
      first_row_id: (get(r, 520) as bigint | null | undefined) ?? null,
    };
  });
}

/** A manifest entry as the commit checks need it. */
export interface ManifestEntry {
  status: number;
  snapshotId: bigint | null;
  filePath: string;
  recordCount: bigint;
}

/** The entries of a manifest written by any Iceberg writer. */
export function readManifest(file: Uint8Array): ManifestEntry[] {
  const { records } = readAvro(file);
  return (records as Record<string, unknown>[]).map((r) => {
    const df = r.data_file as Record<string, unknown>;
    return {
      status: r.status as number,
      snapshotId: (r.snapshot_id as bigint | null | undefined) ?? null,
      filePath: df.file_path as string,
      recordCount: df.record_count as bigint,
    };
  });
}

/** Top-level field names of a record schema by their `field-id`. */
function fieldNamesById(schema: AvroSchema): Map<number, string> {
  const out = new Map<number, string>();
  if (typeof schema === "object" && !Array.isArray(schema) && schema.type === "record") {
    for (const f of (schema as AvroRecord).fields) {
      if (typeof f["field-id"] === "number") out.set(f["field-id"] as number, f.name);
    }
  }
  return out;
}

function cmpUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** A manifest of the parent snapshot written again for a `replace` or `delete` snapshot. */
export interface RewrittenManifest {
  bytes: Uint8Array;
  /** Its manifest list entry, but for `manifest_path` and `manifest_length` (filled by the caller). */
  entry: Omit<ManifestFile, "manifest_path" | "manifest_length">;
  /** The entries now DELETED: their files' sizes and record counts. */
  deletedBytes: bigint;
  deletedRows: bigint;
  deletedPaths: string[];
}

/**
 * The manifest `file` (listed as `m` in the parent's manifest list) written again for snapshot
 * `snapshotId` (sequence number `sequenceNumber`) that removes the data files `remove` (paths),
 * as the spec's "Manifest Entry Fields" and Iceberg's own writers have it: the entries of
 * `remove` become DELETED (status 2, `snapshot_id` the new snapshot), every other live entry
 * EXISTING (status 0, keeping the snapshot that added it), both with explicit data and file
 * sequence numbers (an ADDED entry inherited them from `m`); entries already DELETED in `file`
 * (an earlier snapshot's) are dropped. The Avro schema and key-value metadata (`schema`,
 * `partition-spec`, …) are the file's own.
 */
export function rewriteManifest(
  file: Uint8Array,
  m: ManifestFile,
  snapshotId: bigint,
  sequenceNumber: bigint,
  remove: ReadonlySet<string>,
): RewrittenManifest {
  const { schema, metadata, records } = readAvro(file);
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!k.startsWith("avro.")) meta[k] = v;
  const out: Record<string, unknown>[] = [];
  let existing = 0, deleted = 0;
  let existingRows = 0n, deletedRows = 0n, deletedBytes = 0n;
  let minSeq: bigint | undefined;
  const deletedPaths: string[] = [];
  const summary = new PartitionSummary();
  let rowId = m.first_row_id ?? undefined;
  for (const r of records as Record<string, unknown>[]) {
    const status = r.status as number;
    if (status === 2) continue;
    const df = r.data_file as Record<string, unknown>;
    const inherit = status === 1;
    const seq = (r.sequence_number as bigint | null | undefined) ??
      (inherit ? m.sequence_number : null);
    const fileSeq = (r.file_sequence_number as bigint | null | undefined) ??
      (inherit ? m.sequence_number : null);
    if (seq === null || fileSeq === null) {
      throw new Error(
        `manifest ${m.manifest_path}: an EXISTING entry of ${df.file_path} has no sequence number`,
      );
    }
    const path = df.file_path as string;
    const rows = BigInt(df.record_count as bigint | number);
    const gone = remove.has(path);
    const next: Record<string, unknown> = {
      ...r,
      status: gone ? 2 : 0,
      snapshot_id: gone ? snapshotId : (r.snapshot_id as bigint | null) ?? m.added_snapshot_id,
      sequence_number: seq,
      file_sequence_number: fileSeq,
    };
    // v3: a row id inherited from the manifest (null in the entry) is written out.
    if ("first_row_id" in df && df.first_row_id === null && rowId !== undefined) {
      next.data_file = { ...df, first_row_id: rowId };
      rowId += rows;
    } else if (typeof df.first_row_id === "bigint" && rowId !== undefined) {
      rowId = (df.first_row_id as bigint) + rows;
    }
    summary.add(df.partition as Record<string, unknown>);
    if (gone) {
      deleted++;
      deletedRows += rows;
      deletedBytes += BigInt(df.file_size_in_bytes as bigint | number);
      deletedPaths.push(path);
    } else {
      existing++;
      existingRows += rows;
      if (minSeq === undefined || seq < minSeq) minSeq = seq;
    }
    out.push(next);
  }
  return {
    bytes: writeAvro(schema, out, meta),
    entry: {
      partition_spec_id: m.partition_spec_id,
      content: 0,
      sequence_number: sequenceNumber,
      min_sequence_number: minSeq ?? sequenceNumber,
      added_snapshot_id: snapshotId,
      added_files_count: 0,
      existing_files_count: existing,
      deleted_files_count: deleted,
      added_rows_count: 0n,
      existing_rows_count: existingRows,
      deleted_rows_count: deletedRows,
      partitions: summary.done(),
      key_metadata: m.key_metadata,
      first_row_id: m.first_row_id ?? null,
    },
    deletedBytes,
    deletedRows,
    deletedPaths,
  };
}

/** Field summaries of partition tuples (string and int fields, as our partition spec has). */
class PartitionSummary {
  private fields: {
    null: boolean;
    lo?: string | number;
    hi?: string | number;
  }[] = [];

  add(p: Record<string, unknown>): void {
    Object.values(p).forEach((v, i) => {
      const f = this.fields[i] ??= { null: false };
      if (v === null || v === undefined) return void (f.null = true);
      const x = typeof v === "bigint" ? Number(v) : v as string | number;
      const lt = (a: string | number, b: string | number) =>
        typeof a === "string" ? cmpUtf8(a, b as string) < 0 : (a as number) < (b as number);
      if (f.lo === undefined || lt(x, f.lo)) f.lo = x;
      if (f.hi === undefined || lt(f.hi, x)) f.hi = x;
    });
  }

  done(): ManifestFile["partitions"] {
    const bound = (v: string | number | undefined) => {
      if (v === undefined) return null;
      if (typeof v === "string") return new TextEncoder().encode(v);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      return b;
    };
    return this.fields.map((f) => ({
      contains_null: f.null,
      contains_nan: false,
      lower_bound: bound(f.lo),
      upper_bound: bound(f.hi),
    }));
  }
}

/**
 * Whether the manifest `m` may hold data files of the partitions `parts` (service, hour), by its
 * partition field summaries (our spec: identity(ServiceName), hour(time)). True when it cannot
 * tell (no summaries, another spec).
 */
export function manifestMayHold(
  m: ManifestFile,
  parts: readonly { service: string; hour: number }[],
): boolean {
  const s = m.partitions;
  if (m.partition_spec_id !== 0 || !s || s.length !== 2) return true;
  const [svc, hr] = s;
  if (!svc.lower_bound || !svc.upper_bound || !hr.lower_bound || !hr.upper_bound) return true;
  const dec = new TextDecoder();
  const sLo = dec.decode(svc.lower_bound), sHi = dec.decode(svc.upper_bound);
  const int = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  const hLo = int(hr.lower_bound), hHi = int(hr.upper_bound);
  return parts.some((p) =>
    p.hour >= hLo && p.hour <= hHi && cmpUtf8(p.service, sLo) >= 0 && cmpUtf8(p.service, sHi) <= 0
  );
}
