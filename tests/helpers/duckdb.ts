/**
 * DuckDB (`@duckdb/node-api`, in memory) as the reader that checks the Parquet files we write,
 * plus listing of the files under an output directory.
 *
 *   const rows = await query(`SELECT * FROM read_parquet(${sqlStr(file)})`);
 *   const cols = await describe(file);   // [{ name, type }] in file order
 *
 * Values come back as plain JS (`getRowObjectsJS`): VARCHAR → string, UBIGINT/BIGINT → bigint,
 * DOUBLE/INTEGER/UTINYINT/UINTEGER → number, TIMESTAMPTZ → Date (µs truncated: use a second
 * reader for nanoseconds), LIST → array, MAP → `[{ key, value }]` (see `mapObj`).
 */
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";

let conn: Promise<DuckDBConnection> | undefined;

function connection(): Promise<DuckDBConnection> {
  conn ??= DuckDBInstance.create(":memory:").then((db) => db.connect());
  return conn;
}

export type Row = Record<string, unknown>;

/** Runs `sql` on a shared in-memory DuckDB; rows as plain JS objects. */
export async function query(sql: string): Promise<Row[]> {
  const c = await connection();
  const reader = await c.runAndReadAll(sql);
  return reader.getRowObjectsJS() as Row[];
}

/** A SQL string literal. */
export function sqlStr(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * `read_parquet(...)` over one file or a list of files, without the hive partition columns
 * (`year=…/month=…` in our keys) DuckDB would otherwise add.
 */
export function readParquet(files: string | string[]): string {
  const list = Array.isArray(files) ? files : [files];
  return `read_parquet([${list.map(sqlStr).join(", ")}], hive_partitioning = false)`;
}

/** Column names and DuckDB types of the files, in order. */
export async function describe(
  files: string | string[],
): Promise<{ name: string; type: string }[]> {
  const rows = await query(`DESCRIBE SELECT * FROM ${readParquet(files)}`);
  return rows.map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
}

/** A DuckDB MAP value (`[{ key, value }]`) as an object, keeping the order of entries. */
export function mapObj(m: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of m as { key: string; value: string }[]) out[e.key] = e.value;
  return out;
}

/** The keys of a DuckDB MAP value, in stored order. */
export function mapKeys(m: unknown): string[] {
  return (m as { key: string }[]).map((e) => e.key);
}

/** Every file under `dir` (recursive), as paths relative to `dir`, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(`${d}/${e.name}`, r);
      else out.push(r);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** `.parquet` files under `dir` (recursive), relative paths, sorted. */
export async function listParquet(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((f) => f.endsWith(".parquet"));
}
