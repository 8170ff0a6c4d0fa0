/**
 * Manifests and manifest lists (src/catalog/manifest.ts) read by an independent Avro reader,
 * Debian's python3-avro: every field carries the field id the Iceberg spec gives it, the
 * required key-value metadata is there, and the statistics are the data files' (record counts,
 * value counts equal to the rows, null counts 0, bounds). Our own reader reads them back too.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { generateRequest } from "../../bench/gen.ts";
import { ensureParquet } from "../../bench/core.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { DEFAULT_PARQUET, encodeParquet } from "../../src/core/parquet/encode.ts";
import { partition } from "../../src/core/partition.ts";
import { dataFileOf, fromBase64 } from "../../src/catalog/metrics.ts";
import {
  manifestFileOf,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
} from "../../src/catalog/manifest.ts";
import { icebergSchema, partitionSpec } from "../../src/catalog/schema.ts";
import { bytesOf, hasPythonAvro, longOf, readAvroFiles } from "../helpers/avro.ts";

/** Field ids of the Iceberg spec ("Manifests", "Manifest Lists"), by field name. */
const ENTRY_IDS = {
  status: 0,
  snapshot_id: 1,
  sequence_number: 3,
  file_sequence_number: 4,
  data_file: 2,
};
const DATA_FILE_IDS = {
  content: 134,
  file_path: 100,
  file_format: 101,
  partition: 102,
  record_count: 103,
  file_size_in_bytes: 104,
  column_sizes: 108,
  value_counts: 109,
  null_value_counts: 110,
  nan_value_counts: 137,
  lower_bounds: 125,
  upper_bounds: 128,
  key_metadata: 131,
  split_offsets: 132,
  equality_ids: 135,
  sort_order_id: 140,
};
const LIST_IDS = {
  manifest_path: 500,
  manifest_length: 501,
  partition_spec_id: 502,
  content: 517,
  sequence_number: 515,
  min_sequence_number: 516,
  added_snapshot_id: 503,
  added_files_count: 504,
  existing_files_count: 505,
  deleted_files_count: 506,
  added_rows_count: 512,
  existing_rows_count: 513,
  deleted_rows_count: 514,
  partitions: 507,
  key_metadata: 519,
};

type Field = { name: string; type: unknown; "field-id": number };

function ids(fields: Field[]): Record<string, number> {
  return Object.fromEntries(fields.map((f) => [f.name, f["field-id"]]));
}

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
if (SKIP) console.warn("python3-avro is not installed (apt-get install python3-avro): skipping");

Deno.test({
  name: "manifests and manifest lists carry the spec's field ids, metadata and statistics",
  ignore: SKIP,
  async fn() {
    await ensureParquet();
    const g = generateRequest("logs", { records: 500, seed: 5, services: 3 });
    const parts = decode("logs", g.protobuf, "protobuf", { receivedAtNs: 1n }).tables
      .flatMap((t) => partition(t));
    const files = parts.map((p, i) =>
      dataFileOf(
        encodeParquet(p.rows, { ...DEFAULT_PARQUET, iceberg: 2 }),
        `logs/f${i}.parquet`,
        "logs",
        2,
      )
    );
    ok(files.length >= 2);
    const schema = icebergSchema("logs", "default", 2);
    const spec = partitionSpec("logs");
    const snapshotId = 0x7123456789abcdefn;
    const manifest = writeManifest({
      table: "logs",
      version: 2,
      schema,
      spec,
      snapshotId,
      files,
      pathOf: (k) => `s3://bucket/${k}`,
    });
    const listEntry = manifestFileOf("s3://bucket/m0.avro", manifest.length, snapshotId, 7n, files);
    const list = writeManifestList({
      version: 2,
      snapshotId,
      parentSnapshotId: 42n,
      sequenceNumber: 7n,
      entries: [listEntry],
    });
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/m0.avro`, manifest);
      await Deno.writeFile(`${dir}/snap.avro`, list);
      const [m, l] = await readAvroFiles([`${dir}/m0.avro`, `${dir}/snap.avro`]);
      // Manifest: field ids, metadata, one entry per file with its statistics.
      const entryFields = (m.schema as { fields: Field[] }).fields;
      deepStrictEqual(ids(entryFields), ENTRY_IDS);
      const df = entryFields.find((f) => f.name === "data_file")!.type as { fields: Field[] };
      const dfIds = ids(df.fields);
      for (const [k, v] of Object.entries(DATA_FILE_IDS)) strictEqual(dfIds[k], v, k);
      const partFields = (df.fields.find((f) =>
        f.name === "partition"
      )!.type as { fields: Field[] })
        .fields;
      deepStrictEqual(ids(partFields), { ServiceName: 1000, Timestamp_hour: 1001 });
      deepStrictEqual(JSON.parse(m.metadata.schema), schema);
      strictEqual(m.metadata["schema-id"], "0");
      deepStrictEqual(JSON.parse(m.metadata["partition-spec"]), spec.fields);
      strictEqual(m.metadata["partition-spec-id"], "0");
      strictEqual(m.metadata["format-version"], "2");
      strictEqual(m.metadata.content, "data");
      strictEqual(m.records.length, files.length);
      m.records.forEach((r, i) => {
        const f = files[i];
        strictEqual(r.status, 1);
        strictEqual(longOf(r.snapshot_id), snapshotId);
        strictEqual(r.sequence_number, null);
        const d = r.data_file as Record<string, unknown>;
        strictEqual(d.file_path, `s3://bucket/${f.key}`);
        strictEqual(d.file_format, "PARQUET");
        strictEqual(d.record_count, f.recordCount);
        strictEqual(d.file_size_in_bytes, f.fileSizeInBytes);
        deepStrictEqual(d.partition, {
          ServiceName: f.partition.service,
          Timestamp_hour: f.partition.hour,
        });
        const pairs = (x: unknown) =>
          (x as { key: number; value: unknown }[]).map((e) => [e.key, e.value]);
        deepStrictEqual(pairs(d.column_sizes), f.columnSizes);
        deepStrictEqual(pairs(d.value_counts), f.valueCounts);
        for (const [, v] of f.valueCounts) strictEqual(v, f.recordCount);
        deepStrictEqual(pairs(d.null_value_counts), f.nullValueCounts);
        for (const [, v] of f.nullValueCounts) strictEqual(v, 0);
        const bounds = (x: unknown) =>
          (x as { key: number; value: unknown }[]).map((e) => [e.key, [...bytesOf(e.value)]]);
        deepStrictEqual(
          bounds(d.lower_bounds),
          f.lowerBounds.map(([k, v]) => [k, [...fromBase64(v)]]),
        );
        deepStrictEqual(
          bounds(d.upper_bounds),
          f.upperBounds.map(([k, v]) => [k, [...fromBase64(v)]]),
        );
        // Every top-level primitive column has both bounds.
        strictEqual(f.lowerBounds.length, 13);
      });
      // Manifest list: field ids, metadata, counts.
      const listFields = (l.schema as { fields: Field[] }).fields;
      deepStrictEqual(ids(listFields), LIST_IDS);
      const pf = listFields.find((f) => f.name === "partitions")!.type as unknown[];
      const arr = pf.find((x) => typeof x === "object") as {
        "element-id": number;
        items: { fields: Field[] };
      };
      strictEqual(arr["element-id"], 508);
      deepStrictEqual(ids(arr.items.fields), {
        contains_null: 509,
        contains_nan: 518,
        lower_bound: 510,
        upper_bound: 511,
      });
      deepStrictEqual(l.metadata, {
        "snapshot-id": String(snapshotId),
        "parent-snapshot-id": "42",
        "sequence-number": "7",
        "format-version": "2",
      });
      strictEqual(l.records.length, 1);
      const e = l.records[0];
      strictEqual(e.manifest_path, "s3://bucket/m0.avro");
      strictEqual(e.manifest_length, manifest.length);
      strictEqual(e.added_files_count, files.length);
      strictEqual(e.added_rows_count, files.reduce((n, f) => n + f.recordCount, 0));
      strictEqual(e.sequence_number, 7);
      // Our reader agrees.
      deepStrictEqual(readManifestList(list), [listEntry]);
      deepStrictEqual(
        readManifest(manifest).map((x) => x.filePath),
        files.map((f) => `s3://bucket/${f.key}`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
