/**
 * The object keys the lifecycle jobs act on, read back from the key layout the writers use
 * (../core/partition.ts `objectKey`):
 *
 *   {table dir}/{service}/year=YYYY/month=MM/day=DD/hour=HH/{first row µs}-{id}.parquet
 *   {table dir}/{service}/year=YYYY/month=MM/day=DD/hour=HH/{first row µs}-{id}-c{n}.parquet
 *
 * the second form being a compacted file (n = its part). Anything else under a table dir (a
 * foreign object, a temporary file) is not a data file and is never touched.
 */
import { TABLE_NAMES, tableDir, type TableName } from "../core/tables.ts";

export interface DataKey {
  key: string;
  table: TableName;
  /** The service segment of the key. */
  service: string;
  /** The hour partition, in hours since the epoch. */
  hour: number;
  /** `{table dir}/{service}/year=…/hour=HH` (no trailing slash). */
  partition: string;
  /** File name. */
  file: string;
  /** The first row's time from the name, in µs. */
  firstUs: bigint;
  /** A file written by compaction (`-c{n}` before the extension). */
  compacted: boolean;
  /** Parquet, or the Arrow IPC file format (`output.format = "arrow"`). */
  format: "parquet" | "arrow";
}

const PARTITION = /^year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})$/;
const FILE = /^(-?\d+)-([0-9a-f]{16})(-c(\d+))?\.(parquet|arrow)$/;

/** Table dirs, longest first (`metrics/gauge` before any shorter prefix). */
const DIRS: readonly (readonly [string, TableName])[] = TABLE_NAMES
  .map((t) => [tableDir(t), t] as const)
  .sort((a, b) => b[0].length - a[0].length);

/** The parts of a data file's key, or null when `key` is not one. */
export function parseDataKey(key: string): DataKey | null {
  for (const [dir, table] of DIRS) {
    if (!key.startsWith(dir + "/")) continue;
    const rest = key.slice(dir.length + 1).split("/");
    if (rest.length !== 6) return null;
    const [service, y, m, d, h, file] = rest;
    const p = PARTITION.exec(`${y}/${m}/${d}/${h}`);
    const f = FILE.exec(file);
    if (!p || !f || service === "") return null;
    const ms = Date.UTC(Number(p[1]), Number(p[2]) - 1, Number(p[3]), Number(p[4]));
    if (!Number.isFinite(ms)) return null;
    return {
      key,
      table,
      service,
      hour: ms / 3_600_000,
      partition: `${dir}/${service}/${y}/${m}/${d}/${h}`,
      file,
      firstUs: BigInt(f[1]),
      compacted: f[3] !== undefined,
      format: f[5] as "parquet" | "arrow",
    };
  }
  return null;
}

/** The key of part `part` of a compaction whose plan id is `id`. */
export function compactedKey(partition: string, firstUs: bigint, id: string, part: number): string {
  return `${partition}/${firstUs}-${id}-c${part}.parquet`;
}
