/**
 * Independent readers of an Iceberg table the tests' catalog holds (tests/helpers/catalog.ts):
 * icebird (npm) reads the table's rows through its metadata, manifests and data files;
 * python3-avro (tests/helpers/avro.ts) lists the data files of the current snapshot from the
 * manifest list and manifests; DuckDB totals the rows of those files.
 */
import { icebergRead } from "icebird";
import { readAvroFiles } from "./avro.ts";
import { query, readParquet } from "./duckdb.ts";

/** The metadata JSON at `path`, long ids kept exact (as strings). */
export async function readMetadata(path: string): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(path);
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
}

export interface SnapshotFiles {
  snapshotId: string | null;
  /** Data file paths of the current snapshot, one per live manifest entry (duplicates kept). */
  paths: string[];
  /** Manifest lists and manifests read (local paths). */
  avroFiles: string[];
  summary?: Record<string, string>;
}

const local = (uri: string) => decodeURI(new URL(uri).pathname);

/** The current snapshot's data files, read with python3-avro. */
export async function currentFiles(metadataPath: string): Promise<SnapshotFiles> {
  const md = await readMetadata(metadataPath);
  const id = (md.refs as Record<string, { "snapshot-id": string }> | undefined)?.main
    ?.["snapshot-id"];
  if (id === undefined) return { snapshotId: null, paths: [], avroFiles: [] };
  const snap = (md.snapshots as Record<string, unknown>[]).find((s) =>
    String(s["snapshot-id"]) === String(id)
  )!;
  const listPath = local(snap["manifest-list"] as string);
  const [list] = await readAvroFiles([listPath]);
  const manifests = list.records.map((r) => local(r.manifest_path as string));
  const read = manifests.length ? await readAvroFiles(manifests) : [];
  const paths: string[] = [];
  for (const m of read) {
    for (const e of m.records) {
      if (e.status === 2) continue;
      paths.push((e.data_file as { file_path: string }).file_path);
    }
  }
  return {
    snapshotId: String(id),
    paths,
    avroFiles: [listPath, ...manifests],
    summary: snap.summary as Record<string, string>,
  };
}

/** Every row of the table, read by icebird (metadata → manifests → Parquet data files). */
export async function icebirdRows(metadataPath: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(metadataPath);
  const metadata = JSON.parse(text);
  const location = metadata.location as string;
  return await icebergRead({ tableUrl: location, metadata }) as Record<string, unknown>[];
}

/** Rows of the data files at `uris` (file://), counted by DuckDB. */
export async function duckdbCount(uris: string[]): Promise<number> {
  if (uris.length === 0) return 0;
  const r = await query(`SELECT count(*)::BIGINT AS n FROM ${readParquet(uris.map(local))}`);
  return Number(r[0].n);
}

/** Every `.parquet` file under `dir` (recursively), as file:// URIs. */
export async function storedParquet(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".parquet") && !e.name.startsWith(".")) {
        out.push(`file://${encodeURI(p)}`);
      }
    }
  };
  await walk(dir);
  return out.sort();
}
