/**
 * `otlp2parquet iceberg status` and `otlp2parquet iceberg register PREFIX` (README.md,
 * "Iceberg tables"):
 *
 * - status: per table, the files stored and not yet committed (the pending list) and the
 *   current snapshot the catalog has. Exit 1 when the catalog cannot be reached.
 * - register PREFIX: every `.parquet` file stored under PREFIX (after `storage.prefix`) is
 *   added to its table, exactly once: files some snapshot already holds are skipped (the
 *   tables' whole history is checked), the others are put on the pending list and committed.
 *   Files not in the table's layout (written without `catalog.mode = "iceberg"`) are left out
 *   and named, or with `--rewrite` rewritten in place into the layout first (same key, same
 *   rows; format version 2 rounds their timestamps down to microseconds). Exit 1 when any was
 *   left out or a commit failed (the pending ones are committed by the next run or by the
 *   server).
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { createStorage } from "../storage/index.ts";
import { TABLE_NAMES, tableDir, type TableName } from "../core/tables.ts";
import { icebergFor } from "./serve.ts";
import { parquetOptions } from "../config/types.ts";
import { DataFileError, dataFileOf } from "../catalog/metrics.ts";
import { FooterError } from "../catalog/footer.ts";
import { rewriteForIceberg } from "../catalog/rewrite.ts";
import { initParquetFromDisk } from "../core/parquet/wasm.node.ts";

export type IcebergCommand =
  | { sub: "status" }
  | { sub: "register"; prefix: string; rewrite: boolean };

export async function icebergCommand(
  config: Config,
  logger: Logger,
  cmd: IcebergCommand,
): Promise<number> {
  if (config.catalog.mode !== "iceberg") {
    console.error(
      'otlp2parquet iceberg: catalog.mode is not "iceberg" (set it in config.toml or OTLP2PARQUET_CATALOG_MODE=iceberg, with catalog.iceberg.uri)',
    );
    return 2;
  }
  const storage = await createStorage(config, logger);
  const committer = await icebergFor(config, logger, storage);
  try {
    if (cmd.sub === "status") {
      let failed = false;
      for (const t of await committer.status()) {
        const last = t.current
          ? `snapshot ${t.current.snapshotId} at ${new Date(t.current.atMs).toISOString()} (${
            t.current.summary.operation ?? "?"
          }: ${changes(t.current.summary)}; total ${
            t.current.summary["total-records"] ?? "?"
          } records)`
          : t.error ?? "no snapshot yet";
        if (t.error && t.error !== "no such table yet") failed = true;
        console.log(`${t.table.padEnd(36)} pending ${String(t.pending).padStart(6)}  ${last}`);
      }
      return failed ? 1 : 0;
    }
    // register
    const prefix = cmd.prefix.replace(/^\/+/, "");
    const keys = (await storage.list(prefix)).filter((k) => k.endsWith(".parquet"));
    const byTable = new Map<TableName, string[]>();
    let unknown = 0;
    for (const k of keys) {
      const t = tableOfKey(k);
      if (!t) {
        unknown++;
        continue;
      }
      let list = byTable.get(t);
      if (!list) byTable.set(t, list = []);
      list.push(k);
    }
    let refused = unknown, failed = 0, committed = 0, already = 0, rewritten = 0;
    const version = config.catalog.iceberg.format_version as 2 | 3;
    if (cmd.rewrite) initParquetFromDisk();
    for (const [table, list] of byTable) {
      const files: string[] = [];
      for (const key of list) {
        if (cmd.rewrite) {
          const bytes = await storage.get(key);
          if (!bytes) continue;
          try {
            dataFileOf(bytes, key, table, version);
          } catch (e) {
            if (!(e instanceof DataFileError || e instanceof FooterError)) throw e;
            try {
              const out = rewriteForIceberg(bytes, key, table, version, parquetOptions(config));
              await storage.put(key, out);
              rewritten++;
            } catch (e2) {
              if (!(e2 instanceof DataFileError)) throw e2;
              console.error(`otlp2parquet iceberg register: ${key}: ${e2.message}`);
            }
          }
        }
        const before = committer.stats().filesRejected;
        await committer.fileStored({ key, table, service: "", rows: 0, bytes: 0, minTimeNs: 0n });
        if (committer.stats().filesRejected > before) refused++;
        else files.push(key);
      }
      const pending = (await committer.deps.pending.all()).filter((p) =>
        p.file.table === table && files.includes(p.file.key)
      );
      for (let at = 0; at < pending.length; at += 5000) {
        const r = await committer.commitFiles(table, pending.slice(at, at + 5000), -Infinity);
        committed += r.committed;
        already += r.alreadyCommitted;
        if (r.error) {
          failed++;
          console.error(`otlp2parquet iceberg register: ${table}: ${r.error}`);
          break;
        }
      }
    }
    console.log(
      `registered ${committed} files, ${already} already in their tables, ${refused} left out (of ${keys.length} under ${
        JSON.stringify(prefix)
      })${cmd.rewrite ? `; ${rewritten} rewritten into the tables' layout` : ""}`,
    );
    if (refused > unknown && !cmd.rewrite) {
      console.error(
        'files written without catalog.mode = "iceberg" were left out: --rewrite rewrites them into the tables\' layout (in place) first',
      );
    }
    if (unknown) {
      console.error(
        `${unknown} files are not under a table's folder (logs/, traces/, metrics/<type>/)`,
      );
    }
    return refused || failed ? 1 : 0;
  } finally {
    await storage.close?.();
  }
}

/** "+N files, +M records" added, "-N files, -M records" removed (compaction, retention). */
function changes(summary: Record<string, string>): string {
  const out: string[] = [];
  const added = summary["added-data-files"], deleted = summary["deleted-data-files"];
  if (added !== undefined || deleted === undefined) {
    out.push(`+${added ?? "?"} files, +${summary["added-records"] ?? "?"} records`);
  }
  if (deleted !== undefined) {
    out.push(`-${deleted} files, -${summary["deleted-records"] ?? "?"} records`);
  }
  return out.join(", ");
}

/** The table whose folder holds `key` (`logs/…`, `metrics/gauge/…`). */
function tableOfKey(key: string): TableName | undefined {
  return TABLE_NAMES.find((t) => key.startsWith(`${tableDir(t)}/`));
}
